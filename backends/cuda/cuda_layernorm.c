/* Layernorm on CUDA (kernels/cuda/layernorm.cu). */
#include "backends/cuda/cuda_internal.h"

int cuda_layernorm_fwd(pm_backend *be, pm_ref out, pm_ref mean, pm_ref rstd, pm_ref inp,
                       pm_ref w, pm_ref b, int N, int C) {
    return cuda_check(be, "layernorm_fwd",
                      cuk_layernorm_fwd(cuda_stream(be), pm_f32(out), pm_f32(mean), pm_f32(rstd),
                                        pm_f32(inp), pm_f32(w), pm_f32(b), N, C));
}

int cuda_layernorm_bwd(pm_backend *be, pm_ref dinp, pm_ref dw, pm_ref db, pm_ref dout,
                       pm_ref inp, pm_ref w, pm_ref mean, pm_ref rstd, int N, int C) {
    return cuda_check(be, "layernorm_bwd",
                      cuk_layernorm_bwd(cuda_stream(be), pm_f32(dinp), pm_f32(dw), pm_f32(db),
                                        pm_f32(dout), pm_f32(inp), pm_f32(w), pm_f32(mean),
                                        pm_f32(rstd), N, C));
}
