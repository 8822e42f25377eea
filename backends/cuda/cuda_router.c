/* The router on CUDA (kernels/cuda/router.cu): softmax and top-k, statistics, backward. */
#include "backends/cuda/cuda_internal.h"

int cuda_router_fwd(pm_backend *be, pm_ref probs, pm_ref lse, pm_ref ids, pm_ref gates,
                    pm_ref logits, int N, int E, int k) {
    if (cuda_check_experts(be, "router_fwd", E) != PM_OK) return PM_ERR;
    if (k < 1 || k > E) return pm_fail(be, "router_fwd", "top-k %d outside 1..E=%d", k, E);
    return cuda_check(be, "router_fwd",
                      cuk_router_fwd(cuda_stream(be), pm_f32(probs), pm_f32(lse), pm_i32(ids),
                                     pm_f32(gates), pm_f32(logits), N, E, k));
}

int cuda_router_stats(pm_backend *be, pm_ref stats, pm_ref probs, pm_ref lse, pm_ref ids, int N,
                      int E, int k) {
    return cuda_check(be, "router_stats",
                      cuk_router_stats(cuda_stream(be), pm_f32(stats), pm_f32(probs), pm_f32(lse),
                                       pm_i32(ids), N, E, k));
}

int cuda_router_bwd(pm_backend *be, pm_ref dlogits, pm_ref probs, pm_ref lse, pm_ref ids,
                    pm_ref dgates, pm_ref stats, int N, int E, int k, float lb_coef,
                    float z_coef, float ent_coef) {
    return cuda_check(be, "router_bwd",
                      cuk_router_bwd(cuda_stream(be), pm_f32(dlogits), pm_f32(probs), pm_f32(lse),
                                     pm_i32(ids), pm_f32(dgates), pm_f32(stats), N, E, k, lb_coef,
                                     z_coef, ent_coef, cuda_fault(be)));
}
