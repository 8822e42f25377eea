/* The CUDA backend's host side: its context, error mapping, and the op entry points
 * (cuda_gemm.c, cuda_attention.c, cuda_ops.c) that cuda_backend.c puts in the op table.
 * Buffers hold device pointers; pm_f32/pm_i32 only do the address arithmetic on them. */
#ifndef POLYMOE_CUDA_INTERNAL_H
#define POLYMOE_CUDA_INTERNAL_H

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "backends/backend_impl.h"
#include "backends/cuda/cuda_kernels.h"

/* Indices into the GEMM implementation list (see cuda_backend.c for the default). */
enum { CUDA_GEMM_CUBLAS, CUDA_GEMM_OWN };

typedef struct {
    cudaStream_t stream;       /* every op of the backend runs on this one stream */
    cublasHandle_t blas;
    cuk_fault *fault;          /* device: the first bad input a kernel found */
    void *scratch;             /* device: working memory of sumsq and moe_plan */
    size_t scratch_bytes;
} cuda_ctx;

/* Makes be's device current (one thread may drive several devices) and returns its stream.
 * A failure there surfaces as the launch error of the op that follows. */
cudaStream_t cuda_stream(pm_backend *be);
cuk_fault *cuda_fault(pm_backend *be);

/* PM_OK for cudaSuccess; else fails `op` with the error's name and text. */
int cuda_check(pm_backend *be, const char *op, cudaError_t err);
int cuda_blas_check(pm_backend *be, const char *op, cublasStatus_t status);

/* Device scratch of at least `bytes` in *out, valid in stream order until the next call.
 * It grows geometrically, so after warm-up no op allocates. */
int cuda_scratch(pm_backend *be, const char *op, size_t bytes, void **out);

/* Rows of `cols` floats that fit in r's buffer from element r.off on. */
long cuda_rows_in(pm_ref r, int cols);

/* The selected GEMM implementation on one batched product of device matrices. */
int cuda_matmul(pm_backend *be, const char *op, const pm_gemm_desc *d, const float *a,
                const float *b, float *c);

int cuda_gemm(pm_backend *, const pm_gemm_desc *, pm_ref, pm_ref, pm_ref);
int cuda_gemm_grouped(pm_backend *, int, int, int, int, int, pm_ref, pm_ref, pm_ref, float,
                      pm_ref);
int cuda_gemm_grouped_wgrad(pm_backend *, int, int, int, int, pm_ref, pm_ref, pm_ref, float,
                            pm_ref);
int cuda_attention_fwd(pm_backend *, pm_ref, pm_ref, pm_ref, int, int, int, int);
int cuda_attention_bwd(pm_backend *, pm_ref, pm_ref, pm_ref, pm_ref, pm_ref, int, int, int, int);
int cuda_encoder_fwd(pm_backend *, pm_ref, pm_ref, pm_ref, pm_ref, int, int, int);
int cuda_encoder_bwd(pm_backend *, pm_ref, pm_ref, pm_ref, pm_ref, int, int, int);
int cuda_add(pm_backend *, pm_ref, pm_ref, pm_ref, size_t);
int cuda_fill(pm_backend *, pm_ref, size_t, float);
int cuda_gelu_fwd(pm_backend *, pm_ref, pm_ref, size_t);
int cuda_gelu_bwd(pm_backend *, pm_ref, pm_ref, pm_ref, size_t);
int cuda_bias_add(pm_backend *, pm_ref, pm_ref, int, int, int, pm_ref);
int cuda_bias_grad(pm_backend *, pm_ref, pm_ref, int, int, int, pm_ref);
int cuda_add_noise(pm_backend *, pm_ref, size_t, float, uint32_t);
int cuda_layernorm_fwd(pm_backend *, pm_ref, pm_ref, pm_ref, pm_ref, pm_ref, pm_ref, int, int);
int cuda_layernorm_bwd(pm_backend *, pm_ref, pm_ref, pm_ref, pm_ref, pm_ref, pm_ref, pm_ref,
                       pm_ref, int, int);
int cuda_xent_fwd(pm_backend *, pm_ref, pm_ref, pm_ref, int, int);
int cuda_xent_bwd(pm_backend *, pm_ref, pm_ref, pm_ref, int, int, float);
int cuda_router_fwd(pm_backend *, pm_ref, pm_ref, pm_ref, pm_ref, pm_ref, int, int, int);
int cuda_router_stats(pm_backend *, pm_ref, pm_ref, pm_ref, pm_ref, int, int, int);
int cuda_router_bwd(pm_backend *, pm_ref, pm_ref, pm_ref, pm_ref, pm_ref, pm_ref, int, int, int,
                    float, float);
int cuda_moe_plan(pm_backend *, pm_ref, pm_ref, pm_ref, int, int, int, int);
int cuda_moe_permute(pm_backend *, pm_ref, pm_ref, pm_ref, int, int, int);
int cuda_moe_permute_bwd(pm_backend *, pm_ref, pm_ref, pm_ref, int, int, int);
int cuda_moe_combine(pm_backend *, pm_ref, pm_ref, pm_ref, pm_ref, int, int, int);
int cuda_moe_combine_bwd(pm_backend *, pm_ref, pm_ref, pm_ref, pm_ref, pm_ref, pm_ref, int, int,
                         int);
int cuda_sumsq(pm_backend *, pm_ref, pm_ref, size_t);
int cuda_adamw(pm_backend *, pm_ref, pm_ref, pm_ref, pm_ref, size_t, float, float, float, float,
               float, int, float);

#endif
