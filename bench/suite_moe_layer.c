/* One MoE MLP layer, forward and backward, against the dense MLP that does the same active
 * FLOPs (top-k: hidden width 4 C k, so top-1 is one expert's MLP). The MoE sequence mirrors
 * moe_fwd/moe_bwd of model/model.c (without router noise): router GEMM, router_fwd,
 * router_stats, plan, permute, grouped GEMMs with grouped biases, GELU, combine, and their
 * backwards. Dropless. FLOPs counted: the MLP GEMMs, 12 N C H (H = 4 C k) forward and
 * backward, plus the router's 6 N C E for the MoE; elementwise work is not counted. */
#include "bench/inputs.h"
#include "bench/suites.h"

#include <math.h>
#include <stdio.h>

typedef struct {
    int N, C, E, k, H; /* H: hidden rows of the dense MLP */
    /* inputs and parameters (dense: fc_w [C,H], proj_w [H,C]; MoE: stacked per expert) */
    pm_buf *x, *dy, *router_w, *fc_w, *fc_b, *proj_w, *proj_b;
    /* activations */
    pm_buf *rlogits, *probs, *lse, *ids, *gates, *stats, *offsets, *slots, *xp, *fch, *fch_gelu,
        *yp, *y;
    /* gradients */
    pm_buf *dyp, *dgates, *dfch, *dxp, *dx, *drlogits, *d_router_w, *d_fc_w, *d_fc_b,
        *d_proj_w, *d_proj_b;
} mlp_arg;

#define R(b) pm_at((b), 0)

static void moe_body(pm_backend *be, void *p) {
    mlp_arg *a = p;
    int N = a->N, C = a->C, E = a->E, k = a->k, rows = N * k;
    pm_bench_mm(be, 0, 1, N, E, C, R(a->x), R(a->router_w), 0.0f, R(a->rlogits));
    pm_op(be, router_fwd, R(a->probs), R(a->lse), R(a->ids), R(a->gates), R(a->rlogits), N, E, k);
    pm_op(be, router_stats, R(a->stats), R(a->probs), R(a->lse), R(a->ids), N, E, k);
    pm_op(be, moe_plan, R(a->offsets), R(a->slots), R(a->ids), N, E, k, 0);
    pm_op(be, moe_permute, R(a->xp), R(a->x), R(a->slots), N, k, C);
    pm_op(be, gemm_grouped, 0, rows, 4 * C, C, E, R(a->offsets), R(a->xp), R(a->fc_w), 0.0f,
          R(a->fch));
    pm_op(be, bias_add, R(a->fch), R(a->fc_b), rows, 4 * C, E, R(a->offsets));
    pm_op(be, gelu_fwd, R(a->fch_gelu), R(a->fch), (size_t)rows * 4 * C);
    pm_op(be, gemm_grouped, 0, rows, C, 4 * C, E, R(a->offsets), R(a->fch_gelu), R(a->proj_w),
          0.0f, R(a->yp));
    pm_op(be, bias_add, R(a->yp), R(a->proj_b), rows, C, E, R(a->offsets));
    pm_op(be, moe_combine, R(a->y), R(a->yp), R(a->slots), R(a->gates), N, k, C);
    /* backward */
    pm_op(be, moe_combine_bwd, R(a->dyp), R(a->dgates), R(a->dy), R(a->yp), R(a->slots),
          R(a->gates), N, k, C);
    pm_op(be, gemm_grouped_wgrad, rows, 4 * C, C, E, R(a->offsets), R(a->fch_gelu), R(a->dyp),
          1.0f, R(a->d_proj_w));
    pm_op(be, bias_grad, R(a->d_proj_b), R(a->dyp), rows, C, E, R(a->offsets));
    pm_op(be, gemm_grouped, 1, rows, 4 * C, C, E, R(a->offsets), R(a->dyp), R(a->proj_w), 0.0f,
          R(a->dfch));
    pm_op(be, gelu_bwd, R(a->dfch), R(a->fch), R(a->dfch), (size_t)rows * 4 * C);
    pm_op(be, gemm_grouped_wgrad, rows, C, 4 * C, E, R(a->offsets), R(a->xp), R(a->dfch), 1.0f,
          R(a->d_fc_w));
    pm_op(be, bias_grad, R(a->d_fc_b), R(a->dfch), rows, 4 * C, E, R(a->offsets));
    pm_op(be, gemm_grouped, 1, rows, C, 4 * C, E, R(a->offsets), R(a->dfch), R(a->fc_w), 0.0f,
          R(a->dxp));
    pm_op(be, moe_permute_bwd, R(a->dx), R(a->dxp), R(a->slots), N, k, C);
    pm_op(be, router_bwd, R(a->drlogits), R(a->probs), R(a->lse), R(a->ids), R(a->dgates),
          R(a->stats), N, E, k, 0.01f, 0.001f);
    pm_bench_mm(be, 1, 0, E, C, N, R(a->drlogits), R(a->x), 1.0f, R(a->d_router_w));
    pm_bench_mm(be, 0, 0, N, C, E, R(a->drlogits), R(a->router_w), 1.0f, R(a->dx));
}

