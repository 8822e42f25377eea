/* The data pipeline on small corpora this test writes itself: the document-level split, the
 * packing, the domain labels, balanced and natural batches, determinism, resume, the math
 * generator, the tokenizer, and every bad input the manifest reader must refuse. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "train/data/data.h"
#include "train/data/mathgen.h"
#include "train/data/ngram.h"
#include "train/tokenizer/tokenizer.h"

#define BYTE_EOT 256 /* the byte tokenizer's end-of-text */
#include "tests/check.h"

#define T 16
#define MAX_DOCS 64
#define MAX_PATHS 128

static char tmp[] = "/tmp/polymoe_test_data_XXXXXX";
static char *created[MAX_PATHS];
static int n_created;


/* ---- temporary files ---- */

static const char *path_of(const char *name) {
    static char p[4][1024];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", tmp, name);
    return p[k];
}

static void remember(const char *path) {
    for (int i = 0; i < n_created; i++)
        if (strcmp(created[i], path) == 0) return;
    if (n_created < MAX_PATHS) created[n_created++] = strdup(path);
}

static void write_bytes(const char *name, const char *bytes, size_t n) {
    const char *path = path_of(name);
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(2);
    }
    fwrite(bytes, 1, n, f);
    fclose(f);
    remember(path);
}

static void write_text(const char *name, const char *text) { write_bytes(name, text, strlen(text)); }

static void make_dir(const char *name) {
    mkdir(path_of(name), 0700);
    remember(path_of(name));
}

static void cleanup(void) {
    for (int i = n_created - 1; i >= 0; i--) {
        remove(created[i]);
        free(created[i]);
    }
    rmdir(tmp);
}

/* ---- the test corpus: three domains, every document distinct and known ---- */

typedef struct {
    const char *name;
    int n;
    char *docs[MAX_DOCS];
} known_domain;

static known_domain known[3] = {{"alpha", 0, {0}}, {"beta", 0, {0}}, {"gamma", 0, {0}}};

/* Document i of domain d: distinct pseudo-random text of varying length, with bytes JSON must
 * escape (no two T+1 windows alike, so a sequence is known by its content). */
static char *make_doc(int d, int i) {
    size_t len = 20 + (size_t)((i * 37 + d * 11) % 90);
    char *s = malloc(len + 64);
    int n = sprintf(s, "%s document %d:", known[d].name, i);
    uint32_t x = (uint32_t)(d * 1000 + i) * 2654435761u + 1;
    for (size_t k = (size_t)n; k < len; k++) {
        x = x * 1664525u + 1013904223u;
        s[k] = "abc de\"f\\g\th\nij\xc3\xa9kl"[(x >> 16) % 19];
    }
    s[len] = '\0';
    return s;
}

/* A JSON string literal for s (quotes, backslash and control characters escaped). */
static void put_json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 32) fprintf(f, "\\u%04x", *s);
        else fputc(*s, f);
    }
    fputc('"', f);
}

static void write_jsonl(const char *name, int d, int from, int to, const char *field) {
    const char *path = path_of(name);
    FILE *f = fopen(path, "wb");
    for (int i = from; i < to; i++) {
        fprintf(f, "{\"id\": %d, \"%s\": ", i, field);
        put_json_string(f, known[d].docs[i]);
        fprintf(f, "}\n%s", i % 4 == 0 ? "\n" : ""); /* blank lines are skipped */
    }
    fclose(f);
    remember(path);
}

/* alpha: 12 plain files by glob; beta: 15 JSONL records with field "body"; gamma: 4 plain
 * files named one by one, then 6 JSONL records. */
static void write_corpus(void) {
    int sizes[3] = {12, 15, 10};
    for (int d = 0; d < 3; d++) {
        known[d].n = sizes[d];
        for (int i = 0; i < sizes[d]; i++) known[d].docs[i] = make_doc(d, i);
    }
    make_dir("texts");
    char name[64];
    for (int i = 0; i < 12; i++) {
        snprintf(name, sizeof name, "texts/a%02d.txt", i);
        write_text(name, known[0].docs[i]);
    }
    write_jsonl("beta.jsonl", 1, 0, 15, "body");
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "g%d.txt", i);
        write_text(name, known[2].docs[i]);
    }
    write_jsonl("gamma.jsonl", 2, 4, 10, "text");
    char manifest[1024];
    snprintf(manifest, sizeof manifest,
             "{\"domains\": [\n"
             " {\"name\": \"alpha\", \"files\": [\"texts/*.txt\"]},\n"
             " {\"name\": \"beta\", \"jsonl\": [\"beta.jsonl\"], \"text_field\": \"body\", \"description\": \"x\"},\n"
             " {\"name\": \"gamma\", \"files\": [\"g0.txt\", \"g1.txt\", \"%s/g2.txt\", \"g3.txt\"],\n"
             "  \"jsonl\": [\"gamma.jsonl\"]}]}\n", tmp);
    write_text("manifest.json", manifest);
}

