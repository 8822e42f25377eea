/* The launchers of the CUDA kernels (the .cu files of kernels/cuda/), callable from C.
 *
 * Each launcher enqueues its kernels on `stream` and returns cudaGetLastError() (cudaSuccess
 * when there was nothing to do). Pointers are device pointers; element indices of large
 * tensors are size_t. Inputs the kernels cannot trust (token ids, targets, expert ids, slots,
 * segment offsets) are checked on the device: the first bad one is written to the fault record
 * and the kernel skips it; the host reads the record at the next sync point. */
#ifndef POLYMOE_CUDA_KERNELS_H
#define POLYMOE_CUDA_KERNELS_H

#include <cuda_runtime_api.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/fault_sites.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The fault record of kernels/fault_sites.h (pm_fault on the host side). */
typedef struct {
    int site;   /* PM_FAULT_* of the first bad input, PM_FAULT_NONE when all were good */
    int value;  /* the bad value */
    int limit;  /* values must lie in 0..limit-1 */
} cuk_fault;

/* The largest expert count of the router and plan kernels (a warp holds a token's logits in
 * registers, a block holds per-warp expert counts in shared memory). */
enum { CUK_MAX_EXPERTS = 256 };

/* One row-major matrix product C = alpha * op(A) * op(B) + beta * C (beta 0 ignores C). */
typedef struct {
    const float *a, *b;
    float *c;
    int m, n, k;
    int lda, ldb, ldc;
    int trans_a, trans_b;
    float alpha, beta;
    int tf32; /* 1: products in TF32 on tensor cores (sm_80+), float accumulation */
} cuk_matmul;

/* gemm.cu: the tiled kernel ("own" GEMM). */
cudaError_t cuk_gemm(cudaStream_t stream, cuk_matmul g, int batch, long stride_a,
                     long stride_b, long stride_c);
/* Segment g (rows offsets[g]..offsets[g+1] of g.a, rows x k) times op(B_g), B_g at
 * g.b + g*k*n: g.m is the row bound `rows`; alpha 1. */
cudaError_t cuk_gemm_grouped(cudaStream_t stream, cuk_matmul g, int groups, const int32_t *offsets,
                             cuk_fault *fault);
/* C_g (g.m x g.n at g.c + g*m*n) = A[seg]^T * D[seg] + beta * C_g with A = g.a (rows x m),
 * D = g.b (rows x n); `rows` bounds the offsets. */
cudaError_t cuk_gemm_grouped_wgrad(cudaStream_t stream, cuk_matmul g, int rows, int groups,
                                   const int32_t *offsets, cuk_fault *fault);

/* elementwise.cu */
cudaError_t cuk_encoder_fwd(cudaStream_t stream, float *out, const int32_t *tokens,
                            const float *wte, const float *wpe, int B, int T, int C,
                            long vocab_rows, cuk_fault *fault);
cudaError_t cuk_encoder_bwd(cudaStream_t stream, float *dwte, float *dwpe, const float *dout,
                            const int32_t *tokens, int B, int T, int C, long vocab_rows,
                            cuk_fault *fault);
cudaError_t cuk_add(cudaStream_t stream, float *out, const float *a, const float *b, size_t n);
cudaError_t cuk_fill(cudaStream_t stream, float *x, size_t n, float value);
cudaError_t cuk_scale(cudaStream_t stream, float *x, size_t n, float alpha);
cudaError_t cuk_gelu_fwd(cudaStream_t stream, float *out, const float *inp, size_t n);
cudaError_t cuk_gelu_bwd(cudaStream_t stream, float *dinp, const float *inp, const float *dout,
                         size_t n);
cudaError_t cuk_bias_add(cudaStream_t stream, float *out, const float *bias, int rows, int cols,
                         int groups, const int32_t *offsets);
cudaError_t cuk_bias_grad(cudaStream_t stream, float *dbias, const float *dout, int rows,
                          int cols, int groups, const int32_t *offsets);
