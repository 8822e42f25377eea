/* Layernorm over the last dimension (eps 1e-5), one WG work-group per row; the parameter
 * gradients are column sums on LANES x LANES work-groups. */

__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void
layernorm_fwd(__global float *out, ulong out_off, __global float *mean, ulong mean_off,
              __global float *rstd, ulong rstd_off, __global const float *inp, ulong inp_off,
              __global const float *w, ulong w_off, __global const float *b, ulong b_off, int C) {
    __local float tmp[WG];
    int row = get_group_id(0), l = get_local_id(0);
    __global const float *x = inp + inp_off + (long)row * C;
    float sum = 0.0f;
    for (int c = l; c < C; c += WG) sum += x[c];
    float m = wg_sum(sum, tmp) / C;
    float sq = 0.0f;
    for (int c = l; c < C; c += WG) sq += (x[c] - m) * (x[c] - m);
    float s = 1.0f / sqrt(wg_sum(sq, tmp) / C + 1e-5f);
    __global float *o = out + out_off + (long)row * C;
    for (int c = l; c < C; c += WG) o[c] = (x[c] - m) * s * w[w_off + c] + b[b_off + c];
    if (l == 0) {
        mean[mean_off + row] = m;
        rstd[rstd_off + row] = s;
    }
}

/* dinp[row] += (dn - mean(dn) - xhat * mean(dn * xhat)) * rstd with dn = w * dout. */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void
layernorm_bwd_input(__global float *dinp, ulong dinp_off, __global const float *dout,
                    ulong dout_off, __global const float *inp, ulong inp_off,
                    __global const float *w, ulong w_off, __global const float *mean,
                    ulong mean_off, __global const float *rstd, ulong rstd_off, int C) {
    __local float tmp[WG];
    int row = get_group_id(0), l = get_local_id(0);
    __global const float *x = inp + inp_off + (long)row * C;
    __global const float *dy = dout + dout_off + (long)row * C;
    float m = mean[mean_off + row], s = rstd[rstd_off + row];
    float sum_dn = 0.0f, sum_dnx = 0.0f;
    for (int c = l; c < C; c += WG) {
        float dn = w[w_off + c] * dy[c];
        sum_dn += dn;
        sum_dnx += dn * (x[c] - m) * s;
    }
    float mean_dn = wg_sum(sum_dn, tmp) / C, mean_dnx = wg_sum(sum_dnx, tmp) / C;
    __global float *dx = dinp + dinp_off + (long)row * C;
    for (int c = l; c < C; c += WG) {
        float xhat = (x[c] - m) * s;
        dx[c] += (w[w_off + c] * dy[c] - mean_dn - xhat * mean_dnx) * s;
    }
}

/* dw[c] += sum over rows of xhat * dout, db[c] += sum of dout. */
__kernel __attribute__((reqd_work_group_size(LANES, LANES, 1))) void
layernorm_bwd_params(__global float *dw, ulong dw_off, __global float *db, ulong db_off,
                     __global const float *dout, ulong dout_off, __global const float *inp,
                     ulong inp_off, __global const float *mean, ulong mean_off,
                     __global const float *rstd, ulong rstd_off, int N, int C) {
    __local float tmp[LANES * LANES];
    int c = get_global_id(0);
    float acc_w = 0.0f, acc_b = 0.0f;
    if (c < C)
        for (int r = get_local_id(1); r < N; r += LANES) {
            long i = (long)r * C + c;
            float dy = dout[dout_off + i];
            acc_w += (inp[inp_off + i] - mean[mean_off + r]) * rstd[rstd_off + r] * dy;
            acc_b += dy;
        }
    float total_w = lanes_sum(acc_w, tmp);
    float total_b = lanes_sum(acc_b, tmp);
    if (get_local_id(1) == 0 && c < C) {
        dw[dw_off + c] += total_w;
        db[db_off + c] += total_b;
    }
}
