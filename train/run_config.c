#include "train/run_config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model/model.h"
#include "train/data/corpus.h"
#include "train/tokenizer/tokenizer.h"

extern const unsigned char pm_default_config[]; /* configs/tiny.json, embedded */

#define DEFAULT_CORPUS_DIR "data/default"

/* Which options each command takes: a flag is accepted when its command list names it. */
typedef struct {
    const char *flag;
    const char *commands;
    int takes_value;
} option;

static const option options[] = {
    {"--config", "train", 1},        {"--backend", "train eval generate", 1},
    {"--device", "train eval generate", 1}, {"--out", "train", 1},
    {"--steps", "train", 1},         {"--resume", "train", 0},
    {"--overwrite", "train", 0},
    {"--stop-on-collapse", "train", 0}, {"--stop-after", "train", 1},
    {"--init-from", "train", 1},     {"--upcycle-noise", "train", 1},
    {"--help-config", "train", 0},   {"--checkpoint", "eval generate", 1},
    {"--data", "eval", 1},           {"--prompt", "generate", 1},
    {"--temperature", "generate", 1}, {"--top-k", "generate", 1},
    {"--tokens", "generate", 1},     {"--seed", "generate", 1},
};

static int number(const char *flag, const char *s, double lo, double hi, double *out, char *err,
                  size_t errlen) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !(v >= lo && v <= hi)) {
        snprintf(err, errlen, "%s wants a number in %g..%g, got '%s'", flag, lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

/* number() that must also be whole. */
static int integer(const char *flag, const char *s, double lo, double hi, double *out, char *err,
                   size_t errlen) {
    if (number(flag, s, lo, hi, out, err, errlen)) return -1;
    if (*out == (double)(long long)*out) return 0;
    snprintf(err, errlen, "%s wants a whole number in %g..%g, got '%s'", flag, lo, hi, s);
    return -1;
}

static int has_word(const char *list, const char *word) {
    size_t n = strlen(word);
    for (const char *p = strstr(list, word); p; p = strstr(p + 1, word))
        if ((p == list || p[-1] == ' ') && (p[n] == 0 || p[n] == ' ')) return 1;
    return 0;
}

int pm_run_args_parse(pm_run_args *a, int argc, char **argv, const char *command, char *err,
                      size_t errlen) {
    memset(a, 0, sizeof *a);
    a->backend = "cpu";
    a->upcycle_noise = 0.01f;
    a->temperature = 0.8f;
    a->tokens = 200;
    a->top_k = 40;
    a->seed = 1;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0) {
            if (!strchr(arg, '=') || !has_word("train eval", command)) {
                snprintf(err, errlen, "unexpected argument '%s'", arg);
                return -1;
            }
            if (a->n_overrides == PM_MAX_OVERRIDES) {
                snprintf(err, errlen, "too many key=value overrides");
                return -1;
            }
            a->overrides[a->n_overrides++] = arg;
            continue;
        }
        const option *o = NULL;
        for (size_t j = 0; j < sizeof options / sizeof options[0]; j++)
            if (strcmp(options[j].flag, arg) == 0 && has_word(options[j].commands, command)) o = &options[j];
        if (!o) {
            snprintf(err, errlen, "unknown option '%s'", arg);
            return -1;
        }
        const char *val = NULL;
        if (o->takes_value) {
            if (i + 1 >= argc) {
                snprintf(err, errlen, "%s needs a value", arg);
                return -1;
            }
            val = argv[++i];
        }
        double v;
        int rc = 0;
        if (!strcmp(arg, "--config")) a->config = val;
        else if (!strcmp(arg, "--backend")) a->backend = val;
        else if (!strcmp(arg, "--out")) a->out = val;
        else if (!strcmp(arg, "--init-from")) a->init_from = val;
        else if (!strcmp(arg, "--checkpoint")) a->checkpoint = val;
        else if (!strcmp(arg, "--prompt")) a->prompt = val;
        else if (!strcmp(arg, "--data")) a->data = val;
        else if (!strcmp(arg, "--resume")) a->resume = 1;
        else if (!strcmp(arg, "--overwrite")) a->overwrite = 1;
        else if (!strcmp(arg, "--stop-on-collapse")) a->stop_on_collapse = 1;
        else if (!strcmp(arg, "--help-config")) a->help_config = 1;
        else if (!strcmp(arg, "--device")) { if (!(rc = integer(arg, val, 0, 255, &v, err, errlen))) a->device = (int)v; }
        else if (!strcmp(arg, "--steps")) { if (!(rc = integer(arg, val, 1, 1e9, &v, err, errlen))) a->steps = (int)v; }
        else if (!strcmp(arg, "--stop-after")) { if (!(rc = integer(arg, val, 1, 1e9, &v, err, errlen))) a->stop_after = (int)v; }
        else if (!strcmp(arg, "--upcycle-noise")) { if (!(rc = number(arg, val, 0, 10, &v, err, errlen))) a->upcycle_noise = (float)v; }
        else if (!strcmp(arg, "--temperature")) { if (!(rc = number(arg, val, 0, 100, &v, err, errlen))) a->temperature = (float)v; }
        else if (!strcmp(arg, "--top-k")) { if (!(rc = integer(arg, val, 0, 1e6, &v, err, errlen))) a->top_k = (int)v; }
        else if (!strcmp(arg, "--tokens")) { if (!(rc = integer(arg, val, 0, 1e6, &v, err, errlen))) a->tokens = (int)v; }
        else if (!strcmp(arg, "--seed")) { if (!(rc = integer(arg, val, 0, 4294967295.0, &v, err, errlen))) a->seed = (unsigned)v; }
        if (rc) return -1;
    }
    return 0;
}

