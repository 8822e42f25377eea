#include "model/upcycle.h"

#include <stdio.h>
#include <string.h>

#include "backends/pm_rng.h"

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
        if (!s || (s->size != t->size && !prefix)) {
            snprintf(err, errlen, "dense model has %s %s for %s", s ? "a differently shaped" : "no",
                     src_name, t->name);
            return -1;
        }
        for (size_t j = 0; j < t->size; j++) {
            float noise = expert && noise_std > 0
                              ? noise_std * pm_normal(seed, (uint32_t)(t->offset + j))
                              : 0.0f;
            dst[j] = dense[s->offset + j] + noise;
        }
    }
    return 0;
}
