#include "bench/inputs.h"

#include <stdlib.h>

#include "backends/pm_rng.h"

double pm_bench_unit(uint32_t seed, size_t i) {
    uint32_t h = pm_hash32(seed ^ pm_hash32((uint32_t)i ^ pm_hash32((uint32_t)(i >> 32))));
    return (double)(h >> 8) / 16777216.0;
}

/* Tracks buf for pm_bench_bufs_free; on a full list it fails the backend cleanly. */
static pm_buf *keep(pm_bench_bufs *b, pm_buf *buf) {
    if (!buf) return NULL;
    if (b->n == PM_BENCH_MAX_BUFS) {
        pm_free(b->be, buf);
        pm_fail(b->be, "bench", "more than %d buffers in one benchmark", PM_BENCH_MAX_BUFS);
        return NULL;
    }
    return b->bufs[b->n++] = buf;
}

pm_buf *pm_bench_upload(pm_bench_bufs *b, const void *src, size_t n) {
    pm_buf *buf = keep(b, pm_alloc(b->be, n * 4));
    if (buf) pm_upload(b->be, buf, src, 0, n * 4);
    return buf;
}

pm_buf *pm_bench_zeros(pm_bench_bufs *b, size_t n) {
    pm_buf *buf = keep(b, pm_alloc(b->be, n * 4));
    if (buf) pm_op(b->be, fill, pm_at(buf, 0), n, 0.0f);
    return buf;
}

pm_buf *pm_bench_uniform(pm_bench_bufs *b, size_t n, float scale, uint32_t seed) {
    float *h = malloc(n * sizeof *h);
    if (!h) {
        pm_fail(b->be, "bench", "out of host memory for %zu floats", n);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) h[i] = scale * (float)(2.0 * pm_bench_unit(seed, i) - 1.0);
    pm_buf *buf = pm_bench_upload(b, h, n);
    free(h);
    return buf;
}

void pm_bench_routing(pm_bench_bufs *b, int N, int E, int k, uint32_t seed, pm_buf **ids,
                      pm_buf **gates) {
    size_t n = (size_t)N * k;
    int32_t *id = malloc(n * sizeof *id);
    float *g = malloc(n * sizeof *g);
    *ids = *gates = NULL;
    if (!id || !g) {
        pm_fail(b->be, "bench", "out of host memory for %zu expert choices", n);
    } else {
        for (int t = 0; t < N; t++) {
            int32_t *row = id + (size_t)t * k;
            double sum = 0;
            for (int j = 0; j < k; j++) {
                int e = (int)(pm_bench_unit(seed, (size_t)t * k + j) * E);
                for (int i = 0; i < j; i++) /* distinct choices: step past taken experts */
                    if (row[i] == e) e = (e + 1) % E, i = -1;
                row[j] = e;
                g[(size_t)t * k + j] = (float)(0.5 + pm_bench_unit(seed + 1, (size_t)t * k + j));
                sum += g[(size_t)t * k + j];
            }
            for (int j = 0; j < k; j++) g[(size_t)t * k + j] = (float)(g[(size_t)t * k + j] / sum);
        }
        *ids = pm_bench_upload(b, id, n);
        *gates = pm_bench_upload(b, g, n);
    }
    free(id);
    free(g);
}

void pm_bench_bufs_free(pm_bench_bufs *b) {
    for (int i = 0; i < b->n; i++) pm_free(b->be, b->bufs[i]);
    b->n = 0;
}
