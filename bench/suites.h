/* The benchmark suites. Each runs its cases on the backend of the context (with the GEMM
 * implementation already selected) and adds one record per measurement. */
#ifndef POLYMOE_BENCH_SUITES_H
#define POLYMOE_BENCH_SUITES_H

#include "bench/measure.h"

void pm_bench_gemm(pm_bench_ctx *c);       /* square sizes and the model's GEMM shapes */
void pm_bench_router(pm_bench_ctx *c);     /* router_fwd: softmax + top-k */
void pm_bench_dispatch(pm_bench_ctx *c);   /* moe_plan + moe_permute, moe_combine */
void pm_bench_moe_layer(pm_bench_ctx *c);  /* MoE MLP fwd+bwd against the dense MLP */
void pm_bench_train_step(pm_bench_ctx *c); /* whole training steps of configs */

/* 0 when train_step can run config `name` (a built-in name, configs/NAME.json from the working
 * directory, or a .json file), else -1 with err. */
int pm_bench_check_config(const char *name, char *err, size_t errlen);

/* C[m,n] = op(A) op(B) + beta C, batched, with tight strides (the layout every suite uses). */
pm_gemm_desc pm_bench_gemm_desc(int trans_a, int trans_b, int m, int n, int k, int batch,
                                float beta);
int pm_bench_mm(pm_backend *be, int trans_a, int trans_b, int m, int n, int k, pm_ref a,
                pm_ref b, float beta, pm_ref c);

#endif
