/* One MoE MLP layer, forward and backward, against the dense MLP that does the same active
 * FLOPs (top-k: hidden width 4 C k, so top-1 is one expert's MLP). Both are the model's own
 * layer functions (model/layers.h); the MoE runs without router noise, dropless. FLOPs
 * counted: the MLP GEMMs, 12 N C H (H = 4 C k) forward and backward, plus the router's
 * 6 N C E for the MoE; elementwise work is not counted. */
#include "bench/inputs.h"
#include "bench/suites.h"
#include "model/layers.h"

#include <math.h>
#include <stdio.h>

typedef struct {
    int N, C, E, k, H; /* H: hidden rows of the dense MLP */
    pm_ref x, y, dy, dx;
    /* dense: one MLP of width H; MoE: E stacked experts of width 4C and the router */
    pm_mlp_params w, g;
    pm_mlp_acts acts;
    pm_ref dfch;
    pm_moe_params moe_w, moe_g;
    pm_moe_acts moe_acts;
    pm_moe_scratch moe_scratch;
} mlp_arg;

static void moe_body(pm_backend *be, void *p) {
    mlp_arg *a = p;
    pm_moe_shape d = {.N = a->N, .C = a->C, .E = a->E, .k = a->k, .H = 4 * a->C, .capacity = 0};
    pm_moe_fwd(be, &d, a->y, a->x, &a->moe_w, &a->moe_acts, 0.0f, 0);
    pm_moe_bwd(be, &d, a->dx, a->dy, a->x, &a->moe_w, &a->moe_g, &a->moe_acts, &a->moe_scratch,
               0.01f, 0.001f, 0.0f);
}

static void dense_body(pm_backend *be, void *p) {
    mlp_arg *a = p;
    pm_mlp_fwd(be, a->y, a->x, &a->w, &a->acts, a->N, a->C, a->H);
    pm_mlp_bwd(be, a->dx, a->dy, a->x, &a->w, &a->g, &a->acts, a->dfch, a->N, a->C, a->H);
}

static pm_ref uniform(pm_bench_bufs *b, size_t n, float scale, uint32_t seed) {
    return pm_at(pm_bench_uniform(b, n, scale, seed), 0);
}
static pm_ref zeros(pm_bench_bufs *b, size_t n) { return pm_at(pm_bench_zeros(b, n), 0); }

/* Buffers of the MLP: `experts` stacked [C, 4C] / [4C, C] weights (MoE) or one [C, H] / [H, C]
 * pair (dense, experts == 0). The same seeds give both the same x and upstream gradient. */
static void setup(pm_bench_bufs *b, mlp_arg *a, int experts, uint32_t seed) {
    size_t N = (size_t)a->N, C = (size_t)a->C, E = (size_t)a->E, k = (size_t)a->k;
    size_t groups = experts ? E : 1, hidden = experts ? 4 * C : (size_t)a->H;
    size_t rows = experts ? N * k : N;
    float fc_scale = 1.0f / sqrtf((float)C), proj_scale = 1.0f / sqrtf((float)hidden);
    pm_mlp_params *w = experts ? &a->moe_w.experts : &a->w;
    pm_mlp_params *g = experts ? &a->moe_g.experts : &a->g;
    pm_mlp_acts *acts = experts ? &a->moe_acts.experts : &a->acts;
    a->x = uniform(b, N * C, 1.0f, seed);
    a->dy = uniform(b, N * C, 1e-3f, seed + 1);
    w->fc_w = uniform(b, groups * C * hidden, fc_scale, seed + 2);
    w->proj_w = uniform(b, groups * hidden * C, proj_scale, seed + 3);
    w->fc_b = zeros(b, groups * hidden);
    w->proj_b = zeros(b, groups * C);
    acts->fch = zeros(b, rows * hidden);
    acts->fch_gelu = zeros(b, rows * hidden);
    a->y = zeros(b, N * C);
    a->dx = zeros(b, N * C);
    g->fc_w = zeros(b, groups * C * hidden);
    g->proj_w = zeros(b, groups * hidden * C);
    g->fc_b = zeros(b, groups * hidden);
    g->proj_b = zeros(b, groups * C);
    if (!experts) {
        a->dfch = zeros(b, rows * hidden);
        return;
    }
    pm_moe_acts *m = &a->moe_acts;
    pm_moe_scratch *s = &a->moe_scratch;
    /* router logits of standard deviation about 1: a spread, uneven routing */
    a->moe_w.router_w = uniform(b, E * C, 3.0f / sqrtf((float)C), seed + 4);
    m->rlogits = zeros(b, N * E);
    m->probs = zeros(b, N * E);
    m->lse = zeros(b, N);
    m->ids = zeros(b, N * k);
    m->gates = zeros(b, N * k);
    m->stats = zeros(b, 2 * E + 2);
    m->offsets = zeros(b, E + 1);
    m->slots = zeros(b, N * k);
    m->xp = zeros(b, rows * C);
    m->yp = zeros(b, rows * C);
    s->dfch = zeros(b, rows * hidden);
    s->dyp = zeros(b, rows * C);
    s->dxp = zeros(b, rows * C);
    s->dgates = zeros(b, N * k);
    s->drlogits = zeros(b, N * E);
    a->moe_g.router_w = zeros(b, E * C);
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
