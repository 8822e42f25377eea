/* The processes of a training job: one, or the ranks of an MPI launch (mpirun, or a batch
 * scheduler's srun that sets the MPI environment). Data parallel: every rank holds the whole
 * model, runs its share of each step's micro-batches and the gradients are summed with one
 * all-reduce per step. The engine is MPI (Open MPI or any other) when polymoe is built with
 * it (POLYMOE_MPI); without it a job is always one process. */
#ifndef POLYMOE_DIST_H
#define POLYMOE_DIST_H

#include <stddef.h>

/* Joins the job when an MPI launcher started this process, and makes ranks other than 0
 * quiet on standard output (rank 0 prints and writes the run folder; errors go to standard
 * error from every rank). 0, or -1 with err filled (MPI that would not start). */
int pm_dist_init(int *argc, char ***argv, char *err, size_t errlen);
int pm_dist_rank(void);
int pm_dist_size(void);
/* This rank's place among the ranks on its own machine (0 ..): which GPU it takes. */
int pm_dist_local_rank(void);
/* "Open MPI v4.1.4" and the like; "none" when built without MPI. */
const char *pm_dist_engine(void);

/* In-place sums over all ranks (every rank calls them, with the same n). 0, or -1 with err. */
int pm_dist_sum_floats(float *v, size_t n, char *err, size_t errlen);
int pm_dist_sum_doubles(double *v, size_t n, char *err, size_t errlen);
/* Rank 0's `bytes` bytes of buf into every rank's buf. */
int pm_dist_broadcast(void *buf, size_t bytes, char *err, size_t errlen);
/* Every rank's n doubles, rank after rank, into all[size * n]. */
int pm_dist_gather_doubles(const double *mine, double *all, size_t n, char *err, size_t errlen);

/* Expert parallelism's groups: the ranks form size / group_size groups of group_size
 * consecutive ranks (group g: ranks g x group_size ..), which share out the experts among them;
 * the ranks at the same place in every group hold the same experts and are its replicas. Every
 * rank calls it once, with the same group_size (a divisor of the size). 0, or -1 with err. */
int pm_dist_make_groups(int group_size, char *err, size_t errlen);
/* This rank's place in its group (0 .. group_size - 1). */
int pm_dist_group_rank(void);
/* Within the group. All-to-all: send holds send_counts[r] floats for each rank r of the group
 * in order, recv receives recv_counts[r] from each (the counts agree pairwise: what r sends to
 * s, s expects from r). */
int pm_dist_group_all_to_all(const float *send, const size_t *send_counts, float *recv, const size_t *recv_counts,
                             char *err, size_t errlen);
/* Every group member's n ints, in group order, into all[group_size * n]. */
int pm_dist_group_gather_ints(const int *mine, int *all, size_t n, char *err, size_t errlen);
/* In-place sums over this rank's replicas (itself alone when there is one group). */
int pm_dist_replica_sum_floats(float *v, size_t n, char *err, size_t errlen);
/* Every rank's n_mine floats (n_mine may differ by rank), rank after rank, into rank 0's all
 * (other ranks pass NULL); counts[size] (rank 0) receives each rank's n_mine. */
int pm_dist_gather_floats_to_root(const float *mine, size_t n_mine, float *all, size_t *counts, char *err,
                                  size_t errlen);

/* Ends the whole job: with more than one rank the others are stopped too (their last complete
 * checkpoint stays as it is). Call after printing the cause. */
void pm_dist_abort(int status);
/* Leaves the job at a normal end. */
void pm_dist_finalize(void);

#endif
