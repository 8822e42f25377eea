/* polymoe bench: the same work on every backend compiled in (device 0) and every GEMM
 * implementation, timed the same way, written as JSON Lines, a markdown table and SVG charts.
 * Only the public interface (backends/backend.h, model/model.h) is used, so a new backend
 * shows up here by being in the registry. */
#ifndef POLYMOE_BENCH_H
#define POLYMOE_BENCH_H

#include <stddef.h>

#include "train/util/status.h"

enum {
    PM_BENCH_GEMM = 1 << 0,
    PM_BENCH_ROUTER = 1 << 1,
    PM_BENCH_DISPATCH = 1 << 2,
    PM_BENCH_MOE_LAYER = 1 << 3,
    PM_BENCH_TRAIN_STEP = 1 << 4,
    PM_BENCH_ALL = (1 << 5) - 1,
};

typedef struct {
    const char *backend;   /* "all" or one backend name */
    unsigned suites;       /* PM_BENCH_* bits */
    int quick;             /* small shapes and few repetitions: a run of about two minutes */
    const char *out_dir;   /* bench.jsonl (unless json_path), bench.md, gemm.svg, moe_vs_dense.svg */
    const char *json_path; /* NULL: OUT/bench.jsonl */
    const char *const *configs; /* train_step: config names or .json files, each run with its
                                   dense twin (NULL: the default set) */
    int n_configs;
} pm_bench_options;

/* "gemm,router" -> PM_BENCH_GEMM | PM_BENCH_ROUTER; 0 with `err` filled on an unknown name. */
unsigned pm_bench_parse_suites(const char *list, char *err, size_t errlen);

/* The suite names, comma-separated, in run order. */
const char *pm_bench_suite_list(void);

/* The train_step suite's built-in config names, for help texts. */
const char *pm_bench_config_list(void);

/* Runs the benchmarks and writes the outputs: PM_DONE when every measurement ran, PM_FAILED
 * when a backend or measurement failed or an output could not be written (each said on
 * stderr), PM_BAD_ARGS when the named backend is not compiled in or a config cannot be used. */
pm_status pm_bench_run(const pm_bench_options *opt);

#endif
