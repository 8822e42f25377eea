/* Training data: manifest -> documents -> train/eval split -> packed sequences -> batches.
 *
 * Manifest (JSON):
 *   {"domains": [
 *      {"name": "code",  "jsonl": ["code.jsonl"], "text_field": "text"},
 *      {"name": "prose", "files": ["texts/ch*.txt", "/srv/extra.txt"]}]}
 *
 *   domains      array of 1 to 16 domains; a domain's position is its label.
 *   name         required, 1 to 63 characters, unique.
 *   files        paths or glob patterns (* ? [...]); every file they name is one document,
 *                its bytes as they are.
 *   jsonl        paths or glob patterns of JSON Lines files: every non-blank line is a JSON
 *                object whose `text_field` string is one document.
 *   text_field   that field's name (default "text").
 *   description  optional free text (where the data comes from); ignored.
 *   A domain needs `files`, `jsonl` or both. Documents keep the order of the lists; the
 *   matches of one pattern are sorted by name. Relative paths resolve against the manifest's
 *   folder. Errors: any other key, a pattern matching no file, a missing, unreadable or empty
 *   file, a JSONL line that is not a JSON object with a non-empty string `text_field`, a
 *   domain with fewer than 2 documents or with too little text for one train and one eval
 *   sequence. Limits: 1 MiB of manifest, 512 MiB of text in all.
 *
 * Split: each domain's documents are shuffled with the seed; the first
 * round(eval_fraction * n) of them, at least 1 and at most n-1, are held out for eval.
 * Packing: each split's documents, in manifest order and each followed by end-of-text, form
 * one token stream cut into consecutive sequences of T+1 tokens; a shorter tail is unused.
 * Batches: balanced mode gives every domain B/D rows and the B%D extra rows to the next
 * domains in turn, batch after batch; natural mode draws each row's domain with probability
 * proportional to its train sequences. A domain serves its train sequences in a fresh seeded
 * order every epoch, so the stream position is just how many each domain has served. */
#define _POSIX_C_SOURCE 200809L
#include "train/data/data.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <glob.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backends/pm_rng.h"
#include "train/util/error_text.h"
#include "train/util/files.h"
#include "train/data/ngram.h"
#include "train/data/token_cache.h"

#define MANIFEST_MAX_BYTES ((size_t)1 << 20)
#define TEXT_MAX_BYTES ((size_t)512 << 20)
#define NAME_MAX_LEN 63
#define PATH_LEN 4096

enum { TRAIN = 0, EVAL = 1 };
/* What a random stream is for: each use of the seed gets its own. */
enum { KEY_SPLIT = 1, KEY_EPOCH = 2, KEY_NATURAL = 3 };

typedef struct {
    int32_t *tokens; /* the documents, each followed by end-of-text */
    size_t n_tokens, n_docs, n_seqs;
} split;

typedef struct {
    char name[NAME_MAX_LEN + 1];
    split part[2];        /* TRAIN, EVAL */
    size_t *order;        /* the current epoch's order of the train sequences */
    uint64_t order_epoch; /* the epoch `order` belongs to (UINT64_MAX: none yet) */
    double unigram, ngram, byte_ngram;
} domain;

struct pm_dataset {
    pm_data_options opt;
    pm_tokenizer *own_tokenizer; /* the byte tokenizer when the options name none */
    int n_domains;
    domain dom[PM_MAX_DOMAINS];
    uint64_t served[PM_MAX_DOMAINS]; /* train sequences each domain has handed out */
    uint64_t rotation;               /* balanced mode: the next domain to get an extra row */
    uint64_t natural_draws;          /* natural mode: rows drawn so far */
};

/* One domain's documents while they are read: bytes back to back, document i ends at
 * ends[i]. */
typedef struct {
    char *text;
    size_t len, cap;
    size_t *ends;
    size_t n, ncap;
} doc_list;


/* ---- counter-based randomness: any value recomputes without replaying a generator ---- */

