#version 450
/* out[group] = sum over this group's share of x (of x^2 when square): with many groups it
 * writes per-group partials, with one group the total. */
#include "common.glsl"
#include "reduce.glsl"

layout(binding = 0) writeonly buffer Out { float y[]; };
layout(binding = 1) readonly buffer X { float x[]; };

layout(push_constant) uniform Push { uint o_y, o_x, n, square; } p;

void main() {
    float acc = 0.0;
    FOR_EACH(i, p.n) {
        float v = x[p.o_x + i];
        acc += p.square != 0 ? v * v : v;
    }
    acc = wg_sum(acc);
    if (LID == 0) y[p.o_y + gl_WorkGroupID.x] = acc;
}
