#include "model/model.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/pm_rng.h"
#include "model/layers.h"
#include "model/linear.h"

/* Block l's parameters, bound to the parameter buffer (values) or the gradient buffer. */
typedef struct {
    pm_ref ln1_w, ln1_b, ln2_w, ln2_b;
    pm_attention_params attn;
    pm_mlp_params mlp;  /* dense layers */
    pm_moe_params moe;  /* MoE layers */
} block_params;

/* Every parameter as a ref; nothing but refs, so that binding can walk it as an array. */
typedef struct {
    pm_ref wte, wpe, lnf_w, lnf_b;
    block_params h[PM_MAX_LAYERS];
} model_params;

/* Activations of one transformer block for a micro-batch, each its own device buffer (only the
 * MLP kind the block has is allocated); nothing but refs, so that freeing walks it. */
typedef struct {
    pm_ref ln1, ln1_mean, ln1_rstd, res2, ln2, ln2_mean, ln2_rstd, mlp_out, res3;
    pm_attention_acts attn;
    pm_mlp_acts mlp;
    pm_moe_acts moe;
} block_acts;

/* The optimiser's groups, in buffer order: trainable ones first, so that the trainable
 * parameters are one range; decayed before not decayed. */
enum { N_GROUPS = 4 };
typedef struct {
    size_t offset, size;
    int frozen, decay;
} param_group;

static int group_of(int frozen, int decay) { return 2 * frozen + !decay; }

struct pm_model {
    pm_backend *be;
    pm_config cfg;
    unsigned frozen_parts;
    int B, T;                      /* largest micro-batch the activations hold */
    pm_tensor tensors[PM_MAX_TENSORS];
    int n_tensors, placing;        /* placing: the layout's second pass */
    param_group groups[N_GROUPS];
    size_t n_params, n_trainable;  /* the trainable groups lead: [0, n_trainable) */
    int bwd_floor;                 /* the lowest layer the backward pass visits */
    int encoder_trains;            /* wte or wpe takes a gradient: the backward reaches the encoder */
    model_params w, g;             /* the same refs bound to params and to grads */
    pm_buf *params, *grads, *m, *v;
    pm_buf *tokens, *targets, *encoded, *lnf, *lnf_mean, *lnf_rstd, *logits, *losses;
    block_acts acts[PM_MAX_LAYERS];
    /* gradient scratch, reused by every layer */
    pm_buf *dres, *dln, *dqkv, *datt, *datty, *dfch, *dxp, *dyp, *dgates, *drlogits, *norm;
    pm_buf *dbase, *du;            /* LoRA experts' scratch */
    pm_buf *all_rows;              /* offsets {0, N}: c_attn's adapter is one group of every row */
    pm_buf *sink;                  /* where an op that must write a frozen tensor's gradient writes it */
    pm_buf *expert_sq;             /* per expert tensor gradient sums of squares */
    int k_max;                     /* experts per token the dispatch buffers hold */
    int eval_routing, last_k;
    int moe_index[PM_MAX_LAYERS];  /* MoE layer i -> transformer layer */
    int n_moe;
    pm_moe_report reports[PM_MAX_LAYERS];
    int last_B, last_T, last_has_targets, last_step;
    /* expert parallel: the experts of every MoE layer this model holds, the exchange of rows,
     * and the whole model's table (NULL: this model is whole) */
    int expert_first, expert_count;
    pm_expert_parallel *ep;
    pm_tensor *global;
    int n_global;
    size_t n_global_params, n_global_trainable;
    pm_buf *dyr, *dxr;             /* expert parallel backward scratch */
};

/* ---- parameter layout ---- */

/* Declares a tensor with its role and returns its ref (buffer bound later). Matrices are
 * decayed, vectors not (GPT-2's convention); a frozen part's tensors are frozen. The model is
 * declared twice: the first pass counts the tensors and sizes the groups, the second places
 * each tensor at the end of its group so far. */
static pm_ref add(pm_model *m, const char *name, const char *expert_of, pm_part part,
                  pm_init init, int d0, int d1) {
    size_t size = (size_t)d0 * (d1 ? d1 : 1);
    int frozen = (m->frozen_parts & PM_PART_BIT(part)) != 0, decay = d1 != 0;
    param_group *g = &m->groups[group_of(frozen, decay)];
    pm_ref at = pm_at(NULL, g->offset + g->size);
    g->size += size;
    if (!m->placing) {
        m->n_tensors++;
        return at;
    }
    pm_tensor *t = &m->tensors[m->n_tensors++];
    *t = (pm_tensor){.offset = at.off, .size = size, .ndim = d1 ? 2 : 1, .shape = {d0, d1},
                     .part = part, .init = init, .decay = decay, .frozen = frozen, .expert = -1,
                     .global_offset = at.off};
    snprintf(t->name, sizeof t->name, "%s", name);
    snprintf(t->expert_of, sizeof t->expert_of, "%s", expert_of);
    return at;
}

/* Tensor "transformer.h.<l>.<suffix>". */
static pm_ref add_block(pm_model *m, int l, const char *suffix, pm_part part, pm_init init,
                        int d0, int d1) {
    char name[96];
    snprintf(name, sizeof name, "transformer.h.%d.%s", l, suffix);
    return add(m, name, "", part, init, d0, d1);
}

static int expert_hidden(const pm_config *c) { return c->expert_width ? c->expert_width : 4 * c->n_embd; }

/* Tensor `suffix` of every expert the model holds of block l, adjacent in their group so that
 * the grouped GEMM finds the i-th's at i times the size from the first's (the returned ref). */
static pm_ref add_per_expert(pm_model *m, int l, const char *suffix, const char *expert_of, pm_part part,
                             pm_init init, int d0, int d1) {
    char name[96];
    pm_ref first = {0};
    for (int e = m->expert_first; e < m->expert_first + m->expert_count; e++) {
        snprintf(name, sizeof name, "transformer.h.%d.mlp.experts.%d.%s", l, e, suffix);
        pm_ref r = add(m, name, expert_of, part, init, d0, d1);
        if (m->placing) m->tensors[m->n_tensors - 1].expert = e;
        if (e == m->expert_first) first = r;
    }
    return first;
}

