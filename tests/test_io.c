/* Count-matrix readers: every layout of tests/fixtures/io (written by
 * scripts/make_io_fixtures.py from 30 real pbmc4k cells x 50 genes) must give the matrix numpy
 * computed (expected_matrix.txt), the same genes/cells/obs, and chunks with the same
 * boundaries; corrupt inputs must fail with messages naming the file and the problem. */
#include "scfm/io.h"
#include "testutil.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FX "tests/fixtures/io/"
#define NC 30
#define NG 50

static double want[NC][NG];
static char *genes[NG], *ids[NG], *cells[NC];
static char *obs_names[16], *obs_vals[16][NC];
static size_t n_obs_cols;

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "cannot open %s\n", path); exit(2); }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) { fprintf(stderr, "cannot read %s\n", path); exit(2); }
    b[n] = '\0';
    fclose(f);
    return b;
}

/* Lines of a file into out (at most max); returns the count. Lines keep empty strings. */
static size_t read_lines(const char *path, char **out, size_t max) {
    char *b = slurp(path), *p = b;
    size_t n = 0;
    while (*p && n < max) {
        char *e = strchr(p, '\n');
        if (e) *e = '\0';
        out[n++] = p;
        if (!e) break;
        p = e + 1;
    }
    return n;
}

static void load_expected(void) {
    char *b = slurp(FX "expected_matrix.txt"), *p = b;
    for (int i = 0; i < NC; i++)
        for (int j = 0; j < NG; j++) want[i][j] = strtod(p, &p);
    free(b);
    if (read_lines(FX "expected_genes.txt", genes, NG) != NG) { fprintf(stderr, "bad genes\n"); exit(2); }
    if (read_lines(FX "expected_ids.txt", ids, NG) != NG) { fprintf(stderr, "bad ids\n"); exit(2); }
    if (read_lines(FX "expected_cells.txt", cells, NC) != NC) { fprintf(stderr, "bad cells\n"); exit(2); }
    char *rows[16];
    n_obs_cols = read_lines(FX "expected_obs.tsv", rows, 16);
    for (size_t k = 0; k < n_obs_cols; k++) {
        char *q = rows[k];
        char *t = strchr(q, '\t');
        *t = '\0';
        obs_names[k] = q;
        q = t + 1;
        for (int i = 0; i < NC; i++) {
            t = strchr(q, '\t');
            if (t) *t = '\0';
            obs_vals[k][i] = q;
            q = t ? t + 1 : q + strlen(q);
        }
    }
}

static const char *const *expected_obs(const char *name) {
    for (size_t k = 0; k < n_obs_cols; k++)
        if (!strcmp(obs_names[k], name)) return (const char *const *)obs_vals[k];
    return NULL;
}

typedef struct {
    const char *path, *format, *matrix, *gene_column;
    int genes_in_rows;
    double scale;
    int gene_ids;          /* 1: expect Ensembl ids, 0: symbols */
    int has_cells;
    const char *obs;       /* comma-separated obs columns to check against expected_obs.tsv */
    const char *fmt_name;  /* expected scfm_reader_format */
    size_t read_memory_mib; /* mtx: 0 = default (read into memory), SCFM_READ_STREAM = two passes */
} layout;

/* Reads a layout with chunk_cells = 7 and compares everything. */
static inline int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

static inline int needs_hdf5(const char *path) {
    return ends_with(path, ".h5ad") || ends_with(path, ".h5") || ends_with(path, ".loom");
}