static pm_data_options options(uint64_t seed) {
    pm_data_options o = {.seq_len = T, .eval_fraction = 0.25, .seed = seed, .natural_mix = 0};
    return o;
}

static pm_dataset *open_ok(const pm_data_options *o) {
    char err[512] = "";
    pm_dataset *ds = pm_data_open(path_of("manifest.json"), o, err, sizeof err);
    if (!ds) printf("      open failed: %s\n", err);
    return ds;
}

/* ---- split and packing ---- */

/* Which known document of domain d the tokens are (by content), or -1. */
static int find_doc(int d, const int32_t *tokens, size_t n) {
    for (int i = 0; i < known[d].n; i++) {
        const char *s = known[d].docs[i];
        if (strlen(s) != n) continue;
        size_t k = 0;
        while (k < n && tokens[k] == (unsigned char)s[k]) k++;
        if (k == n) return i;
    }
    return -1;
}

/* Splits a stream at end-of-text into documents; fills their indices, returns the count or
 * -1 when a piece is no known document or the stream does not end with end-of-text. */
static int stream_docs(int d, const int32_t *tokens, size_t n, int *index) {
    int count = 0;
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (tokens[i] != BYTE_EOT) continue;
        int doc = find_doc(d, tokens + start, i - start);
        if (doc < 0 || count == MAX_DOCS) return -1;
        index[count++] = doc;
        start = i + 1;
    }
    return start == n ? count : -1;
}

static void test_split_and_packing(pm_dataset *ds) {
    check(pm_data_domains(ds) == 3, "open: 3 domains");
    for (int d = 0; d < 3; d++) {
        const char *name = known[d].name;
        check(strcmp(pm_data_domain_name(ds, d), name) == 0, "open: domain %d is '%s'", d, name);
        int idx[2][MAX_DOCS], cnt[2];
        size_t len[2];
        for (int e = 0; e < 2; e++) {
            const int32_t *stream = pm_data_stream(ds, d, e, &len[e]);
            cnt[e] = stream_docs(d, stream, len[e], idx[e]);
        }
        check(cnt[0] > 0 && cnt[1] > 0, "%s: both streams are known documents, each followed by end-of-text", name);
        if (cnt[0] <= 0 || cnt[1] <= 0) continue;
        check((size_t)cnt[0] == pm_data_documents(ds, d, 0) && (size_t)cnt[1] == pm_data_documents(ds, d, 1),
              "%s: document counts train %d, eval %d", name, cnt[0], cnt[1]);
        int expect_eval = (int)lround(0.25 * known[d].n);
        check(cnt[1] == expect_eval && cnt[0] == known[d].n - expect_eval, "%s: eval holds round(0.25 * %d) = %d",
              name, known[d].n, expect_eval);
        int seen[MAX_DOCS] = {0}, ordered = 1;
        for (int e = 0; e < 2; e++)
            for (int i = 0; i < cnt[e]; i++) {
                seen[idx[e][i]] += 1 + e * 100;
                if (i && idx[e][i] <= idx[e][i - 1]) ordered = 0;
            }
        int disjoint = 1;
        for (int i = 0; i < known[d].n; i++) disjoint &= seen[i] == 1 || seen[i] == 101;
        check(disjoint, "%s: no document in both splits, every document in one (by content)", name);
        check(ordered, "%s: the packed tokens are the split's documents in manifest order", name);
        size_t seqs = len[0] / (T + 1);
        check(pm_data_tokens(ds, d, 0) == seqs * (T + 1) && pm_data_tokens(ds, d, 1) == len[1] / (T + 1) * (T + 1),
              "%s: %zu train sequences of exactly T+1 = %d tokens", name, seqs, T + 1);
        size_t n_eval = pm_data_eval_count(ds, d);
        const int32_t *eval = pm_data_stream(ds, d, 1, NULL);
        int same = n_eval == len[1] / (T + 1);
        for (size_t i = 0; i < n_eval && same; i++) {
            int32_t in[T], tg[T];
            pm_data_eval_sequence(ds, d, i, n_eval, in, tg);
            same = memcmp(in, eval + i * (T + 1), sizeof in) == 0 && memcmp(tg, eval + i * (T + 1) + 1, sizeof tg) == 0;
        }
        check(same, "%s: the %zu eval sequences are the eval stream cut every T+1 tokens", name, n_eval);
        double h = pm_data_unigram_loss(ds, d);
        check(h > 0.5 && h < log(BYTE_EOT + 1), "%s: unigram loss %.3f nats in (0.5, ln 257)", name, h);
        double g = pm_data_ngram_loss(ds, d);
        size_t nt, ne;
        const int32_t *tr = pm_data_stream(ds, d, 0, &nt), *ev = pm_data_stream(ds, d, 1, &ne);
        check(g == pm_ngram_heldout_loss(tr, nt, ev, ne, BYTE_EOT + 1) && g > 0,
              "%s: the trigram baseline (%.3f nats) is the one fitted on this train split and scored on eval", name, g);
    }
}

