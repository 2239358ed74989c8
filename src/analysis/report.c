/* The HTML report: recognizes scfm outputs (corpus, pretraining run, fine-tuning run, cell
 * embeddings, perturbation table), reads them and renders one self-contained page. What is
 * recognized and how: include/scfm/report.h. Charts: report_svg.c. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "analysis/report_internal.h"
#include "scfm/corpus.h"
#include "scfm/json.h"
#include "scfm/report.h"

struct scfm_report {
    scfm_report_opts o;
    char *title, *command;
    rbuf toc, summary, body;
    size_t n_parts, n_corpus, n_pretrain, n_finetune, n_embed, n_perturb;
    char **seen; /* real paths of the parts added */
    size_t n_seen;
};

void scfm_report_opts_init(scfm_report_opts *o) {
    memset(o, 0, sizeof *o);
    o->map_max_cells = 3000;
    scfm_map_opts_init(&o->map);
    o->max_groups = 20;
    o->max_obs_values = 60;
    o->perturb_rows = 30;
}

scfm_report *scfm_report_new(const scfm_report_opts *o, const char *title, const char *command) {
    scfm_report *r = scfm_calloc(1, sizeof *r);
    if (!r) return NULL;
    if (o) r->o = *o;
    else scfm_report_opts_init(&r->o);
    r->title = scfm_strdup(title ? title : "scfm report");
    r->command = command ? scfm_strdup(command) : NULL;
    if (!r->title || (command && !r->command)) { scfm_report_free(r); return NULL; }
    return r;
}

void scfm_report_free(scfm_report *r) {
    if (!r) return;
    free(r->title), free(r->command);
    free(r->toc.p), free(r->summary.p), free(r->body.p);
    for (size_t i = 0; i < r->n_seen; i++) free(r->seen[i]);
    free(r->seen);
    free(r);
}

size_t scfm_report_n_parts(const scfm_report *r) { return r->n_parts; }

/* ---- small helpers -------------------------------------------------------------------- */

static char *join(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    char *p = scfm_malloc(la + lb + 2);
    if (!p) return NULL;
    memcpy(p, a, la);
    size_t w = la;
    if (la && a[la - 1] != '/') p[w++] = '/';
    memcpy(p + w, b, lb + 1);
    return p;
}

static int is_file(const char *p) { struct stat st; return stat(p, &st) == 0 && S_ISREG(st.st_mode); }
static int is_dir(const char *p) { struct stat st; return stat(p, &st) == 0 && S_ISDIR(st.st_mode); }
static int has(const char *dir, const char *name) {
    char *p = join(dir, name);
    int ok = p && is_file(p);
    free(p);
    return ok;
}
static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* Marks path as shown; returns 1 if it was already. */
static int seen_before(scfm_report *r, const char *path) {
    char real[PATH_MAX];
    const char *key = realpath(path, real) ? real : path;
    for (size_t i = 0; i < r->n_seen; i++)
        if (!strcmp(r->seen[i], key)) return 1;
    char **nv = realloc(r->seen, (r->n_seen + 1) * sizeof *nv);
    if (!nv) return 0;
    r->seen = nv;
    r->seen[r->n_seen] = scfm_strdup(key);
    if (r->seen[r->n_seen]) r->n_seen++;
    return 0;
}

static scfm_json *read_json(const char *path) {
    char *text = NULL;
    size_t len;
    if (scfm_read_file(path, &text, &len)) return NULL;
    scfm_json *j = scfm_json_parse(text, len, path);
    free(text);
    return j;
}

static double jnum(const scfm_json *o, const char *key) {
    const scfm_json *v = o ? scfm_json_get(o, key) : NULL;
    return v && v->type == SCFM_JSON_NUMBER ? v->number : NAN;
}

static const char *jstr(const scfm_json *o, const char *key) {
    const scfm_json *v = o ? scfm_json_get(o, key) : NULL;
    return v && v->type == SCFM_JSON_STRING ? v->string : NULL;
}

static void json_inline(rbuf *b, const scfm_json *v) {
    switch (v->type) {
    case SCFM_JSON_NULL: rb_puts(b, "null"); break;
    case SCFM_JSON_BOOL: rb_puts(b, v->boolean ? "true" : "false"); break;
    case SCFM_JSON_NUMBER: rb_printf(b, "%.10g", v->number); break;
    case SCFM_JSON_STRING: rb_esc(b, v->string); break;
    default:
        rb_puts(b, v->type == SCFM_JSON_ARRAY ? "[" : "{");
        for (size_t i = 0; i < v->n; i++) {
            if (i) rb_puts(b, ", ");
            if (v->type == SCFM_JSON_OBJECT) { rb_esc(b, v->keys[i]); rb_puts(b, ": "); }
            json_inline(b, &v->items[i]);
        }
        rb_puts(b, v->type == SCFM_JSON_ARRAY ? "]" : "}");
    }
}

/* settings object as a two-column table */
static void settings_table(rbuf *b, const scfm_json *s) {
    if (!s || s->type != SCFM_JSON_OBJECT || !s->n) return;
    rb_puts(b, "<details><summary>settings</summary><table class=\"kv\">\n");
    for (size_t i = 0; i < s->n; i++) {
        rb_puts(b, "<tr><th>");
        rb_esc(b, s->keys[i]);
        rb_puts(b, "</th><td>");
        json_inline(b, &s->items[i]);
        rb_puts(b, "</td></tr>\n");
    }
    rb_puts(b, "</table></details>\n");
}

static void command_block(rbuf *b, const char *cmd) {
    rb_puts(b, "<p class=\"cmd-label\">command</p><pre class=\"cmd\">");
    rb_esc(b, cmd && *cmd ? cmd : "(not recorded)");
    rb_puts(b, "</pre>\n");
}

