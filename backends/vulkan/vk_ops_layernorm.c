/* Layernorm forward and backward: a work group per row for out / dinp, column sums for the
 * parameter gradients (independent of the dinp kernel, so no barrier between them). */
#include "vk_internal.h"

int vk_layernorm_fwd(pm_backend *be, pm_ref out, pm_ref mean, pm_ref rstd, pm_ref inp, pm_ref w,
                     pm_ref b, int N, int C) {
    struct {
        uint32_t off[6], N, C;
    } pc = {.N = (uint32_t)N, .C = (uint32_t)C};
    size_t n = (size_t)N * C;
    return vk_dispatch(be, "layernorm_fwd", VK_K_layernorm_fwd,
                       VK_ARGS({out, n}, {mean, (size_t)N}, {rstd, (size_t)N}, {inp, n},
                               {w, (size_t)C}, {b, (size_t)C}),
                       &pc, sizeof pc, C > 0 ? vk_groups(be, (size_t)N, 1) : 0, 1, 1);
}

int vk_layernorm_bwd(pm_backend *be, pm_ref dinp, pm_ref dw, pm_ref db, pm_ref dout, pm_ref inp,
                     pm_ref w, pm_ref mean, pm_ref rstd, int N, int C) {
    struct {
        uint32_t off[6], N, C;
    } pc = {.N = (uint32_t)N, .C = (uint32_t)C};
    size_t n = (size_t)N * C;
    if (C <= 0) return PM_OK;
    if (vk_dispatch(be, "layernorm_bwd", VK_K_layernorm_bwd,
                    VK_ARGS({dinp, n}, {dout, n}, {inp, n}, {w, (size_t)C}, {mean, (size_t)N},
                            {rstd, (size_t)N}),
                    &pc, sizeof pc, vk_groups(be, (size_t)N, 1), 1, 1) != PM_OK)
        return PM_ERR;
    return vk_dispatch(be, "layernorm_bwd", VK_K_layernorm_bwd_params,
                       VK_ARGS({dw, (size_t)C}, {db, (size_t)C}, {dout, n}, {inp, n},
                               {mean, (size_t)N}, {rstd, (size_t)N}),
                       &pc, sizeof pc, ((uint32_t)C + VK_COLUMN_BLOCK - 1) / VK_COLUMN_BLOCK, 1, 1);
}
