/* Causal self-attention: forward = probabilities per row (attention_scores) then att.v
 * (attention_out); backward = score gradients per row (attention_bwd_scores, into datt) then
 * every element of dqkv gathered once (attention_bwd_grads). */
#include "vk_internal.h"

#include <math.h>

int vk_attention_fwd(pm_backend *be, pm_ref out, pm_ref att, pm_ref qkv, int B, int T, int C,
                     int NH) {
    if (NH <= 0 || C % NH)
        return pm_fail(be, "attention_fwd", "C=%d is not a multiple of NH=%d", C, NH);
    size_t rows = (size_t)B * NH * T, nqkv = (size_t)B * T * 3 * C, nout = (size_t)B * T * C;
    struct {
        uint32_t off[2], B, T, C, NH;
        float scale;
    } sc = {.B = (uint32_t)B,
            .T = (uint32_t)T,
            .C = (uint32_t)C,
            .NH = (uint32_t)NH,
            .scale = (float)(1.0 / sqrt((double)(C / NH)))};
    if (vk_dispatch(be, "attention_fwd", VK_K_attention_scores,
                    VK_ARGS({att, rows * T}, {qkv, nqkv}), &sc, sizeof sc, vk_groups(be, rows, 1),
                    1, 1) != PM_OK)
        return PM_ERR;
    struct {
        uint32_t off[3], B, T, C, NH;
    } o = {.B = (uint32_t)B, .T = (uint32_t)T, .C = (uint32_t)C, .NH = (uint32_t)NH};
    return vk_dispatch(be, "attention_fwd", VK_K_attention_out,
                       VK_ARGS({out, nout}, {att, rows * T}, {qkv, nqkv}), &o, sizeof o,
                       vk_groups(be, nout, vk_wg(be, VK_K_attention_out)), 1, 1);
}

int vk_attention_bwd(pm_backend *be, pm_ref dqkv, pm_ref datt, pm_ref dout, pm_ref qkv, pm_ref att,
                     int B, int T, int C, int NH) {
    if (NH <= 0 || C % NH)
        return pm_fail(be, "attention_bwd", "C=%d is not a multiple of NH=%d", C, NH);
    size_t rows = (size_t)B * NH * T, nqkv = (size_t)B * T * 3 * C, nout = (size_t)B * T * C;
    struct {
        uint32_t off[4], B, T, C, NH;
        float scale;
    } sc = {.B = (uint32_t)B,
            .T = (uint32_t)T,
            .C = (uint32_t)C,
            .NH = (uint32_t)NH,
            .scale = (float)(1.0 / sqrt((double)(C / NH)))};
    if (vk_dispatch(be, "attention_bwd", VK_K_attention_bwd_scores,
                    VK_ARGS({datt, rows * T}, {dout, nout}, {qkv, nqkv}, {att, rows * T}), &sc,
                    sizeof sc, vk_groups(be, rows, 1), 1, 1) != PM_OK)
        return PM_ERR;
    struct {
        uint32_t off[5], B, T, C, NH;
    } g = {.B = (uint32_t)B, .T = (uint32_t)T, .C = (uint32_t)C, .NH = (uint32_t)NH};
    return vk_dispatch(
        be, "attention_bwd", VK_K_attention_bwd_grads,
        VK_ARGS({dqkv, nqkv}, {datt, rows * T}, {att, rows * T}, {qkv, nqkv}, {dout, nout}), &g,
        sizeof g, vk_groups(be, nqkv, vk_wg(be, VK_K_attention_bwd_grads)), 1, 1);
}
