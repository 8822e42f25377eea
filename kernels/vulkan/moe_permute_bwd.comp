#version 450
/* dx[t,:] = sum over kept j of dxp[slots[t,j],:]. */
#include "common.glsl"

layout(binding = 0) writeonly buffer Dx { float dx[]; };
layout(binding = 1) readonly buffer Dxp { float dxp[]; };
layout(binding = 2) readonly buffer Slots { int slots[]; };
FAULT_BUFFER(3)

layout(push_constant) uniform Push { uint o_dx, o_dxp, o_slots, o_fault, N, k, C; } p;

void main() {
    uint rows = (uint(dxp.length()) - p.o_dxp) / p.C;
    FOR_EACH(i, p.N * p.C) {
        uint t = i / p.C, c = i % p.C;
        float acc = 0.0;
        for (uint j = 0; j < p.k; j++) {
            int s = slots[p.o_slots + t * p.k + j];
            if (s < 0) continue;
            if (index_ok(PM_FAULT_MOE_PERMUTE_BWD_SLOT, s, rows)) acc += dxp[p.o_dxp + uint(s) * p.C + c];
        }
        dx[p.o_dx + i] = acc;
    }
}
