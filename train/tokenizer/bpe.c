#define _POSIX_C_SOURCE 200809L
#include "train/tokenizer/bpe.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "train/tokenizer/byte_unicode.h"
#include "train/tokenizer/pretokenize.h"
#include "train/util/error_text.h"
#include "train/util/files.h"

#define FILE_MAX_BYTES ((size_t)256 << 20)
#define TOKEN_MAX_BYTES 1024      /* the longest token spelling accepted */
#define CACHE_PIECE_MAX 64        /* longer pieces are rare: encoded every time */
#define CACHE_MAX_ENTRIES (1u << 20) /* then the cache starts over */
#define EOT_TEXT "<|endoftext|>"

static uint64_t fnv1a(uint64_t h, const void *data, size_t n) {
    const uint8_t *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}
#define FNV_START 0xcbf29ce484222325ull

/* A merge: the pair (left, right) of token ids becomes `result` with priority `rank`. */
typedef struct {
    uint64_t pair; /* left << 32 | right; UINT64_MAX: empty slot */
    int32_t rank, result;
} merge_slot;

/* A cached piece: its bytes and ids live in the pools. */
typedef struct {
    uint64_t hash; /* 0: empty slot */
    uint32_t bytes_at, ids_at;
    uint16_t len, n_ids;
} cache_slot;

/* One candidate merge inside a piece: the pair starting at symbol `pos`. */
typedef struct {
    int32_t rank, pos;
} candidate;

struct pm_bpe {
    int n_vocab, n_merges, ignore_merges;
    uint8_t *bytes;       /* every token's bytes back to back */
    size_t *start;        /* token id's bytes: bytes[start[id] .. start[id + 1]) */
    uint8_t *special;
    int32_t byte_id[256], eot;
    int32_t *by_bytes;    /* open-addressed: token ids by their bytes (-1 empty) */
    size_t by_bytes_mask;
    merge_slot *merges;
    size_t merges_mask;
    uint64_t hash;
    pm_pretok *pre;
    /* the piece cache */
    cache_slot *cache;
    size_t cache_mask, cache_used;
    uint8_t *cache_bytes;
    int32_t *cache_ids;
    size_t cache_bytes_len, cache_bytes_cap, cache_ids_len, cache_ids_cap;
    /* scratch for one piece */
    int32_t *sym, *next, *prev;
    candidate *heap;
    size_t scratch_cap;
};

/* ---- lookups ---- */

static size_t table_size(size_t n) {
    size_t s = 16;
    while (s < 2 * n) s *= 2;
    return s;
}

static int32_t find_token(const pm_bpe *b, const uint8_t *s, size_t n) {
    for (size_t i = fnv1a(FNV_START, s, n) & b->by_bytes_mask;; i = (i + 1) & b->by_bytes_mask) {
        int32_t id = b->by_bytes[i];
        if (id < 0) return -1;
        if (b->start[id + 1] - b->start[id] == n && memcmp(b->bytes + b->start[id], s, n) == 0) return id;
    }
}

static uint64_t pair_key(int32_t left, int32_t right) { return (uint64_t)(uint32_t)left << 32 | (uint32_t)right; }
static size_t pair_slot(uint64_t key) { return (size_t)((key * 0x9e3779b97f4a7c15ull) >> 20); }

static const merge_slot *find_merge(const pm_bpe *b, int32_t left, int32_t right) {
    uint64_t key = pair_key(left, right);
    for (size_t i = pair_slot(key) & b->merges_mask;; i = (i + 1) & b->merges_mask) {
        if (b->merges[i].pair == key) return &b->merges[i];
        if (b->merges[i].pair == UINT64_MAX) return NULL;
    }
}

/* ---- merging one piece ---- */

static int before(candidate a, candidate b) { return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos); }

static void heap_push(candidate *h, size_t *n, candidate c) {
    size_t i = (*n)++;
    while (i > 0 && before(c, h[(i - 1) / 2])) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = c;
}

