#include "bench/svg.h"

#include <math.h>
#include <stdio.h>

enum { WIDTH = 760, HEIGHT = 440, LEFT = 70, RIGHT = 210, TOP = 40, BOTTOM = 60 };
enum { PLOT_W = WIDTH - LEFT - RIGHT, PLOT_H = HEIGHT - TOP - BOTTOM };

static const char *const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                      "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"};
enum { n_colors = sizeof palette / sizeof palette[0] };

/* Text content with the XML special characters escaped. */
static void put_text(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '&') fputs("&amp;", f);
        else if (*s == '"') fputs("&quot;", f);
        else fputc(*s, f);
    }
}

static void text(FILE *f, double x, double y, const char *anchor, const char *extra,
                 const char *s) {
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" %s>", x, y, anchor, extra);
    put_text(f, s);
    fputs("</text>\n", f);
}

static FILE *begin(const char *path, const char *title) {
    FILE *f = fopen(path, "w");
    if (!f) return NULL;
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n"
               "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
               WIDTH, HEIGHT, WIDTH, HEIGHT);
    text(f, WIDTH / 2.0, 22, "middle", "font-size=\"15\" font-weight=\"bold\"", title);
    return f;
}

static int end(FILE *f) {
    fputs("</svg>\n", f);
    return fclose(f) ? -1 : 0;
}

/* A round step (1, 2 or 5 times a power of ten) giving about five ticks up to `top`. */
static double tick_step(double top) {
    double raw = top / 5, p = pow(10, floor(log10(raw))), m = raw / p;
    return p * (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10);
}

/* The y axis from 0 to *top (rounded up to a tick), its grid and label. */
static void y_axis(FILE *f, double *top, const char *ylabel) {
    if (!(*top > 0)) *top = 1;
    double step = tick_step(*top);
    *top = ceil(*top / step) * step;
    for (double v = 0; v <= *top + step / 2; v += step) {
        double y = TOP + PLOT_H - v / *top * PLOT_H;
        char label[32];
        snprintf(label, sizeof label, "%g", v);
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", LEFT,
                y, LEFT + PLOT_W, y);
        text(f, LEFT - 6, y + 4, "end", "", label);
    }
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n", LEFT, TOP,
            LEFT, TOP + PLOT_H);
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n", LEFT,
            TOP + PLOT_H, LEFT + PLOT_W, TOP + PLOT_H);
    char rotate[64];
    snprintf(rotate, sizeof rotate, "transform=\"rotate(-90 16 %d)\"", TOP + PLOT_H / 2);
    text(f, 16, TOP + PLOT_H / 2.0, "middle", rotate, ylabel);
}

static void legend_entry(FILE *f, int i, const char *label) {
    double y = TOP + 10 + 18.0 * i;
    fprintf(f, "<rect x=\"%d\" y=\"%.1f\" width=\"12\" height=\"12\" fill=\"%s\"/>\n",
            LEFT + PLOT_W + 16, y - 10, palette[i % n_colors]);
    text(f, LEFT + PLOT_W + 34, y, "start", "", label);
}

int pm_svg_lines(const char *path, const char *title, const char *xlabel, const char *ylabel,
                 const pm_svg_series *series, int n_series) {
    double xmin = INFINITY, xmax = -INFINITY, ymax = 0;
    for (int s = 0; s < n_series; s++)
        for (int i = 0; i < series[s].n; i++) {
            xmin = fmin(xmin, series[s].x[i]);
            xmax = fmax(xmax, series[s].x[i]);
            ymax = fmax(ymax, series[s].y[i]);
        }
    if (!(xmin > 0)) xmin = xmax = 1;
    double lo = log2(xmin), span = fmax(log2(xmax) - lo, 1);
    FILE *f = begin(path, title);
    if (!f) return -1;
    y_axis(f, &ymax, ylabel);
    for (double e = ceil(lo); e <= lo + span + 1e-9; e += 1) {
        double x = LEFT + (e - lo) / span * PLOT_W;
        char label[32];
        snprintf(label, sizeof label, "%g", exp2(e));
        text(f, x, TOP + PLOT_H + 18, "middle", "", label);
    }
    text(f, LEFT + PLOT_W / 2.0, HEIGHT - 18, "middle", "", xlabel);
    for (int s = 0; s < n_series; s++) {
        const char *color = palette[s % n_colors];
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", color);
        for (int i = 0; i < series[s].n; i++)
            fprintf(f, "%s%.1f,%.1f", i ? " " : "",
                    LEFT + (log2(series[s].x[i]) - lo) / span * PLOT_W,
                    TOP + PLOT_H - series[s].y[i] / ymax * PLOT_H);
        fputs("\"/>\n", f);
        for (int i = 0; i < series[s].n; i++)
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n",
                    LEFT + (log2(series[s].x[i]) - lo) / span * PLOT_W,
                    TOP + PLOT_H - series[s].y[i] / ymax * PLOT_H, color);
        legend_entry(f, s, series[s].label);
    }
    return end(f);
}

int pm_svg_bars(const char *path, const char *title, const char *ylabel, const pm_svg_bar *bars,
                int n_bars, double reference, const char *reference_label) {
    double top = reference > 0 ? reference : 0;
    for (int i = 0; i < n_bars; i++) top = fmax(top, bars[i].value);
    top *= 1.1;
    FILE *f = begin(path, title);
    if (!f) return -1;
    y_axis(f, &top, ylabel);
    double slot = n_bars ? (double)PLOT_W / n_bars : PLOT_W;
    for (int i = 0; i < n_bars; i++) {
        double h = bars[i].value / top * PLOT_H, x = LEFT + slot * i + slot * 0.15;
        char value[32];
        snprintf(value, sizeof value, "%.2f", bars[i].value);
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>\n", x,
                TOP + PLOT_H - h, slot * 0.7, h, palette[i % n_colors]);
        text(f, x + slot * 0.35, TOP + PLOT_H - h - 4, "middle", "", value);
        legend_entry(f, i, bars[i].label);
    }
    if (reference > 0) {
        double y = TOP + PLOT_H - reference / top * PLOT_H;
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"black\" "
                   "stroke-dasharray=\"6 4\"/>\n", LEFT, y, LEFT + PLOT_W, y);
        text(f, LEFT + PLOT_W + 6, y + 4, "start", "", reference_label);
    }
    return end(f);
}
