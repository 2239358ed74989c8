/* AnnData .h5ad reader (docs/formats.md section 1).
 *
 * Matrix: opts->matrix = NULL/"X", "raw/X" (genes from raw/var), "layers/<name>" (or a bare
 * layer name); legacy "raw.X" with "raw.var". Dense 2-D datasets are streamed by row blocks,
 * CSR groups by chunk (indptr slice, then an indices/data hyperslab), CSC groups are transposed
 * once at open. Sparse groups are recognised by attr encoding-type (csr_matrix/csc_matrix) or
 * the pre-0.7 attr h5sparse_format (csr/csc); shape from attr shape or h5sparse_shape.
 * Dataframes: new layout (group with _index, column-order; categoricals as groups with codes
 * and categories; nullable-integer/boolean/string-array groups with values + mask), anndata
 * 0.7 (codes dataset with an object-reference attr "categories") and pre-0.7 compound
 * datasets (categories in uns/<col>_categories). Obs values become text: strings as stored,
 * integers as integers, floats the shortest text that round-trips (integral ones as integers),
 * bools 1/0, missing (NaN, masked, code -1) "". */
#include "io_internal.h"

#ifndef SCFM_HAVE_HDF5
int io_open_h5ad(scfm_reader *r, const scfm_reader_opts *o) {
    (void)r;
    return scfm_error(SCFM_EINVAL, "%s: cannot read h5ad: scfm was built without HDF5 (install libhdf5-dev and rebuild)",
                      o->path);
}
#else
#include "hdf5_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { H5AD_DENSE, H5AD_CSR, H5AD_MEM };

typedef struct {
    hid_t f, dense;
    int kind;
    char *file;
    char mpath[512];
    h5u_sparse sp;
    io_csr csr;
    double *buf;
    size_t buf_cap;
} h5ad_state;

static void h5ad_close(void *p) {
    h5ad_state *s = p;
    if (!s) return;
    h5u_sparse_close(&s->sp);
    io_csr_free(&s->csr);
    if (s->dense > 0) H5Dclose(s->dense);
    if (s->f > 0) H5Fclose(s->f);
    free(s->buf);
    free(s->file);
    free(s);
}

/* ---- dataframes ---------------------------------------------------------------------------- */
static int df_is_compound(hid_t f, const char *df) { return h5u_kind(f, df) == H5I_DATASET; }

/* First member of a compound dataframe is the index ("index" in anndata < 0.7). */
static int compound_index_name(hid_t ds, char *buf, size_t cap) {
    hid_t t = H5Dget_type(ds);
    if (t < 0) return -1;
    int rc = -1;
    if (H5Tget_class(t) == H5T_COMPOUND && H5Tget_nmembers(t) > 0) {
        int idx = H5Tget_member_index(t, "index");
        char *nm = H5Tget_member_name(t, idx >= 0 ? (unsigned)idx : 0);
        if (nm) {
            snprintf(buf, cap, "%s", nm);
            H5free_memory(nm);
            rc = 0;
        }
    }
    H5Tclose(t);
    return rc;
}

/* Strings (or any values as text) of a dataset or nullable-string-array group at path. */
static int read_text_any(hid_t f, const char *path, size_t expect, io_strlist *out, const char *file);

/* expect: the entries the matrix shape calls for (H5U_ANY_LEN: not known). */
static int read_index(hid_t f, const char *df, size_t expect, io_strlist *out, const char *file) {
    H5I_type_t k = h5u_kind(f, df);
    if (k == H5I_BADID) return scfm_error(SCFM_ENOTFOUND, "%s: no '%s' dataframe", file, df);
    if (k == H5I_DATASET) {
        hid_t ds = H5Dopen2(f, df, H5P_DEFAULT);
        char name[256];
        int rc = ds < 0 || compound_index_name(ds, name, sizeof name)
                     ? scfm_error(SCFM_EFORMAT, "%s: '%s' is a dataset but not a record array", file, df)
                     : h5u_read_text_column(ds, name, expect, out, file, df);
        if (ds >= 0) H5Dclose(ds);
        return rc;
    }
    hid_t g = H5Gopen2(f, df, H5P_DEFAULT);
    if (g < 0) return scfm_error(SCFM_EFORMAT, "%s: cannot open '%s'", file, df);
    char idx[256], path[600];
    int rc = h5u_attr_str(g, "_index", idx, sizeof idx, file);
    H5Gclose(g);
    if (rc < 0) return rc;
    if (rc == 0) snprintf(idx, sizeof idx, "_index");
    snprintf(path, sizeof path, "%s/%s", df, idx);
    if (h5u_kind(f, path) == H5I_BADID)
        return scfm_error(SCFM_ENOTFOUND, "%s: %s: index dataset '%s' missing", file, df, idx);
    return read_text_any(f, path, expect, out, file);
}

