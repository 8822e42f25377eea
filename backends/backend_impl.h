/* What a backend implementation sees: the backend and buffer structs, the driver record a
 * backend registers, and the error helper. The model and trainer never include this. */
#ifndef POLYMOE_BACKEND_IMPL_H
#define POLYMOE_BACKEND_IMPL_H

#include "backend.h"

/* Memory and device hooks of one backend; ops live in the pm_ops table. */
typedef struct pm_driver {
    const char *name;
    /* Lists devices; returns the count, or 0 with `why` filled. */
    int (*devices)(pm_device_info *out, int max, char *why, size_t whylen);
    /* Fills be->ops, be->info, be->ctx, be->gemm_impls; returns PM_OK or PM_ERR with the
     * error in be (pm_fail). */
    int (*open)(pm_backend *be, int device);
    void (*close)(pm_backend *be);
    /* Allocates buf->handle for buf->bytes; PM_ERR (via pm_fail) on failure. */
    int (*alloc)(pm_backend *be, pm_buf *buf);
    void (*free)(pm_backend *be, pm_buf *buf);
    int (*upload)(pm_backend *be, pm_buf *buf, const void *src, size_t off, size_t bytes);
    int (*download)(pm_backend *be, const pm_buf *buf, void *dst, size_t off, size_t bytes);
    int (*sync)(pm_backend *be);
    /* Switches GEMM implementation to gemm_impls[index]. */
    int (*select_gemm)(pm_backend *be, int index);
} pm_driver;

struct pm_backend {
    const pm_driver *driver;
    pm_ops ops;
    pm_device_info info;
    int device;
    void *ctx;                          /* the backend's own state */
    const char *const *gemm_impls;      /* NULL-terminated, first is the default */
    int gemm_impl;                      /* index into gemm_impls */
    int failed;
    char error[512];
    size_t bytes_in_use, peak_bytes;
};

struct pm_buf {
    size_t bytes;
    void *handle;                       /* host pointer, cl_mem, device pointer, ... */
};

/* Typed host views of a reference, for backends whose buffers live in host memory. */
static inline float *pm_f32(pm_ref r) { return (float *)r.buf->handle + r.off; }
static inline int32_t *pm_i32(pm_ref r) { return (int32_t *)r.buf->handle + r.off; }

#endif
