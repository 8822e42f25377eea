/* Benchmark results: one record per measurement, the notes on what was skipped or failed, and
 * the two text outputs (JSON Lines, markdown). */
#ifndef POLYMOE_BENCH_RESULTS_H
#define POLYMOE_BENCH_RESULTS_H

#include <stdio.h>

/* Host wall time of one run, over repeated runs. */
typedef struct {
    double median_ms, min_ms, max_ms, q1_ms, q3_ms;
    int reps;
} pm_timing;

#define PM_NA (-1.0) /* a metric that does not apply to the record (null in JSON) */

typedef struct {
    char suite[16];   /* gemm, router, dispatch, moe_layer, train_step */
    char op[40];      /* the backend op (or op sequence) timed */
    char name[24];    /* which case of the suite: "square", "lm_head", "top1", "tiny", ... */
    char backend[16], impl[24], device[128];
    char shape[96];
    pm_timing t;
    double gflops, gbps;                  /* PM_NA when not applicable */
    double moe_over_dense;                /* moe_layer: MoE time / dense time */
    /* train_step: tokens/s at the median run and its spread over the runs, the device's peak
     * memory, and MFU against peak_gflops (PM_NA, and peak_source "", when no peak is known):
     * on a GPU the driver's figure, on a CPU device the higher of the host's measured FMA peak
     * (fma_gflops) and the backend's GEMM ceiling (gemm_ceiling) */
    double tokens_per_s, tokens_per_s_min, tokens_per_s_max, peak_bytes;
    double mfu, peak_gflops, fma_gflops, gemm_ceiling;
    char peak_source[16]; /* "device_info", "fma_loop" or "gemm_ceiling" */
} pm_record;

/* What tells one run's results from another machine's or build's; every JSON line carries it. */
typedef struct {
    char cpu[128];     /* the host CPU model */
    int threads;       /* OpenMP threads */
    char commit[64];   /* `git describe --always --dirty` of the source at build time, or "unknown" */
    char utc[24];      /* the start of the run, ISO 8601 UTC */
    double fma_gflops; /* the host's FMA peak on all threads, measured once when first needed;
                          PM_NA until then */
} pm_run_info;

typedef struct {
    pm_record *recs;
    int n, cap;
    char **notes;     /* skipped work and failures, in the order they happened */
    int n_notes, cap_notes;
    int failures;
    pm_run_info run;
} pm_results;

/* A record with every optional metric PM_NA. */
pm_record pm_record_blank(void);
/* Appends a copy; returns it (NULL when out of host memory). */
pm_record *pm_results_add(pm_results *r, const pm_record *rec);
void pm_results_note(pm_results *r, int is_failure, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void pm_results_free(pm_results *r);

/* One JSON object per record, one per line. Returns 0 or -1 (errno set). */
int pm_results_write_json(const pm_results *r, const char *path);
/* A table per suite, then the notes. */
void pm_results_write_markdown(const pm_results *r, FILE *f);

#endif
