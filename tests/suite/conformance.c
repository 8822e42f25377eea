/* Cross-backend conformance: each case builds its inputs from a seeded generator, runs one op
 * and names its outputs; the driver runs the case on the reference backend (ref) and on the backend
 * under test and compares every output (NMSE for floats, exact for indices). A new backend
 * gets its rows by being in the registry: nothing here names one. */
#include "suite_util.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BOUND_ELEM 1e-10   /* elementwise float32 ops */
#define BOUND_REDUCE 1e-8  /* GEMM and reductions */
/* TF32 GEMM implementations (named "...-tf32": products of operands rounded to a 10-bit
 * mantissa, float accumulation; NMSE about 1e-7), for the ops that multiply through the GEMM */
#define BOUND_TF32 1e-5
#define EXACT 0.0          /* index outputs and ops that must be bit-identical */
#define MAX_BUFS 24
#define MAX_OUTS 6
#define MAX_DIMS 6
#define MAX_SHAPES 12 /* shapes per op */

typedef struct {
    char name[16];
    double bound;      /* EXACT: must match exactly */
    int is_int;
    size_t n;
    void *data;        /* host copy */
} output;

typedef struct {
    pm_backend *be;
    check_rng rng;
    pm_buf *bufs[MAX_BUFS];
    int nbufs;
    output out[MAX_OUTS];
    int nout;
} io_t;

static float uniform(io_t *io, float lo, float hi) { return rng_uniform(&io->rng, lo, hi); }
static int rand_int(io_t *io, int lo, int hi) { return lo + rng_below(&io->rng, hi - lo); }

static pm_buf *new_buf(io_t *io, const void *src, size_t n) {
    pm_buf *b = pm_alloc(io->be, n * 4);
    if (!b) return NULL;
    if (io->nbufs < MAX_BUFS) io->bufs[io->nbufs++] = b;
    pm_upload(io->be, b, src, 0, n * 4);
    return b;
}

/* Random floats in [lo, hi); also used for outputs so that "adds" semantics are exercised. */
static pm_buf *in_f32(io_t *io, size_t n, float lo, float hi) {
    float *h = malloc(n * 4 + 4);
    for (size_t i = 0; i < n; i++) h[i] = uniform(io, lo, hi);
    pm_buf *b = new_buf(io, h, n);
    free(h);
    return b;
}

static pm_buf *in_i32(io_t *io, const int32_t *src, size_t n) { return new_buf(io, src, n); }

static void keep(io_t *io, const char *name, pm_buf *b, size_t n, double bound, int is_int) {
    if (io->nout >= MAX_OUTS || !b) return;
    output *o = &io->out[io->nout++];
    snprintf(o->name, sizeof o->name, "%s", name);
    o->bound = bound;
    o->is_int = is_int;
    o->n = n;
    o->data = malloc(n * 4 + 4);
    pm_download(io->be, b, o->data, 0, n * 4);
}
#define out_f32(io, name, b, n, bound) keep(io, name, b, n, bound, 0)
#define out_i32(io, name, b, n) keep(io, name, b, n, EXACT, 1)

/* ---- host-side helpers for valid index inputs ---- */

static int32_t *random_ids(io_t *io, int n, int lo, int hi) {
    int32_t *v = malloc(sizeof *v * (size_t)(n > 0 ? n : 1));
    for (int i = 0; i < n; i++) v[i] = rand_int(io, lo, hi);
    return v;
}

/* Segment offsets of `groups` groups covering at most `rows` rows, some segments empty. */
static int32_t *random_offsets(io_t *io, int groups, int rows) {
    int32_t *off = malloc(sizeof *off * (size_t)(groups + 1));
    off[0] = 0;
    for (int g = 0; g < groups; g++) {
        int left = rows - off[g];
        int take = left > 0 && rand_int(io, 0, 4) ? rand_int(io, 0, left / (groups - g) * 2 + 1) : 0;
        off[g + 1] = off[g] + (take > left ? left : take);
    }
    return off;
}

/* A valid slot table for N tokens x k: a random permutation of rows, some dropped (-1). */
static int32_t *random_slots(io_t *io, int N, int k, int with_drops) {
    int n = N * k;
    int32_t *s = malloc(sizeof *s * (size_t)n);
    random_permutation(&io->rng, s, n);
    for (int i = 0; with_drops && i < n; i++)
        if (rand_int(io, 0, 5) == 0) s[i] = -1;
    return s;
}

/* ---- the cases ---- */

static void case_gemm(io_t *io, const int *d) {
    pm_gemm_desc g = {.trans_a = d[3], .trans_b = d[4], .m = d[0], .n = d[1], .k = d[2],
                      .alpha = d[5] > 1 ? 1.5f : 1.0f, .beta = d[5] > 1 ? 0.5f : 0.0f,
                      .batch = d[5]};
    g.lda = g.trans_a ? g.m : g.k;
    g.ldb = g.trans_b ? g.k : g.n;
    g.ldc = g.n;
    g.stride_a = (long)g.m * g.k;
    g.stride_b = (long)g.k * g.n;
    g.stride_c = (long)g.m * g.n;
    size_t nc = (size_t)g.stride_c * g.batch;
    pm_buf *a = in_f32(io, (size_t)g.stride_a * g.batch, -1, 1);
    pm_buf *b = in_f32(io, (size_t)g.stride_b * g.batch, -1, 1);
    pm_buf *c = in_f32(io, nc, -1, 1);
    pm_op(io->be, gemm, &g, pm_at(a, 0), pm_at(b, 0), pm_at(c, 0));
    out_f32(io, "C", c, nc, BOUND_REDUCE);
}

