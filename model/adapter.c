/* LoRA adapters over a frozen linear layer, one per row group: the experts of a LoRA MoE layer
 * (a group per expert) and the attention's c_attn (one group). The scale is applied to the
 * rank-r activations, the cheapest place. */
#include "model/layers.h"
#include "model/linear.h"

int pm_adapter_fwd(pm_backend *be, const pm_adapter_shape *s, pm_ref out, pm_ref in, pm_ref A, pm_ref B, pm_ref u,
                   int n_in, int n_out) {
    pm_op(be, gemm_grouped, 0, s->rows, s->rank, n_in, s->groups, s->offsets, in, A, 0.0f, u);
    pm_op(be, scale, u, (size_t)s->rows * s->rank, s->scale);
    return pm_op(be, gemm_grouped, 0, s->rows, n_out, s->rank, s->groups, s->offsets, u, B, 1.0f, out);
}

int pm_adapter_bwd(pm_backend *be, const pm_adapter_shape *s, pm_ref din, pm_ref dout, float din_beta, pm_ref in,
                   pm_ref u, pm_ref A, pm_ref B, pm_ref gA, pm_ref gB, pm_ref du, int n_in, int n_out) {
    int rows = s->rows, r = s->rank, G = s->groups;
    if (pm_has_grad(gB)) pm_op(be, gemm_grouped_wgrad, rows, r, n_out, G, s->offsets, u, dout, 1.0f, gB);
    pm_op(be, gemm_grouped, 1, rows, r, n_out, G, s->offsets, dout, B, 0.0f, du);
    pm_op(be, scale, du, (size_t)rows * r, s->scale);
    if (pm_has_grad(gA)) pm_op(be, gemm_grouped_wgrad, rows, n_in, r, G, s->offsets, in, du, 1.0f, gA);
    return pm_op(be, gemm_grouped, 1, rows, n_in, r, G, s->offsets, du, A, din_beta, din);
}
