/* Every backward op of the reference backend (ref) against central finite differences.
 *
 * A case holds its differentiable inputs on the host, runs the forward op on the CPU backend
 * in float32 and defines the scalar L = sum(w * out), accumulated in double, for fixed random
 * weights w. The analytic gradient is the backward op run with dout = w; the numeric one is
 * (L(x+h) - L(x-h)) / (2h) in double for up to SAMPLES elements of each input, spread evenly
 * over it (first and last included). One row per (op, shape) reports the worst relative error. */
#include "suite_util.h"

#include <math.h>
#include <stdio.h>

#include "model/router_losses.h"

#define LABEL "ref:gradcheck"
#define SAMPLES 24
/* The step for inputs of magnitude about 1: the float32 rounding of the outputs a step moves
 * (divided by 2h) and the truncation error h^2 f'''/6 of the central difference both stay
 * near 1e-3 of the gradient's scale or below. The step taken is measured after the perturbed
 * value is rounded to float32. */
#define STEP 3e-2
/* rel err = |analytic - numeric| / max(|analytic|, |numeric|, FLOOR * s), s the largest
 * |numeric| of the input's samples: elements far below the input's scale are judged against
 * 1% of it, where finite differences cannot resolve a relative error. */
#define FLOOR 1e-2
/* Measured worst: about 1e-3 (float32 rounding). A missing factor of 2 gives 0.5, a sign
 * error 2, a swapped or dropped element 1 or more: every one of them fails clearly. */
#define TOLERANCE 1e-2
/* What a backward that "writes" finds in its output beforehand: an element it forgets to
 * write shows up as a gradient of 1000. */
#define SENTINEL 1000.0f
#define MAX_INPUTS 3
#define MAX_HOST 12
#define MAX_DIMS 7
#define MAX_SHAPES 12

typedef struct grad_case grad_case;

/* One differentiable input: host values the differences perturb in place, and the gradient
 * the backward op gave. */
typedef struct {
    const char *name;
    float *x, *grad;
    size_t n;
} grad_input;

/* The part every case shares; each case type embeds it first. */
struct grad_case {
    pm_backend *be;
    grad_input in[MAX_INPUTS];
    int nin;
    float *w;                     /* the weights of the forward's output: L = sum w * out */
    size_t nw;
    void *host[MAX_HOST];         /* host arrays, freed with the case */
    int nhost;
    double (*loss)(grad_case *);  /* L for the current input values */
    void (*backward)(grad_case *);/* fills in[i].grad */
};

/* ---- host arrays and the weighted output ---- */

/* Zeroed host memory for n 4-byte elements, freed with the case (a case needs at most
 * MAX_HOST arrays; more would leak, which the sanitizer build reports). */
static void *host_array(grad_case *c, size_t n) {
    void *p = calloc(n ? n : 1, 4);
    if (c->nhost < MAX_HOST) c->host[c->nhost++] = p;
    return p;
}

static float *random_floats(grad_case *c, check_rng *r, size_t n, float lo, float hi) {
    float *x = host_array(c, n);
    for (size_t i = 0; i < n; i++) x[i] = rng_uniform(r, lo, hi);
    return x;
}

static void add_input(grad_case *c, const char *name, float *x, size_t n) {
    grad_input *in = &c->in[c->nin++];
    *in = (grad_input){name, x, host_array(c, n), n};
}

static void set_weights(grad_case *c, check_rng *r, size_t n) {
    c->w = random_floats(c, r, n, -1, 1);
    c->nw = n;
}

/* sum w * out over the case's nw outputs, in double. */
static double weighted_sum(grad_case *c, scratch *s, pm_ref out) {
    float *h = malloc(c->nw * 4);
    scratch_get(s, out, h, c->nw);
    double l = 0;
    for (size_t i = 0; i < c->nw; i++) l += (double)c->w[i] * h[i];
    free(h);
    return l;
}

/* A zeroed case of `size` bytes (a case type that embeds grad_case first) on backend be. */
static void *new_case(pm_backend *be, size_t size) {
    grad_case *c = calloc(1, size);
    c->be = be;
    return c;
}

static void free_case(grad_case *c) {
    for (int i = 0; i < c->nhost; i++) free(c->host[i]);
    free(c);
}

/* Offsets of `groups` segments over the first rows - tail rows, segment 1 left empty when
 * there are three or more (an empty expert), the tail past offsets[groups] in no segment. */
static int32_t *split_rows(grad_case *c, int rows, int groups, int tail) {
    int32_t *off = host_array(c, (size_t)groups + 1);
    for (int g = 0; g <= groups; g++) off[g] = (int32_t)((long)(rows - tail) * g / groups);
    if (groups >= 3) off[2] = off[1];
    return off;
}

/* ---- gemm: the gradients of C = alpha op(A) op(B) are GEMMs themselves ---- */

typedef struct {
    grad_case base;
    pm_gemm_desc d;
} gemm_case;

static double gemm_loss(grad_case *c) {
    gemm_case *g = (gemm_case *)c;
    scratch s = {.be = c->be};
    pm_ref a = scratch_put(&s, c->in[0].x, c->in[0].n), b = scratch_put(&s, c->in[1].x, c->in[1].n);
    pm_ref out = scratch_filled(&s, c->nw, 0.0f);
    pm_op(c->be, gemm, &g->d, a, b, out);
    double l = weighted_sum(c, &s, out);
    scratch_release(&s);
    return l;
}

