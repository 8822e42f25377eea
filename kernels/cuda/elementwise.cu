// Elementwise ops: encoder, add, fill, scale, GELU, bias add and bias gradient, router noise.
#include "backends/cuda/cuda_device.cuh"
#include "backends/pm_rng.h"

namespace {

constexpr int THREADS = 256;

// Row-wise kernels: blocks stride over rows, threads over the columns of a row.
__global__ void encoder_fwd_kernel(float *out, const int32_t *tokens, const float *wte,
                                   const float *wpe, long n_tok, int T, int C, long vocab_rows,
                                   cuk_fault *fault) {
    for (long row = blockIdx.x; row < n_tok; row += gridDim.x) {
        const int tok = tokens[row];
        if (!index_ok(fault, PM_FAULT_ENCODER_FWD_TOKEN, tok, vocab_rows)) continue;
        const float *e = wte + (size_t)tok * C, *p = wpe + (size_t)(row % T) * C;
        float *o = out + (size_t)row * C;
        for (int c = threadIdx.x; c < C; c += blockDim.x) o[c] = e[c] + p[c];
    }
}

// dwte rows are shared by equal tokens, so they take atomic adds.
__global__ void encoder_bwd_wte_kernel(float *dwte, const float *dout, const int32_t *tokens,
                                       long n_tok, int C, long vocab_rows, cuk_fault *fault) {
    for (long row = blockIdx.x; row < n_tok; row += gridDim.x) {
        const int tok = tokens[row];
        if (!index_ok(fault, PM_FAULT_ENCODER_BWD_TOKEN, tok, vocab_rows)) continue;
        const float *d = dout + (size_t)row * C;
        float *e = dwte + (size_t)tok * C;
        for (int c = threadIdx.x; c < C; c += blockDim.x) atomicAdd(&e[c], d[c]);
    }
}

// dwpe[t] sums dout[b, t] over the batch in order: deterministic, no atomics.
__global__ void encoder_bwd_wpe_kernel(float *dwpe, const float *dout, int B, int T, int C) {
    for (int t = blockIdx.x; t < T; t += gridDim.x)
        for (int c = threadIdx.x; c < C; c += blockDim.x) {
            float s = 0.0f;
            for (int b = 0; b < B; b++) s += dout[((size_t)b * T + t) * C + c];
            dwpe[(size_t)t * C + c] += s;
        }
}

__global__ void add_kernel(float *out, const float *a, const float *b, size_t n) {
    for (size_t i = thread_index(); i < n; i += thread_count()) out[i] = a[i] + b[i];
}

__global__ void fill_kernel(float *x, size_t n, float value) {
    for (size_t i = thread_index(); i < n; i += thread_count()) x[i] = value;
}

__global__ void scale_kernel(float *x, size_t n, float alpha) {
    for (size_t i = thread_index(); i < n; i += thread_count()) x[i] *= alpha;
}

// GPT-2's tanh GELU through 0.5 * (1 + tanh(u)) = sigmoid(2u), which keeps full relative
// precision in float where 1 + tanh(u) would cancel (large negative inputs).
constexpr float GELU_SCALE = 0.7978845608028654f;  // sqrt(2/pi)
__device__ __forceinline__ float gelu_u(float v) {
    return GELU_SCALE * (v + 0.044715f * v * v * v);
}

__global__ void gelu_fwd_kernel(float *out, const float *inp, size_t n) {
    for (size_t i = thread_index(); i < n; i += thread_count()) {
        const float v = inp[i];
        out[i] = v / (1.0f + expf(-2.0f * gelu_u(v)));
    }
}

// gelu' = s + v * 2 s (1 - s) * du/dv with s = sigmoid(2u), 1 - s = sigmoid(-2u).
__global__ void gelu_bwd_kernel(float *dinp, const float *inp, const float *dout, size_t n) {
    for (size_t i = thread_index(); i < n; i += thread_count()) {
        const float v = inp[i], u = gelu_u(v);
        const float s = 1.0f / (1.0f + expf(-2.0f * u)), s_neg = 1.0f / (1.0f + expf(2.0f * u));
        const float du = GELU_SCALE * (1.0f + 3.0f * 0.044715f * v * v);
        dinp[i] = (s + 2.0f * v * s * s_neg * du) * dout[i];
    }
}

// The segment holding row r: the last g with offsets[g] <= r, if r < offsets[g + 1];
// -1 for rows outside every segment. Offsets are non-decreasing, so a binary search.
__device__ int segment_of(int r, int groups, const int32_t *offsets) {
    if (offsets[0] > r) return -1;
    int lo = 0, hi = groups;
    while (lo < hi) {
        const int mid = (lo + hi + 1) / 2;
        if (offsets[mid] <= r) lo = mid;
        else hi = mid - 1;
    }
    return lo < groups && r < offsets[lo + 1] ? lo : -1;
}

__global__ void bias_add_kernel(float *out, const float *bias, int rows, int cols, int groups,
                                const int32_t *offsets) {
    for (int r = blockIdx.x; r < rows; r += gridDim.x) {
        const int g = groups ? segment_of(r, groups, offsets) : 0;
        if (g < 0) continue;
        float *o = out + (size_t)r * cols;
        const float *b = bias + (size_t)g * cols;
        for (int c = threadIdx.x; c < cols; c += blockDim.x) o[c] += b[c];
    }
}

// Grid: x over 32-column strips, y strides over the bias rows (segments).
__global__ void bias_grad_kernel(float *dbias, const float *dout, int rows, int cols, int groups,
                                 const int32_t *offsets) {
    const int n_bias = groups ? groups : 1;
    for (int g = blockIdx.y; g < n_bias; g += gridDim.y) {
        const int lo = groups ? max(offsets[g], 0) : 0;
        const int hi = groups ? min(offsets[g + 1], rows) : rows;
        const float s = column_sum(lo, hi, cols, [&](int r, int c) {
            return dout[(size_t)r * cols + c];
        });
        const int c = blockIdx.x * COLSUM_X + threadIdx.x;
        if (threadIdx.y == 0 && c < cols) dbias[(size_t)g * cols + c] += s;
    }
}

__global__ void add_noise_kernel(float *x, size_t n, float std, uint32_t seed) {
    for (size_t i = thread_index(); i < n; i += thread_count())
        x[i] += std * pm_normal(seed, (uint32_t)i);
}

unsigned row_blocks(long rows) { return blocks_for((size_t)rows, 1); }

}  // namespace

