/* Router: forward (softmax, top-k, gates) and backward one invocation per token; the
 * statistics one work group per expert plus one for the two scalar sums. */
#include "vk_internal.h"

int vk_router_fwd(pm_backend *be, pm_ref probs, pm_ref lse, pm_ref ids, pm_ref gates, pm_ref logits,
                  int N, int E, int k) {
    if (k < 1 || k > E) return pm_fail(be, "router_fwd", "top-k %d outside 1..E=%d", k, E);
    struct {
        uint32_t off[5], N, E, k;
    } pc = {.N = (uint32_t)N, .E = (uint32_t)E, .k = (uint32_t)k};
    size_t ne = (size_t)N * E, nk = (size_t)N * k;
    return vk_dispatch(be, "router_fwd", VK_K_router_fwd,
                       VK_ARGS({probs, ne}, {lse, (size_t)N}, {ids, nk}, {gates, nk}, {logits, ne}),
                       &pc, sizeof pc, vk_groups(be, (size_t)N, vk_wg(be, VK_K_router_fwd)), 1, 1);
}

int vk_router_stats(pm_backend *be, pm_ref stats, pm_ref probs, pm_ref lse, pm_ref ids, int N,
                    int E, int k) {
    struct {
        uint32_t off[4], N, E, k;
    } pc = {.N = (uint32_t)N, .E = (uint32_t)E, .k = (uint32_t)k};
    return vk_dispatch(be, "router_stats", VK_K_router_stats,
                       VK_ARGS({stats, 2 * (size_t)E + 2}, {probs, (size_t)N * E}, {lse, (size_t)N},
                               {ids, (size_t)N * k}),
                       &pc, sizeof pc, E > 0 ? (uint32_t)E + 1 : 0, 1, 1);
}

int vk_router_bwd(pm_backend *be, pm_ref dlogits, pm_ref probs, pm_ref lse, pm_ref ids,
                  pm_ref dgates, pm_ref stats, int N, int E, int k, float lb_coef, float z_coef,
                  float ent_coef) {
    struct {
        uint32_t off[7], N, E, k;
        float lb_coef, z_coef, ent_coef;
    } pc = {.N = (uint32_t)N, .E = (uint32_t)E, .k = (uint32_t)k, .lb_coef = lb_coef,
            .z_coef = z_coef, .ent_coef = ent_coef};
    size_t ne = (size_t)N * E, nk = (size_t)N * k;
    return vk_dispatch(be, "router_bwd", VK_K_router_bwd,
                       VK_ARGS({dlogits, ne}, {probs, ne}, {lse, (size_t)N}, {ids, nk},
                               {dgates, nk}, {stats, 2 * (size_t)E + 2}, vk_fault_arg(be)),
                       &pc, sizeof pc, vk_groups(be, (size_t)N, vk_wg(be, VK_K_router_bwd)), 1, 1);
}
