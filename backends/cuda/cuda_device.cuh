/* Device helpers shared by the kernels (the .cu files of kernels/cuda/): launch geometry,
 * warp and block reductions, the fault record. Block sizes are fixed per kernel. */
#ifndef POLYMOE_CUDA_DEVICE_CUH
#define POLYMOE_CUDA_DEVICE_CUH

#include <cuda_runtime.h>
#include <math.h>

#include "backends/cuda/cuda_kernels.h"

constexpr unsigned FULL_MASK = 0xffffffffu;
constexpr int WARP = 32;
/* Grid-stride kernels never need more blocks than this to fill any current GPU. */
constexpr size_t MAX_BLOCKS = 65535;

/* Blocks for a grid-stride loop over n items, `per_block` items per block per pass. */
static inline unsigned blocks_for(size_t n, size_t per_block) {
    size_t b = (n + per_block - 1) / per_block;
    return (unsigned)(b < MAX_BLOCKS ? b : MAX_BLOCKS);
}

/* The launch status of the kernels just enqueued. */
static inline cudaError_t launched(void) { return cudaGetLastError(); }

/* Global index and stride of a grid-stride loop over elements, and over warps. */
__device__ __forceinline__ size_t thread_index() {
    return (size_t)blockIdx.x * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ size_t thread_count() { return (size_t)gridDim.x * blockDim.x; }
__device__ __forceinline__ size_t warp_index() { return thread_index() / WARP; }
__device__ __forceinline__ size_t warp_count() { return thread_count() / WARP; }
__device__ __forceinline__ int lane_id() { return (int)(threadIdx.x % WARP); }

template <typename T> __device__ __forceinline__ T warp_sum(T v) {
    for (int o = WARP / 2; o > 0; o /= 2) v += __shfl_xor_sync(FULL_MASK, v, o);
    return v;
}

template <typename T> __device__ __forceinline__ T warp_max(T v) {
    for (int o = WARP / 2; o > 0; o /= 2) {
        T other = __shfl_xor_sync(FULL_MASK, v, o);
        v = other > v ? other : v;
    }
    return v;
}

/* Sum over a 1-D block (blockDim.x a multiple of 32, at most 1024); every thread gets it.
 * Ends with a barrier, so it may be called again right away. */
template <typename T> __device__ T block_sum(T v) {
    __shared__ T partial[WARP];
    const int warp = threadIdx.x / WARP, warps = blockDim.x / WARP;
    v = warp_sum(v);
    if (lane_id() == 0) partial[warp] = v;
    __syncthreads();
    T total = 0;
    for (int w = 0; w < warps; w++) total += partial[w];
    __syncthreads();
    return total;
}

/* Sums value(r, c) over rows lo..hi-1 for column c = blockIdx.x * 32 + threadIdx.x of a
 * 32 x 8 block: the rows are split over threadIdx.y, then combined in a fixed order, so the
 * result is deterministic. The total is valid in the threads with threadIdx.y == 0. */
constexpr int COLSUM_X = 32, COLSUM_Y = 8;
template <typename F> __device__ float column_sum(int lo, int hi, int cols, F value) {
    __shared__ float partial[COLSUM_Y][COLSUM_X + 1];
    const int c = blockIdx.x * COLSUM_X + threadIdx.x;
    float s = 0.0f;
    if (c < cols)
        for (int r = lo + (int)threadIdx.y; r < hi; r += COLSUM_Y) s += value(r, c);
    partial[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y == 0)
        for (int y = 1; y < COLSUM_Y; y++) s += partial[y][threadIdx.x];
    __syncthreads();
    return s;
}

/* Records the first bad input; later ones are dropped. */
__device__ __forceinline__ void report_fault(cuk_fault *f, int site, int value, int limit) {
    if (atomicCAS(&f->site, PM_FAULT_NONE, site) == PM_FAULT_NONE) {
        f->value = value;
        f->limit = limit;
    }
}

/* 1 when 0 <= v < limit; else records the fault and returns 0. */
__device__ __forceinline__ int index_ok(cuk_fault *f, int site, int v, long limit) {
    if (v >= 0 && v < limit) return 1;
    report_fault(f, site, v, limit > 0x7fffffff ? 0x7fffffff : (int)limit);
    return 0;
}

#endif
