/* The OpenCL backend: one device of any platform, an in-order queue, buffers as cl_mem, the
 * ops as kernels built once when the backend opens, GEMM through its own kernel or CLBlast. */
#include "ocl.h"

#include <clblast_c.h>
#include <stdlib.h>

enum { MAX_DEVICES = 64 };

static int ocl_devices(pm_device_info *out, int max, char *why, size_t whylen) {
    cl_device_id ids[MAX_DEVICES];
    int n = ocl_list_devices(ids, max < MAX_DEVICES ? max : MAX_DEVICES, why, whylen);
    for (int i = 0; i < n; i++) ocl_describe(ids[i], &out[i]);
    return n;
}

static void ocl_close(pm_backend *be) {
    ocl_ctx *c = ocl(be);
    if (!c) return;
    if (c->queue) clFinish(c->queue);
    for (int k = 0; k < OCL_KERNEL_COUNT; k++)
        if (c->kernels[k]) clReleaseKernel(c->kernels[k]);
    if (c->program) clReleaseProgram(c->program);
    if (c->scratch.handle) clReleaseMemObject(c->scratch.handle);
    if (c->fault) clReleaseMemObject(c->fault);
    if (c->queue) clReleaseCommandQueue(c->queue);
    if (c->context) clReleaseContext(c->context);
    /* CLBlast caches programs per context; drop them with ours (a later user rebuilds). */
    CLBlastClearCache();
    free(c);
    be->ctx = NULL;
}

static int open_device(pm_backend *be, int device) {
    char why[256] = "";
    cl_device_id ids[MAX_DEVICES];
    int n = ocl_list_devices(ids, MAX_DEVICES, why, sizeof why);
    if (device < 0 || device >= n)
        return pm_fail(be, "open", "no OpenCL device %d (%d found%s%s)", device, n, n ? "" : ": ",
                       n ? "" : why);
    ocl_ctx *c = ocl(be);
    c->device = ids[device];
    ocl_describe(c->device, &be->info);
    size_t max_wg = 0;
    clGetDeviceInfo(c->device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof max_wg, &max_wg, NULL);
    if (max_wg < OCL_WG)
        return pm_fail(be, "open", "work-groups of %d items are needed; this device allows %zu",
                       OCL_WG, max_wg);
    cl_int err;
    c->context = clCreateContext(NULL, 1, &c->device, NULL, NULL, &err);
    if (!c->context) return pm_fail(be, "open", "clCreateContext: %s (%d)", ocl_strerror(err), err);
    c->queue = clCreateCommandQueue(c->context, c->device, 0, &err);
    if (!c->queue)
        return pm_fail(be, "open", "clCreateCommandQueue: %s (%d)", ocl_strerror(err), err);
    pm_fault none = {PM_FAULT_NONE, 0, 0};
    c->fault = clCreateBuffer(c->context, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, sizeof none,
                              &none, &err);
    if (!c->fault) return pm_fail(be, "open", "fault record: %s (%d)", ocl_strerror(err), err);
    return PM_OK;
}

static int ocl_open(pm_backend *be, int device) {
    be->ctx = calloc(1, sizeof(ocl_ctx));
    if (!be->ctx) return pm_fail(be, "open", "out of host memory");
    if (open_device(be, device) != PM_OK || ocl_build(be) != PM_OK) {
        ocl_close(be); /* the registry frees a backend that failed to open, without closing */
        return PM_ERR;
    }
    ocl_ctx *c = ocl(be);
    be->gemm_impls = ocl_gemm_impls(c->device);
    be->gemm_impl = 0;
    c->gemm = ocl_gemm_kind(be->gemm_impls[0]);
    be->ops = PM_OP_TABLE(ocl);
    return PM_OK;
}

static int ocl_select_gemm(pm_backend *be, int index) {
    ocl(be)->gemm = ocl_gemm_kind(be->gemm_impls[index]);
    return PM_OK;
}

