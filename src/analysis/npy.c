/* Output writers for embeddings: NumPy .npy, TSV tables and (with HDF5) AnnData .h5ad.
 * Every writer streams to "<path>.tmp.<pid>" and renames it over path when complete. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scfm/analysis.h"

#ifdef SCFM_HAVE_HDF5
#include <hdf5.h>
#endif

/* ---- atomic streamed file ---------------------------------------------------------- */
typedef struct {
    FILE *f;
    char tmp[4096];
    const char *path;
    int bad;
} out_file;

static int out_open(out_file *o, const char *path) {
    memset(o, 0, sizeof *o);
    o->path = path;
    if ((size_t)snprintf(o->tmp, sizeof o->tmp, "%s.tmp.%ld", path, (long)getpid()) >= sizeof o->tmp)
        return scfm_error(SCFM_EINVAL, "%s: path too long", path);
    o->f = fopen(o->tmp, "wb");
    if (!o->f) return scfm_error(SCFM_EIO, "%s: cannot create: %s", path, strerror(errno));
    return SCFM_OK;
}

static void out_write(out_file *o, const void *p, size_t n) {
    if (!o->bad && n && fwrite(p, 1, n, o->f) != n) o->bad = errno ? errno : EIO;
}

static int out_close(out_file *o) {
    int ok = !o->bad;
    ok = fflush(o->f) == 0 && ok;
    ok = fclose(o->f) == 0 && ok;
    if (!ok || rename(o->tmp, o->path) != 0) {
        int e = o->bad ? o->bad : errno;
        remove(o->tmp);
        return scfm_error(SCFM_EIO, "%s: write failed: %s", o->path, strerror(e));
    }
    return SCFM_OK;
}

/* ---- .npy ---------------------------------------------------------------------------- */
static int host_little_endian(void) {
    uint16_t x = 1;
    unsigned char c;
    memcpy(&c, &x, 1);
    return c == 1;
}

static int npy_write(const char *path, const void *data, size_t esize, const char *descr, size_t rows, size_t cols) {
    if (!host_little_endian()) return scfm_error(SCFM_EINVAL, "%s: .npy writer needs a little-endian host", path);
    size_t n = rows, bytes;
    if (cols && scfm_mul_size(rows, cols, &n)) return scfm_error(SCFM_ENOMEM, "%s: shape overflows", path);
    if (scfm_mul_size(n, esize, &bytes)) return scfm_error(SCFM_ENOMEM, "%s: size overflows", path);
    char hdr[256];
    int hl = cols ? snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': (%zu, %zu), }", descr,
                             rows, cols)
                  : snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': (%zu,), }", descr, rows);
    size_t len = (size_t)hl;
    size_t total = (10 + len + 1 + 63) / 64 * 64; /* magic+version+len, dict, '\n'; aligned to 64 */
    size_t pad = total - 10 - len - 1;
    if (len + pad + 1 > sizeof hdr - 1) return scfm_error(SCFM_EINVAL, "%s: header too long", path);
    memset(hdr + len, ' ', pad);
    hdr[len + pad] = '\n';
    size_t hlen = len + pad + 1;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff), (unsigned char)(hlen >> 8)};
    out_file o;
    int rc = out_open(&o, path);
    if (rc) return rc;
    out_write(&o, pre, sizeof pre);
    out_write(&o, hdr, hlen);
    out_write(&o, data, bytes);
    return out_close(&o);
}

int scfm_npy_write_f32(const char *path, const float *data, size_t rows, size_t cols) {
    return npy_write(path, data, sizeof(float), "<f4", rows, cols);
}

int scfm_npy_write_f64(const char *path, const double *data, size_t rows, size_t cols) {
    return npy_write(path, data, sizeof(double), "<f8", rows, cols);
}

/* ---- .tsv ---------------------------------------------------------------------------- */
/* Writes s with tabs / newlines replaced by spaces. */
static void tsv_field(out_file *o, const char *s) {
    for (; s && *s; s++) {
        char c = (*s == '\t' || *s == '\n' || *s == '\r') ? ' ' : *s;
        out_write(o, &c, 1);
    }
}

