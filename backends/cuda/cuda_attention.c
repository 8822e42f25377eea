/* Causal self-attention on CUDA as GEMMs (through the selected GEMM implementation) around the
 * causal softmax kernels. Each batch item b is one strided-batched GEMM over the NH heads:
 * head h of q, k, v sits at column h * hs of the [T, 3C] rows of qkv. The products run over
 * the full T x T square; the softmax kernels zero everything above the diagonal, so the upper
 * half contributes nothing (att, as written by attention_fwd, is zero there). */
#include "backends/cuda/cuda_internal.h"

#include <math.h>

/* One product per batch item: item b reads a + b * a_step, b + b * b_step, writes
 * c + b * c_step (element steps). */
static int per_item(pm_backend *be, const char *op, const pm_gemm_desc *d, int B, const float *a,
                    size_t a_step, const float *b, size_t b_step, float *c, size_t c_step) {
    for (int i = 0; i < B; i++)
        if (cuda_matmul(be, op, d, a + i * a_step, b + i * b_step, c + i * c_step) != PM_OK)
            return PM_ERR;
    return PM_OK;
}

/* A T x n product per head: A rows `lda` apart, heads `sa` apart, and likewise for B and C. */
static pm_gemm_desc head_gemm(int ta, int tb, int T, int n, int k, float alpha, int lda, long sa,
                              int ldb, long sb, int ldc, long sc, int NH) {
    return (pm_gemm_desc){.trans_a = ta, .trans_b = tb, .m = T, .n = n, .k = k, .alpha = alpha,
                          .beta = 0.0f, .lda = lda, .ldb = ldb, .ldc = ldc, .batch = NH,
                          .stride_a = sa, .stride_b = sb, .stride_c = sc};
}

static int check_heads(pm_backend *be, const char *op, int C, int NH) {
    if (NH <= 0 || C % NH) return pm_fail(be, op, "C=%d is not a multiple of NH=%d", C, NH);
    return PM_OK;
}

int cuda_attention_fwd(pm_backend *be, pm_ref out, pm_ref att, pm_ref qkv, int B, int T, int C,
                       int NH) {
    const char *op = "attention_fwd";
    if (check_heads(be, op, C, NH) != PM_OK) return PM_ERR;
    const int hs = C / NH;
    const long TT = (long)T * T;
    const size_t qkv_step = (size_t)T * 3 * C, att_step = (size_t)NH * TT;
    const float *q = pm_f32(qkv);
    /* att = scale * q k^T */
    pm_gemm_desc scores = head_gemm(0, 1, T, T, hs, (float)(1.0 / sqrt(hs)), 3 * C, hs, 3 * C,
                                    hs, T, TT, NH);
    if (per_item(be, op, &scores, B, q, qkv_step, q + C, qkv_step, pm_f32(att), att_step) != PM_OK)
        return PM_ERR;
    if (cuda_check(be, op, cuk_causal_softmax_fwd(cuda_stream(be), pm_f32(att),
                                                  (long)B * NH * T, T)) != PM_OK)
        return PM_ERR;
    /* out = att v */
    pm_gemm_desc mix = head_gemm(0, 0, T, hs, T, 1.0f, T, TT, 3 * C, hs, C, hs, NH);
    return per_item(be, op, &mix, B, pm_f32(att), att_step, q + 2 * C, qkv_step, pm_f32(out),
                    (size_t)T * C);
}

int cuda_attention_bwd(pm_backend *be, pm_ref dqkv, pm_ref datt, pm_ref dout, pm_ref qkv,
                       pm_ref att, int B, int T, int C, int NH) {
    const char *op = "attention_bwd";
    if (check_heads(be, op, C, NH) != PM_OK) return PM_ERR;
    const int hs = C / NH;
    const long TT = (long)T * T;
    const size_t qkv_step = (size_t)T * 3 * C, att_step = (size_t)NH * TT, out_step = (size_t)T * C;
    const float *q = pm_f32(qkv), *dy = pm_f32(dout), *a = pm_f32(att);
    float *dq = pm_f32(dqkv), *da = pm_f32(datt);
    /* datt = dout v^T;  dv = att^T dout */
    pm_gemm_desc d_att = head_gemm(0, 1, T, T, hs, 1.0f, C, hs, 3 * C, hs, T, TT, NH);
    pm_gemm_desc d_v = head_gemm(1, 0, T, hs, T, 1.0f, T, TT, C, hs, 3 * C, hs, NH);
    if (per_item(be, op, &d_att, B, dy, out_step, q + 2 * C, qkv_step, da, att_step) != PM_OK ||
        per_item(be, op, &d_v, B, a, att_step, dy, out_step, dq + 2 * C, qkv_step) != PM_OK)
        return PM_ERR;
    /* through the softmax and the scale, in place: datt becomes d(q k^T) */
    if (cuda_check(be, op, cuk_causal_softmax_bwd(cuda_stream(be), da, a, (long)B * NH * T, T,
                                                  (float)(1.0 / sqrt(hs)))) != PM_OK)
        return PM_ERR;
    /* dq = datt k;  dk = datt^T q */
    pm_gemm_desc d_q = head_gemm(0, 0, T, hs, T, 1.0f, T, TT, 3 * C, hs, 3 * C, hs, NH);
    pm_gemm_desc d_k = head_gemm(1, 0, T, hs, T, 1.0f, T, TT, 3 * C, hs, 3 * C, hs, NH);
    if (per_item(be, op, &d_q, B, da, att_step, q + C, qkv_step, dq, qkv_step) != PM_OK ||
        per_item(be, op, &d_k, B, da, att_step, q, qkv_step, dq + C, qkv_step) != PM_OK)
        return PM_ERR;
    return PM_OK;
}
