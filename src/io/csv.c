/* Dense CSV/TSV count tables (plain or gzip).
 *
 * Default orientation (csv_genes_in_rows = 0): a header row "<corner>,gene1,gene2,..." then one
 * row per cell "cell_id,v1,v2,...". With csv_genes_in_rows = 1: header "<corner>,cell1,..."
 * and one row per gene; that layout is transposed into memory at open. Fields may be quoted
 * with double quotes ("" inside quotes is a quote). Open validates every value (a bad number
 * is an error naming the file, line and column); cells-in-rows files are then streamed a
 * second time chunk by chunk. Empty lines are skipped. No obs columns. */
#include "io_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *file;
    io_lines *lr;
    char delim;
    int in_memory;
    io_csr csr;
    char **f; /* fields of the current line */
    size_t nf, cap;
} csv_state;

static void csv_close(void *p) {
    csv_state *s = p;
    if (!s) return;
    io_lines_close(s->lr);
    io_csr_free(&s->csr);
    free(s->f);
    free(s->file);
    free(s);
}

/* Splits line in place into s->f / s->nf (quotes removed). */
static int split(csv_state *s, char *line, size_t len) {
    s->nf = 0;
    char *p = line, *end = line + len;
    for (;;) {
        if (s->nf == s->cap) {
            size_t nc = s->cap ? s->cap * 2 : 64, b;
            if (scfm_mul_size(nc, sizeof *s->f, &b)) return scfm_error(SCFM_ENOMEM, "%s: too many columns", s->file);
            char **nf = scfm_realloc(s->f, b);
            if (!nf) return SCFM_ENOMEM;
            s->f = nf;
            s->cap = nc;
        }
        char *w = p;
        s->f[s->nf++] = w;
        if (p < end && *p == '"') {
            p++;
            for (;;) {
                if (p >= end)
                    return scfm_error(SCFM_EFORMAT, "%s: line %zu: unterminated quoted field", s->file,
                                      io_lines_lineno(s->lr));
                if (*p == '"') {
                    if (p + 1 < end && p[1] == '"') { *w++ = '"'; p += 2; continue; }
                    p++;
                    break;
                }
                *w++ = *p++;
            }
            if (p < end && *p != s->delim)
                return scfm_error(SCFM_EFORMAT, "%s: line %zu: text after a closing quote in column %zu", s->file,
                                  io_lines_lineno(s->lr), s->nf);
        } else {
            while (p < end && *p != s->delim) *w++ = *p++;
        }
        int more = p < end;
        *w = '\0';
        if (!more) break;
        p++; /* delimiter */
    }
    return SCFM_OK;
}

static int parse_num(csv_state *s, size_t col, double *v) {
    const char *p = s->f[col];
    while (*p == ' ') p++;
    const char *q = p;
    double x = 0;
    while (*q >= '0' && *q <= '9') x = x * 10 + (*q++ - '0');
    if (q > p && q - p < 16 && *q == '\0') { *v = x; return SCFM_OK; }
    char *e;
    errno = 0;
    x = strtod(p, &e);
    while (e && *e == ' ') e++;
    if (e == p || *e != '\0')
        return scfm_error(SCFM_EFORMAT, "%s: line %zu, column %zu: '%.40s' is not a number", s->file,
                          io_lines_lineno(s->lr), col + 1, s->f[col]);
    *v = x;
    return SCFM_OK;
}

/* Next non-empty line split into fields: 1, 0 at end, < 0 error. */
static int next_row(csv_state *s) {
    char *line;
    size_t len;
    int rc;
    while ((rc = io_lines_next(s->lr, &line, &len)) == 1 && len == 0) {}
    if (rc <= 0) return rc;
    rc = split(s, line, len);
    return rc ? rc : 1;
}

static int check_width(csv_state *s, size_t want) {
    if (s->nf != want)
        return scfm_error(SCFM_EFORMAT, "%s: line %zu has %zu columns, the header has %zu", s->file,
                          io_lines_lineno(s->lr), s->nf, want);
    return SCFM_OK;
}

static int read_header(csv_state *s, io_strlist *names) {
    int rc = next_row(s);
    if (rc < 0) return rc;
    if (rc == 0) return scfm_error(SCFM_EFORMAT, "%s: empty file (no header line)", s->file);
    if (s->nf < 2) return scfm_error(SCFM_EFORMAT, "%s: the header line has no columns after the first", s->file);
    if (names) {
        for (size_t i = 1; i < s->nf; i++) {
            if (!s->f[i][0]) /* also stops a header of nothing but delimiters from being taken as names */
                return scfm_error(SCFM_EFORMAT, "%s: header column %zu is empty (every column needs a name)", s->file,
                                  i + 1);
            if ((rc = io_strlist_push(names, s->f[i], strlen(s->f[i])))) return rc;
        }
        return io_strlist_finish(names);
    }
    return SCFM_OK;
}

