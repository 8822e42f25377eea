/* LoRA experts (DyLoRA-MoE): every expert of the layer is the layer's base MLP with c_fc and
 * c_proj changed by scale * A_e B_e. The base c_fc is the same for every copy of a token, so it
 * runs once per token and its output is permuted like the tokens; c_proj sees each expert's
 * own hidden state and runs over the permuted rows. The adapters (model/adapter.c) are grouped
 * by expert. */
#include "model/layers.h"
#include "model/linear.h"

int pm_lora_experts_fwd(pm_backend *be, const pm_moe_shape *d, pm_ref inp, const pm_moe_params *w,
                        const pm_moe_acts *a) {
    int N = d->N, C = d->C, H = 4 * C, rows = N * d->k;
    const pm_mlp_params *b = &w->base;
    const pm_lora_params *x = &w->lora;
    pm_adapter_shape as = {rows, d->E, d->rank, d->lora_scale, a->offsets};
    pm_linear_fwd(be, a->base_fch, inp, b->fc_w, b->fc_b, N, C, H);
    pm_op(be, moe_permute, a->experts.fch, a->base_fch, a->slots, N, d->k, H);
    pm_adapter_fwd(be, &as, a->experts.fch, a->xp, x->fc_a, x->fc_b, a->u_fc, C, H);
    pm_op(be, gelu_fwd, a->experts.fch_gelu, a->experts.fch, (size_t)rows * H);
    pm_linear_fwd(be, a->yp, a->experts.fch_gelu, b->proj_w, b->proj_b, rows, H, C);
    pm_adapter_fwd(be, &as, a->yp, a->experts.fch_gelu, x->proj_a, x->proj_b, a->u_proj, H, C);
    return pm_failed(be) ? PM_ERR : PM_OK;
}

int pm_lora_experts_bwd(pm_backend *be, const pm_moe_shape *d, pm_ref dinp, pm_ref inp, const pm_moe_params *w,
                        const pm_moe_params *g, const pm_moe_acts *a, const pm_moe_scratch *s) {
    int N = d->N, C = d->C, H = 4 * C, rows = N * d->k, k = d->k;
    const pm_mlp_params *b = &w->base, *gb = &g->base;
    const pm_lora_params *x = &w->lora, *gx = &g->lora;
    pm_adapter_shape as = {rows, d->E, d->rank, d->lora_scale, a->offsets};
    /* c_proj: base, then its adapter, into dfch */
    pm_linear_bwd(be, s->dfch, s->dyp, a->experts.fch_gelu, b->proj_w, gb->proj_w, gb->proj_b, rows, H, C);
    pm_adapter_bwd(be, &as, s->dfch, s->dyp, 1.0f, a->experts.fch_gelu, a->u_proj, x->proj_a, x->proj_b,
                gx->proj_a, gx->proj_b, s->du, H, C);
    pm_op(be, gelu_bwd, s->dfch, a->experts.fch, s->dfch, (size_t)rows * H);
    /* c_fc's adapter reaches the tokens through the permuted rows, its base through base_fch */
    pm_adapter_bwd(be, &as, s->dxp, s->dfch, 0.0f, a->xp, a->u_fc, x->fc_a, x->fc_b, gx->fc_a, gx->fc_b, s->du,
                C, H);
    pm_op(be, moe_permute_bwd, dinp, s->dxp, a->slots, N, k, C);
    pm_op(be, moe_permute_bwd, s->dbase, s->dfch, a->slots, N, k, H);
    if (pm_has_grad(gb->fc_w)) pm_mm(be, 1, 0, C, H, N, inp, s->dbase, 1.0f, gb->fc_w);
    if (pm_has_grad(gb->fc_b)) pm_op(be, bias_grad, gb->fc_b, s->dbase, N, H, 0, s->dbase);
    return pm_mm(be, 0, 1, N, C, H, s->dbase, b->fc_w, 1.0f, dinp);
}