cudaError_t cuk_add_noise(cudaStream_t stream, float *x, size_t n, float std, uint32_t seed);

/* layernorm.cu */
cudaError_t cuk_layernorm_fwd(cudaStream_t stream, float *out, float *mean, float *rstd,
                              const float *inp, const float *w, const float *b, int N, int C);
cudaError_t cuk_layernorm_bwd(cudaStream_t stream, float *dinp, float *dw, float *db,
                              const float *dout, const float *inp, const float *w,
                              const float *mean, const float *rstd, int N, int C);

/* attention.cu: the softmax steps between the attention GEMMs, over rows = B*NH*T rows of T. */
cudaError_t cuk_causal_softmax_fwd(cudaStream_t stream, float *att, long rows, int T);
cudaError_t cuk_causal_softmax_bwd(cudaStream_t stream, float *datt, const float *att, long rows,
                                   int T, float scale);

/* loss.cu */
cudaError_t cuk_xent_fwd(cudaStream_t stream, float *losses, const float *logits,
                         const int32_t *targets, int N, int V, cuk_fault *fault);
cudaError_t cuk_xent_bwd(cudaStream_t stream, float *dlogits, const float *logits,
                         const int32_t *targets, int N, int V, float dloss, cuk_fault *fault);

/* router.cu (E <= CUK_MAX_EXPERTS for router_fwd) */
cudaError_t cuk_router_fwd(cudaStream_t stream, float *probs, float *lse, int32_t *ids,
                           float *gates, const float *logits, int N, int E, int k);
cudaError_t cuk_router_stats(cudaStream_t stream, float *stats, const float *probs,
                             const float *lse, const int32_t *ids, int N, int E, int k);
cudaError_t cuk_router_bwd(cudaStream_t stream, float *dlogits, const float *probs,
                           const float *lse, const int32_t *ids, const float *dgates,
                           const float *stats, int N, int E, int k, float lb_coef, float z_coef,
                           float ent_coef, cuk_fault *fault);

/* dispatch.cu. The plan needs cuk_plan_scratch_ints(N*k, E) ints of device scratch. */
size_t cuk_plan_scratch_ints(long assignments, int E);
cudaError_t cuk_moe_plan(cudaStream_t stream, int32_t *offsets, int32_t *slots,
                         const int32_t *ids, int N, int E, int k, int capacity, int32_t *scratch,
                         cuk_fault *fault);
/* `rows` is the row count of the permuted buffer (slots must lie below it). */
cudaError_t cuk_moe_permute(cudaStream_t stream, float *xp, const float *x, const int32_t *slots,
                            int N, int k, int C, long rows, cuk_fault *fault);
cudaError_t cuk_moe_permute_bwd(cudaStream_t stream, float *dx, const float *dxp,
                                const int32_t *slots, int N, int k, int C, long rows,
                                cuk_fault *fault);
cudaError_t cuk_moe_combine(cudaStream_t stream, float *y, const float *yp, const int32_t *slots,
                            const float *gates, int N, int k, int C, long rows, cuk_fault *fault);
cudaError_t cuk_moe_combine_bwd(cudaStream_t stream, float *dyp, float *dgates, const float *dy,
                                const float *yp, const int32_t *slots, const float *gates, int N,
                                int k, int C, long rows, cuk_fault *fault);

/* optimizer.cu. sumsq needs cuk_sumsq_scratch_bytes() of device scratch; adamw takes the bias
 * corrections c1 = 1 - beta1^step and c2 = 1 - beta2^step. */
size_t cuk_sumsq_scratch_bytes(void);
cudaError_t cuk_sumsq(cudaStream_t stream, float *out, const float *x, size_t n, double *scratch);
cudaError_t cuk_adamw(cudaStream_t stream, float *params, const float *grads, float *m, float *v,
                      size_t n, float lr, float beta1, float beta2, float eps,
                      float weight_decay, float c1, float c2, float grad_scale);

#ifdef __cplusplus
}
#endif

#endif
