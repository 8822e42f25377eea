/* GPT-2 with Mixture-of-Experts MLPs, forward and backward written once against backend.h,
 * composed from the layers of model/layers.h.
 *
 * The tensor table lists every parameter tensor with its role: how a fresh model initialises
 * it, whether AdamW decays it, whether it trains. All parameters live in one device buffer,
 * grouped by the optimiser's part of the role (trainable with decay, trainable without,
 * frozen with, frozen without; each group in declaration order), so AdamW is one call per
 * group and frozen groups get none. Gradients and the two AdamW moments cover the trainable
 * groups only (they lead the buffer): a frozen tensor has no gradient and no optimiser state,
 * and the backward pass computes no weight gradient for it and stops below the lowest layer
 * that has something to train.
 * LoRA experts (lora_rank > 0): an MoE layer keeps its dense MLP (frozen) and each expert is a
 * pair of rank-r adapters per MLP matrix, transformer.h.N.mlp.experts.E.c_fc.lora_A [C, r],
 * .lora_B [r, 4C], c_proj.lora_A [4C, r], .lora_B [r, C]; A starts random, B at zero, so a fresh
 * adapter changes nothing. Everything but adapters and routers is frozen.
 * Tensor names follow Hugging Face's GPT-2; expert tensors are transformer.h.N.mlp.experts.E.*,
 * the router transformer.h.N.mlp.router.weight [E, C].
 * Expert parallel (pm_model_create_expert_parallel): a rank's model holds only its experts, in
 * a layout of its own, and exchanges rows with the other ranks inside every MoE layer; it
 * keeps the whole model's table beside its own (pm_model_global_tensors) for checkpoints and
 * for drawing its random init where one process would. */
#ifndef POLYMOE_MODEL_H
#define POLYMOE_MODEL_H

#include "backends/backend.h"
#include "model/config.h"
#include "model/expert_parallel.h"
#include "model/router_losses.h"

#define PM_MAX_TENSORS 4096

/* How a fresh model initialises a tensor (GPT-2's init). */
typedef enum {
    PM_INIT_NORMAL,   /* N(0, init_std) */
    PM_INIT_RESIDUAL, /* N(0, init_std / sqrt(2 n_layer)): projections into the residual stream */
    PM_INIT_ONES,
    PM_INIT_ZEROS,
} pm_init;

/* The part of the model a tensor belongs to; freezing and upcycling act on parts. */
typedef enum {
    PM_PART_EMBEDDING, /* wte */
    PM_PART_POSITIONS, /* wpe: upcycling may take the first rows of a longer one */
    PM_PART_NORM,      /* every layernorm */
    PM_PART_ATTENTION,
    PM_PART_MLP,       /* dense MLPs */
    PM_PART_ROUTER,
    PM_PART_EXPERTS,
    PM_PART_ADAPTERS,  /* LoRA experts' A and B */
} pm_part;

#define PM_PART_BIT(part) (1u << (part))

typedef struct {
    char name[96];
    size_t offset, size;   /* in floats, inside the parameter buffer */
    int ndim, shape[2];
    pm_part part;
    pm_init init;
    int decay;             /* AdamW's weight decay applies (the matrices, as GPT-2 trains) */
    int frozen;            /* the optimiser leaves it as it is */
    char expert_of[96];    /* an expert's tensor: the dense MLP tensor it is a copy of, else "" */
    int expert;            /* an expert's tensor (full or LoRA): its expert, else -1 */
    size_t global_offset;  /* its offset in the whole model's layout (every expert), where its random init is
                            * drawn from and where checkpoints keep its moments; = offset unless expert parallel */
} pm_tensor;

/* Per-MoE-layer results of the last forward pass (host copies). */
typedef struct {
    float *stats;          /* router_stats output, 2E+2 */
    pm_router_summary summary;
    int capacity;          /* assignments an expert keeps (0: dropless) ... */
    double dropped;        /* ... and the assignments over it, dropped */
} pm_moe_report;

typedef struct pm_model pm_model;

/* Allocates parameters (initialised as each tensor's pm_init says, the random ones from the
 * stream (seed, offset in the parameter buffer)) and activations for micro-batches of B
 * sequences of length T <= block_size. NULL with err on failure. */
/* pm_config_validate, and that the model can be built: its tensors fit the table, a
 * micro-batch's rows fit an int, the parameter count fits a checkpoint (below 2^31). */
int pm_model_check(const pm_config *cfg, char *err, size_t errlen);

pm_model *pm_model_create(pm_backend *be, const pm_config *cfg, int B, int T, char *err,
                          size_t errlen);
/* The same with the parts in `frozen_parts` (PM_PART_BIT(...) | ...) frozen. */
pm_model *pm_model_create_frozen(pm_backend *be, const pm_config *cfg, unsigned frozen_parts,
                                 int B, int T, char *err, size_t errlen);
/* Expert parallel: the same holding only this rank's ex->ranks-th share of every MoE layer's
 * experts (full experts; ex->ranks divides n_experts), which exchanges rows with the other ranks
 * through ex in every forward and backward, so every rank must run them together. ex is copied. */
pm_model *pm_model_create_expert_parallel(pm_backend *be, const pm_config *cfg, unsigned frozen_parts,
                                          const pm_expert_exchange *ex, int B, int T, char *err, size_t errlen);
