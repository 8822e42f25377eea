/* polymoe generate: sample text from a checkpoint. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/pm_rng.h"
#include "model/model.h"
#include "train/checkpoint.h"
#include "train/cli/commands.h"
#include "train/run_config.h"

/* Samples from softmax(logits / temperature) over the top_k largest (0: all); `sorted` is
 * scratch of V floats. */
static int sample(const float *logits, float *sorted, int V, float temperature, int top_k, uint32_t seed,
                  uint32_t i) {
    double u = (pm_hash32(seed ^ pm_hash32(i)) >> 8) / 16777216.0;
    if (temperature <= 0) {
        int best = 0;
        for (int v = 1; v < V; v++)
            if (logits[v] > logits[best]) best = v;
        return best;
    }
    float cut = -INFINITY;
    if (top_k > 0 && top_k < V) { /* the k-th largest logit */
        memcpy(sorted, logits, sizeof *sorted * (size_t)V);
        for (int j = 0; j < top_k; j++)
            for (int v = j + 1; v < V; v++)
                if (sorted[v] > sorted[j]) {
                    float t = sorted[j];
                    sorted[j] = sorted[v];
                    sorted[v] = t;
                }
        cut = sorted[top_k - 1];
    }
    double max = -INFINITY, sum = 0;
    for (int v = 0; v < V; v++)
        if (logits[v] >= cut && logits[v] > max) max = logits[v];
    for (int v = 0; v < V; v++)
        if (logits[v] >= cut) sum += exp((logits[v] - max) / temperature);
    double acc = 0;
    for (int v = 0; v < V; v++) {
        if (logits[v] < cut) continue;
        acc += exp((logits[v] - max) / temperature) / sum;
        if (u < acc) return v;
    }
    return V - 1;
}

int cmd_generate(int argc, char **argv) {
    if (wants_help(argc, argv)) {
        printf("usage: polymoe generate --checkpoint DIR --prompt TEXT [--temperature T]\n"
               "                        [--top-k K] [--tokens N] [--seed S] [--backend NAME] [--device N]\n\n"
               "Continues TEXT with N tokens (default 200) sampled from the model in DIR (a run\n"
               "folder, its checkpoints/ folder or one checkpoint) at temperature T (default 0.8;\n"
               "0 = greedy) from the K most likely tokens (default 40; 0 = all). Stops early at\n"
               "end-of-text. The prompt is encoded and the output decoded with the checkpoint's\n"
               "own tokenizer.\n");
        return 0;
    }
    pm_run_args a;
    char err[1024], step_dir[4096];
    if (pm_run_args_parse(&a, argc, argv, "generate", err, sizeof err)) {
        fprintf(stderr, "polymoe generate: %s (see --help)\n", err);
        return 2;
    }
    if (!a.checkpoint || !a.prompt) {
        fprintf(stderr, "polymoe generate: --checkpoint and --prompt are required (see --help)\n");
        return 2;
    }
    pm_config cfg;
    if (pm_checkpoint_find(a.checkpoint, step_dir, sizeof step_dir, &cfg, err, sizeof err)) {
        fprintf(stderr, "polymoe generate: %s\n", err);
        return 1;
    }
    pm_tokenizer *tok = pm_checkpoint_tokenizer(step_dir, err, sizeof err);
    pm_backend *be = tok ? pm_backend_open(a.backend, a.device, err, sizeof err) : NULL;
    if (!be) {
        fprintf(stderr, "polymoe generate: %s\n", err);
        pm_tokenizer_free(tok);
        return 1;
    }
    int T = cfg.block_size, V = cfg.vocab_size, rc = 1;
    size_t plen = strlen(a.prompt), cap = plen + (size_t)a.tokens + 1;
    int32_t *ids = malloc(sizeof *ids * cap);
    float *logits = malloc(sizeof *logits * (size_t)V), *sorted = malloc(sizeof *sorted * (size_t)V);
    pm_model *m = pm_model_create(be, &cfg, 1, T, err, sizeof err);
    if (m && (!ids || !logits || !sorted)) snprintf(err, sizeof err, "out of host memory");
    if (!m || !ids || !logits || !sorted || pm_checkpoint_load(step_dir, m, NULL, err, sizeof err)) {
        fprintf(stderr, "polymoe generate: %s\n", err);
        goto done;
    }
    long encoded = pm_tokenizer_encode(tok, a.prompt, plen, ids, err, sizeof err);
    if (encoded < 0) {
        fprintf(stderr, "polymoe generate: %s\n", err);
        goto done;
    }
    size_t n = (size_t)encoded;
    if (n == 0) ids[n++] = pm_tokenizer_eot(tok); /* an empty prompt starts a fresh document */
    fwrite(a.prompt, 1, plen, stdout);
    for (int i = 0; i < a.tokens; i++) {
        size_t ctx = n < (size_t)T ? n : (size_t)T;
        if (pm_model_forward(m, ids + n - ctx, NULL, 1, (int)ctx, -1, NULL) != PM_OK ||
            pm_model_logits_at(m, (int)ctx - 1, 1, (int)ctx, logits) != PM_OK) {
            fprintf(stderr, "\npolymoe generate: %s\n", pm_error(be));
            goto done;
        }
        int next = sample(logits, sorted, V, a.temperature, a.top_k, a.seed, (uint32_t)i);
        if (next == pm_tokenizer_eot(tok)) break;
        ids[n++] = next;
        size_t len; /* a token of the padded vocabulary beyond the tokenizer's stands for nothing */
        const char *bytes = pm_tokenizer_token(tok, next, &len);
        fwrite(bytes ? bytes : "", 1, len, stdout);
        fflush(stdout);
    }
    putchar('\n');
    rc = 0;
done:
    free(ids);
    pm_tokenizer_free(tok);
    free(logits);
    free(sorted);
    pm_model_free(m);
    pm_backend_close(be);
    return rc;
}
