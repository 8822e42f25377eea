#define _POSIX_C_SOURCE 200809L
#include "model/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_HEADER (64u << 20)

static int write_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

int pm_st_fill_memory(void *ctx, size_t offset, float *dst, size_t count) {
    memcpy(dst, (const float *)ctx + offset, count * sizeof *dst);
    return 0;
}

/* Floats staged per write: 16 MiB, so saving needs no memory in proportion to the model. */
#define WINDOW ((size_t)4 << 20)

int pm_st_write(const char *path, const pm_st_tensor *t, int n, const char *const *meta,
                int n_meta, char *err, size_t errlen) {
    cJSON *h = cJSON_CreateObject();
    cJSON *m = cJSON_AddObjectToObject(h, "__metadata__");
    for (int i = 0; i + 1 < 2 * n_meta; i += 2) cJSON_AddStringToObject(m, meta[i], meta[i + 1]);
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        cJSON *e = cJSON_AddObjectToObject(h, t[i].name);
        cJSON_AddStringToObject(e, "dtype", "F32");
        cJSON *shape = cJSON_AddArrayToObject(e, "shape");
        size_t count = 1;
        for (int d = 0; d < t[i].ndim; d++) {
            cJSON_AddItemToArray(shape, cJSON_CreateNumber(t[i].shape[d]));
            count *= (size_t)t[i].shape[d];
        }
        cJSON *range = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddItemToArray(range, cJSON_CreateNumber((double)off));
        off += count * 4;
        cJSON_AddItemToArray(range, cJSON_CreateNumber((double)off));
    }
    char *json = cJSON_PrintUnformatted(h);
    cJSON_Delete(h);
    size_t jlen = strlen(json), padded = (jlen + 7) & ~(size_t)7; /* data 8-byte aligned */
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    float *window = malloc(WINDOW * sizeof *window);
    int fd = window ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644) : -1;
    int rc = fd < 0 ? -1 : 0, fill_failed = 0;
    uint64_t hl = padded;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)(hl >> (8 * i));
    if (!rc) rc = write_all(fd, len8, 8);
    if (!rc) rc = write_all(fd, json, jlen);
    if (!rc) rc = write_all(fd, "        ", padded - jlen);
    for (int i = 0; i < n && !rc; i++) {
        size_t count = 1;
        for (int d = 0; d < t[i].ndim; d++) count *= (size_t)t[i].shape[d];
        for (size_t done = 0; done < count && !rc; done += WINDOW) {
            size_t k = count - done < WINDOW ? count - done : WINDOW;
            fill_failed = t[i].fill(t[i].ctx, t[i].offset + done, window, k) != 0;
            rc = fill_failed ? -1 : write_all(fd, window, k * 4);
        }
    }
    if (!rc) rc = fsync(fd);
    if (fd >= 0 && close(fd) && !rc) rc = -1;
    if (!rc) rc = rename(tmp, path);
    if (rc && fill_failed) snprintf(err, errlen, "writing %s: reading the tensors from the device failed", path);
    else if (rc) snprintf(err, errlen, "writing %s: %s", path, window ? strerror(errno) : "out of memory");
    if (rc) unlink(tmp);
    free(window);
    free(json);
    return rc;
}

/* The dtypes of the safetensors format and their element sizes; only F32 is read, but a file
 * holding others is still a well-formed file. */
