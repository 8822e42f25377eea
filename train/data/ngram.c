#include "train/data/ngram.h"

#include <math.h>
#include <stdlib.h>

#define DISCOUNT 0.75

/* An open-addressing table from a non-zero key to two counters. */
typedef struct {
    uint64_t key, a, b;
} slot;

typedef struct {
    slot *s;
    size_t cap, used; /* cap a power of two, kept at most half full */
} table;

static uint64_t mix(uint64_t k) { /* splitmix64's finaliser */
    k ^= k >> 30, k *= 0xbf58476d1ce4e5b9ull;
    k ^= k >> 27, k *= 0x94d049bb133111ebull;
    return k ^ (k >> 31);
}

static slot *find(const table *t, uint64_t key) {
    for (size_t i = mix(key) & (t->cap - 1);; i = (i + 1) & (t->cap - 1))
        if (t->s[i].key == key || !t->s[i].key) return &t->s[i];
}

static int grow(table *t) {
    table n = {calloc(t->cap ? 2 * t->cap : 1024, sizeof(slot)), t->cap ? 2 * t->cap : 1024, t->used};
    if (!n.s) return -1;
    for (size_t i = 0; i < t->cap; i++)
        if (t->s[i].key) *find(&n, t->s[i].key) = t->s[i];
    free(t->s);
    *t = n;
    return 0;
}

/* The slot of key, inserted with zero counters when new; NULL when out of memory. Keys are
 * stored plus one, so that 0 marks an empty slot. */
static slot *upsert(table *t, uint64_t key) {
    if (2 * (t->used + 1) > t->cap && grow(t)) return NULL;
    slot *s = find(t, key + 1);
    if (!s->key) s->key = key + 1, t->used++;
    return s;
}

static const slot *lookup(const table *t, uint64_t key) {
    if (!t->cap) return NULL;
    const slot *s = find(t, key + 1);
    return s->key ? s : NULL;
}

typedef struct {
    uint64_t V;
    table tri;       /* (u,v,w): a = count */
    table ctx;       /* (u,v): a = count of (u,v,*), b = distinct w after it */
    table cont2;     /* (v,w): a = distinct u before it (continuation count) */
    uint64_t *cont2_sum, *cont2_types; /* per v: sum over w of cont2, distinct w */
    uint64_t *cont1;                   /* per w: distinct v with a (v,w) in cont2 */
    uint64_t bigram_types;
} model;

static int fit(model *m, const int32_t *x, size_t n) {
    uint64_t V = m->V;
    for (size_t i = 2; i < n; i++) {
        slot *s = upsert(&m->tri, ((uint64_t)x[i - 2] * V + (uint64_t)x[i - 1]) * V + (uint64_t)x[i]);
        if (!s) return -1;
        s->a++;
    }
    for (size_t i = 0; i < m->tri.cap; i++) {
        const slot *t = &m->tri.s[i];
        if (!t->key) continue;
        uint64_t k = t->key - 1, w = k % V, uv = k / V, v = uv % V;
        slot *c = upsert(&m->ctx, uv), *b = upsert(&m->cont2, v * V + w);
        if (!c || !b) return -1;
        c->a += t->a, c->b++, b->a++;
    }
    for (size_t i = 0; i < m->cont2.cap; i++) {
        const slot *b = &m->cont2.s[i];
        if (!b->key) continue;
        uint64_t k = b->key - 1, v = k / V, w = k % V;
        m->cont2_sum[v] += b->a, m->cont2_types[v]++, m->cont1[w]++, m->bigram_types++;
    }
    return 0;
}

/* Interpolated Kneser-Ney: each order's discounted counts plus the discounted mass times the
 * order below; an unseen context leaves all the mass to the order below. */
static double prob(const model *m, uint64_t u, uint64_t v, uint64_t w) {
    uint64_t V = m->V;
    double p = ((double)m->cont1[w] + 1) / ((double)m->bigram_types + (double)V);
    if (m->cont2_sum[v]) {
        const slot *b = lookup(&m->cont2, v * V + w);
        double sum = (double)m->cont2_sum[v];
        p = fmax((b ? (double)b->a : 0) - DISCOUNT, 0) / sum + DISCOUNT * (double)m->cont2_types[v] / sum * p;
    }
    const slot *c = lookup(&m->ctx, u * V + v);
    if (c) {
        const slot *t = lookup(&m->tri, (u * V + v) * V + w);
        p = fmax((t ? (double)t->a : 0) - DISCOUNT, 0) / (double)c->a + DISCOUNT * (double)c->b / (double)c->a * p;
    }
    return p;
}

double pm_ngram_heldout_loss(const int32_t *train, size_t n_train, const int32_t *eval, size_t n_eval, int vocab) {
    if (n_train < 3 || n_eval < 3 || vocab < 1 || vocab > (1 << 21)) return NAN;
    model m = {.V = (uint64_t)vocab};
    m.cont2_sum = calloc((size_t)vocab, sizeof *m.cont2_sum);
    m.cont2_types = calloc((size_t)vocab, sizeof *m.cont2_types);
    m.cont1 = calloc((size_t)vocab, sizeof *m.cont1);
    double loss = NAN;
    if (m.cont2_sum && m.cont2_types && m.cont1 && !fit(&m, train, n_train)) {
        double sum = 0;
        for (size_t i = 2; i < n_eval; i++) sum -= log(prob(&m, (uint64_t)eval[i - 2], (uint64_t)eval[i - 1], (uint64_t)eval[i]));
        loss = sum / (double)(n_eval - 2);
    }
    free(m.tri.s), free(m.ctx.s), free(m.cont2.s);
    free(m.cont2_sum), free(m.cont2_types), free(m.cont1);
    return loss;
}
