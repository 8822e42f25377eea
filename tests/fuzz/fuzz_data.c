/* libFuzzer target: the data reader (train/data/data.c). The input is a manifest, a NUL byte, and
 * the contents of docs.jsonl; both are written to a private folder in /dev/shm beside a plain
 * text file a.txt, and the manifest is opened, a batch drawn and the eval sequences read.
 * Manifests with '/' or '\' are skipped: a path outside the folder (an absolute glob, an
 * escaped slash) would read the whole machine's files. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "train/data/data.h"

static char dir[] = "/dev/shm/polymoe_fuzz_data_XXXXXX";

static int write_file(const char *name, const void *bytes, size_t n) {
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t put = fwrite(bytes, 1, n, f);
    return fclose(f) || put != n ? -1 : 0;
}

static void remove_dir(void) {
    const char *names[] = {"a.txt", "manifest.json", "docs.jsonl"};
    char path[128];
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

static void use(pm_dataset *ds) {
    enum { B = 3, T = 8 };
    int32_t in[B * T], tgt[B * T], dom[B * T];
    uint64_t state[PM_DATA_STATE_LEN];
    pm_data_next_batch(ds, B, in, tgt, dom);
    pm_data_get_state(ds, state);
    if (pm_data_set_state(ds, state)) __builtin_trap(); /* its own state must be accepted */
    for (int d = 0; d < pm_data_domains(ds); d++)
        for (size_t i = 0; i < 4; i++) pm_data_eval_sequence(ds, d, i, 4, in, tgt); /* 4 spread, or all of fewer */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int ready;
    if (!ready) {
        if (!mkdtemp(dir) || atexit(remove_dir) || write_file("a.txt", "plain text, one document\n", 25)) abort();
        ready = 1;
    }
    const uint8_t *nul = memchr(data, 0, size);
    size_t mlen = nul ? (size_t)(nul - data) : size;
    if (memchr(data, '/', mlen) || memchr(data, '\\', mlen)) return 0;
    char manifest[128];
    snprintf(manifest, sizeof manifest, "%s/manifest.json", dir);
    if (write_file("manifest.json", data, mlen) ||
        write_file("docs.jsonl", nul ? nul + 1 : data, nul ? size - mlen - 1 : 0))
        return 0;
    pm_data_options opt = {.seq_len = 8, .eval_fraction = 0.3, .seed = 1, .natural_mix = size % 2};
    char err[512];
    pm_dataset *ds = pm_data_open(manifest, &opt, err, sizeof err);
    if (ds) use(ds);
    pm_data_close(ds);
    return 0;
}
