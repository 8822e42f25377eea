#version 450
/* losses[i] = logsumexp(logits[i]) - logits[i, target]; 0 for a negative target; a target
 * >= V is a fault (and gives 0). One work group per row. */
#include "common.glsl"
#include "reduce.glsl"

layout(binding = 0) writeonly buffer Losses { float losses[]; };
layout(binding = 1) readonly buffer Logits { float logits[]; };
layout(binding = 2) readonly buffer Targets { int targets[]; };
FAULT_BUFFER(3)

layout(push_constant) uniform Push { uint o_losses, o_logits, o_targets, o_fault, N, V; } p;

#include "softmax_row.glsl"

void main() {
    FOR_EACH_ROW(row, p.N) {
        int target = targets[p.o_targets + row];
        if (target < 0 || target >= int(p.V)) {
            if (LID == 0) {
                if (target >= 0) report_fault(PM_FAULT_XENT_FWD_TARGET, target, p.V);
                losses[p.o_losses + row] = 0.0;
            }
            continue;
        }
        uint base = p.o_logits + row * p.V;
        float mx, sum;
        row_softmax_stats(base, p.V, mx, sum);
        if (LID == 0) losses[p.o_losses + row] = mx + log(sum) - logits[base + uint(target)];
    }
}
