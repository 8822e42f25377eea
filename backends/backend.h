/* polymoe backend interface: the one header the model, trainer, tests and benchmarks use.
 *
 * A backend is one device of one API (cpu, opencl, vulkan, cuda). The model holds opaque
 * buffers and calls ops; it never sees a device pointer. Every op returns a status, and a
 * failed op leaves its message in the backend ("backend opencl device 0 (name): gemm: ...").
 * Errors are sticky: after a failure every later op returns the same error without running,
 * so callers may check once at a sync point.
 *
 * Conventions for every op:
 *  - matrices are row-major; element offsets and strides count 4-byte elements;
 *  - float buffers are float32, index buffers (tokens, ids, slots, offsets) are int32;
 *  - "writes" means the output is overwritten, "adds" means it is accumulated into (+=);
 *    parameter gradients always accumulate so that micro-batches can add up.
 */
#ifndef POLYMOE_BACKEND_H
#define POLYMOE_BACKEND_H

#include <stddef.h>
#include <stdint.h>

typedef struct pm_backend pm_backend;
typedef struct pm_buf pm_buf;

/* A position inside a buffer: element `off` (4-byte elements) of `buf`. */
typedef struct {
    pm_buf *buf;
    size_t off;
} pm_ref;

static inline pm_ref pm_at(pm_buf *buf, size_t off) { return (pm_ref){buf, off}; }
static inline pm_ref pm_shift(pm_ref r, size_t by) { return (pm_ref){r.buf, r.off + by}; }

enum { PM_OK = 0, PM_ERR = 1 };

/* ---- devices and the registry ---- */

typedef struct {
    char name[128];          /* device name as its driver reports it */
    char api[64];            /* API version, e.g. "OpenCL 3.0", "Vulkan 1.3.230" */
    char driver[96];         /* driver name and version */
    uint64_t memory_bytes;   /* global memory; 0 when unknown */
    int is_gpu;              /* 1 for a real GPU, 0 for CPU implementations (PoCL, lavapipe) */
    double peak_gflops;      /* float32 peak when known, else 0 */
} pm_device_info;

/* Names of the backends compiled into this binary, in registry order. */
int pm_backend_count(void);
const char *pm_backend_name(int i);

/* Devices of backend `name`. Returns the count (0 when unavailable; `why` then says why). */
int pm_backend_devices(const char *name, pm_device_info *out, int max, char *why, size_t whylen);

/* Opens device `device` of backend `name`; "auto" picks the first GPU of cuda, vulkan, opencl,
 * in that order, else cpu. Returns NULL with `err` filled on failure. */
pm_backend *pm_backend_open(const char *name, int device, char *err, size_t errlen);
void pm_backend_close(pm_backend *be);

const char *pm_backend_kind(const pm_backend *be);          /* "cpu", "opencl", ... */
const pm_device_info *pm_backend_info(const pm_backend *be);

/* GEMM implementations this backend offers ("own", "openblas", "clblast", "cublas", ...),
 * NULL-terminated; the first is the default. Selecting an unknown name is an error. */
const char *const *pm_gemm_impls(const pm_backend *be);
int pm_select_gemm(pm_backend *be, const char *impl);
const char *pm_current_gemm(const pm_backend *be);

/* ---- errors ---- */

/* Records "backend B device D (name): op: message" and returns PM_ERR. The first error
 * stays: later failures do not overwrite it. Backends use it for their failures, and callers
 * for errors they find in their own arguments. */
