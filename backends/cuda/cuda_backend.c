/* The CUDA backend: devices, one stream and one cuBLAS handle per backend, device memory, the
 * sync points where kernel faults surface, and the op table. Linked against the static CUDA
 * runtime, which loads the driver (libcuda) at run time: without one, cudaGetDeviceCount fails
 * and the backend reports no device instead of the binary failing to start. */
#include "backends/cuda/cuda_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The GEMM implementations, the first the default. Float32 cuBLAS leads because the own
 * kernel has not been measured against it yet; the default must be re-decided from a GPU
 * measurement (polymoe bench) before it is trusted. The "-tf32" ones multiply on tensor cores
 * with operands rounded to TF32 (10-bit mantissa, float accumulation): faster, less exact, so
 * never the default; offered on compute capability 8.0 and later, where tensor cores take
 * TF32. POLYMOE_CUDA_GEMM="NAME[,NAME...]" offers only those, the first the default (e.g.
 * cublas-tf32 for a throughput run). The float32 pair comes first: list_gemms offers only
 * those two below 8.0. */
static const cuda_gemm_kind gemm_kinds[CUDA_GEMM_KINDS] = {
    {"cublas", 0, 0}, {"own", 1, 0}, {"cublas-tf32", 0, 1}, {"own-tf32", 1, 1}};

/* Working memory reserved at open: sumsq's partial sums and a typical plan fit. */
enum { SCRATCH_RESERVE = 256 * 1024 };

int cuda_check(pm_backend *be, const char *op, cudaError_t err) {
    if (err == cudaSuccess) return PM_OK;
    (void)cudaGetLastError(); /* a non-sticky error must not resurface in a later op */
    return pm_fail(be, op, "%s: %s", cudaGetErrorName(err), cudaGetErrorString(err));
}

int cuda_blas_check(pm_backend *be, const char *op, cublasStatus_t status) {
    if (status == CUBLAS_STATUS_SUCCESS) return PM_OK;
    cudaError_t err = cudaGetLastError();
    return pm_fail(be, op, "cuBLAS %s: %s%s%s", cublasGetStatusName(status),
                   cublasGetStatusString(status), err ? "; CUDA: " : "",
                   err ? cudaGetErrorString(err) : "");
}

static cuda_ctx *ctx_of(pm_backend *be) { return be->ctx; }

cudaStream_t cuda_stream(pm_backend *be) {
    (void)cudaSetDevice(be->device); /* an error stays pending for the launch that follows */
    return ctx_of(be)->stream;
}

cuk_fault *cuda_fault(pm_backend *be) { return ctx_of(be)->fault; }

int cuda_scratch(pm_backend *be, const char *op, size_t bytes, void **out) {
    cuda_ctx *cx = ctx_of(be);
    if (bytes > cx->scratch_bytes) {
        size_t grown = cx->scratch_bytes * 2 > bytes ? cx->scratch_bytes * 2 : bytes;
        /* the work queued before may still use the old scratch */
        if (cx->scratch && (cuda_check(be, op, cudaStreamSynchronize(cx->stream)) != PM_OK ||
                            cuda_check(be, op, cudaFree(cx->scratch)) != PM_OK))
            return PM_ERR;
        cx->scratch = NULL;
        cx->scratch_bytes = 0;
        if (cuda_check(be, op, cudaMalloc(&cx->scratch, grown)) != PM_OK) return PM_ERR;
        cx->scratch_bytes = grown;
    }
    *out = cx->scratch;
    return PM_OK;
}

int cuda_check_experts(pm_backend *be, const char *op, int E) {
    if (E < 1 || E > CUK_MAX_EXPERTS)
        return pm_fail(be, op, "%d experts: the CUDA kernels take 1..%d", E, CUK_MAX_EXPERTS);
    return PM_OK;
}

/* ---- devices ---- */

/* FP32 lanes per SM by compute capability (Turing and A100: 64; later: 128); 0 unknown. */
static int fp32_lanes(int major, int minor) {
    if (major == 7 || (major == 8 && minor == 0)) return 64;
    return major >= 8 ? 128 : 0;
}

static cudaError_t describe(int device, pm_device_info *d) {
    struct cudaDeviceProp p;
    int runtime = 0, driver = 0, clock_khz = 0;
    cudaError_t err = cudaGetDeviceProperties(&p, device);
    if (err == cudaSuccess) err = cudaRuntimeGetVersion(&runtime);
    if (err == cudaSuccess) err = cudaDriverGetVersion(&driver);
    if (err == cudaSuccess) err = cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, device);
    if (err != cudaSuccess) return err;
    memset(d, 0, sizeof *d);
    snprintf(d->name, sizeof d->name, "%.*s", (int)sizeof d->name - 1, p.name);
    snprintf(d->api, sizeof d->api, "CUDA runtime %d.%d, compute capability %d.%d",
             runtime / 1000, runtime % 1000 / 10, p.major, p.minor);
    snprintf(d->driver, sizeof d->driver, "NVIDIA driver (CUDA %d.%d), cuBLAS", driver / 1000,
             driver % 1000 / 10);
    d->memory_bytes = p.totalGlobalMem;
    d->is_gpu = 1;
    d->peak_gflops = 2.0 * p.multiProcessorCount * fp32_lanes(p.major, p.minor) * clock_khz / 1e6;
    return cudaSuccess;
}