/* A GEMM operand: where it is, how it is stored, and whether it is read transposed. */
typedef struct {
    pm_ref ref;
    int trans, ld;
    long stride;
} operand;

static operand transposed(operand x) {
    x.trans = !x.trans;
    return x;
}

/* out (M x N, batched as the forward) = alpha x y. */
static void gemm_into(grad_case *c, operand x, operand y, int M, int N, int K, pm_ref out) {
    const pm_gemm_desc *f = &((gemm_case *)c)->d;
    pm_gemm_desc d = {.trans_a = x.trans, .trans_b = y.trans, .m = M, .n = N, .k = K,
                      .alpha = f->alpha, .lda = x.ld, .ldb = y.ld, .ldc = N, .batch = f->batch,
                      .stride_a = x.stride, .stride_b = y.stride, .stride_c = (long)M * N};
    pm_op(c->be, gemm, &d, x.ref, y.ref, out);
}

static void gemm_backward(grad_case *c) {
    const pm_gemm_desc *f = &((gemm_case *)c)->d;
    scratch s = {.be = c->be};
    operand A = {scratch_put(&s, c->in[0].x, c->in[0].n), f->trans_a, f->lda, f->stride_a};
    operand B = {scratch_put(&s, c->in[1].x, c->in[1].n), f->trans_b, f->ldb, f->stride_b};
    operand W = {scratch_put(&s, c->w, c->nw), 0, f->ldc, f->stride_c};
    pm_ref da = scratch_filled(&s, c->in[0].n, SENTINEL), db = scratch_filled(&s, c->in[1].n, SENTINEL);
    /* dA = W op(B)^T as A is stored (m x k), or its transpose op(B) W^T (k x m) */
    if (!f->trans_a) gemm_into(c, W, transposed(B), f->m, f->k, f->n, da);
    else gemm_into(c, B, transposed(W), f->k, f->m, f->n, da);
    /* dB = op(A)^T W as B is stored (k x n), or its transpose W^T op(A) (n x k) */
    if (!f->trans_b) gemm_into(c, transposed(A), W, f->k, f->n, f->m, db);
    else gemm_into(c, transposed(W), A, f->n, f->k, f->m, db);
    scratch_get(&s, da, c->in[0].grad, c->in[0].n);
    scratch_get(&s, db, c->in[1].grad, c->in[1].n);
    scratch_release(&s);
}

static grad_case *make_gemm(pm_backend *be, check_rng *r, const int *dim) {
    gemm_case *g = new_case(be, sizeof *g);
    grad_case *c = &g->base;
    pm_gemm_desc *d = &g->d;
    *d = (pm_gemm_desc){.m = dim[0], .n = dim[1], .k = dim[2], .trans_a = dim[3],
                        .trans_b = dim[4], .batch = dim[5], .alpha = 0.75f};
    d->lda = d->trans_a ? d->m : d->k;
    d->ldb = d->trans_b ? d->k : d->n;
    d->ldc = d->n;
    d->stride_a = (long)d->m * d->k;
    d->stride_b = (long)d->k * d->n;
    d->stride_c = (long)d->m * d->n;
    size_t na = (size_t)d->stride_a * d->batch, nb = (size_t)d->stride_b * d->batch;
    add_input(c, "dA", random_floats(c, r, na, -1, 1), na);
    add_input(c, "dB", random_floats(c, r, nb, -1, 1), nb);
    set_weights(c, r, (size_t)d->stride_c * d->batch);
    c->loss = gemm_loss;
    c->backward = gemm_backward;
    return c;
}

/* ---- gemm_grouped: dA through gemm_grouped with trans_b flipped, dB through wgrad ---- */

typedef struct {
    grad_case base;
    int trans_b, rows, n, k, groups;
    int32_t *offsets;
    float *a, *b; /* one of them is the input under test, the other is held fixed */
} grouped_case;

static double grouped_loss(grad_case *c) {
    grouped_case *g = (grouped_case *)c;
    scratch s = {.be = c->be};
    pm_ref off = scratch_put(&s, g->offsets, (size_t)g->groups + 1);
    pm_ref a = scratch_put(&s, g->a, (size_t)g->rows * g->k);
    pm_ref b = scratch_put(&s, g->b, (size_t)g->groups * g->k * g->n);
    pm_ref out = scratch_filled(&s, c->nw, 0.0f);
    pm_op(c->be, gemm_grouped, g->trans_b, g->rows, g->n, g->k, g->groups, off, a, b, 0.0f, out);
    double l = weighted_sum(c, &s, out);
    scratch_release(&s);
    return l;
}

