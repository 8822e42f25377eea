/* The MoE MLP: router GEMM, router_fwd (softmax, top-k, gates), router_stats, the dispatch
 * plan, permute into expert-contiguous rows, the experts as grouped GEMMs with grouped biases,
 * combine back; the backward in reverse, ending with the router's gradient (gates plus the
 * load-balancing and z losses). The host never learns the expert segment sizes, except under
 * expert parallelism, where the rows travel to the ranks that hold their experts and back
 * (model/expert_parallel.h) around the experts. */
#include "model/layers.h"
#include "model/linear.h"

/* Full experts over `rows` rows x in `groups` segments (offsets): y = proj(gelu(fc(x))). */
static void experts_fwd(pm_backend *be, const pm_moe_shape *d, int groups, pm_ref offsets, int rows, pm_ref x,
                        pm_ref y, const pm_mlp_params *w, const pm_mlp_acts *a) {
    int C = d->C, H = d->H;
    pm_op(be, gemm_grouped, 0, rows, H, C, groups, offsets, x, w->fc_w, 0.0f, a->fch);
    pm_op(be, bias_add, a->fch, w->fc_b, rows, H, groups, offsets);
    pm_op(be, gelu_fwd, a->fch_gelu, a->fch, (size_t)rows * H);
    pm_op(be, gemm_grouped, 0, rows, C, H, groups, offsets, a->fch_gelu, w->proj_w, 0.0f, y);
    pm_op(be, bias_add, y, w->proj_b, rows, C, groups, offsets);
}

/* Their backward: dx from dy, adding the weight gradients that have buffers; dfch is scratch. */
static void experts_bwd(pm_backend *be, const pm_moe_shape *d, int groups, pm_ref offsets, int rows, pm_ref x,
                        pm_ref dy, pm_ref dx, const pm_mlp_params *w, const pm_mlp_params *g,
                        const pm_mlp_acts *a, pm_ref dfch) {
    int C = d->C, H = d->H;
    if (pm_has_grad(g->proj_w))
        pm_op(be, gemm_grouped_wgrad, rows, H, C, groups, offsets, a->fch_gelu, dy, 1.0f, g->proj_w);
    if (pm_has_grad(g->proj_b)) pm_op(be, bias_grad, g->proj_b, dy, rows, C, groups, offsets);
    pm_op(be, gemm_grouped, 1, rows, H, C, groups, offsets, dy, w->proj_w, 0.0f, dfch);
    pm_op(be, gelu_bwd, dfch, a->fch, dfch, (size_t)rows * H);
    if (pm_has_grad(g->fc_w)) pm_op(be, gemm_grouped_wgrad, rows, C, H, groups, offsets, x, dfch, 1.0f, g->fc_w);
    if (pm_has_grad(g->fc_b)) pm_op(be, bias_grad, g->fc_b, dfch, rows, H, groups, offsets);
    pm_op(be, gemm_grouped, 1, rows, C, H, groups, offsets, dfch, w->fc_w, 0.0f, dx);
}

/* Rows received under expert parallelism (at least one, so that no op gets an empty range). */
static int rows_here(const pm_moe_shape *d) {
    int n = pm_ep_received(d->ep, d->layer);
    return n > 0 ? n : 1;
}

int pm_moe_fwd(pm_backend *be, const pm_moe_shape *d, pm_ref out, pm_ref inp,
               const pm_moe_params *w, const pm_moe_acts *a, float noise_std, uint32_t noise_seed) {
    int N = d->N, C = d->C, E = d->E, k = d->k;
    pm_mm(be, 0, 1, N, E, C, inp, w->router_w, 0.0f, a->rlogits);
    if (noise_std > 0) pm_op(be, add_noise, a->rlogits, (size_t)N * E, noise_std, noise_seed);
    pm_op(be, router_fwd, a->probs, a->lse, a->ids, a->gates, a->rlogits, N, E, k);
    pm_op(be, router_stats, a->stats, a->probs, a->lse, a->ids, N, E, k);
    pm_op(be, moe_plan, a->offsets, a->slots, a->ids, N, E, k, d->capacity);
    pm_op(be, moe_permute, a->xp, inp, a->slots, N, k, C);
    if (d->rank) {
        pm_lora_experts_fwd(be, d, inp, w, a);
    } else if (d->ep) {
        pm_ep_route(be, d->ep, d->layer, a->offsets, a->ep_offsets);
        pm_ep_to_experts(be, d->ep, d->layer, a->xp, a->xr);
        experts_fwd(be, d, pm_ep_local_experts(d->ep), a->ep_offsets, rows_here(d), a->xr, a->yr, &w->experts,
                    &a->experts);
        pm_ep_from_experts(be, d->ep, d->layer, a->yr, a->yp);
    } else {
        experts_fwd(be, d, E, a->offsets, N * k, a->xp, a->yp, &w->experts, &a->experts);
    }
    return pm_op(be, moe_combine, out, a->yp, a->slots, a->gates, N, k, C);
}

int pm_moe_bwd(pm_backend *be, const pm_moe_shape *d, pm_ref dinp, pm_ref dout, pm_ref inp,
               const pm_moe_params *w, const pm_moe_params *g, const pm_moe_acts *a,
               const pm_moe_scratch *s, float lb_coef, float z_coef, float ent_coef) {
    int N = d->N, C = d->C, E = d->E, k = d->k;
    pm_op(be, moe_combine_bwd, s->dyp, s->dgates, dout, a->yp, a->slots, a->gates, N, k, C);
    if (d->rank) {
        pm_lora_experts_bwd(be, d, dinp, inp, w, g, a, s);
    } else {
        if (d->ep) { /* the rows' gradients go to the experts' ranks; the weight gradients stay there */
            pm_ep_to_experts(be, d->ep, d->layer, s->dyp, s->dyr);
            experts_bwd(be, d, pm_ep_local_experts(d->ep), a->ep_offsets, rows_here(d), a->xr, s->dyr, s->dxr,
                        &w->experts, &g->experts, &a->experts, s->dfch);
            pm_ep_from_experts(be, d->ep, d->layer, s->dxr, s->dxp);
        } else {
            experts_bwd(be, d, E, a->offsets, N * k, a->xp, s->dyp, s->dxp, &w->experts, &g->experts, &a->experts,
                        s->dfch);
        }
        pm_op(be, moe_permute_bwd, dinp, s->dxp, a->slots, N, k, C);
    }
    pm_op(be, router_bwd, s->drlogits, a->probs, a->lse, a->ids, s->dgates, a->stats, N, E, k,
          lb_coef, z_coef, ent_coef);
    if (pm_has_grad(g->router_w)) pm_mm(be, 1, 0, E, C, N, s->drlogits, inp, 1.0f, g->router_w);
    return pm_mm(be, 0, 0, N, C, E, s->drlogits, w->router_w, 1.0f, dinp);
}
