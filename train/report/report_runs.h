/* A training run as the report sees it: its config (RUN/config.json), its metrics
 * (RUN/metrics.jsonl: train, eval and collapse lines) and, for a run upcycled by the study,
 * RUN/upcycle.json, which says how many dense steps came before its step 1. */
#ifndef POLYMOE_REPORT_RUNS_H
#define POLYMOE_REPORT_RUNS_H

#include <stddef.h>

#include "model/config.h"
#include "train/data/data.h"

#define PM_RUN_UPCYCLE_FILE "upcycle.json"

/* Logged training steps; the routing fields are [n][n_moe]. */
typedef struct {
    int n;
    double *step, *lm_loss, *tokens_per_s;
    double *lb_loss, *z_loss; /* summed over MoE layers; NAN in dense runs */
    double *share;            /* [n][n_moe][E]: each expert's share of the batch's assignments (f) */
    double *router_entropy, *usage_entropy, *max_fraction, *dead_experts;
} pm_run_train;

/* Evaluations: loss[i * PM_MAX_DOMAINS + d]; the expert x domain routing counts through
 * pm_run_counts. */
typedef struct {
    int n;
    double *step, *loss, *counts;
} pm_run_evals;

typedef struct {
    char dir[1024], name[128];
    pm_config cfg;
    int n_moe, moe_layer[PM_MAX_LAYERS];
    int D;
    char domain[PM_MAX_DOMAINS][64];
    /* baselines in nats per token: unigram, trigram over the run's tokens, trigram over bytes */
    double unigram_loss[PM_MAX_DOMAINS], ngram_loss[PM_MAX_DOMAINS], byte_ngram_loss[PM_MAX_DOMAINS];
    double eval_tokens[PM_MAX_DOMAINS];
    /* the last evaluation's standard errors and bits per byte (NAN: not logged) */
    double last_loss_se[PM_MAX_DOMAINS], last_bits_per_byte[PM_MAX_DOMAINS];
    int collapse_step;      /* the step a --stop-on-collapse run stopped at; 0: none */
    int dense_steps;        /* dense training before step 1 (upcycled runs); 0: none */
    double params, trainable, optimizer_bytes; /* the run's "params" line; 0: none logged */
    pm_run_train train;
    pm_run_evals evals;
} pm_run;

/* Reads the run in dir; -1 with err when its config or metrics are missing or malformed. */
int pm_run_load(pm_run *r, const char *dir, char *err, size_t errlen);
void pm_run_free(pm_run *r);

/* The median training throughput over the logged steps (tokens/s), 0 when none. */
double pm_run_tokens_per_s(const pm_run *r);

/* The counts of evaluation i, MoE layer l: [E][D]. */
const double *pm_run_counts(const pm_run *r, int i, int l);

#endif
