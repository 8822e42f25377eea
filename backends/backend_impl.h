/* What a backend implementation sees: the backend and buffer structs, the driver record a
 * backend registers, and the error helper. The model and trainer never include this. */
#ifndef POLYMOE_BACKEND_IMPL_H
#define POLYMOE_BACKEND_IMPL_H

#include "backend.h"
#include "kernels/fault_sites.h"

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
    /* Collectives over a job's ranks with the device's own library (CUDA: NCCL), all NULL
     * where there is none. group_id fills group_id_bytes bytes on one rank; every rank joins
     * with them; group_sum adds a buffer's floats over the ranks, in place. */
    size_t group_id_bytes;
    int (*group_id)(pm_backend *be, void *id);
    int (*group_join)(pm_backend *be, const void *id, int rank, int size);
    int (*group_sum)(pm_backend *be, pm_buf *buf, size_t count);
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

/* The fault record kernels fill on bad indices (kernels/fault_sites.h). */
typedef struct {
    int32_t site, value, limit;
} pm_fault;

/* PM_OK when f holds no fault; else fails the site's op with "<what> <value> outside
 * 0..<limit-1>" (or the offsets message) and returns PM_ERR. */
int pm_fault_fail(pm_backend *be, pm_fault f);

/* Rows of `cols` elements that fit in r's buffer from element r.off on: the bound of an
 * index into r (a token's row of wte, a slot's row of a permuted buffer). */
static inline long pm_rows_in(pm_ref r, int cols) {
    size_t elems = r.buf->bytes / 4;
    return cols > 0 && r.off < elems ? (long)((elems - r.off) / (size_t)cols) : 0;
}

/* Rows that both a and b hold: the bound of an index into both (moe_combine_bwd's slots). */
static inline long pm_rows_in_both(pm_ref a, pm_ref b, int cols) {
    long ra = pm_rows_in(a, cols), rb = pm_rows_in(b, cols);
    return ra < rb ? ra : rb;
}

/* Declares <prefix>_<op> with the op's function type for every op of PM_OPS: a backend's
 * prototypes. PM_DECLARE_OPS(cpu) declares int cpu_gemm(pm_backend *, const pm_gemm_desc *,
 * pm_ref, pm_ref, pm_ref), and so on. */
#define PM_OP_DECLARE(prefix, name) pm_##name##_fn prefix##_##name;
#define PM_DECLARE_OPS(prefix) PM_OPS(PM_OP_DECLARE, prefix)

/* The op table of a backend that has every op: .<op> = <prefix>_<op> for each. A backend that
 * lacks some lists what it has instead, (pm_ops){PM_OP_ENTRY(x, gemm) PM_OP_ENTRY(x, add)},
 * and the others stay NULL (unsupported). */
#define PM_OP_ENTRY(prefix, name) .name = prefix##_##name,
#define PM_OP_TABLE(prefix) ((pm_ops){PM_OPS(PM_OP_ENTRY, prefix)})

/* Typed host views of a reference, for backends whose buffers live in host memory. */
static inline float *pm_f32(pm_ref r) { return (float *)r.buf->handle + r.off; }
static inline int32_t *pm_i32(pm_ref r) { return (int32_t *)r.buf->handle + r.off; }

#endif
