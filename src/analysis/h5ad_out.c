/* AnnData .h5ad output of per-cell results (predictions, embeddings): a new file, or a copy
 * of the user's own .h5ad with columns added. See include/scfm/analysis.h (scfm_h5ad_out_*).
 * Encodings as anndata writes them (docs/formats.md section 1): dataframe 0.2.0, categorical
 * 0.2.0 (codes int32, -1 = missing; categories string-array; attr ordered = FALSE),
 * array 0.2.0, string-array 0.2.0, dict 0.1.0. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scfm/analysis.h"

#ifdef SCFM_HAVE_HDF5
#include <hdf5.h>
#include "io/hdf5_util.h"

struct scfm_h5ad_out {
    char *path, *tmp;
    hid_t f;
    size_t n;          /* results: one per id */
    size_t rows;       /* obs rows of the file (n for a new file) */
    long *row_of;      /* [rows] index into the results or -1 (cell not in the results) */
    int from_template;
    H5E_auto2_t old_fn;
    void *old_data;
};

static int cmp_cstr(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static hid_t vlen_str(void) {
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return t;
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

static int attr_str(hid_t obj, const char *name, const char *value) {
    if (H5Aexists(obj, name) > 0) H5Adelete(obj, name);
    hid_t t = vlen_str(), s = H5Screate(H5S_SCALAR), a = -1;
    int ok = t >= 0 && s >= 0;
    if (ok) a = H5Acreate2(obj, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    ok = ok && a >= 0 && H5Awrite(a, t, &value) >= 0;
    if (a >= 0) H5Aclose(a);
    if (s >= 0) H5Sclose(s);
    if (t >= 0) H5Tclose(t);
    return ok ? 0 : -1;
}

static int attr_strs(hid_t obj, const char *name, const char *const *v, size_t n) {
    if (H5Aexists(obj, name) > 0) H5Adelete(obj, name);
    hsize_t dim = n;
    hid_t s = H5Screate_simple(1, &dim, NULL), t = n ? vlen_str() : H5Tcopy(H5T_IEEE_F64LE), a = -1;
    int ok = s >= 0 && t >= 0;
    if (ok) a = H5Acreate2(obj, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    ok = ok && a >= 0 && (n == 0 || H5Awrite(a, t, v) >= 0);
    if (a >= 0) H5Aclose(a);
    if (s >= 0) H5Sclose(s);
    if (t >= 0) H5Tclose(t);
    return ok ? 0 : -1;
}

static int attr_bool_false(hid_t obj, const char *name) {
    hid_t t = H5Tenum_create(H5T_NATIVE_INT8), s = H5Screate(H5S_SCALAR), a = -1;
    int8_t f = 0, tr = 1;
    int ok = t >= 0 && s >= 0 && H5Tenum_insert(t, "FALSE", &f) >= 0 && H5Tenum_insert(t, "TRUE", &tr) >= 0;
    if (ok) a = H5Acreate2(obj, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    ok = ok && a >= 0 && H5Awrite(a, t, &f) >= 0;
    if (a >= 0) H5Aclose(a);
    if (s >= 0) H5Sclose(s);
    if (t >= 0) H5Tclose(t);
    return ok ? 0 : -1;
}

static int set_enc(hid_t obj, const char *type, const char *version) {
    return attr_str(obj, "encoding-type", type) || attr_str(obj, "encoding-version", version) ? -1 : 0;
}

static int ds_strings(hid_t loc, const char *name, const char *const *v, size_t n) {
    hsize_t dim = n;
    hid_t t = vlen_str(), s = H5Screate_simple(1, &dim, NULL), d = -1;
    int ok = t >= 0 && s >= 0;
    if (ok) d = H5Dcreate2(loc, name, t, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ok = ok && d >= 0 && (n == 0 || H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
    ok = ok && set_enc(d, "string-array", "0.2.0") == 0;
    if (d >= 0) H5Dclose(d);
    if (s >= 0) H5Sclose(s);
    if (t >= 0) H5Tclose(t);
    return ok ? 0 : -1;
}

static int ds_numeric(hid_t loc, const char *name, hid_t file_type, hid_t mem_type, const void *v, size_t rows,
                      size_t cols) {
    hsize_t dims[2] = {rows, cols};
    hid_t s = H5Screate_simple(cols ? 2 : 1, dims, NULL), d = -1;
    int ok = s >= 0;
    if (ok) d = H5Dcreate2(loc, name, file_type, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ok = ok && d >= 0 && (rows == 0 || H5Dwrite(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
    ok = ok && set_enc(d, "array", "0.2.0") == 0;
    if (d >= 0) H5Dclose(d);
    if (s >= 0) H5Sclose(s);
    return ok ? 0 : -1;
}

static hid_t open_or_create_dict(hid_t f, const char *name) {
    if (H5Lexists(f, name, H5P_DEFAULT) > 0) return H5Gopen2(f, name, H5P_DEFAULT);
    hid_t g = H5Gcreate2(f, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g >= 0 && set_enc(g, "dict", "0.1.0")) {
        H5Gclose(g);
        return -1;
    }
    return g;
}

static int fail(scfm_h5ad_out *o, const char *what) {
    return scfm_error(SCFM_EIO, "%s: HDF5 write failed (%s)", o->path, what);
}

/* Adds name to obs's column-order (once). */
static int add_column_name(scfm_h5ad_out *o, hid_t obs, const char *name) {
    io_strlist cur;
    memset(&cur, 0, sizeof cur);
    int rc = h5u_attr_strlist(obs, "column-order", &cur, o->path);
    if (rc < 0) return rc;
    const char **v = scfm_calloc(cur.n + 1, sizeof *v);
    if (!v) { io_strlist_free(&cur); return SCFM_ENOMEM; }
    size_t k = 0;
    int have = 0;
    for (size_t i = 0; i < cur.n; i++) {
        v[k++] = cur.v[i];
        have |= !strcmp(cur.v[i], name);
    }
    if (!have) v[k++] = name;
    rc = attr_strs(obs, "column-order", v, k) ? fail(o, "obs column-order") : SCFM_OK;
    free(v);
    io_strlist_free(&cur);
    return rc;
}

static int check_name(scfm_h5ad_out *o, const char *name) {
    if (!name || !name[0] || strchr(name, '/') || !strcmp(name, "_index") || !strcmp(name, "__categories"))
        return scfm_error(SCFM_EINVAL, "%s: bad column name '%s'", o->path, name ? name : "");
    return SCFM_OK;
}

/* Opens obs and removes an existing column `name` (replaced). */
static hid_t obs_slot(scfm_h5ad_out *o, const char *name) {
    hid_t obs = H5Gopen2(o->f, "obs", H5P_DEFAULT);
    if (obs >= 0 && H5Lexists(obs, name, H5P_DEFAULT) > 0) H5Ldelete(obs, name, H5P_DEFAULT);
    return obs;
}

int scfm_h5ad_out_has_obs(const scfm_h5ad_out *o, const char *name) {
    if (!o || !name || !name[0] || strchr(name, '/')) return 0;
    hid_t obs = H5Gopen2(o->f, "obs", H5P_DEFAULT);
    int has = obs >= 0 && H5Lexists(obs, name, H5P_DEFAULT) > 0;
    if (obs >= 0) H5Gclose(obs);
    return has;
}

int scfm_h5ad_out_categorical(scfm_h5ad_out *o, const char *name, const char *const *v) {
    int rc = check_name(o, name);
    if (rc) return rc;
    /* categories: the distinct non-empty values, sorted */
    const char **cat = scfm_calloc(o->n ? o->n : 1, sizeof *cat);
    int32_t *codes = scfm_calloc(o->rows ? o->rows : 1, sizeof *codes);
    size_t nc = 0;
    if (!cat || !codes) { free(cat); free(codes); return SCFM_ENOMEM; }
    for (size_t i = 0; i < o->n; i++)
        if (v[i] && v[i][0]) cat[nc++] = v[i];
    qsort(cat, nc, sizeof *cat, cmp_cstr);
    size_t u = 0;
    for (size_t i = 0; i < nc; i++)
        if (!u || strcmp(cat[u - 1], cat[i])) cat[u++] = cat[i];
    nc = u;
    for (size_t r = 0; r < o->rows; r++) {
        long i = o->row_of[r];
        codes[r] = -1;
        if (i < 0 || !v[i] || !v[i][0]) continue;
        size_t lo = 0, hi = nc; /* binary search */
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            int c = strcmp(cat[mid], v[i]);
            if (c == 0) { lo = mid; break; }
            if (c < 0) lo = mid + 1;
            else hi = mid;
        }
        codes[r] = (int32_t)lo;
    }
    hid_t obs = obs_slot(o, name), g = obs >= 0 ? H5Gcreate2(obs, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1;
    int bad = g < 0 || set_enc(g, "categorical", "0.2.0") || attr_bool_false(g, "ordered") ||
              ds_strings(g, "categories", cat, nc) ||
              ds_numeric(g, "codes", H5T_STD_I32LE, H5T_NATIVE_INT32, codes, o->rows, 0);
    if (g >= 0) H5Gclose(g);
    rc = bad ? fail(o, name) : add_column_name(o, obs, name);
    if (obs >= 0) H5Gclose(obs);
    free(cat);
    free(codes);
    return rc;
}

int scfm_h5ad_out_float(scfm_h5ad_out *o, const char *name, const double *v) {
    int rc = check_name(o, name);
    if (rc) return rc;
    double *col = scfm_calloc(o->rows ? o->rows : 1, sizeof *col);
    if (!col) return SCFM_ENOMEM;
    for (size_t r = 0; r < o->rows; r++) col[r] = o->row_of[r] >= 0 ? v[o->row_of[r]] : NAN;
    hid_t obs = obs_slot(o, name);
    int bad = obs < 0 || ds_numeric(obs, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, col, o->rows, 0);
    rc = bad ? fail(o, name) : add_column_name(o, obs, name);
    if (obs >= 0) H5Gclose(obs);
    free(col);
    return rc;
}

int scfm_h5ad_out_obsm(scfm_h5ad_out *o, const char *key, const float *m, size_t cols) {
    int rc = check_name(o, key);
    if (rc) return rc;
    size_t cells;
    if (scfm_mul_size(o->rows, cols ? cols : 1, &cells)) return scfm_error(SCFM_ENOMEM, "%s: obsm too large", o->path);
    float *buf = scfm_calloc(cells ? cells : 1, sizeof *buf);
    if (!buf) return SCFM_ENOMEM;
    for (size_t r = 0; r < o->rows; r++)
        for (size_t c = 0; c < cols; c++) buf[r * cols + c] = o->row_of[r] >= 0 ? m[(size_t)o->row_of[r] * cols + c] : NAN;
    hid_t g = open_or_create_dict(o->f, "obsm");
    if (g >= 0 && H5Lexists(g, key, H5P_DEFAULT) > 0) H5Ldelete(g, key, H5P_DEFAULT);
    int bad = g < 0 || ds_numeric(g, key, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, buf, o->rows, cols);
    if (g >= 0) H5Gclose(g);
    free(buf);
    return bad ? fail(o, key) : SCFM_OK;
}

int scfm_h5ad_out_uns_strings(scfm_h5ad_out *o, const char *key, const char *const *v, size_t k) {
    int rc = check_name(o, key);
    if (rc) return rc;
    hid_t g = open_or_create_dict(o->f, "uns");
    if (g >= 0 && H5Lexists(g, key, H5P_DEFAULT) > 0) H5Ldelete(g, key, H5P_DEFAULT);
    int bad = g < 0 || ds_strings(g, key, v, k);
    if (g >= 0) H5Gclose(g);
    return bad ? fail(o, key) : SCFM_OK;
}

static int uns_string(scfm_h5ad_out *o, const char *key, const char *value) {
    hid_t g = open_or_create_dict(o->f, "uns");
    if (g >= 0 && H5Lexists(g, key, H5P_DEFAULT) > 0) H5Ldelete(g, key, H5P_DEFAULT);
    hid_t t = vlen_str(), s = H5Screate(H5S_SCALAR), d = -1;
    int ok = g >= 0 && t >= 0 && s >= 0;
    if (ok) d = H5Dcreate2(g, key, t, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ok = ok && d >= 0 && H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, &value) >= 0 && set_enc(d, "string", "0.2.0") == 0;
    if (d >= 0) H5Dclose(d);
    if (s >= 0) H5Sclose(s);
    if (t >= 0) H5Tclose(t);
    if (g >= 0) H5Gclose(g);
    return ok ? SCFM_OK : fail(o, key);
}

static int new_file(scfm_h5ad_out *o, const char *const *ids) {
    o->f = H5Fcreate(o->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (o->f < 0) return scfm_error(SCFM_EIO, "%s: cannot create HDF5 file", o->path);
    if (set_enc(o->f, "anndata", "0.1.0")) return fail(o, "root");
    static const char *frames[] = {"obs", "var"};
    for (int k = 0; k < 2; k++) {
        hid_t g = H5Gcreate2(o->f, frames[k], H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        int bad = g < 0 || set_enc(g, "dataframe", "0.2.0") || attr_str(g, "_index", "_index") ||
                  attr_strs(g, "column-order", NULL, 0) || ds_strings(g, "_index", k ? NULL : ids, k ? 0 : o->n);
        if (g >= 0) H5Gclose(g);
        if (bad) return fail(o, frames[k]);
    }
    static const char *dicts[] = {"obsm", "varm", "obsp", "varp", "layers", "uns"};
    for (size_t i = 0; i < sizeof dicts / sizeof *dicts; i++) {
        hid_t g = open_or_create_dict(o->f, dicts[i]);
        if (g < 0) return fail(o, dicts[i]);
        H5Gclose(g);
    }
    if (!(o->row_of = scfm_calloc(o->n ? o->n : 1, sizeof *o->row_of))) return SCFM_ENOMEM;
    for (size_t i = 0; i < o->n; i++) o->row_of[i] = (long)i;
    o->rows = o->n;
    return SCFM_OK;
}

/* The template's obs index (dataframe 0.2.0: attr _index names a string dataset, or a
 * nullable-string-array group with values). */
static int template_index(scfm_h5ad_out *o, const char *tpl, io_strlist *idx) {
    hid_t obs = H5Gopen2(o->f, "obs", H5P_DEFAULT);
    if (obs < 0) return scfm_error(SCFM_EFORMAT, "%s: no obs group (not an AnnData file)", tpl);
    char name[256] = "";
    int rc = h5u_attr_str(obs, "_index", name, sizeof name, tpl);
    if (rc == 0) rc = scfm_error(SCFM_EFORMAT, "%s: obs has no _index attribute (anndata < 0.7 files are not "
                                 "supported as templates: rewrite it with a current anndata)", tpl);
    if (rc > 0) {
        H5I_type_t k = h5u_kind(obs, name);
        char path[300];
        snprintf(path, sizeof path, k == H5I_GROUP ? "%s/values" : "%s", name);
        hid_t d = H5Dopen2(obs, path, H5P_DEFAULT);
        rc = d < 0 ? scfm_error(SCFM_EFORMAT, "%s: obs index '%s' cannot be read", tpl, name)
                   : h5u_read_strings(d, H5U_ANY_LEN, idx, tpl, "obs index");
        if (d >= 0) H5Dclose(d);
    }
    H5Gclose(obs);
    return rc < 0 ? rc : SCFM_OK;
}

static int template_file(scfm_h5ad_out *o, const char *tpl, const char *const *ids) {
    char *data = NULL;
    size_t len = 0;
    int rc = scfm_read_file(tpl, &data, &len);
    if (!rc) rc = scfm_write_file_atomic(o->tmp, data, len);
    free(data);
    if (rc) return rc;
    o->f = H5Fopen(o->tmp, H5F_ACC_RDWR, H5P_DEFAULT);
    if (o->f < 0) return scfm_error(SCFM_EFORMAT, "%s: not an HDF5 file or corrupt", tpl);
    io_strlist idx;
    memset(&idx, 0, sizeof idx);
    if ((rc = template_index(o, tpl, &idx))) return rc;
    scfm_strmap map;
    rc = scfm_strmap_init(&map, idx.n);
    for (size_t r = 0; !rc && r < idx.n; r++) {
        int p = scfm_strmap_put(&map, idx.v[r], r);
        if (p < 0) rc = p;
        else if (p == 1)
            rc = scfm_error(SCFM_EFORMAT, "%s: obs index has '%s' twice; cells cannot be matched (make the names "
                            "unique, e.g. anndata's obs_names_make_unique)", tpl, idx.v[r]);
    }
    o->rows = idx.n;
    if (!rc && !(o->row_of = scfm_calloc(o->rows ? o->rows : 1, sizeof *o->row_of))) rc = SCFM_ENOMEM;
    for (size_t r = 0; !rc && r < o->rows; r++) o->row_of[r] = -1;
    size_t missing = 0;
    const char *first = NULL;
    for (size_t i = 0; !rc && i < o->n; i++) {
        size_t r;
        if (scfm_strmap_get(&map, ids[i], &r)) o->row_of[r] = (long)i;
        else if (!missing++) first = ids[i];
    }
    if (!rc && missing)
        rc = scfm_error(SCFM_EINVAL, "%s: %zu of the %zu cells are not in its obs index (first: '%s'); give the .h5ad "
                        "the corpus was tokenized from", tpl, missing, o->n, first);
    if (!rc && o->n < o->rows)
        scfm_log(SCFM_LOG_INFO, "%s: %zu of its %zu cells have results; the others get missing values", tpl, o->n,
                 o->rows);
    scfm_strmap_free(&map);
    io_strlist_free(&idx);
    return rc;
}

int scfm_h5ad_out_open(scfm_h5ad_out **out, const char *path, const char *template_path, const char *const *ids,
                       size_t n) {
    *out = NULL;
    if (!path || !ids) return scfm_error(SCFM_EINVAL, "h5ad output: path and cell ids are required");
    scfm_h5ad_out *o = scfm_calloc(1, sizeof *o);
    if (!o) return SCFM_ENOMEM;
    o->f = -1;
    o->n = n;
    o->from_template = template_path != NULL;
    size_t pl = strlen(path) + 32;
    o->path = scfm_strdup(path);
    o->tmp = scfm_malloc(pl);
    if (!o->path || !o->tmp) { scfm_h5ad_out_close(o, 0, NULL); return SCFM_ENOMEM; }
    snprintf(o->tmp, pl, "%s.tmp.%ld", path, (long)getpid());
    H5Eget_auto2(H5E_DEFAULT, &o->old_fn, &o->old_data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    int rc = template_path ? template_file(o, template_path, ids) : new_file(o, ids);
    if (rc) { scfm_h5ad_out_close(o, 0, NULL); return rc; }
    *out = o;
    return SCFM_OK;
}

int scfm_h5ad_out_close(scfm_h5ad_out *o, int commit, const char *command) {
    if (!o) return SCFM_OK;
    int rc = SCFM_OK;
    if (commit && command && o->f >= 0) rc = uns_string(o, "scfm_command", command);
    if (o->f >= 0 && H5Fclose(o->f) < 0 && commit && !rc) rc = fail(o, "close");
    if (commit && !rc && rename(o->tmp, o->path) != 0)
        rc = scfm_error(SCFM_EIO, "%s: rename failed: %s", o->path, strerror(errno));
    if ((!commit || rc) && o->tmp) remove(o->tmp);
    H5Eset_auto2(H5E_DEFAULT, o->old_fn, o->old_data);
    free(o->row_of);
    free(o->path);
    free(o->tmp);
    free(o);
    return rc;
}
#else
struct scfm_h5ad_out { int unused; };
int scfm_h5ad_out_open(scfm_h5ad_out **out, const char *path, const char *template_path, const char *const *ids,
                       size_t n) {
    (void)template_path, (void)ids, (void)n;
    *out = NULL;
    return scfm_error(SCFM_EINVAL, "%s: this scfm was built without HDF5: write .tsv or .csv instead", path);
}
int scfm_h5ad_out_has_obs(const scfm_h5ad_out *o, const char *name) { (void)o, (void)name; return 0; }
int scfm_h5ad_out_categorical(scfm_h5ad_out *o, const char *name, const char *const *v) { (void)o, (void)name, (void)v; return SCFM_EINVAL; }
int scfm_h5ad_out_float(scfm_h5ad_out *o, const char *name, const double *v) { (void)o, (void)name, (void)v; return SCFM_EINVAL; }
int scfm_h5ad_out_obsm(scfm_h5ad_out *o, const char *key, const float *m, size_t cols) { (void)o, (void)key, (void)m, (void)cols; return SCFM_EINVAL; }
int scfm_h5ad_out_uns_strings(scfm_h5ad_out *o, const char *key, const char *const *v, size_t k) { (void)o, (void)key, (void)v, (void)k; return SCFM_EINVAL; }
int scfm_h5ad_out_close(scfm_h5ad_out *o, int commit, const char *command) { (void)o, (void)commit, (void)command; return SCFM_OK; }
#endif
