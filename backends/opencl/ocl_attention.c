/* Causal self-attention forward and backward (kernels/opencl/attention.cl). */
#include "ocl.h"

static int check_heads(pm_backend *be, const char *op, int C, int NH) {
    if (NH > 0 && C % NH == 0) return PM_OK;
    return pm_fail(be, op, "C=%d is not a multiple of NH=%d", C, NH);
}

int ocl_attention_fwd(pm_backend *be, pm_ref out, pm_ref att, pm_ref qkv, int B, int T, int C,
                      int NH) {
    if (check_heads(be, "attention_fwd", C, NH) != PM_OK) return PM_ERR;
    return OCL_RUN(be, "attention_fwd", attention_fwd, ocl_rows(T, NH, B), A_REF(out),
                   A_REF(att), A_REF(qkv), A_INT(T), A_INT(C), A_INT(NH));
}

int ocl_attention_bwd(pm_backend *be, pm_ref dqkv, pm_ref datt, pm_ref dout, pm_ref qkv,
                      pm_ref att, int B, int T, int C, int NH) {
    if (check_heads(be, "attention_bwd", C, NH) != PM_OK) return PM_ERR;
    OCL_RUN(be, "attention_bwd", attention_bwd_datt, ocl_rows(T, NH, B), A_REF(datt),
            A_REF(dout), A_REF(qkv), A_REF(att), A_INT(T), A_INT(C), A_INT(NH));
    ocl_grid per_element = {3, {C, T, B}, {OCL_LANES, OCL_LANES, 1}};
    return OCL_RUN(be, "attention_bwd", attention_bwd_dqkv, per_element, A_REF(dqkv),
                   A_REF(datt), A_REF(dout), A_REF(qkv), A_REF(att), A_INT(T), A_INT(C),
                   A_INT(NH));
}