static uint32_t seed_key(uint64_t seed, uint32_t purpose, uint32_t d, uint64_t epoch) {
    uint32_t h = pm_hash32((uint32_t)seed ^ pm_hash32((uint32_t)(seed >> 32) + 0x9e3779b9u));
    h = pm_hash32(h ^ pm_hash32(purpose));
    h = pm_hash32(h ^ pm_hash32(d + 0x632be5abu));
    h = pm_hash32(h ^ pm_hash32((uint32_t)epoch));
    return pm_hash32(h ^ pm_hash32((uint32_t)(epoch >> 32) + 0x85ebca6bu));
}

static uint32_t random_at(uint32_t key, uint64_t i) {
    return pm_hash32(key ^ pm_hash32((uint32_t)i ^ pm_hash32((uint32_t)(i >> 32) + 0x27d4eb2fu)));
}

/* The identity permutation of n, shuffled (Fisher-Yates) by the stream `key`. */
static void permutation(size_t *a, size_t n, uint32_t key) {
    for (size_t i = 0; i < n; i++) a[i] = i;
    for (size_t i = n; i > 1; i--) {
        size_t j = random_at(key, i) % i, t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

/* ---- reading ---- */

static int is_blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return 0;
    return 1;
}

/* Parses exactly text[0..len) as one JSON value (trailing whitespace allowed); NULL when it
 * is not, with *where the byte offset of the problem. */
static cJSON *parse_json(const char *text, size_t len, size_t *where) {
    const char *end = NULL;
    cJSON *v = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    *where = end ? (size_t)(end - text) : 0;
    if (v && !is_blank(end, len - *where)) {
        cJSON_Delete(v);
        v = NULL;
    }
    return v;
}

/* Grows an array of cap elements of `elem` bytes to hold `need`; NULL (p untouched) when out
 * of memory. */
static void *reserve(void *p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return p;
    size_t n = *cap ? *cap : 64;
    while (n < need) n *= 2;
    void *q = realloc(p, n * elem);
    if (q) *cap = n;
    return q;
}

static int doc_add(doc_list *l, const char *text, size_t n, char *err, size_t errlen) {
    char *t = reserve(l->text, &l->cap, l->len + n, 1);
    if (t) l->text = t;
    size_t *e = reserve(l->ends, &l->ncap, l->n + 1, sizeof *e);
    if (e) l->ends = e;
    if (!t || !e) return pm_errorf(err, errlen, "out of memory reading documents");
    memcpy(l->text + l->len, text, n);
    l->len += n;
    l->ends[l->n++] = l->len;
    return 0;
}

/* 1 when a JSON line holds the escape \u0000: cJSON's strings end at a NUL, so the rest of
 * the document would be lost without a word. */
static int has_nul_escape(const char *s, size_t n) {
    for (size_t i = 0; i + 5 < n; i++) {
        if (s[i] != '\\') continue;
        if (!memcmp(s + i + 1, "u0000", 5)) return 1;
        i++; /* skip the escaped character: an escaped backslash before "u0000" is text */
    }
    return 0;
}

/* One document per non-blank line of a JSON Lines file: the line's string `field`. */
static int add_jsonl(doc_list *docs, const char *path, const char *text, size_t len, const char *field,
                     char *err, size_t errlen) {
    size_t before = docs->n, line_no = 0;
    for (size_t start = 0; start < len;) {
        const char *nl = memchr(text + start, '\n', len - start);
        size_t end = nl ? (size_t)(nl - text) : len, where;
        const char *line = text + start;
        size_t n = end - start;
        line_no++;
        start = end + 1;
        if (is_blank(line, n)) continue;
        cJSON *obj = parse_json(line, n, &where);
        if (!obj) return pm_errorf(err, errlen, "%s:%zu: not valid JSON (at column %zu)", path, line_no, where + 1);
        const cJSON *v = cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, field) : NULL;
        int rc = 0;
        if (!cJSON_IsObject(obj)) rc = pm_errorf(err, errlen, "%s:%zu: not a JSON object", path, line_no);
        else if (!cJSON_IsString(v)) rc = pm_errorf(err, errlen, "%s:%zu: no string field \"%s\"", path, line_no, field);
        else if (!v->valuestring[0]) rc = pm_errorf(err, errlen, "%s:%zu: \"%s\" is empty", path, line_no, field);
        else if (has_nul_escape(line, n))
            rc = pm_errorf(err, errlen, "%s:%zu: the text holds a NUL character (\\u0000), which a document cannot "
                           "hold here", path, line_no);
        else rc = doc_add(docs, v->valuestring, strlen(v->valuestring), err, errlen);
        cJSON_Delete(obj);
        if (rc) return rc;
    }
    if (docs->n == before) return pm_errorf(err, errlen, "%s: no documents (only blank lines)", path);
    return 0;
}

