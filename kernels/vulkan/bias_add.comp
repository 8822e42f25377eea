#version 450
/* out[r,:] += bias[g,:], g = 0 without groups, else the segment offsets[g] <= r <
 * offsets[g + 1] (found by binary search); rows past the last segment are left alone. */
#include "common.glsl"

layout(binding = 0) buffer Out { float y[]; };
layout(binding = 1) readonly buffer Bias { float bias[]; };
layout(binding = 2) readonly buffer Offsets { int offsets[]; };

layout(push_constant) uniform Push { uint o_y, o_bias, o_offsets, rows, cols, groups; } p;

void main() {
    FOR_EACH(i, p.rows * p.cols) {
        uint r = i / p.cols, c = i % p.cols, g = 0;
        if (p.groups > 0) {
            /* the last g with offsets[g] <= r */
            uint lo = 0, hi = p.groups;
            while (hi - lo > 1) {
                uint mid = (lo + hi) / 2;
                if (offsets[p.o_offsets + mid] <= int(r)) lo = mid; else hi = mid;
            }
            g = lo;
            int first = offsets[p.o_offsets + g], end = offsets[p.o_offsets + g + 1];
            if (int(r) < first || int(r) >= end) continue;
        }
        y[p.o_y + i] += bias[p.o_bias + g * p.cols + c];
    }
}
