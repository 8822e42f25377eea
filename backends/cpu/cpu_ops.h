/* The CPU reference ops, one family per file (gemm.c, elementwise.c, layernorm.c,
 * attention.c, loss.c, router.c, dispatch.c, optimizer.c). Buffers are host memory. */
#ifndef POLYMOE_CPU_OPS_H
#define POLYMOE_CPU_OPS_H

#include "../backend_impl.h"

enum { CPU_GEMM_OPENBLAS, CPU_GEMM_NAIVE };

int cpu_gemm(pm_backend *, const pm_gemm_desc *, pm_ref, pm_ref, pm_ref);
int cpu_gemm_grouped(pm_backend *, int, int, int, int, int, pm_ref, pm_ref, pm_ref, float,
                     pm_ref);
int cpu_gemm_grouped_wgrad(pm_backend *, int, int, int, int, pm_ref, pm_ref, pm_ref, float,
                           pm_ref);
int cpu_encoder_fwd(pm_backend *, pm_ref, pm_ref, pm_ref, pm_ref, int, int, int);
int cpu_encoder_bwd(pm_backend *, pm_ref, pm_ref, pm_ref, pm_ref, int, int, int);
int cpu_add(pm_backend *, pm_ref, pm_ref, pm_ref, size_t);
int cpu_fill(pm_backend *, pm_ref, size_t, float);
int cpu_gelu_fwd(pm_backend *, pm_ref, pm_ref, size_t);
int cpu_gelu_bwd(pm_backend *, pm_ref, pm_ref, pm_ref, size_t);
int cpu_bias_add(pm_backend *, pm_ref, pm_ref, int, int, int, pm_ref);
int cpu_bias_grad(pm_backend *, pm_ref, pm_ref, int, int, int, pm_ref);
int cpu_add_noise(pm_backend *, pm_ref, size_t, float, uint32_t);
int cpu_layernorm_fwd(pm_backend *, pm_ref, pm_ref, pm_ref, pm_ref, pm_ref, pm_ref, int, int);
int cpu_layernorm_bwd(pm_backend *, pm_ref, pm_ref, pm_ref, pm_ref, pm_ref, pm_ref, pm_ref,
                      pm_ref, int, int);
int cpu_attention_fwd(pm_backend *, pm_ref, pm_ref, pm_ref, int, int, int, int);
int cpu_attention_bwd(pm_backend *, pm_ref, pm_ref, pm_ref, pm_ref, pm_ref, int, int, int, int);
int cpu_xent_fwd(pm_backend *, pm_ref, pm_ref, pm_ref, int, int);
int cpu_xent_bwd(pm_backend *, pm_ref, pm_ref, pm_ref, int, int, float);
int cpu_router_fwd(pm_backend *, pm_ref, pm_ref, pm_ref, pm_ref, pm_ref, int, int, int);
int cpu_router_stats(pm_backend *, pm_ref, pm_ref, pm_ref, pm_ref, int, int, int);
int cpu_router_bwd(pm_backend *, pm_ref, pm_ref, pm_ref, pm_ref, pm_ref, pm_ref, int, int, int,
                   float, float);
int cpu_moe_plan(pm_backend *, pm_ref, pm_ref, pm_ref, int, int, int, int);
int cpu_moe_permute(pm_backend *, pm_ref, pm_ref, pm_ref, int, int, int);
int cpu_moe_permute_bwd(pm_backend *, pm_ref, pm_ref, pm_ref, int, int, int);
int cpu_moe_combine(pm_backend *, pm_ref, pm_ref, pm_ref, pm_ref, int, int, int);
int cpu_moe_combine_bwd(pm_backend *, pm_ref, pm_ref, pm_ref, pm_ref, pm_ref, pm_ref, int, int,
                        int);
int cpu_sumsq(pm_backend *, pm_ref, pm_ref, size_t);
int cpu_adamw(pm_backend *, pm_ref, pm_ref, pm_ref, pm_ref, size_t, float, float, float, float,
              float, int, float);

#endif