/* Every document one manifest entry names: a path or glob pattern, relative to `dir`, of
 * plain files (field NULL) or JSON Lines files. */
static int add_entry(doc_list *docs, const char *dname, const char *dir, const char *entry, const char *field,
                     size_t *budget, char *err, size_t errlen) {
    char pattern[PATH_LEN];
    int n = entry[0] == '/' ? snprintf(pattern, sizeof pattern, "%s", entry)
                            : snprintf(pattern, sizeof pattern, "%s/%s", dir, entry);
    if (n < 0 || (size_t)n >= sizeof pattern) return pm_errorf(err, errlen, "domain '%s': path too long: %s", dname, entry);
    glob_t g;
    int literal = strpbrk(entry, "*?[\\") == NULL;
    int rc = glob(pattern, literal ? GLOB_NOCHECK : 0, NULL, &g);
    if (rc == GLOB_NOMATCH) return pm_errorf(err, errlen, "domain '%s': '%s' matches no file", dname, pattern);
    if (rc != 0) {
        globfree(&g);
        return pm_errorf(err, errlen, "domain '%s': cannot expand '%s'", dname, pattern);
    }
    rc = 0;
    for (size_t i = 0; i < g.gl_pathc && rc == 0; i++) {
        const char *path = g.gl_pathv[i];
        size_t len;
        char *text = pm_read_file(path, *budget, &len, err, errlen);
        if (!text) rc = -1;
        else if (len == 0) rc = pm_errorf(err, errlen, "%s: empty file", path);
        else if (field) rc = add_jsonl(docs, path, text, len, field, err, errlen);
        else rc = doc_add(docs, text, len, err, errlen);
        if (text) *budget -= len;
        free(text);
    }
    globfree(&g);
    return rc;
}

static int is_string_array(const cJSON *v) {
    if (!cJSON_IsArray(v)) return 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, v) if (!cJSON_IsString(x)) return 0;
    return 1;
}

