/* The router's auxiliary losses and routing statistics, computed on the host from the small
 * stats array of the router_stats op (2E+2 floats). */
#ifndef POLYMOE_ROUTER_LOSSES_H
#define POLYMOE_ROUTER_LOSSES_H

typedef struct {
    double lb_loss;        /* Switch load balancing E * sum_i f_i P_i: 1 at perfect balance */
    double z_loss;         /* ST-MoE router z-loss mean(logsumexp^2) */
    double router_entropy; /* mean over tokens of -sum_i p_i ln p_i */
    double usage_entropy;  /* entropy of f (the expert usage), ln E when even */
    double max_fraction;   /* largest f_i */
    int dead_experts;      /* experts that received no token */
} pm_router_summary;

/* Routing has collapsed in a batch when one expert takes at least PM_COLLAPSE_SHARE of the
 * tokens or the usage entropy falls below ln(E) / PM_COLLAPSE_ENTROPY_DIV; the trainer calls
 * a run collapsed after PM_COLLAPSE_STEPS such steps in a row. */
#define PM_COLLAPSE_SHARE 0.8
#define PM_COLLAPSE_ENTROPY_DIV 4
#define PM_COLLAPSE_STEPS 3
#define PM_STR_(x) #x
#define PM_STR(x) PM_STR_(x)
/* The rule in words, for help texts and the report. */
#define PM_COLLAPSE_RULE                                                                           \
    "one expert takes at least a share of " PM_STR(PM_COLLAPSE_SHARE) " of the tokens or usage "  \
    "entropy falls below ln(E)/" PM_STR(PM_COLLAPSE_ENTROPY_DIV) ", for " PM_STR(PM_COLLAPSE_STEPS) " steps in a row"
int pm_router_collapsed(const pm_router_summary *s, int E);

/* f_i = count_i / (N k), P_i = sum of probs_i / N. `f` and `P` (E each) may be NULL. */
void pm_router_summarise(const float *stats, int N, int E, int k, pm_router_summary *out,
                         double *f, double *P);

#endif
