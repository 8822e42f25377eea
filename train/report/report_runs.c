#include "train/report/report_runs.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/util/files.h"

#define METRICS_MAX_BYTES ((size_t)1 << 30)

static double value(const cJSON *v) { return cJSON_IsNumber(v) ? v->valuedouble : NAN; }
static double number(const cJSON *o, const char *key) { return value(cJSON_GetObjectItemCaseSensitive(o, key)); }

static void base_name(const char *dir, char *out, size_t len) {
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    size_t start = n;
    while (start > 0 && dir[start - 1] != '/') start--;
    snprintf(out, len, "%.*s", (int)(n - start), dir + start);
}

/* A resumed run may log steps again that it logged before it was interrupted: the later
 * lines win. Returns how many earlier entries remain before one of `step`. */
static int keep_before(const double *steps, int n, double step) {
    while (n > 0 && steps[n - 1] >= step) n--;
    return n;
}

static void add_train(pm_run *r, const cJSON *o) {
    pm_run_train *t = &r->train;
    int i = t->n = keep_before(t->step, t->n, number(o, "step")), nm = r->n_moe;
    t->step[i] = number(o, "step");
    t->lm_loss[i] = number(o, "lm_loss");
    t->tokens_per_s[i] = number(o, "tokens_per_s");
    t->lb_loss[i] = nm ? number(o, "lb_loss") : NAN;
    t->z_loss[i] = nm ? number(o, "z_loss") : NAN;
    const cJSON *moe = cJSON_GetObjectItemCaseSensitive(o, "moe");
    for (int l = 0; l < nm; l++) {
        const cJSON *x = cJSON_GetArrayItem(moe, l);
        t->router_entropy[i * nm + l] = number(x, "router_entropy");
        t->usage_entropy[i * nm + l] = number(x, "usage_entropy");
        t->max_fraction[i * nm + l] = number(x, "max_fraction");
        t->dead_experts[i * nm + l] = number(x, "dead_experts");
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(x, "f");
        for (int e = 0; e < r->cfg.n_experts; e++)
            t->share[((size_t)i * nm + l) * r->cfg.n_experts + e] = value(cJSON_GetArrayItem(f, e));
    }
    t->n++;
}

/* The first eval line fixes the domains; later ones must name the same. */
static int add_eval(pm_run *r, const cJSON *o, char *err, size_t errlen) {
    const cJSON *names = cJSON_GetObjectItemCaseSensitive(o, "domain_names");
    const cJSON *doms = cJSON_GetObjectItemCaseSensitive(o, "domains");
    int D = cJSON_GetArraySize(names);
    if (D < 1 || D > PM_MAX_DOMAINS || (r->D && D != r->D)) {
        snprintf(err, errlen, "an eval line with %d domains", D);
        return -1;
    }
    pm_run_evals *ev = &r->evals;
    int i = ev->n = keep_before(ev->step, ev->n, number(o, "step")), E = r->cfg.n_experts;
    ev->step[i] = number(o, "step");
    for (int d = 0; d < D; d++) {
        const cJSON *name = cJSON_GetArrayItem(names, d);
        if (!cJSON_IsString(name)) {
            snprintf(err, errlen, "an eval line whose domain_names are not strings");
            return -1;
        }
        if (!r->D) snprintf(r->domain[d], sizeof r->domain[d], "%s", name->valuestring);
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(doms, name->valuestring);
        ev->loss[i * PM_MAX_DOMAINS + d] = number(x, "loss");
        r->unigram_loss[d] = number(x, "unigram_loss");
        r->ngram_loss[d] = number(x, "ngram_loss"); /* NAN in runs from before it was logged */
        r->byte_ngram_loss[d] = number(x, "byte_ngram_loss");
        r->last_loss_se[d] = number(x, "loss_se");
        r->last_bits_per_byte[d] = number(x, "bits_per_byte");
        r->eval_tokens[d] = number(x, "tokens");
    }
    r->D = D;
    const cJSON *moe = cJSON_GetObjectItemCaseSensitive(o, "moe");
    for (int l = 0; l < r->n_moe; l++) {
        const cJSON *rows = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(moe, l), "counts");
        double *c = ev->counts + ((size_t)i * r->n_moe + l) * E * PM_MAX_DOMAINS;
        for (int e = 0; e < E; e++)
            for (int d = 0; d < D; d++) c[e * D + d] = value(cJSON_GetArrayItem(cJSON_GetArrayItem(rows, e), d));
    }
    ev->n++;
    return 0;
}

static int alloc_series(pm_run *r, int lines) {
    size_t n = (size_t)lines + 1, nm = (size_t)(r->n_moe ? r->n_moe : 1);
    pm_run_train *t = &r->train;
    pm_run_evals *ev = &r->evals;
    t->step = calloc(n, sizeof(double));
    t->lm_loss = calloc(n, sizeof(double));
    t->tokens_per_s = calloc(n, sizeof(double));
    t->lb_loss = calloc(n, sizeof(double));
    t->z_loss = calloc(n, sizeof(double));
    t->share = calloc(n * nm * (size_t)r->cfg.n_experts, sizeof(double));
    t->router_entropy = calloc(n * nm, sizeof(double));
    t->usage_entropy = calloc(n * nm, sizeof(double));
    t->max_fraction = calloc(n * nm, sizeof(double));
    t->dead_experts = calloc(n * nm, sizeof(double));
    ev->step = calloc(n, sizeof(double));
    ev->loss = calloc(n * PM_MAX_DOMAINS, sizeof(double));
    ev->counts = calloc(n * nm * (size_t)r->cfg.n_experts * PM_MAX_DOMAINS, sizeof(double));
    return t->step && t->lm_loss && t->tokens_per_s && t->lb_loss && t->z_loss && t->share && t->router_entropy && t->usage_entropy && t->max_fraction &&
                   t->dead_experts && ev->step && ev->loss && ev->counts
               ? 0
               : -1;
}

