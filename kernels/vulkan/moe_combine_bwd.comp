#version 450
/* One work group per assignment a = (t, j): dyp[slot,:] = gates[a] * dy[t,:] and
 * dgates[a] = dot(dy[t,:], yp[slot,:]); a dropped assignment gets dgates 0. */
#include "common.glsl"
#include "reduce.glsl"

layout(binding = 0) writeonly buffer Dyp { float dyp[]; };
layout(binding = 1) writeonly buffer Dgates { float dg[]; };
layout(binding = 2) readonly buffer Dy { float dy[]; };
layout(binding = 3) readonly buffer Yp { float yp[]; };
layout(binding = 4) readonly buffer Slots { int slots[]; };
layout(binding = 5) readonly buffer Gates { float gates[]; };
FAULT_BUFFER(6)

layout(push_constant) uniform Push {
    uint o_dyp, o_dg, o_dy, o_yp, o_slots, o_gates, o_fault, N, k, C;
} p;

void main() {
    uint rows = min(uint(yp.length()) - p.o_yp, uint(dyp.length()) - p.o_dyp) / p.C;
    FOR_EACH_ROW(a, p.N * p.k) {
        int s = slots[p.o_slots + a];
        if (s < 0 || uint(s) >= rows) {
            if (LID == 0) {
                if (s >= 0) report_fault(PM_FAULT_MOE_COMBINE_BWD_SLOT, s, rows);
                dg[p.o_dg + a] = 0.0;
            }
            continue;
        }
        uint t = a / p.k, row = uint(s) * p.C;
        float g = gates[p.o_gates + a], dot = 0.0;
        for (uint c = LID; c < p.C; c += WG) {
            float d = dy[p.o_dy + t * p.C + c];
            dot += d * yp[p.o_yp + row + c];
            dyp[p.o_dyp + row + c] = g * d;
        }
        dot = wg_sum(dot);
        if (LID == 0) dg[p.o_dg + a] = dot;
    }
}
