/* The job over MPI. MPI starts only when a launcher's environment says this process is a rank
 * (Open MPI, PMIx, PMI/Slurm, MPICH's Hydra): a plain `polymoe train` stays one process and
 * never touches the network stack. */
#define _POSIX_C_SOURCE 200809L
#include "train/dist/dist.h"

#include <fcntl.h>
#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int started, rank, size = 1, local_rank, group_rank;
static MPI_Comm group = MPI_COMM_NULL, replicas = MPI_COMM_NULL; /* pm_dist_make_groups */
static char engine[MPI_MAX_LIBRARY_VERSION_STRING + 1];

static int launched_by_mpi(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE", "MPI_LOCALNRANKS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i])) return 1;
    return 0;
}

static int mpi_error(int code, const char *what, char *err, size_t errlen) {
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(code, text, &len);
    snprintf(err, errlen, "rank %d of %d: %s: %.*s", rank, size, what, len, text);
    return -1;
}

int pm_dist_init(int *argc, char ***argv, char *err, size_t errlen) {
    if (!launched_by_mpi()) return 0;
    int code = MPI_Init(argc, argv);
    if (code != MPI_SUCCESS) return mpi_error(code, "MPI_Init", err, errlen);
    started = 1;
    /* errors come back as codes, so a failing call can be reported with its rank */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Comm node;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node) == MPI_SUCCESS) {
        MPI_Comm_rank(node, &local_rank);
        MPI_Comm_free(&node);
    }
    int len = 0;
    MPI_Get_library_version(engine, &len);
    for (int i = 0; i < len; i++)
        if (engine[i] == ',' || engine[i] == '\n') engine[i] = 0; /* "Open MPI v4.1.4, package: ..." */
    if (rank > 0) { /* one voice: rank 0's */
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) dup2(null, STDOUT_FILENO), close(null);
    }
    return 0;
}

int pm_dist_rank(void) { return rank; }
int pm_dist_size(void) { return size; }
int pm_dist_local_rank(void) { return local_rank; }
const char *pm_dist_engine(void) { return started ? engine : "MPI (not launched by mpirun)"; }

/* MPI counts are ints: long buffers go in slices. */
static int sum_in(MPI_Comm comm, void *v, size_t n, MPI_Datatype type, size_t elem, char *err, size_t errlen) {
    const size_t slice = (size_t)1 << 30;
    for (size_t at = 0; size > 1 && at < n; at += slice) {
        int count = (int)(n - at < slice ? n - at : slice);
        int code = MPI_Allreduce(MPI_IN_PLACE, (char *)v + at * elem, count, type, MPI_SUM, comm);
        if (code != MPI_SUCCESS) return mpi_error(code, "all-reduce", err, errlen);
    }
    return 0;
}

int pm_dist_sum_floats(float *v, size_t n, char *err, size_t errlen) {
    return sum_in(MPI_COMM_WORLD, v, n, MPI_FLOAT, sizeof *v, err, errlen);
}

int pm_dist_sum_doubles(double *v, size_t n, char *err, size_t errlen) {
    return sum_in(MPI_COMM_WORLD, v, n, MPI_DOUBLE, sizeof *v, err, errlen);
}

int pm_dist_broadcast(void *buf, size_t bytes, char *err, size_t errlen) {
    if (size == 1) return 0;
    int code = MPI_Bcast(buf, (int)bytes, MPI_BYTE, 0, MPI_COMM_WORLD);
    return code == MPI_SUCCESS ? 0 : mpi_error(code, "broadcast", err, errlen);
}

int pm_dist_gather_doubles(const double *mine, double *all, size_t n, char *err, size_t errlen) {
    if (size == 1) {
        for (size_t i = 0; i < n; i++) all[i] = mine[i];
        return 0;
    }
    int code = MPI_Allgather(mine, (int)n, MPI_DOUBLE, all, (int)n, MPI_DOUBLE, MPI_COMM_WORLD);
    return code == MPI_SUCCESS ? 0 : mpi_error(code, "all-gather", err, errlen);
}

/* n values as an MPI count, or an error naming the collective */
static int as_count(size_t n, int *count, const char *what, char *err, size_t errlen) {
    if (n > INT_MAX) {
        snprintf(err, errlen, "rank %d of %d: %s of %zu values: at most %d per rank", rank, size, what, n, INT_MAX);
        return -1;
    }
    *count = (int)n;
    return 0;
}