static void case_gemm_grouped(io_t *io, const int *d) {
    int rows = d[0], n = d[1], k = d[2], groups = d[3], tb = d[4];
    int32_t *off = random_offsets(io, groups, rows);
    pm_buf *o = in_i32(io, off, (size_t)groups + 1);
    pm_buf *a = in_f32(io, (size_t)rows * k, -1, 1);
    pm_buf *b = in_f32(io, (size_t)groups * k * n, -1, 1);
    pm_buf *c = in_f32(io, (size_t)rows * n, -1, 1);
    pm_op(io->be, gemm_grouped, tb, rows, n, k, groups, pm_at(o, 0), pm_at(a, 0), pm_at(b, 0),
          tb ? 1.0f : 0.0f, pm_at(c, 0));
    out_f32(io, "C", c, (size_t)rows * n, BOUND_REDUCE);
    free(off);
}

static void case_gemm_grouped_wgrad(io_t *io, const int *d) {
    int rows = d[0], m = d[1], n = d[2], groups = d[3];
    int32_t *off = random_offsets(io, groups, rows);
    pm_buf *o = in_i32(io, off, (size_t)groups + 1);
    pm_buf *a = in_f32(io, (size_t)rows * m, -1, 1);
    pm_buf *dd = in_f32(io, (size_t)rows * n, -1, 1);
    pm_buf *c = in_f32(io, (size_t)groups * m * n, -1, 1);
    pm_op(io->be, gemm_grouped_wgrad, rows, m, n, groups, pm_at(o, 0), pm_at(a, 0), pm_at(dd, 0),
          1.0f, pm_at(c, 0));
    out_f32(io, "C", c, (size_t)groups * m * n, BOUND_REDUCE);
    free(off);
}

static void case_encoder_fwd(io_t *io, const int *d) {
    int B = d[0], T = d[1], C = d[2], V = d[3];
    int32_t *tok = random_ids(io, B * T, 0, V);
    pm_buf *t = in_i32(io, tok, (size_t)B * T);
    pm_buf *wte = in_f32(io, (size_t)V * C, -1, 1), *wpe = in_f32(io, (size_t)T * C, -1, 1);
    pm_buf *out = in_f32(io, (size_t)B * T * C, -1, 1);
    pm_op(io->be, encoder_fwd, pm_at(out, 0), pm_at(t, 0), pm_at(wte, 0), pm_at(wpe, 0), B, T, C);
    out_f32(io, "out", out, (size_t)B * T * C, BOUND_ELEM);
    free(tok);
}

static void case_encoder_bwd(io_t *io, const int *d) {
    int B = d[0], T = d[1], C = d[2], V = d[3];
    int32_t *tok = random_ids(io, B * T, 0, V);
    pm_buf *t = in_i32(io, tok, (size_t)B * T);
    pm_buf *dwte = in_f32(io, (size_t)V * C, -1, 1), *dwpe = in_f32(io, (size_t)T * C, -1, 1);
    pm_buf *dout = in_f32(io, (size_t)B * T * C, -1, 1);
    pm_op(io->be, encoder_bwd, pm_at(dwte, 0), pm_at(dwpe, 0), pm_at(dout, 0), pm_at(t, 0), B, T,
          C);
    out_f32(io, "dwte", dwte, (size_t)V * C, BOUND_REDUCE);
    out_f32(io, "dwpe", dwpe, (size_t)T * C, BOUND_REDUCE);
    free(tok);
}

static void case_add(io_t *io, const int *d) {
    size_t n = (size_t)d[0];
    pm_buf *a = in_f32(io, n, -1, 1), *b = in_f32(io, n, -1, 1), *o = in_f32(io, n, -1, 1);
    pm_op(io->be, add, pm_at(o, 0), pm_at(a, 0), pm_at(b, 0), n);
    pm_op(io->be, add, pm_at(a, 0), pm_at(a, 0), pm_at(o, 0), n); /* aliasing: a += o */
    out_f32(io, "out", o, n, BOUND_ELEM);
    out_f32(io, "a", a, n, BOUND_ELEM);
}

static void case_fill(io_t *io, const int *d) {
    size_t n = (size_t)d[0];
    pm_buf *x = in_f32(io, n + 2, -1, 1);
    pm_op(io->be, fill, pm_at(x, 1), n, 0.25f); /* the first and last element stay */
    out_f32(io, "x", x, n + 2, EXACT);
}

static void case_scale(io_t *io, const int *d) {
    size_t n = (size_t)d[0];
    pm_buf *x = in_f32(io, n + 2, -1, 1);
    pm_op(io->be, scale, pm_at(x, 1), n, -0.375f); /* the first and last element stay */
    out_f32(io, "x", x, n + 2, EXACT); /* one correctly rounded product per element */
}

static void case_gelu_fwd(io_t *io, const int *d) {
    size_t n = (size_t)d[0];
    pm_buf *x = in_f32(io, n, -5, 5), *o = in_f32(io, n, -1, 1);
    pm_op(io->be, gelu_fwd, pm_at(o, 0), pm_at(x, 0), n);
    out_f32(io, "out", o, n, BOUND_ELEM);
}

static void case_gelu_bwd(io_t *io, const int *d) {
    size_t n = (size_t)d[0];
    pm_buf *x = in_f32(io, n, -5, 5), *dy = in_f32(io, n, -1, 1), *dx = in_f32(io, n, -1, 1);
    pm_op(io->be, gelu_bwd, pm_at(dx, 0), pm_at(x, 0), pm_at(dy, 0), n);
    out_f32(io, "dinp", dx, n, BOUND_ELEM);
}

