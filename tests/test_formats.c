/* The strict readers: every kind of malformed safetensors file and bad config value must give
 * a clean error (naming the file and tensor, or the key and its allowed range), never a crash
 * or a silent acceptance; the good files and configs still load. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/config.h"
#include "model/model.h"
#include "model/safetensors.h"
#include "tests/check.h"

static char tmp[] = "/tmp/polymoe_test_formats_XXXXXX";
static char st_path[1100];


/* ---- safetensors ---- */

/* Writes st_path: the 8-byte length, `header` and `data_bytes` bytes of float data 0, 1, 2...
 * (header_len: bytes of header to take, 0 for strlen; lets a header hold a NUL). */
static void write_st(const char *header, size_t header_len, size_t data_bytes) {
    size_t hl = header_len ? header_len : strlen(header);
    FILE *f = fopen(st_path, "wb");
    if (!f) {
        perror(st_path);
        exit(2);
    }
    for (int i = 0; i < 8; i++) fputc((int)((uint64_t)hl >> (8 * i)) & 0xff, f);
    fwrite(header, 1, hl, f);
    for (size_t i = 0; i < data_bytes / 4; i++) {
        float v = (float)i;
        fwrite(&v, 4, 1, f);
    }
    for (size_t i = 0; i < data_bytes % 4; i++) fputc(0, f);
    fclose(f);
}

/* open must fail with an error naming the file and `what` (a tensor, or a key). */
static void bad_open(const char *what, const char *header, size_t data_bytes, const char *why) {
    char err[512] = "";
    write_st(header, 0, data_bytes);
    pm_st_file *f = pm_st_open(st_path, err, sizeof err);
    check(!f && strstr(err, st_path) && strstr(err, what), "safetensors %s: refused (%s)", why, err);
    pm_st_close(f);
}

static const char good_header[] =
    "{\"__metadata__\":{\"k\":\"v\"},"
    "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
    "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[24,40]},"
    "\"e\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[40,40]},"
    "\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[40,44]},"
    "\"g\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[44,48]},"
    "\"i\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[48,52]}}";

static void test_good_safetensors(void) {
    char err[512] = "";
    write_st(good_header, 0, 52);
    pm_st_file *f = pm_st_open(st_path, err, sizeof err);
    check(f != NULL, "safetensors: a well-formed file opens (%s)", err);
    if (!f) return;
    const char *k = pm_st_meta(f, "k");
    check(k && strcmp(k, "v") == 0, "safetensors: metadata reads back");
    float a[6], b[4];
    int ra = pm_st_read(f, "a", a, 2, (size_t[]){2, 3}, err, sizeof err);
    int rb = pm_st_read(f, "b", b, 1, (size_t[]){4}, err, sizeof err);
    check(!ra && !rb && a[0] == 0 && a[5] == 5 && b[0] == 6 && b[3] == 9, "safetensors: tensors read back");
    check(!pm_st_read(f, "e", a, 2, (size_t[]){0, 5}, err, sizeof err), "safetensors: an empty tensor reads");
    check(pm_st_read(f, "a", a, 2, (size_t[]){3, 2}, err, sizeof err) && strstr(err, st_path) &&
              strstr(err, "tensor a has shape [2,3], the model config wants [3,2]"),
          "safetensors: a tensor of another shape is refused (%s)", err);
    check(pm_st_read(f, "a", a, 1, (size_t[]){6}, err, sizeof err) && strstr(err, "[2,3]") && strstr(err, "[6]"),
          "safetensors: a tensor of another rank is refused (%s)", err);
    /* the data are the floats 0, 1, 2, ...: float 10 (0x41200000) read as two halves is 0 and
     * 0x4120 = 2.5625; float 11 (0x41300000) as two bfloat16s is 0 and 11 */
    float h[2] = {-1, -1}, g[2] = {-1, -1};
    int rh = pm_st_read(f, "h", h, 1, (size_t[]){2}, err, sizeof err);
    check(!rh && h[0] == 0.0f && h[1] == 2.5625f, "safetensors: F16 widens to float32 exactly (%g %g)", h[0], h[1]);
    int rg = pm_st_read(f, "g", g, 1, (size_t[]){2}, err, sizeof err);
    check(!rg && g[0] == 0.0f && g[1] == 11.0f, "safetensors: BF16 widens to float32 exactly (%g %g)", g[0], g[1]);
    check(pm_st_read(f, "i", a, 1, (size_t[]){1}, err, sizeof err) && strstr(err, "tensor i is I32"),
          "safetensors: a tensor of another dtype is refused (%s)", err);
    check(pm_st_read(f, "A", a, 2, (size_t[]){2, 3}, err, sizeof err) && strstr(err, "tensor A is missing"),
          "safetensors: names are case-sensitive (%s)", err);
    check(pm_st_read(f, "__metadata__", a, 1, (size_t[]){1}, err, sizeof err) != 0,
          "safetensors: __metadata__ is not a tensor (%s)", err);
    pm_st_close(f);

    err[0] = 0;
    float w[6] = {1, 2, 3, 4, 5, 6};
    pm_st_tensor t = {"w", 2, {3, 2}, pm_st_fill_memory, w, 0};
    const char *meta[] = {"step", "7"};
    f = pm_st_write(st_path, &t, 1, meta, 1, err, sizeof err) ? NULL : pm_st_open(st_path, err, sizeof err);
    float r[6] = {0};
    check(f && !pm_st_read(f, "w", r, 2, (size_t[]){3, 2}, err, sizeof err) && memcmp(r, w, sizeof w) == 0 &&
              strcmp(pm_st_meta(f, "step"), "7") == 0,
          "safetensors: pm_st_write's file reads back (%s)", err);
    pm_st_close(f);
}

