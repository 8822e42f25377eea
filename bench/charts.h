/* The benchmark charts drawn from the results. */
#ifndef POLYMOE_BENCH_CHARTS_H
#define POLYMOE_BENCH_CHARTS_H

#include "bench/results.h"

/* DIR/gemm.svg: GFLOP/s of square GEMMs by size, one line per backend:implementation.
 * DIR/moe_vs_dense.svg: MoE/dense time ratio of the moe_layer cases, one bar each.
 * A chart with nothing to draw is not written. Returns the number of charts written, or -1
 * (errno set). */
int pm_bench_charts(const pm_results *r, const char *dir);

#endif