static void case_bias_add(io_t *io, const int *d) {
    int rows = d[0], cols = d[1], groups = d[2];
    int32_t *off = random_offsets(io, groups ? groups : 1, rows);
    pm_buf *o = in_i32(io, off, (size_t)(groups ? groups : 1) + 1);
    pm_buf *out = in_f32(io, (size_t)rows * cols, -1, 1);
    pm_buf *b = in_f32(io, (size_t)(groups ? groups : 1) * cols, -1, 1);
    pm_op(io->be, bias_add, pm_at(out, 0), pm_at(b, 0), rows, cols, groups, pm_at(o, 0));
    out_f32(io, "out", out, (size_t)rows * cols, BOUND_ELEM);
    free(off);
}

static void case_bias_grad(io_t *io, const int *d) {
    int rows = d[0], cols = d[1], groups = d[2];
    int nb = groups ? groups : 1;
    int32_t *off = random_offsets(io, nb, rows);
    pm_buf *o = in_i32(io, off, (size_t)nb + 1);
    pm_buf *dout = in_f32(io, (size_t)rows * cols, -1, 1);
    pm_buf *db = in_f32(io, (size_t)nb * cols, -1, 1);
    pm_op(io->be, bias_grad, pm_at(db, 0), pm_at(dout, 0), rows, cols, groups, pm_at(o, 0));
    out_f32(io, "dbias", db, (size_t)nb * cols, BOUND_REDUCE);
    free(off);
}

static void case_layernorm_fwd(io_t *io, const int *d) {
    int N = d[0], C = d[1];
    pm_buf *x = in_f32(io, (size_t)N * C, -2, 3), *w = in_f32(io, C, 0.5, 1.5),
           *b = in_f32(io, C, -1, 1);
    pm_buf *out = in_f32(io, (size_t)N * C, -1, 1), *mean = in_f32(io, N, -1, 1),
           *rstd = in_f32(io, N, -1, 1);
    pm_op(io->be, layernorm_fwd, pm_at(out, 0), pm_at(mean, 0), pm_at(rstd, 0), pm_at(x, 0),
          pm_at(w, 0), pm_at(b, 0), N, C);
    out_f32(io, "out", out, (size_t)N * C, BOUND_REDUCE);
    out_f32(io, "mean", mean, N, BOUND_REDUCE);
    out_f32(io, "rstd", rstd, N, BOUND_REDUCE);
}

static void case_layernorm_bwd(io_t *io, const int *d) {
    int N = d[0], C = d[1];
    pm_buf *x = in_f32(io, (size_t)N * C, -2, 3), *w = in_f32(io, C, 0.5, 1.5),
           *b = in_f32(io, C, -1, 1), *dy = in_f32(io, (size_t)N * C, -1, 1);
    pm_buf *out = in_f32(io, (size_t)N * C, -1, 1), *mean = in_f32(io, N, -1, 1),
           *rstd = in_f32(io, N, -1, 1);
    pm_buf *dx = in_f32(io, (size_t)N * C, -1, 1), *dw = in_f32(io, C, -1, 1),
           *db = in_f32(io, C, -1, 1);
    pm_op(io->be, layernorm_fwd, pm_at(out, 0), pm_at(mean, 0), pm_at(rstd, 0), pm_at(x, 0),
          pm_at(w, 0), pm_at(b, 0), N, C);
    pm_op(io->be, layernorm_bwd, pm_at(dx, 0), pm_at(dw, 0), pm_at(db, 0), pm_at(dy, 0),
          pm_at(x, 0), pm_at(w, 0), pm_at(mean, 0), pm_at(rstd, 0), N, C);
    out_f32(io, "dinp", dx, (size_t)N * C, BOUND_REDUCE);
    out_f32(io, "dw", dw, C, BOUND_REDUCE);
    out_f32(io, "db", db, C, BOUND_REDUCE);
}

static void case_attention_fwd(io_t *io, const int *d) {
    int B = d[0], T = d[1], C = d[2], NH = d[3];
    pm_buf *qkv = in_f32(io, (size_t)B * T * 3 * C, -1, 1);
    pm_buf *out = in_f32(io, (size_t)B * T * C, -1, 1);
    pm_buf *att = in_f32(io, (size_t)B * NH * T * T, -1, 1);
    pm_op(io->be, attention_fwd, pm_at(out, 0), pm_at(att, 0), pm_at(qkv, 0), B, T, C, NH);
    out_f32(io, "out", out, (size_t)B * T * C, BOUND_REDUCE);
    out_f32(io, "att", att, (size_t)B * NH * T * T, BOUND_REDUCE);
}

static void case_attention_bwd(io_t *io, const int *d) {
    int B = d[0], T = d[1], C = d[2], NH = d[3];
    pm_buf *qkv = in_f32(io, (size_t)B * T * 3 * C, -1, 1);
    pm_buf *out = in_f32(io, (size_t)B * T * C, -1, 1);
    pm_buf *att = in_f32(io, (size_t)B * NH * T * T, -1, 1);
    pm_buf *dout = in_f32(io, (size_t)B * T * C, -1, 1);
    pm_buf *dqkv = in_f32(io, (size_t)B * T * 3 * C, -1, 1);
    pm_buf *datt = in_f32(io, (size_t)B * NH * T * T, -1, 1);
    pm_op(io->be, attention_fwd, pm_at(out, 0), pm_at(att, 0), pm_at(qkv, 0), B, T, C, NH);
    pm_op(io->be, attention_bwd, pm_at(dqkv, 0), pm_at(datt, 0), pm_at(dout, 0), pm_at(qkv, 0),
          pm_at(att, 0), B, T, C, NH);
    out_f32(io, "dqkv", dqkv, (size_t)B * T * 3 * C, BOUND_REDUCE);
}

