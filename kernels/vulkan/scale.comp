#version 450
/* x[i] *= alpha (in place) */
#include "common.glsl"

layout(binding = 0) buffer X { float x[]; };

layout(push_constant) uniform Push { uint o_x, n; float alpha; } p;

void main() {
    FOR_EACH(i, p.n) x[p.o_x + i] *= p.alpha;
}