static void grouped_backward(grad_case *c) {
    grouped_case *g = (grouped_case *)c;
    scratch s = {.be = c->be};
    pm_ref off = scratch_put(&s, g->offsets, (size_t)g->groups + 1);
    pm_ref a = scratch_put(&s, g->a, (size_t)g->rows * g->k);
    pm_ref b = scratch_put(&s, g->b, (size_t)g->groups * g->k * g->n);
    pm_ref w = scratch_put(&s, c->w, c->nw);
    /* rows past offsets[groups] belong to no segment: their gradient stays 0 */
    pm_ref grad = scratch_filled(&s, c->in[0].n, 0.0f);
    if (c->in[0].x == g->a) /* dA[seg] = W[seg] op(B_g)^T */
        pm_op(c->be, gemm_grouped, !g->trans_b, g->rows, g->k, g->n, g->groups, off, w, b, 0.0f,
              grad);
    else if (!g->trans_b) /* dB_g = A[seg]^T W[seg] */
        pm_op(c->be, gemm_grouped_wgrad, g->rows, g->k, g->n, g->groups, off, a, w, 0.0f, grad);
    else /* B_g stored n x k: dB_g = W[seg]^T A[seg] */
        pm_op(c->be, gemm_grouped_wgrad, g->rows, g->n, g->k, g->groups, off, w, a, 0.0f, grad);
    scratch_get(&s, grad, c->in[0].grad, c->in[0].n);
    scratch_release(&s);
}

static grad_case *make_grouped(pm_backend *be, check_rng *r, const int *dim, int wrt_b) {
    grouped_case *g = new_case(be, sizeof *g);
    grad_case *c = &g->base;
    g->rows = dim[0], g->n = dim[1], g->k = dim[2], g->groups = dim[3], g->trans_b = dim[4];
    g->offsets = split_rows(c, g->rows, g->groups, dim[5]);
    size_t na = (size_t)g->rows * g->k, nb = (size_t)g->groups * g->k * g->n;
    g->a = random_floats(c, r, na, -1, 1);
    g->b = random_floats(c, r, nb, -1, 1);
    if (wrt_b) add_input(c, "dB", g->b, nb);
    else add_input(c, "dA", g->a, na);
    set_weights(c, r, (size_t)g->rows * g->n);
    c->loss = grouped_loss;
    c->backward = grouped_backward;
    return c;
}

static grad_case *make_grouped_a(pm_backend *be, check_rng *r, const int *dim) {
    return make_grouped(be, r, dim, 0);
}
static grad_case *make_grouped_b(pm_backend *be, check_rng *r, const int *dim) {
    return make_grouped(be, r, dim, 1);
}

/* ---- encoder ---- */

typedef struct {
    grad_case base;
    int B, T, C, V;
    int32_t *tokens;
} encoder_case;

static double encoder_loss(grad_case *c) {
    encoder_case *e = (encoder_case *)c;
    scratch s = {.be = c->be};
    pm_ref tok = scratch_put(&s, e->tokens, (size_t)e->B * e->T);
    pm_ref wte = scratch_put(&s, c->in[0].x, c->in[0].n), wpe = scratch_put(&s, c->in[1].x, c->in[1].n);
    pm_ref out = scratch_filled(&s, c->nw, 0.0f);
    pm_op(c->be, encoder_fwd, out, tok, wte, wpe, e->B, e->T, e->C);
    double l = weighted_sum(c, &s, out);
    scratch_release(&s);
    return l;
}

static void encoder_backward(grad_case *c) {
    encoder_case *e = (encoder_case *)c;
    scratch s = {.be = c->be};
    pm_ref tok = scratch_put(&s, e->tokens, (size_t)e->B * e->T), w = scratch_put(&s, c->w, c->nw);
    pm_ref dwte = scratch_filled(&s, c->in[0].n, 0.0f), dwpe = scratch_filled(&s, c->in[1].n, 0.0f);
    pm_op(c->be, encoder_bwd, dwte, dwpe, w, tok, e->B, e->T, e->C);
    scratch_get(&s, dwte, c->in[0].grad, c->in[0].n);
    scratch_get(&s, dwpe, c->in[1].grad, c->in[1].n);
    scratch_release(&s);
}

static grad_case *make_encoder(pm_backend *be, check_rng *r, const int *dim) {
    encoder_case *e = new_case(be, sizeof *e);
    grad_case *c = &e->base;
    e->B = dim[0], e->T = dim[1], e->C = dim[2], e->V = dim[3];
    e->tokens = host_array(c, (size_t)e->B * e->T); /* few tokens: rows repeat */
    for (int i = 0; i < e->B * e->T; i++) e->tokens[i] = rng_below(r, e->V);
    add_input(c, "dwte", random_floats(c, r, (size_t)e->V * e->C, -1, 1), (size_t)e->V * e->C);
    add_input(c, "dwpe", random_floats(c, r, (size_t)e->T * e->C, -1, 1), (size_t)e->T * e->C);
    set_weights(c, r, (size_t)e->B * e->T * e->C);
    c->loss = encoder_loss;
    c->backward = encoder_backward;
    return c;
}

/* ---- gelu ---- */

static double gelu_loss(grad_case *c) {
    scratch s = {.be = c->be};
    pm_ref x = scratch_put(&s, c->in[0].x, c->in[0].n), out = scratch_filled(&s, c->nw, 0.0f);
    pm_op(c->be, gelu_fwd, out, x, c->nw);
    double l = weighted_sum(c, &s, out);
    scratch_release(&s);
    return l;
}

static void gelu_backward(grad_case *c) {
    scratch s = {.be = c->be};
    pm_ref x = scratch_put(&s, c->in[0].x, c->in[0].n), w = scratch_put(&s, c->w, c->nw);
    pm_ref dx = scratch_filled(&s, c->nw, SENTINEL);
    pm_op(c->be, gelu_bwd, dx, x, w, c->nw);
    scratch_get(&s, dx, c->in[0].grad, c->nw);
    scratch_release(&s);
}

