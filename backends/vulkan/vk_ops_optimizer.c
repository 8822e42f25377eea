/* Optimiser ops: the sum of squares behind the global grad norm (per-group partials into
 * scratch, then one group adds them: a fixed order, so the same result every run) and AdamW. */
#include "vk_internal.h"

#include <math.h>

enum { SUMSQ_MAX_GROUPS = 256 };

/* In pieces of at most vk_max_span elements: each piece's work groups write their partial
 * sums one after another into scratch, and one group adds them all. */
int vk_sumsq(pm_backend *be, pm_ref out, pm_ref x, size_t n) {
    struct {
        uint32_t off[2], n, square;
    } pc = {.n = (uint32_t)n, .square = 1};
    size_t step = vk_max_span(be);
    uint32_t groups = vk_groups(be, n, vk_wg(be, VK_K_reduce_sum));
    if (groups <= 1 && n <= step) /* also n == 0, which writes 0 */
        return vk_dispatch(be, "sumsq", VK_K_reduce_sum, VK_ARGS({out, 1}, {x, n}), &pc, sizeof pc,
                           1, 1, 1);
    size_t total = 0;
    for (size_t s = 0; s < n; s += step) {
        uint32_t g = vk_groups(be, n - s < step ? n - s : step, vk_wg(be, VK_K_reduce_sum));
        total += g < SUMSQ_MAX_GROUPS ? g : SUMSQ_MAX_GROUPS;
    }
    pm_buf *partial = vk_scratch(be, "sumsq", total * 4);
    if (!partial) return PM_ERR;
    size_t at = 0;
    for (size_t s = 0; s < n; s += step) {
        size_t len = n - s < step ? n - s : step;
        uint32_t g = vk_groups(be, len, vk_wg(be, VK_K_reduce_sum));
        g = g < SUMSQ_MAX_GROUPS ? g : SUMSQ_MAX_GROUPS;
        pc.n = (uint32_t)len;
        if (vk_dispatch(be, "sumsq", VK_K_reduce_sum, VK_ARGS({pm_at(partial, at), g}, {vk_plus(x, s), len}), &pc,
                        sizeof pc, g, 1, 1) != PM_OK)
            return PM_ERR;
        at += g;
    }
    pc.n = (uint32_t)total;
    pc.square = 0;
    return vk_dispatch(be, "sumsq", VK_K_reduce_sum, VK_ARGS({out, 1}, {pm_at(partial, 0), total}), &pc, sizeof pc,
                       1, 1, 1);
}

int vk_adamw(pm_backend *be, pm_ref params, pm_ref grads, pm_ref m, pm_ref v, size_t n, float lr,
             float beta1, float beta2, float eps, float weight_decay, int step, float grad_scale) {
    struct {
        uint32_t off[4], n;
        float lr, beta1, beta2, eps, weight_decay, grad_scale, c1, c2;
    } pc = {.lr = lr,
            .beta1 = beta1,
            .beta2 = beta2,
            .eps = eps,
            .weight_decay = weight_decay,
            .grad_scale = grad_scale,
            .c1 = (float)(1.0 - pow(beta1, step)),
            .c2 = (float)(1.0 - pow(beta2, step))};
    return vk_pieces(be, "adamw", VK_K_adamw, (pm_ref[]){params, grads, m, v}, 4, &pc, sizeof pc, n);
}