static int is_reserved_member(const char *name, const char *index) {
    return !strcmp(name, index) || !strcmp(name, "__categories");
}

typedef struct {
    io_strlist *l;
    const char *index;
    int rc;
} iter_ctx;

static herr_t collect_member(hid_t g, const char *name, const H5L_info_t *info, void *ud) {
    (void)g;
    (void)info;
    iter_ctx *c = ud;
    if (is_reserved_member(name, c->index)) return 0;
    c->rc = io_strlist_push(c->l, name, strlen(name));
    return c->rc ? -1 : 0;
}

/* Column names of a dataframe (column-order attr; else its members; compound: fields). */
static int df_columns(hid_t f, const char *df, io_strlist *out, const char *file) {
    memset(out, 0, sizeof *out);
    H5I_type_t k = h5u_kind(f, df);
    if (k == H5I_BADID) return scfm_error(SCFM_ENOTFOUND, "%s: no '%s' dataframe", file, df);
    int rc = SCFM_OK;
    if (k == H5I_DATASET) {
        hid_t ds = H5Dopen2(f, df, H5P_DEFAULT), t = ds >= 0 ? H5Dget_type(ds) : -1;
        char idx[256] = "";
        if (ds >= 0) (void)compound_index_name(ds, idx, sizeof idx);
        int nm = t >= 0 && H5Tget_class(t) == H5T_COMPOUND ? H5Tget_nmembers(t) : -1;
        if (nm < 0) rc = scfm_error(SCFM_EFORMAT, "%s: '%s' is a dataset but not a record array", file, df);
        for (int i = 0; !rc && i < nm; i++) {
            char *name = H5Tget_member_name(t, (unsigned)i);
            if (!name) { rc = scfm_error(SCFM_EFORMAT, "%s: %s: bad record type", file, df); break; }
            if (strcmp(name, idx)) rc = io_strlist_push(out, name, strlen(name));
            H5free_memory(name);
        }
        if (t >= 0) H5Tclose(t);
        if (ds >= 0) H5Dclose(ds);
        if (!rc) rc = io_strlist_finish(out);
        if (rc) io_strlist_free(out);
        return rc;
    }
    hid_t g = H5Gopen2(f, df, H5P_DEFAULT);
    if (g < 0) return scfm_error(SCFM_EFORMAT, "%s: cannot open '%s'", file, df);
    char idx[256];
    rc = h5u_attr_str(g, "_index", idx, sizeof idx, file);
    if (rc == 0) snprintf(idx, sizeof idx, "_index");
    if (rc >= 0 && H5Aexists(g, "column-order") > 0) {
        rc = h5u_attr_strlist(g, "column-order", out, file);
        if (rc > 0) rc = 0;
    } else if (rc >= 0) {
        iter_ctx c = {out, idx, 0};
        hsize_t at = 0;
        herr_t e = H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &at, collect_member, &c);
        rc = c.rc ? c.rc : e < 0 ? scfm_error(SCFM_EFORMAT, "%s: cannot list '%s'", file, df) : 0;
        if (!rc) rc = io_strlist_finish(out);
        if (rc) io_strlist_free(out);
    }
    H5Gclose(g);
    return rc < 0 ? rc : 0;
}

