#define _POSIX_C_SOURCE 200809L
#include "model/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
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
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int rc = fd < 0 ? -1 : 0;
    uint64_t hl = padded;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)(hl >> (8 * i));
    if (!rc) rc = write_all(fd, len8, 8);
    if (!rc) rc = write_all(fd, json, jlen);
    if (!rc) rc = write_all(fd, "        ", padded - jlen);
    for (int i = 0; i < n && !rc; i++) {
        size_t count = 1;
        for (int d = 0; d < t[i].ndim; d++) count *= (size_t)t[i].shape[d];
        rc = write_all(fd, t[i].data, count * 4);
    }
    if (!rc) rc = fsync(fd);
    if (fd >= 0 && close(fd) && !rc) rc = -1;
    if (!rc) rc = rename(tmp, path);
    if (rc) {
        snprintf(err, errlen, "writing %s: %s", path, strerror(errno));
        unlink(tmp);
    }
    free(json);
    return rc;
}

struct pm_st_file {
    FILE *fp;
    cJSON *header;
    uint64_t data_start, file_size;
};

pm_st_file *pm_st_open(const char *path, char *err, size_t errlen) {
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    unsigned char len8[8];
    char *text = NULL;
    cJSON *h = NULL;
    uint64_t hl = 0;
    if (fstat(fileno(fp), &st) || fread(len8, 1, 8, fp) != 8) {
        snprintf(err, errlen, "%s: truncated (no header)", path);
        goto fail;
    }
    for (int i = 0; i < 8; i++) hl |= (uint64_t)len8[i] << (8 * i);
    if (hl == 0 || hl > MAX_HEADER || hl + 8 > (uint64_t)st.st_size) {
        snprintf(err, errlen, "%s: truncated or not a safetensors file (header length %llu, file %lld bytes)",
                 path, (unsigned long long)hl, (long long)st.st_size);
        goto fail;
    }
    text = malloc(hl + 1);
    if (!text || fread(text, 1, hl, fp) != hl) {
        snprintf(err, errlen, "%s: truncated header", path);
        goto fail;
    }
    text[hl] = 0;
    h = cJSON_Parse(text);
    if (!cJSON_IsObject(h)) {
        snprintf(err, errlen, "%s: the header is not JSON", path);
        goto fail;
    }
    uint64_t data_bytes = (uint64_t)st.st_size - 8 - hl;
    const cJSON *e;
    cJSON_ArrayForEach(e, h) {
        if (strcmp(e->string, "__metadata__") == 0) continue;
        const cJSON *dt = cJSON_GetObjectItem(e, "dtype"), *r = cJSON_GetObjectItem(e, "data_offsets");
        if (!cJSON_IsString(dt) || !cJSON_IsArray(r) || cJSON_GetArraySize(r) != 2 ||
            cJSON_GetArrayItem(r, 1)->valuedouble > (double)data_bytes ||
            cJSON_GetArrayItem(r, 0)->valuedouble > cJSON_GetArrayItem(r, 1)->valuedouble) {
            snprintf(err, errlen, "%s: tensor %s has a bad entry or lies past the end (truncated file?)",
                     path, e->string);
            goto fail;
        }
    }
    free(text);
    pm_st_file *f = malloc(sizeof *f);
    if (!f) {
        snprintf(err, errlen, "out of memory");
        cJSON_Delete(h);
        fclose(fp);
        return NULL;
    }
    *f = (pm_st_file){fp, h, 8 + hl, (uint64_t)st.st_size};
    return f;
fail:
    free(text);
    cJSON_Delete(h);
    fclose(fp);
    return NULL;
}

void pm_st_close(pm_st_file *f) {
    if (!f) return;
    cJSON_Delete(f->header);
    fclose(f->fp);
    free(f);
}

const char *pm_st_meta(const pm_st_file *f, const char *key) {
    const cJSON *m = cJSON_GetObjectItem(f->header, "__metadata__");
    const cJSON *v = m ? cJSON_GetObjectItem(m, key) : NULL;
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int pm_st_read(pm_st_file *f, const char *name, float *dst, size_t count, char *err,
               size_t errlen) {
    const cJSON *e = cJSON_GetObjectItem(f->header, name);
    if (!e) {
        snprintf(err, errlen, "tensor %s is missing", name);
        return -1;
    }
    const char *dt = cJSON_GetObjectItem(e, "dtype")->valuestring;
    const cJSON *r = cJSON_GetObjectItem(e, "data_offsets");
    double b = cJSON_GetArrayItem(r, 0)->valuedouble, en = cJSON_GetArrayItem(r, 1)->valuedouble;
    if (strcmp(dt, "F32") != 0 || en - b != (double)count * 4) {
        snprintf(err, errlen, "tensor %s is %s of %.0f bytes, want F32 of %zu", name, dt, en - b,
                 count * 4);
        return -1;
    }
    if (fseeko(f->fp, (off_t)(f->data_start + (uint64_t)b), SEEK_SET) ||
        fread(dst, 4, count, f->fp) != count) {
        snprintf(err, errlen, "tensor %s: read failed (truncated file?)", name);
        return -1;
    }
    return 0;
}
