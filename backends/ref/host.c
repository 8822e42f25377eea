/* Host memory as device memory, shared by the ref and cpu backends. */
#define _GNU_SOURCE
#include "host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

void pm_host_describe(pm_device_info *d, const char *driver) {
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
    struct utsname u; /* no model name (e.g. aarch64): the machine type */
    if (strcmp(d->name, "host CPU") == 0 && uname(&u) == 0)
        snprintf(d->name, sizeof d->name, "%s CPU", u.machine);
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    snprintf(d->api, sizeof d->api, "C11, %d OpenMP threads", threads);
    snprintf(d->driver, sizeof d->driver, "%s", driver);
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    d->memory_bytes = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
}

int pm_host_alloc(pm_backend *be, pm_buf *buf) {
    /* 64-byte alignment keeps vector loads aligned, in OpenBLAS and in the loops. */
    size_t bytes = (buf->bytes + 63) & ~(size_t)63;
    buf->handle = aligned_alloc(64, bytes);
    if (!buf->handle) return pm_fail(be, "alloc", "out of memory allocating %zu bytes", bytes);
    memset(buf->handle, 0, bytes);
    return PM_OK;
}

void pm_host_free(pm_backend *be, pm_buf *buf) {
    (void)be;
    free(buf->handle);
}

int pm_host_upload(pm_backend *be, pm_buf *buf, const void *src, size_t off, size_t bytes) {
    (void)be;
    memcpy((char *)buf->handle + off, src, bytes);
    return PM_OK;
}

int pm_host_download(pm_backend *be, const pm_buf *buf, void *dst, size_t off, size_t bytes) {
    (void)be;
    memcpy(dst, (const char *)buf->handle + off, bytes);
    return PM_OK;
}

int pm_host_sync(pm_backend *be) {
    (void)be;
    return PM_OK;
}
