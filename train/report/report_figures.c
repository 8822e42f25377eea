#include "train/report/report_figures.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/router_losses.h"
#include "train/util/chart.h"
#include "train/report/report_info.h"

#define WIDTH 920.0
#define MARGIN_L 62.0
#define MARGIN_R 16.0
#define LEGEND_W 170.0
#define GREY "#777777"
#define THRESHOLD "#000000" /* thresholds and references: black, unlike any run's colour */

#define MAX_SHOWN_EXPERTS 64

/* "E0", "E1", ...: labels of the first MAX_SHOWN_EXPERTS experts; returns how many. */
static int expert_labels(int E, char names[MAX_SHOWN_EXPERTS][8], const char **labels) {
    int n = E < MAX_SHOWN_EXPERTS ? E : MAX_SHOWN_EXPERTS;
    for (int e = 0; e < n; e++) {
        snprintf(names[e], 8, "E%d", e);
        labels[e] = names[e];
    }
    return n;
}

static double *scratch(int n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(double)); }

/* Steps counted from the start of training (dense steps before upcycling included). */
static void global_steps(const pm_run *r, const double *steps, int n, double *out) {
    for (int i = 0; i < n; i++) out[i] = steps[i] + r->dense_steps;
}

static double last_step(const pm_run *runs, int n) {
    double m = 1;
    for (int i = 0; i < n; i++) {
        const pm_run *r = &runs[i];
        if (r->train.n) m = fmax(m, r->train.step[r->train.n - 1] + r->dense_steps);
        if (r->evals.n) m = fmax(m, r->evals.step[r->evals.n - 1] + r->dense_steps);
    }
    return m;
}

static int any_upcycled(const pm_run *runs, int n) {
    for (int i = 0; i < n; i++)
        if (runs[i].dense_steps) return 1;
    return 0;
}

static const char *step_label(const pm_run *runs, int n) {
    return any_upcycled(runs, n) ? "training step (upcycled runs: dense steps + MoE steps)" : "training step";
}

/* Where the upcycled runs started, once per distinct step. */
static void mark_upcycling(pm_svg *s, const pm_chart *c, const pm_run *runs, int n) {
    for (int i = 0; i < n; i++) {
        int seen = 0;
        for (int j = 0; j < i; j++) seen |= runs[j].dense_steps == runs[i].dense_steps;
        if (runs[i].dense_steps && !seen) pm_chart_vline(s, c, runs[i].dense_steps, GREY, "upcycled");
    }
}

