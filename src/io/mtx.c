/* 10x MatrixMarket directories: matrix.mtx[.gz] (genes x cells coordinate entries),
 * features.tsv[.gz] | genes.tsv[.gz], barcodes.tsv[.gz], optional labels.tsv -> obs "label".
 *
 * A file whose entries fit in the reader's memory budget (16 bytes per entry) is read once at
 * open: every line checked, the entries kept in file order (gene and value: 12 bytes; the cell
 * too from the first entry out of cell order on), then taken over as the cells' CSR when they
 * are ordered by cell, or placed by a counting sort when not (12 more bytes per entry during
 * the sort). A larger file is parsed twice: a first pass checks every line, counts
 * entries per cell and notes whether they are ordered by cell; ordered files are then streamed
 * chunk by chunk (memory: one counter per cell + the chunk), unordered ones transposed into an
 * in-memory CSR on the second pass (12 bytes per entry + 8 per cell). */
#include "io_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct {
    char mtx_path[4096];
    char genes_path[4096];   /* the gene list file (messages) */
    io_lines *lr;
    int pattern;
    size_t n_rows, n_cols, nnz;
    /* streaming: the next entry not yet delivered */
    int have_next;
    size_t next_row, next_col, n_read;
    double next_val;
    /* fast path: complete lines of the reader's buffer, [wbeg, wend); wcur = first unparsed,
     * wlines = lines parsed since wbeg (handed back to the reader by sync_window) */
    const char *wbeg, *wcur, *wend;
    size_t wlines;
    /* the previous line's column field (digits and the byte after them, as loaded little-endian)
     * and its value: in files ordered by cell most lines repeat it, and one 8-byte compare
     * replaces parsing it */
    uint64_t ccol_bytes, ccol_mask, ccol_val;
    size_t ccol_len;  /* digits; 0 = nothing cached */
    int in_memory;
    io_csr csr;
    io_strlist labels; /* obs "label", [n_cells] ("" when absent) */
} mtx_state;

static void mtx_close(void *p) {
    mtx_state *s = p;
    if (!s) return;
    io_lines_close(s->lr);
    io_csr_free(&s->csr);
    io_strlist_free(&s->labels);
    free(s);
}

/* ---- header -------------------------------------------------------------------------------- */
static int parse_banner(mtx_state *s, char *line) {
    char w[5][32];
    int n = sscanf(line, "%31s %31s %31s %31s %31s", w[0], w[1], w[2], w[3], w[4]);
    if (n < 1 || strcasecmp(w[0], "%%MatrixMarket") != 0)
        return scfm_error(SCFM_EFORMAT, "%s: not a MatrixMarket file (first line must start with %%%%MatrixMarket)",
                          s->mtx_path);
    if (n != 5 || strcasecmp(w[1], "matrix") != 0)
        return scfm_error(SCFM_EFORMAT, "%s: banner must be '%%%%MatrixMarket matrix coordinate <field> general'",
                          s->mtx_path);
    if (strcasecmp(w[2], "coordinate") != 0)
        return scfm_error(SCFM_EFORMAT, "%s: MatrixMarket format '%s' is not supported (need coordinate)",
                          s->mtx_path, w[2]);
    if (!strcasecmp(w[3], "pattern"))
        s->pattern = 1;
    else if (strcasecmp(w[3], "integer") && strcasecmp(w[3], "real") && strcasecmp(w[3], "double"))
        return scfm_error(SCFM_EFORMAT, "%s: MatrixMarket field '%s' is not supported (need integer, real or pattern)",
                          s->mtx_path, w[3]);
    if (strcasecmp(w[4], "general") != 0)
        return scfm_error(SCFM_EFORMAT, "%s: MatrixMarket symmetry '%s' is not supported for count data (need general)",
                          s->mtx_path, w[4]);
    return SCFM_OK;
}