static void check_layout(const layout *L) {
    scfm_reader_opts o = {0};
#ifndef SCFM_HAVE_HDF5
    if (needs_hdf5(L->path)) { /* built without HDF5: a clear error instead */
        o.path = L->path;
        scfm_reader *r = scfm_reader_open(&o);
        CHECK(!r && strstr(scfm_last_error(), "without HDF5") && strstr(scfm_last_error(), L->path),
              "%s: expected a 'built without HDF5' error: %s", L->path, scfm_last_error());
        scfm_reader_close(r);
        return;
    }
#endif
    o.path = L->path;
    o.format = L->format;
    o.matrix = L->matrix;
    o.gene_column = L->gene_column;
    o.csv_genes_in_rows = L->genes_in_rows;
    o.chunk_cells = 7;
    o.read_memory_mib = L->read_memory_mib;
    char what[256];
    snprintf(what, sizeof what, "%s [%s%s%s%s]", L->path, L->matrix ? L->matrix : "",
             L->gene_column ? " gene_column=" : "", L->gene_column ? L->gene_column : "",
             L->read_memory_mib == SCFM_READ_STREAM ? " streamed" : "");
    scfm_reader *r = scfm_reader_open(&o);
    CHECK(r != NULL, "%s: open failed: %s", what, scfm_last_error());
    if (!r) return;
    CHECK(!strcmp(scfm_reader_format(r), L->fmt_name), "%s: format %s", what, scfm_reader_format(r));
    CHECK(scfm_reader_n_cells(r) == NC, "%s: %zu cells", what, scfm_reader_n_cells(r));
    CHECK(scfm_reader_n_genes(r) == NG, "%s: %zu genes", what, scfm_reader_n_genes(r));
    if (scfm_reader_n_cells(r) != NC || scfm_reader_n_genes(r) != NG) { scfm_reader_close(r); return; }
    const char *const *g = scfm_reader_genes(r);
    int gene_ok = 1;
    for (int j = 0; j < NG; j++) gene_ok &= !strcmp(g[j], L->gene_ids ? ids[j] : genes[j]);
    CHECK(gene_ok, "%s: gene names differ (first: got %s want %s)", what, g[0], L->gene_ids ? ids[0] : genes[0]);
    const char *const *c = scfm_reader_cell_ids(r);
    if (L->has_cells) {
        int cell_ok = c != NULL;
        for (int i = 0; cell_ok && i < NC; i++) cell_ok &= !strcmp(c[i], cells[i]);
        CHECK(cell_ok, "%s: cell ids differ", what);
    }
    /* obs */
    const char *names[16];
    size_t n_sel = 0;
    char obs_buf[256];
    if (L->obs) {
        snprintf(obs_buf, sizeof obs_buf, "%s", L->obs);
        for (char *t = strtok(obs_buf, ","); t && n_sel < 16; t = strtok(NULL, ",")) names[n_sel++] = t;
    }
    int rc = scfm_reader_select_obs(r, names, n_sel);
    CHECK(rc == 0, "%s: select obs: %s", what, scfm_last_error());
    scfm_cells_chunk ch = {0};
    double got[NC][NG];
    memset(got, 0, sizeof got);
    size_t next = 0, n_chunks = 0;
    int obs_bad = 0, struct_bad = 0;
    while ((rc = scfm_reader_next(r, &ch)) == 1) {
        n_chunks++;
        size_t want_n = NC - next < 7 ? NC - next : 7;
        if (ch.first_cell != next || ch.n_cells != want_n) struct_bad++;
        for (size_t i = 0; i < ch.n_cells && ch.first_cell + i < NC; i++) {
            int seen[NG] = {0};
            for (size_t k = ch.indptr[i]; k < ch.indptr[i + 1]; k++) {
                if (ch.indices[k] >= NG || seen[ch.indices[k]] || ch.data[k] == 0) { struct_bad++; continue; }
                seen[ch.indices[k]] = 1;
                got[ch.first_cell + i][ch.indices[k]] = ch.data[k];
            }
            for (size_t k = 0; k < n_sel; k++) {
                const char *const *e = expected_obs(names[k]);
                const char *v = ch.obs[i * ch.n_obs + k];
                if (!e) { obs_bad++; continue; }
                if (strcmp(v, e[ch.first_cell + i])) {
                    if (!obs_bad) fprintf(stderr, "  %s: obs %s cell %zu: got '%s' want '%s'\n", what, names[k],
                                          ch.first_cell + i, v, e[ch.first_cell + i]);
                    obs_bad++;
                }
            }
        }
        next += ch.n_cells;
    }
    CHECK(rc == 0, "%s: next: %s", what, scfm_last_error());
    CHECK(next == NC && n_chunks == (NC + 6) / 7, "%s: %zu cells in %zu chunks", what, next, n_chunks);
    CHECK(!struct_bad, "%s: %d chunk structure problems (boundaries, indices, duplicates, zeros)", what, struct_bad);
    CHECK(!obs_bad, "%s: %d obs values differ", what, obs_bad);
    int bad = 0;
    for (int i = 0; i < NC; i++)
        for (int j = 0; j < NG; j++)
            if (got[i][j] != L->scale * want[i][j]) {
                if (!bad) fprintf(stderr, "  %s: [%d][%d] got %g want %g\n", what, i, j, got[i][j], L->scale * want[i][j]);
                bad++;
            }
    CHECK(!bad, "%s: %d matrix values differ", what, bad);
    scfm_cells_chunk_free(&ch);
    scfm_reader_close(r);
}

