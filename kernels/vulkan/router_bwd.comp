#version 450
/* Router backward, one invocation per token (see router_bwd in backends/ops.h):
 * dp[e] = lb_coef * E * f_e / N + gate part, dlogits = p * (dp - p.dp) + z part + entropy
 * part. */
#include "common.glsl"

layout(binding = 0) writeonly buffer Dlogits { float dx[]; };
layout(binding = 1) readonly buffer Probs { float probs[]; };
layout(binding = 2) readonly buffer Lse { float lse[]; };
layout(binding = 3) readonly buffer Ids { int ids[]; };
layout(binding = 4) readonly buffer Dgates { float dg[]; };
layout(binding = 5) readonly buffer Stats { float stats[]; };
FAULT_BUFFER(6)

layout(push_constant) uniform Push {
    uint o_dx, o_probs, o_lse, o_ids, o_dg, o_stats, o_fault, N, E, k;
    float lb_coef, z_coef, ent_coef;
} p;

float sel, dot_sel;  /* k >= 2: sum of the selected p, and of dgates * p */

float dp_of(uint t, uint e) {
    float f = stats[p.o_stats + e] / (float(p.N) * float(p.k));
    float d = p.lb_coef * float(p.E) * f / float(p.N);
    for (uint j = 0; j < p.k; j++) {
        if (ids[p.o_ids + t * p.k + j] != int(e)) continue;
        float g = dg[p.o_dg + t * p.k + j];
        d += p.k == 1 ? g : g / sel - dot_sel / (sel * sel);
    }
    return d;
}

void main() {
    FOR_EACH(t, p.N) {
        /* a token with an expert id outside 0..E-1 is a fault and keeps its old dlogits */
        bool valid = true;
        for (uint j = 0; j < p.k; j++)
            valid = index_ok(PM_FAULT_ROUTER_BWD_ID, ids[p.o_ids + t * p.k + j], p.E) && valid;
        if (!valid) continue;
        uint pb = p.o_probs + t * p.E;
        sel = 0.0;
        dot_sel = 0.0;
        for (uint j = 0; j < p.k; j++) {
            float pj = probs[pb + uint(ids[p.o_ids + t * p.k + j])];
            sel += pj;
            dot_sel += dg[p.o_dg + t * p.k + j] * pj;
        }
        float pdp = 0.0;
        for (uint e = 0; e < p.E; e++) pdp += probs[pb + e] * dp_of(t, e);
        float zg = p.z_coef * 2.0 * lse[p.o_lse + t] / float(p.N);
        /* entropy bonus ent_coef / N * p (ln p + H); p = 0 adds 0 (never ln 0) */
        float h = 0.0, eg = p.ent_coef / float(p.N);
        for (uint e = 0; e < p.E; e++) {
            float pe = probs[pb + e];
            if (pe > 0.0) h -= pe * log(pe);
        }
        for (uint e = 0; e < p.E; e++) {
            float pe = probs[pb + e];
            float ent = pe > 0.0 ? eg * pe * (log(pe) + h) : 0.0;
            dx[p.o_dx + t * p.E + e] = pe * (dp_of(t, e) - pdp) + zg * pe + ent;
        }
    }
}
