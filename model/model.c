#include "model/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/pm_rng.h"

/* Activations of one transformer block for a micro-batch (device buffers). */
typedef struct {
    pm_buf *ln1, *ln1_mean, *ln1_rstd, *qkv, *att, *atty, *res2, *ln2, *ln2_mean, *ln2_rstd;
    pm_buf *mlp_out, *res3;
    /* dense MLP: fch, fch_gelu [N, 4C]; MoE: the same over the permuted rows [N k, 4C] */
    pm_buf *fch, *fch_gelu;
    /* MoE only */
    pm_buf *rlogits, *probs, *lse, *ids, *gates, *offsets, *slots, *xp, *yp, *stats;
} block_acts;

struct pm_model {
    pm_backend *be;
    pm_config cfg;
    int B, T;                      /* largest micro-batch the activations hold */
    pm_tensor tensors[PM_MAX_TENSORS];
    int n_tensors;
    size_t n_params, n_matrix;     /* matrices occupy [0, n_matrix) */
    size_t wte, wpe, lnf_w, lnf_b;
    pm_layer_params lp[PM_MAX_LAYERS];
    pm_buf *params, *grads, *m, *v;
    pm_buf *tokens, *targets, *encoded, *lnf, *lnf_mean, *lnf_rstd, *logits, *losses;
    block_acts acts[PM_MAX_LAYERS];
    /* gradient scratch, reused by every layer */
    pm_buf *dres, *dln, *dqkv, *datt, *datty, *dfch, *dxp, *dyp, *dgates, *drlogits, *norm;
    int moe_index[PM_MAX_LAYERS];  /* MoE layer i -> transformer layer */
    int n_moe;
    pm_moe_report reports[PM_MAX_LAYERS];
    int last_B, last_T, last_has_targets, last_step;
};

/* ---- parameter layout ---- */

