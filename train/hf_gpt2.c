#define _POSIX_C_SOURCE 200809L
#include "train/hf_gpt2.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model/safetensors.h"
#include "train/util/error_text.h"
#include "train/util/files.h"

#define PATH_LEN 4096
#define JSON_MAX ((size_t)64 << 20)
#define PREFIX "transformer."

static int is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int join(char *dst, const char *dir, const char *name) {
    int n = snprintf(dst, PATH_LEN, "%s/%s", dir, name);
    return n < 0 || n >= PATH_LEN ? -1 : 0;
}

int pm_hf_is_folder(const char *dir) {
    char path[PATH_LEN], err[256];
    if (join(path, dir, "config.json") || !is_file(path)) return 0;
    if (!join(path, dir, "model.safetensors.index.json") && is_file(path)) return 1;
    if (join(path, dir, "model.safetensors") || !is_file(path)) return 0;
    pm_st_file *f = pm_st_open(path, err, sizeof err);
    int hf = f && !pm_st_meta(f, "polymoe_config");
    pm_st_close(f);
    return hf;
}

static cJSON *read_json(const char *path, char *err, size_t errlen) {
    size_t len;
    char *text = pm_read_file(path, JSON_MAX, &len, err, errlen);
    cJSON *j = text ? cJSON_ParseWithLength(text, len) : NULL;
    if (text && !j) pm_errorf(err, errlen, "%s: not valid JSON", path);
    free(text);
    return j;
}

/* A whole number in 1..max under key, into *out. */
static int whole(const cJSON *root, const char *path, const char *key, int max, int *out, char *err, size_t errlen) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < 1 || v->valuedouble > max)
        return pm_errorf(err, errlen, "%s: \"%s\" must be a whole number in 1..%d", path, key, max);
    *out = (int)v->valuedouble;
    return 0;
}

/* key is absent, null, or equal to the value polymoe implements. */
static int bool_is(const cJSON *root, const char *key, int want) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    return !v || cJSON_IsNull(v) || (cJSON_IsBool(v) && cJSON_IsTrue(v) == want);
}

int pm_hf_config(const char *dir, pm_config *cfg, char *err, size_t errlen) {
    char path[PATH_LEN];
    if (join(path, dir, "config.json")) return pm_errorf(err, errlen, "%s: path too long", dir);
    cJSON *root = read_json(path, err, errlen);
    if (!root) return -1;
    pm_config_defaults(cfg);
    int rc = 0, inner = 0;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "model_type"),
                *act = cJSON_GetObjectItemCaseSensitive(root, "activation_function"),
                *eps = cJSON_GetObjectItemCaseSensitive(root, "layer_norm_epsilon"),
                *n_inner = cJSON_GetObjectItemCaseSensitive(root, "n_inner");
    if (!cJSON_IsObject(root)) rc = pm_errorf(err, errlen, "%s: not a JSON object", path);
    else if (type && !(cJSON_IsString(type) && !strcmp(type->valuestring, "gpt2")))
        rc = pm_errorf(err, errlen, "%s: model_type is not gpt2; polymoe reads GPT-2 models", path);
    if (!rc) rc = whole(root, path, "n_embd", 16384, &cfg->n_embd, err, errlen);
    if (!rc) rc = whole(root, path, "n_layer", PM_MAX_LAYERS, &cfg->n_layer, err, errlen);
    if (!rc) rc = whole(root, path, "n_head", 256, &cfg->n_head, err, errlen);
    if (!rc) rc = whole(root, path, "n_positions", 65536, &cfg->block_size, err, errlen);
    if (!rc) rc = whole(root, path, "vocab_size", 1 << 20, &cfg->vocab_size, err, errlen);
    if (rc) {
    } else if (act && !(cJSON_IsString(act) && (!strcmp(act->valuestring, "gelu_new") ||
                                               !strcmp(act->valuestring, "gelu_pytorch_tanh"))))
        rc = pm_errorf(err, errlen, "%s: activation_function %s; polymoe's GELU is GPT-2's tanh form (gelu_new)", path,
                       cJSON_IsString(act) ? act->valuestring : "(not a string)");
    else if (eps && !(cJSON_IsNumber(eps) && fabs(eps->valuedouble - 1e-5) <= 1e-12))
        rc = pm_errorf(err, errlen, "%s: layer_norm_epsilon is not 1e-05, the one polymoe's layernorm uses", path);
    else if (n_inner && !cJSON_IsNull(n_inner) && (whole(root, path, "n_inner", 1 << 20, &inner, err, errlen) ||
                                                  inner != 4 * cfg->n_embd))
        rc = pm_errorf(err, errlen, "%s: n_inner is not 4 n_embd; polymoe's MLP is 4 n_embd wide", path);
    else if (!bool_is(root, "add_cross_attention", 0))
        rc = pm_errorf(err, errlen, "%s: add_cross_attention is set; polymoe's GPT-2 is decoder-only", path);
    else if (!bool_is(root, "scale_attn_by_inverse_layer_idx", 0) || !bool_is(root, "scale_attn_weights", 1))
        rc = pm_errorf(err, errlen, "%s: attention scaling other than 1/sqrt(head size) is not implemented", path);
    else if (!bool_is(root, "tie_word_embeddings", 1))
        rc = pm_errorf(err, errlen, "%s: tie_word_embeddings is false; polymoe's LM head is tied to wte", path);
    cJSON_Delete(root);
    if (rc) return -1;
    memset(cfg->moe_layers, 0, sizeof cfg->moe_layers);
    if (strlen(dir) + 5 > sizeof cfg->tokenizer) return pm_errorf(err, errlen, "%s: path too long", dir);
    snprintf(cfg->tokenizer, sizeof cfg->tokenizer, "bpe:%s", dir);
    return 0;
}