/* GPT-2's MLP with hidden width H: as model.c's dense_mlp_fwd/dense_mlp_bwd. */
static void dense_body(pm_backend *be, void *p) {
    mlp_arg *a = p;
    int N = a->N, C = a->C, H = a->H;
    pm_ref none = R(a->fc_b); /* offsets, ignored when groups == 0 */
    pm_bench_mm(be, 0, 0, N, H, C, R(a->x), R(a->fc_w), 0.0f, R(a->fch));
    pm_op(be, bias_add, R(a->fch), R(a->fc_b), N, H, 0, none);
    pm_op(be, gelu_fwd, R(a->fch_gelu), R(a->fch), (size_t)N * H);
    pm_bench_mm(be, 0, 0, N, C, H, R(a->fch_gelu), R(a->proj_w), 0.0f, R(a->y));
    pm_op(be, bias_add, R(a->y), R(a->proj_b), N, C, 0, none);
    /* backward */
    pm_bench_mm(be, 0, 1, N, H, C, R(a->dy), R(a->proj_w), 0.0f, R(a->dfch));
    pm_bench_mm(be, 1, 0, H, C, N, R(a->fch_gelu), R(a->dy), 1.0f, R(a->d_proj_w));
    pm_op(be, bias_grad, R(a->d_proj_b), R(a->dy), N, C, 0, none);
    pm_op(be, gelu_bwd, R(a->dfch), R(a->fch), R(a->dfch), (size_t)N * H);
    pm_bench_mm(be, 0, 1, N, C, H, R(a->dfch), R(a->fc_w), 0.0f, R(a->dx));
    pm_bench_mm(be, 1, 0, C, H, N, R(a->x), R(a->dfch), 1.0f, R(a->d_fc_w));
    pm_op(be, bias_grad, R(a->d_fc_b), R(a->dfch), N, H, 0, none);
}

/* Buffers of the MLP: `experts` stacked [C, 4C] / [4C, C] weights (MoE) or one [C, H] / [H, C]
 * pair (dense, experts == 0). The same seeds give both the same x and upstream gradient. */