/* MLP tensor `suffix` of block l, or with `experts` one copy per expert. */
static pm_ref add_mlp(pm_model *m, int l, int experts, const char *suffix, pm_init init, int d0,
                      int d1) {
    char dense[96];
    snprintf(dense, sizeof dense, "transformer.h.%d.mlp.%s", l, suffix);
    if (!experts) return add(m, dense, "", PM_PART_MLP, init, d0, d1);
    return add_per_expert(m, l, suffix, dense, PM_PART_EXPERTS, init, d0, d1);
}

/* An MLP of hidden width H, or `experts` of them. */
static pm_mlp_params add_mlps(pm_model *m, int l, int experts, int H) {
    int C = m->cfg.n_embd;
    pm_mlp_params p;
    p.fc_w = add_mlp(m, l, experts, "c_fc.weight", PM_INIT_NORMAL, C, H);
    p.fc_b = add_mlp(m, l, experts, "c_fc.bias", PM_INIT_ZEROS, H, 0);
    p.proj_w = add_mlp(m, l, experts, "c_proj.weight", PM_INIT_RESIDUAL, H, C);
    p.proj_b = add_mlp(m, l, experts, "c_proj.bias", PM_INIT_ZEROS, C, 0);
    return p;
}

/* LoRA experts: A random and B zero, so a fresh adapter adds nothing. */
static pm_lora_params add_adapters(pm_model *m, int l) {
    int C = m->cfg.n_embd, r = m->cfg.lora_rank;
    const pm_part A = PM_PART_ADAPTERS;
    pm_lora_params p;
    p.fc_a = add_per_expert(m, l, "c_fc.lora_A", "", A, PM_INIT_NORMAL, C, r);
    p.fc_b = add_per_expert(m, l, "c_fc.lora_B", "", A, PM_INIT_ZEROS, r, 4 * C);
    p.proj_a = add_per_expert(m, l, "c_proj.lora_A", "", A, PM_INIT_NORMAL, 4 * C, r);
    p.proj_b = add_per_expert(m, l, "c_proj.lora_B", "", A, PM_INIT_ZEROS, r, C);
    return p;
}

/* Every tensor of the model, in declaration order, into m->w. The router starts random as the
 * other matrices: a zero router would tie every token and send all of them to expert 0, which
 * alone would then learn (upcycling sets it to zero). */
static void declare(pm_model *m) {
    const pm_config *c = &m->cfg;
    int C = c->n_embd, E = c->n_experts;
    const pm_part ATTN = PM_PART_ATTENTION;
    model_params *w = &m->w;
    w->wte = add(m, "transformer.wte.weight", "", PM_PART_EMBEDDING, PM_INIT_NORMAL,
                 c->vocab_size, C);
    w->wpe = add(m, "transformer.wpe.weight", "", PM_PART_POSITIONS, PM_INIT_NORMAL,
                 c->block_size, C);
    for (int l = 0; l < c->n_layer; l++) {
        block_params *p = &w->h[l];
        p->ln1_w = add_block(m, l, "ln_1.weight", PM_PART_NORM, PM_INIT_ONES, C, 0);
        p->ln1_b = add_block(m, l, "ln_1.bias", PM_PART_NORM, PM_INIT_ZEROS, C, 0);
        p->attn.qkv_w = add_block(m, l, "attn.c_attn.weight", ATTN, PM_INIT_NORMAL, C, 3 * C);
        p->attn.qkv_b = add_block(m, l, "attn.c_attn.bias", ATTN, PM_INIT_ZEROS, 3 * C, 0);
        p->attn.proj_w = add_block(m, l, "attn.c_proj.weight", ATTN, PM_INIT_RESIDUAL, C, C);
        p->attn.proj_b = add_block(m, l, "attn.c_proj.bias", ATTN, PM_INIT_ZEROS, C, 0);
        if (c->lora_attn) {
            p->attn.qkv_lora_a = add_block(m, l, "attn.c_attn.lora_A", PM_PART_ADAPTERS, PM_INIT_NORMAL, C, c->lora_rank);
            p->attn.qkv_lora_b = add_block(m, l, "attn.c_attn.lora_B", PM_PART_ADAPTERS, PM_INIT_ZEROS, c->lora_rank, 3 * C);
        }
        p->ln2_w = add_block(m, l, "ln_2.weight", PM_PART_NORM, PM_INIT_ONES, C, 0);
        p->ln2_b = add_block(m, l, "ln_2.bias", PM_PART_NORM, PM_INIT_ZEROS, C, 0);
        if (c->moe_layers[l]) {
            p->moe.router_w =
                add_block(m, l, "mlp.router.weight", PM_PART_ROUTER, PM_INIT_NORMAL, E, C);
            if (c->lora_rank) {
                p->moe.base = add_mlps(m, l, 0, 4 * C);
                p->moe.lora = add_adapters(m, l);
            } else {
                p->moe.experts = add_mlps(m, l, E, expert_hidden(c));
            }
        } else {
            p->mlp = add_mlps(m, l, 0, 4 * C);
        }
    }
    w->lnf_w = add(m, "transformer.ln_f.weight", "", PM_PART_NORM, PM_INIT_ONES, C, 0);
    w->lnf_b = add(m, "transformer.ln_f.bias", "", PM_PART_NORM, PM_INIT_ZEROS, C, 0);
}

static int by_offset(const void *a, const void *b) {
    size_t x = ((const pm_tensor *)a)->offset, y = ((const pm_tensor *)b)->offset;
    return (x > y) - (x < y);
}

/* Sizes the groups, places every tensor, and lists the table in buffer order (the order
 * checkpoints are written in). Returns -1 when the table would overflow. */
