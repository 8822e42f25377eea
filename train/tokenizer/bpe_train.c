/* Byte-level BPE training, step for step as tokenizers' BpeTrainer (models/bpe/trainer.rs and
 * word.rs of huggingface/tokenizers), so that its output is the same:
 *   - a word is a distinct piece with its count; its symbols start as the ids of its bytes;
 *   - a pair's count is the sum, over the words holding it, of word count times occurrences;
 *     each pair has a queue entry holding its count and the words where it was found;
 *   - the queue pops the highest count, the smallest (left, right) among equal counts. An
 *     entry whose count is out of date goes back with the current count (and its words);
 *     an up-to-date entry with count 0 ends training;
 *   - a merge rewrites its words left to right, pair after pair (in "aaaa", (a, a) gives
 *     "aa aa"), and for every rewrite takes one away from the pairs it breaks and adds one to
 *     the pairs it forms. The merged pair's own count is left as it is, as tokenizers does.
 *     Each pair that gained occurrences gets a new entry with the words that gained them;
 *   - the new token is the two tokens' bytes joined, looked up like tokenizers does (an
 *     existing string would keep its id). It never exists already: a span of a word that no
 *     merge has crossed is split exactly as its bytes alone would be, so a string is first
 *     formed by one pair only, in every word at once. Hence one new token per merge, and a
 *     pair gains occurrences only in the merge that makes one of its tokens. */
#define _POSIX_C_SOURCE 200809L
#include "train/tokenizer/bpe_train.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/tokenizer/byte_unicode.h"
#include "train/tokenizer/pretokenize.h"
#include "train/util/error_text.h"
#include "train/util/files.h"

#define EOT_TEXT "<|endoftext|>"
#define PATH_LEN 4096
#define NO_PAIR UINT64_MAX
#define MAX_IDS (UINT32_MAX - 1) /* pair keys pack two ids; NO_PAIR must stay free */

/* An array of *cap elements of `elem` bytes at p, grown to hold `need`: p itself when it
 * does, the new array, or NULL (p untouched) when out of memory. */
static void *reserve(void *p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return p;
    size_t n = *cap ? *cap : 4;
    while (n < need) n *= 2;
    void *q = n <= SIZE_MAX / elem ? realloc(p, n * elem) : NULL;
    if (q) *cap = n;
    return q;
}

static uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t hash_bytes(const uint8_t *s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 0x100000001b3ull;
    return mix64(h);
}

/* ---- byte strings interned by content: string i is bytes[start[i] .. start[i + 1]) ---- */

typedef struct {
    uint8_t *bytes;
    size_t len, cap;
    size_t *start; /* n + 1 entries */
    size_t n, start_cap;
    uint32_t *slot; /* open addressing: index + 1, 0 when empty */
    size_t mask;
} strings;

static size_t string_len(const strings *t, size_t i) { return t->start[i + 1] - t->start[i]; }

static size_t find_slot(const strings *t, const uint8_t *s, size_t n) {
    size_t i = hash_bytes(s, n) & t->mask;
    for (;; i = (i + 1) & t->mask) {
        uint32_t at = t->slot[i];
        if (!at || (string_len(t, at - 1) == n && memcmp(t->bytes + t->start[at - 1], s, n) == 0)) return i;
    }
}

static int rehash(strings *t, size_t size) {
    uint32_t *slot = calloc(size, sizeof *slot);
    if (!slot) return -1;
    free(t->slot);
    t->slot = slot;
    t->mask = size - 1;
    for (size_t i = 0; i < t->n; i++) t->slot[find_slot(t, t->bytes + t->start[i], string_len(t, i))] = (uint32_t)i + 1;
    return 0;
}

