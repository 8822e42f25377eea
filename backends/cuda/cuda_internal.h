/* The CUDA backend's host side: its context, error mapping, and the op entry points
 * (cuda_<family>.c, one op family per file as in backends/cpu/) that cuda_backend.c puts in
 * the op table.
 * Buffers hold device pointers; pm_f32/pm_i32 only do the address arithmetic on them. */
#ifndef POLYMOE_CUDA_INTERNAL_H
#define POLYMOE_CUDA_INTERNAL_H

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "backends/backend_impl.h"
#include "backends/cuda/cuda_kernels.h"

/* A GEMM implementation (cuda_backend.c lists them): cuBLAS or the own kernel for the
 * batched product (the grouped GEMMs always take the own kernels), products in float32 or
 * in TF32 on tensor cores. */
typedef struct {
    const char *name;
    int own, tf32;
} cuda_gemm_kind;

enum { CUDA_GEMM_KINDS = 4 };

typedef struct {
    cudaStream_t stream;       /* every op of the backend runs on this one stream */
    cublasHandle_t blas;
    cuk_fault *fault;          /* device: the first bad input a kernel found */
    void *scratch;             /* device: working memory of sumsq and moe_plan */
    size_t scratch_bytes;
    const char *impl_names[CUDA_GEMM_KINDS + 1]; /* be->gemm_impls, NULL-terminated */
    cuda_gemm_kind impls[CUDA_GEMM_KINDS];       /* the same order */
    cuda_gemm_kind gemm;                         /* the selected one */
    void *group;                                 /* the NCCL communicator of a job's ranks, or NULL */
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

/* PM_OK when E experts fit the router and plan kernels (1..CUK_MAX_EXPERTS); else fails `op`. */
int cuda_check_experts(pm_backend *be, const char *op, int E);

/* The selected GEMM implementation on one batched product of device matrices. */
int cuda_matmul(pm_backend *be, const char *op, const pm_gemm_desc *d, const float *a,
                const float *b, float *c);

/* Collectives with NCCL (nccl/cuda_group.c, built where nccl.h is found): the driver's group
 * hooks (backend_impl.h); cuda_group_close leaves the group, if any. */
#define CUDA_GROUP_ID_BYTES 128
int cuda_group_id(pm_backend *be, void *id);
int cuda_group_join(pm_backend *be, const void *id, int rank, int size);
int cuda_group_sum(pm_backend *be, pm_buf *buf, size_t count);
void cuda_group_close(pm_backend *be);

/* cuda_<op> for every op: cuda_gemm.c, cuda_attention.c, and one file per family. */
PM_DECLARE_OPS(cuda)

#endif
