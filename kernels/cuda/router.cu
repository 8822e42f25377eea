// Router: softmax + top-k fused with a warp per token (the token's logits live in registers),
// statistics with a block per expert, backward with a warp per token. The softmax runs in
// double, as the CPU reference does, so that equal probabilities (the ties of top-k) come out
// equal on both and the selected ids match exactly.
#include "backends/cuda/cuda_device.cuh"

namespace {

constexpr int THREADS = 256;
constexpr int PER_LANE = CUK_MAX_EXPERTS / WARP;  // expert e sits in lane e % 32, slot e / 32

// The better of two candidates: higher probability, then lower expert; e < 0 is no candidate.
__device__ __forceinline__ bool better(float p, int e, float best_p, int best_e) {
    return e >= 0 && (best_e < 0 || p > best_p || (p == best_p && e < best_e));
}

__global__ void __launch_bounds__(THREADS)
router_fwd_kernel(float *probs, float *lse, int32_t *ids, float *gates, const float *logits,
                  int N, int E, int k) {
    const int lane = lane_id();
    for (size_t t = warp_index(); t < (size_t)N; t += warp_count()) {
        const float *x = logits + t * E;
        float p[PER_LANE];
        double ex[PER_LANE];
        float m = -INFINITY;
#pragma unroll
        for (int s = 0; s < PER_LANE; s++) {
            const int e = lane + s * WARP;
            p[s] = e < E ? x[e] : -INFINITY;
            m = p[s] > m ? p[s] : m;
        }
        m = warp_max(m);
        double sum = 0.0;
#pragma unroll
        for (int s = 0; s < PER_LANE; s++) {
            ex[s] = lane + s * WARP < E ? exp((double)p[s] - m) : 0.0;
            sum += ex[s];
        }
        sum = warp_sum(sum);
#pragma unroll
        for (int s = 0; s < PER_LANE; s++) {
            const int e = lane + s * WARP;
            p[s] = (float)(ex[s] / sum);
            if (e < E) probs[t * E + e] = p[s];
        }
        if (lane == 0) lse[t] = (float)(m + log(sum));

        // k rounds of a warp argmax over the experts not taken yet
        unsigned taken = 0;  // bit s: this lane's expert lane + 32 s is selected
        double selected = 0.0;
        int32_t *id = ids + t * k;
        float *g = gates + t * k;
        for (int j = 0; j < k; j++) {
            float best_p = 0.0f;
            int best_e = -1;
#pragma unroll
            for (int s = 0; s < PER_LANE; s++) {
                const int e = lane + s * WARP;
                if (e < E && !(taken >> s & 1u) && better(p[s], e, best_p, best_e)) {
                    best_p = p[s];
                    best_e = e;
                }
            }
            for (int o = WARP / 2; o > 0; o /= 2) {
                const float other_p = __shfl_xor_sync(FULL_MASK, best_p, o);
                const int other_e = __shfl_xor_sync(FULL_MASK, best_e, o);
                if (better(other_p, other_e, best_p, best_e)) {
                    best_p = other_p;
                    best_e = other_e;
                }
            }
            if (best_e % WARP == lane) taken |= 1u << (best_e / WARP);
            selected += best_p;
            if (lane == 0) {
                id[j] = best_e;
                g[j] = best_p;  // the selected probability, normalised below
            }
        }
        if (lane == 0)
            for (int j = 0; j < k; j++) g[j] = k == 1 ? 1.0f : (float)((double)g[j] / selected);
    }
}

// Block e < E: tokens routed to e and the sum of its probabilities; block E: sum of lse^2 and
// of the entropies. Written, not added; deterministic (fixed reduction order).
__global__ void __launch_bounds__(THREADS)
router_stats_kernel(float *stats, const float *probs, const float *lse, const int32_t *ids,
                    int N, int E, int k) {
    const int e = blockIdx.x;
    if (e < E) {
        int count = 0;
        double psum = 0.0;
        for (size_t a = threadIdx.x; a < (size_t)N * k; a += blockDim.x) count += ids[a] == e;
        for (size_t t = threadIdx.x; t < (size_t)N; t += blockDim.x) psum += probs[t * E + e];
        count = block_sum(count);
        psum = block_sum(psum);
        if (threadIdx.x == 0) {
            stats[e] = (float)count;
            stats[E + e] = (float)psum;
        }
    } else {
        double z = 0.0, ent = 0.0;
        for (size_t t = threadIdx.x; t < (size_t)N; t += blockDim.x) z += (double)lse[t] * lse[t];
        for (size_t i = threadIdx.x; i < (size_t)N * E; i += blockDim.x) {
            const double p = probs[i];
            if (p > 0) ent -= p * log(p);
        }
        z = block_sum(z);
        ent = block_sum(ent);
        if (threadIdx.x == 0) {
            stats[2 * E] = (float)z;
            stats[2 * E + 1] = (float)ent;
        }
    }
}

// dp[e] of one token: the load-balancing term plus the gate gradient reaching expert e,
// in the CPU reference's order of operations.
struct token_grad {
    const int32_t *id;
    const float *dg;
    const float *count;    // stats[0..E): tokens routed to each expert
    double lb_scale;       // lb_coef * E
    int N, k;
    double selected, dot;  // k >= 2: sum of the selected p, and of dgates * p
};

__device__ __forceinline__ double dp_of(int e, const token_grad &g) {
    double dp = g.lb_scale * (g.count[e] / ((double)g.N * g.k)) / g.N;
    if (g.k == 1) return g.id[0] == e ? dp + g.dg[0] : dp;
    for (int j = 0; j < g.k; j++)
        if (g.id[j] == e) dp += g.dg[j] / g.selected - g.dot / (g.selected * g.selected);
    return dp;
}

__global__ void __launch_bounds__(THREADS)
router_bwd_kernel(float *dlogits, const float *probs, const float *lse, const int32_t *ids,
                  const float *dgates, const float *stats, int N, int E, int k, float lb_coef,
                  float z_coef, float ent_coef, cuk_fault *fault) {
    const int lane = lane_id();
    for (size_t t = warp_index(); t < (size_t)N; t += warp_count()) {
        const float *p = probs + t * E;
        token_grad g = {ids + t * k, dgates + t * k, stats, (double)lb_coef * E, N, k, 0.0, 0.0};
        bool valid = true;
        for (int j = 0; j < k; j++) valid &= g.id[j] >= 0 && g.id[j] < E;
        if (!valid) {
            for (int j = 0; j < k && lane == 0; j++)
                index_ok(fault, PM_FAULT_ROUTER_BWD_ID, g.id[j], E);
            continue;
        }
        for (int j = 0; j < k && k >= 2; j++) {
            g.selected += p[g.id[j]];
            g.dot += (double)g.dg[j] * p[g.id[j]];
        }
        double pdp = 0.0;
        for (int e = lane; e < E; e += WARP) pdp += p[e] * dp_of(e, g);
        pdp = warp_sum(pdp);
        // z-loss: d/dx_e of z_coef * mean lse^2 is z_coef * 2 lse p_e / N
        const double zg = (double)z_coef * 2.0 * lse[t] / N;
        // entropy bonus: d/dx_e of -ent_coef * mean H is ent_coef * p_e (ln p_e + H) / N;
        // p_e = 0 adds 0 (never ln 0)
        double h = 0.0;
        for (int e = lane; e < E; e += WARP)
            if (p[e] > 0.0f) h -= p[e] * log((double)p[e]);
        h = warp_sum(h);
        const double eg = (double)ent_coef / N;
        float *dx = dlogits + t * E;
        for (int e = lane; e < E; e += WARP) {
            const double ent = p[e] > 0.0f ? eg * p[e] * (log((double)p[e]) + h) : 0.0;
            dx[e] = (float)(p[e] * (dp_of(e, g) - pdp) + zg * p[e] + ent);
        }
    }
}

unsigned warp_blocks(int rows) { return blocks_for((size_t)rows, THREADS / WARP); }

}  // namespace