int pm_run_config(const pm_run_args *a, const char *run_dir, pm_config *cfg, char *err,
                  size_t errlen) {
    char inner[600];
    pm_config_defaults(cfg);
    if (pm_config_apply_json(cfg, (const char *)pm_default_config, inner, sizeof inner)) {
        snprintf(err, errlen, "embedded default config: %s", inner);
        return -1;
    }
    if (run_dir) {
        char path[600];
        struct stat st;
        snprintf(path, sizeof path, "%s/config.json", run_dir);
        if (stat(path, &st) != 0) {
            snprintf(err, errlen, "nothing to resume in %s: no config.json (no checkpoint of a run there)", run_dir);
            return -1;
        }
        if (pm_config_load_file(cfg, path, err, errlen)) return -1;
    } else if (a->config && pm_config_load_file(cfg, a->config, err, errlen)) {
        return -1;
    }
    for (int i = 0; i < a->n_overrides; i++)
        if (pm_config_apply_kv(cfg, a->overrides[i], err, errlen)) return -1;
    if (a->steps) cfg->steps = a->steps;
    if (cfg->warmup_steps > cfg->steps) cfg->warmup_steps = cfg->steps;
    char why[4800];
    if (pm_tokenizer_resolve_vocab(cfg->tokenizer, &cfg->vocab_size, why, sizeof why)) {
        snprintf(err, errlen, "config: %s", why);
        return -1;
    }
    if (pm_model_check(cfg, inner, sizeof inner)) {
        snprintf(err, errlen, "config: %s", inner);
        return -1;
    }
    return 0;
}

int pm_corpus_ensure_default(const char *manifest, char *err, size_t errlen) {
    struct stat st;
    if (strcmp(manifest, DEFAULT_CORPUS_DIR "/manifest.json") != 0 || stat(manifest, &st) == 0)
        return 0;
    printf("building the default corpus in %s (first use)\n", DEFAULT_CORPUS_DIR);
    fflush(stdout);
    mkdir("data", 0755);
    return pm_corpus_build(DEFAULT_CORPUS_DIR, err, errlen);
}
