/* Expert parallelism in the trainer (config expert_parallel = R, run as R MPI ranks): each rank
 * holds E/R experts of every MoE layer and the rest of the model whole. The model moves rows to
 * the experts' ranks through the exchange bound here to MPI (train/dist); the trainer sums only
 * the gradients every rank holds (an expert's gradient is already complete on its rank, since
 * every rank's rows came to it), and a checkpoint gathers the whole model to rank 0, so it does
 * not depend on R. */
#ifndef POLYMOE_TRAIN_EXPERT_PARALLEL_H
#define POLYMOE_TRAIN_EXPERT_PARALLEL_H

#include <stddef.h>

#include "model/model.h"
#include "train/checkpoint.h"

typedef struct pm_ep_job pm_ep_job;

/* The exchange over this job's ranks. NULL when out of host memory. */
pm_ep_job *pm_ep_job_create(void);
void pm_ep_job_free(pm_ep_job *j);
const pm_expert_exchange *pm_ep_job_exchange(const pm_ep_job *j);
/* All-to-all traffic since the last call: bytes this rank sent to other ranks, and seconds
 * spent in the collectives (the count exchange included); then starts counting afresh. Either
 * pointer may be NULL. */
void pm_ep_job_take_counters(pm_ep_job *j, double *bytes, double *seconds);

/* Sums over the ranks the gradients of the tensors every rank holds (all but experts), in
 * grads (the model's gradients on the host, pm_model_num_trainable floats), and sets *norm_sq
 * to the squared norm of the whole model's gradient: the same value on every rank, so that
 * every rank clips alike and the replicas of the shared tensors stay identical. Returns the
 * number of floats summed, or -1 with err. */
long long pm_ep_sum_shared_grads(pm_ep_job *j, pm_model *m, float *grads, double *norm_sq, char *err,
                                 size_t errlen);

/* Every rank calls it: the whole model (parameters and moments) gathered to rank 0, which
 * writes the checkpoint. 0, or -1 with err. */
int pm_ep_checkpoint_save(pm_model *m, const char *run_dir, const pm_tokenizer *tok, const pm_train_state *st,
                          char *err, size_t errlen);

#endif
