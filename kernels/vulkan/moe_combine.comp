#version 450
/* y[t,:] = sum over kept j of gates[t,j] * yp[slots[t,j],:] (0 when all are dropped). */
#include "common.glsl"

layout(binding = 0) writeonly buffer Y { float y[]; };
layout(binding = 1) readonly buffer Yp { float yp[]; };
layout(binding = 2) readonly buffer Slots { int slots[]; };
layout(binding = 3) readonly buffer Gates { float gates[]; };
FAULT_BUFFER(4)

layout(push_constant) uniform Push { uint o_y, o_yp, o_slots, o_gates, o_fault, N, k, C; } p;

void main() {
    uint rows = (uint(yp.length()) - p.o_yp) / p.C;
    FOR_EACH(i, p.N * p.C) {
        uint t = i / p.C, c = i % p.C;
        float acc = 0.0;
        for (uint j = 0; j < p.k; j++) {
            int s = slots[p.o_slots + t * p.k + j];
            if (s < 0) continue;
            if (index_ok(PM_FAULT_MOE_COMBINE_SLOT, s, rows)) acc += gates[p.o_gates + t * p.k + j] * yp[p.o_yp + uint(s) * p.C + c];
        }
        y[p.o_y + i] = acc;
    }
}
