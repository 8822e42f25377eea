/* Benchmark inputs: device buffers filled from seeded host data, so that every backend works
 * on exactly the same numbers, allocated and freed together. */
#ifndef POLYMOE_BENCH_INPUTS_H
#define POLYMOE_BENCH_INPUTS_H

#include <stdint.h>

#include "backends/backend.h"

#define PM_BENCH_MAX_BUFS 48

typedef struct {
    pm_backend *be;
    pm_buf *bufs[PM_BENCH_MAX_BUFS];
    int n;
} pm_bench_bufs;

/* n floats uniform in [-scale, scale) from `seed`. */
pm_buf *pm_bench_uniform(pm_bench_bufs *b, size_t n, float scale, uint32_t seed);
/* n floats set to 0 on the device (outputs, gradients). */
pm_buf *pm_bench_zeros(pm_bench_bufs *b, size_t n);
/* n 4-byte elements copied from the host. */
pm_buf *pm_bench_upload(pm_bench_bufs *b, const void *src, size_t n);
/* Expert choices [N, k] as a router makes them: uniform over E, the k of a token distinct,
 * and the gates [N, k] (positive, summing to 1 per token); both uploaded. */
void pm_bench_routing(pm_bench_bufs *b, int N, int E, int k, uint32_t seed, pm_buf **ids,
                      pm_buf **gates);
void pm_bench_bufs_free(pm_bench_bufs *b);

/* Element i of the stream `seed`, uniform in [0, 1). */
double pm_bench_unit(uint32_t seed, size_t i);

#endif