static void legend_runs(pm_svg *s, double x, double y, const pm_run *runs, int n) {
    pm_legend_entry e[16];
    int m = n < 16 ? n : 16;
    for (int i = 0; i < m; i++) e[i] = (pm_legend_entry){runs[i].name, pm_colour_category(i), NULL};
    pm_chart_legend(s, x, y, e, m);
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* [lo, hi] covering the finite values up to quantile q (the first steps' losses would
 * flatten everything else). */
static void value_range(const double *v, int n, double q, double *lo, double *hi) {
    double *sorted = scratch(n);
    int m = 0;
    for (int i = 0; sorted && i < n; i++)
        if (isfinite(v[i])) sorted[m++] = v[i];
    *lo = NAN, *hi = NAN;
    if (m) {
        qsort(sorted, (size_t)m, sizeof *sorted, compare_doubles);
        *lo = sorted[0];
        *hi = sorted[(int)((m - 1) * q)];
    }
    free(sorted);
    pm_chart_nice_range(lo, hi);
}

/* The centred moving average of v over 2w+1 points (fewer at the ends). */
static void moving_average(const double *v, int n, int w, double *out) {
    for (int i = 0; i < n; i++) {
        double sum = 0;
        int k = 0;
        for (int j = i - w; j <= i + w; j++)
            if (j >= 0 && j < n && isfinite(v[j])) sum += v[j], k++;
        out[i] = k ? sum / k : NAN;
    }
}

int pm_figure_train_loss(const char *path, const pm_run *runs, int n) {
    int total = 0, longest = 0;
    for (int i = 0; i < n; i++) total += runs[i].train.n, longest = runs[i].train.n > longest ? runs[i].train.n : longest;
    /* the smoothing window: about 2% of the longest run's logged steps on each side */
    int w = longest / 50 + 1;
    double *smooth = scratch(total), *x = scratch(longest), *raw = scratch(longest);
    if (!smooth || !x || !raw) return free(smooth), free(x), free(raw), -1;
    for (int i = 0, at = 0; i < n; at += runs[i].train.n, i++)
        moving_average(runs[i].train.lm_loss, runs[i].train.n, w, smooth + at);
    pm_svg s;
    pm_chart c = {MARGIN_L, 34, WIDTH - MARGIN_L - MARGIN_R - LEGEND_W, 300, 0, last_step(runs, n), 0, 0};
    /* the whole smoothed curves fit; raw values beyond the range break the faint line, they
     * are never drawn at the edge */
    value_range(smooth, total, 1.0, &c.ymin, &c.ymax);
    if (pm_svg_open(&s, path, WIDTH, 380)) return free(smooth), free(x), free(raw), -1;
    char title[160];
    snprintf(title, sizeof title, "Training loss: every logged step (faint) and its moving average over %d (bold)",
             2 * w + 1);
    pm_chart_axes(&s, &c, title, step_label(runs, n), "loss (nats per token)");
    mark_upcycling(&s, &c, runs, n);
    for (int i = 0, at = 0; i < n; at += runs[i].train.n, i++) {
        const pm_run_train *t = &runs[i].train;
        char faint[16];
        snprintf(faint, sizeof faint, "%s50", pm_colour_category(i)); /* #rrggbb with alpha */
        global_steps(&runs[i], t->step, t->n, x);
        for (int j = 0; j < t->n; j++) raw[j] = t->lm_loss[j] >= c.ymin && t->lm_loss[j] <= c.ymax ? t->lm_loss[j] : NAN;
        pm_chart_series(&s, &c, x, raw, t->n, faint, 0.8, NULL);
        pm_chart_series(&s, &c, x, smooth + at, t->n, pm_colour_category(i), 1.8, NULL);
    }
    legend_runs(&s, c.left + c.width + 20, c.top + 10, runs, n);
    free(smooth);
    free(x);
    free(raw);
    return pm_svg_close(&s);
}

int pm_figure_eval_loss(const char *path, const pm_run *runs, int n) {
    const pm_run *ref = NULL; /* the domains come from the first run with evaluations */
    int total = 0;
    for (int i = 0; i < n; i++) {
        if (!ref && runs[i].D) ref = &runs[i];
        total += runs[i].evals.n * PM_MAX_DOMAINS;
    }
    if (!ref) return 0;
    double *all = scratch(total), *x = scratch(total), *y = scratch(total);
    if (!all || !x || !y) return free(all), free(x), free(y), -1;
    int m = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < runs[i].evals.n * PM_MAX_DOMAINS; j++)
            if (j % PM_MAX_DOMAINS < runs[i].D) all[m++] = runs[i].evals.loss[j];
    int D = ref->D;
    double gap = 44, pw = (WIDTH - MARGIN_L - MARGIN_R - LEGEND_W - gap * (D - 1)) / D;
    pm_chart c = {MARGIN_L, 34, pw, 260, 0, last_step(runs, n), 0, 0};
    value_range(all, m, 0.97, &c.ymin, &c.ymax);
    /* both baselines inside the panels: the unigram above the runs, the trigram often below */
    for (int d = 0; d < D; d++) {
        c.ymax = fmax(c.ymax, ceil(ref->unigram_loss[d] * 1.03 * 10) / 10);
        if (isfinite(ref->ngram_loss[d])) c.ymin = fmin(c.ymin, floor(ref->ngram_loss[d] * 0.95 * 10) / 10);
        if (isfinite(ref->byte_ngram_loss[d])) c.ymin = fmin(c.ymin, floor(ref->byte_ngram_loss[d] * 0.95 * 10) / 10);
    }
    int bpe = strcmp(ref->cfg.tokenizer, "byte") != 0;
    pm_svg s;
    if (pm_svg_open(&s, path, WIDTH, 340)) return free(all), free(x), free(y), -1;
    for (int d = 0; d < D; d++) {
        char title[96];
        snprintf(title, sizeof title, "Held-out loss: %s", ref->domain[d]);
        c.left = MARGIN_L + d * (pw + gap);
        pm_chart_axes(&s, &c, title, d == D / 2 ? step_label(runs, n) : NULL, d ? NULL : "loss (nats per token)");
        pm_chart_hline(&s, &c, ref->unigram_loss[d], GREY, "unigram");
        if (isfinite(ref->ngram_loss[d])) pm_chart_hline(&s, &c, ref->ngram_loss[d], GREY, "trigram");
        if (bpe && isfinite(ref->byte_ngram_loss[d])) pm_chart_hline(&s, &c, ref->byte_ngram_loss[d], GREY, "byte trigram");
        for (int i = 0; i < n; i++) {
            const pm_run *r = &runs[i];
            int rd = -1; /* the same domain in this run, by name */
            for (int e = 0; e < r->D; e++)
                if (!strcmp(r->domain[e], ref->domain[d])) rd = e;
            if (rd < 0) continue;
            global_steps(r, r->evals.step, r->evals.n, x);
            for (int j = 0; j < r->evals.n; j++) y[j] = r->evals.loss[j * PM_MAX_DOMAINS + rd];
            pm_chart_series(&s, &c, x, y, r->evals.n, pm_colour_category(i), 1.6, NULL);
            for (int j = 0; j < r->evals.n; j++)
                if (x[j] >= c.xmin && x[j] <= c.xmax && y[j] >= c.ymin && y[j] <= c.ymax)
                    pm_svg_circle(&s, pm_chart_x(&c, x[j]), pm_chart_y(&c, y[j]), 2.2, pm_colour_category(i));
        }
    }
    legend_runs(&s, WIDTH - MARGIN_R - LEGEND_W + 20, c.top + 10, runs, n);
    free(all);
    free(x);
    free(y);
    return pm_svg_close(&s);
}

