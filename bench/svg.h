/* The benchmark's two SVG charts: lines over a log2 x axis, and bars with a reference line. */
#ifndef POLYMOE_BENCH_SVG_H
#define POLYMOE_BENCH_SVG_H

typedef struct {
    const char *label;
    int n;
    const double *x, *y; /* n points, x > 0, in increasing x */
} pm_svg_series;

typedef struct {
    const char *label;
    double value;
} pm_svg_bar;

/* Each returns 0, or -1 when the file cannot be written (errno set). */
int pm_svg_lines(const char *path, const char *title, const char *xlabel, const char *ylabel,
                 const pm_svg_series *series, int n_series);
/* `reference` (> 0) draws a dashed line labelled `reference_label` at that value. */
int pm_svg_bars(const char *path, const char *title, const char *ylabel, const pm_svg_bar *bars,
                int n_bars, double reference, const char *reference_label);

#endif
