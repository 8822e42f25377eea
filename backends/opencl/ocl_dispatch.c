/* Dispatch: the plan (count, scan, scatter on the device), permute and combine with their
 * backwards (kernels/opencl/dispatch.cl). */
#include "ocl.h"

int ocl_moe_plan(pm_backend *be, pm_ref offsets, pm_ref slots, pm_ref ids, int N, int E, int k,
                 int capacity) {
    if (E <= 0) return pm_fail(be, "moe_plan", "no experts (E=%d)", E);
    int NK = N * k, nchunks = (NK + OCL_PLAN_CHUNK - 1) / OCL_PLAN_CHUNK;
    /* chunk-by-expert prefixes, then each expert's kept count */
    pm_ref prefix = ocl_scratch(be, "moe_plan", sizeof(cl_int) * ((size_t)nchunks + 1) * E);
    if (!prefix.buf) return PM_ERR;
    ocl_grid per_chunk = ocl_plane(E, nchunks);
    OCL_RUN(be, "moe_plan", moe_plan_count, per_chunk, A_REF(prefix), A_REF(ids), A_INT(NK),
            A_INT(E), A_INT(nchunks), A_FAULT(be));
    OCL_RUN(be, "moe_plan", moe_plan_scan, ocl_rows(1, 1, 1), A_REF(prefix), A_REF(offsets),
            A_INT(E), A_INT(nchunks), A_INT(capacity));
    return OCL_RUN(be, "moe_plan", moe_plan_scatter, per_chunk, A_REF(slots), A_REF(ids),
                   A_REF(prefix), A_REF(offsets), A_INT(NK), A_INT(E), A_INT(nchunks),
                   A_INT(capacity));
}

int ocl_moe_permute(pm_backend *be, pm_ref xp, pm_ref x, pm_ref slots, int N, int k, int C) {
    return OCL_RUN(be, "moe_permute", moe_permute, ocl_plane(C, (size_t)N * k), A_REF(xp),
                   A_REF(x), A_REF(slots), A_INT(N * k), A_INT(k), A_INT(C),
                   A_LONG(pm_rows_in(xp, C)), A_FAULT(be));
}

int ocl_moe_permute_bwd(pm_backend *be, pm_ref dx, pm_ref dxp, pm_ref slots, int N, int k,
                        int C) {
    return OCL_RUN(be, "moe_permute_bwd", moe_permute_bwd, ocl_plane(C, N), A_REF(dx),
                   A_REF(dxp), A_REF(slots), A_INT(N), A_INT(k), A_INT(C),
                   A_LONG(pm_rows_in(dxp, C)), A_FAULT(be));
}

int ocl_moe_combine(pm_backend *be, pm_ref y, pm_ref yp, pm_ref slots, pm_ref gates, int N, int k,
                    int C) {
    return OCL_RUN(be, "moe_combine", moe_combine, ocl_plane(C, N), A_REF(y), A_REF(yp),
                   A_REF(slots), A_REF(gates), A_INT(N), A_INT(k), A_INT(C),
                   A_LONG(pm_rows_in(yp, C)), A_FAULT(be));
}

int ocl_moe_combine_bwd(pm_backend *be, pm_ref dyp, pm_ref dgates, pm_ref dy, pm_ref yp,
                        pm_ref slots, pm_ref gates, int N, int k, int C) {
    return OCL_RUN(be, "moe_combine_bwd", moe_combine_bwd, ocl_rows((size_t)N * k, 1, 1),
                   A_REF(dyp), A_REF(dgates), A_REF(dy), A_REF(yp), A_REF(slots), A_REF(gates),
                   A_INT(k), A_INT(C), A_LONG(pm_rows_in_both(yp, dyp, C)), A_FAULT(be));
}
