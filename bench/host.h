/* The machine a bench run is on: what tells its results apart (CPU model, threads, build, time)
 * and the measured float32 peak of its CPU. */
#ifndef POLYMOE_BENCH_HOST_H
#define POLYMOE_BENCH_HOST_H

#include "bench/results.h"

/* Fills `run` with this host, this build and the current time (fma_gflops PM_NA). */
void pm_bench_probe_host(pm_run_info *run);

/* The host's float32 FMA throughput in GFLOP/s on all OpenMP threads: independent multiply-add
 * chains, as many as the widest vector registers this file is built for need to hide the FMA
 * latency, timed for about `seconds`; the best of three runs. */
double pm_bench_fma_peak(double seconds);

#endif
