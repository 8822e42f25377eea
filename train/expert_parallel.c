#include "train/expert_parallel.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "train/dist/dist.h"
#include "train/util/error_text.h"

struct pm_ep_job {
    pm_expert_exchange ex;
    double bytes, seconds;
    int groups;       /* D: how many groups hold every expert */
    float *pack;      /* gradients packed for one all-reduce */
    size_t n_pack;
};

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int gather_ints(void *ctx, const int *mine, int *all, int n, char *err, size_t errlen) {
    pm_ep_job *j = ctx;
    double t0 = now();
    int rc = pm_dist_group_gather_ints(mine, all, (size_t)n, err, errlen);
    j->seconds += now() - t0;
    return rc;
}

static int all_to_all(void *ctx, const float *send, const size_t *send_counts, float *recv,
                      const size_t *recv_counts, char *err, size_t errlen) {
    pm_ep_job *j = ctx;
    double t0 = now();
    int rc = pm_dist_group_all_to_all(send, send_counts, recv, recv_counts, err, errlen);
    j->seconds += now() - t0;
    for (int r = 0; r < j->ex.ranks; r++)
        if (r != j->ex.rank) j->bytes += (double)send_counts[r] * sizeof *send;
    return rc;
}

pm_ep_job *pm_ep_job_create(int experts_across, char *err, size_t errlen) {
    pm_ep_job *j = calloc(1, sizeof *j);
    if (!j) return pm_errorf(err, errlen, "out of host memory"), NULL;
    if (pm_dist_make_groups(experts_across, err, errlen)) {
        free(j);
        return NULL;
    }
    j->ex = (pm_expert_exchange){pm_dist_group_rank(), experts_across, gather_ints, all_to_all, j};
    j->groups = pm_dist_size() / experts_across;
    return j;
}

void pm_ep_job_free(pm_ep_job *j) {
    if (!j) return;
    free(j->pack);
    free(j);
}

const pm_expert_exchange *pm_ep_job_exchange(const pm_ep_job *j) { return &j->ex; }

void pm_ep_job_take_counters(pm_ep_job *j, double *bytes, double *seconds) {
    if (bytes) *bytes = j->bytes;
    if (seconds) *seconds = j->seconds;
    j->bytes = j->seconds = 0;
}

/* A trainable tensor of the kind asked for: every rank's (shared) or an expert's. */
static int trains(const pm_tensor *t, int shared) { return !t->frozen && (t->expert < 0) == shared; }

/* Sums the gradients of one kind through a packed buffer, the shared ones over every rank and
 * the experts' over their replicas (none when there is one group: nothing to pack); *sq: the
 * sum of their squares after it, *count: the floats handed to a collective. 0, or -1 with err. */
static int sum_kind(pm_ep_job *j, const pm_tensor *ts, int n, float *grads, int shared, double *sq, size_t *count,
                    char *err, size_t errlen) {
    *sq = 0;
    *count = 0;
    if (!shared && j->groups == 1) {
        for (int i = 0; i < n; i++)
            for (size_t k = 0; trains(&ts[i], 0) && k < ts[i].size; k++)
                *sq += (double)grads[ts[i].offset + k] * grads[ts[i].offset + k];
        return 0;
    }
    size_t total = 0, at = 0;
    for (int i = 0; i < n; i++) total += trains(&ts[i], shared) ? ts[i].size : 0;
    if (total > j->n_pack) {
        free(j->pack);
        j->n_pack = 0;
        if (!(j->pack = malloc(total * sizeof *j->pack))) return pm_errorf(err, errlen, "out of host memory");
        j->n_pack = total;
    }
    for (int i = 0; i < n; i++)
        if (trains(&ts[i], shared)) memcpy(j->pack + at, grads + ts[i].offset, ts[i].size * sizeof *grads), at += ts[i].size;
    if (shared ? pm_dist_sum_floats(j->pack, total, err, errlen) : pm_dist_replica_sum_floats(j->pack, total, err, errlen))
        return -1;
    for (size_t k = 0; k < total; k++) *sq += (double)j->pack[k] * j->pack[k];
    at = 0;
    for (int i = 0; i < n; i++)
        if (trains(&ts[i], shared)) memcpy(grads + ts[i].offset, j->pack + at, ts[i].size * sizeof *grads), at += ts[i].size;
    *count = total;
    return 0;
}