/* Checks one manifest domain and reads its documents. */
static int load_domain(const cJSON *spec, int index, const char *dir, size_t *budget, domain *dom,
                       doc_list *docs, char *err, size_t errlen) {
    if (!cJSON_IsObject(spec)) return pm_errorf(err, errlen, "manifest: domain %d is not an object", index);
    static const char *const keys[] = {"name", "files", "jsonl", "text_field", "description"};
    enum { n_keys = sizeof keys / sizeof keys[0] };
    const cJSON *k;
    cJSON_ArrayForEach(k, spec) {
        size_t i = 0;
        while (i < n_keys && strcmp(k->string, keys[i]) != 0) i++;
        if (i == n_keys)
            return pm_errorf(err, errlen, "manifest: domain %d: unknown key \"%s\" (expected name, files, jsonl, "
                        "text_field, description)", index, k->string);
    }
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(spec, "name");
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(spec, "files");
    const cJSON *jsonl = cJSON_GetObjectItemCaseSensitive(spec, "jsonl");
    const cJSON *field = cJSON_GetObjectItemCaseSensitive(spec, "text_field");
    const cJSON *desc = cJSON_GetObjectItemCaseSensitive(spec, "description");
    if (!cJSON_IsString(name) || !name->valuestring[0] || strlen(name->valuestring) > NAME_MAX_LEN)
        return pm_errorf(err, errlen, "manifest: domain %d needs a \"name\" string of 1 to %d characters", index,
                    NAME_MAX_LEN);
    const char *dname = name->valuestring;
    if ((files && !is_string_array(files)) || (jsonl && !is_string_array(jsonl)))
        return pm_errorf(err, errlen, "manifest: domain '%s': \"files\" and \"jsonl\" must be arrays of strings", dname);
    if (!files && !jsonl) return pm_errorf(err, errlen, "manifest: domain '%s' has neither \"files\" nor \"jsonl\"", dname);
    if ((field && !cJSON_IsString(field)) || (desc && !cJSON_IsString(desc)))
        return pm_errorf(err, errlen, "manifest: domain '%s': \"text_field\" and \"description\" must be strings", dname);
    snprintf(dom->name, sizeof dom->name, "%s", dname);
    const cJSON *x;
    const char *text_field = field ? field->valuestring : "text";
    cJSON_ArrayForEach(x, files) {
        if (add_entry(docs, dname, dir, x->valuestring, NULL, budget, err, errlen)) return -1;
    }
    cJSON_ArrayForEach(x, jsonl) {
        if (add_entry(docs, dname, dir, x->valuestring, text_field, budget, err, errlen)) return -1;
    }
    return 0;
}

/* ---- split and pack ---- */

static double unigram_entropy(const int32_t *tokens, size_t n, int vocab) {
    size_t *count = calloc((size_t)vocab, sizeof *count);
    if (!count) return NAN;
    for (size_t i = 0; i < n; i++)
        if (tokens[i] >= 0 && tokens[i] < vocab) count[tokens[i]]++;
    double h = 0.0;
    for (int t = 0; t < vocab; t++)
        if (count[t]) {
            double p = (double)count[t] / (double)n;
            h -= p * log(p);
        }
    free(count);
    return h;
}

/* Every document's ids, back to back (document i's end at id_ends[i]): from the token cache,
 * or encoded and then cached. The byte tokenizer is never cached (copying is encoding). */
static int encode_documents(pm_tokenizer *tok, const char *dname, const doc_list *docs, int32_t **ids,
                            size_t *id_ends, char *err, size_t errlen) {
    int cached = strcmp(pm_tokenizer_kind(tok), "byte") != 0;
    uint64_t key = cached ? pm_token_cache_key(pm_tokenizer_hash(tok), docs->text, docs->ends, docs->n) : 0;
    if (cached && pm_token_cache_load(dname, key, docs->n, ids, id_ends)) return 0;
    *ids = malloc((docs->len ? docs->len : 1) * sizeof **ids); /* never more ids than bytes */
    if (!*ids) return pm_errorf(err, errlen, "out of memory encoding domain '%s'", dname);
    size_t n_ids = 0;
    for (size_t i = 0; i < docs->n; i++) {
        size_t start = i ? docs->ends[i - 1] : 0;
        long k = pm_tokenizer_encode(tok, docs->text + start, docs->ends[i] - start, *ids + n_ids, err, errlen);
        if (k < 0) return -1;
        n_ids += (size_t)k;
        id_ends[i] = n_ids;
    }
    if (cached) pm_token_cache_store(dname, key, docs->n, *ids, id_ends);
    return 0;
}

/* The Kneser-Ney trigram over bytes (end-of-text as a 257th symbol) fitted on the train
 * documents and scored on the held-out ones, in nats over all held-out bytes: the baseline
 * whatever the tokenizer, since a BPE model's own trigram sees more context per token than
 * bytes do. */