int pm_figure_moe_layers(const pm_run *runs, int n, const int **layers) {
    int best = -1;
    for (int i = 0; i < n; i++)
        if (best < 0 || runs[i].n_moe > runs[best].n_moe) best = i;
    if (best < 0) return 0;
    *layers = runs[best].moe_layer;
    return runs[best].n_moe;
}

static int layer_index(const pm_run *r, int layer) {
    for (int l = 0; l < r->n_moe; l++)
        if (r->moe_layer[l] == layer) return l;
    return -1;
}

/* Whether the run's collapse was this MoE layer's (index l): the collapse rule holds for it at
 * the logged step nearest to the one the run was declared collapsed at (the detector watches
 * every layer; only the collapsed ones get the marker). */
static int collapsed_in_layer(const pm_run *r, int l) {
    const pm_run_train *t = &r->train;
    int near = -1;
    for (int i = 0; r->collapse_step && l >= 0 && i < t->n; i++)
        if (near < 0 || fabs(t->step[i] - r->collapse_step) < fabs(t->step[near] - r->collapse_step)) near = i;
    if (near < 0) return 0;
    pm_router_summary s = {.max_fraction = t->max_fraction[near * r->n_moe + l],
                           .usage_entropy = t->usage_entropy[near * r->n_moe + l]};
    return pm_router_collapsed(&s, r->cfg.n_experts);
}

/* Column l of a [n][n_moe] array. */
static void column(const double *v, int n, int n_moe, int l, double *out) {
    for (int i = 0; i < n; i++) out[i] = v[(size_t)i * n_moe + l];
}

typedef const double *(*train_field)(const pm_run *r);
static const double *router_entropy(const pm_run *r) { return r->train.router_entropy; }
static const double *usage_entropy(const pm_run *r) { return r->train.usage_entropy; }
static const double *max_fraction(const pm_run *r) { return r->train.max_fraction; }
static const double *dead_experts(const pm_run *r) { return r->train.dead_experts; }

/* One routing field of the given MoE layer, every MoE run, in its colour. */
static void plot_field(pm_svg *s, const pm_chart *c, const pm_run *runs, int n, int layer, train_field field,
                       const char *dash, double *x, double *y) {
    for (int i = 0; i < n; i++) {
        const pm_run *r = &runs[i];
        int l = layer_index(r, layer);
        if (l < 0) continue;
        global_steps(r, r->train.step, r->train.n, x);
        column(field(r), r->train.n, r->n_moe, l, y);
        pm_chart_series(s, c, x, y, r->train.n, pm_colour_category(i), 1.3, dash);
    }
}