static int build_layout(pm_model *m) {
    for (int i = 0; i < N_GROUPS; i++)
        m->groups[i] = (param_group){.frozen = i >= 2, .decay = i % 2 == 0};
    declare(m);
    if (m->n_tensors > PM_MAX_TENSORS) return -1;
    for (int i = 0; i < N_GROUPS; i++) {
        m->groups[i].offset = m->n_params;
        m->n_params += m->groups[i].size;
        m->groups[i].size = 0;
    }
    m->n_tensors = 0;
    m->placing = 1;
    declare(m);
    qsort(m->tensors, (size_t)m->n_tensors, sizeof m->tensors[0], by_offset);
    m->n_trainable = m->groups[0].size + m->groups[1].size;
    m->bwd_floor = m->cfg.n_layer;
    for (int i = 0; i < m->n_tensors; i++) {
        const pm_tensor *t = &m->tensors[i];
        int l;
        if (t->frozen) continue;
        if (t->part == PM_PART_EMBEDDING || t->part == PM_PART_POSITIONS) m->encoder_trains = 1, m->bwd_floor = 0;
        else if (sscanf(t->name, "transformer.h.%d.", &l) == 1 && l < m->bwd_floor) m->bwd_floor = l;
    }
    return 0;
}

/* Points every ref of `p` into `buf`; refs at or past `end` (frozen tensors, when binding the
 * gradients) get no buffer. */
static void bind(model_params *p, pm_buf *buf, size_t end) {
    pm_ref *r = (pm_ref *)p;
    for (size_t i = 0; i < sizeof *p / sizeof *r; i++) r[i].buf = r[i].off < end ? buf : NULL;
}

/* A gradient to write: g itself, or for a frozen tensor the sink, at slot `slot` of size
 * `size` (an op writing two frozen gradients gets two slots, so its writes never overlap). */
static pm_ref grad_or_sink(const pm_model *m, pm_ref g, int slot, size_t size) {
    return pm_has_grad(g) ? g : pm_at(m->sink, (size_t)slot * size);
}

/* Expert parallel: the whole model's layout, and where each of this model's tensors sits in it
 * (both tables are in buffer order and this one's tensors are a subsequence of the whole's). */
static int build_global_layout(pm_model *m) {
    pm_model *whole = calloc(1, sizeof *whole);
    int rc = -1;
    if (whole) {
        whole->cfg = m->cfg;
        whole->frozen_parts = m->frozen_parts;
        whole->expert_count = m->cfg.n_experts;
        rc = build_layout(whole);
    }
    if (!rc && !(m->global = malloc(sizeof *m->global * (size_t)whole->n_tensors))) rc = -1;
    if (!rc) {
        memcpy(m->global, whole->tensors, sizeof *m->global * (size_t)whole->n_tensors);
        m->n_global = whole->n_tensors;
        m->n_global_params = whole->n_params;
        m->n_global_trainable = whole->n_trainable;
    }
    for (int i = 0, j = 0; !rc && i < m->n_tensors; i++, j++) {
        while (j < m->n_global && strcmp(m->global[j].name, m->tensors[i].name)) j++;
        if (j == m->n_global) rc = -1;
        else m->tensors[i].global_offset = m->global[j].offset;
    }
    free(whole);
    return rc;
}

/* Initialises the parameters one tensor at a time through a host buffer the size of the
 * largest tensor, so the host never holds a second copy of the whole model. */
static int init_params(pm_model *m) {
    size_t largest = 0;
    for (int i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].size > largest) largest = m->tensors[i].size;
    float *p = malloc(largest * sizeof *p);
    if (!p) return -1;
    float std = m->cfg.init_std, proj_std = std / sqrtf(2.0f * m->cfg.n_layer);
    for (int i = 0; i < m->n_tensors; i++) {
        const pm_tensor *t = &m->tensors[i];
        float scale = t->init == PM_INIT_RESIDUAL ? proj_std : std;
        for (size_t j = 0; j < t->size; j++) {
            switch (t->init) {
            case PM_INIT_ONES: p[j] = 1.0f; break;
            case PM_INIT_ZEROS: p[j] = 0.0f; break;
            case PM_INIT_NORMAL:
            case PM_INIT_RESIDUAL: p[j] = scale * pm_normal(m->cfg.seed, (uint32_t)(t->global_offset + j));
            }
        }
        pm_upload(m->be, m->params, p, t->offset * sizeof *p, t->size * sizeof *p);
    }
    free(p);
    return 0;
}

/* ---- allocation ---- */

static pm_buf *alloc_f(pm_model *m, size_t n) { return pm_alloc(m->be, n * sizeof(float)); }

static pm_ref alloc_r(pm_model *m, size_t n) { return pm_at(alloc_f(m, n), 0); }