static const struct {
    const char *name;
    size_t size;
} dtypes[] = {{"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1},
              {"I16", 2},  {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},
              {"U32", 4},  {"F32", 4}, {"F64", 8}, {"I64", 8},     {"U64", 8}};

/* JSON numbers are doubles: from 2^53 on, integers are not exact (2^53 + 1 reads as 2^53),
 * so they are refused. */
#define MAX_EXACT 9007199254740992.0

typedef struct {
    const char *name; /* points into the parsed header */
    int dtype;        /* index into dtypes */
    int ndim;
    size_t shape[PM_ST_MAX_DIMS];
    uint64_t begin, end; /* byte range inside the data section */
} entry;

struct pm_st_file {
    FILE *fp;
    cJSON *header;
    char *path;
    entry *entries; /* sorted by name */
    int n;
    uint64_t data_start;
};

/* v as an exact non-negative integer, or -1. */
static int exact_uint(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    if (!(d >= 0 && d < MAX_EXACT) || d != floor(d)) return -1;
    *out = (uint64_t)d;
    return 0;
}

static int dtype_index(const cJSON *v) {
    if (cJSON_IsString(v))
        for (int i = 0; i < (int)(sizeof dtypes / sizeof dtypes[0]); i++)
            if (strcmp(v->valuestring, dtypes[i].name) == 0) return i;
    return -1;
}

/* Checks one header entry against the format and fills e; data_bytes is the data section's
 * size. The error names the file and the tensor. */
static int parse_entry(const char *path, const cJSON *j, uint64_t data_bytes, entry *e, char *err,
                       size_t errlen) {
    const char *name = j->string;
    if (!cJSON_IsObject(j)) {
        snprintf(err, errlen, "%s: header entry %s is not an object", path, name);
        return -1;
    }
    e->name = name;
    e->dtype = dtype_index(cJSON_GetObjectItemCaseSensitive(j, "dtype"));
    if (e->dtype < 0) {
        snprintf(err, errlen, "%s: tensor %s has no dtype or an unknown one", path, name);
        return -1;
    }
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(j, "shape");
    int ndim = cJSON_GetArraySize(shape);
    if (!cJSON_IsArray(shape) || ndim > PM_ST_MAX_DIMS) {
        snprintf(err, errlen, "%s: tensor %s has no shape array of at most %d dimensions", path, name,
                 PM_ST_MAX_DIMS);
        return -1;
    }
    e->ndim = ndim;
    uint64_t count = 1, dim;
    for (int d = 0; d < ndim; d++) {
        if (exact_uint(cJSON_GetArrayItem(shape, d), &dim) || dim > SIZE_MAX) {
            snprintf(err, errlen, "%s: tensor %s: shape dimension %d is not a non-negative integer", path,
                     name, d);
            return -1;
        }
        e->shape[d] = (size_t)dim;
        /* a count above the data section's size is wrong anyway: cap it there, never overflow */
        count = !dim ? 0 : count > data_bytes / dim ? data_bytes + 1 : count * dim;
    }
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "data_offsets");
    if (!cJSON_IsArray(r) || cJSON_GetArraySize(r) != 2 || exact_uint(cJSON_GetArrayItem(r, 0), &e->begin) ||
        exact_uint(cJSON_GetArrayItem(r, 1), &e->end) || e->begin > e->end) {
        snprintf(err, errlen, "%s: tensor %s: data_offsets is not [begin, end] with integers 0 <= begin <= end < 2^53",
                 path, name);
        return -1;
    }
    if (e->end > data_bytes) {
        snprintf(err, errlen, "%s: tensor %s lies past the end of the file (bytes %llu..%llu of %llu; truncated?)",
                 path, name, (unsigned long long)e->begin, (unsigned long long)e->end,
                 (unsigned long long)data_bytes);
        return -1;
    }
    if (count > data_bytes || count * dtypes[e->dtype].size != e->end - e->begin) {
        snprintf(err, errlen, "%s: tensor %s: its shape and dtype do not match its %llu bytes", path, name,
                 (unsigned long long)(e->end - e->begin));
        return -1;
    }
    return 0;
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const entry *)a)->name, ((const entry *)b)->name);
}

