/* polymoe tokenizer train: builds a byte-level BPE vocabulary from a manifest's documents,
 * by default the train split only, so that the vocabulary never sees held-out text. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "train/cli/commands.h"
#include "train/data/data.h"
#include "train/data/doc_texts.h"
#include "train/run_config.h"
#include "train/tokenizer/bpe_train.h"

#define DEFAULT_MANIFEST "data/default/manifest.json"
#define PROGRESS_EVERY_S 2.0
#define MAX_VOCAB (1u << 24)

static void help(void) {
    printf("usage: polymoe tokenizer train --vocab N --out DIR [--data MANIFEST] [--split train|all]\n"
           "                               [--seed S] [--eval-fraction F] [--overwrite]\n\n"
           "Trains a GPT-2 byte-level BPE vocabulary of N tokens (at least %d: <|endoftext|>, id 0,\n"
           "and the 256 bytes) and writes DIR/vocab.json, DIR/merges.txt (GPT-2's files) and\n"
           "DIR/tokenizer.json (Hugging Face's), usable as --tokenizer DIR or tokenizer=bpe:DIR.\n"
           "It follows Hugging Face tokenizers' BpeTrainer: the same documents give the same merges\n"
           "and ids (see docs/tokenizer-training.md). Fewer than N tokens when the text runs out of\n"
           "pairs to merge.\n\n"
           "  --data MANIFEST     the documents (default " DEFAULT_MANIFEST ", built on first use)\n"
           "  --split train       only each domain's train split (the default): the documents a\n"
           "                      training run with the same --seed and --eval-fraction trains on\n"
           "  --split all         every document, held-out ones included\n"
           "  --seed S            the seed of the train/eval split (default 1337, as configs/tiny.json)\n"
           "  --eval-fraction F   the share of each domain held out (default 0.1, as configs/tiny.json)\n"
           "  --overwrite         replace the vocabulary DIR already holds (refused otherwise)\n\n"
           "Progress (merges done, every 2 s) goes to standard error, the summary to standard output.\n",
           PM_BPE_TRAIN_MIN_VOCAB);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct {
    double started, last;
} progress_state;

static void report_progress(void *ctx, int done, int total) {
    progress_state *p = ctx;
    double t = now_s();
    if (t - p->last < PROGRESS_EVERY_S) return;
    p->last = t;
    fprintf(stderr, "  merges %d / %d (%.0f%%), %.1f s\n", done, total, 100.0 * done / total, t - p->started);
}

/* Which of the vocabulary files DIR holds already, or NULL. */
static const char *existing_vocabulary(const char *dir) {
    static const char *const names[] = {"vocab.json", "merges.txt", "tokenizer.json"};
    for (int i = 0; i < 3; i++) {
        char path[4200];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (stat(path, &st) == 0) return names[i];
    }
    return NULL;
}

static int parse_whole(const char *flag, const char *s, unsigned long long max, unsigned long long *v) {
    char *end;
    errno = 0;
    *v = strtoull(s, &end, 10);
    if (s[0] < '0' || s[0] > '9' || *end || errno || *v > max) {
        fprintf(stderr, "polymoe tokenizer train: %s wants a whole number up to %llu, not '%s'\n", flag, max, s);
        return -1;
    }
    return 0;
}

static int parse_fraction(const char *flag, const char *s, double *v) {
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    if (end == s || *end || errno || !(*v >= 0 && *v < 1)) {
        fprintf(stderr, "polymoe tokenizer train: %s wants a number in [0, 1), not '%s'\n", flag, s);
        return -1;
    }
    return 0;
}

typedef struct {
    const char *out, *manifest;
    unsigned long long vocab, seed;
    double eval_fraction;
    int all, overwrite;
} options;

