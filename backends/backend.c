/* The registry and the parts of the interface every backend shares: opening by name,
 * errors, memory accounting, GEMM selection. */
#define _GNU_SOURCE /* dladdr */
#include "backend_impl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const pm_driver pm_cpu_driver;
extern const pm_driver pm_ref_driver;

/* A backend of the registry. cpu and ref are built in; each GPU backend is a module,
 * libpolymoe_<name>.so in this library's folder, loaded the first time the backend is listed
 * or opened: a CPU run never maps a GPU SDK. */
typedef struct {
    const char *name;
    const pm_driver *driver; /* NULL until its module loads */
    char why[512];           /* why the module did not load; then the backend has no device */
} backend_entry;

/* Registry order is also the preference order of "auto" among GPUs; without a GPU, auto is
 * cpu. ref, the oracle, is last: slow on purpose, never chosen by auto. */
static backend_entry registry[] = {
#ifdef POLYMOE_WITH_CUDA
    {.name = "cuda"},
#endif
#ifdef POLYMOE_WITH_VULKAN
    {.name = "vulkan"},
#endif
#ifdef POLYMOE_WITH_OPENCL
    {.name = "opencl"},
#endif
    {.name = "cpu", .driver = &pm_cpu_driver},
    {.name = "ref", .driver = &pm_ref_driver},
};
enum { n_backends = sizeof registry / sizeof registry[0] };

/* A program that links this library may list or open backends from several threads. */
static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;

/* Loads e's module from the folder that holds this library (the build tree, or the installed
 * lib folder), or fills e->why. A loaded module stays loaded: its driver and every backend
 * opened from it point into it. */
static void load_module(backend_entry *e) {
    Dl_info self;
    const char *slash = dladdr((void *)load_module, &self) && self.dli_fname
                            ? strrchr(self.dli_fname, '/')
                            : NULL;
    if (!slash) {
        snprintf(e->why, sizeof e->why,
                 "cannot load module libpolymoe_%s.so: dladdr gave no folder for this library",
                 e->name);
        return;
    }
    char path[4096];
    snprintf(path, sizeof path, "%.*s/libpolymoe_%s.so", (int)(slash - self.dli_fname),
             self.dli_fname, e->name);
    void *module = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    char symbol[64];
    snprintf(symbol, sizeof symbol, "pm_%s_driver", e->name);
    if (module) e->driver = dlsym(module, symbol);
    if (!e->driver) {
        snprintf(e->why, sizeof e->why, "cannot load module libpolymoe_%s.so: %s", e->name,
                 dlerror());
        if (module) dlclose(module);
    }
}

/* e's driver, its module loaded on first use; NULL (and e->why) when the module will not load. */
static const pm_driver *driver_of(backend_entry *e) {
    pthread_mutex_lock(&load_lock);
    if (!e->driver && !e->why[0]) load_module(e);
    pthread_mutex_unlock(&load_lock);
    return e->driver;
}

int pm_backend_count(void) { return n_backends; }

const char *pm_backend_name(int i) { return i >= 0 && i < n_backends ? registry[i].name : NULL; }

static backend_entry *find_backend(const char *name) {
    for (int i = 0; i < n_backends; i++)
        if (strcmp(registry[i].name, name) == 0) return &registry[i];
    return NULL;
}

static void list_known(char *buf, size_t len) {
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < n_backends && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "", registry[i].name);
}

/* The devices of e; 0 with `why` filled when it has none or its module did not load. */
static int devices_of(backend_entry *e, pm_device_info *out, int max, char *why, size_t whylen) {
    const pm_driver *d = driver_of(e);
    if (!d) {
        snprintf(why, whylen, "%s", e->why);
        return 0;
    }
    return d->devices(out, max, why, whylen);
}

int pm_backend_devices(const char *name, pm_device_info *out, int max, char *why, size_t whylen) {
    backend_entry *e = find_backend(name);
    if (!e) {
        char known[128];
        list_known(known, sizeof known);
        snprintf(why, whylen, "backend '%s' is not compiled in (this build has: %s)", name, known);
        return 0;
    }
    return devices_of(e, out, max, why, whylen);
}

static pm_backend *open_driver(const pm_driver *d, int device, char *err, size_t errlen) {
    pm_backend *be = calloc(1, sizeof *be);
    if (!be) {
        snprintf(err, errlen, "out of host memory");
        return NULL;
    }
    be->driver = d;
    be->device = device;
    snprintf(be->info.name, sizeof be->info.name, "device %d", device);
    if (d->open(be, device) != PM_OK) {
        snprintf(err, errlen, "%s", be->error);
        free(be);
        return NULL;
    }
    return be;
}

