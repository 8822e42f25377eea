/* Whole training steps (zero_grad, pm_model_forward, pm_model_backward, grad norm, AdamW
 * update, as the trainer does them) on random tokens: tokens/s (median and spread over at least
 * MIN_REPS steps), achieved model FLOP/s with FLOPs = 6 * active params * tokens + attention's
 * 12 * n_layer * C * T * tokens (forward and backward of QK^T and PV, causal mask not
 * discounted), MFU, and the device's peak memory while training that model (pm_peak_bytes of
 * a backend instance opened for that model alone).
 *
 * MFU is against a peak: on a GPU pm_device_info.peak_gflops where the driver gives one; on a
 * CPU device a measured one, the higher of the host's FMA peak on all OpenMP threads (measured
 * once per bench run) and this backend's GEMM ceiling (one large square sgemm through its own
 * gemm op); the rows say which. Each config runs as given and, when it has MoE layers, as its
 * dense twin (the same without them, and without LoRA or routing settings), case "NAME-dense".
 * A config with frozen weights or dense routing gets tokens/s but no FLOP/s or MFU. */
#include "bench/bench.h"
#include "bench/host.h"
#include "bench/inputs.h"
#include "bench/suites.h"
#include "train/tokenizer/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model/model.h"

/* Built in (embedded at build time, so that any working directory has them). */
extern const unsigned char pm_default_config[];    /* configs/tiny.json */
extern const unsigned char pm_bench_config_w384[]; /* bench/configs/w384.json */
extern const unsigned char pm_bench_config_gpt2_small[]; /* bench/configs/gpt2-small.json */
static const struct {
    const char *name;
    const unsigned char *json;
} builtin[] = {
    {"tiny", pm_default_config},
    {"w384", pm_bench_config_w384},
    {"gpt2-small", pm_bench_config_gpt2_small},
};

const char *pm_bench_config_list(void) { return "tiny, w384, gpt2-small"; }

enum { MIN_REPS = 5, QUICK_MIN_REPS = 3, CEILING_N = 2048, QUICK_CEILING_N = 1024 };
#define FMA_SECONDS 0.2
#define QUICK_FMA_SECONDS 0.05

typedef struct {
    pm_model *model;
    int32_t *tokens, *targets;
    int B, T, step;
} step_arg;

static void step_body(pm_backend *be, void *p) {
    step_arg *s = p;
    float loss, norm;
    (void)be;
    s->step++;
    pm_model_zero_grad(s->model);
    pm_model_forward(s->model, s->tokens, s->targets, s->B, s->T, s->step, &loss);
    pm_model_backward(s->model, s->B, s->T, 1.0f);
    pm_model_grad_norm(s->model, &norm);
    pm_model_update(s->model, 1e-4f, s->step, 1.0f);
}

/* `name` is a JSON file when it ends in .json, else a built-in config, else configs/NAME.json
 * from the working directory (the user presets). Fills cfg (tiny's values under the file's)
 * and the case name (the file's base name without .json). Returns 0, or -1 with err. */
static int read_config(const char *name, pm_config *cfg, char *case_name, size_t case_len,
                       char *err, size_t errlen) {
    size_t len = strlen(name);
    int is_file = len > 5 && strcmp(name + len - 5, ".json") == 0;
    char path[1024];
    struct stat st;
    pm_config_defaults(cfg);
    if (pm_config_apply_json(cfg, (const char *)pm_default_config, err, errlen)) return -1;
    if (is_file) {
        const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
        snprintf(case_name, case_len, "%.*s", (int)strlen(base) - 5, base);
        return pm_config_load_file(cfg, name, err, errlen);
    }
    snprintf(case_name, case_len, "%s", name);
    for (size_t i = 0; i < sizeof builtin / sizeof builtin[0]; i++)
        if (strcmp(name, builtin[i].name) == 0)
            return pm_config_apply_json(cfg, (const char *)builtin[i].json, err, errlen);
    snprintf(path, sizeof path, "configs/%s.json", name);
    if (stat(path, &st) == 0) return pm_config_load_file(cfg, path, err, errlen);
    snprintf(err, errlen, "no config '%s': not built in (%s), no configs/%s.json in the working "
             "directory, and not a .json file", name, pm_bench_config_list(), name);
    return -1;
}

/* read_config, with vocab_size 0 resolved to the config's tokenizer's size as training does. */
static int load_config(const char *name, pm_config *cfg, char *case_name, size_t case_len, char *err,
                       size_t errlen) {
    if (read_config(name, cfg, case_name, case_len, err, errlen)) return -1;
    return pm_tokenizer_resolve_vocab(cfg->tokenizer, &cfg->vocab_size, err, errlen);
}

int pm_bench_check_config(const char *name, char *err, size_t errlen) {
    pm_config cfg;
    char case_name[24], why[512];
    if (load_config(name, &cfg, case_name, sizeof case_name, why, sizeof why) == 0 &&
        pm_model_check(&cfg, why, sizeof why) == 0)
        return 0;
    snprintf(err, errlen, "--config %s: %s", name, why);
    return -1;
}