static int max_points(const pm_run *runs, int n) {
    int m = 1;
    for (int i = 0; i < n; i++) m = runs[i].train.n > m ? runs[i].train.n : m;
    return m;
}

static int max_experts(const pm_run *runs, int n) {
    int e = 1;
    for (int i = 0; i < n; i++)
        if (runs[i].n_moe && runs[i].cfg.n_experts > e) e = runs[i].cfg.n_experts;
    return e;
}

/* The legend of the MoE runs and, when given, what solid and dashed lines mean. */
static void legend_styles(pm_svg *s, double x, double y, const pm_run *runs, int n, const char *solid,
                          const char *dashed) {
    pm_legend_entry e[18];
    int m = 0;
    for (int i = 0; i < n && m < 16; i++)
        if (runs[i].n_moe) e[m++] = (pm_legend_entry){runs[i].name, pm_colour_category(i), NULL};
    if (solid) e[m++] = (pm_legend_entry){solid, "#333333", NULL};
    if (dashed) e[m++] = (pm_legend_entry){dashed, "#333333", "4 3"};
    pm_chart_legend(s, x, y, e, m);
}

int pm_figure_entropy(const char *path, const pm_run *runs, int n) {
    const int *layers;
    int L = pm_figure_moe_layers(runs, n, &layers), E = max_experts(runs, n);
    if (!L) return 0;
    double *x = scratch(max_points(runs, n)), *y = scratch(max_points(runs, n));
    pm_svg s;
    if (!x || !y || pm_svg_open(&s, path, WIDTH, 70 + 250.0 * L)) return free(x), free(y), -1;
    for (int li = 0; li < L; li++) {
        pm_chart c = {MARGIN_L, 34 + 250.0 * li, WIDTH - MARGIN_L - MARGIN_R - LEGEND_W, 180, 0, last_step(runs, n),
                      0, log(E) * 1.08};
        char title[96];
        snprintf(title, sizeof title, "Layer %d: router entropy and expert-usage entropy", layers[li]);
        pm_chart_axes(&s, &c, title, step_label(runs, n), "nats");
        pm_chart_hline(&s, &c, log(E), THRESHOLD, "ln E (uniform)");
        mark_upcycling(&s, &c, runs, n);
        plot_field(&s, &c, runs, n, layers[li], usage_entropy, NULL, x, y);
        plot_field(&s, &c, runs, n, layers[li], router_entropy, "4 3", x, y);
        if (!li) legend_styles(&s, c.left + c.width + 20, c.top + 10, runs, n, "usage entropy", "router entropy");
    }
    free(x);
    free(y);
    return pm_svg_close(&s);
}

/* The share of a logged step's assignments in MoE layer l that a capacity factor cf would
 * drop: what each expert receives above ceil(cf N k / E), with N = B T (one micro-batch). */
static double drop_rate(const pm_run *r, int step, int l, double cf) {
    int E = r->cfg.n_experts, k = r->cfg.top_k;
    double assignments = (double)r->cfg.batch_size * r->cfg.block_size * k, capacity = ceil(cf * assignments / E);
    double dropped = 0;
    for (int e = 0; e < E; e++)
        dropped += fmax(0.0, r->train.share[((size_t)step * r->n_moe + l) * E + e] * assignments - capacity);
    return dropped / assignments;
}

int pm_figure_drop_rates(const char *path, const pm_run *runs, int n) {
    const int *layers;
    int L = pm_figure_moe_layers(runs, n, &layers);
    if (!L) return 0;
    enum { POINTS = 21 }; /* capacity factors 1.00, 1.05, ..., 2.00 */
    double x[POINTS], y[POINTS];
    pm_svg s;
    if (pm_svg_open(&s, path, WIDTH, 70 + 250.0 * L)) return -1;
    for (int li = 0; li < L; li++) {
        pm_chart c = {MARGIN_L, 34 + 250.0 * li, WIDTH - MARGIN_L - MARGIN_R - LEGEND_W, 180, 1, 2, 0, 0.05};
        for (int pass = 0; pass < 2; pass++) { /* the axis takes the largest rate in, then the lines */
            if (pass) {
                char title[96];
                snprintf(title, sizeof title, "Layer %d: assignments over an expert's capacity", layers[li]);
                pm_chart_axes(&s, &c, title, "capacity factor", "share dropped");
            }
            for (int i = 0; i < n; i++) {
                const pm_run *r = &runs[i];
                int l = layer_index(r, layers[li]), first = r->train.n - r->train.n / 4;
                if (l < 0 || r->train.n < 1) continue;
                for (int p = 0; p < POINTS; p++) {
                    x[p] = 1.0 + 0.05 * p, y[p] = 0;
                    for (int j = first; j < r->train.n; j++) y[p] += drop_rate(r, j, l, x[p]) / (r->train.n - first);
                    c.ymax = fmax(c.ymax, y[p] * 1.05);
                }
                if (pass) pm_chart_series(&s, &c, x, y, POINTS, pm_colour_category(i), 1.3, NULL);
            }
        }
        if (!li) legend_styles(&s, c.left + c.width + 20, c.top + 10, runs, n, NULL, NULL);
    }
    return pm_svg_close(&s);
}

