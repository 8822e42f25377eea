/* The ops of the backend interface: one function type per op (its contract), and PM_OPS, the
 * one list of op names that everything else is generated from: the op table pm_ops, each
 * backend's prototypes and table (PM_DECLARE_OPS, PM_OP_TABLE in backend_impl.h), and the
 * name list `polymoe check` holds its cases against (pm_op_name). A new op is a type here,
 * its name in PM_OPS, an implementation per backend and a conformance case.
 * Included by backend.h; not meant to be included on its own. */
#ifndef POLYMOE_OPS_H
#define POLYMOE_OPS_H

typedef struct {
    int trans_a, trans_b;        /* 0: as stored; 1: transposed */
    int m, n, k;                 /* C is m x n, op(A) is m x k, op(B) is k x n */
    float alpha, beta;
    int lda, ldb, ldc;           /* row strides of A, B, C as stored */
    int batch;                   /* >= 1 */
    long stride_a, stride_b, stride_c; /* element distance between batch items */
} pm_gemm_desc;

/* C = alpha * op(A) * op(B) + beta * C, batched with strides. */
typedef int pm_gemm_fn(pm_backend *, const pm_gemm_desc *d, pm_ref a, pm_ref b, pm_ref c);

/* Grouped GEMM over expert segments: rows offsets[g]..offsets[g+1] of A (rows x k) times
 * op(B_g), B_g at B + g*k*n stored k x n (trans_b 0) or n x k (trans_b 1):
 * C[seg] = A[seg] * op(B_g) + beta * C[seg]. `rows` bounds offsets[groups]. */
typedef int pm_gemm_grouped_fn(pm_backend *, int trans_b, int rows, int n, int k, int groups,
                               pm_ref offsets, pm_ref a, pm_ref b, float beta, pm_ref c);

/* Weight gradient of a grouped GEMM: C_g (m x n, at C + g*m*n) =
 * A[seg]^T (m x rows_g) * D[seg] (rows_g x n) + beta * C_g. */
typedef int pm_gemm_grouped_wgrad_fn(pm_backend *, int rows, int m, int n, int groups,
                                     pm_ref offsets, pm_ref a, pm_ref d, float beta, pm_ref c);

/* out[b,t,:] = wte[tokens[b,t],:] + wpe[t,:]  (writes out, n_tok = B*T). */
typedef int pm_encoder_fwd_fn(pm_backend *, pm_ref out, pm_ref tokens, pm_ref wte, pm_ref wpe,
                              int B, int T, int C);

/* dwte[tokens[b,t]] += dout[b,t]; dwpe[t] += dout[b,t]  (adds). */
typedef int pm_encoder_bwd_fn(pm_backend *, pm_ref dwte, pm_ref dwpe, pm_ref dout, pm_ref tokens,
                              int B, int T, int C);

/* out = a + b over n elements; out may alias a or b. */
typedef int pm_add_fn(pm_backend *, pm_ref out, pm_ref a, pm_ref b, size_t n);

/* x[i] = value */
typedef int pm_fill_fn(pm_backend *, pm_ref x, size_t n, float value);

/* x[i] *= alpha (in place; LoRA scales its adapter's output by alpha / r). */
typedef int pm_scale_fn(pm_backend *, pm_ref x, size_t n, float alpha);

/* GPT-2's tanh GELU: out = gelu(inp) (writes; may alias). */
typedef int pm_gelu_fwd_fn(pm_backend *, pm_ref out, pm_ref inp, size_t n);

/* dinp = gelu'(inp) * dout (writes; dinp may alias dout). */
typedef int pm_gelu_bwd_fn(pm_backend *, pm_ref dinp, pm_ref inp, pm_ref dout, size_t n);

/* out[r,:] += bias[:] for rows x cols. With groups > 0, bias holds `groups` rows and row r
 * of segment g (offsets[g] <= r < offsets[g+1]) takes bias row g; rows past
 * offsets[groups] are left alone. With groups == 0, offsets is ignored. */
typedef int pm_bias_add_fn(pm_backend *, pm_ref out, pm_ref bias, int rows, int cols, int groups,
                           pm_ref offsets);