/* the command of a file part: F.cmd when present */
static char *sidecar_command(const char *path) {
    char *p = scfm_malloc(strlen(path) + 5);
    if (!p) return NULL;
    sprintf(p, "%s.cmd", path);
    char *text = NULL;
    size_t len;
    if (!is_file(p) || scfm_read_file(p, &text, &len)) { scfm_clear_error(); free(p); return NULL; }
    free(p);
    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r')) text[--len] = 0;
    return text;
}

/* a figure: <td data-key="part.key">value</td> */
static void fig_row(rbuf *b, const char *label, const char *key, double v, const char *fmt) {
    rb_puts(b, "<tr><th>");
    rb_esc(b, label);
    rb_printf(b, "</th><td class=\"num\" data-key=\"%s\" data-value=\"%.9g\">", key, v);
    if (v == v) rb_printf(b, fmt ? fmt : "%.4g", v);
    else rb_puts(b, "&ndash;");
    rb_puts(b, "</td></tr>\n");
}

static void summary_row(scfm_report *r, const char *part_id, const char *what, const char *key, double v, const char *fmt) {
    rb_printf(&r->summary, "<tr><td><a href=\"#%s\">%s</a></td><th>", part_id, part_id);
    rb_esc(&r->summary, what);
    rb_printf(&r->summary, "</th><td class=\"num\" data-key=\"summary.%s.%s\" data-value=\"%.9g\">", part_id, key, v);
    if (v == v) rb_printf(&r->summary, fmt ? fmt : "%.4g", v);
    else rb_puts(&r->summary, "&ndash;");
    rb_puts(&r->summary, "</td></tr>\n");
}

static void section_open(scfm_report *r, const char *kind, size_t k, const char *title, const char *path, char *id, size_t idlen) {
    snprintf(id, idlen, "%s-%zu", kind, k);
    rb_printf(&r->body, "<section id=\"%s\" class=\"part %s\">\n<h2>", id, kind);
    rb_esc(&r->body, title);
    rb_puts(&r->body, "</h2>\n<p class=\"path\">");
    rb_esc(&r->body, path);
    rb_puts(&r->body, "</p>\n");
    rb_printf(&r->toc, "<li><a href=\"#%s\">", id);
    rb_esc(&r->toc, title);
    rb_puts(&r->toc, "</a> <span class=\"path\">");
    rb_esc(&r->toc, path);
    rb_puts(&r->toc, "</span></li>\n");
    r->n_parts++;
}

/* ---- corpus ----------------------------------------------------------------------------- */

static int add_corpus(scfm_report *r, const char *dir) {
    if (seen_before(r, dir)) return SCFM_OK;
    scfm_corpus *c = scfm_corpus_open(dir);
    if (!c) return scfm_error_prefix(SCFM_EFORMAT, "corpus %s", dir);
    char id[64];
    section_open(r, "corpus", ++r->n_corpus, "Corpus", dir, id, sizeof id);
    rbuf *b = &r->body;
    size_t n = scfm_corpus_n_cells(c), maxl = scfm_corpus_max_len(c);
    char key[96];
    rb_puts(b, "<table class=\"figs\">\n");
    snprintf(key, sizeof key, "%s.cells", id);
    fig_row(b, "cells", key, (double)n, "%.0f");
    snprintf(key, sizeof key, "%s.tokens", id);
    fig_row(b, "tokens", key, (double)scfm_corpus_n_tokens(c), "%.0f");
    snprintf(key, sizeof key, "%s.vocab_size", id);
    fig_row(b, "vocabulary tokens", key, (double)scfm_corpus_vocab_size(c), "%.0f");
    snprintf(key, sizeof key, "%s.max_len", id);
    fig_row(b, "max length", key, (double)maxl, "%.0f");
    rb_printf(b, "<tr><th>mode</th><td>%s</td></tr><tr><th>species</th><td>", scfm_corpus_mode(c));
    rb_esc(b, *scfm_corpus_species(c) ? scfm_corpus_species(c) : "-");
    rb_puts(b, "</td></tr><tr><th>obs columns</th><td>");
    for (size_t k = 0; k < scfm_corpus_n_obs(c); k++) {
        if (k) rb_puts(b, ", ");
        rb_esc(b, scfm_corpus_obs_name(c, k));
    }
    rb_puts(b, "</td></tr></table>\n");
    summary_row(r, id, "cells", "cells", (double)n, "%.0f");
    const scfm_json *m = scfm_corpus_meta(c);
    const scfm_json *src = m ? scfm_json_get(m, "sources") : NULL;
    if (src && src->type == SCFM_JSON_ARRAY && src->n) {
        rb_puts(b, "<h3>Sources: genes reaching the vocabulary</h3>\n<table class=\"data sources\"><tr><th>file</th><th>format</th>"
                   "<th>cells in</th><th>cells kept</th><th>genes in file</th><th>genes in vocabulary</th><th>share of genes</th>"
                   "<th>share of counts</th></tr>\n");
        for (size_t i = 0; i < src->n; i++) {
            const scfm_json *s = &src->items[i];
            double gin = jnum(s, "genes_in"), gv = jnum(s, "genes_in_vocab");
            rb_puts(b, "<tr><td>");
            rb_esc(b, jstr(s, "path"));
            rb_puts(b, "</td><td>");
            rb_esc(b, jstr(s, "format"));
            rb_printf(b, "</td><td class=\"num\">%.0f</td><td class=\"num\">%.0f</td><td class=\"num\">%.0f</td>"
                         "<td class=\"num\" data-key=\"%s.source%zu.genes_in_vocab\">%.0f</td><td class=\"num\">%.1f%%</td>"
                         "<td class=\"num\">%.1f%%</td></tr>\n",
                      jnum(s, "n_cells_in"), jnum(s, "n_cells_kept"), gin, id, i, gv, gin > 0 ? 100 * gv / gin : NAN,
                      100 * jnum(s, "count_share_in_vocab"));
        }
        rb_puts(b, "</table>\n");
    }
    if (n) {
        enum { BINS = 24 };
        size_t bins[BINS] = {0}, top = maxl ? maxl : scfm_corpus_longest(c);
        double edges[BINS + 1], sum = 0;
        if (!top) top = 1;
        for (int k = 0; k <= BINS; k++) edges[k] = (double)top * k / BINS;
        size_t lmin = SIZE_MAX, lmax = 0;
        for (size_t i = 0; i < n; i++) {
            size_t l = scfm_corpus_len(c, i);
            size_t k = (size_t)((double)l / (double)top * BINS);
            bins[k < BINS ? k : BINS - 1]++;
            sum += (double)l;
            lmin = l < lmin ? l : lmin, lmax = l > lmax ? l : lmax;
        }
        char sid[80];
        snprintf(sid, sizeof sid, "%s-lengths", id);
        svg_histogram(b, sid, "cell length (gene tokens per cell)", "tokens", edges, bins, BINS);
        rb_printf(b, "<p>length min <span data-key=\"%s.len_min\">%zu</span>, mean <span data-key=\"%s.len_mean\">%.1f</span>, "
                     "max <span data-key=\"%s.len_max\">%zu</span>.</p>\n", id, lmin, id, sum / (double)n, id, lmax);
    }
    settings_table(b, m ? scfm_json_get(m, "settings") : NULL);
    command_block(b, jstr(m, "command"));
    rb_puts(b, "</section>\n");
    scfm_corpus_close(c);
    return SCFM_OK;
}

