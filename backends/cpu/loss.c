/* Fused softmax + cross-entropy in float, one row per iteration, vectorised exp. */
#include "cpu_ops.h"
#include "vec_math.h"

#include <math.h>

#define PARALLEL_MIN 65536

/* log-sum-exp of one row */
static float row_lse(const float *x, int V) {
    float m = x[0], s = 0;
    for (int v = 1; v < V; v++) m = x[v] > m ? x[v] : m;
#pragma omp simd reduction(+ : s)
    for (int v = 0; v < V; v++) s += cpu_expf(x[v] - m);
    return m + logf(s);
}

int cpu_xent_fwd(pm_backend *be, pm_ref losses, pm_ref logits, pm_ref targets, int N, int V) {
    const int32_t *t = pm_i32(targets);
    if (ref_check_indices(be, PM_FAULT_XENT_FWD_TARGET, t, N, V, 1) != PM_OK) return PM_ERR;
#pragma omp parallel for schedule(static) if ((long)N * V > PARALLEL_MIN)
    for (int i = 0; i < N; i++) {
        const float *x = pm_f32(logits) + (long)i * V;
        pm_f32(losses)[i] = t[i] < 0 ? 0.0f : row_lse(x, V) - x[t[i]];
    }
    return PM_OK;
}

int cpu_xent_bwd(pm_backend *be, pm_ref dlogits, pm_ref logits, pm_ref targets, int N, int V,
                 float dloss) {
    const int32_t *t = pm_i32(targets);
    if (ref_check_indices(be, PM_FAULT_XENT_BWD_TARGET, t, N, V, 1) != PM_OK) return PM_ERR;
#pragma omp parallel for schedule(static) if ((long)N * V > PARALLEL_MIN)
    for (int i = 0; i < N; i++) {
        const float *x = pm_f32(logits) + (long)i * V;
        float *dx = pm_f32(dlogits) + (long)i * V;
        if (t[i] < 0) {
            for (int v = 0; v < V; v++) dx[v] = 0.0f;
            continue;
        }
        float lse = row_lse(x, V);
#pragma omp simd
        for (int v = 0; v < V; v++) dx[v] = cpu_expf(x[v] - lse) * dloss;
        dx[t[i]] -= dloss;
    }
    return PM_OK;
}
