/* Loom reader (docs/formats.md section 3). /matrix (or /layers/<name>, opts->matrix) is genes x
 * cells; it is read in column blocks of at most chunk_cells cells (and about 4M values).
 * Genes: /row_attrs/<opts->gene_column>, else "ensembl_id", "Accession" or "Gene", whichever
 * exists first. Cells: /col_attrs/CellID when present. Every other 1-D /col_attrs dataset is an
 * obs column (numbers as text like h5ad; uint8 bools as 0/1). Pre-v3 XML character references
 * in strings are not unescaped. */
#include "io_internal.h"

#ifndef SCFM_HAVE_HDF5
int io_open_loom(scfm_reader *r, const scfm_reader_opts *o) {
    (void)r;
    return scfm_error(SCFM_EINVAL, "%s: cannot read loom: scfm was built without HDF5 (install libhdf5-dev and rebuild)",
                      o->path);
}
#else
#include "hdf5_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    hid_t f, m;
    char *file;
    char mpath[512];
    double *buf;
    size_t buf_cap;
    size_t n_rows; /* genes, from the matrix shape */
} loom_state;

static void loom_close(void *p) {
    loom_state *s = p;
    if (!s) return;
    if (s->m > 0) H5Dclose(s->m);
    if (s->f > 0) H5Fclose(s->f);
    free(s->buf);
    free(s->file);
    free(s);
}

static int loom_read(scfm_reader *r, size_t first, size_t n, scfm_cells_chunk *ch) {
    loom_state *s = r->st;
    size_t g = r->n_genes ? r->n_genes : 1, cols = ((size_t)1 << 22) / g, k = 0, need;
    if (cols >= 64) cols -= cols % 64; /* whole loompy chunks (64 x 64) */
    if (cols < 1) cols = 1;
    if (cols > n) cols = n;
    if (scfm_mul_size(cols, g, &need)) return scfm_error(SCFM_ENOMEM, "%s: block too large", s->file);
    if (need > s->buf_cap) {
        double *b = scfm_realloc(s->buf, need * sizeof *b);
        if (!b) return SCFM_ENOMEM;
        s->buf = b;
        s->buf_cap = need;
    }
    for (size_t c0 = 0; c0 < n; c0 += cols) {
        size_t nc = n - c0 < cols ? n - c0 : cols;
        int rc = h5u_read_block(s->m, 0, r->n_genes, first + c0, nc, s->buf, s->file, s->mpath);
        if (rc) return rc;
        for (size_t i = 0; i < nc; i++) {
            ch->indptr[c0 + i] = k;
            for (size_t j = 0; j < r->n_genes; j++) {
                double v = s->buf[j * nc + i];
                if (v != 0 && (rc = io_chunk_push(ch, k++, (uint32_t)j, v))) return rc;
            }
        }
    }
    ch->indptr[n] = k;
    return SCFM_OK;
}

static int read_attr_column(loom_state *s, const char *path, size_t expect, io_strlist *out) {
    if (h5u_kind(s->f, path) != H5I_DATASET) return scfm_error(SCFM_ENOTFOUND, "%s: '%s' missing", s->file, path);
    hid_t ds = H5Dopen2(s->f, path, H5P_DEFAULT);
    if (ds < 0) return scfm_error(SCFM_EFORMAT, "%s: cannot open '%s' (corrupt file?)", s->file, path);
    int rc = h5u_read_text_column(ds, NULL, expect, out, s->file, path);
    H5Dclose(ds);
    return rc;
}

static int loom_load_obs(scfm_reader *r, size_t i, io_strlist *out) {
    loom_state *s = r->st;
    char p[600];
    snprintf(p, sizeof p, "col_attrs/%s", r->obs_names.v[i]);
    return read_attr_column(s, p, r->n_cells, out);
}

static const io_backend loom_backend = {loom_read, loom_load_obs, loom_close};

typedef struct {
    io_strlist *l;
    int rc, one_d_only;
    const char *skip;
} names_ctx;

static herr_t add_name(hid_t g, const char *name, const H5L_info_t *info, void *ud) {
    (void)info;
    names_ctx *c = ud;
    if (c->skip && !strcmp(name, c->skip)) return 0;
    if (h5u_kind(g, name) != H5I_DATASET) return 0;
    if (c->one_d_only) {
        hid_t ds = H5Dopen2(g, name, H5P_DEFAULT);
        int ok = 0;
        if (ds >= 0) {
            hid_t sp = H5Dget_space(ds);
            ok = sp >= 0 && H5Sget_simple_extent_ndims(sp) == 1;
            if (sp >= 0) H5Sclose(sp);
            H5Dclose(ds);
        }
        if (!ok) return 0;
    }
    c->rc = io_strlist_push(c->l, name, strlen(name));
    return c->rc ? -1 : 0;
}

