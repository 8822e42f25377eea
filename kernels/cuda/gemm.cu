// GEMM, the "own" implementation: 64 x 64 output tiles staged through shared memory in
// 16-deep slices of K, each of the 256 threads accumulating a 4 x 4 register block in float.
// One tile routine serves the batched GEMM and both grouped GEMMs, which read the segment
// offsets on the device (no host round trip). With g.tf32 the same tiles multiply on tensor
// cores in TF32 (sm_80 and later): operands rounded to a 10-bit mantissa, float accumulation.
#include "backends/cuda/cuda_device.cuh"

#include <limits.h>
#include <mma.h>

namespace {

constexpr int BM = 64, BN = 64, BK = 16;
constexpr int TILE_THREADS = 256;          // 16 x 16 threads
constexpr int REG = 4;                     // each thread: REG x REG outputs, 16 apart

// Element (i, p) of op(A) and (p, j) of op(B), 0 outside the matrix.
__device__ __forceinline__ float load_a(const cuk_matmul &g, int i, int p) {
    if (i >= g.m || p >= g.k) return 0.0f;
    return g.trans_a ? g.a[(size_t)p * g.lda + i] : g.a[(size_t)i * g.lda + p];
}
__device__ __forceinline__ float load_b(const cuk_matmul &g, int p, int j) {
    if (p >= g.k || j >= g.n) return 0.0f;
    return g.trans_b ? g.b[(size_t)j * g.ldb + p] : g.b[(size_t)p * g.ldb + j];
}

// Computes the BM x BN tile of C at (row0, col0). Every thread of the block must call it
// (it synchronises); it ends with a barrier, so the block may call it again.
__device__ void gemm_tile(const cuk_matmul &g, int row0, int col0) {
    __shared__ float As[BK][BM + 1];
    __shared__ float Bs[BK][BN + 1];
    const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
    float acc[REG][REG] = {};
    for (int k0 = 0; k0 < g.k; k0 += BK) {
        // The walk follows the stored layout so that neighbouring threads read neighbouring
        // addresses whether or not the operand is transposed.
        for (int l = tid; l < BM * BK; l += TILE_THREADS) {
            int i = g.trans_a ? l % BM : l / BK, p = g.trans_a ? l / BM : l % BK;
            As[p][i] = load_a(g, row0 + i, k0 + p);
            int j = g.trans_b ? l / BK : l % BN, q = g.trans_b ? l % BK : l / BN;
            Bs[q][j] = load_b(g, k0 + q, col0 + j);
        }
        __syncthreads();
#pragma unroll
        for (int p = 0; p < BK; p++) {
            float av[REG], bv[REG];
#pragma unroll
            for (int r = 0; r < REG; r++) {
                av[r] = As[p][ty + 16 * r];
                bv[r] = Bs[p][tx + 16 * r];
            }
#pragma unroll
            for (int r = 0; r < REG; r++)
#pragma unroll
                for (int c = 0; c < REG; c++) acc[r][c] = fmaf(av[r], bv[c], acc[r][c]);
        }
        __syncthreads();
    }
#pragma unroll
    for (int r = 0; r < REG; r++) {
        const int i = row0 + ty + 16 * r;
        if (i >= g.m) continue;
#pragma unroll
        for (int c = 0; c < REG; c++) {
            const int j = col0 + tx + 16 * c;
            if (j >= g.n) continue;
            float *out = &g.c[(size_t)i * g.ldc + j];
            // beta == 0 ignores C, which may hold NaN (the BLAS rule)
            *out = g.beta != 0.0f ? g.alpha * acc[r][c] + g.beta * *out : g.alpha * acc[r][c];
        }
    }
}

// The TF32 tile: the same staging (rounded to TF32 on the way into shared memory), then
// wmma m16n16k8 products; each of the 8 warps owns a 16 x 32 strip (two 16 x 16
// accumulators), which goes through shared memory to the alpha/beta epilogue. wmma wants
// 32-byte aligned fragments and leading dimensions in multiples of 4 floats, hence PAD.
__device__ void gemm_tile_tf32(const cuk_matmul &g, int row0, int col0) {
#if __CUDA_ARCH__ >= 800
    using namespace nvcuda;
    constexpr int PAD = 4, WM = 16, WN = 16, WK = 8;
    __shared__ __align__(32) float As[BK][BM + PAD]; // As[p][i] = A(i, p): column-major A
    __shared__ __align__(32) float Bs[BK][BN + PAD];
    __shared__ __align__(32) float Cs[BM][BN + PAD];
    const int tid = threadIdx.x, warp = tid / WARP;
    const int wr = (warp / 2) * WM, wc = (warp % 2) * 2 * WN; // the warp's strip in the tile
    wmma::fragment<wmma::accumulator, WM, WN, WK, float> acc[2];
    wmma::fill_fragment(acc[0], 0.0f);
    wmma::fill_fragment(acc[1], 0.0f);
    for (int k0 = 0; k0 < g.k; k0 += BK) {
        for (int l = tid; l < BM * BK; l += TILE_THREADS) {
            int i = g.trans_a ? l % BM : l / BK, p = g.trans_a ? l / BM : l % BK;
            As[p][i] = wmma::__float_to_tf32(load_a(g, row0 + i, k0 + p));
            int j = g.trans_b ? l / BK : l % BN, q = g.trans_b ? l % BK : l / BN;
            Bs[q][j] = wmma::__float_to_tf32(load_b(g, k0 + q, col0 + j));
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < BK; kk += WK) {
            wmma::fragment<wmma::matrix_a, WM, WN, WK, wmma::precision::tf32, wmma::col_major> a;
            wmma::load_matrix_sync(a, &As[kk][wr], BM + PAD);
#pragma unroll
            for (int f = 0; f < 2; f++) {
                wmma::fragment<wmma::matrix_b, WM, WN, WK, wmma::precision::tf32, wmma::row_major> b;
                wmma::load_matrix_sync(b, &Bs[kk][wc + f * WN], BN + PAD);
                wmma::mma_sync(acc[f], a, b, acc[f]);
            }
        }
        __syncthreads();
    }
    wmma::store_matrix_sync(&Cs[wr][wc], acc[0], BN + PAD, wmma::mem_row_major);
    wmma::store_matrix_sync(&Cs[wr][wc + WN], acc[1], BN + PAD, wmma::mem_row_major);
    __syncthreads();
    for (int l = tid; l < BM * BN; l += TILE_THREADS) {
        const int i = row0 + l / BN, j = col0 + l % BN;
        if (i >= g.m || j >= g.n) continue;
        float *out = &g.c[(size_t)i * g.ldc + j];
        const float v = Cs[l / BN][l % BN];
        *out = g.beta != 0.0f ? g.alpha * v + g.beta * *out : g.alpha * v;
    }
    __syncthreads();
#else
    // No tensor-core TF32 before sm_80: the host offers the TF32 implementations only on
    // compute capability 8.0 and later, so this float path is never chosen for one.
    gemm_tile(g, row0, col0);
#endif
}

template <bool TF32> __device__ __forceinline__ void tile(const cuk_matmul &g, int row0, int col0) {
    if constexpr (TF32) gemm_tile_tf32(g, row0, col0);
    else gemm_tile(g, row0, col0);
}

__host__ __device__ int tiles(int extent, int tile) { return (extent + tile - 1) / tile; }

// blockIdx.x numbers the output tiles (row-tile major), blockIdx.y strides over the batch.
template <bool TF32>
__global__ void __launch_bounds__(TILE_THREADS)
gemm_batched_kernel(cuk_matmul g, int batch, long stride_a, long stride_b, long stride_c,
                    int tiles_n) {
    const int row0 = (int)(blockIdx.x / tiles_n) * BM, col0 = (int)(blockIdx.x % tiles_n) * BN;
    for (int z = blockIdx.y; z < batch; z += gridDim.y) {
        cuk_matmul item = g;
        item.a += z * stride_a;
        item.b += z * stride_b;
        item.c += z * stride_c;
        tile<TF32>(item, row0, col0);
    }
}

// Segment bounds of group grp, or 0 when the offsets are not a non-decreasing partition of
// `rows` there (the first bad offset is reported by check_offsets).
__device__ __forceinline__ int segment(const int32_t *offsets, int grp, int rows, int *lo,
                                       int *hi) {
    *lo = offsets[grp];
    *hi = offsets[grp + 1];
    return *lo >= 0 && *lo <= *hi && *hi <= rows;
}

__device__ void check_offsets(const int32_t *offsets, int groups, int rows, cuk_fault *fault,
                              int site) {
    for (int grp = 0; grp < groups; grp++) {
        int lo, hi;
        if (!segment(offsets, grp, rows, &lo, &hi)) {
            report_fault(fault, site, lo < 0 || lo > hi ? lo : hi, rows + 1);
            return;
        }
    }
}

// blockIdx.x = (row tile m, column tile n): the row tiles of all segments are numbered one
// after the other, so the grid covers at most ceil(rows / BM) + groups row tiles.
template <bool TF32>
__global__ void __launch_bounds__(TILE_THREADS)
gemm_grouped_kernel(cuk_matmul g, int groups, const int32_t *offsets, int tiles_n,
                    cuk_fault *fault) {
    const int rows = g.m;
    if (blockIdx.x == 0 && threadIdx.x == 0)
        check_offsets(offsets, groups, rows, fault, PM_FAULT_GEMM_GROUPED_OFFSET);
    int mt = (int)(blockIdx.x / tiles_n);
    const int col0 = (int)(blockIdx.x % tiles_n) * BN;
    for (int grp = 0; grp < groups; grp++) {
        int lo, hi;
        if (!segment(offsets, grp, rows, &lo, &hi)) return;
        const int seg_tiles = tiles(hi - lo, BM);
        if (mt < seg_tiles) {
            cuk_matmul s = g;
            s.m = hi - lo;
            s.a = g.a + (size_t)lo * g.lda;
            s.b = g.b + (size_t)grp * g.k * g.n;
            s.c = g.c + (size_t)lo * g.ldc;
            tile<TF32>(s, mt * BM, col0);
            return;
        }
        mt -= seg_tiles;
    }
}

// blockIdx.x = output tile of C_g, blockIdx.y strides over the groups; K is the segment.
template <bool TF32>
__global__ void __launch_bounds__(TILE_THREADS)
gemm_wgrad_kernel(cuk_matmul g, int rows, int groups, const int32_t *offsets, int tiles_n,
                  cuk_fault *fault) {
    if (blockIdx.x == 0 && blockIdx.y == 0 && threadIdx.x == 0)
        check_offsets(offsets, groups, rows, fault, PM_FAULT_GEMM_GROUPED_WGRAD_OFFSET);
    const int row0 = (int)(blockIdx.x / tiles_n) * BM, col0 = (int)(blockIdx.x % tiles_n) * BN;
    for (int grp = blockIdx.y; grp < groups; grp += gridDim.y) {
        int lo, hi;
        if (!segment(offsets, grp, rows, &lo, &hi)) return;
        cuk_matmul s = g;
        s.k = hi - lo;
        s.a = g.a + (size_t)lo * g.lda;
        s.b = g.b + (size_t)lo * g.ldb;
        s.c = g.c + (size_t)grp * g.m * g.n;
        tile<TF32>(s, row0, col0);
    }
}

// Output tile count of an m x n result, or 0 when it does not fit a grid's x dimension.
unsigned tile_grid(long row_tiles, int n) {
    long total = row_tiles * tiles(n, BN);
    return total > 0 && total <= INT_MAX ? (unsigned)total : 0;
}

unsigned y_extent(int count) { return (unsigned)(count < 65535 ? count : 65535); }

}  // namespace

