/* The fast CPU backend: host memory, the reference table with the ops that carry a training
 * step's time replaced by fast ones (cpu_ops.h). Threads: OpenMP only; OpenBLAS is told to
 * use one thread, and the GEMMs are split into blocks by this backend (gemm.c), so BLAS
 * threads and OpenMP threads never wait on each other. */
#include "../ref/host.h"
#include "cpu_ops.h"

#include <cblas.h>

#define CPU_DRIVER "OpenBLAS (one thread per call) + vectorised loops"

static const char *const cpu_gemm_impls[] = {"openblas", NULL};

static int cpu_devices(pm_device_info *out, int max, char *why, size_t whylen) {
    (void)why, (void)whylen;
    if (max > 0) pm_host_describe(&out[0], CPU_DRIVER);
    return 1;
}

static int cpu_open(pm_backend *be, int device) {
    (void)device;
    pm_host_describe(&be->info, CPU_DRIVER);
    openblas_set_num_threads(1);
    be->gemm_impls = cpu_gemm_impls;
    be->ops = PM_OP_TABLE(ref); /* routing, dispatch, encoder: cheap, so the reference's */
    be->ops.gemm = cpu_gemm;
    be->ops.gemm_grouped = cpu_gemm_grouped;
    be->ops.gemm_grouped_wgrad = cpu_gemm_grouped_wgrad;
    be->ops.attention_fwd = cpu_attention_fwd;
    be->ops.attention_bwd = cpu_attention_bwd;
    be->ops.add = cpu_add;
    be->ops.fill = cpu_fill;
    be->ops.gelu_fwd = cpu_gelu_fwd;
    be->ops.gelu_bwd = cpu_gelu_bwd;
    be->ops.bias_add = cpu_bias_add;
    be->ops.bias_grad = cpu_bias_grad;
    be->ops.layernorm_fwd = cpu_layernorm_fwd;
    be->ops.layernorm_bwd = cpu_layernorm_bwd;
    be->ops.xent_fwd = cpu_xent_fwd;
    be->ops.xent_bwd = cpu_xent_bwd;
    be->ops.adamw = cpu_adamw;
    return PM_OK;
}

static void cpu_close(pm_backend *be) { (void)be; }

const pm_driver pm_cpu_driver = {
    .name = "cpu",
    .devices = cpu_devices,
    .open = cpu_open,
    .close = cpu_close,
    .alloc = pm_host_alloc,
    .free = pm_host_free,
    .upload = pm_host_upload,
    .download = pm_host_download,
    .sync = pm_host_sync,
};