static void setup(pm_bench_bufs *b, mlp_arg *a, int experts, uint32_t seed) {
    size_t N = (size_t)a->N, C = (size_t)a->C, E = (size_t)a->E, k = (size_t)a->k;
    size_t groups = experts ? E : 1, hidden = experts ? 4 * C : (size_t)a->H;
    size_t rows = experts ? N * k : N;
    float fc_scale = 1.0f / sqrtf((float)C), proj_scale = 1.0f / sqrtf((float)hidden);
    a->x = pm_bench_uniform(b, N * C, 1.0f, seed);
    a->dy = pm_bench_uniform(b, N * C, 1e-3f, seed + 1);
    a->fc_w = pm_bench_uniform(b, groups * C * hidden, fc_scale, seed + 2);
    a->proj_w = pm_bench_uniform(b, groups * hidden * C, proj_scale, seed + 3);
    a->fc_b = pm_bench_zeros(b, groups * hidden);
    a->proj_b = pm_bench_zeros(b, groups * C);
    a->fch = pm_bench_zeros(b, rows * hidden);
    a->fch_gelu = pm_bench_zeros(b, rows * hidden);
    a->dfch = pm_bench_zeros(b, rows * hidden);
    a->y = pm_bench_zeros(b, N * C);
    a->dx = pm_bench_zeros(b, N * C);
    a->d_fc_w = pm_bench_zeros(b, groups * C * hidden);
    a->d_proj_w = pm_bench_zeros(b, groups * hidden * C);
    a->d_fc_b = pm_bench_zeros(b, groups * hidden);
    a->d_proj_b = pm_bench_zeros(b, groups * C);
    if (!experts) return;
    /* router logits of standard deviation about 1: a spread, uneven routing */
    a->router_w = pm_bench_uniform(b, E * C, 3.0f / sqrtf((float)C), seed + 4);
    a->rlogits = pm_bench_zeros(b, N * E);
    a->probs = pm_bench_zeros(b, N * E);
    a->lse = pm_bench_zeros(b, N);
    a->ids = pm_bench_zeros(b, N * k);
    a->gates = pm_bench_zeros(b, N * k);
    a->stats = pm_bench_zeros(b, 2 * E + 2);
    a->offsets = pm_bench_zeros(b, E + 1);
    a->slots = pm_bench_zeros(b, N * k);
    a->xp = pm_bench_zeros(b, rows * C);
    a->yp = pm_bench_zeros(b, rows * C);
    a->dyp = pm_bench_zeros(b, rows * C);
    a->dxp = pm_bench_zeros(b, rows * C);
    a->dgates = pm_bench_zeros(b, N * k);
    a->drlogits = pm_bench_zeros(b, N * E);
    a->d_router_w = pm_bench_zeros(b, E * C);
}

/* Times dense then MoE on the same tokens; the MoE record carries the ratio of the two. */
static void run_case(pm_bench_ctx *c, int N, int C, int E, int k, uint32_t seed) {
    mlp_arg proto = {.N = N, .C = C, .E = E, .k = k, .H = 4 * C * k};
    double mlp_flops = 12.0 * N * C * proto.H, router_flops = 6.0 * N * C * E;
    char name[16], shape[64];
    snprintf(name, sizeof name, "top%d", k);
    snprintf(shape, sizeof shape, "N=%d C=%d E=%d k=%d", N, C, E, k);
    pm_record dense = pm_bench_record(c, "dense_mlp_fwd_bwd", name, shape);
    pm_record moe = pm_bench_record(c, "moe_mlp_fwd_bwd", name, shape);
    snprintf(dense.shape, sizeof dense.shape, "N=%d C=%d H=%d", N, C, proto.H);

    pm_bench_bufs bufs = {.be = c->be};
    mlp_arg dense_arg = proto;
    setup(&bufs, &dense_arg, 0, seed);
    int dense_ok = pm_bench_time(c, dense_body, &dense_arg, mlp_flops, 0, &dense) == 0;
    pm_bench_bufs_free(&bufs);
    if (dense_ok) pm_bench_emit(c, &dense);

    mlp_arg moe_arg = proto;
    setup(&bufs, &moe_arg, 1, seed);
    if (pm_bench_time(c, moe_body, &moe_arg, mlp_flops + router_flops, 0, &moe) == 0) {
        if (dense_ok) moe.moe_over_dense = moe.t.median_ms / dense.t.median_ms;
        pm_bench_emit(c, &moe);
    }
    pm_bench_bufs_free(&bufs);
}

/* Full: GPT-2 small's width and 4096 tokens, top-1 and top-2. Quick: 128 tokens at width 256,
 * top-1, small enough for CPU implementations of Vulkan and OpenCL. */
void pm_bench_moe_layer(pm_bench_ctx *c) {
    enum { EXPERTS = 8 };
    if (c->quick) {
        run_case(c, 128, 256, EXPERTS, 1, 300);
        return;
    }
    run_case(c, 4096, 768, EXPERTS, 1, 300);
    run_case(c, 4096, 768, EXPERTS, 2, 300);
}
