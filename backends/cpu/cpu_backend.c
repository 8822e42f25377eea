/* The CPU backend: host memory, the reference ops, GEMM through OpenBLAS (or naive loops). */
#define _GNU_SOURCE
#include "cpu_ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static const char *const cpu_gemm_impls[] = {"openblas", "naive", NULL};

static void describe(pm_device_info *d) {
    memset(d, 0, sizeof *d);
    snprintf(d->name, sizeof d->name, "host CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon) {
            snprintf(d->name, sizeof d->name, "%s", colon + 2);
            d->name[strcspn(d->name, "\n")] = 0;
            break;
        }
    }
    if (f) fclose(f);
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    snprintf(d->api, sizeof d->api, "C11, %d OpenMP threads", threads);
    snprintf(d->driver, sizeof d->driver, "OpenBLAS (CBLAS)");
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    d->memory_bytes = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
}

static int cpu_devices(pm_device_info *out, int max, char *why, size_t whylen) {
    (void)why, (void)whylen;
    if (max > 0) describe(&out[0]);
    return 1;
}

static int cpu_open(pm_backend *be, int device) {
    (void)device;
    describe(&be->info);
    be->gemm_impls = cpu_gemm_impls;
    be->ops = PM_OP_TABLE(cpu);
    return PM_OK;
}

static void cpu_close(pm_backend *be) { (void)be; }

static int cpu_alloc(pm_backend *be, pm_buf *buf) {
    /* 64-byte alignment keeps vector loads in OpenBLAS and the loops aligned. */
    size_t bytes = (buf->bytes + 63) & ~(size_t)63;
    buf->handle = aligned_alloc(64, bytes);
    if (!buf->handle) return pm_fail(be, "alloc", "out of memory allocating %zu bytes", bytes);
    memset(buf->handle, 0, bytes);
    return PM_OK;
}

static void cpu_free(pm_backend *be, pm_buf *buf) {
    (void)be;
    free(buf->handle);
}

static int cpu_upload(pm_backend *be, pm_buf *buf, const void *src, size_t off, size_t bytes) {
    (void)be;
    memcpy((char *)buf->handle + off, src, bytes);
    return PM_OK;
}

static int cpu_download(pm_backend *be, const pm_buf *buf, void *dst, size_t off, size_t bytes) {
    (void)be;
    memcpy(dst, (const char *)buf->handle + off, bytes);
    return PM_OK;
}

static int cpu_sync(pm_backend *be) {
    (void)be;
    return PM_OK;
}

const pm_driver pm_cpu_driver = {
    .name = "cpu",
    .devices = cpu_devices,
    .open = cpu_open,
    .close = cpu_close,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .upload = cpu_upload,
    .download = cpu_download,
    .sync = cpu_sync,
};