/* ---- training logs ---------------------------------------------------------------------- */

typedef struct { double *v; size_t n, cap; } dvec;
static int dv_push(dvec *d, double x) {
    if (d->n == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 64;
        double *nv = realloc(d->v, cap * sizeof *nv);
        if (!nv) return -1;
        d->v = nv, d->cap = cap;
    }
    d->v[d->n++] = x;
    return 0;
}

enum { LOG_COLS = 8 };
typedef struct {
    dvec tstep, tloss;
    dvec estep, e[LOG_COLS];
} trainlog;

static void trainlog_free(trainlog *l) {
    free(l->tstep.v), free(l->tloss.v), free(l->estep.v);
    for (int k = 0; k < LOG_COLS; k++) free(l->e[k].v);
}

/* log.jsonl: "train" lines (step, loss) and "eval" lines (step and ecols[k]) */
static int read_log(const char *path, const char *const *ecols, size_t ne, trainlog *l) {
    memset(l, 0, sizeof *l);
    char *text = NULL;
    size_t len;
    if (!is_file(path)) return SCFM_OK; /* a run without a log shows no curves */
    int rc = scfm_read_file(path, &text, &len);
    if (rc) return rc;
    size_t lineno = 0;
    for (char *p = text; p && *p && !rc;) {
        char *e = strchr(p, '\n');
        if (e) *e = 0;
        lineno++;
        if (*p) {
            char what[64];
            snprintf(what, sizeof what, "line %zu", lineno);
            scfm_json *j = scfm_json_parse(p, strlen(p), what);
            if (!j) rc = scfm_error_prefix(SCFM_EFORMAT, "%s", path);
            else {
                const char *type = jstr(j, "type");
                if (type && !strcmp(type, "train")) {
                    if (dv_push(&l->tstep, jnum(j, "step")) || dv_push(&l->tloss, jnum(j, "loss"))) rc = SCFM_ENOMEM;
                } else if (type && !strcmp(type, "eval")) {
                    if (dv_push(&l->estep, jnum(j, "step"))) rc = SCFM_ENOMEM;
                    for (size_t k = 0; k < ne && !rc; k++)
                        if (dv_push(&l->e[k], jnum(j, ecols[k]))) rc = SCFM_ENOMEM;
                }
                scfm_json_free(j);
            }
        }
        p = e ? e + 1 : NULL;
    }
    free(text);
    if (rc) trainlog_free(l);
    return rc;
}

/* ---- pretraining ------------------------------------------------------------------------- */

