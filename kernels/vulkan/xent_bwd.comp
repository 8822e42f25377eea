#version 450
/* dlogits = (softmax(logits) - onehot(target)) * dloss, 0 for ignored rows; dlogits may
 * alias logits (the row is read in full before any of it is written). */
#include "common.glsl"
#include "reduce.glsl"

layout(binding = 0) writeonly buffer Dlogits { float dx[]; };
layout(binding = 1) readonly buffer Logits { float logits[]; };
layout(binding = 2) readonly buffer Targets { int targets[]; };
FAULT_BUFFER(3)

layout(push_constant) uniform Push {
    uint o_dx, o_logits, o_targets, o_fault, N, V;
    float dloss;
} p;

#include "softmax_row.glsl"

void main() {
    FOR_EACH_ROW(row, p.N) {
        int target = targets[p.o_targets + row];
        uint base = p.o_logits + row * p.V, out_base = p.o_dx + row * p.V;
        if (target < 0 || target >= int(p.V)) {
            if (target >= 0 && LID == 0) report_fault(PM_FAULT_XENT_BWD_TARGET, target, p.V);
            for (uint v = LID; v < p.V; v += WG) dx[out_base + v] = 0.0;
            continue;
        }
        float mx, sum;
        row_softmax_stats(base, p.V, mx, sum);
        float inv = 1.0 / sum;
        for (uint v = LID; v < p.V; v += WG) {
            float g = exp(logits[base + v] - mx) * inv - (v == uint(target) ? 1.0 : 0.0);
            dx[out_base + v] = g * p.dloss;
        }
    }
}
