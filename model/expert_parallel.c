#include "model/expert_parallel.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct pm_expert_parallel {
    pm_expert_exchange ex;
    int E, local, n_layers, width;
    size_t rows_in;
    int *counts;               /* [n_layers][ranks][E] */
    int *received;             /* [n_layers]: rows that came for the local experts */
    int32_t *offsets;          /* a layer's plan offsets [E + 1], then local ones [local + 1] */
    size_t *send_n, *recv_n;   /* per rank, in floats */
    float *a, *b;              /* host staging, ranks x rows x width floats each */
};

pm_expert_parallel *pm_ep_create(const pm_expert_exchange *ex, int E, int n_layers, size_t rows_out, size_t rows_in,
                                 int width) {
    pm_expert_parallel *ep = calloc(1, sizeof *ep);
    if (!ep) return NULL;
    size_t R = (size_t)ex->ranks, stage = (rows_out > rows_in ? rows_out : rows_in) * (size_t)width;
    *ep = (pm_expert_parallel){.ex = *ex, .E = E, .local = E / ex->ranks, .n_layers = n_layers, .width = width,
                               .rows_in = rows_in};
    ep->counts = calloc((size_t)n_layers * R * (size_t)E + 1, sizeof *ep->counts);
    ep->received = calloc((size_t)n_layers + 1, sizeof *ep->received);
    ep->offsets = malloc(sizeof *ep->offsets * (2 * (size_t)E + 2));
    ep->send_n = malloc(sizeof *ep->send_n * 2 * R);
    ep->recv_n = ep->send_n ? ep->send_n + R : NULL;
    ep->a = malloc(sizeof *ep->a * (stage ? stage : 1));
    ep->b = malloc(sizeof *ep->b * (stage ? stage : 1));
    if (!ep->counts || !ep->received || !ep->offsets || !ep->send_n || !ep->a || !ep->b) {
        pm_ep_free(ep);
        return NULL;
    }
    return ep;
}

void pm_ep_free(pm_expert_parallel *ep) {
    if (!ep) return;
    free(ep->counts);
    free(ep->received);
    free(ep->offsets);
    free(ep->send_n);
    free(ep->a);
    free(ep->b);
    free(ep);
}

int pm_ep_first_expert(const pm_expert_parallel *ep) { return ep->ex.rank * ep->local; }
int pm_ep_local_experts(const pm_expert_parallel *ep) { return ep->local; }
size_t pm_ep_max_rows(const pm_expert_parallel *ep) { return ep->rows_in; }
int pm_ep_received(const pm_expert_parallel *ep, int layer) { return ep->received[layer]; }

static int *layer_counts(pm_expert_parallel *ep, int layer) {
    return ep->counts + (size_t)layer * ep->ex.ranks * ep->E;
}

/* counts[s][e] rows go from rank s to expert e: floats each rank sends to and receives from
 * every other, and the rows this rank sends and receives in all. */
static void block_sizes(pm_expert_parallel *ep, const int *counts, int width, size_t *sent, size_t *received) {
    int R = ep->ex.ranks, me = ep->ex.rank, L = ep->local;
    *sent = *received = 0;
    for (int r = 0; r < R; r++) {
        size_t to = 0, from = 0;
        for (int j = 0; j < L; j++) {
            to += (size_t)counts[(size_t)me * ep->E + r * L + j];
            from += (size_t)counts[(size_t)r * ep->E + me * L + j];
        }
        ep->send_n[r] = to * (size_t)width;
        ep->recv_n[r] = from * (size_t)width;
        *sent += to;
        *received += from;
    }
}

/* Moves rows between the received layout (by source rank, then local expert) and expert order
 * (by local expert, then source rank), one block of counts[s][e] rows at a time. */