static int add_pretrain(scfm_report *r, const char *dir) {
    if (seen_before(r, dir)) return SCFM_OK;
    char *pj = join(dir, "pretrain.json"), *lj = join(dir, "log.jsonl");
    if (!pj || !lj) { free(pj), free(lj); return SCFM_ENOMEM; }
    scfm_json *j = read_json(pj);
    static const char *ecols[] = {"val_loss", "val_top1", "val_top10", "base_top1", "base_top10"};
    trainlog l;
    int rc = j ? read_log(lj, ecols, 5, &l) : SCFM_EFORMAT;
    free(pj), free(lj);
    if (rc) { scfm_json_free(j); return rc; }
    char id[64];
    section_open(r, "pretrain", ++r->n_pretrain, "Pretraining (masked-gene prediction)", dir, id, sizeof id);
    rbuf *b = &r->body;
    char key[96];
    rb_puts(b, "<table class=\"figs\">\n");
    size_t nt = l.tstep.n, ne = l.estep.n;
    snprintf(key, sizeof key, "%s.steps", id);
    fig_row(b, "steps logged up to", key, nt ? l.tstep.v[nt - 1] : NAN, "%.0f");
    snprintf(key, sizeof key, "%s.final_train_loss", id);
    fig_row(b, "last train loss", key, nt ? l.tloss.v[nt - 1] : NAN, "%.4f");
    static const char *elab[] = {"held-out loss", "held-out top-1 accuracy", "held-out top-10 accuracy",
                                 "baseline top-1 (most frequent gene per rank)", "baseline top-10"};
    for (int k = 0; k < 5; k++) {
        snprintf(key, sizeof key, "%s.final_%s", id, ecols[k]);
        fig_row(b, elab[k], key, ne ? l.e[k].v[ne - 1] : NAN, "%.4f");
    }
    rb_puts(b, "</table>\n");
    summary_row(r, id, "last train loss", "final_train_loss", nt ? l.tloss.v[nt - 1] : NAN, "%.4f");
    summary_row(r, id, "held-out masked-gene top-1", "final_val_top1", ne ? l.e[1].v[ne - 1] : NAN, "%.4f");
    char sid[80];
    rep_series ls[2] = {{"train loss", l.tstep.v, l.tloss.v, nt, 0}, {"held-out loss", l.estep.v, l.e[0].v, ne, 1}};
    snprintf(sid, sizeof sid, "%s-loss", id);
    svg_lines(b, sid, "masked-gene loss", "step", "cross-entropy", ls, 2);
    rep_series as[4] = {{"top-1", l.estep.v, l.e[1].v, ne, 1}, {"top-10", l.estep.v, l.e[2].v, ne, 1},
                        {"baseline top-1", l.estep.v, l.e[3].v, ne, 1}, {"baseline top-10", l.estep.v, l.e[4].v, ne, 1}};
    snprintf(sid, sizeof sid, "%s-accuracy", id);
    svg_lines(b, sid, "masked-gene accuracy (held-out cells)", "step", "accuracy", as, 4);
    if (ne) {
        rb_puts(b, "<table class=\"data evals\"><tr><th>step</th><th>held-out loss</th><th>top-1</th><th>top-10</th>"
                   "<th>baseline top-1</th><th>baseline top-10</th></tr>\n");
        for (size_t i = 0; i < ne; i++) {
            rb_printf(b, "<tr><td class=\"num\">%.0f</td>", l.estep.v[i]);
            for (int k = 0; k < 5; k++) { rb_puts(b, "<td class=\"num\">"); rb_num(b, l.e[k].v[i]); rb_puts(b, "</td>"); }
            rb_puts(b, "</tr>\n");
        }
        rb_puts(b, "</table>\n");
    }
    const scfm_json *corp = scfm_json_get(j, "corpora");
    if (corp && corp->type == SCFM_JSON_ARRAY) {
        rb_puts(b, "<h3>Corpora</h3><table class=\"data\"><tr><th>path</th><th>cells</th><th>tokens</th></tr>\n");
        for (size_t i = 0; i < corp->n; i++) {
            rb_puts(b, "<tr><td>");
            rb_esc(b, jstr(&corp->items[i], "path"));
            rb_printf(b, "</td><td class=\"num\">%.0f</td><td class=\"num\">%.0f</td></tr>\n", jnum(&corp->items[i], "n_cells"),
                      jnum(&corp->items[i], "n_tokens"));
        }
        rb_puts(b, "</table>\n");
    }
    settings_table(b, scfm_json_get(j, "training"));
    command_block(b, jstr(j, "command"));
    rb_puts(b, "</section>\n");
    /* the corpora it was trained on, when they are still there */
    for (size_t i = 0; !rc && corp && corp->type == SCFM_JSON_ARRAY && i < corp->n; i++) {
        const char *p = jstr(&corp->items[i], "path");
        if (p && is_dir(p) && has(p, "corpus.json")) rc = add_corpus(r, p);
    }
    trainlog_free(&l);
    scfm_json_free(j);
    return rc;
}

/* ---- fine-tuning ------------------------------------------------------------------------- */

/* confusion.tsv: header "true\\pred  c1 c2 ...", rows "label n n ..." -> m[k*k] */
static int read_confusion(const char *path, size_t k, double **out) {
    char *text = NULL;
    size_t len;
    int rc = scfm_read_file(path, &text, &len);
    if (rc) return rc;
    double *m = scfm_calloc(k > 0 ? k * k : 1, sizeof *m);
    if (!m) { free(text); return SCFM_ENOMEM; }
    char *p = strchr(text, '\n');
    size_t row = 0;
    while (!rc && p && *++p && row < k) {
        char *e = strchr(p, '\n');
        if (e) *e = 0;
        char *tab = strchr(p, '\t');
        for (size_t c = 0; c < k && !rc; c++) {
            if (!tab) { rc = scfm_error(SCFM_EFORMAT, "%s: row %zu has fewer than %zu counts", path, row + 1, k); break; }
            char *end;
            m[row * k + c] = strtod(tab + 1, &end);
            if (end == tab + 1) rc = scfm_error(SCFM_EFORMAT, "%s: row %zu column %zu is not a number", path, row + 1, c + 2);
            tab = strchr(tab + 1, '\t');
        }
        row++;
        p = e;
    }
    if (!rc && row != k) rc = scfm_error(SCFM_EFORMAT, "%s: %zu rows, metrics.json names %zu classes", path, row, k);
    free(text);
    if (rc) free(m);
    else *out = m;
    return rc;
}