extern "C" cudaError_t cuk_encoder_fwd(cudaStream_t stream, float *out, const int32_t *tokens,
                                       const float *wte, const float *wpe, int B, int T, int C,
                                       long vocab_rows, cuk_fault *fault) {
    const long n_tok = (long)B * T;
    if (n_tok <= 0 || C <= 0) return cudaSuccess;
    encoder_fwd_kernel<<<row_blocks(n_tok), THREADS, 0, stream>>>(out, tokens, wte, wpe, n_tok,
                                                                   T, C, vocab_rows, fault);
    return launched();
}

extern "C" cudaError_t cuk_encoder_bwd(cudaStream_t stream, float *dwte, float *dwpe,
                                       const float *dout, const int32_t *tokens, int B, int T,
                                       int C, long vocab_rows, cuk_fault *fault) {
    const long n_tok = (long)B * T;
    if (n_tok <= 0 || C <= 0) return cudaSuccess;
    encoder_bwd_wte_kernel<<<row_blocks(n_tok), THREADS, 0, stream>>>(dwte, dout, tokens, n_tok,
                                                                       C, vocab_rows, fault);
    encoder_bwd_wpe_kernel<<<row_blocks(T), THREADS, 0, stream>>>(dwpe, dout, B, T, C);
    return launched();
}

extern "C" cudaError_t cuk_add(cudaStream_t stream, float *out, const float *a, const float *b,
                               size_t n) {
    if (n == 0) return cudaSuccess;
    add_kernel<<<blocks_for(n, THREADS), THREADS, 0, stream>>>(out, a, b, n);
    return launched();
}

extern "C" cudaError_t cuk_fill(cudaStream_t stream, float *x, size_t n, float value) {
    if (n == 0) return cudaSuccess;
    fill_kernel<<<blocks_for(n, THREADS), THREADS, 0, stream>>>(x, n, value);
    return launched();
}

extern "C" cudaError_t cuk_scale(cudaStream_t stream, float *x, size_t n, float alpha) {
    if (n == 0) return cudaSuccess;
    scale_kernel<<<blocks_for(n, THREADS), THREADS, 0, stream>>>(x, n, alpha);
    return launched();
}

extern "C" cudaError_t cuk_gelu_fwd(cudaStream_t stream, float *out, const float *inp, size_t n) {
    if (n == 0) return cudaSuccess;
    gelu_fwd_kernel<<<blocks_for(n, THREADS), THREADS, 0, stream>>>(out, inp, n);
    return launched();
}

extern "C" cudaError_t cuk_gelu_bwd(cudaStream_t stream, float *dinp, const float *inp,
                                    const float *dout, size_t n) {
    if (n == 0) return cudaSuccess;
    gelu_bwd_kernel<<<blocks_for(n, THREADS), THREADS, 0, stream>>>(dinp, inp, dout, n);
    return launched();
}

extern "C" cudaError_t cuk_bias_add(cudaStream_t stream, float *out, const float *bias, int rows,
                                    int cols, int groups, const int32_t *offsets) {
    if (rows <= 0 || cols <= 0) return cudaSuccess;
    bias_add_kernel<<<row_blocks(rows), THREADS, 0, stream>>>(out, bias, rows, cols, groups,
                                                              offsets);
    return launched();
}

extern "C" cudaError_t cuk_bias_grad(cudaStream_t stream, float *dbias, const float *dout,
                                     int rows, int cols, int groups, const int32_t *offsets) {
    if (cols <= 0) return cudaSuccess;
    const int n_bias = groups ? groups : 1;
    const dim3 grid((unsigned)((cols + COLSUM_X - 1) / COLSUM_X),
                    (unsigned)(n_bias < 65535 ? n_bias : 65535));
    bias_grad_kernel<<<grid, dim3(COLSUM_X, COLSUM_Y), 0, stream>>>(dbias, dout, rows, cols,
                                                                    groups, offsets);
    return launched();
}

extern "C" cudaError_t cuk_add_noise(cudaStream_t stream, float *x, size_t n, float std,
                                     uint32_t seed) {
    if (n == 0) return cudaSuccess;
    add_noise_kernel<<<blocks_for(n, THREADS), THREADS, 0, stream>>>(x, n, std, seed);
    return launched();
}