long long pm_ep_sum_grads(pm_ep_job *j, pm_model *m, float *grads, double *norm_sq, char *err,
                                 size_t errlen) {
    const pm_tensor *ts;
    int n = pm_model_tensors(m, &ts);
    double shared_sq, experts_sq;
    size_t shared_n, experts_n;
    if (sum_kind(j, ts, n, grads, 1, &shared_sq, &shared_n, err, errlen) ||
        sum_kind(j, ts, n, grads, 0, &experts_sq, &experts_n, err, errlen))
        return -1;
    /* group 0 holds every expert once: its members' parts, summed over the job, give every rank
     * the same total */
    if (pm_dist_rank() >= j->ex.ranks) experts_sq = 0;
    if (pm_dist_sum_doubles(&experts_sq, 1, err, errlen)) return -1;
    *norm_sq = shared_sq + experts_sq;
    return (long long)(shared_n + experts_n);
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

int pm_ep_checkpoint_save(const pm_ep_job *j, pm_model *m, const char *run_dir, const pm_tokenizer *tok,
                          const pm_train_state *st, char *err, size_t errlen) {
    const pm_tensor *ts, *whole;
    size_t n_params, n_trainable, own = pm_model_num_trainable(m), held = pm_model_num_params(m);
    int n = pm_model_tensors(m, &ts), nw = pm_model_global_tensors(m, &whole, &n_params, &n_trainable);
    /* group 0 (ranks 0 .. R - 1) sends its experts; the other groups hold copies */
    int rank = pm_dist_rank(), ranks = j->ex.ranks, per_rank = pm_model_config(m)->n_experts / ranks;
    int sends = rank < ranks; /* the other ranks only take part in the gather, sending nothing */
    float *p = sends ? malloc((held + 1) * sizeof *p) : NULL, *mv = sends ? malloc((2 * own + 1) * sizeof *mv) : NULL;
    int rc = !sends || (p && mv) ? 0 : pm_errorf(err, errlen, "out of host memory");
    if (!rc && sends &&
        (pm_model_get_params(m, p) != PM_OK || pm_model_read_slab(m, PM_SLAB_ADAM_M, 0, mv, own) != PM_OK ||
         pm_model_read_slab(m, PM_SLAB_ADAM_V, 0, mv + own, own) != PM_OK))
        rc = pm_errorf(err, errlen, "%s", pm_error(pm_model_backend(m)));
    size_t each = pack_experts(ts, n, p, mv, own, NULL), mine = sends ? each : 0, *counts = NULL;
    float *packed = rc || !sends ? NULL : malloc((each + 1) * sizeof *packed), *all = NULL, *image = NULL;
    if (!rc && sends && !packed) rc = pm_errorf(err, errlen, "out of host memory");
    if (!rc && sends) pack_experts(ts, n, p, mv, own, packed);
    size_t total = each * (size_t)ranks; /* every group member holds as many experts */
    if (!rc && rank == 0 && (!(all = malloc((total + 1) * sizeof *all)) ||
                             !(counts = malloc(sizeof *counts * (size_t)pm_dist_size())) ||
                             !(image = malloc((n_params + 2 * n_trainable + 1) * sizeof *image))))
        rc = pm_errorf(err, errlen, "out of host memory");
    if (!rc) rc = pm_dist_gather_floats_to_root(packed, mine, all, counts, err, errlen);
    for (int r = 0; !rc && rank == 0 && r < pm_dist_size(); r++)
        if (counts[r] != (r < ranks ? each : 0))
            rc = pm_errorf(err, errlen, "rank %d sent %zu values of its experts, not %zu", r, counts[r], r < ranks ? each : 0);
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
            const float *src = all + (size_t)r * each + at[r];
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
