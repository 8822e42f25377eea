/* The benchmark's two charts, drawn with the project's SVG writer (train/util/svg.h). */
#include "bench/svg.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "train/util/chart.h"

enum { WIDTH = 760, HEIGHT = 440, LEFT = 70, RIGHT = 210, TOP = 40, BOTTOM = 60 };
enum { PLOT_W = WIDTH - LEFT - RIGHT, PLOT_H = HEIGHT - TOP - BOTTOM };

static int begin(pm_svg *s, const char *path, const char *title) {
    if (pm_svg_open(s, path, WIDTH, HEIGHT)) return -1;
    pm_svg_text(s, WIDTH / 2.0, 22, "middle", 15, 0, "#000000", "%s", title);
    return 0;
}

/* The y axis from 0 to *top (rounded up to a tick), its grid and label. */
static void y_axis(pm_svg *s, double *top, const char *ylabel) {
    if (!(*top > 0)) *top = 1;
    double step = pm_chart_tick_step(*top);
    *top = ceil(*top / step) * step;
    for (double v = 0; v <= *top + step / 2; v += step) {
        double y = TOP + PLOT_H - v / *top * PLOT_H;
        pm_svg_line(s, LEFT, y, LEFT + PLOT_W, y, "#dddddd", 1, NULL);
        pm_svg_text(s, LEFT - 6, y + 4, "end", 12, 0, "#000000", "%g", v);
    }
    pm_svg_line(s, LEFT, TOP, LEFT, TOP + PLOT_H, "#000000", 1, NULL);
    pm_svg_line(s, LEFT, TOP + PLOT_H, LEFT + PLOT_W, TOP + PLOT_H, "#000000", 1, NULL);
    pm_svg_text(s, 16, TOP + PLOT_H / 2.0, "middle", 12, -90, "#000000", "%s", ylabel);
}

static void legend_entry(pm_svg *s, int i, const char *label) {
    double y = TOP + 10 + 18.0 * i;
    pm_svg_rect(s, LEFT + PLOT_W + 16, y - 10, 12, 12, pm_colour_category(i), NULL, NULL);
    pm_svg_text(s, LEFT + PLOT_W + 34, y, "start", 12, 0, "#000000", "%s", label);
}

int pm_svg_lines(const char *path, const char *title, const char *xlabel, const char *ylabel,
                 const pm_svg_series *series, int n_series) {
    double xmin = INFINITY, xmax = -INFINITY, ymax = 0;
    for (int k = 0; k < n_series; k++)
        for (int i = 0; i < series[k].n; i++) {
            xmin = fmin(xmin, series[k].x[i]);
            xmax = fmax(xmax, series[k].x[i]);
            ymax = fmax(ymax, series[k].y[i]);
        }
    if (!(xmin > 0)) xmin = xmax = 1;
    double lo = log2(xmin), span = fmax(log2(xmax) - lo, 1);
    pm_svg s;
    if (begin(&s, path, title)) return -1;
    y_axis(&s, &ymax, ylabel);
    for (double e = ceil(lo); e <= lo + span + 1e-9; e += 1)
        pm_svg_text(&s, LEFT + (e - lo) / span * PLOT_W, TOP + PLOT_H + 18, "middle", 12, 0,
                    "#000000", "%g", exp2(e));
    pm_svg_text(&s, LEFT + PLOT_W / 2.0, HEIGHT - 18, "middle", 12, 0, "#000000", "%s", xlabel);
    for (int k = 0; k < n_series; k++) {
        int n = series[k].n;
        double *px = malloc(sizeof *px * (size_t)(n ? n : 1) * 2), *py = px + n;
        if (!px) {
            pm_svg_close(&s);
            return -1;
        }
        for (int i = 0; i < n; i++) {
            px[i] = LEFT + (log2(series[k].x[i]) - lo) / span * PLOT_W;
            py[i] = TOP + PLOT_H - series[k].y[i] / ymax * PLOT_H;
        }
        pm_svg_polyline(&s, px, py, n, pm_colour_category(k), 2, NULL);
        for (int i = 0; i < n; i++) pm_svg_circle(&s, px[i], py[i], 3, pm_colour_category(k));
        free(px);
        legend_entry(&s, k, series[k].label);
    }
    return pm_svg_close(&s);
}

int pm_svg_bars(const char *path, const char *title, const char *ylabel, const pm_svg_bar *bars,
                int n_bars, double reference, const char *reference_label) {
    double top = reference > 0 ? reference : 0;
    for (int i = 0; i < n_bars; i++) top = fmax(top, bars[i].value);
    top *= 1.1;
    pm_svg s;
    if (begin(&s, path, title)) return -1;
    y_axis(&s, &top, ylabel);
    double slot = n_bars ? (double)PLOT_W / n_bars : PLOT_W;
    for (int i = 0; i < n_bars; i++) {
        double h = bars[i].value / top * PLOT_H, x = LEFT + slot * i + slot * 0.15;
        pm_svg_rect(&s, x, TOP + PLOT_H - h, slot * 0.7, h, pm_colour_category(i), NULL, NULL);
        pm_svg_text(&s, x + slot * 0.35, TOP + PLOT_H - h - 4, "middle", 12, 0, "#000000", "%.2f",
                    bars[i].value);
        legend_entry(&s, i, bars[i].label);
    }
    if (reference > 0) {
        double y = TOP + PLOT_H - reference / top * PLOT_H;
        pm_svg_line(&s, LEFT, y, LEFT + PLOT_W, y, "#000000", 1, "6 4");
        pm_svg_text(&s, LEFT + PLOT_W + 6, y + 4, "start", 12, 0, "#000000", "%s", reference_label);
    }
    return pm_svg_close(&s);
}