static double byte_ngram_nats(const doc_list *docs, const unsigned char *held_out) {
    size_t n[2] = {0, 0};
    for (size_t i = 0; i < docs->n; i++) n[held_out[i]] += docs->ends[i] - (i ? docs->ends[i - 1] : 0) + 1;
    int32_t *stream[2] = {malloc((n[TRAIN] + 1) * sizeof(int32_t)), malloc((n[EVAL] + 1) * sizeof(int32_t))};
    double loss = NAN;
    if (stream[TRAIN] && stream[EVAL]) {
        size_t at[2] = {0, 0};
        for (size_t i = 0; i < docs->n; i++) {
            int p = held_out[i];
            for (size_t j = i ? docs->ends[i - 1] : 0; j < docs->ends[i]; j++)
                stream[p][at[p]++] = (unsigned char)docs->text[j];
            stream[p][at[p]++] = 256;
        }
        loss = pm_ngram_heldout_loss(stream[TRAIN], n[TRAIN], stream[EVAL], n[EVAL], 257) * (double)n[EVAL];
    }
    free(stream[TRAIN]);
    free(stream[EVAL]);
    return loss;
}

/* Holds out a seeded share of the documents for eval and packs both splits. */
static int split_domain(domain *dom, const doc_list *docs, int d, const pm_data_options *opt, char *err,
                        size_t errlen) {
    size_t n = docs->n;
    if (n < 2)
        return pm_errorf(err, errlen, "domain '%s': %zu document%s; a domain needs at least 2 (one train, one eval)",
                    dom->name, n, n == 1 ? "" : "s");
    size_t n_eval = (size_t)llround(opt->eval_fraction * (double)n);
    n_eval = n_eval < 1 ? 1 : n_eval > n - 1 ? n - 1 : n_eval;
    size_t *perm = malloc(n * sizeof *perm), *id_ends = malloc(n * sizeof *id_ends);
    unsigned char *held_out = calloc(n, 1);
    int32_t *ids = NULL;
    int rc = perm && id_ends && held_out ? 0 : pm_errorf(err, errlen, "out of memory splitting domain '%s'", dom->name);
    if (!rc) rc = encode_documents(opt->tokenizer, dom->name, docs, &ids, id_ends, err, errlen);
    if (!rc) {
        permutation(perm, n, seed_key(opt->seed, KEY_SPLIT, (uint32_t)d, 0));
        for (size_t i = 0; i < n_eval; i++) held_out[perm[i]] = 1;
        for (size_t i = 0; i < n; i++) {
            split *s = &dom->part[held_out[i]];
            s->n_tokens += id_ends[i] - (i ? id_ends[i - 1] : 0) + 1;
            s->n_docs++;
        }
    }
    for (int p = TRAIN; p <= EVAL && rc == 0; p++) {
        split *s = &dom->part[p];
        s->tokens = malloc(s->n_tokens * sizeof *s->tokens);
        if (!s->tokens) rc = pm_errorf(err, errlen, "out of memory packing domain '%s'", dom->name);
        s->n_tokens = 0; /* refilled below */
    }
    int32_t eot = pm_tokenizer_eot(opt->tokenizer);
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t start = i ? id_ends[i - 1] : 0;
        split *s = &dom->part[held_out[i]];
        memcpy(s->tokens + s->n_tokens, ids + start, (id_ends[i] - start) * sizeof *ids);
        s->n_tokens += id_ends[i] - start;
        s->tokens[s->n_tokens++] = eot;
    }
    /* in nats per token of this tokenizer, over the same held-out text (end-of-text counts
     * as one byte, as in the evaluation's bits per byte) */
    if (rc == 0 && strcmp(pm_tokenizer_kind(opt->tokenizer), "byte") != 0)
        dom->byte_ngram = byte_ngram_nats(docs, held_out) / (double)dom->part[EVAL].n_tokens;
    else
        dom->byte_ngram = -1; /* bytes are the tokens: the token trigram, set below */
    free(perm);
    free(id_ends);
    free(held_out);
    free(ids);
    if (rc) return rc;
    size_t seq = (size_t)opt->seq_len + 1;
    for (int p = TRAIN; p <= EVAL; p++) {
        split *s = &dom->part[p];
        s->n_seqs = s->n_tokens / seq;
        if (s->n_seqs == 0)
            return pm_errorf(err, errlen, "domain '%s': its %s split (%zu documents, %zu tokens) is shorter than one "
                        "sequence of T+1 = %zu tokens; add text or shorten the sequences", dom->name,
                        p == TRAIN ? "train" : "eval", s->n_docs, s->n_tokens, seq);
    }
    dom->order = malloc(dom->part[TRAIN].n_seqs * sizeof *dom->order);
    if (!dom->order) return pm_errorf(err, errlen, "out of memory for domain '%s'", dom->name);
    dom->order_epoch = UINT64_MAX;
    dom->unigram = unigram_entropy(dom->part[TRAIN].tokens, dom->part[TRAIN].n_tokens,
                                   pm_tokenizer_vocab_size(opt->tokenizer));
    dom->ngram = pm_ngram_heldout_loss(dom->part[TRAIN].tokens, dom->part[TRAIN].n_tokens, dom->part[EVAL].tokens,
                                       dom->part[EVAL].n_tokens, pm_tokenizer_vocab_size(opt->tokenizer));
    if (dom->byte_ngram < 0) dom->byte_ngram = dom->ngram;
    return 0;
}

