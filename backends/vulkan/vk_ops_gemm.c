/* GEMM ops: strided batched GEMM, grouped GEMM over expert segments and its weight gradient,
 * all through one tiled kernel (kernels/vulkan/gemm.comp) in three modes. The grouped modes
 * read the segment offsets on the device and cover the upper bound `rows`. */
#include "vk_internal.h"

#include <stdint.h>

typedef struct {
    uint32_t off[5];
    uint32_t m, n, k, lda, ldb, ldc, stride_a, stride_b, stride_c, trans_a, trans_b;
    uint32_t mode, rows;
    float alpha, beta;
} gemm_push;

enum { MODE_BATCHED, MODE_GROUPED, MODE_WGRAD };

/* Elements spanned by a row-major rows x cols matrix with row stride ld. */
static size_t span(long rows, long cols, long ld) {
    return rows > 0 && cols > 0 ? (size_t)((rows - 1) * ld + cols) : 0;
}

static int run(pm_backend *be, const char *op, gemm_push *pc, vk_arg a, vk_arg b, vk_arg c,
               vk_arg offsets, long grid_rows, long batch) {
    const uint32_t *spec = vk_of(be)->spec[VK_K_gemm];
    uint32_t bm = spec[1], bn = spec[2];
    return vk_dispatch(be, op, VK_K_gemm, VK_ARGS(a, b, c, offsets, vk_fault_arg(be)), pc,
                       sizeof *pc, (pc->n + bn - 1) / bn, (uint32_t)((grid_rows + bm - 1) / bm),
                       (uint32_t)batch);
}

/* Elements each operand of d spans: a, b, c. */
static void spans(const pm_gemm_desc *d, size_t *na, size_t *nb, size_t *nc) {
    long last = d->batch - 1;
    *na = last * d->stride_a + span(d->trans_a ? d->k : d->m, d->trans_a ? d->m : d->k, d->lda);
    *nb = last * d->stride_b + span(d->trans_b ? d->n : d->k, d->trans_b ? d->k : d->n, d->ldb);
    *nc = last * d->stride_c + span(d->m, d->n, d->ldc);
}

static int gemm_once(pm_backend *be, const pm_gemm_desc *d, pm_ref a, pm_ref b, pm_ref c) {
    size_t na, nb, nc;
    spans(d, &na, &nb, &nc);
    gemm_push pc = {.m = (uint32_t)d->m,
                    .n = (uint32_t)d->n,
                    .k = (uint32_t)d->k,
                    .lda = (uint32_t)d->lda,
                    .ldb = (uint32_t)d->ldb,
                    .ldc = (uint32_t)d->ldc,
                    .stride_a = (uint32_t)d->stride_a,
                    .stride_b = (uint32_t)d->stride_b,
                    .stride_c = (uint32_t)d->stride_c,
                    .trans_a = d->trans_a != 0,
                    .trans_b = d->trans_b != 0,
                    .mode = MODE_BATCHED,
                    .alpha = d->alpha,
                    .beta = d->beta};
    return run(be, "gemm", &pc, (vk_arg){a, na}, (vk_arg){b, nb}, (vk_arg){c, nc},
               vk_fault_arg(be), d->m, d->batch);
}

/* A GEMM whose operands span more than one binding reaches (GPT-2's LM head against its
 * 50,257 x 768 embedding, and the logits) runs as halves, recursively: the batch first, then
 * the dimension that shortens the operand that is too long (m: rows of C and of an untransposed
 * A; n: columns of C and rows of a transposed B; k: the rest, the second half adding to the
 * first with beta 1). */
