// Fused softmax + cross-entropy, forward (per-row loss) and backward: a block per row, whose
// log-sum-exp is found in one pass with a running (max, sum) per thread.
#include "backends/cuda/cuda_device.cuh"

namespace {

constexpr int THREADS = 256;

struct max_sum {
    float m, s;  // running max and sum of exp(x - m); m = -inf for no elements
};

__device__ __forceinline__ max_sum merge(max_sum a, max_sum b) {
    const float m = a.m > b.m ? a.m : b.m;
    if (m == -INFINITY) return a;
    return {m, a.s * expf(a.m - m) + b.s * expf(b.m - m)};
}

// log-sum-exp of row x (length V) over the block; every thread gets it.
__device__ float row_lse(const float *x, int V) {
    __shared__ max_sum partial[THREADS / WARP];
    max_sum acc = {-INFINITY, 0.0f};
    for (int v = threadIdx.x; v < V; v += blockDim.x) acc = merge(acc, {x[v], 1.0f});
    for (int o = WARP / 2; o > 0; o /= 2) {
        max_sum other = {__shfl_xor_sync(FULL_MASK, acc.m, o),
                         __shfl_xor_sync(FULL_MASK, acc.s, o)};
        acc = merge(acc, other);
    }
    if (lane_id() == 0) partial[threadIdx.x / WARP] = acc;
    __syncthreads();
    max_sum total = partial[0];
    for (int w = 1; w < THREADS / WARP; w++) total = merge(total, partial[w]);
    __syncthreads();
    return total.m + logf(total.s);
}

__global__ void __launch_bounds__(THREADS)
xent_fwd_kernel(float *losses, const float *logits, const int32_t *targets, int N, int V,
                cuk_fault *fault) {
    for (int row = blockIdx.x; row < N; row += gridDim.x) {
        const int t = targets[row];
        if (t < 0 || !index_ok(fault, PM_FAULT_XENT_FWD_TARGET, t, V)) {
            if (threadIdx.x == 0) losses[row] = 0.0f;
            continue;
        }
        const float *x = logits + (size_t)row * V;
        const float lse = row_lse(x, V);
        if (threadIdx.x == 0) losses[row] = lse - x[t];
    }
}

// Writes dlogits = (softmax - onehot) * dloss; dlogits may alias logits: every element is read
// by the thread that writes it, after the row's log-sum-exp is complete.
__global__ void __launch_bounds__(THREADS)
xent_bwd_kernel(float *dlogits, const float *logits, const int32_t *targets, int N, int V,
                float dloss, cuk_fault *fault) {
    for (int row = blockIdx.x; row < N; row += gridDim.x) {
        const int t = targets[row];
        float *dx = dlogits + (size_t)row * V;
        if (t < 0 || !index_ok(fault, PM_FAULT_XENT_BWD_TARGET, t, V)) {
            for (int v = threadIdx.x; v < V; v += blockDim.x) dx[v] = 0.0f * dloss;
            continue;
        }
        const float *x = logits + (size_t)row * V;
        const float lse = row_lse(x, V);
        for (int v = threadIdx.x; v < V; v += blockDim.x)
            dx[v] = (expf(x[v] - lse) - (v == t ? 1.0f : 0.0f)) * dloss;
    }
}

unsigned row_blocks(int rows) { return blocks_for((size_t)rows, 1); }

}  // namespace

extern "C" cudaError_t cuk_xent_fwd(cudaStream_t stream, float *losses, const float *logits,
                                    const int32_t *targets, int N, int V, cuk_fault *fault) {
    if (N <= 0 || V <= 0) return cudaSuccess;
    xent_fwd_kernel<<<row_blocks(N), THREADS, 0, stream>>>(losses, logits, targets, N, V, fault);
    return launched();
}

extern "C" cudaError_t cuk_xent_bwd(cudaStream_t stream, float *dlogits, const float *logits,
                                    const int32_t *targets, int N, int V, float dloss,
                                    cuk_fault *fault) {
    if (N <= 0 || V <= 0) return cudaSuccess;
    xent_bwd_kernel<<<row_blocks(N), THREADS, 0, stream>>>(dlogits, logits, targets, N, V, dloss,
                                                           fault);
    return launched();
}
