#define _GNU_SOURCE
#include "train/trainer.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
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
#include "train/data/data.h"
#include "train/dist/dist.h"
#include "train/evaluate.h"
#include "train/expert_parallel.h"
#include "train/util/error_text.h"
#include "train/util/files.h"
#include "train/util/progress.h"

static volatile sig_atomic_t interrupted;

/* The first SIGINT/SIGTERM asks for a checkpoint and a clean exit after the current step; a
 * second one exits at once (the last checkpoint on disk is complete either way). */
static void on_signal(int sig) {
    static const char msg[] = "\nsecond signal: exiting now, without a new checkpoint\n";
    if (interrupted) {
        if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0) _exit(128 + sig);
        _exit(128 + sig);
    }
    interrupted = sig;
}

float pm_lr_at(const pm_config *c, int step) {
    /* lr_cycles cycles of equal length (the last takes the remainder), each a warmup and a
     * cosine decay: one cycle is the plain schedule, more are restarts */
    int cycles = c->lr_cycles > 1 ? c->lr_cycles : 1, len = c->steps / cycles;
    int cycle = len ? (step - 1) / len : 0;
    if (cycle >= cycles) cycle = cycles - 1;
    int first = cycle * len, n = cycle == cycles - 1 ? c->steps - first : len;
    step -= first;
    if (step <= c->warmup_steps) return c->lr * (float)step / (float)(c->warmup_steps ? c->warmup_steps : 1);
    double t = (double)(step - c->warmup_steps) / (double)(n - c->warmup_steps > 0 ? n - c->warmup_steps : 1);
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
    pm_tokenizer *tok;
    pm_dataset *data;
    pm_model *model;
    int metrics;              /* metrics.jsonl, opened for appending */
    char metrics_path[4200];
    int32_t *inputs, *targets, *domains;
    int collapse_streak;
    int collapsed_at;
    int last_checkpoint;      /* the newest step on disk, 0: none */
    int best_step;            /* the evaluation with the lowest mean held-out loss (0: none) */
    double best_loss;
    float *routing;           /* per MoE layer: router_stats summed over a step's micro-batches */
    double *dropped;          /* per MoE layer: assignments over capacity in the step */
    float *expert_norms;      /* per MoE layer and expert: gradient norm */
    /* data parallel: this process's rank of `ranks`; rank 0 alone writes the run folder */
    int rank, ranks;
    float *grad_host;         /* the gradients on their way through the all-reduce */
    int device_sum;           /* the backend sums the gradients itself (CUDA with NCCL) */
    double *rank_counts;      /* tokens per rank, MoE layer and expert in the step */
    double comm_bytes, comm_s; /* the step's all-reduce traffic (bytes sent per rank) and time */
    int stop;                 /* a signal reached some rank by the end of the step */
    pm_ep_job *ep;            /* expert parallel: the experts shared out over the ranks (else NULL) */
    double norm_sq;           /* expert parallel: the step's squared gradient norm, alike on every rank */
} trainer;

static cJSON *double_array(const double *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    return a;
}

static int write_line(trainer *t, cJSON *o, char *err, size_t errlen) {
    if (t->metrics < 0) { /* a rank other than 0 */
        cJSON_Delete(o);
        return 0;
    }
    return pm_append_json_line(t->metrics, t->metrics_path, o, err, errlen);
}

/* Whether to stop after this step for a signal: with several ranks, what they agreed at the
 * step's all-reduce, so that every rank stops at the same step. */
static int stop_requested(const trainer *t) { return t->ranks > 1 ? t->stop : interrupted != 0; }

/* Adds the last forward's routing statistics to the step's sums. */
static void add_routing(trainer *t) {
    int E = t->cfg.n_experts, S = 2 * E + 2;
    for (int i = 0; i < pm_model_n_moe(t->model); i++) {
        const pm_moe_report *r = pm_model_moe_report(t->model, i);
        for (int j = 0; j < S; j++) t->routing[i * S + j] += r->stats[j];
        t->dropped[i] += r->dropped;
    }
}