/* Device bytes a training model needs, roughly: parameters, gradients and the two AdamW
 * moments, plus per layer about 20 N C k activations and the B NH T^2 attention
 * probabilities, one more such matrix of gradient scratch, and the logits (with their
 * gradient scratch); 25% headroom. */
static double estimate_bytes(const pm_config *c, int B, int T) {
    double C = c->n_embd, N = (double)B * T, V = c->vocab_size, L = c->n_layer;
    double params = V * C + c->block_size * C + L * (12 * C * C + 13 * C) +
                    pm_config_n_moe(c) * ((c->n_experts - 1) * (8 * C * C + 5 * C) + c->n_experts * C);
    double acts = L * (20 * N * C * c->top_k + (double)B * c->n_head * T * T) +
                  (double)B * c->n_head * T * T + 2 * N * V;
    return 1.25 * 4 * (4 * params + acts);
}

/* The peak MFU is taken against, into the record's peak fields. */
typedef struct {
    double gflops, fma, gemm;
    const char *source;
} peak;

typedef struct {
    int n;
    pm_buf *a, *b, *c;
} square_arg;

static void square_body(pm_backend *be, void *p) {
    square_arg *g = p;
    pm_bench_mm(be, 0, 0, g->n, g->n, g->n, pm_at(g->a, 0), pm_at(g->b, 0), 0.0f, pm_at(g->c, 0));
}

/* The backend's best GFLOP/s (fastest run) on one large square GEMM, as a row of its own;
 * PM_NA when it was not measured. */
static double gemm_ceiling(pm_bench_ctx *c) {
    int n = c->quick ? QUICK_CEILING_N : CEILING_N;
    size_t nn = (size_t)n * n;
    pm_bench_bufs bufs = {.be = c->be};
    square_arg arg = {n, pm_bench_uniform(&bufs, nn, 1.0f, 402), pm_bench_uniform(&bufs, nn, 1.0f, 403),
                      pm_bench_zeros(&bufs, nn)};
    char shape[64];
    snprintf(shape, sizeof shape, "%dx%dx%d", n, n, n);
    double flops = 2.0 * nn * n;
    pm_record *r = pm_bench_measure(c, "gemm", "ceiling", shape, square_body, &arg, flops, 0);
    pm_bench_bufs_free(&bufs);
    return r ? flops / (r->t.min_ms * 1e-3) * 1e-9 : PM_NA;
}

static peak find_peak(pm_bench_ctx *c) {
    const pm_device_info *info = pm_backend_info(c->be);
    peak p = {PM_NA, PM_NA, PM_NA, ""};
    if (info->is_gpu) {
        if (info->peak_gflops > 0) p = (peak){info->peak_gflops, PM_NA, PM_NA, "device_info"};
        return p;
    }
    pm_run_info *run = &c->results->run;
    if (run->fma_gflops == PM_NA) {
        run->fma_gflops = pm_bench_fma_peak(c->quick ? QUICK_FMA_SECONDS : FMA_SECONDS);
        printf("[%6.1fs] host FMA peak: %.1f GFLOP/s on %d OpenMP threads\n",
               pm_bench_now() - c->started, run->fma_gflops, run->threads);
        fflush(stdout);
    }
    p.fma = run->fma_gflops;
    p.gemm = gemm_ceiling(c);
    /* the loop is built for the ISA the cpu backend's ops are; a GEMM library that picks a
     * wider one at run time can beat it, and then the GEMM is the honest ceiling */
    if (p.gemm != PM_NA && p.gemm > p.fma) p.gflops = p.gemm, p.source = "gemm_ceiling";
    else p.gflops = p.fma, p.source = "fma_loop";
    return p;
}

/* Points fc at a new instance of the context's backend (device 0, the same GEMM); 0, or -1
 * (noted) when it cannot open. */
static int open_fresh(const pm_bench_ctx *c, pm_bench_ctx *fc) {
    char err[600];
    *fc = *c;
    fc->be = pm_backend_open(pm_backend_kind(c->be), 0, err, sizeof err);
    if (!fc->be) {
        fprintf(stderr, "bench: %s\n", err);
        pm_results_note(c->results, 1, "train_step on %s: %s", pm_backend_kind(c->be), err);
        return -1;
    }
    if (pm_select_gemm(fc->be, pm_current_gemm(c->be)) == PM_OK) return 0;
    pm_bench_fail(fc, "select GEMM", pm_error(fc->be));
    pm_backend_close(fc->be);
    return -1;
}

