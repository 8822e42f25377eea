/* Multiplies two small matrices on the cpu backend of an installed polymoe and checks the
 * product: proof that the installed headers, library and CMake package work together. */
#include <math.h>
#include <stdio.h>

#include "backends/backend.h"

int main(void) {
    char err[512];
    pm_backend *be = pm_backend_open("cpu", 0, err, sizeof err);
    if (!be) {
        fprintf(stderr, "consumer: %s\n", err);
        return 1;
    }
    const float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {7, 8, 9, 10, 11, 12}; /* 2x3 times 3x2 */
    const float want[4] = {58, 64, 139, 154};
    float c[4] = {0};
    pm_buf *ab = pm_alloc(be, sizeof a), *bb = pm_alloc(be, sizeof b), *cb = pm_alloc(be, sizeof c);
    pm_gemm_desc d = {.m = 2, .n = 2, .k = 3, .alpha = 1, .beta = 0, .lda = 3, .ldb = 2, .ldc = 2, .batch = 1};
    int rc = !ab || !bb || !cb || pm_upload(be, ab, a, 0, sizeof a) || pm_upload(be, bb, b, 0, sizeof b) ||
             pm_op(be, gemm, &d, pm_at(ab, 0), pm_at(bb, 0), pm_at(cb, 0)) ||
             pm_download(be, cb, c, 0, sizeof c) || pm_sync(be);
    for (int i = 0; i < 4 && !rc; i++) rc = fabsf(c[i] - want[i]) > 1e-4f;
    printf("consumer: gemm on %s: %s\n", pm_backend_kind(be), rc ? pm_failed(be) ? pm_error(be) : "wrong product" : "ok");
    pm_free(be, ab);
    pm_free(be, bb);
    pm_free(be, cb);
    pm_backend_close(be);
    return rc;
}