static void alloc_acts(pm_model *m) {
    const pm_config *c = &m->cfg;
    size_t N = (size_t)m->B * m->T, C = (size_t)c->n_embd, E = (size_t)c->n_experts,
           k = (size_t)m->k_max, NH = (size_t)c->n_head, T = (size_t)m->T, r = (size_t)c->lora_rank;
    /* the rows the experts run over: this rank's, or under expert parallelism every rank's */
    size_t expert_rows = m->ep ? pm_ep_max_rows(m->ep) : N * k;
    m->tokens = alloc_f(m, N);
    m->targets = alloc_f(m, N);
    m->encoded = alloc_f(m, N * C);
    for (int l = 0; l < c->n_layer; l++) {
        block_acts *a = &m->acts[l];
        a->ln1 = alloc_r(m, N * C);
        a->ln1_mean = alloc_r(m, N);
        a->ln1_rstd = alloc_r(m, N);
        a->attn.qkv = alloc_r(m, N * 3 * C);
        a->attn.att = alloc_r(m, (size_t)m->B * NH * T * T);
        a->attn.y = alloc_r(m, N * C);
        if (c->lora_attn) a->attn.u = alloc_r(m, N * r);
        a->res2 = alloc_r(m, N * C);
        a->ln2 = alloc_r(m, N * C);
        a->ln2_mean = alloc_r(m, N);
        a->ln2_rstd = alloc_r(m, N);
        a->mlp_out = alloc_r(m, N * C);
        a->res3 = alloc_r(m, N * C);
        if (!c->moe_layers[l]) {
            a->mlp.fch = alloc_r(m, N * 4 * C);
            a->mlp.fch_gelu = alloc_r(m, N * 4 * C);
            continue;
        }
        pm_moe_acts *x = &a->moe;
        x->rlogits = alloc_r(m, N * E);
        x->probs = alloc_r(m, N * E);
        x->lse = alloc_r(m, N);
        x->ids = alloc_r(m, N * k);
        x->gates = alloc_r(m, N * k);
        x->stats = alloc_r(m, 2 * E + 2);
        x->offsets = alloc_r(m, E + 1);
        x->slots = alloc_r(m, N * k);
        x->xp = alloc_r(m, N * k * C);
        x->yp = alloc_r(m, N * k * C);
        x->experts.fch = alloc_r(m, expert_rows * (size_t)expert_hidden(c));
        x->experts.fch_gelu = alloc_r(m, expert_rows * (size_t)expert_hidden(c));
        if (r) {
            x->base_fch = alloc_r(m, N * 4 * C);
            x->u_fc = alloc_r(m, N * k * r);
            x->u_proj = alloc_r(m, N * k * r);
        }
        if (m->ep) {
            x->xr = alloc_r(m, expert_rows * C);
            x->yr = alloc_r(m, expert_rows * C);
            x->ep_offsets = alloc_r(m, (size_t)m->expert_count + 1);
        }
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
    size_t ep_hidden = m->ep ? expert_rows * (size_t)expert_hidden(c) : 0;
    m->dfch = alloc_f(m, rows * 4 * C > ep_hidden ? rows * 4 * C : ep_hidden);
    if (m->ep) {
        m->dyr = alloc_f(m, expert_rows * C);
        m->dxr = alloc_f(m, expert_rows * C);
    }
    m->dxp = alloc_f(m, rows * C);
    m->dyp = alloc_f(m, rows * C);
    m->dgates = alloc_f(m, N * k);
    m->drlogits = alloc_f(m, N * E);
    m->norm = alloc_f(m, 1);
    if (r) {
        m->dbase = alloc_f(m, N * 4 * C);
        m->du = alloc_f(m, rows * r);
    }
    if (c->lora_attn) m->all_rows = alloc_f(m, 2);
}

static void free_bufs(pm_model *m) {
    /* every pm_buf pointer of the model, in one sweep */
    pm_buf **groups[] = {&m->params, &m->grads, &m->m, &m->v, &m->tokens, &m->targets,
                         &m->encoded, &m->lnf, &m->lnf_mean, &m->lnf_rstd, &m->logits,
                         &m->losses, &m->dres, &m->dln, &m->dqkv, &m->datt, &m->datty,
                         &m->dfch, &m->dxp, &m->dyp, &m->dgates, &m->drlogits, &m->norm,
                         &m->dbase, &m->du, &m->sink, &m->expert_sq, &m->all_rows, &m->dyr, &m->dxr};
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++) {
        pm_free(m->be, *groups[i]);
        *groups[i] = NULL;
    }
    for (int l = 0; l < m->cfg.n_layer; l++) {
        pm_ref *r = (pm_ref *)&m->acts[l];
        for (size_t i = 0; i < sizeof(block_acts) / sizeof *r; i++) pm_free(m->be, r[i].buf);
    }
}

/* Expert parallel over R ranks: the most rows a rank can receive for its experts in one MoE layer
 * from micro-batches of N tokens with k experts each: every rank's rows, or with a capacity
 * factor at most each of its E/R experts' capacity from every rank (capacity grows with N and
 * k, so the largest micro-batch bounds every smaller one). */
static size_t rows_received_at_most(const pm_config *c, int R, size_t N, int k) {
    size_t every = (size_t)R * N * (size_t)k;
    if (c->capacity_factor <= 0) return every;
    size_t capacity = (size_t)ceil(c->capacity_factor * (double)N * k / c->n_experts);
    size_t capped = (size_t)c->n_experts * capacity; /* R ranks x E/R experts x capacity */
    return capped < every ? capped : every;
}

/* Experts per token the dispatch must hold: top_k, or every expert when a mode is dense. */
static int k_max_of(const pm_config *c) {
    return c->router_mode == PM_ROUTE_DENSE || c->eval_router_mode == PM_ROUTE_DENSE ? c->n_experts : c->top_k;
}

int pm_model_check(const pm_config *cfg, char *err, size_t errlen) {
    if (pm_config_validate(cfg, err, errlen)) return -1;
    pm_model *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, errlen, "out of host memory");
        return -1;
    }
    m->cfg = *cfg;
    m->expert_count = cfg->n_experts;
    int rc = build_layout(m);
    size_t n_params = m->n_params;
    if (rc) snprintf(err, errlen, "the model would have %d tensors, more than the %d it can hold: fewer layers or "
                                  "experts", m->n_tensors, PM_MAX_TENSORS);
    free(m);
    /* the ops take a micro-batch's rows (tokens, times the experts per token after dispatch) as an int */
    double rows = (double)cfg->batch_size * cfg->block_size * (pm_config_n_moe(cfg) ? k_max_of(cfg) : 1);
    if (!rc && rows > INT_MAX) {
        snprintf(err, errlen, "batch_size x block_size x experts per token = %.0f rows per micro-batch; at most %d",
                 rows, INT_MAX);
        rc = -1;
    }
    /* checkpoints store shapes as int, and the optimiser state is one [n_params] tensor */
    if (!rc && n_params > INT_MAX) {
        snprintf(err, errlen, "the model would have %zu parameters; checkpoints hold at most %d", n_params, INT_MAX);
        rc = -1;
    }
    return rc;
}

