/* GEMM: the own tiled kernel (gemm.cl) or CLBlast; grouped GEMMs always run the own kernel,
 * which reads the segment offsets on the device (CLBlast's batched calls take them from the
 * host). */
#include "ocl.h"

#include <clblast_c.h>
#include <string.h>

/* CPU implementations (PoCL): each work-item holds 4 rows x one float16 (an AVX-512
 * register), 64 work-items a group; PoCL runs a work-group as loops, so explicit vectors are
 * what gets vectorised. Swept on PoCL 3.1 (2 shared Xeon cores, AVX-512; noisy): TM x TN x TK
 * 64x64x16 with 4x16 blocks gave 17-23 GFLOP/s at 1024 and 17 at 2048; TK 32 matched it at
 * 1024 but not at 2048 (9); 8x16, 8x32, 4x8 and 4x4 blocks stayed at 4-17.
 * GPUs: the classic 64x64 tile, 256 work-items of 4x4 (one float4 per row); checked for
 * correctness on PoCL, not timed on a GPU. */
static const ocl_tile cpu_tile = {.tm = 64, .tn = 64, .tk = 16, .wm = 4, .wn = 16, .vw = 16};
static const ocl_tile gpu_tile = {.tm = 64, .tn = 64, .tk = 16, .wm = 4, .wn = 4, .vw = 4};