static void add_tensor(pm_model *m, const char *name, int d0, int d1) {
    pm_tensor *t = &m->tensors[m->n_tensors++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = d1 ? 2 : 1;
    t->shape[0] = d0;
    t->shape[1] = d1;
    t->offset = m->n_params;
    t->size = (size_t)d0 * (d1 ? d1 : 1);
    m->n_params += t->size;
}

/* Adds tensor "transformer.h.<l>.<suffix>" (or expert e's, e >= 0) and returns its offset. */
static size_t add_layer_tensor(pm_model *m, int l, int e, const char *suffix, int d0, int d1) {
    char name[96];
    if (e < 0) snprintf(name, sizeof name, "transformer.h.%d.%s", l, suffix);
    else snprintf(name, sizeof name, "transformer.h.%d.mlp.experts.%d.%s", l, e, suffix);
    size_t off = m->n_params;
    add_tensor(m, name, d0, d1);
    return off;
}

/* Matrices first, then vectors; a layer's experts are adjacent so that the grouped GEMM
 * finds expert e's weights at e * (in * out) from expert 0. */
static void build_layout(pm_model *m) {
    const pm_config *c = &m->cfg;
    int C = c->n_embd, E = c->n_experts;
    m->wte = m->n_params;
    add_tensor(m, "transformer.wte.weight", c->vocab_size, C);
    m->wpe = m->n_params;
    add_tensor(m, "transformer.wpe.weight", c->block_size, C);
    for (int l = 0; l < c->n_layer; l++) {
        pm_layer_params *p = &m->lp[l];
        int moe = c->moe_layers[l], ne = moe ? E : 1;
        p->qkv_w = add_layer_tensor(m, l, -1, "attn.c_attn.weight", C, 3 * C);
        p->attn_w = add_layer_tensor(m, l, -1, "attn.c_proj.weight", C, C);
        if (moe) p->router_w = add_layer_tensor(m, l, -1, "mlp.router.weight", E, C);
        for (int e = 0; e < ne; e++) {
            size_t off = add_layer_tensor(m, l, moe ? e : -1, moe ? "c_fc.weight" : "mlp.c_fc.weight", C, 4 * C);
            if (e == 0) p->fc_w = off;
        }
        for (int e = 0; e < ne; e++) {
            size_t off = add_layer_tensor(m, l, moe ? e : -1, moe ? "c_proj.weight" : "mlp.c_proj.weight", 4 * C, C);
            if (e == 0) p->proj_w = off;
        }
    }
    m->n_matrix = m->n_params;
    for (int l = 0; l < c->n_layer; l++) {
        pm_layer_params *p = &m->lp[l];
        int moe = c->moe_layers[l], ne = moe ? E : 1;
        p->ln1_w = add_layer_tensor(m, l, -1, "ln_1.weight", C, 0);
        p->ln1_b = add_layer_tensor(m, l, -1, "ln_1.bias", C, 0);
        p->qkv_b = add_layer_tensor(m, l, -1, "attn.c_attn.bias", 3 * C, 0);
        p->attn_b = add_layer_tensor(m, l, -1, "attn.c_proj.bias", C, 0);
        p->ln2_w = add_layer_tensor(m, l, -1, "ln_2.weight", C, 0);
        p->ln2_b = add_layer_tensor(m, l, -1, "ln_2.bias", C, 0);
        for (int e = 0; e < ne; e++) {
            size_t off = add_layer_tensor(m, l, moe ? e : -1, moe ? "c_fc.bias" : "mlp.c_fc.bias", 4 * C, 0);
            if (e == 0) p->fc_b = off;
        }
        for (int e = 0; e < ne; e++) {
            size_t off = add_layer_tensor(m, l, moe ? e : -1, moe ? "c_proj.bias" : "mlp.c_proj.bias", C, 0);
            if (e == 0) p->proj_b = off;
        }
    }
    m->lnf_w = m->n_params;
    add_tensor(m, "transformer.ln_f.weight", C, 0);
    m->lnf_b = m->n_params;
    add_tensor(m, "transformer.ln_f.bias", C, 0);
}

/* GPT-2's init: N(0, std) matrices (the router too: a zero router would tie every token and
 * send all of them to expert 0, which alone would then learn), residual projections scaled by
 * 1/sqrt(2 n_layer), layernorm weights 1, biases 0. Upcycling sets the router to zero. */
static void init_params(pm_model *m, float *h) {
    float std = m->cfg.init_std, proj_std = std / sqrtf(2.0f * m->cfg.n_layer);
    for (int i = 0; i < m->n_tensors; i++) {
        const pm_tensor *t = &m->tensors[i];
        float *p = h + t->offset;
        int is_proj = strstr(t->name, "c_proj.weight") != NULL;
        if (t->ndim == 2)
            for (size_t j = 0; j < t->size; j++)
                p[j] = (is_proj ? proj_std : std) * pm_normal(m->cfg.seed, (uint32_t)(t->offset + j));
        else
            for (size_t j = 0; j < t->size; j++) p[j] = strstr(t->name, "ln_") ? 1.0f : 0.0f;
        if (t->ndim == 1 && strstr(t->name, "ln_") && strstr(t->name, ".bias"))
            memset(p, 0, t->size * sizeof *p);
    }
}

/* ---- allocation ---- */

static pm_buf *alloc_f(pm_model *m, size_t n) { return pm_alloc(m->be, n * sizeof(float)); }

static void alloc_acts(pm_model *m) {
    const pm_config *c = &m->cfg;
    size_t N = (size_t)m->B * m->T, C = (size_t)c->n_embd, E = (size_t)c->n_experts,
           k = (size_t)c->top_k, NH = (size_t)c->n_head, T = (size_t)m->T;
    m->tokens = alloc_f(m, N);
    m->targets = alloc_f(m, N);
    m->encoded = alloc_f(m, N * C);
    for (int l = 0; l < c->n_layer; l++) {
        block_acts *a = &m->acts[l];
        size_t rows = c->moe_layers[l] ? N * k : N;
        a->ln1 = alloc_f(m, N * C);
        a->ln1_mean = alloc_f(m, N);
        a->ln1_rstd = alloc_f(m, N);
        a->qkv = alloc_f(m, N * 3 * C);
        a->att = alloc_f(m, (size_t)m->B * NH * T * T);
        a->atty = alloc_f(m, N * C);
        a->res2 = alloc_f(m, N * C);
        a->ln2 = alloc_f(m, N * C);
        a->ln2_mean = alloc_f(m, N);
        a->ln2_rstd = alloc_f(m, N);
        a->fch = alloc_f(m, rows * 4 * C);
        a->fch_gelu = alloc_f(m, rows * 4 * C);
        a->mlp_out = alloc_f(m, N * C);
        a->res3 = alloc_f(m, N * C);
        if (!c->moe_layers[l]) continue;
        a->rlogits = alloc_f(m, N * E);
        a->probs = alloc_f(m, N * E);
        a->lse = alloc_f(m, N);
        a->ids = alloc_f(m, N * k);
        a->gates = alloc_f(m, N * k);
        a->offsets = alloc_f(m, E + 1);
        a->slots = alloc_f(m, N * k);
        a->xp = alloc_f(m, N * k * C);
        a->yp = alloc_f(m, N * k * C);
        a->stats = alloc_f(m, 2 * E + 2);
    }
    size_t rows = N * (pm_config_n_moe(c) ? k : 1);
    m->lnf = alloc_f(m, N * C);
    m->lnf_mean = alloc_f(m, N);
    m->lnf_rstd = alloc_f(m, N);
    m->logits = alloc_f(m, N * (size_t)c->vocab_size);
    m->losses = alloc_f(m, N);
    m->dres = alloc_f(m, N * C);
    m->dln = alloc_f(m, N * C);
    m->dqkv = alloc_f(m, N * 3 * C);
    m->datt = alloc_f(m, (size_t)m->B * NH * T * T);
    m->datty = alloc_f(m, N * C);
    m->dfch = alloc_f(m, rows * 4 * C);
    m->dxp = alloc_f(m, rows * C);
    m->dyp = alloc_f(m, rows * C);
    m->dgates = alloc_f(m, N * k);
    m->drlogits = alloc_f(m, N * E);
    m->norm = alloc_f(m, 1);
}

static void free_bufs(pm_model *m) {
    /* every pm_buf pointer of the model, in one sweep */
    pm_buf **groups[] = {&m->params, &m->grads, &m->m, &m->v, &m->tokens, &m->targets,
                         &m->encoded, &m->lnf, &m->lnf_mean, &m->lnf_rstd, &m->logits,
                         &m->losses, &m->dres, &m->dln, &m->dqkv, &m->datt, &m->datty,
                         &m->dfch, &m->dxp, &m->dyp, &m->dgates, &m->drlogits, &m->norm};
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++) {
        pm_free(m->be, *groups[i]);
        *groups[i] = NULL;
    }
    for (int l = 0; l < m->cfg.n_layer; l++) {
        pm_buf **b = (pm_buf **)&m->acts[l];
        for (size_t i = 0; i < sizeof(block_acts) / sizeof(pm_buf *); i++) pm_free(m->be, b[i]);
    }
}

