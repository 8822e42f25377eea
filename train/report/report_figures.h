/* The report's figures, each one SVG file drawn from the runs' metrics or their routing
 * analysis. Runs keep their colour (their index in the list) in every figure, and steps are
 * counted from the start of training: an upcycled run's step s is drawn at dense_steps + s.
 * Each returns 0, or -1 when the file cannot be written. */
#ifndef POLYMOE_REPORT_FIGURES_H
#define POLYMOE_REPORT_FIGURES_H

#include "train/report/report_routing.h"
#include "train/report/report_runs.h"

/* Training LM loss of every run. */
int pm_figure_train_loss(const char *path, const pm_run *runs, int n);
/* Held-out loss per domain (one panel each, shared axes) against the unigram and trigram
 * baselines. */
int pm_figure_eval_loss(const char *path, const pm_run *runs, int n);
/* Router entropy and expert-usage entropy per MoE layer against ln E. */
int pm_figure_entropy(const char *path, const pm_run *runs, int n);
/* The router losses over training: load-balancing loss and z-loss (the square of the router
 * logits' scale), each summed over the MoE layers. */
int pm_figure_router_losses(const char *path, const pm_run *runs, int n);
/* Every expert's share of each logged training batch's assignments, stacked, per MoE run
 * (rows) and layer (columns). */
int pm_figure_expert_shares(const char *path, const pm_run *runs, int n);
/* Per MoE layer, the share of routing assignments an expert capacity of c N k / E per batch
 * would drop, against the capacity factor c, from each MoE run's logged expert shares over
 * the last quarter of its logged steps. */
int pm_figure_drop_rates(const char *path, const pm_run *runs, int n);
/* Router saturation over training, per MoE layer: for every kept checkpoint of a run, the
 * share of the analysed held-out tokens whose top-1 expert there is the one at the run's last
 * checkpoint (routings[i]: run i's analysis, NULL where there is none). */
int pm_figure_saturation(const char *path, const pm_run *runs, int n, const pm_routing *const *routings);
/* Largest expert share and dead experts per MoE layer, with the collapse threshold and the
 * steps at which runs collapsed (on the layers that did). */
int pm_figure_usage(const char *path, const pm_run *runs, int n);
/* Mutual information between expert and domain over training, normalised by H(domain),
 * per MoE layer, from the evaluations' routing counts. */
int pm_figure_information(const char *path, const pm_run *runs, int n);
/* I(expert; domain) of evaluation i, MoE layer l, in nats; *h_domain gets H(domain). */
double pm_run_domain_information(const pm_run *r, int i, int l, double *h_domain);
/* Expert x domain shares of MoE layer l at up to `panels` evaluations, the last included. */
int pm_figure_domain_routing(const char *path, const pm_run *run, int l, int panels);
/* Expert shares of every token class of every domain in MoE layer l. */
int pm_figure_token_classes(const char *path, const pm_run *run, const pm_routing *rt, int l);

/* The largest MoE layer count among the runs, and the runs' MoE layer indices (from the
 * first run that has the most). */
int pm_figure_moe_layers(const pm_run *runs, int n, const int **layers);

#endif