static grad_case *make_gelu(pm_backend *be, check_rng *r, const int *dim) {
    grad_case *c = new_case(be, sizeof *c);
    add_input(c, "dinp", random_floats(c, r, (size_t)dim[0], -4, 4), (size_t)dim[0]);
    set_weights(c, r, (size_t)dim[0]);
    c->loss = gelu_loss;
    c->backward = gelu_backward;
    return c;
}

/* ---- bias ---- */

typedef struct {
    grad_case base;
    int rows, cols, groups;
    int32_t *offsets;
    float *base_out; /* what bias_add adds onto */
} bias_case;

static double bias_loss(grad_case *c) {
    bias_case *b = (bias_case *)c;
    scratch s = {.be = c->be};
    pm_ref off = scratch_put(&s, b->offsets, (size_t)b->groups + 1);
    pm_ref bias = scratch_put(&s, c->in[0].x, c->in[0].n), out = scratch_put(&s, b->base_out, c->nw);
    pm_op(c->be, bias_add, out, bias, b->rows, b->cols, b->groups, off);
    double l = weighted_sum(c, &s, out);
    scratch_release(&s);
    return l;
}

static void bias_backward(grad_case *c) {
    bias_case *b = (bias_case *)c;
    scratch s = {.be = c->be};
    pm_ref off = scratch_put(&s, b->offsets, (size_t)b->groups + 1), w = scratch_put(&s, c->w, c->nw);
    pm_ref db = scratch_filled(&s, c->in[0].n, 0.0f);
    pm_op(c->be, bias_grad, db, w, b->rows, b->cols, b->groups, off);
    scratch_get(&s, db, c->in[0].grad, c->in[0].n);
    scratch_release(&s);
}

static grad_case *make_bias(pm_backend *be, check_rng *r, const int *dim) {
    bias_case *b = new_case(be, sizeof *b);
    grad_case *c = &b->base;
    b->rows = dim[0], b->cols = dim[1], b->groups = dim[2];
    b->offsets = split_rows(c, b->rows, b->groups ? b->groups : 1, dim[3]);
    size_t nb = (size_t)(b->groups ? b->groups : 1) * b->cols;
    add_input(c, "dbias", random_floats(c, r, nb, -1, 1), nb);
    b->base_out = random_floats(c, r, (size_t)b->rows * b->cols, -1, 1);
    set_weights(c, r, (size_t)b->rows * b->cols);
    c->loss = bias_loss;
    c->backward = bias_backward;
    return c;
}

/* ---- layernorm ---- */

typedef struct {
    grad_case base;
    int N, C;
} layernorm_case;

/* Runs the forward into fresh buffers: out, then mean and rstd at out + N*C. */
static pm_ref layernorm_forward(grad_case *c, scratch *s, pm_ref *inp, pm_ref *w) {
    layernorm_case *ln = (layernorm_case *)c;
    size_t nc = (size_t)ln->N * ln->C;
    *inp = scratch_put(s, c->in[0].x, nc);
    *w = scratch_put(s, c->in[1].x, (size_t)ln->C);
    pm_ref b = scratch_put(s, c->in[2].x, (size_t)ln->C);
    pm_ref out = scratch_filled(s, nc + 2 * (size_t)ln->N, 0.0f);
    pm_op(c->be, layernorm_fwd, out, pm_shift(out, nc), pm_shift(out, nc + ln->N), *inp, *w, b,
          ln->N, ln->C);
    return out;
}

static double layernorm_loss(grad_case *c) {
    scratch s = {.be = c->be};
    pm_ref inp, w;
    double l = weighted_sum(c, &s, layernorm_forward(c, &s, &inp, &w));
    scratch_release(&s);
    return l;
}

static void layernorm_backward(grad_case *c) {
    layernorm_case *ln = (layernorm_case *)c;
    scratch s = {.be = c->be};
    size_t nc = (size_t)ln->N * ln->C;
    pm_ref inp, w;
    pm_ref out = layernorm_forward(c, &s, &inp, &w), dout = scratch_put(&s, c->w, c->nw);
    pm_ref grad[3];
    for (int i = 0; i < 3; i++) grad[i] = scratch_filled(&s, c->in[i].n, 0.0f);
    pm_op(c->be, layernorm_bwd, grad[0], grad[1], grad[2], dout, inp, w, pm_shift(out, nc),
          pm_shift(out, nc + ln->N), ln->N, ln->C);
    for (int i = 0; i < 3; i++) scratch_get(&s, grad[i], c->in[i].grad, c->in[i].n);
    scratch_release(&s);
}

static grad_case *make_layernorm(pm_backend *be, check_rng *r, const int *dim) {
    layernorm_case *ln = new_case(be, sizeof *ln);
    grad_case *c = &ln->base;
    ln->N = dim[0], ln->C = dim[1];
    size_t nc = (size_t)ln->N * ln->C;
    add_input(c, "dinp", random_floats(c, r, nc, -2, 3), nc);
    add_input(c, "dw", random_floats(c, r, (size_t)ln->C, 0.5f, 1.5f), (size_t)ln->C);
    add_input(c, "db", random_floats(c, r, (size_t)ln->C, -1, 1), (size_t)ln->C);
    set_weights(c, r, nc);
    c->loss = layernorm_loss;
    c->backward = layernorm_backward;
    return c;
}

