/* Elementwise ops on CUDA (kernels/cuda/elementwise.cu): encoder, add, fill, scale, GELU, bias
 * add and grad, router noise. Token ids are checked by the kernels against the rows of wte. */
#include "backends/cuda/cuda_internal.h"

int cuda_encoder_fwd(pm_backend *be, pm_ref out, pm_ref tokens, pm_ref wte, pm_ref wpe, int B,
                     int T, int C) {
    return cuda_check(be, "encoder_fwd",
                      cuk_encoder_fwd(cuda_stream(be), pm_f32(out), pm_i32(tokens), pm_f32(wte),
                                      pm_f32(wpe), B, T, C, pm_rows_in(wte, C), cuda_fault(be)));
}

int cuda_encoder_bwd(pm_backend *be, pm_ref dwte, pm_ref dwpe, pm_ref dout, pm_ref tokens, int B,
                     int T, int C) {
    return cuda_check(be, "encoder_bwd",
                      cuk_encoder_bwd(cuda_stream(be), pm_f32(dwte), pm_f32(dwpe), pm_f32(dout),
                                      pm_i32(tokens), B, T, C, pm_rows_in(dwte, C),
                                      cuda_fault(be)));
}

int cuda_add(pm_backend *be, pm_ref out, pm_ref a, pm_ref b, size_t n) {
    return cuda_check(be, "add", cuk_add(cuda_stream(be), pm_f32(out), pm_f32(a), pm_f32(b), n));
}

int cuda_fill(pm_backend *be, pm_ref x, size_t n, float value) {
    return cuda_check(be, "fill", cuk_fill(cuda_stream(be), pm_f32(x), n, value));
}

int cuda_scale(pm_backend *be, pm_ref x, size_t n, float alpha) {
    return cuda_check(be, "scale", cuk_scale(cuda_stream(be), pm_f32(x), n, alpha));
}

int cuda_gelu_fwd(pm_backend *be, pm_ref out, pm_ref inp, size_t n) {
    return cuda_check(be, "gelu_fwd", cuk_gelu_fwd(cuda_stream(be), pm_f32(out), pm_f32(inp), n));
}

int cuda_gelu_bwd(pm_backend *be, pm_ref dinp, pm_ref inp, pm_ref dout, size_t n) {
    return cuda_check(be, "gelu_bwd", cuk_gelu_bwd(cuda_stream(be), pm_f32(dinp), pm_f32(inp),
                                                   pm_f32(dout), n));
}

/* Offsets are read only with groups > 0 (the reference ignores them otherwise). */
static const int32_t *group_offsets(pm_ref offsets, int groups) {
    return groups > 0 ? pm_i32(offsets) : NULL;
}

int cuda_bias_add(pm_backend *be, pm_ref out, pm_ref bias, int rows, int cols, int groups,
                  pm_ref offsets) {
    return cuda_check(be, "bias_add",
                      cuk_bias_add(cuda_stream(be), pm_f32(out), pm_f32(bias), rows, cols, groups,
                                   group_offsets(offsets, groups)));
}

int cuda_bias_grad(pm_backend *be, pm_ref dbias, pm_ref dout, int rows, int cols, int groups,
                   pm_ref offsets) {
    return cuda_check(be, "bias_grad",
                      cuk_bias_grad(cuda_stream(be), pm_f32(dbias), pm_f32(dout), rows, cols,
                                    groups, group_offsets(offsets, groups)));
}

int cuda_add_noise(pm_backend *be, pm_ref x, size_t n, float std, uint32_t seed) {
    return cuda_check(be, "add_noise", cuk_add_noise(cuda_stream(be), pm_f32(x), n, std, seed));
}
