#version 450
/* AdamW; c1 = 1 - beta1^step and c2 = 1 - beta2^step come from the host. */
#include "common.glsl"

layout(binding = 0) buffer Params { float w[]; };
layout(binding = 1) readonly buffer Grads { float g[]; };
layout(binding = 2) buffer M { float m[]; };
layout(binding = 3) buffer V { float v[]; };

layout(push_constant) uniform Push {
    uint o_w, o_g, o_m, o_v, n;
    float lr, beta1, beta2, eps, weight_decay, grad_scale, c1, c2;
} p;

void main() {
    FOR_EACH(i, p.n) {
        float gi = g[p.o_g + i] * p.grad_scale;
        float mi = p.beta1 * m[p.o_m + i] + (1.0 - p.beta1) * gi;
        float vi = p.beta2 * v[p.o_v + i] + (1.0 - p.beta2) * gi * gi;
        m[p.o_m + i] = mi;
        v[p.o_v + i] = vi;
        float wi = w[p.o_w + i];
        w[p.o_w + i] = wi - p.lr * ((mi / p.c1) / (sqrt(vi / p.c2) + p.eps) + p.weight_decay * wi);
    }
}
