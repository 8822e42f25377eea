/* polymoe backend interface: the one header the model, trainer, tests and benchmarks use.
 *
 * A backend is one device of one API (cpu, opencl, vulkan, cuda). The model holds opaque
 * buffers and calls ops; it never sees a device pointer. Every op returns a status, and a
 * failed op leaves its message in the backend ("backend opencl device 0 (name): gemm: ...").
 * Errors are sticky: after a failure every later op returns the same error without running,
 * so callers may check once at a sync point.
 *
 * Conventions for every op:
 *  - matrices are row-major; element offsets and strides count 4-byte elements;
 *  - float buffers are float32, index buffers (tokens, ids, slots, offsets) are int32;
 *  - "writes" means the output is overwritten, "adds" means it is accumulated into (+=);
 *    parameter gradients always accumulate so that micro-batches can add up.
 */
#ifndef POLYMOE_BACKEND_H
#define POLYMOE_BACKEND_H

#include <stddef.h>
#include <stdint.h>

typedef struct pm_backend pm_backend;
typedef struct pm_buf pm_buf;

/* A position inside a buffer: element `off` (4-byte elements) of `buf`. */
typedef struct {
    pm_buf *buf;
    size_t off;
} pm_ref;

static inline pm_ref pm_at(pm_buf *buf, size_t off) { return (pm_ref){buf, off}; }
static inline pm_ref pm_shift(pm_ref r, size_t by) { return (pm_ref){r.buf, r.off + by}; }

enum { PM_OK = 0, PM_ERR = 1 };

/* ---- devices and the registry ---- */

typedef struct {
    char name[128];          /* device name as its driver reports it */
    char api[64];            /* API version, e.g. "OpenCL 3.0", "Vulkan 1.3.230" */
    char driver[96];         /* driver name and version */
    uint64_t memory_bytes;   /* global memory; 0 when unknown */
    int is_gpu;              /* 1 for a real GPU, 0 for CPU implementations (PoCL, lavapipe) */
    double peak_gflops;      /* float32 peak when known, else 0 */
} pm_device_info;

/* Names of the backends compiled into this binary, in registry order. */
int pm_backend_count(void);
const char *pm_backend_name(int i);

/* Devices of backend `name`. Returns the count (0 when unavailable; `why` then says why). */
int pm_backend_devices(const char *name, pm_device_info *out, int max, char *why, size_t whylen);

/* Opens device `device` of backend `name`; "auto" picks the first GPU of cuda, vulkan, opencl,
 * in that order, else cpu. Returns NULL with `err` filled on failure. */
pm_backend *pm_backend_open(const char *name, int device, char *err, size_t errlen);
void pm_backend_close(pm_backend *be);

const char *pm_backend_kind(const pm_backend *be);          /* "cpu", "opencl", ... */
const pm_device_info *pm_backend_info(const pm_backend *be);

/* GEMM implementations this backend offers ("own", "openblas", "clblast", "cublas", ...),
 * NULL-terminated; the first is the default. Selecting an unknown name is an error. */
const char *const *pm_gemm_impls(const pm_backend *be);
int pm_select_gemm(pm_backend *be, const char *impl);
const char *pm_current_gemm(const pm_backend *be);

/* ---- errors ---- */

/* Records "backend B device D (name): op: message" and returns PM_ERR. The first error
 * stays: later failures do not overwrite it. Backends use it for their failures, and callers
 * for errors they find in their own arguments. */
int pm_fail(pm_backend *be, const char *op, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int pm_failed(const pm_backend *be);
const char *pm_error(const pm_backend *be);
void pm_clear_error(pm_backend *be);

/* ---- memory ---- */

pm_buf *pm_alloc(pm_backend *be, size_t bytes);          /* NULL (and error set) on failure */
void pm_free(pm_backend *be, pm_buf *buf);
size_t pm_buf_bytes(const pm_buf *buf);
int pm_upload(pm_backend *be, pm_buf *buf, const void *src, size_t off_bytes, size_t bytes);
int pm_download(pm_backend *be, const pm_buf *buf, void *dst, size_t off_bytes, size_t bytes);
int pm_sync(pm_backend *be);
size_t pm_bytes_in_use(const pm_backend *be);
size_t pm_peak_bytes(const pm_backend *be);

/* ---- collectives over a job's ranks (optional: a device library such as NCCL) ---- */

/* Bytes of the id that forms a group (0: this backend has no collectives; sum on the host).
 * One rank makes the id, every rank gets it (over MPI) and joins with its rank and the size;
 * then pm_group_sum adds `count` floats of buf over all ranks, in place, on the device. */
size_t pm_group_id_bytes(const pm_backend *be);
int pm_group_id(pm_backend *be, void *id);
int pm_group_join(pm_backend *be, const void *id, int rank, int size);
int pm_group_sum(pm_backend *be, pm_buf *buf, size_t count);

/* ---- ops ---- */

#include "ops.h"

/* The name of op i of PM_OPS, 0 <= i < PM_OP_COUNT, in table order ("gemm", ...); NULL past
 * the end. */
const char *pm_op_name(int i);
/* The index of op `name` in that list, or -1 when the interface has no such op. */
int pm_op_index(const char *name);

/* The op table of an open backend. */
const pm_ops *pm_backend_ops(const pm_backend *be);

/* Fails with "<op>: not supported" naming the backend; returns PM_ERR. */
int pm_unsupported(pm_backend *be, const char *op);

/* Calls op `name` on `be`: returns the sticky error if there is one, fails cleanly when the
 * backend lacks the op. Example: pm_op(be, add, out, a, b, n). */
#define pm_op(be, name, ...)                                                            \
    (pm_failed(be) ? PM_ERR                                                             \
     : pm_backend_ops(be)->name ? pm_backend_ops(be)->name((be), __VA_ARGS__)           \
                                : pm_unsupported((be), #name))

#endif
