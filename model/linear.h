/* The GEMM and linear layer every layer of the model is made of. Weights are stored as GPT-2
 * stores them, [in, out], so y = x W + b needs no transpose. */
#ifndef POLYMOE_LINEAR_H
#define POLYMOE_LINEAR_H

#include "backends/backend.h"

/* C[M,N] = op(A) op(B) + beta C with tight row strides. */
int pm_mm(pm_backend *be, int ta, int tb, int M, int N, int K, pm_ref a, pm_ref b, float beta,
          pm_ref c);

/* out[N,oc] = inp[N,ic] w[ic,oc] + b (writes out). */
int pm_linear_fwd(pm_backend *be, pm_ref out, pm_ref inp, pm_ref w, pm_ref b, int N, int ic,
                  int oc);

/* A gradient ref without a buffer stands for a frozen tensor: nothing is computed for it. */
static inline int pm_has_grad(pm_ref g) { return g.buf != NULL; }

/* dinp = dout w^T (writes); dw += inp^T dout; db += column sums of dout; dw and db only when
 * they have a buffer. */
int pm_linear_bwd(pm_backend *be, pm_ref dinp, pm_ref dout, pm_ref inp, pm_ref w, pm_ref dw,
                  pm_ref db, int N, int ic, int oc);

#endif
