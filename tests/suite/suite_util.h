/* Small helpers shared by the CPU reference's own checks (gradcheck.c, semantics.c): device
 * buffers freed together, a seeded generator, the --op filter and the error row. */
#ifndef POLYMOE_SUITE_UTIL_H
#define POLYMOE_SUITE_UTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "suite.h"

/* The device buffers of one check, at most SCRATCH_MAX of them (a check past that would leak
 * the extra buffers, which the sanitizer build reports). On a failed backend pm_alloc gives
 * NULL and every later op, upload and download returns the sticky error without touching
 * memory. */
#define SCRATCH_MAX 16
typedef struct {
    pm_backend *be;
    pm_buf *bufs[SCRATCH_MAX];
    int n;
} scratch;

static inline pm_ref scratch_alloc(scratch *s, size_t n) {
    pm_buf *b = pm_alloc(s->be, n * 4);
    if (b && s->n < SCRATCH_MAX) s->bufs[s->n++] = b;
    return pm_at(b, 0);
}

/* A new buffer of n 4-byte elements (floats or int32) holding a copy of src. */
static inline pm_ref scratch_put(scratch *s, const void *src, size_t n) {
    pm_ref r = scratch_alloc(s, n);
    pm_upload(s->be, r.buf, src, 0, n * 4);
    return r;
}

/* A new buffer of n floats all equal to value. */
static inline pm_ref scratch_filled(scratch *s, size_t n, float value) {
    pm_ref r = scratch_alloc(s, n);
    pm_op(s->be, fill, r, n, value);
    return r;
}

/* Copies n 4-byte elements of r to dst; dst is zeroed first so a failed backend leaves no
 * uninitialised values behind. */
static inline void scratch_get(scratch *s, pm_ref r, void *dst, size_t n) {
    memset(dst, 0, n * 4);
    if (r.buf) pm_download(s->be, r.buf, dst, r.off * 4, n * 4);
}

static inline void scratch_release(scratch *s) {
    for (int i = 0; i < s->n; i++) pm_free(s->be, s->bufs[i]);
    s->n = 0;
}

/* A linear congruential generator: the checks draw the same inputs on every run. */
typedef struct {
    uint64_t state;
} check_rng;

static inline uint32_t rng_next(check_rng *r) {
    r->state = r->state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(r->state >> 33);
}
static inline float rng_uniform(check_rng *r, float lo, float hi) {
    return lo + (hi - lo) * (float)(rng_next(r) & 0xffffff) / 16777216.0f;
}
static inline int rng_below(check_rng *r, int n) { return (int)(rng_next(r) % (uint32_t)n); }

/* v = a random order of 0..n-1 (Fisher-Yates). */
static inline void random_permutation(check_rng *r, int32_t *v, int n) {
    for (int i = 0; i < n; i++) v[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = rng_below(r, i + 1);
        int32_t t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

/* router_fwd then router_stats on N x E host logits, into fresh buffers filled with -1 first
 * (an output left unwritten shows). */
typedef struct {
    pm_ref probs, lse, ids, gates, stats;
} router_outputs;

static inline router_outputs run_router(scratch *s, const float *logits, int N, int E, int k) {
    router_outputs r = {
        .probs = scratch_filled(s, (size_t)N * E, -1.0f),
        .lse = scratch_filled(s, (size_t)N, -1.0f),
        .ids = scratch_filled(s, (size_t)N * k, -1.0f),
        .gates = scratch_filled(s, (size_t)N * k, -1.0f),
        .stats = scratch_filled(s, 2 * (size_t)E + 2, -1.0f),
    };
    pm_ref x = scratch_put(s, logits, (size_t)N * E);
    pm_op(s->be, router_fwd, r.probs, r.lse, r.ids, r.gates, x, N, E, k);
    pm_op(s->be, router_stats, r.stats, r.probs, r.lse, r.ids, N, E, k);
    return r;
}

static inline int op_selected(const char *only_op, const char *op) {
    return !only_op || strcmp(only_op, op) == 0;
}

/* When the backend failed during a check, prints a FAIL row with its error, clears it and
 * returns 1. */
static inline int backend_failed_row(pm_backend *be, FILE *out, pm_tally *tally,
                                     const char *label, const char *op, const char *shape) {
    if (!pm_failed(be)) return 0;
    pm_check_row(out, tally, "FAIL", label, op, shape, pm_error(be));
    pm_clear_error(be);
    return 1;
}

#endif
