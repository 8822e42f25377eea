// Optimiser ops: the sum of squares behind the global grad norm (two deterministic passes in
// double), and AdamW (elementwise, in the CPU reference's float arithmetic).
#include "backends/cuda/cuda_device.cuh"

namespace {

constexpr int THREADS = 256;
constexpr unsigned SUMSQ_BLOCKS = 1024;  // partial sums of the first pass

__global__ void __launch_bounds__(THREADS)
sumsq_partial_kernel(double *partial, const float *x, size_t n) {
    double acc = 0.0;
    for (size_t i = thread_index(); i < n; i += thread_count()) acc += (double)x[i] * x[i];
    acc = block_sum(acc);
    if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

__global__ void __launch_bounds__(THREADS)
sumsq_total_kernel(float *out, const double *partial, unsigned count) {
    double acc = 0.0;
    for (unsigned i = threadIdx.x; i < count; i += blockDim.x) acc += partial[i];
    acc = block_sum(acc);
    if (threadIdx.x == 0) out[0] = (float)acc;
}

__global__ void adamw_kernel(float *params, const float *grads, float *m, float *v, size_t n,
                             float lr, float beta1, float beta2, float eps, float weight_decay,
                             float c1, float c2, float grad_scale) {
    for (size_t i = thread_index(); i < n; i += thread_count()) {
        const float g = grads[i] * grad_scale;
        const float mi = beta1 * m[i] + (1.0f - beta1) * g;
        const float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        params[i] -= lr * ((mi / c1) / (sqrtf(vi / c2) + eps) + weight_decay * params[i]);
    }
}

}  // namespace

extern "C" size_t cuk_sumsq_scratch_bytes(void) { return SUMSQ_BLOCKS * sizeof(double); }

extern "C" cudaError_t cuk_sumsq(cudaStream_t stream, float *out, const float *x, size_t n,
                                 double *scratch) {
    const unsigned blocks = (unsigned)min((size_t)SUMSQ_BLOCKS, (n + THREADS - 1) / THREADS);
    if (blocks) sumsq_partial_kernel<<<blocks, THREADS, 0, stream>>>(scratch, x, n);
    sumsq_total_kernel<<<1, THREADS, 0, stream>>>(out, scratch, blocks);
    return launched();
}

extern "C" cudaError_t cuk_adamw(cudaStream_t stream, float *params, const float *grads, float *m,
                                 float *v, size_t n, float lr, float beta1, float beta2,
                                 float eps, float weight_decay, float c1, float c2,
                                 float grad_scale) {
    if (n == 0) return cudaSuccess;
    adamw_kernel<<<blocks_for(n, THREADS), THREADS, 0, stream>>>(
        params, grads, m, v, n, lr, beta1, beta2, eps, weight_decay, c1, c2, grad_scale);
    return launched();
}