/* ---- attention ---- */

typedef struct {
    grad_case base;
    int B, T, C, NH;
} attention_case;

/* Runs the forward: returns out, with att [B,NH,T,T] in *att. */
static pm_ref attention_forward(grad_case *c, scratch *s, pm_ref *qkv, pm_ref *att) {
    attention_case *a = (attention_case *)c;
    *qkv = scratch_put(s, c->in[0].x, c->in[0].n);
    *att = scratch_filled(s, (size_t)a->B * a->NH * a->T * a->T, 0.0f);
    pm_ref out = scratch_filled(s, c->nw, 0.0f);
    pm_op(c->be, attention_fwd, out, *att, *qkv, a->B, a->T, a->C, a->NH);
    return out;
}

static double attention_loss(grad_case *c) {
    scratch s = {.be = c->be};
    pm_ref qkv, att;
    double l = weighted_sum(c, &s, attention_forward(c, &s, &qkv, &att));
    scratch_release(&s);
    return l;
}

static void attention_backward(grad_case *c) {
    attention_case *a = (attention_case *)c;
    scratch s = {.be = c->be};
    pm_ref qkv, att;
    attention_forward(c, &s, &qkv, &att);
    pm_ref dout = scratch_put(&s, c->w, c->nw), dqkv = scratch_filled(&s, c->in[0].n, SENTINEL);
    pm_ref datt = scratch_filled(&s, (size_t)a->B * a->NH * a->T * a->T, 0.0f);
    pm_op(c->be, attention_bwd, dqkv, datt, dout, qkv, att, a->B, a->T, a->C, a->NH);
    scratch_get(&s, dqkv, c->in[0].grad, c->in[0].n);
    scratch_release(&s);
}

static grad_case *make_attention(pm_backend *be, check_rng *r, const int *dim) {
    attention_case *a = new_case(be, sizeof *a);
    grad_case *c = &a->base;
    a->B = dim[0], a->T = dim[1], a->C = dim[2], a->NH = dim[3];
    size_t bt = (size_t)a->B * a->T;
    add_input(c, "dqkv", random_floats(c, r, bt * 3 * a->C, -1, 1), bt * 3 * a->C);
    set_weights(c, r, bt * a->C);
    c->loss = attention_loss;
    c->backward = attention_backward;
    return c;
}

/* ---- cross-entropy: xent_bwd takes one dloss for every row, so every weight is dloss ---- */

typedef struct {
    grad_case base;
    int N, V;
    int32_t *targets;
} xent_case;

#define XENT_DLOSS 0.375f

static double xent_loss(grad_case *c) {
    xent_case *x = (xent_case *)c;
    scratch s = {.be = c->be};
    pm_ref t = scratch_put(&s, x->targets, (size_t)x->N), logits = scratch_put(&s, c->in[0].x, c->in[0].n);
    pm_ref losses = scratch_filled(&s, (size_t)x->N, 0.0f);
    pm_op(c->be, xent_fwd, losses, logits, t, x->N, x->V);
    double l = weighted_sum(c, &s, losses);
    scratch_release(&s);
    return l;
}

static void xent_backward(grad_case *c) {
    xent_case *x = (xent_case *)c;
    scratch s = {.be = c->be};
    pm_ref t = scratch_put(&s, x->targets, (size_t)x->N), logits = scratch_put(&s, c->in[0].x, c->in[0].n);
    pm_ref dlogits = scratch_filled(&s, c->in[0].n, SENTINEL);
    pm_op(c->be, xent_bwd, dlogits, logits, t, x->N, x->V, XENT_DLOSS);
    scratch_get(&s, dlogits, c->in[0].grad, c->in[0].n);
    scratch_release(&s);
}

static grad_case *make_xent(pm_backend *be, check_rng *r, const int *dim) {
    xent_case *x = new_case(be, sizeof *x);
    grad_case *c = &x->base;
    x->N = dim[0], x->V = dim[1];
    x->targets = host_array(c, (size_t)x->N);
    for (int i = 0; i < x->N; i++) x->targets[i] = i % 3 == 1 ? -1 : rng_below(r, x->V);
    add_input(c, "dlogits", random_floats(c, r, (size_t)x->N * x->V, -4, 4), (size_t)x->N * x->V);
    c->w = host_array(c, (size_t)x->N);
    c->nw = (size_t)x->N;
    for (int i = 0; i < x->N; i++) c->w[i] = XENT_DLOSS;
    c->loss = xent_loss;
    c->backward = xent_backward;
    return c;
}

/* ---- router ----
 * L = sum w * gate + lb_coef * lb_loss + z_coef * z_loss - ent_coef * router_entropy, the
 * losses and the entropy as pm_router_summarise computes them from router_stats (the entropy
 * bonus is a negative loss). The counts behind f are piecewise constant in the logits,
 * so holding them fixed, as router_bwd does, is their exact derivative: a token's logits sit
 * at least 0.3 apart, ten steps, so no step changes the top-k. With k == 1
 * the forward gate is 1.0 and the straight-through estimator differentiates it as the
 * selected probability, so L takes that probability as the gate. */

typedef struct {
    grad_case base;
    int N, E, k;
    float lb_coef, z_coef, ent_coef;
} router_case;

