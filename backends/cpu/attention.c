/* Causal attention through GEMMs: per (batch, head), scores = Q K^T and out = P V as BLAS
 * calls with a float softmax between them, and the backward as four more. Rows go in blocks
 * of ATT_BLOCK, and a block's GEMMs stop at its last row's column, so the masked upper
 * triangle is mostly never computed. The (batch, head) pairs are the parallel unit. */
#include "cpu_ops.h"
#include "vec_math.h"

#include <math.h>

#define ATT_BLOCK 32

static int min_int(int a, int b) { return a < b ? a : b; }

/* a[0..n) = softmax(a[0..n)); a[n..T) = 0 (masked). */
static void causal_softmax_row(float *a, int n, int T) {
    float maxv = a[0];
    for (int j = 1; j < n; j++) maxv = a[j] > maxv ? a[j] : maxv;
    float sum = 0;
    for (int j = 0; j < n; j++) {
        a[j] = cpu_expf(a[j] - maxv);
        sum += a[j];
    }
    float inv = 1.0f / sum;
    for (int j = 0; j < n; j++) a[j] *= inv;
    for (int j = n; j < T; j++) a[j] = 0.0f;
}

/* One head: qkv points at its q columns in row 0 (k at +C, v at +2C, rows 3C apart). */
static void head_fwd(float *out, float *att, const float *qkv, int T, int C, int hs, float scale) {
    const float *q = qkv, *k = qkv + C, *v = qkv + 2 * C;
    for (int r0 = 0; r0 < T; r0 += ATT_BLOCK) {
        int r1 = min_int(r0 + ATT_BLOCK, T), rows = r1 - r0;
        cpu_sgemm_one(&(cpu_sgemm){0, 1, rows, r1, hs, scale, 0.0f, q + (long)r0 * 3 * C, k,
                                   att + (long)r0 * T, 3 * C, 3 * C, T});
        for (int t = r0; t < r1; t++) causal_softmax_row(att + (long)t * T, t + 1, T);
        cpu_sgemm_one(&(cpu_sgemm){0, 0, rows, hs, r1, 1.0f, 0.0f, att + (long)r0 * T, v,
                                   out + (long)r0 * C, T, 3 * C, C});
    }
}

int cpu_attention_fwd(pm_backend *be, pm_ref out, pm_ref att, pm_ref qkv, int B, int T, int C,
                      int NH) {
    if (C % NH) return pm_fail(be, "attention_fwd", "C=%d is not a multiple of NH=%d", C, NH);
    int hs = C / NH;
    float scale = (float)(1.0 / sqrt(hs));
#pragma omp parallel for collapse(2) schedule(dynamic, 1) if ((long)B * NH > 1 && (long)T * T * C > 100000)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            head_fwd(pm_f32(out) + (long)b * T * C + h * hs,
                     pm_f32(att) + ((long)b * NH + h) * T * T,
                     pm_f32(qkv) + (long)b * T * 3 * C + h * hs, T, C, hs, scale);
    return PM_OK;
}

/* One head's backward; dqkv as qkv. datt first holds dP = dO V^T, then dS, the gradient of
 * the scaled scores: P * (dP - sum_j P dP) * scale, zero above the diagonal. */
static void head_bwd(float *dqkv, float *datt, const float *dout, const float *qkv,
                     const float *att, int T, int C, int hs, float scale) {
    const float *q = qkv, *k = qkv + C, *v = qkv + 2 * C;
    float *dq = dqkv, *dk = dqkv + C, *dv = dqkv + 2 * C;
    for (int r0 = 0; r0 < T; r0 += ATT_BLOCK) {
        int r1 = min_int(r0 + ATT_BLOCK, T), rows = r1 - r0;
        cpu_sgemm_one(&(cpu_sgemm){0, 1, rows, r1, hs, 1.0f, 0.0f, dout + (long)r0 * C, v,
                                   datt + (long)r0 * T, C, 3 * C, T});
        for (int t = r0; t < r1; t++) {
            const float *p = att + (long)t * T;
            float *d = datt + (long)t * T, dot = 0;
            for (int j = 0; j <= t; j++) dot += p[j] * d[j];
            for (int j = 0; j <= t; j++) d[j] = p[j] * (d[j] - dot) * scale;
            for (int j = t + 1; j < r1; j++) d[j] = 0.0f;
        }
        cpu_sgemm_one(&(cpu_sgemm){0, 0, rows, hs, r1, 1.0f, 0.0f, datt + (long)r0 * T, k,
                                   dq + (long)r0 * 3 * C, T, 3 * C, 3 * C});
    }
    /* Key/value rows j0..j1 take gradient from query rows j0..T-1 only (causality). */
    for (int j0 = 0; j0 < T; j0 += ATT_BLOCK) {
        int cols = min_int(j0 + ATT_BLOCK, T) - j0, below = T - j0;
        cpu_sgemm_one(&(cpu_sgemm){1, 0, cols, hs, below, 1.0f, 0.0f, att + (long)j0 * T + j0,
                                   dout + (long)j0 * C, dv + (long)j0 * 3 * C, T, C, 3 * C});
        cpu_sgemm_one(&(cpu_sgemm){1, 0, cols, hs, below, 1.0f, 0.0f, datt + (long)j0 * T + j0,
                                   q + (long)j0 * 3 * C, dk + (long)j0 * 3 * C, T, 3 * C, 3 * C});
    }
}

int cpu_attention_bwd(pm_backend *be, pm_ref dqkv, pm_ref datt, pm_ref dout, pm_ref qkv,
                      pm_ref att, int B, int T, int C, int NH) {
    if (C % NH) return pm_fail(be, "attention_bwd", "C=%d is not a multiple of NH=%d", C, NH);
    int hs = C / NH;
    float scale = (float)(1.0 / sqrt(hs));
#pragma omp parallel for collapse(2) schedule(dynamic, 1) if ((long)B * NH > 1 && (long)T * T * C > 100000)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
            long head = ((long)b * NH + h) * T * T, row = (long)b * T * 3 * C + h * hs;
            head_bwd(pm_f32(dqkv) + row, pm_f32(datt) + head, pm_f32(dout) + (long)b * T * C + h * hs,
                     pm_f32(qkv) + row, pm_f32(att) + head, T, C, hs, scale);
        }
    return PM_OK;
}
