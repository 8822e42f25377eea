/* A tiny SVG writer for the report's figures: a file, a few shapes and text (escaped), and
 * the colours the figures share. Coordinates are SVG user units (pixels at 100%). */
#ifndef POLYMOE_REPORT_SVG_H
#define POLYMOE_REPORT_SVG_H

#include <stdio.h>

typedef struct {
    FILE *f;
    double width, height;
} pm_svg;

/* Starts path as a width x height drawing on white. -1 when it cannot be created. */
int pm_svg_open(pm_svg *s, const char *path, double width, double height);
/* Finishes and closes the file; -1 when anything failed to write. */
int pm_svg_close(pm_svg *s);

/* dash: NULL for solid, else an SVG dash array such as "4 3". */
void pm_svg_line(pm_svg *s, double x1, double y1, double x2, double y2, const char *colour,
                 double width, const char *dash);
void pm_svg_polyline(pm_svg *s, const double *x, const double *y, int n, const char *colour,
                     double width, const char *dash);
/* stroke: NULL for none. tooltip: NULL or a text shown on hover. */
void pm_svg_rect(pm_svg *s, double x, double y, double w, double h, const char *fill,
                 const char *stroke, const char *tooltip);
void pm_svg_circle(pm_svg *s, double x, double y, double r, const char *fill);
/* anchor: "start", "middle" or "end"; rotate: degrees about (x, y), 0 for none. */
void pm_svg_text(pm_svg *s, double x, double y, const char *anchor, double size, double rotate,
                 const char *colour, const char *fmt, ...) __attribute__((format(printf, 8, 9)));

/* Writes text to f with &, <, > and quotes escaped (for SVG and HTML alike). */
void pm_xml_escape(FILE *f, const char *text);

/* Colours, as "#rrggbb". The i-th colour of a categorical palette (runs, experts); it
 * repeats after 10. */
const char *pm_colour_category(int i);
/* Blue (-1) through white (0) to red (+1), written to out; values outside are clamped. */
void pm_colour_diverging(double v, char out[8]);

#endif
