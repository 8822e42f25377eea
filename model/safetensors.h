/* safetensors files (the format Hugging Face uses): an 8-byte little-endian header length, a
 * JSON header naming each tensor's dtype, shape and byte range, then the data. Tensors are
 * written as float32 and read as float32 from F32, F16 or BF16; a file may hold other dtypes
 * (open accepts them, read refuses).
 * Writing is atomic: a temporary file is written, fsync'd and renamed over the target. */
#ifndef POLYMOE_SAFETENSORS_H
#define POLYMOE_SAFETENSORS_H

#include <stddef.h>

#define PM_ST_MAX_DIMS 8 /* the most dimensions a tensor in a file read here may have */

/* Where a tensor's floats come from when it is written: count floats from `offset` of the
 * source ctx into dst. Sources are read in windows, so a model on a device is written without
 * a host copy of the whole of it. */
typedef int (*pm_st_fill)(void *ctx, size_t offset, float *dst, size_t count);

typedef struct {
    const char *name;
    int ndim, shape[2];
    pm_st_fill fill;
    void *ctx;
    size_t offset; /* in floats */
} pm_st_tensor;

/* The source for floats already in host memory: ctx is the const float array. */
int pm_st_fill_memory(void *ctx, size_t offset, float *dst, size_t count);

/* meta: n_meta key/value pairs (keys at even indices) stored in "__metadata__". */
int pm_st_write(const char *path, const pm_st_tensor *t, int n, const char *const *meta,
                int n_meta, char *err, size_t errlen);

typedef struct pm_st_file pm_st_file;

/* Reads and checks the whole header: every entry an object with a known dtype, a shape of
 * non-negative integers whose element count fits its byte range, data_offsets exact integers
 * inside the file, no two tensors sharing a byte or a name, __metadata__ strings only. NULL
 * with err (naming the file and the tensor) on a missing, truncated or malformed file. */
pm_st_file *pm_st_open(const char *path, char *err, size_t errlen);
void pm_st_close(pm_st_file *f);
/* The metadata value of key, or NULL. */
const char *pm_st_meta(const pm_st_file *f, const char *key);
/* The tensors in the file (sorted by name): name, and its shape (valid while f is open). */
int pm_st_count(const pm_st_file *f);
const char *pm_st_info(const pm_st_file *f, int i, int *ndim, const size_t **shape);
/* Reads tensor `name` into dst as float32, which holds the product of `shape` floats: F32 as
 * it is, F16 and BF16 widened (exactly); another dtype or shape is an error. */
int pm_st_read(pm_st_file *f, const char *name, float *dst, int ndim, const size_t *shape,
               char *err, size_t errlen);

#endif
