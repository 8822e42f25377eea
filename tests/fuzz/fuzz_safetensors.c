/* libFuzzer target: the safetensors reader on arbitrary bytes. The bytes become an in-memory
 * file (memfd), which is opened, its metadata read, and every tensor read with the shape the
 * header declares; any crash or sanitizer report is a bug in the reader. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "model/safetensors.h"

static void read_all(pm_st_file *f) {
    char err[512];
    (void)pm_st_meta(f, "polymoe_config");
    for (int i = 0; i < pm_st_count(f); i++) {
        int ndim;
        const size_t *shape;
        const char *name = pm_st_info(f, i, &ndim, &shape);
        size_t count = 1;
        for (int d = 0; d < ndim; d++) count *= shape[d]; /* open bounded it by the file size */
        float *dst = malloc(count ? count * sizeof *dst : 1);
        if (dst) (void)pm_st_read(f, name, dst, ndim, shape, err, sizeof err);
        free(dst);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("fuzz.safetensors", 0);
        if (fd < 0) return 0;
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) || pwrite(fd, data, size, 0) != (ssize_t)size) return 0;
    char err[512];
    pm_st_file *f = pm_st_open(path, err, sizeof err);
    if (f) read_all(f);
    pm_st_close(f);
    return 0;
}