static void regroup(pm_expert_parallel *ep, const int *counts, int width, const float *src, float *dst,
                    int to_expert_order) {
    int R = ep->ex.ranks, L = ep->local, first = ep->ex.rank * L;
    size_t at_source = 0;
    for (int s = 0; s < R; s++) {
        for (int j = 0; j < L; j++) {
            size_t at_expert = 0; /* rows of local experts before j, then of ranks before s at j */
            for (int jj = 0; jj < j; jj++)
                for (int ss = 0; ss < R; ss++) at_expert += (size_t)counts[(size_t)ss * ep->E + first + jj];
            for (int ss = 0; ss < s; ss++) at_expert += (size_t)counts[(size_t)ss * ep->E + first + j];
            size_t n = (size_t)counts[(size_t)s * ep->E + first + j] * (size_t)width;
            size_t x = at_source * (size_t)width, y = at_expert * (size_t)width;
            if (to_expert_order) memcpy(dst + y, src + x, n * sizeof *src);
            else memcpy(dst + x, src + y, n * sizeof *src);
            at_source += (size_t)counts[(size_t)s * ep->E + first + j];
        }
    }
}

static int exchange_failed(pm_backend *be, const char *what, const char *err) {
    return pm_fail(be, "expert parallel", "%s: %s", what, err);
}

int pm_ep_route(pm_backend *be, pm_expert_parallel *ep, int layer, pm_ref offsets, pm_ref local_offsets) {
    int E = ep->E, L = ep->local, first = ep->ex.rank * L, R = ep->ex.ranks;
    int32_t *off = ep->offsets, *local = ep->offsets + E + 1;
    if (pm_download(be, offsets.buf, off, offsets.off * sizeof *off, (size_t)(E + 1) * sizeof *off) != PM_OK)
        return PM_ERR;
    int *counts = layer_counts(ep, layer), mine[1024];
    for (int e = 0; e < E; e++) mine[e] = off[e + 1] - off[e];
    char err[256];
    if (ep->ex.gather_ints(ep->ex.ctx, mine, counts, E, err, sizeof err)) return exchange_failed(be, "counts", err);
    local[0] = 0;
    for (int j = 0; j < L; j++) {
        local[j + 1] = local[j];
        for (int s = 0; s < R; s++) local[j + 1] += counts[(size_t)s * E + first + j];
    }
    ep->received[layer] = local[L];
    if ((size_t)local[L] > ep->rows_in) /* the model sized its buffers by a bound this breaks */
        return pm_fail(be, "expert parallel", "%d rows came for this rank's experts; its buffers hold %zu", local[L],
                       ep->rows_in);
    return pm_upload(be, local_offsets.buf, local, local_offsets.off * sizeof *local, (size_t)(L + 1) * sizeof *local);
}

/* Rows from sender order to expert order (to the experts: all-to-all, then regroup) or back
 * (regroup, then the all-to-all the other way: what this rank received it now sends). */
static int move_rows(pm_backend *be, pm_expert_parallel *ep, int layer, pm_ref src, pm_ref dst, int to_experts) {
    const int *counts = layer_counts(ep, layer);
    size_t sent, received, w = (size_t)ep->width;
    block_sizes(ep, counts, ep->width, &sent, &received);
    size_t in = to_experts ? sent : received, out = to_experts ? received : sent;
    if (pm_failed(be) || pm_download(be, src.buf, ep->a, src.off * sizeof(float), in * w * sizeof(float)) != PM_OK)
        return PM_ERR;
    char err[256];
    if (!to_experts) regroup(ep, counts, ep->width, ep->a, ep->b, 0);
    if (ep->ex.all_to_all(ep->ex.ctx, to_experts ? ep->a : ep->b, to_experts ? ep->send_n : ep->recv_n,
                          to_experts ? ep->b : ep->a, to_experts ? ep->recv_n : ep->send_n, err, sizeof err))
        return exchange_failed(be, to_experts ? "rows to their experts" : "rows back from their experts", err);
    if (to_experts) regroup(ep, counts, ep->width, ep->b, ep->a, 1);
    return pm_upload(be, dst.buf, ep->a, dst.off * sizeof(float), out * w * sizeof(float));
}

int pm_ep_to_experts(pm_backend *be, pm_expert_parallel *ep, int layer, pm_ref src, pm_ref dst) {
    return move_rows(be, ep, layer, src, dst, 1);
}

int pm_ep_from_experts(pm_backend *be, pm_expert_parallel *ep, int layer, pm_ref src, pm_ref dst) {
    return move_rows(be, ep, layer, src, dst, 0);
}
