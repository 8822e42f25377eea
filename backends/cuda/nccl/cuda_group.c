/* Collectives over a job's ranks with NCCL: the data-parallel gradient sum stays on the device
 * instead of going through host memory and MPI. NCCL is loaded when a group is first formed
 * (libnccl.so.2, or the file POLYMOE_NCCL_LIBRARY names), so the CUDA backend opens on
 * machines without it; there the trainer sums over MPI. Built where nccl.h was found. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <nccl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cuda/cuda_internal.h"

_Static_assert(sizeof(ncclUniqueId) == CUDA_GROUP_ID_BYTES, "NCCL's id is CUDA_GROUP_ID_BYTES bytes");

static struct {
    int tried;
    void *lib;
    char why[256];
    ncclResult_t (*get_unique_id)(ncclUniqueId *);
    ncclResult_t (*comm_init_rank)(ncclComm_t *, int, ncclUniqueId, int);
    ncclResult_t (*all_reduce)(const void *, void *, size_t, ncclDataType_t, ncclRedOp_t, ncclComm_t, cudaStream_t);
    ncclResult_t (*comm_destroy)(ncclComm_t);
    const char *(*error_string)(ncclResult_t);
} nccl;

static int load(pm_backend *be, const char *op) {
    if (!nccl.tried) {
        nccl.tried = 1;
        const char *path = getenv("POLYMOE_NCCL_LIBRARY");
        nccl.lib = dlopen(path && *path ? path : "libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
        if (!nccl.lib) snprintf(nccl.why, sizeof nccl.why, "%s", dlerror());
        struct { void **fn; const char *name; } syms[] = {
            {(void **)&nccl.get_unique_id, "ncclGetUniqueId"}, {(void **)&nccl.comm_init_rank, "ncclCommInitRank"},
            {(void **)&nccl.all_reduce, "ncclAllReduce"},       {(void **)&nccl.comm_destroy, "ncclCommDestroy"},
            {(void **)&nccl.error_string, "ncclGetErrorString"}};
        for (size_t i = 0; nccl.lib && i < sizeof syms / sizeof syms[0]; i++)
            if (!(*syms[i].fn = dlsym(nccl.lib, syms[i].name))) {
                snprintf(nccl.why, sizeof nccl.why, "%s has no %s", path && *path ? path : "libnccl.so.2", syms[i].name);
                dlclose(nccl.lib);
                nccl.lib = NULL;
            }
    }
    return nccl.lib ? PM_OK : pm_fail(be, op, "NCCL not loaded: %s (set POLYMOE_NCCL_LIBRARY to its path)", nccl.why);
}

static int check(pm_backend *be, const char *op, ncclResult_t r) {
    return r == ncclSuccess ? PM_OK : pm_fail(be, op, "NCCL: %s", nccl.error_string(r));
}

int cuda_group_id(pm_backend *be, void *id) {
    if (load(be, "group_id") != PM_OK) return PM_ERR;
    (void)cuda_stream(be);
    return check(be, "group_id", nccl.get_unique_id((ncclUniqueId *)id));
}

int cuda_group_join(pm_backend *be, const void *id, int rank, int size) {
    cuda_ctx *cx = be->ctx;
    if (load(be, "group_join") != PM_OK) return PM_ERR;
    ncclUniqueId uid;
    memcpy(&uid, id, sizeof uid);
    (void)cuda_stream(be); /* the communicator belongs to the current device */
    ncclComm_t comm;
    if (check(be, "group_join", nccl.comm_init_rank(&comm, size, uid, rank)) != PM_OK) return PM_ERR;
    cuda_group_close(be);
    cx->group = comm;
    return PM_OK;
}

int cuda_group_sum(pm_backend *be, pm_buf *buf, size_t count) {
    cuda_ctx *cx = be->ctx;
    if (!cx->group) return pm_fail(be, "group_sum", "no group joined");
    cudaStream_t stream = cuda_stream(be);
    if (check(be, "group_sum", nccl.all_reduce(buf->handle, buf->handle, count, ncclFloat, ncclSum, cx->group,
                                               stream)) != PM_OK)
        return PM_ERR;
    return cuda_check(be, "group_sum", cudaStreamSynchronize(stream));
}

void cuda_group_close(pm_backend *be) {
    cuda_ctx *cx = be->ctx;
    if (cx->group) nccl.comm_destroy(cx->group);
    cx->group = NULL;
}