static int add_finetune(scfm_report *r, const char *dir) {
    if (seen_before(r, dir)) return SCFM_OK;
    char *mj = join(dir, "metrics.json"), *cj = join(dir, "confusion.tsv"), *lj = join(dir, "log.jsonl");
    int rc = mj && cj && lj ? SCFM_OK : SCFM_ENOMEM;
    scfm_json *j = rc ? NULL : read_json(mj);
    if (!rc && !j) rc = SCFM_EFORMAT;
    const scfm_json *cls = j ? scfm_json_get(j, "classes") : NULL;
    if (!rc && (!cls || cls->type != SCFM_JSON_ARRAY))
        rc = scfm_error(SCFM_EFORMAT, "%s: no \"classes\" list (not a scfm finetune metrics.json)", mj);
    size_t k = rc ? 0 : cls->n;
    double *conf = NULL;
    if (!rc && is_file(cj)) rc = read_confusion(cj, k, &conf);
    static const char *ecols[] = {"val_loss", "val_accuracy", "val_macro_f1"};
    trainlog l;
    memset(&l, 0, sizeof l);
    if (!rc) rc = read_log(lj, ecols, 3, &l);
    free(mj), free(cj), free(lj);
    if (rc) { scfm_json_free(j); free(conf); return rc; }
    char id[64], key[128], sid[80];
    const char *label = jstr(j, "label");
    char title[256];
    snprintf(title, sizeof title, "Fine-tuning: %s classifier (%s)", jstr(j, "task") ? jstr(j, "task") : "cell", label ? label : "?");
    section_open(r, "finetune", ++r->n_finetune, title, dir, id, sizeof id);
    rbuf *b = &r->body;
    rb_puts(b, "<table class=\"figs\">\n");
    snprintf(key, sizeof key, "%s.accuracy", id);
    fig_row(b, "test accuracy", key, jnum(j, "accuracy"), "%.4f");
    snprintf(key, sizeof key, "%s.macro_f1", id);
    fig_row(b, "test macro-F1", key, jnum(j, "macro_f1"), "%.4f");
    static const char *ns[] = {"n_train", "n_val", "n_test", "n_excluded"};
    static const char *nl[] = {"training cells", "validation cells", "test cells", "excluded (unlabelled / dropped)"};
    for (int q = 0; q < 4; q++) {
        snprintf(key, sizeof key, "%s.%s", id, ns[q]);
        fig_row(b, nl[q], key, jnum(j, ns[q]), "%.0f");
    }
    const scfm_json *val = scfm_json_get(j, "validation");
    snprintf(key, sizeof key, "%s.val_macro_f1", id);
    fig_row(b, "best validation macro-F1", key, jnum(val, "macro_f1"), "%.4f");
    rb_puts(b, "</table>\n");
    summary_row(r, id, "test accuracy", "accuracy", jnum(j, "accuracy"), "%.4f");
    summary_row(r, id, "test macro-F1", "macro_f1", jnum(j, "macro_f1"), "%.4f");
    const scfm_json *pc = scfm_json_get(j, "per_class");
    rb_puts(b, "<h3>Per class (test cells)</h3>\n<table class=\"data perclass\"><tr><th>class</th><th>precision</th><th>recall</th>"
               "<th>F1</th><th>support</th></tr>\n");
    for (size_t c = 0; c < k; c++) {
        const char *name = cls->items[c].type == SCFM_JSON_STRING ? cls->items[c].string : "?";
        const scfm_json *e = pc ? scfm_json_get(pc, name) : NULL;
        rb_puts(b, "<tr><td>");
        rb_esc(b, name);
        rb_puts(b, "</td>");
        static const char *f[] = {"precision", "recall", "f1", "support"};
        for (int q = 0; q < 4; q++) {
            double v = jnum(e, f[q]);
            rb_printf(b, "<td class=\"num\" data-key=\"%s.class%zu.%s\" data-value=\"%.9g\">", id, c, f[q], v);
            if (v == v) rb_printf(b, q == 3 ? "%.0f" : "%.4f", v);
            rb_puts(b, "</td>");
        }
        rb_puts(b, "</tr>\n");
    }
    rb_puts(b, "</table>\n");
    if (conf) {
        const char **names = scfm_calloc(k ? k : 1, sizeof *names);
        if (names) {
            for (size_t c = 0; c < k; c++) names[c] = cls->items[c].type == SCFM_JSON_STRING ? cls->items[c].string : "?";
            rb_puts(b, "<h3>Confusion matrix (test cells)</h3>\n");
            snprintf(sid, sizeof sid, "%s-confusion", id);
            svg_confusion(b, sid, names, k, conf);
            free(names);
        }
    }
    if (l.tstep.n || l.estep.n) {
        rep_series ls[3] = {{"train loss", l.tstep.v, l.tloss.v, l.tstep.n, 0}, {"validation loss", l.estep.v, l.e[0].v, l.estep.n, 1}};
        snprintf(sid, sizeof sid, "%s-loss", id);
        svg_lines(b, sid, "fine-tuning loss", "step", "cross-entropy", ls, 2);
        rep_series vs[2] = {{"validation accuracy", l.estep.v, l.e[1].v, l.estep.n, 1},
                            {"validation macro-F1", l.estep.v, l.e[2].v, l.estep.n, 1}};
        if (l.estep.n) {
            snprintf(sid, sizeof sid, "%s-validation", id);
            svg_lines(b, sid, "validation", "step", "score", vs, 2);
        }
    }
    settings_table(b, scfm_json_get(j, "settings"));
    rb_puts(b, "<p>corpus: <code>");
    rb_esc(b, jstr(j, "corpus"));
    rb_puts(b, "</code>, model: <code>");
    rb_esc(b, jstr(j, "model"));
    rb_puts(b, "</code></p>\n");
    command_block(b, jstr(j, "command"));
    rb_puts(b, "</section>\n");
    free(conf);
    trainlog_free(&l);
    scfm_json_free(j);
    return SCFM_OK;
}

/* ---- embeddings -------------------------------------------------------------------------- */