static int list_datasets(loom_state *s, const char *grp, const char *skip, io_strlist *out) {
    memset(out, 0, sizeof *out);
    int rc = SCFM_OK;
    if (h5u_kind(s->f, grp) == H5I_GROUP) {
        hid_t g = H5Gopen2(s->f, grp, H5P_DEFAULT);
        names_ctx c = {out, 0, 1, skip};
        hsize_t at = 0;
        herr_t e = g < 0 ? -1 : H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &at, add_name, &c);
        if (g >= 0) H5Gclose(g);
        rc = c.rc ? c.rc : e < 0 ? scfm_error(SCFM_EFORMAT, "%s: cannot list '%s'", s->file, grp) : 0;
    }
    if (!rc) rc = io_strlist_finish(out);
    if (rc) io_strlist_free(out);
    return rc;
}

static int read_genes(scfm_reader *r, loom_state *s, const char *gene_column) {
    char p[600];
    if (gene_column && *gene_column) {
        snprintf(p, sizeof p, "row_attrs/%s", gene_column);
        if (h5u_kind(s->f, p) != H5I_DATASET) {
            io_strlist avail;
            int rc = list_datasets(s, "row_attrs", NULL, &avail);
            if (rc) return rc;
            char a[1024] = "";
            size_t used = 0;
            for (size_t i = 0; i < avail.n && used + 8 < sizeof a; i++) {
                int k = snprintf(a + used, sizeof a - used, "%s%s", i ? ", " : "", avail.v[i]);
                if (k < 0) break;
                used += (size_t)k < sizeof a - used ? (size_t)k : sizeof a - used - 1;
            }
            rc = scfm_error(SCFM_ENOTFOUND, "%s: gene column '%s' not found in row_attrs (available: %s)", s->file,
                            gene_column, avail.n ? a : "none");
            io_strlist_free(&avail);
            return rc;
        }
    } else {
        static const char *const cands[] = {"ensembl_id", "Accession", "Gene"};
        size_t i = 0;
        for (; i < 3; i++) {
            snprintf(p, sizeof p, "row_attrs/%s", cands[i]);
            if (h5u_kind(s->f, p) == H5I_DATASET) break;
        }
        if (i == 3)
            return scfm_error(SCFM_ENOTFOUND, "%s: no gene names: row_attrs has none of ensembl_id, Accession, Gene "
                              "(name one with the gene column option)", s->file);
    }
    return read_attr_column(s, p, s->n_rows, &r->genes);
}

int io_open_loom(scfm_reader *r, const scfm_reader_opts *o) {
    loom_state *s = scfm_calloc(1, sizeof *s);
    if (!s) return SCFM_ENOMEM;
    s->f = s->m = H5I_INVALID_HID;
    r->st = s;
    r->be = &loom_backend;
    if (!(s->file = scfm_strdup(o->path))) return SCFM_ENOMEM;
    int rc = h5u_open(o->path, &s->f);
    if (rc) return rc;
    const char *m = o->matrix;
    if (!m || !*m || !strcmp(m, "matrix") || !strcmp(m, "X")) snprintf(s->mpath, sizeof s->mpath, "matrix");
    else if (!strncmp(m, "layers/", 7)) snprintf(s->mpath, sizeof s->mpath, "%s", m);
    else snprintf(s->mpath, sizeof s->mpath, "layers/%s", m);
    if (h5u_kind(s->f, s->mpath) != H5I_DATASET)
        return scfm_error(SCFM_ENOTFOUND, "%s: no matrix '%s' in the loom file", s->file, s->mpath);
    if ((s->m = H5Dopen2(s->f, s->mpath, H5P_DEFAULT)) < 0)
        return scfm_error(SCFM_EFORMAT, "%s: cannot open '%s' (corrupt file?)", s->file, s->mpath);
    int rank;
    size_t d[2];
    if ((rc = h5u_dims(s->m, &rank, d, s->file, s->mpath))) return rc;
    if (rank != 2) return scfm_error(SCFM_EFORMAT, "%s: '%s' is not a 2-D matrix", s->file, s->mpath);
    s->n_rows = d[0];
    if ((rc = read_genes(r, s, o->gene_column))) return rc;
    if (h5u_kind(s->f, "col_attrs/CellID") == H5I_DATASET) {
        if ((rc = read_attr_column(s, "col_attrs/CellID", d[1], &r->cells))) return rc;
    } else if ((rc = io_strlist_finish(&r->cells))) {
        return rc;
    }
    r->n_genes = d[0];
    r->n_cells = d[1];
    if (r->genes.n != d[0])
        return scfm_error(SCFM_EMISMATCH, "%s: '%s' has %zu rows (genes) but the gene attribute has %zu values", s->file,
                          s->mpath, d[0], r->genes.n);
    if (r->cells.n && r->cells.n != d[1])
        return scfm_error(SCFM_EMISMATCH, "%s: '%s' has %zu columns (cells) but col_attrs/CellID has %zu values",
                          s->file, s->mpath, d[1], r->cells.n);
    return list_datasets(s, "col_attrs", "CellID", &r->obs_names);
}
#endif
