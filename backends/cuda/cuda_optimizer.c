/* The optimiser on CUDA (kernels/cuda/optimizer.cu): the sum of squares behind the grad
 * norm, AdamW. */
#include "backends/cuda/cuda_internal.h"

#include <math.h>

int cuda_sumsq(pm_backend *be, pm_ref out, pm_ref x, size_t n) {
    void *scratch;
    if (cuda_scratch(be, "sumsq", cuk_sumsq_scratch_bytes(), &scratch) != PM_OK) return PM_ERR;
    return cuda_check(be, "sumsq", cuk_sumsq(cuda_stream(be), pm_f32(out), pm_f32(x), n, scratch));
}

int cuda_adamw(pm_backend *be, pm_ref params, pm_ref grads, pm_ref m, pm_ref v, size_t n,
               float lr, float beta1, float beta2, float eps, float weight_decay, int step,
               float grad_scale) {
    const float c1 = (float)(1.0 - pow(beta1, step)), c2 = (float)(1.0 - pow(beta2, step));
    return cuda_check(be, "adamw",
                      cuk_adamw(cuda_stream(be), pm_f32(params), pm_f32(grads), pm_f32(m),
                                pm_f32(v), n, lr, beta1, beta2, eps, weight_decay, c1, c2,
                                grad_scale));
}
