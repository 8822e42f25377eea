#include "model/layers.h"
#include "model/linear.h"

int pm_mlp_fwd(pm_backend *be, pm_ref out, pm_ref inp, const pm_mlp_params *w,
               const pm_mlp_acts *a, int N, int C, int H) {
    pm_linear_fwd(be, a->fch, inp, w->fc_w, w->fc_b, N, C, H);
    pm_op(be, gelu_fwd, a->fch_gelu, a->fch, (size_t)N * H);
    return pm_linear_fwd(be, out, a->fch_gelu, w->proj_w, w->proj_b, N, H, C);
}

int pm_mlp_bwd(pm_backend *be, pm_ref dinp, pm_ref dout, pm_ref inp, const pm_mlp_params *w,
               const pm_mlp_params *g, const pm_mlp_acts *a, pm_ref dfch, int N, int C, int H) {
    pm_linear_bwd(be, dfch, dout, a->fch_gelu, w->proj_w, g->proj_w, g->proj_b, N, H, C);
    pm_op(be, gelu_bwd, dfch, a->fch, dfch, (size_t)N * H);
    return pm_linear_bwd(be, dinp, dfch, inp, w->fc_w, g->fc_w, g->fc_b, N, C, H);
}
