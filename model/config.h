/* Run configuration: the model's shape and MoE settings plus the training settings, one flat
 * JSON object (the files in configs/) whose keys can also be set as key=value on the command line. */
#ifndef POLYMOE_CONFIG_H
#define POLYMOE_CONFIG_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#define PM_MAX_LAYERS 64

/* Routing: top_k experts per token with renormalised gates, or every expert weighted by its
 * router probability (DyLoRA-MoE's training mode; equal to top-k with k = n_experts). */
enum { PM_ROUTE_TOPK, PM_ROUTE_DENSE };

typedef struct {
    /* model */
    int n_layer, n_head, n_embd, block_size, vocab_size;
    int moe_layers[PM_MAX_LAYERS]; /* 1 where layer l's MLP is an MoE layer */
    int n_experts, top_k;
    int expert_width;              /* a full expert's hidden width; 0: 4 n_embd, the dense MLP's */
    float router_noise;            /* std of the noise on router logits at step 0 */
    float noise_anneal;            /* fraction of training over which the noise falls to 0 */
    float lb_coef, z_coef;
    float entropy_coef;            /* router-entropy bonus: the loss gains -entropy_coef * mean entropy */
    float capacity_factor;         /* 0: dropless */
    int router_mode;               /* routing in training: PM_ROUTE_TOPK or PM_ROUTE_DENSE */
    int eval_router_mode;          /* the same for eval, generate and the report */
    int lora_rank;                 /* 0: full experts; r > 0: LoRA experts over a frozen base */
    float lora_alpha;              /* adapter scale alpha / lora_rank */
    int lora_attn;                 /* 1: every layer's c_attn gets an adapter of lora_rank too */
    float init_std;
    /* training */
    int batch_size, grad_accum, steps, warmup_steps;
    int expert_parallel; /* ranks the experts are shared out over (train/expert_parallel.h) */
    int lr_cycles;                 /* cosine cycles (restarts), each with its own warmup */
    float lr, min_lr_frac, weight_decay, grad_clip, beta1, beta2;
    int eval_every, eval_seqs, final_eval_seqs, log_every, checkpoint_every, keep_checkpoints;
    int natural_mix;
    float eval_fraction;
    uint32_t seed;
    char data[512];                /* manifest path, relative to the working directory */
    char tokenizer[512];           /* "byte" or "bpe:PATH" (train/tokenizer/tokenizer.h) */
} pm_config;

/* The defaults (tiny-sized, like configs/tiny.json). */
void pm_config_defaults(pm_config *c);
/* Applies a JSON object's keys; unknown keys and wrong types are errors. Returns 0 or -1. */
int pm_config_apply_json(pm_config *c, const char *json, char *err, size_t errlen);
int pm_config_load_file(pm_config *c, const char *path, char *err, size_t errlen);
/* Applies "key=value". */
int pm_config_apply_kv(pm_config *c, const char *kv, char *err, size_t errlen);
/* Checks ranges and consistency (heads divide width, top_k <= experts, ...); what the model can
 * build is pm_model_check's (model/model.h). */
int pm_config_validate(const pm_config *c, char *err, size_t errlen);
/* The whole config as one JSON object (malloc'd string). */
char *pm_config_to_json(const pm_config *c);
int pm_config_n_moe(const pm_config *c);
/* Lists every field with its meaning. */
void pm_config_print_fields(FILE *f);

#endif
