/* The studies polymoe runs end to end. The emergence study: do experts specialise by domain,
 * and what does load balancing do?
 *
 * In the study folder, on one corpus (default: the default corpus of code, math and prose):
 *   dense   the dense baseline (configs/dense.json: tiny.json without MoE layers), trained
 *           dense_steps + moe_steps steps. Its checkpoint at dense_steps is the short dense
 *           pre-training that the MoE runs start from, so the baseline and the MoE runs see
 *           the same number of training steps in all.
 *   moe     upcycled from that checkpoint (every expert a copy of the dense MLP plus noise,
 *           the router at zero), top-1 with load balancing: configs/tiny.json.
 *   no-lb   the same without the load-balancing loss (lb_coef=0), trained as long as the
 *           others; the step its routing collapses is logged and marked, not a stop.
 *   top2    the same as moe with top-2 routing.
 *   top2-matched  top-2 of experts half the dense MLP's width (each upcycled from half of its
 *           hidden units): the active parameters and FLOPs of top-1 (but for the second
 *           expert's c_proj bias), so top-2 is compared at equal compute.
 *   dense-restart  the dense model continued from the same checkpoint on the MoE runs'
 *           restarted schedule: the control that separates the restart from the experts.
 * The lora-moe study: what do LoRA experts over a frozen base (DyLoRA-MoE) give against full
 * experts? The same dense baseline, and upcycled from the same checkpoint:
 *   moe     full experts as above;
 *   lora    LoRA experts of rank 8 over the frozen dense model, dense routing in training and
 *           top-1 at evaluation; only adapters and routers train.
 * The MoE runs share router noise (annealed) that breaks the ties of the zero router; then
 * report/ gets the report of the four runs (report.h). */
#ifndef POLYMOE_EXPERIMENT_H
#define POLYMOE_EXPERIMENT_H

#include <stddef.h>

#include "train/util/status.h"

typedef struct {
    const char *backend; /* backend name or "auto" */
    const char *out;     /* the study folder; must not hold a study already */
    const char *scale;   /* "default" (under 30 minutes on 2 CPU cores), "toy" (seconds) or "gpt2"
                            (the MoE Emergence study, for a GPU) */
    const char *data;    /* a corpus manifest, NULL: the default corpus (built on first use) */
    const char *init_from; /* --scale gpt2: the pretrained GPT-2 folder; NULL otherwise */
    int seeds;           /* every arm this many times (1 to 10), seed 1337, 1338, ... */
    int steps;           /* the MoE runs' length; 0: the scale's */
    const char *const *overrides; /* key=value for every run, after the scale's; NULL-terminated or NULL */
} pm_experiment_options;

/* The experiments there are, as a comma-separated list, and whether `name` is one. */
const char *pm_experiment_names(void);
int pm_experiment_known(const char *name);
/* Runs the study `name` and writes its report: PM_DONE, PM_INTERRUPTED, or PM_FAILED with err
 * filled. */
pm_status pm_experiment_run(const char *name, const pm_experiment_options *opt, char *err, size_t errlen);

#endif