/* Targets in 0..V-1 with every fifth ignored (-1). */
static int32_t *random_targets(io_t *io, int N, int V) {
    int32_t *t = random_ids(io, N, 0, V);
    for (int i = 0; i < N; i++)
        if (i % 5 == 4) t[i] = -1;
    return t;
}

static void case_xent_fwd(io_t *io, const int *d) {
    int N = d[0], V = d[1];
    int32_t *tg = random_targets(io, N, V);
    pm_buf *t = in_i32(io, tg, N), *x = in_f32(io, (size_t)N * V, -4, 4),
           *l = in_f32(io, N, -1, 1);
    pm_op(io->be, xent_fwd, pm_at(l, 0), pm_at(x, 0), pm_at(t, 0), N, V);
    out_f32(io, "losses", l, N, BOUND_REDUCE);
    free(tg);
}

static void case_xent_bwd(io_t *io, const int *d) {
    int N = d[0], V = d[1];
    int32_t *tg = random_targets(io, N, V);
    pm_buf *t = in_i32(io, tg, N), *x = in_f32(io, (size_t)N * V, -4, 4);
    pm_buf *dx = in_f32(io, (size_t)N * V, -1, 1);
    pm_op(io->be, xent_bwd, pm_at(dx, 0), pm_at(x, 0), pm_at(t, 0), N, V, 0.125f);
    pm_op(io->be, xent_bwd, pm_at(x, 0), pm_at(x, 0), pm_at(t, 0), N, V, 1.0f); /* in place */
    out_f32(io, "dlogits", dx, (size_t)N * V, BOUND_REDUCE);
    out_f32(io, "inplace", x, (size_t)N * V, BOUND_REDUCE);
    free(tg);
}

/* Router logits; with d[3] set they take few distinct values, so top-k meets ties. */
static pm_buf *router_logits(io_t *io, int N, int E, int tied, int sparse) {
    float *h = malloc(sizeof *h * (size_t)N * E);
    for (int i = 0; i < N * E; i++)
        h[i] = tied ? (float)rand_int(io, 0, 3) * 0.5f : uniform(io, -3, 3);
    /* every fourth logit -200: its probability is 0 in float32 (the entropy's 0 ln 0) */
    for (int i = 3; sparse && i < N * E; i += 4) h[i] = -200.0f;
    pm_buf *b = new_buf(io, h, (size_t)N * E);
    free(h);
    return b;
}

static void case_router_fwd(io_t *io, const int *d) {
    int N = d[0], E = d[1], k = d[2];
    pm_buf *x = router_logits(io, N, E, d[3], 0);
    pm_buf *p = in_f32(io, (size_t)N * E, -1, 1), *lse = in_f32(io, N, -1, 1);
    pm_buf *ids = in_f32(io, (size_t)N * k, -1, 1), *g = in_f32(io, (size_t)N * k, -1, 1);
    pm_op(io->be, router_fwd, pm_at(p, 0), pm_at(lse, 0), pm_at(ids, 0), pm_at(g, 0), pm_at(x, 0),
          N, E, k);
    out_f32(io, "probs", p, (size_t)N * E, BOUND_REDUCE);
    out_f32(io, "lse", lse, N, BOUND_REDUCE);
    out_i32(io, "ids", ids, (size_t)N * k);
    out_f32(io, "gates", g, (size_t)N * k, BOUND_REDUCE);
}

static void case_router_stats(io_t *io, const int *d) {
    int N = d[0], E = d[1], k = d[2];
    pm_buf *x = router_logits(io, N, E, 0, 0);
    pm_buf *p = in_f32(io, (size_t)N * E, -1, 1), *lse = in_f32(io, N, -1, 1);
    pm_buf *ids = in_f32(io, (size_t)N * k, -1, 1), *g = in_f32(io, (size_t)N * k, -1, 1);
    pm_buf *st = in_f32(io, 2 * (size_t)E + 2, -1, 1);
    pm_op(io->be, router_fwd, pm_at(p, 0), pm_at(lse, 0), pm_at(ids, 0), pm_at(g, 0), pm_at(x, 0),
          N, E, k);
    pm_op(io->be, router_stats, pm_at(st, 0), pm_at(p, 0), pm_at(lse, 0), pm_at(ids, 0), N, E, k);
    out_f32(io, "counts", st, (size_t)E, EXACT);
    float *all = malloc(sizeof *all * (2 * (size_t)E + 2));
    pm_download(io->be, st, all, 0, sizeof *all * (2 * (size_t)E + 2));
    pm_buf *rest = new_buf(io, all + E, (size_t)E + 2);
    out_f32(io, "sums", rest, (size_t)E + 2, BOUND_REDUCE);
    free(all);
}

/* d = N, E, k, ent_coef * 100; rows with an entropy bonus also have zero probabilities. */
static void case_router_bwd(io_t *io, const int *d) {
    int N = d[0], E = d[1], k = d[2];
    pm_buf *x = router_logits(io, N, E, 0, d[3] > 0);
    pm_buf *p = in_f32(io, (size_t)N * E, -1, 1), *lse = in_f32(io, N, -1, 1);
    pm_buf *ids = in_f32(io, (size_t)N * k, -1, 1), *g = in_f32(io, (size_t)N * k, -1, 1);
    pm_buf *st = in_f32(io, 2 * (size_t)E + 2, -1, 1);
    pm_buf *dg = in_f32(io, (size_t)N * k, -1, 1), *dx = in_f32(io, (size_t)N * E, -1, 1);
    pm_op(io->be, router_fwd, pm_at(p, 0), pm_at(lse, 0), pm_at(ids, 0), pm_at(g, 0), pm_at(x, 0),
          N, E, k);
    pm_op(io->be, router_stats, pm_at(st, 0), pm_at(p, 0), pm_at(lse, 0), pm_at(ids, 0), N, E, k);
    pm_op(io->be, router_bwd, pm_at(dx, 0), pm_at(p, 0), pm_at(lse, 0), pm_at(ids, 0), pm_at(dg, 0),
          pm_at(st, 0), N, E, k, 0.01f, 0.001f, (float)d[3] / 100.0f);
    out_f32(io, "dlogits", dx, (size_t)N * E, BOUND_REDUCE);
}