pm_model *pm_model_create_expert_parallel(pm_backend *be, const pm_config *cfg, unsigned frozen_parts,
                                          const pm_expert_exchange *ex, int B, int T, char *err, size_t errlen) {
    if (T > cfg->block_size) {
        snprintf(err, errlen, "sequence length %d exceeds block_size %d", T, cfg->block_size);
        return NULL;
    }
    if (ex && (ex->ranks < 1 || cfg->n_experts % ex->ranks || cfg->lora_rank || !pm_config_n_moe(cfg))) {
        snprintf(err, errlen, "expert parallel over %d ranks needs MoE layers of full experts, n_experts (%d) a "
                              "multiple of the ranks%s", ex->ranks, cfg->n_experts,
                 cfg->lora_rank ? "; LoRA experts are not split over ranks" : "");
        return NULL;
    }
    pm_model *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, errlen, "out of host memory");
        return NULL;
    }
    m->be = be;
    m->cfg = *cfg;
    /* LoRA experts train over a frozen base: only adapters and routers learn */
    unsigned all = PM_PART_BIT(PM_PART_ADAPTERS + 1) - 1;
    if (cfg->lora_rank) frozen_parts |= all & ~(PM_PART_BIT(PM_PART_ROUTER) | PM_PART_BIT(PM_PART_ADAPTERS));
    m->frozen_parts = frozen_parts;
    m->B = B;
    m->T = T;
    m->k_max = k_max_of(cfg);
    m->eval_routing = cfg->eval_router_mode;
    m->last_k = cfg->top_k;
    for (int l = 0; l < cfg->n_layer; l++)
        if (cfg->moe_layers[l]) m->moe_index[m->n_moe++] = l;
    m->expert_count = ex ? cfg->n_experts / ex->ranks : cfg->n_experts;
    m->expert_first = ex ? ex->rank * m->expert_count : 0;
    if (build_layout(m)) {
        snprintf(err, errlen, "too many tensors (%d > %d): fewer layers or experts", m->n_tensors, PM_MAX_TENSORS);
        free(m);
        return NULL;
    }
    if (ex && (build_global_layout(m) ||
               !(m->ep = pm_ep_create(ex, cfg->n_experts, m->n_moe, (size_t)B * T * m->k_max,
                                      rows_received_at_most(cfg, ex->ranks, (size_t)B * T, m->k_max), cfg->n_embd)))) {
        snprintf(err, errlen, "out of host memory");
        pm_model_free(m);
        return NULL;
    }
    /* gradients and moments of the trainable groups only (at least one float: no empty buffers) */
    size_t nt = m->n_trainable ? m->n_trainable : 1;
    m->params = alloc_f(m, m->n_params);
    m->grads = alloc_f(m, nt);
    m->m = alloc_f(m, nt);
    m->v = alloc_f(m, nt);
    m->g = m->w;
    bind(&m->w, m->params, m->n_params);
    bind(&m->g, m->grads, m->n_trainable);
    /* frozen gradients an op must still write: the layernorms' pairs, one side of the encoder */
    size_t sink = 2 * (size_t)cfg->n_embd;
    if (m->encoder_trains) {
        for (int i = 0; i < m->n_tensors; i++) {
            const pm_tensor *t = &m->tensors[i];
            if (t->frozen && (t->part == PM_PART_EMBEDDING || t->part == PM_PART_POSITIONS) && t->size > sink)
                sink = t->size;
        }
    }
    if (m->n_trainable < m->n_params) m->sink = alloc_f(m, sink);
    if (m->n_moe) m->expert_sq = alloc_f(m, (size_t)m->n_tensors);
    alloc_acts(m);
    for (int i = 0; i < m->n_moe; i++) {
        m->reports[i].stats = calloc(2 * (size_t)cfg->n_experts + 2, sizeof(float));
        if (!m->reports[i].stats) pm_fail(be, "model", "out of host memory");
    }
    if (m->params && init_params(m)) pm_fail(be, "model", "out of host memory");
    pm_op(be, fill, pm_at(m->grads, 0), nt, 0.0f);
    pm_op(be, fill, pm_at(m->m, 0), nt, 0.0f);
    pm_op(be, fill, pm_at(m->v, 0), nt, 0.0f);
    if (pm_sync(be) != PM_OK) {
        snprintf(err, errlen, "%s", pm_error(be));
        pm_model_free(m);
        return NULL;
    }
    return m;
}

pm_model *pm_model_create(pm_backend *be, const pm_config *cfg, int B, int T, char *err,
                          size_t errlen) {
    return pm_model_create_frozen(be, cfg, 0, B, T, err, errlen);
}

pm_model *pm_model_create_frozen(pm_backend *be, const pm_config *cfg, unsigned frozen_parts,
                                 int B, int T, char *err, size_t errlen) {
    return pm_model_create_expert_parallel(be, cfg, frozen_parts, NULL, B, T, err, errlen);
}

void pm_model_free(pm_model *m) {
    if (!m) return;
    free_bufs(m);
    for (int i = 0; i < m->n_moe; i++) free(m->reports[i].stats);
    pm_ep_free(m->ep);
    free(m->global);
    free(m);
}

const pm_config *pm_model_config(const pm_model *m) { return &m->cfg; }
pm_backend *pm_model_backend(const pm_model *m) { return m->be; }
size_t pm_model_num_params(const pm_model *m) { return m->n_params; }
size_t pm_model_num_trainable(const pm_model *m) { return m->n_trainable; }
void pm_model_set_eval_routing(pm_model *m, int mode) { m->eval_routing = mode; }
int pm_model_last_k(const pm_model *m) { return m->last_k; }
int pm_model_n_moe(const pm_model *m) { return m->n_moe; }
int pm_model_expert_parallel(const pm_model *m) { return m->ep != NULL; }
int pm_model_moe_layer(const pm_model *m, int i) { return m->moe_index[i]; }
const pm_moe_report *pm_model_moe_report(const pm_model *m, int i) { return &m->reports[i]; }