static candidate heap_pop(candidate *h, size_t *n) {
    candidate top = h[0], last = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && before(h[c + 1], h[c])) c++;
        if (!before(h[c], last)) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = last;
    return top;
}

static void push_pair(const pm_bpe *b, candidate *heap, size_t *n, const int32_t *sym, const int32_t *next, int32_t pos) {
    if (pos < 0 || next[pos] < 0) return;
    const merge_slot *m = find_merge(b, sym[pos], sym[next[pos]]);
    if (m) heap_push(heap, n, (candidate){m->rank, pos});
}

static int reserve_scratch(pm_bpe *b, size_t n) {
    if (n <= b->scratch_cap) return 0;
    size_t cap = n * 2;
    int32_t *s = realloc(b->sym, cap * sizeof *s), *nx = s ? realloc(b->next, cap * sizeof *nx) : NULL;
    if (s) b->sym = s;
    if (nx) b->next = nx;
    int32_t *pv = nx ? realloc(b->prev, cap * sizeof *pv) : NULL;
    if (pv) b->prev = pv;
    candidate *h = pv ? realloc(b->heap, 3 * cap * sizeof *h) : NULL;
    if (h) b->heap = h;
    if (!h) return -1;
    b->scratch_cap = cap;
    return 0;
}

/* The ids of one piece: its bytes, then the lowest-ranked adjacent pair merged (the leftmost
 * among equals) until no adjacent pair has a merge. A heap of candidate pairs keeps this
 * O(n log n) even for a run of thousands of spaces; a popped candidate whose pair changed
 * since it was pushed no longer has its rank there and is dropped. */
static long merge_piece(pm_bpe *b, const uint8_t *s, size_t n, int32_t *out) {
    if (b->ignore_merges) {
        int32_t whole = find_token(b, s, n);
        if (whole >= 0 && !b->special[whole]) {
            out[0] = whole;
            return 1;
        }
    }
    if (reserve_scratch(b, n)) return -1;
    int32_t *sym = b->sym, *next = b->next, *prev = b->prev;
    size_t heap_n = 0;
    for (size_t i = 0; i < n; i++) {
        sym[i] = b->byte_id[s[i]];
        next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
        prev[i] = (int32_t)i - 1;
    }
    for (size_t i = 0; i + 1 < n; i++) push_pair(b, b->heap, &heap_n, sym, next, (int32_t)i);
    while (heap_n) {
        candidate c = heap_pop(b->heap, &heap_n);
        int32_t p = c.pos, q = sym[p] >= 0 ? next[p] : -1;
        const merge_slot *m = q >= 0 ? find_merge(b, sym[p], sym[q]) : NULL;
        if (!m || m->rank != c.rank) continue;
        sym[p] = m->result;
        sym[q] = -1;
        next[p] = next[q];
        if (next[q] >= 0) prev[next[q]] = p;
        push_pair(b, b->heap, &heap_n, sym, next, prev[p]);
        push_pair(b, b->heap, &heap_n, sym, next, p);
    }
    long k = 0;
    for (int32_t i = 0; i >= 0; i = next[i]) out[k++] = sym[i];
    return k;
}

/* ---- the piece cache ---- */

static void cache_clear(pm_bpe *b) {
    memset(b->cache, 0, (b->cache_mask + 1) * sizeof *b->cache);
    b->cache_used = b->cache_bytes_len = b->cache_ids_len = 0;
}

static const cache_slot *cache_find(const pm_bpe *b, const uint8_t *s, size_t n, uint64_t h, size_t *slot) {
    size_t i = h & b->cache_mask;
    for (; b->cache[i].hash; i = (i + 1) & b->cache_mask) {
        const cache_slot *c = &b->cache[i];
        if (c->hash == h && c->len == n && memcmp(b->cache_bytes + c->bytes_at, s, n) == 0) return c;
    }
    *slot = i;
    return NULL;
}

static void *grow(void *p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return p;
    size_t n = *cap ? *cap : 4096;
    while (n < need) n *= 2;
    void *q = realloc(p, n * elem);
    if (q) *cap = n;
    return q;
}

