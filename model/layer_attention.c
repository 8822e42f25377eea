#include "model/layers.h"
#include "model/linear.h"

int pm_attention_fwd(pm_backend *be, pm_ref out, pm_ref inp, const pm_attention_params *w,
                     const pm_attention_acts *a, int B, int T, int C, int NH, const pm_adapter_shape *lora) {
    int N = B * T;
    pm_linear_fwd(be, a->qkv, inp, w->qkv_w, w->qkv_b, N, C, 3 * C);
    if (lora) pm_adapter_fwd(be, lora, a->qkv, inp, w->qkv_lora_a, w->qkv_lora_b, a->u, C, 3 * C);
    pm_op(be, attention_fwd, a->y, a->att, a->qkv, B, T, C, NH);
    return pm_linear_fwd(be, out, a->y, w->proj_w, w->proj_b, N, C, C);
}

int pm_attention_bwd(pm_backend *be, pm_ref dinp, pm_ref dout, pm_ref inp,
                     const pm_attention_params *w, const pm_attention_params *g,
                     const pm_attention_acts *a, const pm_attention_scratch *s, int B, int T,
                     int C, int NH, const pm_adapter_shape *lora) {
    int N = B * T;
    pm_linear_bwd(be, s->dy, dout, a->y, w->proj_w, g->proj_w, g->proj_b, N, C, C);
    pm_op(be, attention_bwd, s->dqkv, s->datt, s->dy, a->qkv, a->att, B, T, C, NH);
    int rc = pm_linear_bwd(be, dinp, s->dqkv, inp, w->qkv_w, g->qkv_w, g->qkv_b, N, C, 3 * C);
    if (lora)
        rc = pm_adapter_bwd(be, lora, dinp, s->dqkv, 1.0f, inp, a->u, w->qkv_lora_a, w->qkv_lora_b, g->qkv_lora_a,
                            g->qkv_lora_b, s->du, C, 3 * C);
    return rc;
}