/* dbias[g,:] += sum over the rows of segment g of dout[r,:] (adds; groups as bias_add). */
typedef int pm_bias_grad_fn(pm_backend *, pm_ref dbias, pm_ref dout, int rows, int cols, int groups,
                            pm_ref offsets);

/* Layernorm over the last dim (eps 1e-5): writes out, mean[N], rstd[N]. */
typedef int pm_layernorm_fwd_fn(pm_backend *, pm_ref out, pm_ref mean, pm_ref rstd, pm_ref inp,
                                pm_ref w, pm_ref b, int N, int C);

/* Adds to dinp, dw and db. */
typedef int pm_layernorm_bwd_fn(pm_backend *, pm_ref dinp, pm_ref dw, pm_ref db, pm_ref dout,
                                pm_ref inp, pm_ref w, pm_ref mean, pm_ref rstd, int N, int C);

/* Causal self-attention. qkv is [B,T,3C] (q, k, v, each NH heads of C/NH); writes
 * out [B,T,C] and the softmax probabilities att [B,NH,T,T] (entries above the diagonal 0). */
typedef int pm_attention_fwd_fn(pm_backend *, pm_ref out, pm_ref att, pm_ref qkv, int B, int T,
                                int C, int NH);

/* Writes dqkv [B,T,3C]; datt [B,NH,T,T] is scratch. */
typedef int pm_attention_bwd_fn(pm_backend *, pm_ref dqkv, pm_ref datt, pm_ref dout, pm_ref qkv,
                                pm_ref att, int B, int T, int C, int NH);

/* Softmax cross-entropy per row: losses[i] = -log softmax(logits[i])[targets[i]];
 * a row whose target is negative is ignored (loss 0). */
typedef int pm_xent_fwd_fn(pm_backend *, pm_ref losses, pm_ref logits, pm_ref targets, int N,
                           int V);

/* dlogits = (softmax(logits) - onehot(target)) * dloss, 0 for ignored rows
 * (writes; dlogits may alias logits). */
typedef int pm_xent_bwd_fn(pm_backend *, pm_ref dlogits, pm_ref logits, pm_ref targets, int N,
                           int V, float dloss);

/* Router: probs = softmax(logits) [N,E], lse = logsumexp(logits) [N], ids [N,k] the k
 * largest probabilities in descending order, ties to the lower expert index, gates [N,k]:
 * k == 1: 1.0 (straight-through: the gradient reaches the probability, see router_bwd);
 * k >= 2: p / sum of the k selected p (renormalised). */
typedef int pm_router_fwd_fn(pm_backend *, pm_ref probs, pm_ref lse, pm_ref ids, pm_ref gates,
                             pm_ref logits, int N, int E, int k);

/* stats [2E+2] = { tokens routed to each expert (E, as floats, counting all k choices),
 * sum over tokens of probs (E), sum of lse^2, sum of router entropy -sum p ln p }. */
typedef int pm_router_stats_fn(pm_backend *, pm_ref stats, pm_ref probs, pm_ref lse, pm_ref ids,
                               int N, int E, int k);

/* Writes dlogits [N,E] from the gate gradients dgates [N,k] and the auxiliary losses
 * lb_coef * E * sum_i f_i P_i (f_i = count_i / (N k) from stats, P_i = mean prob),
 * z_coef * mean(lse^2) and the entropy bonus -ent_coef * mean_t H_t (H_t = -sum_i p ln p
 * of token t's probabilities, 0 ln 0 = 0):
 *   dp[t,i] = gate part + lb_coef * E * f_i / N,
 *   dlogits = softmax' (dp) + z part + ent_coef / N * p_i (ln p_i + H_t),
 * where the gate part is dgates[t,0] for the selected expert when k == 1 and the
 * derivative of the renormalised gates when k >= 2. */
typedef int pm_router_bwd_fn(pm_backend *, pm_ref dlogits, pm_ref probs, pm_ref lse, pm_ref ids,
                             pm_ref dgates, pm_ref stats, int N, int E, int k, float lb_coef,
                             float z_coef, float ent_coef);

