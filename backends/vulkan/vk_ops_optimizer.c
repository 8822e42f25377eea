/* Optimiser ops: the sum of squares behind the global grad norm (per-group partials into
 * scratch, then one group adds them: a fixed order, so the same result every run) and AdamW. */
#include "vk_internal.h"

#include <math.h>

enum { SUMSQ_MAX_GROUPS = 256 };

int vk_sumsq(pm_backend *be, pm_ref out, pm_ref x, size_t n) {
    struct {
        uint32_t off[2], n, square;
    } pc = {.n = (uint32_t)n, .square = 1};
    uint32_t groups = vk_groups(be, n, vk_wg(be, VK_K_reduce_sum));
    if (groups <= 1) /* also n == 0, which writes 0 */
        return vk_dispatch(be, "sumsq", VK_K_reduce_sum, VK_ARGS({out, 1}, {x, n}), &pc, sizeof pc,
                           1, 1, 1);
    if (groups > SUMSQ_MAX_GROUPS) groups = SUMSQ_MAX_GROUPS;
    pm_buf *partial = vk_scratch(be, "sumsq", (size_t)groups * 4);
    if (!partial) return PM_ERR;
    vk_arg p = {pm_at(partial, 0), groups};
    if (vk_dispatch(be, "sumsq", VK_K_reduce_sum, VK_ARGS(p, {x, n}), &pc, sizeof pc, groups, 1,
                    1) != PM_OK)
        return PM_ERR;
    pc.n = groups;
    pc.square = 0;
    return vk_dispatch(be, "sumsq", VK_K_reduce_sum, VK_ARGS({out, 1}, p), &pc, sizeof pc, 1, 1, 1);
}

int vk_adamw(pm_backend *be, pm_ref params, pm_ref grads, pm_ref m, pm_ref v, size_t n, float lr,
             float beta1, float beta2, float eps, float weight_decay, int step, float grad_scale) {
    struct {
        uint32_t off[4], n;
        float lr, beta1, beta2, eps, weight_decay, grad_scale, c1, c2;
    } pc = {.n = (uint32_t)n,
            .lr = lr,
            .beta1 = beta1,
            .beta2 = beta2,
            .eps = eps,
            .weight_decay = weight_decay,
            .grad_scale = grad_scale,
            .c1 = (float)(1.0 - pow(beta1, step)),
            .c2 = (float)(1.0 - pow(beta2, step))};
    return vk_dispatch(be, "adamw", VK_K_adamw, VK_ARGS({params, n}, {grads, n}, {m, n}, {v, n}),
                       &pc, sizeof pc, vk_groups(be, n, vk_wg(be, VK_K_adamw)), 1, 1);
}
