/* Router: softmax, top-k with ties to the lower expert, gates, statistics, backward with the
 * load-balancing, z-loss and entropy-bonus gradients. */
#include "ref_ops.h"

#include <math.h>

int ref_router_fwd(pm_backend *be, pm_ref probs, pm_ref lse, pm_ref ids, pm_ref gates,
                   pm_ref logits, int N, int E, int k) {
    if (k < 1 || k > E) return pm_fail(be, "router_fwd", "top-k %d outside 1..E=%d", k, E);
#pragma omp parallel for schedule(static)
    for (int t = 0; t < N; t++) {
        const float *x = pm_f32(logits) + (long)t * E;
        float *p = pm_f32(probs) + (long)t * E;
        double m = -INFINITY, s = 0;
        for (int e = 0; e < E; e++)
            if (x[e] > m) m = x[e];
        for (int e = 0; e < E; e++) s += exp(x[e] - m);
        for (int e = 0; e < E; e++) p[e] = (float)(exp(x[e] - m) / s);
        pm_f32(lse)[t] = (float)(m + log(s));
        int32_t *id = pm_i32(ids) + (long)t * k;
        float *g = pm_f32(gates) + (long)t * k;
        double sel = 0;
        for (int j = 0; j < k; j++) {
            /* the largest probability not taken yet; strict > keeps the lower index on ties */
            int best = -1;
            for (int e = 0; e < E; e++) {
                int taken = 0;
                for (int q = 0; q < j; q++) taken |= id[q] == e;
                if (!taken && (best < 0 || p[e] > p[best])) best = e;
            }
            id[j] = best;
            sel += p[best];
        }
        for (int j = 0; j < k; j++) g[j] = k == 1 ? 1.0f : (float)(p[id[j]] / sel);
    }
    return PM_OK;
}

int ref_router_stats(pm_backend *be, pm_ref stats, pm_ref probs, pm_ref lse, pm_ref ids, int N,
                     int E, int k) {
    (void)be;
    float *st = pm_f32(stats);
    for (int e = 0; e < E; e++) {
        double count = 0, psum = 0;
        for (int t = 0; t < N; t++) {
            psum += pm_f32(probs)[(long)t * E + e];
            for (int j = 0; j < k; j++) count += pm_i32(ids)[(long)t * k + j] == e;
        }
        st[e] = (float)count;
        st[E + e] = (float)psum;
    }
    double z = 0, ent = 0;
    for (int t = 0; t < N; t++) {
        double l = pm_f32(lse)[t];
        z += l * l;
        for (int e = 0; e < E; e++) {
            double p = pm_f32(probs)[(long)t * E + e];
            if (p > 0) ent -= p * log(p);
        }
    }
    st[2 * E] = (float)z;
    st[2 * E + 1] = (float)ent;
    return PM_OK;
}

int ref_router_bwd(pm_backend *be, pm_ref dlogits, pm_ref probs, pm_ref lse, pm_ref ids,
                   pm_ref dgates, pm_ref stats, int N, int E, int k, float lb_coef,
                   float z_coef, float ent_coef) {
    if (ref_check_indices(be, PM_FAULT_ROUTER_BWD_ID, pm_i32(ids), (long)N * k, E, 0) != PM_OK)
        return PM_ERR;
    const float *count = pm_f32(stats);
#pragma omp parallel for schedule(static)
    for (int t = 0; t < N; t++) {
        const float *p = pm_f32(probs) + (long)t * E;
        const int32_t *id = pm_i32(ids) + (long)t * k;
        const float *dg = pm_f32(dgates) + (long)t * k;
        double dp[E];
        /* load balancing: d/dp_i of lb_coef * E * sum_i f_i * mean_t p_ti */
        for (int e = 0; e < E; e++)
            dp[e] = (double)lb_coef * E * (count[e] / ((double)N * k)) / N;
        if (k == 1) {
            dp[id[0]] += dg[0]; /* straight-through: the gate is p in the backward pass */
        } else {
            double sel = 0, dot = 0;
            for (int j = 0; j < k; j++) {
                sel += p[id[j]];
                dot += (double)dg[j] * p[id[j]];
            }
            for (int j = 0; j < k; j++) dp[id[j]] += dg[j] / sel - dot / (sel * sel);
        }
        double pdp = 0;
        for (int e = 0; e < E; e++) pdp += p[e] * dp[e];
        /* z-loss: d/dx_e of z_coef * mean_t lse_t^2 is z_coef * 2 lse p_e / N */
        double zg = (double)z_coef * 2.0 * pm_f32(lse)[t] / N;
        /* entropy bonus: dH/dp_e = -(ln p_e + 1), through the softmax d/dx_e of
         * -ent_coef * mean_t H_t is ent_coef * p_e (ln p_e + H) / N (the 1s cancel); a p_e of
         * 0 contributes 0 to H and to its own gradient (p ln p -> 0), never ln 0 */
        double h = 0, eg = (double)ent_coef / N;
        for (int e = 0; e < E; e++)
            if (p[e] > 0) h -= p[e] * log(p[e]);
        float *dx = pm_f32(dlogits) + (long)t * E;
        for (int e = 0; e < E; e++) {
            double ent = p[e] > 0 ? eg * p[e] * (log(p[e]) + h) : 0.0;
            dx[e] = (float)(p[e] * (dp[e] - pdp) + zg * p[e] + ent);
        }
    }
    return PM_OK;
}
