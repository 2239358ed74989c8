/* Inline SVG charts for the HTML report: line charts, histograms, scatter maps, confusion
 * heat maps and bar charts. Plain SVG 1.1 elements only (no script, no external references). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/report_internal.h"

void rb_puts(rbuf *b, const char *s) {
    size_t l = strlen(s);
    if (b->oom) return;
    if (b->len + l + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < b->len + l + 1) cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) { b->oom = 1; return; }
        b->p = np, b->cap = cap;
    }
    memcpy(b->p + b->len, s, l + 1);
    b->len += l;
}

void rb_printf(rbuf *b, const char *fmt, ...) {
    char small[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof small) { rb_puts(b, small); return; }
    char *big = malloc((size_t)n + 1);
    if (!big) { b->oom = 1; return; }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    rb_puts(b, big);
    free(big);
}

void rb_esc(rbuf *b, const char *s) {
    char buf[512];
    size_t w = 0;
    for (const char *p = s ? s : ""; *p; p++) {
        const char *r = NULL;
        switch (*p) {
        case '&': r = "&amp;"; break;
        case '<': r = "&lt;"; break;
        case '>': r = "&gt;"; break;
        case '"': r = "&quot;"; break;
        case '\'': r = "&#39;"; break;
        default: break;
        }
        if (w + 8 >= sizeof buf) { buf[w] = 0; rb_puts(b, buf); w = 0; }
        if (r) { memcpy(buf + w, r, strlen(r)); w += strlen(r); }
        else buf[w++] = *p;
    }
    buf[w] = 0;
    rb_puts(b, buf);
}

void rb_num(rbuf *b, double v) {
    if (v == v) rb_printf(b, "%.4g", v);
}

const char *rep_colour(size_t i) {
    static const char *pal[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                                "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#e7ba52", "#637939", "#ad494a",
                                "#7b4173", "#3182bd", "#31a354", "#756bb1", "#636363", "#fd8d3c"};
    return pal[i % (sizeof pal / sizeof *pal)];
}

/* "nice" tick step for a range */
static double nice_step(double span, int want) {
    if (!(span > 0)) return 1;
    double raw = span / want, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

typedef struct { double x0, x1, y0, y1; int L, T, W, H; } frame;

static double fx(const frame *f, double x) { return f->L + (x - f->x0) / (f->x1 - f->x0) * f->W; }
static double fy(const frame *f, double y) { return f->T + f->H - (y - f->y0) / (f->y1 - f->y0) * f->H; }

static void axes(rbuf *b, const frame *f, const char *xlabel, const char *ylabel) {
    rb_printf(b, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#999\"/>\n", f->L, f->T, f->W, f->H);
    double sx = nice_step(f->x1 - f->x0, 6), sy = nice_step(f->y1 - f->y0, 5);
    for (double t = ceil(f->x0 / sx) * sx; t <= f->x1 + 1e-9 * sx; t += sx) {
        double X = fx(f, t);
        rb_printf(b, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#999\"/>", X, f->T + f->H, X, f->T + f->H + 4);
        rb_printf(b, "<text x=\"%.1f\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">%g</text>\n", X, f->T + f->H + 16,
                  fabs(t) < 1e-12 * sx ? 0.0 : t);
    }
    for (double t = ceil(f->y0 / sy) * sy; t <= f->y1 + 1e-9 * sy; t += sy) {
        double Y = fy(f, t);
        rb_printf(b, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#eee\"/>", f->L, Y, f->L + f->W, Y);
        rb_printf(b, "<text x=\"%d\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%g</text>\n", f->L - 5, Y + 4,
                  fabs(t) < 1e-12 * sy ? 0.0 : t);
    }
    if (xlabel) {
        rb_printf(b, "<text x=\"%d\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\">", f->L + f->W / 2, f->T + f->H + 32);
        rb_esc(b, xlabel);
        rb_puts(b, "</text>\n");
    }
    if (ylabel) {
        rb_printf(b, "<text x=\"14\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\" transform=\"rotate(-90 14 %d)\">",
                  f->T + f->H / 2, f->T + f->H / 2);
        rb_esc(b, ylabel);
        rb_puts(b, "</text>\n");
    }
}

static void svg_open(rbuf *b, const char *id, int w, int h, const char *title) {
    rb_printf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"");
    rb_esc(b, id);
    rb_printf(b, "\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\">\n", w, h, w, h);
    if (title) {
        rb_printf(b, "<text x=\"%d\" y=\"16\" font-size=\"13\" font-weight=\"bold\" text-anchor=\"middle\">", w / 2);
        rb_esc(b, title);
        rb_puts(b, "</text>\n");
    }
}

void svg_lines(rbuf *b, const char *id, const char *title, const char *xlabel, const char *ylabel, const rep_series *s,
               size_t ns) {
    frame f = {INFINITY, -INFINITY, INFINITY, -INFINITY, 60, 28, 420, 220};
    for (size_t k = 0; k < ns; k++)
        for (size_t i = 0; i < s[k].n; i++) {
            if (!(s[k].y[i] == s[k].y[i]) || !(s[k].x[i] == s[k].x[i])) continue;
            f.x0 = fmin(f.x0, s[k].x[i]), f.x1 = fmax(f.x1, s[k].x[i]);
            f.y0 = fmin(f.y0, s[k].y[i]), f.y1 = fmax(f.y1, s[k].y[i]);
        }
    if (!isfinite(f.x0)) f.x0 = 0, f.x1 = 1, f.y0 = 0, f.y1 = 1;
    if (f.x1 <= f.x0) f.x1 = f.x0 + 1;
    if (f.y1 <= f.y0) f.y1 = f.y0 + (f.y0 ? fabs(f.y0) * 0.1 : 1);
    double pad = (f.y1 - f.y0) * 0.05;
    f.y0 -= pad, f.y1 += pad;
    svg_open(b, id, 640, 290, title);
    axes(b, &f, xlabel, ylabel);
    for (size_t k = 0; k < ns; k++) {
        const char *c = rep_colour(k);
        if (s[k].n > 1) {
            rb_printf(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"", c);
            for (size_t i = 0; i < s[k].n; i++)
                if (s[k].y[i] == s[k].y[i]) rb_printf(b, "%.1f,%.1f ", fx(&f, s[k].x[i]), fy(&f, s[k].y[i]));
            rb_puts(b, "\"/>\n");
        }
        if (s[k].dots || s[k].n == 1)
            for (size_t i = 0; i < s[k].n; i++)
                if (s[k].y[i] == s[k].y[i])
                    rb_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>", fx(&f, s[k].x[i]), fy(&f, s[k].y[i]), c);
        int ly = 40 + 16 * (int)k;
        rb_printf(b, "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/><text x=\"%d\" y=\"%d\" font-size=\"11\">",
                  f.L + f.W + 10, ly - 9, c, f.L + f.W + 24, ly);
        rb_esc(b, s[k].name);
        rb_puts(b, "</text>\n");
    }
    rb_puts(b, "</svg>\n");
}

void svg_histogram(rbuf *b, const char *id, const char *title, const char *xlabel, const double *edges, const size_t *bins,
                   size_t nb) {
    size_t peak = 1;
    for (size_t k = 0; k < nb; k++) peak = bins[k] > peak ? bins[k] : peak;
    frame f = {edges[0], edges[nb], 0, (double)peak * 1.05, 60, 28, 500, 200};
    if (f.x1 <= f.x0) f.x1 = f.x0 + 1;
    svg_open(b, id, 600, 270, title);
    axes(b, &f, xlabel, "cells");
    for (size_t k = 0; k < nb; k++) {
        double X0 = fx(&f, edges[k]), X1 = fx(&f, edges[k + 1]), Y = fy(&f, (double)bins[k]);
        rb_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#4c78a8\" stroke=\"#fff\"><title>%g-%g: %zu</title></rect>\n",
                  X0, Y, X1 - X0, f.T + f.H - Y, edges[k], edges[k + 1], bins[k]);
    }
    rb_puts(b, "</svg>\n");
}

void svg_scatter(rbuf *b, const char *id, const char *title, const double *xy, size_t n, const size_t *group,
                 const char *const *names, const size_t *counts, size_t ng) {
    frame f = {INFINITY, -INFINITY, INFINITY, -INFINITY, 20, 28, 460, 460};
    for (size_t i = 0; i < n; i++) {
        f.x0 = fmin(f.x0, xy[2 * i]), f.x1 = fmax(f.x1, xy[2 * i]);
        f.y0 = fmin(f.y0, xy[2 * i + 1]), f.y1 = fmax(f.y1, xy[2 * i + 1]);
    }
    if (!(f.x1 > f.x0)) f.x0 -= 1, f.x1 += 1;
    if (!(f.y1 > f.y0)) f.y0 -= 1, f.y1 += 1;
    double px = (f.x1 - f.x0) * 0.03, py = (f.y1 - f.y0) * 0.03;
    f.x0 -= px, f.x1 += px, f.y0 -= py, f.y1 += py;
    int h = 28 + 460 + 20;
    if (28 + 16 * (int)ng + 10 > h) h = 28 + 16 * (int)ng + 10;
    svg_open(b, id, 820, h, title);
    rb_printf(b, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#ccc\"/>\n", f.L, f.T, f.W, f.H);
    for (size_t i = 0; i < n; i++)
        rb_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.2\" fill=\"%s\" fill-opacity=\"0.75\"/>", fx(&f, xy[2 * i]),
                  fy(&f, xy[2 * i + 1]), rep_colour(group[i]));
    rb_puts(b, "\n");
    for (size_t k = 0; k < ng; k++) {
        int ly = 44 + 16 * (int)k;
        rb_printf(b, "<circle cx=\"%d\" cy=\"%d\" r=\"5\" fill=\"%s\"/><text x=\"%d\" y=\"%d\" font-size=\"11\">", f.L + f.W + 20,
                  ly - 4, rep_colour(k), f.L + f.W + 30, ly);
        rb_esc(b, names[k]);
        rb_printf(b, " (%zu)</text>\n", counts[k]);
    }
    rb_puts(b, "</svg>\n");
}

void svg_confusion(rbuf *b, const char *id, const char *const *labels, size_t k, const double *m) {
    int cell = k > 14 ? 22 : 30, L = 190, T = 40;
    int w = L + cell * (int)k + 20, h = T + cell * (int)k + 170;
    svg_open(b, id, w, h, NULL);
    rb_printf(b, "<text x=\"%d\" y=\"16\" font-size=\"12\" text-anchor=\"middle\">predicted (columns) vs true (rows), colour = share of the row</text>\n",
              w / 2);
    for (size_t r = 0; r < k; r++) {
        double rs = 0;
        for (size_t c = 0; c < k; c++) rs += m[r * k + c];
        rb_printf(b, "<text x=\"%d\" y=\"%d\" font-size=\"10\" text-anchor=\"end\">", L - 4, T + cell * (int)r + cell / 2 + 4);
        rb_esc(b, labels[r]);
        rb_puts(b, "</text>\n");
        for (size_t c = 0; c < k; c++) {
            double share = rs > 0 ? m[r * k + c] / rs : 0;
            int g = (int)(255 - 200 * share);
            rb_printf(b, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"rgb(%d,%d,255)\" stroke=\"#fff\"/>",
                      L + cell * (int)c, T + cell * (int)r, cell, cell, g, g);
            if (m[r * k + c] > 0)
                rb_printf(b, "<text x=\"%d\" y=\"%d\" font-size=\"9\" text-anchor=\"middle\" fill=\"%s\">%.0f</text>",
                          L + cell * (int)c + cell / 2, T + cell * (int)r + cell / 2 + 3, share > 0.6 ? "#fff" : "#000", m[r * k + c]);
        }
        rb_puts(b, "\n");
    }
    for (size_t c = 0; c < k; c++) {
        int x = L + cell * (int)c + cell / 2 + 3, y = T + cell * (int)k + 6;
        rb_printf(b, "<text x=\"%d\" y=\"%d\" font-size=\"10\" text-anchor=\"end\" transform=\"rotate(-60 %d %d)\">", x, y, x, y);
        rb_esc(b, labels[c]);
        rb_puts(b, "</text>\n");
    }
    rb_puts(b, "</svg>\n");
}

void svg_bars(rbuf *b, const char *id, const char *title, const char *xlabel, const char *const *labels, const double *v,
              const int *marks, size_t n) {
    double lo = 0, hi = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i] == v[i]) lo = fmin(lo, v[i]), hi = fmax(hi, v[i]);
    if (!(hi > lo)) hi = lo + 1;
    int row = 16;
    frame f = {lo, hi, 0, 1, 170, 28, 400, row * (int)(n ? n : 1)};
    double pad = (hi - lo) * 0.05;
    f.x0 -= lo < 0 ? pad : 0, f.x1 += pad;
    svg_open(b, id, 620, f.T + f.H + 44, title);
    axes(b, &(frame){f.x0, f.x1, 0, 1, f.L, f.T, f.W, f.H}, xlabel, NULL);
    double X0 = fx(&f, 0);
    for (size_t i = 0; i < n; i++) {
        int y = f.T + row * (int)i;
        double X = v[i] == v[i] ? fx(&f, v[i]) : X0;
        rb_printf(b, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"/>", X < X0 ? X : X0, y + 2,
                  fabs(X - X0), row - 4, marks && marks[i] ? "#d62728" : "#9ecae1");
        rb_printf(b, "<text x=\"%d\" y=\"%d\" font-size=\"10\" text-anchor=\"end\">", f.L - 4, y + row - 4);
        rb_esc(b, labels[i]);
        rb_puts(b, "</text>\n");
    }
    rb_printf(b, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#333\"/>\n</svg>\n", X0, f.T, X0, f.T + f.H);
}