/* ---- opening ---- */

static int check_options(const pm_data_options *opt, char *err, size_t errlen) {
    if (!opt) return pm_errorf(err, errlen, "data: no options");
    if (opt->seq_len < 1 || opt->seq_len > (1 << 24))
        return pm_errorf(err, errlen, "data: sequence length %d out of range (1 to %d)", opt->seq_len, 1 << 24);
    if (!(opt->eval_fraction >= 0.0 && opt->eval_fraction < 1.0))
        return pm_errorf(err, errlen, "data: eval fraction %g out of range [0, 1)", opt->eval_fraction);
    return 0;
}

/* The manifest's root object, checked: {"domains": [1..PM_MAX_DOMAINS entries]}. */
static cJSON *read_manifest(const char *path, char *err, size_t errlen) {
    char why[PATH_LEN + 128];
    size_t len, where;
    char *text = pm_read_file(path, MANIFEST_MAX_BYTES, &len, why, sizeof why);
    if (!text) {
        pm_errorf(err, errlen, "manifest %s", why);
        return NULL;
    }
    cJSON *root = parse_json(text, len, &where);
    free(text);
    if (!root) {
        pm_errorf(err, errlen, "manifest %s: not valid JSON (at byte %zu)", path, where);
        return NULL;
    }
    const cJSON *domains = cJSON_GetObjectItemCaseSensitive(root, "domains");
    int n = cJSON_GetArraySize(domains);
    if (!cJSON_IsObject(root) || cJSON_GetArraySize(root) != 1 || !cJSON_IsArray(domains) || n < 1 ||
        n > PM_MAX_DOMAINS) {
        pm_errorf(err, errlen, "manifest %s: expected an object {\"domains\": [...]} with 1 to %d domains", path,
             PM_MAX_DOMAINS);
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

/* The folder the manifest's relative paths start from. */
static void folder_of(const char *path, char *dir, size_t cap) {
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(dir, cap, ".");
    else snprintf(dir, cap, "%.*s", (int)(slash == path ? 1 : slash - path), path);
}

pm_dataset *pm_data_open(const char *manifest_path, const pm_data_options *opt, char *err, size_t errlen) {
    if (!manifest_path || strlen(manifest_path) >= PATH_LEN) {
        pm_errorf(err, errlen, "data: no manifest path, or one too long");
        return NULL;
    }
    if (check_options(opt, err, errlen)) return NULL;
    cJSON *root = read_manifest(manifest_path, err, errlen);
    if (!root) return NULL;
    pm_dataset *ds = calloc(1, sizeof *ds);
    if (!ds) {
        cJSON_Delete(root);
        pm_errorf(err, errlen, "out of memory");
        return NULL;
    }
    ds->opt = *opt;
    if (!ds->opt.tokenizer && !(ds->opt.tokenizer = ds->own_tokenizer = pm_tokenizer_open("byte", err, errlen))) {
        cJSON_Delete(root);
        pm_data_close(ds);
        return NULL;
    }
    char dir[PATH_LEN];
    folder_of(manifest_path, dir, sizeof dir);
    size_t budget = TEXT_MAX_BYTES;
    int rc = 0;
    const cJSON *spec;
    cJSON_ArrayForEach(spec, cJSON_GetObjectItemCaseSensitive(root, "domains")) {
        int d = ds->n_domains++;
        doc_list docs = {0};
        rc = load_domain(spec, d, dir, &budget, &ds->dom[d], &docs, err, errlen);
        for (int e = 0; e < d && rc == 0; e++)
            if (strcmp(ds->dom[e].name, ds->dom[d].name) == 0)
                rc = pm_errorf(err, errlen, "manifest: two domains named '%s'", ds->dom[d].name);
        if (rc == 0) rc = split_domain(&ds->dom[d], &docs, d, &ds->opt, err, errlen);
        free(docs.text);
        free(docs.ends);
        if (rc) break;
    }
    cJSON_Delete(root);
    if (rc) {
        pm_data_close(ds);
        return NULL;
    }
    return ds;
}

void pm_data_close(pm_dataset *ds) {
    if (!ds) return;
    for (int d = 0; d < ds->n_domains; d++) {
        free(ds->dom[d].part[TRAIN].tokens);
        free(ds->dom[d].part[EVAL].tokens);
        free(ds->dom[d].order);
    }
    pm_tokenizer_free(ds->own_tokenizer);
    free(ds);
}

/* ---- queries ---- */

int pm_data_domains(const pm_dataset *ds) { return ds->n_domains; }

pm_tokenizer *pm_data_tokenizer(const pm_dataset *ds) { return ds->opt.tokenizer; }

const char *pm_data_domain_name(const pm_dataset *ds, int d) { return ds->dom[d].name; }

size_t pm_data_tokens(const pm_dataset *ds, int d, int eval) {
    return ds->dom[d].part[eval ? EVAL : TRAIN].n_seqs * ((size_t)ds->opt.seq_len + 1);
}

size_t pm_data_documents(const pm_dataset *ds, int d, int eval) { return ds->dom[d].part[eval ? EVAL : TRAIN].n_docs; }

const int32_t *pm_data_stream(const pm_dataset *ds, int d, int eval, size_t *n_tokens) {
    const split *s = &ds->dom[d].part[eval ? EVAL : TRAIN];
    if (n_tokens) *n_tokens = s->n_tokens;
    return s->tokens;
}

double pm_data_unigram_loss(const pm_dataset *ds, int d) { return ds->dom[d].unigram; }
double pm_data_ngram_loss(const pm_dataset *ds, int d) { return ds->dom[d].ngram; }
double pm_data_byte_ngram_loss(const pm_dataset *ds, int d) { return ds->dom[d].byte_ngram; }

void pm_data_print_summary(const pm_dataset *ds, FILE *out) {
    for (int d = 0; d < ds->n_domains; d++)
        fprintf(out, "%-10s train %7zu docs %11zu tokens | eval %6zu docs %10zu tokens\n", ds->dom[d].name,
                pm_data_documents(ds, d, 0), pm_data_tokens(ds, d, 0), pm_data_documents(ds, d, 1),
                pm_data_tokens(ds, d, 1));
}

/* ---- batches ---- */

/* Copies sequence `seq` (T+1 tokens) of domain d into row r of a batch. */
static void put_row(const int32_t *seq, int T, int d, int r, int32_t *inputs, int32_t *targets, int32_t *domains) {
    size_t at = (size_t)r * (size_t)T;
    memcpy(inputs + at, seq, (size_t)T * sizeof *seq);
    memcpy(targets + at, seq + 1, (size_t)T * sizeof *seq);
    for (int t = 0; t < T; t++) domains[at + (size_t)t] = d;
}

/* The next train sequence of domain d, from this epoch's order. */
static const int32_t *next_sequence(pm_dataset *ds, int d) {
    domain *dom = &ds->dom[d];
    size_t n = dom->part[TRAIN].n_seqs;
    uint64_t pos = ds->served[d]++, epoch = pos / n;
    if (dom->order_epoch != epoch) {
        permutation(dom->order, n, seed_key(ds->opt.seed, KEY_EPOCH, (uint32_t)d, epoch));
        dom->order_epoch = epoch;
    }
    return dom->part[TRAIN].tokens + dom->order[pos % n] * ((size_t)ds->opt.seq_len + 1);
}

/* Natural mode: a domain drawn with probability proportional to its train sequences. */
static int draw_domain(pm_dataset *ds) {
    uint64_t total = 0;
    for (int d = 0; d < ds->n_domains; d++) total += ds->dom[d].part[TRAIN].n_seqs;
    uint64_t x = (uint64_t)random_at(seed_key(ds->opt.seed, KEY_NATURAL, 0, 0), ds->natural_draws++) * total >> 32;
    int d = 0;
    while (x >= ds->dom[d].part[TRAIN].n_seqs) x -= ds->dom[d++].part[TRAIN].n_seqs;
    return d;
}

void pm_data_next_batch(pm_dataset *ds, int B, int32_t *inputs, int32_t *targets, int32_t *domains) {
    int T = ds->opt.seq_len, D = ds->n_domains, r = 0;
    if (B <= 0) return;
    if (ds->opt.natural_mix) {
        for (; r < B; r++) {
            int d = draw_domain(ds);
            put_row(next_sequence(ds, d), T, d, r, inputs, targets, domains);
        }
        return;
    }
    int base = B / D, extra = B % D, first = (int)ds->rotation;
    for (int d = 0; d < D; d++) {
        int rows = base + ((d - first + D) % D < extra);
        for (int k = 0; k < rows; k++, r++) put_row(next_sequence(ds, d), T, d, r, inputs, targets, domains);
    }
    ds->rotation = (uint64_t)((first + extra) % D);
}

void pm_data_get_state(const pm_dataset *ds, uint64_t state[PM_DATA_STATE_LEN]) {
    for (int d = 0; d < PM_MAX_DOMAINS; d++) state[d] = ds->served[d];
    state[PM_MAX_DOMAINS] = ds->rotation;
    state[PM_MAX_DOMAINS + 1] = ds->natural_draws;
}

int pm_data_set_state(pm_dataset *ds, const uint64_t state[PM_DATA_STATE_LEN]) {
    for (int d = ds->n_domains; d < PM_MAX_DOMAINS; d++)
        if (state[d] != 0) return -1;
    if (state[PM_MAX_DOMAINS] >= (uint64_t)ds->n_domains) return -1;
    for (int d = 0; d < PM_MAX_DOMAINS; d++) ds->served[d] = state[d];
    ds->rotation = state[PM_MAX_DOMAINS];
    ds->natural_draws = state[PM_MAX_DOMAINS + 1];
    return 0;
}

/* ---- eval ---- */

size_t pm_data_eval_count(const pm_dataset *ds, int d) { return ds->dom[d].part[EVAL].n_seqs; }

/* Fewer than all: the sequences used are spread evenly over the whole eval split. */
void pm_data_eval_sequence(const pm_dataset *ds, int d, size_t i, size_t count, int32_t *inputs, int32_t *targets) {
    const split *s = &ds->dom[d].part[EVAL];
    size_t T = (size_t)ds->opt.seq_len;
    if (count > s->n_seqs) count = s->n_seqs;
    if (i >= count) return;
    size_t k = (size_t)((uint64_t)i * s->n_seqs / count);
    const int32_t *seq = s->tokens + k * (T + 1);
    memcpy(inputs, seq, T * sizeof *seq);
    memcpy(targets, seq + 1, T * sizeof *seq);
}
