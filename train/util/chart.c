#include "train/util/chart.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define INK "#333333"
#define GRID "#e4e4e4"
#define FONT 11.0

double pm_chart_tick_step(double range) {
    double raw = range / 5, p = pow(10, floor(log10(raw))), f = raw / p;
    return p * (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10);
}

void pm_chart_nice_range(double *lo, double *hi) {
    if (!isfinite(*lo) || !isfinite(*hi) || *lo > *hi) *lo = 0, *hi = 1;
    if (*hi - *lo < 1e-9) {
        double pad = fabs(*lo) > 1e-9 ? fabs(*lo) * 0.1 : 0.5;
        *lo -= pad;
        *hi += pad;
    }
    double step = pm_chart_tick_step(*hi - *lo);
    *lo = floor(*lo / step + 1e-9) * step;
    *hi = ceil(*hi / step - 1e-9) * step;
}

double pm_chart_x(const pm_chart *c, double v) {
    return c->left + (v - c->xmin) / (c->xmax - c->xmin) * c->width;
}

double pm_chart_y(const pm_chart *c, double v) {
    return c->top + c->height - (v - c->ymin) / (c->ymax - c->ymin) * c->height;
}

void pm_chart_axes(pm_svg *s, const pm_chart *c, const char *title, const char *xlabel,
                   const char *ylabel) {
    double right = c->left + c->width, bottom = c->top + c->height;
    double xs = pm_chart_tick_step(c->xmax - c->xmin), ys = pm_chart_tick_step(c->ymax - c->ymin);
    for (double v = ceil(c->xmin / xs - 1e-9) * xs; v <= c->xmax + xs * 1e-6; v += xs) {
        double x = pm_chart_x(c, v);
        pm_svg_line(s, x, c->top, x, bottom, GRID, 1, NULL);
        pm_svg_text(s, x, bottom + 14, "middle", FONT - 1, 0, INK, "%g", fabs(v) < xs * 1e-6 ? 0 : v);
    }
    for (double v = ceil(c->ymin / ys - 1e-9) * ys; v <= c->ymax + ys * 1e-6; v += ys) {
        double y = pm_chart_y(c, v);
        pm_svg_line(s, c->left, y, right, y, GRID, 1, NULL);
        pm_svg_text(s, c->left - 5, y + 4, "end", FONT - 1, 0, INK, "%g", fabs(v) < ys * 1e-6 ? 0 : v);
    }
    pm_svg_rect(s, c->left, c->top, c->width, c->height, "none", "#999999", NULL);
    if (title) pm_svg_text(s, c->left, c->top - 8, "start", FONT + 1, 0, "#000000", "%s", title);
    if (xlabel) pm_svg_text(s, c->left + c->width / 2, bottom + 30, "middle", FONT, 0, INK, "%s", xlabel);
    if (ylabel) pm_svg_text(s, c->left - 38, c->top + c->height / 2, "middle", FONT, -90, INK, "%s", ylabel);
}

static double clamp(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }

void pm_chart_series(pm_svg *s, const pm_chart *c, const double *x, const double *y, int n,
                     const char *colour, double width, const char *dash) {
    double *px = malloc(sizeof *px * (size_t)(n + 1)), *py = malloc(sizeof *py * (size_t)(n + 1));
    int m = 0;
    for (int i = 0; px && py && i <= n; i++) {
        if (i < n && isfinite(x[i]) && isfinite(y[i])) {
            px[m] = pm_chart_x(c, clamp(x[i], c->xmin, c->xmax));
            py[m++] = pm_chart_y(c, clamp(y[i], c->ymin, c->ymax));
            continue;
        }
        /* a non-finite point (or the end) closes the current piece */
        if (m == 1) pm_svg_circle(s, px[0], py[0], width + 0.8, colour);
        else pm_svg_polyline(s, px, py, m, colour, width, dash);
        m = 0;
    }
    free(px);
    free(py);
}