/* The Kneser-Ney trigram against an independent computation (Python, with the definition in
 * ngram.h and a check that every context's probabilities sum to 1), on streams with unseen
 * contexts and an unseen token; and a stream that repeats itself is nearly free to predict. */
static void test_ngram(void) {
    int32_t train[200], eval[50];
    for (int i = 0; i < 200; i++) train[i] = i % 11 ? (i * i + 3 * i) % 5 : 6;
    for (int i = 0; i < 50; i++) eval[i] = (i * i + 2 * i) % 7;
    double loss = pm_ngram_heldout_loss(train, 200, eval, 50, 7), want = 2.3406337718071586;
    check(fabs(loss - want) < 1e-12 * want, "ngram: held-out loss %.16g, the reference's %.16g", loss, want);
    int32_t cycle[300];
    for (int i = 0; i < 300; i++) cycle[i] = i % 3;
    double easy = pm_ngram_heldout_loss(cycle, 300, cycle, 300, 3);
    check(easy < 0.01, "ngram: a stream that repeats itself costs %.4f nats per token", easy);
    check(isnan(pm_ngram_heldout_loss(cycle, 2, cycle, 300, 3)), "ngram: a train stream of 2 tokens has no trigram");
}

/* ---- batches ---- */

enum { B_MAX = 64 };

typedef struct {
    int32_t in[B_MAX * T], tg[B_MAX * T], dom[B_MAX * T];
} batch;

/* The train sequence a batch row holds (by content), or -1. */
static long row_sequence(const pm_dataset *ds, const batch *b, int r) {
    int d = b->dom[r * T];
    size_t len;
    const int32_t *s = pm_data_stream(ds, d, 0, &len);
    for (size_t k = 0; k < len / (T + 1); k++) {
        const int32_t *seq = s + k * (T + 1);
        if (memcmp(seq, b->in + r * T, T * sizeof *seq) == 0 && seq[T] == b->tg[r * T + T - 1]) return (long)k;
    }
    return -1;
}

static void test_batches(void) {
    pm_data_options o = options(7);
    pm_dataset *ds = open_ok(&o);
    if (!ds) return check(0, "batches: open");
    static batch b;
    int labels_ok = 1, shifted = 1, balanced6 = 1;
    for (int step = 0; step < 5; step++) {
        pm_data_next_batch(ds, 6, b.in, b.tg, b.dom);
        int count[3] = {0};
        for (int r = 0; r < 6; r++) {
            int d = b.dom[r * T];
            for (int t = 0; t < T; t++) labels_ok &= b.dom[r * T + t] == d;
            for (int t = 0; t + 1 < T; t++) shifted &= b.tg[r * T + t] == b.in[r * T + t + 1];
            labels_ok &= d >= 0 && d < 3 && row_sequence(ds, &b, r) >= 0;
            if (d >= 0 && d < 3) count[d]++;
        }
        balanced6 &= count[0] == 2 && count[1] == 2 && count[2] == 2;
    }
    check(labels_ok, "labels: every row is a train sequence of the domain every one of its tokens is labelled with");
    check(shifted, "batches: targets are the inputs shifted by one");
    check(balanced6, "balanced: B=6 over 3 domains gives 2 rows each in every batch");
    int total[3] = {0}, each_ok = 1;
    for (int step = 0; step < 3; step++) {
        pm_data_next_batch(ds, 7, b.in, b.tg, b.dom);
        int count[3] = {0};
        for (int r = 0; r < 7; r++) count[b.dom[r * T]]++;
        for (int d = 0; d < 3; d++) {
            each_ok &= count[d] == 2 || count[d] == 3;
            total[d] += count[d];
        }
    }
    check(each_ok && total[0] == 7 && total[1] == 7 && total[2] == 7,
          "balanced: B=7 gives 3/2/2 rows with the extra row rotating (7 each over 3 batches)");
    pm_data_close(ds);

    /* one row per domain per batch: each domain's first epoch visits every sequence once */
    ds = open_ok(&o);
    if (!ds) return;
    size_t n[3], most = 0;
    for (int d = 0; d < 3; d++) {
        n[d] = pm_data_tokens(ds, d, 0) / (T + 1);
        most = n[d] > most ? n[d] : most;
    }
    static int visits[3][4096];
    int epoch_ok = most < 4096;
    for (size_t step = 0; step < most && epoch_ok; step++) {
        pm_data_next_batch(ds, 3, b.in, b.tg, b.dom);
        for (int r = 0; r < 3; r++) {
            long k = row_sequence(ds, &b, r);
            int d = b.dom[r * T];
            if (k < 0) epoch_ok = 0;
            else if (step < n[d]) visits[d][k]++;
        }
    }
    for (int d = 0; d < 3 && epoch_ok; d++)
        for (size_t k = 0; k < n[d]; k++) epoch_ok &= visits[d][k] == 1;
    check(epoch_ok, "epochs: a domain serves each of its train sequences once per epoch");
    pm_data_close(ds);
}