/* Remembers a piece's ids; when memory runs short it just does not. */
static void cache_add(pm_bpe *b, size_t slot, const uint8_t *s, size_t n, uint64_t h, const int32_t *ids, long k) {
    uint8_t *bytes = grow(b->cache_bytes, &b->cache_bytes_cap, b->cache_bytes_len + n, 1);
    if (bytes) b->cache_bytes = bytes;
    int32_t *idp = bytes ? grow(b->cache_ids, &b->cache_ids_cap, b->cache_ids_len + (size_t)k, sizeof *idp) : NULL;
    if (idp) b->cache_ids = idp;
    if (!idp) return;
    b->cache[slot] = (cache_slot){h, (uint32_t)b->cache_bytes_len, (uint32_t)b->cache_ids_len, (uint16_t)n, (uint16_t)k};
    memcpy(b->cache_bytes + b->cache_bytes_len, s, n);
    memcpy(b->cache_ids + b->cache_ids_len, ids, (size_t)k * sizeof *ids);
    b->cache_bytes_len += n;
    b->cache_ids_len += (size_t)k;
    b->cache_used++;
}

typedef struct {
    pm_bpe *b;
    int32_t *out;
    long n;
} encoding;

static int encode_piece(void *ctx, const char *piece, size_t n) {
    encoding *e = ctx;
    pm_bpe *b = e->b;
    const uint8_t *s = (const uint8_t *)piece;
    if (n == 1) {
        e->out[e->n++] = b->byte_id[s[0]];
        return 0;
    }
    if (n > CACHE_PIECE_MAX) {
        long k = merge_piece(b, s, n, e->out + e->n);
        if (k < 0) return 1;
        e->n += k;
        return 0;
    }
    uint64_t h = fnv1a(FNV_START, s, n) | 1; /* never 0, the empty mark */
    size_t slot = 0;
    const cache_slot *c = cache_find(b, s, n, h, &slot);
    if (c) {
        memcpy(e->out + e->n, b->cache_ids + c->ids_at, c->n_ids * sizeof *e->out);
        e->n += c->n_ids;
        return 0;
    }
    long k = merge_piece(b, s, n, e->out + e->n);
    if (k < 0) return 1;
    if (b->cache_used >= CACHE_MAX_ENTRIES / 2) {
        cache_clear(b);
        cache_find(b, s, n, h, &slot);
    }
    cache_add(b, slot, s, n, h, e->out + e->n, k);
    e->n += k;
    return 0;
}

long pm_bpe_encode(pm_bpe *b, const char *text, size_t n, int32_t *out, char *err, size_t errlen) {
    encoding e = {b, out, 0};
    int rc = pm_pretok_split(b->pre, text, n, encode_piece, &e, err, errlen);
    if (rc > 0) return pm_errorf(err, errlen, "out of memory encoding a piece of %zu bytes", n);
    return rc ? -1 : e.n;
}

/* ---- queries ---- */

int pm_bpe_vocab_size(const pm_bpe *b) { return b->n_vocab; }
int32_t pm_bpe_eot(const pm_bpe *b) { return b->eot; }
int pm_bpe_is_special(const pm_bpe *b, int32_t id) { return id >= 0 && id < b->n_vocab && b->special[id]; }
uint64_t pm_bpe_hash(const pm_bpe *b) { return b->hash; }

const uint8_t *pm_bpe_token(const pm_bpe *b, int32_t id, size_t *len) {
    if (id < 0 || id >= b->n_vocab) return NULL;
    *len = b->start[id + 1] - b->start[id];
    return b->bytes + b->start[id];
}

void pm_bpe_free(pm_bpe *b) {
    if (!b) return;
    free(b->bytes);
    free(b->start);
    free(b->special);
    free(b->by_bytes);
    free(b->merges);
    free(b->cache);
    free(b->cache_bytes);
    free(b->cache_ids);
    free(b->sym);
    free(b->next);
    free(b->prev);
    free(b->heap);
    pm_pretok_free(b->pre);
    free(b);
}

