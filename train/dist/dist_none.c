/* The job without MPI (polymoe built with POLYMOE_MPI=OFF or without an MPI library): one
 * process, whose sums are the values themselves. */
#include "train/dist/dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Under a launcher every process would train alone and write the same run folder. */
int pm_dist_init(int *argc, char ***argv, char *err, size_t errlen) {
    (void)argc, (void)argv;
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && atoi(v) > 1) {
            snprintf(err, errlen, "started as one of %s processes (%s), but this polymoe was built without MPI: "
                                  "install an MPI library (apt-get install libopenmpi-dev) and rebuild", v, vars[i]);
            return -1;
        }
    }
    return 0;
}

int pm_dist_rank(void) { return 0; }
int pm_dist_size(void) { return 1; }
int pm_dist_local_rank(void) { return 0; }
const char *pm_dist_engine(void) { return "none (built without MPI)"; }

int pm_dist_sum_floats(float *v, size_t n, char *err, size_t errlen) {
    (void)v, (void)n, (void)err, (void)errlen;
    return 0;
}

int pm_dist_sum_doubles(double *v, size_t n, char *err, size_t errlen) {
    (void)v, (void)n, (void)err, (void)errlen;
    return 0;
}

int pm_dist_broadcast(void *buf, size_t bytes, char *err, size_t errlen) {
    (void)buf, (void)bytes, (void)err, (void)errlen;
    return 0;
}

int pm_dist_gather_doubles(const double *mine, double *all, size_t n, char *err, size_t errlen) {
    (void)err, (void)errlen;
    for (size_t i = 0; i < n; i++) all[i] = mine[i];
    return 0;
}

int pm_dist_make_groups(int group_size, char *err, size_t errlen) {
    if (group_size == 1) return 0;
    snprintf(err, errlen, "groups of %d ranks do not divide a job of one process", group_size);
    return -1;
}

int pm_dist_group_rank(void) { return 0; }

int pm_dist_group_all_to_all(const float *send, const size_t *send_counts, float *recv, const size_t *recv_counts,
                             char *err, size_t errlen) {
    (void)recv_counts, (void)err, (void)errlen;
    memcpy(recv, send, send_counts[0] * sizeof *send);
    return 0;
}

int pm_dist_group_gather_ints(const int *mine, int *all, size_t n, char *err, size_t errlen) {
    (void)err, (void)errlen;
    memcpy(all, mine, n * sizeof *mine);
    return 0;
}

int pm_dist_replica_sum_floats(float *v, size_t n, char *err, size_t errlen) {
    (void)v, (void)n, (void)err, (void)errlen;
    return 0;
}

int pm_dist_gather_floats_to_root(const float *mine, size_t n_mine, float *all, size_t *counts, char *err,
                                  size_t errlen) {
    (void)err, (void)errlen;
    memcpy(all, mine, n_mine * sizeof *mine);
    counts[0] = n_mine;
    return 0;
}

void pm_dist_abort(int status) {
    fflush(stdout);
    exit(status);
}

void pm_dist_finalize(void) {}