/* The index of s[0..n), added when new; -1 when out of memory or full. */
static long intern(strings *t, const uint8_t *s, size_t n) {
    if (!t->slot && rehash(t, 1024)) return -1;
    size_t i = find_slot(t, s, n);
    if (t->slot[i]) return (long)t->slot[i] - 1;
    if (t->n >= MAX_IDS) return -1;
    uint8_t *bytes = reserve(t->bytes, &t->cap, t->len + n, 1);
    if (bytes) t->bytes = bytes;
    size_t *start = reserve(t->start, &t->start_cap, t->n + 2, sizeof *t->start);
    if (start) t->start = start;
    if (!bytes || !start) return -1;
    memcpy(t->bytes + t->len, s, n);
    t->start[t->n] = t->len;
    t->len += n;
    t->start[t->n + 1] = t->len;
    t->slot[i] = (uint32_t)++t->n;
    if (2 * t->n > t->mask && rehash(t, 2 * (t->mask + 1))) return -1;
    return (long)t->n - 1;
}

static void strings_free(strings *t) {
    free(t->bytes);
    free(t->start);
    free(t->slot);
}

/* ---- the trainer's state ---- */

typedef struct {
    uint64_t pair; /* left << 32 | right; NO_PAIR when the slot is empty */
    int64_t count;
    uint32_t gain; /* 1 + its index in the trainer's gains while it gains occurrences, else 0 */
} pair_slot;

/* A queue entry: a pair, its count when queued, and the words it was found in. */
typedef struct {
    int64_t count;
    uint64_t pair;
    uint32_t *words;
    size_t n_words;
} entry;

/* A pair that gained occurrences in the current step (counting, or one merge), and the words
 * where it did, each once. */
typedef struct {
    uint64_t pair;
    uint32_t *words;
    size_t n_words, cap;
} gain;

typedef struct {
    uint32_t left, right;
} merge_rec;

typedef struct {
    /* words: distinct pieces, their counts, and their symbols (token ids), which start as
     * one per byte and shrink as merges join them */
    strings words;
    uint64_t *count;
    size_t count_cap, pieces;
    uint32_t *sym, *word_len;
    strings tokens; /* the vocabulary: token id i is string i */
    pair_slot *pairs;
    size_t pairs_mask, pairs_used;
    entry *heap;
    size_t heap_n, heap_cap;
    gain *gains;
    size_t n_gains, gains_cap;
    merge_rec *merges;
    size_t n_merges, merges_cap;
    uint8_t *scratch;
    size_t scratch_cap;
} trainer;

static uint64_t pair_of(uint32_t left, uint32_t right) { return (uint64_t)left << 32 | right; }

static pair_slot *find_pair(trainer *t, uint64_t pair) {
    size_t i = mix64(pair) & t->pairs_mask;
    while (t->pairs[i].pair != pair && t->pairs[i].pair != NO_PAIR) i = (i + 1) & t->pairs_mask;
    return &t->pairs[i];
}

static int grow_pairs(trainer *t) {
    size_t old_size = t->pairs ? t->pairs_mask + 1 : 0, size = old_size ? 2 * old_size : 1 << 16;
    pair_slot *old = t->pairs, *fresh = malloc(size * sizeof *fresh);
    if (!fresh) return -1;
    for (size_t i = 0; i < size; i++) fresh[i] = (pair_slot){NO_PAIR, 0, 0};
    t->pairs = fresh;
    t->pairs_mask = size - 1;
    for (size_t i = 0; i < old_size; i++)
        if (old[i].pair != NO_PAIR) *find_pair(t, old[i].pair) = old[i];
    free(old);
    return 0;
}

/* The pair's slot, made (count 0) when new; NULL when out of memory. */
static pair_slot *pair_entry(trainer *t, uint64_t pair) {
    if ((!t->pairs || 2 * (t->pairs_used + 1) > t->pairs_mask) && grow_pairs(t)) return NULL;
    pair_slot *s = find_pair(t, pair);
    if (s->pair == NO_PAIR) {
        s->pair = pair;
        t->pairs_used++;
    }
    return s;
}

