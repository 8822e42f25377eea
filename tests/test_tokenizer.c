/* GPT-2 byte-level BPE against the reference implementations, without Python: the fixtures
 * (tests/fixtures/bpe, made by scripts/make_bpe_fixtures.py with Hugging Face tokenizers and
 * tiktoken, which agree on all of them) hold the ids the references give for every document
 * of the default corpus and for an adversarial set. Every vocabulary is read from both file
 * formats, and every encoding must decode back to its input.
 *   usage: test_tokenizer FIXTURES_DIR UNPACKED_DIR CORPUS_DIR
 * UNPACKED_DIR holds v50257/ from v50257.tar.xz; CORPUS_DIR is built when it does not exist. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, strdup */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "train/data/corpus.h"
#include "train/report/report_token_class.h"
#include "train/tokenizer/byte_unicode.h"
#include "train/tokenizer/tokenizer.h"
#include "train/util/files.h"

#define MAX_DOCS 20000
#define FILE_MAX ((size_t)64 << 20)

static uint32_t fnv32(const void *data, size_t n) {
    const uint8_t *p = data;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
    return h;
}

/* The documents of the corpus in manifest order, and the fixture's hash of each. */
typedef struct {
    char *text[MAX_DOCS];
    size_t len[MAX_DOCS];
    uint32_t fixture_hash[MAX_DOCS];
    int n;
} corpus;

static int read_jsonl(corpus *c, const char *path) {
    size_t len;
    char err[512];
    char *text = pm_read_file(path, FILE_MAX, &len, err, sizeof err);
    if (!text) {
        printf("%s\n", err);
        return -1;
    }
    for (char *line = text; line < text + len && c->n < MAX_DOCS;) {
        char *nl = memchr(line, '\n', (size_t)(text + len - line)), *end = nl ? nl : text + len;
        cJSON *o = cJSON_ParseWithLength(line, (size_t)(end - line));
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "text");
        if (cJSON_IsString(t)) {
            c->len[c->n] = strlen(t->valuestring);
            c->text[c->n++] = strdup(t->valuestring);
        }
        cJSON_Delete(o);
        line = end + 1;
    }
    free(text);
    return 0;
}

static int load_corpus(corpus *c, const char *dir, const char *fixtures) {
    const char *domains[] = {"code", "math", "prose"};
    char path[4200];
    for (int d = 0; d < 3; d++) {
        snprintf(path, sizeof path, "%s/%s.jsonl", dir, domains[d]);
        if (read_jsonl(c, path)) return -1;
    }
    snprintf(path, sizeof path, "%s/corpus.txt", fixtures);
    FILE *f = fopen(path, "r");
    char line[256];
    int i = 0;
    while (f && fgets(line, sizeof line, f))
        if (line[0] != '#' && i < MAX_DOCS && sscanf(line, "%*s %*d %x", &c->fixture_hash[i]) == 1) i++;
    if (f) fclose(f);
    check(i == c->n, "corpus: %d documents in %s, %d in %s", c->n, dir, i, path);
    return i == c->n ? 0 : -1;
}

/* Encodes text and checks that it decodes back; returns the ids count (-1 on failure). */
static long encode_checked(pm_tokenizer *t, const char *text, size_t n, int32_t *ids, char *back, int *round_trip) {
    char err[512];
    long k = pm_tokenizer_encode(t, text, n, ids, err, sizeof err);
    if (k < 0) {
        printf("  encode failed: %s\n", err);
        return -1;
    }
    if (pm_tokenizer_decode(t, ids, (size_t)k, back, n) != n || memcmp(back, text, n) != 0) *round_trip = 0;
    return k;
}