/* A source of i * 0.5 at float i, so every window's position in the file is checked. */
static int fill_ramp(void *ctx, size_t offset, float *dst, size_t count) {
    (void)ctx;
    for (size_t i = 0; i < count; i++) dst[i] = (float)((offset + i) % 1000003) * 0.5f;
    return 0;
}

static int fill_fails(void *ctx, size_t offset, float *dst, size_t count) {
    (void)ctx, (void)offset, (void)dst, (void)count;
    return -1;
}

/* Tensors larger than the writer's 16 MiB window, taken from an offset of their source, land
 * whole and in order; a source that fails leaves no file. */
static void test_safetensors_windows(const char *dir) {
    char path[512], err[300] = "";
    snprintf(path, sizeof path, "%s/windows.safetensors", dir);
    enum { N = (4 << 20) * 2 + 7 };
    pm_st_tensor t[2] = {{"a", 1, {5, 0}, fill_ramp, NULL, 3}, {"b", 1, {N, 0}, fill_ramp, NULL, 11}};
    pm_st_file *f = pm_st_write(path, t, 2, NULL, 0, err, sizeof err) ? NULL : pm_st_open(path, err, sizeof err);
    float *r = malloc(N * sizeof *r);
    int ok = f && r && !pm_st_read(f, "b", r, 1, (size_t[]){N}, err, sizeof err);
    size_t bad = 0;
    for (size_t i = 0; ok && i < N; i++) bad += r[i] != (float)((11 + i) % 1000003) * 0.5f;
    float a[5];
    ok = ok && !pm_st_read(f, "a", a, 1, (size_t[]){5}, err, sizeof err) && a[0] == 1.5f && a[4] == 3.5f;
    check(ok && bad == 0, "safetensors: a tensor of %d floats (over two 16 MiB windows) is written from its "
                          "source in order (%zu wrong; %s)", (int)N, bad, err);
    pm_st_close(f);
    free(r);
    remove(path);
    t[1].fill = fill_fails;
    int rc = pm_st_write(path, t, 2, NULL, 0, err, sizeof err);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    check(rc && strstr(err, "reading the tensors") && access(path, F_OK) != 0 && access(tmp, F_OK) != 0,
          "safetensors: a source that fails is an error and leaves no file (%s)", err);
}

#define ENTRY(shape, offsets) "{\"a\":{\"dtype\":\"F32\",\"shape\":" shape ",\"data_offsets\":" offsets "}}"

