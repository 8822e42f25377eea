/* AdamW in float, vectorised. (The sum of squares behind the grad norm is ref's: it keeps
 * double partial sums, since millions of same-signed terms would drift in float.) */
#include "cpu_ops.h"

#include <math.h>

#define PARALLEL_MIN 65536

int cpu_adamw(pm_backend *be, pm_ref params, pm_ref grads, pm_ref m, pm_ref v, size_t n, float lr,
              float beta1, float beta2, float eps, float weight_decay, int step,
              float grad_scale) {
    (void)be;
    float *w = pm_f32(params), *mm = pm_f32(m), *vv = pm_f32(v);
    const float *g = pm_f32(grads);
    /* bias corrections folded into two factors, computed once in double */
    float inv_c1 = (float)(1.0 / (1.0 - pow(beta1, step)));
    float inv_c2 = (float)(1.0 / (1.0 - pow(beta2, step)));
#pragma omp parallel for simd schedule(static) if (n > PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) {
        float gi = g[i] * grad_scale;
        mm[i] = beta1 * mm[i] + (1.0f - beta1) * gi;
        vv[i] = beta2 * vv[i] + (1.0f - beta2) * gi * gi;
        float mhat = mm[i] * inv_c1, vhat = vv[i] * inv_c2;
        w[i] -= lr * (mhat / (sqrtf(vhat) + eps) + weight_decay * w[i]);
    }
    return PM_OK;
}