/* d = N, E, k, capacity, skew (0: uniform ids, 1: all on expert E-1, 2: half the experts) */
static void case_moe_plan(io_t *io, const int *d) {
    int N = d[0], E = d[1], k = d[2], cap = d[3], skew = d[4];
    int32_t *id = malloc(sizeof *id * (size_t)N * k);
    for (int t = 0; t < N; t++)
        for (int j = 0; j < k; j++) {
            int e = skew == 1 ? E - 1 : skew == 2 ? rand_int(io, 0, (E + 1) / 2) : rand_int(io, 0, E);
            if (j > 0 && e == id[t * k]) e = (e + 1) % E; /* top-k choices are distinct */
            id[t * k + j] = e;
        }
    pm_buf *ids = in_i32(io, id, (size_t)N * k);
    pm_buf *off = in_f32(io, (size_t)E + 1, -1, 1), *slots = in_f32(io, (size_t)N * k, -1, 1);
    pm_op(io->be, moe_plan, pm_at(off, 0), pm_at(slots, 0), pm_at(ids, 0), N, E, k, cap);
    out_i32(io, "offsets", off, (size_t)E + 1);
    out_i32(io, "slots", slots, (size_t)N * k);
    free(id);
}

static void case_moe_permute(io_t *io, const int *d) {
    int N = d[0], k = d[1], C = d[2];
    int32_t *s = random_slots(io, N, k, d[3]);
    pm_buf *slots = in_i32(io, s, (size_t)N * k);
    pm_buf *x = in_f32(io, (size_t)N * C, -1, 1), *xp = in_f32(io, (size_t)N * k * C, -1, 1);
    pm_op(io->be, moe_permute, pm_at(xp, 0), pm_at(x, 0), pm_at(slots, 0), N, k, C);
    out_f32(io, "xp", xp, (size_t)N * k * C, EXACT);
    free(s);
}

static void case_moe_permute_bwd(io_t *io, const int *d) {
    int N = d[0], k = d[1], C = d[2];
    int32_t *s = random_slots(io, N, k, d[3]);
    pm_buf *slots = in_i32(io, s, (size_t)N * k);
    pm_buf *dxp = in_f32(io, (size_t)N * k * C, -1, 1), *dx = in_f32(io, (size_t)N * C, -1, 1);
    pm_op(io->be, moe_permute_bwd, pm_at(dx, 0), pm_at(dxp, 0), pm_at(slots, 0), N, k, C);
    out_f32(io, "dx", dx, (size_t)N * C, BOUND_ELEM);
    free(s);
}

static void case_moe_combine(io_t *io, const int *d) {
    int N = d[0], k = d[1], C = d[2];
    int32_t *s = random_slots(io, N, k, d[3]);
    pm_buf *slots = in_i32(io, s, (size_t)N * k);
    pm_buf *yp = in_f32(io, (size_t)N * k * C, -1, 1), *g = in_f32(io, (size_t)N * k, 0, 1);
    pm_buf *y = in_f32(io, (size_t)N * C, -1, 1);
    pm_op(io->be, moe_combine, pm_at(y, 0), pm_at(yp, 0), pm_at(slots, 0), pm_at(g, 0), N, k, C);
    out_f32(io, "y", y, (size_t)N * C, BOUND_ELEM);
    free(s);
}

static void case_moe_combine_bwd(io_t *io, const int *d) {
    int N = d[0], k = d[1], C = d[2];
    int32_t *s = random_slots(io, N, k, d[3]);
    pm_buf *slots = in_i32(io, s, (size_t)N * k);
    pm_buf *yp = in_f32(io, (size_t)N * k * C, -1, 1), *g = in_f32(io, (size_t)N * k, 0, 1);
    pm_buf *dy = in_f32(io, (size_t)N * C, -1, 1), *dyp = in_f32(io, (size_t)N * k * C, -1, 1);
    pm_buf *dg = in_f32(io, (size_t)N * k, -1, 1);
    pm_op(io->be, moe_combine_bwd, pm_at(dyp, 0), pm_at(dg, 0), pm_at(dy, 0), pm_at(yp, 0),
          pm_at(slots, 0), pm_at(g, 0), N, k, C);
    out_f32(io, "dyp", dyp, (size_t)N * k * C, BOUND_ELEM);
    out_f32(io, "dgates", dg, (size_t)N * k, BOUND_REDUCE);
    free(s);
}

static void case_add_noise(io_t *io, const int *d) {
    size_t n = (size_t)d[0];
    pm_buf *x = in_f32(io, n, -1, 1);
    pm_op(io->be, add_noise, pm_at(x, 0), n, 0.5f, (uint32_t)d[1]);
    out_f32(io, "x", x, n, BOUND_ELEM);
}

static void case_sumsq(io_t *io, const int *d) {
    size_t n = (size_t)d[0];
    pm_buf *x = in_f32(io, n, -1, 1), *o = in_f32(io, 2, -1, 1);
    pm_op(io->be, sumsq, pm_at(o, 0), pm_at(x, 0), n);
    out_f32(io, "sum", o, 1, BOUND_REDUCE);
}