/* Times the config's steps on a fresh backend instance, so that the peak memory is its own. */
static void run_config(pm_bench_ctx *suite_ctx, const pm_config *cfg, const char *name,
                       int gpu_only, const peak *pk) {
    const pm_device_info *info = pm_backend_info(suite_ctx->be);
    pm_bench_ctx ctx = *suite_ctx, *c = &ctx;
    char err[600];
    int B = c->quick && cfg->batch_size > 4 ? 4 : cfg->batch_size, T = cfg->block_size;
    double need = estimate_bytes(cfg, B, T);
    if (gpu_only && (!info->is_gpu || (double)info->memory_bytes < need)) {
        pm_bench_skip(c, "train_step %s on %s: needs a GPU with about %.1f GiB (this device: %s, %.1f GiB)",
                      name, pm_backend_kind(c->be), need / (1 << 30),
                      info->is_gpu ? "a GPU" : "not a GPU", (double)info->memory_bytes / (1 << 30));
        return;
    }
    if (info->memory_bytes && (double)info->memory_bytes < need) {
        pm_bench_skip(c, "train_step %s on %s: needs about %.1f GiB, the device has %.1f GiB", name,
                      pm_backend_kind(c->be), need / (1 << 30), (double)info->memory_bytes / (1 << 30));
        return;
    }
    if (open_fresh(suite_ctx, c)) return;
    step_arg s = {.B = B, .T = T};
    size_t n = (size_t)B * T;
    s.model = pm_model_create(c->be, cfg, B, T, err, sizeof err);
    s.tokens = malloc(n * sizeof *s.tokens);
    s.targets = malloc(n * sizeof *s.targets);
    if (!s.model || !s.tokens || !s.targets) {
        pm_bench_fail(c, name, s.model ? "out of host memory" : err);
    } else {
        for (size_t i = 0; i < n; i++) {
            s.tokens[i] = (int32_t)(pm_bench_unit(400, i) * cfg->vocab_size);
            s.targets[i] = (int32_t)(pm_bench_unit(401, i) * cfg->vocab_size);
        }
        /* 6 x active parameters per token holds when every weight trains and a token uses top_k
         * experts; frozen weights skip their weight gradients and dense routing runs every
         * expert, so for those no FLOP count (and no MFU) is claimed */
        int counted = pm_model_num_trainable(s.model) == pm_model_num_params(s.model) &&
                      cfg->router_mode == PM_ROUTE_TOPK;
        double flops = counted ? 6.0 * (double)pm_model_active_params(s.model) * n +
                                     12.0 * cfg->n_layer * cfg->n_embd * T * (double)n
                               : 0;
        char shape[96];
        snprintf(shape, sizeof shape, "B=%d T=%d L=%d C=%d E=%d k=%d MoE=%d", B, T, cfg->n_layer,
                 cfg->n_embd, cfg->n_experts, cfg->top_k, pm_config_n_moe(cfg));
        pm_record rec = pm_bench_record(c, "train_step", name, shape);
        if (pm_bench_time(c, step_body, &s, flops, 0, &rec) == 0) {
            rec.tokens_per_s = (double)n / (rec.t.median_ms * 1e-3);
            rec.tokens_per_s_min = (double)n / (rec.t.max_ms * 1e-3);
            rec.tokens_per_s_max = (double)n / (rec.t.min_ms * 1e-3);
            rec.peak_gflops = pk->gflops;
            rec.fma_gflops = pk->fma;
            rec.gemm_ceiling = pk->gemm;
            snprintf(rec.peak_source, sizeof rec.peak_source, "%s", pk->source);
            if (pk->gflops != PM_NA && rec.gflops != PM_NA) rec.mfu = rec.gflops / pk->gflops;
            rec.peak_bytes = (double)pm_peak_bytes(c->be);
            pm_bench_emit(c, &rec);
        }
    }
    pm_model_free(s.model);
    free(s.tokens);
    free(s.targets);
    pm_backend_close(c->be);
}

/* The config `name`, then its dense twin when it has MoE layers. */
static void run_pair(pm_bench_ctx *c, const char *name, int gpu_only, const peak *pk) {
    pm_config cfg;
    char case_name[24], err[600];
    if (load_config(name, &cfg, case_name, sizeof case_name, err, sizeof err) ||
        pm_model_check(&cfg, err, sizeof err)) {
        pm_bench_skip(c, "train_step %s on %s: %s", name, pm_backend_kind(c->be), err);
        return;
    }
    run_config(c, &cfg, case_name, gpu_only, pk);
    if (!pm_config_n_moe(&cfg)) return;
    char twin[sizeof case_name + 8];
    snprintf(twin, sizeof twin, "%s-dense", case_name);
    /* the twin is the plain dense model, every weight trained: no adapters, routing or widths */
    memset(cfg.moe_layers, 0, sizeof cfg.moe_layers);
    cfg.lora_rank = cfg.lora_attn = cfg.expert_width = 0;
    cfg.router_mode = cfg.eval_router_mode = PM_ROUTE_TOPK;
    run_config(c, &cfg, twin, gpu_only, pk);
}

void pm_bench_train_step(pm_bench_ctx *c) {
    peak pk = find_peak(c);
    c->min_reps = c->quick ? QUICK_MIN_REPS : MIN_REPS;
    if (c->configs) {
        for (int i = 0; i < c->n_configs; i++) run_pair(c, c->configs[i], 0, &pk);
        return;
    }
    /* the default set stays cheap on a CPU: tiny; GPT-2 small at full context on a GPU only */
    run_pair(c, "tiny", 0, &pk);
    run_pair(c, "gpt2-moe", 1, &pk);
}