/* Draws `steps` batches of B rows into out (inputs, targets and labels of each). */
static void draw(pm_dataset *ds, int B, int steps, batch *out) {
    for (int s = 0; s < steps; s++) pm_data_next_batch(ds, B, out[s].in, out[s].tg, out[s].dom);
}

static int same_batches(const batch *a, const batch *b, int steps) {
    return memcmp(a, b, (size_t)steps * sizeof *a) == 0;
}

static void test_determinism_and_resume(int natural) {
    const char *mode = natural ? "natural" : "balanced";
    enum { STEPS = 6, B = 5 };
    static batch x[STEPS], y[STEPS], x_odd, y_odd;
    memset(x, 0, sizeof x);
    memset(y, 0, sizeof y);
    pm_data_options o = options(11);
    o.natural_mix = natural;
    pm_dataset *a = open_ok(&o), *b = open_ok(&o);
    o.seed = 12;
    pm_dataset *c = open_ok(&o);
    if (!a || !b || !c) {
        check(0, "%s: open", mode);
        pm_data_close(a);
        pm_data_close(b);
        pm_data_close(c);
        return;
    }
    draw(a, B, STEPS, x);
    draw(b, B, STEPS, y);
    check(same_batches(x, y, STEPS), "determinism (%s): the same seed gives the same batches", mode);
    draw(c, B, STEPS, y);
    check(!same_batches(x, y, STEPS), "determinism (%s): another seed gives other batches", mode);
    int split_differs = 0;
    for (int d = 0; d < 3; d++) {
        size_t la, lc;
        const int32_t *sa = pm_data_stream(a, d, 1, &la), *sc = pm_data_stream(c, d, 1, &lc);
        split_differs |= la != lc || memcmp(sa, sc, la * sizeof *sa) != 0;
    }
    check(split_differs, "determinism (%s): another seed holds out other documents", mode);

    /* resume: the state after some batches, restored into a fresh stream, continues it */
    uint64_t state[PM_DATA_STATE_LEN], again[PM_DATA_STATE_LEN];
    pm_data_get_state(a, state);
    draw(a, 2, 1, &x_odd); /* a batch of another size moves the rotation differently */
    draw(a, B, STEPS, x);
    pm_data_close(b);
    o.seed = 11;
    b = open_ok(&o);
    int set = b ? pm_data_set_state(b, state) : -1;
    if (b) {
        pm_data_get_state(b, again);
        draw(b, 2, 1, &y_odd);
        draw(b, B, STEPS, y);
    }
    check(set == 0 && memcmp(state, again, sizeof state) == 0 && same_batches(x, y, STEPS) &&
              same_batches(&x_odd, &y_odd, 1),
          "resume (%s): set_state(get_state) in a fresh dataset reproduces the stream exactly", mode);
    uint64_t bad[PM_DATA_STATE_LEN];
    memcpy(bad, state, sizeof bad);
    bad[PM_MAX_DOMAINS - 1] = 5;
    int refused = b && pm_data_set_state(b, bad) != 0;
    memcpy(bad, state, sizeof bad);
    bad[PM_MAX_DOMAINS] = 3;
    refused &= b && pm_data_set_state(b, bad) != 0;
    check(refused, "resume (%s): a state that cannot belong to this dataset is refused", mode);
    pm_data_close(a);
    pm_data_close(b);
    pm_data_close(c);
}

static void test_natural_proportions(void) {
    pm_data_options o = options(3);
    o.natural_mix = 1;
    pm_dataset *ds = open_ok(&o);
    if (!ds) return check(0, "natural: open");
    static batch b;
    int count[3] = {0};
    enum { STEPS = 400, B = 16 };
    for (int s = 0; s < STEPS; s++) {
        pm_data_next_batch(ds, B, b.in, b.tg, b.dom);
        for (int r = 0; r < B; r++) count[b.dom[r * T]]++;
    }
    double total = 0, worst = 0;
    for (int d = 0; d < 3; d++) total += (double)pm_data_tokens(ds, d, 0);
    for (int d = 0; d < 3; d++) {
        double want = (double)pm_data_tokens(ds, d, 0) / total, got = count[d] / (double)(STEPS * B);
        worst = fabs(got - want) > worst ? fabs(got - want) : worst;
    }
    check(worst < 0.03, "natural: row shares follow the train sizes (largest gap %.4f)", worst);
    pm_data_close(ds);
}