static int read_metrics(pm_run *r, char *err, size_t errlen) {
    char path[1100], inner[512];
    size_t len;
    snprintf(path, sizeof path, "%s/metrics.jsonl", r->dir);
    char *text = pm_read_file(path, METRICS_MAX_BYTES, &len, inner, sizeof inner);
    if (!text) {
        snprintf(err, errlen, "%s", inner);
        return -1;
    }
    int lines = 0;
    for (size_t i = 0; i < len; i++) lines += text[i] == '\n';
    int rc = alloc_series(r, lines + 1) ? -1 : 0, line_no = 0;
    if (rc) snprintf(err, errlen, "out of memory reading %s", path);
    for (char *line = text, *next; !rc && line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        line_no++;
        if (!*line) continue;
        cJSON *o = cJSON_Parse(line);
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(o, "type");
        if (!o && !next) { /* a last line without its newline: a write cut short (a full disk, a kill) */
            fprintf(stderr, "warning: %s:%d: skipping a truncated last line\n", path, line_no);
        } else if (!cJSON_IsString(type)) {
            snprintf(err, errlen, "%s:%d: not a metrics line (a JSON object with a \"type\")", path, line_no);
            rc = -1;
        } else if (!strcmp(type->valuestring, "train")) {
            add_train(r, o);
        } else if (!strcmp(type->valuestring, "eval")) {
            if (add_eval(r, o, inner, sizeof inner)) {
                snprintf(err, errlen, "%s:%d: %s", path, line_no, inner);
                rc = -1;
            }
        } else if (!strcmp(type->valuestring, "collapse")) {
            r->collapse_step = (int)number(o, "step");
        } else if (!strcmp(type->valuestring, "params")) {
            r->params = number(o, "total");
            r->trainable = number(o, "trainable");
            r->optimizer_bytes = number(o, "optimizer_bytes");
        }
        cJSON_Delete(o);
    }
    free(text);
    if (!rc && r->train.n + r->evals.n == 0) {
        snprintf(err, errlen, "%s holds no train or eval line", path);
        rc = -1;
    }
    return rc;
}

/* Optional: a run the study upcycled says how many dense steps preceded it. */
static void read_upcycle(pm_run *r) {
    char path[1100], inner[256];
    size_t len;
    snprintf(path, sizeof path, "%s/" PM_RUN_UPCYCLE_FILE, r->dir);
    char *text = pm_read_file(path, 1 << 16, &len, inner, sizeof inner);
    cJSON *o = text ? cJSON_Parse(text) : NULL;
    double steps = number(o, "dense_steps");
    if (steps > 0) r->dense_steps = (int)steps;
    cJSON_Delete(o);
    free(text);
}

int pm_run_load(pm_run *r, const char *dir, char *err, size_t errlen) {
    memset(r, 0, sizeof *r);
    snprintf(r->dir, sizeof r->dir, "%s", dir);
    base_name(dir, r->name, sizeof r->name);
    char path[1100], inner[512];
    snprintf(path, sizeof path, "%s/config.json", dir);
    pm_config_defaults(&r->cfg);
    if (pm_config_load_file(&r->cfg, path, inner, sizeof inner)) {
        snprintf(err, errlen, "%s is not a run folder: %s", dir, inner);
        return -1;
    }
    for (int l = 0; l < r->cfg.n_layer; l++)
        if (r->cfg.moe_layers[l]) r->moe_layer[r->n_moe++] = l;
    read_upcycle(r);
    if (read_metrics(r, err, errlen)) {
        pm_run_free(r);
        return -1;
    }
    return 0;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double pm_run_tokens_per_s(const pm_run *r) {
    double *v = malloc(sizeof *v * (size_t)(r->train.n + 1));
    int n = 0;
    for (int i = 0; v && i < r->train.n; i++)
        if (isfinite(r->train.tokens_per_s[i])) v[n++] = r->train.tokens_per_s[i];
    if (n) qsort(v, (size_t)n, sizeof *v, by_value);
    double median = n ? (n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2])) : 0;
    free(v);
    return median;
}

void pm_run_free(pm_run *r) {
    pm_run_train *t = &r->train;
    free(t->step);
    free(t->lm_loss);
    free(t->tokens_per_s);
    free(t->lb_loss);
    free(t->z_loss);
    free(t->share);
    free(t->router_entropy);
    free(t->usage_entropy);
    free(t->max_fraction);
    free(t->dead_experts);
    free(r->evals.step);
    free(r->evals.loss);
    free(r->evals.counts);
    memset(t, 0, sizeof *t);
    memset(&r->evals, 0, sizeof r->evals);
}

const double *pm_run_counts(const pm_run *r, int i, int l) {
    return r->evals.counts + ((size_t)i * r->n_moe + l) * r->cfg.n_experts * PM_MAX_DOMAINS;
}