/* out[i] = cats[codes[i]] ("" for negative codes). */
static int map_codes(const int64_t *codes, size_t n, const io_strlist *cats, io_strlist *out, const char *file,
                     const char *what) {
    memset(out, 0, sizeof *out);
    int rc = SCFM_OK;
    for (size_t i = 0; !rc && i < n; i++) {
        if (codes[i] < 0) rc = io_strlist_push(out, "", 0);
        else if ((uint64_t)codes[i] >= cats->n)
            rc = scfm_error(SCFM_EFORMAT, "%s: %s: code %lld at row %zu but only %zu categories", file, what,
                            (long long)codes[i], i, cats->n);
        else rc = io_strlist_push(out, cats->v[codes[i]], strlen(cats->v[codes[i]]));
    }
    if (!rc) rc = io_strlist_finish(out);
    if (rc) io_strlist_free(out);
    return rc;
}

static int codes_from_dataset(hid_t ds, const io_strlist *cats, size_t expect, io_strlist *out, const char *file,
                              const char *what) {
    size_t n;
    int rc = h5u_len(ds, &n, file, what);
    if (!rc) rc = h5u_check_len(n, expect, file, what);
    if (rc) return rc;
    int64_t *codes = scfm_calloc(n ? n : 1, sizeof *codes);
    if (!codes) return SCFM_ENOMEM;
    rc = h5u_read_i64(ds, 0, n, codes, file, what);
    if (!rc) rc = map_codes(codes, n, cats, out, file, what);
    free(codes);
    return rc;
}

/* Codes given as text (compound member) -> categories. */
static int codes_from_text(io_strlist *codes, const io_strlist *cats, io_strlist *out, const char *file,
                           const char *what) {
    int64_t *c = scfm_calloc(codes->n ? codes->n : 1, sizeof *c);
    if (!c) return SCFM_ENOMEM;
    int rc = SCFM_OK;
    for (size_t i = 0; !rc && i < codes->n; i++) {
        long v;
        if (scfm_parse_long(codes->v[i], -1000000000L, 1000000000L, &v))
            rc = scfm_error(SCFM_EFORMAT, "%s: %s: categorical code '%s' is not an integer", file, what, codes->v[i]);
        c[i] = v;
    }
    if (!rc) rc = map_codes(c, codes->n, cats, out, file, what);
    free(c);
    return rc;
}

static int open_ds(hid_t f, const char *path, hid_t *ds, const char *file) {
    if (h5u_kind(f, path) != H5I_DATASET) return scfm_error(SCFM_ENOTFOUND, "%s: dataset '%s' missing", file, path);
    *ds = H5Dopen2(f, path, H5P_DEFAULT);
    if (*ds < 0) return scfm_error(SCFM_EFORMAT, "%s: cannot open '%s' (corrupt file?)", file, path);
    return SCFM_OK;
}

static int read_dataset_text(hid_t f, const char *path, size_t expect, io_strlist *out, const char *file) {
    hid_t ds;
    int rc = open_ds(f, path, &ds, file);
    if (rc) return rc;
    rc = h5u_read_text_column(ds, NULL, expect, out, file, path);
    H5Dclose(ds);
    return rc;
}

/* Group encodings: categorical, nullable-*. */
static int read_group_column(hid_t f, const char *path, size_t expect, io_strlist *out, const char *file) {
    hid_t g = H5Gopen2(f, path, H5P_DEFAULT);
    if (g < 0) return scfm_error(SCFM_EFORMAT, "%s: cannot open '%s'", file, path);
    char enc[64];
    int rc = h5u_attr_str(g, "encoding-type", enc, sizeof enc, file);
    H5Gclose(g);
    if (rc < 0) return rc;
    char a[700], b[700];
    if (!strcmp(enc, "categorical")) {
        io_strlist cats;
        hid_t ds;
        snprintf(a, sizeof a, "%s/categories", path);
        snprintf(b, sizeof b, "%s/codes", path);
        if ((rc = read_dataset_text(f, a, H5U_ANY_LEN, &cats, file))) return rc;
        if (!(rc = open_ds(f, b, &ds, file))) {
            rc = codes_from_dataset(ds, &cats, expect, out, file, b);
            H5Dclose(ds);
        }
        io_strlist_free(&cats);
        return rc;
    }
    if (!strncmp(enc, "nullable-", 9)) {
        io_strlist vals, mask;
        snprintf(a, sizeof a, "%s/values", path);
        snprintf(b, sizeof b, "%s/mask", path);
        if ((rc = read_dataset_text(f, a, expect, &vals, file))) return rc;
        if (h5u_kind(f, b) == H5I_BADID) { *out = vals; return SCFM_OK; }
        if ((rc = read_dataset_text(f, b, expect, &mask, file))) { io_strlist_free(&vals); return rc; }
        if (mask.n != vals.n)
            rc = scfm_error(SCFM_EFORMAT, "%s: %s: mask has %zu values for %zu", file, path, mask.n, vals.n);
        memset(out, 0, sizeof *out);
        for (size_t i = 0; !rc && i < vals.n; i++) {
            int masked = strcmp(mask.v[i], "0") != 0 && mask.v[i][0];
            rc = masked ? io_strlist_push(out, "", 0) : io_strlist_push(out, vals.v[i], strlen(vals.v[i]));
        }
        if (!rc) rc = io_strlist_finish(out);
        if (rc) io_strlist_free(out);
        io_strlist_free(&vals);
        io_strlist_free(&mask);
        return rc;
    }
    return scfm_error(SCFM_EFORMAT, "%s: '%s' has an unsupported encoding '%s'", file, path, *enc ? enc : "(none)");
}