/* Routing metrics of every MoE layer over all micro-batches of the step. */
static cJSON *moe_metrics(trainer *t, int *collapsed) {
    const pm_config *c = &t->cfg;
    int N = c->batch_size * c->block_size * c->grad_accum * t->ranks, E = c->n_experts, k = pm_model_last_k(t->model);
    cJSON *layers = cJSON_CreateArray();
    double f[1024], P[1024], norms[1024];
    *collapsed = 0;
    for (int i = 0; i < pm_model_n_moe(t->model); i++) {
        pm_router_summary s;
        pm_router_summarise(t->routing + i * (2 * E + 2), N, E, k, &s, f, P);
        for (int e = 0; e < E; e++) norms[e] = t->expert_norms[i * E + e];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "layer", pm_model_moe_layer(t->model, i));
        cJSON_AddItemToObject(o, "f", double_array(f, E));
        cJSON_AddItemToObject(o, "P", double_array(P, E));
        cJSON_AddNumberToObject(o, "router_entropy", s.router_entropy);
        cJSON_AddNumberToObject(o, "usage_entropy", s.usage_entropy);
        cJSON_AddNumberToObject(o, "max_fraction", s.max_fraction);
        cJSON_AddNumberToObject(o, "dead_experts", s.dead_experts);
        cJSON_AddItemToObject(o, "expert_grad_norm", double_array(norms, E));
        if (c->capacity_factor > 0) cJSON_AddNumberToObject(o, "drop_rate", t->dropped[i] / ((double)N * k));
        if (t->ranks > 1) { /* imbalance across ranks: each rank's tokens per expert */
            cJSON *rows = cJSON_AddArrayToObject(o, "rank_tokens");
            for (int r = 0; r < t->ranks; r++)
                cJSON_AddItemToArray(rows, double_array(t->rank_counts + ((size_t)r * pm_model_n_moe(t->model) + i) * E, E));
        }
        cJSON_AddItemToArray(layers, o);
        if (pm_router_collapsed(&s, E)) *collapsed = 1;
    }
    return layers;
}

static int checkpoint(trainer *t, int step, int pending_eval, char *err, size_t errlen) {
    t->last_checkpoint = step;
    /* every rank holds the same state, or under expert parallelism its share: rank 0 writes it */
    if (t->rank > 0 && !t->ep) return 0;
    struct stat ms;
    pm_train_state st = {.step = step, .collapse_streak = t->collapse_streak, .collapsed_at = t->collapsed_at,
                         .pending_eval = pending_eval, .best_step = t->best_step, .best_loss = t->best_loss,
                         .metrics_bytes = t->metrics < 0 || fstat(t->metrics, &ms) ? -1 : (long long)ms.st_size};
    pm_data_get_state(t->data, st.data_state);
    char inner[600];
    if (t->ep ? pm_ep_checkpoint_save(t->ep, t->model, t->opt->out_dir, t->tok, &st, inner, sizeof inner)
              : pm_checkpoint_save(t->opt->out_dir, t->model, NULL, t->tok, &st, inner, sizeof inner)) {
        snprintf(err, errlen, "checkpoint at step %d not written: %s", step, inner);
        return -1;
    }
    return 0;
}

/* Evaluation of `step` into the metrics; 1 when a signal cut it short. *best is set when its
 * mean held-out loss is the lowest so far (the trainer then checkpoints this step as `best`). */
static int evaluate(trainer *t, int step, int *best, char *err, size_t errlen) {
    /* several ranks finish the evaluation whatever signal comes, so that they stay in step */
    pm_eval_output out = {t->metrics, t->metrics_path, t->ranks > 1 ? NULL : &interrupted};
    double mean;
    const pm_config *c = &t->cfg;
    int seqs = step == c->steps && c->final_eval_seqs ? c->final_eval_seqs : c->eval_seqs;
    int rc = pm_evaluate(t->model, t->data, step, (size_t)seqs, &out, &mean, err, errlen);
    *best = rc == 0 && mean < t->best_loss;
    if (*best) t->best_step = step, t->best_loss = mean;
    return rc;
}

/* Data parallel: sums the gradients, the step's losses (sums[0..4)), the routing statistics
 * and the signal flag (sums[4]) over the ranks, and gathers each rank's tokens per expert.
 * Expert parallel: the shared gradients over every rank, the experts' over their replicas. */
