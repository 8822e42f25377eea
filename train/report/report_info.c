#include "train/report/report_info.h"

#include <math.h>
#include <stdlib.h>

double pm_entropy(const double *counts, int n, int stride) {
    double total = 0, h = 0;
    for (int i = 0; i < n; i++) total += counts[i * stride];
    for (int i = 0; i < n; i++) {
        double p = counts[i * stride] / total;
        if (p > 0) h -= p * log(p);
    }
    return total > 0 ? h : 0;
}

/* I(R; C) = H(R) + H(C) - H(R, C) */
double pm_mutual_information(const double *counts, int rows, int cols, double *col_entropy) {
    double *row_sums = calloc((size_t)rows, sizeof *row_sums), *col_sums = calloc((size_t)cols, sizeof *col_sums);
    double mi = 0, hc = 0;
    if (row_sums && col_sums) {
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) {
                row_sums[r] += counts[r * cols + c];
                col_sums[c] += counts[r * cols + c];
            }
        hc = pm_entropy(col_sums, cols, 1);
        mi = pm_entropy(row_sums, rows, 1) + hc - pm_entropy(counts, rows * cols, 1);
        if (mi < 0) mi = 0; /* rounding */
    }
    free(row_sums);
    free(col_sums);
    if (col_entropy) *col_entropy = hc;
    return mi;
}
