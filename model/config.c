/* One table of fields drives parsing, overrides and serialisation, so a new setting is one
 * line here. */
#include "model/config.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { F_INT, F_FLOAT, F_U32, F_STR, F_LAYERS, F_ROUTING } field_type;

typedef struct {
    const char *key;
    field_type type;
    size_t offset;
    double lo, hi; /* allowed range for numbers */
    const char *help;
} field;

#define FIELD(k, t, lo, hi, h) {#k, t, offsetof(pm_config, k), lo, hi, h}
static const field fields[] = {
    FIELD(n_layer, F_INT, 1, PM_MAX_LAYERS, "transformer blocks"),
    FIELD(n_head, F_INT, 1, 256, "attention heads"),
    FIELD(n_embd, F_INT, 1, 16384, "model width"),
    FIELD(block_size, F_INT, 1, 65536, "sequence length T"),
    FIELD(vocab_size, F_INT, 0, 1 << 20, "vocabulary size (0: the tokenizer's; larger pads the output layer)"),
    FIELD(moe_layers, F_LAYERS, 0, 0, "layer indices whose MLP is an MoE layer"),
    FIELD(n_experts, F_INT, 1, 1024, "experts per MoE layer"), /* trainer.c: 1024-entry per-expert arrays */
    FIELD(top_k, F_INT, 1, 1024, "experts per token (1: straight-through gate, 2+: renormalised)"),
    FIELD(expert_width, F_INT, 0, 1 << 20, "a full expert's hidden width (0: 4 x n_embd, the dense MLP's; e.g. 2 x "
                                           "n_embd for top-2 at top-1's compute); upcycling gives expert e "
                                           "hidden units e x width onwards of the dense MLP, wrapping"),
    FIELD(router_noise, F_FLOAT, 0, 100, "std of router logit noise at step 0"),
    FIELD(noise_anneal, F_FLOAT, 0, 1, "fraction of training over which the noise falls to 0"),
    FIELD(lb_coef, F_FLOAT, 0, 100, "load-balancing loss coefficient"),
    FIELD(z_coef, F_FLOAT, 0, 100, "router z-loss coefficient"),
    FIELD(entropy_coef, F_FLOAT, 0, 100, "router-entropy bonus: the loss gains -entropy_coef x mean router entropy"),
    FIELD(capacity_factor, F_FLOAT, 0, 1000, "expert capacity factor (0: dropless)"),
    FIELD(router_mode, F_ROUTING, 0, 0, "routing in training: topk (top_k experts per token) or dense (every expert, "
                                        "weighted by its probability)"),
    FIELD(eval_router_mode, F_ROUTING, 0, 0, "routing in eval, generate and the report: topk or dense"),
    FIELD(lora_rank, F_INT, 0, 4096, "0: experts are full MLP copies; r > 0: experts are rank-r adapters of c_fc and "
                                     "c_proj over the layer's dense MLP, and every weight but the adapters and "
                                     "routers is frozen"),
    FIELD(lora_alpha, F_FLOAT, 0, 1e6, "adapter scale numerator: an adapter adds (alpha / lora_rank) x A B"),
    FIELD(lora_attn, F_INT, 0, 1, "1: with lora_rank, every layer's attention c_attn also gets one (trained) adapter"),
    FIELD(init_std, F_FLOAT, 0, 10, "std of the normal weight init"),
    FIELD(batch_size, F_INT, 1, 1 << 20, "sequences per micro-batch"),
    FIELD(grad_accum, F_INT, 1, 1 << 16, "micro-batches per optimiser step"),
    FIELD(expert_parallel, F_INT, 1, 1024, "ranks that share out every MoE layer's experts under mpirun (-np a "
                                           "multiple of it; 1: every rank holds every expert, data parallel)"),
    FIELD(steps, F_INT, 1, 1 << 30, "optimiser steps"),
    FIELD(warmup_steps, F_INT, 0, 1 << 30, "linear warmup steps"),
    FIELD(lr_cycles, F_INT, 1, 1 << 20, "cosine schedule cycles: 1 decays once, N restarts N-1 times (each cycle "
                                        "warms up for warmup_steps)"),
    FIELD(lr, F_FLOAT, 0, 10, "peak learning rate"),
    FIELD(min_lr_frac, F_FLOAT, 0, 1, "final lr as a fraction of lr (cosine decay)"),
    FIELD(weight_decay, F_FLOAT, 0, 10, "AdamW decay on matrices"),
    FIELD(grad_clip, F_FLOAT, 0, 1e9, "clip the global grad norm to this (0: off)"),
    FIELD(beta1, F_FLOAT, 0, 0.99999, "AdamW beta1"),
    FIELD(beta2, F_FLOAT, 0, 0.99999, "AdamW beta2"),
    FIELD(eval_every, F_INT, 0, 1 << 30, "evaluate every N steps (0: only at the end)"),
    FIELD(eval_seqs, F_INT, 1, 1 << 20, "held-out sequences per domain per evaluation"),
    FIELD(final_eval_seqs, F_INT, 0, 1 << 20, "the same for the last step's evaluation (0: eval_seqs; above the split's count: all)"),
    FIELD(log_every, F_INT, 1, 1 << 30, "write a metrics line every N steps"),
    FIELD(checkpoint_every, F_INT, 0, 1 << 30, "checkpoint every N steps (0: only at the end)"),
    FIELD(keep_checkpoints, F_INT, 0, 1 << 20, "the newest checkpoints kept besides `best` (0: every one)"),
    FIELD(natural_mix, F_INT, 0, 1, "1: batches in natural domain proportions"),
    FIELD(eval_fraction, F_FLOAT, 0.001, 0.9, "share of each domain's documents held out"),
    FIELD(seed, F_U32, 0, 4294967295.0, "random seed"),
    FIELD(data, F_STR, 0, 0, "data manifest (JSON)"),
    FIELD(tokenizer, F_STR, 0, 0, "byte, or bpe:PATH (a folder with tokenizer.json or vocab.json + merges.txt)"),
};
enum { n_fields = sizeof fields / sizeof fields[0] };

