#define _GNU_SOURCE
#include "train/checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/safetensors.h"
#include "train/hf_gpt2.h"
#include "train/util/files.h"
#include "train/util/error_text.h"

#define PATH_LEN 4096

/* dir/name into dst; -1 when it does not fit. */
static int path_join(char *dst, const char *dir, const char *name) {
    int n = snprintf(dst, PATH_LEN, "%s/%s", dir, name);
    return n < 0 || n >= PATH_LEN ? -1 : 0;
}

static int fsync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static void remove_tree(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[PATH_LEN];
    while (d && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        if (path_join(path, dir, e->d_name) == 0) unlink(path);
    }
    if (d) closedir(d);
    rmdir(dir);
}

/* Deletes leftover temporary folders, and step folders older than the `keep` newest up to
 * `current` (keep 0: none), the `best` one kept besides them. Folders past `current` are another timeline's
 * (a resume from an older checkpoint): they are not counted, so they can never push the new
 * checkpoints out. */
static void prune(const char *ck, int current, int best, int keep) {
    DIR *d = opendir(ck);
    if (!d) return;
    int steps[4096], n = 0;
    struct dirent *e;
    char path[PATH_LEN], name[64];
    while ((e = readdir(d))) {
        int s;
        char tail[8] = "";
        if (sscanf(e->d_name, "step-%d%7s", &s, tail) < 1) continue;
        if (tail[0]) { /* step-N.tmp from an interrupted save */
            if (path_join(path, ck, e->d_name) == 0) remove_tree(path);
        } else if (n < 4096 && s <= current) {
            steps[n++] = s;
        }
    }
    closedir(d);
    for (int i = 0; i < n; i++) {
        int newer = 0;
        /* the best one is kept besides the `keep` newest, not among them */
        for (int j = 0; j < n; j++) newer += steps[j] > steps[i] && steps[j] != best;
        if (keep && newer >= keep && steps[i] != best) {
            snprintf(name, sizeof name, "step-%07d", steps[i]);
            if (path_join(path, ck, name) == 0) remove_tree(path);
        }
    }
}

#define TOKENIZER_FILE_MAX ((size_t)512 << 20)

/* The tokenizer record in model.safetensors' metadata: "KIND HASH VOCAB". */
static void tokenizer_record(const pm_tokenizer *tok, char *out, size_t cap) {
    snprintf(out, cap, "%s %016llx %d", pm_tokenizer_kind(tok), (unsigned long long)pm_tokenizer_hash(tok),
             pm_tokenizer_vocab_size(tok));
}

/* The tokenizer's files, copied into the step folder so that it is self-contained. */
static int save_tokenizer_files(const char *dir, const pm_tokenizer *tok, char *err, size_t errlen) {
    const char *const *paths, *const *names;
    int n = pm_tokenizer_files(tok, &paths, &names);
    for (int i = 0; i < n; i++) {
        char dst[PATH_LEN];
        size_t len;
        char *data = pm_read_file(paths[i], TOKENIZER_FILE_MAX, &len, err, errlen);
        if (!data) return -1;
        int rc = path_join(dst, dir, names[i]) ? pm_errorf(err, errlen, "path too long")
                                               : pm_write_file_atomic(dst, data, len, err, errlen);
        free(data);
        if (rc) return -1;
    }
    return 0;
}

/* config.json as transformers reads it: a dense checkpoint is a GPT2LMHeadModel folder (no
 * dropout: polymoe trains without); an MoE one says so in model_type, so that no GPT-2 loader
 * takes it for a dense model, and lists its MoE fields under "polymoe" (docs/checkpoints.md). */
