/* Causal self-attention. qkv is [B,T,3C]; head h of row t uses columns h*hs.. of q (at 0),
 * k (at C) and v (at 2C). The row kernels run one WG work-group per (t, h, b). */

__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void
attention_fwd(__global float *out, ulong out_off, __global float *att, ulong att_off,
              __global const float *qkv, ulong qkv_off, int T, int C, int NH) {
    __local float tmp[WG];
    int t = get_group_id(0), h = get_group_id(1), b = get_group_id(2), l = get_local_id(0);
    int hs = C / NH;
    float scale = 1.0f / sqrt((float)hs);
    __global const float *base = qkv + qkv_off + (long)b * T * 3 * C + h * hs;
    __global const float *q = base + (long)t * 3 * C;
    __global float *a = att + att_off + (((long)b * NH + h) * T + t) * T;
    float mx = -INFINITY;
    for (int t2 = l; t2 <= t; t2 += WG) {
        __global const float *k = base + (long)t2 * 3 * C + C;
        float dot = 0.0f;
        for (int i = 0; i < hs; i++) dot += q[i] * k[i];
        a[t2] = dot * scale;
        mx = fmax(mx, dot * scale);
    }
    mx = wg_max(mx, tmp);
    float sum = 0.0f;
    for (int t2 = l; t2 <= t; t2 += WG) {
        float e = exp(a[t2] - mx);
        a[t2] = e;
        sum += e;
    }
    float inv = 1.0f / wg_sum(sum, tmp);
    for (int t2 = l; t2 < T; t2 += WG) a[t2] = t2 <= t ? a[t2] * inv : 0.0f;
    barrier(CLK_GLOBAL_MEM_FENCE); /* the whole row of probabilities, for every work-item */
    __global float *o = out + out_off + ((long)b * T + t) * C + h * hs;
    for (int i = l; i < hs; i += WG) {
        float acc = 0.0f;
        for (int t2 = 0; t2 <= t; t2++) acc += a[t2] * base[(long)t2 * 3 * C + 2 * C + i];
        o[i] = acc;
    }
}

/* datt[t,t2] = att * (dout[t] . v[t2] - sum over t2 of that times att) * scale: the gradient
 * of the pre-softmax scores (0 above the diagonal). */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void
attention_bwd_datt(__global float *datt, ulong datt_off, __global const float *dout,
                   ulong dout_off, __global const float *qkv, ulong qkv_off,
                   __global const float *att, ulong att_off, int T, int C, int NH) {
    __local float tmp[WG];
    int t = get_group_id(0), h = get_group_id(1), b = get_group_id(2), l = get_local_id(0);
    int hs = C / NH;
    float scale = 1.0f / sqrt((float)hs);
    __global const float *v0 = qkv + qkv_off + (long)b * T * 3 * C + 2 * C + h * hs;
    __global const float *dy = dout + dout_off + ((long)b * T + t) * C + h * hs;
    long row = (((long)b * NH + h) * T + t) * T;
    __global const float *a = att + att_off + row;
    __global float *da = datt + datt_off + row;
    float dot_sum = 0.0f;
    for (int t2 = l; t2 <= t; t2 += WG) {
        __global const float *v = v0 + (long)t2 * 3 * C;
        float d = 0.0f;
        for (int i = 0; i < hs; i++) d += dy[i] * v[i];
        da[t2] = d;
        dot_sum += d * a[t2];
    }
    dot_sum = wg_sum(dot_sum, tmp);
    for (int t2 = l; t2 < T; t2 += WG) da[t2] = t2 <= t ? a[t2] * (da[t2] - dot_sum) * scale : 0.0f;
}

/* dq, dk, dv of element (c, t, b) from datt (the score gradients) and att:
 *   dq[t] = sum_{t2<=t} datt[t,t2] k[t2],  dk[t] = sum_{t'>=t} datt[t',t] q[t'],
 *   dv[t] = sum_{t'>=t} att[t',t] dout[t']. Writes all of dqkv. */
__kernel void attention_bwd_dqkv(__global float *dqkv, ulong dqkv_off,
                                 __global const float *datt, ulong datt_off,
                                 __global const float *dout, ulong dout_off,
                                 __global const float *qkv, ulong qkv_off,
                                 __global const float *att, ulong att_off, int T, int C,
                                 int NH) {
    int c = get_global_id(0), t = get_global_id(1), b = get_global_id(2);
    if (c >= C || t >= T) return;
    int h = c / (C / NH);
    long rows = (long)b * T * 3 * C, head = ((long)b * NH + h) * T * T;
    __global const float *x = qkv + qkv_off + rows + c;
    __global const float *ds = datt + datt_off + head, *a = att + att_off + head;
    __global const float *dy = dout + dout_off + (long)b * T * C + c;
    float dq = 0.0f, dk = 0.0f, dv = 0.0f;
    for (int t2 = 0; t2 <= t; t2++) dq += ds[(long)t * T + t2] * x[(long)t2 * 3 * C + C];
    for (int t1 = t; t1 < T; t1++) {
        dk += ds[(long)t1 * T + t] * x[(long)t1 * 3 * C];
        dv += a[(long)t1 * T + t] * dy[(long)t1 * C];
    }
    __global float *d = dqkv + dqkv_off + rows + (long)t * 3 * C + c;
    d[0] = dq;
    d[C] = dk;
    d[2 * C] = dv;
}