/* ---- loading ---- */

/* Token spellings by id while the vocabulary is read; NULL: no token has that id yet. */
typedef struct {
    uint8_t **bytes;
    size_t *len;
    uint8_t *special;
    int n;
} spellings;

static int put_token(spellings *v, const char *file, const char *text, int id, int special, char *err,
                     size_t errlen) {
    if (id < 0 || id >= v->n) return pm_errorf(err, errlen, "%s: token \"%.60s\" has id %d, outside 0..%d", file, text, id, v->n - 1);
    uint8_t buf[TOKEN_MAX_BYTES];
    size_t n = strlen(text);
    long k = special ? (n <= sizeof buf ? (long)n : -1) : pm_unicode_to_bytes(text, n, buf, sizeof buf);
    if (special && k >= 0) memcpy(buf, text, n);
    if (k <= 0)
        return pm_errorf(err, errlen, "%s: token \"%.60s\" (id %d) is %s", file, text, id,
                         k == 0 ? "empty" : "not spelled in GPT-2's byte alphabet (is this a byte-level BPE?)");
    if (v->bytes[id]) {
        if (v->len[id] == (size_t)k && !memcmp(v->bytes[id], buf, (size_t)k)) {
            v->special[id] |= (uint8_t)special;
            return 0;
        }
        return pm_errorf(err, errlen, "%s: id %d belongs to two tokens (\"%.60s\" and another)", file, id, text);
    }
    if (!(v->bytes[id] = malloc((size_t)k))) return pm_errorf(err, errlen, "out of memory");
    memcpy(v->bytes[id], buf, (size_t)k);
    v->len[id] = (size_t)k;
    v->special[id] = (uint8_t)special;
    return 0;
}

static int vocab_max_id(const cJSON *vocab, const cJSON *added) {
    int max = -1;
    const cJSON *x;
    cJSON_ArrayForEach(x, vocab) if (cJSON_IsNumber(x) && x->valuedouble > max) max = (int)x->valuedouble;
    cJSON_ArrayForEach(x, added) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(x, "id");
        if (cJSON_IsNumber(id) && id->valuedouble > max) max = (int)id->valuedouble;
    }
    return max;
}

