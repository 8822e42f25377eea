/* Optimiser ops: the sum of squares behind the global grad norm, and AdamW. */
#include "ref_ops.h"

#include <math.h>

/* Also the cpu backend's: double partial sums are what the reference needs, and the simd
 * lanes and the work threshold are all the fast backend adds. */
int ref_sumsq(pm_backend *be, pm_ref out, pm_ref x, size_t n) {
    (void)be;
    const float *p = pm_f32(x);
    double acc = 0;
#pragma omp parallel for simd reduction(+ : acc) schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) acc += (double)p[i] * p[i];
    pm_f32(out)[0] = (float)acc;
    return PM_OK;
}

int ref_adamw(pm_backend *be, pm_ref params, pm_ref grads, pm_ref m, pm_ref v, size_t n, float lr,
              float beta1, float beta2, float eps, float weight_decay, int step,
              float grad_scale) {
    (void)be;
    float *w = pm_f32(params), *mm = pm_f32(m), *vv = pm_f32(v);
    const float *g = pm_f32(grads);
    double c1 = 1.0 - pow(beta1, step), c2 = 1.0 - pow(beta2, step);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        float gi = g[i] * grad_scale;
        mm[i] = beta1 * mm[i] + (1.0f - beta1) * gi;
        vv[i] = beta2 * vv[i] + (1.0f - beta2) * gi * gi;
        double mhat = mm[i] / c1, vhat = vv[i] / c2;
        w[i] -= (float)(lr * (mhat / (sqrt(vhat) + eps) + weight_decay * w[i]));
    }
    return PM_OK;
}
