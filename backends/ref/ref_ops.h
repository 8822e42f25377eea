/* The reference ops (the oracle every backend is checked against): plain loops written to be
 * obviously correct, double accumulation in reductions, never tuned for speed. One family per
 * file (gemm.c, elementwise.c, layernorm.c, attention.c, loss.c, router.c, dispatch.c,
 * optimizer.c). Buffers are host memory (host.c); the fast cpu backend reuses the ops whose
 * cost does not matter from here. */
#ifndef POLYMOE_REF_OPS_H
#define POLYMOE_REF_OPS_H

#include "../backend_impl.h"

/* ref_<op> for every op, one family per file. */
PM_DECLARE_OPS(ref)

/* The device backends' index checks (kernels/fault_sites.h), made at once: PM_OK when each of
 * the n indices lies in 0..limit-1, or is negative where `negative_ok` (ignored targets,
 * dropped slots); else fails with `site`'s fault for the first bad one. */
static inline int ref_check_indices(pm_backend *be, int site, const int32_t *v, long n,
                                    long limit, int negative_ok) {
    for (long i = 0; i < n; i++)
        if (v[i] >= limit || (v[i] < 0 && !negative_ok))
            return pm_fault_fail(be, (pm_fault){site, v[i],
                                                (int32_t)(limit < INT32_MAX ? limit : INT32_MAX)});
    return PM_OK;
}

/* The first offset that breaks the partition is the fault's value, as on the devices. */
static inline int ref_check_offsets(pm_backend *be, int site, const int32_t *off, int groups, int rows) {
    for (int g = 0; g < groups; g++) {
        int lo = off[g], hi = off[g + 1];
        if (lo < 0 || lo > hi || hi > rows)
            return pm_fault_fail(be, (pm_fault){site, lo < 0 || lo > hi ? lo : hi, rows + 1});
    }
    return PM_OK;
}

#endif
