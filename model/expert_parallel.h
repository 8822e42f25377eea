/* Expert parallelism: each of R ranks holds E/R experts of every MoE layer (rank r experts
 * rE/R .. (r+1)E/R - 1), and the rows a rank's dispatch plan sends to an expert travel to the
 * rank that holds it, through the experts there and back. The rows go through host memory
 * with two collectives the trainer supplies (MPI: train/expert_parallel.c), so the model
 * depends on no transport.
 *
 * Layouts of one MoE layer's rows, with counts[s][e] the rows rank s sends to expert e:
 *   sender order: a rank's permuted rows, sorted by expert (moe_plan), so the rows for each
 *     rank are one block, in rank order;
 *   expert order: the rows a rank receives, grouped by its local expert and, within one, by
 *     the rank they came from: what the grouped GEMMs of its experts take. */
#ifndef POLYMOE_EXPERT_PARALLEL_H
#define POLYMOE_EXPERT_PARALLEL_H

#include <stddef.h>

#include "backends/backend.h"

/* The job's collectives, as the trainer binds them. Both return 0, or -1 with err filled. */
typedef struct {
    int rank, ranks;
    /* every rank's n ints, rank after rank, into all[ranks * n] */
    int (*gather_ints)(void *ctx, const int *mine, int *all, int n, char *err, size_t errlen);
    /* send holds send_counts[r] floats for each rank r in rank order; recv gets recv_counts[r]
     * floats from each rank r, in rank order */
    int (*all_to_all)(void *ctx, const float *send, const size_t *send_counts, float *recv,
                      const size_t *recv_counts, char *err, size_t errlen);
    void *ctx;
} pm_expert_exchange;

typedef struct pm_expert_parallel pm_expert_parallel;

/* For n_layers MoE layers of E experts (E a multiple of ex->ranks) whose dispatch sends at most
 * rows_out rows of `width` floats from a rank, and at most rows_in to one. NULL when out of host
 * memory. */
pm_expert_parallel *pm_ep_create(const pm_expert_exchange *ex, int E, int n_layers, size_t rows_out, size_t rows_in,
                                 int width);
void pm_ep_free(pm_expert_parallel *ep);
int pm_ep_first_expert(const pm_expert_parallel *ep);
int pm_ep_local_experts(const pm_expert_parallel *ep);
/* The most rows a rank can receive (rows_in). */
size_t pm_ep_max_rows(const pm_expert_parallel *ep);

/* After MoE layer `layer`'s dispatch plan (offsets [E + 1] on the device): tells every rank how
 * many rows this one sends to each expert, and writes the offsets of the local experts' rows in
 * expert order (local + 1 ints) into local_offsets. Kept for the layer's backward. */
int pm_ep_route(pm_backend *be, pm_expert_parallel *ep, int layer, pm_ref offsets, pm_ref local_offsets);
/* The rows this rank received for its experts in `layer`'s last route. */
int pm_ep_received(const pm_expert_parallel *ep, int layer);
/* Rows (of the width given at creation) in sender order (src) to their experts' ranks, into dst in expert order. */
int pm_ep_to_experts(pm_backend *be, pm_expert_parallel *ep, int layer, pm_ref src, pm_ref dst);
/* The reverse: rows in expert order (src) back to the ranks they came from, into dst in sender order. */
int pm_ep_from_experts(pm_backend *be, pm_expert_parallel *ep, int layer, pm_ref src, pm_ref dst);

#endif