pm_backend *pm_backend_open(const char *name, int device, char *err, size_t errlen) {
    if (strcmp(name, "auto") == 0) {
        for (int i = 0; i < n_backends; i++) {
            pm_device_info infos[16];
            char why[256];
            int n = devices_of(&registry[i], infos, 16, why, sizeof why);
            for (int j = 0; j < n; j++)
                if (infos[j].is_gpu) return open_driver(registry[i].driver, j, err, errlen);
        }
        return open_driver(&pm_cpu_driver, 0, err, errlen);
    }
    backend_entry *e = find_backend(name);
    if (!e) {
        char known[128];
        list_known(known, sizeof known);
        snprintf(err, errlen, "unknown backend '%s' (this build has: %s, or auto)", name, known);
        return NULL;
    }
    pm_device_info infos[16];
    char why[512] = "";
    int n = devices_of(e, infos, 16, why, sizeof why);
    if (n == 0) {
        snprintf(err, errlen, "backend %s: no device: %s", name, why);
        return NULL;
    }
    if (device < 0 || device >= n) {
        snprintf(err, errlen, "backend %s: no device %d (it has %d: 0..%d)", name, device, n, n - 1);
        return NULL;
    }
    return open_driver(e->driver, device, err, errlen);
}

void pm_backend_close(pm_backend *be) {
    if (!be) return;
    be->driver->close(be);
    free(be);
}

const char *pm_backend_kind(const pm_backend *be) { return be->driver->name; }
const pm_device_info *pm_backend_info(const pm_backend *be) { return &be->info; }
const pm_ops *pm_backend_ops(const pm_backend *be) { return &be->ops; }

static const char *const op_names[PM_OP_COUNT] = {
#define PM_OP_NAME(arg, name) #name,
    PM_OPS(PM_OP_NAME, _)
#undef PM_OP_NAME
};

const char *pm_op_name(int i) { return i >= 0 && i < PM_OP_COUNT ? op_names[i] : NULL; }

int pm_op_index(const char *name) {
    for (int i = 0; i < PM_OP_COUNT; i++)
        if (strcmp(op_names[i], name) == 0) return i;
    return -1;
}

const char *const *pm_gemm_impls(const pm_backend *be) { return be->gemm_impls; }
const char *pm_current_gemm(const pm_backend *be) { return be->gemm_impls[be->gemm_impl]; }

int pm_select_gemm(pm_backend *be, const char *impl) {
    for (int i = 0; be->gemm_impls[i]; i++) {
        if (strcmp(be->gemm_impls[i], impl) != 0) continue;
        if (be->driver->select_gemm && be->driver->select_gemm(be, i) != PM_OK) return PM_ERR;
        be->gemm_impl = i;
        return PM_OK;
    }
    char known[160] = "";
    size_t used = 0;
    for (int i = 0; be->gemm_impls[i] && used < sizeof known; i++)
        used += (size_t)snprintf(known + used, sizeof known - used, "%s%s", i ? ", " : "",
                                 be->gemm_impls[i]);
    return pm_fail(be, "gemm", "no GEMM implementation '%s' here (this backend has: %s)", impl,
                   known);
}

int pm_fail(pm_backend *be, const char *op, const char *fmt, ...) {
    if (be->failed) return PM_ERR;
    be->failed = 1;
    int n = snprintf(be->error, sizeof be->error, "backend %s device %d (%s): %s: ",
                     be->driver->name, be->device, be->info.name, op);
    if (n < 0 || (size_t)n >= sizeof be->error) return PM_ERR;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(be->error + n, sizeof be->error - (size_t)n, fmt, ap);
    va_end(ap);
    return PM_ERR;
}

/* The fault record of kernels/fault_sites.h as the sticky error: the same words on every
 * backend, so a bad index reads the same wherever it was found. Each site names its op and
 * what the bad value was (NULL: an offsets site, which has its own message). */
static const struct {
    const char *op, *what;
} sites[PM_FAULT_COUNT] = {
    [PM_FAULT_ENCODER_FWD_TOKEN] = {"encoder_fwd", "token id"},
    [PM_FAULT_ENCODER_BWD_TOKEN] = {"encoder_bwd", "token id"},
    [PM_FAULT_XENT_FWD_TARGET] = {"xent_fwd", "target"},
    [PM_FAULT_XENT_BWD_TARGET] = {"xent_bwd", "target"},
    [PM_FAULT_ROUTER_BWD_ID] = {"router_bwd", "expert id"},
    [PM_FAULT_MOE_PLAN_ID] = {"moe_plan", "expert id"},
    [PM_FAULT_MOE_PERMUTE_SLOT] = {"moe_permute", "slot"},
    [PM_FAULT_MOE_PERMUTE_BWD_SLOT] = {"moe_permute_bwd", "slot"},
    [PM_FAULT_MOE_COMBINE_SLOT] = {"moe_combine", "slot"},
    [PM_FAULT_MOE_COMBINE_BWD_SLOT] = {"moe_combine_bwd", "slot"},
    [PM_FAULT_GEMM_GROUPED_OFFSET] = {"gemm_grouped", NULL},
    [PM_FAULT_GEMM_GROUPED_WGRAD_OFFSET] = {"gemm_grouped_wgrad", NULL},
};