int scfm_embed_write_tsv(const char *path, const float *emb, size_t n, size_t H, const char *const *ids,
                         const char *const *obs_names, size_t n_obs, const char *const *obs) {
    out_file o;
    int rc = out_open(&o, path);
    if (rc) return rc;
    int first = 1;
    char num[48];
    if (ids) {
        out_write(&o, "cell_id", 7);
        first = 0;
    }
    for (size_t k = 0; k < n_obs; k++) {
        if (!first) out_write(&o, "\t", 1);
        tsv_field(&o, obs_names[k]);
        first = 0;
    }
    for (size_t d = 0; d < H; d++) {
        int m = snprintf(num, sizeof num, "%s%zu", first ? "" : "\t", d);
        out_write(&o, num, (size_t)m);
        first = 0;
    }
    out_write(&o, "\n", 1);
    for (size_t i = 0; i < n && !o.bad; i++) {
        first = 1;
        if (ids) {
            tsv_field(&o, ids[i]);
            first = 0;
        }
        for (size_t k = 0; k < n_obs; k++) {
            if (!first) out_write(&o, "\t", 1);
            tsv_field(&o, obs ? obs[i * n_obs + k] : "");
            first = 0;
        }
        for (size_t d = 0; d < H; d++) {
            int m = snprintf(num, sizeof num, "%s%.9g", first ? "" : "\t", (double)emb[i * H + d]);
            out_write(&o, num, (size_t)m);
            first = 0;
        }
        out_write(&o, "\n", 1);
    }
    return out_close(&o);
}

/* ---- .h5ad --------------------------------------------------------------------------- */
#ifdef SCFM_HAVE_HDF5
int scfm_have_hdf5(void) { return 1; }

static hid_t vlen_str_type(void) {
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return t;
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    H5Tset_strpad(t, H5T_STR_NULLTERM);
    return t;
}

