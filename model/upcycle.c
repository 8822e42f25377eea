#include "model/upcycle.h"

#include <stdio.h>
#include <string.h>

#include "backends/pm_rng.h"

/* Element j of expert tensor t taken from dense tensor s when the expert is narrower than the
 * dense MLP (expert_width): expert e's hidden units are the dense ones from e * width on,
 * wrapping, along the dimension that differs. -1 when the shapes do not fit that way. */
static long narrow_source(const pm_tensor *t, const pm_tensor *s, size_t j) {
    int e;
    const char *at = strstr(t->name, ".experts.");
    if (!at || sscanf(at, ".experts.%d.", &e) != 1 || t->ndim != s->ndim) return -1;
    if (t->ndim == 1 && t->shape[0] <= s->shape[0]) /* c_fc.bias */
        return ((long)e * t->shape[0] + (long)j) % s->shape[0];
    if (t->ndim != 2) return -1;
    long r = (long)(j / (size_t)t->shape[1]), c = (long)(j % (size_t)t->shape[1]);
    if (t->shape[0] == s->shape[0] && t->shape[1] <= s->shape[1]) /* c_fc.weight: columns */
        return r * s->shape[1] + ((long)e * t->shape[1] + c) % s->shape[1];
    if (t->shape[1] == s->shape[1] && t->shape[0] <= s->shape[0]) /* c_proj.weight: rows */
        return ((long)e * t->shape[0] + r) % s->shape[0] * s->shape[1] + c;
    return -1;
}

static const pm_tensor *find(const pm_tensor *t, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (strcmp(t[i].name, name) == 0) return &t[i];
    return NULL;
}

int pm_upcycle(const pm_tensor *dense_t, int n_dense, const float *dense,
               const pm_tensor *moe_t, int n_moe, float *moe, float noise_std, uint32_t seed,
               char *err, size_t errlen) {
    for (int i = 0; i < n_moe; i++) {
        const pm_tensor *t = &moe_t[i];
        float *dst = moe + t->offset;
        if (t->part == PM_PART_ROUTER) {
            memset(dst, 0, t->size * sizeof *dst);
            continue;
        }
        if (t->part == PM_PART_ADAPTERS) continue; /* a fresh adapter (B = 0) adds nothing */
        int expert = t->part == PM_PART_EXPERTS;
        const char *src_name = expert ? t->expert_of : t->name;
        const pm_tensor *s = find(dense_t, n_dense, src_name);
        /* a run with shorter sequences takes the first positions (GPT-2's 1024 into 512) */
        int prefix = s && t->part == PM_PART_POSITIONS && s->ndim == 2 && t->ndim == 2 &&
                     s->shape[1] == t->shape[1] && s->shape[0] >= t->shape[0];
        int narrow = s && expert && s->size != t->size && narrow_source(t, s, 0) >= 0;
        if (!s || (s->size != t->size && !prefix && !narrow)) {
            snprintf(err, errlen, "dense model has %s %s for %s", s ? "a differently shaped" : "no",
                     src_name, t->name);
            return -1;
        }
        for (size_t j = 0; j < t->size; j++) {
            float noise = expert && noise_std > 0
                              ? noise_std * pm_normal(seed, (uint32_t)(t->global_offset + j))
                              : 0.0f;
            dst[j] = dense[s->offset + (narrow ? (size_t)narrow_source(t, s, j) : j)] + noise;
        }
    }
    return 0;
}