static int parse_size_t(const char **p, size_t *out) {
    const char *q = *p;
    while (*q == ' ' || *q == '\t') q++;
    if (*q < '0' || *q > '9') return -1;
    size_t v = 0;
    for (; *q >= '0' && *q <= '9'; q++) {
        if (v > (SIZE_MAX - 9) / 10) return -1;
        v = v * 10 + (size_t)(*q - '0');
    }
    *p = q;
    *out = v;
    return 0;
}

static int at_end(const char *p) {
    while (*p == ' ' || *p == '\t') p++;
    return *p == '\0';
}

/* Reads banner, comments and the size line. */
static int read_header(mtx_state *s) {
    char *line;
    size_t len;
    int rc = io_lines_next(s->lr, &line, &len);
    if (rc < 0) return rc;
    if (rc == 0) return scfm_error(SCFM_EFORMAT, "%s: empty file", s->mtx_path);
    if ((rc = parse_banner(s, line))) return rc;
    while ((rc = io_lines_next(s->lr, &line, &len)) == 1)
        if (line[0] != '%' && !at_end(line)) break;
    if (rc < 0) return rc;
    if (rc == 0) return scfm_error(SCFM_EFORMAT, "%s: no size line after the header", s->mtx_path);
    const char *p = line;
    if (parse_size_t(&p, &s->n_rows) || parse_size_t(&p, &s->n_cols) || parse_size_t(&p, &s->nnz) || !at_end(p))
        return scfm_error(SCFM_EFORMAT, "%s: line %zu: bad size line '%.60s' (need: rows cols entries)", s->mtx_path,
                          io_lines_lineno(s->lr), line);
    return SCFM_OK;
}

/* ---- entries ------------------------------------------------------------------------------- */
static int parse_value(const char *p, double *v) {
    while (*p == ' ' || *p == '\t') p++;
    const char *q = p;
    double x = 0;
    while (*q >= '0' && *q <= '9') x = x * 10 + (*q++ - '0');
    if (q > p && q - p < 16 && at_end(q)) { *v = x; return 0; }
    char *end;
    errno = 0;
    x = strtod(p, &end);
    if (end == p || !at_end(end)) return -1;
    *v = x;
    return 0;
}

/* The common line shape "row col value" (single spaces, plain integers, no more than 15 digits
 * in the value, 18 in row/col): 1 and the parsed fields, which are then exactly what
 * parse_size_t/parse_value give; 0 for anything else (the caller takes the general path). */
static inline int fast_uint(const char **pp, uint64_t *out, int max_digits) {
    const unsigned char *q = (const unsigned char *)*pp, *start = q;
    uint64_t v = 0;
    for (;;) {
        const unsigned d = (unsigned)*q - '0';
        if (d > 9) break;
        v = v * 10 + d;
        q++;
    }
    const ptrdiff_t n = q - start;
    if (n == 0 || n > max_digits) return 0;
    *pp = (const char *)q;
    *out = v;
    return 1;
}

static inline int fast_entry(mtx_state *s, const char **pp, int pattern, size_t *i, size_t *j, double *val) {
    const char *p = *pp;
    uint64_t a, b, c;
    if (!fast_uint(&p, &a, 18) || *p++ != ' ') return 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t x;
    memcpy(&x, p, sizeof x); /* readable: IO_LINES_SLACK */
    if (s->ccol_len && ((x ^ s->ccol_bytes) & s->ccol_mask) == 0) {
        b = s->ccol_val;
        p += s->ccol_len;
    } else {
        const char *c0 = p;
        if (!fast_uint(&p, &b, 18)) return 0;
        size_t len = (size_t)(p - c0);
        s->ccol_len = 0;
        if (len <= 7) {
            s->ccol_mask = len == 7 ? ~(uint64_t)0 : ((uint64_t)1 << (8 * (len + 1))) - 1;
            s->ccol_bytes = x & s->ccol_mask;
            s->ccol_val = b;
            s->ccol_len = len;
        }
    }
#else
    (void)s;
    if (!fast_uint(&p, &b, 18)) return 0;
#endif
    if (!pattern && (*p++ != ' ' || !fast_uint(&p, &c, 15))) return 0;
    *val = pattern ? 1.0 : (double)c;
    *i = (size_t)a;
    *j = (size_t)b;
    *pp = p;
    return 1;
}