static int save_hf_config(const char *dir, const pm_config *c, const pm_tokenizer *tok, char *err, size_t errlen) {
    int moe = pm_config_n_moe(c) > 0;
    cJSON *o = cJSON_CreateObject(), *arch = cJSON_AddArrayToObject(o, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString(moe ? "PolymoeGPT2MoE" : "GPT2LMHeadModel"));
    cJSON_AddStringToObject(o, "model_type", moe ? "polymoe_gpt2_moe" : "gpt2");
    cJSON_AddNumberToObject(o, "vocab_size", c->vocab_size);
    cJSON_AddNumberToObject(o, "n_positions", c->block_size);
    cJSON_AddNumberToObject(o, "n_embd", c->n_embd);
    cJSON_AddNumberToObject(o, "n_layer", c->n_layer);
    cJSON_AddNumberToObject(o, "n_head", c->n_head);
    cJSON_AddNullToObject(o, "n_inner");
    cJSON_AddStringToObject(o, "activation_function", "gelu_new");
    cJSON_AddNumberToObject(o, "layer_norm_epsilon", 1e-5);
    cJSON_AddNumberToObject(o, "initializer_range", c->init_std);
    cJSON_AddNumberToObject(o, "resid_pdrop", 0.0);
    cJSON_AddNumberToObject(o, "embd_pdrop", 0.0);
    cJSON_AddNumberToObject(o, "attn_pdrop", 0.0);
    cJSON_AddTrueToObject(o, "scale_attn_weights");
    cJSON_AddTrueToObject(o, "tie_word_embeddings");
    cJSON_AddNumberToObject(o, "bos_token_id", pm_tokenizer_eot(tok));
    cJSON_AddNumberToObject(o, "eos_token_id", pm_tokenizer_eot(tok));
    cJSON *p = cJSON_AddObjectToObject(o, "polymoe");
    cJSON *layers = cJSON_AddArrayToObject(p, "moe_layers");
    for (int l = 0; l < c->n_layer; l++)
        if (c->moe_layers[l]) cJSON_AddItemToArray(layers, cJSON_CreateNumber(l));
    cJSON_AddNumberToObject(p, "n_experts", moe ? c->n_experts : 0);
    cJSON_AddNumberToObject(p, "top_k", c->top_k);
    cJSON_AddNumberToObject(p, "capacity_factor", c->capacity_factor);
    cJSON_AddNumberToObject(p, "expert_width", c->expert_width ? c->expert_width : 4 * c->n_embd);
    cJSON_AddStringToObject(p, "router_mode", c->router_mode == PM_ROUTE_DENSE ? "dense" : "topk");
    cJSON_AddStringToObject(p, "eval_router_mode", c->eval_router_mode == PM_ROUTE_DENSE ? "dense" : "topk");
    cJSON_AddNumberToObject(p, "lora_rank", c->lora_rank);
    cJSON_AddNumberToObject(p, "lora_alpha", c->lora_alpha);
    cJSON_AddBoolToObject(p, "lora_attn", c->lora_attn);
    cJSON_AddStringToObject(p, "tokenizer", pm_tokenizer_kind(tok));
    char *text = cJSON_Print(o), path[PATH_LEN];
    cJSON_Delete(o);
    int rc = !text ? pm_errorf(err, errlen, "out of memory") : path_join(path, dir, "config.json")
                                                                  ? pm_errorf(err, errlen, "path too long")
                                                                  : pm_write_file_atomic(path, text, strlen(text), err, errlen);
    free(text);
    return rc;
}

/* A slab of the whole model as a safetensors source: read from the device window by window, or
 * from a gathered host image. */
typedef struct {
    pm_model *m;
    const pm_checkpoint_image *img;
    pm_model_slab slab;
} slab_source;

static int fill_from_slab(void *ctx, size_t offset, float *dst, size_t count) {
    slab_source *s = ctx;
    if (!s->img) return pm_model_read_slab(s->m, s->slab, offset, dst, count) == PM_OK ? 0 : -1;
    const float *src = s->slab == PM_SLAB_PARAMS ? s->img->params : s->slab == PM_SLAB_ADAM_M ? s->img->m : s->img->v;
    memcpy(dst, src + offset, count * sizeof *dst);
    return 0;
}

static int save_model(const char *dir, pm_model *m, const pm_checkpoint_image *img, const pm_tokenizer *tok,
                      char *err, size_t errlen) {
    const pm_tensor *ts;
    size_t n_params, n_trainable;
    int n = pm_model_global_tensors(m, &ts, &n_params, &n_trainable);
    pm_st_tensor *st = malloc(sizeof *st * (size_t)n);
    if (!st) return pm_errorf(err, errlen, "out of host memory");
    slab_source params = {m, img, PM_SLAB_PARAMS};
    for (int i = 0; i < n; i++)
        st[i] = (pm_st_tensor){ts[i].name, ts[i].ndim, {ts[i].shape[0], ts[i].shape[1]}, fill_from_slab, &params,
                               ts[i].offset};
    char *cfg = pm_config_to_json(pm_model_config(m)), path[PATH_LEN], record[128];
    tokenizer_record(tok, record, sizeof record);
    const char *meta[] = {"format", "pt", "polymoe_config", cfg, "polymoe_tokenizer", record};
    int rc = path_join(path, dir, "model.safetensors");
    if (!rc) rc = pm_st_write(path, st, n, meta, 3, err, errlen);
    free(cfg);
    free(st);
    return rc;
}

