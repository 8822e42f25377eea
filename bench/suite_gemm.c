/* GEMM: square float32 matrices, and the shapes the models run: the MLP's 768 -> 3072 -> 768
 * products and their gradients, the per-head attention products, the LM head against
 * GPT-2's vocabulary of 50257, and an MoE layer's expert GEMMs (8 experts, top-1): as one
 * batched GEMM over equal shares of the tokens (what a vendor library's batched GEMM can do)
 * and through the grouped ops over an uneven split (what a router gives; each backend's
 * grouped kernels, whichever GEMM implementation is selected). FLOPs: 2 m n k per batch item
 * or segment. */
#include "bench/inputs.h"
#include "bench/suites.h"

#include <stdio.h>
#include <string.h>

enum { WIDTH = 768, HEADS = 12, HEAD_SIZE = 64, GPT2_VOCAB = 50257, QUICK_LONGEST_MS = 1000,
       EXPERTS = 8 };

/* Each expert's share of the tokens in the grouped cases: uneven, as routing is. */
static const double expert_share[EXPERTS] = {0.22, 0.05, 0.18, 0.10, 0.15, 0.08, 0.12, 0.10};

typedef struct {
    const char *name;
    int trans_a, trans_b, m, n, k, batch;
} gemm_case;

typedef struct {
    pm_gemm_desc d;
    pm_buf *a, *b, *c;
} gemm_arg;

pm_gemm_desc pm_bench_gemm_desc(int trans_a, int trans_b, int m, int n, int k, int batch,
                                float beta) {
    return (pm_gemm_desc){.trans_a = trans_a, .trans_b = trans_b, .m = m, .n = n, .k = k,
                          .alpha = 1.0f, .beta = beta, .lda = trans_a ? m : k,
                          .ldb = trans_b ? k : n, .ldc = n, .batch = batch,
                          .stride_a = (long)m * k, .stride_b = (long)k * n,
                          .stride_c = (long)m * n};
}

int pm_bench_mm(pm_backend *be, int trans_a, int trans_b, int m, int n, int k, pm_ref a,
                pm_ref b, float beta, pm_ref c) {
    pm_gemm_desc d = pm_bench_gemm_desc(trans_a, trans_b, m, n, k, 1, beta);
    return pm_op(be, gemm, &d, a, b, c);
}

static void gemm_body(pm_backend *be, void *p) {
    gemm_arg *g = p;
    pm_op(be, gemm, &g->d, pm_at(g->a, 0), pm_at(g->b, 0), pm_at(g->c, 0));
}

/* Measures one case; returns its median in ms, or -1 when it was not measured. */
static double run_case(pm_bench_ctx *c, const gemm_case *g, uint32_t seed) {
    pm_bench_bufs bufs = {.be = c->be};
    size_t batch = (size_t)g->batch;
    gemm_arg arg = {pm_bench_gemm_desc(g->trans_a, g->trans_b, g->m, g->n, g->k, g->batch, 0.0f),
                    pm_bench_uniform(&bufs, batch * g->m * g->k, 1.0f, seed),
                    pm_bench_uniform(&bufs, batch * g->k * g->n, 1.0f, seed + 1),
                    pm_bench_zeros(&bufs, batch * g->m * g->n)};
    char shape[96];
    snprintf(shape, sizeof shape, "%dx%dx%d%s%s", g->m, g->n, g->k, g->trans_a ? " A^T" : "",
             g->trans_b ? " B^T" : "");
    if (g->batch > 1)
        snprintf(shape + strlen(shape), sizeof shape - strlen(shape), " x%d", g->batch);
    pm_record *r = pm_bench_measure(c, "gemm", g->name, shape, gemm_body, &arg,
                                    2.0 * batch * g->m * g->n * g->k, 0);
    pm_bench_bufs_free(&bufs);
    return r ? r->t.median_ms : -1;
}

/* A grouped GEMM over EXPERTS segments of `rows` token rows: gemm_grouped (C_g = A_g op(B_g),
 * B_g of n x k or k x n) or, for wgrad, gemm_grouped_wgrad (C_g = A_g^T D_g, n x k). */
typedef struct {
    const char *name;
    int wgrad, trans_b, n, k;
} grouped_case;

typedef struct {
    const grouped_case *g;
    int rows;
    pm_buf *offsets, *a, *b, *c;
} grouped_arg;

static void grouped_body(pm_backend *be, void *p) {
    grouped_arg *x = p;
    const grouped_case *g = x->g;
    if (g->wgrad)
        pm_op(be, gemm_grouped_wgrad, x->rows, g->n, g->k, EXPERTS, pm_at(x->offsets, 0),
              pm_at(x->a, 0), pm_at(x->b, 0), 0.0f, pm_at(x->c, 0));
    else
        pm_op(be, gemm_grouped, g->trans_b, x->rows, g->n, g->k, EXPERTS, pm_at(x->offsets, 0),
              pm_at(x->a, 0), pm_at(x->b, 0), 0.0f, pm_at(x->c, 0));
}

