#define _POSIX_C_SOURCE 200809L
#include "train/data/token_cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/util/files.h"

#define MAGIC "PMTOKS01"
#define CACHE_MAX_BYTES ((size_t)4 << 30)

/* Header: magic, key, documents, ids; then the documents' id ends (u64) and the ids (i32). */
typedef struct {
    char magic[8];
    uint64_t key, n_docs, n_ids;
} header;

uint64_t pm_token_cache_key(uint64_t tokenizer_hash, const char *text, const size_t *ends, size_t n_docs) {
    uint64_t h = 0xcbf29ce484222325ull;
    const uint64_t head[2] = {tokenizer_hash, n_docs};
    const uint8_t *p = (const uint8_t *)head;
    for (size_t i = 0; i < sizeof head; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    for (size_t d = 0; d < n_docs; d++) { /* the ends too: the same bytes cut differently differ */
        uint64_t e = ends[d];
        p = (const uint8_t *)&e;
        for (size_t i = 0; i < sizeof e; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    }
    p = (const uint8_t *)text;
    for (size_t i = 0, n = n_docs ? ends[n_docs - 1] : 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* The cache folder; 0 when there is none to use. */
static int cache_dir(char *dir, size_t cap) {
    const char *env = getenv("POLYMOE_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int n = env && *env ? snprintf(dir, cap, "%s", env)
            : xdg && *xdg ? snprintf(dir, cap, "%s/polymoe/tokens", xdg)
            : home && *home ? snprintf(dir, cap, "%s/.cache/polymoe/tokens", home) : -1;
    return n > 0 && (size_t)n < cap;
}

static int cache_path(const char *domain, uint64_t key, char *path, size_t cap) {
    char dir[4096];
    if (!cache_dir(dir, sizeof dir)) return 0;
    int n = snprintf(path, cap, "%s/%s-%016llx.tokens", dir, domain, (unsigned long long)key);
    return n > 0 && (size_t)n < cap;
}

int pm_token_cache_load(const char *domain, uint64_t key, size_t n_docs, int32_t **ids, size_t *id_ends) {
    char path[4400], err[512];
    size_t len;
    if (!cache_path(domain, key, path, sizeof path)) return 0;
    FILE *probe = fopen(path, "rb");
    if (!probe) return 0;
    fclose(probe);
    char *data = pm_read_file(path, CACHE_MAX_BYTES, &len, err, sizeof err);
    header h;
    if (!data || len < sizeof h) goto stale;
    memcpy(&h, data, sizeof h);
    if (memcmp(h.magic, MAGIC, 8) || h.key != key || h.n_docs != n_docs ||
        len != sizeof h + n_docs * sizeof(uint64_t) + h.n_ids * sizeof(int32_t))
        goto stale;
    const char *at = data + sizeof h;
    for (size_t d = 0; d < n_docs; d++) {
        uint64_t e;
        memcpy(&e, at + d * sizeof e, sizeof e);
        if (e > h.n_ids || (d && e < id_ends[d - 1])) goto stale;
        id_ends[d] = (size_t)e;
    }
    if (n_docs && id_ends[n_docs - 1] != h.n_ids) goto stale;
    *ids = malloc(h.n_ids ? h.n_ids * sizeof **ids : 1);
    if (!*ids) goto stale;
    memcpy(*ids, at + n_docs * sizeof(uint64_t), h.n_ids * sizeof **ids);
    free(data);
    return 1;
stale:
    fprintf(stderr, "note: token cache %s is unreadable or stale; encoding again\n", path);
    free(data);
    return 0;
}

void pm_token_cache_store(const char *domain, uint64_t key, size_t n_docs, const int32_t *ids, const size_t *id_ends) {
    char path[4400], dir[4096], err[4600];
    if (!cache_path(domain, key, path, sizeof path) || !cache_dir(dir, sizeof dir)) return;
    size_t n_ids = n_docs ? id_ends[n_docs - 1] : 0;
    size_t len = sizeof(header) + n_docs * sizeof(uint64_t) + n_ids * sizeof *ids;
    char *data = malloc(len);
    if (!data) return;
    header h = {.key = key, .n_docs = n_docs, .n_ids = n_ids};
    memcpy(h.magic, MAGIC, sizeof h.magic);
    memcpy(data, &h, sizeof h);
    for (size_t d = 0; d < n_docs; d++) {
        uint64_t e = id_ends[d];
        memcpy(data + sizeof h + d * sizeof e, &e, sizeof e);
    }
    memcpy(data + sizeof h + n_docs * sizeof(uint64_t), ids, n_ids * sizeof *ids);
    if (pm_mkdir_p(dir) != 0) fprintf(stderr, "note: cannot create the token cache folder %s; not caching\n", dir);
    else if (pm_write_file_atomic(path, data, len, err, sizeof err)) fprintf(stderr, "note: token cache not written: %s\n", err);
    free(data);
}
