/* safetensors files (the format Hugging Face uses): an 8-byte little-endian header length, a
 * JSON header naming each tensor's dtype, shape and byte range, then the data. float32 only.
 * Writing is atomic: a temporary file is written, fsync'd and renamed over the target. */
#ifndef POLYMOE_SAFETENSORS_H
#define POLYMOE_SAFETENSORS_H

#include <stddef.h>

typedef struct {
    const char *name;
    const float *data;
    int ndim, shape[2];
} pm_st_tensor;

/* meta: n_meta key/value pairs (keys at even indices) stored in "__metadata__". */
int pm_st_write(const char *path, const pm_st_tensor *t, int n, const char *const *meta,
                int n_meta, char *err, size_t errlen);

typedef struct pm_st_file pm_st_file;

/* Reads and validates the header (sizes, offsets inside the file, dtypes). NULL with err on
 * a missing, truncated or malformed file. */
pm_st_file *pm_st_open(const char *path, char *err, size_t errlen);
void pm_st_close(pm_st_file *f);
/* The metadata value of key, or NULL. */
const char *pm_st_meta(const pm_st_file *f, const char *key);
/* Reads tensor `name` of exactly `count` floats into dst. */
int pm_st_read(pm_st_file *f, const char *name, float *dst, size_t count, char *err,
               size_t errlen);

#endif