void pm_config_defaults(pm_config *c) {
    memset(c, 0, sizeof *c);
    *c = (pm_config){.n_layer = 4, .n_head = 4, .n_embd = 128, .block_size = 128,
                     .vocab_size = 257, .n_experts = 8, .top_k = 1, .noise_anneal = 0.5f,
                     .lb_coef = 0.01f, .z_coef = 0.001f, .init_std = 0.02f, .batch_size = 12,
                     .grad_accum = 1, .expert_parallel = 1, .steps = 1000, .warmup_steps = 50, .lr = 2e-3f,
                     .min_lr_frac = 0.1f, .weight_decay = 0.1f, .grad_clip = 1.0f,
                     .beta1 = 0.9f, .beta2 = 0.95f, .eval_every = 100, .eval_seqs = 32,
                     .log_every = 10, .natural_mix = 0, .eval_fraction = 0.1f, .seed = 1337,
                     .lora_alpha = 16.0f, .lr_cycles = 1, .keep_checkpoints = 2};
    snprintf(c->data, sizeof c->data, "data/default/manifest.json");
    snprintf(c->tokenizer, sizeof c->tokenizer, "byte");
}

static const field *find(const char *key) {
    for (int i = 0; i < n_fields; i++)
        if (strcmp(fields[i].key, key) == 0) return &fields[i];
    return NULL;
}

/* The range is checked first: converting a double outside int's range (or NaN) to int is
 * undefined behaviour. NaN fails every comparison, so it fails here too. */
static int set_number(pm_config *c, const field *f, double v, char *err, size_t errlen) {
    if (!(v >= f->lo && v <= f->hi)) {
        snprintf(err, errlen, "%s = %.15g is outside %.15g..%.15g (%s)", f->key, v, f->lo, f->hi, f->help);
        return -1;
    }
    char *p = (char *)c + f->offset;
    if (f->type == F_FLOAT) {
        *(float *)p = (float)v;
        return 0;
    }
    if (v != floor(v)) {
        snprintf(err, errlen, "%s must be an integer, got %g", f->key, v);
        return -1;
    }
    if (f->type == F_INT) *(int *)p = (int)v;
    else *(uint32_t *)p = (uint32_t)v;
    return 0;
}

static int set_layer(pm_config *c, double v, char *err, size_t errlen) {
    if (!(v >= 0 && v < PM_MAX_LAYERS) || v != floor(v)) {
        snprintf(err, errlen, "moe_layers: %g is not a layer index 0..%d", v, PM_MAX_LAYERS - 1);
        return -1;
    }
    c->moe_layers[(int)v] = 1;
    return 0;
}

static const char *const routing_names[] = {"topk", "dense"};

