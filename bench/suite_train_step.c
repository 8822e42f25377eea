/* Whole training steps (zero_grad, pm_model_forward, pm_model_backward, grad norm, AdamW
 * update, as the trainer does them) on random tokens: tokens/s, achieved model FLOP/s with
 * FLOPs = 6 * active params * tokens + attention's 12 * n_layer * C * T * tokens (forward and
 * backward of QK^T and PV, causal mask not discounted), MFU against pm_device_info.peak_gflops
 * where known, and the device's peak memory (pm_peak_bytes; the backend is opened for this
 * suite, and configs run smallest first, so the peak is the largest model's). */
#include "bench/inputs.h"
#include "bench/suites.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model/model.h"

extern const unsigned char pm_default_config[]; /* configs/tiny.json, embedded */

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

/* configs/NAME.json from the working directory; tiny falls back to the embedded copy. */
static int load_config(const char *name, pm_config *cfg, char *err, size_t errlen) {
    char path[64];
    struct stat st;
    snprintf(path, sizeof path, "configs/%s.json", name);
    pm_config_defaults(cfg);
    if (pm_config_apply_json(cfg, (const char *)pm_default_config, err, errlen)) return -1;
    if (stat(path, &st) == 0) return pm_config_load_file(cfg, path, err, errlen);
    if (strcmp(name, "tiny") == 0) return 0;
    snprintf(err, errlen, "%s not found (run from the repository root)", path);
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

static void run_config(pm_bench_ctx *c, const char *name, int gpu_only) {
    pm_config cfg;
    char err[600];
    if (load_config(name, &cfg, err, sizeof err) || pm_model_check(&cfg, err, sizeof err)) {
        pm_bench_skip(c, "train_step %s on %s: %s", name, pm_backend_kind(c->be), err);
        return;
    }
    const pm_device_info *info = pm_backend_info(c->be);
    int B = c->quick && cfg.batch_size > 4 ? 4 : cfg.batch_size, T = cfg.block_size;
    double need = estimate_bytes(&cfg, B, T);
    if (gpu_only && (!info->is_gpu || (double)info->memory_bytes < need)) {
        pm_bench_skip(c, "train_step %s on %s: needs a GPU with about %.1f GiB (this device: %s, %.1f GiB)",
                      name, pm_backend_kind(c->be), need / (1 << 30),
                      info->is_gpu ? "a GPU" : "not a GPU", (double)info->memory_bytes / (1 << 30));
        return;
    }
    step_arg s = {.B = B, .T = T};
    size_t n = (size_t)B * T;
    s.model = pm_model_create(c->be, &cfg, B, T, err, sizeof err);
    s.tokens = malloc(n * sizeof *s.tokens);
    s.targets = malloc(n * sizeof *s.targets);
    if (!s.model || !s.tokens || !s.targets) {
        pm_bench_fail(c, name, s.model ? "out of host memory" : err);
    } else {
        for (size_t i = 0; i < n; i++) {
            s.tokens[i] = (int32_t)(pm_bench_unit(400, i) * cfg.vocab_size);
            s.targets[i] = (int32_t)(pm_bench_unit(401, i) * cfg.vocab_size);
        }
        double flops = 6.0 * (double)pm_model_active_params(s.model) * n +
                       12.0 * cfg.n_layer * cfg.n_embd * T * (double)n;
        char shape[96];
        snprintf(shape, sizeof shape, "B=%d T=%d L=%d C=%d E=%d k=%d", B, T, cfg.n_layer,
                 cfg.n_embd, cfg.n_experts, cfg.top_k);
        pm_record rec = pm_bench_record(c, "train_step", name, shape);
        if (pm_bench_time(c, step_body, &s, flops, 0, &rec) == 0) {
            rec.tokens_per_s = (double)n / (rec.t.median_ms * 1e-3);
            if (info->peak_gflops > 0) rec.mfu = rec.gflops / info->peak_gflops;
            rec.peak_bytes = (double)pm_peak_bytes(c->be);
            pm_bench_emit(c, &rec);
        }
    }
    pm_model_free(s.model);
    free(s.tokens);
    free(s.targets);
}

void pm_bench_train_step(pm_bench_ctx *c) {
    run_config(c, "tiny", 0);
    run_config(c, "gpt2-moe", 1);
}
