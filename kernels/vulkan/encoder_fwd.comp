#version 450
/* out[b,t,:] = wte[tokens[b,t],:] + wpe[t,:]; a token id outside wte's `rows` is a fault. wte
 * is bound from row v0 (an embedding longer than one binding reaches is read in windows of
 * rows, one dispatch each): tokens outside this window are left to the others. */
#include "common.glsl"

layout(binding = 0) writeonly buffer Out { float y[]; };
layout(binding = 1) readonly buffer Tokens { int tokens[]; };
layout(binding = 2) readonly buffer Wte { float wte[]; };
layout(binding = 3) readonly buffer Wpe { float wpe[]; };
FAULT_BUFFER(4)

layout(push_constant) uniform Push { uint o_y, o_tokens, o_wte, o_wpe, o_fault, n_tok, T, C, rows, v0; } p;

void main() {
    uint window = min((uint(wte.length()) - p.o_wte) / p.C, p.rows - p.v0);
    FOR_EACH(i, p.n_tok * p.C) {
        uint t = i / p.C, c = i % p.C;
        int id = tokens[p.o_tokens + t];
        if (p.v0 == 0 && !index_ok(PM_FAULT_ENCODER_FWD_TOKEN, id, p.rows)) continue;
        if (id < int(p.v0) || uint(id) - p.v0 >= window) continue;
        y[p.o_y + i] = wte[p.o_wte + (uint(id) - p.v0) * p.C + c] + wpe[p.o_wpe + (t % p.T) * p.C + c];
    }
}
