#version 450
/* out = gelu(inp) (may alias). */
#include "common.glsl"
#include "gelu.glsl"

layout(binding = 0) writeonly buffer Out { float y[]; };
layout(binding = 1) readonly buffer Inp { float x[]; };

layout(push_constant) uniform Push { uint o_y, o_x, n; } p;

void main() {
    FOR_EACH(i, p.n) y[p.o_y + i] = gelu(x[p.o_x + i]);
}
