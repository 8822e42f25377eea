#version 450
/* Layernorm over rows of C (eps 1e-5), one work group per row: writes out, mean, rstd. */
#include "common.glsl"
#include "reduce.glsl"

layout(binding = 0) writeonly buffer Out { float y[]; };
layout(binding = 1) writeonly buffer Mean { float mean[]; };
layout(binding = 2) writeonly buffer Rstd { float rstd[]; };
layout(binding = 3) readonly buffer Inp { float x[]; };
layout(binding = 4) readonly buffer W { float w[]; };
layout(binding = 5) readonly buffer Bias { float b[]; };

layout(push_constant) uniform Push { uint o_y, o_mean, o_rstd, o_x, o_w, o_b, N, C; } p;

void main() {
    FOR_EACH_ROW(row, p.N) {
        uint base = p.o_x + row * p.C;
        float s = 0.0;
        for (uint c = LID; c < p.C; c += WG) s += x[base + c];
        float m = wg_sum(s) / float(p.C);
        float v = 0.0;
        for (uint c = LID; c < p.C; c += WG) {
            float d = x[base + c] - m;
            v += d * d;
        }
        float rs = 1.0 / sqrt(wg_sum(v) / float(p.C) + 1e-5);
        for (uint c = LID; c < p.C; c += WG)
            y[p.o_y + row * p.C + c] = (x[base + c] - m) * rs * w[p.o_w + c] + b[p.o_b + c];
        if (LID == 0) {
            mean[p.o_mean + row] = m;
            rstd[p.o_rstd + row] = rs;
        }
    }
}
