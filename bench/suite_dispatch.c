/* Token dispatch at width 768: moe_plan + moe_permute (expert ids -> offsets and slots ->
 * rows gathered in expert order) and moe_combine (gate-weighted gather back), dropless.
 * Byte model, 4-byte elements, the least each must move:
 *   plan + permute: read ids (N k), write slots (N k) and offsets (E + 1), read slots again
 *                   (N k), read x (N C), write xp (N k C);
 *   combine:        read slots and gates (N k each), read yp (N k C), write y (N C). */
#include "bench/inputs.h"
#include "bench/suites.h"

#include <stdio.h>

enum { WIDTH = 768 };

typedef struct {
    pm_buf *ids, *gates, *offsets, *slots, *x, *xp, *y;
    int N, E, k;
} dispatch_arg;

static void plan_permute_body(pm_backend *be, void *p) {
    dispatch_arg *d = p;
    pm_op(be, moe_plan, pm_at(d->offsets, 0), pm_at(d->slots, 0), pm_at(d->ids, 0), d->N, d->E,
          d->k, 0);
    pm_op(be, moe_permute, pm_at(d->xp, 0), pm_at(d->x, 0), pm_at(d->slots, 0), d->N, d->k, WIDTH);
}

static void combine_body(pm_backend *be, void *p) {
    dispatch_arg *d = p;
    pm_op(be, moe_combine, pm_at(d->y, 0), pm_at(d->xp, 0), pm_at(d->slots, 0),
          pm_at(d->gates, 0), d->N, d->k, WIDTH);
}

static void run_case(pm_bench_ctx *c, int N, int E, int k, uint32_t seed) {
    pm_bench_bufs bufs = {.be = c->be};
    size_t n = (size_t)N, nk = n * k, C = WIDTH;
    dispatch_arg d = {.N = N, .E = E, .k = k};
    pm_bench_routing(&bufs, N, E, k, seed, &d.ids, &d.gates);
    d.offsets = pm_bench_zeros(&bufs, (size_t)E + 1);
    d.slots = pm_bench_zeros(&bufs, nk);
    d.x = pm_bench_uniform(&bufs, n * C, 1.0f, seed + 2);
    d.xp = pm_bench_zeros(&bufs, nk * C);
    d.y = pm_bench_zeros(&bufs, n * C);
    char name[16], shape[64];
    snprintf(name, sizeof name, "top%d", k);
    snprintf(shape, sizeof shape, "N=%d E=%d k=%d C=%d", N, E, k, WIDTH);
    double permute_bytes = 4.0 * (3.0 * nk + E + 1 + n * C + nk * C);
    double combine_bytes = 4.0 * (2.0 * nk + nk * C + n * C);
    /* the combine reads what plan + permute left: slots, and xp standing in for yp */
    if (pm_bench_measure(c, "moe_plan+moe_permute", name, shape, plan_permute_body, &d, 0,
                         permute_bytes))
        pm_bench_measure(c, "moe_combine", name, shape, combine_body, &d, 0, combine_bytes);
    pm_bench_bufs_free(&bufs);
}

void pm_bench_dispatch(pm_bench_ctx *c) {
    static const int full_tokens[] = {4096, 16384, 65536}, full_experts[] = {8, 64};
    int nt = c->quick ? 1 : 3, ne = c->quick ? 1 : 2;
    uint32_t seed = 200;
    for (int t = 0; t < nt; t++)
        for (int e = 0; e < ne; e++)
            for (int k = 1; k <= 2; k++, seed += 4) run_case(c, full_tokens[t], full_experts[e], k, seed);
}