/* anndata 0.7: codes dataset with an object-reference attribute "categories". */
static int read_old_categorical(hid_t ds, const char *path, size_t expect, io_strlist *out, const char *file) {
    hid_t a = H5Aopen(ds, "categories", H5P_DEFAULT);
    if (a < 0) return scfm_error(SCFM_EFORMAT, "%s: %s: cannot open attribute 'categories'", file, path);
    hid_t t = H5Aget_type(a);
    int is_ref = t >= 0 && H5Tget_class(t) == H5T_REFERENCE;
    if (t >= 0) H5Tclose(t);
    hobj_ref_t ref;
    int rc = SCFM_OK;
    if (!is_ref || H5Aread(a, H5T_STD_REF_OBJ, &ref) < 0)
        rc = scfm_error(SCFM_EFORMAT, "%s: %s: attribute 'categories' is not an object reference", file, path);
    H5Aclose(a);
    if (rc) return rc;
    hid_t cd = H5Rdereference2(ds, H5P_DEFAULT, H5R_OBJECT, &ref);
    if (cd < 0 || H5Iget_type(cd) != H5I_DATASET) {
        if (cd >= 0) H5Oclose(cd);
        return scfm_error(SCFM_EFORMAT, "%s: %s: its 'categories' reference is broken", file, path);
    }
    io_strlist cats;
    rc = h5u_read_text_column(cd, NULL, H5U_ANY_LEN, &cats, file, path);
    H5Oclose(cd);
    if (rc) return rc;
    rc = codes_from_dataset(ds, &cats, expect, out, file, path);
    io_strlist_free(&cats);
    return rc;
}

static int read_text_any(hid_t f, const char *path, size_t expect, io_strlist *out, const char *file) {
    H5I_type_t k = h5u_kind(f, path);
    if (k == H5I_GROUP) return read_group_column(f, path, expect, out, file);
    if (k != H5I_DATASET) return scfm_error(SCFM_ENOTFOUND, "%s: '%s' missing", file, path);
    hid_t ds;
    int rc = open_ds(f, path, &ds, file);
    if (rc) return rc;
    if (H5Aexists(ds, "categories") > 0) rc = read_old_categorical(ds, path, expect, out, file);
    else rc = h5u_read_text_column(ds, NULL, expect, out, file, path);
    H5Dclose(ds);
    return rc;
}

static int list_has(const io_strlist *l, const char *s) {
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->v[i], s)) return 1;
    return 0;
}

