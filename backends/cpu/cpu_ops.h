/* The CPU reference ops, one family per file (gemm.c, elementwise.c, layernorm.c,
 * attention.c, loss.c, router.c, dispatch.c, optimizer.c). Buffers are host memory. */
#ifndef POLYMOE_CPU_OPS_H
#define POLYMOE_CPU_OPS_H

#include "../backend_impl.h"

enum { CPU_GEMM_OPENBLAS, CPU_GEMM_NAIVE };

/* cpu_<op> for every op, one family per file. */
PM_DECLARE_OPS(cpu)

/* The device backends' index checks (kernels/fault_sites.h), made at once: PM_OK when each of
 * the n indices lies in 0..limit-1, or is negative where `negative_ok` (ignored targets,
 * dropped slots); else fails with `site`'s fault for the first bad one. */
static inline int cpu_check_indices(pm_backend *be, int site, const int32_t *v, long n,
                                    long limit, int negative_ok) {
    for (long i = 0; i < n; i++)
        if (v[i] >= limit || (v[i] < 0 && !negative_ok))
            return pm_fault_fail(be, (pm_fault){site, v[i],
                                                (int32_t)(limit < INT32_MAX ? limit : INT32_MAX)});
    return PM_OK;
}

#endif
