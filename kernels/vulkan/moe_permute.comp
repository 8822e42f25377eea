#version 450
/* xp[slots[t,j],:] = x[t,:] for kept assignments; one invocation per (assignment, column). */
#include "common.glsl"

layout(binding = 0) writeonly buffer Xp { float xp[]; };
layout(binding = 1) readonly buffer X { float x[]; };
layout(binding = 2) readonly buffer Slots { int slots[]; };
FAULT_BUFFER(3)

layout(push_constant) uniform Push { uint o_xp, o_x, o_slots, o_fault, N, k, C; } p;

void main() {
    uint rows = (uint(xp.length()) - p.o_xp) / p.C;
    FOR_EACH(i, p.N * p.k * p.C) {
        uint a = i / p.C, c = i % p.C;
        int s = slots[p.o_slots + a];
        if (s < 0) continue;
        if (!index_ok(PM_FAULT_MOE_PERMUTE_SLOT, s, rows)) continue;
        xp[p.o_xp + uint(s) * p.C + c] = x[p.o_x + (a / p.k) * p.C + c];
    }
}
