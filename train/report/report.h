/* The emergence report: from run folders, a self-contained HTML page (report.html) and one
 * SVG file per figure in the output folder. Every number and figure comes from the runs'
 * metrics.jsonl and checkpoints (see report_runs.h, report_routing.h). */
#ifndef POLYMOE_REPORT_H
#define POLYMOE_REPORT_H

#include <stddef.h>

#define PM_REPORT_MAX_RUNS 16

typedef struct {
    const char *backend;  /* runs the checkpoints for the token-level analysis */
    int panels;           /* evaluations shown in the expert x domain small multiples */
    /* every run of a study with several seeds (the arms' folders of each seed, in seed order;
     * an arm is its folder's name): means and 95% intervals of the headline numbers */
    const char *const *seed_runs;
    int n_seed_runs;
} pm_report_options;

/* Writes out_dir/report.html and its figures for 1 to PM_REPORT_MAX_RUNS runs. A run whose checkpoints or corpus cannot be read
 * loses only its token-level sections (the page says why); unreadable metrics are an error. */
int pm_report_write(const char *const *run_dirs, int n, const char *out_dir,
                    const pm_report_options *opt, char *err, size_t errlen);

#endif
