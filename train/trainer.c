#define _GNU_SOURCE
#include "train/trainer.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "model/model.h"
#include "model/upcycle.h"
#include "train/checkpoint.h"
#include "train/data.h"
#include "train/evaluate.h"
#include "train/progress.h"

static volatile sig_atomic_t interrupted;
static void on_signal(int sig) { interrupted = sig; }

float pm_lr_at(const pm_config *c, int step) {
    if (step <= c->warmup_steps) return c->lr * (float)step / (float)(c->warmup_steps ? c->warmup_steps : 1);
    double t = (double)(step - c->warmup_steps) / (double)(c->steps - c->warmup_steps > 0 ? c->steps - c->warmup_steps : 1);
    double min = c->lr * c->min_lr_frac;
    return (float)(min + 0.5 * (c->lr - min) * (1.0 + cos(M_PI * t)));
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct {
    pm_config cfg;
    const pm_train_options *opt;
    pm_backend *be;
    pm_dataset *data;
    pm_model *model;
    FILE *metrics;
    int32_t *inputs, *targets, *domains;
    int collapse_streak;
    int collapsed_at;
} trainer;

static cJSON *double_array(const double *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    return a;
}

static void write_line(trainer *t, cJSON *o) { pm_write_json_line(t->metrics, o); }

/* Routing metrics of every MoE layer from the last forward. */
static cJSON *moe_metrics(trainer *t, int *collapsed) {
    const pm_config *c = &t->cfg;
    int N = c->batch_size * c->block_size, E = c->n_experts;
    cJSON *layers = cJSON_CreateArray();
    double f[1024], P[1024];
    *collapsed = 0;
    for (int i = 0; i < pm_model_n_moe(t->model); i++) {
        const pm_moe_report *r = pm_model_moe_report(t->model, i);
        pm_router_summary s;
        pm_router_summarise(r->stats, N, E, c->top_k, &s, f, P);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "layer", pm_model_moe_layer(t->model, i));
        cJSON_AddItemToObject(o, "f", double_array(f, E));
        cJSON_AddItemToObject(o, "P", double_array(P, E));
        cJSON_AddNumberToObject(o, "router_entropy", s.router_entropy);
        cJSON_AddNumberToObject(o, "usage_entropy", s.usage_entropy);
        cJSON_AddNumberToObject(o, "max_fraction", s.max_fraction);
        cJSON_AddNumberToObject(o, "dead_experts", s.dead_experts);
        cJSON_AddItemToArray(layers, o);
        /* collapsed: one expert takes most tokens, or usage entropy far below ln E */
        if (E > 1 && (s.max_fraction >= 0.8 || s.usage_entropy < 0.25 * log(E))) *collapsed = 1;
    }
    return layers;
}

static int checkpoint(trainer *t, int step, char *err, size_t errlen) {
    pm_train_state st = {.step = step};
    pm_data_get_state(t->data, st.data_state);
    return pm_checkpoint_save(t->opt->out_dir, t->model, &st, err, errlen);
}

/* One optimiser step; fills the metrics line. */
static int train_step(trainer *t, int step, cJSON *line, int *collapsed) {
    const pm_config *c = &t->cfg;
    int B = c->batch_size, T = c->block_size;
    double lm = 0, lb = 0, z = 0;
    pm_model_zero_grad(t->model);
    for (int micro = 0; micro < c->grad_accum; micro++) {
        float loss;
        double lbi, zi;
        pm_data_next_batch(t->data, B, t->inputs, t->targets, t->domains);
        /* noise is a function of the step, so a resumed run draws the same */
        if (pm_model_forward(t->model, t->inputs, t->targets, B, T, step - 1, &loss) != PM_OK) return -1;
        pm_model_aux_loss(t->model, &lbi, &zi);
        lm += loss / c->grad_accum;
        lb += lbi / c->grad_accum;
        z += zi / c->grad_accum;
        if (pm_model_backward(t->model, B, T, 1.0f / c->grad_accum) != PM_OK) return -1;
    }
    float norm;
    if (pm_model_grad_norm(t->model, &norm) != PM_OK) return -1;
    float scale = c->grad_clip > 0 && norm > c->grad_clip ? c->grad_clip / norm : 1.0f;
    float lr = pm_lr_at(c, step);
    if (pm_model_update(t->model, lr, step, scale) != PM_OK) return -1;
    cJSON_AddStringToObject(line, "type", "train");
    cJSON_AddNumberToObject(line, "step", step);
    cJSON_AddNumberToObject(line, "lr", lr);
    cJSON_AddNumberToObject(line, "loss", lm + c->lb_coef * lb + c->z_coef * z);
    cJSON_AddNumberToObject(line, "lm_loss", lm);
    cJSON_AddNumberToObject(line, "lb_loss", lb);
    cJSON_AddNumberToObject(line, "z_loss", z);
    cJSON_AddNumberToObject(line, "grad_norm", norm);
    cJSON_AddItemToObject(line, "moe", moe_metrics(t, collapsed));
    return 0;
}