int pm_figure_saturation(const char *path, const pm_run *runs, int n, const pm_routing *const *routings) {
    const int *layers;
    int L = pm_figure_moe_layers(runs, n, &layers), curves = 0;
    for (int i = 0; i < n; i++) curves += routings[i] && routings[i]->n_curve > 0;
    if (!L || !curves) return 0;
    double x[PM_SATURATION_POINTS + 1], y[PM_SATURATION_POINTS + 1];
    pm_svg s;
    if (pm_svg_open(&s, path, WIDTH, 70 + 250.0 * L)) return -1;
    for (int li = 0; li < L; li++) {
        pm_chart c = {MARGIN_L, 34 + 250.0 * li, WIDTH - MARGIN_L - MARGIN_R - LEGEND_W, 180, 0, last_step(runs, n), 0, 1.02};
        char title[96];
        snprintf(title, sizeof title, "Layer %d: tokens whose top-1 expert is already the final one", layers[li]);
        pm_chart_axes(&s, &c, title, step_label(runs, n), "share of tokens");
        mark_upcycling(&s, &c, runs, n);
        for (int i = 0; i < n; i++) {
            const pm_routing *rt = routings[i];
            int l = layer_index(&runs[i], layers[li]);
            if (!rt || l < 0 || !rt->n_curve) continue;
            for (int p = 0; p < rt->n_curve; p++) x[p] = rt->curve_step[p] + runs[i].dense_steps, y[p] = rt->curve[p][l];
            x[rt->n_curve] = rt->step + runs[i].dense_steps, y[rt->n_curve] = 1; /* the last against itself */
            pm_chart_series(&s, &c, x, y, rt->n_curve + 1, pm_colour_category(i), 1.3, NULL);
        }
        if (!li) legend_styles(&s, c.left + c.width + 20, c.top + 10, runs, n, NULL, NULL);
    }
    return pm_svg_close(&s);
}

int pm_figure_router_losses(const char *path, const pm_run *runs, int n) {
    int total = 0, moe = 0;
    for (int i = 0; i < n; i++) total += runs[i].train.n, moe |= runs[i].n_moe > 0;
    if (!moe) return 0;
    double *all = scratch(total), *x = scratch(max_points(runs, n));
    if (!all || !x) return free(all), free(x), -1;
    pm_svg s;
    if (pm_svg_open(&s, path, WIDTH, 340)) return free(all), free(x), -1;
    double gap = 60, pw = (WIDTH - MARGIN_L - MARGIN_R - LEGEND_W - gap) / 2;
    for (int panel = 0; panel < 2; panel++) {
        int m = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < runs[i].train.n; j++) all[m++] = (panel ? runs[i].train.z_loss : runs[i].train.lb_loss)[j];
        pm_chart c = {MARGIN_L + panel * (pw + gap), 34, pw, 250, 0, last_step(runs, n), 0, 0};
        value_range(all, m, 1.0, &c.ymin, &c.ymax);
        pm_chart_axes(&s, &c, panel ? "z-loss: mean squared router logsumexp" : "load-balancing loss E sum f P",
                      step_label(runs, n), panel ? "summed over MoE layers" : "summed over MoE layers");
        mark_upcycling(&s, &c, runs, n);
        for (int i = 0; i < n; i++) {
            if (!runs[i].n_moe) continue;
            global_steps(&runs[i], runs[i].train.step, runs[i].train.n, x);
            pm_chart_series(&s, &c, x, panel ? runs[i].train.z_loss : runs[i].train.lb_loss, runs[i].train.n,
                            pm_colour_category(i), 1.3, NULL);
        }
    }
    legend_runs(&s, WIDTH - MARGIN_R - LEGEND_W + 20, 44, runs, n);
    free(all);
    free(x);
    return pm_svg_close(&s);
}

