#include "train/util/svg.h"

#include <math.h>
#include <stdarg.h>

int pm_svg_open(pm_svg *s, const char *path, double width, double height) {
    s->f = fopen(path, "w");
    s->width = width;
    s->height = height;
    if (!s->f) return -1;
    fprintf(s->f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
            "viewBox=\"0 0 %.0f %.0f\" font-family=\"Helvetica, Arial, sans-serif\">\n"
            "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"#ffffff\"/>\n",
            width, height, width, height, width, height);
    return 0;
}

int pm_svg_close(pm_svg *s) {
    fprintf(s->f, "</svg>\n");
    int bad = ferror(s->f);
    return fclose(s->f) || bad ? -1 : 0;
}

static void stroke_attrs(pm_svg *s, const char *colour, double width, const char *dash) {
    fprintf(s->f, " fill=\"none\" stroke=\"%s\" stroke-width=\"%.2f\"", colour, width);
    if (dash) fprintf(s->f, " stroke-dasharray=\"%s\"", dash);
}

void pm_svg_line(pm_svg *s, double x1, double y1, double x2, double y2, const char *colour,
                 double width, const char *dash) {
    fprintf(s->f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"", x1, y1, x2, y2);
    stroke_attrs(s, colour, width, dash);
    fprintf(s->f, "/>\n");
}

void pm_svg_polyline(pm_svg *s, const double *x, const double *y, int n, const char *colour,
                     double width, const char *dash) {
    if (n < 1) return;
    fprintf(s->f, "<polyline points=\"");
    for (int i = 0; i < n; i++) fprintf(s->f, "%s%.2f,%.2f", i ? " " : "", x[i], y[i]);
    fprintf(s->f, "\"");
    stroke_attrs(s, colour, width, dash);
    fprintf(s->f, " stroke-linejoin=\"round\"/>\n");
}

void pm_svg_rect(pm_svg *s, double x, double y, double w, double h, const char *fill,
                 const char *stroke, const char *tooltip) {
    fprintf(s->f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\"", x, y, w, h, fill);
    if (stroke) fprintf(s->f, " stroke=\"%s\" stroke-width=\"0.6\"", stroke);
    if (!tooltip) {
        fprintf(s->f, "/>\n");
        return;
    }
    fprintf(s->f, "><title>");
    pm_xml_escape(s->f, tooltip);
    fprintf(s->f, "</title></rect>\n");
}

void pm_svg_circle(pm_svg *s, double x, double y, double r, const char *fill) {
    fprintf(s->f, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"%.2f\" fill=\"%s\"/>\n", x, y, r, fill);
}

void pm_svg_text(pm_svg *s, double x, double y, const char *anchor, double size, double rotate,
                 const char *colour, const char *fmt, ...) {
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    fprintf(s->f, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"%s\" font-size=\"%.1f\" fill=\"%s\"", x, y,
            anchor, size, colour);
    if (rotate != 0) fprintf(s->f, " transform=\"rotate(%.1f %.2f %.2f)\"", rotate, x, y);
    fprintf(s->f, ">");
    pm_xml_escape(s->f, text);
    fprintf(s->f, "</text>\n");
}

void pm_xml_escape(FILE *f, const char *text) {
    for (const char *p = text; *p; p++) {
        switch (*p) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*p, f);
        }
    }
}

const char *pm_colour_category(int i) {
    /* Tableau 10: distinct hues that stay apart for colour-blind readers */
    static const char *const palette[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                          "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
    return palette[(i % 10 + 10) % 10];
}

void pm_colour_diverging(double v, char out[8]) {
    static const double blue[3] = {33, 102, 172}, white[3] = {247, 247, 247}, red[3] = {178, 24, 43};
    if (!(v > -1)) v = -1; /* also NaN */
    if (v > 1) v = 1;
    const double *end = v < 0 ? blue : red;
    double t = fabs(v);
    int rgb[3];
    for (int i = 0; i < 3; i++) rgb[i] = (int)lround(white[i] + t * (end[i] - white[i]));
    snprintf(out, 8, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
}
