/* Elementwise ops in float over contiguous runs, so the loops vectorise; a parallel region
 * only where the work pays for it. */
#include "cpu_ops.h"
#include "vec_math.h"


/* Below this many elements a loop runs on one thread. */
#define PARALLEL_MIN 65536

int cpu_add(pm_backend *be, pm_ref out, pm_ref a, pm_ref b, size_t n) {
    (void)be;
    float *o = pm_f32(out);
    const float *x = pm_f32(a), *y = pm_f32(b);
#pragma omp parallel for simd schedule(static) if (n > PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) o[i] = x[i] + y[i];
    return PM_OK;
}

int cpu_fill(pm_backend *be, pm_ref x, size_t n, float value) {
    (void)be;
    float *p = pm_f32(x);
#pragma omp parallel for simd schedule(static) if (n > PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) p[i] = value;
    return PM_OK;
}

/* GPT-2's tanh GELU as x * sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3): the same function
 * (0.5 (1 + tanh u) = sigmoid(2u)) without the cancellation of 1 + tanh u for negative x. */
#define GELU_SCALE 0.7978845608f /* sqrt(2/pi) */
#define GELU_CUBIC 0.044715f

int cpu_gelu_fwd(pm_backend *be, pm_ref out, pm_ref inp, size_t n) {
    (void)be;
    float *o = pm_f32(out);
    const float *x = pm_f32(inp);
#pragma omp parallel for simd schedule(static) if (n > PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) {
        float v = x[i], u = GELU_SCALE * (v + GELU_CUBIC * v * v * v);
        o[i] = v / (1.0f + cpu_expf(-2.0f * u));
    }
    return PM_OK;
}

/* d/dx x s(2u) = s + 2 x s (1 - s) u'(x), s the sigmoid. */
int cpu_gelu_bwd(pm_backend *be, pm_ref dinp, pm_ref inp, pm_ref dout, size_t n) {
    (void)be;
    float *dx = pm_f32(dinp);
    const float *x = pm_f32(inp), *dy = pm_f32(dout);
#pragma omp parallel for simd schedule(static) if (n > PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) {
        float v = x[i], u = GELU_SCALE * (v + GELU_CUBIC * v * v * v);
        float s = 1.0f / (1.0f + cpu_expf(-2.0f * u));
        float du = GELU_SCALE * (1.0f + 3.0f * GELU_CUBIC * v * v);
        dx[i] = (s + 2.0f * v * s * (1.0f - s) * du) * dy[i];
    }
    return PM_OK;
}

/* Row range of bias row g: all rows without groups, segment g with them. */
static void bias_rows(int g, int rows, int groups, const int32_t *off, int *lo, int *hi) {
    *lo = groups ? off[g] : 0;
    *hi = groups ? off[g + 1] : rows;
    if (*hi > rows) *hi = rows;
}

int cpu_bias_add(pm_backend *be, pm_ref out, pm_ref bias, int rows, int cols, int groups,
                 pm_ref offsets) {
    (void)be;
    const int32_t *off = groups ? pm_i32(offsets) : NULL;
    for (int g = 0; g < (groups ? groups : 1); g++) {
        int lo, hi;
        bias_rows(g, rows, groups, off, &lo, &hi);
        const float *bb = pm_f32(bias) + (long)g * cols;
#pragma omp parallel for schedule(static) if ((long)(hi - lo) * cols > PARALLEL_MIN)
        for (int r = lo; r < hi; r++) {
            float *o = pm_f32(out) + (long)r * cols;
#pragma omp simd
            for (int c = 0; c < cols; c++) o[c] += bb[c];
        }
    }
    return PM_OK;
}

/* Column sums: each thread takes a block of columns and runs down the rows, so the inner loop
 * is contiguous and the sums are in row order (the same on any thread count). */
int cpu_bias_grad(pm_backend *be, pm_ref dbias, pm_ref dout, int rows, int cols, int groups,
                  pm_ref offsets) {
    (void)be;
    const int32_t *off = groups ? pm_i32(offsets) : NULL;
    enum { COLS = 64 };
    int col_blocks = (cols + COLS - 1) / COLS, nb = groups ? groups : 1;
#pragma omp parallel for collapse(2) schedule(static) if ((long)rows * cols > PARALLEL_MIN)
    for (int g = 0; g < nb; g++)
        for (int cb = 0; cb < col_blocks; cb++) {
            int lo, hi, c0 = cb * COLS, w = cols - c0 < COLS ? cols - c0 : COLS;
            bias_rows(g, rows, groups, off, &lo, &hi);
            float acc[COLS] = {0};
            for (int r = lo; r < hi; r++) {
                const float *d = pm_f32(dout) + (long)r * cols + c0;
#pragma omp simd
                for (int c = 0; c < w; c++) acc[c] += d[c];
            }
            float *db = pm_f32(dbias) + (long)g * cols + c0;
            for (int c = 0; c < w; c++) db[c] += acc[c];
        }
    return PM_OK;
}
