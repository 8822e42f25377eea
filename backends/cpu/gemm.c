/* GEMM as one parallel unit of work: every GEMM of a call (a batch, the expert groups) is cut
 * into blocks of rows or columns, the blocks are shared out among the OpenMP threads, and each
 * block is one single-threaded OpenBLAS call. */
#include "cpu_ops.h"

#include <cblas.h>
#include <stdlib.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* Below this many FLOPs in all, one thread does the whole call: a parallel region costs more
 * than it saves. */
#define SERIAL_FLOPS 2e6
/* Blocks are multiples of this many rows or columns (a cache line of floats, for C). */
#define BLOCK_ALIGN 16

void cpu_sgemm_one(const cpu_sgemm *g) {
    if (g->m <= 0 || g->n <= 0) return;
    if (g->k <= 0) { /* C = beta * C; beta 0 ignores C, which may hold NaN, as BLAS does */
        for (int i = 0; i < g->m; i++)
            for (int j = 0; j < g->n; j++) {
                float *c = &g->c[(long)i * g->ldc + j];
                *c = g->beta != 0.0f ? g->beta * *c : 0.0f;
            }
        return;
    }
    cblas_sgemm(CblasRowMajor, g->trans_a ? CblasTrans : CblasNoTrans,
                g->trans_b ? CblasTrans : CblasNoTrans, g->m, g->n, g->k, g->alpha, g->a, g->lda,
                g->b, g->ldb, g->beta, g->c, g->ldc);
}

/* Rows [from, from+len) of C: A's rows (or columns when transposed) and C's rows. */
static cpu_sgemm row_block(cpu_sgemm g, int from, int len) {
    g.a += g.trans_a ? from : (long)from * g.lda;
    g.c += (long)from * g.ldc;
    g.m = len;
    return g;
}

/* Columns [from, from+len) of C: B's columns (or rows when transposed) and C's columns. */
static cpu_sgemm col_block(cpu_sgemm g, int from, int len) {
    g.b += g.trans_b ? (long)from * g.ldb : from;
    g.c += from;
    g.n = len;
    return g;
}

static int threads(void) {
#ifdef _OPENMP
    return omp_in_parallel() ? 1 : omp_get_max_threads();
#else
    return 1;
#endif
}

void cpu_sgemm_run(pm_backend *be, const cpu_sgemm *g, int count) {
    double total = 0;
    for (int i = 0; i < count; i++) total += 2.0 * g[i].m * g[i].n * (g[i].k > 0 ? g[i].k : 1);
    int nt = threads();
    if (nt == 1 || total < SERIAL_FLOPS) {
        for (int i = 0; i < count; i++) cpu_sgemm_one(&g[i]);
        return;
    }
    /* About four blocks per thread in all, given to each GEMM in proportion to its FLOPs. */
    int target = 4 * nt, cap = 0;
    for (int i = 0; i < count; i++) cap += 1 + target;
    cpu_sgemm *blocks = malloc(sizeof *blocks * (size_t)cap);
    if (!blocks) {
        pm_fail(be, "gemm", "out of host memory");
        return;
    }
    int nb = 0;
    for (int i = 0; i < count; i++) {
        const cpu_sgemm *x = &g[i];
        if (x->m <= 0 || x->n <= 0) continue;
        double share = 2.0 * x->m * x->n * (x->k > 0 ? x->k : 1) / total;
        int by_cols = x->n >= x->m, dim = by_cols ? x->n : x->m;
        int pieces = (int)(share * target + 0.999);
        int max_pieces = (dim + BLOCK_ALIGN - 1) / BLOCK_ALIGN;
        if (pieces > max_pieces) pieces = max_pieces;
        if (pieces < 1) pieces = 1;
        int step = (dim + pieces - 1) / pieces;
        step = (step + BLOCK_ALIGN - 1) / BLOCK_ALIGN * BLOCK_ALIGN;
        for (int from = 0; from < dim; from += step) {
            int len = dim - from < step ? dim - from : step;
            blocks[nb++] = by_cols ? col_block(*x, from, len) : row_block(*x, from, len);
        }
    }
#pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < nb; i++) cpu_sgemm_one(&blocks[i]);
    free(blocks);
}

int cpu_gemm(pm_backend *be, const pm_gemm_desc *d, pm_ref a, pm_ref b, pm_ref c) {
    if (d->m <= 0 || d->n <= 0 || d->batch <= 0) return PM_OK;
    cpu_sgemm *g = malloc(sizeof *g * (size_t)d->batch);
    if (!g) return pm_fail(be, "gemm", "out of host memory");
    for (int i = 0; i < d->batch; i++)
        g[i] = (cpu_sgemm){d->trans_a, d->trans_b, d->m, d->n, d->k, d->alpha, d->beta,
                           pm_f32(a) + i * d->stride_a, pm_f32(b) + i * d->stride_b,
                           pm_f32(c) + i * d->stride_c, d->lda, d->ldb, d->ldc};
    cpu_sgemm_run(be, g, d->batch);
    free(g);
    return pm_failed(be) ? PM_ERR : PM_OK;
}

int cpu_gemm_grouped(pm_backend *be, int trans_b, int rows, int n, int k, int groups,
                     pm_ref offsets, pm_ref a, pm_ref b, float beta, pm_ref c) {
    const int32_t *off = pm_i32(offsets);
    if (ref_check_offsets(be, PM_FAULT_GEMM_GROUPED_OFFSET, off, groups, rows) != PM_OK)
        return PM_ERR;
    cpu_sgemm *g = malloc(sizeof *g * (size_t)(groups > 0 ? groups : 1));
    if (!g) return pm_fail(be, "gemm_grouped", "out of host memory");
    for (int i = 0; i < groups; i++)
        g[i] = (cpu_sgemm){0, trans_b, off[i + 1] - off[i], n, k, 1.0f, beta,
                           pm_f32(a) + (size_t)off[i] * k, pm_f32(b) + (size_t)i * k * n,
                           pm_f32(c) + (size_t)off[i] * n, k, trans_b ? k : n, n};
    cpu_sgemm_run(be, g, groups);
    free(g);
    return pm_failed(be) ? PM_ERR : PM_OK;
}

int cpu_gemm_grouped_wgrad(pm_backend *be, int rows, int m, int n, int groups, pm_ref offsets,
                           pm_ref a, pm_ref d, float beta, pm_ref c) {
    const int32_t *off = pm_i32(offsets);
    if (ref_check_offsets(be, PM_FAULT_GEMM_GROUPED_WGRAD_OFFSET, off, groups, rows) != PM_OK)
        return PM_ERR;
    cpu_sgemm *g = malloc(sizeof *g * (size_t)(groups > 0 ? groups : 1));
    if (!g) return pm_fail(be, "gemm_grouped_wgrad", "out of host memory");
    for (int i = 0; i < groups; i++)
        g[i] = (cpu_sgemm){1, 0, m, n, off[i + 1] - off[i], 1.0f, beta,
                           pm_f32(a) + (size_t)off[i] * m, pm_f32(d) + (size_t)off[i] * n,
                           pm_f32(c) + (size_t)i * m * n, m, n, n};
    cpu_sgemm_run(be, g, groups);
    free(g);
    return pm_failed(be) ? PM_ERR : PM_OK;
}