/* ranks counts (size_t) into MPI's int counts and displacements; the total fits an int too */
static int counts_displs(const size_t *n, int ranks, int *counts, int *displs, const char *what, char *err,
                         size_t errlen) {
    size_t at = 0;
    for (int r = 0; r < ranks; r++) {
        if (as_count(n[r], &counts[r], what, err, errlen) || as_count(at, &displs[r], what, err, errlen)) return -1;
        at += n[r];
    }
    return as_count(at, &(int){0}, what, err, errlen);
}

int pm_dist_make_groups(int group_size, char *err, size_t errlen) {
    if (group_size < 1 || size % group_size) {
        snprintf(err, errlen, "rank %d of %d: groups of %d ranks do not divide the job", rank, size, group_size);
        return -1;
    }
    group_rank = rank % group_size;
    int code = MPI_Comm_split(MPI_COMM_WORLD, rank / group_size, rank, &group);
    if (code == MPI_SUCCESS) code = MPI_Comm_split(MPI_COMM_WORLD, group_rank, rank, &replicas);
    return code == MPI_SUCCESS ? 0 : mpi_error(code, "making the expert-parallel groups", err, errlen);
}

int pm_dist_group_rank(void) { return group_rank; }

int pm_dist_group_all_to_all(const float *send, const size_t *send_counts, float *recv, const size_t *recv_counts,
                             char *err, size_t errlen) {
    int n = 0;
    MPI_Comm_size(group, &n);
    int *v = malloc(sizeof *v * 4 * (size_t)n);
    if (!v) return snprintf(err, errlen, "rank %d of %d: out of host memory", rank, size), -1;
    int rc = counts_displs(send_counts, n, v, v + n, "all-to-all", err, errlen) ||
             counts_displs(recv_counts, n, v + 2 * n, v + 3 * n, "all-to-all", err, errlen) ? -1 : 0;
    if (!rc) {
        int code = MPI_Alltoallv(send, v, v + n, MPI_FLOAT, recv, v + 2 * n, v + 3 * n, MPI_FLOAT, group);
        if (code != MPI_SUCCESS) rc = mpi_error(code, "all-to-all", err, errlen);
    }
    free(v);
    return rc;
}

int pm_dist_group_gather_ints(const int *mine, int *all, size_t n, char *err, size_t errlen) {
    int count;
    if (as_count(n, &count, "all-gather", err, errlen)) return -1;
    int code = MPI_Allgather(mine, count, MPI_INT, all, count, MPI_INT, group);
    return code == MPI_SUCCESS ? 0 : mpi_error(code, "all-gather", err, errlen);
}

int pm_dist_replica_sum_floats(float *v, size_t n, char *err, size_t errlen) {
    return sum_in(replicas, v, n, MPI_FLOAT, sizeof *v, err, errlen);
}

int pm_dist_gather_floats_to_root(const float *mine, size_t n_mine, float *all, size_t *counts, char *err,
                                  size_t errlen) {
    unsigned long long n = n_mine, *each = malloc(sizeof *each * (size_t)size);
    int *v = malloc(sizeof *v * 2 * (size_t)size), count;
    int rc = each && v ? 0 : (snprintf(err, errlen, "rank %d of %d: out of host memory", rank, size), -1);
    if (!rc) rc = as_count(n_mine, &count, "gather", err, errlen);
    if (!rc) {
        int code = MPI_Gather(&n, 1, MPI_UNSIGNED_LONG_LONG, each, 1, MPI_UNSIGNED_LONG_LONG, 0, MPI_COMM_WORLD);
        if (code != MPI_SUCCESS) rc = mpi_error(code, "gather", err, errlen);
    }
    if (!rc && rank == 0) {
        for (int r = 0; r < size; r++) counts[r] = (size_t)each[r];
        rc = counts_displs(counts, size, v, v + size, "gather", err, errlen);
    }
    /* every rank must enter the gather, or rank 0 would wait: a failure above aborts the job */
    if (!rc) {
        int code = MPI_Gatherv(mine, count, MPI_FLOAT, all, v, v + size, MPI_FLOAT, 0, MPI_COMM_WORLD);
        if (code != MPI_SUCCESS) rc = mpi_error(code, "gather", err, errlen);
    }
    free(each);
    free(v);
    return rc;
}

void pm_dist_abort(int status) {
    fflush(stdout);
    fflush(stderr);
    if (started && size > 1) MPI_Abort(MPI_COMM_WORLD, status);
    exit(status);
}

void pm_dist_finalize(void) {
    if (group != MPI_COMM_NULL) MPI_Comm_free(&group), MPI_Comm_free(&replicas);
    if (started) MPI_Finalize();
    started = 0;
}