static void test_eval_cap(void) {
    pm_data_options o = options(7);
    pm_dataset *ds = open_ok(&o);
    if (!ds) return check(0, "eval cap: open");
    size_t len;
    const int32_t *s = pm_data_stream(ds, 1, 1, &len);
    size_t n = len / (T + 1);
    int32_t in[T], tg[T], all[T];
    pm_data_eval_sequence(ds, 1, 1, 2, in, tg);
    check(pm_data_eval_count(ds, 1) == n && n >= 2 && memcmp(in, s + (n / 2) * (T + 1), sizeof in) == 0,
          "eval cap: 2 of the %zu sequences are spread over the split", n);
    pm_data_eval_sequence(ds, 1, n - 1, n + 100, all, tg);
    check(memcmp(all, s + (n - 1) * (T + 1), sizeof all) == 0, "eval cap: a count above the split's means all of it");
    pm_data_close(ds);
}

static void test_relative_manifest(void) {
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd) || chdir(tmp) != 0) return check(0, "relative manifest path: chdir");
    pm_data_options o = options(7);
    char err[512] = "";
    pm_dataset *ds = pm_data_open("manifest.json", &o, err, sizeof err);
    check(ds && pm_data_documents(ds, 2, 0) + pm_data_documents(ds, 2, 1) == 10,
          "relative manifest path: paths resolve against its folder %s", err);
    pm_data_close(ds);
    if (chdir(cwd) != 0) perror("chdir");
}

/* ---- bad input ---- */

/* Opens manifest text written to bad.json (and data files written before) and expects NULL
 * with a message. */
static void expect_error(const char *what, const char *manifest, const pm_data_options *o) {
    if (manifest) write_text("bad.json", manifest);
    char err[512] = "";
    pm_dataset *ds = pm_data_open(path_of("bad.json"), o, err, sizeof err);
    check(!ds && err[0], "bad input: %s -> %s", what, err[0] ? err : "(no message)");
    pm_data_close(ds);
}