int pm_figure_expert_shares(const char *path, const pm_run *runs, int n) {
    int rows = 0, cols = 0;
    for (int i = 0; i < n; i++)
        if (runs[i].n_moe) rows++, cols = runs[i].n_moe > cols ? runs[i].n_moe : cols;
    if (!rows) return 0;
    double gap = 50, pw = (WIDTH - MARGIN_L - MARGIN_R - LEGEND_W - gap * (cols - 1)) / cols, ph = 120, row_h = ph + 60;
    pm_svg s;
    if (pm_svg_open(&s, path, WIDTH, 30 + row_h * rows)) return -1;
    int row = 0, E_max = 1;
    for (int i = 0; i < n; i++) {
        const pm_run *r = &runs[i];
        if (!r->n_moe) continue;
        int E = r->cfg.n_experts;
        E_max = E > E_max ? E : E_max;
        for (int l = 0; l < r->n_moe; l++) {
            pm_chart c = {MARGIN_L + l * (pw + gap), 34 + row_h * row, pw, ph, 0, last_step(runs, n), 0, 1};
            char title[192];
            snprintf(title, sizeof title, "%s, layer %d", r->name, r->moe_layer[l]);
            pm_chart_axes(&s, &c, title, NULL, l ? NULL : "share");
            /* one column per logged step, reaching to the next, stacked by expert */
            for (int j = 0; j < r->train.n; j++) {
                double x0 = r->train.step[j] + r->dense_steps,
                       x1 = j + 1 < r->train.n ? r->train.step[j + 1] + r->dense_steps : x0 + 1, below = 0;
                if (x0 < c.xmin || x1 > c.xmax + 1) continue;
                for (int e = 0; e < E; e++) {
                    double f = r->train.share[((size_t)j * r->n_moe + l) * E + e];
                    if (!isfinite(f) || f <= 0) continue;
                    double px0 = pm_chart_x(&c, x0), px1 = pm_chart_x(&c, fmin(x1, c.xmax));
                    double top = pm_chart_y(&c, below + f);
                    pm_svg_rect(&s, px0, top, fmax(px1 - px0, 0.5), pm_chart_y(&c, below) - top, pm_colour_category(e), NULL,
                                NULL);
                    below += f;
                }
            }
        }
        row++;
    }
    pm_legend_entry e[16];
    int m = E_max < 16 ? E_max : 16;
    char names[16][8];
    for (int k = 0; k < m; k++) {
        snprintf(names[k], sizeof names[k], "E%d", k);
        e[k] = (pm_legend_entry){names[k], pm_colour_category(k), NULL};
    }
    pm_chart_legend(&s, WIDTH - MARGIN_R - LEGEND_W + 20, 44, e, m);
    return pm_svg_close(&s);
}