static double router_loss(grad_case *c) {
    router_case *r = (router_case *)c;
    scratch s = {.be = c->be};
    router_outputs o = run_router(&s, c->in[0].x, r->N, r->E, r->k);
    size_t nk = (size_t)r->N * r->k, ne = (size_t)r->N * r->E;
    float *gates = malloc(nk * 4), *probs = malloc(ne * 4), *stats = malloc((2 * (size_t)r->E + 2) * 4);
    int32_t *ids = malloc(nk * 4);
    scratch_get(&s, o.gates, gates, nk);
    scratch_get(&s, o.probs, probs, ne);
    scratch_get(&s, o.ids, ids, nk);
    scratch_get(&s, o.stats, stats, 2 * (size_t)r->E + 2);
    double l = 0;
    for (size_t a = 0; a < nk; a++) {
        int id = ids[a] >= 0 && ids[a] < r->E ? ids[a] : 0;
        double gate = r->k == 1 ? probs[a * r->E + id] : gates[a];
        l += c->w[a] * gate;
    }
    pm_router_summary sum;
    pm_router_summarise(stats, r->N, r->E, r->k, &sum, NULL, NULL);
    l += r->lb_coef * sum.lb_loss + r->z_coef * sum.z_loss - r->ent_coef * sum.router_entropy;
    free(gates);
    free(probs);
    free(stats);
    free(ids);
    scratch_release(&s);
    return l;
}

static void router_backward(grad_case *c) {
    router_case *r = (router_case *)c;
    scratch s = {.be = c->be};
    router_outputs o = run_router(&s, c->in[0].x, r->N, r->E, r->k);
    pm_ref dgates = scratch_put(&s, c->w, c->nw), dlogits = scratch_filled(&s, c->in[0].n, SENTINEL);
    pm_op(c->be, router_bwd, dlogits, o.probs, o.lse, o.ids, dgates, o.stats, r->N, r->E, r->k,
          r->lb_coef, r->z_coef, r->ent_coef);
    scratch_get(&s, dlogits, c->in[0].grad, c->in[0].n);
    scratch_release(&s);
}

/* dim: N E k gates lb_coef*100 z_coef*100 ent_coef*100; gates 0 zeroes the gate weights,
 * leaving L to the auxiliary losses alone. */
static grad_case *make_router(pm_backend *be, check_rng *rng, const int *dim) {
    router_case *r = new_case(be, sizeof *r);
    grad_case *c = &r->base;
    r->N = dim[0], r->E = dim[1], r->k = dim[2];
    r->lb_coef = (float)dim[4] / 100.0f, r->z_coef = (float)dim[5] / 100.0f;
    r->ent_coef = (float)dim[6] / 100.0f;
    float *x = host_array(c, (size_t)r->N * r->E);
    int32_t *rank = host_array(c, (size_t)r->E);
    for (int t = 0; t < r->N; t++) {
        random_permutation(rng, rank, r->E);
        for (int e = 0; e < r->E; e++)
            x[(long)t * r->E + e] = -1.0f + 0.4f * (float)rank[e] + rng_uniform(rng, 0, 0.1f);
    }
    add_input(c, "dlogits", x, (size_t)r->N * r->E);
    set_weights(c, rng, (size_t)r->N * r->k);
    for (size_t a = 0; a < c->nw; a++) c->w[a] *= (float)dim[3];
    c->loss = router_loss;
    c->backward = router_backward;
    return c;
}

/* ---- dispatch: permute and combine over the slots of a real plan ---- */

typedef struct {
    grad_case base;
    int N, k, C, rows; /* rows: the kept assignments, offsets[E] of the plan */
    int32_t *slots;
} dispatch_case;

/* dim: N k C E capacity. Each token picks k distinct random experts; moe_plan gives the slots
 * (with capacity > 0 some are dropped), so every row 0..rows-1 of xp / yp is used once. */
static dispatch_case *make_dispatch(pm_backend *be, check_rng *r, const int *dim) {
    dispatch_case *d = new_case(be, sizeof *d);
    grad_case *c = &d->base;
    d->N = dim[0], d->k = dim[1], d->C = dim[2];
    int E = dim[3], capacity = dim[4];
    size_t nk = (size_t)d->N * d->k;
    int32_t *ids = host_array(c, nk), *order = host_array(c, (size_t)E);
    int32_t *offsets = host_array(c, (size_t)E + 1);
    for (int t = 0; t < d->N; t++) {
        random_permutation(r, order, E);
        memcpy(ids + (size_t)t * d->k, order, sizeof *ids * (size_t)d->k);
    }
    d->slots = host_array(c, nk);
    scratch s = {.be = be};
    pm_ref off = scratch_filled(&s, (size_t)E + 1, 0.0f), slots = scratch_filled(&s, nk, 0.0f);
    pm_op(be, moe_plan, off, slots, scratch_put(&s, ids, nk), d->N, E, d->k, capacity);
    scratch_get(&s, off, offsets, (size_t)E + 1);
    scratch_get(&s, slots, d->slots, nk);
    scratch_release(&s);
    d->rows = offsets[E];
    return d;
}

static double permute_loss(grad_case *c) {
    dispatch_case *d = (dispatch_case *)c;
    scratch s = {.be = c->be};
    pm_ref slots = scratch_put(&s, d->slots, (size_t)d->N * d->k);
    pm_ref x = scratch_put(&s, c->in[0].x, c->in[0].n), xp = scratch_filled(&s, c->nw, 0.0f);
    pm_op(c->be, moe_permute, xp, x, slots, d->N, d->k, d->C);
    double l = weighted_sum(c, &s, xp);
    scratch_release(&s);
    return l;
}

