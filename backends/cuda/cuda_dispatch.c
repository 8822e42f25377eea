/* Dispatch on CUDA (kernels/cuda/dispatch.cu): the plan, permute and combine and their
 * backwards. The kernels check expert ids and slots against the sizes given here. */
#include "backends/cuda/cuda_internal.h"

int cuda_moe_plan(pm_backend *be, pm_ref offsets, pm_ref slots, pm_ref ids, int N, int E, int k,
                  int capacity) {
    const char *op = "moe_plan";
    void *scratch;
    if (cuda_check_experts(be, op, E) != PM_OK ||
        cuda_scratch(be, op, cuk_plan_scratch_ints((long)N * k, E) * sizeof(int32_t),
                     &scratch) != PM_OK)
        return PM_ERR;
    return cuda_check(be, op, cuk_moe_plan(cuda_stream(be), pm_i32(offsets), pm_i32(slots),
                                           pm_i32(ids), N, E, k, capacity, scratch,
                                           cuda_fault(be)));
}

int cuda_moe_permute(pm_backend *be, pm_ref xp, pm_ref x, pm_ref slots, int N, int k, int C) {
    return cuda_check(be, "moe_permute",
                      cuk_moe_permute(cuda_stream(be), pm_f32(xp), pm_f32(x), pm_i32(slots), N, k,
                                      C, pm_rows_in(xp, C), cuda_fault(be)));
}

int cuda_moe_permute_bwd(pm_backend *be, pm_ref dx, pm_ref dxp, pm_ref slots, int N, int k,
                         int C) {
    return cuda_check(be, "moe_permute_bwd",
                      cuk_moe_permute_bwd(cuda_stream(be), pm_f32(dx), pm_f32(dxp), pm_i32(slots),
                                          N, k, C, pm_rows_in(dxp, C), cuda_fault(be)));
}

int cuda_moe_combine(pm_backend *be, pm_ref y, pm_ref yp, pm_ref slots, pm_ref gates, int N,
                     int k, int C) {
    return cuda_check(be, "moe_combine",
                      cuk_moe_combine(cuda_stream(be), pm_f32(y), pm_f32(yp), pm_i32(slots),
                                      pm_f32(gates), N, k, C, pm_rows_in(yp, C),
                                      cuda_fault(be)));
}

int cuda_moe_combine_bwd(pm_backend *be, pm_ref dyp, pm_ref dgates, pm_ref dy, pm_ref yp,
                         pm_ref slots, pm_ref gates, int N, int k, int C) {
    return cuda_check(be, "moe_combine_bwd",
                      cuk_moe_combine_bwd(cuda_stream(be), pm_f32(dyp), pm_f32(dgates),
                                          pm_f32(dy), pm_f32(yp), pm_i32(slots), pm_f32(gates), N,
                                          k, C, pm_rows_in_both(yp, dyp, C), cuda_fault(be)));
}
