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

#define PM_TOP_TOKENS 5

/* A token an expert takes most often: its id, its top-1 assignments to the expert (all
 * domains), and its text (escaped for reading: \n, \t, \xHH). */
typedef struct {
    int32_t id;
    double count;
    char text[32];
} pm_routing_token;

#define PM_SATURATION_POINTS 32

typedef struct {
    int n_moe, E, k, D;
    int step, early_step;          /* the checkpoints read; early_step 0: only one */
    pm_lexer lexer[PM_MAX_DOMAINS];
    int n_classes[PM_MAX_DOMAINS];
    double class_tokens[PM_MAX_DOMAINS][PM_MAX_CLASSES];
    double *class_counts;          /* see pm_routing_class_counts */
    double saturation[PM_MAX_LAYERS]; /* share of tokens with the same top-1 expert; NaN: n/a */
    /* saturation as a curve: every kept checkpoint before the last (the earliest first, up to
     * PM_SATURATION_POINTS) against the last */
    int n_curve, curve_step[PM_SATURATION_POINTS];
    double curve[PM_SATURATION_POINTS][PM_MAX_LAYERS];
    /* one sample of each domain: its decoded bytes and their tokens' top-1 expert in every MoE
     * layer */
    int sample_len[PM_MAX_DOMAINS];
    int32_t sample[PM_MAX_DOMAINS][PM_SAMPLE_LEN];
    int32_t *sample_expert;        /* see pm_routing_sample_experts */
    /* diagnostics of the latest checkpoint's routing */
    int V;                         /* the vocabulary */
    double kept[PM_MAX_LAYERS], pairs[PM_MAX_LAYERS]; /* consecutive tokens with the same top-1 expert */
    double *token_counts;          /* see pm_routing_token_counts */
    double *coactivation;          /* top_k >= 2: [n_moe][E][E], first choice x second choice */
    pm_routing_token *top;         /* see pm_routing_top_tokens */
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
/* The PM_TOP_TOKENS tokens expert e of MoE layer l takes most often (count 0: fewer seen). */
const pm_routing_token *pm_routing_top_tokens(const pm_routing *r, int l, int e);
/* Top-1 assignments of token id t in domain d, MoE layer l: [E]. */
const double *pm_routing_token_counts(const pm_routing *r, int l, int d, int t);
/* I(expert; token id | domain) of layer l in nats: the control for the class analysis (a
 * class is a function of the token, so routing by token identity alone could carry all of
 * the class information). */
double pm_routing_token_information(const pm_routing *r, int l);

#endif
