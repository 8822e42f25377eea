/* Router: softmax, top-k, gates, statistics and the backward, one work-item per token except
 * for the statistics (one WG work-group per expert, and one for the sums over tokens). */

/* Is expert e among the first j choices of ids? */
bool chosen(__global const int *ids, int j, int e) {
    for (int q = 0; q < j; q++)
        if (ids[q] == e) return true;
    return false;
}

/* Top-k compares the logits, whose order is the probabilities' order (softmax is monotonic);
 * strict > keeps the lower expert on ties, as the reference does. */
__kernel void router_fwd(__global float *probs, ulong p_off, __global float *lse, ulong lse_off,
                         __global int *ids, ulong id_off, __global float *gates, ulong g_off,
                         __global const float *logits, ulong x_off, int N, int E, int k) {
    int t = get_global_id(0);
    if (t >= N) return;
    __global const float *x = logits + x_off + (long)t * E;
    __global float *p = probs + p_off + (long)t * E;
    __global int *id = ids + id_off + (long)t * k;
    __global float *g = gates + g_off + (long)t * k;
    float mx = -INFINITY, s = 0.0f;
    for (int e = 0; e < E; e++) mx = fmax(mx, x[e]);
    for (int e = 0; e < E; e++) s += exp(x[e] - mx);
    for (int e = 0; e < E; e++) p[e] = exp(x[e] - mx) / s;
    lse[lse_off + t] = mx + log(s);
    float sel = 0.0f;
    for (int j = 0; j < k; j++) {
        int best = -1;
        for (int e = 0; e < E; e++)
            if (!chosen(id, j, e) && (best < 0 || x[e] > x[best])) best = e;
        id[j] = best;
        sel += p[best];
    }
    for (int j = 0; j < k; j++) g[j] = k == 1 ? 1.0f : p[id[j]] / sel;
}

/* stats[e] = assignments to e, stats[E+e] = sum of probs[:,e] (work-group e < E);
 * stats[2E] = sum of lse^2, stats[2E+1] = sum of entropies (work-group E). Counts are sums
 * of small integers in float: exact below 2^24. */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void
router_stats(__global float *stats, ulong s_off, __global const float *probs, ulong p_off,
             __global const float *lse, ulong lse_off, __global const int *ids, ulong id_off,
             int N, int E, int k) {
    __local float tmp[WG];
    int e = get_group_id(0), l = get_local_id(0);
    __global const float *p = probs + p_off;
    float first = 0.0f, second = 0.0f; /* count and psum, or z and entropy */
    for (int t = l; t < N; t += WG) {
        if (e < E) {
            second += p[(long)t * E + e];
            for (int j = 0; j < k; j++) first += ids[id_off + (long)t * k + j] == e;
        } else {
            float v = lse[lse_off + t];
            first += v * v;
            for (int i = 0; i < E; i++) {
                float q = p[(long)t * E + i];
                if (q > 0.0f) second -= q * log(q);
            }
        }
    }
    first = wg_sum(first, tmp);
    second = wg_sum(second, tmp);
    if (l == 0) {
        stats[s_off + (e < E ? e : 2 * E)] = first;
        stats[s_off + (e < E ? E + e : 2 * E + 1)] = second;
    }
}

/* dL/dp[t,e]: load balancing plus the gate part (see backend.h). */
float router_dp(int e, float lb, __global const float *count,
                __global const int *id, __global const float *dg, int k, float sel, float dot) {
    float dp = lb * count[e];
    for (int j = 0; j < k; j++)
        if (id[j] == e) dp += k == 1 ? dg[j] : dg[j] / sel - dot / (sel * sel);
    return dp;
}

__kernel void router_bwd(__global float *dlogits, ulong dx_off, __global const float *probs,
                         ulong p_off, __global const float *lse, ulong lse_off,
                         __global const int *ids, ulong id_off, __global const float *dgates,
                         ulong dg_off, __global const float *stats, ulong s_off, int N, int E,
                         int k, float lb_coef, float z_coef, float ent_coef,
                         __global int *fault) {
    int t = get_global_id(0);
    if (t >= N) return;
    /* a token with an expert id outside 0..E-1 is a fault and keeps its old dlogits */
    bool valid = true;
    for (int j = 0; j < k; j++)
        valid &= index_ok(fault, PM_FAULT_ROUTER_BWD_ID, ids[id_off + (long)t * k + j], E);
    if (!valid) return;
    __global const float *p = probs + p_off + (long)t * E;
    __global const int *id = ids + id_off + (long)t * k;
    __global const float *dg = dgates + dg_off + (long)t * k;
    __global const float *count = stats + s_off;
    /* lb_coef * E * f_e / N with f_e = count_e / (N k) */
    float lb = lb_coef * E / ((float)N * k) / N;
    float sel = 0.0f, dot = 0.0f;
    for (int j = 0; j < k; j++) {
        sel += p[id[j]];
        dot += dg[j] * p[id[j]];
    }
    float pdp = 0.0f;
    for (int e = 0; e < E; e++) pdp += p[e] * router_dp(e, lb, count, id, dg, k, sel, dot);
    float zg = z_coef * 2.0f * lse[lse_off + t] / N;
    /* entropy bonus ent_coef / N * p (ln p + H); p = 0 adds 0 (never ln 0) */
    float h = 0.0f, eg = ent_coef / N;
    for (int e = 0; e < E; e++)
        if (p[e] > 0.0f) h -= p[e] * log(p[e]);
    __global float *dx = dlogits + dx_off + (long)t * E;
    for (int e = 0; e < E; e++) {
        float ent = p[e] > 0.0f ? eg * p[e] * (log(p[e]) + h) : 0.0f;
        dx[e] = p[e] * (router_dp(e, lb, count, id, dg, k, sel, dot) - pdp) + zg * p[e] + ent;
    }
}
