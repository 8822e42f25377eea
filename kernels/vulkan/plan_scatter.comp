#version 450
/* moe_plan step 3: slot of assignment a = offsets[e] + its rank n within expert e (the
 * chunk's first rank plus the earlier same-expert assignments of the chunk), so slots are
 * stable by (t, j); n >= capacity (when capacity > 0) drops it: slot -1. */
#include "common.glsl"

layout(binding = 0) writeonly buffer Slots { int slots[]; };
layout(binding = 1) readonly buffer Ids { int ids[]; };
layout(binding = 2) readonly buffer Counts { int counts[]; };
layout(binding = 3) readonly buffer Offsets { int offsets[]; };

layout(push_constant) uniform Push {
    uint o_slots, o_ids, o_counts, o_offsets, A, E;
    int capacity;
} p;

shared int chunk[WG];

void main() {
    uint chunks = (p.A + WG - 1) / WG;
    FOR_EACH_ROW(c, chunks) {
        uint a = c * WG + LID;
        int id = a < p.A ? ids[p.o_ids + a] : -1;
        chunk[LID] = id;
        barrier();
        if (a < p.A) {
            int slot = -1;
            if (id >= 0 && id < int(p.E)) {
                int n = counts[p.o_counts + c * p.E + uint(id)];
                for (uint i = 0; i < LID; i++) n += chunk[i] == id ? 1 : 0;
                if (p.capacity <= 0 || n < p.capacity) slot = offsets[p.o_offsets + uint(id)] + n;
            }
            slots[p.o_slots + a] = slot;
        }
        barrier();
    }
}
