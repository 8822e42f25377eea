/* Elementwise ops: encoder, add, fill, scale, GELU, bias, router noise. */
#include "ref_ops.h"
#include "../pm_rng.h"

#include <math.h>

int ref_encoder_fwd(pm_backend *be, pm_ref out, pm_ref tokens, pm_ref wte, pm_ref wpe, int B,
                    int T, int C) {
    const int32_t *tok = pm_i32(tokens);
    if (ref_check_indices(be, PM_FAULT_ENCODER_FWD_TOKEN, tok, (long)B * T, pm_rows_in(wte, C),
                          0) != PM_OK)
        return PM_ERR;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < (long)B * T; i++) {
        float *o = pm_f32(out) + i * C;
        const float *e = pm_f32(wte) + (long)tok[i] * C;
        const float *p = pm_f32(wpe) + (i % T) * C;
        for (int c = 0; c < C; c++) o[c] = e[c] + p[c];
    }
    return PM_OK;
}

int ref_encoder_bwd(pm_backend *be, pm_ref dwte, pm_ref dwpe, pm_ref dout, pm_ref tokens, int B,
                    int T, int C) {
    const int32_t *tok = pm_i32(tokens);
    if (ref_check_indices(be, PM_FAULT_ENCODER_BWD_TOKEN, tok, (long)B * T, pm_rows_in(dwte, C),
                          0) != PM_OK)
        return PM_ERR;
    /* Serial over tokens: two tokens may share an embedding row. */
    for (long i = 0; i < (long)B * T; i++) {
        const float *d = pm_f32(dout) + i * C;
        float *e = pm_f32(dwte) + (long)tok[i] * C;
        float *p = pm_f32(dwpe) + (i % T) * C;
        for (int c = 0; c < C; c++) {
            e[c] += d[c];
            p[c] += d[c];
        }
    }
    return PM_OK;
}

int ref_add(pm_backend *be, pm_ref out, pm_ref a, pm_ref b, size_t n) {
    (void)be;
    float *o = pm_f32(out);
    const float *x = pm_f32(a), *y = pm_f32(b);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) o[i] = x[i] + y[i];
    return PM_OK;
}

int ref_fill(pm_backend *be, pm_ref x, size_t n, float value) {
    (void)be;
    float *p = pm_f32(x);
    for (size_t i = 0; i < n; i++) p[i] = value;
    return PM_OK;
}

int ref_scale(pm_backend *be, pm_ref x, size_t n, float alpha) {
    (void)be;
    float *p = pm_f32(x);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) p[i] *= alpha;
    return PM_OK;
}

#define GELU_SCALE 0.7978845608028654 /* sqrt(2/pi) */

int ref_gelu_fwd(pm_backend *be, pm_ref out, pm_ref inp, size_t n) {
    (void)be;
    float *o = pm_f32(out);
    const float *x = pm_f32(inp);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        double v = x[i];
        o[i] = (float)(0.5 * v * (1.0 + tanh(GELU_SCALE * (v + 0.044715 * v * v * v))));
    }
    return PM_OK;
}

int ref_gelu_bwd(pm_backend *be, pm_ref dinp, pm_ref inp, pm_ref dout, size_t n) {
    (void)be;
    float *dx = pm_f32(dinp);
    const float *x = pm_f32(inp), *dy = pm_f32(dout);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        double v = x[i];
        double u = GELU_SCALE * (v + 0.044715 * v * v * v);
        double t = tanh(u);
        double du = GELU_SCALE * (1.0 + 3.0 * 0.044715 * v * v);
        double grad = 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * du;
        dx[i] = (float)(grad * dy[i]);
    }
    return PM_OK;
}

/* The bias row that row r takes: 0 without groups, its segment with groups, -1 past the end. */
static int bias_row(int r, int groups, const int32_t *off) {
    if (groups == 0) return 0;
    for (int g = 0; g < groups; g++)
        if (r >= off[g] && r < off[g + 1]) return g;
    return -1;
}

int ref_bias_add(pm_backend *be, pm_ref out, pm_ref bias, int rows, int cols, int groups,
                 pm_ref offsets) {
    (void)be;
    const int32_t *off = groups ? pm_i32(offsets) : NULL;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) {
        int g = bias_row(r, groups, off);
        if (g < 0) continue;
        float *o = pm_f32(out) + (long)r * cols;
        const float *bb = pm_f32(bias) + (long)g * cols;
        for (int c = 0; c < cols; c++) o[c] += bb[c];
    }
    return PM_OK;
}

int ref_bias_grad(pm_backend *be, pm_ref dbias, pm_ref dout, int rows, int cols, int groups,
                  pm_ref offsets) {
    (void)be;
    const int32_t *off = groups ? pm_i32(offsets) : NULL;
    int nb = groups ? groups : 1;
#pragma omp parallel for collapse(2) schedule(static)
    for (int g = 0; g < nb; g++)
        for (int c = 0; c < cols; c++) {
            int lo = groups ? off[g] : 0, hi = groups ? off[g + 1] : rows;
            double acc = 0;
            for (int r = lo; r < hi && r < rows; r++) acc += pm_f32(dout)[(long)r * cols + c];
            pm_f32(dbias)[(long)g * cols + c] += (float)acc;
        }
    return PM_OK;
}

int ref_add_noise(pm_backend *be, pm_ref x, size_t n, float std, uint32_t seed) {
    (void)be;
    float *p = pm_f32(x);
    for (size_t i = 0; i < n; i++) p[i] += std * pm_normal(seed, (uint32_t)i);
    return PM_OK;
}
