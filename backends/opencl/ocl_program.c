/* The program (every kernels/opencl/ .cl file, embedded at build time, compiled once per opened
 * backend with this device's parameters), kernel launching and the scratch buffer. */
#include "ocl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The embedded sources, in compile order: the fault sites shared with the host, then
 * common.cl, as every other file uses both. */
#define OCL_SOURCES(X) \
    X(fault_sites, h) X(common, cl) X(gemm, cl) X(elementwise, cl) X(layernorm, cl) \
    X(attention, cl) X(loss, cl) X(router, cl) X(dispatch, cl) X(optimizer, cl)

#define DECLARE_SOURCE(name, ext) \
    extern const unsigned char pm_cl_##name[]; \
    extern const size_t pm_cl_##name##_size;
OCL_SOURCES(DECLARE_SOURCE)
#undef DECLARE_SOURCE

static const char *const kernel_names[] = {
#define KERNEL_NAME(name) #name,
    OCL_KERNELS(KERNEL_NAME)
#undef KERNEL_NAME
};

/* The build log from the line of its first error on (the head of a log is mostly warnings). */
static int fail_build(pm_backend *be, cl_int err) {
    ocl_ctx *c = ocl(be);
    size_t len = 0;
    clGetProgramBuildInfo(c->program, c->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &len);
    char *log = calloc(len + 1, 1);
    if (!log) return pm_fail(be, "open", "kernel build failed: %s (%d)", ocl_strerror(err), err);
    clGetProgramBuildInfo(c->program, c->device, CL_PROGRAM_BUILD_LOG, len, log, NULL);
    const char *first = strstr(log, "error");
    while (first && first > log && first[-1] != '\n') first--;
    pm_fail(be, "open", "kernel build failed: %s (%d): %s", ocl_strerror(err), err,
            first ? first : log);
    free(log);
    return PM_ERR;
}

int ocl_build(pm_backend *be) {
    ocl_ctx *c = ocl(be);
    /* each file behind a #line naming it, so that build logs point into the right file */
    const char *sources[] = {
#define SOURCE_TEXT(name, ext) "#line 1 \"" #name "." #ext "\"\n", (const char *)pm_cl_##name,
        OCL_SOURCES(SOURCE_TEXT)
#undef SOURCE_TEXT
    };
    const size_t lengths[] = {
#define SOURCE_SIZE(name, ext) sizeof("#line 1 \"" #name "." #ext "\"\n") - 1, pm_cl_##name##_size,
        OCL_SOURCES(SOURCE_SIZE)
#undef SOURCE_SIZE
    };
    cl_int err;
    c->program = clCreateProgramWithSource(c->context, sizeof sources / sizeof sources[0],
                                           sources, lengths, &err);
    if (!c->program)
        return pm_fail(be, "open", "clCreateProgramWithSource: %s (%d)", ocl_strerror(err), err);
    c->tile = ocl_gemm_tile(c->device);
    const ocl_tile *t = &c->tile;
    char options[256];
    snprintf(options, sizeof options,
             "-cl-std=CL1.2 -DWG=%d -DLANES=%d -DPLAN_CHUNK=%d -DTM=%d -DTN=%d -DTK=%d -DWM=%d "
             "-DWN=%d -DVW=%d",
             OCL_WG, OCL_LANES, OCL_PLAN_CHUNK, t->tm, t->tn, t->tk, t->wm, t->wn, t->vw);
    err = clBuildProgram(c->program, 1, &c->device, options, NULL, NULL);
    if (err != CL_SUCCESS) return fail_build(be, err);
    for (int k = 0; k < OCL_KERNEL_COUNT; k++) {
        c->kernels[k] = clCreateKernel(c->program, kernel_names[k], &err);
        if (!c->kernels[k])
            return pm_fail(be, "open", "kernel %s: %s (%d)", kernel_names[k], ocl_strerror(err),
                           err);
    }
    return PM_OK;
}

static cl_int set_args(cl_kernel k, const ocl_arg *args, int nargs, cl_uint *index) {
    cl_int err = CL_SUCCESS;
    for (int i = 0; i < nargs && err == CL_SUCCESS; i++) {
        const ocl_arg *a = &args[i];
        switch (a->kind) {
        case OCL_ARG_REF: {
            cl_mem mem = a->ref.buf ? a->ref.buf->handle : NULL; /* NULL: an unused buffer */
            cl_ulong off = a->ref.off;
            err = clSetKernelArg(k, (*index)++, sizeof mem, &mem);
            if (err == CL_SUCCESS) err = clSetKernelArg(k, (*index)++, sizeof off, &off);
            break;
        }
        case OCL_ARG_INT: err = clSetKernelArg(k, (*index)++, sizeof a->i, &a->i); break;
        case OCL_ARG_UINT: err = clSetKernelArg(k, (*index)++, sizeof a->u, &a->u); break;
        case OCL_ARG_FLOAT: err = clSetKernelArg(k, (*index)++, sizeof a->f, &a->f); break;
        case OCL_ARG_ULONG: err = clSetKernelArg(k, (*index)++, sizeof a->ul, &a->ul); break;
        case OCL_ARG_LONG: err = clSetKernelArg(k, (*index)++, sizeof a->l, &a->l); break;
        case OCL_ARG_MEM: err = clSetKernelArg(k, (*index)++, sizeof a->mem, &a->mem); break;
        }
    }
    return err;
}

int ocl_launch(pm_backend *be, const char *op, int kernel, ocl_grid grid, const ocl_arg *args,
               int nargs) {
    if (be->failed) return PM_ERR; /* a failed step of a multi-kernel op stops the rest */
    ocl_ctx *c = ocl(be);
    for (cl_uint d = 0; d < grid.dims; d++) {
        if (grid.global[d] == 0) return PM_OK; /* nothing to do */
        grid.global[d] = (grid.global[d] + grid.local[d] - 1) / grid.local[d] * grid.local[d];
    }
    cl_uint index = 0;
    cl_int err = set_args(c->kernels[kernel], args, nargs, &index);
    if (err != CL_SUCCESS)
        return pm_fail(be, op, "kernel %s, argument %u: %s (%d)", kernel_names[kernel], index - 1,
                       ocl_strerror(err), err);
    err = clEnqueueNDRangeKernel(c->queue, c->kernels[kernel], grid.dims, NULL, grid.global,
                                 grid.local, 0, NULL, NULL);
    if (err != CL_SUCCESS)
        return pm_fail(be, op, "launching kernel %s: %s (%d)%s", kernel_names[kernel],
                       ocl_strerror(err), err,
                       err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_OUT_OF_RESOURCES
                           ? ": out of device memory or resources"
                           : "");
    return PM_OK;
}

pm_ref ocl_scratch(pm_backend *be, const char *op, size_t bytes) {
    ocl_ctx *c = ocl(be);
    if (c->scratch.bytes < bytes) {
        if (c->scratch.handle) clReleaseMemObject(c->scratch.handle); /* freed once unused */
        cl_int err;
        c->scratch.handle = clCreateBuffer(c->context, CL_MEM_READ_WRITE, bytes, NULL, &err);
        c->scratch.bytes = c->scratch.handle ? bytes : 0;
        if (!c->scratch.handle) {
            pm_fail(be, op, "out of device memory for %zu bytes of scratch: %s (%d)", bytes,
                    ocl_strerror(err), err);
            return (pm_ref){NULL, 0};
        }
    }
    return pm_at(&c->scratch, 0);
}
