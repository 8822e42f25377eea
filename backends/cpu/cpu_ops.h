/* The fast CPU backend: the ops that carry a training step's time, written for speed and
 * checked against the reference backend (backends/ref) like any device. The other ops are
 * the reference's own (cpu_backend.c). One family per file: gemm.c, attention.c,
 * elementwise.c, layernorm.c, loss.c, optimizer.c. */
#ifndef POLYMOE_CPU_OPS_H
#define POLYMOE_CPU_OPS_H

#include "../ref/ref_ops.h"

pm_gemm_fn cpu_gemm;
pm_gemm_grouped_fn cpu_gemm_grouped;
pm_gemm_grouped_wgrad_fn cpu_gemm_grouped_wgrad;
pm_attention_fwd_fn cpu_attention_fwd;
pm_attention_bwd_fn cpu_attention_bwd;
pm_add_fn cpu_add;
pm_fill_fn cpu_fill;
pm_gelu_fwd_fn cpu_gelu_fwd;
pm_gelu_bwd_fn cpu_gelu_bwd;
pm_bias_add_fn cpu_bias_add;
pm_bias_grad_fn cpu_bias_grad;
pm_layernorm_fwd_fn cpu_layernorm_fwd;
pm_layernorm_bwd_fn cpu_layernorm_bwd;
pm_xent_fwd_fn cpu_xent_fwd;
pm_xent_bwd_fn cpu_xent_bwd;
pm_adamw_fn cpu_adamw;

/* One single-threaded BLAS call: C = alpha * op(A) * op(B) + beta * C, row-major. */
typedef struct {
    int trans_a, trans_b, m, n, k;
    float alpha, beta;
    const float *a, *b;
    float *c;
    int lda, ldb, ldc;
} cpu_sgemm;

/* Runs `count` independent GEMMs as one parallel unit of work: each is cut into row or column
 * blocks so that every thread has some, and each block is one BLAS call on one thread (BLAS
 * itself runs single-threaded: OpenMP is the only thread pool). */
void cpu_sgemm_run(pm_backend *be, const cpu_sgemm *g, int count);

/* The same for one GEMM on the calling thread only (inside a parallel region). */
void cpu_sgemm_one(const cpu_sgemm *g);

#endif