extern "C" cudaError_t cuk_gemm(cudaStream_t stream, cuk_matmul g, int batch, long stride_a,
                                long stride_b, long stride_c) {
    if (g.m <= 0 || g.n <= 0 || batch <= 0) return cudaSuccess;
    const unsigned grid = tile_grid(tiles(g.m, BM), g.n);
    if (!grid) return cudaErrorInvalidConfiguration;
    const dim3 blocks(grid, y_extent(batch));
    if (g.tf32)
        gemm_batched_kernel<true><<<blocks, TILE_THREADS, 0, stream>>>(
            g, batch, stride_a, stride_b, stride_c, tiles(g.n, BN));
    else
        gemm_batched_kernel<false><<<blocks, TILE_THREADS, 0, stream>>>(
            g, batch, stride_a, stride_b, stride_c, tiles(g.n, BN));
    return launched();
}

extern "C" cudaError_t cuk_gemm_grouped(cudaStream_t stream, cuk_matmul g, int groups,
                                        const int32_t *offsets, cuk_fault *fault) {
    if (g.n <= 0 || groups <= 0) return cudaSuccess;
    const unsigned grid = tile_grid((long)tiles(g.m, BM) + groups, g.n);
    if (!grid) return cudaErrorInvalidConfiguration;
    if (g.tf32)
        gemm_grouped_kernel<true><<<grid, TILE_THREADS, 0, stream>>>(g, groups, offsets,
                                                                     tiles(g.n, BN), fault);
    else
        gemm_grouped_kernel<false><<<grid, TILE_THREADS, 0, stream>>>(g, groups, offsets,
                                                                      tiles(g.n, BN), fault);
    return launched();
}

extern "C" cudaError_t cuk_gemm_grouped_wgrad(cudaStream_t stream, cuk_matmul g, int rows,
                                              int groups, const int32_t *offsets,
                                              cuk_fault *fault) {
    if (g.m <= 0 || g.n <= 0 || groups <= 0) return cudaSuccess;
    const unsigned grid = tile_grid(tiles(g.m, BM), g.n);
    if (!grid) return cudaErrorInvalidConfiguration;
    const dim3 blocks(grid, y_extent(groups));
    if (g.tf32)
        gemm_wgrad_kernel<true><<<blocks, TILE_THREADS, 0, stream>>>(g, rows, groups, offsets,
                                                                     tiles(g.n, BN), fault);
    else
        gemm_wgrad_kernel<false><<<blocks, TILE_THREADS, 0, stream>>>(g, rows, groups, offsets,
                                                                      tiles(g.n, BN), fault);
    return launched();
}
