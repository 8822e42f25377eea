#include "bench/results.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

pm_record pm_record_blank(void) {
    pm_record r;
    memset(&r, 0, sizeof r);
    r.gflops = r.gbps = r.moe_over_dense = PM_NA;
    r.tokens_per_s = r.tokens_per_s_min = r.tokens_per_s_max = r.peak_bytes = PM_NA;
    r.mfu = r.peak_gflops = r.fma_gflops = r.gemm_ceiling = PM_NA;
    return r;
}

/* Grows *items (of `size` bytes each) so that one more fits. */
static int grow(void **items, int n, int *cap, size_t size) {
    if (n < *cap) return 0;
    int want = *cap ? 2 * *cap : 32;
    void *p = realloc(*items, (size_t)want * size);
    if (!p) return -1;
    *items = p;
    *cap = want;
    return 0;
}

pm_record *pm_results_add(pm_results *r, const pm_record *rec) {
    if (grow((void **)&r->recs, r->n, &r->cap, sizeof *r->recs)) return NULL;
    r->recs[r->n] = *rec;
    return &r->recs[r->n++];
}

void pm_results_note(pm_results *r, int is_failure, const char *fmt, ...) {
    char buf[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    r->failures += is_failure;
    if (grow((void **)&r->notes, r->n_notes, &r->cap_notes, sizeof *r->notes)) return;
    char *copy = malloc(strlen(buf) + 16);
    if (!copy) return;
    sprintf(copy, "%s%s", is_failure ? "FAILED: " : "skipped: ", buf);
    r->notes[r->n_notes++] = copy;
}

void pm_results_free(pm_results *r) {
    for (int i = 0; i < r->n_notes; i++) free(r->notes[i]);
    free(r->notes);
    free(r->recs);
    memset(r, 0, sizeof *r);
}

/* v to 6 significant digits: timer noise is far larger, and the lines stay readable. */
static void add_number(cJSON *o, const char *key, double v) {
    char buf[32];
    snprintf(buf, sizeof buf, "%.6g", v);
    cJSON_AddNumberToObject(o, key, strtod(buf, NULL));
}

static void add_metric(cJSON *o, const char *key, double v) {
    if (v == PM_NA) cJSON_AddNullToObject(o, key);
    else add_number(o, key, v);
}

static cJSON *record_json(const pm_record *x, const pm_run_info *run) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "suite", x->suite);
    cJSON_AddStringToObject(o, "op", x->op);
    cJSON_AddStringToObject(o, "case", x->name);
    cJSON_AddStringToObject(o, "backend", x->backend);
    cJSON_AddStringToObject(o, "implementation", x->impl);
    cJSON_AddStringToObject(o, "device", x->device);
    cJSON_AddStringToObject(o, "shape", x->shape);
    cJSON_AddStringToObject(o, "dtype", "float32");
    add_number(o, "median_ms", x->t.median_ms);
    cJSON *s = cJSON_AddObjectToObject(o, "spread");
    add_number(s, "min_ms", x->t.min_ms);
    add_number(s, "max_ms", x->t.max_ms);
    add_number(s, "q1_ms", x->t.q1_ms);
    add_number(s, "q3_ms", x->t.q3_ms);
    cJSON_AddNumberToObject(o, "reps", x->t.reps);
    add_metric(o, "gflops", x->gflops);
    add_metric(o, "gbps", x->gbps);
    if (x->moe_over_dense != PM_NA) add_number(o, "moe_over_dense", x->moe_over_dense);
    if (x->tokens_per_s != PM_NA) {
        add_number(o, "tokens_per_s", x->tokens_per_s);
        add_metric(o, "tokens_per_s_min", x->tokens_per_s_min);
        add_metric(o, "tokens_per_s_max", x->tokens_per_s_max);
        add_metric(o, "mfu", x->mfu);
        add_metric(o, "peak_gflops", x->peak_gflops);
        if (x->peak_source[0]) cJSON_AddStringToObject(o, "peak_source", x->peak_source);
        else cJSON_AddNullToObject(o, "peak_source");
        add_metric(o, "fma_peak_gflops", x->fma_gflops);
        add_metric(o, "gemm_ceiling_gflops", x->gemm_ceiling);
        cJSON_AddNumberToObject(o, "peak_bytes", x->peak_bytes);
    }
    cJSON_AddStringToObject(o, "host_cpu", run->cpu);
    cJSON_AddNumberToObject(o, "omp_threads", run->threads);
    cJSON_AddStringToObject(o, "commit", run->commit);
    cJSON_AddStringToObject(o, "run_utc", run->utc);
    return o;
}