static void case_adamw(io_t *io, const int *d) {
    size_t n = (size_t)d[0];
    pm_buf *w = in_f32(io, n, -1, 1), *g = in_f32(io, n, -1, 1), *m = in_f32(io, n, -0.1f, 0.1f),
           *v = in_f32(io, n, 0, 0.01f);
    pm_op(io->be, adamw, pm_at(w, 0), pm_at(g, 0), pm_at(m, 0), pm_at(v, 0), n, 1e-3f, 0.9f,
          0.95f, 1e-8f, 0.1f, d[1], 0.5f);
    out_f32(io, "params", w, n, BOUND_ELEM);
    out_f32(io, "m", m, n, BOUND_ELEM);
    out_f32(io, "v", v, n, BOUND_ELEM);
}

typedef struct {
    const char *op;
    void (*run)(io_t *, const int *);
    const char *dims;           /* names of the shape fields, for the rows */
    int shapes[MAX_SHAPES][MAX_DIMS];    /* all-zero row ends the list */
} pm_case;

/* Awkward sizes on purpose: 1, 7, 33, 1000 and others that are not multiples of tiles. The
 * last rows of gemm, encoder_*, add, fill, scale, gelu_*, xent_* and adamw reach past 1 MiB in
 * one argument, so that the check_vulkan_windows test (a binding limit of 1 MiB) runs them in
 * the pieces a device with a small maxStorageBufferRange needs; sumsq's last row does already. */
static const pm_case cases[] = {
    {"gemm", case_gemm, "m n k ta tb batch",
     {{1, 1, 1, 0, 0, 1}, {7, 33, 1000, 0, 1, 1}, {33, 7, 5, 1, 0, 1}, {64, 64, 64, 1, 1, 2},
      {100, 257, 33, 0, 0, 3}, {128, 128, 128, 0, 0, 1}, {1000, 7, 33, 1, 1, 1},
      {3, 50257, 8, 0, 1, 1}, {50257, 8, 6, 1, 0, 1}, {64, 64, 64, 0, 0, 70}}},
    {"gemm_grouped", case_gemm_grouped, "rows n k groups tb",
     {{1, 1, 1, 1, 0}, {100, 33, 7, 4, 0}, {257, 64, 65, 8, 1}, {33, 1000, 17, 3, 1}}},
    {"gemm_grouped_wgrad", case_gemm_grouped_wgrad, "rows m n groups",
     {{1, 1, 1, 1}, {100, 33, 7, 4}, {257, 64, 65, 8}, {33, 17, 100, 3}}},
    {"encoder_fwd", case_encoder_fwd, "B T C V", {{1, 1, 1, 1}, {2, 33, 7, 50}, {3, 17, 64, 257}, {2, 9, 64, 5003}}},
    {"encoder_bwd", case_encoder_bwd, "B T C V", {{1, 1, 1, 1}, {2, 33, 7, 5}, {3, 17, 64, 257}, {2, 9, 64, 5003}}},
    {"add", case_add, "n", {{1}, {7}, {1000}, {65537}, {300007}}},
    {"fill", case_fill, "n", {{1}, {33}, {4099}, {300007}}},
    {"scale", case_scale, "n", {{1}, {7}, {1000}, {65537}, {300007}}},
    {"gelu_fwd", case_gelu_fwd, "n", {{1}, {7}, {1000}, {65537}, {300007}}},
    {"gelu_bwd", case_gelu_bwd, "n", {{1}, {7}, {1000}, {65537}, {300007}}},
    {"bias_add", case_bias_add, "rows cols groups",
     {{1, 1, 0}, {33, 7, 0}, {100, 257, 0}, {100, 33, 4}, {257, 7, 8}}},
    {"bias_grad", case_bias_grad, "rows cols groups",
     {{1, 1, 0}, {33, 7, 0}, {1000, 257, 0}, {100, 33, 4}, {257, 7, 8}}},
    {"layernorm_fwd", case_layernorm_fwd, "N C", {{1, 1}, {7, 33}, {33, 768}, {1000, 7}}},
    {"layernorm_bwd", case_layernorm_bwd, "N C", {{1, 1}, {7, 33}, {33, 768}, {1000, 7}}},
    {"attention_fwd", case_attention_fwd, "B T C NH",
     {{1, 1, 4, 1}, {2, 7, 16, 2}, {1, 33, 96, 3}, {2, 64, 64, 4}}},
    {"attention_bwd", case_attention_bwd, "B T C NH",
     {{1, 1, 4, 1}, {2, 7, 16, 2}, {1, 33, 96, 3}, {2, 64, 64, 4}}},
    {"xent_fwd", case_xent_fwd, "N V", {{1, 1}, {7, 33}, {33, 1000}, {5, 50257}, {7, 50257}}},
    {"xent_bwd", case_xent_bwd, "N V", {{1, 1}, {7, 33}, {33, 1000}, {5, 50257}, {7, 50257}}},
    {"router_fwd", case_router_fwd, "N E k tied",
     {{1, 1, 1, 0}, {7, 4, 1, 0}, {33, 8, 2, 0}, {1000, 8, 1, 1}, {257, 64, 2, 1}, {100, 7, 3, 0}}},
    {"router_stats", case_router_stats, "N E k", {{1, 1, 1}, {33, 8, 2}, {1000, 8, 1}, {257, 64, 2}}},
    {"router_bwd", case_router_bwd, "N E k ent%",
     {{1, 1, 1, 0}, {33, 8, 2, 0}, {1000, 8, 1, 0}, {257, 64, 2, 0}, {100, 7, 3, 0}, {1, 1, 1, 100},
      {33, 8, 2, 100}, {1000, 8, 1, 50}, {257, 64, 2, 100}, {100, 7, 3, 100}}},
    {"moe_plan", case_moe_plan, "N E k capacity skew",
     {{1, 1, 1, 0, 0}, {33, 8, 1, 0, 0}, {1000, 8, 2, 0, 0}, {257, 64, 2, 0, 2}, {100, 8, 1, 0, 1},
      {1000, 8, 1, 100, 0}, {100, 4, 2, 30, 1}}},
    {"moe_permute", case_moe_permute, "N k C drops",
     {{1, 1, 1, 0}, {33, 1, 7, 0}, {100, 2, 65, 1}, {1000, 2, 33, 0}}},
    {"moe_permute_bwd", case_moe_permute_bwd, "N k C drops",
     {{1, 1, 1, 0}, {33, 1, 7, 0}, {100, 2, 65, 1}, {1000, 2, 33, 0}}},
    {"moe_combine", case_moe_combine, "N k C drops",
     {{1, 1, 1, 0}, {33, 1, 7, 0}, {100, 2, 65, 1}, {1000, 2, 33, 0}}},
    {"moe_combine_bwd", case_moe_combine_bwd, "N k C drops",
     {{1, 1, 1, 0}, {33, 1, 7, 0}, {100, 2, 65, 1}, {1000, 2, 33, 0}}},
    {"add_noise", case_add_noise, "n seed", {{1, 1}, {1000, 7}, {65537, 123}}},
    {"sumsq", case_sumsq, "n", {{1}, {1000}, {1000003}}},
    {"adamw", case_adamw, "n step", {{1, 1}, {1000, 3}, {65537, 1000}, {300007, 5}}},
};
enum { n_cases = sizeof cases / sizeof cases[0] };