static int cuda_devices(pm_device_info *out, int max, char *why, size_t whylen) {
    int n = 0;
    cudaError_t err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess) {
        (void)cudaGetLastError();
        snprintf(why, whylen, "no CUDA device: cudaGetDeviceCount: %s%s", cudaGetErrorString(err),
                 err == cudaErrorInsufficientDriver
                     ? " (no NVIDIA driver, or one older than this build's CUDA runtime)"
                     : "");
        return 0;
    }
    if (n > max) n = max;
    for (int i = 0; i < n; i++) {
        err = describe(i, &out[i]);
        if (err != cudaSuccess) {
            (void)cudaGetLastError();
            snprintf(why, whylen, "CUDA device %d: %s", i, cudaGetErrorString(err));
            return 0;
        }
    }
    if (n == 0) snprintf(why, whylen, "no CUDA device: the driver reports none");
    return n;
}

/* ---- open and close ---- */

static void cuda_close(pm_backend *be) {
    cuda_ctx *cx = ctx_of(be);
    if (!cx) return;
    (void)cudaSetDevice(be->device);
    if (cx->stream) (void)cudaStreamSynchronize(cx->stream);
#ifdef POLYMOE_WITH_NCCL
    cuda_group_close(be);
#endif
    if (cx->blas) cublasDestroy(cx->blas);
    if (cx->scratch) (void)cudaFree(cx->scratch);
    if (cx->fault) (void)cudaFree(cx->fault);
    if (cx->stream) (void)cudaStreamDestroy(cx->stream);
    (void)cudaGetLastError();
    free(cx);
    be->ctx = NULL;
}

static int open_context(pm_backend *be, cuda_ctx *cx) {
    cudaError_t err = cudaSetDevice(be->device);
    if (err == cudaSuccess) err = cudaStreamCreateWithFlags(&cx->stream, cudaStreamNonBlocking);
    if (err == cudaSuccess) err = cudaMalloc((void **)&cx->fault, sizeof *cx->fault);
    if (err == cudaSuccess) err = cudaMemsetAsync(cx->fault, 0, sizeof *cx->fault, cx->stream);
    if (cuda_check(be, "open", err) != PM_OK) return PM_ERR;
    cublasStatus_t status = cublasCreate(&cx->blas);
    if (status == CUBLAS_STATUS_SUCCESS) status = cublasSetStream(cx->blas, cx->stream);
    if (cuda_blas_check(be, "open", status) != PM_OK) return PM_ERR;
    void *scratch;
    return cuda_scratch(be, "open", SCRATCH_RESERVE, &scratch);
}

/* Appends gemm_kinds[k] to the offered list unless it is there already. */
static void offer(cuda_ctx *cx, int *n, int k) {
    for (int i = 0; i < *n; i++)
        if (cx->impls[i].name == gemm_kinds[k].name) return;
    cx->impls[*n] = gemm_kinds[k];
    cx->impl_names[(*n)++] = gemm_kinds[k].name;
}

/* The GEMM implementations this device offers: all (TF32 from compute capability 8.0), or
 * those POLYMOE_CUDA_GEMM names, in its order. */
static int list_gemms(pm_backend *be, cuda_ctx *cx) {
    int major = 0, n = 0, usable = CUDA_GEMM_KINDS;
    if (cuda_check(be, "open", cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor,
                                                      be->device)) != PM_OK)
        return PM_ERR;
    if (major < 8) usable = 2; /* no TF32 tensor cores before Ampere */
    const char *want = getenv("POLYMOE_CUDA_GEMM");
    if (!want || !*want) {
        for (int k = 0; k < usable; k++) offer(cx, &n, k);
    } else {
        for (const char *p = want; *p; p += *p == ',') {
            size_t len = strcspn(p, ",");
            int k = 0;
            while (k < usable && (strlen(gemm_kinds[k].name) != len ||
                                  strncmp(p, gemm_kinds[k].name, len) != 0))
                k++;
            if (k == usable || len == 0)
                return pm_fail(be, "open",
                               "POLYMOE_CUDA_GEMM=%s: '%.*s' is not a GEMM implementation of this "
                               "device (it has cublas, own%s)",
                               want, (int)len, p, usable > 2 ? ", cublas-tf32, own-tf32" : "");
            offer(cx, &n, k);
            p += len;
        }
    }
    cx->impl_names[n] = NULL;
    cx->gemm = cx->impls[0];
    be->gemm_impls = cx->impl_names;
    return PM_OK;
}

