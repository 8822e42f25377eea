/* router_fwd: softmax over E experts and the top-k choice for N tokens. Bytes it must move:
 * read the logits (N E floats), write probs (N E), lse (N), ids and gates (N k each), all
 * 4 bytes: 4 (2 N E + N + 2 N k). */
#include "bench/inputs.h"
#include "bench/suites.h"

#include <stdio.h>

typedef struct {
    pm_buf *probs, *lse, *ids, *gates, *logits;
    int N, E, k;
} router_arg;

static void router_body(pm_backend *be, void *p) {
    router_arg *r = p;
    pm_op(be, router_fwd, pm_at(r->probs, 0), pm_at(r->lse, 0), pm_at(r->ids, 0),
          pm_at(r->gates, 0), pm_at(r->logits, 0), r->N, r->E, r->k);
}

static void run_case(pm_bench_ctx *c, int N, int E, int k, uint32_t seed) {
    pm_bench_bufs bufs = {.be = c->be};
    size_t n = (size_t)N;
    router_arg arg = {pm_bench_zeros(&bufs, n * E), pm_bench_zeros(&bufs, n),
                      pm_bench_zeros(&bufs, n * k), pm_bench_zeros(&bufs, n * k),
                      pm_bench_uniform(&bufs, n * E, 4.0f, seed), N, E, k};
    char name[16], shape[64];
    snprintf(name, sizeof name, "top%d", k);
    snprintf(shape, sizeof shape, "N=%d E=%d k=%d", N, E, k);
    double bytes = 4.0 * (2.0 * n * E + n + 2.0 * n * k);
    pm_bench_measure(c, "router_fwd", name, shape, router_body, &arg, 0, bytes);
    pm_bench_bufs_free(&bufs);
}

void pm_bench_router(pm_bench_ctx *c) {
    static const int full_tokens[] = {4096, 16384, 65536}, full_experts[] = {8, 16, 32, 64};
    static const int quick_tokens[] = {4096, 65536}, quick_experts[] = {8, 64};
    const int *tokens = c->quick ? quick_tokens : full_tokens;
    const int *experts = c->quick ? quick_experts : full_experts;
    int nt = c->quick ? 2 : 3, ne = c->quick ? 2 : 4;
    uint32_t seed = 100;
    for (int t = 0; t < nt; t++)
        for (int e = 0; e < ne; e++)
            for (int k = 1; k <= 2; k++) run_case(c, tokens[t], experts[e], k, seed++);
}