static void check_corpus(pm_tokenizer *t, const corpus *c, const char *vocab, const char *fixtures, const char *what) {
    char path[4200], line[128];
    snprintf(path, sizeof path, "%s/%s.expected", fixtures, vocab);
    FILE *f = fopen(path, "r");
    int checked = 0, differ = 0, drifted = 0, round_trip = 1;
    size_t tokens = 0, bytes = 0;
    for (int i = 0; f && i < c->n;) {
        if (!fgets(line, sizeof line, f)) break;
        unsigned want_hash;
        long want_n;
        if (line[0] == '#' || sscanf(line, "%x %ld", &want_hash, &want_n) != 2) continue;
        if (fnv32(c->text[i], c->len[i]) != c->fixture_hash[i]) { /* not the text the fixture saw */
            drifted++;
            i++;
            continue;
        }
        int32_t *ids = malloc((c->len[i] + 1) * sizeof *ids);
        char *back = malloc(c->len[i] + 1);
        long k = ids && back ? encode_checked(t, c->text[i], c->len[i], ids, back, &round_trip) : -1;
        if (k != want_n || fnv32(ids, (size_t)k * sizeof *ids) != want_hash) {
            if (differ++ < 3) printf("  %s: document %d: %ld ids, the references %ld (or other ids)\n", what, i, k, want_n);
        }
        tokens += k > 0 ? (size_t)k : 0;
        bytes += c->len[i];
        checked++;
        free(ids);
        free(back);
        i++;
    }
    if (f) fclose(f);
    if (drifted)
        printf("  note: %d of %d documents of this machine's corpus differ from those the fixtures were made from "
               "(a newer Debian package); they are not compared\n", drifted, c->n);
    check(checked > 0 && differ == 0 && drifted * 100 <= c->n, "%s: %d corpus documents (%zu bytes, %zu tokens) "
          "encode to the references' ids exactly (%d differ; %d not comparable)", what, checked, bytes, tokens, differ, drifted);
    check(checked > 0 && round_trip, "%s: every corpus document decodes back to its bytes", what);
}

static int hex_value(int c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1; }

static void check_adversarial(pm_tokenizer *t, const char *vocab, const char *fixtures, const char *what) {
    char path[4200], path_ids[4200];
    snprintf(path, sizeof path, "%s/adversarial.txt", fixtures);
    snprintf(path_ids, sizeof path_ids, "%s/%s.adversarial", fixtures, vocab);
    size_t len, len_ids;
    char err[512];
    char *cases = pm_read_file(path, FILE_MAX, &len, err, sizeof err);
    char *want = cases ? pm_read_file(path_ids, FILE_MAX, &len_ids, err, sizeof err) : NULL;
    int n = 0, differ = 0, round_trip = 1;
    char *line = cases, *wline = want;
    while (want && line < cases + len && wline < want + len_ids) {
        char *end = strchr(line, '\n'), *wend = strchr(wline, '\n');
        if (!end || !wend) break;
        size_t nb = (size_t)(end - line) / 2;
        char *text = malloc(nb + 1), *back = malloc(nb + 1);
        int32_t *ids = malloc((nb + 1) * sizeof *ids);
        for (size_t i = 0; i < nb; i++) text[i] = (char)(hex_value(line[2 * i]) * 16 + hex_value(line[2 * i + 1]));
        long k = encode_checked(t, text, nb, ids, back, &round_trip);
        *wend = 0;
        long j = 0;
        int same = k >= 0;
        for (char *p = wline, *q; same; p = q, j++) {
            long id = strtol(p, &q, 10);
            if (q == p) break;
            same = j < k && ids[j] == id;
        }
        if (!same || j != k) {
            if (differ++ < 3) printf("  %s: adversarial case %d (line %d of %s) differs from the references\n", what, n, n + 1, path);
        }
        *wend = '\n';
        free(text);
        free(back);
        free(ids);
        n++;
        line = end + 1;
        wline = wend + 1;
    }
    check(n >= 60 && differ == 0, "%s: %d adversarial cases encode to the references' ids exactly (%d differ)", what, n, differ);
    check(n >= 60 && round_trip, "%s: every adversarial case decodes back to its bytes", what);
    free(cases);
    free(want);
}

/* The report's token classes for BPE tokens: each token takes the class of its first
 * non-space byte in context. */
