/* The layers of a transformer block as functions over refs: the attention sublayer, the dense
 * MLP and the MoE MLP, forward and backward. Each issues exactly the ops of its layer, so the
 * model composes them and the benchmarks time what the model runs. Parameters and their
 * gradients are the same struct bound to two buffers: a backward reads the values `w` and adds
 * to the gradients `g`. Forwards write `out`, backwards write `dinp`; `inp` is the layer's
 * input as the forward saw it. The layernorms and residual adds are the block's (model.c). */
#ifndef POLYMOE_LAYERS_H
#define POLYMOE_LAYERS_H

#include <stdint.h>

#include "backends/backend.h"
#include "model/expert_parallel.h"

/* ---- LoRA adapters: out += scale * (in A_g) B_g over the rows of each group g ---- */

typedef struct {
    int rows, groups, rank;
    float scale;    /* alpha / rank */
    pm_ref offsets; /* [groups + 1] row offsets, as for the grouped GEMM */
} pm_adapter_shape;

/* A_g [n_in, r] and B_g [r, n_out] at g times their size; u [rows, r] keeps scale * in A_g for
 * the backward. */
int pm_adapter_fwd(pm_backend *be, const pm_adapter_shape *s, pm_ref out, pm_ref in, pm_ref A, pm_ref B, pm_ref u,
                   int n_in, int n_out);
/* din = dout (scale A_g B_g)^T + din_beta * din; gB += u^T dout and gA += in^T (scale dout B^T)
 * when they have buffers. du is scratch [rows, r]. */
int pm_adapter_bwd(pm_backend *be, const pm_adapter_shape *s, pm_ref din, pm_ref dout, float din_beta, pm_ref in,
                   pm_ref u, pm_ref A, pm_ref B, pm_ref gA, pm_ref gB, pm_ref du, int n_in, int n_out);

/* ---- attention: out = proj(causal self-attention(qkv(inp))) ---- */

typedef struct {
    pm_ref qkv_w, qkv_b;           /* [C, 3C], [3C] */
    pm_ref proj_w, proj_b;         /* [C, C], [C] */
    pm_ref qkv_lora_a, qkv_lora_b; /* with an adapter on c_attn: [C, r], [r, 3C] */
} pm_attention_params;

typedef struct {
    pm_ref qkv; /* [N, 3C] */
    pm_ref att; /* [B, NH, T, T] softmax probabilities */
    pm_ref y;   /* [N, C] before the projection */
    pm_ref u;   /* with an adapter: scale * inp A, [N, r] */
} pm_attention_acts;

typedef struct {
    pm_ref dqkv, datt, dy; /* as qkv, att, y */
    pm_ref du;             /* as u */
} pm_attention_scratch;

/* lora: the shape of c_attn's adapter (one group over all N rows), NULL for none. */
int pm_attention_fwd(pm_backend *be, pm_ref out, pm_ref inp, const pm_attention_params *w,
                     const pm_attention_acts *a, int B, int T, int C, int NH, const pm_adapter_shape *lora);
int pm_attention_bwd(pm_backend *be, pm_ref dinp, pm_ref dout, pm_ref inp,
                     const pm_attention_params *w, const pm_attention_params *g,
                     const pm_attention_acts *a, const pm_attention_scratch *s, int B, int T,
                     int C, int NH, const pm_adapter_shape *lora);

/* ---- dense MLP of hidden width H: out = proj(gelu(fc(inp))) ---- */

typedef struct {
    pm_ref fc_w, fc_b;     /* [C, H], [H] */
    pm_ref proj_w, proj_b; /* [H, C], [C] */
} pm_mlp_params;

typedef struct {
    pm_ref fch, fch_gelu; /* [rows, H] before and after the GELU */
} pm_mlp_acts;

int pm_mlp_fwd(pm_backend *be, pm_ref out, pm_ref inp, const pm_mlp_params *w,
               const pm_mlp_acts *a, int N, int C, int H);
/* dfch [N, H] is scratch. */
int pm_mlp_bwd(pm_backend *be, pm_ref dinp, pm_ref dout, pm_ref inp, const pm_mlp_params *w,
               const pm_mlp_params *g, const pm_mlp_acts *a, pm_ref dfch, int N, int C, int H);

