#define _POSIX_C_SOURCE 200809L
#include "train/report/experiment.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "train/data/corpus.h"
#include "train/data/doc_texts.h"
#include "train/tokenizer/bpe_train.h"
#include "train/util/files.h"
#include "train/report/report.h"
#include "train/run_config.h"
#include "train/report/report_runs.h"
#include "train/trainer.h"

typedef struct {
    const char *name;
    const char *const *model; /* key=value for every run, NULL-terminated */
    int dense_steps, moe_steps, eval_every;
    int bpe_vocab;  /* >0: each seed trains a BPE vocabulary of this size on its train split */
    int pretrained; /* the runs start from --init-from (dense_steps 0) and use its tokenizer */
} scale;

/* A model small enough that the whole study runs in seconds, for tests. */
static const char *const toy_model[] = {"n_layer=2", "n_head=2", "n_embd=32", "block_size=32", "batch_size=6",
                                        "moe_layers=0,1", "n_experts=4", "eval_seqs=4", "final_eval_seqs=6",
                                        "log_every=1", "warmup_steps=2", NULL};
/* configs/tiny.json at batch 12 over 2,048 BPE tokens (2.8-3.3 bytes each on the default
 * corpus): with them the models pass the byte trigram within the first 500 steps, which they
 * did not in 450 steps over bytes. The last evaluation takes every held-out sequence. */
static const char *const default_model[] = {"batch_size=12", "log_every=10", "eval_seqs=128",
                                            "final_eval_seqs=1048576", NULL};
/* The MoE Emergence study as configs/gpt2-small-moe.json: GPT-2 small from Hugging Face files,
 * MoE in layers 8-11, block 512, batch 2 x 4, lr 5e-5 with 10% warmup, 10,000 steps. */
static const char *const gpt2_model[] = {"n_layer=12", "n_head=12", "n_embd=768", "block_size=512",
                                         "moe_layers=8,9,10,11", "batch_size=2", "grad_accum=4",
                                         "warmup_steps=1000", "lr=5e-5", "eval_seqs=16", "log_every=10", NULL};

static const scale scales[] = {
    {"toy", toy_model, 8, 16, 4, 320, 0},
    {"default", default_model, 400, 700, 200, 2048, 0},
    {"gpt2", gpt2_model, 0, 10000, 500, 0, 1},
};

/* Router noise breaks the ties of the zero router after upcycling (without it every token
 * would go to expert 0); it falls to zero over the first 5% of the MoE runs, after which the
 * router alone decides. Expert noise of 0.02 is about the size of the dense MLP's weights.
 * With this schedule the run without load balancing collapses (at MoE step 170 on the default
 * corpus); in a trial with router noise 0.1 lasting a quarter of the run it stayed uneven
 * (largest expert share up to 0.56) but did not collapse in 300 steps. */
static const char *const router_settings[] = {"router_noise=1.0", "noise_anneal=0.05", NULL};
#define UPCYCLE_NOISE 0.02f

typedef struct {
    const char *name, *what;
    const char *overrides[4];
    int half_width; /* experts of half the dense MLP's width (expert_width = 2 n_embd) */
    int restart;    /* the restart control: nothing to control where no dense phase precedes */
} moe_run;

enum { MAX_MOE_RUNS = 5, MAX_SEEDS = 10 };

/* An experiment: MoE runs upcycled from one dense checkpoint, beside the dense baseline. */
typedef struct {
    const char *name, *question;
    moe_run runs[MAX_MOE_RUNS];
    int n_runs;
} experiment;

static const experiment experiments[] = {
    {"emergence", "do experts specialise by domain, and what does load balancing do?",
     {{"moe", "MoE upcycled from the dense checkpoint, top-1, load balancing", {NULL}, 0, 0},
      {"no-lb", "the same without load balancing, trained as long as the others (its collapse is marked)",
       {"lb_coef=0", NULL}, 0, 0},
      {"top2", "the same as moe with top-2 routing", {"top_k=2", NULL}, 0, 0},
      /* top-2 of full-width experts does twice top-1's expert work; half-width ones do the same */
      {"top2-matched", "top-2 of experts half the dense MLP's width: top-1's active parameters and FLOPs",
       {"top_k=2", NULL}, 1, 0},
      /* the upcycled runs restart warmup and the peak lr: this separates that from the experts */
      {"dense-restart", "the dense model continued from the same checkpoint on the MoE runs' restarted schedule",
       {"moe_layers=", NULL}, 0, 1}},
     5},
    /* DyLoRA-MoE's design against full experts: adapters of rank 8 over the frozen dense
     * model, every adapter trained (dense routing) and one used per token at inference */
    {"lora-moe", "what do LoRA experts over a frozen base give against full experts, per parameter trained?",
     {{"moe", "full-expert MoE upcycled from the dense checkpoint, top-1, load balancing", {NULL}, 0, 0},
      {"lora", "LoRA-expert MoE (rank 8) over the frozen dense checkpoint: dense routing in training, top-1 at eval",
       {"lora_rank=8", "router_mode=dense", "eval_router_mode=topk", NULL}, 0, 0}},
     2},
};

