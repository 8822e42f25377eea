/* Fused softmax cross-entropy, a work group per row; targets >= V are faults (ignored rows,
 * target < 0, give 0). */
#include "vk_internal.h"

int vk_xent_fwd(pm_backend *be, pm_ref losses, pm_ref logits, pm_ref targets, int N, int V) {
    struct {
        uint32_t off[4], N, V;
    } pc = {.N = (uint32_t)N, .V = (uint32_t)V};
    return vk_dispatch(be, "xent_fwd", VK_K_xent_fwd,
                       VK_ARGS({losses, (size_t)N}, {logits, (size_t)N * V}, {targets, (size_t)N},
                               vk_fault_arg(be)),
                       &pc, sizeof pc, vk_groups(be, (size_t)N, 1), 1, 1);
}

int vk_xent_bwd(pm_backend *be, pm_ref dlogits, pm_ref logits, pm_ref targets, int N, int V,
                float dloss) {
    struct {
        uint32_t off[4], N, V;
        float dloss;
    } pc = {.N = (uint32_t)N, .V = (uint32_t)V, .dloss = dloss};
    return vk_dispatch(be, "xent_bwd", VK_K_xent_bwd,
                       VK_ARGS({dlogits, (size_t)N * V}, {logits, (size_t)N * V},
                               {targets, (size_t)N}, vk_fault_arg(be)),
                       &pc, sizeof pc, vk_groups(be, (size_t)N, 1), 1, 1);
}
