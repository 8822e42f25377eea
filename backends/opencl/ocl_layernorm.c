/* Layernorm forward and backward (kernels/opencl/layernorm.cl). */
#include "ocl.h"

int ocl_layernorm_fwd(pm_backend *be, pm_ref out, pm_ref mean, pm_ref rstd, pm_ref inp, pm_ref w,
                      pm_ref b, int N, int C) {
    return OCL_RUN(be, "layernorm_fwd", layernorm_fwd, ocl_rows(N, 1, 1), A_REF(out),
                   A_REF(mean), A_REF(rstd), A_REF(inp), A_REF(w), A_REF(b), A_INT(C));
}

int ocl_layernorm_bwd(pm_backend *be, pm_ref dinp, pm_ref dw, pm_ref db, pm_ref dout, pm_ref inp,
                      pm_ref w, pm_ref mean, pm_ref rstd, int N, int C) {
    OCL_RUN(be, "layernorm_bwd", layernorm_bwd_input, ocl_rows(N, 1, 1), A_REF(dinp),
            A_REF(dout), A_REF(inp), A_REF(w), A_REF(mean), A_REF(rstd), A_INT(C));
    return OCL_RUN(be, "layernorm_bwd", layernorm_bwd_params, ocl_plane(C, OCL_LANES),
                   A_REF(dw), A_REF(db), A_REF(dout), A_REF(inp), A_REF(mean), A_REF(rstd),
                   A_INT(N), A_INT(C));
}