static int by_begin(const void *a, const void *b) {
    const entry *x = *(const entry *const *)a, *y = *(const entry *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

/* Names are unique and no two tensors share a byte (the entries are sorted by name). */
static int check_disjoint(const char *path, entry *e, int n, char *err, size_t errlen) {
    for (int i = 1; i < n; i++)
        if (strcmp(e[i - 1].name, e[i].name) == 0) {
            snprintf(err, errlen, "%s: tensor %s appears twice in the header", path, e[i].name);
            return -1;
        }
    const entry **order = malloc(sizeof *order * (size_t)(n ? n : 1));
    if (!order) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int m = 0;
    for (int i = 0; i < n; i++)
        if (e[i].end > e[i].begin) order[m++] = &e[i]; /* empty tensors hold no bytes */
    qsort(order, (size_t)m, sizeof *order, by_begin);
    int rc = 0;
    for (int i = 1; i < m && !rc; i++)
        if (order[i]->begin < order[i - 1]->end) {
            snprintf(err, errlen, "%s: tensors %s and %s overlap", path, order[i - 1]->name, order[i]->name);
            rc = -1;
        }
    free(order);
    return rc;
}

/* Fills f->entries from f->header, every entry checked. */
static int parse_header(pm_st_file *f, uint64_t data_bytes, char *err, size_t errlen) {
    f->entries = malloc(sizeof *f->entries * (size_t)(cJSON_GetArraySize(f->header) + 1));
    if (!f->entries) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const cJSON *j;
    int seen_meta = 0;
    cJSON_ArrayForEach(j, f->header) {
        if (strcmp(j->string, "__metadata__") == 0) {
            const cJSON *v;
            int ok = cJSON_IsObject(j) && !seen_meta++;
            cJSON_ArrayForEach(v, j) ok = ok && cJSON_IsString(v);
            if (!ok) {
                snprintf(err, errlen, "%s: __metadata__ is not one object of strings", f->path);
                return -1;
            }
            continue;
        }
        if (parse_entry(f->path, j, data_bytes, &f->entries[f->n], err, errlen)) return -1;
        f->n++;
    }
    qsort(f->entries, (size_t)f->n, sizeof *f->entries, by_name);
    return check_disjoint(f->path, f->entries, f->n, err, errlen);
}

/* Reads the 8-byte length and the JSON header; anything after the JSON must be padding. */
static int read_header(pm_st_file *f, uint64_t file_size, char *err, size_t errlen) {
    unsigned char len8[8];
    uint64_t hl = 0;
    if (fread(len8, 1, 8, f->fp) != 8) {
        snprintf(err, errlen, "%s: truncated (no header)", f->path);
        return -1;
    }
    for (int i = 0; i < 8; i++) hl |= (uint64_t)len8[i] << (8 * i);
    if (hl == 0 || hl > MAX_HEADER || hl > file_size - 8) {
        snprintf(err, errlen, "%s: truncated or not a safetensors file (header length %llu, file %llu bytes)",
                 f->path, (unsigned long long)hl, (unsigned long long)file_size);
        return -1;
    }
    char *text = malloc(hl);
    if (!text || fread(text, 1, hl, f->fp) != hl) {
        snprintf(err, errlen, "%s: truncated header", f->path);
        free(text);
        return -1;
    }
    const char *end = text;
    f->header = cJSON_ParseWithLengthOpts(text, hl, &end, 0);
    while (f->header && end < text + hl && *end == ' ') end++;
    int ok = cJSON_IsObject(f->header) && end == text + hl;
    free(text);
    if (!ok) {
        snprintf(err, errlen, "%s: the header is not one JSON object", f->path);
        return -1;
    }
    f->data_start = 8 + hl;
    return 0;
}

pm_st_file *pm_st_open(const char *path, char *err, size_t errlen) {
    pm_st_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        snprintf(err, errlen, "out of memory");
        free(f);
        return NULL;
    }
    struct stat st;
    f->fp = fopen(path, "rb");
    if (!f->fp || fstat(fileno(f->fp), &st)) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
    } else if (st.st_size < 8) {
        snprintf(err, errlen, "%s: truncated (no header)", path);
    } else if (!read_header(f, (uint64_t)st.st_size, err, errlen) &&
               !parse_header(f, (uint64_t)st.st_size - f->data_start, err, errlen)) {
        return f;
    }
    pm_st_close(f);
    return NULL;
}