/* Hands the lines the fast path consumed back to the line reader and drops the window. */
static void sync_window(mtx_state *s) {
    if (s->wbeg && s->lr) io_lines_advance(s->lr, (size_t)(s->wcur - s->wbeg), s->wlines);
    s->wbeg = s->wcur = s->wend = NULL;
    s->wlines = 0;
}

/* One entry through the line reader (any line shape, all error messages). */
static int next_entry_slow(mtx_state *s, size_t *row, size_t *col, double *val) {
    char *line;
    size_t len;
    int rc;
    while ((rc = io_lines_next(s->lr, &line, &len)) == 1 && (line[0] == '%' || at_end(line))) {}
    if (rc <= 0) {
        if (rc == 0 && s->n_read != s->nnz)
            return scfm_error(SCFM_EFORMAT, "%s: file ends after %zu of the %zu entries the size line announces",
                              s->mtx_path, s->n_read, s->nnz);
        return rc;
    }
    if (s->n_read == s->nnz)
        return scfm_error(SCFM_EFORMAT, "%s: line %zu: more entries than the %zu the size line announces",
                          s->mtx_path, io_lines_lineno(s->lr), s->nnz);
    const char *p = line;
    size_t i = 0, j = 0;
    if (parse_size_t(&p, &i) || parse_size_t(&p, &j) || (s->pattern ? !at_end(p) : parse_value(p, val) != 0))
        return scfm_error(SCFM_EFORMAT, "%s: line %zu: bad entry '%.60s' (need: row col%s)", s->mtx_path,
                          io_lines_lineno(s->lr), line, s->pattern ? "" : " value");
    if (i < 1 || i > s->n_rows || j < 1 || j > s->n_cols)
        return scfm_error(SCFM_EFORMAT, "%s: line %zu: entry (%zu, %zu) outside the %zu x %zu matrix", s->mtx_path,
                          io_lines_lineno(s->lr), i, j, s->n_rows, s->n_cols);
    if (s->pattern) *val = 1.0;
    *row = i - 1;
    *col = j - 1;
    s->n_read++;
    return 1;
}

/* Parses the line at the window's cursor if it has the common shape and is a valid entry: 1 and
 * the 0-based entry, else 0 (nothing consumed). */
static inline int window_entry(mtx_state *s, size_t *row, size_t *col, double *val) {
    const char *p = s->wcur;
    size_t i, j;
    double v;
    if (!fast_entry(s, &p, s->pattern, &i, &j, &v) || *p != '\n' || s->n_read == s->nnz || i < 1 || i > s->n_rows ||
        j < 1 || j > s->n_cols)
        return 0;
    s->wcur = p + 1;
    s->wlines++;
    *val = v;
    *row = i - 1;
    *col = j - 1;
    s->n_read++;
    return 1;
}

/* next_entry when the window is used up or its next line is not of the common shape. */
static int next_entry_more(mtx_state *s, size_t *row, size_t *col, double *val) {
    if (s->wcur >= s->wend) {
        sync_window(s);
        const char *p;
        size_t n;
        int rc = io_lines_window(s->lr, &p, &n);
        if (rc) return rc;
        if (n) {
            s->wbeg = s->wcur = p;
            s->wend = p + n;
            if (window_entry(s, row, col, val)) return 1;
        }
    }
    sync_window(s);
    return next_entry_slow(s, row, col, val);
}

/* Next entry as 0-based (row, col) and value: 1 = entry, 0 = end, < 0 error. Lines of the
 * common shape are parsed straight from the reader's buffer; anything else (comments, blank
 * lines, other number formats, errors) goes through next_entry_slow, with identical results. */
