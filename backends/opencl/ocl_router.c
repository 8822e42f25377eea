/* Router forward, statistics and backward (kernels/opencl/router.cl). */
#include "ocl.h"

int ocl_router_fwd(pm_backend *be, pm_ref probs, pm_ref lse, pm_ref ids, pm_ref gates,
                   pm_ref logits, int N, int E, int k) {
    if (k < 1 || k > E) return pm_fail(be, "router_fwd", "top-k %d outside 1..E=%d", k, E);
    return OCL_RUN(be, "router_fwd", router_fwd, ocl_items(N, 64), A_REF(probs), A_REF(lse),
                   A_REF(ids), A_REF(gates), A_REF(logits), A_INT(N), A_INT(E), A_INT(k));
}

int ocl_router_stats(pm_backend *be, pm_ref stats, pm_ref probs, pm_ref lse, pm_ref ids, int N,
                     int E, int k) {
    /* work-groups 0..E-1 reduce one expert each, work-group E the sums over tokens */
    return OCL_RUN(be, "router_stats", router_stats, ocl_rows(E + 1, 1, 1), A_REF(stats),
                   A_REF(probs), A_REF(lse), A_REF(ids), A_INT(N), A_INT(E), A_INT(k));
}

int ocl_router_bwd(pm_backend *be, pm_ref dlogits, pm_ref probs, pm_ref lse, pm_ref ids,
                   pm_ref dgates, pm_ref stats, int N, int E, int k, float lb_coef,
                   float z_coef, float ent_coef) {
    return OCL_RUN(be, "router_bwd", router_bwd, ocl_items(N, 64), A_REF(dlogits), A_REF(probs),
                   A_REF(lse), A_REF(ids), A_REF(dgates), A_REF(stats), A_INT(N), A_INT(E),
                   A_INT(k), A_FLOAT(lb_coef), A_FLOAT(z_coef), A_FLOAT(ent_coef), A_FAULT(be));
}
