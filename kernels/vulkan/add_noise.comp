#version 450
/* x[i] += std * z(seed, i): the counter-based normal of backends/pm_rng.h, line for line. */
#include "common.glsl"

layout(binding = 0) buffer X { float x[]; };

layout(push_constant) uniform Push { uint o_x, n; float std_; uint seed; } p;

uint hash32(uint x) {
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

float normal(uint seed, uint i) {
    uint h1 = hash32(seed ^ hash32(2u * i));
    uint h2 = hash32(seed ^ hash32(2u * i + 1u));
    float u1 = float((h1 >> 8) + 1u) * (1.0 / 16777216.0);
    float u2 = float(h2 >> 8) * (1.0 / 16777216.0);
    return sqrt(-2.0 * log(u1)) * cos(6.2831853 * u2);
}

void main() {
    FOR_EACH(i, p.n) x[p.o_x + i] += p.std_ * normal(p.seed, i);
}
