#version 450
/* moe_plan step 2, one work group: turns each expert's per-chunk counts into the chunk's
 * first rank within the expert (exclusive scan over chunks), caps the totals at capacity
 * and writes offsets = exclusive prefix sum of the kept counts (a shared-memory scan over
 * blocks of WG experts). */
#include "common.glsl"

layout(binding = 0) writeonly buffer Offsets { int offsets[]; };
layout(binding = 1) buffer Counts { int counts[]; };

layout(push_constant) uniform Push { uint o_offsets, o_counts, chunks, E; int capacity; } p;

shared int scan[WG];

void main() {
    int carry = 0;
    for (uint e0 = 0; e0 < p.E; e0 += WG) {
        uint e = e0 + LID;
        int kept = 0;
        if (e < p.E) {
            int run = 0;
            for (uint c = 0; c < p.chunks; c++) {
                uint at = p.o_counts + c * p.E + e;
                int n = counts[at];
                counts[at] = run;
                run += n;
            }
            kept = p.capacity > 0 ? min(run, p.capacity) : run;
        }
        scan[LID] = kept;
        barrier();
        for (uint d = 1; d < WG; d <<= 1) {     /* inclusive Hillis-Steele scan */
            int v = LID >= d ? scan[LID - d] : 0;
            barrier();
            scan[LID] += v;
            barrier();
        }
        if (e < p.E) offsets[p.o_offsets + e + 1] = carry + scan[LID];
        carry += scan[WG - 1];
        barrier();
    }
    if (LID == 0) offsets[p.o_offsets] = 0;
}
