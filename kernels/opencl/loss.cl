/* Fused softmax + cross-entropy, one WG work-group per row. A negative target is an ignored
 * row; a target >= V is a fault, and the row gets 0 like an ignored one. */

/* max and log-sum-exp of one row of V logits, for every work-item of the group */
float row_lse(__global const float *x, int V, __local float *tmp) {
    int l = get_local_id(0);
    float mx = -INFINITY;
    for (int v = l; v < V; v += WG) mx = fmax(mx, x[v]);
    mx = wg_max(mx, tmp);
    float s = 0.0f;
    for (int v = l; v < V; v += WG) s += exp(x[v] - mx);
    return mx + log(wg_sum(s, tmp));
}

__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void
xent_fwd(__global float *losses, ulong l_off, __global const float *logits, ulong x_off,
         __global const int *targets, ulong t_off, int V, __global int *fault) {
    __local float tmp[WG];
    int row = get_group_id(0), target = targets[t_off + row];
    __global const float *x = logits + x_off + (long)row * V;
    float lse = row_lse(x, V, tmp);
    if (get_local_id(0) == 0)
        losses[l_off + row] = target < 0 || !index_ok(fault, PM_FAULT_XENT_FWD_TARGET, target, V)
                                  ? 0.0f
                                  : lse - x[target];
}

/* dlogits = (softmax - onehot(target)) * dloss; dlogits may alias logits: every read of the
 * row ends (in row_lse's barriers) before the first write. */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void
xent_bwd(__global float *dlogits, ulong d_off, __global const float *logits, ulong x_off,
         __global const int *targets, ulong t_off, int V, float dloss, __global int *fault) {
    __local float tmp[WG];
    int row = get_group_id(0), target = targets[t_off + row];
    __global const float *x = logits + x_off + (long)row * V;
    __global float *dx = dlogits + d_off + (long)row * V;
    float lse = row_lse(x, V, tmp);
    bool ignored = target < 0 || !index_ok(fault, PM_FAULT_XENT_BWD_TARGET, target, V);
    for (int v = get_local_id(0); v < V; v += WG)
        dx[v] = ignored ? 0.0f : (exp(x[v] - lse) - (v == target)) * dloss;
}
