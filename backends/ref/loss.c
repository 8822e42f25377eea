/* Fused softmax + cross-entropy, forward (per-row loss) and backward. */
#include "ref_ops.h"

#include <math.h>

/* max and log-sum-exp of one row, in double */
static double row_lse(const float *x, int V) {
    double m = -INFINITY, s = 0;
    for (int v = 0; v < V; v++)
        if (x[v] > m) m = x[v];
    for (int v = 0; v < V; v++) s += exp(x[v] - m);
    return m + log(s);
}

int ref_xent_fwd(pm_backend *be, pm_ref losses, pm_ref logits, pm_ref targets, int N, int V) {
    const int32_t *t = pm_i32(targets);
    if (ref_check_indices(be, PM_FAULT_XENT_FWD_TARGET, t, N, V, 1) != PM_OK) return PM_ERR;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        const float *x = pm_f32(logits) + (long)i * V;
        pm_f32(losses)[i] = t[i] < 0 ? 0.0f : (float)(row_lse(x, V) - x[t[i]]);
    }
    return PM_OK;
}

int ref_xent_bwd(pm_backend *be, pm_ref dlogits, pm_ref logits, pm_ref targets, int N, int V,
                 float dloss) {
    const int32_t *t = pm_i32(targets);
    if (ref_check_indices(be, PM_FAULT_XENT_BWD_TARGET, t, N, V, 1) != PM_OK) return PM_ERR;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        const float *x = pm_f32(logits) + (long)i * V;
        float *dx = pm_f32(dlogits) + (long)i * V;
        double lse = t[i] < 0 ? 0 : row_lse(x, V);
        for (int v = 0; v < V; v++) {
            double g = t[i] < 0 ? 0 : exp(x[v] - lse) - (v == t[i]);
            dx[v] = (float)(g * dloss);
        }
    }
    return PM_OK;
}