/* Reads the vocabulary object (spelling -> id) and the added tokens into b. */
static int read_vocab(pm_bpe *b, const char *file, const cJSON *vocab, const cJSON *added, char *err, size_t errlen) {
    if (!cJSON_IsObject(vocab) || !vocab->child) return pm_errorf(err, errlen, "%s: no vocabulary object", file);
    int max = vocab_max_id(vocab, added);
    if (max < 0 || max >= (1 << 24)) return pm_errorf(err, errlen, "%s: token ids must be in 0..%d", file, (1 << 24) - 1);
    spellings v = {calloc((size_t)max + 1, sizeof *v.bytes), calloc((size_t)max + 1, sizeof *v.len),
                   calloc((size_t)max + 1, 1), max + 1};
    int rc = v.bytes && v.len && v.special ? 0 : pm_errorf(err, errlen, "out of memory");
    const cJSON *x;
    cJSON_ArrayForEach(x, vocab) {
        if (rc) break;
        double d = cJSON_IsNumber(x) ? x->valuedouble : -1;
        if (d != (double)(int)d) rc = pm_errorf(err, errlen, "%s: token \"%.60s\": its id is not a whole number", file, x->string);
        else rc = put_token(&v, file, x->string, (int)d, strcmp(x->string, EOT_TEXT) == 0, err, errlen);
    }
    cJSON_ArrayForEach(x, added) {
        if (rc) break;
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(x, "id"), *content = cJSON_GetObjectItemCaseSensitive(x, "content"),
                    *special = cJSON_GetObjectItemCaseSensitive(x, "special");
        if (!cJSON_IsNumber(id) || !cJSON_IsString(content))
            rc = pm_errorf(err, errlen, "%s: an added token without a numeric id and a string content", file);
        else if (!cJSON_IsTrue(special))
            rc = pm_errorf(err, errlen, "%s: added token \"%.60s\" is not special; polymoe does not cut added tokens out of text", file, content->valuestring);
        else rc = put_token(&v, file, content->valuestring, (int)id->valuedouble, 1, err, errlen);
    }
    for (int id = 0; id < v.n && !rc; id++)
        if (!v.bytes[id]) rc = pm_errorf(err, errlen, "%s: no token has id %d (ids must run from 0 without gaps)", file, id);
    size_t total = 0;
    for (int id = 0; id < v.n && !rc; id++) total += v.len[id];
    if (!rc) {
        b->n_vocab = v.n;
        b->bytes = malloc(total ? total : 1);
        b->start = malloc(((size_t)v.n + 1) * sizeof *b->start);
        b->special = v.special;
        v.special = NULL;
        b->by_bytes_mask = table_size((size_t)v.n) - 1;
        b->by_bytes = malloc((b->by_bytes_mask + 1) * sizeof *b->by_bytes);
        if (!b->bytes || !b->start || !b->by_bytes) rc = pm_errorf(err, errlen, "out of memory");
    }
    if (!rc) {
        memset(b->by_bytes, 0xff, (b->by_bytes_mask + 1) * sizeof *b->by_bytes);
        size_t at = 0;
        for (int id = 0; id < v.n; id++) {
            b->start[id] = at;
            memcpy(b->bytes + at, v.bytes[id], v.len[id]);
            at += v.len[id];
        }
        b->start[v.n] = at;
    }
    for (int id = 0; id < v.n && !rc; id++) {
        size_t n = v.len[id];
        if (find_token(b, v.bytes[id], n) >= 0) {
            rc = pm_errorf(err, errlen, "%s: two tokens (ids %d and %d) have the same bytes", file, find_token(b, v.bytes[id], n), id);
            break;
        }
        size_t i = fnv1a(FNV_START, v.bytes[id], n) & b->by_bytes_mask;
        while (b->by_bytes[i] >= 0) i = (i + 1) & b->by_bytes_mask;
        b->by_bytes[i] = id;
    }
    for (int id = 0; id < v.n; id++) free(v.bytes ? v.bytes[id] : NULL);
    free(v.bytes);
    free(v.len);
    free(v.special);
    return rc;
}

/* One merge "left right" (or the pair [left, right]) of rank `rank`. */
static int add_merge(pm_bpe *b, const char *file, int rank, const char *left, size_t nl, const char *right, size_t nr,
                     char *err, size_t errlen) {
    uint8_t l[TOKEN_MAX_BYTES], r[TOKEN_MAX_BYTES], both[2 * TOKEN_MAX_BYTES];
    long kl = pm_unicode_to_bytes(left, nl, l, sizeof l), kr = pm_unicode_to_bytes(right, nr, r, sizeof r);
    if (kl <= 0 || kr <= 0)
        return pm_errorf(err, errlen, "%s: merge %d (\"%.*s %.*s\") is not two tokens in GPT-2's byte alphabet", file,
                         rank + 1, (int)(nl < 60 ? nl : 60), left, (int)(nr < 60 ? nr : 60), right);
    memcpy(both, l, (size_t)kl);
    memcpy(both + kl, r, (size_t)kr);
    int32_t a = find_token(b, l, (size_t)kl), c = find_token(b, r, (size_t)kr), m = find_token(b, both, (size_t)(kl + kr));
    if (a < 0 || c < 0 || m < 0)
        return pm_errorf(err, errlen, "%s: merge %d (\"%.*s %.*s\"): %s is not in the vocabulary", file, rank + 1,
                         (int)(nl < 60 ? nl : 60), left, (int)(nr < 60 ? nr : 60), right,
                         a < 0 ? "its left token" : c < 0 ? "its right token" : "the merged token");
    uint64_t key = pair_key(a, c);
    size_t i = pair_slot(key) & b->merges_mask;
    while (b->merges[i].pair != UINT64_MAX && b->merges[i].pair != key) i = (i + 1) & b->merges_mask;
    if (b->merges[i].pair == key) return 0; /* a repeated merge keeps its first (lowest) rank */
    b->merges[i] = (merge_slot){key, rank, m};
    return 0;
}

