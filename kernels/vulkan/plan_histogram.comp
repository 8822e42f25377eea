#version 450
/* moe_plan step 1: the assignments (t, j), in order, are cut into chunks of WG; this counts
 * each expert's assignments per chunk: counts[chunk * E + e]. An id outside 0..E-1 is a
 * fault. */
#include "common.glsl"

layout(binding = 0) writeonly buffer Counts { int counts[]; };
layout(binding = 1) readonly buffer Ids { int ids[]; };
FAULT_BUFFER(2)

layout(push_constant) uniform Push { uint o_counts, o_ids, o_fault, A, E; } p;

shared int chunk[WG];

void main() {
    uint chunks = (p.A + WG - 1) / WG;
    FOR_EACH_ROW(c, chunks) {
        uint a = c * WG + LID;
        int id = a < p.A ? ids[p.o_ids + a] : -1;
        if (a < p.A) index_ok(PM_FAULT_MOE_PLAN_ID, id, p.E);
        chunk[LID] = id;
        barrier();
        for (uint e = LID; e < p.E; e += WG) {
            int n = 0;
            for (uint i = 0; i < WG; i++) n += chunk[i] == int(e) ? 1 : 0;
            counts[p.o_counts + c * p.E + e] = n;
        }
        barrier();
    }
}
