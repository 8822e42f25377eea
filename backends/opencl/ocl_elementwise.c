/* Elementwise ops: encoder, add, fill, scale, GELU, bias, router noise
 * (kernels/opencl/elementwise.cl). */
#include "ocl.h"

int ocl_encoder_fwd(pm_backend *be, pm_ref out, pm_ref tokens, pm_ref wte, pm_ref wpe, int B,
                    int T, int C) {
    return OCL_RUN(be, "encoder_fwd", encoder_fwd, ocl_plane(C, (size_t)B * T), A_REF(out),
                   A_REF(tokens), A_REF(wte), A_REF(wpe), A_INT(B * T), A_INT(T), A_INT(C),
                   A_LONG(pm_rows_in(wte, C)), A_FAULT(be));
}

int ocl_encoder_bwd(pm_backend *be, pm_ref dwte, pm_ref dwpe, pm_ref dout, pm_ref tokens, int B,
                    int T, int C) {
    OCL_RUN(be, "encoder_bwd", encoder_bwd_wte, ocl_plane(C, (size_t)B * T), A_REF(dwte),
            A_REF(dout), A_REF(tokens), A_INT(B * T), A_INT(C), A_LONG(pm_rows_in(dwte, C)),
            A_FAULT(be));
    return OCL_RUN(be, "encoder_bwd", encoder_bwd_wpe, ocl_plane(C, T), A_REF(dwpe), A_REF(dout),
                   A_INT(B), A_INT(T), A_INT(C));
}

int ocl_add(pm_backend *be, pm_ref out, pm_ref a, pm_ref b, size_t n) {
    return OCL_RUN(be, "add", add, ocl_items(n, OCL_WG), A_REF(out), A_REF(a), A_REF(b),
                   A_SIZE(n));
}

int ocl_fill(pm_backend *be, pm_ref x, size_t n, float value) {
    return OCL_RUN(be, "fill", fill, ocl_items(n, OCL_WG), A_REF(x), A_SIZE(n), A_FLOAT(value));
}

int ocl_scale(pm_backend *be, pm_ref x, size_t n, float alpha) {
    return OCL_RUN(be, "scale", scale, ocl_items(n, OCL_WG), A_REF(x), A_SIZE(n), A_FLOAT(alpha));
}

int ocl_gelu_fwd(pm_backend *be, pm_ref out, pm_ref inp, size_t n) {
    return OCL_RUN(be, "gelu_fwd", gelu_fwd, ocl_items(n, OCL_WG), A_REF(out), A_REF(inp),
                   A_SIZE(n));
}

int ocl_gelu_bwd(pm_backend *be, pm_ref dinp, pm_ref inp, pm_ref dout, size_t n) {
    return OCL_RUN(be, "gelu_bwd", gelu_bwd, ocl_items(n, OCL_WG), A_REF(dinp), A_REF(inp),
                   A_REF(dout), A_SIZE(n));
}

int ocl_bias_add(pm_backend *be, pm_ref out, pm_ref bias, int rows, int cols, int groups,
                 pm_ref offsets) {
    return OCL_RUN(be, "bias_add", bias_add, ocl_plane(cols, rows), A_REF(out), A_REF(bias),
                   A_INT(rows), A_INT(cols), A_INT(groups), A_REF(offsets));
}

int ocl_bias_grad(pm_backend *be, pm_ref dbias, pm_ref dout, int rows, int cols, int groups,
                  pm_ref offsets) {
    /* one row of work-groups per bias row */
    size_t bias_rows = groups ? (size_t)groups : 1;
    return OCL_RUN(be, "bias_grad", bias_grad, ocl_plane(cols, bias_rows * OCL_LANES),
                   A_REF(dbias), A_REF(dout), A_INT(rows), A_INT(cols), A_INT(groups),
                   A_REF(offsets));
}

int ocl_add_noise(pm_backend *be, pm_ref x, size_t n, float std, uint32_t seed) {
    return OCL_RUN(be, "add_noise", add_noise, ocl_items(n, OCL_WG), A_REF(x), A_SIZE(n),
                   A_FLOAT(std), A_UINT(seed));
}
