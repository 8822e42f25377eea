#version 450
/* out[b,t,:] = wte[tokens[b,t],:] + wpe[t,:]; a token id outside wte is a fault. */
#include "common.glsl"

layout(binding = 0) writeonly buffer Out { float y[]; };
layout(binding = 1) readonly buffer Tokens { int tokens[]; };
layout(binding = 2) readonly buffer Wte { float wte[]; };
layout(binding = 3) readonly buffer Wpe { float wpe[]; };
FAULT_BUFFER(4)

layout(push_constant) uniform Push { uint o_y, o_tokens, o_wte, o_wpe, o_fault, n_tok, T, C; } p;

void main() {
    uint wte_rows = (uint(wte.length()) - p.o_wte) / p.C;
    FOR_EACH(i, p.n_tok * p.C) {
        uint t = i / p.C, c = i % p.C;
        int id = tokens[p.o_tokens + t];
        if (!index_ok(PM_FAULT_ENCODER_FWD_TOKEN, id, wte_rows)) continue;
        y[p.o_y + i] = wte[p.o_wte + uint(id) * p.C + c] + wpe[p.o_wpe + (t % p.T) * p.C + c];
    }
}
