#version 450
/* dw[c] += sum over rows of xhat * dout, db[c] += sum of dout: column sums as in bias_grad. */
#include "common.glsl"
#include "reduce.glsl"

layout(binding = 0) buffer Dw { float dw[]; };
layout(binding = 1) buffer Db { float db[]; };
layout(binding = 2) readonly buffer Dout { float dy[]; };
layout(binding = 3) readonly buffer Inp { float x[]; };
layout(binding = 4) readonly buffer Mean { float mean[]; };
layout(binding = 5) readonly buffer Rstd { float rstd[]; };

layout(push_constant) uniform Push { uint o_dw, o_db, o_dy, o_x, o_mean, o_rstd, N, C; } p;

void main() {
    uint c = gl_WorkGroupID.x * COLS + LID % COLS, lane = LID / COLS;
    float acc_w = 0.0, acc_b = 0.0;
    if (c < p.C)
        for (uint r = lane; r < p.N; r += WG / COLS) {
            float d = dy[p.o_dy + r * p.C + c];
            acc_w += (x[p.o_x + r * p.C + c] - mean[p.o_mean + r]) * rstd[p.o_rstd + r] * d;
            acc_b += d;
        }
    acc_w = lanes_sum(acc_w);
    acc_b = lanes_sum(acc_b);
    if (LID < COLS && c < p.C) {
        dw[p.o_dw + c] += acc_w;
        db[p.o_db + c] += acc_b;
    }
}
