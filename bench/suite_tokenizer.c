#define _POSIX_C_SOURCE 200809L
#include "bench/suite_tokenizer.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/host.h"
#include "train/data/data.h"
#include "train/tokenizer/tokenizer.h"
#include "train/util/error_text.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The documents of every domain, both splits, as bytes: the byte tokenizer's streams cut at
 * end-of-text. */
typedef struct {
    char *text;
    size_t *ends, n_docs, bytes;
} documents;

static int collect(const char *manifest, documents *docs, char *err, size_t errlen) {
    pm_data_options opt = {.seq_len = 1, .eval_fraction = 0.1, .seed = 1};
    pm_dataset *ds = pm_data_open(manifest, &opt, err, errlen);
    if (!ds) return -1;
    size_t total = 0, n;
    for (int d = 0; d < pm_data_domains(ds); d++)
        for (int s = 0; s < 2; s++) pm_data_stream(ds, d, s, &n), total += n;
    docs->text = malloc(total + 1);
    docs->ends = malloc((total + 1) * sizeof *docs->ends);
    if (!docs->text || !docs->ends) {
        pm_data_close(ds);
        return pm_errorf(err, errlen, "out of memory");
    }
    for (int d = 0; d < pm_data_domains(ds); d++)
        for (int s = 0; s < 2; s++) {
            const int32_t *ids = pm_data_stream(ds, d, s, &n);
            for (size_t i = 0; i < n; i++) {
                if (ids[i] < 256) docs->text[docs->bytes++] = (char)ids[i];
                else docs->ends[docs->n_docs++] = docs->bytes;
            }
        }
    pm_data_close(ds);
    return 0;
}

int pm_bench_tokenizer(const char *spec, const char *manifest, int rounds, FILE *json, char *err, size_t errlen) {
    documents docs = {0};
    if (rounds < 1 || rounds > 1000) return pm_errorf(err, errlen, "rounds must be 1..1000");
    if (collect(manifest, &docs, err, errlen)) return -1;
    int32_t *ids = malloc((docs.bytes + 1) * sizeof *ids);
    double *mbs = malloc((size_t)rounds * sizeof *mbs);
    size_t tokens = 0;
    int rc = ids && mbs ? 0 : pm_errorf(err, errlen, "out of memory");
    for (int r = 0; r < rounds && !rc; r++) {
        pm_tokenizer *t = pm_tokenizer_open(spec, err, errlen);
        if (!t) {
            rc = -1;
            break;
        }
        tokens = 0;
        double t0 = now();
        for (size_t i = 0; i < docs.n_docs && !rc; i++) {
            size_t start = i ? docs.ends[i - 1] : 0;
            long k = pm_tokenizer_encode(t, docs.text + start, docs.ends[i] - start, ids, err, errlen);
            if (k < 0) rc = -1;
            else tokens += (size_t)k;
        }
        mbs[r] = docs.bytes / 1e6 / (now() - t0);
        pm_tokenizer_free(t);
    }
    if (!rc) {
        double mb = docs.bytes / 1e6, sorted[1000];
        memcpy(sorted, mbs, (size_t)rounds * sizeof *mbs);
        qsort(sorted, (size_t)rounds, sizeof *sorted, by_value);
        double median = rounds % 2 ? sorted[rounds / 2] : (sorted[rounds / 2 - 1] + sorted[rounds / 2]) / 2;
        printf("tokenizer %s: %.2f MB in %zu documents -> %zu tokens; encode %.2f MB/s median (min %.2f, max %.2f) "
               "over %d round%s, one thread\n", spec, mb, docs.n_docs, tokens, median, sorted[0], sorted[rounds - 1],
               rounds, rounds == 1 ? "" : "s");
        pm_run_info run;
        pm_bench_probe_host(&run);
        cJSON *o = cJSON_CreateObject(), *each = cJSON_AddArrayToObject(o, "rounds_mb_per_s");
        cJSON_AddStringToObject(o, "suite", "tokenizer");
        cJSON_AddStringToObject(o, "tokenizer", spec);
        cJSON_AddStringToObject(o, "data", manifest);
        cJSON_AddNumberToObject(o, "bytes", (double)docs.bytes);
        cJSON_AddNumberToObject(o, "documents", (double)docs.n_docs);
        cJSON_AddNumberToObject(o, "tokens", (double)tokens);
        cJSON_AddNumberToObject(o, "rounds", rounds);
        cJSON_AddNumberToObject(o, "mb_per_s", median);
        cJSON_AddNumberToObject(o, "mb_per_s_min", sorted[0]);
        cJSON_AddNumberToObject(o, "mb_per_s_max", sorted[rounds - 1]);
        for (int r = 0; r < rounds; r++) cJSON_AddItemToArray(each, cJSON_CreateNumber(mbs[r]));
        cJSON_AddStringToObject(o, "host_cpu", run.cpu);
        cJSON_AddStringToObject(o, "commit", run.commit);
        cJSON_AddStringToObject(o, "run_utc", run.utc);
        char *line = cJSON_PrintUnformatted(o);
        if (!line || fprintf(json ? json : stdout, "%s\n", line) < 0) rc = pm_errorf(err, errlen, "cannot write the result");
        free(line);
        cJSON_Delete(o);
    }
    free(ids);
    free(mbs);
    free(docs.text);
    free(docs.ends);
    return rc;
}
