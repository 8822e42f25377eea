/* Information measures over count tables, in nats. */
#ifndef POLYMOE_REPORT_INFO_H
#define POLYMOE_REPORT_INFO_H

/* Entropy of the distribution proportional to counts[0..n). */
double pm_entropy(const double *counts, int n, int stride);

/* Mutual information between the row and the column variable of the joint distribution
 * proportional to counts [rows][cols]; *col_entropy (if not NULL) gets H(column). */
double pm_mutual_information(const double *counts, int rows, int cols, double *col_entropy);

#endif