int pm_fault_fail(pm_backend *be, pm_fault f) {
    if (f.site == PM_FAULT_NONE) return PM_OK;
    if (f.site < 0 || f.site >= PM_FAULT_COUNT || !sites[f.site].op)
        return pm_fail(be, "device check", "unknown fault site %d", f.site);
    if (!sites[f.site].what) /* the offsets sites: limit is rows + 1 */
        return pm_fail(be, sites[f.site].op,
                       "offsets are not a non-decreasing partition of %d rows (offset %d)",
                       f.limit - 1, f.value);
    return pm_fail(be, sites[f.site].op, "%s %d outside 0..%d", sites[f.site].what, f.value,
                   f.limit - 1);
}

int pm_unsupported(pm_backend *be, const char *op) { return pm_fail(be, op, "not supported"); }
int pm_failed(const pm_backend *be) { return be->failed; }
const char *pm_error(const pm_backend *be) { return be->failed ? be->error : ""; }

void pm_clear_error(pm_backend *be) {
    be->failed = 0;
    be->error[0] = 0;
}

pm_buf *pm_alloc(pm_backend *be, size_t bytes) {
    if (be->failed) return NULL;
    pm_buf *buf = calloc(1, sizeof *buf);
    if (!buf) {
        pm_fail(be, "alloc", "out of host memory");
        return NULL;
    }
    buf->bytes = bytes ? bytes : 4; /* zero-size device buffers are invalid on some APIs */
    if (be->driver->alloc(be, buf) != PM_OK) {
        free(buf);
        return NULL;
    }
    be->bytes_in_use += buf->bytes;
    if (be->bytes_in_use > be->peak_bytes) be->peak_bytes = be->bytes_in_use;
    return buf;
}

void pm_free(pm_backend *be, pm_buf *buf) {
    if (!buf) return;
    be->driver->free(be, buf);
    be->bytes_in_use -= buf->bytes;
    free(buf);
}

size_t pm_buf_bytes(const pm_buf *buf) { return buf->bytes; }
size_t pm_bytes_in_use(const pm_backend *be) { return be->bytes_in_use; }
size_t pm_peak_bytes(const pm_backend *be) { return be->peak_bytes; }

static int check_range(pm_backend *be, const char *op, const pm_buf *buf, size_t off,
                       size_t bytes) {
    if (off > buf->bytes || bytes > buf->bytes - off)
        return pm_fail(be, op, "range %zu+%zu outside a buffer of %zu bytes", off, bytes,
                       buf->bytes);
    return PM_OK;
}

int pm_upload(pm_backend *be, pm_buf *buf, const void *src, size_t off, size_t bytes) {
    if (be->failed) return PM_ERR;
    if (check_range(be, "upload", buf, off, bytes) != PM_OK) return PM_ERR;
    return bytes ? be->driver->upload(be, buf, src, off, bytes) : PM_OK;
}

int pm_download(pm_backend *be, const pm_buf *buf, void *dst, size_t off, size_t bytes) {
    if (be->failed) return PM_ERR;
    if (check_range(be, "download", buf, off, bytes) != PM_OK) return PM_ERR;
    return bytes ? be->driver->download(be, buf, dst, off, bytes) : PM_OK;
}

int pm_sync(pm_backend *be) { return be->failed ? PM_ERR : be->driver->sync(be); }

size_t pm_group_id_bytes(const pm_backend *be) { return be->driver->group_sum ? be->driver->group_id_bytes : 0; }

int pm_group_id(pm_backend *be, void *id) {
    if (be->failed) return PM_ERR;
    return be->driver->group_id ? be->driver->group_id(be, id) : pm_unsupported(be, "group_id");
}

int pm_group_join(pm_backend *be, const void *id, int rank, int size) {
    if (be->failed) return PM_ERR;
    return be->driver->group_join ? be->driver->group_join(be, id, rank, size) : pm_unsupported(be, "group_join");
}

int pm_group_sum(pm_backend *be, pm_buf *buf, size_t count) {
    if (be->failed) return PM_ERR;
    if (check_range(be, "group_sum", buf, 0, count * sizeof(float)) != PM_OK) return PM_ERR;
    return be->driver->group_sum ? be->driver->group_sum(be, buf, count) : pm_unsupported(be, "group_sum");
}