static int gemm_split(pm_backend *be, pm_gemm_desc d, pm_ref a, pm_ref b, pm_ref c) {
    size_t na, nb, nc, max = vk_max_span(be);
    spans(&d, &na, &nb, &nc);
    if (na <= max && nb <= max && nc <= max) return gemm_once(be, &d, a, b, c);
    pm_gemm_desc h = d;
    pm_ref a2 = a, b2 = b, c2 = c;
    char dim = d.batch > 1 ? 'b'
             : nc > max    ? (d.m > 1 ? 'm' : 'n')
             : na > max    ? ((d.trans_a ? d.k : d.m) > 1 ? (d.trans_a ? 'k' : 'm') : (d.trans_a ? 'm' : 'k'))
                           : ((d.trans_b ? d.n : d.k) > 1 ? (d.trans_b ? 'n' : 'k') : (d.trans_b ? 'k' : 'n'));
    int size = dim == 'b' ? d.batch : dim == 'm' ? d.m : dim == 'n' ? d.n : d.k, half = size / 2;
    if (half < 1)
        return pm_fail(be, "gemm", "one row of an operand is longer than this device binds at once (%llu bytes)",
                       (unsigned long long)vk_of(be)->max_binding);
    if (dim == 'b') {
        h.batch = half;
        a2 = vk_plus(a, (size_t)half * d.stride_a), b2 = vk_plus(b, (size_t)half * d.stride_b);
        c2 = vk_plus(c, (size_t)half * d.stride_c);
    } else if (dim == 'm') {
        h.m = half;
        a2 = vk_plus(a, (size_t)half * (d.trans_a ? 1 : (size_t)d.lda)), c2 = vk_plus(c, (size_t)half * d.ldc);
    } else if (dim == 'n') {
        h.n = half;
        b2 = vk_plus(b, (size_t)half * (d.trans_b ? (size_t)d.ldb : 1)), c2 = vk_plus(c, (size_t)half);
    } else {
        h.k = half;
        a2 = vk_plus(a, (size_t)half * (d.trans_a ? (size_t)d.lda : 1));
        b2 = vk_plus(b, (size_t)half * (d.trans_b ? 1 : (size_t)d.ldb));
    }
    pm_gemm_desc rest = h;
    if (dim == 'b') rest.batch = size - half;
    else if (dim == 'm') rest.m = size - half;
    else if (dim == 'n') rest.n = size - half;
    else rest.k = size - half, rest.beta = 1.0f;
    return gemm_split(be, h, a, b, c) != PM_OK ? PM_ERR : gemm_split(be, rest, a2, b2, c2);
}

int vk_gemm(pm_backend *be, const pm_gemm_desc *d, pm_ref a, pm_ref b, pm_ref c) {
    if (d->m <= 0 || d->n <= 0 || d->batch <= 0) return PM_OK;
    if (d->k < 0 || d->lda < 0 || d->ldb < 0 || d->ldc < 0 || d->stride_a < 0 || d->stride_b < 0 ||
        d->stride_c < 0 || d->stride_a > UINT32_MAX || d->stride_b > UINT32_MAX ||
        d->stride_c > UINT32_MAX)
        return pm_fail(be, "gemm", "negative or oversized k, leading dimension or stride");
    return gemm_split(be, *d, a, b, c);
}

int vk_gemm_grouped(pm_backend *be, int trans_b, int rows, int n, int k, int groups, pm_ref offsets,
                    pm_ref a, pm_ref b, float beta, pm_ref c) {
    if (groups <= 0 || rows <= 0 || n <= 0) return PM_OK;
    if (k < 0) return pm_fail(be, "gemm_grouped", "negative k %d", k);
    gemm_push pc = {.n = (uint32_t)n,
                    .k = (uint32_t)k,
                    .lda = (uint32_t)k,
                    .ldb = (uint32_t)(trans_b ? k : n),
                    .ldc = (uint32_t)n,
                    .stride_b = (uint32_t)k * (uint32_t)n,
                    .trans_b = trans_b != 0,
                    .mode = MODE_GROUPED,
                    .rows = (uint32_t)rows,
                    .alpha = 1.0f,
                    .beta = beta};
    return run(be, "gemm_grouped", &pc, (vk_arg){a, (size_t)rows * k},
               (vk_arg){b, (size_t)groups * k * n}, (vk_arg){c, (size_t)rows * n},
               (vk_arg){offsets, (size_t)groups + 1}, rows, groups);
}

int vk_gemm_grouped_wgrad(pm_backend *be, int rows, int m, int n, int groups, pm_ref offsets,
                          pm_ref a, pm_ref d, float beta, pm_ref c) {
    if (groups <= 0 || m <= 0 || n <= 0) return PM_OK;
    if (rows < 0) return pm_fail(be, "gemm_grouped_wgrad", "negative rows %d", rows);
    gemm_push pc = {.m = (uint32_t)m,
                    .n = (uint32_t)n,
                    .lda = (uint32_t)m,
                    .ldb = (uint32_t)n,
                    .ldc = (uint32_t)n,
                    .stride_c = (uint32_t)m * (uint32_t)n,
                    .trans_a = 1,
                    .mode = MODE_WGRAD,
                    .rows = (uint32_t)rows,
                    .alpha = 1.0f,
                    .beta = beta};
    return run(be, "gemm_grouped_wgrad", &pc, (vk_arg){a, (size_t)rows * m},
               (vk_arg){d, (size_t)rows * n}, (vk_arg){c, (size_t)groups * m * n},
               (vk_arg){offsets, (size_t)groups + 1}, m, groups);
}