/* Fills o from the command line; 0, or -1 after saying what is wrong. */
static int parse_options(int argc, char **argv, options *o) {
    *o = (options){.manifest = DEFAULT_MANIFEST, .seed = 1337, .eval_fraction = 0.1};
    const char *split = "train";
    int have_vocab = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--overwrite")) {
            o->overwrite = 1;
            continue;
        }
        if (strcmp(a, "--vocab") && strcmp(a, "--out") && strcmp(a, "--data") && strcmp(a, "--split") &&
            strcmp(a, "--seed") && strcmp(a, "--eval-fraction")) {
            fprintf(stderr, "polymoe tokenizer train: unknown option '%s' (see --help)\n", a);
            return -1;
        }
        if (!v) {
            fprintf(stderr, "polymoe tokenizer train: %s needs a value (see --help)\n", a);
            return -1;
        }
        i++;
        int bad = 0;
        if (!strcmp(a, "--out")) o->out = v;
        else if (!strcmp(a, "--data")) o->manifest = v;
        else if (!strcmp(a, "--split")) split = v;
        else if (!strcmp(a, "--seed")) bad = parse_whole(a, v, UINT64_MAX, &o->seed);
        else if (!strcmp(a, "--eval-fraction")) bad = parse_fraction(a, v, &o->eval_fraction);
        else {
            bad = parse_whole(a, v, MAX_VOCAB, &o->vocab);
            have_vocab = 1;
        }
        if (bad) return -1;
    }
    if (!o->out || !have_vocab) {
        fprintf(stderr, "polymoe tokenizer train: --vocab N and --out DIR are required (see --help)\n");
        return -1;
    }
    if (strcmp(split, "train") && strcmp(split, "all")) {
        fprintf(stderr, "polymoe tokenizer train: --split is train or all, not '%s'\n", split);
        return -1;
    }
    o->all = !strcmp(split, "all");
    if (o->vocab < PM_BPE_TRAIN_MIN_VOCAB) {
        fprintf(stderr, "polymoe tokenizer train: --vocab %llu is too small: a byte-level BPE needs at least %d "
                "tokens (<|endoftext|> and the 256 bytes)\n", o->vocab, PM_BPE_TRAIN_MIN_VOCAB);
        return -1;
    }
    return 0;
}

/* Refuses an --out that is a file, or a folder holding a vocabulary, unless --overwrite. */
static int check_out(const options *o) {
    struct stat st;
    if (stat(o->out, &st) == 0 && !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "polymoe tokenizer train: --out %s is not a folder\n", o->out);
        return -1;
    }
    const char *held = existing_vocabulary(o->out);
    if (held && !o->overwrite) {
        fprintf(stderr, "polymoe tokenizer train: %s already holds a vocabulary (%s); pass --overwrite to replace it\n",
                o->out, held);
        return -1;
    }
    return 0;
}

/* Reads the manifest's documents (building the default corpus on first use) into c. */
static int read_corpus(const options *o, pm_doc_texts *c, int *domains) {
    char err[4800];
    if (pm_corpus_ensure_default(o->manifest, err, sizeof err)) {
        fprintf(stderr, "polymoe tokenizer train: %s\n", err);
        return -1;
    }
    pm_data_options opt = {.seq_len = 1, .eval_fraction = o->eval_fraction, .seed = o->seed};
    pm_dataset *ds = pm_data_open(o->manifest, &opt, err, sizeof err);
    if (!ds) {
        fprintf(stderr, "polymoe tokenizer train: %s\n", err);
        return -1;
    }
    int rc = pm_doc_texts_get(ds, o->all, c);
    *domains = pm_data_domains(ds);
    pm_data_close(ds);
    if (rc) fprintf(stderr, "polymoe tokenizer train: out of memory reading the documents\n");
    return rc;
}

int cmd_tokenizer_train(int argc, char **argv) {
    if (wants_help(argc, argv)) {
        help();
        return 0;
    }
    options o;
    if (parse_options(argc, argv, &o)) return 2;
    if (check_out(&o)) return 1;
    double started = now_s();
    pm_doc_texts c = {0};
    int domains = 0, rc = read_corpus(&o, &c, &domains);
    double reading_s = now_s() - started;
    pm_bpe_train_result res = {0};
    if (!rc) {
        if (o.all) fprintf(stderr, "training a %llu-token byte-level BPE on all %zu documents (%.1f MB) of %d domains\n",
                           o.vocab, c.n_docs, c.n_bytes / 1e6, domains);
        else fprintf(stderr, "training a %llu-token byte-level BPE on the train split (seed %llu, eval fraction %g): "
                     "%zu documents (%.1f MB) of %d domains\n", o.vocab, o.seed, o.eval_fraction, c.n_docs,
                     c.n_bytes / 1e6, domains);
        char err[4800];
        progress_state p = {now_s(), now_s()};
        rc = pm_bpe_train(c.docs, c.lens, c.n_docs, (int)o.vocab, o.out, report_progress, &p, &res, err, sizeof err);
        if (rc) fprintf(stderr, "polymoe tokenizer train: %s\n", err);
    }
    pm_doc_texts_free(&c);
    if (rc) return 1;
    double total_s = now_s() - started;
    printf("vocabulary %d tokens (%s), %d merges, from %zu distinct words (%zu pieces)\n", res.vocab_size,
           res.vocab_size < (int)o.vocab ? "fewer than asked: no pair was left to merge" : "as asked", res.merges,
           res.words, res.pieces);
    printf("time       %.2f s (%.2f s reading the documents, %.2f s training and writing)\n", total_s, reading_s,
           total_s - reading_s);
    printf("written    %s/vocab.json\n           %s/merges.txt\n           %s/tokenizer.json\n", o.out, o.out,
           o.out);
    return 0;
}