static int save_optimizer(const char *dir, pm_model *m, const pm_checkpoint_image *img, const pm_train_state *s,
                          char *err, size_t errlen) {
    const pm_tensor *ts;
    size_t n_params, n_trainable;
    pm_model_global_tensors(m, &ts, &n_params, &n_trainable);
    int n = (int)n_trainable; /* frozen tensors have no moments */
    char step[32], data[PM_DATA_STATE_LEN * 24] = "", streak[32], collapsed[32], pending[8],
        bytes[32], path[PATH_LEN];
    snprintf(step, sizeof step, "%d", s->step);
    snprintf(streak, sizeof streak, "%d", s->collapse_streak);
    snprintf(collapsed, sizeof collapsed, "%d", s->collapsed_at);
    snprintf(pending, sizeof pending, "%d", s->pending_eval);
    snprintf(bytes, sizeof bytes, "%lld", s->metrics_bytes);
    char best_step[32], best_loss[40];
    snprintf(best_step, sizeof best_step, "%d", s->best_step);
    snprintf(best_loss, sizeof best_loss, "%.17g", s->best_step ? s->best_loss : 0.0);
    size_t used = 0;
    for (int i = 0; i < PM_DATA_STATE_LEN; i++)
        used += (size_t)snprintf(data + used, sizeof data - used, "%s%" PRIu64, i ? "," : "", s->data_state[i]);
    const char *meta[] = {"step", step, "data_state", data, "collapse_streak", streak,
                          "collapsed_at", collapsed, "pending_eval", pending, "metrics_bytes", bytes,
                          "best_step", best_step, "best_loss", best_loss};
    slab_source ms = {m, img, PM_SLAB_ADAM_M}, vs = {m, img, PM_SLAB_ADAM_V};
    pm_st_tensor t[2] = {{"adamw.m", 1, {n, 0}, fill_from_slab, &ms, 0}, {"adamw.v", 1, {n, 0}, fill_from_slab, &vs, 0}};
    if (path_join(path, dir, "optimizer.safetensors")) return -1;
    return pm_st_write(path, t, 2, meta, 8, err, errlen);
}

int pm_checkpoint_save(const char *run_dir, pm_model *m, const pm_checkpoint_image *img, const pm_tokenizer *tok,
                       const pm_train_state *st, char *err, size_t errlen) {
    const pm_tensor *ts, *whole;
    size_t n_params, n_trainable;
    pm_model_global_tensors(m, &whole, &n_params, &n_trainable);
    if (pm_model_tensors(m, &ts) && whole != ts && !img)
        return pm_errorf(err, errlen, "an expert-parallel model holds only its share: save a gathered image");
    char ck[PATH_LEN], tmp[PATH_LEN], final[PATH_LEN], link_tmp[PATH_LEN], link[PATH_LEN],
        target[64], target_tmp[64];
    snprintf(target, sizeof target, "step-%07d", st->step);
    snprintf(target_tmp, sizeof target_tmp, "step-%07d.tmp", st->step);
    if (path_join(ck, run_dir, "checkpoints") || path_join(tmp, ck, target_tmp) ||
        path_join(final, ck, target) || path_join(link_tmp, ck, "latest.tmp") ||
        path_join(link, ck, "latest")) {
        snprintf(err, errlen, "run folder path too long");
        return -1;
    }
    remove_tree(tmp);
    if (pm_mkdir_p(tmp)) {
        snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
        return -1;
    }
    int rc = save_model(tmp, m, img, tok, err, errlen);
    if (!rc) rc = save_optimizer(tmp, m, img, st, err, errlen);
    if (!rc) rc = save_tokenizer_files(tmp, tok, err, errlen);
    if (!rc) rc = save_hf_config(tmp, pm_model_config(m), tok, err, errlen);
    if (rc) return rc;
    remove_tree(final); /* a re-save of the same step */
    if (fsync_dir(tmp) || rename(tmp, final) || fsync_dir(ck)) {
        snprintf(err, errlen, "cannot move %s into place: %s", tmp, strerror(errno));
        return -1;
    }
    unlink(link_tmp);
    if (symlink(target, link_tmp) || rename(link_tmp, link) || fsync_dir(ck)) {
        snprintf(err, errlen, "cannot point %s at %s: %s", link, target, strerror(errno));
        return -1;
    }
    if (st->best_step == st->step) {
        char best_tmp[PATH_LEN], best[PATH_LEN];
        if (path_join(best_tmp, ck, "best.tmp") || path_join(best, ck, "best")) return pm_errorf(err, errlen, "path too long");
        unlink(best_tmp);
        if (symlink(target, best_tmp) || rename(best_tmp, best) || fsync_dir(ck))
            return pm_errorf(err, errlen, "cannot point %s at %s: %s", best, target, strerror(errno));
    }
    prune(ck, st->step, st->best_step, pm_model_config(m)->keep_checkpoints);
    return 0;
}

