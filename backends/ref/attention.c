/* Causal multi-head self-attention, forward and backward, straight from the definition. */
#include "ref_ops.h"

#include <math.h>
#include <string.h>

int ref_attention_fwd(pm_backend *be, pm_ref out, pm_ref att, pm_ref qkv, int B, int T, int C,
                      int NH) {
    if (C % NH) return pm_fail(be, "attention_fwd", "C=%d is not a multiple of NH=%d", C, NH);
    int hs = C / NH;
    double scale = 1.0 / sqrt(hs);
#pragma omp parallel for collapse(3) schedule(static)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int t = 0; t < T; t++) {
                const float *q = pm_f32(qkv) + ((long)b * T + t) * 3 * C + h * hs;
                float *a = pm_f32(att) + (((long)b * NH + h) * T + t) * T;
                double maxv = -INFINITY;
                for (int t2 = 0; t2 <= t; t2++) {
                    const float *k = pm_f32(qkv) + ((long)b * T + t2) * 3 * C + C + h * hs;
                    double dot = 0;
                    for (int i = 0; i < hs; i++) dot += (double)q[i] * k[i];
                    a[t2] = (float)(dot * scale);
                    if (a[t2] > maxv) maxv = a[t2];
                }
                double sum = 0;
                for (int t2 = 0; t2 <= t; t2++) sum += exp(a[t2] - maxv);
                for (int t2 = 0; t2 <= t; t2++) a[t2] = (float)(exp(a[t2] - maxv) / sum);
                for (int t2 = t + 1; t2 < T; t2++) a[t2] = 0.0f;
                float *o = pm_f32(out) + ((long)b * T + t) * C + h * hs;
                for (int i = 0; i < hs; i++) {
                    double acc = 0;
                    for (int t2 = 0; t2 <= t; t2++)
                        acc += (double)a[t2] * pm_f32(qkv)[((long)b * T + t2) * 3 * C + 2 * C + h * hs + i];
                    o[i] = (float)acc;
                }
            }
    return PM_OK;
}

int ref_attention_bwd(pm_backend *be, pm_ref dqkv, pm_ref datt, pm_ref dout, pm_ref qkv,
                      pm_ref att, int B, int T, int C, int NH) {
    if (C % NH) return pm_fail(be, "attention_bwd", "C=%d is not a multiple of NH=%d", C, NH);
    int hs = C / NH;
    double scale = 1.0 / sqrt(hs);
    memset(pm_f32(dqkv), 0, sizeof(float) * (size_t)B * T * 3 * C);
    /* Each (b, h) owns its own columns of dqkv, so the pairs run in parallel. */
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
            const float *base = pm_f32(qkv) + (long)b * T * 3 * C + h * hs;
            float *dbase = pm_f32(dqkv) + (long)b * T * 3 * C + h * hs;
            for (int t = 0; t < T; t++) {
                const float *a = pm_f32(att) + (((long)b * NH + h) * T + t) * T;
                float *da = pm_f32(datt) + (((long)b * NH + h) * T + t) * T;
                const float *dy = pm_f32(dout) + ((long)b * T + t) * C + h * hs;
                /* through out = att . v */
                double dot_sum = 0;
                for (int t2 = 0; t2 <= t; t2++) {
                    const float *v = base + (long)t2 * 3 * C + 2 * C;
                    float *dv = dbase + (long)t2 * 3 * C + 2 * C;
                    double d = 0;
                    for (int i = 0; i < hs; i++) {
                        d += (double)dy[i] * v[i];
                        dv[i] += a[t2] * dy[i];
                    }
                    da[t2] = (float)d;
                    dot_sum += d * a[t2];
                }
                /* through the softmax, then the scaled q . k */
                const float *q = base + (long)t * 3 * C;
                float *dq = dbase + (long)t * 3 * C;
                for (int t2 = 0; t2 <= t; t2++) {
                    double dpre = a[t2] * (da[t2] - dot_sum) * scale;
                    const float *k = base + (long)t2 * 3 * C + C;
                    float *dk = dbase + (long)t2 * 3 * C + C;
                    for (int i = 0; i < hs; i++) {
                        dq[i] += (float)(dpre * k[i]);
                        dk[i] += (float)(dpre * q[i]);
                    }
                    da[t2] = (float)dpre;
                }
                for (int t2 = t + 1; t2 < T; t2++) da[t2] = 0.0f;
            }
        }
    return PM_OK;
}