static int is_cpu(cl_device_id dev) {
    cl_device_type type = 0;
    clGetDeviceInfo(dev, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    return (type & CL_DEVICE_TYPE_CPU) != 0;
}

ocl_tile ocl_gemm_tile(cl_device_id dev) { return is_cpu(dev) ? cpu_tile : gpu_tile; }

/* The default is the faster as measured: square float32 C = A B through this backend, the
 * median of 9/9/5/3 timed calls (each synced), repeated 5 times on PoCL 3.1 (2 Xeon cores with
 * AVX-512 shared with other jobs, mostly one core free) with CLBlast 1.5.3; GFLOP/s, median
 * of the 5 runs, own / CLBlast:
 *   256: 8.4 / 9.6   512: 10.9 / 9.2   1024: 8.3 / 5.9 (1.4x)   2048: 7.8 / 4.1 (1.9x)
 * so own comes first on CPU devices. GPUs are not measured here: CLBlast, tuned per GPU
 * model, comes first there. */
static const char *const own_first[] = {"own", "clblast", NULL};
static const char *const clblast_first[] = {"clblast", "own", NULL};

const char *const *ocl_gemm_impls(cl_device_id dev) {
    return is_cpu(dev) ? own_first : clblast_first;
}

int ocl_gemm_kind(const char *impl) {
    return strcmp(impl, "clblast") == 0 ? OCL_GEMM_CLBLAST : OCL_GEMM_OWN;
}

/* Work-items of a grid of row_blocks x col_blocks x depth tiles. */
static ocl_grid tiles(const ocl_tile *t, size_t row_blocks, size_t col_blocks, size_t depth) {
    size_t x = (size_t)(t->tn / t->wn), y = (size_t)(t->tm / t->wm);
    return (ocl_grid){3, {col_blocks * x, row_blocks * y, depth}, {x, y, 1}};
}

static size_t blocks(int n, int tile) { return ((size_t)n + (size_t)tile - 1) / (size_t)tile; }

static int own_gemm(pm_backend *be, const pm_gemm_desc *d, pm_ref a, pm_ref b, pm_ref c) {
    const ocl_tile *t = &ocl(be)->tile;
    /* element strides: A(i,p) = A[i*a_i + p*a_p], B(p,j) = B[p*b_p + j*b_j] */
    int a_i = d->trans_a ? 1 : d->lda, a_p = d->trans_a ? d->lda : 1;
    int b_p = d->trans_b ? 1 : d->ldb, b_j = d->trans_b ? d->ldb : 1;
    return OCL_RUN(be, "gemm", gemm, tiles(t, blocks(d->m, t->tm), blocks(d->n, t->tn), d->batch),
                   A_INT(d->m), A_INT(d->n), A_INT(d->k), A_FLOAT(d->alpha), A_FLOAT(d->beta),
                   A_REF(a), A_INT(a_i), A_INT(a_p), A_LONG(d->stride_a), A_REF(b), A_INT(b_p),
                   A_INT(b_j), A_LONG(d->stride_b), A_REF(c), A_INT(d->ldc),
                   A_LONG(d->stride_c));
}

static int clblast_gemm(pm_backend *be, const pm_gemm_desc *d, pm_ref a, pm_ref b, pm_ref c) {
    cl_command_queue queue = ocl(be)->queue;
    CLBlastTranspose ta = d->trans_a ? CLBlastTransposeYes : CLBlastTransposeNo;
    CLBlastTranspose tb = d->trans_b ? CLBlastTransposeYes : CLBlastTransposeNo;
    cl_mem A = a.buf->handle, B = b.buf->handle, C = c.buf->handle;
    CLBlastStatusCode st =
        d->batch == 1
            ? CLBlastSgemm(CLBlastLayoutRowMajor, ta, tb, d->m, d->n, d->k, d->alpha, A, a.off,
                           d->lda, B, b.off, d->ldb, d->beta, C, c.off, d->ldc, &queue, NULL)
            : CLBlastSgemmStridedBatched(CLBlastLayoutRowMajor, ta, tb, d->m, d->n, d->k,
                                         d->alpha, A, a.off, d->lda, d->stride_a, B, b.off,
                                         d->ldb, d->stride_b, d->beta, C, c.off, d->ldc,
                                         d->stride_c, d->batch, &queue, NULL);
    if (st == CLBlastSuccess) return PM_OK;
    /* codes above -1000 are OpenCL's own */
    return pm_fail(be, "gemm", "CLBlast status %d%s%s", st, st > -1000 ? ": " : "",
                   st > -1000 ? ocl_strerror(st) : " (see clblast_c.h)");
}

int ocl_gemm(pm_backend *be, const pm_gemm_desc *d, pm_ref a, pm_ref b, pm_ref c) {
    if (d->m <= 0 || d->n <= 0 || d->batch <= 0) return PM_OK;
    /* CLBlast rejects k == 0; the own kernel gives its answer, C = beta * C */
    if (ocl(be)->gemm == OCL_GEMM_CLBLAST && d->k > 0) return clblast_gemm(be, d, a, b, c);
    return own_gemm(be, d, a, b, c);
}

int ocl_gemm_grouped(pm_backend *be, int trans_b, int rows, int n, int k, int groups,
                     pm_ref offsets, pm_ref a, pm_ref b, float beta, pm_ref c) {
    const ocl_tile *t = &ocl(be)->tile;
    if (groups <= 0) return PM_OK;
    /* segment by segment, the row blocks number at most ceil(rows / TM) + groups */
    size_t row_blocks = blocks(rows, t->tm) + (size_t)groups;
    return OCL_RUN(be, "gemm_grouped", gemm_grouped, tiles(t, row_blocks, blocks(n, t->tn), 1),
                   A_INT(trans_b), A_INT(rows), A_INT(n), A_INT(k), A_INT(groups),
                   A_FLOAT(beta), A_REF(offsets), A_REF(a), A_REF(b), A_REF(c), A_FAULT(be));
}

int ocl_gemm_grouped_wgrad(pm_backend *be, int rows, int m, int n, int groups, pm_ref offsets,
                           pm_ref a, pm_ref d, float beta, pm_ref c) {
    const ocl_tile *t = &ocl(be)->tile;
    return OCL_RUN(be, "gemm_grouped_wgrad", gemm_grouped_wgrad,
                   tiles(t, blocks(m, t->tm), blocks(n, t->tn), groups > 0 ? groups : 0),
                   A_INT(rows), A_INT(m), A_INT(n), A_FLOAT(beta), A_REF(offsets), A_REF(a),
                   A_REF(d), A_REF(c), A_FAULT(be));
}