static void check_token_classes(const char *fixtures) {
    char spec[4300], err[4800];
    snprintf(spec, sizeof spec, "bpe:%s/v4096", fixtures);
    pm_tokenizer *t = pm_tokenizer_open(spec, err, sizeof err);
    const char text[] = "def area(r):\n    return 3.14 * r # half\n";
    int32_t ids[sizeof text];
    uint8_t cls[sizeof text];
    long n = t ? pm_tokenizer_encode(t, text, sizeof text - 1, ids, err, sizeof err) : -1;
    const char *const *names;
    pm_token_class_names(PM_LEX_CODE, &names);
    char got[1024] = "";
    size_t at = 0;
    if (n > 0 && pm_classify_tokens(PM_LEX_CODE, t, ids, (size_t)n, cls) == 0)
        for (long i = 0; i < n && at < sizeof got - 64; i++) {
            size_t len;
            const char *s = pm_tokenizer_token(t, ids[i], &len);
            at += (size_t)snprintf(got + at, sizeof got - at, "[%.*s]=%s ", (int)len, s, names[cls[i]]);
        }
    /* "\n   " is one piece (\s+(?!\S) leaves the last space to " return"): its first byte is a newline */
    const char *want = "[def]=keyword [ are]=identifier [a]=identifier [(]=punctuation [r]=identifier "
                       "[):]=punctuation [\n   ]=newline [ return]=keyword [ 3]=number [.]=number [14]=number "
                       "[ *]=operator [ r]=identifier [ #]=comment [ half]=comment [\n]=newline ";
    check(strcmp(got, want) == 0, "token classes of BPE tokens: %s", got);
    pm_tokenizer_free(t);
}

/* A small valid GPT-2 pair in dir: the 256 bytes, "ab", end-of-text; one merge "a b". `edit`
 * changes the vocabulary object before it is written, `merges` replaces merges.txt. */
static void write_pair(const char *dir, void (*edit)(cJSON *vocab), const char *merges) {
    char path[4200], spelled[8];
    cJSON *v = cJSON_CreateObject();
    for (int b = 0; b < 256; b++) {
        uint8_t byte = (uint8_t)b;
        spelled[pm_bytes_to_unicode(&byte, 1, spelled)] = 0;
        cJSON_AddNumberToObject(v, spelled, b);
    }
    cJSON_AddNumberToObject(v, "ab", 256);
    cJSON_AddNumberToObject(v, "<|endoftext|>", 257);
    if (edit) edit(v);
    char *json = cJSON_PrintUnformatted(v), err[512];
    snprintf(path, sizeof path, "%s/vocab.json", dir);
    pm_write_file_atomic(path, json, strlen(json), err, sizeof err);
    snprintf(path, sizeof path, "%s/merges.txt", dir);
    pm_write_file_atomic(path, merges, strlen(merges), err, sizeof err);
    free(json);
    cJSON_Delete(v);
}

static void drop_byte(cJSON *v) { /* id 97 becomes "aa": no gap, but no token for the byte 'a' */
    cJSON_DeleteItemFromObjectCaseSensitive(v, "a");
    cJSON_AddNumberToObject(v, "aa", 'a');
}
static void drop_eot(cJSON *v) { cJSON_DeleteItemFromObjectCaseSensitive(v, "<|endoftext|>"); }
static void gap(cJSON *v) { cJSON_ReplaceItemInObjectCaseSensitive(v, "ab", cJSON_CreateNumber(300)); }
static void twice(cJSON *v) { cJSON_ReplaceItemInObjectCaseSensitive(v, "ab", cJSON_CreateNumber(5)); }
static void foreign(cJSON *v) { /* a space is not in GPT-2's byte alphabet (it is spelled U+0120) */
    cJSON_DeleteItemFromObjectCaseSensitive(v, "ab");
    cJSON_AddNumberToObject(v, "a b", 256);
}

/* Refuses with a message holding `want`. */
static void refused(const char *path, const char *want, const char *what) {
    char spec[4300], err[4800] = "";
    snprintf(spec, sizeof spec, "bpe:%s", path);
    pm_tokenizer *t = pm_tokenizer_open(spec, err, sizeof err);
    check(!t && strstr(err, want), "bad tokenizer files: %s is refused (%s)", what, t ? "accepted" : err);
    pm_tokenizer_free(t);
}

