#include "train/expert_parallel.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "train/dist/dist.h"
#include "train/util/error_text.h"

struct pm_ep_job {
    pm_expert_exchange ex;
    double bytes, seconds;
    float *shared;    /* the shared gradients, packed for one all-reduce */
    size_t n_shared;
};

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int gather_ints(void *ctx, const int *mine, int *all, int n, char *err, size_t errlen) {
    pm_ep_job *j = ctx;
    double t0 = now();
    int rc = pm_dist_gather_ints(mine, all, (size_t)n, err, errlen);
    j->seconds += now() - t0;
    return rc;
}

static int all_to_all(void *ctx, const float *send, const size_t *send_counts, float *recv,
                      const size_t *recv_counts, char *err, size_t errlen) {
    pm_ep_job *j = ctx;
    double t0 = now();
    int rc = pm_dist_all_to_all(send, send_counts, recv, recv_counts, err, errlen);
    j->seconds += now() - t0;
    for (int r = 0; r < j->ex.ranks; r++)
        if (r != j->ex.rank) j->bytes += (double)send_counts[r] * sizeof *send;
    return rc;
}

pm_ep_job *pm_ep_job_create(void) {
    pm_ep_job *j = calloc(1, sizeof *j);
    if (j) j->ex = (pm_expert_exchange){pm_dist_rank(), pm_dist_size(), gather_ints, all_to_all, j};
    return j;
}

void pm_ep_job_free(pm_ep_job *j) {
    if (!j) return;
    free(j->shared);
    free(j);
}

const pm_expert_exchange *pm_ep_job_exchange(const pm_ep_job *j) { return &j->ex; }

void pm_ep_job_take_counters(pm_ep_job *j, double *bytes, double *seconds) {
    if (bytes) *bytes = j->bytes;
    if (seconds) *seconds = j->seconds;
    j->bytes = j->seconds = 0;
}

/* A trainable tensor every rank holds: not an expert's. */
static int shared(const pm_tensor *t) { return !t->frozen && t->expert < 0; }

long long pm_ep_sum_shared_grads(pm_ep_job *j, pm_model *m, float *grads, double *norm_sq, char *err,
                                 size_t errlen) {
    const pm_tensor *ts;
    int n = pm_model_tensors(m, &ts);
    size_t total = 0;
    for (int i = 0; i < n; i++) total += shared(&ts[i]) ? ts[i].size : 0;
    if (total > j->n_shared) {
        free(j->shared);
        j->n_shared = 0;
        if (!(j->shared = malloc(total * sizeof *j->shared))) return pm_errorf(err, errlen, "out of host memory");
        j->n_shared = total;
    }
    size_t at = 0;
    for (int i = 0; i < n; i++)
        if (shared(&ts[i])) memcpy(j->shared + at, grads + ts[i].offset, ts[i].size * sizeof *grads), at += ts[i].size;
    /* this rank's experts' part of the squared norm, summed over the ranks with the shared sum */
    double experts = 0, shared_sq = 0;
    for (int i = 0; i < n; i++)
        for (size_t k = 0; !ts[i].frozen && ts[i].expert >= 0 && k < ts[i].size; k++)
            experts += (double)grads[ts[i].offset + k] * grads[ts[i].offset + k];
    if (pm_dist_sum_floats(j->shared, total, err, errlen) || pm_dist_sum_doubles(&experts, 1, err, errlen)) return -1;
    for (size_t k = 0; k < total; k++) shared_sq += (double)j->shared[k] * j->shared[k];
    *norm_sq = shared_sq + experts;
    at = 0;
    for (int i = 0; i < n; i++)
        if (shared(&ts[i])) memcpy(grads + ts[i].offset, j->shared + at, ts[i].size * sizeof *grads), at += ts[i].size;
    return (long long)total;
}

/* This rank's experts' values, in table order (the whole table's, which this one's follows):
 * each tensor's parameters, then its two moments when it trains. */
static size_t pack_experts(const pm_tensor *ts, int n, const float *p, const float *mv, size_t own, float *out) {
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        const pm_tensor *t = &ts[i];
        if (t->expert < 0) continue;
        if (out) memcpy(out + at, p + t->offset, t->size * sizeof *p);
        at += t->size;
        if (t->frozen) continue;
        if (out) memcpy(out + at, mv + t->offset, t->size * sizeof *p), memcpy(out + at + t->size, mv + own + t->offset, t->size * sizeof *p);
        at += 2 * t->size;
    }
    return at;
}

