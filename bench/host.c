#define _POSIX_C_SOURCE 200809L /* gmtime_r */
#include "bench/host.h"

#include <omp.h>
#include <stdio.h>
#include <time.h>

#include "backends/backend.h"
#include "bench/measure.h"
#include "polymoe_commit.h" /* generated at build time: POLYMOE_COMMIT */

/* Independent accumulators per thread, in floats: eight vector registers of the widest width
 * this file is compiled for (CMakeLists.txt gives it the cpu backend's flags), enough chains to
 * keep two FMA pipes busy through their latency, and few enough to stay in registers. */
#if defined(__AVX512F__)
#define LANES 16
#elif defined(__AVX__)
#define LANES 8
#else
#define LANES 4
#endif
#define CHAINS (8 * LANES)

/* Read at run time, so that the compiler cannot fold the loop; m < 1 keeps the chains bounded
 * (they tend to a / (1 - m)), so no run ever meets infinities or denormals. */
static volatile float mul = 0.999999f, add = 1e-6f;
static volatile float sink; /* takes the result, so that the work is not optimised away */

/* iters multiply-adds on every chain; the plain loop over an array is what the compiler
 * vectorises and keeps in registers (one FMA instruction per vector of chains). */
static float chains(long iters, float m, float a) {
    float acc[CHAINS], sum = 0;
    for (int j = 0; j < CHAINS; j++) acc[j] = (float)j;
    for (long i = 0; i < iters; i++)
        for (int j = 0; j < CHAINS; j++) acc[j] = acc[j] * m + a;
    for (int j = 0; j < CHAINS; j++) sum += acc[j];
    return sum;
}

enum { BLOCK = 4096 }; /* iterations between clock reads: tens of microseconds */

/* GFLOP/s of every OpenMP thread running chains for about `seconds`. Each thread works in
 * blocks until its time is up, so a thread that starts late or is descheduled for a while
 * costs only its own share, never a fixed amount of work that all must wait for. */
static double run(double seconds) {
    float m = mul, a = add, total = 0;
    long blocks = 0;
    double t0 = pm_bench_now();
#pragma omp parallel reduction(+ : total, blocks)
    while (pm_bench_now() - t0 < seconds) {
        total += chains(BLOCK, m, a);
        blocks++;
    }
    double s = pm_bench_now() - t0;
    sink = total;
    return 2.0 * CHAINS * BLOCK * (double)blocks / s * 1e-9;
}

double pm_bench_fma_peak(double seconds) {
    double best = 0;
    for (int i = 0; i < 3; i++) {
        double gflops = run(seconds);
        if (gflops > best) best = gflops;
    }
    return best;
}

void pm_bench_probe_host(pm_run_info *run) {
    time_t now = time(NULL);
    struct tm utc;
    /* the host CPU as the cpu backend describes its device */
    pm_device_info host;
    char why[256];
    if (pm_backend_devices("cpu", &host, 1, why, sizeof why) > 0)
        snprintf(run->cpu, sizeof run->cpu, "%s", host.name);
    else
        snprintf(run->cpu, sizeof run->cpu, "unknown");
    run->threads = omp_get_max_threads();
    snprintf(run->commit, sizeof run->commit, "%s", POLYMOE_COMMIT);
    if (!gmtime_r(&now, &utc) || !strftime(run->utc, sizeof run->utc, "%Y-%m-%dT%H:%M:%SZ", &utc))
        snprintf(run->utc, sizeof run->utc, "unknown");
    run->fma_gflops = PM_NA;
}
