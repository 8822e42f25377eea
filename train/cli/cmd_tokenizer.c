/* polymoe tokenizer: encode, decode, info (and train) from the command line, so users and
 * scripts can check a tokenisation without Python. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/cli/commands.h"
#include "train/tokenizer/tokenizer.h"

#define INPUT_MAX ((size_t)1 << 30)

static void help(void) {
    printf("usage: polymoe tokenizer encode --tokenizer SPEC    < text   > ids\n"
           "       polymoe tokenizer decode --tokenizer SPEC    < ids    > text\n"
           "       polymoe tokenizer info   --tokenizer SPEC\n"
           "       polymoe tokenizer train  --vocab N --out DIR [...]   (see train --help)\n\n"
           "SPEC is \"byte\" or a GPT-2 byte-level BPE: a folder holding tokenizer.json (Hugging\n"
           "Face format) or vocab.json and merges.txt (GPT-2 format), one of those files, or a\n"
           "checkpoint folder (which holds a copy of its tokenizer); \"bpe:PATH\" says the same.\n\n"
           "  encode  reads all of standard input as bytes (any bytes: invalid UTF-8 is encoded\n"
           "          byte by byte) and prints the token ids, space-separated, on one line. A\n"
           "          literal <|endoftext|> in the text is text, not the special token.\n"
           "  decode  reads whitespace-separated token ids and writes their bytes; end-of-text\n"
           "          and other special tokens stand for no bytes.\n"
           "  info    prints the kind, vocabulary size, end-of-text id, identity hash and files.\n");
}

/* All of stdin; NULL with a message when it cannot be read. */
static char *read_stdin(size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, stdin);
        if (n < cap) break;
        char *more = cap < INPUT_MAX ? realloc(buf, cap * 2) : NULL;
        if (!more) {
            fprintf(stderr, "polymoe tokenizer: the input is larger than %zu bytes or memory ran out\n", cap);
            free(buf);
            return NULL;
        }
        buf = more;
        cap *= 2;
    }
    if (buf && ferror(stdin)) {
        fprintf(stderr, "polymoe tokenizer: cannot read standard input: %s\n", strerror(errno));
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

static int encode(pm_tokenizer *tok) {
    size_t n;
    char *text = read_stdin(&n), err[512];
    int32_t *ids = text ? malloc((n ? n : 1) * sizeof *ids) : NULL;
    long k = ids ? pm_tokenizer_encode(tok, text, n, ids, err, sizeof err) : -1;
    if (ids && k < 0) fprintf(stderr, "polymoe tokenizer: %s\n", err);
    for (long i = 0; i < k; i++) printf(i ? " %d" : "%d", ids[i]);
    if (k >= 0) putchar('\n');
    free(text);
    free(ids);
    return k < 0 || fflush(stdout) ? 1 : 0;
}

static int decode(pm_tokenizer *tok) {
    size_t n;
    char *text = read_stdin(&n);
    if (!text) return 1;
    char *grown = realloc(text, n + 1);
    if (!grown) {
        fprintf(stderr, "polymoe tokenizer: out of memory\n");
        free(text);
        return 1;
    }
    text = grown;
    text[n] = 0;
    int rc = 0, V = pm_tokenizer_vocab_size(tok);
    for (char *p = text, *end; !rc; p = end) {
        while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') p++;
        if (!*p) break;
        errno = 0;
        long id = strtol(p, &end, 10);
        if (end == p || errno || id < 0 || id >= V || (*end && !strchr(" \n\t\r", *end))) {
            fprintf(stderr, "polymoe tokenizer: '%.20s' is not a token id in 0..%d\n", p, V - 1);
            rc = 1;
            break;
        }
        size_t len;
        const char *bytes = pm_tokenizer_token(tok, (int32_t)id, &len);
        if (bytes) fwrite(bytes, 1, len, stdout);
    }
    free(text);
    return rc || fflush(stdout) ? 1 : 0;
}

static int info(pm_tokenizer *tok, const char *spec) {
    const char *const *paths, *const *names;
    int n = pm_tokenizer_files(tok, &paths, &names);
    printf("tokenizer  %s\nkind       %s\nvocabulary %d tokens\nend-of-text %d\nidentity   %016llx\n", spec,
           pm_tokenizer_kind(tok), pm_tokenizer_vocab_size(tok), pm_tokenizer_eot(tok),
           (unsigned long long)pm_tokenizer_hash(tok));
    for (int i = 0; i < n; i++) printf("file       %s\n", paths[i]);
    return 0;
}

int cmd_tokenizer(int argc, char **argv) {
    if (argc > 0 && !strcmp(argv[0], "train")) return cmd_tokenizer_train(argc - 1, argv + 1);
    if (argc == 0 || wants_help(argc, argv)) {
        help();
        return argc == 0 ? 2 : 0;
    }
    const char *action = argv[0], *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--tokenizer") && i + 1 < argc) path = argv[++i];
        else {
            fprintf(stderr, "polymoe tokenizer: unexpected argument '%s' (see --help)\n", argv[i]);
            return 2;
        }
    }
    if (strcmp(action, "encode") && strcmp(action, "decode") && strcmp(action, "info")) {
        fprintf(stderr, "polymoe tokenizer: unknown action '%s' (encode, decode or info; see --help)\n", action);
        return 2;
    }
    if (!path) {
        fprintf(stderr, "polymoe tokenizer %s: --tokenizer SPEC is required (see --help)\n", action);
        return 2;
    }
    char spec[4200], err[4800];
    snprintf(spec, sizeof spec, "%s%s", !strcmp(path, "byte") || !strncmp(path, "bpe:", 4) ? "" : "bpe:", path);
    pm_tokenizer *tok = pm_tokenizer_open(spec, err, sizeof err);
    if (!tok) {
        fprintf(stderr, "polymoe tokenizer: %s\n", err);
        return 1;
    }
    int rc = !strcmp(action, "encode") ? encode(tok) : !strcmp(action, "decode") ? decode(tok) : info(tok, spec);
    pm_tokenizer_free(tok);
    return rc;
}