static int set_routing(pm_config *c, const field *f, const char *v, char *err, size_t errlen) {
    for (int i = 0; i < 2; i++)
        if (strcmp(v, routing_names[i]) == 0) {
            *(int *)((char *)c + f->offset) = i;
            return 0;
        }
    snprintf(err, errlen, "%s: '%s' is neither topk nor dense", f->key, v);
    return -1;
}

static int set_from_json(pm_config *c, const field *f, const cJSON *v, char *err, size_t errlen) {
    if (f->type == F_STR) {
        if (!cJSON_IsString(v)) goto type;
        char *dst = (char *)c + f->offset;
        if (strlen(v->valuestring) >= sizeof c->data) {
            snprintf(err, errlen, "%s is too long", f->key);
            return -1;
        }
        strcpy(dst, v->valuestring);
        return 0;
    }
    if (f->type == F_ROUTING) {
        if (!cJSON_IsString(v)) goto type;
        return set_routing(c, f, v->valuestring, err, errlen);
    }
    if (f->type == F_LAYERS) {
        if (!cJSON_IsArray(v)) goto type;
        memset(c->moe_layers, 0, sizeof c->moe_layers);
        const cJSON *x;
        cJSON_ArrayForEach(x, v) {
            if (!cJSON_IsNumber(x)) goto type;
            if (set_layer(c, x->valuedouble, err, errlen)) return -1;
        }
        return 0;
    }
    if (!cJSON_IsNumber(v)) goto type;
    return set_number(c, f, v->valuedouble, err, errlen);
type:
    snprintf(err, errlen, "%s has the wrong type (%s)", f->key,
             f->type == F_STR || f->type == F_ROUTING ? "want a string" : f->type == F_LAYERS ? "want an array of layer indices" : "want a number");
    return -1;
}

int pm_config_apply_json(pm_config *c, const char *json, char *err, size_t errlen) {
    cJSON *root = cJSON_Parse(json);
    if (!root || !cJSON_IsObject(root)) {
        snprintf(err, errlen, "not a JSON object%s", root ? "" : " (parse error)");
        cJSON_Delete(root);
        return -1;
    }
    const cJSON *item;
    int rc = 0;
    cJSON_ArrayForEach(item, root) {
        if (item->string[0] == '_') continue; /* "_comment" and the like */
        const field *f = find(item->string);
        if (!f) {
            snprintf(err, errlen, "unknown key '%s'", item->string);
            rc = -1;
            break;
        }
        if ((rc = set_from_json(c, f, item, err, errlen))) break;
    }
    cJSON_Delete(root);
    return rc;
}

int pm_config_load_file(pm_config *c, const char *path, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open config %s: %s", path, strerror(errno));
        return -1;
    }
    char *text = malloc(1 << 20);
    size_t n = text ? fread(text, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (!text) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    text[n] = 0;
    char inner[400];
    int rc = pm_config_apply_json(c, text, inner, sizeof inner);
    if (rc) snprintf(err, errlen, "config %s: %s", path, inner);
    free(text);
    return rc;
}

int pm_config_apply_kv(pm_config *c, const char *kv, char *err, size_t errlen) {
    const char *eq = strchr(kv, '=');
    char key[64];
    if (!eq || eq == kv || (size_t)(eq - kv) >= sizeof key) {
        snprintf(err, errlen, "'%s' is not key=value", kv);
        return -1;
    }
    memcpy(key, kv, (size_t)(eq - kv));
    key[eq - kv] = 0;
    const char *val = eq + 1;
    const field *f = find(key);
    if (!f) {
        snprintf(err, errlen, "unknown key '%s' in '%s'", key, kv);
        return -1;
    }
    if (f->type == F_STR) {
        if (strlen(val) >= sizeof c->data) {
            snprintf(err, errlen, "%s is too long", key);
            return -1;
        }
        strcpy((char *)c + f->offset, val);
        return 0;
    }
    if (f->type == F_ROUTING) return set_routing(c, f, val, err, errlen);
    if (f->type == F_LAYERS) { /* a comma-separated list, possibly empty */
        memset(c->moe_layers, 0, sizeof c->moe_layers);
        const char *p = val;
        while (*p) {
            char *end;
            errno = 0;
            double v = strtod(p, &end);
            if (end == p || errno) {
                snprintf(err, errlen, "moe_layers: '%s' is not a comma-separated list of layers", val);
                return -1;
            }
            if (set_layer(c, v, err, errlen)) return -1;
            p = *end == ',' ? end + 1 : end;
            if (*end && *end != ',') {
                snprintf(err, errlen, "moe_layers: '%s' is not a comma-separated list of layers", val);
                return -1;
            }
        }
        return 0;
    }
    char *end;
    errno = 0;
    double v = strtod(val, &end);
    if (end == val || *end || errno) {
        snprintf(err, errlen, "%s: '%s' is not a number", key, val);
        return -1;
    }
    return set_number(c, f, v, err, errlen);
}

