/* The bench driver: every backend (device 0) x every selected suite x its GEMM
 * implementations, then the outputs. Nothing here names a backend: the registry decides. */
#include "bench/bench.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "bench/charts.h"
#include "bench/host.h"
#include "bench/suites.h"
#include "train/util/files.h"

/* Quick mode: seconds shared equally among the backends that have a device. */
#define QUICK_SECONDS 90.0

typedef struct {
    const char *name;
    unsigned bit;
    void (*run)(pm_bench_ctx *c);
    int every_impl; /* 1: once per GEMM implementation; 0: the backend's default only */
    int weight;     /* quick mode: its part of a backend's time (per implementation run) */
} suite;

static const suite suites[] = {
    {"gemm", PM_BENCH_GEMM, pm_bench_gemm, 1, 3},
    {"router", PM_BENCH_ROUTER, pm_bench_router, 0, 1},
    {"dispatch", PM_BENCH_DISPATCH, pm_bench_dispatch, 0, 1},
    {"moe_layer", PM_BENCH_MOE_LAYER, pm_bench_moe_layer, 0, 2},
    {"train_step", PM_BENCH_TRAIN_STEP, pm_bench_train_step, 0, 1},
};
enum { n_suites = sizeof suites / sizeof suites[0], MAX_IMPLS = 8 };

/* One backend's run: the GEMM implementations worth timing (default first) and, in quick
 * mode, its share of the time, handed out to the suite runs by weight as they start. */
typedef struct {
    const char *name;
    char impls[MAX_IMPLS][32];
    int n_impls;
    double start, share;
    int total_weight, used_weight;
} backend_run;

const char *pm_bench_suite_list(void) { return "gemm,router,dispatch,moe_layer,train_step"; }

unsigned pm_bench_parse_suites(const char *list, char *err, size_t errlen) {
    unsigned bits = 0;
    for (const char *p = list;; p++) {
        size_t len = strcspn(p, ",");
        int found = 0;
        for (int i = 0; i < n_suites; i++)
            if (len == strlen(suites[i].name) && strncmp(p, suites[i].name, len) == 0) {
                bits |= suites[i].bit;
                found = 1;
            }
        if (!found) {
            snprintf(err, errlen, "unknown suite '%.*s' (suites: %s)", (int)len, p,
                     pm_bench_suite_list());
            return 0;
        }
        p += len;
        if (!*p) return bits;
    }
}

/* Opens the backend once to list its GEMM implementations; -1 (noted) when it cannot open. */
static int list_impls(backend_run *br, pm_results *r) {
    char err[600];
    pm_backend *be = pm_backend_open(br->name, 0, err, sizeof err);
    if (!be) {
        fprintf(stderr, "bench: %s\n", err);
        pm_results_note(r, 1, "backend %s: %s", br->name, err);
        return -1;
    }
    const char *const *impls = pm_gemm_impls(be);
    printf("   GEMM implementations:");
    for (int i = 0; impls[i]; i++) {
        printf("%s %s", i ? "," : "", impls[i]);
        if (br->n_impls < MAX_IMPLS) snprintf(br->impls[br->n_impls++], sizeof br->impls[0], "%s", impls[i]);
    }
    printf("\n");
    pm_backend_close(be);
    return 0;
}

static int runs_of(const suite *s, const backend_run *br) { return s->every_impl ? br->n_impls : 1; }

/* Runs suite s on a freshly opened backend (so its peak memory is the suite's own). */
static void run_suite(backend_run *br, const suite *s, pm_bench_ctx proto) {
    char err[600];
    pm_backend *be = pm_backend_open(br->name, 0, err, sizeof err);
    if (!be) {
        fprintf(stderr, "bench: %s\n", err);
        pm_results_note(proto.results, 1, "%s on %s: %s", s->name, br->name, err);
        return;
    }
    for (int i = 0; i < runs_of(s, br); i++) {
        pm_bench_ctx c = proto;
        c.be = be;
        c.suite = s->name;
        br->used_weight += s->weight;
        c.deadline = br->start + br->share * br->used_weight / br->total_weight;
        if (pm_select_gemm(be, br->impls[i]) != PM_OK) pm_bench_fail(&c, "select GEMM", pm_error(be));
        else s->run(&c);
    }
    pm_backend_close(be);
}

/* Says what was written, or why it could not be; returns 1 on a failure. */
static int said(int ok, const char *what) {
    if (ok) printf("wrote %s\n", what);
    else fprintf(stderr, "polymoe bench: cannot write %s: %s\n", what, strerror(errno));
    return !ok;
}