/* Adds delta to the pair's count; a gain also records the word. */
static int change_pair(trainer *t, uint32_t left, uint32_t right, int64_t delta, uint32_t word) {
    uint64_t pair = pair_of(left, right);
    pair_slot *s = pair_entry(t, pair);
    if (!s) return -1;
    s->count += delta;
    if (delta <= 0) return 0;
    if (!s->gain) {
        gain *gains = t->n_gains < UINT32_MAX ? reserve(t->gains, &t->gains_cap, t->n_gains + 1, sizeof *gains) : NULL;
        if (!gains) return -1;
        t->gains = gains;
        t->gains[t->n_gains] = (gain){pair, NULL, 0, 0};
        s->gain = (uint32_t)++t->n_gains;
    }
    gain *g = &t->gains[s->gain - 1];
    if (g->n_words && g->words[g->n_words - 1] == word) return 0; /* a word's changes come together */
    uint32_t *words = reserve(g->words, &g->cap, g->n_words + 1, sizeof *words);
    if (!words) return -1;
    g->words = words;
    g->words[g->n_words++] = word;
    return 0;
}

/* ---- the queue: highest count first, then the smallest pair ---- */

static int above(const entry *a, const entry *b) { return a->count != b->count ? a->count > b->count : a->pair < b->pair; }

static int heap_push(trainer *t, entry e) {
    entry *heap = reserve(t->heap, &t->heap_cap, t->heap_n + 1, sizeof *t->heap);
    if (!heap) return -1;
    t->heap = heap;
    size_t i = t->heap_n++;
    while (i > 0 && above(&e, &t->heap[(i - 1) / 2])) {
        t->heap[i] = t->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    t->heap[i] = e;
    return 0;
}

static entry heap_pop(trainer *t) {
    entry top = t->heap[0], last = t->heap[--t->heap_n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= t->heap_n) break;
        if (c + 1 < t->heap_n && above(&t->heap[c + 1], &t->heap[c])) c++;
        if (!above(&t->heap[c], &last)) break;
        t->heap[i] = t->heap[c];
        i = c;
    }
    t->heap[i] = last;
    return top;
}

/* Gives each pair that gained occurrences a queue entry with the words where it did, when its
 * count is positive. */
static int queue_gains(trainer *t) {
    for (size_t i = 0; i < t->n_gains; i++) {
        gain *g = &t->gains[i];
        pair_slot *s = find_pair(t, g->pair);
        s->gain = 0;
        entry e = {s->count, g->pair, g->words, g->n_words};
        g->words = NULL; /* the entry owns them now */
        if (e.count <= 0) {
            free(e.words);
            continue;
        }
        if (heap_push(t, e)) {
            free(e.words);
            return -1;
        }
    }
    t->n_gains = 0;
    return 0;
}

/* ---- training ---- */

static int count_piece(void *ctx, const char *piece, size_t len) {
    trainer *t = ctx;
    size_t known = t->words.n;
    long w = len <= UINT32_MAX ? intern(&t->words, (const uint8_t *)piece, len) : -1;
    uint64_t *count = w < 0 ? NULL : reserve(t->count, &t->count_cap, t->words.n, sizeof *t->count);
    if (!count) return 1;
    t->count = count;
    if (t->words.n > known) t->count[w] = 0;
    t->count[w]++;
    t->pieces++;
    return 0;
}

/* The vocabulary before any merge: <|endoftext|>, then the 256 bytes by the code point that
 * spells them; byte_id[b] is the id of byte b. */
static int start_vocabulary(trainer *t, uint32_t byte_id[256]) {
    if (intern(&t->tokens, (const uint8_t *)EOT_TEXT, strlen(EOT_TEXT)) < 0) return -1;
    for (uint32_t cp = 0; cp < 512; cp++)
        for (int b = 0; b < 256; b++) {
            if (pm_byte_to_unicode((uint8_t)b) != cp) continue;
            uint8_t byte = (uint8_t)b;
            long id = intern(&t->tokens, &byte, 1);
            if (id < 0) return -1;
            byte_id[b] = (uint32_t)id;
        }
    return 0;
}

/* Spells every word in token ids and counts its pairs. */
static int count_pairs(trainer *t, const uint32_t byte_id[256]) {
    size_t n_words = t->words.n;
    t->sym = malloc((t->words.len ? t->words.len : 1) * sizeof *t->sym);
    t->word_len = malloc((n_words ? n_words : 1) * sizeof *t->word_len);
    if (!t->sym || !t->word_len) return -1;
    for (size_t i = 0; i < t->words.len; i++) t->sym[i] = byte_id[t->words.bytes[i]];
    for (size_t w = 0; w < n_words; w++) {
        const uint32_t *s = t->sym + t->words.start[w];
        t->word_len[w] = (uint32_t)string_len(&t->words, w);
        for (uint32_t i = 0; i + 1 < t->word_len[w]; i++)
            if (change_pair(t, s[i], s[i + 1], (int64_t)t->count[w], (uint32_t)w)) return -1;
    }
    return queue_gains(t);
}