pm_model *pm_model_create(pm_backend *be, const pm_config *cfg, int B, int T, char *err,
                          size_t errlen) {
    if (T > cfg->block_size) {
        snprintf(err, errlen, "sequence length %d exceeds block_size %d", T, cfg->block_size);
        return NULL;
    }
    pm_model *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, errlen, "out of host memory");
        return NULL;
    }
    m->be = be;
    m->cfg = *cfg;
    m->B = B;
    m->T = T;
    for (int l = 0; l < cfg->n_layer; l++)
        if (cfg->moe_layers[l]) m->moe_index[m->n_moe++] = l;
    size_t needed = 3 + (size_t)cfg->n_layer * (12 + 4 * (size_t)cfg->n_experts);
    if (needed > PM_MAX_TENSORS) {
        snprintf(err, errlen, "too many tensors (%zu > %d): fewer layers or experts", needed, PM_MAX_TENSORS);
        free(m);
        return NULL;
    }
    build_layout(m);
    float *h = malloc(m->n_params * sizeof *h);
    if (!h) {
        snprintf(err, errlen, "out of host memory for %zu parameters", m->n_params);
        free(m);
        return NULL;
    }
    init_params(m, h);
    m->params = alloc_f(m, m->n_params);
    m->grads = alloc_f(m, m->n_params);
    m->m = alloc_f(m, m->n_params);
    m->v = alloc_f(m, m->n_params);
    alloc_acts(m);
    for (int i = 0; i < m->n_moe; i++) {
        m->reports[i].stats = calloc(2 * (size_t)cfg->n_experts + 2, sizeof(float));
        if (!m->reports[i].stats) pm_fail(be, "model", "out of host memory");
    }
    if (m->params) pm_upload(be, m->params, h, 0, m->n_params * sizeof *h);
    free(h);
    pm_op(be, fill, pm_at(m->grads, 0), m->n_params, 0.0f);
    pm_op(be, fill, pm_at(m->m, 0), m->n_params, 0.0f);
    pm_op(be, fill, pm_at(m->v, 0), m->n_params, 0.0f);
    if (pm_sync(be) != PM_OK) {
        snprintf(err, errlen, "%s", pm_error(be));
        pm_model_free(m);
        return NULL;
    }
    return m;
}