static int reduce_step(trainer *t, double *sums, int n_sums, char *err, size_t errlen) {
    double t0 = now();
    size_t n = pm_model_num_trainable(t->model), summed = n;
    int nm = pm_model_n_moe(t->model), E = t->cfg.n_experts, S = 2 * E + 2;
    int device = t->device_sum;
    if (device ? pm_group_sum(t->be, pm_model_grad_buffer(t->model), n) != PM_OK
               : pm_model_get_grads(t->model, t->grad_host) != PM_OK) {
        snprintf(err, errlen, "%s", pm_error(t->be));
        return -1;
    }
    double *mine = t->rank_counts + (size_t)t->rank * nm * E;
    for (int i = 0; i < nm; i++)
        for (int e = 0; e < E; e++) mine[i * E + e] = t->routing[i * S + e];
    long long handed = t->ep ? pm_ep_sum_grads(t->ep, t->model, t->grad_host, &t->norm_sq, err, errlen) : 0;
    if (handed < 0) return -1;
    if (t->ep) summed = (size_t)handed;
    if ((!device && !t->ep && pm_dist_sum_floats(t->grad_host, n, err, errlen)) ||
        pm_dist_sum_floats(t->routing, (size_t)nm * S, err, errlen) ||
        pm_dist_sum_doubles(t->dropped, (size_t)nm, err, errlen) || pm_dist_sum_doubles(sums, (size_t)n_sums, err, errlen) ||
        pm_dist_gather_doubles(mine, t->rank_counts, (size_t)nm * E, err, errlen))
        return -1;
    if (!device && pm_model_set_grads(t->model, t->grad_host) != PM_OK) {
        snprintf(err, errlen, "%s", pm_error(t->be));
        return -1;
    }
    t->comm_bytes = (double)summed * sizeof(float) + (double)nm * S * sizeof(float) + (nm + n_sums) * sizeof(double) +
                    (double)nm * E * sizeof(double);
    if (t->ep) t->comm_bytes += sizeof(double) + (double)nm * E * sizeof(float); /* experts' norms: below */
    t->comm_s = now() - t0;
    return 0;
}

/* Expert parallel: each expert's gradient norm is on its own rank only; summed as squares over
 * the ranks, every rank logs them all. */
static int gather_expert_norms(trainer *t, char *err, size_t errlen) {
    int n = pm_model_n_moe(t->model) * t->cfg.n_experts;
    double t0 = now();
    for (int i = 0; i < n; i++) t->expert_norms[i] *= t->expert_norms[i];
    if (pm_dist_sum_floats(t->expert_norms, (size_t)n, err, errlen)) return -1;
    for (int i = 0; i < n; i++) t->expert_norms[i] = sqrtf(t->expert_norms[i]);
    t->comm_s += now() - t0;
    return 0;
}

/* One optimiser step; fills the metrics line. With R ranks of grad_accum A, the step is the
 * one-process step with accumulation R x A: every rank draws all R x A micro-batches (so the
 * data stream, and the position a checkpoint records, is one) and runs its own A of them,
 * rank r the micro-batches rA .. rA + A - 1. */
static int train_step(trainer *t, int step, cJSON *line, int *collapsed, char *err, size_t errlen) {
    const pm_config *c = &t->cfg;
    int B = c->batch_size, T = c->block_size, A = c->grad_accum, total = A * t->ranks;
    double sums[5] = {0}; /* language-model, load-balancing, z and entropy losses; signal */
    int nm = pm_model_n_moe(t->model);
    memset(t->routing, 0, sizeof *t->routing * (size_t)nm * (2 * c->n_experts + 2));
    memset(t->dropped, 0, sizeof *t->dropped * (size_t)nm);
    pm_model_zero_grad(t->model);
    if (t->ep) pm_ep_job_take_counters(t->ep, NULL, NULL); /* what evaluations sent is not the step's */
    for (int micro = 0; micro < total; micro++) {
        float loss;
        double lbi, zi, enti;
        pm_data_next_batch(t->data, B, t->inputs, t->targets, t->domains);
        if (micro / A != t->rank) continue;
        /* noise is a function of the step, so a resumed run (and every rank) draws the same */
        if (pm_model_forward(t->model, t->inputs, t->targets, B, T, step - 1, &loss) != PM_OK) goto failed;
        pm_model_aux_loss(t->model, &lbi, &zi, &enti);
        add_routing(t);
        sums[0] += (double)loss / total;
        sums[1] += lbi / total;
        sums[2] += zi / total;
        sums[3] += enti / total;
        if (pm_model_backward(t->model, B, T, 1.0f / total) != PM_OK) goto failed;
    }
    if (t->ranks > 1) {
        sums[4] = interrupted != 0;
        if (reduce_step(t, sums, 5, err, errlen)) return -1;
        t->stop = sums[4] > 0;
    }
    double lm = sums[0], lb = sums[1], z = sums[2], ent = sums[3];
    float norm;
    if (t->ep) norm = (float)sqrt(t->norm_sq); /* a rank's own gradients lack the other ranks' experts */
    else if (pm_model_grad_norm(t->model, &norm) != PM_OK) goto failed;
    if (nm && pm_model_expert_grad_norms(t->model, t->expert_norms) != PM_OK) goto failed;
    if (t->ep && gather_expert_norms(t, err, errlen)) return -1;
    float scale = c->grad_clip > 0 && norm > c->grad_clip ? c->grad_clip / norm : 1.0f;
    float lr = pm_lr_at(c, step);
    if (pm_model_update(t->model, lr, step, scale) != PM_OK) goto failed;
    cJSON_AddStringToObject(line, "type", "train");
    cJSON_AddNumberToObject(line, "step", step);
    cJSON_AddNumberToObject(line, "lr", lr);
    cJSON_AddNumberToObject(line, "loss", lm + c->lb_coef * lb + c->z_coef * z - c->entropy_coef * ent);
    cJSON_AddNumberToObject(line, "lm_loss", lm);
    cJSON_AddNumberToObject(line, "lb_loss", lb);
    cJSON_AddNumberToObject(line, "z_loss", z);
    if (nm) cJSON_AddNumberToObject(line, "router_entropy", ent);
    cJSON_AddNumberToObject(line, "grad_norm", norm);
    cJSON_AddItemToObject(line, "moe", moe_metrics(t, collapsed));
    if (t->ranks > 1) {
        cJSON *comm = cJSON_AddObjectToObject(line, "comm");
        cJSON_AddNumberToObject(comm, "allreduce_bytes", t->comm_bytes);
        cJSON_AddNumberToObject(comm, "allreduce_s", t->comm_s);
        if (t->ep) { /* bytes this rank sent to others in the step's all-to-alls, and their time */
            double bytes, seconds;
            pm_ep_job_take_counters(t->ep, &bytes, &seconds);
            cJSON_AddNumberToObject(comm, "alltoall_bytes", bytes);
            cJSON_AddNumberToObject(comm, "alltoall_s", seconds);
        }
    }
    return 0;
failed:
    snprintf(err, errlen, "%s", pm_error(t->be));
    return -1;
}

