/* Evaluation on each domain's held-out split: loss per token with its standard error (over the
 * sequences evaluated), perplexity and bits per byte per domain, and the
 * expert x domain token counts of every MoE layer (one "eval" line of metrics JSON). */
#ifndef POLYMOE_EVALUATE_H
#define POLYMOE_EVALUATE_H

#include <cjson/cJSON.h>

#include "model/model.h"
#include "train/data/data.h"

#include <signal.h>

/* Where the eval line goes, and when to give up. */
typedef struct {
    int fd;                                 /* the eval line is appended here; -1: nowhere */
    const char *path;                       /* fd's name, for errors */
    const volatile sig_atomic_t *cancel;    /* checked between batches; may be NULL */
} pm_eval_output;

/* Evaluates `seqs` sequences per domain (spread over the held-out split; all of them when it
 * holds fewer). Prints the per-domain losses and writes the eval line (step < 0: unknown, left out), and the
 * mean over domains of the loss per token into *mean_loss (may be NULL). When the config trains
 * and evaluates with different routing (router_mode, eval_router_mode), each domain also gets
 * the loss under the training routing, loss_train_routing. Returns 0, -1 with err filled, or 1
 * when *cancel was set before the end (nothing is written then). */
int pm_evaluate(pm_model *model, pm_dataset *data, int step, size_t seqs, const pm_eval_output *out,
                double *mean_loss, char *err, size_t errlen);

#endif