void pm_model_free(pm_model *m) {
    if (!m) return;
    free_bufs(m);
    for (int i = 0; i < m->n_moe; i++) free(m->reports[i].stats);
    free(m);
}

const pm_config *pm_model_config(const pm_model *m) { return &m->cfg; }
pm_backend *pm_model_backend(const pm_model *m) { return m->be; }
size_t pm_model_num_params(const pm_model *m) { return m->n_params; }
int pm_model_n_moe(const pm_model *m) { return m->n_moe; }
int pm_model_moe_layer(const pm_model *m, int i) { return m->moe_index[i]; }
const pm_moe_report *pm_model_moe_report(const pm_model *m, int i) { return &m->reports[i]; }

int pm_model_tensors(const pm_model *m, const pm_tensor **tensors) {
    *tensors = m->tensors;
    return m->n_tensors;
}

size_t pm_model_active_params(const pm_model *m) {
    size_t C = (size_t)m->cfg.n_embd, expert = 8 * C * C + 5 * C;
    size_t inactive = (size_t)m->n_moe * expert * (size_t)(m->cfg.n_experts - m->cfg.top_k);
    return m->n_params - inactive;
}

int pm_model_get_params(pm_model *m, float *dst) {
    return pm_download(m->be, m->params, dst, 0, m->n_params * sizeof(float));
}
int pm_model_set_params(pm_model *m, const float *src) {
    return pm_upload(m->be, m->params, src, 0, m->n_params * sizeof(float));
}
int pm_model_get_moments(pm_model *m, float *mdst, float *vdst) {
    pm_download(m->be, m->m, mdst, 0, m->n_params * sizeof(float));
    return pm_download(m->be, m->v, vdst, 0, m->n_params * sizeof(float));
}
int pm_model_set_moments(pm_model *m, const float *msrc, const float *vsrc) {
    pm_upload(m->be, m->m, msrc, 0, m->n_params * sizeof(float));
    return pm_upload(m->be, m->v, vsrc, 0, m->n_params * sizeof(float));
}

/* ---- building blocks ---- */

static pm_ref P(pm_model *m, size_t off) { return pm_at(m->params, off); }
static pm_ref G(pm_model *m, size_t off) { return pm_at(m->grads, off); }
static pm_ref R(pm_buf *b) { return pm_at(b, 0); }

/* C[M,N] = op(A) op(B) + beta C with tight row strides. */
static int mm(pm_model *m, int ta, int tb, int M, int N, int K, pm_ref a, pm_ref b, float beta,
              pm_ref c) {
    pm_gemm_desc d = {.trans_a = ta, .trans_b = tb, .m = M, .n = N, .k = K, .alpha = 1.0f,
                      .beta = beta, .lda = ta ? M : K, .ldb = tb ? K : N, .ldc = N, .batch = 1};
    return pm_op(m->be, gemm, &d, a, b, c);
}

/* out[N,oc] = inp[N,ic] W[ic,oc] + b */
static void linear_fwd(pm_model *m, pm_ref out, pm_ref inp, size_t w, size_t b, int N, int ic,
                       int oc) {
    mm(m, 0, 0, N, oc, ic, inp, P(m, w), 0.0f, out);
    pm_op(m->be, bias_add, out, P(m, b), N, oc, 0, out);
}