static inline int next_entry(mtx_state *s, size_t *row, size_t *col, double *val) {
    if (s->wcur < s->wend && window_entry(s, row, col, val)) return 1;
    return next_entry_more(s, row, col, val);
}

/* Re-reads the file up to the first entry. */
static int restart(mtx_state *s) {
    sync_window(s);
    int rc = io_lines_rewind(s->lr);
    if (!rc) rc = read_header(s);
    s->n_read = 0;
    return rc;
}

/* Pass 1: validate every entry, count per cell, note order. */
static int scan(mtx_state *s, size_t *counts, int *sorted) {
    size_t row, col, last = 0;
    double v;
    int rc;
    *sorted = 1;
    while ((rc = next_entry(s, &row, &col, &v)) == 1) {
        if (col < last) *sorted = 0;
        last = col;
        counts[col]++;
    }
    return rc;
}

/* Pass 2 for unordered files: place entries into the CSR (counts become write cursors). */
static int transpose(mtx_state *s, size_t *counts) {
    int rc = io_csr_alloc(&s->csr, s->n_cols, counts);
    if (rc) return rc;
    for (size_t c = 0; c < s->n_cols; c++) counts[c] = s->csr.indptr[c];
    size_t row, col;
    double v;
    while ((rc = next_entry(s, &row, &col, &v)) == 1) {
        if (counts[col] >= s->csr.indptr[col + 1])
            return scfm_error(SCFM_EFORMAT, "%s: file changed while being read", s->mtx_path);
        s->csr.indices[counts[col]] = (uint32_t)row;
        s->csr.data[counts[col]++] = v;
    }
    return rc;
}

static int stream_read(scfm_reader *r, size_t first, size_t n, scfm_cells_chunk *ch) {
    mtx_state *s = r->st;
    if (s->in_memory) return io_csr_read(&s->csr, first, n, ch);
    size_t k = 0, cell = 0; /* cells [0, cell) of the chunk are closed */
    int rc;
    while (s->have_next && s->next_col < first + n) {
        if (s->next_col < first)
            return scfm_error(SCFM_EFORMAT, "%s: entries are no longer ordered by cell (file changed?)", s->mtx_path);
        while (cell < s->next_col - first) ch->indptr[++cell] = k;
        if ((rc = io_chunk_push(ch, k++, (uint32_t)s->next_row, s->next_val))) return rc;
        rc = next_entry(s, &s->next_row, &s->next_col, &s->next_val);
        if (rc < 0) return rc;
        s->have_next = rc;
    }
    while (cell < n) ch->indptr[++cell] = k;
    return SCFM_OK;
}

/* ---- side files ---------------------------------------------------------------------------- */
static int find_file(const char *dir, const char *const *names, char *out, size_t cap) {
    for (size_t i = 0; names[i]; i++) {
        if (io_path_join(out, cap, dir, names[i])) return SCFM_EINVAL;
        if (io_file_exists(out)) return SCFM_OK;
    }
    return SCFM_ENOTFOUND;
}

/* Column index for opts.gene_column: "id" (first), "name" (second), "feature_type", or 1-based number. */
static int gene_col(const char *path, const char *name, size_t *col) {
    long v;
    if (!name || !strcmp(name, "id")) *col = 0;
    else if (!strcmp(name, "name")) *col = 1;
    else if (!strcmp(name, "feature_type")) *col = 2;
    else if (scfm_parse_long(name, 1, 1000, &v) == SCFM_OK) *col = (size_t)v - 1;
    else
        return scfm_error(SCFM_EINVAL, "%s: gene column '%s' (need id, name, feature_type or a column number)", path,
                          name);
    return SCFM_OK;
}