int pm_model_tensors(const pm_model *m, const pm_tensor **tensors) {
    *tensors = m->tensors;
    return m->n_tensors;
}

int pm_model_global_tensors(const pm_model *m, const pm_tensor **tensors, size_t *n_params, size_t *n_trainable) {
    *tensors = m->global ? m->global : m->tensors;
    *n_params = m->global ? m->n_global_params : m->n_params;
    *n_trainable = m->global ? m->n_global_trainable : m->n_trainable;
    return m->global ? m->n_global : m->n_tensors;
}

size_t pm_model_active_params(const pm_model *m) {
    const pm_tensor *ts;
    size_t shared = 0, experts = 0, n_params, n_trainable;
    int n = pm_model_global_tensors(m, &ts, &n_params, &n_trainable); /* every expert, held here or not */
    for (int i = 0; i < n; i++) {
        if (ts[i].part == PM_PART_EXPERTS || ts[i].part == PM_PART_ADAPTERS) experts += ts[i].size;
        else shared += ts[i].size;
    }
    /* every expert is the same size, so top_k of E is exact */
    return shared + experts * (size_t)m->cfg.top_k / (size_t)m->cfg.n_experts;
}

int pm_model_get_params(pm_model *m, float *dst) {
    return pm_download(m->be, m->params, dst, 0, m->n_params * sizeof(float));
}
int pm_model_set_params(pm_model *m, const float *src) {
    return pm_upload(m->be, m->params, src, 0, m->n_params * sizeof(float));
}
int pm_model_read_slab(pm_model *m, pm_model_slab slab, size_t offset, float *dst, size_t count) {
    pm_buf *b = slab == PM_SLAB_PARAMS ? m->params : slab == PM_SLAB_ADAM_M ? m->m : m->v;
    return pm_download(m->be, b, dst, offset * sizeof(float), count * sizeof(float));
}
int pm_model_set_moments(pm_model *m, const float *msrc, const float *vsrc) {
    pm_upload(m->be, m->m, msrc, 0, m->n_trainable * sizeof(float));
    return pm_upload(m->be, m->v, vsrc, 0, m->n_trainable * sizeof(float));
}

/* ---- forward ---- */

static pm_ref R(pm_buf *b) { return pm_at(b, 0); }

static float noise_std(const pm_config *c, int step) {
    if (step < 0 || c->router_noise <= 0) return 0.0f;
    double end = (double)c->noise_anneal * c->steps;
    return step >= end ? 0.0f : (float)(c->router_noise * (1.0 - step / end));
}

static float lora_scale(const pm_config *c) { return c->lora_rank ? c->lora_alpha / (float)c->lora_rank : 0.0f; }

/* k: experts per token in this pass (top_k, or n_experts when dense); moe: the MoE layer's index. */
static pm_moe_shape moe_shape(const pm_model *m, int N, int k, int moe) {
    const pm_config *c = &m->cfg;
    int capacity = c->capacity_factor <= 0 ? 0 : (int)ceil(c->capacity_factor * (double)N * k / c->n_experts);
    return (pm_moe_shape){.N = N, .C = c->n_embd, .E = c->n_experts, .k = k, .H = expert_hidden(c), .capacity = capacity,
                          .rank = c->lora_rank, .lora_scale = lora_scale(c), .ep = m->ep, .layer = moe};
}

/* The MoE layer index of transformer block l. */
static int moe_of(const pm_model *m, int l) {
    for (int i = 0; i < m->n_moe; i++)
        if (m->moe_index[i] == l) return i;
    return -1;
}

/* The shape of c_attn's adapters for N rows (one group: every row). */
static pm_adapter_shape attention_adapter(const pm_model *m, int N) {
    const pm_config *c = &m->cfg;
    return (pm_adapter_shape){.rows = N, .groups = 1, .rank = c->lora_rank,
                              .scale = lora_scale(c),
                              .offsets = pm_at(m->all_rows, 0)};
}