/* dinp = dout W^T (written); dW += inp^T dout; db += column sums of dout. */
static void linear_bwd(pm_model *m, pm_ref dinp, pm_ref dout, pm_ref inp, size_t w, size_t b,
                       int N, int ic, int oc) {
    mm(m, 0, 1, N, ic, oc, dout, P(m, w), 0.0f, dinp);
    mm(m, 1, 0, ic, oc, N, inp, dout, 1.0f, G(m, w));
    pm_op(m->be, bias_grad, G(m, b), dout, N, oc, 0, dout);
}

static float noise_std(const pm_config *c, int step) {
    if (step < 0 || c->router_noise <= 0) return 0.0f;
    double end = (double)c->noise_anneal * c->steps;
    return step >= end ? 0.0f : (float)(c->router_noise * (1.0 - step / end));
}

static int capacity(const pm_config *c, int N) {
    if (c->capacity_factor <= 0) return 0;
    return (int)ceil(c->capacity_factor * (double)N * c->top_k / c->n_experts);
}

static void dense_mlp_fwd(pm_model *m, int l, int N) {
    block_acts *a = &m->acts[l];
    const pm_layer_params *p = &m->lp[l];
    int C = m->cfg.n_embd;
    linear_fwd(m, R(a->fch), R(a->ln2), p->fc_w, p->fc_b, N, C, 4 * C);
    pm_op(m->be, gelu_fwd, R(a->fch_gelu), R(a->fch), (size_t)N * 4 * C);
    linear_fwd(m, R(a->mlp_out), R(a->fch_gelu), p->proj_w, p->proj_b, N, 4 * C, C);
}

static void moe_fwd(pm_model *m, int l, int N, int step) {
    block_acts *a = &m->acts[l];
    const pm_layer_params *p = &m->lp[l];
    const pm_config *c = &m->cfg;
    pm_backend *be = m->be;
    int C = c->n_embd, E = c->n_experts, k = c->top_k, rows = N * k;
    mm(m, 0, 1, N, E, C, R(a->ln2), P(m, p->router_w), 0.0f, R(a->rlogits));
    float std = noise_std(c, step);
    if (std > 0)
        pm_op(be, add_noise, R(a->rlogits), (size_t)N * E, std,
              pm_hash32(c->seed ^ pm_hash32((uint32_t)step * 64u + (uint32_t)l)));
    pm_op(be, router_fwd, R(a->probs), R(a->lse), R(a->ids), R(a->gates), R(a->rlogits), N, E, k);
    pm_op(be, router_stats, R(a->stats), R(a->probs), R(a->lse), R(a->ids), N, E, k);
    pm_op(be, moe_plan, R(a->offsets), R(a->slots), R(a->ids), N, E, k, capacity(c, N));
    pm_op(be, moe_permute, R(a->xp), R(a->ln2), R(a->slots), N, k, C);
    pm_op(be, gemm_grouped, 0, rows, 4 * C, C, E, R(a->offsets), R(a->xp), P(m, p->fc_w), 0.0f,
          R(a->fch));
    pm_op(be, bias_add, R(a->fch), P(m, p->fc_b), rows, 4 * C, E, R(a->offsets));
    pm_op(be, gelu_fwd, R(a->fch_gelu), R(a->fch), (size_t)rows * 4 * C);
    pm_op(be, gemm_grouped, 0, rows, C, 4 * C, E, R(a->offsets), R(a->fch_gelu), P(m, p->proj_w),
          0.0f, R(a->yp));
    pm_op(be, bias_add, R(a->yp), P(m, p->proj_b), rows, C, E, R(a->offsets));
    pm_op(be, moe_combine, R(a->mlp_out), R(a->yp), R(a->slots), R(a->gates), N, k, C);
}