static void permute_backward(grad_case *c) {
    dispatch_case *d = (dispatch_case *)c;
    scratch s = {.be = c->be};
    pm_ref slots = scratch_put(&s, d->slots, (size_t)d->N * d->k);
    pm_ref dxp = scratch_put(&s, c->w, c->nw), dx = scratch_filled(&s, c->in[0].n, SENTINEL);
    pm_op(c->be, moe_permute_bwd, dx, dxp, slots, d->N, d->k, d->C);
    scratch_get(&s, dx, c->in[0].grad, c->in[0].n);
    scratch_release(&s);
}

static grad_case *make_permute(pm_backend *be, check_rng *r, const int *dim) {
    dispatch_case *d = make_dispatch(be, r, dim);
    grad_case *c = &d->base;
    size_t nx = (size_t)d->N * d->C;
    add_input(c, "dx", random_floats(c, r, nx, -1, 1), nx);
    set_weights(c, r, (size_t)d->rows * d->C);
    c->loss = permute_loss;
    c->backward = permute_backward;
    return c;
}

static double combine_loss(grad_case *c) {
    dispatch_case *d = (dispatch_case *)c;
    scratch s = {.be = c->be};
    pm_ref slots = scratch_put(&s, d->slots, (size_t)d->N * d->k);
    pm_ref yp = scratch_put(&s, c->in[0].x, c->in[0].n), gates = scratch_put(&s, c->in[1].x, c->in[1].n);
    pm_ref y = scratch_filled(&s, c->nw, 0.0f);
    pm_op(c->be, moe_combine, y, yp, slots, gates, d->N, d->k, d->C);
    double l = weighted_sum(c, &s, y);
    scratch_release(&s);
    return l;
}

static void combine_backward(grad_case *c) {
    dispatch_case *d = (dispatch_case *)c;
    scratch s = {.be = c->be};
    pm_ref slots = scratch_put(&s, d->slots, (size_t)d->N * d->k);
    pm_ref yp = scratch_put(&s, c->in[0].x, c->in[0].n), gates = scratch_put(&s, c->in[1].x, c->in[1].n);
    pm_ref dy = scratch_put(&s, c->w, c->nw);
    pm_ref dyp = scratch_filled(&s, c->in[0].n, SENTINEL), dgates = scratch_filled(&s, c->in[1].n, SENTINEL);
    pm_op(c->be, moe_combine_bwd, dyp, dgates, dy, yp, slots, gates, d->N, d->k, d->C);
    scratch_get(&s, dyp, c->in[0].grad, c->in[0].n);
    scratch_get(&s, dgates, c->in[1].grad, c->in[1].n);
    scratch_release(&s);
}

static grad_case *make_combine(pm_backend *be, check_rng *r, const int *dim) {
    dispatch_case *d = make_dispatch(be, r, dim);
    grad_case *c = &d->base;
    size_t nyp = (size_t)d->rows * d->C, nk = (size_t)d->N * d->k;
    add_input(c, "dyp", random_floats(c, r, nyp, -1, 1), nyp);
    add_input(c, "dgates", random_floats(c, r, nk, 0, 1), nk);
    set_weights(c, r, (size_t)d->N * d->C);
    c->loss = combine_loss;
    c->backward = combine_backward;
    return c;
}

/* ---- the driver ---- */

typedef struct {
    double err;
    const char *name;
    size_t index;
    double analytic, numeric;
    int samples;
} worst_error;

/* dL/dx_i by central differences, over the step actually taken after rounding to float32. */
static double numeric_grad(grad_case *c, grad_input *in, size_t i) {
    float x0 = in->x[i], up = (float)(x0 + STEP), down = (float)(x0 - STEP);
    in->x[i] = up;
    double l_up = c->loss(c);
    in->x[i] = down;
    double l_down = c->loss(c);
    in->x[i] = x0;
    return (l_up - l_down) / ((double)up - down);
}

/* Samples up to SAMPLES elements of one input and keeps the worst relative error (a NaN is
 * the worst of all). */
static void check_input(grad_case *c, grad_input *in, worst_error *worst) {
    int count = in->n < SAMPLES ? (int)in->n : SAMPLES;
    size_t index[SAMPLES];
    double numeric[SAMPLES], scale = 0;
    for (int s = 0; s < count; s++) {
        index[s] = count > 1 ? (size_t)s * (in->n - 1) / (size_t)(count - 1) : 0;
        numeric[s] = numeric_grad(c, in, index[s]);
        scale = fmax(scale, fabs(numeric[s]));
    }
    for (int s = 0; s < count; s++) {
        double a = in->grad[index[s]], n = numeric[s];
        double denom = fmax(fmax(fabs(a), fabs(n)), FLOOR * scale);
        double err = denom > 0 ? fabs(a - n) / denom : fabs(a - n);
        if (isnan(worst->err)) break;
        if (isnan(err) || err > worst->err || !worst->name)
            *worst = (worst_error){err, in->name, index[s], a, n, worst->samples};
    }
    worst->samples += count;
}