/* The files that hold the weights: the index's weight map (name -> file), or NULL for one
 * model.safetensors. */
static cJSON *weight_map(const char *dir, cJSON **index, char *err, size_t errlen) {
    char path[PATH_LEN];
    *index = NULL;
    if (join(path, dir, "model.safetensors.index.json") || !is_file(path)) return NULL;
    *index = read_json(path, err, errlen);
    cJSON *map = cJSON_GetObjectItemCaseSensitive(*index, "weight_map");
    if (*index && !cJSON_IsObject(map)) pm_errorf(err, errlen, "%s: no weight_map object", path);
    return cJSON_IsObject(map) ? map : NULL;
}

/* The name under which tensor `name` (polymoe's, prefixed) is stored, and the file: the
 * prefixed name first, then the hub's unprefixed one. NULL when the folder has neither. */
static const char *locate(const char *dir, const cJSON *map, const char *name, char *file) {
    const char *names[2] = {name, strncmp(name, PREFIX, strlen(PREFIX)) ? name : name + strlen(PREFIX)};
    for (int i = 0; i < 2; i++) {
        if (map) {
            const cJSON *f = cJSON_GetObjectItemCaseSensitive(map, names[i]);
            if (cJSON_IsString(f) && !strchr(f->valuestring, '/') && !join(file, dir, f->valuestring)) return names[i];
        } else {
            char err[256];
            if (join(file, dir, "model.safetensors")) return NULL;
            pm_st_file *st = pm_st_open(file, err, sizeof err);
            int found = 0;
            for (int k = 0; st && k < pm_st_count(st) && !found; k++) {
                int nd;
                const size_t *shape;
                found = !strcmp(pm_st_info(st, k, &nd, &shape), names[i]);
            }
            pm_st_close(st);
            if (found) return names[i];
        }
    }
    return NULL;
}

/* An lm_head.weight in the files must be wte itself. */
static int check_lm_head(const char *dir, const cJSON *map, const float *wte, size_t rows, size_t cols, char *err,
                         size_t errlen) {
    char file[PATH_LEN];
    const char *name = locate(dir, map, PREFIX "lm_head.weight", file);
    if (!name) name = locate(dir, map, "lm_head.weight", file);
    if (!name) return 0;
    float *head = malloc(rows * cols * sizeof *head);
    pm_st_file *f = head ? pm_st_open(file, err, errlen) : NULL;
    int rc = f ? pm_st_read(f, name, head, 2, (size_t[]){rows, cols}, err, errlen) : -1;
    if (!head) pm_errorf(err, errlen, "out of host memory");
    if (!rc && memcmp(head, wte, rows * cols * sizeof *head) != 0)
        rc = pm_errorf(err, errlen, "%s: lm_head.weight differs from wte; polymoe's LM head is tied to wte", file);
    pm_st_close(f);
    free(head);
    return rc;
}

int pm_hf_load(const char *dir, pm_model *m, char *err, size_t errlen) {
    cJSON *index;
    const cJSON *map = weight_map(dir, &index, err, errlen);
    if (index && !map) {
        cJSON_Delete(index);
        return -1;
    }
    const pm_tensor *ts;
    int n = pm_model_tensors(m, &ts), rc = 0;
    float *host = malloc(pm_model_num_params(m) * sizeof *host);
    if (!host) rc = pm_errorf(err, errlen, "out of host memory");
    const float *wte = NULL;
    size_t wte_shape[2] = {0, 0};
    for (int i = 0; i < n && !rc; i++) {
        char file[PATH_LEN];
        const char *name = locate(dir, map, ts[i].name, file);
        if (!name) {
            rc = pm_errorf(err, errlen, "%s: no tensor %s (or %s) in its weights", dir, ts[i].name,
                           strncmp(ts[i].name, PREFIX, strlen(PREFIX)) ? ts[i].name : ts[i].name + strlen(PREFIX));
            break;
        }
        size_t shape[2] = {(size_t)ts[i].shape[0], (size_t)ts[i].shape[1]};
        pm_st_file *f = pm_st_open(file, err, errlen);
        rc = f ? pm_st_read(f, name, host + ts[i].offset, ts[i].ndim, shape, err, errlen) : -1;
        pm_st_close(f);
        if (strstr(ts[i].name, "wte.weight")) {
            wte = host + ts[i].offset;
            memcpy(wte_shape, shape, sizeof shape);
        }
    }
    if (!rc && wte) rc = check_lm_head(dir, map, wte, wte_shape[0], wte_shape[1], err, errlen);
    if (!rc && pm_model_set_params(m, host) != PM_OK) rc = pm_errorf(err, errlen, "uploading parameters failed");
    free(host);
    cJSON_Delete(index);
    return rc;
}