static const char *ALL_OBS = "label,n_counts,n_genes,filter_pass,note,score,flag,nint";

static void test_layouts(void) {
    const layout L[] = {
        {FX "csr.h5ad", NULL, NULL, NULL, 0, 1, 0, 1, ALL_OBS, "h5ad", 0},
        {FX "csc.h5ad", NULL, NULL, NULL, 0, 1, 0, 1, ALL_OBS, "h5ad", 0},
        {FX "dense_layers.h5ad", NULL, NULL, NULL, 0, 2, 0, 1, ALL_OBS, "h5ad", 0},
        {FX "dense_layers.h5ad", NULL, "X", "ensembl_id", 0, 2, 1, 1, "label", "h5ad", 0},
        {FX "dense_layers.h5ad", NULL, "layers/counts", NULL, 0, 1, 0, 1, "n_genes", "h5ad", 0},
        {FX "dense_layers.h5ad", NULL, "counts", NULL, 0, 1, 0, 1, NULL, "h5ad", 0},
        {FX "dense_layers.h5ad", NULL, "raw/X", "ensembl_id", 0, 3, 1, 1, NULL, "h5ad", 0},
        {FX "anndata07.h5ad", NULL, NULL, NULL, 0, 1, 0, 1, "label,n_counts", "h5ad", 0},
        {FX "legacy.h5ad", NULL, NULL, NULL, 0, 1, 0, 1, "label,n_counts", "h5ad", 0},
        {FX "tenx_v3.h5", NULL, NULL, NULL, 0, 1, 1, 1, NULL, "10x-h5", 0},
        {FX "tenx_v3.h5", NULL, NULL, "name", 0, 1, 0, 1, NULL, "10x-h5", 0},
        {FX "tenx_v2.h5", "10x-h5", NULL, NULL, 0, 1, 1, 1, NULL, "10x-h5", 0},
        {FX "tenx_v2.h5", NULL, NULL, "name", 0, 1, 0, 1, NULL, "10x-h5", 0},
        {FX "cells.loom", NULL, NULL, NULL, 0, 1, 1, 1, "label,n_counts,filter_pass", "loom", 0},
        {FX "cells.loom", NULL, NULL, "Gene", 0, 1, 0, 1, NULL, "loom", 0},
        {FX "cells.loom", NULL, "double", "Gene", 0, 2, 0, 1, NULL, "loom", 0},
        {FX "mtx_gz", NULL, NULL, NULL, 0, 1, 1, 1, NULL, "mtx", 0},
        {FX "mtx_gz", NULL, NULL, "name", 0, 1, 0, 1, NULL, "mtx", 0},
        {FX "mtx_plain", NULL, NULL, NULL, 0, 1, 0, 1, NULL, "mtx", 0},
        /* the two-pass path (files beyond the memory budget): sorted (gz) and unsorted (plain) */
        {FX "mtx_gz", NULL, NULL, NULL, 0, 1, 1, 1, NULL, "mtx", SCFM_READ_STREAM},
        {FX "mtx_plain", NULL, NULL, NULL, 0, 1, 0, 1, NULL, "mtx", SCFM_READ_STREAM},
        {FX "cells_rows.csv", NULL, NULL, NULL, 0, 1, 0, 1, NULL, "csv", 0},
        {FX "genes_rows.tsv", NULL, NULL, NULL, 1, 1, 0, 1, NULL, "tsv", 0},
    };
    for (size_t i = 0; i < sizeof L / sizeof L[0]; i++) check_layout(&L[i]);
}

