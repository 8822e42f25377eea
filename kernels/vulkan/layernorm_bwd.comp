#version 450
/* dinp += layernorm input gradient, one work group per row (layernorm_bwd_params does dw, db). */
#include "common.glsl"
#include "reduce.glsl"

layout(binding = 0) buffer Dinp { float dx[]; };
layout(binding = 1) readonly buffer Dout { float dy[]; };
layout(binding = 2) readonly buffer Inp { float x[]; };
layout(binding = 3) readonly buffer W { float w[]; };
layout(binding = 4) readonly buffer Mean { float mean[]; };
layout(binding = 5) readonly buffer Rstd { float rstd[]; };

layout(push_constant) uniform Push { uint o_dx, o_dy, o_x, o_w, o_mean, o_rstd, N, C; } p;

void main() {
    FOR_EACH_ROW(row, p.N) {
        uint base = row * p.C;
        float m = mean[p.o_mean + row], s = rstd[p.o_rstd + row];
        float sum_dn = 0.0, sum_dnx = 0.0;
        for (uint c = LID; c < p.C; c += WG) {
            float dn = w[p.o_w + c] * dy[p.o_dy + base + c];
            sum_dn += dn;
            sum_dnx += dn * (x[p.o_x + base + c] - m) * s;
        }
        float mean_dn = wg_sum(sum_dn) / float(p.C);
        float mean_dnx = wg_sum(sum_dnx) / float(p.C);
        for (uint c = LID; c < p.C; c += WG) {
            float xhat = (x[p.o_x + base + c] - m) * s;
            float dn = w[p.o_w + c] * dy[p.o_dy + base + c];
            dx[p.o_dx + base + c] += (dn - mean_dn - xhat * mean_dnx) * s;
        }
    }
}