/* Column `col` of dataframe `df` as text; SCFM_ENOTFOUND with the available names if absent. */
static int df_column(hid_t f, const char *df, const char *col, size_t expect, io_strlist *out, const char *file) {
    io_strlist cols;
    int rc = df_columns(f, df, &cols, file);
    if (rc) return rc;
    if (!list_has(&cols, col)) {
        char avail[1024] = "";
        size_t used = 0;
        for (size_t i = 0; i < cols.n && used + 8 < sizeof avail; i++) {
            int n = snprintf(avail + used, sizeof avail - used, "%s%s", i ? ", " : "", cols.v[i]);
            if (n < 0) break;
            used += (size_t)n < sizeof avail - used ? (size_t)n : sizeof avail - used - 1;
        }
        rc = scfm_error(SCFM_ENOTFOUND, "%s: column '%s' not found in %s (available: %s)", file, col, df,
                        cols.n ? avail : "none");
        io_strlist_free(&cols);
        return rc;
    }
    io_strlist_free(&cols);
    char path[700];
    if (!df_is_compound(f, df)) {
        snprintf(path, sizeof path, "%s/%s", df, col);
        return read_text_any(f, path, expect, out, file);
    }
    hid_t ds;
    if ((rc = open_ds(f, df, &ds, file))) return rc;
    rc = h5u_read_text_column(ds, col, expect, out, file, df);
    H5Dclose(ds);
    snprintf(path, sizeof path, "uns/%s_categories", col);
    if (!rc && h5u_kind(f, path) == H5I_DATASET) {
        io_strlist cats, codes = *out;
        if (!(rc = read_dataset_text(f, path, H5U_ANY_LEN, &cats, file))) {
            rc = codes_from_text(&codes, &cats, out, file, path);
            io_strlist_free(&cats);
        }
        io_strlist_free(&codes);
    }
    return rc;
}

/* ---- matrix -------------------------------------------------------------------------------- */
static void choose_matrix(hid_t f, const char *m, char *mpath, size_t mcap, char *var, size_t vcap) {
    snprintf(var, vcap, "var");
    if (!m || !*m || !strcmp(m, "X")) {
        snprintf(mpath, mcap, "X");
    } else if (!strcmp(m, "raw/X") || !strcmp(m, "raw")) {
        snprintf(mpath, mcap, "raw/X");
        snprintf(var, vcap, "raw/var");
        if (h5u_kind(f, "raw/X") == H5I_BADID && h5u_kind(f, "raw.X") != H5I_BADID) {
            snprintf(mpath, mcap, "raw.X");
            snprintf(var, vcap, "raw.var");
        }
    } else if (!strcmp(m, "raw.X")) {
        snprintf(mpath, mcap, "raw.X");
        snprintf(var, vcap, "raw.var");
    } else if (!strncmp(m, "layers/", 7) || h5u_kind(f, m) != H5I_BADID) {
        snprintf(mpath, mcap, "%s", m);
    } else {
        snprintf(mpath, mcap, "layers/%s", m);
    }
}

static int missing_matrix(hid_t f, const char *file, const char *mpath) {
    char alt[512] = "";
    size_t used = 0;
    const char *cands[] = {"X", "raw/X", "raw.X"};
    for (size_t i = 0; i < 3; i++)
        if (strcmp(cands[i], mpath) && h5u_kind(f, cands[i]) != H5I_BADID)
            used += (size_t)snprintf(alt + used, sizeof alt - used, "%s%s", used ? ", " : "", cands[i]);
    if (h5u_kind(f, "layers") == H5I_GROUP) {
        hid_t g = H5Gopen2(f, "layers", H5P_DEFAULT);
        H5G_info_t gi;
        if (g >= 0 && H5Gget_info(g, &gi) >= 0)
            for (hsize_t i = 0; i < gi.nlinks && used + 80 < sizeof alt; i++) {
                char nm[64];
                if (H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, nm, sizeof nm, H5P_DEFAULT) > 0)
                    used += (size_t)snprintf(alt + used, sizeof alt - used, "%slayers/%s", used ? ", " : "", nm);
            }
        if (g >= 0) H5Gclose(g);
    }
    return scfm_error(SCFM_ENOTFOUND, "%s: no matrix '%s' in the file (available: %s)", file, mpath,
                      used ? alt : "none");
}

