/* The command-line arguments that train, eval and generate share, and how a run's config is
 * assembled: the embedded default (configs/tiny.json) <- --config FILE (or, on --resume, the
 * run's own config.json) <- key=value overrides <- --steps. */
#ifndef POLYMOE_RUN_CONFIG_H
#define POLYMOE_RUN_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "model/config.h"

#define PM_MAX_OVERRIDES 64

typedef struct {
    const char *config, *backend, *out, *init_from, *checkpoint, *prompt, *data;
    int device, resume, overwrite, stop_on_collapse, stop_after, steps, help_config, tokens, top_k;
    float upcycle_noise, temperature;
    unsigned seed;
    const char *overrides[PM_MAX_OVERRIDES];
    int n_overrides;
} pm_run_args;

/* Parses the options `command` accepts; -1 with err on an unknown or malformed one. */
int pm_run_args_parse(pm_run_args *a, int argc, char **argv, const char *command, char *err,
                      size_t errlen);

/* Builds and validates the config; run_dir (resume) supplies RUN/config.json. */
int pm_run_config(const pm_run_args *a, const char *run_dir, pm_config *cfg, char *err,
                  size_t errlen);

/* When `manifest` is the default corpus's and it does not exist yet, builds it. */
int pm_corpus_ensure_default(const char *manifest, char *err, size_t errlen);

#endif
