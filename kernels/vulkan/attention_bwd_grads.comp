#version 450
/* dqkv from the score gradients (datt, from attention_bwd_scores), one invocation per element:
 *   dq[t]  = sum over t2 <= t of datt[t,t2] k[t2]
 *   dk[t]  = sum over t' >= t of datt[t',t] q[t']
 *   dv[t]  = sum over t' >= t of att[t',t] dout[t']
 * Each element is written once, so no zeroing and no atomics. */
#include "common.glsl"

layout(binding = 0) writeonly buffer Dqkv { float dqkv[]; };
layout(binding = 1) readonly buffer Datt { float datt[]; };
layout(binding = 2) readonly buffer Att { float att[]; };
layout(binding = 3) readonly buffer Qkv { float qkv[]; };
layout(binding = 4) readonly buffer Dout { float dy[]; };

layout(push_constant) uniform Push { uint o_dqkv, o_datt, o_att, o_qkv, o_dy, B, T, C, NH; } p;

void main() {
    uint hs = p.C / p.NH, C3 = 3 * p.C;
    FOR_EACH(idx, p.B * p.T * C3) {
        uint r = idx % C3, t = (idx / C3) % p.T, b = idx / (C3 * p.T);
        uint part = r / p.C, ch = r % p.C, h = ch / hs;
        uint rows = p.o_datt + (b * p.NH + h) * p.T * p.T;     /* row t' starts at rows + t'*T */
        uint arows = p.o_att + (b * p.NH + h) * p.T * p.T;
        uint tok = b * p.T;
        float acc = 0.0;
        if (part == 0) {
            for (uint t2 = 0; t2 <= t; t2++)
                acc += datt[rows + t * p.T + t2] * qkv[p.o_qkv + (tok + t2) * C3 + p.C + ch];
        } else if (part == 1) {
            for (uint t1 = t; t1 < p.T; t1++)
                acc += datt[rows + t1 * p.T + t] * qkv[p.o_qkv + (tok + t1) * C3 + ch];
        } else {
            for (uint t1 = t; t1 < p.T; t1++)
                acc += att[arows + t1 * p.T + t] * dy[p.o_dy + (tok + t1) * p.C + ch];
        }
        dqkv[p.o_dqkv + idx] = acc;
    }
}
