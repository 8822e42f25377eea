// Dispatch: the plan as a counting sort (per-chunk histogram -> prefix sums -> stable scatter),
// then permute and combine with their backwards as row gathers and scatters.
#include "backends/cuda/cuda_device.cuh"

namespace {

constexpr int THREADS = 256;
constexpr int PLAN_WARPS = THREADS / WARP;
constexpr long PLAN_CHUNK = 16 * THREADS;  // assignments per block of the plan

long plan_chunks(long assignments) { return (assignments + PLAN_CHUNK - 1) / PLAN_CHUNK; }

// 1. counts[chunk][e]: assignments of chunk `blockIdx.x` routed to expert e.
__global__ void __launch_bounds__(THREADS)
plan_count_kernel(int32_t *counts, const int32_t *ids, long assignments, int E,
                  cuk_fault *fault) {
    __shared__ int hist[CUK_MAX_EXPERTS];
    for (int e = threadIdx.x; e < E; e += blockDim.x) hist[e] = 0;
    __syncthreads();
    const long begin = blockIdx.x * PLAN_CHUNK;
    const long end = min(begin + PLAN_CHUNK, assignments);
    for (long a = begin + threadIdx.x; a < end; a += blockDim.x) {
        const int e = ids[a];
        if (index_ok(fault, PM_FAULT_MOE_PLAN_ID, e, E)) atomicAdd(&hist[e], 1);
    }
    __syncthreads();
    for (int e = threadIdx.x; e < E; e += blockDim.x) counts[blockIdx.x * (long)E + e] = hist[e];
}

// 2. One block: counts[chunk][e] becomes the rank of the chunk's first assignment of e among
// all assignments of e (exclusive prefix over chunks); offsets = exclusive prefix over
// experts of the kept counts (at most `capacity` each when capacity > 0).
__global__ void __launch_bounds__(THREADS)
plan_offsets_kernel(int32_t *offsets, int32_t *counts, long chunks, int E, int capacity) {
    __shared__ int kept[CUK_MAX_EXPERTS];
    for (int e = threadIdx.x; e < E; e += blockDim.x) {
        int run = 0;
        for (long c = 0; c < chunks; c++) {
            const int n = counts[c * E + e];
            counts[c * E + e] = run;
            run += n;
        }
        kept[e] = capacity > 0 && run > capacity ? capacity : run;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        int acc = 0;
        offsets[0] = 0;
        for (int e = 0; e < E; e++) offsets[e + 1] = acc += kept[e];
    }
}

// 3. slots[a] = offsets[e] + rank of a among the assignments of e (stable in a = t * k + j),
// or -1 past the capacity. The chunk goes tile by tile (one assignment per thread); inside a
// tile, lanes with the same expert find each other with __match_any_sync and the warps'
// counts are prefix-summed in warp order.
__global__ void __launch_bounds__(THREADS)
plan_scatter_kernel(int32_t *slots, const int32_t *ids, const int32_t *offsets,
                    const int32_t *ranks, long assignments, int E, int capacity) {
    __shared__ int next_rank[CUK_MAX_EXPERTS];
    __shared__ int warp_rank[PLAN_WARPS][CUK_MAX_EXPERTS];
    const int warp = threadIdx.x / WARP, lane = lane_id();
    const unsigned lanes_below = (1u << lane) - 1u;
    for (int e = threadIdx.x; e < E; e += blockDim.x)
        next_rank[e] = ranks[blockIdx.x * (long)E + e];
    const long begin = blockIdx.x * PLAN_CHUNK;
    const long end = min(begin + PLAN_CHUNK, assignments);
    for (long tile = begin; tile < end; tile += THREADS) {
        for (int i = threadIdx.x; i < PLAN_WARPS * E; i += blockDim.x) warp_rank[i / E][i % E] = 0;
        __syncthreads();
        const long a = tile + threadIdx.x;
        int e = a < end ? ids[a] : -1;
        if (e >= E) e = -1;  // reported by plan_count_kernel
        const unsigned peers = __match_any_sync(FULL_MASK, e);
        const int before = __popc(peers & lanes_below);
        if (e >= 0 && before == 0) warp_rank[warp][e] = __popc(peers);
        __syncthreads();
        for (int x = threadIdx.x; x < E; x += blockDim.x) {
            int run = next_rank[x];
            for (int w = 0; w < PLAN_WARPS; w++) {
                const int n = warp_rank[w][x];
                warp_rank[w][x] = run;
                run += n;
            }
            next_rank[x] = run;
        }
        __syncthreads();
        if (e >= 0) {
            const int rank = warp_rank[warp][e] + before;
            slots[a] = capacity > 0 && rank >= capacity ? -1 : offsets[e] + rank;
        }
        __syncthreads();
    }
}

// xp[slots[a]] = x[a / k]: a block per assignment, threads over the columns.
__global__ void permute_kernel(float *xp, const float *x, const int32_t *slots, long assignments,
                               int k, int C, long rows, cuk_fault *fault) {
    for (long a = blockIdx.x; a < assignments; a += gridDim.x) {
        const int s = slots[a];
        if (s < 0 || !index_ok(fault, PM_FAULT_MOE_PERMUTE_SLOT, s, rows)) continue;
        const float *src = x + (size_t)(a / k) * C;
        float *dst = xp + (size_t)s * C;
        for (int c = threadIdx.x; c < C; c += blockDim.x) dst[c] = src[c];
    }
}

// Row t of a gather over the token's kept assignments: out[t] = sum_j weight_j * rows[slot].
// `gates` NULL means weight 1 (the permute backward).
__global__ void gather_kernel(float *out, const float *src, const int32_t *slots,
                              const float *gates, int N, int k, int C, long rows,
                              cuk_fault *fault, int site) {
    for (int t = blockIdx.x; t < N; t += gridDim.x) {
        const int32_t *slot = slots + (size_t)t * k;
        for (int c = threadIdx.x; c < C; c += blockDim.x) {
            float acc = 0.0f;
            for (int j = 0; j < k; j++) {
                const int s = slot[j];
                if (s < 0 || !index_ok(fault, site, s, rows)) continue;
                const float w = gates ? gates[(size_t)t * k + j] : 1.0f;
                acc += w * src[(size_t)s * C + c];
            }
            out[(size_t)t * C + c] = acc;
        }
    }
}

// A warp per assignment: dyp[slot] = gate * dy[t], dgates = dot(dy[t], yp[slot]).
__global__ void combine_bwd_kernel(float *dyp, float *dgates, const float *dy, const float *yp,
                                   const int32_t *slots, const float *gates, long assignments,
                                   int k, int C, long rows, cuk_fault *fault) {
    const int lane = lane_id();
    for (size_t a = warp_index(); a < (size_t)assignments; a += warp_count()) {
        const int s = slots[a];
        if (s < 0 || !index_ok(fault, PM_FAULT_MOE_COMBINE_BWD_SLOT, s, rows)) {
            if (lane == 0) dgates[a] = 0.0f;
            continue;
        }
        const float g = gates[a];
        const float *d = dy + (a / k) * C, *y = yp + (size_t)s * C;
        float *dst = dyp + (size_t)s * C;
        float dot = 0.0f;
        for (int c = lane; c < C; c += WARP) {
            dot += d[c] * y[c];
            dst[c] = g * d[c];
        }
        dot = warp_sum(dot);
        if (lane == 0) dgates[a] = dot;
    }
}

unsigned row_blocks(long rows) { return blocks_for((size_t)rows, 1); }

}  // namespace