int pm_figure_usage(const char *path, const pm_run *runs, int n) {
    const int *layers;
    int L = pm_figure_moe_layers(runs, n, &layers), E = max_experts(runs, n);
    if (!L) return 0;
    double *x = scratch(max_points(runs, n)), *y = scratch(max_points(runs, n)), h = 150, row = 2 * h + 135;
    pm_svg s;
    if (!x || !y || pm_svg_open(&s, path, WIDTH, 40 + row * L)) return free(x), free(y), -1;
    for (int li = 0; li < L; li++) {
        double top = 34 + row * li;
        pm_chart share = {MARGIN_L, top, WIDTH - MARGIN_L - MARGIN_R - LEGEND_W, h, 0, last_step(runs, n), 0, 1};
        pm_chart dead = share;
        dead.top = top + h + 55;
        dead.ymax = E;
        char title[96];
        snprintf(title, sizeof title, "Layer %d: largest expert share of the batch's tokens", layers[li]);
        pm_chart_axes(&s, &share, title, NULL, "max fraction");
        pm_chart_hline(&s, &share, PM_COLLAPSE_SHARE, THRESHOLD, "collapse threshold " PM_STR(PM_COLLAPSE_SHARE));
        snprintf(title, sizeof title, "Layer %d: dead experts (no token in the batch)", layers[li]);
        pm_chart_axes(&s, &dead, title, step_label(runs, n), "experts");
        for (int i = 0; i < n; i++) {
            if (!collapsed_in_layer(&runs[i], layer_index(&runs[i], layers[li]))) continue;
            char label[192];
            int at = runs[i].collapse_step + runs[i].dense_steps;
            if (runs[i].dense_steps)
                snprintf(label, sizeof label, "%s collapsed (step %d here: MoE step %d)", runs[i].name, at,
                         runs[i].collapse_step);
            else
                snprintf(label, sizeof label, "%s collapsed (step %d)", runs[i].name, at);
            pm_chart_vline(&s, &share, at, pm_colour_category(i), label);
        }
        plot_field(&s, &share, runs, n, layers[li], max_fraction, NULL, x, y);
        plot_field(&s, &dead, runs, n, layers[li], dead_experts, NULL, x, y);
        if (!li) legend_styles(&s, share.left + share.width + 20, top + 10, runs, n, NULL, NULL);
    }
    free(x);
    free(y);
    return pm_svg_close(&s);
}

double pm_run_domain_information(const pm_run *r, int i, int l, double *h_domain) {
    return pm_mutual_information(pm_run_counts(r, i, l), r->cfg.n_experts, r->D, h_domain);
}

/* I(expert; domain) / H(domain) of every evaluation of run r in MoE layer l into x, y. */
static void information_series(const pm_run *r, int l, double *x, double *y) {
    for (int j = 0; j < r->evals.n; j++) {
        double h, mi = pm_run_domain_information(r, j, l, &h);
        x[j] = r->evals.step[j] + r->dense_steps;
        y[j] = h > 0 ? mi / h : NAN;
    }
}

int pm_figure_information(const char *path, const pm_run *runs, int n) {
    const int *layers;
    int L = pm_figure_moe_layers(runs, n, &layers), points = 1;
    if (!L) return 0;
    for (int i = 0; i < n; i++) points = runs[i].evals.n > points ? runs[i].evals.n : points;
    double *x = scratch(points), *y = scratch(points), gap = 50, top = 0.05;
    if (!x || !y) return free(x), free(y), -1;
    for (int i = 0; i < n; i++)
        for (int l = 0; l < runs[i].n_moe; l++) {
            information_series(&runs[i], l, x, y);
            for (int j = 0; j < runs[i].evals.n; j++)
                if (isfinite(y[j])) top = fmax(top, y[j]);
        }
    double pw = (WIDTH - MARGIN_L - MARGIN_R - LEGEND_W - gap * (L - 1)) / L, lo = 0, hi = fmin(top * 1.1, 1);
    pm_chart_nice_range(&lo, &hi);
    pm_svg s;
    if (pm_svg_open(&s, path, WIDTH, 300)) return free(x), free(y), -1;
    for (int li = 0; li < L; li++) {
        pm_chart c = {MARGIN_L + li * (pw + gap), 34, pw, 200, 0, last_step(runs, n), lo, hi};
        char title[96];
        snprintf(title, sizeof title, "Layer %d: I(expert; domain) / H(domain)", layers[li]);
        pm_chart_axes(&s, &c, title, li == L / 2 ? step_label(runs, n) : NULL, li ? NULL : "share of H(domain)");
        for (int i = 0; i < n; i++) {
            int l = layer_index(&runs[i], layers[li]);
            if (l < 0) continue;
            information_series(&runs[i], l, x, y);
            pm_chart_series(&s, &c, x, y, runs[i].evals.n, pm_colour_category(i), 1.6, NULL);
            for (int j = 0; j < runs[i].evals.n; j++)
                if (isfinite(y[j])) pm_svg_circle(&s, pm_chart_x(&c, x[j]), pm_chart_y(&c, y[j]), 2.2, pm_colour_category(i));
        }
    }
    legend_styles(&s, WIDTH - MARGIN_R - LEGEND_W + 20, 44, runs, n, NULL, NULL);
    free(x);
    free(y);
    return pm_svg_close(&s);
}

