/* Token-level routing of an MoE run, from its checkpoints: the model runs over the first
 * eval_seqs held-out sequences of every domain (the text the trainer evaluates on), and the
 * expert every byte is sent to in every MoE layer (pm_model_expert_ids) is tallied by the
 * byte's token class (report_token_class.h). Router saturation compares the top-1 expert of
 * every byte under the run's earliest kept checkpoint with that under its latest. */
#ifndef POLYMOE_REPORT_ROUTING_H
#define POLYMOE_REPORT_ROUTING_H

#include <stdint.h>

#include "train/report/report_runs.h"
#include "train/report/report_token_class.h"

#define PM_SAMPLE_LEN 360
#define PM_SAMPLE_NOT_A_BYTE 256 /* end-of-text in a sample */

typedef struct {
    int n_moe, E, k, D;
    int step, early_step;          /* the checkpoints read; early_step 0: only one */
    pm_lexer lexer[PM_MAX_DOMAINS];
    int n_classes[PM_MAX_DOMAINS];
    double class_tokens[PM_MAX_DOMAINS][PM_MAX_CLASSES];
    double *class_counts;          /* see pm_routing_class_counts */
    double saturation[PM_MAX_LAYERS]; /* share of bytes with the same top-1 expert; NaN: n/a */
    /* one sample of each domain: its decoded bytes and their tokens' top-1 expert in every MoE
     * layer */
    int sample_len[PM_MAX_DOMAINS];
    int32_t sample[PM_MAX_DOMAINS][PM_SAMPLE_LEN];
    int32_t *sample_expert;        /* see pm_routing_sample_experts */
} pm_routing;

/* Analyses run (which must have MoE layers and a checkpoint) on backend (name, device 0);
 * the corpus is the one named in the checkpoint's config, relative to the working folder. */
int pm_routing_analyse(const pm_run *run, const char *backend, pm_routing *out, char *err,
                       size_t errlen);
void pm_routing_free(pm_routing *r);

/* Routing assignments (all top_k choices) of class c of domain d in MoE layer l: [E]. */
const double *pm_routing_class_counts(const pm_routing *r, int l, int d, int c);
/* The top-1 experts of domain d's sample in MoE layer l: [sample_len[d]]. */
const int32_t *pm_routing_sample_experts(const pm_routing *r, int l, int d);

/* I(expert; class | domain) of layer l in nats, and H(class | domain) in *h. */
double pm_routing_class_information(const pm_routing *r, int l, double *h);

#endif
