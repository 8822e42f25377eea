#version 450
/* Causal attention probabilities: one work group per (b, h, t) row of att [B,NH,T,T]:
 * scaled q.k for t2 <= t, softmax, zeros above the diagonal. */
#include "common.glsl"
#include "reduce.glsl"

layout(binding = 0) buffer Att { float att[]; };
layout(binding = 1) readonly buffer Qkv { float qkv[]; };

layout(push_constant) uniform Push { uint o_att, o_qkv, B, T, C, NH; float scale; } p;

void main() {
    uint hs = p.C / p.NH, C3 = 3 * p.C;
    FOR_EACH_ROW(row, p.B * p.NH * p.T) {
        uint t = row % p.T, h = (row / p.T) % p.NH, b = row / (p.T * p.NH);
        uint q = p.o_qkv + (b * p.T + t) * C3 + h * hs, a = p.o_att + row * p.T;
        float mx = -3.402823e38;
        for (uint t2 = LID; t2 <= t; t2 += WG) {
            uint k = p.o_qkv + (b * p.T + t2) * C3 + p.C + h * hs;
            float dot = 0.0;
            for (uint i = 0; i < hs; i++) dot += qkv[q + i] * qkv[k + i];
            float score = dot * p.scale;
            att[a + t2] = score;
            mx = max(mx, score);
        }
        mx = wg_max(mx);
        float sum = 0.0;
        for (uint t2 = LID; t2 <= t; t2 += WG) {
            float e = exp(att[a + t2] - mx);
            att[a + t2] = e;
            sum += e;
        }
        sum = wg_sum(sum);
        for (uint t2 = LID; t2 < p.T; t2 += WG) att[a + t2] = t2 <= t ? att[a + t2] / sum : 0.0;
    }
}