static int attr_str(hid_t obj, const char *name, const char *value) {
    hid_t t = vlen_str_type(), s = H5Screate(H5S_SCALAR), a = -1;
    int ok = t >= 0 && s >= 0;
    if (ok) a = H5Acreate2(obj, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    ok = ok && a >= 0 && H5Awrite(a, t, &value) >= 0;
    if (a >= 0) H5Aclose(a);
    if (s >= 0) H5Sclose(s);
    if (t >= 0) H5Tclose(t);
    return ok ? 0 : -1;
}

static int attr_str_array(hid_t obj, const char *name, const char *const *v, size_t n) {
    hsize_t dim = n;
    hid_t t = -1, s = H5Screate_simple(1, &dim, NULL), a = -1;
    int ok = s >= 0;
    if (n == 0) { /* anndata writes an empty column-order as float64[0] */
        if (ok) a = H5Acreate2(obj, name, H5T_IEEE_F64LE, s, H5P_DEFAULT, H5P_DEFAULT);
        ok = ok && a >= 0;
    } else {
        t = vlen_str_type();
        ok = ok && t >= 0;
        if (ok) a = H5Acreate2(obj, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
        ok = ok && a >= 0 && H5Awrite(a, t, v) >= 0;
    }
    if (a >= 0) H5Aclose(a);
    if (s >= 0) H5Sclose(s);
    if (t >= 0) H5Tclose(t);
    return ok ? 0 : -1;
}

static int set_enc(hid_t obj, const char *type, const char *version) {
    return attr_str(obj, "encoding-type", type) || attr_str(obj, "encoding-version", version) ? -1 : 0;
}

static int group_dict(hid_t loc, const char *name) {
    hid_t g = H5Gcreate2(loc, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return -1;
    int rc = set_enc(g, "dict", "0.1.0");
    H5Gclose(g);
    return rc;
}

static int ds_str_array(hid_t loc, const char *name, const char *const *v, size_t n) {
    hsize_t dim = n;
    hid_t t = vlen_str_type(), s = H5Screate_simple(1, &dim, NULL), d = -1;
    int ok = t >= 0 && s >= 0;
    if (ok) d = H5Dcreate2(loc, name, t, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ok = ok && d >= 0 && (n == 0 || H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
    ok = ok && set_enc(d, "string-array", "0.2.0") == 0;
    if (d >= 0) H5Dclose(d);
    if (s >= 0) H5Sclose(s);
    if (t >= 0) H5Tclose(t);
    return ok ? 0 : -1;
}

/* dataframe group with index strings and string columns (cols[k][i]). */
static int write_frame(hid_t loc, const char *name, const char *const *index, size_t n, const char *const *names,
                       size_t n_cols, const char *const *const *cols) {
    hid_t g = H5Gcreate2(loc, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return -1;
    int bad = set_enc(g, "dataframe", "0.2.0") || attr_str(g, "_index", "_index") ||
              attr_str_array(g, "column-order", names, n_cols) || ds_str_array(g, "_index", index, n);
    for (size_t k = 0; k < n_cols && !bad; k++) bad = ds_str_array(g, names[k], cols[k], n);
    H5Gclose(g);
    return bad ? -1 : 0;
}

static int write_matrix(hid_t loc, const char *name, const float *emb, size_t n, size_t H) {
    hsize_t dims[2] = {n, H};
    hid_t s = H5Screate_simple(2, dims, NULL), d = -1;
    int ok = s >= 0;
    if (ok) d = H5Dcreate2(loc, name, H5T_IEEE_F32LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ok = ok && d >= 0 && (n * H == 0 || H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, emb) >= 0);
    ok = ok && set_enc(d, "array", "0.2.0") == 0;
    if (d >= 0) H5Dclose(d);
    if (s >= 0) H5Sclose(s);
    return ok ? 0 : -1;
}

static int write_uns_string(hid_t uns_loc, const char *name, const char *value) {
    hid_t t = vlen_str_type(), s = H5Screate(H5S_SCALAR), d = -1;
    int ok = t >= 0 && s >= 0;
    if (ok) d = H5Dcreate2(uns_loc, name, t, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ok = ok && d >= 0 && H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, &value) >= 0;
    ok = ok && set_enc(d, "string", "0.2.0") == 0;
    if (d >= 0) H5Dclose(d);
    if (s >= 0) H5Sclose(s);
    if (t >= 0) H5Tclose(t);
    return ok ? 0 : -1;
}

static int h5ad_body(hid_t f, const char *key, const float *emb, size_t n, size_t H, const char *const *ids,
                     const char *const *obs_names, size_t n_obs, const char *const *const *cols, const char *command) {
    if (set_enc(f, "anndata", "0.1.0")) return -1;
    if (write_frame(f, "obs", ids, n, obs_names, n_obs, cols)) return -1;
    if (write_frame(f, "var", NULL, 0, NULL, 0, NULL)) return -1;
    static const char *dicts[] = {"obsm", "varm", "obsp", "varp", "layers", "uns"};
    for (size_t i = 0; i < sizeof dicts / sizeof *dicts; i++)
        if (group_dict(f, dicts[i])) return -1;
    hid_t g = H5Gopen2(f, "obsm", H5P_DEFAULT);
    if (g < 0) return -1;
    int bad = write_matrix(g, key, emb, n, H);
    H5Gclose(g);
    if (bad) return -1;
    if (command) {
        hid_t u = H5Gopen2(f, "uns", H5P_DEFAULT);
        if (u < 0) return -1;
        bad = write_uns_string(u, "scfm_command", command);
        H5Gclose(u);
    }
    return bad ? -1 : 0;
}

int scfm_h5ad_write_embedding(const char *path, const char *key, const float *emb, size_t n, size_t H,
                              const char *const *ids, const char *const *obs_names, size_t n_obs,
                              const char *const *obs, const char *command) {
    if (!key || !*key || strchr(key, '/')) return scfm_error(SCFM_EINVAL, "%s: bad obsm key '%s'", path, key ? key : "");
    if (!ids) return scfm_error(SCFM_EINVAL, "%s: cell ids are required", path);
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= sizeof tmp)
        return scfm_error(SCFM_EINVAL, "%s: path too long", path);
    /* obs columns as per-column pointer arrays */
    const char ***cols = NULL;
    int rc = SCFM_OK;
    if (n_obs) {
        cols = scfm_calloc(n_obs, sizeof *cols);
        if (!cols) return SCFM_ENOMEM;
        for (size_t k = 0; k < n_obs && !rc; k++) {
            cols[k] = scfm_calloc(n ? n : 1, sizeof **cols);
            if (!cols[k]) rc = SCFM_ENOMEM;
            for (size_t i = 0; cols[k] && i < n; i++) cols[k][i] = obs && obs[i * n_obs + k] ? obs[i * n_obs + k] : "";
        }
    }
    H5E_auto2_t old_fn;
    void *old_data;
    H5Eget_auto2(H5E_DEFAULT, &old_fn, &old_data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if (!rc) {
        hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        if (f < 0) rc = scfm_error(SCFM_EIO, "%s: cannot create HDF5 file", path);
        else {
            int bad = h5ad_body(f, key, emb, n, H, ids, obs_names, n_obs, (const char *const *const *)cols, command);
            if (H5Fclose(f) < 0) bad = 1;
            if (bad) rc = scfm_error(SCFM_EIO, "%s: HDF5 write failed", path);
            else if (rename(tmp, path) != 0) rc = scfm_error(SCFM_EIO, "%s: rename failed: %s", path, strerror(errno));
        }
        if (rc) remove(tmp);
    }
    H5Eset_auto2(H5E_DEFAULT, old_fn, old_data);
    for (size_t k = 0; cols && k < n_obs; k++) free(cols[k]);
    free(cols);
    return rc;
}
#else
int scfm_have_hdf5(void) { return 0; }

int scfm_h5ad_write_embedding(const char *path, const char *key, const float *emb, size_t n, size_t H,
                              const char *const *ids, const char *const *obs_names, size_t n_obs,
                              const char *const *obs, const char *command) {
    (void)key, (void)emb, (void)n, (void)H, (void)ids, (void)obs_names, (void)n_obs, (void)obs, (void)command;
    return scfm_error(SCFM_EINVAL, "%s: this scfm was built without HDF5: write .npy or .tsv instead", path);
}
#endif