/* With several ranks on a backend with its own collectives (CUDA with NCCL), the gradients are
 * summed on the device; where rank 0 cannot form the group (NCCL missing at run time), every
 * rank sums over MPI through host memory instead, and says so. */
static int join_device_group(trainer *t, char *err, size_t errlen) {
    size_t bytes = pm_group_id_bytes(t->be);
    if (!bytes) return 0;
    unsigned char msg[1 + 512] = {0}; /* made or not, then the id */
    if (bytes > sizeof msg - 1) return 0;
    if (t->rank == 0) {
        msg[0] = pm_group_id(t->be, msg + 1) == PM_OK;
        if (!msg[0]) {
            printf("note: %s; gradients are summed over MPI through host memory\n", pm_error(t->be));
            pm_clear_error(t->be);
        }
    }
    if (pm_dist_broadcast(msg, bytes + 1, err, errlen)) return -1;
    if (!msg[0]) return 0;
    if (pm_group_join(t->be, msg + 1, t->rank, t->ranks) != PM_OK) {
        snprintf(err, errlen, "%s", pm_error(t->be));
        return -1;
    }
    t->device_sum = 1;
    return 0;
}

static int open_all(trainer *t, char *err, size_t errlen) {
    const pm_train_options *o = t->opt;
    char inner[512];
    /* one device per rank on GPU backends: the ranks of a node take --device, --device + 1, ... */
    int host = !strcmp(o->backend, "cpu") || !strcmp(o->backend, "ref");
    int device = o->device + (t->ranks > 1 && !host ? pm_dist_local_rank() : 0);
    t->be = pm_backend_open(o->backend, device, inner, sizeof inner);
    if (!t->be) {
        snprintf(err, errlen, "%s%s", inner,
                 device != o->device ? " (each rank of a node takes its own device: --device plus its rank in the node)" : "");
        return -1;
    }
    char why[4800];
    if (!(t->tok = pm_tokenizer_open(t->cfg.tokenizer, why, sizeof why))) {
        snprintf(err, errlen, "%s", why);
        return -1;
    }
    if (t->cfg.vocab_size < pm_tokenizer_vocab_size(t->tok)) {
        snprintf(err, errlen, "vocab_size %d is smaller than the tokenizer's %d tokens", t->cfg.vocab_size,
                 pm_tokenizer_vocab_size(t->tok));
        return -1;
    }
    pm_data_options dopt = {.seq_len = t->cfg.block_size, .eval_fraction = t->cfg.eval_fraction,
                            .seed = t->cfg.seed, .natural_mix = t->cfg.natural_mix,
                            .tokenizer = t->tok};
    t->data = pm_data_open(t->cfg.data, &dopt, inner, sizeof inner);
    if (!t->data) {
        snprintf(err, errlen, "data: %s", inner);
        return -1;
    }
    size_t n = (size_t)t->cfg.batch_size * t->cfg.block_size;
    t->inputs = malloc(n * sizeof(int32_t));
    t->targets = malloc(n * sizeof(int32_t));
    t->domains = malloc(n * sizeof(int32_t));
    if (t->cfg.expert_parallel > 1) {
        if (t->ranks % t->cfg.expert_parallel) {
            snprintf(err, errlen, "expert_parallel %d needs a multiple of %d ranks (mpirun -np %d, %d, ...); this job "
                                  "has %d", t->cfg.expert_parallel, t->cfg.expert_parallel, t->cfg.expert_parallel,
                     2 * t->cfg.expert_parallel, t->ranks);
            return -1;
        }
        if (!(t->ep = pm_ep_job_create(t->cfg.expert_parallel, err, errlen))) return -1;
        t->model = pm_model_create_expert_parallel(t->be, &t->cfg, 0, pm_ep_job_exchange(t->ep), t->cfg.batch_size,
                                                   t->cfg.block_size, inner, sizeof inner);
    } else {
        t->model = pm_model_create(t->be, &t->cfg, t->cfg.batch_size, t->cfg.block_size, inner, sizeof inner);
    }
    size_t nm = (size_t)pm_config_n_moe(&t->cfg) + 1, E = (size_t)t->cfg.n_experts;
    t->routing = calloc(nm * (2 * E + 2), sizeof *t->routing);
    t->dropped = calloc(nm, sizeof *t->dropped);
    t->expert_norms = calloc(nm * E, sizeof *t->expert_norms);
    t->rank_counts = calloc((size_t)t->ranks * nm * E, sizeof *t->rank_counts);
    if (t->model && t->ranks > 1 && !t->ep && join_device_group(t, err, errlen)) return -1;
    if (t->model && t->ranks > 1) t->grad_host = malloc((pm_model_num_trainable(t->model) + 1) * sizeof(float));
    if (!t->model || !t->inputs || !t->targets || !t->domains || !t->routing || !t->dropped || !t->expert_norms ||
        !t->rank_counts || (t->ranks > 1 && !t->grad_host)) {
        snprintf(err, errlen, "model: %s", t->model ? "out of host memory" : inner);
        return -1;
    }
    return 0;
}