static void test_bad_input(void) {
    pm_data_options o = options(1);
    char err[512] = "";
    pm_dataset *ds = pm_data_open(path_of("missing.json"), &o, err, sizeof err);
    check(!ds && err[0], "bad input: missing manifest -> %s", err);
    ds = pm_data_open(tmp, &o, err, sizeof err);
    check(!ds && err[0], "bad input: manifest is a folder -> %s", err);
    expect_error("empty manifest", "", &o);
    expect_error("manifest not JSON", "{domains: [", &o);
    expect_error("trailing garbage after the JSON", "{\"domains\": []} x", &o);
    write_bytes("bad.json", "\x89PNG\r\n\x1a\n\0\0\0\rIHDR\xff\xfe", 18);
    expect_error("binary manifest", NULL, &o);
    expect_error("root is an array", "[{\"name\": \"a\", \"files\": [\"g0.txt\"]}]", &o);
    expect_error("domains not an array", "{\"domains\": {\"name\": \"a\"}}", &o);
    expect_error("no domains", "{\"domains\": []}", &o);
    expect_error("unknown top-level key", "{\"domains\": [{\"name\": \"a\", \"files\": [\"g*.txt\"]}], \"x\": 1}", &o);
    char many[4096] = "{\"domains\": [";
    for (int i = 0; i < PM_MAX_DOMAINS + 1; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "%s{\"name\": \"d%d\", \"files\": [\"g*.txt\"]}",
                 i ? "," : "", i);
    strcat(many, "]}");
    expect_error("17 domains", many, &o);
    expect_error("domain not an object", "{\"domains\": [\"texts/*.txt\"]}", &o);
    expect_error("domain without name", "{\"domains\": [{\"files\": [\"g*.txt\"]}]}", &o);
    expect_error("name not a string", "{\"domains\": [{\"name\": 5, \"files\": [\"g*.txt\"]}]}", &o);
    expect_error("empty name", "{\"domains\": [{\"name\": \"\", \"files\": [\"g*.txt\"]}]}", &o);
    expect_error("name too long",
                 "{\"domains\": [{\"name\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                 "aaaaaaaaaa\", "
                 "\"files\": [\"g*.txt\"]}]}", &o);
    expect_error("duplicate names",
                 "{\"domains\": [{\"name\": \"a\", \"files\": [\"g*.txt\"]}, "
                 "{\"name\": \"a\", \"files\": [\"g*.txt\"]}]}",
                 &o);
    expect_error("misspelt key", "{\"domains\": [{\"name\": \"a\", \"file\": [\"g*.txt\"]}]}", &o);
    expect_error("neither files nor jsonl", "{\"domains\": [{\"name\": \"a\"}]}", &o);
    expect_error("files not an array", "{\"domains\": [{\"name\": \"a\", \"files\": \"g*.txt\"}]}", &o);
    expect_error("files holding a number", "{\"domains\": [{\"name\": \"a\", \"files\": [\"g0.txt\", 3]}]}", &o);
    expect_error("text_field not a string",
                 "{\"domains\": [{\"name\": \"a\", \"jsonl\": [\"beta.jsonl\"], \"text_field\": 1}]}", &o);
    expect_error("glob matching nothing", "{\"domains\": [{\"name\": \"a\", \"files\": [\"nothing/*.txt\"]}]}", &o);
    expect_error("missing file", "{\"domains\": [{\"name\": \"a\", \"files\": [\"g0.txt\", \"nope.txt\"]}]}", &o);
    expect_error("a folder as a file", "{\"domains\": [{\"name\": \"a\", \"files\": [\"texts\"]}]}", &o);
    write_text("empty.txt", "");
    expect_error("empty file", "{\"domains\": [{\"name\": \"a\", \"files\": [\"g0.txt\", \"empty.txt\"]}]}", &o);
    write_text("l1.jsonl", "{\"text\": \"fine document one\"}\n{\"text\": \"broken\n");
    expect_error("JSONL line not JSON", "{\"domains\": [{\"name\": \"a\", \"jsonl\": [\"l1.jsonl\"]}]}", &o);
    write_text("l2.jsonl", "{\"text\": \"fine document one\"}\n[\"text\", \"an array\"]\n");
    expect_error("JSONL line not an object", "{\"domains\": [{\"name\": \"a\", \"jsonl\": [\"l2.jsonl\"]}]}", &o);
    write_text("l3.jsonl", "{\"text\": \"fine document one\"}\n{\"body\": \"no text field\"}\n");
    expect_error("JSONL line without the field", "{\"domains\": [{\"name\": \"a\", \"jsonl\": [\"l3.jsonl\"]}]}", &o);
    write_text("l4.jsonl", "{\"text\": \"fine document one\"}\n{\"text\": 42}\n");
    expect_error("JSONL field not a string", "{\"domains\": [{\"name\": \"a\", \"jsonl\": [\"l4.jsonl\"]}]}", &o);
    write_text("l5.jsonl", "{\"text\": \"fine document one\"}\n{\"text\": \"\"}\n");
    expect_error("JSONL empty document", "{\"domains\": [{\"name\": \"a\", \"jsonl\": [\"l5.jsonl\"]}]}", &o);
    write_text("l6.jsonl", "\n  \n\r\n");
    expect_error("JSONL of blank lines", "{\"domains\": [{\"name\": \"a\", \"jsonl\": [\"l6.jsonl\"]}]}", &o);
    write_text("l7.jsonl", "{\"text\": \"one\"} {\"text\": \"two\"}\n");
    expect_error("JSONL line with two objects", "{\"domains\": [{\"name\": \"a\", \"jsonl\": [\"l7.jsonl\"]}]}", &o);
    write_text("l8.jsonl", "{\"text\": \"fine document one\"}\n{\"text\": \"cut\\u0000 here\"}\n");
    expect_error("JSONL text with a NUL", "{\"domains\": [{\"name\": \"a\", \"jsonl\": [\"l8.jsonl\"]}]}", &o);
    expect_error("domain of one document", "{\"domains\": [{\"name\": \"a\", \"files\": [\"g0.txt\"]}]}", &o);
    write_text("tiny1.txt", "hi");
    write_text("tiny2.txt", "yo");
    expect_error("domain too small for one sequence",
                 "{\"domains\": [{\"name\": \"a\", \"files\": [\"tiny1.txt\", \"tiny2.txt\"]}]}", &o);
    const char *good = "{\"domains\": [{\"name\": \"a\", \"files\": [\"texts/*.txt\"]}]}";
    pm_data_options bad_o = o;
    bad_o.seq_len = 0;
    expect_error("sequence length 0", good, &bad_o);
    bad_o = o;
    bad_o.eval_fraction = 1.0;
    expect_error("eval fraction 1", good, &bad_o);
    bad_o.eval_fraction = NAN;
    expect_error("eval fraction NaN", good, &bad_o);
    ds = pm_data_open(path_of("manifest.json"), NULL, err, sizeof err);
    check(!ds && err[0], "bad input: no options -> %s", err);
    char *big = malloc((2 << 20) + 1);
    memset(big, ' ', 2 << 20);
    memcpy(big, good, strlen(good));
    big[2 << 20] = '\0';
    expect_error("manifest over 1 MiB", big, &o);
    free(big);
}

