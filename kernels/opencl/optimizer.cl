/* Optimiser ops: the sum of squares behind the global grad norm (two passes: per-group
 * partial sums, then one group adds them up) and AdamW. */

__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void
sumsq_partial(__global float *partial, ulong part_off, __global const float *x, ulong x_off,
              ulong n) {
    __local float tmp[WG];
    float acc = 0.0f;
    for (size_t i = get_global_id(0); i < n; i += get_global_size(0)) {
        float v = x[x_off + i];
        acc += v * v;
    }
    acc = wg_sum(acc, tmp);
    if (get_local_id(0) == 0) partial[part_off + get_group_id(0)] = acc;
}

__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void
sumsq_final(__global float *out, ulong out_off, __global const float *partial, ulong part_off,
            int count) {
    __local float tmp[WG];
    float acc = 0.0f;
    for (int i = get_local_id(0); i < count; i += WG) acc += partial[part_off + i];
    acc = wg_sum(acc, tmp);
    if (get_local_id(0) == 0) out[out_off] = acc;
}

/* inv_c1, inv_c2: 1 / (1 - beta^step), the bias corrections, from the host. */
__kernel void adamw(__global float *w, ulong w_off, __global const float *grads, ulong g_off,
                    __global float *m, ulong m_off, __global float *v, ulong v_off, ulong n,
                    float lr, float beta1, float beta2, float eps, float weight_decay,
                    float inv_c1, float inv_c2, float grad_scale) {
    size_t i = get_global_id(0);
    if (i >= n) return;
    float g = grads[g_off + i] * grad_scale;
    float mi = beta1 * m[m_off + i] + (1.0f - beta1) * g;
    float vi = beta2 * v[v_off + i] + (1.0f - beta2) * g * g;
    m[m_off + i] = mi;
    v[v_off + i] = vi;
    float wi = w[w_off + i];
    w[w_off + i] = wi - lr * ((mi * inv_c1) / (sqrt(vi * inv_c2) + eps) + weight_decay * wi);
}
