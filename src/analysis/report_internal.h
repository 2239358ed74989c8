/* Private to the report (src/analysis/report*.c): a growable text buffer with printf, HTML
 * escaping, and the inline SVG charts. */
#ifndef SCFM_REPORT_INTERNAL_H
#define SCFM_REPORT_INTERNAL_H
#include <stddef.h>
#include "scfm/core.h"

typedef struct { char *p; size_t len, cap; int oom; } rbuf;
void rb_puts(rbuf *b, const char *s);
void rb_printf(rbuf *b, const char *fmt, ...) SCFM_PRINTF(2, 3);
/* text with & < > " ' escaped */
void rb_esc(rbuf *b, const char *s);
/* a number as text: %.4g, "" for NaN */
void rb_num(rbuf *b, double v);

/* One data series of a line chart. */
typedef struct {
    const char *name;
    const double *x, *y;
    size_t n;
    int dots; /* markers (for sparse series such as evaluations) */
} rep_series;
/* Line chart (x linear, y linear) with axes, ticks, legend; id names the svg element. */
void svg_lines(rbuf *b, const char *id, const char *title, const char *xlabel, const char *ylabel,
               const rep_series *s, size_t ns);
/* Histogram: bins[k] counts between edges[k] and edges[k+1]. */
void svg_histogram(rbuf *b, const char *id, const char *title, const char *xlabel, const double *edges,
                   const size_t *bins, size_t nb);
/* Scatter of xy[n*2], colour = group[i] in [0, ng) with names[ng] in the legend. */
void svg_scatter(rbuf *b, const char *id, const char *title, const double *xy, size_t n, const size_t *group,
                 const char *const *names, const size_t *counts, size_t ng);
/* Heat map of an integer matrix m[r*c] (rows = true, columns = predicted), row-normalised colour. */
void svg_confusion(rbuf *b, const char *id, const char *const *labels, size_t k, const double *m);
/* Horizontal bars (value per label, signed) with a zero line; marks[i] != 0 drawn solid. */
void svg_bars(rbuf *b, const char *id, const char *title, const char *xlabel, const char *const *labels,
              const double *v, const int *marks, size_t n);
/* Palette colour i (as #rrggbb). */
const char *rep_colour(size_t i);
#endif
