/* GEMM on CUDA: cuBLAS or the own tiled kernel for the batched product; the grouped GEMMs
 * always take the own kernels, which read the segment offsets on the device (cuBLAS's grouped
 * GEMM wants each group's shape on the host, which would cost a round trip per call). The
 * selected implementation's precision (float32, or TF32 products) applies to all of them. */
#include "backends/cuda/cuda_internal.h"

static int tf32_on(pm_backend *be) { return ((cuda_ctx *)be->ctx)->gemm.tf32; }

static cuk_matmul matmul_of(const pm_gemm_desc *d, const float *a, const float *b, float *c,
                            int tf32) {
    return (cuk_matmul){.a = a, .b = b, .c = c, .m = d->m, .n = d->n, .k = d->k, .lda = d->lda,
                        .ldb = d->ldb, .ldc = d->ldc, .trans_a = d->trans_a,
                        .trans_b = d->trans_b, .alpha = d->alpha, .beta = d->beta, .tf32 = tf32};
}

int cuda_matmul(pm_backend *be, const char *op, const pm_gemm_desc *d, const float *a,
                const float *b, float *c) {
    if (d->m <= 0 || d->n <= 0 || d->batch <= 0) return PM_OK;
    cuda_ctx *cx = be->ctx;
    cudaStream_t stream = cuda_stream(be);
    /* k == 0 (C = beta * C) goes to the own kernel: cuBLAS rejects the zero leading
     * dimensions such a call carries. */
    if (cx->gemm.own || d->k == 0)
        return cuda_check(be, op, cuk_gemm(stream, matmul_of(d, a, b, c, cx->gemm.tf32), d->batch,
                                           d->stride_a, d->stride_b, d->stride_c));
    /* cuBLAS is column-major: a row-major matrix read column-major is its transpose, so
     * C^T = op(B)^T op(A)^T is computed with the operands swapped. */
    cublasOperation_t ta = d->trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasOperation_t tb = d->trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    if (!cx->gemm.tf32)
        return cuda_blas_check(
            be, op,
            cublasSgemmStridedBatched(cx->blas, tb, ta, d->n, d->m, d->k, &d->alpha, b, d->ldb,
                                      d->stride_b, a, d->lda, d->stride_a, &d->beta, c, d->ldc,
                                      d->stride_c, d->batch));
    /* TF32 per call through the compute type, so the handle's math mode stays float32 */
    return cuda_blas_check(
        be, op,
        cublasGemmStridedBatchedEx(cx->blas, tb, ta, d->n, d->m, d->k, &d->alpha, b, CUDA_R_32F,
                                   d->ldb, d->stride_b, a, CUDA_R_32F, d->lda, d->stride_a,
                                   &d->beta, c, CUDA_R_32F, d->ldc, d->stride_c, d->batch,
                                   CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_GEMM_DEFAULT));
}

int cuda_gemm(pm_backend *be, const pm_gemm_desc *d, pm_ref a, pm_ref b, pm_ref c) {
    return cuda_matmul(be, "gemm", d, pm_f32(a), pm_f32(b), pm_f32(c));
}

int cuda_gemm_grouped(pm_backend *be, int trans_b, int rows, int n, int k, int groups,
                      pm_ref offsets, pm_ref a, pm_ref b, float beta, pm_ref c) {
    cuk_matmul g = {.a = pm_f32(a), .b = pm_f32(b), .c = pm_f32(c), .m = rows, .n = n, .k = k,
                    .lda = k, .ldb = trans_b ? k : n, .ldc = n, .trans_b = trans_b,
                    .alpha = 1.0f, .beta = beta, .tf32 = tf32_on(be)};
    return cuda_check(be, "gemm_grouped", cuk_gemm_grouped(cuda_stream(be), g, groups,
                                                           pm_i32(offsets), cuda_fault(be)));
}

int cuda_gemm_grouped_wgrad(pm_backend *be, int rows, int m, int n, int groups, pm_ref offsets,
                            pm_ref a, pm_ref d, float beta, pm_ref c) {
    cuk_matmul g = {.a = pm_f32(a), .b = pm_f32(d), .c = pm_f32(c), .m = m, .n = n, .lda = m,
                    .ldb = n, .ldc = n, .trans_a = 1, .alpha = 1.0f, .beta = beta,
                    .tf32 = tf32_on(be)};
    return cuda_check(be, "gemm_grouped_wgrad",
                      cuk_gemm_grouped_wgrad(cuda_stream(be), g, rows, groups, pm_i32(offsets),
                                             cuda_fault(be)));
}