int pm_model_forward(pm_model *m, const int32_t *tokens, const int32_t *targets, int B, int T,
                     int train_step, float *loss) {
    const pm_config *c = &m->cfg;
    pm_backend *be = m->be;
    if (B > m->B || T > m->T || B < 1 || T < 1)
        return pm_fail(be, "model_forward", "batch %dx%d exceeds the allocated %dx%d", B, T, m->B, m->T);
    for (int i = 0; i < B * T; i++)
        if (tokens[i] < 0 || tokens[i] >= c->vocab_size || (targets && targets[i] >= c->vocab_size))
            return pm_fail(be, "model_forward", "token %d at %d outside the vocabulary of %d",
                           tokens[i], i, c->vocab_size);
    int N = B * T, C = c->n_embd;
    m->last_B = B;
    m->last_T = T;
    m->last_step = train_step;
    m->last_has_targets = targets != NULL;
    pm_upload(be, m->tokens, tokens, 0, (size_t)N * 4);
    if (targets) pm_upload(be, m->targets, targets, 0, (size_t)N * 4);
    pm_op(be, encoder_fwd, R(m->encoded), R(m->tokens), P(m, m->wte), P(m, m->wpe), B, T, C);
    pm_buf *res = m->encoded;
    for (int l = 0; l < c->n_layer; l++) {
        block_acts *a = &m->acts[l];
        const pm_layer_params *p = &m->lp[l];
        pm_op(be, layernorm_fwd, R(a->ln1), R(a->ln1_mean), R(a->ln1_rstd), R(res), P(m, p->ln1_w),
              P(m, p->ln1_b), N, C);
        linear_fwd(m, R(a->qkv), R(a->ln1), p->qkv_w, p->qkv_b, N, C, 3 * C);
        pm_op(be, attention_fwd, R(a->atty), R(a->att), R(a->qkv), B, T, C, c->n_head);
        linear_fwd(m, R(a->res2), R(a->atty), p->attn_w, p->attn_b, N, C, C);
        pm_op(be, add, R(a->res2), R(a->res2), R(res), (size_t)N * C);
        pm_op(be, layernorm_fwd, R(a->ln2), R(a->ln2_mean), R(a->ln2_rstd), R(a->res2),
              P(m, p->ln2_w), P(m, p->ln2_b), N, C);
        if (c->moe_layers[l]) moe_fwd(m, l, N, train_step);
        else dense_mlp_fwd(m, l, N);
        pm_op(be, add, R(a->res3), R(a->res2), R(a->mlp_out), (size_t)N * C);
        res = a->res3;
    }
    pm_op(be, layernorm_fwd, R(m->lnf), R(m->lnf_mean), R(m->lnf_rstd), R(res), P(m, m->lnf_w),
          P(m, m->lnf_b), N, C);
    mm(m, 0, 1, N, c->vocab_size, C, R(m->lnf), P(m, m->wte), 0.0f, R(m->logits));
    for (int i = 0; i < m->n_moe; i++) {
        pm_moe_report *r = &m->reports[i];
        pm_download(be, m->acts[m->moe_index[i]].stats, r->stats, 0,
                    (2 * (size_t)c->n_experts + 2) * sizeof(float));
        pm_router_summarise(r->stats, N, c->n_experts, c->top_k, &r->summary, NULL, NULL);
    }
    if (targets) {
        pm_op(be, xent_fwd, R(m->losses), R(m->logits), R(m->targets), N, c->vocab_size);
        float *h = malloc((size_t)N * sizeof *h);
        if (!h) return pm_fail(be, "model_forward", "out of host memory");
        pm_download(be, m->losses, h, 0, (size_t)N * sizeof *h);
        double sum = 0;
        int counted = 0;
        for (int i = 0; i < N; i++)
            if (targets[i] >= 0) sum += h[i], counted++;
        free(h);
        if (loss) *loss = counted ? (float)(sum / counted) : 0.0f;
    }
    return pm_sync(be);
}

int pm_model_token_losses(pm_model *m, float *dst, int B, int T) {
    return pm_download(m->be, m->losses, dst, 0, (size_t)B * T * sizeof(float));
}

int pm_model_logits_at(pm_model *m, int t, int B, int T, float *dst) {
    size_t V = (size_t)m->cfg.vocab_size;
    for (int b = 0; b < B; b++)
        if (pm_download(m->be, m->logits, dst + b * V, ((size_t)b * T + t) * V * sizeof(float),
                        V * sizeof(float)) != PM_OK)
            return PM_ERR;
    return PM_OK;
}

