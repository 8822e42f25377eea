/* Charts on top of the SVG writer: a panel with axes, ticks and grid mapping data to the page,
 * line series, reference lines, legends and heatmaps. */
#ifndef POLYMOE_REPORT_CHART_H
#define POLYMOE_REPORT_CHART_H

#include "train/util/svg.h"

typedef struct {
    double left, top, width, height; /* the plotting area on the page */
    double xmin, xmax, ymin, ymax;   /* the data range it shows */
} pm_chart;

/* 1, 2 or 5 times a power of ten, near range / 5: the tick spacing. */
double pm_chart_tick_step(double range);

/* Widens [*lo, *hi] (a data range) to round numbers; an empty or flat range gets a margin. */
void pm_chart_nice_range(double *lo, double *hi);

/* Draws the frame, grid, tick labels, axis labels and a title above the panel. */
void pm_chart_axes(pm_svg *s, const pm_chart *c, const char *title, const char *xlabel,
                   const char *ylabel);

double pm_chart_x(const pm_chart *c, double v);
double pm_chart_y(const pm_chart *c, double v);

/* A line through (x[i], y[i]) (data units), skipping non-finite points and clamped to the
 * panel. */
void pm_chart_series(pm_svg *s, const pm_chart *c, const double *x, const double *y, int n,
                     const char *colour, double width, const char *dash);
/* A horizontal (or vertical) reference line across the panel, labelled at its end. */
void pm_chart_hline(pm_svg *s, const pm_chart *c, double y, const char *colour, const char *label);
void pm_chart_vline(pm_svg *s, const pm_chart *c, double x, const char *colour, const char *label);

typedef struct {
    const char *label, *colour, *dash;
} pm_legend_entry;

/* Entries stacked downwards from (x, y); returns the height used. */
double pm_chart_legend(pm_svg *s, double x, double y, const pm_legend_entry *e, int n);

typedef struct {
    int rows, cols;
    const double *value;        /* [rows * cols] */
    double baseline;            /* the value shown white */
    double span;                /* log2(value / baseline) of +-span is full colour */
    const char *const *row_labels, *const *col_labels;
    double cell_w, cell_h, label_w; /* label_w: room left of the cells for row labels */
    int show_values;            /* write each value (as a percentage) in its cell */
} pm_heatmap;

/* Draws the heatmap with its top-left cell at (x, y) and column labels above; returns the
 * width used. Colour is log2(value / baseline): red above the baseline, blue below. */
double pm_chart_heatmap(pm_svg *s, double x, double y, const pm_heatmap *h, const char *title);

/* A colour key for heatmaps of that baseline and span, at (x, y), w wide. */
void pm_chart_heat_key(pm_svg *s, double x, double y, double w, double baseline, double span);

#endif
