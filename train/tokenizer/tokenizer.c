#include "train/tokenizer/tokenizer.h"

#include <stdlib.h>
#include <string.h>

#include "train/tokenizer/bpe.h"
#include "train/util/error_text.h"

#define BYTE_EOT 256

struct pm_tokenizer {
    pm_bpe *bpe; /* NULL: the byte tokenizer */
    pm_bpe_files files;
    const char *paths[2], *names[2];
    int n_files;
    char byte_of[256]; /* the byte tokenizer's token bytes */
};

pm_tokenizer *pm_tokenizer_open(const char *spec, char *err, size_t errlen) {
    pm_tokenizer *t = calloc(1, sizeof *t);
    if (!t) {
        pm_errorf(err, errlen, "out of memory");
        return NULL;
    }
    for (int b = 0; b < 256; b++) t->byte_of[b] = (char)b;
    if (spec && !strcmp(spec, "byte")) return t;
    if (!spec || strncmp(spec, "bpe:", 4) != 0 || !spec[4]) {
        pm_errorf(err, errlen, "tokenizer '%s': expected \"byte\" or \"bpe:PATH\"", spec ? spec : "");
        free(t);
        return NULL;
    }
    char inner[4600];
    if (pm_bpe_locate(spec + 4, &t->files, inner, sizeof inner) || !(t->bpe = pm_bpe_open(&t->files, inner, sizeof inner))) {
        pm_errorf(err, errlen, "tokenizer: %s", inner);
        free(t);
        return NULL;
    }
    if (t->files.tokenizer_json[0]) {
        t->paths[0] = t->files.tokenizer_json, t->names[0] = "tokenizer.json";
        t->n_files = 1;
    } else {
        t->paths[0] = t->files.vocab_json, t->names[0] = "vocab.json";
        t->paths[1] = t->files.merges_txt, t->names[1] = "merges.txt";
        t->n_files = 2;
    }
    return t;
}

void pm_tokenizer_free(pm_tokenizer *t) {
    if (!t) return;
    pm_bpe_free(t->bpe);
    free(t);
}

const char *pm_tokenizer_kind(const pm_tokenizer *t) { return t->bpe ? "bpe" : "byte"; }
int pm_tokenizer_vocab_size(const pm_tokenizer *t) { return t->bpe ? pm_bpe_vocab_size(t->bpe) : BYTE_EOT + 1; }
int32_t pm_tokenizer_eot(const pm_tokenizer *t) { return t->bpe ? pm_bpe_eot(t->bpe) : BYTE_EOT; }

uint64_t pm_tokenizer_hash(const pm_tokenizer *t) {
    return t->bpe ? pm_bpe_hash(t->bpe) : PM_TOKENIZER_BYTE_HASH;
}

long pm_tokenizer_encode(pm_tokenizer *t, const char *text, size_t n, int32_t *out, char *err, size_t errlen) {
    if (t->bpe) return pm_bpe_encode(t->bpe, text, n, out, err, errlen);
    for (size_t i = 0; i < n; i++) out[i] = (unsigned char)text[i];
    return (long)n;
}

const char *pm_tokenizer_token(const pm_tokenizer *t, int32_t id, size_t *len) {
    *len = 0;
    if (!t->bpe) {
        if (id < 0 || id >= BYTE_EOT) return NULL;
        *len = 1;
        return &t->byte_of[id];
    }
    if (pm_bpe_is_special(t->bpe, id)) return NULL;
    const uint8_t *s = pm_bpe_token(t->bpe, id, len);
    if (!s) *len = 0;
    return (const char *)s;
}

size_t pm_tokenizer_decode(const pm_tokenizer *t, const int32_t *ids, size_t n, char *out, size_t cap) {
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *s = pm_tokenizer_token(t, ids[i], &len);
        if (len > cap - w) len = cap - w;
        if (s) memcpy(out + w, s, len);
        w += len;
    }
    return w;
}

int pm_tokenizer_files(const pm_tokenizer *t, const char *const **paths, const char *const **names) {
    *paths = t->paths;
    *names = t->names;
    return t->n_files;
}

int pm_tokenizer_resolve_vocab(const char *spec, int *vocab_size, char *err, size_t errlen) {
    pm_tokenizer *t = pm_tokenizer_open(spec, err, errlen);
    if (!t) return -1;
    int V = pm_tokenizer_vocab_size(t);
    pm_tokenizer_free(t);
    if (*vocab_size == 0) *vocab_size = V;
    if (*vocab_size >= V) return 0;
    return pm_errorf(err, errlen, "vocab_size %d is smaller than the %s tokenizer's %d tokens (vocab_size=0 takes "
                     "the tokenizer's)", *vocab_size, spec, V);
}