static int read_genes(scfm_reader *r, const char *dir, const char *gene_column) {
    static const char *const names[] = {"features.tsv.gz", "features.tsv", "genes.tsv", "genes.tsv.gz", NULL};
    char p[4096];
    size_t col = 0, n_cols = 0;
    if (find_file(dir, names, p, sizeof p))
        return scfm_error(SCFM_ENOTFOUND, "%s: no features.tsv[.gz] or genes.tsv in the directory", dir);
    snprintf(((mtx_state *)r->st)->genes_path, sizeof ((mtx_state *)r->st)->genes_path, "%s", p);
    int rc = gene_col(p, gene_column, &col);
    if (rc) return rc;
    io_strlist first;
    if ((rc = io_read_tsv_column(p, 0, &first, &n_cols))) return rc;
    size_t n_first = first.n;
    io_strlist_free(&first);
    if (col >= n_cols && n_first)
        return scfm_error(SCFM_ENOTFOUND, "%s: gene column '%s' needs %zu columns but the file has %zu", p,
                          gene_column, col + 1, n_cols);
    return io_read_tsv_column(p, col, &r->genes, NULL);
}

static int read_barcodes(scfm_reader *r, const char *dir, char *p, size_t cap) {
    static const char *const names[] = {"barcodes.tsv.gz", "barcodes.tsv", NULL};
    if (find_file(dir, names, p, cap))
        return scfm_error(SCFM_ENOTFOUND, "%s: no barcodes.tsv[.gz] in the directory", dir);
    return io_read_tsv_column(p, 0, &r->cells, NULL);
}

/* labels.tsv: barcode<TAB>label lines, optional header; cells without a line get "". */
static int read_label_lines(const char *path, io_strlist *bc, io_strlist *lab) {
    io_lines *lr = io_lines_open(path);
    if (!lr) return SCFM_EIO;
    char *line;
    size_t len;
    int rc;
    while ((rc = io_lines_next(lr, &line, &len)) == 1) {
        if (!len) continue;
        char *tab = memchr(line, '\t', len);
        if (!tab) {
            rc = scfm_error(SCFM_EFORMAT, "%s: line %zu: need barcode<TAB>label", path, io_lines_lineno(lr));
            break;
        }
        char *end = memchr(tab + 1, '\t', len - (size_t)(tab + 1 - line));
        size_t ll = end ? (size_t)(end - tab - 1) : len - (size_t)(tab + 1 - line);
        if ((rc = io_strlist_push(bc, line, (size_t)(tab - line))) || (rc = io_strlist_push(lab, tab + 1, ll))) break;
    }
    io_lines_close(lr);
    if (!rc) rc = io_strlist_finish(bc);
    if (!rc) rc = io_strlist_finish(lab);
    return rc;
}

static int join_labels(scfm_reader *r, mtx_state *s, const char *path, const io_strlist *bc,
                       const io_strlist *lab) {
    scfm_strmap m;
    size_t *which = NULL, unknown = 0;
    int rc = scfm_strmap_init(&m, r->cells.n);
    for (size_t i = 0; !rc && i < r->cells.n; i++) rc = scfm_strmap_put(&m, r->cells.v[i], i) < 0 ? SCFM_ENOMEM : 0;
    if (!rc && !(which = scfm_malloc((r->n_cells ? r->n_cells : 1) * sizeof *which))) rc = SCFM_ENOMEM;
    for (size_t i = 0; !rc && i < r->n_cells; i++) which[i] = SIZE_MAX;
    for (size_t i = 0; !rc && i < bc->n; i++) {
        size_t c;
        if (scfm_strmap_get(&m, bc->v[i], &c)) which[c] = i;
        else if (i > 0) unknown++; /* line 1 not a barcode: a header */
    }
    if (unknown) scfm_log(SCFM_LOG_WARN, "%s: %zu labelled barcodes are not in barcodes.tsv (ignored)", path, unknown);
    for (size_t i = 0; !rc && i < r->n_cells; i++)
        rc = which[i] == SIZE_MAX ? io_strlist_push(&s->labels, "", 0)
                                  : io_strlist_push(&s->labels, lab->v[which[i]], strlen(lab->v[which[i]]));
    if (!rc) rc = io_strlist_finish(&s->labels);
    free(which);
    scfm_strmap_free(&m);
    return rc;
}