/* Rewrites word w with every (left, right) joined into id, left to right. */
static int merge_word(trainer *t, uint32_t w, uint32_t left, uint32_t right, uint32_t id) {
    uint32_t *s = t->sym + t->words.start[w], n = t->word_len[w], out = 0;
    int64_t c = (int64_t)t->count[w];
    for (uint32_t r = 0; r < n;) {
        if (s[r] != left || r + 1 >= n || s[r + 1] != right) {
            s[out++] = s[r++];
            continue;
        }
        if (out > 0 && (change_pair(t, s[out - 1], left, -c, w) || change_pair(t, s[out - 1], id, c, w))) return -1;
        s[out++] = id;
        r += 2;
        if (r < n && (change_pair(t, right, s[r], -c, w) || change_pair(t, id, s[r], c, w))) return -1;
    }
    t->word_len[w] = out;
    return 0;
}

/* The id of the token left + right, added to the vocabulary when new; -1 when out of memory. */
static long joined_token(trainer *t, uint32_t left, uint32_t right) {
    size_t a = string_len(&t->tokens, left), b = string_len(&t->tokens, right);
    uint8_t *scratch = reserve(t->scratch, &t->scratch_cap, a + b, 1);
    if (!scratch) return -1;
    t->scratch = scratch;
    memcpy(t->scratch, t->tokens.bytes + t->tokens.start[left], a);
    memcpy(t->scratch + a, t->tokens.bytes + t->tokens.start[right], b);
    return intern(&t->tokens, t->scratch, a + b);
}

static int merge_top(trainer *t, const entry *top) {
    uint32_t left = (uint32_t)(top->pair >> 32), right = (uint32_t)top->pair;
    long id = joined_token(t, left, right);
    merge_rec *merges = id < 0 ? NULL : reserve(t->merges, &t->merges_cap, t->n_merges + 1, sizeof *t->merges);
    if (!merges) return -1;
    t->merges = merges;
    t->merges[t->n_merges++] = (merge_rec){left, right};
    for (size_t i = 0; i < top->n_words; i++)
        if (merge_word(t, top->words[i], left, right, (uint32_t)id)) return -1;
    return queue_gains(t);
}

static int run_merges(trainer *t, size_t vocab_size, pm_bpe_train_progress progress, void *ctx) {
    size_t first = t->tokens.n;
    while (t->tokens.n < vocab_size && t->heap_n > 0) {
        entry top = heap_pop(t);
        int64_t now = find_pair(t, top.pair)->count;
        if (top.count != now) {
            top.count = now;
            heap_push(t, top); /* cannot fail: the pop made room */
            continue;
        }
        if (top.count < 1) {
            free(top.words);
            break;
        }
        int rc = merge_top(t, &top);
        free(top.words);
        if (rc) return -1;
        if (progress) progress(ctx, (int)(t->tokens.n - first), (int)(vocab_size - first));
    }
    return 0;
}

static void trainer_free(trainer *t) {
    strings_free(&t->words);
    strings_free(&t->tokens);
    free(t->count);
    free(t->sym);
    free(t->word_len);
    free(t->pairs);
    for (size_t i = 0; i < t->heap_n; i++) free(t->heap[i].words);
    free(t->heap);
    for (size_t i = 0; i < t->n_gains; i++) free(t->gains[i].words);
    free(t->gains);
    free(t->merges);
    free(t->scratch);
}

/* ---- the files, byte for byte as tokenizers writes them ---- */

typedef struct {
    char *p;
    size_t n, cap;
    int failed;
} text;