int pm_model_expert_ids(pm_model *m, int i, int32_t *dst, int B, int T) {
    return pm_download(m->be, m->acts[m->moe_index[i]].ids, dst, 0,
                       (size_t)B * T * m->cfg.top_k * sizeof(int32_t));
}

double pm_model_aux_loss(const pm_model *m, double *lb_sum, double *z_sum) {
    double lb = 0, z = 0;
    for (int i = 0; i < m->n_moe; i++) {
        lb += m->reports[i].summary.lb_loss;
        z += m->reports[i].summary.z_loss;
    }
    if (lb_sum) *lb_sum = lb;
    if (z_sum) *z_sum = z;
    return m->cfg.lb_coef * lb + m->cfg.z_coef * z;
}

/* ---- backward ---- */

static void dense_mlp_bwd(pm_model *m, int l, int N) {
    block_acts *a = &m->acts[l];
    const pm_layer_params *p = &m->lp[l];
    int C = m->cfg.n_embd;
    linear_bwd(m, R(m->dfch), R(m->dres), R(a->fch_gelu), p->proj_w, p->proj_b, N, 4 * C, C);
    pm_op(m->be, gelu_bwd, R(m->dfch), R(a->fch), R(m->dfch), (size_t)N * 4 * C);
    linear_bwd(m, R(m->dln), R(m->dfch), R(a->ln2), p->fc_w, p->fc_b, N, C, 4 * C);
}

static void moe_bwd(pm_model *m, int l, int N, float scale) {
    block_acts *a = &m->acts[l];
    const pm_layer_params *p = &m->lp[l];
    const pm_config *c = &m->cfg;
    pm_backend *be = m->be;
    int C = c->n_embd, E = c->n_experts, k = c->top_k, rows = N * k;
    pm_op(be, moe_combine_bwd, R(m->dyp), R(m->dgates), R(m->dres), R(a->yp), R(a->slots),
          R(a->gates), N, k, C);
    pm_op(be, gemm_grouped_wgrad, rows, 4 * C, C, E, R(a->offsets), R(a->fch_gelu), R(m->dyp),
          1.0f, G(m, p->proj_w));
    pm_op(be, bias_grad, G(m, p->proj_b), R(m->dyp), rows, C, E, R(a->offsets));
    pm_op(be, gemm_grouped, 1, rows, 4 * C, C, E, R(a->offsets), R(m->dyp), P(m, p->proj_w), 0.0f,
          R(m->dfch));
    pm_op(be, gelu_bwd, R(m->dfch), R(a->fch), R(m->dfch), (size_t)rows * 4 * C);
    pm_op(be, gemm_grouped_wgrad, rows, C, 4 * C, E, R(a->offsets), R(a->xp), R(m->dfch), 1.0f,
          G(m, p->fc_w));
    pm_op(be, bias_grad, G(m, p->fc_b), R(m->dfch), rows, 4 * C, E, R(a->offsets));
    pm_op(be, gemm_grouped, 1, rows, C, 4 * C, E, R(a->offsets), R(m->dfch), P(m, p->fc_w), 0.0f,
          R(m->dxp));
    pm_op(be, moe_permute_bwd, R(m->dln), R(m->dxp), R(a->slots), N, k, C);
    pm_op(be, router_bwd, R(m->drlogits), R(a->probs), R(a->lse), R(a->ids), R(m->dgates),
          R(a->stats), N, E, k, c->lb_coef * scale, c->z_coef * scale);
    mm(m, 1, 0, E, C, N, R(m->drlogits), R(a->ln2), 1.0f, G(m, p->router_w));
    mm(m, 0, 0, N, C, E, R(m->drlogits), P(m, p->router_w), 1.0f, R(m->dln));
}

int pm_model_get_grads(pm_model *m, float *dst) {
    return pm_download(m->be, m->grads, dst, 0, m->n_params * sizeof(float));
}

int pm_model_zero_grad(pm_model *m) {
    return pm_op(m->be, fill, pm_at(m->grads, 0), m->n_params, 0.0f);
}