/* Random bytes and random corruptions of the good manifest and a JSONL file: opening may
 * succeed or fail, but it must return (the sanitizer build checks memory) and a failure must
 * say why. */
static void test_garbage(void) {
    pm_data_options o = options(1);
    uint32_t x = 12345;
    int silent = 0, opened = 0;
    const char *good = "{\"domains\": [{\"name\": \"a\", \"files\": [\"texts/*.txt\"]}, "
                       "{\"name\": \"b\", \"jsonl\": [\"beta.jsonl\"], \"text_field\": \"body\"}]}";
    size_t good_len = strlen(good);
    char buf[512];
    for (int trial = 0; trial < 600; trial++) {
        size_t n;
        if (trial < 200) {
            n = (size_t)(trial % 97) + 1;
            for (size_t i = 0; i < n; i++) buf[i] = (char)((x = x * 1664525u + 1013904223u) >> 24);
        } else {
            memcpy(buf, good, good_len);
            n = good_len;
            for (int k = 0; k < 1 + trial % 4; k++) {
                x = x * 1664525u + 1013904223u;
                buf[(x >> 8) % n] = (char)(x >> 24);
            }
        }
        write_bytes("bad.json", buf, n);
        char err[512] = "";
        pm_dataset *ds = pm_data_open(path_of("bad.json"), &o, err, sizeof err);
        if (ds) opened++;
        else if (!err[0]) silent++;
        pm_data_close(ds);
    }
    check(silent == 0, "garbage: 600 random or corrupted manifests handled (%d opened, the rest refused with a "
                       "message)", opened);
    silent = 0;
    for (int trial = 0; trial < 300; trial++) {
        FILE *f = fopen(path_of("fuzz.jsonl"), "wb");
        for (int line = 0; line < 4; line++)
            fprintf(f, "{\"text\": \"document %d of trial %d, long enough to pack\"}\n", line, trial);
        long size = ftell(f);
        for (int k = 0; k < 1 + trial % 5; k++) {
            x = x * 1664525u + 1013904223u;
            fseek(f, (long)((x >> 8) % (uint32_t)size), SEEK_SET);
            fputc((int)(x >> 24), f);
        }
        fclose(f);
        remember(path_of("fuzz.jsonl"));
        write_text("bad.json", "{\"domains\": [{\"name\": \"f\", \"jsonl\": [\"fuzz.jsonl\"]}]}");
        char err[512] = "";
        pm_data_options small = o;
        small.seq_len = 8;
        pm_dataset *ds = pm_data_open(path_of("bad.json"), &small, err, sizeof err);
        if (!ds && !err[0]) silent++;
        pm_data_close(ds);
    }
    check(silent == 0, "garbage: 300 corrupted JSONL files handled");
}

/* ---- tokenizer and math generator ---- */

/* The byte trigram a BPE dataset reports is the byte dataset's trigram, per BPE token. */
static void test_byte_ngram(const char *bpe_dir) {
    char name[4200], err[512] = "";
    snprintf(name, sizeof name, "bpe:%s", bpe_dir);
    pm_tokenizer *tok = pm_tokenizer_open(name, err, sizeof err);
    pm_data_options o = options(7), ob = options(7);
    ob.tokenizer = tok;
    pm_dataset *bytes = open_ok(&o), *bpe = tok ? open_ok(&ob) : NULL;
    if (!bytes || !bpe) check(0, "byte trigram: open %s (%s)", bpe_dir, err);
    for (int d = 0; bytes && bpe && d < pm_data_domains(bpe); d++) {
        size_t n_bytes, n_tokens;
        pm_data_stream(bytes, d, 1, &n_bytes);
        pm_data_stream(bpe, d, 1, &n_tokens);
        double want = pm_data_ngram_loss(bytes, d), got = pm_data_byte_ngram_loss(bpe, d) * n_tokens / n_bytes;
        check(pm_data_byte_ngram_loss(bytes, d) == want && fabs(got - want) < 1e-12 * want && n_tokens < n_bytes,
              "byte trigram of %s: %.6f nats per byte from the BPE dataset (%zu tokens), %.6f from bytes (%zu)",
              pm_data_domain_name(bpe, d), got, n_tokens, want, n_bytes);
    }
    pm_data_close(bytes);
    pm_data_close(bpe);
    pm_tokenizer_free(tok);
}