static int alloc_merges(pm_bpe *b, size_t n, char *err, size_t errlen) {
    b->merges_mask = table_size(n) - 1;
    b->merges = malloc((b->merges_mask + 1) * sizeof *b->merges);
    if (!b->merges) return pm_errorf(err, errlen, "out of memory");
    for (size_t i = 0; i <= b->merges_mask; i++) b->merges[i].pair = UINT64_MAX;
    b->n_merges = (int)n;
    return 0;
}

/* merges.txt: an optional "#version" line, then one "left right" per line, rank order. */
static int read_merges_txt(pm_bpe *b, const char *path, char *err, size_t errlen) {
    size_t len, n = 0;
    char *text = pm_read_file(path, FILE_MAX_BYTES, &len, err, errlen);
    if (!text) return -1;
    for (size_t i = 0; i < len; i++) n += text[i] == '\n';
    int rc = alloc_merges(b, n + 1, err, errlen), rank = 0, line_no = 0;
    for (char *line = text; !rc && line < text + len;) {
        char *nl = memchr(line, '\n', (size_t)(text + len - line)), *end = nl ? nl : text + len;
        line_no++;
        if (end > line && end[-1] == '\r') end[-1] = 0;
        *end = 0;
        if (*line && !(line_no == 1 && line[0] == '#')) {
            char *space = strchr(line, ' ');
            if (!space || strchr(space + 1, ' '))
                rc = pm_errorf(err, errlen, "%s:%d: expected two tokens separated by one space", path, line_no);
            else rc = add_merge(b, path, rank++, line, (size_t)(space - line), space + 1, strlen(space + 1), err, errlen);
        }
        line = end + 1;
    }
    b->n_merges = rank;
    free(text);
    return rc;
}

static cJSON *read_json(const char *path, char *err, size_t errlen) {
    size_t len;
    char *text = pm_read_file(path, FILE_MAX_BYTES, &len, err, errlen);
    if (!text) return NULL;
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    if (!j) pm_errorf(err, errlen, "%s: not valid JSON", path);
    return j;
}

static int is_null_or(const cJSON *x, const char *empty_string) {
    return !x || cJSON_IsNull(x) || (empty_string && cJSON_IsString(x) && !x->valuestring[0]) || cJSON_IsFalse(x);
}

/* What polymoe implements of tokenizer.json: a BPE model over the ByteLevel pre-tokenizer with
 * GPT-2's regex and no prefix space, no normalizer, nothing added around the ids. */
static int check_tokenizer_json(const cJSON *root, const char *path, char *err, size_t errlen) {
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model"),
                *pre = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"),
                *norm = cJSON_GetObjectItemCaseSensitive(root, "normalizer"),
                *post = cJSON_GetObjectItemCaseSensitive(root, "post_processor");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(model, "type");
    if (!cJSON_IsObject(model) || (type && !(cJSON_IsString(type) && !strcmp(type->valuestring, "BPE"))))
        return pm_errorf(err, errlen, "%s: the model is not BPE; polymoe reads byte-level BPE only", path);
    if (!is_null_or(cJSON_GetObjectItemCaseSensitive(model, "dropout"), NULL))
        return pm_errorf(err, errlen, "%s: BPE dropout is set; polymoe encodes deterministically", path);
    if (!is_null_or(cJSON_GetObjectItemCaseSensitive(model, "byte_fallback"), NULL))
        return pm_errorf(err, errlen, "%s: byte_fallback is a SentencePiece-style BPE, not GPT-2's byte-level one", path);
    if (!is_null_or(cJSON_GetObjectItemCaseSensitive(model, "continuing_subword_prefix"), "") ||
        !is_null_or(cJSON_GetObjectItemCaseSensitive(model, "end_of_word_suffix"), ""))
        return pm_errorf(err, errlen, "%s: subword prefixes or suffixes are not part of GPT-2's BPE", path);
    if (!is_null_or(norm, NULL)) return pm_errorf(err, errlen, "%s: has a normalizer; GPT-2's BPE has none", path);
    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(pre, "type");
    if (!cJSON_IsString(pt) || strcmp(pt->valuestring, "ByteLevel") != 0)
        return pm_errorf(err, errlen, "%s: the pre-tokenizer is not ByteLevel", path);
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(pre, "add_prefix_space")))
        return pm_errorf(err, errlen, "%s: add_prefix_space is true; polymoe implements GPT-2's (false)", path);
    if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(pre, "use_regex")))
        return pm_errorf(err, errlen, "%s: use_regex is false; polymoe implements GPT-2's pre-tokenisation", path);
    const cJSON *post_type = cJSON_GetObjectItemCaseSensitive(post, "type");
    if (!is_null_or(post, NULL) && !(cJSON_IsString(post_type) && !strcmp(post_type->valuestring, "ByteLevel")))
        return pm_errorf(err, errlen, "%s: the post-processor adds tokens around the text; polymoe supports none", path);
    return 0;
}