int pm_model_backward(pm_model *m, int B, int T, float scale) {
    const pm_config *c = &m->cfg;
    pm_backend *be = m->be;
    if (!m->last_has_targets || B != m->last_B || T != m->last_T)
        return pm_fail(be, "model_backward", "needs the forward of the same batch with targets");
    int N = B * T, C = c->n_embd, V = c->vocab_size;
    /* d(mean loss)/dlogits, written over the logits */
    pm_op(be, xent_bwd, R(m->logits), R(m->logits), R(m->targets), N, V, scale / (float)N);
    mm(m, 0, 0, N, C, V, R(m->logits), P(m, m->wte), 0.0f, R(m->dln));
    mm(m, 1, 0, V, C, N, R(m->logits), R(m->lnf), 1.0f, G(m, m->wte));
    pm_op(be, fill, R(m->dres), (size_t)N * C, 0.0f);
    pm_buf *last = c->n_layer ? m->acts[c->n_layer - 1].res3 : m->encoded;
    pm_op(be, layernorm_bwd, R(m->dres), G(m, m->lnf_w), G(m, m->lnf_b), R(m->dln), R(last),
          P(m, m->lnf_w), R(m->lnf_mean), R(m->lnf_rstd), N, C);
    for (int l = c->n_layer - 1; l >= 0; l--) {
        block_acts *a = &m->acts[l];
        const pm_layer_params *p = &m->lp[l];
        pm_buf *res_in = l ? m->acts[l - 1].res3 : m->encoded;
        /* dres holds d(res3): it reaches res2 unchanged and the MLP through mlp_out */
        if (c->moe_layers[l]) moe_bwd(m, l, N, scale);
        else dense_mlp_bwd(m, l, N);
        pm_op(be, layernorm_bwd, R(m->dres), G(m, p->ln2_w), G(m, p->ln2_b), R(m->dln),
              R(a->res2), P(m, p->ln2_w), R(a->ln2_mean), R(a->ln2_rstd), N, C);
        linear_bwd(m, R(m->datty), R(m->dres), R(a->atty), p->attn_w, p->attn_b, N, C, C);
        pm_op(be, attention_bwd, R(m->dqkv), R(m->datt), R(m->datty), R(a->qkv), R(a->att), B, T,
              C, c->n_head);
        linear_bwd(m, R(m->dln), R(m->dqkv), R(a->ln1), p->qkv_w, p->qkv_b, N, C, 3 * C);
        pm_op(be, layernorm_bwd, R(m->dres), G(m, p->ln1_w), G(m, p->ln1_b), R(m->dln), R(res_in),
              P(m, p->ln1_w), R(a->ln1_mean), R(a->ln1_rstd), N, C);
    }
    pm_op(be, encoder_bwd, G(m, m->wte), G(m, m->wpe), R(m->dres), R(m->tokens), B, T, C);
    m->last_has_targets = 0; /* the logits now hold their gradient */
    return pm_failed(be) ? PM_ERR : PM_OK;
}

int pm_model_grad_norm(pm_model *m, float *norm) {
    float sq = 0;
    pm_op(m->be, sumsq, R(m->norm), R(m->grads), m->n_params);
    if (pm_download(m->be, m->norm, &sq, 0, sizeof sq) != PM_OK) return PM_ERR;
    *norm = sqrtf(sq);
    return PM_OK;
}

int pm_model_update(pm_model *m, float lr, int step, float grad_scale) {
    const pm_config *c = &m->cfg;
    const float eps = 1e-8f;
    size_t vec = m->n_params - m->n_matrix;
    pm_op(m->be, adamw, P(m, 0), G(m, 0), pm_at(m->m, 0), pm_at(m->v, 0), m->n_matrix, lr,
          c->beta1, c->beta2, eps, c->weight_decay, step, grad_scale);
    return pm_op(m->be, adamw, P(m, m->n_matrix), G(m, m->n_matrix), pm_at(m->m, m->n_matrix),
                 pm_at(m->v, m->n_matrix), vec, lr, c->beta1, c->beta2, eps, 0.0f, step,
                 grad_scale);
}