static void test_tokenizer(void) {
    const char text[] = "h\xc3\xa9llo\0\xff";
    int32_t tok[8];
    char back[8], err[256];
    pm_tokenizer *t = pm_tokenizer_open("byte", err, sizeof err);
    long n = t ? pm_tokenizer_encode(t, text, 8, tok, err, sizeof err) : -1;
    int range = n == 8 && tok[1] == 0xc3 && tok[6] == 0 && tok[7] == 255;
    int round_trip = n == 8 && pm_tokenizer_decode(t, tok, 8, back, sizeof back) == 8 && memcmp(back, text, 8) == 0;
    int32_t with_eot[] = {'a', BYTE_EOT, 'b', 'c'};
    size_t m = t ? pm_tokenizer_decode(t, with_eot, 4, back, 2) : 0;
    check(t && pm_tokenizer_vocab_size(t) == 257 && pm_tokenizer_eot(t) == BYTE_EOT && range && round_trip && m == 2 &&
          back[0] == 'a' && back[1] == 'b', "tokenizer: bytes round-trip, end-of-text is skipped, the cap holds");
    pm_tokenizer_free(t);
}

/* Which template wrote a problem, judged by its first line: 0..8. */
static int problem_kind(const char *problem) {
    char line[PM_MATHGEN_MAX_LEN];
    snprintf(line, sizeof line, "%.*s", (int)strcspn(problem, "\n"), problem);
    if (strstr(line, "Compute ") && strchr(line, '/')) return 0;
    if (strstr(line, "Compute ") && strstr(line, " + ")) return 1;
    if (strstr(line, "Compute ") && strstr(line, " - ")) return 2;
    if (strstr(line, "Compute ") && strstr(line, " * ")) return 3;
    if (strstr(line, "Divide ")) return 4;
    if (strchr(line, '%') || strstr(line, "percent")) return 5;
    if (strstr(line, "Solve for x") || strstr(line, "A number is")) return 6;
    if (strstr(line, "system")) return 7;
    return 8;
}

static void test_mathgen(void) {
    char a[PM_MATHGEN_MAX_LEN], b[PM_MATHGEN_MAX_LEN];
    int same = 1, differs = 0, shaped = 1;
    size_t longest = 0;
    for (uint64_t i = 0; i < 3000; i++) {
        size_t na = pm_mathgen_problem(42, i, a, sizeof a), nb = pm_mathgen_problem(42, i, b, sizeof b);
        same &= na == nb && strcmp(a, b) == 0;
        pm_mathgen_problem(43, i, b, sizeof b);
        differs += strcmp(a, b) != 0;
        shaped &= strncmp(a, "Problem: ", 9) == 0 && strstr(a, "\nSolution:") && strstr(a, "\nAnswer: ") &&
                  a[na - 1] == '\n' && strlen(a) == na;
        longest = na > longest ? na : longest;
    }
    check(same, "mathgen: the same (seed, index) gives the same problem");
    check(differs > 2900, "mathgen: another seed gives other problems (%d of 3000 differ)", differs);
    check(shaped && longest + 1 < PM_MATHGEN_MAX_LEN,
          "mathgen: every problem has statement, solution and answer; longest %zu bytes", longest);
    int seen[9] = {0}, kinds = 0;
    for (uint64_t i = 0; i < 400; i++) {
        pm_mathgen_problem(42, i, a, sizeof a);
        seen[problem_kind(a)] = 1;
    }
    for (int k = 0; k < 9; k++) kinds += seen[k];
    check(kinds == 9, "mathgen: all 9 kinds of problem appear in 400 problems (%d seen)", kinds);
    size_t n = pm_mathgen_problem(42, 0, a, 10);
    check(n == 9 && strlen(a) == 9, "mathgen: a short buffer truncates safely");
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: test_data BPE_FIXTURE_DIR\n");
        return 2;
    }
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 2;
    }
    write_corpus();
    pm_data_options o = options(7);
    pm_dataset *ds = open_ok(&o);
    check(ds != NULL, "open: the test manifest (plain files by glob and by name, JSONL)");
    if (ds) {
        test_split_and_packing(ds);
        printf("      summary:\n");
        pm_data_print_summary(ds, stdout);
        pm_data_close(ds);
    }
    test_batches();
    test_determinism_and_resume(0);
    test_determinism_and_resume(1);
    test_natural_proportions();
    test_eval_cap();
    test_relative_manifest();
    test_bad_input();
    test_garbage();
    test_tokenizer();
    test_byte_ngram(argv[1]);
    test_mathgen();
    test_ngram();
    cleanup();
    for (int d = 0; d < 3; d++)
        for (int i = 0; i < known[d].n; i++) free(known[d].docs[i]);
    return check_tally();
}