int pm_results_write_json(const pm_results *r, const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    for (int i = 0; i < r->n; i++) {
        cJSON *o = record_json(&r->recs[i], &r->run);
        char *line = o ? cJSON_PrintUnformatted(o) : NULL;
        if (line) fprintf(f, "%s\n", line);
        free(line);
        cJSON_Delete(o);
        if (!line) {
            fclose(f);
            errno = ENOMEM;
            return -1;
        }
    }
    return fclose(f) ? -1 : 0;
}

/* The notes column: what a suite measures beyond time and rate. */
static void extra(const pm_record *x, char *buf, size_t len) {
    buf[0] = 0;
    if (x->moe_over_dense != PM_NA) snprintf(buf, len, "MoE/dense %.2f", x->moe_over_dense);
    if (x->tokens_per_s == PM_NA) return;
    char mfu[96] = "MFU n/a (peak unknown, or no FLOP count)";
    if (x->mfu != PM_NA)
        snprintf(mfu, sizeof mfu, "MFU %.1f%% of %.0f GFLOP/s (%s)", 100.0 * x->mfu, x->peak_gflops,
                 strcmp(x->peak_source, "fma_loop") == 0       ? "measured FMA peak"
                 : strcmp(x->peak_source, "gemm_ceiling") == 0 ? "measured GEMM ceiling"
                                                               : "driver's peak");
    snprintf(buf, len, "%.0f tok/s [%.0f..%.0f], %s, peak %.1f MiB", x->tokens_per_s,
             x->tokens_per_s_min, x->tokens_per_s_max, mfu, x->peak_bytes / (1024.0 * 1024.0));
}

static void write_table(const pm_results *r, const char *suite, FILE *f) {
    int header = 0;
    for (int i = 0; i < r->n; i++) {
        const pm_record *x = &r->recs[i];
        if (strcmp(x->suite, suite) != 0) continue;
        if (!header) {
            fprintf(f, "\n### %s\n\n| backend | impl | op | case | shape | median ms | min..max ms | reps | rate | notes |\n"
                       "| --- | --- | --- | --- | --- | ---: | ---: | ---: | ---: | --- |\n", suite);
            header = 1;
        }
        char rate[32] = "", notes[192];
        if (x->gflops != PM_NA) snprintf(rate, sizeof rate, "%.1f GFLOP/s", x->gflops);
        else if (x->gbps != PM_NA) snprintf(rate, sizeof rate, "%.2f GB/s", x->gbps);
        extra(x, notes, sizeof notes);
        fprintf(f, "| %s | %s | %s | %s | %s | %.3f | %.3f..%.3f | %d | %s | %s |\n", x->backend,
                x->impl, x->op, x->name, x->shape, x->t.median_ms, x->t.min_ms, x->t.max_ms, x->t.reps, rate, notes);
    }
}

void pm_results_write_markdown(const pm_results *r, FILE *f) {
    static const char *const suites[] = {"gemm", "router", "dispatch", "moe_layer", "train_step"};
    const pm_run_info *run = &r->run;
    fprintf(f, "## polymoe bench\n\nHost: %s, %d OpenMP threads; polymoe %s; %s\n", run->cpu,
            run->threads, run->commit, run->utc);
    if (run->fma_gflops != PM_NA)
        fprintf(f, "Measured FMA peak of the host: %.1f GFLOP/s on %d threads\n", run->fma_gflops,
                run->threads);
    fprintf(f, "\nDevices:\n");
    for (int i = 0; i < r->n; i++) {
        int seen = 0;
        for (int j = 0; j < i && !seen; j++) seen = strcmp(r->recs[j].backend, r->recs[i].backend) == 0;
        if (!seen) fprintf(f, "- %s: %s\n", r->recs[i].backend, r->recs[i].device);
    }
    for (size_t s = 0; s < sizeof suites / sizeof suites[0]; s++) write_table(r, suites[s], f);
    if (r->n_notes) fprintf(f, "\nNotes:\n");
    for (int i = 0; i < r->n_notes; i++) fprintf(f, "- %s\n", r->notes[i]);
}