static int read_labels(scfm_reader *r, mtx_state *s, const char *dir) {
    static const char *const names[] = {"labels.tsv", "labels.tsv.gz", NULL};
    char p[4096];
    if (find_file(dir, names, p, sizeof p)) return SCFM_OK;
    io_strlist bc = {0}, lab = {0};
    int rc = read_label_lines(p, &bc, &lab);
    if (!rc) rc = join_labels(r, s, p, &bc, &lab);
    io_strlist_free(&bc);
    io_strlist_free(&lab);
    if (!rc) rc = io_strlist_push(&r->obs_names, "label", 5);
    return rc;
}

static int mtx_load_obs(scfm_reader *r, size_t i, io_strlist *out) {
    mtx_state *s = r->st;
    (void)i;
    int rc = SCFM_OK;
    memset(out, 0, sizeof *out);
    for (size_t c = 0; !rc && c < s->labels.n; c++) rc = io_strlist_push(out, s->labels.v[c], strlen(s->labels.v[c]));
    if (!rc) rc = io_strlist_finish(out);
    if (rc) io_strlist_free(out);
    return rc;
}

static const io_backend mtx_backend = {stream_read, mtx_load_obs, mtx_close};

/* ---- open ---------------------------------------------------------------------------------- */
static int check_sizes(const scfm_reader *r, const mtx_state *s, const char *bc_path) {
    if (s->n_rows != r->genes.n)
        return scfm_error(SCFM_EMISMATCH, "%s: the size line says %zu genes (rows) but %s has %zu lines",
                          s->mtx_path, s->n_rows, s->genes_path, r->genes.n);
    if (s->n_cols != r->cells.n)
        return scfm_error(SCFM_EMISMATCH, "%s: the size line says %zu cells (columns) but %s has %zu lines",
                          s->mtx_path, s->n_cols, bc_path, r->cells.n);
    if (s->n_rows > UINT32_MAX)
        return scfm_error(SCFM_EFORMAT, "%s: %zu genes is more than this reader supports", s->mtx_path, s->n_rows);
    return SCFM_OK;
}

/* The single pass for files within the memory budget (see the top of the file). */
/* Cells of entries [0, k) of a file ordered by cell so far, from the per-cell counts. */
static uint32_t *cols_of_prefix(const size_t *indptr, size_t n_cols, size_t k, size_t cap) {
    uint32_t *cols = scfm_malloc(cap * sizeof *cols);
    if (!cols) return NULL;
    size_t e = 0;
    for (size_t c = 0; c < n_cols && e < k; c++)
        for (size_t m = 0; m < indptr[c + 1] && e < k; m++) cols[e++] = (uint32_t)c;
    return cols;
}

static int load_in_memory(mtx_state *s) {
    size_t n = s->nnz ? s->nnz : 1, k = 0, last = 0, row, col;
    size_t *indptr = scfm_calloc(s->n_cols + 1, sizeof *indptr);
    uint32_t *rows = scfm_malloc(n * sizeof *rows), *cols = NULL; /* cols: only once out of order */
    double *vals = scfm_malloc(n * sizeof *vals), v;
    int sorted = 1, rc = SCFM_OK;
    if (!indptr || !rows || !vals) rc = SCFM_ENOMEM;
    /* next_entry checks every index and that there are exactly nnz entries */
    while (!rc && (rc = next_entry(s, &row, &col, &v)) == 1) {
        rc = SCFM_OK;
        if (col < last && sorted) {
            sorted = 0;
            if (!(cols = cols_of_prefix(indptr, s->n_cols, k, n))) { rc = SCFM_ENOMEM; break; }
        }
        if (!sorted) cols[k] = (uint32_t)col;
        rows[k] = (uint32_t)row;
        vals[k++] = v;
        last = col;
        indptr[col + 1]++;
    }
    if (!rc && sorted) { /* the entries are the CSR already: indptr[c + 1] counts become offsets */
        for (size_t c = 0; c < s->n_cols; c++) indptr[c + 1] += indptr[c];
        s->csr = (io_csr){s->n_cols, indptr, rows, vals};
        indptr = NULL;
        rows = NULL;
        vals = NULL;
    } else if (!rc) { /* counting sort by cell, as transpose() does on the two-pass path */
        scfm_log(SCFM_LOG_INFO, "%s: entries not ordered by cell: transposing %zu entries in memory", s->mtx_path,
                 s->nnz);
        size_t *cur = indptr + 1; /* per-cell counts, turned into write cursors */
        if (!(rc = io_csr_alloc(&s->csr, s->n_cols, cur))) {
            memcpy(cur, s->csr.indptr, s->n_cols * sizeof *cur);
            for (size_t e = 0; e < k; e++) {
                size_t at = cur[cols[e]]++;
                s->csr.indices[at] = rows[e];
                s->csr.data[at] = vals[e];
            }
        }
    }
    if (!rc) s->in_memory = 1;
    free(indptr);
    free(rows);
    free(cols);
    free(vals);
    sync_window(s);
    io_lines_close(s->lr);
    s->lr = NULL;
    return rc;
}

