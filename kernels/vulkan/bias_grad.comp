#version 450
/* dbias[g,:] += column sums of dout over the rows of segment g (all rows without groups).
 * Work group (x, y) = (block of COLS columns, group); its row lanes split the rows and are
 * added in a fixed order, so the result does not depend on timing. */
#include "common.glsl"
#include "reduce.glsl"

layout(binding = 0) buffer Dbias { float dbias[]; };
layout(binding = 1) readonly buffer Dout { float dout[]; };
layout(binding = 2) readonly buffer Offsets { int offsets[]; };

layout(push_constant) uniform Push { uint o_dbias, o_dout, o_offsets, rows, cols, groups; } p;

void main() {
    uint c = gl_WorkGroupID.x * COLS + LID % COLS, lane = LID / COLS, g = gl_WorkGroupID.y;
    uint lo = 0, hi = p.rows;
    if (p.groups > 0) {
        lo = uint(max(offsets[p.o_offsets + g], 0));
        hi = min(uint(max(offsets[p.o_offsets + g + 1], 0)), p.rows);
    }
    float acc = 0.0;
    if (c < p.cols)
        for (uint r = lo + lane; r < hi; r += WG / COLS) acc += dout[p.o_dout + r * p.cols + c];
    acc = lanes_sum(acc);
    if (LID < COLS && c < p.cols) dbias[p.o_dbias + g * p.cols + c] += acc;
}
