/* The non-GEMM ops on CUDA: argument checks the CPU reference also makes, then the launcher
 * of kernels/cuda/<family>.cu, whose launch status becomes the op's status. Bounds that
 * only the data can break (token ids, targets, expert ids, slots) are checked by the kernels
 * against the buffer sizes given here, and reported at the next sync point. */
#include "backends/cuda/cuda_internal.h"

#include <math.h>

/* ---- elementwise.cu ---- */

int cuda_encoder_fwd(pm_backend *be, pm_ref out, pm_ref tokens, pm_ref wte, pm_ref wpe, int B,
                     int T, int C) {
    return cuda_check(be, "encoder_fwd",
                      cuk_encoder_fwd(cuda_stream(be), pm_f32(out), pm_i32(tokens), pm_f32(wte),
                                      pm_f32(wpe), B, T, C, cuda_rows_in(wte, C), cuda_fault(be)));
}

int cuda_encoder_bwd(pm_backend *be, pm_ref dwte, pm_ref dwpe, pm_ref dout, pm_ref tokens, int B,
                     int T, int C) {
    return cuda_check(be, "encoder_bwd",
                      cuk_encoder_bwd(cuda_stream(be), pm_f32(dwte), pm_f32(dwpe), pm_f32(dout),
                                      pm_i32(tokens), B, T, C, cuda_rows_in(dwte, C),
                                      cuda_fault(be)));
}

int cuda_add(pm_backend *be, pm_ref out, pm_ref a, pm_ref b, size_t n) {
    return cuda_check(be, "add", cuk_add(cuda_stream(be), pm_f32(out), pm_f32(a), pm_f32(b), n));
}

int cuda_fill(pm_backend *be, pm_ref x, size_t n, float value) {
    return cuda_check(be, "fill", cuk_fill(cuda_stream(be), pm_f32(x), n, value));
}

int cuda_gelu_fwd(pm_backend *be, pm_ref out, pm_ref inp, size_t n) {
    return cuda_check(be, "gelu_fwd", cuk_gelu_fwd(cuda_stream(be), pm_f32(out), pm_f32(inp), n));
}

int cuda_gelu_bwd(pm_backend *be, pm_ref dinp, pm_ref inp, pm_ref dout, size_t n) {
    return cuda_check(be, "gelu_bwd", cuk_gelu_bwd(cuda_stream(be), pm_f32(dinp), pm_f32(inp),
                                                   pm_f32(dout), n));
}

/* Offsets are read only with groups > 0 (the reference ignores them otherwise). */
static const int32_t *group_offsets(pm_ref offsets, int groups) {
    return groups > 0 ? pm_i32(offsets) : NULL;
}

int cuda_bias_add(pm_backend *be, pm_ref out, pm_ref bias, int rows, int cols, int groups,
                  pm_ref offsets) {
    return cuda_check(be, "bias_add",
                      cuk_bias_add(cuda_stream(be), pm_f32(out), pm_f32(bias), rows, cols, groups,
                                   group_offsets(offsets, groups)));
}

int cuda_bias_grad(pm_backend *be, pm_ref dbias, pm_ref dout, int rows, int cols, int groups,
                   pm_ref offsets) {
    return cuda_check(be, "bias_grad",
                      cuk_bias_grad(cuda_stream(be), pm_f32(dbias), pm_f32(dout), rows, cols,
                                    groups, group_offsets(offsets, groups)));
}

int cuda_add_noise(pm_backend *be, pm_ref x, size_t n, float std, uint32_t seed) {
    return cuda_check(be, "add_noise", cuk_add_noise(cuda_stream(be), pm_f32(x), n, std, seed));
}

/* ---- layernorm.cu ---- */

int cuda_layernorm_fwd(pm_backend *be, pm_ref out, pm_ref mean, pm_ref rstd, pm_ref inp,
                       pm_ref w, pm_ref b, int N, int C) {
    return cuda_check(be, "layernorm_fwd",
                      cuk_layernorm_fwd(cuda_stream(be), pm_f32(out), pm_f32(mean), pm_f32(rstd),
                                        pm_f32(inp), pm_f32(w), pm_f32(b), N, C));
}

int cuda_layernorm_bwd(pm_backend *be, pm_ref dinp, pm_ref dw, pm_ref db, pm_ref dout,
                       pm_ref inp, pm_ref w, pm_ref mean, pm_ref rstd, int N, int C) {
    return cuda_check(be, "layernorm_bwd",
                      cuk_layernorm_bwd(cuda_stream(be), pm_f32(dinp), pm_f32(dw), pm_f32(db),
                                        pm_f32(dout), pm_f32(inp), pm_f32(w), pm_f32(mean),
                                        pm_f32(rstd), N, C));
}

/* ---- loss.cu ---- */

int cuda_xent_fwd(pm_backend *be, pm_ref losses, pm_ref logits, pm_ref targets, int N, int V) {
    return cuda_check(be, "xent_fwd",
                      cuk_xent_fwd(cuda_stream(be), pm_f32(losses), pm_f32(logits),
                                   pm_i32(targets), N, V, cuda_fault(be)));
}

int cuda_xent_bwd(pm_backend *be, pm_ref dlogits, pm_ref logits, pm_ref targets, int N, int V,
                  float dloss) {
    return cuda_check(be, "xent_bwd",
                      cuk_xent_bwd(cuda_stream(be), pm_f32(dlogits), pm_f32(logits),
                                   pm_i32(targets), N, V, dloss, cuda_fault(be)));
}

/* ---- router.cu ---- */

static int check_experts(pm_backend *be, const char *op, int E) {
    if (E < 1 || E > CUK_MAX_EXPERTS)
        return pm_fail(be, op, "%d experts: the CUDA kernels take 1..%d", E, CUK_MAX_EXPERTS);
    return PM_OK;
}