extern "C" cudaError_t cuk_router_fwd(cudaStream_t stream, float *probs, float *lse, int32_t *ids,
                                      float *gates, const float *logits, int N, int E, int k) {
    if (N <= 0) return cudaSuccess;
    if (E < 1 || E > CUK_MAX_EXPERTS || k < 1 || k > E) return cudaErrorInvalidValue;
    router_fwd_kernel<<<warp_blocks(N), THREADS, 0, stream>>>(probs, lse, ids, gates, logits, N,
                                                              E, k);
    return launched();
}

extern "C" cudaError_t cuk_router_stats(cudaStream_t stream, float *stats, const float *probs,
                                        const float *lse, const int32_t *ids, int N, int E,
                                        int k) {
    if (E <= 0) return cudaSuccess;
    router_stats_kernel<<<(unsigned)E + 1, THREADS, 0, stream>>>(stats, probs, lse, ids, N, E, k);
    return launched();
}

extern "C" cudaError_t cuk_router_bwd(cudaStream_t stream, float *dlogits, const float *probs,
                                      const float *lse, const int32_t *ids, const float *dgates,
                                      const float *stats, int N, int E, int k, float lb_coef,
                                      float z_coef, float ent_coef, cuk_fault *fault) {
    if (N <= 0 || E <= 0 || k <= 0) return cudaSuccess;
    router_bwd_kernel<<<warp_blocks(N), THREADS, 0, stream>>>(dlogits, probs, lse, ids, dgates,
                                                              stats, N, E, k, lb_coef, z_coef,
                                                              ent_coef, fault);
    return launched();
}