static int is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Both files of a step folder are there and their headers read. */
static int is_complete(const char *step_dir) {
    const char *files[] = {"model.safetensors", "optimizer.safetensors"};
    char path[PATH_LEN], err[300];
    for (int i = 0; i < 2; i++) {
        pm_st_file *f = path_join(path, step_dir, files[i]) ? NULL : pm_st_open(path, err, sizeof err);
        if (!f) return 0;
        pm_st_close(f);
    }
    return 1;
}

/* The newest complete step folder of the checkpoints folder ck; -1 when there is none. */
static int newest_complete(const char *ck, char *step_dir, size_t len) {
    DIR *d = opendir(ck);
    if (!d) return -1;
    int best = -1;
    for (;;) {
        int newest = -1, s;
        char tail[8];
        struct dirent *e;
        rewinddir(d);
        while ((e = readdir(d)))
            if (sscanf(e->d_name, "step-%d%7s", &s, tail) == 1 && s > newest && (best < 0 || s < best)) newest = s;
        if (newest < 0) break;
        best = newest;
        int n = snprintf(step_dir, len, "%s/step-%07d", ck, newest);
        if (n > 0 && (size_t)n < len && is_complete(step_dir)) {
            closedir(d);
            return 0;
        }
    }
    closedir(d);
    return -1;
}

int pm_checkpoint_find(const char *dir, char *step_dir, size_t len, pm_config *cfg, char *err,
                       size_t errlen) {
    char probe[PATH_LEN], ck[PATH_LEN], latest[PATH_LEN];
    if (pm_hf_is_folder(dir)) {
        int n = snprintf(step_dir, len, "%s", dir);
        if (n < 0 || (size_t)n >= len) return pm_errorf(err, errlen, "checkpoint path too long: %s", dir);
        char inner[PATH_LEN + 300];
        if (pm_hf_config(dir, cfg, inner, sizeof inner)) return pm_errorf(err, errlen, "Hugging Face folder %s", inner);
        if (pm_model_check(cfg, inner, sizeof inner)) return pm_errorf(err, errlen, "Hugging Face folder %s: %s", dir, inner);
        return 0;
    }
    int n = snprintf(step_dir, len, "%s", dir);
    if (n < 0 || (size_t)n >= len || path_join(probe, dir, "model.safetensors") ||
        path_join(ck, dir, "checkpoints")) {
        snprintf(err, errlen, "checkpoint path too long: %s", dir);
        return -1;
    }
    if (!is_file(probe)) { /* a run folder or its checkpoints folder */
        if (!is_dir(ck)) snprintf(ck, sizeof ck, "%s", dir);
        int found = !path_join(latest, ck, "latest") && is_complete(latest);
        if (found) snprintf(step_dir, len, "%s", latest);
        else if (!newest_complete(ck, step_dir, len)) {
            found = 1;
            struct stat st;
            fprintf(stderr, "note: %s is %s; using %s, the newest complete checkpoint\n", latest,
                    lstat(latest, &st) ? "missing" : stat(latest, &st) ? "dangling" : "incomplete", step_dir);
        }
        if (!found || path_join(probe, step_dir, "model.safetensors")) {
            snprintf(err, errlen, "no checkpoint in %s (looked for model.safetensors in it, and for a complete "
                                  "checkpoint in its latest/, checkpoints/latest/ and step folders)", dir);
            return -1;
        }
    }
    pm_st_file *f = pm_st_open(probe, err, errlen);
    if (!f) return -1;
    const char *json = pm_st_meta(f, "polymoe_config");
    char inner[400];
    pm_config_defaults(cfg);
    int rc = !json ? -1 : pm_config_apply_json(cfg, json, inner, sizeof inner);
    if (rc) snprintf(err, errlen, "%s: %s", probe, json ? inner : "no polymoe_config in its metadata");
    else if (pm_model_check(cfg, inner, sizeof inner)) {
        snprintf(err, errlen, "%s: %s", probe, inner);
        rc = -1;
    }
    pm_st_close(f);
    return rc;
}