static void put(text *o, const void *s, size_t n) {
    if (n == 0) return;
    char *p = o->failed ? NULL : reserve(o->p, &o->cap, o->n + n, 1);
    if (!p) {
        o->failed = 1;
        return;
    }
    o->p = p;
    memcpy(o->p + o->n, s, n);
    o->n += n;
}

static void put_str(text *o, const char *s) { put(o, s, strlen(s)); }

static void put_int(text *o, unsigned long v) {
    char buf[24];
    put(o, buf, (size_t)snprintf(buf, sizeof buf, "%lu", v));
}

/* A JSON string as serde_json writes it: only '"', '\\' and control characters escaped. */
static void put_json_string(text *o, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    put(o, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\b' ? "\\b" : c == '\f' ? "\\f"
                          : c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t" : NULL;
        if (esc) put_str(o, esc);
        else if (c < 0x20) put(o, (char[]){'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]}, 6);
        else put(o, &s[i], 1);
    }
    put(o, "\"", 1);
}

/* Every token's spelling in the files: the special token as it is, the others in GPT-2's
 * byte alphabet. Token i is spell[at[i] .. at[i + 1]). */
typedef struct {
    char *spell;
    size_t *at;
} spellings;

static int spell_tokens(const strings *tokens, spellings *sp) {
    sp->spell = malloc(2 * tokens->len + 1);
    sp->at = malloc((tokens->n + 1) * sizeof *sp->at);
    if (!sp->spell || !sp->at) return -1;
    size_t n = 0;
    for (size_t i = 0; i < tokens->n; i++) {
        sp->at[i] = n;
        const uint8_t *b = tokens->bytes + tokens->start[i];
        size_t len = string_len(tokens, i);
        if (i == 0) {
            memcpy(sp->spell + n, b, len);
            n += len;
        } else {
            n += pm_bytes_to_unicode(b, len, sp->spell + n);
        }
    }
    sp->at[tokens->n] = n;
    return 0;
}

static void put_token(text *o, const spellings *sp, size_t id, int json) {
    const char *s = sp->spell + sp->at[id];
    size_t n = sp->at[id + 1] - sp->at[id];
    if (json) put_json_string(o, s, n);
    else put(o, s, n);
}

static void vocab_json(text *o, const trainer *t, const spellings *sp) {
    put(o, "{", 1);
    for (size_t id = 0; id < t->tokens.n; id++) {
        if (id) put(o, ",", 1);
        put_token(o, sp, id, 1);
        put(o, ":", 1);
        put_int(o, id);
    }
    put(o, "}", 1);
}

static void merges_txt(text *o, const trainer *t, const spellings *sp) {
    put_str(o, "#version: 0.2\n");
    for (size_t i = 0; i < t->n_merges; i++) {
        put_token(o, sp, t->merges[i].left, 0);
        put(o, " ", 1);
        put_token(o, sp, t->merges[i].right, 0);
        put(o, "\n", 1);
    }
}

static const char TOKENIZER_HEAD[] =
    "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": [\n"
    "    {\n      \"id\": 0,\n      \"content\": \"" EOT_TEXT "\",\n      \"single_word\": false,\n"
    "      \"lstrip\": false,\n      \"rstrip\": false,\n      \"normalized\": false,\n      \"special\": true\n"
    "    }\n  ],\n  \"normalizer\": null,\n  \"pre_tokenizer\": {\n    \"type\": \"ByteLevel\",\n"
    "    \"add_prefix_space\": false,\n    \"trim_offsets\": true,\n    \"use_regex\": true\n  },\n"
    "  \"post_processor\": null,\n  \"decoder\": {\n    \"type\": \"ByteLevel\",\n    \"add_prefix_space\": true,\n"
    "    \"trim_offsets\": true,\n    \"use_regex\": true\n  },\n  \"model\": {\n    \"type\": \"BPE\",\n"
    "    \"dropout\": null,\n    \"unk_token\": null,\n    \"continuing_subword_prefix\": null,\n"
    "    \"end_of_word_suffix\": null,\n    \"fuse_unk\": false,\n    \"byte_fallback\": false,\n"
    "    \"ignore_merges\": false,\n    \"vocab\": {";

/* tokenizer.json as tokenizers' save() pretty-prints it. */
static void tokenizer_json(text *o, const trainer *t, const spellings *sp) {
    put_str(o, TOKENIZER_HEAD);
    for (size_t id = 0; id < t->tokens.n; id++) {
        put_str(o, id ? ",\n      " : "\n      ");
        put_token(o, sp, id, 1);
        put_str(o, ": ");
        put_int(o, id);
    }
    put_str(o, "\n    },\n    \"merges\": [");
    for (size_t i = 0; i < t->n_merges; i++) {
        put_str(o, i ? ",\n      [\n        " : "\n      [\n        ");
        put_token(o, sp, t->merges[i].left, 1);
        put_str(o, ",\n        ");
        put_token(o, sp, t->merges[i].right, 1);
        put_str(o, "\n      ]");
    }
    put_str(o, t->n_merges ? "\n    ]\n  }\n}" : "]\n  }\n}");
}

static int write_files(const trainer *t, const char *out_dir, char *err, size_t errlen) {
    if (pm_mkdir_p(out_dir)) return pm_errorf(err, errlen, "cannot create %s: %s", out_dir, strerror(errno));
    spellings sp = {0};
    int rc = spell_tokens(&t->tokens, &sp) ? pm_errorf(err, errlen, "out of memory writing the vocabulary") : 0;
    static const char *const names[] = {"vocab.json", "merges.txt", "tokenizer.json"};
    static void (*const writers[])(text *, const trainer *, const spellings *) = {vocab_json, merges_txt,
                                                                                  tokenizer_json};
    for (int f = 0; f < 3 && rc == 0; f++) {
        text o = {0};
        writers[f](&o, t, &sp);
        char path[PATH_LEN + 32];
        if (o.failed) rc = pm_errorf(err, errlen, "out of memory writing %s", names[f]);
        else if (snprintf(path, sizeof path, "%s/%s", out_dir, names[f]) >= (int)sizeof path)
            rc = pm_errorf(err, errlen, "output path too long: %s", out_dir);
        else rc = pm_write_file_atomic(path, o.p, o.n, err, errlen);
        free(o.p);
    }
    free(sp.spell);
    free(sp.at);
    return rc;
}

int pm_bpe_train(const char *const *docs, const size_t *lens, size_t n_docs, int vocab_size, const char *out_dir,
                 pm_bpe_train_progress progress, void *ctx, pm_bpe_train_result *result, char *err,
                 size_t errlen) {
    if (vocab_size < PM_BPE_TRAIN_MIN_VOCAB)
        return pm_errorf(err, errlen, "vocabulary size %d is too small: it needs at least %d (%s and the 256 bytes)",
                         vocab_size, PM_BPE_TRAIN_MIN_VOCAB, EOT_TEXT);
    if (!out_dir || strlen(out_dir) >= PATH_LEN) return pm_errorf(err, errlen, "no output folder, or one too long");
    if (n_docs && (!docs || !lens)) return pm_errorf(err, errlen, "no documents given");
    trainer t = {0};
    uint32_t byte_id[256];
    pm_pretok *pre = pm_pretok_open(err, errlen);
    int rc = pre ? 0 : -1;
    for (size_t i = 0; i < n_docs && rc == 0; i++) {
        rc = pm_pretok_split(pre, docs[i], lens[i], count_piece, &t, err, errlen);
        if (rc > 0) rc = pm_errorf(err, errlen, "out of memory counting words");
    }
    pm_pretok_free(pre);
    if (rc == 0 && t.words.n == 0) rc = pm_errorf(err, errlen, "no text to train on: the documents are empty");
    if (rc == 0 && (start_vocabulary(&t, byte_id) || count_pairs(&t, byte_id) ||
                    run_merges(&t, (size_t)vocab_size, progress, ctx)))
        rc = pm_errorf(err, errlen, "out of memory training the vocabulary");
    if (rc == 0) rc = write_files(&t, out_dir, err, errlen);
    if (rc == 0 && result) *result = (pm_bpe_train_result){(int)t.tokens.n, (int)t.n_merges, t.words.n, t.pieces};
    trainer_free(&t);
    return rc;
}
