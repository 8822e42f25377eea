#include "bench/charts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/svg.h"

static int is_square(const pm_record *x) {
    return strcmp(x->suite, "gemm") == 0 && strcmp(x->name, "square") == 0;
}

/* Each chart: 1 when written, 0 with nothing to draw, -1 on an error. */
static int gemm_chart(const pm_results *r, const char *path) {
    pm_svg_series *series = calloc((size_t)r->n + 1, sizeof *series);
    char (*labels)[48] = calloc((size_t)r->n + 1, sizeof *labels);
    double *xy = malloc(sizeof *xy * 2 * ((size_t)r->n + 1));
    int ns = 0, used = 0, rc = 0;
    if (!series || !labels || !xy) {
        errno = ENOMEM;
        rc = -1;
    }
    /* one series per backend:impl: the suite measures its squares in a row, sizes ascending */
    for (int i = 0; !rc && i < r->n; i++) {
        const pm_record *x = &r->recs[i];
        if (!is_square(x)) continue;
        char label[48];
        snprintf(label, sizeof label, "%s:%s", x->backend, x->impl);
        if (ns == 0 || strcmp(labels[ns - 1], label) != 0) {
            snprintf(labels[ns], sizeof labels[ns], "%s", label);
            series[ns] = (pm_svg_series){labels[ns], 0, xy + used, xy + r->n + 1 + used};
            ns++;
        }
        xy[used] = atof(x->shape); /* "1024x1024x1024" */
        xy[r->n + 1 + used] = x->gflops;
        series[ns - 1].n++;
        used++;
    }
    if (!rc && ns)
        rc = pm_svg_lines(path, "Square float32 GEMM", "size (m = n = k)", "GFLOP/s", series, ns) ? -1 : 1;
    free(series);
    free(labels);
    free(xy);
    return rc;
}

static int moe_chart(const pm_results *r, const char *path) {
    pm_svg_bar *bars = calloc((size_t)r->n + 1, sizeof *bars);
    char (*labels)[64] = calloc((size_t)r->n + 1, sizeof *labels);
    int n = 0, rc = 0;
    if (!bars || !labels) {
        errno = ENOMEM;
        rc = -1;
    }
    for (int i = 0; !rc && i < r->n; i++) {
        const pm_record *x = &r->recs[i];
        if (x->moe_over_dense == PM_NA) continue;
        snprintf(labels[n], sizeof labels[n], "%s:%s %s", x->backend, x->impl, x->name);
        bars[n] = (pm_svg_bar){labels[n], x->moe_over_dense};
        n++;
    }
    if (!rc && n)
        rc = pm_svg_bars(path, "MoE MLP vs dense MLP of equal active FLOPs (fwd + bwd)",
                         "time ratio MoE / dense", bars, n, 1.0, "dense = 1") ? -1 : 1;
    free(bars);
    free(labels);
    return rc;
}

int pm_bench_charts(const pm_results *r, const char *dir) {
    char path[1024];
    snprintf(path, sizeof path, "%s/gemm.svg", dir);
    int gemm = gemm_chart(r, path);
    snprintf(path, sizeof path, "%s/moe_vs_dense.svg", dir);
    int moe = gemm < 0 ? 0 : moe_chart(r, path);
    return gemm < 0 || moe < 0 ? -1 : gemm + moe;
}