static int case_uses_gemm(const pm_case *c) { return strncmp(c->op, "gemm", 4) == 0; }

static int ndims(const int *s) {
    int n = 0;
    while (n < MAX_DIMS && s[n]) n++;
    return n;
}

/* Runs one case on one backend; outputs stay in io. Returns 0, or 1 with err filled. */
static int run_case(pm_backend *be, const pm_case *c, const int *shape, unsigned seed, io_t *io,
                    char *err, size_t errlen) {
    memset(io, 0, sizeof *io);
    io->be = be;
    io->rng.state = 0x9e3779b97f4a7c15ULL ^ seed;
    c->run(io, shape);
    pm_sync(be);
    int failed = pm_failed(be);
    if (failed) snprintf(err, errlen, "%s", pm_error(be));
    pm_clear_error(be);
    for (int i = 0; i < io->nbufs; i++) pm_free(be, io->bufs[i]);
    return failed;
}

static void free_outputs(io_t *io) {
    for (int i = 0; i < io->nout; i++) free(io->out[i].data);
    io->nout = 0;
}

/* Compares every output, float outputs with at least the bound `least`; writes the worst
 * figure into detail. Returns 1 when all pass. */
static int compare(const io_t *got, const io_t *ref, double least, char *detail, size_t len) {
    double worst = 0;
    const char *worst_name = "";
    if (got->nout != ref->nout) {
        snprintf(detail, len, "%d outputs, the reference has %d", got->nout, ref->nout);
        return 0;
    }
    for (int i = 0; i < ref->nout; i++) {
        const output *a = &got->out[i], *b = &ref->out[i];
        if (b->bound == EXACT) {
            size_t bad = 0, first = 0;
            for (size_t j = 0; j < b->n; j++)
                if (memcmp((char *)a->data + 4 * j, (char *)b->data + 4 * j, 4) != 0 && !bad++)
                    first = j;
            if (bad) {
                if (b->is_int)
                    snprintf(detail, len, "%s: %zu of %zu differ (first at %zu: %d, want %d)",
                             b->name, bad, b->n, first, ((int32_t *)a->data)[first],
                             ((int32_t *)b->data)[first]);
                else
                    snprintf(detail, len, "%s: %zu of %zu differ (first at %zu: %g, want %g)",
                             b->name, bad, b->n, first, ((float *)a->data)[first],
                             ((float *)b->data)[first]);
                return 0;
            }
            continue;
        }
        double e = pm_nmse(a->data, b->data, b->n), bound = b->bound > least ? b->bound : least;
        if (!(e <= bound)) {
            snprintf(detail, len, "%s: nmse %.3g > %.0e", b->name, e, bound);
            return 0;
        }
        if (e >= worst) {
            worst = e;
            worst_name = b->name;
        }
    }
    snprintf(detail, len, "nmse %.2g%s%s", worst, *worst_name ? " " : "", worst_name);
    return 1;
}

double pm_nmse(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - b[i];
        num += d * d;
        den += (double)b[i] * b[i];
    }
    if (den == 0) return num == 0 ? 0 : INFINITY;
    return num / den;
}

void pm_check_row(FILE *out, pm_tally *tally, const char *status, const char *backend,
                  const char *op, const char *shape, const char *detail) {
    fprintf(out, "%-4s  %-16s %-20s %-34s %s\n", status, backend, op, shape, detail);
    fflush(out);
    if (strcmp(status, "pass") == 0) tally->passed++;
    else if (strcmp(status, "skip") == 0) tally->skipped++;
    else tally->failed++;
}

void pm_shape_text(const char *dims, const int *s, char *buf, size_t len) {
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; *dims && used < len; i++) {
        size_t name = strcspn(dims, " ");
        used += (size_t)snprintf(buf + used, len - used, "%s%.*s=%d", i ? " " : "", (int)name,
                                 dims, s[i]);
        dims += name + (dims[name] == ' ');
    }
}

/* Every case of every op against the reference, for the current GEMM implementation of be
 * (tf32: a TF32 one, whose GEMM and attention rows are held to BOUND_TF32). */
