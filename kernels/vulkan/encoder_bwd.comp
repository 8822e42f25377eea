#version 450
/* dwpe[t] += sum over b of dout[b,t]; dwte[tokens[b,t]] += dout[b,t]. One invocation per
 * (t, c): the position sum is a plain loop, the token rows (which tokens may share) take
 * float atomic adds built on atomicCompSwap, which every device has. dwte is bound from row
 * v0 (windows of rows, one dispatch each, as in encoder_fwd); the first window (v0 == 0)
 * also checks the ids against `rows` and adds dwpe. */
#include "common.glsl"

layout(binding = 0) buffer Dwte { uint dwte[]; };   /* float bits, for the CAS loop */
layout(binding = 1) buffer Dwpe { float dwpe[]; };
layout(binding = 2) readonly buffer Dout { float dout[]; };
layout(binding = 3) readonly buffer Tokens { int tokens[]; };
FAULT_BUFFER(4)

layout(push_constant) uniform Push { uint o_dwte, o_dwpe, o_dout, o_tokens, o_fault, B, T, C, rows, v0; } p;

void atomic_add_float(uint at, float v) {
    uint seen = dwte[at];
    while (true) {
        uint prev = atomicCompSwap(dwte[at], seen, floatBitsToUint(uintBitsToFloat(seen) + v));
        if (prev == seen) break;
        seen = prev;
    }
}

void main() {
    uint window = min((uint(dwte.length()) - p.o_dwte) / p.C, p.rows - p.v0);
    FOR_EACH(i, p.T * p.C) {
        uint t = i / p.C, c = i % p.C;
        float acc = 0.0;
        for (uint b = 0; b < p.B; b++) {
            uint r = b * p.T + t;
            float d = dout[p.o_dout + r * p.C + c];
            acc += d;
            int id = tokens[p.o_tokens + r];
            if (p.v0 == 0 && !index_ok(PM_FAULT_ENCODER_BWD_TOKEN, id, p.rows)) continue;
            if (id >= int(p.v0) && uint(id) - p.v0 < window)
                atomic_add_float(p.o_dwte + (uint(id) - p.v0) * p.C + c, d);
        }
        if (p.v0 == 0) dwpe[p.o_dwpe + i] += acc;
    }
}
