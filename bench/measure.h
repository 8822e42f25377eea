/* How every benchmark is timed: a warm-up run, then repeated runs with pm_sync around host
 * timers, short runs batched so that one sample is long enough to time, the number of samples
 * set by a time budget (so a slow backend gets fewer), and the median with min/max and the
 * quartiles. Each result becomes a record and a progress line. */
#ifndef POLYMOE_BENCH_MEASURE_H
#define POLYMOE_BENCH_MEASURE_H

#include "backends/backend.h"
#include "bench/results.h"

/* One backend (with one GEMM implementation selected) running one suite. */
typedef struct {
    pm_backend *be;
    pm_results *results;
    const char *suite;
    int quick;
    double started;  /* pm_bench_now() at the start of the whole bench: progress lines */
    double deadline; /* quick mode: the end of this suite's share of the backend's time; a
                        measurement due after it is skipped (and noted) */
    int min_reps;    /* at least this many timed runs, deadline or not (0: the plan's minimum) */
    const char *const *configs; /* train_step: the configs asked for (NULL: the default set) */
    int n_configs;
} pm_bench_ctx;

/* One run of the work to time; ops fail stickily, so it need not check their status. */
typedef void (*pm_bench_body)(pm_backend *be, void *arg);

double pm_bench_now(void); /* seconds, monotonic */

/* A record with the context's suite, backend, implementation and device filled in. */
pm_record pm_bench_record(const pm_bench_ctx *c, const char *op, const char *name,
                          const char *shape);

/* Times `body` into rec->t and sets rec->gflops = flops / median and rec->gbps = bytes /
 * median (either left PM_NA when 0). Returns 0. Returns -1 when it did not measure: past the
 * quick deadline (noted as skipped), or on a backend failure (noted with the backend's
 * message, the error cleared). */
int pm_bench_time(pm_bench_ctx *c, pm_bench_body body, void *arg, double flops, double bytes,
                  pm_record *rec);

/* Adds the record to the results and prints its progress line; returns the stored copy. */
pm_record *pm_bench_emit(pm_bench_ctx *c, const pm_record *rec);

/* pm_bench_time then pm_bench_emit: the usual single measurement. NULL on failure. */
pm_record *pm_bench_measure(pm_bench_ctx *c, const char *op, const char *name, const char *shape,
                            pm_bench_body body, void *arg, double flops, double bytes);

/* Notes a failure that is not a timing (setup, model creation) and clears the backend error. */
void pm_bench_fail(pm_bench_ctx *c, const char *what, const char *why);
/* Notes work left out, naming it and why, and prints it as a progress line. */
void pm_bench_skip(pm_bench_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