static void run_case(grad_case *c, const char *op, const char *shape, FILE *out,
                     pm_tally *tally) {
    worst_error worst = {0};
    c->backward(c);
    for (int i = 0; i < c->nin; i++) check_input(c, &c->in[i], &worst);
    if (backend_failed_row(c->be, out, tally, LABEL, op, shape)) return;
    int ok = worst.err <= TOLERANCE;
    char detail[200];
    if (ok)
        snprintf(detail, sizeof detail, "rel err %.1e <= %.0e (worst %s[%zu]; %d samples)",
                 worst.err, TOLERANCE, worst.name, worst.index, worst.samples);
    else
        snprintf(detail, sizeof detail, "rel err %.3g > %.0e at %s[%zu]: analytic %.6g, numeric %.6g",
                 worst.err, TOLERANCE, worst.name, worst.index, worst.analytic, worst.numeric);
    pm_check_row(out, tally, ok ? "pass" : "FAIL", LABEL, op, shape, detail);
}

typedef struct {
    const char *op;                     /* the backward op under test */
    const char *forward;                /* the forward op it differentiates (NULL: op itself) */
    grad_case *(*make)(pm_backend *, check_rng *, const int *);
    const char *dims;                   /* names of the dimensions */
    int shapes[MAX_SHAPES][MAX_DIMS];   /* up to a row of zeros */
} grad_entry;

static const grad_entry entries[] = {
    {"gemm", NULL, make_gemm, "m n k ta tb batch",
     {{1, 1, 1, 0, 0, 1}, {3, 7, 33, 0, 0, 1}, {7, 3, 33, 1, 0, 2}, {33, 7, 3, 0, 1, 1},
      {7, 33, 3, 1, 1, 2}}},
    {"gemm_grouped", NULL, make_grouped_a, "rows n k groups tb tail",
     {{1, 1, 1, 1, 0, 0}, {7, 3, 5, 3, 0, 0}, {33, 7, 3, 4, 1, 3}}},
    {"gemm_grouped_wgrad", "gemm_grouped", make_grouped_b, "rows n k groups tb tail",
     {{1, 1, 1, 1, 0, 0}, {7, 3, 5, 3, 0, 0}, {33, 7, 3, 4, 1, 3}}},
    {"encoder_bwd", "encoder_fwd", make_encoder, "B T C V", {{1, 1, 1, 1}, {2, 7, 33, 3}}},
    {"gelu_bwd", "gelu_fwd", make_gelu, "n", {{1}, {33}}},
    {"bias_grad", "bias_add", make_bias, "rows cols groups tail", {{1, 1, 0, 0}, {7, 33, 0, 0}, {33, 7, 4, 3}}},
    {"layernorm_bwd", "layernorm_fwd", make_layernorm, "N C", {{1, 1}, {3, 7}, {7, 33}}},
    {"attention_bwd", "attention_fwd", make_attention, "B T C NH", {{1, 1, 4, 1}, {2, 7, 16, 2}, {1, 3, 33, 3}}},
    {"xent_bwd", "xent_fwd", make_xent, "N V", {{1, 1}, {3, 7}, {7, 33}}},
    {"router_bwd", "router_fwd", make_router, "N E k gates lb% z% ent%",
     {{7, 5, 2, 1, 0, 0, 0}, {7, 5, 2, 0, 200, 0, 0}, {7, 5, 2, 0, 0, 50, 0},
      {7, 5, 2, 0, 0, 0, 100}, {7, 5, 1, 0, 0, 0, 100}, {33, 7, 3, 1, 200, 50, 0},
      {33, 7, 3, 1, 200, 50, 100}, {7, 5, 1, 1, 0, 0, 0}, {7, 5, 1, 1, 200, 50, 0},
      {7, 5, 1, 1, 200, 50, 100}, {1, 1, 1, 1, 200, 50, 100}}},
    {"moe_permute_bwd", "moe_permute", make_permute, "N k C E capacity", {{1, 1, 1, 1, 0}, {7, 2, 3, 4, 0}, {33, 2, 5, 4, 12}}},
    {"moe_combine_bwd", "moe_combine", make_combine, "N k C E capacity", {{1, 1, 1, 1, 0}, {7, 2, 3, 4, 0}, {33, 2, 5, 4, 12}}},
};
enum { n_entries = sizeof entries / sizeof entries[0] };

void pm_check_gradients(pm_backend *cpu, const char *only_op, FILE *out, pm_tally *tally) {
    for (int i = 0; i < n_entries; i++) {
        const grad_entry *e = &entries[i];
        if (!op_selected(only_op, e->op) && !(e->forward && op_selected(only_op, e->forward)))
            continue;
        /* the row names both ops: the forward's derivative is what the differences measure */
        char label[48];
        if (e->forward) snprintf(label, sizeof label, "%s+%s", e->forward, e->op);
        else snprintf(label, sizeof label, "%s", e->op);
        for (int si = 0; si < MAX_SHAPES && e->shapes[si][0]; si++) {
            char shape[96];
            pm_shape_text(e->dims, e->shapes[si], shape, sizeof shape);
            check_rng rng = {0x2545f4914f6cdd1dULL ^ (uint64_t)(i * 64 + si)};
            grad_case *c = e->make(cpu, &rng, e->shapes[si]);
            run_case(c, label, shape, out, tally);
            free_case(c);
        }
    }
}
