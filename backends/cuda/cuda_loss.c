/* Softmax cross-entropy on CUDA (kernels/cuda/loss.cu); the kernels check targets < V. */
#include "backends/cuda/cuda_internal.h"

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