void pm_chart_hline(pm_svg *s, const pm_chart *c, double y, const char *colour, const char *label) {
    if (y < c->ymin || y > c->ymax) return;
    double py = pm_chart_y(c, y);
    pm_svg_line(s, c->left, py, c->left + c->width, py, colour, 1.2, "5 3");
    if (label) pm_svg_text(s, c->left + c->width - 3, py - 3, "end", FONT - 1, 0, colour, "%s", label);
}

void pm_chart_vline(pm_svg *s, const pm_chart *c, double x, const char *colour, const char *label) {
    if (x < c->xmin || x > c->xmax) return;
    double px = pm_chart_x(c, x);
    pm_svg_line(s, px, c->top, px, c->top + c->height, colour, 1.2, "5 3");
    if (label) pm_svg_text(s, px + 3, c->top + 12, "start", FONT - 1, 0, colour, "%s", label);
}

double pm_chart_legend(pm_svg *s, double x, double y, const pm_legend_entry *e, int n) {
    for (int i = 0; i < n; i++) {
        double yy = y + i * 16;
        pm_svg_line(s, x, yy, x + 22, yy, e[i].colour, 2.2, e[i].dash);
        pm_svg_text(s, x + 28, yy + 4, "start", FONT, 0, INK, "%s", e[i].label);
    }
    return n * 16.0;
}

static void heat_colour(double v, double baseline, double span, char out[8]) {
    double r = v > 0 ? log2(v / baseline) / span : -1;
    pm_colour_diverging(r, out);
}

double pm_chart_heatmap(pm_svg *s, double x, double y, const pm_heatmap *h, const char *title) {
    double cells_x = x + h->label_w;
    if (title) pm_svg_text(s, x, y - 22, "start", FONT + 1, 0, "#000000", "%s", title);
    for (int c = 0; c < h->cols; c++)
        pm_svg_text(s, cells_x + (c + 0.5) * h->cell_w, y - 5, "middle", FONT - 1, 0, INK, "%s", h->col_labels[c]);
    for (int r = 0; r < h->rows; r++) {
        double cy = y + r * h->cell_h;
        pm_svg_text(s, cells_x - 5, cy + h->cell_h / 2 + 4, "end", FONT - 1, 0, INK, "%s", h->row_labels[r]);
        for (int c = 0; c < h->cols; c++) {
            double v = h->value[r * h->cols + c];
            char fill[8], tip[160];
            heat_colour(v, h->baseline, h->span, fill);
            snprintf(tip, sizeof tip, "%s, %s: %.1f%% (uniform %.1f%%)", h->row_labels[r], h->col_labels[c],
                     100 * v, 100 * h->baseline);
            pm_svg_rect(s, cells_x + c * h->cell_w, cy, h->cell_w, h->cell_h, fill, "#ffffff", tip);
            if (h->show_values) {
                double strength = v > 0 ? fabs(log2(v / h->baseline)) / h->span : 1;
                pm_svg_text(s, cells_x + (c + 0.5) * h->cell_w, cy + h->cell_h / 2 + 3.5, "middle", FONT - 2.5, 0,
                            strength > 0.6 ? "#ffffff" : "#222222", "%.0f", 100 * v);
            }
        }
    }
    return h->label_w + h->cols * h->cell_w;
}

void pm_chart_heat_key(pm_svg *s, double x, double y, double w, double baseline, double span) {
    int steps = 40;
    for (int i = 0; i < steps; i++) {
        char fill[8];
        pm_colour_diverging(-1 + 2.0 * (i + 0.5) / steps, fill);
        pm_svg_rect(s, x + w * i / steps, y, w / steps + 0.3, 10, fill, NULL, NULL);
    }
    pm_svg_rect(s, x, y, w, 10, "none", "#999999", NULL);
    pm_svg_text(s, x, y + 22, "start", FONT - 1, 0, INK, "%.1f%% or less", 100 * baseline * pow(2, -span));
    pm_svg_text(s, x + w / 2, y + 22, "middle", FONT - 1, 0, INK, "%.1f%% (uniform)", 100 * baseline);
    pm_svg_text(s, x + w, y + 22, "end", FONT - 1, 0, INK, "%.0f%%", 100 * baseline * pow(2, span));
}