int pm_figure_domain_routing(const char *path, const pm_run *r, int l, int panels) {
    int E = r->cfg.n_experts, k = r->cfg.top_k, D = r->D, n = r->evals.n;
    if (!n || !D) return 0;
    if (panels > n) panels = n;
    char expert[MAX_SHOWN_EXPERTS][8];
    const char *rows[MAX_SHOWN_EXPERTS], *cols[PM_MAX_DOMAINS];
    int shown = expert_labels(E, expert, rows);
    for (int d = 0; d < D; d++) cols[d] = r->domain[d];
    double *share = scratch(E * D), cell_w = D > 4 ? 32 : 40, cell_h = 17;
    pm_heatmap h = {shown, D, share, (double)k / E, log2((double)E / k), rows, cols, cell_w, cell_h, 30, 1};
    double panel_w = h.label_w + D * cell_w + 22;
    pm_svg s;
    if (!share || pm_svg_open(&s, path, fmax(panel_w * panels + 20, 420), 100 + h.rows * cell_h + 40)) return free(share), -1;
    pm_svg_text(&s, 10, 22, "start", 13, 0, "#000000", "%s, layer %d: share of each domain's held-out tokens per expert",
                r->name, r->moe_layer[l]);
    for (int p = 0; p < panels; p++) {
        /* evenly spaced evaluations, the last one always included */
        int i = panels == 1 ? n - 1 : (int)lround((double)p * (n - 1) / (panels - 1));
        const double *counts = pm_run_counts(r, i, l);
        for (int d = 0; d < D; d++) {
            double tokens = 0;
            for (int e = 0; e < E; e++) tokens += counts[e * D + d];
            tokens /= k;
            for (int e = 0; e < h.rows; e++) share[e * D + d] = tokens > 0 ? counts[e * D + d] / tokens : NAN;
        }
        char title[64];
        snprintf(title, sizeof title, "step %g", r->evals.step[i] + r->dense_steps);
        pm_chart_heatmap(&s, 10 + p * panel_w, 80, &h, title);
    }
    pm_chart_heat_key(&s, 10 + h.label_w, 80 + h.rows * cell_h + 10, 220, h.baseline, h.span);
    free(share);
    return pm_svg_close(&s);
}

int pm_figure_token_classes(const char *path, const pm_run *r, const pm_routing *rt, int l) {
    int E = rt->E, k = rt->k, n_rows = 0;
    char labels[PM_MAX_DOMAINS * PM_MAX_CLASSES][96];
    const char *row_labels[PM_MAX_DOMAINS * PM_MAX_CLASSES], *cols[MAX_SHOWN_EXPERTS];
    char expert[MAX_SHOWN_EXPERTS][8];
    int shown = expert_labels(E, expert, cols);
    double *share = scratch(PM_MAX_DOMAINS * PM_MAX_CLASSES * shown);
    if (!share) return -1;
    for (int d = 0; d < rt->D; d++) {
        const char *const *names;
        pm_token_class_names(rt->lexer[d], &names);
        for (int c = 0; c < rt->n_classes[d]; c++) {
            double tokens = rt->class_tokens[d][c];
            if (tokens <= 0) continue;
            const double *counts = pm_routing_class_counts(rt, l, d, c);
            for (int e = 0; e < shown; e++) share[n_rows * shown + e] = counts[e] / tokens;
            snprintf(labels[n_rows], sizeof labels[n_rows], "%s: %s (%.0f)", r->domain[d], names[c], tokens);
            row_labels[n_rows] = labels[n_rows];
            n_rows++;
        }
    }
    double cell_w = E > 16 ? 22 : 36, cell_h = 17;
    pm_heatmap h = {n_rows, shown, share, (double)k / E, log2((double)E / k), row_labels, cols,
                    cell_w, cell_h, 220, 1};
    pm_svg s;
    if (pm_svg_open(&s, path, fmax(h.label_w + h.cols * cell_w + 40, 420), 70 + n_rows * cell_h + 50))
        return free(share), -1;
    char title[256];
    snprintf(title, sizeof title, "%s, layer %d: expert shares by token class (tokens analysed)", r->name,
             r->moe_layer[l]);
    pm_chart_heatmap(&s, 10, 60, &h, title);
    pm_chart_heat_key(&s, 10 + h.label_w, 60 + n_rows * cell_h + 10, 220, h.baseline, h.span);
    free(share);
    return pm_svg_close(&s);
}