/* ---- MoE MLP: a router picks top_k of E expert MLPs (hidden width H) per token ---- */

/* LoRA experts: expert e's MLP is the layer's base MLP with c_fc and c_proj each changed by
 * scale * A_e B_e (rank r), the adapters stacked by expert as full experts are. */
typedef struct {
    pm_ref fc_a, fc_b;     /* [C, r], [r, 4C] */
    pm_ref proj_a, proj_b; /* [4C, r], [r, C] */
} pm_lora_params;

typedef struct {
    pm_ref router_w;       /* [E, C] */
    pm_mlp_params experts; /* full experts: E stacked MLPs, expert e's tensors at e times their size */
    pm_mlp_params base;    /* LoRA experts: the shared MLP ... */
    pm_lora_params lora;   /* ... and the adapters */
} pm_moe_params;

typedef struct {
    pm_ref rlogits, probs, lse, ids, gates; /* router: [N, E], [N, E], [N], [N, k], [N, k] */
    pm_ref stats;                           /* [2E + 2], see router_stats */
    pm_ref offsets, slots, xp, yp;          /* dispatch: [E + 1], [N, k], [N k, C], [N k, C] */
    pm_mlp_acts experts;                    /* over the permuted rows, [N k, H] */
    pm_ref base_fch;                        /* LoRA: the base c_fc of the tokens, [N, 4C] */
    pm_ref u_fc, u_proj;                    /* LoRA: scale * rows x A, [N k, r] each */
    /* expert parallel: the rows received for the local experts, in expert order, before and
     * after them ([R N k, C] each; experts.* then span R N k rows), and their offsets [E/R + 1] */
    pm_ref xr, yr, ep_offsets;
} pm_moe_acts;

typedef struct {
    pm_ref dyp, dgates, dfch, dxp, drlogits; /* as yp, gates, experts.fch, xp, rlogits */
    pm_ref dbase, du;                        /* LoRA: as base_fch, u_fc */
    pm_ref dyr, dxr;                         /* expert parallel: as yr, xr (dfch then spans their rows) */
} pm_moe_scratch;

typedef struct {
    int N, C, E, k;
    int H;            /* an expert's hidden width (4C, or less for narrower full experts) */
    int capacity;     /* assignments an expert keeps; 0: dropless */
    int rank;         /* 0: full experts; r: LoRA experts of rank r */
    float lora_scale; /* alpha / r */
    pm_expert_parallel *ep; /* NULL, or this rank holds E/R of the experts ... */
    int layer;              /* ... and this is MoE layer `layer` (0-based among MoE layers) */
} pm_moe_shape;

/* With noise_std > 0 the router logits get noise of that std from stream noise_seed. */
int pm_moe_fwd(pm_backend *be, const pm_moe_shape *d, pm_ref out, pm_ref inp,
               const pm_moe_params *w, const pm_moe_acts *a, float noise_std, uint32_t noise_seed);
/* lb_coef, z_coef and ent_coef weigh the auxiliary losses and the router-entropy bonus
 * (already scaled as the LM loss is; see router_bwd in backends/ops.h). Weight
 * gradients whose ref in g has no buffer (frozen) are not computed. */
int pm_moe_bwd(pm_backend *be, const pm_moe_shape *d, pm_ref dinp, pm_ref dout, pm_ref inp,
               const pm_moe_params *w, const pm_moe_params *g, const pm_moe_acts *a,
               const pm_moe_scratch *s, float lb_coef, float z_coef, float ent_coef);

/* The experts of a LoRA MoE layer: after the dispatch (xp, offsets, slots) the forward
 * writes yp; the backward takes dyp and writes dinp (both paths: adapters through the
 * permuted rows, the base c_fc through the tokens). */
int pm_lora_experts_fwd(pm_backend *be, const pm_moe_shape *d, pm_ref inp, const pm_moe_params *w,
                        const pm_moe_acts *a);
int pm_lora_experts_bwd(pm_backend *be, const pm_moe_shape *d, pm_ref dinp, pm_ref inp, const pm_moe_params *w,
                        const pm_moe_params *g, const pm_moe_acts *a, const pm_moe_scratch *s);

#endif
