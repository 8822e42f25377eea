/* Layernorm in float, a row per iteration, the channel loops vectorised. The backward's
 * parameter sums are per-thread partial sums added in thread order. */
#include "cpu_ops.h"

#include <math.h>
#include <stdlib.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define PARALLEL_MIN 65536

int cpu_layernorm_fwd(pm_backend *be, pm_ref out, pm_ref mean, pm_ref rstd, pm_ref inp, pm_ref w,
                      pm_ref b, int N, int C) {
    (void)be;
    const float *wt = pm_f32(w), *bs = pm_f32(b);
#pragma omp parallel for schedule(static) if ((long)N * C > PARALLEL_MIN)
    for (int i = 0; i < N; i++) {
        const float *x = pm_f32(inp) + (long)i * C;
        float *o = pm_f32(out) + (long)i * C;
        float m = 0, v = 0;
#pragma omp simd reduction(+ : m)
        for (int c = 0; c < C; c++) m += x[c];
        m /= C;
#pragma omp simd reduction(+ : v)
        for (int c = 0; c < C; c++) v += (x[c] - m) * (x[c] - m);
        float s = 1.0f / sqrtf(v / C + 1e-5f);
#pragma omp simd
        for (int c = 0; c < C; c++) o[c] = (x[c] - m) * s * wt[c] + bs[c];
        pm_f32(mean)[i] = m;
        pm_f32(rstd)[i] = s;
    }
    return PM_OK;
}

int cpu_layernorm_bwd(pm_backend *be, pm_ref dinp, pm_ref dw, pm_ref db, pm_ref dout, pm_ref inp,
                      pm_ref w, pm_ref mean, pm_ref rstd, int N, int C) {
    int nt = 1;
#ifdef _OPENMP
    if ((long)N * C > PARALLEL_MIN) nt = omp_get_max_threads();
#endif
    float *part = calloc((size_t)nt * 2 * C, sizeof *part); /* per thread: dw sums, db sums */
    if (!part) return pm_fail(be, "layernorm_bwd", "out of host memory");
    const float *wt = pm_f32(w);
#pragma omp parallel num_threads(nt)
    {
        int id = 0;
#ifdef _OPENMP
        id = omp_get_thread_num();
#endif
        float *pdw = part + (size_t)id * 2 * C, *pdb = pdw + C;
#pragma omp for schedule(static)
        for (int i = 0; i < N; i++) {
            const float *x = pm_f32(inp) + (long)i * C, *dy = pm_f32(dout) + (long)i * C;
            float *dx = pm_f32(dinp) + (long)i * C;
            float m = pm_f32(mean)[i], s = pm_f32(rstd)[i], mean_dn = 0, mean_dnx = 0;
#pragma omp simd reduction(+ : mean_dn, mean_dnx)
            for (int c = 0; c < C; c++) {
                float dn = wt[c] * dy[c];
                mean_dn += dn;
                mean_dnx += dn * (x[c] - m) * s;
            }
            mean_dn /= C;
            mean_dnx /= C;
#pragma omp simd
            for (int c = 0; c < C; c++) {
                float xhat = (x[c] - m) * s;
                dx[c] += (wt[c] * dy[c] - mean_dn - xhat * mean_dnx) * s;
                pdw[c] += xhat * dy[c];
                pdb[c] += dy[c];
            }
        }
    }
    for (int t = 0; t < nt; t++)
        for (int c = 0; c < C; c++) {
            pm_f32(dw)[c] += part[(size_t)t * 2 * C + c];
            pm_f32(db)[c] += part[(size_t)t * 2 * C + C + c];
        }
    free(part);
    return PM_OK;
}