/* Labels check against expected_labels.txt for the mtx side file too (cell 5 has no line). */
static void test_obs_available(void) {
    scfm_reader_opts o = {0};
#ifndef SCFM_HAVE_HDF5
    return;
#endif
    o.path = FX "csr.h5ad";
    scfm_reader *r = scfm_reader_open(&o);
    CHECK(r != NULL, "open csr.h5ad: %s", scfm_last_error());
    if (!r) return;
    CHECK(scfm_reader_n_obs_available(r) == n_obs_cols, "csr.h5ad: %zu obs columns, want %zu",
          scfm_reader_n_obs_available(r), n_obs_cols);
    for (size_t k = 0; k < n_obs_cols && k < scfm_reader_n_obs_available(r); k++)
        CHECK(!strcmp(scfm_reader_obs_available(r, k), obs_names[k]), "obs column %zu: %s", k,
              scfm_reader_obs_available(r, k));
    const char *nope = "nope";
    CHECK(scfm_reader_select_obs(r, &nope, 1) == SCFM_ENOTFOUND && strstr(scfm_last_error(), "nope"),
          "unknown obs column: %s", scfm_last_error());
    scfm_reader_close(r);
}

/* Opens (and reads to the end) expecting failure code `code` with `needle` in the message. */
static void expect_fail(const char *path, const char *format, const char *matrix, const char *gene_column,
                        int genes_in_rows, const char *genome, int code, const char *needle) {
    scfm_reader_opts o = {0};
    o.path = path;
    o.format = format;
    o.matrix = matrix;
    o.gene_column = gene_column;
    o.csv_genes_in_rows = genes_in_rows;
    o.genome = genome;
    o.chunk_cells = 2;
    scfm_clear_error();
    scfm_reader *r = scfm_reader_open(&o);
    int rc = 0;
    if (r) {
        scfm_cells_chunk ch = {0};
        while ((rc = scfm_reader_next(r, &ch)) == 1) {}
        scfm_cells_chunk_free(&ch);
        scfm_reader_close(r);
    } else {
        rc = -1;
    }
    const char *msg = scfm_last_error();
#ifndef SCFM_HAVE_HDF5
    if (needs_hdf5(path) || (format && strcmp(format, "csv") && strcmp(format, "tsv"))) {
        CHECK(rc < 0 && strstr(msg, "without HDF5"), "%s: expected a 'built without HDF5' error: %s", path, msg);
        return;
    }
#endif
    if (getenv("SCFM_TEST_VERBOSE")) fprintf(stderr, "  expected failure: %s\n", msg);
    CHECK(rc < 0, "%s: expected a failure", path);
    if (rc >= 0) return;
    int code_ok = 1;
    if (code && r) code_ok = rc == code;
    CHECK(code_ok, "%s: got code %d want %d (%s)", path, rc, code, msg);
    CHECK(strstr(msg, path) != NULL, "%s: message does not name the file: %s", path, msg);
    CHECK(!needle || strstr(msg, needle) != NULL, "%s: message lacks '%s': %s", path, needle, msg);
}

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n) { fprintf(stderr, "cannot write %s\n", path); exit(2); }
    fclose(f);
}

