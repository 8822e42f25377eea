/* Fused softmax cross-entropy, a work group per row; targets >= V are faults (ignored rows,
 * target < 0, give 0). The logits of GPT-2's vocabulary can be longer than one binding
 * reaches, so the rows go in pieces of at most vk_max_span elements. */
#include "vk_internal.h"

#include <limits.h>

/* Rows per piece: as many whole rows of V as one binding holds (at least one). */
static int rows_per_piece(const pm_backend *be, int V) {
    size_t r = V > 0 ? vk_max_span(be) / (size_t)V : 1;
    return r < 1 ? 1 : r > (size_t)INT_MAX ? INT_MAX : (int)r;
}

int vk_xent_fwd(pm_backend *be, pm_ref losses, pm_ref logits, pm_ref targets, int N, int V) {
    struct {
        uint32_t off[4], N, V;
    } pc = {.V = (uint32_t)V};
    for (int r = 0, step = rows_per_piece(be, V); r < N; r += step) {
        int n = N - r < step ? N - r : step;
        size_t at = (size_t)r * V;
        pc.N = (uint32_t)n;
        if (vk_dispatch(be, "xent_fwd", VK_K_xent_fwd,
                        VK_ARGS({vk_plus(losses, r), (size_t)n}, {vk_plus(logits, at), (size_t)n * V},
                                {vk_plus(targets, r), (size_t)n}, vk_fault_arg(be)),
                        &pc, sizeof pc, vk_groups(be, (size_t)n, 1), 1, 1) != PM_OK)
            return PM_ERR;
    }
    return PM_OK;
}

int vk_xent_bwd(pm_backend *be, pm_ref dlogits, pm_ref logits, pm_ref targets, int N, int V,
                float dloss) {
    struct {
        uint32_t off[4], N, V;
        float dloss;
    } pc = {.V = (uint32_t)V, .dloss = dloss};
    for (int r = 0, step = rows_per_piece(be, V); r < N; r += step) {
        int n = N - r < step ? N - r : step;
        size_t at = (size_t)r * V;
        pc.N = (uint32_t)n;
        if (vk_dispatch(be, "xent_bwd", VK_K_xent_bwd,
                        VK_ARGS({vk_plus(dlogits, at), (size_t)n * V}, {vk_plus(logits, at), (size_t)n * V},
                                {vk_plus(targets, r), (size_t)n}, vk_fault_arg(be)),
                        &pc, sizeof pc, vk_groups(be, (size_t)n, 1), 1, 1) != PM_OK)
            return PM_ERR;
    }
    return PM_OK;
}