static void close_all(trainer *t) {
    pm_model_free(t->model);
    pm_data_close(t->data);
    pm_tokenizer_free(t->tok);
    if (t->be) pm_backend_close(t->be);
    if (t->metrics >= 0) close(t->metrics);
    free(t->inputs);
    free(t->targets);
    free(t->domains);
    free(t->routing);
    free(t->dropped);
    free(t->expert_norms);
    free(t->rank_counts);
    free(t->grad_host);
    pm_ep_job_free(t->ep);
}

/* Fresh start: the config beside the run, and optionally upcycled weights. */
static int start_fresh(trainer *t, char *err, size_t errlen) {
    const pm_train_options *o = t->opt;
    if (!o->init_from && t->cfg.lora_rank)
        printf("note: lora_rank %d trains adapters over a frozen base, and without --init-from that base is the random "
               "initialisation\n", t->cfg.lora_rank);
    if (!o->init_from) return 0;
    char step_dir[4096];
    pm_config dense_cfg;
    if (pm_checkpoint_find(o->init_from, step_dir, sizeof step_dir, &dense_cfg, err, errlen) ||
        pm_checkpoint_same_tokenizer(step_dir, t->tok, err, errlen))
        return -1;
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
    if (!rc) rc = pm_model_get_params(t->model, mp) == PM_OK ? 0 : -1; /* adapters keep their fresh values */
    if (!rc) rc = pm_upcycle(dt, nd, dp, mt, nm, mp, o->upcycle_noise, t->cfg.seed, inner, sizeof inner);
    if (!rc) rc = pm_model_set_params(t->model, mp) == PM_OK ? 0 : -1;
    if (rc) snprintf(err, errlen, "upcycling from %s: %s", o->init_from, inner);
    free(dp);
    free(mp);
    pm_model_free(dense);
    return rc;
}

/* A folder holds a run once it has checkpoints or logged metrics (a config.json alone is what
 * a start that never reached step 1 leaves: nothing to lose). */
static int holds_run(const char *dir) {
    char path[4200];
    struct stat st;
    snprintf(path, sizeof path, "%s/checkpoints", dir);
    if (lstat(path, &st) == 0) return 1;
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    return lstat(path, &st) == 0 && st.st_size > 0;
}

