// The causal softmax steps of attention (the products around them are GEMMs, see
// backends/cuda/cuda_attention.c). A warp per row of T scores; row r is query t = r % T.
#include "backends/cuda/cuda_device.cuh"

namespace {

constexpr int THREADS = 256;

// In place: softmax over the scores 0..t, zeros above the diagonal.
__global__ void causal_softmax_fwd_kernel(float *att, long rows, int T) {
    const int lane = lane_id();
    for (size_t row = warp_index(); row < (size_t)rows; row += warp_count()) {
        float *a = att + row * T;
        const int t = (int)(row % T);
        float m = -INFINITY;
        for (int j = lane; j <= t; j += WARP) m = a[j] > m ? a[j] : m;
        m = warp_max(m);
        float s = 0.0f;
        for (int j = lane; j <= t; j += WARP) s += expf(a[j] - m);
        const float inv = 1.0f / warp_sum(s);
        for (int j = lane; j < T; j += WARP) a[j] = j <= t ? expf(a[j] - m) * inv : 0.0f;
    }
}

// In place on datt: d(pre-softmax) = att * (datt - sum(datt * att)) * scale, zeros above.
__global__ void causal_softmax_bwd_kernel(float *datt, const float *att, long rows, int T,
                                          float scale) {
    const int lane = lane_id();
    for (size_t row = warp_index(); row < (size_t)rows; row += warp_count()) {
        float *d = datt + row * T;
        const float *a = att + row * T;
        const int t = (int)(row % T);
        float dot = 0.0f;
        for (int j = lane; j <= t; j += WARP) dot += d[j] * a[j];
        dot = warp_sum(dot);
        for (int j = lane; j < T; j += WARP) d[j] = j <= t ? a[j] * (d[j] - dot) * scale : 0.0f;
    }
}

unsigned warp_blocks(long rows) { return blocks_for((size_t)rows, THREADS / WARP); }

}  // namespace

extern "C" cudaError_t cuk_causal_softmax_fwd(cudaStream_t stream, float *att, long rows, int T) {
    if (rows <= 0 || T <= 0) return cudaSuccess;
    causal_softmax_fwd_kernel<<<warp_blocks(rows), THREADS, 0, stream>>>(att, rows, T);
    return launched();
}

extern "C" cudaError_t cuk_causal_softmax_bwd(cudaStream_t stream, float *datt, const float *att,
                                              long rows, int T, float scale) {
    if (rows <= 0 || T <= 0) return cudaSuccess;
    causal_softmax_bwd_kernel<<<warp_blocks(rows), THREADS, 0, stream>>>(datt, att, rows, T,
                                                                         scale);
    return launched();
}