static void test_bad_safetensors(void) {
    bad_open("tensor a", ENTRY("[6]", "[-4,20]"), 24, "negative data_offsets");
    bad_open("tensor a", ENTRY("[6]", "[0.5,24.5]"), 28, "non-integral data_offsets");
    bad_open("tensor a", ENTRY("[6]", "[0,1e300]"), 24, "data_offsets beyond uint64");
    bad_open("tensor a", ENTRY("[6]", "[9007199254740993,9007199254741017]"), 24, "data_offsets beyond 2^53");
    bad_open("tensor a", ENTRY("[6]", "[8,32]"), 24, "data_offsets past the end of the file");
    bad_open("tensor a", ENTRY("[6]", "[24,0]"), 24, "data_offsets begin after end");
    bad_open("tensor a", ENTRY("[6]", "[\"0\",\"24\"]"), 24, "data_offsets not numbers");
    bad_open("tensor a", ENTRY("[6]", "[0]"), 24, "data_offsets not a pair");
    bad_open("overlap",
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[0,24]},"
             "\"b\":{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[16,40]}}",
             40, "two tensors sharing bytes");
    bad_open("tensor a",
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[0,24]},"
             "\"a\":{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[24,48]}}",
             48, "a tensor named twice");
    bad_open("tensor a", ENTRY("[2,3]", "[0,28]"), 28, "shape count below the byte span");
    bad_open("tensor a", ENTRY("[2,4]", "[0,24]"), 24, "shape count above the byte span");
    bad_open("tensor a", ENTRY("[4294967296,4294967296,4294967296]", "[0,0]"), 24,
             "shape count overflowing 64 bits");
    bad_open("tensor a", ENTRY("[2.5,2]", "[0,20]"), 20, "a non-integer shape dimension");
    bad_open("tensor a", ENTRY("[-2,-3]", "[0,24]"), 24, "negative shape dimensions");
    bad_open("tensor a", ENTRY("[\"6\"]", "[0,24]"), 24, "a shape dimension that is a string");
    bad_open("tensor a", ENTRY("6", "[0,24]"), 24, "a shape that is not an array");
    bad_open("tensor a", ENTRY("[1,1,1,1,1,1,1,1,6]", "[0,24]"), 24, "a shape of too many dimensions");
    bad_open("tensor a", "{\"a\":{\"dtype\":\"F33\",\"shape\":[6],\"data_offsets\":[0,24]}}", 24, "an unknown dtype");
    bad_open("tensor a", "{\"a\":{\"dtype\":7,\"shape\":[6],\"data_offsets\":[0,24]}}", 24, "a dtype not a string");
    bad_open("entry a", "{\"a\":[{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[0,24]}]}", 24,
             "a header entry that is an array");
    bad_open("entry a", "{\"a\":5}", 24, "a header entry that is a number");
    bad_open("__metadata__", "{\"__metadata__\":5}", 0, "__metadata__ not an object");
    bad_open("__metadata__", "{\"__metadata__\":{\"step\":7}}", 0, "__metadata__ with a number value");
    bad_open("not one JSON object", "[1,2]", 0, "a header that is an array");
    bad_open("truncated", "", 0, "an empty header");

    char err[512] = "";
    static const char with_nul[] = "{}\0{\"a\":1}";
    write_st(with_nul, sizeof with_nul - 1, 0);
    pm_st_file *f = pm_st_open(st_path, err, sizeof err);
    check(!f && strstr(err, "not one JSON object"), "safetensors: a header with bytes after its JSON (%s)", err);
    pm_st_close(f);
    err[0] = 0;
    write_st("{}  ", 0, 0);
    f = pm_st_open(st_path, err, sizeof err);
    check(f && pm_st_meta(f, "k") == NULL, "safetensors: a header padded with spaces opens (%s)", err);
    pm_st_close(f);
}

/* ---- config ---- */

static void bad_json(const char *json, const char *want) {
    pm_config c;
    char err[512] = "";
    pm_config_defaults(&c);
    int rc = pm_config_apply_json(&c, json, err, sizeof err);
    check(rc && strstr(err, want), "config %s: refused (%s)", json, err);
}

static void bad_kv(const char *kv, const char *want) {
    pm_config c;
    char err[512] = "";
    pm_config_defaults(&c);
    int rc = pm_config_apply_kv(&c, kv, err, sizeof err);
    check(rc && strstr(err, want), "config %s: refused (%s)", kv, err);
}

/* The defaults with `kvs` applied must pass apply and fail pm_model_check with `want` in the
 * error. */
static void bad_validate(const char *const *kvs, int n, const char *want) {
    pm_config c;
    char err[512] = "", what[256] = "";
    pm_config_defaults(&c);
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        rc = pm_config_apply_kv(&c, kvs[i], err, sizeof err);
        snprintf(what + strlen(what), sizeof what - strlen(what), "%s ", kvs[i]);
    }
    if (!rc) rc = pm_model_check(&c, err, sizeof err) ? 2 : 0;
    check(rc == 2 && strstr(err, want), "config validate %s: refused (%s)", what, err);
}