static int open_all(trainer *t, char *err, size_t errlen) {
    const pm_train_options *o = t->opt;
    char inner[512];
    t->be = pm_backend_open(o->backend, o->device, inner, sizeof inner);
    if (!t->be) {
        snprintf(err, errlen, "%s", inner);
        return -1;
    }
    pm_data_options dopt = {.seq_len = t->cfg.block_size, .eval_fraction = t->cfg.eval_fraction,
                            .seed = t->cfg.seed, .natural_mix = t->cfg.natural_mix,
                            .max_eval_seqs = (size_t)t->cfg.eval_seqs};
    t->data = pm_data_open(t->cfg.data, &dopt, inner, sizeof inner);
    if (!t->data) {
        snprintf(err, errlen, "data: %s", inner);
        return -1;
    }
    size_t n = (size_t)t->cfg.batch_size * t->cfg.block_size;
    t->inputs = malloc(n * sizeof(int32_t));
    t->targets = malloc(n * sizeof(int32_t));
    t->domains = malloc(n * sizeof(int32_t));
    t->model = pm_model_create(t->be, &t->cfg, t->cfg.batch_size, t->cfg.block_size, inner, sizeof inner);
    if (!t->model || !t->inputs || !t->targets || !t->domains) {
        snprintf(err, errlen, "model: %s", t->model ? "out of host memory" : inner);
        return -1;
    }
    return 0;
}

static void close_all(trainer *t) {
    pm_model_free(t->model);
    pm_data_close(t->data);
    if (t->be) pm_backend_close(t->be);
    if (t->metrics) fclose(t->metrics);
    free(t->inputs);
    free(t->targets);
    free(t->domains);
}

/* Fresh start: the config beside the run, and optionally upcycled weights. */
static int start_fresh(trainer *t, char *err, size_t errlen) {
    const pm_train_options *o = t->opt;
    if (!o->init_from) return 0;
    char step_dir[4096];
    pm_config dense_cfg;
    if (pm_checkpoint_find(o->init_from, step_dir, sizeof step_dir, &dense_cfg, err, errlen)) return -1;
    dense_cfg.batch_size = 1;
    char inner[512];
    pm_model *dense = pm_model_create(t->be, &dense_cfg, 1, 1, inner, sizeof inner);
    if (!dense || pm_checkpoint_load(step_dir, dense, NULL, inner, sizeof inner)) {
        snprintf(err, errlen, "upcycling from %s: %s", o->init_from, inner);
        pm_model_free(dense);
        return -1;
    }
    const pm_tensor *dt, *mt;
    int nd = pm_model_tensors(dense, &dt), nm = pm_model_tensors(t->model, &mt);
    float *dp = malloc(pm_model_num_params(dense) * sizeof(float));
    float *mp = malloc(pm_model_num_params(t->model) * sizeof(float));
    int rc = dp && mp ? 0 : -1;
    if (!rc) rc = pm_model_get_params(dense, dp) == PM_OK ? 0 : -1;
    if (!rc) rc = pm_upcycle(dt, nd, dp, mt, nm, mp, o->upcycle_noise, t->cfg.seed, inner, sizeof inner);
    if (!rc) rc = pm_model_set_params(t->model, mp) == PM_OK ? 0 : -1;
    if (rc) snprintf(err, errlen, "upcycling from %s: %s", o->init_from, inner);
    free(dp);
    free(mp);
    pm_model_free(dense);
    return rc;
}

