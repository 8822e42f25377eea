#version 450
/* dinp = gelu'(inp) * dout (dinp may alias dout). */
#include "common.glsl"
#include "gelu.glsl"

layout(binding = 0) writeonly buffer Dinp { float dx[]; };
layout(binding = 1) readonly buffer Inp { float x[]; };
layout(binding = 2) readonly buffer Dout { float dy[]; };

layout(push_constant) uniform Push { uint o_dx, o_x, o_dy, n; } p;

void main() {
    FOR_EACH(i, p.n) dx[p.o_dx + i] = gelu_grad(x[p.o_x + i]) * dy[p.o_dy + i];
}