/* Dispatch plan: histogram of ids [N,k] -> offsets [E+1] (exclusive prefix sum of the kept
 * counts) -> slots [N,k]: the row of assignment (t,j) in expert-contiguous order, stable
 * (by t, then j) inside each expert; with capacity > 0 an expert keeps only its first
 * `capacity` assignments and the others get slot -1 (dropped). */
typedef int pm_moe_plan_fn(pm_backend *, pm_ref offsets, pm_ref slots, pm_ref ids, int N, int E,
                           int k, int capacity);

/* xp[slots[t,j],:] = x[t,:] for kept assignments (writes). */
typedef int pm_moe_permute_fn(pm_backend *, pm_ref xp, pm_ref x, pm_ref slots, int N, int k, int C);

/* dx[t,:] = sum over kept j of dxp[slots[t,j],:] (writes). */
typedef int pm_moe_permute_bwd_fn(pm_backend *, pm_ref dx, pm_ref dxp, pm_ref slots, int N, int k,
                                  int C);

/* y[t,:] = sum over kept j of gates[t,j] * yp[slots[t,j],:] (writes; 0 if all dropped). */
typedef int pm_moe_combine_fn(pm_backend *, pm_ref y, pm_ref yp, pm_ref slots, pm_ref gates, int N,
                              int k, int C);

/* dyp[slot] = gates[t,j] * dy[t]; dgates[t,j] = dot(dy[t], yp[slot]) (0 when dropped). */
typedef int pm_moe_combine_bwd_fn(pm_backend *, pm_ref dyp, pm_ref dgates, pm_ref dy, pm_ref yp,
                                  pm_ref slots, pm_ref gates, int N, int k, int C);

/* x[i] += std * z(seed, i), z the standard normal of pm_rng.h (same on every backend). */
typedef int pm_add_noise_fn(pm_backend *, pm_ref x, size_t n, float std, uint32_t seed);

/* out[0] = sum of x[i]^2 (writes one float). */
typedef int pm_sumsq_fn(pm_backend *, pm_ref out, pm_ref x, size_t n);

/* AdamW on n parameters; g is scaled by grad_scale first; step counts from 1. */
typedef int pm_adamw_fn(pm_backend *, pm_ref params, pm_ref grads, pm_ref m, pm_ref v, size_t n,
                        float lr, float beta1, float beta2, float eps, float weight_decay, int step,
                        float grad_scale);

/* Every op, in table order: X(arg, name) for each. */
#define PM_OPS(X, arg)                                                                          \
    X(arg, gemm) X(arg, gemm_grouped) X(arg, gemm_grouped_wgrad) X(arg, encoder_fwd)            \
    X(arg, encoder_bwd) X(arg, add) X(arg, fill) X(arg, scale) X(arg, gelu_fwd)                 \
    X(arg, gelu_bwd) X(arg, bias_add) X(arg, bias_grad) X(arg, layernorm_fwd)                   \
    X(arg, layernorm_bwd) X(arg, attention_fwd) X(arg, attention_bwd) X(arg, xent_fwd)          \
    X(arg, xent_bwd) X(arg, router_fwd) X(arg, router_stats) X(arg, router_bwd)                 \
    X(arg, moe_plan) X(arg, moe_permute) X(arg, moe_permute_bwd) X(arg, moe_combine)            \
    X(arg, moe_combine_bwd) X(arg, add_noise) X(arg, sumsq) X(arg, adamw)

/* How many ops there are. */
enum {
#define PM_OP_ONE(arg, name) +1
    PM_OP_COUNT = 0 PM_OPS(PM_OP_ONE, _)
#undef PM_OP_ONE
};

/* The op table: one pointer per op, named as the op. NULL means unsupported; calling it
 * through pm_op() fails with a clear message. */
typedef struct pm_ops {
#define PM_OP_FIELD(arg, name) pm_##name##_fn *name;
    PM_OPS(PM_OP_FIELD, _)
#undef PM_OP_FIELD
} pm_ops;

#endif