int pm_fail(pm_backend *be, const char *op, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int pm_failed(const pm_backend *be);
const char *pm_error(const pm_backend *be);
void pm_clear_error(pm_backend *be);

/* ---- memory ---- */

pm_buf *pm_alloc(pm_backend *be, size_t bytes);          /* NULL (and error set) on failure */
void pm_free(pm_backend *be, pm_buf *buf);
size_t pm_buf_bytes(const pm_buf *buf);
int pm_upload(pm_backend *be, pm_buf *buf, const void *src, size_t off_bytes, size_t bytes);
int pm_download(pm_backend *be, const pm_buf *buf, void *dst, size_t off_bytes, size_t bytes);
int pm_sync(pm_backend *be);
size_t pm_bytes_in_use(const pm_backend *be);
size_t pm_peak_bytes(const pm_backend *be);

/* ---- ops ---- */

typedef struct {
    int trans_a, trans_b;        /* 0: as stored; 1: transposed */
    int m, n, k;                 /* C is m x n, op(A) is m x k, op(B) is k x n */
    float alpha, beta;
    int lda, ldb, ldc;           /* row strides of A, B, C as stored */
    int batch;                   /* >= 1 */
    long stride_a, stride_b, stride_c; /* element distance between batch items */
} pm_gemm_desc;

/* The op table. Each backend fills the entries it implements; NULL means unsupported and
 * calling it fails with a clear message. The model calls ops through pm_op() below. */
typedef struct pm_ops {
    /* C = alpha * op(A) * op(B) + beta * C, batched with strides. */
    int (*gemm)(pm_backend *, const pm_gemm_desc *d, pm_ref a, pm_ref b, pm_ref c);

    /* Grouped GEMM over expert segments: rows offsets[g]..offsets[g+1] of A (rows x k) times
     * op(B_g), B_g at B + g*k*n stored k x n (trans_b 0) or n x k (trans_b 1):
     * C[seg] = A[seg] * op(B_g) + beta * C[seg]. `rows` bounds offsets[groups]. */
    int (*gemm_grouped)(pm_backend *, int trans_b, int rows, int n, int k, int groups,
                        pm_ref offsets, pm_ref a, pm_ref b, float beta, pm_ref c);
    /* Weight gradient of a grouped GEMM: C_g (m x n, at C + g*m*n) =
     * A[seg]^T (m x rows_g) * D[seg] (rows_g x n) + beta * C_g. */
    int (*gemm_grouped_wgrad)(pm_backend *, int rows, int m, int n, int groups,
                              pm_ref offsets, pm_ref a, pm_ref d, float beta, pm_ref c);

    /* out[b,t,:] = wte[tokens[b,t],:] + wpe[t,:]  (writes out, n_tok = B*T). */
    int (*encoder_fwd)(pm_backend *, pm_ref out, pm_ref tokens, pm_ref wte, pm_ref wpe,
                       int B, int T, int C);
    /* dwte[tokens[b,t]] += dout[b,t]; dwpe[t] += dout[b,t]  (adds). */
    int (*encoder_bwd)(pm_backend *, pm_ref dwte, pm_ref dwpe, pm_ref dout, pm_ref tokens,
                       int B, int T, int C);

    /* out = a + b over n elements; out may alias a or b. */
    int (*add)(pm_backend *, pm_ref out, pm_ref a, pm_ref b, size_t n);
    /* x[i] = value */
    int (*fill)(pm_backend *, pm_ref x, size_t n, float value);
    /* GPT-2's tanh GELU: out = gelu(inp) (writes; may alias). */
    int (*gelu_fwd)(pm_backend *, pm_ref out, pm_ref inp, size_t n);
    /* dinp = gelu'(inp) * dout (writes; dinp may alias dout). */
    int (*gelu_bwd)(pm_backend *, pm_ref dinp, pm_ref inp, pm_ref dout, size_t n);

    /* out[r,:] += bias[:] for rows x cols. With groups > 0, bias holds `groups` rows and row r
     * of segment g (offsets[g] <= r < offsets[g+1]) takes bias row g; rows past
     * offsets[groups] are left alone. With groups == 0, offsets is ignored. */
    int (*bias_add)(pm_backend *, pm_ref out, pm_ref bias, int rows, int cols, int groups,
                    pm_ref offsets);
    /* dbias[g,:] += sum over the rows of segment g of dout[r,:] (adds; groups as bias_add). */
    int (*bias_grad)(pm_backend *, pm_ref dbias, pm_ref dout, int rows, int cols, int groups,
                     pm_ref offsets);

    /* Layernorm over the last dim (eps 1e-5): writes out, mean[N], rstd[N]. */
    int (*layernorm_fwd)(pm_backend *, pm_ref out, pm_ref mean, pm_ref rstd, pm_ref inp,
                         pm_ref w, pm_ref b, int N, int C);
    /* Adds to dinp, dw and db. */
    int (*layernorm_bwd)(pm_backend *, pm_ref dinp, pm_ref dw, pm_ref db, pm_ref dout,
                         pm_ref inp, pm_ref w, pm_ref mean, pm_ref rstd, int N, int C);

    /* Causal self-attention. qkv is [B,T,3C] (q, k, v, each NH heads of C/NH); writes
     * out [B,T,C] and the softmax probabilities att [B,NH,T,T] (entries above the diagonal 0). */
    int (*attention_fwd)(pm_backend *, pm_ref out, pm_ref att, pm_ref qkv, int B, int T, int C,
                         int NH);
    /* Writes dqkv [B,T,3C]; datt [B,NH,T,T] is scratch. */
    int (*attention_bwd)(pm_backend *, pm_ref dqkv, pm_ref datt, pm_ref dout, pm_ref qkv,
                         pm_ref att, int B, int T, int C, int NH);

    /* Softmax cross-entropy per row: losses[i] = -log softmax(logits[i])[targets[i]];
     * a row whose target is negative is ignored (loss 0). */
    int (*xent_fwd)(pm_backend *, pm_ref losses, pm_ref logits, pm_ref targets, int N, int V);
    /* dlogits = (softmax(logits) - onehot(target)) * dloss, 0 for ignored rows
     * (writes; dlogits may alias logits). */
    int (*xent_bwd)(pm_backend *, pm_ref dlogits, pm_ref logits, pm_ref targets, int N, int V,
                    float dloss);

    /* Router: probs = softmax(logits) [N,E], lse = logsumexp(logits) [N], ids [N,k] the k
     * largest probabilities in descending order, ties to the lower expert index, gates [N,k]:
     * k == 1: 1.0 (straight-through: the gradient reaches the probability, see router_bwd);
     * k >= 2: p / sum of the k selected p (renormalised). */
    int (*router_fwd)(pm_backend *, pm_ref probs, pm_ref lse, pm_ref ids, pm_ref gates,
                      pm_ref logits, int N, int E, int k);
    /* stats [2E+2] = { tokens routed to each expert (E, as floats, counting all k choices),
     * sum over tokens of probs (E), sum of lse^2, sum of router entropy -sum p ln p }. */
    int (*router_stats)(pm_backend *, pm_ref stats, pm_ref probs, pm_ref lse, pm_ref ids,
                        int N, int E, int k);
    /* Writes dlogits [N,E] from the gate gradients dgates [N,k] and the auxiliary losses
     * lb_coef * E * sum_i f_i P_i (f_i = count_i / (N k) from stats, P_i = mean prob) and
     * z_coef * mean(lse^2):
     *   dp[t,i] = gate part + lb_coef * E * f_i / N,   dlogits = softmax' (dp) + z part,
     * where the gate part is dgates[t,0] for the selected expert when k == 1 and the
     * derivative of the renormalised gates when k >= 2. */
    int (*router_bwd)(pm_backend *, pm_ref dlogits, pm_ref probs, pm_ref lse, pm_ref ids,
                      pm_ref dgates, pm_ref stats, int N, int E, int k, float lb_coef,
                      float z_coef);

    /* Dispatch plan: histogram of ids [N,k] -> offsets [E+1] (exclusive prefix sum of the kept
     * counts) -> slots [N,k]: the row of assignment (t,j) in expert-contiguous order, stable
     * (by t, then j) inside each expert; with capacity > 0 an expert keeps only its first
     * `capacity` assignments and the others get slot -1 (dropped). */
    int (*moe_plan)(pm_backend *, pm_ref offsets, pm_ref slots, pm_ref ids, int N, int E,
                    int k, int capacity);
    /* xp[slots[t,j],:] = x[t,:] for kept assignments (writes). */
    int (*moe_permute)(pm_backend *, pm_ref xp, pm_ref x, pm_ref slots, int N, int k, int C);
    /* dx[t,:] = sum over kept j of dxp[slots[t,j],:] (writes). */
    int (*moe_permute_bwd)(pm_backend *, pm_ref dx, pm_ref dxp, pm_ref slots, int N, int k,
                           int C);
    /* y[t,:] = sum over kept j of gates[t,j] * yp[slots[t,j],:] (writes; 0 if all dropped). */
    int (*moe_combine)(pm_backend *, pm_ref y, pm_ref yp, pm_ref slots, pm_ref gates, int N,
                       int k, int C);
    /* dyp[slot] = gates[t,j] * dy[t]; dgates[t,j] = dot(dy[t], yp[slot]) (0 when dropped). */
    int (*moe_combine_bwd)(pm_backend *, pm_ref dyp, pm_ref dgates, pm_ref dy, pm_ref yp,
                           pm_ref slots, pm_ref gates, int N, int k, int C);

    /* x[i] += std * z(seed, i), z the standard normal of pm_rng.h (same on every backend). */
    int (*add_noise)(pm_backend *, pm_ref x, size_t n, float std, uint32_t seed);
    /* out[0] = sum of x[i]^2 (writes one float). */
    int (*sumsq)(pm_backend *, pm_ref out, pm_ref x, size_t n);
    /* AdamW on n parameters; g is scaled by grad_scale first; step counts from 1. */
    int (*adamw)(pm_backend *, pm_ref params, pm_ref grads, pm_ref m, pm_ref v, size_t n,
                 float lr, float beta1, float beta2, float eps, float weight_decay,
                 int step, float grad_scale);
} pm_ops;

/* The op table of an open backend. */
const pm_ops *pm_backend_ops(const pm_backend *be);

/* Fails with "<op>: not supported" naming the backend; returns PM_ERR. */
int pm_unsupported(pm_backend *be, const char *op);

/* Calls op `name` on `be`: returns the sticky error if there is one, fails cleanly when the
 * backend lacks the op. Example: pm_op(be, add, out, a, b, n). */
#define pm_op(be, name, ...)                                                            \
    (pm_failed(be) ? PM_ERR                                                             \
     : pm_backend_ops(be)->name ? pm_backend_ops(be)->name((be), __VA_ARGS__)           \
                                : pm_unsupported((be), #name))

#endif
