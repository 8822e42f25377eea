/* The reference backend: host memory and the reference ops, GEMM included. The oracle of
 * `polymoe check` and of the trainer parity test; slow on purpose. */
#include "host.h"
#include "ref_ops.h"

#define REF_DRIVER "reference loops, double accumulation"

static const char *const ref_gemm_impls[] = {"naive", NULL};

static int ref_devices(pm_device_info *out, int max, char *why, size_t whylen) {
    (void)why, (void)whylen;
    if (max > 0) pm_host_describe(&out[0], REF_DRIVER);
    return 1;
}

static int ref_open(pm_backend *be, int device) {
    (void)device;
    pm_host_describe(&be->info, REF_DRIVER);
    be->gemm_impls = ref_gemm_impls;
    be->ops = PM_OP_TABLE(ref);
    return PM_OK;
}

static void ref_close(pm_backend *be) { (void)be; }

const pm_driver pm_ref_driver = {
    .name = "ref",
    .devices = ref_devices,
    .open = ref_open,
    .close = ref_close,
    .alloc = pm_host_alloc,
    .free = pm_host_free,
    .upload = pm_host_upload,
    .download = pm_host_download,
    .sync = pm_host_sync,
};