static int cmp_count_desc(const void *a, const void *b, void *ud) {
    const size_t *cnt = ud;
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    if (cnt[x] != cnt[y]) return cnt[x] > cnt[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* Draws one obs column: groups by value (largest first), the rest as "other". */
static int map_column(scfm_report *r, const char *id, const scfm_emb_table *t, const size_t *idx, size_t m, const double *y,
                      size_t col) {
    const char **vals = scfm_calloc(m ? m : 1, sizeof *vals);
    size_t *code = scfm_calloc(m ? m : 1, sizeof *code), *cnt = scfm_calloc(m + 1, sizeof *cnt);
    size_t *ord = scfm_calloc(m + 1, sizeof *ord), *rank = scfm_calloc(m + 1, sizeof *rank), *grp = scfm_calloc(m ? m : 1, sizeof *grp);
    const char **names = scfm_calloc(r->o.max_groups + 1, sizeof *names);
    size_t *gcnt = scfm_calloc(r->o.max_groups + 1, sizeof *gcnt);
    int rc = vals && code && cnt && ord && rank && grp && names && gcnt ? SCFM_OK : SCFM_ENOMEM;
    size_t nv = 0;
    for (size_t i = 0; !rc && i < m; i++) { /* distinct values, first-seen order (linear scan; capped) */
        const char *v = t->obs[idx[i] * t->n_obs + col];
        size_t c = 0;
        while (c < nv && strcmp(vals[c], v)) c++;
        if (c == nv) {
            if (nv == r->o.max_obs_values) { nv++; break; }
            vals[nv++] = v;
        }
        code[i] = c;
        cnt[c]++;
    }
    if (!rc && nv > r->o.max_obs_values) {
        rb_printf(&r->body, "<p class=\"note\">obs column <b>");
        rb_esc(&r->body, t->obs_names[col]);
        rb_printf(&r->body, "</b>: more than %zu distinct values, not drawn.</p>\n", r->o.max_obs_values);
    } else if (!rc && nv >= 1) {
        for (size_t c = 0; c < nv; c++) ord[c] = c;
        qsort_r(ord, nv, sizeof *ord, cmp_count_desc, cnt);
        size_t G = r->o.max_groups ? r->o.max_groups : 1, ng = nv <= G ? nv : G;
        for (size_t q = 0; q < nv; q++) rank[ord[q]] = q < ng - (nv > G) ? q : ng - 1;
        for (size_t q = 0; q < ng; q++) names[q] = vals[ord[q]];
        if (nv > G) names[ng - 1] = "other";
        for (size_t i = 0; i < m; i++) { grp[i] = rank[code[i]]; gcnt[grp[i]]++; }
        char sid[160], title[300];
        snprintf(sid, sizeof sid, "%s-map-%zu", id, col);
        snprintf(title, sizeof title, "coloured by %s", t->obs_names[col]);
        svg_scatter(&r->body, sid, title, y, m, grp, names, gcnt, ng);
    }
    free(vals), free(code), free(cnt), free(ord), free(rank), free(grp), free(names), free(gcnt);
    return rc;
}

static int add_embedding(scfm_report *r, const char *path) {
    if (seen_before(r, path)) return SCFM_OK;
    scfm_emb_table t;
    int rc = scfm_emb_table_read(path, NULL, &t);
    if (rc) return rc;
    size_t *idx = NULL, m = 0;
    float *x = NULL;
    double *y = NULL, kl = NAN;
    rc = scfm_map_subsample(t.n, r->o.map_max_cells, r->o.seed, &idx, &m);
    if (!rc && !(x = scfm_emb_table_rows(&t, idx, m))) rc = SCFM_ENOMEM;
    if (!rc && !(y = scfm_malloc(2 * m * sizeof *y))) rc = SCFM_ENOMEM;
    if (!rc && (rc = scfm_embed_map(x, m, t.d, &r->o.map, y, &kl))) rc = scfm_error_prefix(rc, "%s", path);
    if (!rc) {
        char id[64], key[96];
        section_open(r, "embedding", ++r->n_embed, "Cell embeddings: 2-D map", path, id, sizeof id);
        rbuf *b = &r->body;
        rb_puts(b, "<table class=\"figs\">\n");
        snprintf(key, sizeof key, "%s.cells", id);
        fig_row(b, "cells in the file", key, (double)t.n, "%.0f");
        snprintf(key, sizeof key, "%s.cells_mapped", id);
        fig_row(b, "cells on the map (seeded subsample)", key, (double)m, "%.0f");
        snprintf(key, sizeof key, "%s.dims", id);
        fig_row(b, "embedding dimensions", key, (double)t.d, "%.0f");
        snprintf(key, sizeof key, "%s.kl", id);
        fig_row(b, "t-SNE KL divergence", key, kl, "%.4f");
        rb_puts(b, "</table>\n");
        size_t pd = r->o.map.pca_dims < t.d ? r->o.map.pca_dims : t.d;
        rb_printf(b, "<p class=\"method\">Map: PCA to %zu dimensions, then t-SNE (perplexity %g, %zu iterations, PCA "
                     "initialisation, seed %llu), computed by scfm in C.</p>\n",
                  pd, r->o.map.perplexity, r->o.map.n_iter, (unsigned long long)r->o.seed);
        summary_row(r, id, "cells on the 2-D map", "cells_mapped", (double)m, "%.0f");
        if (!t.n_obs) rb_puts(b, "<p class=\"note\">no obs columns: one colour.</p>\n");
        if (!t.n_obs) {
            size_t *g = scfm_calloc(m ? m : 1, sizeof *g), c = m;
            const char *nm[1] = {"cells"};
            char sid[80];
            snprintf(sid, sizeof sid, "%s-map", id);
            if (g) svg_scatter(b, sid, "cells", y, m, g, nm, &c, 1);
            free(g);
        }
        for (size_t k = 0; !rc && k < t.n_obs; k++) rc = map_column(r, id, &t, idx, m, y, k);
        char *cmd = sidecar_command(path);
        command_block(b, t.command ? t.command : cmd);
        free(cmd);
        rb_puts(b, "</section>\n");
    }
    free(idx), free(x), free(y);
    scfm_emb_table_free(&t);
    return rc;
}

/* ---- perturbation ------------------------------------------------------------------------ */

static const char *PERTURB_HEAD = "gene\ttoken_id\tname\t"; /* scfm perturb -o (not --shifts) */

static int add_perturb(scfm_report *r, const char *path) {
    if (seen_before(r, path)) return SCFM_OK;
    char *text = NULL;
    size_t len;
    int rc = scfm_read_file(path, &text, &len);
    if (rc) return rc;
    /* columns by name */
    char *line = text, *nl = strchr(line, '\n');
    if (nl) *nl = 0;
    enum { C_NAME, C_N, C_SHIFT, C_Z, C_P, C_FDR, C_SIG, NC };
    static const char *want[NC] = {"name", "n_cells", "mean_shift", "z", "p", "fdr", "significant"};
    long at[NC];
    for (int q = 0; q < NC; q++) at[q] = -1;
    long ncol = 0;
    for (char *f = line;; ncol++) {
        char *e = strchr(f, '\t');
        if (e) *e = 0;
        for (int q = 0; q < NC; q++)
            if (!strcmp(f, want[q])) at[q] = ncol;
        if (!e) { ncol++; break; }
        f = e + 1;
    }
    for (int q = 0; q < NC && !rc; q++)
        if (at[q] < 0) rc = scfm_error(SCFM_EFORMAT, "%s: no column '%s' (not a scfm perturb table)", path, want[q]);
    size_t cap = 64, n = 0, nsig = 0;
    char **names = NULL;
    double *v = NULL; /* n x 6 */
    if (!rc) {
        names = scfm_malloc(cap * sizeof *names);
        v = scfm_malloc(cap * 6 * sizeof *v);
        if (!names || !v) rc = SCFM_ENOMEM;
    }
    size_t lineno = 1;
    for (char *p = nl ? nl + 1 : NULL; !rc && p && *p;) {
        char *e = strchr(p, '\n');
        if (e) *e = 0;
        lineno++;
        if (*p) {
            if (n == cap) {
                cap *= 2;
                char **nn = realloc(names, cap * sizeof *nn);
                double *nv = nn ? realloc(v, cap * 6 * sizeof *nv) : NULL;
                if (nn) names = nn;
                if (!nv) { rc = SCFM_ENOMEM; break; }
                v = nv;
            }
            char *f = p;
            long c = 0;
            names[n] = NULL;
            for (int q = 0; q < 6; q++) v[n * 6 + q] = NAN;
            for (;; c++) {
                char *t = strchr(f, '\t');
                if (t) *t = 0;
                if (c == at[C_NAME]) names[n] = f;
                for (int q = C_N; q < NC; q++)
                    if (c == at[q]) {
                        char *end;
                        v[n * 6 + q - 1] = strtod(f, &end);
                        if (end == f || *end) rc = scfm_error(SCFM_EFORMAT, "%s: line %zu: %s '%s' is not a number", path, lineno, want[q], f);
                    }
                if (!t) break;
                f = t + 1;
            }
            if (!rc && c + 1 != ncol) rc = scfm_error(SCFM_EFORMAT, "%s: line %zu has %ld fields, the header %ld", path, lineno, c + 1, ncol);
            if (!rc) nsig += v[n * 6 + 5] == 1;
            n++;
        }
        p = e ? e + 1 : NULL;
    }
    if (!rc) {
        char id[64], key[96], sid[80];
        section_open(r, "perturb", ++r->n_perturb, "In-silico perturbation", path, id, sizeof id);
        rbuf *b = &r->body;
        rb_puts(b, "<table class=\"figs\">\n");
        snprintf(key, sizeof key, "%s.rows", id);
        fig_row(b, "genes (or sets) tested", key, (double)n, "%.0f");
        snprintf(key, sizeof key, "%s.significant", id);
        fig_row(b, "significant (FDR < 0.05)", key, (double)nsig, "%.0f");
        rb_puts(b, "</table>\n");
        summary_row(r, id, "genes tested", "rows", (double)n, "%.0f");
        summary_row(r, id, "significant (FDR < 0.05)", "significant", (double)nsig, "%.0f");
        size_t show = n < r->o.perturb_rows ? n : r->o.perturb_rows;
        const char **lab = scfm_calloc(show ? show : 1, sizeof *lab);
        double *sh = scfm_calloc(show ? show : 1, sizeof *sh);
        int *mk = scfm_calloc(show ? show : 1, sizeof *mk);
        if (lab && sh && mk && show) {
            for (size_t i = 0; i < show; i++) lab[i] = names[i] ? names[i] : "?", sh[i] = v[i * 6 + 1], mk[i] = v[i * 6 + 5] == 1;
            snprintf(sid, sizeof sid, "%s-shifts", id);
            svg_bars(b, sid, "mean shift per gene (red: FDR < 0.05), ranked by p", "mean shift", lab, sh, mk, show);
        }
        free(lab), free(sh), free(mk);
        rb_puts(b, "<table class=\"data ranking\"><tr><th>rank</th><th>gene</th><th>cells</th><th>mean shift</th><th>z</th><th>p</th>"
                   "<th>FDR</th><th>significant</th></tr>\n");
        for (size_t i = 0; i < show; i++) {
            rb_printf(b, "<tr><td class=\"num\">%zu</td><td data-key=\"%s.row%zu.name\">", i + 1, id, i);
            rb_esc(b, names[i]);
            rb_printf(b, "</td><td class=\"num\">%.0f</td>", v[i * 6]);
            static const char *f[] = {"mean_shift", "z", "p", "fdr"};
            for (int q = 0; q < 4; q++)
                rb_printf(b, "<td class=\"num\" data-key=\"%s.row%zu.%s\" data-value=\"%.9g\">%.3g</td>", id, i, f[q], v[i * 6 + 1 + q],
                          v[i * 6 + 1 + q]);
            rb_printf(b, "<td>%s</td></tr>\n", v[i * 6 + 5] == 1 ? "yes" : "no");
        }
        rb_puts(b, "</table>\n");
        if (show < n) rb_printf(b, "<p class=\"note\">%zu more rows in the file.</p>\n", n - show);
        char *cmd = sidecar_command(path);
        command_block(b, cmd);
        free(cmd);
        rb_puts(b, "</section>\n");
    }
    free(names), free(v), free(text);
    return rc;
}

/* ---- dispatch ---------------------------------------------------------------------------- */

/* kind of a file: 1 embedding, 2 perturb table, 0 neither */
static int file_kind(const char *path) {
    if (ends_with(path, ".h5ad") || (ends_with(path, ".npy") && !ends_with(path, ".obs.npy"))) return 1;
    if (!ends_with(path, ".tsv") || ends_with(path, ".obs.tsv")) return 0;
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char head[4096];
    size_t got = fread(head, 1, sizeof head - 1, f);
    fclose(f);
    head[got] = 0;
    char *e = strchr(head, '\n');
    if (e) *e = 0;
    if (!strncmp(head, PERTURB_HEAD, strlen(PERTURB_HEAD))) return 2;
    if (!strncmp(head, "cell_id\t", 8) && (strstr(head, "\t0\t") || ends_with(head, "\t0"))) return 1;
    return 0;
}

static int add_dir_part(scfm_report *r, const char *dir) {
    if (has(dir, "pretrain.json")) return add_pretrain(r, dir);
    if (has(dir, "metrics.json")) return add_finetune(r, dir);
    if (has(dir, "corpus.json")) return add_corpus(r, dir);
    return 1; /* not a part */
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int scfm_report_add(scfm_report *r, const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return scfm_error(SCFM_EIO, "%s: %s", path, strerror(errno));
    if (S_ISREG(st.st_mode)) {
        FILE *f = fopen(path, "rb");
        if (!f) return scfm_error(SCFM_EIO, "%s: cannot read: %s", path, strerror(errno));
        fclose(f);
        int k = file_kind(path);
        if (k == 1) return add_embedding(r, path);
        if (k == 2) return add_perturb(r, path);
        return scfm_error(SCFM_EFORMAT, "%s: not an scfm output (expected .h5ad/.npy/.tsv embeddings or a perturb .tsv)", path);
    }
    if (!S_ISDIR(st.st_mode)) return scfm_error(SCFM_EINVAL, "%s: not a file or folder", path);
    int rc = add_dir_part(r, path);
    if (rc <= 0) return rc;
    /* any other folder: its entries, one level deep, in name order */
    DIR *d = opendir(path);
    if (!d) return scfm_error(SCFM_EIO, "%s: cannot list: %s", path, strerror(errno));
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    rc = SCFM_OK;
    while ((e = readdir(d)) && !rc) {
        if (e->d_name[0] == '.') continue;
        char **nv = realloc(names, (n + 1) * sizeof *nv);
        if (!nv) { rc = SCFM_ENOMEM; break; }
        names = nv;
        if (!(names[n] = scfm_strdup(e->d_name))) rc = SCFM_ENOMEM;
        else n++;
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, cmp_str);
    size_t before = r->n_parts + r->n_seen;
    /* folders first (runs list their corpora), then files */
    for (int pass = 0; pass < 2 && !rc; pass++)
        for (size_t i = 0; i < n && !rc; i++) {
            char *p = join(path, names[i]);
            if (!p) { rc = SCFM_ENOMEM; break; }
            if (pass == 0 && is_dir(p)) {
                int q = add_dir_part(r, p);
                if (q < 0) rc = q;
            } else if (pass == 1 && is_file(p)) {
                int k = file_kind(p);
                if (k == 1) rc = add_embedding(r, p);
                else if (k == 2) rc = add_perturb(r, p);
            }
            free(p);
        }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    if (!rc && r->n_parts + r->n_seen == before)
        rc = scfm_error(SCFM_ENOTFOUND, "%s: no scfm output here (looked for pretrain.json, metrics.json, corpus.json, "
                                        ".h5ad/.npy/.tsv embeddings and perturb tables, one level deep)", path);
    return rc;
}

/* ---- page -------------------------------------------------------------------------------- */

static const char *CSS =
    "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
    "h1{border-bottom:2px solid #4c78a8}h2{margin-top:2em;border-bottom:1px solid #ccc}"
    "table{border-collapse:collapse;margin:0.5em 0}td,th{padding:2px 8px;text-align:left;font-size:13px}"
    "table.data td,table.data th{border:1px solid #ddd}td.num{text-align:right;font-variant-numeric:tabular-nums}"
    "table.figs th{font-weight:normal;color:#555}table.figs td{font-weight:bold}"
    ".path{color:#777;font-size:12px;font-family:monospace}pre.cmd{background:#f4f4f4;padding:6px;white-space:pre-wrap;"
    "font-size:12px}p.cmd-label{margin-bottom:0;color:#555;font-size:12px}.note{color:#a55}svg{display:block;margin:0.5em 0}"
    "table.kv td{font-family:monospace;font-size:12px}";

int scfm_report_write(const scfm_report *r, const char *out) {
    rbuf b = {0};
    rb_puts(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>");
    rb_esc(&b, r->title);
    rb_printf(&b, "</title><style>%s</style></head>\n<body>\n<h1>", CSS);
    rb_esc(&b, r->title);
    rb_printf(&b, "</h1>\n<p>Made by scfm %s from %zu part(s). One self-contained file: no scripts, no network.</p>\n",
              SCFM_VERSION, r->n_parts);
    rb_puts(&b, "<section id=\"summary\"><h2>Summary</h2>\n<table class=\"data\"><tr><th>part</th><th>figure</th><th>value</th></tr>\n");
    rb_puts(&b, r->summary.p ? r->summary.p : "");
    rb_puts(&b, "</table>\n<h3>Contents</h3><ul>\n");
    rb_puts(&b, r->toc.p ? r->toc.p : "");
    rb_puts(&b, "</ul></section>\n");
    rb_puts(&b, r->body.p ? r->body.p : "");
    if (r->command) {
        rb_puts(&b, "<footer><p class=\"cmd-label\">this report</p><pre class=\"cmd\">");
        rb_esc(&b, r->command);
        rb_puts(&b, "</pre></footer>\n");
    }
    rb_puts(&b, "</body></html>\n");
    int rc = b.oom || r->toc.oom || r->summary.oom || r->body.oom ? scfm_error(SCFM_ENOMEM, "%s: out of memory", out)
                                                                  : scfm_write_file_atomic(out, b.p, b.len);
    free(b.p);
    return rc;
}
