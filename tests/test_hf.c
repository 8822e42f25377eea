/* Hugging Face GPT-2 folders made by transformers (tests/fixtures/hf, from
 * scripts/make_hf_fixtures.py): F32, BF16 and F16 weights, the hub's unprefixed names, and a
 * sharded save. Each loads through the checkpoint API as eval and generate load it, and gives
 * transformers' loss (1e-5 relative), greedy tokens and first logits on the fixture sequence;
 * its tokenizer is the folder's own. Upcycling a folder into a top-1 MoE with noise 0 gives
 * the dense model's logits. Bad config.json files are refused, named.
 *   usage: test_hf FIXTURES_DIR (tests/fixtures/hf) */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "model/upcycle.h"
#include "train/checkpoint.h"
#include "train/util/files.h"

#define T 32
#define MAX_V 512

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* Loads folder `name`, compares with its expected values; fills logits [T, V] when asked. */
static void check_folder(pm_backend *be, const char *dir, const char *name, const cJSON *expected, const int32_t *tok) {
    char path[4200], step_dir[4200], err[4800] = "";
    snprintf(path, sizeof path, "%s/%s", dir, name);
    pm_config cfg;
    pm_model *m = NULL;
    pm_tokenizer *t = NULL;
    int rc = pm_checkpoint_find(path, step_dir, sizeof step_dir, &cfg, err, sizeof err);
    if (!rc) rc = !(m = pm_model_create(be, &cfg, 1, T, err, sizeof err));
    if (!rc) rc = pm_checkpoint_load(step_dir, m, NULL, err, sizeof err);
    if (!rc) rc = !(t = pm_checkpoint_tokenizer(step_dir, err, sizeof err));
    check(!rc && cfg.n_embd == 16 && cfg.n_layer == 2 && cfg.block_size == 64 && cfg.vocab_size == 512 &&
              pm_tokenizer_vocab_size(t) == 512, "%s: config.json, weights and tokenizer load (%s)", name, err);
    if (rc) goto done;
    const cJSON *want = cJSON_GetObjectItemCaseSensitive(expected, name);
    double want_loss = cJSON_GetObjectItemCaseSensitive(want, "loss")->valuedouble;
    float loss = NAN, logits[MAX_V];
    rc = pm_model_forward(m, tok, tok + T + 1 - T, 1, T, -1, &loss) != PM_OK;
    check(!rc && fabs(loss - want_loss) <= 1e-5 * fabs(want_loss), "%s: loss %.7f, transformers' %.7f", name, loss,
          want_loss);
    int same = !rc;
    const cJSON *greedy = cJSON_GetObjectItemCaseSensitive(want, "greedy"), *first = cJSON_GetObjectItemCaseSensitive(want, "logits_0");
    double worst = 0;
    for (int p = 0; p < T && same; p++) {
        same = pm_model_logits_at(m, p, 1, T, logits) == PM_OK && argmax(logits, 512) == cJSON_GetArrayItem(greedy, p)->valueint;
        for (int v = 0; p == 0 && v < 8; v++) worst = fmax(worst, fabs(logits[v] - cJSON_GetArrayItem(first, v)->valuedouble));
    }
    check(same && worst < 1e-5, "%s: greedy tokens at all %d positions and the first logits (worst %.1e) agree", name, T, worst);
done:
    pm_tokenizer_free(t);
    pm_model_free(m);
}

/* The f32 folder (64 positions) upcycled into a top-1 MoE (MLPs of both layers, 4 experts) of
 * block size 32 with noise 0: it takes the first 32 positions, and the logits of every position
 * are the dense model's. */
static void check_upcycle(pm_backend *be, const char *dir, const int32_t *tok) {
    char path[4200], step_dir[4200], err[4800] = "";
    snprintf(path, sizeof path, "%s/f32", dir);
    pm_config dc, mc;
    pm_model *d = NULL, *m = NULL;
    float *dp = NULL, *mp = NULL;
    int rc = pm_checkpoint_find(path, step_dir, sizeof step_dir, &dc, err, sizeof err);
    if (!rc) {
        mc = dc;
        mc.moe_layers[0] = mc.moe_layers[1] = 1;
        mc.n_experts = 4;
        mc.top_k = 1;
        mc.block_size = T;
        rc = !(d = pm_model_create(be, &dc, 1, T, err, sizeof err)) || !(m = pm_model_create(be, &mc, 1, T, err, sizeof err));
    }
    if (!rc) rc = pm_checkpoint_load(step_dir, d, NULL, err, sizeof err);
    const pm_tensor *dt, *mt;
    int nd = d ? pm_model_tensors(d, &dt) : 0, nm = m ? pm_model_tensors(m, &mt) : 0;
    if (!rc) {
        dp = malloc(pm_model_num_params(d) * sizeof *dp);
        mp = malloc(pm_model_num_params(m) * sizeof *mp);
        rc = !dp || !mp || pm_model_get_params(d, dp) != PM_OK ||
             pm_upcycle(dt, nd, dp, mt, nm, mp, 0.0f, 1, err, sizeof err) || pm_model_set_params(m, mp) != PM_OK;
    }
    double worst = INFINITY;
    if (!rc && pm_model_forward(d, tok, NULL, 1, T, -1, NULL) == PM_OK && pm_model_forward(m, tok, NULL, 1, T, -1, NULL) == PM_OK) {
        float a[MAX_V], b[MAX_V];
        worst = 0;
        for (int p = 0; p < T; p++) {
            pm_model_logits_at(d, p, 1, T, a);
            pm_model_logits_at(m, p, 1, T, b);
            for (int v = 0; v < 512; v++) worst = fmax(worst, fabs(a[v] - b[v]));
        }
    }
    check(!rc && worst < 1e-5, "upcycling the Hugging Face folder (top-1, noise 0, its first %d of 64 positions) keeps "
          "its logits (worst %.1e) %s", T, worst, err);
    free(dp);
    free(mp);
    pm_model_free(d);
    pm_model_free(m);
}

