/* polymoe report: the emergence report of finished runs. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "train/cli/commands.h"
#include "train/report/report.h"

static void help(void) {
    printf("usage: polymoe report RUN_DIR... --out DIR [--backend NAME] [--seeds]\n\n"
           "Writes DIR/report.html and one SVG per figure from the runs' metrics.jsonl and\n"
           "checkpoints: loss curves, expert x domain routing over training, router and usage\n"
           "entropy, expert usage and collapse, mutual information and router saturation per\n"
           "layer, routing by token type, and samples coloured by expert. The token-level\n"
           "sections run each MoE run's checkpoints over held-out text of the corpus named in\n"
           "its config (a path relative to the working folder) on --backend (default cpu).\n\n"
           "  --seeds  the runs are seed 1 of a study run with several seeds (polymoe experiment\n"
           "           --seeds): PARENT/seed-K/NAME of every RUN_DIR = PARENT/NAME, K = 2, 3, ...\n"
           "           while all exist, go into a section of means and 95%% intervals over seeds\n");
}

int cmd_report(int argc, char **argv) {
    if (wants_help(argc, argv)) {
        help();
        return 0;
    }
    const char *runs[PM_REPORT_MAX_RUNS], *out = NULL;
    pm_report_options opt = {.backend = "cpu", .panels = 5};
    int n = 0, seeds = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--seeds")) {
            seeds = 1;
            continue;
        }
        int is_value_flag = !strcmp(argv[i], "--out") || !strcmp(argv[i], "--backend");
        if (is_value_flag && i + 1 >= argc) {
            fprintf(stderr, "polymoe report: %s needs a value (see --help)\n", argv[i]);
            return 2;
        }
        if (!strcmp(argv[i], "--out")) out = argv[++i];
        else if (!strcmp(argv[i], "--backend")) opt.backend = argv[++i];
        else if (!strncmp(argv[i], "--", 2)) {
            fprintf(stderr, "polymoe report: unknown option '%s' (see --help)\n", argv[i]);
            return 2;
        } else if (n == PM_REPORT_MAX_RUNS) {
            fprintf(stderr, "polymoe report: at most %d run folders\n", PM_REPORT_MAX_RUNS);
            return 2;
        } else {
            runs[n++] = argv[i];
        }
    }
    if (!n || !out) {
        fprintf(stderr, "polymoe report: give one or more run folders and --out DIR (see --help)\n");
        return 2;
    }
    /* seed K of PARENT/NAME is PARENT/seed-K/NAME */
    static char seed_dirs[10 * PM_REPORT_MAX_RUNS][1100];
    const char *all[10 * PM_REPORT_MAX_RUNS];
    int m = 0;
    for (int k = 1; seeds && k <= 10; k++) {
        int found = 0;
        for (int i = 0; i < n; i++) {
            const char *slash = strrchr(runs[i], '/');
            int parent = slash ? (int)(slash - runs[i]) : 0;
            if (k == 1) snprintf(seed_dirs[m + i], sizeof seed_dirs[0], "%s", runs[i]);
            else snprintf(seed_dirs[m + i], sizeof seed_dirs[0], "%.*s%sseed-%d/%s", parent, runs[i], slash ? "/" : "", k,
                          slash ? slash + 1 : runs[i]);
            struct stat st;
            found += stat(seed_dirs[m + i], &st) == 0;
            all[m + i] = seed_dirs[m + i];
        }
        if (found < n) break;
        m += n;
    }
    opt.seed_runs = all;
    opt.n_seed_runs = m;
    char err[1024];
    if (pm_report_write(runs, n, out, &opt, err, sizeof err)) {
        fprintf(stderr, "polymoe report: %s\n", err);
        return 1;
    }
    printf("report written to %s/report.html\n", out);
    return 0;
}
