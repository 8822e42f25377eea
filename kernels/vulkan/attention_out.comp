#version 450
/* out[b,t,h*hs+i] = sum over t2 <= t of att[b,h,t,t2] * v[b,t2,h*hs+i]. */
#include "common.glsl"

layout(binding = 0) writeonly buffer Out { float y[]; };
layout(binding = 1) readonly buffer Att { float att[]; };
layout(binding = 2) readonly buffer Qkv { float qkv[]; };

layout(push_constant) uniform Push { uint o_y, o_att, o_qkv, B, T, C, NH; } p;

void main() {
    uint hs = p.C / p.NH, C3 = 3 * p.C;
    FOR_EACH(idx, p.B * p.T * p.C) {
        uint ch = idx % p.C, t = (idx / p.C) % p.T, b = idx / (p.C * p.T), h = ch / hs;
        uint a = p.o_att + ((b * p.NH + h) * p.T + t) * p.T;
        uint v = p.o_qkv + b * p.T * C3 + 2 * p.C + ch;
        float acc = 0.0;
        for (uint t2 = 0; t2 <= t; t2++) acc += att[a + t2] * qkv[v + t2 * C3];
        y[p.o_y + idx] = acc;
    }
}