static int read_tokenizer_json(pm_bpe *b, const char *path, char *err, size_t errlen) {
    cJSON *root = read_json(path, err, errlen);
    if (!root) return -1;
    int rc = check_tokenizer_json(root, path, err, errlen);
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    if (!rc) rc = read_vocab(b, path, cJSON_GetObjectItemCaseSensitive(model, "vocab"),
                             cJSON_GetObjectItemCaseSensitive(root, "added_tokens"), err, errlen);
    if (!rc && !cJSON_IsArray(merges)) rc = pm_errorf(err, errlen, "%s: the BPE model has no merges list", path);
    if (!rc) rc = alloc_merges(b, (size_t)cJSON_GetArraySize(merges), err, errlen);
    b->ignore_merges = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(model, "ignore_merges"));
    int rank = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, merges) {
        if (rc) break;
        const cJSON *l = cJSON_GetArrayItem(x, 0), *r = cJSON_GetArrayItem(x, 1);
        const char *space = cJSON_IsString(x) ? strchr(x->valuestring, ' ') : NULL;
        if (space && !strchr(space + 1, ' '))
            rc = add_merge(b, path, rank, x->valuestring, (size_t)(space - x->valuestring), space + 1, strlen(space + 1), err, errlen);
        else if (cJSON_GetArraySize(x) == 2 && cJSON_IsString(l) && cJSON_IsString(r))
            rc = add_merge(b, path, rank, l->valuestring, strlen(l->valuestring), r->valuestring, strlen(r->valuestring), err, errlen);
        else rc = pm_errorf(err, errlen, "%s: merge %d is neither \"left right\" nor [left, right]", path, rank + 1);
        rank++;
    }
    cJSON_Delete(root);
    return rc;
}

