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
    double tokens_per_s, mfu, peak_bytes; /* train_step; mfu PM_NA when the peak is unknown */
} pm_record;

typedef struct {
    pm_record *recs;
    int n, cap;
    char **notes;     /* skipped work and failures, in the order they happened */
    int n_notes, cap_notes;
    int failures;
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
