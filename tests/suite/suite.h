/* The conformance suite behind `polymoe check` and ctest: every op of every backend present
 * against the CPU reference, plus the CPU reference's own checks (GEMM against naive double
 * loops, backwards against finite differences, router and dispatch semantics). */
#ifndef POLYMOE_SUITE_H
#define POLYMOE_SUITE_H

#include <stdio.h>

#include "backends/backend.h"

typedef struct {
    int passed, failed, skipped;
} pm_tally;

/* Runs the suite on `backend` ("all" for every backend compiled in, or a name), printing one
 * row per (op, backend, shape) and returning the tally. `only_op` (NULL for all) restricts
 * the ops. Returns 0 when nothing failed. */
int pm_check(const char *backend, const char *only_op, FILE *out, pm_tally *tally);

/* One row of output; `status` is "pass", "FAIL" or "skip". */
void pm_check_row(FILE *out, pm_tally *tally, const char *status, const char *backend,
                  const char *op, const char *shape, const char *detail);

/* The CPU reference's own checks, each printing rows through pm_check_row. */
void pm_check_gradients(pm_backend *cpu, const char *only_op, FILE *out, pm_tally *tally);
void pm_check_semantics(pm_backend *cpu, const char *only_op, FILE *out, pm_tally *tally);

/* Every backend: each op that takes indices must fail clearly on an out-of-range one. */
void pm_check_faults(pm_backend *be, const char *label, const char *only_op, FILE *out,
                     pm_tally *tally);
/* The same rows for a backend that did not open, each with `status` and `why`. */
void pm_list_faults(const char *label, const char *status, const char *why, const char *only_op,
                    FILE *out, pm_tally *tally);

/* "m=3 n=7 ..." from space-separated dimension names and their values. */
void pm_shape_text(const char *dims, const int *values, char *buf, size_t len);

/* Normalised mean squared error sum((a-b)^2) / sum(b^2) (0 when both are all zero). */
double pm_nmse(const float *a, const float *b, size_t n);

#endif