static int cuda_select_gemm(pm_backend *be, int index) {
    cuda_ctx *cx = ctx_of(be);
    cx->gemm = cx->impls[index];
    return PM_OK;
}

static int cuda_open(pm_backend *be, int device) {
    cudaError_t err = describe(device, &be->info);
    if (err != cudaSuccess) return cuda_check(be, "open", err);
    cuda_ctx *cx = calloc(1, sizeof *cx);
    if (!cx) return pm_fail(be, "open", "out of host memory");
    be->ctx = cx;
    if (open_context(be, cx) != PM_OK || list_gemms(be, cx) != PM_OK) {
        cuda_close(be);
        return PM_ERR;
    }
    be->ops = PM_OP_TABLE(cuda);
    return PM_OK;
}

/* ---- memory and sync points ---- */

static int cuda_alloc(pm_backend *be, pm_buf *buf) {
    cudaStream_t stream = cuda_stream(be);
    cudaError_t err = cudaMalloc(&buf->handle, buf->bytes);
    if (err != cudaSuccess) {
        (void)cudaGetLastError();
        buf->handle = NULL;
        return pm_fail(be, "alloc", "cudaMalloc of %zu bytes: %s", buf->bytes,
                       cudaGetErrorString(err));
    }
    /* new buffers read as zeros, as on every backend */
    if (cuda_check(be, "alloc", cudaMemsetAsync(buf->handle, 0, buf->bytes, stream)) != PM_OK) {
        (void)cudaFree(buf->handle);
        return PM_ERR;
    }
    return PM_OK;
}

static void cuda_free(pm_backend *be, pm_buf *buf) {
    /* the work queued before may still use the buffer */
    if (cuda_check(be, "free", cudaStreamSynchronize(cuda_stream(be))) == PM_OK)
        cuda_check(be, "free", cudaFree(buf->handle));
}

/* Waits for the stream (after the copies already enqueued), then turns a fault the kernels
 * recorded into the backend's error and clears the record. */
static int finish(pm_backend *be, const char *op) {
    cuda_ctx *cx = ctx_of(be);
    cuk_fault f;
    if (cuda_check(be, op, cudaMemcpyAsync(&f, cx->fault, sizeof f, cudaMemcpyDeviceToHost,
                                           cx->stream)) != PM_OK ||
        cuda_check(be, op, cudaStreamSynchronize(cx->stream)) != PM_OK)
        return PM_ERR;
    if (f.site == PM_FAULT_NONE) return PM_OK;
    if (cuda_check(be, op, cudaMemsetAsync(cx->fault, 0, sizeof f, cx->stream)) != PM_OK)
        return PM_ERR;
    return pm_fault_fail(be, (pm_fault){f.site, f.value, f.limit});
}

static int cuda_upload(pm_backend *be, pm_buf *buf, const void *src, size_t off, size_t bytes) {
    cudaStream_t stream = cuda_stream(be);
    /* synchronous, so that the caller may reuse src at once */
    if (cuda_check(be, "upload", cudaMemcpyAsync((char *)buf->handle + off, src, bytes,
                                                 cudaMemcpyHostToDevice, stream)) != PM_OK)
        return PM_ERR;
    return cuda_check(be, "upload", cudaStreamSynchronize(stream));
}

static int cuda_download(pm_backend *be, const pm_buf *buf, void *dst, size_t off, size_t bytes) {
    if (cuda_check(be, "download", cudaMemcpyAsync(dst, (const char *)buf->handle + off, bytes,
                                                   cudaMemcpyDeviceToHost,
                                                   cuda_stream(be))) != PM_OK)
        return PM_ERR;
    return finish(be, "download");
}

static int cuda_sync(pm_backend *be) {
    (void)cuda_stream(be);
    return finish(be, "sync");
}

const pm_driver pm_cuda_driver = {
    .name = "cuda",
    .devices = cuda_devices,
    .open = cuda_open,
    .close = cuda_close,
    .alloc = cuda_alloc,
    .free = cuda_free,
    .upload = cuda_upload,
    .download = cuda_download,
    .sync = cuda_sync,
    .select_gemm = cuda_select_gemm,
#ifdef POLYMOE_WITH_NCCL
    .group_id_bytes = CUDA_GROUP_ID_BYTES,
    .group_id = cuda_group_id,
    .group_join = cuda_group_join,
    .group_sum = cuda_group_sum,
#endif
};