int pm_config_n_moe(const pm_config *c) {
    int n = 0;
    for (int l = 0; l < c->n_layer; l++) n += c->moe_layers[l];
    return n;
}

int pm_config_validate(const pm_config *c, char *err, size_t errlen) {
    if (c->vocab_size < 2) {
        snprintf(err, errlen, "vocab_size %d: a model needs at least 2 tokens (0 stands for the tokenizer's, which "
                              "training fills in)", c->vocab_size);
        return -1;
    }
    for (int l = c->n_layer; l < PM_MAX_LAYERS; l++)
        if (c->moe_layers[l]) {
            snprintf(err, errlen, "moe_layers names layer %d but n_layer is %d", l, c->n_layer);
            return -1;
        }
    if (c->n_embd % c->n_head) {
        snprintf(err, errlen, "n_embd %d is not a multiple of n_head %d", c->n_embd, c->n_head);
        return -1;
    }
    if (c->top_k > c->n_experts) {
        snprintf(err, errlen, "top_k %d is more than n_experts %d", c->top_k, c->n_experts);
        return -1;
    }
    if (c->lora_rank && !pm_config_n_moe(c)) {
        snprintf(err, errlen, "lora_rank %d: adapters are experts, and moe_layers names no layer", c->lora_rank);
        return -1;
    }
    if (c->expert_parallel > 1 && (!pm_config_n_moe(c) || c->n_experts % c->expert_parallel || c->lora_rank)) {
        snprintf(err, errlen, "expert_parallel %d shares out MoE layers' full experts: it needs moe_layers, n_experts "
                              "(%d) a multiple of it, and lora_rank 0", c->expert_parallel, c->n_experts);
        return -1;
    }
    if (c->expert_width && c->lora_rank) {
        snprintf(err, errlen, "expert_width is for full experts; LoRA experts keep the dense MLP's width");
        return -1;
    }
    if (c->expert_width > 4 * c->n_embd) {
        snprintf(err, errlen, "expert_width %d is wider than the dense MLP's %d, which upcycling copies from",
                 c->expert_width, 4 * c->n_embd);
        return -1;
    }
    if (c->lora_attn && !c->lora_rank) {
        snprintf(err, errlen, "lora_attn needs lora_rank > 0 (the adapters' rank)");
        return -1;
    }
    if (c->lora_rank && c->lora_alpha <= 0) {
        snprintf(err, errlen, "lora_alpha must be positive with lora_rank %d", c->lora_rank);
        return -1;
    }
    if (c->warmup_steps > c->steps / c->lr_cycles) {
        snprintf(err, errlen, "warmup_steps %d is more than a cycle's %d steps (steps %d, lr_cycles %d)",
                 c->warmup_steps, c->steps / c->lr_cycles, c->steps, c->lr_cycles);
        return -1;
    }
    return 0;
}

char *pm_config_to_json(const pm_config *c) {
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; i < n_fields; i++) {
        const field *f = &fields[i];
        const char *p = (const char *)c + f->offset;
        switch (f->type) {
        case F_INT: cJSON_AddNumberToObject(o, f->key, *(const int *)p); break;
        case F_U32: cJSON_AddNumberToObject(o, f->key, *(const uint32_t *)p); break;
        case F_FLOAT: cJSON_AddNumberToObject(o, f->key, *(const float *)p); break;
        case F_STR: cJSON_AddStringToObject(o, f->key, p); break;
        case F_ROUTING: cJSON_AddStringToObject(o, f->key, routing_names[*(const int *)p != 0]); break;
        case F_LAYERS: {
            cJSON *a = cJSON_AddArrayToObject(o, f->key);
            for (int l = 0; l < c->n_layer; l++)
                if (c->moe_layers[l]) cJSON_AddItemToArray(a, cJSON_CreateNumber(l));
            break;
        }
        }
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

void pm_config_print_fields(FILE *f) {
    fprintf(f, "config fields (JSON keys, or key=value on the command line):\n");
    for (int i = 0; i < n_fields; i++)
        fprintf(f, "  %-16s %s\n", fields[i].key, fields[i].help);
}