static int sparse_kind(hid_t g, const char *file, const char *mpath, int *csc, size_t shape[2]) {
    char enc[64], old[16];
    int rc = h5u_attr_str(g, "encoding-type", enc, sizeof enc, file);
    if (rc < 0) return rc;
    int r2 = h5u_attr_str(g, "h5sparse_format", old, sizeof old, file);
    if (r2 < 0) return r2;
    if (!strcmp(enc, "csr_matrix") || (r2 && !strcmp(old, "csr"))) *csc = 0;
    else if (!strcmp(enc, "csc_matrix") || (r2 && !strcmp(old, "csc"))) *csc = 1;
    else
        return scfm_error(SCFM_EFORMAT, "%s: '%s' is a group but not a csr_matrix/csc_matrix (encoding-type '%s')", file,
                          mpath, enc);
    int64_t sh[2] = {0, 0};
    rc = h5u_attr_ints(g, "shape", sh, 2, file);
    if (rc == 0) rc = h5u_attr_ints(g, "h5sparse_shape", sh, 2, file);
    if (rc < 0) return rc;
    if (rc == 0) return scfm_error(SCFM_EFORMAT, "%s: sparse matrix '%s' has no shape attribute", file, mpath);
    if (sh[0] < 0 || sh[1] < 0) return scfm_error(SCFM_EFORMAT, "%s: '%s': negative shape", file, mpath);
    shape[0] = (size_t)sh[0];
    shape[1] = (size_t)sh[1];
    return SCFM_OK;
}

/* Rows x columns of the dense dataset or the sparse group's shape attribute. */
static int matrix_dims(hid_t f, const char *mpath, size_t d[2], const char *file) {
    if (h5u_kind(f, mpath) == H5I_DATASET) {
        hid_t ds;
        int rank = 0, rc = open_ds(f, mpath, &ds, file);
        if (rc) return rc;
        rc = h5u_dims(ds, &rank, d, file, mpath);
        H5Dclose(ds);
        if (!rc && rank != 2) rc = scfm_error(SCFM_EFORMAT, "%s: matrix '%s' is not 2-D", file, mpath);
        return rc;
    }
    hid_t g = H5Gopen2(f, mpath, H5P_DEFAULT);
    if (g < 0) return scfm_error(SCFM_EFORMAT, "%s: cannot open '%s'", file, mpath);
    int csc = 0;
    int rc = sparse_kind(g, file, mpath, &csc, d);
    H5Gclose(g);
    return rc;
}

static int shape_mismatch(const scfm_reader *r, const char *file, const char *mpath, size_t a, size_t b,
                          const char *var) {
    return scfm_error(SCFM_EMISMATCH, "%s: matrix '%s' is %zu x %zu but obs has %zu rows and %s has %zu", file, mpath,
                      a, b, r->n_cells, var, r->n_genes);
}

static int open_matrix(scfm_reader *r, h5ad_state *s, const char *var) {
    const char *file = s->file;
    H5I_type_t k = h5u_kind(s->f, s->mpath);
    if (k == H5I_BADID) return missing_matrix(s->f, file, s->mpath);
    if (k == H5I_DATASET) {
        int rank;
        size_t d[2];
        int rc = open_ds(s->f, s->mpath, &s->dense, file);
        if (!rc) rc = h5u_dims(s->dense, &rank, d, file, s->mpath);
        if (rc) return rc;
        if (rank != 2) return scfm_error(SCFM_EFORMAT, "%s: matrix '%s' is not 2-D", file, s->mpath);
        if (d[0] != r->n_cells || d[1] != r->n_genes) return shape_mismatch(r, file, s->mpath, d[0], d[1], var);
        s->kind = H5AD_DENSE;
        return SCFM_OK;
    }
    hid_t g = H5Gopen2(s->f, s->mpath, H5P_DEFAULT);
    if (g < 0) return scfm_error(SCFM_EFORMAT, "%s: cannot open '%s'", file, s->mpath);
    int csc = 0;
    size_t sh[2] = {0, 0};
    int rc = sparse_kind(g, file, s->mpath, &csc, sh);
    if (!rc && (sh[0] != r->n_cells || sh[1] != r->n_genes)) rc = shape_mismatch(r, file, s->mpath, sh[0], sh[1], var);
    if (!rc && !csc) {
        rc = h5u_sparse_open(&s->sp, g, r->n_cells, r->n_genes, file, s->mpath);
        s->kind = H5AD_CSR;
    } else if (!rc) {
        rc = h5u_sparse_open(&s->sp, g, r->n_genes, r->n_cells, file, s->mpath);
        if (!rc) {
            scfm_log(SCFM_LOG_INFO, "%s: '%s' is CSC (gene-major): transposing %zu values in memory", file, s->mpath,
                     s->sp.nnz);
            rc = h5u_sparse_transpose(&s->sp, &s->csr);
        }
        h5u_sparse_close(&s->sp);
        s->kind = H5AD_MEM;
    }
    H5Gclose(g);
    return rc;
}

