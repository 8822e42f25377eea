#include "train/report/report_seeds.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/report/report_figures.h"
#include "train/report/report_routing.h"
#include "train/report/report_runs.h"
#include "train/util/svg.h"

enum { MAX_METRICS = 64 };

/* One run's headline numbers, by label (NAN: none, e.g. no collapse). */
typedef struct {
    int n;
    char label[MAX_METRICS][96];
    double value[MAX_METRICS];
} headline;

static void put(headline *h, double v, const char *label) {
    if (h->n == MAX_METRICS) return;
    snprintf(h->label[h->n], sizeof h->label[h->n], "%s", label);
    h->value[h->n++] = v;
}

static void measure(const pm_run *r, const char *backend, headline *h) {
    char label[96];
    h->n = 0;
    int last = r->evals.n - 1;
    for (int d = 0; d < r->D; d++) {
        snprintf(label, sizeof label, "held-out loss: %s", r->domain[d]);
        put(h, last >= 0 ? r->evals.loss[last * PM_MAX_DOMAINS + d] : NAN, label);
    }
    pm_routing rt;
    char err[600];
    int routed = r->n_moe && !pm_routing_analyse(r, backend, &rt, err, sizeof err);
    for (int l = 0; l < r->n_moe; l++) {
        double hd = 0, mi = last >= 0 ? pm_run_domain_information(r, last, l, &hd) : NAN;
        snprintf(label, sizeof label, "I(expert; domain) / H(domain), layer %d", r->moe_layer[l]);
        put(h, hd > 0 ? mi / hd : NAN, label);
        snprintf(label, sizeof label, "saturation, layer %d", r->moe_layer[l]);
        put(h, routed ? rt.saturation[l] : NAN, label);
    }
    if (r->n_moe) put(h, r->collapse_step ? r->collapse_step : NAN, "collapse step (of the seeds that collapsed)");
    if (routed) pm_routing_free(&rt);
}

/* The two-sided 95% quantile of Student's t with df degrees of freedom. */
static double t95(int df) {
    static const double t[] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228};
    return df < 1 ? NAN : df <= 10 ? t[df - 1] : 1.96 + 2.4 / df;
}

/* Mean and half-width of the 95% interval of the finite values among v[0..n). */
static int interval(const double *v, int n, double *mean, double *half) {
    int k = 0;
    double sum = 0, sq = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i])) sum += v[i], k++;
    *mean = k ? sum / k : NAN;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i])) sq += (v[i] - *mean) * (v[i] - *mean);
    *half = k > 1 ? t95(k - 1) * sqrt(sq / (k - 1) / k) : NAN;
    return k;
}

static void row(FILE *f, const char *arm, const char *label, const double *v, int n, int diff) {
    double mean, half;
    int k = interval(v, n, &mean, &half);
    fputs("<tr><td>", f);
    pm_xml_escape(f, arm);
    fputs("</td><td>", f);
    pm_xml_escape(f, label);
    if (!k) fprintf(f, "</td><td>-</td><td>-</td>");
    else if (isfinite(half)) fprintf(f, "</td><td>%.4f</td><td>[%.4f, %.4f]</td>", mean, mean - half, mean + half);
    else fprintf(f, "</td><td>%.4f</td><td>- (one value)</td>", mean);
    if (diff) fprintf(f, "<td>%s</td>", isfinite(half) && (mean - half > 0 || mean + half < 0) ? "yes" : "no");
    fputs("<td>", f);
    for (int i = 0; i < n; i++) fprintf(f, isfinite(v[i]) ? "%s%.4f" : "%s-", i ? ", " : "", v[i]);
    fprintf(f, " (%d of %d)</td></tr>\n", k, n);
}

/* Whether runs[a] is its arm's first run (the arm's seed 1). */
static int first_of_arm(const pm_run *runs, int a) {
    for (int b = 0; b < a; b++)
        if (!strcmp(runs[a].name, runs[b].name)) return 0;
    return 1;
}

int pm_report_seeds(FILE *f, const char *const *dirs, int n, const char *backend, char *err, size_t errlen) {
    pm_run *runs = calloc((size_t)n, sizeof *runs);
    headline *h = calloc((size_t)n, sizeof *h);
    double *v = calloc((size_t)n, sizeof *v), *ref_v = calloc((size_t)n, sizeof *ref_v);
    int loaded = 0, rc = runs && h && v && ref_v ? 0 : -1;
    if (rc) snprintf(err, errlen, "out of memory");
    for (; !rc && loaded < n; loaded++)
        if (pm_run_load(&runs[loaded], dirs[loaded], err, errlen)) rc = -1;
        else measure(&runs[loaded], backend, &h[loaded]);
    if (rc) loaded--;
    if (!rc) {
        fprintf(f, "<h2>Seeds: means and 95%% intervals</h2>\n<p class=\"note\">Every arm was trained once per "
                   "seed (the seed sets the initialisation, the data order and the router noise). Each headline "
                   "number: its mean over the seeds, the 95%% t-interval of that mean, and every seed's value. "
                   "The figures above show the first seed.</p>\n<table><tr><th>arm</th><th>number</th>"
                   "<th>mean</th><th>95%% interval</th><th>per seed</th></tr>\n");
        /* arms in first-appearance order; a run's seed is its rank among its arm's runs */
        for (int a = 0; a < n; a++) {
            if (!first_of_arm(runs, a)) continue;
            for (int m = 0; m < h[a].n; m++) {
                int k = 0;
                for (int b = a; b < n; b++)
                    if (!strcmp(runs[a].name, runs[b].name)) v[k++] = m < h[b].n ? h[b].value[m] : NAN;
                row(f, runs[a].name, h[a].label[m], v, k, 0);
            }
        }
        /* against the baseline, and against the control that shares the MoE runs' restart */
        const char *refs[] = {"dense", "dense-restart"};
        for (int r = 0; r < 2; r++) {
            int present = 0;
            for (int b = 0; b < n; b++) present |= !strcmp(runs[b].name, refs[r]);
            if (!present) continue;
            fprintf(f, "</table>\n<p class=\"note\">Differences from <b>%s</b>, seed by seed (the arm's run minus "
                       "the %s run of the same seed); <i>excludes 0</i> says whether the interval of the mean "
                       "difference leaves out zero, the condition for calling a difference real.</p>\n"
                       "<table><tr><th>arm</th><th>number</th><th>mean difference</th><th>95%% interval</th>"
                       "<th>excludes 0</th><th>per seed</th></tr>\n", refs[r], refs[r]);
            for (int a = 0; a < n; a++) {
                if (!first_of_arm(runs, a) || !strcmp(runs[a].name, refs[r]) || !strcmp(runs[a].name, "dense")) continue;
                for (int d = 0; d < runs[a].D; d++) {
                    int k = 0, j = 0;
                    for (int b = 0; b < n; b++)
                        if (!strcmp(runs[b].name, refs[r])) ref_v[j++] = d < h[b].n ? h[b].value[d] : NAN;
                    for (int b = a; b < n; b++)
                        if (!strcmp(runs[a].name, runs[b].name)) v[k] = k < j ? h[b].value[d] - ref_v[k] : NAN, k++;
                    row(f, runs[a].name, h[a].label[d], v, k, 1);
                }
            }
        }
        fprintf(f, "</table>\n");
    }
    for (int i = 0; i < loaded; i++) pm_run_free(&runs[i]);
    free(runs);
    free(h);
    free(v);
    free(ref_v);
    return rc;
}