/* Metadata integer `key` in lo..hi: strictly decimal digits, nothing else. A missing key gives
 * `missing`, or an error when `missing` is below lo. */
static int meta_int(const pm_st_file *f, const char *path, const char *key, long long lo, long long hi,
                    long long missing, long long *out, char *err, size_t errlen) {
    const char *v = pm_st_meta(f, key);
    if (!v) {
        *out = missing;
        if (missing >= lo) return 0;
        snprintf(err, errlen, "%s: no %s in its metadata", path, key);
        return -1;
    }
    char *end = NULL;
    errno = 0;
    long long x = isdigit((unsigned char)v[v[0] == '-']) ? strtoll(v, &end, 10) : 0;
    if (!end || *end || errno || x < lo || x > hi) {
        snprintf(err, errlen, "%s: metadata %s is '%.40s', not an integer in %lld..%lld", path, key, v, lo, hi);
        return -1;
    }
    *out = x;
    return 0;
}

/* A finite decimal number, or `missing` when the key is absent (checkpoints from before it). */
static int meta_double(const pm_st_file *f, const char *path, const char *key, double missing, double *out,
                       char *err, size_t errlen) {
    const char *v = pm_st_meta(f, key);
    char *end = NULL;
    *out = v ? strtod(v, &end) : missing;
    if (v && (!end || end == v || *end || !isfinite(*out)))
        return pm_errorf(err, errlen, "%s: metadata %s is '%.40s', not a finite number", path, key, v);
    return 0;
}

/* The data stream position: PM_DATA_STATE_LEN unsigned decimals separated by commas. */
static int meta_data_state(const pm_st_file *f, const char *path, uint64_t *state, char *err, size_t errlen) {
    const char *p = pm_st_meta(f, "data_state");
    for (int i = 0; p && i < PM_DATA_STATE_LEN; i++) {
        char *end;
        errno = 0;
        state[i] = isdigit((unsigned char)*p) ? strtoull(p, &end, 10) : 0;
        if (!isdigit((unsigned char)*p) || errno || *end != (i + 1 < PM_DATA_STATE_LEN ? ',' : '\0')) p = NULL;
        else p = end + (*end == ',');
    }
    if (p) return 0;
    snprintf(err, errlen, "%s: metadata data_state is missing or not %d comma-separated unsigned integers", path,
             PM_DATA_STATE_LEN);
    return -1;
}

static int parse_state(const pm_st_file *f, const char *path, pm_train_state *st, char *err, size_t errlen) {
    long long step, streak, collapsed, pending, bytes, best_step;
    if (meta_int(f, path, "step", 0, 1000000000, -1, &step, err, errlen) ||
        meta_data_state(f, path, st->data_state, err, errlen) ||
        meta_int(f, path, "collapse_streak", 0, step, 0, &streak, err, errlen) ||
        meta_int(f, path, "collapsed_at", 0, step, 0, &collapsed, err, errlen) ||
        meta_int(f, path, "pending_eval", 0, 1, 0, &pending, err, errlen) ||
        meta_int(f, path, "metrics_bytes", -1, LLONG_MAX, -1, &bytes, err, errlen) ||
        meta_int(f, path, "best_step", 0, step, 0, &best_step, err, errlen) ||
        meta_double(f, path, "best_loss", 0.0, &st->best_loss, err, errlen))
        return -1;
    st->best_step = (int)best_step;
    if (!best_step) st->best_loss = INFINITY;
    st->step = (int)step;
    st->collapse_streak = (int)streak;
    st->collapsed_at = (int)collapsed;
    st->pending_eval = (int)pending;
    st->metrics_bytes = bytes;
    return 0;
}

