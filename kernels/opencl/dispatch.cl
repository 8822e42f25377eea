/* Dispatch: the stable counting-sort plan (count, scan, scatter), permute and combine with
 * their backwards. The plan splits the N*k assignments into chunks of PLAN_CHUNK (set by the
 * host); `prefix` is host-owned scratch of nchunks*E + E ints. Ids outside 0..E-1 are faults:
 * counted nowhere, slot -1. Slots at or past the rows of the permuted buffer are faults too. */

/* prefix[c,e] = how many assignments of chunk c go to expert e; over (e, c). */
__kernel void moe_plan_count(__global int *prefix, ulong p_off, __global const int *ids,
                             ulong id_off, int NK, int E, int nchunks, __global int *fault) {
    int e = get_global_id(0), c = get_global_id(1);
    if (e >= E || c >= nchunks) return;
    int n = 0, end = min((c + 1) * PLAN_CHUNK, NK);
    for (int a = c * PLAN_CHUNK; a < end; a++) n += ids[id_off + a] == e;
    for (int a = c * PLAN_CHUNK; e == 0 && a < end; a++)
        index_ok(fault, PM_FAULT_MOE_PLAN_ID, ids[id_off + a], E);
    prefix[p_off + (long)c * E + e] = n;
}

/* One work-group: turns each expert's chunk counts into exclusive prefixes (the rank of the
 * chunk's first assignment inside the expert), caps the totals at capacity and writes
 * offsets as their exclusive prefix sum. */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void
moe_plan_scan(__global int *prefix, ulong p_off, __global int *offsets, ulong o_off, int E,
              int nchunks, int capacity) {
    __global int *chunk = prefix + p_off, *kept = chunk + (long)nchunks * E;
    for (int e = get_local_id(0); e < E; e += WG) {
        int run = 0;
        for (int c = 0; c < nchunks; c++) {
            int n = chunk[(long)c * E + e];
            chunk[(long)c * E + e] = run;
            run += n;
        }
        kept[e] = capacity > 0 ? min(run, capacity) : run;
    }
    barrier(CLK_GLOBAL_MEM_FENCE);
    if (get_local_id(0) == 0) {
        int sum = 0;
        offsets[o_off] = 0;
        for (int e = 0; e < E; e++) {
            sum += kept[e];
            offsets[o_off + e + 1] = sum;
        }
    }
}

/* Slots in (t, j) order inside each expert: the n-th assignment of expert e lands at
 * offsets[e] + n, or is dropped (-1) past capacity; over (e, c). */
__kernel void moe_plan_scatter(__global int *slots, ulong s_off, __global const int *ids,
                               ulong id_off, __global const int *prefix, ulong p_off,
                               __global const int *offsets, ulong o_off, int NK, int E,
                               int nchunks, int capacity) {
    int e = get_global_id(0), c = get_global_id(1);
    if (e >= E || c >= nchunks) return;
    int n = prefix[p_off + (long)c * E + e], base = offsets[o_off + e];
    int end = min((c + 1) * PLAN_CHUNK, NK);
    for (int a = c * PLAN_CHUNK; a < end; a++) {
        int id = ids[id_off + a];
        if (id == e) {
            slots[s_off + a] = capacity > 0 && n >= capacity ? -1 : base + n;
            n++;
        } else if (e == 0 && (id < 0 || id >= E)) {
            slots[s_off + a] = -1;
        }
    }
}

/* xp[slots[a],:] = x[a / k,:] for kept assignments; over (c, a). */
__kernel void moe_permute(__global float *xp, ulong xp_off, __global const float *x,
                          ulong x_off, __global const int *slots, ulong s_off, int NK, int k,
                          int C, long rows, __global int *fault) {
    int c = get_global_id(0), a = get_global_id(1);
    if (c >= C || a >= NK) return;
    int s = slots[s_off + a];
    if (s >= 0 && index_ok(fault, PM_FAULT_MOE_PERMUTE_SLOT, s, rows)) xp[xp_off + (long)s * C + c] = x[x_off + (long)(a / k) * C + c];
}

/* dx[t,:] = sum over kept j of dxp[slots[t,j],:]; over (c, t). */
__kernel void moe_permute_bwd(__global float *dx, ulong dx_off, __global const float *dxp,
                              ulong dxp_off, __global const int *slots, ulong s_off, int N,
                              int k, int C, long rows, __global int *fault) {
    int c = get_global_id(0), t = get_global_id(1);
    if (c >= C || t >= N) return;
    float acc = 0.0f;
    for (int j = 0; j < k; j++) {
        int s = slots[s_off + (long)t * k + j];
        if (s >= 0 && index_ok(fault, PM_FAULT_MOE_PERMUTE_BWD_SLOT, s, rows)) acc += dxp[dxp_off + (long)s * C + c];
    }
    dx[dx_off + (long)t * C + c] = acc;
}

/* y[t,:] = sum over kept j of gates[t,j] * yp[slots[t,j],:]; over (c, t). */
__kernel void moe_combine(__global float *y, ulong y_off, __global const float *yp,
                          ulong yp_off, __global const int *slots, ulong s_off,
                          __global const float *gates, ulong g_off, int N, int k, int C,
                          long rows, __global int *fault) {
    int c = get_global_id(0), t = get_global_id(1);
    if (c >= C || t >= N) return;
    float acc = 0.0f;
    for (int j = 0; j < k; j++) {
        long a = (long)t * k + j;
        int s = slots[s_off + a];
        if (s >= 0 && index_ok(fault, PM_FAULT_MOE_COMBINE_SLOT, s, rows)) acc += gates[g_off + a] * yp[yp_off + (long)s * C + c];
    }
    y[y_off + (long)t * C + c] = acc;
}

/* dyp[slot] = gates[a] * dy[a / k], dgates[a] = dy[a / k] . yp[slot] (0 when dropped);
 * one WG work-group per assignment a. */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void
moe_combine_bwd(__global float *dyp, ulong dyp_off, __global float *dgates, ulong dg_off,
                __global const float *dy, ulong dy_off, __global const float *yp, ulong yp_off,
                __global const int *slots, ulong s_off, __global const float *gates,
                ulong g_off, int k, int C, long rows, __global int *fault) {
    __local float tmp[WG];
    int a = get_group_id(0), s = slots[s_off + a];
    bool kept = s >= 0 && index_ok(fault, PM_FAULT_MOE_COMBINE_BWD_SLOT, s, rows);
    float g = gates[g_off + a], dot = 0.0f;
    __global const float *d = dy + dy_off + (long)(a / k) * C;
    for (int c = get_local_id(0); kept && c < C; c += WG) {
        dot += d[c] * yp[yp_off + (long)s * C + c];
        dyp[dyp_off + (long)s * C + c] = g * d[c];
    }
    dot = wg_sum(dot, tmp);
    if (get_local_id(0) == 0) dgates[dg_off + a] = dot;
}