static void check_bad_files(void) {
    char dir[] = "/tmp/polymoe-bpe-XXXXXX", path[4200], err[512];
    if (!mkdtemp(dir)) return;
    write_pair(dir, NULL, "#version: 0.2\na b\n");
    char spec[4300];
    snprintf(spec, sizeof spec, "bpe:%s", dir);
    pm_tokenizer *t = pm_tokenizer_open(spec, err, sizeof err);
    int32_t ids[4];
    long n = t ? pm_tokenizer_encode(t, "abab", 4, ids, err, sizeof err) : -1;
    check(n == 2 && ids[0] == 256 && ids[1] == 256 && pm_tokenizer_eot(t) == 257, "a hand-made GPT-2 pair loads and merges");
    pm_tokenizer_free(t);
    write_pair(dir, drop_byte, "");
    refused(dir, "no token for the byte 0x61", "a vocabulary without the byte 'a'");
    write_pair(dir, drop_eot, "a b\n");
    refused(dir, "no special token <|endoftext|>", "a vocabulary without end-of-text");
    write_pair(dir, gap, "a b\n");
    refused(dir, "no token has id 256", "ids with a gap");
    write_pair(dir, twice, "a b\n");
    refused(dir, "belongs to two tokens", "two tokens with one id");
    write_pair(dir, foreign, "a b\n");
    refused(dir, "not spelled in GPT-2's byte alphabet", "a token with a space in its spelling");
    write_pair(dir, NULL, "a c\n");
    refused(dir, "the merged token is not in the vocabulary", "a merge whose result is not in the vocabulary");
    write_pair(dir, NULL, "a b c\n");
    refused(dir, "expected two tokens", "a merges line of three tokens");
    snprintf(path, sizeof path, "%s/merges.txt", dir);
    unlink(path);
    refused(dir, "no tokenizer.json, and no vocab.json with merges.txt", "a folder without merges.txt");
    const char *bad_json[][2] = {
        {"{", "not valid JSON"},
        {"{\"model\": {\"type\": \"WordPiece\"}}", "not BPE"},
        {"{\"model\": {\"type\": \"BPE\", \"dropout\": 0.1}}", "dropout"},
        {"{\"model\": {\"type\": \"BPE\"}, \"normalizer\": {\"type\": \"NFC\"}}", "normalizer"},
        {"{\"model\": {\"type\": \"BPE\"}, \"pre_tokenizer\": {\"type\": \"Whitespace\"}}", "not ByteLevel"},
        {"{\"model\": {\"type\": \"BPE\"}, \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true}}",
         "add_prefix_space"},
    };
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    for (size_t i = 0; i < sizeof bad_json / sizeof bad_json[0]; i++) {
        pm_write_file_atomic(path, bad_json[i][0], strlen(bad_json[i][0]), err, sizeof err);
        refused(path, bad_json[i][1], bad_json[i][1]);
    }
    unlink(path);
    snprintf(path, sizeof path, "%s/vocab.json", dir);
    unlink(path);
    rmdir(dir);
    refused(dir, "no such file or folder", "a missing folder");
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: test_tokenizer FIXTURES_DIR UNPACKED_DIR CORPUS_DIR\n");
        return 2;
    }
    const char *fixtures = argv[1], *unpacked = argv[2], *corpus_dir = argv[3];
    char manifest[4200], err[4800];
    struct stat st;
    snprintf(manifest, sizeof manifest, "%s/manifest.json", corpus_dir);
    if (stat(manifest, &st) != 0 && pm_corpus_build(corpus_dir, err, sizeof err)) {
        check(0, "the default corpus: %s", err);
        return check_tally();
    }
    check_token_classes(fixtures);
    check_bad_files();
    static corpus c;
    if (load_corpus(&c, corpus_dir, fixtures)) return check_tally();
    const char *vocabs[] = {"v512", "v4096", "v50257"};
    for (int v = 0; v < 3; v++) {
        const char *base = v == 2 ? unpacked : fixtures;
        const char *formats[] = {"tokenizer.json", "vocab.json"};
        uint64_t hash[2] = {0, 0};
        for (int f = 0; f < 2; f++) {
            char spec[4300], what[64];
            snprintf(spec, sizeof spec, "bpe:%s/%s/%s", base, vocabs[v], formats[f]);
            snprintf(what, sizeof what, "%s %s", vocabs[v], formats[f]);
            pm_tokenizer *t = pm_tokenizer_open(spec, err, sizeof err);
            check(t != NULL, "%s: opens (%s)", what, t ? "ok" : err);
            if (!t) continue;
            hash[f] = pm_tokenizer_hash(t);
            check_adversarial(t, vocabs[v], fixtures, what);
            check_corpus(t, &c, vocabs[v], fixtures, what);
            pm_tokenizer_free(t);
        }
        check(hash[0] && hash[0] == hash[1], "%s: both file formats give one identity (%016llx)", vocabs[v],
              (unsigned long long)hash[0]);
    }
    for (int i = 0; i < c.n; i++) free(c.text[i]);
    return check_tally();
}
