/* Layernorm forward and backward over the last dimension, eps 1e-5 as GPT-2. */
#include "ref_ops.h"

#include <math.h>
#include <stdlib.h>

int ref_layernorm_fwd(pm_backend *be, pm_ref out, pm_ref mean, pm_ref rstd, pm_ref inp, pm_ref w,
                      pm_ref b, int N, int C) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        const float *x = pm_f32(inp) + (long)i * C;
        double m = 0, v = 0;
        for (int c = 0; c < C; c++) m += x[c];
        m /= C;
        for (int c = 0; c < C; c++) v += (x[c] - m) * (x[c] - m);
        v /= C;
        double s = 1.0 / sqrt(v + 1e-5);
        float *o = pm_f32(out) + (long)i * C;
        for (int c = 0; c < C; c++)
            o[c] = (float)((x[c] - m) * s * pm_f32(w)[c] + pm_f32(b)[c]);
        pm_f32(mean)[i] = (float)m;
        pm_f32(rstd)[i] = (float)s;
    }
    return PM_OK;
}

int ref_layernorm_bwd(pm_backend *be, pm_ref dinp, pm_ref dw, pm_ref db, pm_ref dout, pm_ref inp,
                      pm_ref w, pm_ref mean, pm_ref rstd, int N, int C) {
    double *dw_acc = calloc((size_t)C * 2, sizeof(double));
    if (!dw_acc) return pm_fail(be, "layernorm_bwd", "out of host memory");
    double *db_acc = dw_acc + C;
    /* Rows are independent for dinp; the parameter sums are reduced serially (exact order). */
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        const float *x = pm_f32(inp) + (long)i * C, *dy = pm_f32(dout) + (long)i * C;
        double m = pm_f32(mean)[i], s = pm_f32(rstd)[i];
        double mean_dn = 0, mean_dnx = 0;
        for (int c = 0; c < C; c++) {
            double dn = (double)pm_f32(w)[c] * dy[c];
            mean_dn += dn;
            mean_dnx += dn * (x[c] - m) * s;
        }
        mean_dn /= C;
        mean_dnx /= C;
        float *dx = pm_f32(dinp) + (long)i * C;
        for (int c = 0; c < C; c++) {
            double xhat = (x[c] - m) * s;
            double dn = (double)pm_f32(w)[c] * dy[c];
            dx[c] += (float)((dn - mean_dn - xhat * mean_dnx) * s);
        }
    }
    for (int i = 0; i < N; i++) {
        const float *x = pm_f32(inp) + (long)i * C, *dy = pm_f32(dout) + (long)i * C;
        double m = pm_f32(mean)[i], s = pm_f32(rstd)[i];
        for (int c = 0; c < C; c++) {
            dw_acc[c] += (x[c] - m) * s * dy[c];
            db_acc[c] += dy[c];
        }
    }
    for (int c = 0; c < C; c++) {
        pm_f32(dw)[c] += (float)dw_acc[c];
        pm_f32(db)[c] += (float)db_acc[c];
    }
    free(dw_acc);
    return PM_OK;
}