static void run_grouped(pm_bench_ctx *c, const grouped_case *g, int rows, uint32_t seed) {
    int32_t offsets[EXPERTS + 1] = {0};
    double cumulative = 0;
    for (int e = 0; e < EXPERTS; e++) {
        cumulative += expert_share[e];
        offsets[e + 1] = e + 1 == EXPERTS ? rows : (int)(cumulative * rows);
    }
    size_t r = (size_t)rows, n = (size_t)g->n, k = (size_t)g->k;
    pm_bench_bufs bufs = {.be = c->be};
    /* wgrad: A rows x n and D rows x k give E results of n x k; else A rows x k, E weights of
     * k x n and C rows x n */
    grouped_arg arg = {g, rows, pm_bench_upload(&bufs, offsets, EXPERTS + 1),
                       pm_bench_uniform(&bufs, r * (g->wgrad ? n : k), 1.0f, seed),
                       pm_bench_uniform(&bufs, g->wgrad ? r * k : EXPERTS * k * n, 1.0f, seed + 1),
                       pm_bench_zeros(&bufs, g->wgrad ? EXPERTS * n * k : r * n)};
    char shape[96];
    snprintf(shape, sizeof shape, "%dx%dx%d%s%s E=%d", g->wgrad ? g->n : rows,
             g->wgrad ? g->k : g->n, g->wgrad ? rows : g->k, g->wgrad ? " A^T" : "",
             g->trans_b ? " B^T" : "", EXPERTS);
    pm_bench_measure(c, g->wgrad ? "gemm_grouped_wgrad" : "gemm_grouped", g->name, shape,
                     grouped_body, &arg, 2.0 * r * n * k, 0);
    pm_bench_bufs_free(&bufs);
}

void pm_bench_gemm(pm_bench_ctx *c) {
    /* quick: a reduced token count (and one sequence of 256 for attention) */
    int tokens = c->quick ? 64 : 4096, seq = c->quick ? 256 : 1024, seqs = c->quick ? 1 : 4;
    int max_square = c->quick ? 1024 : 4096;
    uint32_t seed = 1;
    for (int n = 256; n <= max_square; n *= 2, seed += 2) {
        double ms = run_case(c, &(gemm_case){"square", 0, 0, n, n, n, 1}, seed);
        /* quick: a size whose run would take over a second (8x the last) is left out */
        if (c->quick && 2 * n <= max_square && ms * 8 > QUICK_LONGEST_MS) {
            pm_bench_skip(c, "%s:%s gemm square %d and up: quick mode, about %.0f ms a run",
                          pm_backend_kind(c->be), pm_current_gemm(c->be), 2 * n, 8 * ms);
            break;
        }
    }
    const gemm_case model[] = {
        {"mlp_fc", 0, 0, tokens, 4 * WIDTH, WIDTH, 1},        /* x W_fc */
        {"mlp_proj", 0, 0, tokens, WIDTH, 4 * WIDTH, 1},      /* h W_proj */
        {"mlp_fc_dgrad", 0, 1, tokens, WIDTH, 4 * WIDTH, 1},  /* dh W_fc^T */
        {"mlp_fc_wgrad", 1, 0, WIDTH, 4 * WIDTH, tokens, 1},  /* x^T dh */
        {"attn_qk", 0, 1, seq, seq, HEAD_SIZE, seqs * HEADS}, /* q k^T per head */
        {"attn_av", 0, 0, seq, HEAD_SIZE, seq, seqs * HEADS}, /* p v per head */
        {"lm_head", 0, 1, tokens, GPT2_VOCAB, WIDTH, 1},      /* x wte^T */
    };
    for (size_t i = 0; i < sizeof model / sizeof model[0]; i++, seed += 2) run_case(c, &model[i], seed);
    /* the experts of an MoE MLP: x W_fc per expert, equal shares, one batched GEMM */
    run_case(c, &(gemm_case){"experts_fc", 0, 0, tokens / EXPERTS, 4 * WIDTH, WIDTH, EXPERTS}, seed);
    const grouped_case grouped[] = {
        {"moe_fc", 0, 0, 4 * WIDTH, WIDTH},       /* x W_fc per expert */
        {"moe_proj", 0, 0, WIDTH, 4 * WIDTH},     /* h W_proj per expert */
        {"moe_fc_dgrad", 0, 1, WIDTH, 4 * WIDTH}, /* dh W_fc^T per expert */
        {"moe_fc_wgrad", 1, 0, WIDTH, 4 * WIDTH}, /* x^T dh per expert (n x k here: C x 4C) */
    };
    for (size_t i = 0; i < sizeof grouped / sizeof grouped[0]; i++, seed += 2)
        run_grouped(c, &grouped[i], tokens, seed);
}