static int csv_read(scfm_reader *r, size_t first, size_t n, scfm_cells_chunk *ch) {
    csv_state *s = r->st;
    if (s->in_memory) return io_csr_read(&s->csr, first, n, ch);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int rc = next_row(s);
        if (rc == 0) rc = scfm_error(SCFM_EFORMAT, "%s: file shorter than at open (changed?)", s->file);
        if (rc < 0) return rc;
        if ((rc = check_width(s, r->n_genes + 1))) return rc;
        ch->indptr[i] = k;
        for (size_t j = 0; j < r->n_genes; j++) {
            double v;
            if ((rc = parse_num(s, j + 1, &v))) return rc;
            if (v != 0 && (rc = io_chunk_push(ch, k++, (uint32_t)j, v))) return rc;
        }
    }
    ch->indptr[n] = k;
    return SCFM_OK;
}

static int csv_load_obs(scfm_reader *r, size_t i, io_strlist *out) {
    (void)i;
    (void)out;
    return scfm_error(SCFM_ENOTFOUND, "%s: csv/tsv tables have no obs columns", r->path);
}

static const io_backend csv_backend = {csv_read, csv_load_obs, csv_close};

/* Cells in rows: validate everything, collect cell ids, then rewind to the first data row. */
static int open_cells_rows(scfm_reader *r, csv_state *s) {
    int rc = read_header(s, &r->genes);
    if (rc) return rc;
    r->n_genes = r->genes.n;
    while ((rc = next_row(s)) == 1) {
        if ((rc = check_width(s, r->n_genes + 1))) return rc;
        for (size_t j = 1; j < s->nf; j++) {
            double v;
            if ((rc = parse_num(s, j, &v))) return rc;
        }
        if ((rc = io_strlist_push(&r->cells, s->f[0], strlen(s->f[0])))) return rc;
    }
    if (rc < 0) return rc;
    if ((rc = io_strlist_finish(&r->cells))) return rc;
    r->n_cells = r->cells.n;
    if (!r->n_cells) return scfm_error(SCFM_EFORMAT, "%s: no data rows after the header (0 cells)", s->file);
    if ((rc = io_lines_rewind(s->lr))) return rc;
    return read_header(s, NULL);
}

/* Genes in rows: count non-zeros per cell, then place them in an in-memory CSR. */
static int open_genes_rows(scfm_reader *r, csv_state *s) {
    int rc = read_header(s, &r->cells);
    if (rc) return rc;
    r->n_cells = r->cells.n;
    size_t *counts = scfm_calloc(r->n_cells ? r->n_cells : 1, sizeof *counts);
    if (!counts) return SCFM_ENOMEM;
    while ((rc = next_row(s)) == 1) {
        if ((rc = check_width(s, r->n_cells + 1))) break;
        for (size_t j = 1; !rc && j < s->nf; j++) {
            double v;
            if (!(rc = parse_num(s, j, &v)) && v != 0) counts[j - 1]++;
        }
        if (!rc) rc = io_strlist_push(&r->genes, s->f[0], strlen(s->f[0]));
        if (rc) break;
    }
    if (!rc) rc = io_strlist_finish(&r->genes);
    r->n_genes = r->genes.n;
    if (!rc && !r->n_genes) rc = scfm_error(SCFM_EFORMAT, "%s: no data rows after the header (0 genes)", s->file);
    if (!rc && r->n_genes > UINT32_MAX)
        rc = scfm_error(SCFM_EFORMAT, "%s: %zu genes is more than this reader supports", s->file, r->n_genes);
    if (!rc) rc = io_csr_alloc(&s->csr, r->n_cells, counts);
    if (!rc) {
        for (size_t c = 0; c < r->n_cells; c++) counts[c] = s->csr.indptr[c];
        rc = io_lines_rewind(s->lr);
    }
    if (!rc) rc = read_header(s, NULL);
    for (uint32_t g = 0; !rc && g < r->n_genes; g++) {
        rc = next_row(s);
        if (rc == 0) rc = scfm_error(SCFM_EFORMAT, "%s: file changed while being read", s->file);
        if (rc < 0) break;
        rc = check_width(s, r->n_cells + 1);
        for (size_t j = 1; !rc && j < s->nf; j++) {
            double v;
            if ((rc = parse_num(s, j, &v)) || v == 0) continue;
            if (counts[j - 1] >= s->csr.indptr[j]) {
                rc = scfm_error(SCFM_EFORMAT, "%s: file changed while being read", s->file);
                break;
            }
            s->csr.indices[counts[j - 1]] = g;
            s->csr.data[counts[j - 1]++] = v;
        }
    }
    free(counts);
    s->in_memory = 1;
    io_lines_close(s->lr);
    s->lr = NULL;
    return rc;
}

int io_open_csv(scfm_reader *r, const scfm_reader_opts *o, char delim) {
    csv_state *s = scfm_calloc(1, sizeof *s);
    if (!s) return SCFM_ENOMEM;
    r->st = s;
    r->be = &csv_backend;
    s->delim = delim;
    if (!(s->file = scfm_strdup(o->path))) return SCFM_ENOMEM;
    if (!(s->lr = io_lines_open(o->path))) return SCFM_EIO;
    int rc = o->csv_genes_in_rows ? open_genes_rows(r, s) : open_cells_rows(r, s);
    if (rc) return rc;
    return io_strlist_finish(&r->obs_names);
}