int cuda_router_fwd(pm_backend *be, pm_ref probs, pm_ref lse, pm_ref ids, pm_ref gates,
                    pm_ref logits, int N, int E, int k) {
    if (check_experts(be, "router_fwd", E) != PM_OK) return PM_ERR;
    if (k < 1 || k > E) return pm_fail(be, "router_fwd", "top-k %d outside 1..E=%d", k, E);
    return cuda_check(be, "router_fwd",
                      cuk_router_fwd(cuda_stream(be), pm_f32(probs), pm_f32(lse), pm_i32(ids),
                                     pm_f32(gates), pm_f32(logits), N, E, k));
}

int cuda_router_stats(pm_backend *be, pm_ref stats, pm_ref probs, pm_ref lse, pm_ref ids, int N,
                      int E, int k) {
    return cuda_check(be, "router_stats",
                      cuk_router_stats(cuda_stream(be), pm_f32(stats), pm_f32(probs), pm_f32(lse),
                                       pm_i32(ids), N, E, k));
}

int cuda_router_bwd(pm_backend *be, pm_ref dlogits, pm_ref probs, pm_ref lse, pm_ref ids,
                    pm_ref dgates, pm_ref stats, int N, int E, int k, float lb_coef,
                    float z_coef) {
    return cuda_check(be, "router_bwd",
                      cuk_router_bwd(cuda_stream(be), pm_f32(dlogits), pm_f32(probs), pm_f32(lse),
                                     pm_i32(ids), pm_f32(dgates), pm_f32(stats), N, E, k, lb_coef,
                                     z_coef, cuda_fault(be)));
}

/* ---- dispatch.cu ---- */

/* Rows that both permuted buffers hold: the bound every slot must respect. */
static long slot_rows(pm_ref a, pm_ref b, int C) {
    long ra = cuda_rows_in(a, C), rb = cuda_rows_in(b, C);
    return ra < rb ? ra : rb;
}

int cuda_moe_plan(pm_backend *be, pm_ref offsets, pm_ref slots, pm_ref ids, int N, int E, int k,
                  int capacity) {
    const char *op = "moe_plan";
    void *scratch;
    if (check_experts(be, op, E) != PM_OK ||
        cuda_scratch(be, op, cuk_plan_scratch_ints((long)N * k, E) * sizeof(int32_t),
                     &scratch) != PM_OK)
        return PM_ERR;
    return cuda_check(be, op, cuk_moe_plan(cuda_stream(be), pm_i32(offsets), pm_i32(slots),
                                           pm_i32(ids), N, E, k, capacity, scratch,
                                           cuda_fault(be)));
}

int cuda_moe_permute(pm_backend *be, pm_ref xp, pm_ref x, pm_ref slots, int N, int k, int C) {
    return cuda_check(be, "moe_permute",
                      cuk_moe_permute(cuda_stream(be), pm_f32(xp), pm_f32(x), pm_i32(slots), N, k,
                                      C, cuda_rows_in(xp, C), cuda_fault(be)));
}

int cuda_moe_permute_bwd(pm_backend *be, pm_ref dx, pm_ref dxp, pm_ref slots, int N, int k,
                         int C) {
    return cuda_check(be, "moe_permute_bwd",
                      cuk_moe_permute_bwd(cuda_stream(be), pm_f32(dx), pm_f32(dxp), pm_i32(slots),
                                          N, k, C, cuda_rows_in(dxp, C), cuda_fault(be)));
}

int cuda_moe_combine(pm_backend *be, pm_ref y, pm_ref yp, pm_ref slots, pm_ref gates, int N,
                     int k, int C) {
    return cuda_check(be, "moe_combine",
                      cuk_moe_combine(cuda_stream(be), pm_f32(y), pm_f32(yp), pm_i32(slots),
                                      pm_f32(gates), N, k, C, cuda_rows_in(yp, C),
                                      cuda_fault(be)));
}

int cuda_moe_combine_bwd(pm_backend *be, pm_ref dyp, pm_ref dgates, pm_ref dy, pm_ref yp,
                         pm_ref slots, pm_ref gates, int N, int k, int C) {
    return cuda_check(be, "moe_combine_bwd",
                      cuk_moe_combine_bwd(cuda_stream(be), pm_f32(dyp), pm_f32(dgates),
                                          pm_f32(dy), pm_f32(yp), pm_i32(slots), pm_f32(gates), N,
                                          k, C, slot_rows(yp, dyp, C), cuda_fault(be)));
}

/* ---- optimizer.cu ---- */

int cuda_sumsq(pm_backend *be, pm_ref out, pm_ref x, size_t n) {
    void *scratch;
    if (cuda_scratch(be, "sumsq", cuk_sumsq_scratch_bytes(), &scratch) != PM_OK) return PM_ERR;
    return cuda_check(be, "sumsq", cuk_sumsq(cuda_stream(be), pm_f32(out), pm_f32(x), n, scratch));
}

int cuda_adamw(pm_backend *be, pm_ref params, pm_ref grads, pm_ref m, pm_ref v, size_t n,
               float lr, float beta1, float beta2, float eps, float weight_decay, int step,
               float grad_scale) {
    const float c1 = (float)(1.0 - pow(beta1, step)), c2 = (float)(1.0 - pow(beta2, step));
    return cuda_check(be, "adamw",
                      cuk_adamw(cuda_stream(be), pm_f32(params), pm_f32(grads), pm_f32(m),
                                pm_f32(v), n, lr, beta1, beta2, eps, weight_decay, c1, c2,
                                grad_scale));
}