void pm_model_free(pm_model *m);
/* 1 for an expert-parallel model: every forward and backward is a collective of the ranks. */
int pm_model_expert_parallel(const pm_model *m);

const pm_config *pm_model_config(const pm_model *m);
pm_backend *pm_model_backend(const pm_model *m);
/* Parameters this model holds (an expert-parallel one: its share; pm_model_global_tensors: the whole). */
size_t pm_model_num_params(const pm_model *m);
/* Parameters the optimiser updates (the length of the gradients and of each AdamW moment). */
size_t pm_model_num_trainable(const pm_model *m);
/* Parameters a token actually uses: everything but the experts, and top_k of E experts (of the
 * whole model, under expert parallelism too). */
size_t pm_model_active_params(const pm_model *m);
int pm_model_tensors(const pm_model *m, const pm_tensor **tensors);
/* The whole model's table, every expert in it, in its own layout (offsets, n_params, and the
 * trainable ones leading, n_trainable): what a checkpoint holds. The model's own table unless it
 * is expert parallel. */
int pm_model_global_tensors(const pm_model *m, const pm_tensor **tensors, size_t *n_params, size_t *n_trainable);

/* Host copies of all parameters, and writing them back (both n_params floats). */
int pm_model_get_params(pm_model *m, float *dst);
int pm_model_set_params(pm_model *m, const float *src);

/* Forward over tokens [B,T] (host). With targets (host, [B,T]) it also computes the mean
 * LM loss. `train_step` >= 0 is a training forward: router noise for that step (annealed) and
 * the config's router_mode; -1 is an evaluation: no noise, eval_router_mode.
 * Results: *loss (LM loss), per MoE layer reports. Returns PM_OK or PM_ERR (see backend). */
int pm_model_forward(pm_model *m, const int32_t *tokens, const int32_t *targets, int B, int T,
                     int train_step, float *loss);
/* Per-token losses of the last forward, [B*T] (host). */
int pm_model_token_losses(pm_model *m, float *dst, int B, int T);
/* The logits of position t of every sequence of the last forward, [B, V] (host). */
int pm_model_logits_at(pm_model *m, int t, int B, int T, float *dst);
/* The expert ids [B*T, top_k] of MoE layer index i (0-based among MoE layers) of the last
 * forward (host): the top_k most probable experts of each token, also after a dense forward. */
int pm_model_expert_ids(pm_model *m, int i, int32_t *dst, int B, int T);
int pm_model_n_moe(const pm_model *m);
/* The routing of evaluation forwards (PM_ROUTE_TOPK or PM_ROUTE_DENSE; starts as the config's
 * eval_router_mode), so that eval can report both modes. */
void pm_model_set_eval_routing(pm_model *m, int mode);
/* Experts per token in the last forward: top_k, or n_experts after a dense one. */
int pm_model_last_k(const pm_model *m);
int pm_model_moe_layer(const pm_model *m, int i); /* its transformer layer index */
const pm_moe_report *pm_model_moe_report(const pm_model *m, int i);
/* Sum over MoE layers of lb_coef * lb + z_coef * z - entropy_coef * router entropy of the last
 * forward; each sum on its own through the pointers (may be NULL). */
double pm_model_aux_loss(const pm_model *m, double *lb_sum, double *z_sum, double *entropy_sum);

/* Host copy of the gradients (pm_model_num_trainable floats). */
int pm_model_get_grads(pm_model *m, float *dst);
/* Replaces the gradients with a host copy (the sum over data-parallel ranks). */
int pm_model_set_grads(pm_model *m, const float *src);
/* The device buffer whose first pm_model_num_trainable floats are the gradients, for a
 * collective that sums them in place (pm_group_sum). */
pm_buf *pm_model_grad_buffer(pm_model *m);
/* The gradient norm of each expert (its trainable tensors: a full expert's MLP or a LoRA
 * expert's adapters), norms[i * n_experts + e] for MoE layer index i; call after the backward. */
int pm_model_expert_grad_norms(pm_model *m, float *norms);
/* Zeroes the gradients. */
int pm_model_zero_grad(pm_model *m);
/* Backward of the last forward (which must have had targets), adding to the gradients with
 * the loss scaled by `scale` (1/grad_accum). */
int pm_model_backward(pm_model *m, int B, int T, float scale);
/* Global norm of the trainable parameters' gradients (device reduction, one float read back). */
int pm_model_grad_norm(pm_model *m, float *norm);
/* One AdamW step per trainable group (step counts from 1) with the gradient scaled by
 * grad_scale (clipping); frozen tensors keep their values. */
int pm_model_update(pm_model *m, float lr, int step, float grad_scale);

/* count floats from offset of one of the model's slabs, for writing checkpoints in windows. */
typedef enum { PM_SLAB_PARAMS, PM_SLAB_ADAM_M, PM_SLAB_ADAM_V } pm_model_slab;
int pm_model_read_slab(pm_model *m, pm_model_slab slab, size_t offset, float *dst, size_t count);
/* Writing the AdamW moments back (pm_model_num_trainable each), when a checkpoint is loaded. */
int pm_model_set_moments(pm_model *m, const float *msrc, const float *vsrc);

#endif