int pm_train(const pm_config *cfg, const pm_train_options *opt, char *err, size_t errlen) {
    trainer t = {.cfg = *cfg, .opt = opt};
    char path[4200], inner[600];
    int start = 0, rc = 1;
    if (mkdir(opt->out_dir, 0755) && errno != EEXIST) {
        snprintf(err, errlen, "cannot create run folder %s: %s", opt->out_dir, strerror(errno));
        return 1;
    }
    if (open_all(&t, err, errlen)) goto done;
    if (opt->resume) {
        char step_dir[4096];
        pm_config saved;
        pm_train_state st;
        if (pm_checkpoint_find(opt->out_dir, step_dir, sizeof step_dir, &saved, err, errlen)) goto done;
        if (pm_checkpoint_load(step_dir, t.model, &st, err, errlen)) goto done;
        if (pm_data_set_state(t.data, st.data_state)) {
            snprintf(err, errlen, "%s: the data stream position does not fit this corpus", step_dir);
            goto done;
        }
        start = st.step;
        printf("resuming %s at step %d\n", step_dir, start);
    } else if (start_fresh(&t, err, errlen)) {
        goto done;
    }
    snprintf(path, sizeof path, "%s/metrics.jsonl", opt->out_dir);
    t.metrics = fopen(path, opt->resume ? "a" : "w");
    if (!t.metrics) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        goto done;
    }
    char *cj = pm_config_to_json(&t.cfg);
    snprintf(path, sizeof path, "%s/config.json", opt->out_dir);
    FILE *cf = fopen(path, "w");
    if (cf) fprintf(cf, "%s\n", cj), fclose(cf);
    free(cj);
    printf("backend %s (%s), %zu parameters (%zu active per token), %d MoE layers, run folder %s\n",
           pm_backend_kind(t.be), pm_backend_info(t.be)->name, pm_model_num_params(t.model),
           pm_model_active_params(t.model), pm_model_n_moe(t.model), opt->out_dir);
    for (int d = 0; d < pm_data_domains(t.data); d++)
        printf("  domain %-8s train %zu tokens (%zu docs), eval %zu tokens (%zu docs), unigram loss %.3f\n",
               pm_data_domain_name(t.data, d), pm_data_tokens(t.data, d, 0), pm_data_documents(t.data, d, 0),
               pm_data_tokens(t.data, d, 1), pm_data_documents(t.data, d, 1), pm_data_unigram_loss(t.data, d));
    interrupted = 0;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    pm_progress bar;
    pm_progress_start(&bar, start, t.cfg.steps);
    double t0 = now(), tokens_per_step = (double)t.cfg.batch_size * t.cfg.block_size * t.cfg.grad_accum;
    int step = start;
    rc = 0;
    while (step < t.cfg.steps) {
        step++;
        cJSON *line = cJSON_CreateObject();
        int collapsed = 0;
        double ts = now();
        if (train_step(&t, step, line, &collapsed)) {
            cJSON_Delete(line);
            snprintf(err, errlen, "step %d: %s", step, pm_error(t.be));
            rc = 1;
            break;
        }
        double tps = tokens_per_step / (now() - ts);
        cJSON_AddNumberToObject(line, "tokens_per_s", tps);
        float loss = (float)cJSON_GetObjectItem(line, "lm_loss")->valuedouble;
        t.collapse_streak = collapsed ? t.collapse_streak + 1 : 0;
        if (t.collapse_streak >= 3 && !t.collapsed_at) t.collapsed_at = step;
        cJSON_AddBoolToObject(line, "collapsed", t.collapse_streak >= 3);
        if (step % t.cfg.log_every == 0 || step == t.cfg.steps || step == 1) write_line(&t, line);
        else cJSON_Delete(line);
        pm_progress_update(&bar, step, loss, tps);
        int last = step == t.cfg.steps || (opt->stop_on_collapse && t.collapsed_at) ||
                   (opt->stop_after && step >= opt->stop_after) || interrupted;
        if ((t.cfg.eval_every && step % t.cfg.eval_every == 0) || last)
            if (pm_evaluate(t.model, t.data, step, t.metrics, err, errlen)) {
                rc = 1;
                break;
            }
        if ((t.cfg.checkpoint_every && step % t.cfg.checkpoint_every == 0) || last)
            if (checkpoint(&t, step, inner, sizeof inner)) {
                snprintf(err, errlen, "checkpoint at step %d: %s", step, inner);
                rc = 1;
                break;
            }
        if (interrupted) {
            printf("\ninterrupted at step %d: checkpoint written to %s/checkpoints/latest\n", step, opt->out_dir);
            rc = 130;
            break;
        }
        if (opt->stop_on_collapse && t.collapsed_at) {
            printf("\nrouting collapsed at step %d: stopping (--stop-on-collapse)\n", t.collapsed_at);
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "type", "collapse");
            cJSON_AddNumberToObject(o, "step", t.collapsed_at);
            write_line(&t, o);
            break;
        }
        if (opt->stop_after && step >= opt->stop_after) break;
    }
    pm_progress_finish(&bar);
    if (!rc) printf("trained %d steps in %.1f s; run folder %s\n", step - start, now() - t0, opt->out_dir);
done:
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    close_all(&t);
    return rc;
}
