/* Fused softmax + cross-entropy (kernels/opencl/loss.cl). */
#include "ocl.h"

int ocl_xent_fwd(pm_backend *be, pm_ref losses, pm_ref logits, pm_ref targets, int N, int V) {
    return OCL_RUN(be, "xent_fwd", xent_fwd, ocl_rows(N, 1, 1), A_REF(losses), A_REF(logits),
                   A_REF(targets), A_INT(V), A_FAULT(be));
}

int ocl_xent_bwd(pm_backend *be, pm_ref dlogits, pm_ref logits, pm_ref targets, int N, int V,
                 float dloss) {
    return OCL_RUN(be, "xent_bwd", xent_bwd, ocl_rows(N, 1, 1), A_REF(dlogits), A_REF(logits),
                   A_REF(targets), A_INT(V), A_FLOAT(dloss), A_FAULT(be));
}
