/* GEMM as its definition: naive loops with double accumulation. */
#include "ref_ops.h"

static void naive_gemm(const pm_gemm_desc *d, const float *A, const float *B, float *C) {
#pragma omp parallel for collapse(2) schedule(static)
    for (int i = 0; i < d->m; i++)
        for (int j = 0; j < d->n; j++) {
            double acc = 0;
            for (int p = 0; p < d->k; p++) {
                float a = d->trans_a ? A[(long)p * d->lda + i] : A[(long)i * d->lda + p];
                float b = d->trans_b ? B[(long)j * d->ldb + p] : B[(long)p * d->ldb + j];
                acc += (double)a * b;
            }
            float *c = &C[(long)i * d->ldc + j];
            /* beta == 0 must ignore C (it may hold NaN), as BLAS does. */
            *c = (float)(d->alpha * acc + (d->beta != 0.0f ? (double)d->beta * *c : 0.0));
        }
}

int ref_gemm(pm_backend *be, const pm_gemm_desc *d, pm_ref a, pm_ref b, pm_ref c) {
    (void)be;
    if (d->m <= 0 || d->n <= 0 || d->batch <= 0) return PM_OK;
    for (int i = 0; i < d->batch; i++)
        naive_gemm(d, pm_f32(a) + i * d->stride_a, pm_f32(b) + i * d->stride_b,
                   pm_f32(c) + i * d->stride_c);
    return PM_OK;
}

int ref_gemm_grouped(pm_backend *be, int trans_b, int rows, int n, int k, int groups,
                     pm_ref offsets, pm_ref a, pm_ref b, float beta, pm_ref c) {
    const int32_t *off = pm_i32(offsets);
    if (ref_check_offsets(be, PM_FAULT_GEMM_GROUPED_OFFSET, off, groups, rows) != PM_OK) return PM_ERR;
    for (int g = 0; g < groups; g++) {
        pm_gemm_desc d = {.trans_b = trans_b, .m = off[g + 1] - off[g], .n = n, .k = k,
                          .alpha = 1.0f, .beta = beta, .lda = k, .ldb = trans_b ? k : n,
                          .ldc = n, .batch = 1};
        ref_gemm(be, &d, pm_shift(a, (size_t)off[g] * k), pm_shift(b, (size_t)g * k * n),
                 pm_shift(c, (size_t)off[g] * n));
    }
    return PM_OK;
}

int ref_gemm_grouped_wgrad(pm_backend *be, int rows, int m, int n, int groups, pm_ref offsets,
                           pm_ref a, pm_ref d, float beta, pm_ref c) {
    const int32_t *off = pm_i32(offsets);
    if (ref_check_offsets(be, PM_FAULT_GEMM_GROUPED_WGRAD_OFFSET, off, groups, rows) != PM_OK) return PM_ERR;
    for (int g = 0; g < groups; g++) {
        int seg = off[g + 1] - off[g];
        pm_gemm_desc desc = {.trans_a = 1, .m = m, .n = n, .k = seg, .alpha = 1.0f, .beta = beta,
                             .lda = m, .ldb = n, .ldc = n, .batch = 1};
        ref_gemm(be, &desc, pm_shift(a, (size_t)off[g] * m), pm_shift(d, (size_t)off[g] * n),
                 pm_shift(c, (size_t)g * m * n));
    }
    return PM_OK;
}