int pm_ep_checkpoint_save(pm_model *m, const char *run_dir, const pm_tokenizer *tok, const pm_train_state *st,
                          char *err, size_t errlen) {
    const pm_tensor *ts, *whole;
    size_t n_params, n_trainable, own = pm_model_num_trainable(m), held = pm_model_num_params(m);
    int n = pm_model_tensors(m, &ts), nw = pm_model_global_tensors(m, &whole, &n_params, &n_trainable);
    int rank = pm_dist_rank(), ranks = pm_dist_size(), per_rank = pm_model_config(m)->n_experts / ranks;
    float *p = malloc((held + 1) * sizeof *p), *mv = malloc((2 * own + 1) * sizeof *mv);
    int rc = p && mv ? 0 : pm_errorf(err, errlen, "out of host memory");
    if (!rc && (pm_model_get_params(m, p) != PM_OK || pm_model_read_slab(m, PM_SLAB_ADAM_M, 0, mv, own) != PM_OK ||
                pm_model_read_slab(m, PM_SLAB_ADAM_V, 0, mv + own, own) != PM_OK))
        rc = pm_errorf(err, errlen, "%s", pm_error(pm_model_backend(m)));
    size_t mine = pack_experts(ts, n, p, mv, own, NULL), *counts = NULL;
    float *packed = rc ? NULL : malloc((mine + 1) * sizeof *packed), *all = NULL, *image = NULL;
    if (!rc && !packed) rc = pm_errorf(err, errlen, "out of host memory");
    if (!rc) pack_experts(ts, n, p, mv, own, packed);
    /* rank 0 receives every rank's experts; the gather's size is each rank's own */
    size_t total = mine * (size_t)ranks; /* every rank holds as many experts */
    if (!rc && rank == 0 && (!(all = malloc((total + 1) * sizeof *all)) || !(counts = malloc(sizeof *counts * (size_t)ranks)) ||
                             !(image = malloc((n_params + 2 * n_trainable + 1) * sizeof *image))))
        rc = pm_errorf(err, errlen, "out of host memory");
    if (!rc) rc = pm_dist_gather_floats_to_root(packed, mine, all, counts, err, errlen);
    for (int r = 0; !rc && rank == 0 && r < ranks; r++)
        if (counts[r] != mine) rc = pm_errorf(err, errlen, "rank %d sent %zu values of its experts, not %zu", r, counts[r], mine);
    if (!rc && rank == 0) {
        float *ip = image, *im = image + n_params, *iv = im + n_trainable;
        for (int i = 0; i < n; i++) { /* rank 0's own tensors: all but the other ranks' experts */
            const pm_tensor *t = &ts[i];
            memcpy(ip + t->global_offset, p + t->offset, t->size * sizeof *p);
            if (t->frozen) continue;
            memcpy(im + t->global_offset, mv + t->offset, t->size * sizeof *p);
            memcpy(iv + t->global_offset, mv + own + t->offset, t->size * sizeof *p);
        }
        size_t *at = calloc((size_t)ranks, sizeof *at); /* read position in each rank's pack */
        if (!at) rc = pm_errorf(err, errlen, "out of host memory");
        for (int i = 0; !rc && i < nw; i++) { /* the others', in the order they packed them */
            const pm_tensor *t = &whole[i];
            int r = t->expert < 0 ? 0 : t->expert / per_rank;
            if (r == 0) continue;
            const float *src = all + (size_t)r * mine + at[r];
            memcpy(ip + t->offset, src, t->size * sizeof *src);
            at[r] += t->size;
            if (t->frozen) continue;
            memcpy(im + t->offset, src + t->size, t->size * sizeof *src);
            memcpy(iv + t->offset, src + 2 * t->size, t->size * sizeof *src);
            at[r] += 2 * t->size;
        }
        free(at);
        pm_checkpoint_image img = {ip, im, iv};
        if (!rc) rc = pm_checkpoint_save(run_dir, m, &img, tok, st, err, errlen);
    }
    free(p);
    free(mv);
    free(packed);
    free(all);
    free(counts);
    free(image);
    return rc;
}