/* Continues from the run's checkpoint: weights, moments, data position, collapse detector;
 * metrics.jsonl is cut back to what it held then (the steps after it are run again). */
static int resume(trainer *t, int *start, int *pending_eval, char *err, size_t errlen) {
    char step_dir[4096];
    pm_config saved;
    pm_train_state st;
    if (pm_checkpoint_find(t->opt->out_dir, step_dir, sizeof step_dir, &saved, err, errlen) ||
        pm_checkpoint_same_tokenizer(step_dir, t->tok, err, errlen) ||
        pm_checkpoint_load(step_dir, t->model, &st, err, errlen))
        return -1;
    if (pm_data_set_state(t->data, st.data_state)) {
        snprintf(err, errlen, "%s: the data stream position does not fit this corpus", step_dir);
        return -1;
    }
    if (t->cfg.steps < st.step) {
        snprintf(err, errlen, "the checkpoint is at step %d and steps=%d is below it: nothing to do (the run "
                              "folder is unchanged)", st.step, t->cfg.steps);
        return -1;
    }
    *start = st.step;
    *pending_eval = st.pending_eval;
    t->collapse_streak = st.collapse_streak;
    t->collapsed_at = st.collapsed_at;
    t->last_checkpoint = st.step;
    t->best_step = st.best_step;
    t->best_loss = st.best_loss;
    struct stat ms;
    if (t->rank == 0 && st.metrics_bytes >= 0 && stat(t->metrics_path, &ms) == 0 && ms.st_size != st.metrics_bytes) {
        if (ms.st_size > st.metrics_bytes && truncate(t->metrics_path, st.metrics_bytes) == 0)
            printf("metrics.jsonl: dropped the %lld bytes logged after step %d's checkpoint (those steps run again)\n",
                   (long long)ms.st_size - st.metrics_bytes, st.step);
        else
            fprintf(stderr, "warning: %s is %lld bytes, %lld when step %d was checkpointed; appending to it as it is\n",
                    t->metrics_path, (long long)ms.st_size, st.metrics_bytes, st.step);
    }
    printf("resuming %s at step %d\n", step_dir, *start);
    return 0;
}

/* config.json (atomically) and metrics.jsonl opened for appending. */
static int open_outputs(trainer *t, char *err, size_t errlen) {
    const pm_train_options *opt = t->opt;
    char path[4200];
    if (opt->overwrite && !opt->resume) {
        if (pm_checkpoint_remove_all(opt->out_dir, err, errlen)) return -1;
        if (unlink(t->metrics_path) && errno != ENOENT) {
            snprintf(err, errlen, "cannot remove %s: %s", t->metrics_path, strerror(errno));
            return -1;
        }
    }
    char *cj = pm_config_to_json(&t->cfg);
    snprintf(path, sizeof path, "%s/config.json", opt->out_dir);
    if (!cj) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = pm_write_file_atomic(path, cj, strlen(cj), err, errlen);
    free(cj);
    if (rc) return -1;
    t->metrics = open(t->metrics_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (t->metrics < 0) {
        snprintf(err, errlen, "cannot write %s: %s", t->metrics_path, strerror(errno));
        return -1;
    }
    return 0;
}

/* What the model holds and what training it costs, printed and (fresh runs) logged. */
static int account(trainer *t, int log, char *err, size_t errlen) {
    const pm_tensor *ts;
    size_t total, trainable, held = pm_model_num_params(t->model), held_trainable = pm_model_num_trainable(t->model);
    pm_model_global_tensors(t->model, &ts, &total, &trainable); /* the whole model, whatever a rank holds */
    double opt_bytes = 2.0 * trainable * sizeof(float), grad_bytes = (double)trainable * sizeof(float);
    printf("backend %s (%s), %zu parameters: %zu trainable, %zu frozen, %zu active per token; %d MoE layers\n",
           pm_backend_kind(t->be), pm_backend_info(t->be)->name, total, trainable, total - trainable,
           pm_model_active_params(t->model), pm_model_n_moe(t->model));
    printf("memory: parameters %.1f MiB, gradients %.1f MiB, AdamW moments %.1f MiB; run folder %s\n",
           total * 4.0 / 1048576, grad_bytes / 1048576, opt_bytes / 1048576, t->opt->out_dir);
    if (t->ep)
        printf("expert parallel: each rank holds %zu parameters (%zu trainable), %.1f MiB with gradients and moments\n",
               held, held_trainable, (held + 3.0 * held_trainable) * 4.0 / 1048576);
    if (!log) return 0;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "params");
    cJSON_AddNumberToObject(o, "total", (double)total);
    cJSON_AddNumberToObject(o, "trainable", (double)trainable);
    cJSON_AddNumberToObject(o, "frozen", (double)(total - trainable));
    cJSON_AddNumberToObject(o, "active_per_token", (double)pm_model_active_params(t->model));
    cJSON_AddNumberToObject(o, "parameter_bytes", total * 4.0);
    cJSON_AddNumberToObject(o, "gradient_bytes", grad_bytes);
    cJSON_AddNumberToObject(o, "optimizer_bytes", opt_bytes);
    return write_line(t, o, err, errlen);
}