extern "C" size_t cuk_plan_scratch_ints(long assignments, int E) {
    return (size_t)plan_chunks(assignments) * (size_t)(E > 0 ? E : 0);
}

extern "C" cudaError_t cuk_moe_plan(cudaStream_t stream, int32_t *offsets, int32_t *slots,
                                    const int32_t *ids, int N, int E, int k, int capacity,
                                    int32_t *scratch, cuk_fault *fault) {
    if (E < 1 || E > CUK_MAX_EXPERTS) return cudaErrorInvalidValue;
    const long assignments = (long)N * k, chunks = plan_chunks(assignments);
    if (chunks > 0)
        plan_count_kernel<<<(unsigned)chunks, THREADS, 0, stream>>>(scratch, ids, assignments, E,
                                                                    fault);
    plan_offsets_kernel<<<1, THREADS, 0, stream>>>(offsets, scratch, chunks, E, capacity);
    if (chunks > 0)
        plan_scatter_kernel<<<(unsigned)chunks, THREADS, 0, stream>>>(
            slots, ids, offsets, scratch, assignments, E, capacity);
    return launched();
}

extern "C" cudaError_t cuk_moe_permute(cudaStream_t stream, float *xp, const float *x,
                                       const int32_t *slots, int N, int k, int C, long rows,
                                       cuk_fault *fault) {
    const long assignments = (long)N * k;
    if (assignments <= 0 || C <= 0) return cudaSuccess;
    permute_kernel<<<row_blocks(assignments), THREADS, 0, stream>>>(xp, x, slots, assignments, k,
                                                                    C, rows, fault);
    return launched();
}

extern "C" cudaError_t cuk_moe_permute_bwd(cudaStream_t stream, float *dx, const float *dxp,
                                           const int32_t *slots, int N, int k, int C, long rows,
                                           cuk_fault *fault) {
    if (N <= 0 || C <= 0) return cudaSuccess;
    gather_kernel<<<row_blocks(N), THREADS, 0, stream>>>(dx, dxp, slots, NULL, N, k, C, rows,
                                                         fault, PM_FAULT_MOE_PERMUTE_BWD_SLOT);
    return launched();
}

extern "C" cudaError_t cuk_moe_combine(cudaStream_t stream, float *y, const float *yp,
                                       const int32_t *slots, const float *gates, int N, int k,
                                       int C, long rows, cuk_fault *fault) {
    if (N <= 0 || C <= 0) return cudaSuccess;
    gather_kernel<<<row_blocks(N), THREADS, 0, stream>>>(y, yp, slots, gates, N, k, C, rows,
                                                         fault, PM_FAULT_MOE_COMBINE_SLOT);
    return launched();
}

extern "C" cudaError_t cuk_moe_combine_bwd(cudaStream_t stream, float *dyp, float *dgates,
                                           const float *dy, const float *yp,
                                           const int32_t *slots, const float *gates, int N,
                                           int k, int C, long rows, cuk_fault *fault) {
    const long assignments = (long)N * k;
    if (assignments <= 0) return cudaSuccess;
    combine_bwd_kernel<<<blocks_for((size_t)assignments, THREADS / WARP), THREADS, 0, stream>>>(
        dyp, dgates, dy, yp, slots, gates, assignments, k, C, rows, fault);
    return launched();
}
