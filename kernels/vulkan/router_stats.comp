#version 450
/* stats = { count per expert (E), sum of probs per expert (E), sum lse^2, entropy sum }.
 * Work group e < E reduces expert e's column; work group E the two scalars. */
#include "common.glsl"
#include "reduce.glsl"

layout(binding = 0) writeonly buffer Stats { float stats[]; };
layout(binding = 1) readonly buffer Probs { float probs[]; };
layout(binding = 2) readonly buffer Lse { float lse[]; };
layout(binding = 3) readonly buffer Ids { int ids[]; };

layout(push_constant) uniform Push { uint o_stats, o_probs, o_lse, o_ids, N, E, k; } p;

void main() {
    uint g = gl_WorkGroupID.x;
    float a = 0.0, b = 0.0;
    if (g < p.E) {
        for (uint t = LID; t < p.N; t += WG) {
            b += probs[p.o_probs + t * p.E + g];
            for (uint j = 0; j < p.k; j++) a += ids[p.o_ids + t * p.k + j] == int(g) ? 1.0 : 0.0;
        }
    } else {
        for (uint t = LID; t < p.N; t += WG) {
            float l = lse[p.o_lse + t];
            a += l * l;
            for (uint e = 0; e < p.E; e++) {
                float pe = probs[p.o_probs + t * p.E + e];
                if (pe > 0.0) b -= pe * log(pe);
            }
        }
    }
    a = wg_sum(a);
    b = wg_sum(b);
    if (LID == 0) {
        if (g < p.E) {
            stats[p.o_stats + g] = a;
            stats[p.o_stats + p.E + g] = b;
        } else {
            stats[p.o_stats + 2 * p.E] = a;
            stats[p.o_stats + 2 * p.E + 1] = b;
        }
    }
}
