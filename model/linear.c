#include "model/linear.h"

int pm_mm(pm_backend *be, int ta, int tb, int M, int N, int K, pm_ref a, pm_ref b, float beta,
          pm_ref c) {
    pm_gemm_desc d = {.trans_a = ta, .trans_b = tb, .m = M, .n = N, .k = K, .alpha = 1.0f,
                      .beta = beta, .lda = ta ? M : K, .ldb = tb ? K : N, .ldc = N, .batch = 1};
    return pm_op(be, gemm, &d, a, b, c);
}

int pm_linear_fwd(pm_backend *be, pm_ref out, pm_ref inp, pm_ref w, pm_ref b, int N, int ic,
                  int oc) {
    pm_mm(be, 0, 0, N, oc, ic, inp, w, 0.0f, out);
    return pm_op(be, bias_add, out, b, N, oc, 0, out); /* offsets unused without groups */
}

int pm_linear_bwd(pm_backend *be, pm_ref dinp, pm_ref dout, pm_ref inp, pm_ref w, pm_ref dw,
                  pm_ref db, int N, int ic, int oc) {
    int rc = pm_mm(be, 0, 1, N, ic, oc, dout, w, 0.0f, dinp);
    if (pm_has_grad(dw)) rc = pm_mm(be, 1, 0, ic, oc, N, inp, dout, 1.0f, dw);
    if (pm_has_grad(db)) rc = pm_op(be, bias_grad, db, dout, N, oc, 0, dout);
    return rc;
}
