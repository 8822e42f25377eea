#include "model/router_losses.h"

#include <math.h>

void pm_router_summarise(const float *stats, int N, int E, int k, pm_router_summary *out,
                         double *f, double *P) {
    double lb = 0, usage = 0, maxf = 0;
    int dead = 0;
    for (int e = 0; e < E; e++) {
        double fe = stats[e] / ((double)N * k), pe = stats[E + e] / (double)N;
        lb += fe * pe;
        if (fe > 0) usage -= fe * log(fe);
        else dead++;
        if (fe > maxf) maxf = fe;
        if (f) f[e] = fe;
        if (P) P[e] = pe;
    }
    out->lb_loss = E * lb;
    out->z_loss = stats[2 * E] / N;
    out->router_entropy = stats[2 * E + 1] / N;
    out->usage_entropy = usage;
    out->max_fraction = maxf;
    out->dead_experts = dead;
}

int pm_router_collapsed(const pm_router_summary *s, int E) {
    return E > 1 && (s->max_fraction >= PM_COLLAPSE_SHARE || s->usage_entropy < log(E) / PM_COLLAPSE_ENTROPY_DIV);
}