/* A copy of f32 whose config.json has `key` set to the JSON `value` must be refused with `want`. */
static void check_refused(const char *dir, const char *key, const char *value, const char *want) {
    char tmp[] = "/tmp/polymoe-hf-XXXXXX", src[4200], dst[4200], err[4800] = "", step_dir[4200];
    if (!mkdtemp(tmp)) return;
    const char *files[] = {"model.safetensors", "tokenizer.json", "config.json"};
    size_t len;
    for (int i = 0; i < 3; i++) {
        snprintf(src, sizeof src, "%s/f32/%s", dir, files[i]);
        snprintf(dst, sizeof dst, "%s/%s", tmp, files[i]);
        char *data = pm_read_file(src, 1 << 24, &len, err, sizeof err);
        if (i == 2 && data) {
            cJSON *c = cJSON_Parse(data);
            cJSON_DeleteItemFromObjectCaseSensitive(c, key);
            cJSON_AddItemToObject(c, key, cJSON_Parse(value));
            free(data);
            data = cJSON_Print(c);
            len = strlen(data);
            cJSON_Delete(c);
        }
        if (data) pm_write_file_atomic(dst, data, len, err, sizeof err);
        free(data);
    }
    pm_config cfg;
    err[0] = 0;
    int rc = pm_checkpoint_find(tmp, step_dir, sizeof step_dir, &cfg, err, sizeof err);
    check(rc && strstr(err, want), "config.json with %s = %s is refused (%s)", key, value, err);
    for (int i = 0; i < 3; i++) {
        snprintf(dst, sizeof dst, "%s/%s", tmp, files[i]);
        unlink(dst);
    }
    rmdir(tmp);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: test_hf FIXTURES_DIR\n");
        return 2;
    }
    char path[4200], err[512];
    size_t len;
    snprintf(path, sizeof path, "%s/expected.json", argv[1]);
    char *text = pm_read_file(path, 1 << 20, &len, err, sizeof err);
    cJSON *expected = text ? cJSON_Parse(text) : NULL;
    free(text);
    const cJSON *tokens = cJSON_GetObjectItemCaseSensitive(expected, "tokens");
    if (cJSON_GetArraySize(tokens) != T + 1) {
        check(0, "%s: expected.json with %d tokens (%s)", path, T + 1, err);
        return check_tally();
    }
    int32_t tok[T + 1];
    for (int i = 0; i <= T; i++) tok[i] = cJSON_GetArrayItem(tokens, i)->valueint;
    pm_backend *be = pm_backend_open("ref", 0, err, sizeof err);
    if (!be) {
        check(0, "the ref backend opens (%s)", err);
        return check_tally();
    }
    const char *folders[] = {"f32", "bf16", "f16", "hub", "sharded"};
    for (int i = 0; i < 5; i++) check_folder(be, argv[1], folders[i], expected, tok);
    check_upcycle(be, argv[1], tok);
    check_refused(argv[1], "activation_function", "\"relu\"", "activation_function relu");
    check_refused(argv[1], "layer_norm_epsilon", "1e-6", "layer_norm_epsilon");
    check_refused(argv[1], "n_inner", "24", "n_inner");
    check_refused(argv[1], "tie_word_embeddings", "false", "tie_word_embeddings");
    check_refused(argv[1], "scale_attn_by_inverse_layer_idx", "true", "attention scaling");
    check_refused(argv[1], "model_type", "\"llama\"", "not gpt2");
    check_refused(argv[1], "n_embd", "\"16\"", "n_embd");
    check_refused(argv[1], "n_head", "3", "not a multiple of n_head");
    pm_backend_close(be);
    cJSON_Delete(expected);
    return check_tally();
}
