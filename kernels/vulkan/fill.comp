#version 450
/* x[i] = value */
#include "common.glsl"

layout(binding = 0) writeonly buffer X { float x[]; };

layout(push_constant) uniform Push { uint o_x, n; float value; } p;

void main() {
    FOR_EACH(i, p.n) x[p.o_x + i] = p.value;
}