static void test_bad_config(void) {
    bad_kv("moe_layers=1e300", "not a layer index 0..63");
    bad_kv("moe_layers=-1e300", "not a layer index 0..63");
    bad_kv("moe_layers=nan", "not a layer index 0..63");
    bad_kv("moe_layers=inf", "not a layer index 0..63");
    bad_kv("moe_layers=1.5", "not a layer index 0..63");
    bad_json("{\"moe_layers\":[1e300]}", "not a layer index 0..63");
    bad_json("{\"moe_layers\":[-3e9]}", "not a layer index 0..63");
    bad_kv("steps=2.5", "steps must be an integer");
    bad_json("{\"steps\":2.5}", "steps must be an integer");
    bad_kv("steps=1e300", "outside 1..1073741824");
    bad_json("{\"steps\":1e300}", "outside 1..1073741824");
    bad_json("{\"n_layer\":1e999}", "outside 1..64");
    bad_kv("steps=nan", "outside");
    bad_kv("lr=nan", "outside 0..10");
    bad_kv("lr=inf", "outside 0..10");
    bad_kv("seed=4294967296", "outside 0..4294967295");
    bad_kv("seed=0.5", "seed must be an integer");
    bad_kv("top_k=-1", "outside 1..1024");
    bad_kv("n_experts=1025", "outside 1..1024");

    const char *tensors[] = {"n_layer=64", "n_experts=1024", "moe_layers=0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15"};
    bad_validate(tensors, 3, "more than the 4096 it can hold");
    const char *rows[] = {"batch_size=1048576", "block_size=65536"};
    bad_validate(rows, 2, "rows per micro-batch; at most 2147483647");
    const char *rows_k[] = {"batch_size=4096", "block_size=65536", "n_experts=16", "top_k=16", "moe_layers=1"};
    bad_validate(rows_k, 5, "rows per micro-batch");
    const char *params[] = {"n_embd=16384", "vocab_size=1048576"};
    bad_validate(params, 2, "checkpoints hold at most 2147483647");
    bad_kv("router_mode=sparse", "neither topk nor dense");
    bad_json("{\"eval_router_mode\":1}", "wrong type");
    bad_kv("lr_cycles=0", "outside 1..");
    const char *lora_dense[] = {"lora_rank=4", "moe_layers="};
    bad_validate(lora_dense, 2, "adapters are experts");
    const char *cycles[] = {"steps=100", "warmup_steps=30", "lr_cycles=4"};
    bad_validate(cycles, 3, "more than a cycle's 25 steps");
    /* dense routing holds every expert per token: the rows check counts n_experts, not top_k */
    const char *rows_dense[] = {"batch_size=4096", "block_size=65536", "n_experts=16", "top_k=1", "moe_layers=1",
                                "router_mode=dense"};
    bad_validate(rows_dense, 6, "rows per micro-batch");
}

static void test_good_configs(const char *dir) {
    const char *names[] = {"tiny.json",  "dense.json",          "gpt2-moe.json",        "no-lb.json",
                           "top2.json", "gpt2-small-moe.json", "gpt2-small-dense.json", "gpt2-small-lora.json"};
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++) {
        char path[1100], err[512] = "";
        pm_config c;
        pm_config_defaults(&c);
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        int rc = pm_config_load_file(&c, path, err, sizeof err);
        if (!rc && c.vocab_size == 0) c.vocab_size = 257; /* the byte tokenizer's, as training fills it in */
        if (!rc) rc = pm_model_check(&c, err, sizeof err);
        check(!rc, "config %s loads and validates %s", names[i], err);
    }
    pm_config c;
    char err[512] = "";
    pm_config_defaults(&c);
    const char *kvs[] = {"steps=1e3", "moe_layers=0,63", "n_layer=64", "n_experts=12", "seed=4294967295"};
    int rc = 0;
    for (int i = 0; i < 5 && !rc; i++) rc = pm_config_apply_kv(&c, kvs[i], err, sizeof err);
    if (!rc) rc = pm_model_check(&c, err, sizeof err);
    check(!rc && c.steps == 1000 && c.moe_layers[63] && c.seed == 4294967295u,
          "config: integral values in range, at the limits, are accepted %s", err);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: test_formats CONFIGS_DIR\n");
        return 2;
    }
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 2;
    }
    snprintf(st_path, sizeof st_path, "%s/t.safetensors", tmp);
    test_good_safetensors();
    test_bad_safetensors();
    test_safetensors_windows(tmp);
    test_bad_config();
    test_good_configs(argv[1]);
    unlink(st_path);
    rmdir(tmp);
    return check_tally();
}