static int load_optimizer(const char *path, pm_model *m, pm_train_state *st, char *err,
                          size_t errlen) {
    pm_st_file *f = pm_st_open(path, err, errlen);
    if (!f) return -1;
    /* the file holds the whole model's moments; this model takes its tensors' (an
     * expert-parallel one: its share) */
    const pm_tensor *ts, *whole;
    size_t n_params, n, own = pm_model_num_trainable(m); /* frozen tensors have no moments */
    pm_model_global_tensors(m, &whole, &n_params, &n);
    int nt = pm_model_tensors(m, &ts);
    float *mv = malloc((n ? n : 1) * 2 * sizeof *mv), *mine = malloc((own ? own : 1) * 2 * sizeof *mine);
    int rc = -1;
    if (!mv || !mine) snprintf(err, errlen, "out of host memory");
    else if (parse_state(f, path, st, err, errlen)) {
    } else if (!pm_st_read(f, "adamw.m", mv, 1, &n, err, errlen) &&
             !pm_st_read(f, "adamw.v", mv + n, 1, &n, err, errlen)) {
        for (int i = 0; i < nt; i++) {
            if (ts[i].frozen) continue;
            memcpy(mine + ts[i].offset, mv + ts[i].global_offset, ts[i].size * sizeof *mv);
            memcpy(mine + own + ts[i].offset, mv + n + ts[i].global_offset, ts[i].size * sizeof *mv);
        }
        rc = pm_model_set_moments(m, mine, mine + own) == PM_OK ? 0 : -1;
        if (rc) snprintf(err, errlen, "uploading the optimiser state failed");
    }
    free(mv);
    free(mine);
    pm_st_close(f);
    return rc;
}

int pm_checkpoint_load(const char *step_dir, pm_model *m, pm_train_state *st, char *err,
                       size_t errlen) {
    char path[PATH_LEN];
    if (pm_hf_is_folder(step_dir)) {
        if (st) return pm_errorf(err, errlen, "%s is a Hugging Face folder: no run to resume (start one with --init-from)", step_dir);
        return pm_hf_load(step_dir, m, err, errlen);
    }
    if (path_join(path, step_dir, "model.safetensors")) {
        snprintf(err, errlen, "checkpoint path too long");
        return -1;
    }
    pm_st_file *f = pm_st_open(path, err, errlen);
    if (!f) return -1;
    const pm_tensor *ts;
    int n = pm_model_tensors(m, &ts);
    float *host = malloc(pm_model_num_params(m) * sizeof *host);
    int rc = host ? 0 : -1;
    if (!host) snprintf(err, errlen, "out of host memory");
    for (int i = 0; i < n && !rc; i++) {
        char inner[300];
        size_t shape[2] = {(size_t)ts[i].shape[0], (size_t)ts[i].shape[1]};
        rc = pm_st_read(f, ts[i].name, host + ts[i].offset, ts[i].ndim, shape, inner, sizeof inner);
        if (rc) snprintf(err, errlen, "%s", inner); /* it names the file */
    }
    pm_st_close(f);
    if (!rc && pm_model_set_params(m, host) != PM_OK) {
        snprintf(err, errlen, "uploading parameters failed");
        rc = -1;
    }
    free(host);
    if (!rc && st) {
        rc = path_join(path, step_dir, "optimizer.safetensors");
        if (!rc) rc = load_optimizer(path, m, st, err, errlen);
    }
    return rc;
}

int pm_checkpoint_remove_all(const char *run_dir, char *err, size_t errlen) {
    char ck[PATH_LEN], path[PATH_LEN];
    if (path_join(ck, run_dir, "checkpoints")) {
        snprintf(err, errlen, "run folder path too long");
        return -1;
    }
    DIR *d = opendir(ck);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 || path_join(path, ck, e->d_name)) continue;
        if (unlink(path)) remove_tree(path);
    }
    if (d) closedir(d);
    if (rmdir(ck) && errno != ENOENT) {
        snprintf(err, errlen, "cannot remove %s: %s", ck, strerror(errno));
        return -1;
    }
    return 0;
}