typedef struct {
    const pm_experiment_options *opt;
    const experiment *ex;
    const scale *sc;
    double started;
    int stage;
    int seed;       /* 1..opt->seeds: seed 1's runs are STUDY/ARM, seed K's STUDY/seed-K/ARM */
    char tokenizer[1100]; /* "tokenizer=bpe:DIR" for every run of the seed; empty: bytes */
} study;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void add(pm_run_args *a, const char *const *kv) {
    for (; kv && *kv && a->n_overrides < PM_MAX_OVERRIDES; kv++) a->overrides[a->n_overrides++] = *kv;
}

static int moe_steps(const study *s) { return s->opt->steps ? s->opt->steps : s->sc->moe_steps; }

/* Whether an arm runs at this scale. */
static int arm_runs(const study *s, const moe_run *m) { return !(m->restart && s->sc->dense_steps == 0); }

static int arms(const study *s) {
    int n = 0;
    for (int i = 0; i < s->ex->n_runs; i++) n += arm_runs(s, &s->ex->runs[i]);
    return n;
}

/* The embedded default config <- the scale's model <- the router settings <- the study's
 * evaluation and checkpoint cadence <- the user's key=value <- the arm's `extra`. */
static int study_config(const study *s, const char *const *extra, int steps, pm_config *cfg, char *err,
                        size_t errlen) {
    pm_run_args a;
    memset(&a, 0, sizeof a);
    char eval_every[32], checkpoint_every[32], data[600];
    snprintf(eval_every, sizeof eval_every, "eval_every=%d", s->sc->eval_every);
    /* a checkpoint every quarter of the MoE runs, all kept: the report's saturation curve
     * compares each with the last */
    snprintf(checkpoint_every, sizeof checkpoint_every, "checkpoint_every=%d", moe_steps(s) / 4 ? moe_steps(s) / 4 : 1);
    snprintf(data, sizeof data, "data=%s", s->opt->data ? s->opt->data : "");
    const char *const cadence[] = {eval_every, checkpoint_every, "keep_checkpoints=0", s->opt->data ? data : NULL, NULL};
    const char *const tokenizer[] = {s->tokenizer[0] ? s->tokenizer : NULL, NULL};
    add(&a, s->sc->model);
    add(&a, router_settings);
    add(&a, cadence);
    add(&a, tokenizer);
    add(&a, s->opt->overrides);
    add(&a, extra);
    a.steps = steps;
    if (pm_run_config(&a, NULL, cfg, err, errlen)) return -1;
    cfg->seed += (uint32_t)(s->seed - 1); /* initialisation, data order and router noise */
    return 0;
}

static void run_dir(const study *s, const char *name, char *out, size_t len) {
    if (s->seed > 1) snprintf(out, len, "%s/seed-%d/%s", s->opt->out, s->seed, name);
    else snprintf(out, len, "%s/%s", s->opt->out, name);
}

static void stage(study *s, const char *name, const char *what) {
    printf("\n[%d/%d] seed %d, %s: %s (study time so far %.1f min)\n", ++s->stage,
           (arms(s) + 1 + (s->sc->dense_steps > 0)) * s->opt->seeds, s->seed, name, what, (now() - s->started) / 60);
    fflush(stdout);
}

static pm_status train(const study *s, const char *name, const pm_config *cfg, const pm_train_options *base,
                       char *err, size_t errlen) {
    char dir[1024];
    run_dir(s, name, dir, sizeof dir);
    pm_train_options o = *base;
    o.out_dir = dir;
    o.backend = s->opt->backend;
    char inner[1024];
    pm_status rc = pm_train(cfg, &o, inner, sizeof inner);
    if (rc == PM_FAILED) snprintf(err, errlen, "%s: %s", name, inner);
    if (rc == PM_INTERRUPTED) snprintf(err, errlen, "interrupted during %s", name);
    return rc;
}