static int finish(pm_bpe *b, const char *what, char *err, size_t errlen) {
    for (int c = 0; c < 256; c++) {
        uint8_t byte = (uint8_t)c;
        b->byte_id[c] = find_token(b, &byte, 1);
        if (b->byte_id[c] < 0 || b->special[b->byte_id[c]])
            return pm_errorf(err, errlen, "%s: no token for the byte 0x%02x; byte-level BPE needs all 256", what, c);
    }
    b->eot = find_token(b, (const uint8_t *)EOT_TEXT, strlen(EOT_TEXT));
    if (b->eot < 0 || !b->special[b->eot])
        return pm_errorf(err, errlen, "%s: no special token " EOT_TEXT "; polymoe separates documents with it", what);
    uint64_t h = fnv1a(FNV_START, "polymoe-bpe-1", 13);
    int32_t head[3] = {b->n_vocab, b->n_merges, b->ignore_merges};
    h = fnv1a(h, head, sizeof head);
    for (int id = 0; id < b->n_vocab; id++) {
        uint64_t len = b->start[id + 1] - b->start[id];
        h = fnv1a(h, &b->special[id], 1);
        h = fnv1a(h, &len, sizeof len);
        h = fnv1a(h, b->bytes + b->start[id], len);
    }
    /* the merges in rank order */
    int32_t *by_rank = malloc(((size_t)b->n_merges + 1) * 2 * sizeof *by_rank);
    if (!by_rank) return pm_errorf(err, errlen, "out of memory");
    memset(by_rank, 0xff, ((size_t)b->n_merges + 1) * 2 * sizeof *by_rank);
    for (size_t i = 0; i <= b->merges_mask; i++)
        if (b->merges[i].pair != UINT64_MAX) {
            by_rank[2 * b->merges[i].rank] = (int32_t)(b->merges[i].pair >> 32);
            by_rank[2 * b->merges[i].rank + 1] = (int32_t)(uint32_t)b->merges[i].pair;
        }
    b->hash = fnv1a(h, by_rank, (size_t)b->n_merges * 2 * sizeof *by_rank);
    free(by_rank);
    b->cache_mask = CACHE_MAX_ENTRIES - 1;
    b->cache = calloc(CACHE_MAX_ENTRIES, sizeof *b->cache);
    b->pre = b->cache ? pm_pretok_open(err, errlen) : NULL;
    if (!b->cache) return pm_errorf(err, errlen, "out of memory");
    return b->pre ? 0 : -1;
}

pm_bpe *pm_bpe_open(const pm_bpe_files *f, char *err, size_t errlen) {
    pm_bpe *b = calloc(1, sizeof *b);
    if (!b) {
        pm_errorf(err, errlen, "out of memory");
        return NULL;
    }
    int rc;
    const char *what = f->tokenizer_json[0] ? f->tokenizer_json : f->vocab_json;
    if (f->tokenizer_json[0]) rc = read_tokenizer_json(b, f->tokenizer_json, err, errlen);
    else {
        cJSON *vocab = read_json(f->vocab_json, err, errlen);
        rc = vocab ? read_vocab(b, f->vocab_json, vocab, NULL, err, errlen) : -1;
        cJSON_Delete(vocab);
        if (!rc) rc = read_merges_txt(b, f->merges_txt, err, errlen);
    }
    if (!rc) rc = finish(b, what, err, errlen);
    if (rc) {
        pm_bpe_free(b);
        return NULL;
    }
    return b;
}

static int is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int pm_bpe_locate(const char *path, pm_bpe_files *f, char *err, size_t errlen) {
    struct stat st;
    memset(f, 0, sizeof *f);
    if (strlen(path) > sizeof f->vocab_json - 32) return pm_errorf(err, errlen, "%s: path too long", path);
    if (stat(path, &st) != 0) return pm_errorf(err, errlen, "%s: no such file or folder", path);
    const char *slash = strrchr(path, '/'), *name = slash ? slash + 1 : path;
    int dir_len = slash ? (int)(slash - path) : 1;
    const char *dir = slash ? path : ".";
    if (S_ISDIR(st.st_mode)) {
        snprintf(f->tokenizer_json, sizeof f->tokenizer_json, "%s/tokenizer.json", path);
        if (is_file(f->tokenizer_json)) return 0;
        f->tokenizer_json[0] = 0;
        snprintf(f->vocab_json, sizeof f->vocab_json, "%s/vocab.json", path);
        snprintf(f->merges_txt, sizeof f->merges_txt, "%s/merges.txt", path);
    } else if (!strcmp(name, "vocab.json")) {
        snprintf(f->vocab_json, sizeof f->vocab_json, "%s", path);
        snprintf(f->merges_txt, sizeof f->merges_txt, "%.*s/merges.txt", dir_len, dir);
    } else {
        snprintf(f->tokenizer_json, sizeof f->tokenizer_json, "%s", path);
        return 0;
    }
    if (!is_file(f->vocab_json) || !is_file(f->merges_txt))
        return pm_errorf(err, errlen, "%s: no tokenizer.json, and no vocab.json with merges.txt beside it", path);
    return 0;
}
