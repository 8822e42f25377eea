#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include "bench/measure.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Time budget per measurement, bounds on the samples, and the shortest sample worth timing
 * (shorter runs are repeated inside one sample). Quick mode lets a run that alone exceeds the
 * budget be timed once: a slow backend gets fewer repetitions. */
typedef struct {
    double budget_s, sample_s;
    int min_reps, max_reps;
} plan;

static const plan full_plan = {2.0, 0.010, 5, 50};
static const plan quick_plan = {0.6, 0.003, 1, 15};

/* POLYMOE_BENCH_BUDGET=SECONDS (0.05..60) replaces the budget per measurement: a fast device
 * needs far less than the default to reach the plan's repetitions (scripts/gpu-verify.sh,
 * which has minutes on a lent GPU, sets it). */
static plan plan_of(int quick) {
    plan p = quick ? quick_plan : full_plan;
    const char *v = getenv("POLYMOE_BENCH_BUDGET");
    char *end;
    double s = v ? strtod(v, &end) : 0;
    static int warned;
    if (v && end != v && !*end && s >= 0.05 && s <= 60) p.budget_s = s;
    else if (v && !warned++)
        fprintf(stderr, "polymoe bench: POLYMOE_BENCH_BUDGET=%s ignored (seconds, 0.05..60)\n", v);
    return p;
}

double pm_bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

pm_record pm_bench_record(const pm_bench_ctx *c, const char *op, const char *name,
                          const char *shape) {
    pm_record r = pm_record_blank();
    snprintf(r.suite, sizeof r.suite, "%s", c->suite);
    snprintf(r.op, sizeof r.op, "%s", op);
    snprintf(r.name, sizeof r.name, "%s", name);
    snprintf(r.shape, sizeof r.shape, "%s", shape);
    snprintf(r.backend, sizeof r.backend, "%s", pm_backend_kind(c->be));
    snprintf(r.impl, sizeof r.impl, "%s", pm_current_gemm(c->be));
    snprintf(r.device, sizeof r.device, "%s", pm_backend_info(c->be)->name);
    return r;
}

/* Seconds for `inner` runs of body, synchronised on both sides. */
static double run(pm_backend *be, pm_bench_body body, void *arg, int inner) {
    pm_sync(be);
    double t0 = pm_bench_now();
    for (int i = 0; i < inner; i++) body(be, arg);
    pm_sync(be);
    return pm_bench_now() - t0;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The p-quantile of sorted v[n], interpolating linearly between neighbours. */
static double quantile(const double *v, int n, double p) {
    double pos = p * (n - 1);
    int i = (int)pos;
    return i + 1 < n ? v[i] + (pos - i) * (v[i + 1] - v[i]) : v[n - 1];
}

void pm_bench_fail(pm_bench_ctx *c, const char *what, const char *why) {
    char buf[900];
    snprintf(buf, sizeof buf, "%s: %s on %s:%s: %s", c->suite, what, pm_backend_kind(c->be),
             pm_current_gemm(c->be), why);
    fprintf(stderr, "[%6.1fs] FAILED: %s\n", pm_bench_now() - c->started, buf);
    pm_results_note(c->results, 1, "%s", buf);
    pm_clear_error(c->be);
}

void pm_bench_skip(pm_bench_ctx *c, const char *fmt, ...) {
    char buf[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    printf("[%6.1fs] skip: %s\n", pm_bench_now() - c->started, buf);
    fflush(stdout);
    pm_results_note(c->results, 0, "%s", buf);
}

/* Notes the backend's failure while timing rec; returns -1. */
static int timing_failed(pm_bench_ctx *c, const pm_record *rec) {
    char what[160];
    snprintf(what, sizeof what, "%s %s %s", rec->op, rec->name, rec->shape);
    pm_bench_fail(c, what, pm_error(c->be));
    return -1;
}

int pm_bench_time(pm_bench_ctx *c, pm_bench_body body, void *arg, double flops, double bytes,
                  pm_record *rec) {
    const plan plan = plan_of(c->quick), *p = &plan;
    pm_backend *be = c->be;
    if (c->quick && pm_bench_now() > c->deadline) {
        pm_bench_skip(c, "%s:%s %s %s %s: quick mode, the suite's share of the time is spent",
                      rec->backend, rec->impl, rec->op, rec->name, rec->shape);
        return -1;
    }
    double est = run(be, body, arg, 1); /* warm-up: kernel builds, first touch, caches */
    if (!pm_failed(be) && est < p->budget_s / 4) est = run(be, body, arg, 1);
    if (pm_failed(be)) return timing_failed(c, rec);
    est = fmax(est, 1e-7);
    int inner = est < p->sample_s ? (int)fmin(1000, ceil(p->sample_s / est)) : 1;
    double fit = p->budget_s / (est * inner);
    int least = c->min_reps > p->min_reps ? c->min_reps : p->min_reps;
    int reps = fit < least ? least : fit > p->max_reps ? p->max_reps : (int)fit;
    if (c->quick && pm_bench_now() + reps * inner * est > c->deadline) reps = least;
    double *ms = malloc(sizeof *ms * (size_t)reps);
    if (!ms) pm_fail(be, rec->op, "out of host memory");
    for (int i = 0; i < reps && !pm_failed(be); i++) ms[i] = 1e3 * run(be, body, arg, inner) / inner;
    if (pm_failed(be)) {
        free(ms);
        return timing_failed(c, rec);
    }
    qsort(ms, (size_t)reps, sizeof *ms, by_value);
    rec->t = (pm_timing){quantile(ms, reps, 0.5), ms[0], ms[reps - 1], quantile(ms, reps, 0.25),
                         quantile(ms, reps, 0.75), reps};
    free(ms);
    double s = rec->t.median_ms * 1e-3;
    if (flops > 0) rec->gflops = flops / s * 1e-9;
    if (bytes > 0) rec->gbps = bytes / s * 1e-9;
    return 0;
}

pm_record *pm_bench_emit(pm_bench_ctx *c, const pm_record *rec) {
    char rate[32] = "";
    if (rec->gflops != PM_NA) snprintf(rate, sizeof rate, "%9.1f GFLOP/s", rec->gflops);
    else if (rec->gbps != PM_NA) snprintf(rate, sizeof rate, "%9.2f GB/s", rec->gbps);
    char who[48];
    snprintf(who, sizeof who, "%s:%s", rec->backend, rec->impl);
    printf("[%6.1fs] %-16s %-10s %-22s %-10s %-24s %10.3f ms [%.3f..%.3f] x%-3d %s\n",
           pm_bench_now() - c->started, who, rec->suite, rec->op, rec->name, rec->shape,
           rec->t.median_ms, rec->t.min_ms, rec->t.max_ms, rec->t.reps, rate);
    fflush(stdout);
    return pm_results_add(c->results, rec);
}

pm_record *pm_bench_measure(pm_bench_ctx *c, const char *op, const char *name, const char *shape,
                            pm_bench_body body, void *arg, double flops, double bytes) {
    pm_record rec = pm_bench_record(c, op, name, shape);
    if (pm_bench_time(c, body, arg, flops, bytes, &rec)) return NULL;
    return pm_bench_emit(c, &rec);
}
