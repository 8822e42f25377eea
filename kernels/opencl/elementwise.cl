/* Elementwise ops: encoder, add, fill, scale, GELU, bias, router noise. Every buffer argument
 * is a pointer and an element offset (the host passes pm_ref offsets this way, not
 * sub-buffers). */

/* out[i,:] = wte[tokens[i],:] + wpe[i % T,:] over (c, i); a token outside the wte_rows rows
 * is a fault and its row is left alone. */
__kernel void encoder_fwd(__global float *out, ulong out_off, __global const int *tokens,
                          ulong tok_off, __global const float *wte, ulong wte_off,
                          __global const float *wpe, ulong wpe_off, int n_tok, int T, int C,
                          long wte_rows, __global int *fault) {
    int c = get_global_id(0), i = get_global_id(1);
    if (c >= C || i >= n_tok) return;
    int tok = tokens[tok_off + i];
    if (!index_ok(fault, PM_FAULT_ENCODER_FWD_TOKEN, tok, wte_rows)) return;
    out[out_off + (long)i * C + c] =
        wte[wte_off + (long)tok * C + c] + wpe[wpe_off + (long)(i % T) * C + c];
}

/* dwte[tokens[i],:] += dout[i,:] over (c, i): tokens may repeat, so the adds are atomic. */
__kernel void encoder_bwd_wte(__global float *dwte, ulong dwte_off, __global const float *dout,
                              ulong dout_off, __global const int *tokens, ulong tok_off,
                              int n_tok, int C, long dwte_rows, __global int *fault) {
    int c = get_global_id(0), i = get_global_id(1);
    if (c >= C || i >= n_tok) return;
    int tok = tokens[tok_off + i];
    if (index_ok(fault, PM_FAULT_ENCODER_BWD_TOKEN, tok, dwte_rows))
        atomic_add_float(dwte + dwte_off + (long)tok * C + c, dout[dout_off + (long)i * C + c]);
}

/* dwpe[t,:] += sum over b of dout[b,t,:], over (c, t): each position owns its row. */
__kernel void encoder_bwd_wpe(__global float *dwpe, ulong dwpe_off, __global const float *dout,
                              ulong dout_off, int B, int T, int C) {
    int c = get_global_id(0), t = get_global_id(1);
    if (c >= C || t >= T) return;
    float acc = 0.0f;
    for (int b = 0; b < B; b++) acc += dout[dout_off + ((long)b * T + t) * C + c];
    dwpe[dwpe_off + (long)t * C + c] += acc;
}

__kernel void add(__global float *out, ulong out_off, __global const float *a, ulong a_off,
                  __global const float *b, ulong b_off, ulong n) {
    size_t i = get_global_id(0);
    if (i < n) out[out_off + i] = a[a_off + i] + b[b_off + i];
}

__kernel void fill(__global float *x, ulong x_off, ulong n, float value) {
    size_t i = get_global_id(0);
    if (i < n) x[x_off + i] = value;
}

__kernel void scale(__global float *x, ulong x_off, ulong n, float alpha) {
    size_t i = get_global_id(0);
    if (i < n) x[x_off + i] *= alpha;
}

#define GELU_SCALE 0.7978845608028654f /* sqrt(2/pi) */

/* 1 + tanh(u) (x) and 1 - tanh(u)^2 (y) of GELU's u(v), free of the cancellation that
 * float tanh would bring for negative v: with e = exp(-2|u|), tanh|u| = (1 - e) / (1 + e). */
float2 gelu_tanh_terms(float v) {
    float u = GELU_SCALE * (v + 0.044715f * v * v * v);
    float e = exp(-2.0f * fabs(u));
    float one_plus_t = u >= 0.0f ? 2.0f / (1.0f + e) : 2.0f * e / (1.0f + e);
    return (float2)(one_plus_t, 4.0f * e / ((1.0f + e) * (1.0f + e)));
}

__kernel void gelu_fwd(__global float *out, ulong out_off, __global const float *inp,
                       ulong inp_off, ulong n) {
    size_t i = get_global_id(0);
    if (i >= n) return;
    float v = inp[inp_off + i];
    out[out_off + i] = 0.5f * v * gelu_tanh_terms(v).x;
}

__kernel void gelu_bwd(__global float *dinp, ulong dinp_off, __global const float *inp,
                       ulong inp_off, __global const float *dout, ulong dout_off, ulong n) {
    size_t i = get_global_id(0);
    if (i >= n) return;
    float v = inp[inp_off + i];
    float2 t = gelu_tanh_terms(v);
    float du = GELU_SCALE * (1.0f + 3.0f * 0.044715f * v * v);
    dinp[dinp_off + i] = (0.5f * t.x + 0.5f * v * t.y * du) * dout[dout_off + i];
}

/* The bias row that row r takes: 0 without groups, its segment with groups, -1 if none. */
int bias_row(int r, int rows, int groups, __global const int *offsets) {
    if (groups == 0) return 0;
    for (int g = 0; g < groups; g++) {
        int2 seg = segment(offsets, g, rows);
        if (r >= seg.x && r < seg.y) return g;
    }
    return -1;
}

/* out[r,:] += bias[g(r),:] over (c, r). */
__kernel void bias_add(__global float *out, ulong out_off, __global const float *bias,
                       ulong bias_off, int rows, int cols, int groups,
                       __global const int *offsets, ulong o_off) {
    int c = get_global_id(0), r = get_global_id(1);
    if (c >= cols || r >= rows) return;
    int g = bias_row(r, rows, groups, offsets + o_off);
    if (g >= 0) out[out_off + (long)r * cols + c] += bias[bias_off + (long)g * cols + c];
}

/* dbias[g,:] += column sums of dout over the rows of segment g (all rows without groups):
 * one LANES x LANES work-group per (column block, g). */
__kernel __attribute__((reqd_work_group_size(LANES, LANES, 1))) void
bias_grad(__global float *dbias, ulong db_off, __global const float *dout, ulong dout_off,
          int rows, int cols, int groups, __global const int *offsets, ulong o_off) {
    __local float tmp[LANES * LANES];
    int c = get_global_id(0), g = get_group_id(1);
    int2 seg = groups ? segment(offsets + o_off, g, rows) : (int2)(0, rows);
    float acc = 0.0f;
    if (c < cols)
        for (int r = seg.x + get_local_id(1); r < seg.y; r += LANES)
            acc += dout[dout_off + (long)r * cols + c];
    float total = lanes_sum(acc, tmp);
    if (get_local_id(1) == 0 && c < cols) dbias[db_off + (long)g * cols + c] += total;
}

/* The counter-based normal of backends/pm_rng.h, line for line. */
uint pm_hash32(uint x) {
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

float pm_normal(uint seed, uint i) {
    uint h1 = pm_hash32(seed ^ pm_hash32(2u * i));
    uint h2 = pm_hash32(seed ^ pm_hash32(2u * i + 1u));
    float u1 = (float)((h1 >> 8) + 1u) * (1.0f / 16777216.0f);
    float u2 = (float)(h2 >> 8) * (1.0f / 16777216.0f);
    return sqrt(-2.0f * log(u1)) * cos(6.2831853f * u2);
}

__kernel void add_noise(__global float *x, ulong x_off, ulong n, float std, uint seed) {
    size_t i = get_global_id(0);
    if (i < n) x[x_off + i] += std * pm_normal(seed, (uint)i);
}
