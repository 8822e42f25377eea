/* GEMM: C = alpha * op(A) * op(B) + beta * C through local-memory tiles and register blocks.
 * The host chooses the tile per device class and passes it as -D options:
 *   TM x TN  the block of C one work-group computes;   TK  the depth of one step through k;
 *   WM x WN  the register block of one work-item: WM rows (RM apart) by WN columns, held as
 *            WN/VW vectors of VW consecutive columns, so a work-group is (TN/WN) x (TM/WM).
 * Matrices are addressed through element strides, which covers both transposes:
 *   A(i,p) = A[i*a_i + p*a_p],  B(p,j) = B[p*b_p + j*b_j]. */

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define VEC CAT(float, VW)
#define VLOAD CAT(vload, VW)
#define VSTORE CAT(vstore, VW)

#define RM (TM / WM)      /* work-items along the rows of a tile */
#define RN (TN / WN)      /* work-items along the columns */
#define WV (WN / VW)      /* vectors per register row */
#define THREADS (RM * RN)

/* Copies the `width` x TK block X(r0.., p0..) of X(r, p) = X[r*x_r + p*x_p] into
 * tile[p * width + r], zero outside rows x k. Consecutive work-items walk memory
 * contiguously whichever stride is 1. */
void load_tile(__local float *tile, int width, __global const float *X, int x_r, int x_p,
               int r0, int rows, int p0, int k, int tid) {
    for (int e = tid; e < TK * width; e += THREADS) {
        int r = x_p == 1 ? e / TK : e % width;
        int p = x_p == 1 ? e % TK : e / width;
        int gr = r0 + r, gp = p0 + p;
        tile[p * width + r] = gr < rows && gp < k ? X[(long)gr * x_r + (long)gp * x_p] : 0.0f;
    }
}

/* One TM x TN block (row0, col0) of an m x n x k product; all work-items of the group call
 * it (it has barriers). beta == 0 ignores C, as BLAS does. */
void gemm_tile(int m, int n, int k, float alpha, float beta, __global const float *A, int a_i,
               int a_p, __global const float *B, int b_p, int b_j, __global float *C, int ldc,
               int row0, int col0, __local float *As, __local float *Bs) {
    const int tx = get_local_id(0), ty = get_local_id(1), tid = ty * RN + tx;
    VEC acc[WM][WV];
#pragma unroll
    for (int i = 0; i < WM; i++)
#pragma unroll
        for (int v = 0; v < WV; v++) acc[i][v] = (VEC)(0.0f);

    for (int p0 = 0; p0 < k; p0 += TK) {
        load_tile(As, TM, A, a_i, a_p, row0, m, p0, k, tid);
        load_tile(Bs, TN, B, b_j, b_p, col0, n, p0, k, tid);
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int p = 0; p < TK; p++) {
            VEC b[WV];
#pragma unroll
            for (int v = 0; v < WV; v++) b[v] = VLOAD(0, Bs + p * TN + (v * RN + tx) * VW);
#pragma unroll
            for (int i = 0; i < WM; i++) {
                float a = As[p * TM + ty + i * RM];
#pragma unroll
                for (int v = 0; v < WV; v++) acc[i][v] += a * b[v];
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }

#pragma unroll
    for (int i = 0; i < WM; i++) {
        int gi = row0 + ty + i * RM;
        if (gi >= m) break;
#pragma unroll
        for (int v = 0; v < WV; v++) {
            int gj = col0 + (v * RN + tx) * VW;
            __global float *c = C + (long)gi * ldc + gj;
            if (gj + VW <= n) {
                VEC r = alpha * acc[i][v];
                VSTORE(beta != 0.0f ? r + beta * VLOAD(0, c) : r, 0, c);
            } else {
                float lanes[VW];
                VSTORE(acc[i][v], 0, lanes);
                for (int l = 0; l < VW && gj + l < n; l++)
                    c[l] = alpha * lanes[l] + (beta != 0.0f ? beta * c[l] : 0.0f);
            }
        }
    }
}

#define GEMM_KERNEL __kernel __attribute__((reqd_work_group_size(RN, RM, 1))) void

/* Strided batched GEMM: work-group (x, y, z) computes block (y, x) of batch item z. */
GEMM_KERNEL gemm(int m, int n, int k, float alpha, float beta, __global const float *A,
                 ulong a_off, int a_i, int a_p, long a_stride, __global const float *B,
                 ulong b_off, int b_p, int b_j, long b_stride, __global float *C, ulong c_off,
                 int ldc, long c_stride) {
    __local float As[TK * TM], Bs[TK * TN];
    long z = get_group_id(2);
    gemm_tile(m, n, k, alpha, beta, A + a_off + z * a_stride, a_i, a_p,
              B + b_off + z * b_stride, b_p, b_j, C + c_off + z * c_stride, ldc,
              (int)get_group_id(1) * TM, (int)get_group_id(0) * TN, As, Bs);
}

/* Grouped GEMM, C[seg] = A[seg] * op(B_g) + beta * C[seg]. The host launches over the upper
 * bound ceil(rows/TM) + groups row blocks; blocks are numbered segment after segment, so each
 * work-group walks the offsets to find its segment; blocks past the last one compute nothing. */
GEMM_KERNEL gemm_grouped(int trans_b, int rows, int n, int k, int groups, float beta,
                         __global const int *offsets, ulong o_off, __global const float *A,
                         ulong a_off, __global const float *B, ulong b_off, __global float *C,
                         ulong c_off, __global int *fault) {
    __local float As[TK * TM], Bs[TK * TN];
    offsets += o_off;
    int block = get_group_id(1), g = 0;
    int2 seg = (int2)(0, 0);
    for (; g < groups; g++) {
        seg = checked_segment(offsets, g, rows, fault, PM_FAULT_GEMM_GROUPED_OFFSET);
        int blocks = (seg.y - seg.x + TM - 1) / TM;
        if (block < blocks) break;
        block -= blocks;
    }
    /* past the last segment: m = k = 0 rather than an early return (see common.cl) */
    int past = g == groups, r0 = past ? 0 : seg.x + block * TM;
    gemm_tile(past ? 0 : seg.y - r0, n, past ? 0 : k, 1.0f, beta, A + a_off + (long)r0 * k, k, 1,
              B + b_off + (long)g * k * n, trans_b ? 1 : n, trans_b ? k : 1,
              C + c_off + (long)r0 * n, n, 0, (int)get_group_id(0) * TN, As, Bs);
}

/* Weight gradient of a grouped GEMM: C_g = A[seg]^T * D[seg] + beta * C_g, one batch item
 * (z) per group; the segment is the depth k of the product. */
GEMM_KERNEL gemm_grouped_wgrad(int rows, int m, int n, float beta, __global const int *offsets,
                               ulong o_off, __global const float *A, ulong a_off,
                               __global const float *D, ulong d_off, __global float *C,
                               ulong c_off, __global int *fault) {
    __local float As[TK * TM], Bs[TK * TN];
    int g = get_group_id(2);
    int2 seg = checked_segment(offsets + o_off, g, rows, fault,
                               PM_FAULT_GEMM_GROUPED_WGRAD_OFFSET);
    gemm_tile(m, n, seg.y - seg.x, 1.0f, beta, A + a_off + (long)seg.x * m, 1, m,
              D + d_off + (long)seg.x * n, n, 1, C + c_off + (long)g * m * n, n,
              (int)get_group_id(1) * TM, (int)get_group_id(0) * TN, As, Bs);
}
