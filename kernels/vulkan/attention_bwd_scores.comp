#version 450
/* Attention backward through out = att.v and the softmax, one work group per (b, h, t) row:
 * datt[t2] = a[t2] * (dy.v[t2] - sum_t2' a[t2'] dy.v[t2']) * scale (the gradient of the scaled
 * scores), 0 above the diagonal. */
#include "common.glsl"
#include "reduce.glsl"

layout(binding = 0) buffer Datt { float datt[]; };
layout(binding = 1) readonly buffer Dout { float dy[]; };
layout(binding = 2) readonly buffer Qkv { float qkv[]; };
layout(binding = 3) readonly buffer Att { float att[]; };

layout(push_constant) uniform Push { uint o_datt, o_dy, o_qkv, o_att, B, T, C, NH; float scale; } p;

void main() {
    uint hs = p.C / p.NH, C3 = 3 * p.C;
    FOR_EACH_ROW(row, p.B * p.NH * p.T) {
        uint t = row % p.T, h = (row / p.T) % p.NH, b = row / (p.T * p.NH);
        uint d = p.o_dy + (b * p.T + t) * p.C + h * hs;
        uint a = p.o_att + row * p.T, da = p.o_datt + row * p.T;
        float dot_sum = 0.0;
        for (uint t2 = LID; t2 <= t; t2 += WG) {
            uint v = p.o_qkv + (b * p.T + t2) * C3 + 2 * p.C + h * hs;
            float dv = 0.0;
            for (uint i = 0; i < hs; i++) dv += dy[d + i] * qkv[v + i];
            datt[da + t2] = dv;
            dot_sum += dv * att[a + t2];
        }
        dot_sum = wg_sum(dot_sum);
        for (uint t2 = LID; t2 < p.T; t2 += WG)
            datt[da + t2] = t2 <= t ? att[a + t2] * (datt[da + t2] - dot_sum) * p.scale : 0.0;
    }
}
