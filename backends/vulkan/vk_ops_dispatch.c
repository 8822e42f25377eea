/* MoE dispatch: the plan as histogram per chunk -> scan -> stable scatter (three kernels,
 * chunk counts in scratch, nothing read back), permute and combine with their backwards.
 * Arguments indexed by slots are bound to the end of their buffer; kernels check slots
 * against it and report overflows in the fault record. */
#include "vk_internal.h"

int vk_moe_plan(pm_backend *be, pm_ref offsets, pm_ref slots, pm_ref ids, int N, int E, int k,
                int capacity) {
    if (E < 1 || N < 0 || k < 0)
        return pm_fail(be, "moe_plan", "bad shape N=%d E=%d k=%d", N, E, k);
    size_t A = (size_t)N * k;
    uint32_t wg = vk_wg(be, VK_K_plan_histogram); /* the chunk size; plan_scatter's is the same */
    uint32_t chunks = (uint32_t)((A + wg - 1) / wg);
    pm_buf *counts = vk_scratch(be, "moe_plan", ((size_t)chunks * E + 1) * 4);
    if (!counts) return PM_ERR;
    vk_arg c = {pm_at(counts, 0), (size_t)chunks * E};
    struct {
        uint32_t off[3], A, E;
    } h = {.A = (uint32_t)A, .E = (uint32_t)E};
    struct {
        uint32_t off[2], chunks, E;
        int32_t capacity;
    } o = {.chunks = chunks, .E = (uint32_t)E, .capacity = capacity};
    struct {
        uint32_t off[4], A, E;
        int32_t capacity;
    } s = {.A = (uint32_t)A, .E = (uint32_t)E, .capacity = capacity};
    if (vk_dispatch(be, "moe_plan", VK_K_plan_histogram, VK_ARGS(c, {ids, A}, vk_fault_arg(be)),
                    &h, sizeof h, vk_groups(be, chunks, 1), 1, 1) != PM_OK ||
        vk_dispatch(be, "moe_plan", VK_K_plan_offsets, VK_ARGS({offsets, (size_t)E + 1}, c), &o,
                    sizeof o, 1, 1, 1) != PM_OK)
        return PM_ERR;
    return vk_dispatch(be, "moe_plan", VK_K_plan_scatter,
                       VK_ARGS({slots, A}, {ids, A}, c, {offsets, (size_t)E + 1}), &s, sizeof s,
                       vk_groups(be, chunks, 1), 1, 1);
}

typedef struct {
    uint32_t off[4], N, k, C;
} move_push;

int vk_moe_permute(pm_backend *be, pm_ref xp, pm_ref x, pm_ref slots, int N, int k, int C) {
    move_push pc = {.N = (uint32_t)N, .k = (uint32_t)k, .C = (uint32_t)C};
    size_t n = (size_t)N * k * C;
    return vk_dispatch(
        be, "moe_permute", VK_K_moe_permute,
        VK_ARGS({xp, 0}, {x, (size_t)N * C}, {slots, (size_t)N * k}, vk_fault_arg(be)), &pc,
        sizeof pc, vk_groups(be, n, vk_wg(be, VK_K_moe_permute)), 1, 1);
}

int vk_moe_permute_bwd(pm_backend *be, pm_ref dx, pm_ref dxp, pm_ref slots, int N, int k, int C) {
    move_push pc = {.N = (uint32_t)N, .k = (uint32_t)k, .C = (uint32_t)C};
    size_t n = (size_t)N * C;
    return vk_dispatch(be, "moe_permute_bwd", VK_K_moe_permute_bwd,
                       VK_ARGS({dx, n}, {dxp, 0}, {slots, (size_t)N * k}, vk_fault_arg(be)), &pc,
                       sizeof pc, vk_groups(be, n, vk_wg(be, VK_K_moe_permute_bwd)), 1, 1);
}

int vk_moe_combine(pm_backend *be, pm_ref y, pm_ref yp, pm_ref slots, pm_ref gates, int N, int k,
                   int C) {
    struct {
        uint32_t off[5], N, k, C;
    } pc = {.N = (uint32_t)N, .k = (uint32_t)k, .C = (uint32_t)C};
    size_t n = (size_t)N * C, nk = (size_t)N * k;
    return vk_dispatch(be, "moe_combine", VK_K_moe_combine,
                       VK_ARGS({y, n}, {yp, 0}, {slots, nk}, {gates, nk}, vk_fault_arg(be)), &pc,
                       sizeof pc, vk_groups(be, n, vk_wg(be, VK_K_moe_combine)), 1, 1);
}

int vk_moe_combine_bwd(pm_backend *be, pm_ref dyp, pm_ref dgates, pm_ref dy, pm_ref yp,
                       pm_ref slots, pm_ref gates, int N, int k, int C) {
    struct {
        uint32_t off[7], N, k, C;
    } pc = {.N = (uint32_t)N, .k = (uint32_t)k, .C = (uint32_t)C};
    size_t nk = (size_t)N * k;
    return vk_dispatch(be, "moe_combine_bwd", VK_K_moe_combine_bwd,
                       VK_ARGS({dyp, 0}, {dgates, nk}, {dy, (size_t)N * C}, {yp, 0}, {slots, nk},
                               {gates, nk}, vk_fault_arg(be)),
                       &pc, sizeof pc, C > 0 ? vk_groups(be, nk, 1) : 0, 1, 1);
}
