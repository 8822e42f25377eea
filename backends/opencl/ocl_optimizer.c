/* Optimiser ops: sum of squares and AdamW (kernels/opencl/optimizer.cl). */
#include "ocl.h"

#include <math.h>

/* Work-groups of the first sumsq pass: enough to fill a GPU, few enough for one group to
 * add their partial sums. */
enum { SUMSQ_GROUPS = 256 };

int ocl_sumsq(pm_backend *be, pm_ref out, pm_ref x, size_t n) {
    size_t groups = (n + OCL_WG - 1) / OCL_WG;
    if (groups > SUMSQ_GROUPS) groups = SUMSQ_GROUPS;
    if (groups == 0) groups = 1; /* n == 0 still writes out[0] = 0 */
    pm_ref partial = ocl_scratch(be, "sumsq", sizeof(float) * groups);
    if (!partial.buf) return PM_ERR;
    OCL_RUN(be, "sumsq", sumsq_partial, ocl_rows(groups, 1, 1), A_REF(partial), A_REF(x),
            A_SIZE(n));
    return OCL_RUN(be, "sumsq", sumsq_final, ocl_rows(1, 1, 1), A_REF(out), A_REF(partial),
                   A_INT(groups));
}

int ocl_adamw(pm_backend *be, pm_ref params, pm_ref grads, pm_ref m, pm_ref v, size_t n, float lr,
              float beta1, float beta2, float eps, float weight_decay, int step,
              float grad_scale) {
    /* the bias corrections in double on the host, as the reference computes them */
    double c1 = 1.0 - pow(beta1, step), c2 = 1.0 - pow(beta2, step);
    return OCL_RUN(be, "adamw", adamw, ocl_items(n, OCL_WG), A_REF(params), A_REF(grads), A_REF(m),
                   A_REF(v), A_SIZE(n), A_FLOAT(lr), A_FLOAT(beta1), A_FLOAT(beta2), A_FLOAT(eps),
                   A_FLOAT(weight_decay), A_FLOAT(1.0 / c1), A_FLOAT(1.0 / c2),
                   A_FLOAT(grad_scale));
}