static void print_start(trainer *t) {
    const pm_config *c = &t->cfg;
    if (t->ep) {
        int R = c->expert_parallel, L = c->n_experts / R;
        printf("expert parallel over %d ranks (%s): %d group%s of %d, rank r holding experts %d p .. %d p + %d of every "
               "MoE layer (p = r mod %d), each rank running %d of each step's %d x %d micro-batches of %d sequences; "
               "rank 0 writes the run folder\n", t->ranks, pm_dist_engine(), t->ranks / R, t->ranks / R > 1 ? "s" : "",
               R, L, L, L - 1, R, c->grad_accum, t->ranks, c->grad_accum, c->batch_size);
    }
    else if (t->ranks > 1)
        printf("data parallel over %d ranks (%s%s): each step %d x %d micro-batches of %d sequences, rank 0 writes "
               "the run folder\n", t->ranks, pm_dist_engine(), t->device_sum ? "; gradients summed on the device" : "",
               t->ranks, c->grad_accum, c->batch_size);
    printf("tokenizer %s, %d tokens (the model's vocabulary: %d)\n", t->cfg.tokenizer, pm_tokenizer_vocab_size(t->tok),
           t->cfg.vocab_size);
    for (int d = 0; d < pm_data_domains(t->data); d++)
        printf("  domain %-8s train %zu tokens (%zu docs), eval %zu tokens (%zu docs), unigram loss %.3f, "
               "trigram %.3f\n",
               pm_data_domain_name(t->data, d), pm_data_tokens(t->data, d, 0), pm_data_documents(t->data, d, 0),
               pm_data_tokens(t->data, d, 1), pm_data_documents(t->data, d, 1), pm_data_unigram_loss(t->data, d),
               pm_data_ngram_loss(t->data, d));
}

