#version 450
/* Router forward, one invocation per token: softmax, logsumexp, top-k by probability in
 * descending order (strict > keeps the lower expert on ties, as the reference), gates
 * (1 for k == 1, renormalised for k >= 2). */
#include "common.glsl"

layout(binding = 0) buffer Probs { float probs[]; };
layout(binding = 1) writeonly buffer Lse { float lse[]; };
layout(binding = 2) buffer Ids { int ids[]; };
layout(binding = 3) writeonly buffer Gates { float gates[]; };
layout(binding = 4) readonly buffer Logits { float x[]; };

layout(push_constant) uniform Push { uint o_probs, o_lse, o_ids, o_gates, o_x, N, E, k; } p;

void main() {
    FOR_EACH(t, p.N) {
        uint xb = p.o_x + t * p.E, pb = p.o_probs + t * p.E, ib = p.o_ids + t * p.k;
        float m = x[xb];
        for (uint e = 1; e < p.E; e++) m = max(m, x[xb + e]);
        float s = 0.0;
        for (uint e = 0; e < p.E; e++) s += exp(x[xb + e] - m);
        for (uint e = 0; e < p.E; e++) probs[pb + e] = exp(x[xb + e] - m) / s;
        lse[p.o_lse + t] = m + log(s);
        float sel = 0.0;
        for (uint j = 0; j < p.k; j++) {
            int best = -1;
            float best_p = 0.0;
            for (uint e = 0; e < p.E; e++) {
                bool taken = false;
                for (uint q = 0; q < j; q++) taken = taken || ids[ib + q] == int(e);
                float pe = probs[pb + e];
                if (!taken && (best < 0 || pe > best_p)) {
                    best = int(e);
                    best_p = pe;
                }
            }
            ids[ib + j] = best;
            sel += best_p;
        }
        for (uint j = 0; j < p.k; j++)
            gates[p.o_gates + t * p.k + j] = p.k == 1 ? 1.0 : probs[pb + uint(ids[ib + j])] / sel;
    }
}
