/* The MoE MLP: router GEMM, router_fwd (softmax, top-k, gates), router_stats, the dispatch
 * plan, permute into expert-contiguous rows, the experts as grouped GEMMs with grouped biases,
 * combine back; the backward in reverse, ending with the router's gradient (gates plus the
 * load-balancing and z losses). The host never learns the expert segment sizes. */
#include "model/layers.h"
#include "model/linear.h"

int pm_moe_fwd(pm_backend *be, const pm_moe_shape *d, pm_ref out, pm_ref inp,
               const pm_moe_params *w, const pm_moe_acts *a, float noise_std, uint32_t noise_seed) {
    int N = d->N, C = d->C, E = d->E, k = d->k, rows = N * k, H = d->H;
    const pm_mlp_params *x = &w->experts;
    pm_mm(be, 0, 1, N, E, C, inp, w->router_w, 0.0f, a->rlogits);
    if (noise_std > 0) pm_op(be, add_noise, a->rlogits, (size_t)N * E, noise_std, noise_seed);
    pm_op(be, router_fwd, a->probs, a->lse, a->ids, a->gates, a->rlogits, N, E, k);
    pm_op(be, router_stats, a->stats, a->probs, a->lse, a->ids, N, E, k);
    pm_op(be, moe_plan, a->offsets, a->slots, a->ids, N, E, k, d->capacity);
    pm_op(be, moe_permute, a->xp, inp, a->slots, N, k, C);
    if (d->rank) {
        pm_lora_experts_fwd(be, d, inp, w, a);
        return pm_op(be, moe_combine, out, a->yp, a->slots, a->gates, N, k, C);
    }
    pm_op(be, gemm_grouped, 0, rows, H, C, E, a->offsets, a->xp, x->fc_w, 0.0f, a->experts.fch);
    pm_op(be, bias_add, a->experts.fch, x->fc_b, rows, H, E, a->offsets);
    pm_op(be, gelu_fwd, a->experts.fch_gelu, a->experts.fch, (size_t)rows * H);
    pm_op(be, gemm_grouped, 0, rows, C, H, E, a->offsets, a->experts.fch_gelu, x->proj_w,
          0.0f, a->yp);
    pm_op(be, bias_add, a->yp, x->proj_b, rows, C, E, a->offsets);
    return pm_op(be, moe_combine, out, a->yp, a->slots, a->gates, N, k, C);
}

int pm_moe_bwd(pm_backend *be, const pm_moe_shape *d, pm_ref dinp, pm_ref dout, pm_ref inp,
               const pm_moe_params *w, const pm_moe_params *g, const pm_moe_acts *a,
               const pm_moe_scratch *s, float lb_coef, float z_coef, float ent_coef) {
    int N = d->N, C = d->C, E = d->E, k = d->k, rows = N * k, H = d->H;
    const pm_mlp_params *x = &w->experts, *gx = &g->experts;
    pm_op(be, moe_combine_bwd, s->dyp, s->dgates, dout, a->yp, a->slots, a->gates, N, k, C);
    if (d->rank) {
        pm_lora_experts_bwd(be, d, dinp, inp, w, g, a, s);
    } else {
        if (pm_has_grad(gx->proj_w))
            pm_op(be, gemm_grouped_wgrad, rows, H, C, E, a->offsets, a->experts.fch_gelu, s->dyp, 1.0f,
                  gx->proj_w);
        if (pm_has_grad(gx->proj_b)) pm_op(be, bias_grad, gx->proj_b, s->dyp, rows, C, E, a->offsets);
        pm_op(be, gemm_grouped, 1, rows, H, C, E, a->offsets, s->dyp, x->proj_w, 0.0f, s->dfch);
        pm_op(be, gelu_bwd, s->dfch, a->experts.fch, s->dfch, (size_t)rows * H);
        if (pm_has_grad(gx->fc_w))
            pm_op(be, gemm_grouped_wgrad, rows, C, H, E, a->offsets, a->xp, s->dfch, 1.0f, gx->fc_w);
        if (pm_has_grad(gx->fc_b)) pm_op(be, bias_grad, gx->fc_b, s->dfch, rows, H, E, a->offsets);
        pm_op(be, gemm_grouped, 1, rows, C, H, E, a->offsets, s->dfch, x->fc_w, 0.0f, s->dxp);
        pm_op(be, moe_permute_bwd, dinp, s->dxp, a->slots, N, k, C);
    }
    pm_op(be, router_bwd, s->drlogits, a->probs, a->lse, a->ids, s->dgates, a->stats, N, E, k,
          lb_coef, z_coef, ent_coef);
    if (pm_has_grad(g->router_w)) pm_mm(be, 1, 0, E, C, N, s->drlogits, inp, 1.0f, g->router_w);
    return pm_mm(be, 0, 0, N, C, E, s->drlogits, w->router_w, 1.0f, dinp);
}