/* The MLP of block l, dense or MoE: ln2 -> mlp_out. */
static void mlp_fwd(pm_model *m, int l, int N, int step) {
    const pm_config *c = &m->cfg;
    block_acts *a = &m->acts[l];
    const block_params *w = &m->w.h[l];
    if (!c->moe_layers[l]) {
        pm_mlp_fwd(m->be, a->mlp_out, a->ln2, &w->mlp, &a->mlp, N, c->n_embd, 4 * c->n_embd);
        return;
    }
    pm_moe_shape d = moe_shape(m, N, m->last_k, moe_of(m, l));
    uint32_t seed = pm_hash32(c->seed ^ pm_hash32((uint32_t)step * 64u + (uint32_t)l));
    pm_moe_fwd(m->be, &d, a->mlp_out, a->ln2, &w->moe, &a->moe, noise_std(c, step), seed);
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
    int dense = (train_step >= 0 ? c->router_mode : m->eval_routing) == PM_ROUTE_DENSE;
    m->last_k = dense ? c->n_experts : c->top_k;
    if (m->last_k > m->k_max)
        return pm_fail(be, "model_forward", "dense routing needs buffers for %d experts per token; this model holds %d "
                                            "(set router_mode or eval_router_mode to dense in the config)",
                       m->last_k, m->k_max);
    m->last_B = B;
    m->last_T = T;
    m->last_step = train_step;
    m->last_has_targets = targets != NULL;
    pm_upload(be, m->tokens, tokens, 0, (size_t)N * 4);
    if (c->lora_attn) pm_upload(be, m->all_rows, (int32_t[]){0, N}, 0, 2 * sizeof(int32_t));
    if (targets) pm_upload(be, m->targets, targets, 0, (size_t)N * 4);
    const model_params *w = &m->w;
    pm_adapter_shape attn_lora = attention_adapter(m, N);
    pm_op(be, encoder_fwd, R(m->encoded), R(m->tokens), w->wte, w->wpe, B, T, C);
    pm_ref res = R(m->encoded);
    for (int l = 0; l < c->n_layer; l++) {
        block_acts *a = &m->acts[l];
        const block_params *p = &w->h[l];
        pm_op(be, layernorm_fwd, a->ln1, a->ln1_mean, a->ln1_rstd, res, p->ln1_w, p->ln1_b, N, C);
        pm_attention_fwd(be, a->res2, a->ln1, &p->attn, &a->attn, B, T, C, c->n_head,
                         c->lora_attn ? &attn_lora : NULL);
        pm_op(be, add, a->res2, a->res2, res, (size_t)N * C);
        pm_op(be, layernorm_fwd, a->ln2, a->ln2_mean, a->ln2_rstd, a->res2, p->ln2_w, p->ln2_b,
              N, C);
        mlp_fwd(m, l, N, train_step);
        pm_op(be, add, a->res3, a->res2, a->mlp_out, (size_t)N * C);
        res = a->res3;
    }
    pm_op(be, layernorm_fwd, R(m->lnf), R(m->lnf_mean), R(m->lnf_rstd), res, w->lnf_w, w->lnf_b,
          N, C);
    pm_mm(be, 0, 1, N, c->vocab_size, C, R(m->lnf), w->wte, 0.0f, R(m->logits));
    for (int i = 0; i < m->n_moe; i++) {
        pm_moe_report *r = &m->reports[i];
        pm_download(be, m->acts[m->moe_index[i]].moe.stats.buf, r->stats, 0,
                    (2 * (size_t)c->n_experts + 2) * sizeof(float));
        pm_router_summarise(r->stats, N, c->n_experts, m->last_k, &r->summary, NULL, NULL);
        /* the plan keeps each expert's first `capacity` assignments */
        r->capacity = moe_shape(m, N, m->last_k, i).capacity;
        r->dropped = 0;
        for (int e = 0; r->capacity && e < c->n_experts; e++)
            r->dropped += fmax(0.0, r->stats[e] - r->capacity);
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
    size_t N = (size_t)B * T, k = (size_t)m->cfg.top_k, kl = (size_t)m->last_k;
    pm_buf *ids = m->acts[m->moe_index[i]].moe.ids.buf;
    if (kl == k) return pm_download(m->be, ids, dst, 0, N * k * sizeof(int32_t));
    /* a dense forward sorted every expert by probability: keep each token's first k */
    int32_t *all = malloc(N * kl * sizeof *all);
    if (!all) return pm_fail(m->be, "model_expert_ids", "out of host memory");
    int rc = pm_download(m->be, ids, all, 0, N * kl * sizeof *all);
    for (size_t t = 0; t < N; t++)
        for (size_t j = 0; j < k; j++) dst[t * k + j] = all[t * kl + j];
    free(all);
    return rc;
}

double pm_model_aux_loss(const pm_model *m, double *lb_sum, double *z_sum, double *entropy_sum) {
    double lb = 0, z = 0, ent = 0;
    for (int i = 0; i < m->n_moe; i++) {
        lb += m->reports[i].summary.lb_loss;
        z += m->reports[i].summary.z_loss;
        ent += m->reports[i].summary.router_entropy;
    }
    if (lb_sum) *lb_sum = lb;
    if (z_sum) *z_sum = z;
    if (entropy_sum) *entropy_sum = ent;
    return m->cfg.lb_coef * lb + m->cfg.z_coef * z - m->cfg.entropy_coef * ent;
}

int pm_model_expert_grad_norms(pm_model *m, float *norms) {
    int E = m->cfg.n_experts, n = 0;
    int *owner = malloc(sizeof *owner * (size_t)(m->n_tensors ? m->n_tensors : 1));
    float *sq = owner ? malloc(sizeof *sq * (size_t)(m->n_tensors ? m->n_tensors : 1)) : NULL;
    if (!sq) {
        free(owner);
        return pm_fail(m->be, "model_expert_grad_norms", "out of host memory");
    }
    /* one sum of squares per trainable expert tensor, each into its own float, one download */
    for (int i = 0; i < m->n_tensors; i++) {
        const pm_tensor *t = &m->tensors[i];
        int l, e;
        if (t->frozen || (t->part != PM_PART_EXPERTS && t->part != PM_PART_ADAPTERS) ||
            sscanf(t->name, "transformer.h.%d.mlp.experts.%d.", &l, &e) != 2)
            continue;
        for (int j = 0; j < m->n_moe; j++)
            if (m->moe_index[j] == l) owner[n] = j * E + e;
        pm_op(m->be, sumsq, pm_at(m->expert_sq, (size_t)n), pm_at(m->grads, t->offset), t->size);
        n++;
    }
    int rc = n ? pm_download(m->be, m->expert_sq, sq, 0, (size_t)n * sizeof *sq) : PM_OK;
    for (int i = 0; i < m->n_moe * E; i++) norms[i] = 0;
    for (int i = 0; rc == PM_OK && i < n; i++) norms[owner[i]] += sq[i];
    for (int i = 0; i < m->n_moe * E; i++) norms[i] = sqrtf(norms[i]);
    free(owner);
    free(sq);
    return rc;
}

/* ---- backward ---- */

/* The MLP of block l, dense or MoE: d(mlp_out) in dres -> d(ln2) written to dln. */
static void mlp_bwd(pm_model *m, int l, int N, float scale) {
    const pm_config *c = &m->cfg;
    block_acts *a = &m->acts[l];
    const block_params *w = &m->w.h[l], *g = &m->g.h[l];
    int C = c->n_embd;
    if (!c->moe_layers[l]) {
        pm_mlp_bwd(m->be, R(m->dln), R(m->dres), a->ln2, &w->mlp, &g->mlp, &a->mlp, R(m->dfch), N,
                   C, 4 * C);
        return;
    }
    pm_moe_shape d = moe_shape(m, N, m->last_k, moe_of(m, l));
    pm_moe_scratch s = {R(m->dyp), R(m->dgates), R(m->dfch), R(m->dxp), R(m->drlogits), R(m->dbase), R(m->du),
                        R(m->dyr), R(m->dxr)};
    pm_moe_bwd(m->be, &d, R(m->dln), R(m->dres), a->ln2, &w->moe, &g->moe, &a->moe, &s,
               c->lb_coef * scale, c->z_coef * scale, c->entropy_coef * scale);
}

int pm_model_get_grads(pm_model *m, float *dst) {
    return pm_download(m->be, m->grads, dst, 0, m->n_trainable * sizeof(float));
}

int pm_model_set_grads(pm_model *m, const float *src) {
    return pm_upload(m->be, m->grads, src, 0, m->n_trainable * sizeof(float));
}

pm_buf *pm_model_grad_buffer(pm_model *m) { return m->grads; }

int pm_model_zero_grad(pm_model *m) {
    return m->n_trainable ? pm_op(m->be, fill, pm_at(m->grads, 0), m->n_trainable, 0.0f) : PM_OK;
}

int pm_model_backward(pm_model *m, int B, int T, float scale) {
    const pm_config *c = &m->cfg;
    pm_backend *be = m->be;
    if (!m->last_has_targets || B != m->last_B || T != m->last_T)
        return pm_fail(be, "model_backward", "needs the forward of the same batch with targets");
    int N = B * T, C = c->n_embd, V = c->vocab_size;
    /* d(mean loss)/dlogits, written over the logits */
    pm_op(be, xent_bwd, R(m->logits), R(m->logits), R(m->targets), N, V, scale / (float)N);
    const model_params *w = &m->w, *g = &m->g;
    pm_mm(be, 0, 0, N, C, V, R(m->logits), w->wte, 0.0f, R(m->dln));
    if (pm_has_grad(g->wte)) pm_mm(be, 1, 0, V, C, N, R(m->logits), R(m->lnf), 1.0f, g->wte);
    pm_op(be, fill, R(m->dres), (size_t)N * C, 0.0f);
    pm_ref last = c->n_layer ? m->acts[c->n_layer - 1].res3 : R(m->encoded);
    pm_op(be, layernorm_bwd, R(m->dres), grad_or_sink(m, g->lnf_w, 0, C), grad_or_sink(m, g->lnf_b, 1, C),
          R(m->dln), last, w->lnf_w, R(m->lnf_mean), R(m->lnf_rstd), N, C);
    pm_attention_scratch s = {R(m->dqkv), R(m->datt), R(m->datty), R(m->du)};
    pm_adapter_shape attn_lora = attention_adapter(m, N);
    /* below the lowest layer with something to train, nothing needs a gradient */
    for (int l = c->n_layer - 1; l >= m->bwd_floor; l--) {
        block_acts *a = &m->acts[l];
        const block_params *p = &w->h[l], *gp = &g->h[l];
        pm_ref res_in = l ? m->acts[l - 1].res3 : R(m->encoded);
        /* dres holds d(res3): it reaches res2 unchanged and the MLP through mlp_out */
        mlp_bwd(m, l, N, scale);
        pm_op(be, layernorm_bwd, R(m->dres), grad_or_sink(m, gp->ln2_w, 0, C), grad_or_sink(m, gp->ln2_b, 1, C),
              R(m->dln), a->res2, p->ln2_w, a->ln2_mean, a->ln2_rstd, N, C);
        pm_attention_bwd(be, R(m->dln), R(m->dres), a->ln1, &p->attn, &gp->attn, &a->attn, &s, B,
                         T, C, c->n_head, c->lora_attn ? &attn_lora : NULL);
        pm_op(be, layernorm_bwd, R(m->dres), grad_or_sink(m, gp->ln1_w, 0, C), grad_or_sink(m, gp->ln1_b, 1, C),
              R(m->dln), res_in, p->ln1_w, a->ln1_mean, a->ln1_rstd, N, C);
    }
    if (m->encoder_trains) /* at most one of the two is frozen: it gets the whole sink */
        pm_op(be, encoder_bwd, grad_or_sink(m, g->wte, 0, 0), grad_or_sink(m, g->wpe, 0, 0), R(m->dres),
              R(m->tokens), B, T, C);
    m->last_has_targets = 0; /* the logits now hold their gradient */
    return pm_failed(be) ? PM_ERR : PM_OK;
}

/* Over the trainable groups, which lead the buffer. */
int pm_model_grad_norm(pm_model *m, float *norm) {
    size_t trainable = 0;
    for (int i = 0; i < N_GROUPS; i++)
        if (!m->groups[i].frozen) trainable += m->groups[i].size;
    float sq = 0;
    pm_op(m->be, sumsq, R(m->norm), R(m->grads), trainable);
    if (pm_download(m->be, m->norm, &sq, 0, sizeof sq) != PM_OK) return PM_ERR;
    *norm = sqrtf(sq);
    return PM_OK;
}

int pm_model_update(pm_model *m, float lr, int step, float grad_scale) {
    const pm_config *c = &m->cfg;
    const float eps = 1e-8f;
    for (int i = 0; i < N_GROUPS; i++) {
        const param_group *g = &m->groups[i];
        if (g->frozen || !g->size) continue;
        pm_op(m->be, adamw, pm_at(m->params, g->offset), pm_at(m->grads, g->offset),
              pm_at(m->m, g->offset), pm_at(m->v, g->offset), g->size, lr, c->beta1, c->beta2,
              eps, g->decay ? c->weight_decay : 0.0f, step, grad_scale);
    }
    return pm_failed(m->be) ? PM_ERR : PM_OK;
}