/* RUN/upcycle.json tells the report where the run's step 1 lies on the dense run's axis. */
static int write_upcycle_note(const study *s, const char *name, char *err, size_t errlen) {
    char dir[1024], path[1100];
    run_dir(s, name, dir, sizeof dir);
    snprintf(path, sizeof path, "%s/" PM_RUN_UPCYCLE_FILE, dir);
    FILE *f = pm_mkdir_p(dir) ? NULL : fopen(path, "w");
    int bad = !f;
    if (f) {
        bad = fprintf(f, "{\"dense_run\": \"dense\", \"dense_steps\": %d, \"upcycle_noise\": %g}\n",
                      s->sc->dense_steps, UPCYCLE_NOISE) < 0;
        bad |= fclose(f) != 0;
    }
    if (bad) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static const scale *find_scale(const char *name) {
    for (size_t i = 0; i < sizeof scales / sizeof scales[0]; i++)
        if (!strcmp(scales[i].name, name)) return &scales[i];
    return NULL;
}

/* A BPE vocabulary trained on the documents this seed's runs train on (their seed and eval
 * fraction decide the split), so that it never sees held-out text. */
static int train_tokenizer(study *s, const pm_config *c, char *err, size_t errlen) {
    char dir[1024];
    run_dir(s, "tokenizer", dir, sizeof dir);
    pm_data_options o = {.seq_len = 1, .eval_fraction = c->eval_fraction, .seed = c->seed};
    pm_dataset *ds = pm_data_open(c->data, &o, err, errlen);
    pm_doc_texts t = {0};
    pm_bpe_train_result res = {0};
    int rc = ds ? pm_doc_texts_get(ds, 0, &t) : -1;
    if (ds && rc) snprintf(err, errlen, "out of memory reading the documents");
    if (!rc) rc = pm_bpe_train(t.docs, t.lens, t.n_docs, s->sc->bpe_vocab, dir, NULL, NULL, &res, err, errlen);
    if (!rc) printf("seed %d: a %d-token BPE vocabulary trained on the %zu train documents (%.1f MB) in %s\n", s->seed,
                    res.vocab_size, t.n_docs, t.n_bytes / 1e6, dir);
    pm_doc_texts_free(&t);
    pm_data_close(ds);
    if (!rc) snprintf(s->tokenizer, sizeof s->tokenizer, "tokenizer=bpe:%s", dir);
    return rc;
}

static pm_status run_study(study *s, char *err, size_t errlen) {
    const scale *sc = s->sc;
    const char *const dense_only[] = {"moe_layers=", NULL};
    char dense_dir[1024];
    run_dir(s, "dense", dense_dir, sizeof dense_dir);
    pm_config dense;
    s->tokenizer[0] = 0;
    if (sc->pretrained) snprintf(s->tokenizer, sizeof s->tokenizer, "tokenizer=bpe:%s", s->opt->init_from);
    if (study_config(s, dense_only, sc->dense_steps + moe_steps(s), &dense, err, errlen)) return PM_FAILED;
    if (pm_corpus_ensure_default(dense.data, err, errlen)) return PM_FAILED;
    if (sc->bpe_vocab && (train_tokenizer(s, &dense, err, errlen) ||
                          study_config(s, dense_only, sc->dense_steps + moe_steps(s), &dense, err, errlen)))
        return PM_FAILED;

    /* the MoE runs start from the dense run's checkpoint, or from the pretrained model itself */
    const char *start = sc->dense_steps ? dense_dir : s->opt->init_from;
    pm_status rc = PM_DONE;
    if (sc->dense_steps) {
        stage(s, "dense", "the dense baseline up to the checkpoint the MoE runs are upcycled from");
        pm_train_options first = {.stop_after = sc->dense_steps};
        rc = train(s, "dense", &dense, &first, err, errlen);
    }
    for (int i = 0; !rc && i < s->ex->n_runs; i++) {
        const moe_run *m = &s->ex->runs[i];
        if (!arm_runs(s, m)) continue;
        pm_config cfg;
        stage(s, m->name, m->what);
        if (study_config(s, m->overrides, moe_steps(s), &cfg, err, errlen) || write_upcycle_note(s, m->name, err, errlen))
            return PM_FAILED;
        if (m->half_width) cfg.expert_width = 2 * cfg.n_embd;
        pm_train_options o = {.init_from = start, .upcycle_noise = UPCYCLE_NOISE};
        rc = train(s, m->name, &cfg, &o, err, errlen);
    }
    if (rc) return rc;
    if (!sc->dense_steps) {
        stage(s, "dense", "the dense baseline: the pretrained model fine-tuned as long as the MoE runs");
        pm_train_options whole = {.init_from = start};
        return train(s, "dense", &dense, &whole, err, errlen);
    }
    stage(s, "dense", "the rest of the dense baseline");
    pm_train_options rest = {.resume = 1};
    return train(s, "dense", &dense, &rest, err, errlen);
}

const char *pm_experiment_names(void) { return "emergence, lora-moe"; }

static const experiment *find_experiment(const char *name) {
    for (size_t i = 0; i < sizeof experiments / sizeof experiments[0]; i++)
        if (!strcmp(experiments[i].name, name)) return &experiments[i];
    return NULL;
}

int pm_experiment_known(const char *name) { return find_experiment(name) != NULL; }

pm_status pm_experiment_run(const char *name, const pm_experiment_options *opt, char *err, size_t errlen) {
    study s = {.opt = opt, .ex = find_experiment(name), .sc = find_scale(opt->scale), .started = now(), .seed = 1};
    if (!s.ex) {
        snprintf(err, errlen, "unknown experiment '%s' (%s)", name, pm_experiment_names());
        return PM_FAILED;
    }
    if (!s.sc) {
        snprintf(err, errlen, "unknown scale '%s' (toy, default or gpt2)", opt->scale);
        return PM_FAILED;
    }
    if (s.sc->pretrained != (opt->init_from != NULL)) {
        snprintf(err, errlen, s.sc->pretrained ? "--scale %s starts from a pretrained model: name its folder with "
                                                 "--init-from DIR (a Hugging Face GPT-2 folder)"
                                               : "--init-from is for --scale gpt2; --scale %s trains its own dense model",
                 s.sc->name);
        return PM_FAILED;
    }
    if (opt->steps < 0) {
        snprintf(err, errlen, "--steps %d: at least 1", opt->steps);
        return PM_FAILED;
    }
    char dense_dir[1024];
    struct stat st;
    run_dir(&s, "dense", dense_dir, sizeof dense_dir);
    if (stat(dense_dir, &st) == 0) {
        snprintf(err, errlen, "%s already holds a study: choose another --out or remove it", opt->out);
        return PM_FAILED;
    }
    if (pm_mkdir_p(opt->out)) {
        snprintf(err, errlen, "cannot create %s: %s", opt->out, strerror(errno));
        return PM_FAILED;
    }
    if (opt->seeds < 1 || opt->seeds > MAX_SEEDS) {
        snprintf(err, errlen, "--seeds %d: 1 to %d", opt->seeds, MAX_SEEDS);
        return PM_FAILED;
    }
    char origin[1100];
    if (s.sc->pretrained) snprintf(origin, sizeof origin, "the pretrained model in %s", opt->init_from);
    else snprintf(origin, sizeof origin, "its step %d", s.sc->dense_steps);
    printf("%s study (%s), scale %s, %d seed%s: dense baseline of %d steps; MoE runs of %d steps upcycled from "
           "%s; folder %s\n",
           s.ex->name, s.ex->question, s.sc->name, opt->seeds, opt->seeds > 1 ? "s" : "",
           s.sc->dense_steps + moe_steps(&s), moe_steps(&s), origin, opt->out);
    pm_status rc = PM_DONE;
    for (s.seed = 1; !rc && s.seed <= opt->seeds; s.seed++) rc = run_study(&s, err, errlen);
    if (rc) return rc;

    /* the figures show seed 1; the seeds section takes every run of every seed */
    int n = arms(&s) + 1, all = 0;
    static char dirs[MAX_SEEDS * (MAX_MOE_RUNS + 1)][1024];
    const char *runs[MAX_SEEDS * (MAX_MOE_RUNS + 1)];
    char report_dir[1024];
    for (s.seed = 1; s.seed <= opt->seeds; s.seed++)
        for (int i = 0; i <= s.ex->n_runs; i++) {
            if (i && !arm_runs(&s, &s.ex->runs[i - 1])) continue;
            run_dir(&s, i ? s.ex->runs[i - 1].name : "dense", dirs[all], sizeof dirs[all]);
            runs[all] = dirs[all];
            all++;
        }
    s.seed = 1;
    run_dir(&s, "report", report_dir, sizeof report_dir);
    printf("\nwriting the report (study time so far %.1f min)\n", (now() - s.started) / 60);
    fflush(stdout);
    pm_report_options ro = {.backend = opt->backend, .panels = 5, .seed_runs = runs, .n_seed_runs = all};
    if (pm_report_write(runs, n, report_dir, &ro, err, errlen)) return PM_FAILED;
    printf("study finished in %.1f min; report: %s/report.html\n", (now() - s.started) / 60, report_dir);
    return PM_DONE;
}