static void check_backend(pm_backend *be, pm_backend *ref, const char *label, int gemm_only,
                          int tf32, const char *only_op, FILE *out, pm_tally *tally) {
    for (int ci = 0; ci < n_cases; ci++) {
        const pm_case *c = &cases[ci];
        if (only_op && strcmp(only_op, c->op) != 0) continue;
        if (gemm_only && !case_uses_gemm(c)) continue;
        int multiplies = case_uses_gemm(c) || strncmp(c->op, "attention", 9) == 0;
        double least = tf32 && multiplies ? BOUND_TF32 : 0.0;
        for (int si = 0; si < MAX_SHAPES && ndims(c->shapes[si]); si++) {
            const int *s = c->shapes[si];
            char shape[96], detail[600], err[512];
            pm_shape_text(c->dims, s, shape, sizeof shape);
            io_t want, got;
            unsigned seed = (unsigned)(ci * 131 + si * 7 + 1);
            if (run_case(ref, c, s, seed, &want, err, sizeof err)) {
                pm_check_row(out, tally, "FAIL", "ref", c->op, shape, err);
                free_outputs(&want);
                continue;
            }
            int bad = run_case(be, c, s, seed, &got, err, sizeof err);
            if (bad) pm_check_row(out, tally, "FAIL", label, c->op, shape, err);
            else {
                int ok = compare(&got, &want, least, detail, sizeof detail);
                pm_check_row(out, tally, ok ? "pass" : "FAIL", label, c->op, shape, detail);
            }
            free_outputs(&want);
            free_outputs(&got);
        }
    }
}

static void check_one(const char *name, pm_backend *ref, const char *only_op, FILE *out,
                      pm_tally *tally) {
    char err[512], why[256] = "";
    pm_device_info info;
    /* no device: skipped by name; a device that fails to open (a kernel that does not
     * build, say) fails every row */
    int has_device = pm_backend_devices(name, &info, 1, why, sizeof why) > 0;
    pm_backend *be = pm_backend_open(name, 0, err, sizeof err);
    if (!be) {
        for (int ci = 0; ci < n_cases; ci++)
            if (!only_op || strcmp(only_op, cases[ci].op) == 0)
                pm_check_row(out, tally, has_device ? "FAIL" : "skip", name, cases[ci].op, "-", err);
        pm_list_faults(name, has_device ? "FAIL" : "skip", err, only_op, out, tally);
        return;
    }
    int is_ref = strcmp(name, "ref") == 0;
    /* Every GEMM implementation gets the GEMM rows; the first also gets all the other ops.
     * The reference's ops are not compared with themselves: they are checked by finite
     * differences and semantics instead. */
    for (int i = 0; !is_ref && pm_gemm_impls(be)[i]; i++) {
        const char *impl = pm_gemm_impls(be)[i];
        char label[48];
        snprintf(label, sizeof label, "%s:%s", name, impl);
        if (pm_select_gemm(be, impl) != PM_OK) {
            pm_check_row(out, tally, "FAIL", label, "gemm", "-", pm_error(be));
            pm_clear_error(be);
            continue;
        }
        size_t len = strlen(impl);
        int tf32 = len > 5 && strcmp(impl + len - 5, "-tf32") == 0;
        check_backend(be, ref, label, i > 0, tf32, only_op, out, tally);
    }
    pm_check_faults(be, name, only_op, out, tally);
    if (is_ref) {
        /* semantics first: the gradient cases build on moe_plan's slots */
        pm_check_semantics(be, only_op, out, tally);
        pm_check_gradients(be, only_op, out, tally);
    }
    pm_backend_close(be);
}

/* Every op of the interface (PM_OPS) has a case, and every case is an op: one FAIL row each
 * where not, so a new op cannot go unchecked. */
static void check_coverage(const char *only_op, FILE *out, pm_tally *tally) {
    int has_case[PM_OP_COUNT] = {0};
    for (int ci = 0; ci < n_cases; ci++) {
        int i = pm_op_index(cases[ci].op);
        if (i >= 0) has_case[i] = 1;
        else
            pm_check_row(out, tally, "FAIL", "suite", cases[ci].op, "-",
                         "a case for an op the interface does not have (backends/ops.h)");
    }
    for (int i = 0; i < PM_OP_COUNT; i++)
        if (!has_case[i] && op_selected(only_op, pm_op_name(i)))
            pm_check_row(out, tally, "FAIL", "suite", pm_op_name(i), "-",
                         "no conformance case (tests/suite/conformance.c)");
}

int pm_check(const char *backend, const char *only_op, FILE *out, pm_tally *tally) {
    char err[512];
    memset(tally, 0, sizeof *tally);
    check_coverage(only_op, out, tally);
    pm_backend *ref = pm_backend_open("ref", 0, err, sizeof err);
    if (!ref) {
        fprintf(out, "cannot open the reference backend: %s\n", err);
        tally->failed++;
        return 1;
    }
    if (strcmp(backend, "all") == 0) {
        /* every backend of the registry, then the standard ones this build left out, which
         * are listed as skipped by name */
        static const char *const standard[] = {"ref", "cpu", "opencl", "vulkan", "cuda"};
        for (int i = 0; i < pm_backend_count(); i++)
            check_one(pm_backend_name(i), ref, only_op, out, tally);
        for (int i = 0; i < 5; i++) {
            int built = 0;
            for (int j = 0; j < pm_backend_count(); j++)
                built |= strcmp(pm_backend_name(j), standard[i]) == 0;
            if (!built) check_one(standard[i], ref, only_op, out, tally);
        }
    } else {
        check_one(backend, ref, only_op, out, tally);
    }
    pm_backend_close(ref);
    fprintf(out, "%d passed, %d failed, %d skipped\n", tally->passed, tally->failed,
            tally->skipped);
    return tally->failed != 0;
}