/* Prints the markdown and writes every output; returns the number that failed. */
static int write_outputs(const pm_results *r, const pm_bench_options *opt) {
    char md_path[1024], json_path[1024], charts_what[1100];
    if (opt->json_path) snprintf(json_path, sizeof json_path, "%s", opt->json_path);
    else snprintf(json_path, sizeof json_path, "%s/bench.jsonl", opt->out_dir);
    snprintf(md_path, sizeof md_path, "%s/bench.md", opt->out_dir);
    printf("\n");
    pm_results_write_markdown(r, stdout);
    printf("\n");
    int failed = said(pm_results_write_json(r, json_path) == 0, json_path);
    FILE *md = fopen(md_path, "w");
    if (md) pm_results_write_markdown(r, md);
    failed += said(md && fclose(md) == 0, md_path);
    int charts = pm_bench_charts(r, opt->out_dir);
    snprintf(charts_what, sizeof charts_what, "%d SVG chart(s) in %s", charts, opt->out_dir);
    return failed + said(charts >= 0, charts >= 0 ? charts_what : "the SVG charts");
}

pm_status pm_bench_run(const pm_bench_options *opt) {
    int all = strcmp(opt->backend, "all") == 0, known = all;
    for (int i = 0; i < pm_backend_count(); i++) known |= strcmp(opt->backend, pm_backend_name(i)) == 0;
    if (!known) {
        fprintf(stderr, "polymoe bench: backend '%s' is not compiled in (this build has:", opt->backend);
        for (int i = 0; i < pm_backend_count(); i++) fprintf(stderr, " %s", pm_backend_name(i));
        fprintf(stderr, "; or all)\n");
        return PM_BAD_ARGS;
    }
    for (int i = 0; i < opt->n_configs; i++) {
        char err[700];
        if (pm_bench_check_config(opt->configs[i], err, sizeof err)) {
            fprintf(stderr, "polymoe bench: %s\n", err);
            return PM_BAD_ARGS;
        }
    }
    if (opt->n_configs && !(opt->suites & PM_BENCH_TRAIN_STEP)) {
        fprintf(stderr, "polymoe bench: --config is for the train_step suite, which --suite leaves out\n");
        return PM_BAD_ARGS;
    }
    if (pm_mkdir_p(opt->out_dir)) {
        fprintf(stderr, "polymoe bench: cannot create %s: %s\n", opt->out_dir, strerror(errno));
        return PM_FAILED;
    }
    pm_results results = {0};
    pm_bench_probe_host(&results.run);
    printf("== host: %s, %d OpenMP threads; polymoe %s; %s\n", results.run.cpu, results.run.threads,
           results.run.commit, results.run.utc);
    pm_bench_ctx proto = {.results = &results, .quick = opt->quick, .started = pm_bench_now(),
                          .configs = opt->configs, .n_configs = opt->n_configs};
    /* which backends have a device; the others are skipped by name */
    const char *run[16];
    int n_run = 0;
    for (int i = 0; i < pm_backend_count() && n_run < 16; i++) {
        const char *name = pm_backend_name(i);
        pm_device_info infos[16];
        char why[256] = "";
        if (!all && strcmp(name, opt->backend) != 0) continue;
        if (all && strcmp(name, "ref") == 0) { /* the oracle: slow on purpose, not a contender */
            printf("== ref: the reference backend, not benchmarked (name it to time it)\n");
            pm_results_note(&results, 0, "backend ref: the slow reference, not benchmarked");
            continue;
        }
        if (pm_backend_devices(name, infos, 16, why, sizeof why) > 0) {
            run[n_run++] = name;
            printf("== %s device 0: %s\n", name, infos[0].name);
        } else {
            printf("== %s: no device (%s), skipped\n", name, why);
            pm_results_note(&results, !all, "backend %s: no device: %s", name, why);
        }
    }
    fflush(stdout);
    for (int b = 0; b < n_run; b++) {
        backend_run br = {.name = run[b], .share = QUICK_SECONDS / n_run};
        printf("\n== %s\n", br.name);
        if (list_impls(&br, &results) || br.n_impls == 0) continue;
        for (int s = 0; s < n_suites; s++)
            if (opt->suites & suites[s].bit) br.total_weight += suites[s].weight * runs_of(&suites[s], &br);
        br.start = pm_bench_now();
        for (int s = 0; s < n_suites; s++)
            if (opt->suites & suites[s].bit) run_suite(&br, &suites[s], proto);
    }
    int failed_outputs = write_outputs(&results, opt);
    printf("bench took %.1f s; %d measurements, %d failures\n", pm_bench_now() - proto.started,
           results.n, results.failures + failed_outputs);
    pm_status rc = results.failures || failed_outputs ? PM_FAILED : PM_DONE;
    pm_results_free(&results);
    return rc;
}
