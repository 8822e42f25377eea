#version 450
/* out = a + b (out may alias a or b: each invocation reads before it writes its element). */
#include "common.glsl"

layout(binding = 0) writeonly buffer Out { float y[]; };
layout(binding = 1) readonly buffer A { float a[]; };
layout(binding = 2) readonly buffer B { float b[]; };

layout(push_constant) uniform Push { uint o_y, o_a, o_b, n; } p;

void main() {
    FOR_EACH(i, p.n) y[p.o_y + i] = a[p.o_a + i] + b[p.o_b + i];
}