/* ---- backend ------------------------------------------------------------------------------- */
static int h5ad_read(scfm_reader *r, size_t first, size_t n, scfm_cells_chunk *ch) {
    h5ad_state *s = r->st;
    if (s->kind == H5AD_CSR) return h5u_sparse_read(&s->sp, first, n, ch);
    if (s->kind == H5AD_MEM) return io_csr_read(&s->csr, first, n, ch);
    /* dense: blocks of rows bounded to about 4M values */
    size_t g = r->n_genes ? r->n_genes : 1, rows = ((size_t)1 << 22) / g, k = 0;
    if (rows < 1) rows = 1;
    if (rows > n) rows = n;
    size_t need;
    if (scfm_mul_size(rows, g, &need)) return scfm_error(SCFM_ENOMEM, "%s: row block too large", s->file);
    if (need > s->buf_cap) {
        double *b = scfm_realloc(s->buf, need * sizeof *b);
        if (!b) return SCFM_ENOMEM;
        s->buf = b;
        s->buf_cap = need;
    }
    for (size_t r0 = 0; r0 < n; r0 += rows) {
        size_t nr = n - r0 < rows ? n - r0 : rows;
        int rc = h5u_read_block(s->dense, first + r0, nr, 0, r->n_genes, s->buf, s->file, s->mpath);
        if (rc) return rc;
        for (size_t i = 0; i < nr; i++) {
            const double *row = s->buf + i * r->n_genes;
            ch->indptr[r0 + i] = k;
            for (size_t j = 0; j < r->n_genes; j++)
                if (row[j] != 0 && (rc = io_chunk_push(ch, k++, (uint32_t)j, row[j]))) return rc;
        }
    }
    ch->indptr[n] = k;
    return SCFM_OK;
}

static int h5ad_load_obs(scfm_reader *r, size_t i, io_strlist *out) {
    h5ad_state *s = r->st;
    return df_column(s->f, "obs", r->obs_names.v[i], r->n_cells, out, s->file);
}

static const io_backend h5ad_backend = {h5ad_read, h5ad_load_obs, h5ad_close};

int io_open_h5ad(scfm_reader *r, const scfm_reader_opts *o) {
    h5ad_state *s = scfm_calloc(1, sizeof *s);
    if (!s) return SCFM_ENOMEM;
    s->f = s->dense = H5I_INVALID_HID;
    s->sp.indptr = s->sp.indices = s->sp.data = H5I_INVALID_HID;
    r->st = s;
    r->be = &h5ad_backend;
    if (!(s->file = scfm_strdup(o->path))) return SCFM_ENOMEM;
    int rc = h5u_open(o->path, &s->f);
    if (rc) return rc;
    char var[64];
    choose_matrix(s->f, o->matrix, s->mpath, sizeof s->mpath, var, sizeof var);
    if (h5u_kind(s->f, s->mpath) == H5I_BADID) return missing_matrix(s->f, s->file, s->mpath);
    if (h5u_kind(s->f, var) == H5I_BADID)
        return scfm_error(SCFM_ENOTFOUND, "%s: no '%s' dataframe for the genes of '%s'", s->file, var, s->mpath);
    size_t d[2]; /* the matrix shape first: the indexes' lengths are checked against it before reading */
    if ((rc = matrix_dims(s->f, s->mpath, d, s->file))) return rc;
    rc = o->gene_column && *o->gene_column ? df_column(s->f, var, o->gene_column, d[1], &r->genes, s->file)
                                           : read_index(s->f, var, d[1], &r->genes, s->file);
    if (rc) return rc;
    if ((rc = read_index(s->f, "obs", d[0], &r->cells, s->file))) return rc;
    r->n_genes = r->genes.n;
    r->n_cells = r->cells.n;
    if ((rc = df_columns(s->f, "obs", &r->obs_names, s->file))) return rc;
    return open_matrix(r, s, var);
}
#endif
