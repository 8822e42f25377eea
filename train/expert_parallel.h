/* Expert parallelism in the trainer (config expert_parallel = R, run as D x R MPI ranks): the
 * ranks form D groups of R consecutive ranks; in each group a rank holds E/R experts of every
 * MoE layer, and every rank holds the rest of the model whole. The model moves rows to the
 * experts' ranks in its group through the exchange bound here to MPI (train/dist). An expert's
 * gradient is complete within its group (every group member's rows came to it), so it is summed
 * over its D replicas only, and the rest over every rank. A checkpoint gathers the whole model
 * from group 0 to rank 0, so it depends on neither D nor R. */
#ifndef POLYMOE_TRAIN_EXPERT_PARALLEL_H
#define POLYMOE_TRAIN_EXPERT_PARALLEL_H

#include <stddef.h>

#include "model/model.h"
#include "train/checkpoint.h"

typedef struct pm_ep_job pm_ep_job;

/* Groups of `experts_across` ranks (a divisor of the job's ranks). NULL with err. */
pm_ep_job *pm_ep_job_create(int experts_across, char *err, size_t errlen);
void pm_ep_job_free(pm_ep_job *j);
const pm_expert_exchange *pm_ep_job_exchange(const pm_ep_job *j);
/* All-to-all traffic since the last call: bytes this rank sent to other ranks, and seconds
 * spent in the collectives (the count exchange included); then starts counting afresh. Either
 * pointer may be NULL. */
void pm_ep_job_take_counters(pm_ep_job *j, double *bytes, double *seconds);

/* Sums the gradients in grads (the model's gradients on the host, pm_model_num_trainable
 * floats): the experts' over their replicas, the rest over every rank; sets *norm_sq to the
 * squared norm of the whole model's gradient, the same value on every rank, so that every rank
 * clips alike and the replicas of every tensor stay identical. Returns the number of floats
 * this rank handed to the sums, or -1 with err. */
long long pm_ep_sum_grads(pm_ep_job *j, pm_model *m, float *grads, double *norm_sq, char *err,
                                 size_t errlen);

/* Every rank calls it: the whole model (parameters and moments) gathered from group 0 to rank
 * 0, which writes the checkpoint. 0, or -1 with err. */
int pm_ep_checkpoint_save(const pm_ep_job *j, pm_model *m, const char *run_dir, const pm_tokenizer *tok,
                          const pm_train_state *st, char *err, size_t errlen);

#endif