/* The record of a step folder's tokenizer; checkpoints from before it was recorded used bytes. */
static int read_record(const char *step_dir, char *kind, unsigned long long *hash, int *vocab, char *err, size_t errlen) {
    char path[PATH_LEN];
    if (path_join(path, step_dir, "model.safetensors")) return pm_errorf(err, errlen, "checkpoint path too long");
    pm_st_file *f = pm_st_open(path, err, errlen);
    if (!f) return -1;
    const char *rec = pm_st_meta(f, "polymoe_tokenizer");
    int rc = 0;
    if (!rec) {
        snprintf(kind, 8, "byte");
        *hash = PM_TOKENIZER_BYTE_HASH;
        *vocab = 257;
    } else if (sscanf(rec, "%7s %16llx %d", kind, hash, vocab) != 3 || (strcmp(kind, "byte") && strcmp(kind, "bpe")))
        rc = pm_errorf(err, errlen, "%s: metadata polymoe_tokenizer '%.60s' is not 'KIND HASH VOCAB'", path, rec);
    pm_st_close(f);
    return rc;
}

pm_tokenizer *pm_checkpoint_tokenizer(const char *step_dir, char *err, size_t errlen) {
    char kind[8], spec[PATH_LEN + 8], inner[PATH_LEN + 600];
    unsigned long long hash;
    int vocab;
    if (pm_hf_is_folder(step_dir)) { /* its tokenizer files, as they are: nothing recorded to check */
        snprintf(spec, sizeof spec, "bpe:%s", step_dir);
        pm_tokenizer *tok = pm_tokenizer_open(spec, inner, sizeof inner);
        if (!tok) pm_errorf(err, errlen, "Hugging Face folder %s: its tokenizer: %s", step_dir, inner);
        return tok;
    }
    if (read_record(step_dir, kind, &hash, &vocab, err, errlen)) return NULL;
    if (strcmp(kind, "bpe") == 0) snprintf(spec, sizeof spec, "bpe:%s", step_dir);
    else snprintf(spec, sizeof spec, "byte");
    pm_tokenizer *tok = pm_tokenizer_open(spec, inner, sizeof inner);
    if (!tok) pm_errorf(err, errlen, "%s: its tokenizer: %s", step_dir, inner);
    else if (pm_tokenizer_hash(tok) != hash) {
        pm_errorf(err, errlen, "%s: its tokenizer files are not the ones it was trained with (identity %016llx, "
                               "recorded %016llx)", step_dir, (unsigned long long)pm_tokenizer_hash(tok), hash);
        pm_tokenizer_free(tok);
        tok = NULL;
    }
    return tok;
}

int pm_checkpoint_same_tokenizer(const char *step_dir, const pm_tokenizer *tok, char *err, size_t errlen) {
    char kind[8];
    unsigned long long hash;
    int vocab;
    if (pm_hf_is_folder(step_dir)) {
        pm_tokenizer *own = pm_checkpoint_tokenizer(step_dir, err, errlen);
        if (!own) return -1;
        snprintf(kind, sizeof kind, "%s", pm_tokenizer_kind(own));
        hash = pm_tokenizer_hash(own);
        vocab = pm_tokenizer_vocab_size(own);
        pm_tokenizer_free(own);
    } else if (read_record(step_dir, kind, &hash, &vocab, err, errlen)) {
        return -1;
    }
    if (hash == pm_tokenizer_hash(tok)) return 0;
    return pm_errorf(err, errlen, "%s was trained with another tokenizer (%s, %d tokens, identity %016llx) than this "
                     "run's (%s, %d tokens, identity %016llx)", step_dir, kind, vocab, hash, pm_tokenizer_kind(tok),
                     pm_tokenizer_vocab_size(tok), (unsigned long long)pm_tokenizer_hash(tok));
}

int pm_checkpoint_step(const char *step_dir) {
    char path[PATH_LEN], err[300];
    long long step = -1;
    pm_st_file *f = path_join(path, step_dir, "optimizer.safetensors") ? NULL : pm_st_open(path, err, sizeof err);
    if (f && meta_int(f, path, "step", 0, 1000000000, -1, &step, err, sizeof err)) step = -1;
    pm_st_close(f);
    return (int)step;
}
