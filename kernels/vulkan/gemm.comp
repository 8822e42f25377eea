#version 450
/* C = alpha * op(A) * op(B) + beta * C: a BM x BN tile per work group through shared memory,
 * TM x TN outputs per invocation held in registers. Work group z is a batch item (mode 0) or
 * an expert group whose rows (mode 1, grouped GEMM) or reduction range (mode 2, weight
 * gradient) come from the offsets buffer on the device; the grid covers the upper bound and
 * tiles past a segment's end leave at once. beta == 0 ignores C (it may hold NaN).
 * The host picks the tiles per device (vk_kernels.c); the register loops are unrolled so that
 * acc, ar and br stay in registers. */
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"

layout(constant_id = 1) const uint BM = 64;
layout(constant_id = 2) const uint BN = 64;
layout(constant_id = 3) const uint BK = 16;
layout(constant_id = 4) const uint TM = 4;
layout(constant_id = 5) const uint TN = 4;

layout(binding = 0) readonly buffer A { float a[]; };
layout(binding = 1) readonly buffer B { float b[]; };
layout(binding = 2) buffer C { float c[]; };
layout(binding = 3) readonly buffer Offsets { int offsets[]; };
FAULT_BUFFER(4)

layout(push_constant) uniform Push {
    uint o_a, o_b, o_c, o_offsets, o_fault;
    uint m, n, k, lda, ldb, ldc;
    uint stride_a, stride_b, stride_c;
    uint trans_a, trans_b;
    uint mode, rows;        /* mode 1 and 2: offsets[z] .. offsets[z + 1] within rows */
    float alpha, beta;
} p;

shared float As[BK * BM];   /* As[kk * BM + row] */
shared float Bs[BK * BN];   /* Bs[kk * BN + col] */

void main() {
    uint z = gl_WorkGroupID.z;
    uint a0 = p.o_a + z * p.stride_a, b0 = p.o_b + z * p.stride_b, c0 = p.o_c + z * p.stride_c;
    uint M = p.m, K = p.k;
    if (p.mode != 0) {
        int lo = offsets[p.o_offsets + z], hi = offsets[p.o_offsets + z + 1];
        if (lo < 0 || hi < lo || hi > int(p.rows)) {
            if (LID == 0)
                report_fault(p.mode == 1 ? PM_FAULT_GEMM_GROUPED_OFFSET
                                         : PM_FAULT_GEMM_GROUPED_WGRAD_OFFSET,
                             lo < 0 || hi < lo ? lo : hi, p.rows + 1);
            return;
        }
        if (p.mode == 1) {
            M = uint(hi - lo);
            a0 += uint(lo) * p.lda;
            c0 += uint(lo) * p.ldc;
        } else {
            K = uint(hi - lo);
            a0 += uint(lo) * p.lda;
            b0 += uint(lo) * p.ldb;
        }
    }
    uint row0 = gl_WorkGroupID.y * BM, col0 = gl_WorkGroupID.x * BN;
    if (row0 >= M) return;

    const uint TX = BN / TN;        /* invocations along a tile row */
    uint tx = LID % TX, ty = LID / TX;
    float acc[TM * TN];
    [[unroll]] for (uint i = 0; i < TM * TN; i++) acc[i] = 0.0;

    for (uint k0 = 0; k0 < K; k0 += BK) {
        /* consecutive invocations read consecutive addresses whichever way A is stored */
        for (uint e = LID; e < BM * BK; e += WG) {
            uint r, kk;
            if (p.trans_a == 0) { kk = e % BK; r = e / BK; } else { r = e % BM; kk = e / BM; }
            uint gr = row0 + r, gk = k0 + kk;
            float v = 0.0;
            if (gr < M && gk < K)
                v = a[a0 + (p.trans_a == 0 ? gr * p.lda + gk : gk * p.lda + gr)];
            As[kk * BM + r] = v;
        }
        for (uint e = LID; e < BN * BK; e += WG) {
            uint col, kk;
            if (p.trans_b == 0) { col = e % BN; kk = e / BN; } else { kk = e % BK; col = e / BK; }
            uint gc = col0 + col, gk = k0 + kk;
            float v = 0.0;
            if (gc < p.n && gk < K)
                v = b[b0 + (p.trans_b == 0 ? gk * p.ldb + gc : gc * p.ldb + gk)];
            Bs[kk * BN + col] = v;
        }
        barrier();
        for (uint kk = 0; kk < BK; kk++) {
            float ar[TM], br[TN];
            [[unroll]] for (uint i = 0; i < TM; i++) ar[i] = As[kk * BM + ty + i * (BM / TM)];
            [[unroll]] for (uint j = 0; j < TN; j++) br[j] = Bs[kk * BN + tx + j * TX];
            [[unroll]] for (uint i = 0; i < TM; i++)
                [[unroll]] for (uint j = 0; j < TN; j++)
                    acc[i * TN + j] = fma(ar[i], br[j], acc[i * TN + j]);
        }
        barrier();
    }

    [[unroll]] for (uint i = 0; i < TM; i++) {
        uint r = row0 + ty + i * (BM / TM);
        if (r >= M) continue;
        [[unroll]] for (uint j = 0; j < TN; j++) {
            uint col = col0 + tx + j * TX;
            if (col >= p.n) continue;
            uint at = c0 + r * p.ldc + col;
            float v = p.alpha * acc[i * TN + j];
            c[at] = p.beta == 0.0 ? v : v + p.beta * c[at];
        }
    }
}