/* Runs steps start+1.. until the last step, a stop condition, a signal or an error. */
static pm_status train_loop(trainer *t, int start, char *err, size_t errlen) {
    const pm_config *c = &t->cfg;
    const pm_train_options *opt = t->opt;
    pm_progress bar;
    pm_progress_start(&bar, start, c->steps);
    double t0 = now(), tokens_per_step = (double)c->batch_size * c->block_size * c->grad_accum * t->ranks;
    int step = start;
    pm_status rc = PM_DONE;
    while (step < c->steps && !rc) {
        step++;
        cJSON *line = cJSON_CreateObject();
        int collapsed = 0;
        double ts = now();
        char inner[1024];
        if (train_step(t, step, line, &collapsed, inner, sizeof inner)) {
            cJSON_Delete(line);
            snprintf(err, errlen, "step %d: %s", step, inner);
            rc = PM_FAILED;
            break;
        }
        double tps = tokens_per_step / (now() - ts);
        cJSON_AddNumberToObject(line, "tokens_per_s", tps);
        float loss = (float)cJSON_GetObjectItem(line, "lm_loss")->valuedouble;
        t->collapse_streak = collapsed ? t->collapse_streak + 1 : 0;
        int collapses_now = t->collapse_streak >= PM_COLLAPSE_STEPS && !t->collapsed_at;
        if (collapses_now) t->collapsed_at = step;
        cJSON_AddBoolToObject(line, "collapsed", t->collapse_streak >= PM_COLLAPSE_STEPS);
        if (step % c->log_every == 0 || step == c->steps || step == 1 || collapses_now) {
            if (write_line(t, line, err, errlen)) rc = PM_FAILED;
        } else {
            cJSON_Delete(line);
        }
        if (!rc && collapses_now) { /* logged where it happens, whether or not the run stops for it */
            printf("\nrouting collapsed at step %d (%s)\n", step,
                   opt->stop_on_collapse ? "stopping: --stop-on-collapse" : "training on");
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "type", "collapse");
            cJSON_AddNumberToObject(o, "step", step);
            if (write_line(t, o, err, errlen)) rc = PM_FAILED;
        }
        pm_progress_update(&bar, step, loss, tps);
        int collapse_stop = opt->stop_on_collapse && t->collapsed_at;
        int last = step == c->steps || collapse_stop;
        int end = last || (opt->stop_after && step >= opt->stop_after);
        /* a signal skips the evaluation (and cuts one short): the checkpoint records it as due.
         * --stop-after is a pause, not an end: it evaluates only where the schedule does. */
        int eval_due = (c->eval_every && step % c->eval_every == 0) || last, eval_done = 0, best = 0;
        int stop = stop_requested(t);
        if (!rc && eval_due && !stop) {
            int e = evaluate(t, step, &best, err, errlen);
            if (e < 0) rc = PM_FAILED;
            eval_done = e == 0;
        }
        stop = stop || (t->ranks == 1 && interrupted); /* one process: a signal during the evaluation too */
        if (!rc && ((c->checkpoint_every && step % c->checkpoint_every == 0) || end || stop || best) &&
            checkpoint(t, step, eval_due && !eval_done, err, errlen))
            rc = PM_FAILED;
        if (!rc && stop) {
            printf("\ninterrupted at step %d: checkpoint of step %d written to %s/checkpoints/latest%s\n", step, step,
                   opt->out_dir, eval_due && !eval_done ? " (its evaluation runs first on --resume)" : "");
            rc = PM_INTERRUPTED;
        } else if (!rc && collapse_stop) {
            break;
        } else if (end) {
            break;
        }
    }
    pm_progress_finish(&bar);
    size_t used = strlen(err);
    if (rc == PM_FAILED && t->last_checkpoint)
        snprintf(err + used, errlen - used, "; the newest checkpoint is step %d (--resume continues from it)",
                 t->last_checkpoint);
    else if (rc == PM_FAILED)
        snprintf(err + used, errlen - used, "; no checkpoint was written");
    if (!rc)
        printf("trained %d steps in %.1f s; device memory peak %.1f MiB; run folder %s\n", step - start, now() - t0,
               pm_peak_bytes(t->be) / 1048576.0, opt->out_dir);
    return rc;
}

pm_status pm_train(const pm_config *cfg, const pm_train_options *opt, char *err, size_t errlen) {
    trainer t = {.cfg = *cfg, .opt = opt, .metrics = -1, .best_loss = INFINITY, .rank = pm_dist_rank(),
                 .ranks = pm_dist_size()};
    if (snprintf(t.metrics_path, sizeof t.metrics_path, "%s/metrics.jsonl", opt->out_dir) >=
        (int)sizeof t.metrics_path) {
        snprintf(err, errlen, "run folder path too long");
        return PM_FAILED;
    }
    /* rank 0 alone looks at and writes the run folder; the others only read a checkpoint */
    if (t.rank == 0 && !opt->resume && !opt->overwrite && holds_run(opt->out_dir)) {
        snprintf(err, errlen, "%s already holds a run: --resume continues it, --overwrite replaces it (deleting its "
                              "checkpoints and metrics), or choose another --out", opt->out_dir);
        return PM_FAILED;
    }
    if (t.rank == 0 && pm_mkdir_p(opt->out_dir)) {
        snprintf(err, errlen, "cannot create run folder %s: %s", opt->out_dir, strerror(errno));
        return PM_FAILED;
    }
    int start = 0, pending_eval = 0;
    pm_status rc = PM_FAILED;
    if (open_all(&t, err, errlen) ||
        (opt->resume ? resume(&t, &start, &pending_eval, err, errlen) : start_fresh(&t, err, errlen)) ||
        (t.rank == 0 && open_outputs(&t, err, errlen)))
        goto done;
    if (account(&t, !opt->resume, err, errlen)) goto done;
    print_start(&t);
    interrupted = 0;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    rc = PM_DONE;
    if (pending_eval) { /* the checkpoint's own evaluation, cut short by a signal last time */
        int best, e = evaluate(&t, start, &best, err, errlen);
        if (e == 1) printf("\ninterrupted: the checkpoint of step %d stands as it was\n", start);
        rc = e < 0 ? PM_FAILED : e ? PM_INTERRUPTED : PM_DONE;
        /* a new best: the checkpoint is written again, as `best` and with its evaluation done */
        if (!rc && best && checkpoint(&t, start, 0, err, errlen)) rc = PM_FAILED;
    }
    if (!rc) rc = train_loop(&t, start, err, errlen);
done:
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    close_all(&t);
    return rc;
}