/* Reads the entries into memory in one pass when they fit in `budget_mib`, else scans them and
 * either positions the stream at the first entry or transposes. */
static int prepare_entries(mtx_state *s, size_t budget_mib) {
    if (budget_mib == 0) budget_mib = SCFM_READ_MEMORY_DEFAULT_MIB;
    const size_t budget_entries = budget_mib >= (SIZE_MAX >> 20) ? SIZE_MAX / 16 : (budget_mib << 20) / 16;
    if (budget_mib != SCFM_READ_STREAM && s->n_cols < UINT32_MAX && s->nnz <= budget_entries)
        return load_in_memory(s);
    size_t *counts = scfm_calloc(s->n_cols ? s->n_cols : 1, sizeof *counts);
    if (!counts) return SCFM_ENOMEM;
    int sorted, rc = scan(s, counts, &sorted);
    if (!rc) rc = restart(s);
    if (!rc && !sorted) {
        scfm_log(SCFM_LOG_INFO, "%s: entries not ordered by cell: transposing %zu entries in memory", s->mtx_path,
                 s->nnz);
        s->in_memory = 1;
        rc = transpose(s, counts);
        sync_window(s);
        io_lines_close(s->lr);
        s->lr = NULL;
    } else if (!rc) {
        rc = next_entry(s, &s->next_row, &s->next_col, &s->next_val);
        s->have_next = rc == 1;
        if (rc > 0) rc = 0;
    }
    free(counts);
    return rc;
}

int io_open_mtx(scfm_reader *r, const scfm_reader_opts *o) {
    static const char *const names[] = {"matrix.mtx.gz", "matrix.mtx", NULL};
    mtx_state *s = scfm_calloc(1, sizeof *s);
    if (!s) return SCFM_ENOMEM;
    r->st = s;
    r->be = &mtx_backend;
    char bc_path[4096];
    if (find_file(o->path, names, s->mtx_path, sizeof s->mtx_path))
        return scfm_error(SCFM_ENOTFOUND, "%s: no matrix.mtx.gz or matrix.mtx in the directory", o->path);
    int rc = read_genes(r, o->path, o->gene_column);
    if (!rc) rc = read_barcodes(r, o->path, bc_path, sizeof bc_path);
    if (!rc && !(s->lr = io_lines_open(s->mtx_path))) rc = SCFM_EIO;
    if (!rc) rc = read_header(s);
    if (!rc) rc = check_sizes(r, s, bc_path);
    if (rc) return rc;
    r->data_path = s->mtx_path;
    r->n_genes = s->n_rows;
    r->n_cells = s->n_cols;
    if ((rc = prepare_entries(s, o->read_memory_mib))) return rc;
    if ((rc = read_labels(r, s, o->path))) return rc;
    return io_strlist_finish(&r->obs_names);
}
