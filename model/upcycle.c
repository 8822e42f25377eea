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
        if (strstr(t->name, ".mlp.router.")) {
            memset(dst, 0, t->size * sizeof *dst);
            continue;
        }
        char src_name[96];
        int layer, expert, used = 0;
        const char *experts = strstr(t->name, ".mlp.experts.");
        if (experts && sscanf(t->name, "transformer.h.%d.mlp.experts.%d.%n", &layer, &expert, &used) == 2 && used)
            snprintf(src_name, sizeof src_name, "transformer.h.%d.mlp.%s", layer, t->name + used);
        else
            snprintf(src_name, sizeof src_name, "%s", t->name);
        const pm_tensor *s = find(dense_t, n_dense, src_name);
        if (!s || s->size != t->size) {
            snprintf(err, errlen, "dense model has %s %s for %s", s ? "a differently shaped" : "no",
                     src_name, t->name);
            return -1;
        }
        for (size_t j = 0; j < t->size; j++) {
            float noise = experts && noise_std > 0
                              ? noise_std * pm_normal(seed, (uint32_t)(t->offset + j))
                              : 0.0f;
            dst[j] = dense[s->offset + j] + noise;
        }
    }
    return 0;
}