static void test_bad_inputs(void) {
    char dir[] = "/tmp/scfm_test_io_XXXXXX";
    if (!mkdtemp(dir)) { CHECK(0, "mkdtemp"); return; }
    char p[512];
    /* truncated h5ad: first half of a valid file */
    {
        FILE *f = fopen(FX "csr.h5ad", "rb");
        char *buf = malloc(1 << 20);
        size_t n = f ? fread(buf, 1, 1 << 20, f) : 0;
        if (f) fclose(f);
        snprintf(p, sizeof p, "%s/truncated.h5ad", dir);
        write_file(p, buf, n / 2);
        expect_fail(p, NULL, NULL, NULL, 0, NULL, 0, "not an HDF5 file or corrupt");
        snprintf(p, sizeof p, "%s/truncated.loom", dir);
        write_file(p, buf, n / 2);
        expect_fail(p, NULL, NULL, NULL, 0, NULL, 0, "not an HDF5 file or corrupt");
        free(buf);
    }
    /* empty files */
    snprintf(p, sizeof p, "%s/empty.h5ad", dir);
    write_file(p, "", 0);
    expect_fail(p, NULL, NULL, NULL, 0, NULL, 0, "not an HDF5 file or corrupt");
    snprintf(p, sizeof p, "%s/empty.h5", dir);
    write_file(p, "", 0);
    expect_fail(p, NULL, NULL, NULL, 0, NULL, 0, "not an HDF5 file or corrupt");
    snprintf(p, sizeof p, "%s/empty.csv", dir);
    write_file(p, "", 0);
    expect_fail(p, NULL, NULL, NULL, 0, NULL, 0, "empty");
    /* a text file named .h5ad */
    snprintf(p, sizeof p, "%s/text.h5ad", dir);
    write_file(p, "hello\n", 6);
    expect_fail(p, NULL, NULL, NULL, 0, NULL, 0, "not an HDF5 file or corrupt");
    /* csv: ragged row, unterminated quote */
    snprintf(p, sizeof p, "%s/ragged.csv", dir);
    write_file(p, ",A,B\nc0,1,2\nc1,3\n", 17);
    expect_fail(p, NULL, NULL, NULL, 0, NULL, 0, "line 3 has 2 columns");
    snprintf(p, sizeof p, "%s/quote.csv", dir);
    write_file(p, ",A,B\n\"c0,1,2\n", 13);
    expect_fail(p, NULL, NULL, NULL, 0, NULL, 0, "unterminated");
    /* quoted names are fine */
    snprintf(p, sizeof p, "%s/quoted.csv", dir);
    write_file(p, "\"\",\"A,1\",\"B\"\"x\"\n\"c0\",1,0\n", 25);
    {
        scfm_reader_opts o = {0};
        o.path = p;
        scfm_reader *r = scfm_reader_open(&o);
        CHECK(r != NULL, "quoted.csv: %s", scfm_last_error());
        if (r) {
            CHECK(!strcmp(scfm_reader_genes(r)[0], "A,1") && !strcmp(scfm_reader_genes(r)[1], "B\"x") &&
                      !strcmp(scfm_reader_cell_ids(r)[0], "c0"),
                  "quoted.csv: names %s %s", scfm_reader_genes(r)[0], scfm_reader_genes(r)[1]);
            scfm_reader_close(r);
        }
    }
    snprintf(p, sizeof p, "%s/truncated.h5", dir);
    {
        FILE *f = fopen(FX "tenx_v3.h5", "rb");
        char *buf = malloc(1 << 20);
        size_t n = f ? fread(buf, 1, 1 << 20, f) : 0;
        if (f) fclose(f);
        write_file(p, buf, n * 3 / 4);
        expect_fail(p, NULL, NULL, NULL, 0, NULL, 0, "not an HDF5 file or corrupt");
        free(buf);
    }
    /* fixtures */
    expect_fail(FX "bad_number.csv", NULL, NULL, NULL, 0, NULL, SCFM_EFORMAT, "line 3, column 3");
    expect_fail(FX "bad_number.csv", NULL, NULL, NULL, 1, NULL, SCFM_EFORMAT, "line 3, column 3");
    expect_fail(FX "bad_nan.csv", NULL, NULL, NULL, 0, NULL, SCFM_EDATA, "non-finite");
    expect_fail(FX "bad_nan.h5ad", NULL, NULL, NULL, 0, NULL, SCFM_EDATA, "non-finite");
    expect_fail(FX "bad_neg.h5ad", NULL, NULL, NULL, 0, NULL, SCFM_EDATA, "negative");
    expect_fail(FX "bad_neg.loom", NULL, NULL, NULL, 0, NULL, SCFM_EDATA, "negative");
    expect_fail(FX "bad_indptr.h5ad", NULL, NULL, NULL, 0, NULL, SCFM_EFORMAT, "indptr");
    expect_fail(FX "bad_index.h5ad", NULL, NULL, NULL, 0, NULL, SCFM_EFORMAT, "out of range");
    expect_fail(FX "bad_shape.h5ad", NULL, NULL, NULL, 0, NULL, 0, "var/_index has 4 entries but the matrix shape says 5");
    expect_fail(FX "bad_dense_shape.h5ad", NULL, NULL, NULL, 0, NULL, 0, "var/_index has 4 entries but the matrix shape says 3");
    expect_fail(FX "csr.h5ad", NULL, NULL, "no_such_column", 0, NULL, 0, "no_such_column");
    expect_fail(FX "csr.h5ad", NULL, "layers/nope", NULL, 0, NULL, 0, "layers/nope");
    expect_fail(FX "csr.h5ad", NULL, "raw/X", NULL, 0, NULL, 0, "raw/X");
    expect_fail(FX "cells.loom", NULL, NULL, "no_such_column", 0, NULL, 0, "no_such_column");
    expect_fail(FX "cells.loom", NULL, "nolayer", NULL, 0, NULL, 0, "nolayer");
    expect_fail(FX "tenx_v3.h5", NULL, NULL, "no_such_column", 0, NULL, 0, "no_such_column");
    expect_fail(FX "tenx_two_genomes.h5", NULL, NULL, NULL, 0, NULL, 0, "genome");
    expect_fail(FX "tenx_two_genomes.h5", NULL, NULL, NULL, 0, "GRCh38", 0, "GRCh38");
    expect_fail(FX "cells_rows.csv", "h5ad", NULL, NULL, 0, NULL, 0, "not an HDF5 file or corrupt");
#ifdef SCFM_HAVE_HDF5
    /* the genome option picks one group */
    {
        scfm_reader_opts o = {0};
        o.path = FX "tenx_two_genomes.h5";
        o.genome = "mm10";
        scfm_reader *r = scfm_reader_open(&o);
        CHECK(r != NULL, "two genomes, mm10: %s", scfm_last_error());
        if (r) {
            CHECK(scfm_reader_n_genes(r) == 4 && !strcmp(scfm_reader_genes(r)[0], "a"), "mm10 genes");
            scfm_reader_close(r);
        }
    }
    /* tiny dense and CSR files give the same chunks */
    {
        const char *paths[2] = {FX "tiny.h5ad", FX "tiny_dense.h5ad"};
        double m[2][3][4];
        memset(m, 0, sizeof m);
        for (int f = 0; f < 2; f++) {
            scfm_reader_opts o = {0};
            o.path = paths[f];
            o.chunk_cells = 2;
            scfm_reader *r = scfm_reader_open(&o);
            CHECK(r != NULL, "%s: %s", paths[f], scfm_last_error());
            if (!r) continue;
            scfm_cells_chunk ch = {0};
            while (scfm_reader_next(r, &ch) == 1)
                for (size_t i = 0; i < ch.n_cells; i++)
                    for (size_t k = ch.indptr[i]; k < ch.indptr[i + 1]; k++)
                        m[f][ch.first_cell + i][ch.indices[k]] = ch.data[k];
            scfm_cells_chunk_free(&ch);
            scfm_reader_close(r);
        }
        CHECK(!memcmp(m[0], m[1], sizeof m[0]) && m[0][2][1] == 5, "tiny dense vs csr differ");
    }
#endif
    /* cleanup */
    const char *names[] = {"truncated.h5ad", "truncated.loom", "empty.h5ad", "empty.h5", "empty.csv", "text.h5ad",
                           "ragged.csv", "quote.csv", "quoted.csv", "truncated.h5"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
}

/* mtx entry orders that the readers must all give the same cells for: ordered by cell;
 * ordered for a long prefix and then an entry of an early cell; a duplicate entry (summed);
 * explicit zeros (dropped); each read into memory and streamed in two passes. */
static void test_mtx_orders(void) {
    enum { G = 5, C = 40 };
    char dir[] = "/tmp/scfm_test_mtx_XXXXXX";
    if (!mkdtemp(dir)) { CHECK(0, "mkdtemp"); return; }
    char p[512];
    double want[C][G];
    memset(want, 0, sizeof want);
    int r[400], c[400], v[400], n = 0;
    for (int j = 0; j < C; j++) /* by cell, then gene */
        for (int g = 0; g < G; g++)
            if ((j * 7 + g * 3) % 4 != 0) { r[n] = g; c[n] = j; v[n] = 1 + (j + g) % 6; want[j][g] += v[n]; n++; }
    r[n] = 2; c[n] = C - 1; v[n] = 0; n++;                                   /* explicit zero */
    r[n] = 0; c[n] = 1; v[n] = 9; want[1][0] += 9; n++;                      /* late entry of cell 1 */
    r[n] = 4; c[n] = 3; v[n] = 2; want[3][4] += 2; n++;                      /* another one, maybe a duplicate */
    snprintf(p, sizeof p, "%s/genes.tsv", dir);
    FILE *f = fopen(p, "w");
    for (int g = 0; g < G; g++) fprintf(f, "G%d\n", g);
    fclose(f);
    snprintf(p, sizeof p, "%s/barcodes.tsv", dir);
    f = fopen(p, "w");
    for (int j = 0; j < C; j++) fprintf(f, "C%d\n", j);
    fclose(f);
    for (int variant = 0; variant < 2; variant++) {
        int m = variant == 0 ? n - 3 : n; /* 0: ordered by cell (without the three extra entries) */
        snprintf(p, sizeof p, "%s/matrix.mtx", dir);
        f = fopen(p, "w");
        fprintf(f, "%%%%MatrixMarket matrix coordinate integer general\n%d %d %d\n", G, C, m);
        for (int e = 0; e < m; e++) fprintf(f, "%d %d %d\n", r[e] + 1, c[e] + 1, v[e]);
        fclose(f);
        double w2[C][G];
        memcpy(w2, want, sizeof w2);
        if (variant == 0) { w2[1][0] -= 9; w2[3][4] -= 2; }
        for (int mode = 0; mode < 2; mode++) {
            scfm_reader_opts o = {0};
            o.path = dir;
            o.chunk_cells = 6;
            o.read_memory_mib = mode ? SCFM_READ_STREAM : 0;
            scfm_reader *rd = scfm_reader_open(&o);
            CHECK(rd != NULL, "mtx order %d mode %d: %s", variant, mode, scfm_last_error());
            if (!rd) continue;
            double got[C][G];
            memset(got, 0, sizeof got);
            scfm_cells_chunk ch = {0};
            int rc, zeros = 0;
            while ((rc = scfm_reader_next(rd, &ch)) == 1)
                for (size_t i = 0; i < ch.n_cells; i++)
                    for (size_t k = ch.indptr[i]; k < ch.indptr[i + 1]; k++) {
                        zeros += ch.data[k] == 0;
                        got[ch.first_cell + i][ch.indices[k]] += ch.data[k];
                    }
            CHECK(rc == 0, "mtx order %d mode %d: read: %s", variant, mode, scfm_last_error());
            CHECK(!memcmp(got, w2, sizeof got) && zeros == 0, "mtx order %d mode %d: values differ (zeros %d)", variant,
                  mode, zeros);
            scfm_cells_chunk_free(&ch);
            scfm_reader_close(rd);
        }
    }
    const char *names[] = {"genes.tsv", "barcodes.tsv", "matrix.mtx"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
}

int main(void) {
    load_expected();
    test_mtx_orders();
    test_layouts();
    test_obs_available();
    test_bad_inputs();
    return TEST_END();
}