static int ocl_alloc(pm_backend *be, pm_buf *buf) {
    ocl_ctx *c = ocl(be);
    uint64_t total = be->info.memory_bytes; /* 0: unknown */
    if (total && be->bytes_in_use + buf->bytes > total)
        return pm_fail(be, "alloc", "out of device memory: %zu bytes asked, %zu of %llu in use",
                       buf->bytes, be->bytes_in_use, (unsigned long long)be->info.memory_bytes);
    cl_int err;
    cl_mem mem = clCreateBuffer(c->context, CL_MEM_READ_WRITE, buf->bytes, NULL, &err);
    if (!mem) {
        cl_ulong largest = 0;
        clGetDeviceInfo(c->device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof largest, &largest, NULL);
        return pm_fail(be, "alloc", "out of device memory allocating %zu bytes (largest single "
                       "buffer %llu, %zu in use): %s (%d)", buf->bytes,
                       (unsigned long long)largest, be->bytes_in_use, ocl_strerror(err), err);
    }
    /* zeroed like the CPU backend's buffers; the fill also makes lazy drivers allocate now */
    const cl_uchar zero = 0;
    err = clEnqueueFillBuffer(c->queue, mem, &zero, 1, 0, buf->bytes, 0, NULL, NULL);
    if (err != CL_SUCCESS) {
        clReleaseMemObject(mem);
        return pm_fail(be, "alloc", "out of device memory clearing %zu bytes: %s (%d)",
                       buf->bytes, ocl_strerror(err), err);
    }
    buf->handle = mem;
    return PM_OK;
}

static void ocl_free(pm_backend *be, pm_buf *buf) {
    (void)be;
    clReleaseMemObject(buf->handle); /* deferred by OpenCL until queued work is done */
}

static int ocl_upload(pm_backend *be, pm_buf *buf, const void *src, size_t off, size_t bytes) {
    cl_int err = clEnqueueWriteBuffer(ocl(be)->queue, buf->handle, CL_TRUE, off, bytes, src, 0,
                                      NULL, NULL);
    return err == CL_SUCCESS ? PM_OK
                             : pm_fail(be, "upload", "%s (%d)", ocl_strerror(err), err);
}

/* Queues the read of the fault record ahead of a sync point's wait. Reading it at every
 * download and sync, and not after each op, costs no round trip of its own: the wait that
 * follows covers it (the queue is in order). */
static cl_int read_fault(ocl_ctx *c) {
    return clEnqueueReadBuffer(c->queue, c->fault, CL_FALSE, 0, sizeof c->fault_seen,
                               &c->fault_seen, 0, NULL, NULL);
}

/* After the wait: a fault the kernels recorded becomes the backend's error, and the record
 * is cleared for the ops after it. */
static int check_fault(pm_backend *be) {
    ocl_ctx *c = ocl(be);
    if (c->fault_seen.site == PM_FAULT_NONE) return PM_OK;
    pm_fault f = c->fault_seen, none = {PM_FAULT_NONE, 0, 0};
    c->fault_seen = none;
    clEnqueueWriteBuffer(c->queue, c->fault, CL_TRUE, 0, sizeof none, &none, 0, NULL, NULL);
    return pm_fault_fail(be, f);
}

static int ocl_download(pm_backend *be, const pm_buf *buf, void *dst, size_t off, size_t bytes) {
    /* blocking: waits for every op queued before it, and for the fault record's read */
    cl_int err = read_fault(ocl(be));
    if (err == CL_SUCCESS)
        err = clEnqueueReadBuffer(ocl(be)->queue, buf->handle, CL_TRUE, off, bytes, dst, 0, NULL,
                                  NULL);
    return err == CL_SUCCESS ? check_fault(be)
                             : pm_fail(be, "download", "%s (%d)", ocl_strerror(err), err);
}

static int ocl_sync(pm_backend *be) {
    cl_int err = read_fault(ocl(be));
    if (err == CL_SUCCESS) err = clFinish(ocl(be)->queue);
    return err == CL_SUCCESS ? check_fault(be)
                             : pm_fail(be, "sync", "%s (%d)", ocl_strerror(err), err);
}

const pm_driver pm_opencl_driver = {
    .name = "opencl",
    .devices = ocl_devices,
    .open = ocl_open,
    .close = ocl_close,
    .alloc = ocl_alloc,
    .free = ocl_free,
    .upload = ocl_upload,
    .download = ocl_download,
    .sync = ocl_sync,
    .select_gemm = ocl_select_gemm,
};