void pm_st_close(pm_st_file *f) {
    if (!f) return;
    cJSON_Delete(f->header);
    if (f->fp) fclose(f->fp);
    free(f->entries);
    free(f->path);
    free(f);
}

const char *pm_st_meta(const pm_st_file *f, const char *key) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(f->header, "__metadata__");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int pm_st_count(const pm_st_file *f) { return f->n; }

const char *pm_st_info(const pm_st_file *f, int i, int *ndim, const size_t **shape) {
    *ndim = f->entries[i].ndim;
    *shape = f->entries[i].shape;
    return f->entries[i].name;
}

/* "[a,b,c]" */
static void format_shape(char *s, size_t cap, int ndim, const size_t *shape) {
    size_t k = (size_t)snprintf(s, cap, "[");
    for (int d = 0; d < ndim && k < cap; d++)
        k += (size_t)snprintf(s + k, cap - k, "%s%zu", d ? "," : "", shape[d]);
    if (k < cap) snprintf(s + k, cap - k, "]");
}

/* IEEE half to float, exactly (every half is a float). */
static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f) bits = sign | 0x7f800000u | man << 13; /* inf, NaN */
    else if (exp) bits = sign | (exp + 112) << 23 | man << 13;
    else if (!man) bits = sign;                             /* zero */
    else {                                                  /* subnormal: normalise */
        int e = -1;
        do { man <<= 1; e++; } while (!(man & 0x400));
        bits = sign | (uint32_t)(112 - e) << 23 | (man & 0x3ff) << 13;
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Widens n 16-bit values, read into the upper half of dst, in place. Front to back is safe:
 * float i ends at byte 4i + 4, and the first value not yet read starts at byte 2n + 2i + 2. */
static void widen(float *dst, size_t n, int bf16) {
    const uint16_t *staged = (const uint16_t *)dst + n;
    for (size_t i = 0; i < n; i++) {
        uint16_t h = staged[i];
        if (bf16) {
            uint32_t bits = (uint32_t)h << 16;
            memcpy(&dst[i], &bits, sizeof bits);
        } else {
            dst[i] = half_to_float(h);
        }
    }
}

int pm_st_read(pm_st_file *f, const char *name, float *dst, int ndim, const size_t *shape, char *err,
               size_t errlen) {
    entry key = {.name = name};
    const entry *e = bsearch(&key, f->entries, (size_t)f->n, sizeof *f->entries, by_name);
    if (!e) {
        snprintf(err, errlen, "%s: tensor %s is missing", f->path, name);
        return -1;
    }
    const char *dt = dtypes[e->dtype].name;
    int f32 = !strcmp(dt, "F32"), f16 = !strcmp(dt, "F16"), bf16 = !strcmp(dt, "BF16");
    if (!f32 && !f16 && !bf16) {
        snprintf(err, errlen, "%s: tensor %s is %s; polymoe reads F32, F16 and BF16", f->path, name, dt);
        return -1;
    }
    int same = e->ndim == ndim;
    for (int d = 0; d < ndim && same; d++) same = e->shape[d] == shape[d];
    if (!same) {
        char have[128], want[128];
        format_shape(have, sizeof have, e->ndim, e->shape);
        format_shape(want, sizeof want, ndim, shape);
        snprintf(err, errlen, "%s: tensor %s has shape %s, the model config wants %s", f->path, name, have, want);
        return -1;
    }
    size_t size = f32 ? 4 : 2, count = (size_t)(e->end - e->begin) / size;
    /* 16-bit values land in the upper half of dst and are widened in place */
    void *at = f32 ? (void *)dst : (void *)((uint16_t *)dst + count);
    if (fseeko(f->fp, (off_t)(f->data_start + e->begin), SEEK_SET) || fread(at, size, count, f->fp) != count) {
        snprintf(err, errlen, "%s: tensor %s: read failed (truncated file?)", f->path, name);
        return -1;
    }
    if (!f32) widen(dst, count, bf16);
    return 0;
}
