/* Embedding tables as `scfm embed` writes them (.h5ad, .npy + .obs.tsv, .tsv), read back
 * for maps and reports. Errors name the file and what is wrong. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scfm/embedmap.h"
#include "scfm/rng.h"
#ifdef SCFM_HAVE_HDF5
#include <hdf5.h>
#endif

void scfm_emb_table_free(scfm_emb_table *t) {
    if (!t) return;
    free(t->x);
    for (size_t i = 0; t->ids && i < t->n; i++) free(t->ids[i]);
    free(t->ids);
    for (size_t k = 0; t->obs_names && k < t->n_obs; k++) free(t->obs_names[k]);
    free(t->obs_names);
    for (size_t i = 0; t->obs && i < t->n * t->n_obs; i++) free(t->obs[i]);
    free(t->obs);
    free(t->command);
    memset(t, 0, sizeof *t);
}

long scfm_emb_table_obs(const scfm_emb_table *t, const char *name) {
    for (size_t k = 0; k < t->n_obs; k++)
        if (!strcmp(t->obs_names[k], name)) return (long)k;
    return -1;
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* Splits text into lines in place (strips \r); returns count, lines[] points into text. */
static size_t split_lines(char *text, char ***out) {
    size_t n = 0, cap = 0;
    char **v = NULL;
    for (char *p = text; *p;) {
        char *e = strchr(p, '\n');
        if (e) *e = 0;
        size_t l = strlen(p);
        if (l && p[l - 1] == '\r') p[l - 1] = 0;
        if (n == cap) {
            cap = cap ? 2 * cap : 256;
            char **nv = realloc(v, cap * sizeof *nv);
            if (!nv) { free(v); *out = NULL; return (size_t)-1; }
            v = nv;
        }
        v[n++] = p;
        if (!e) break;
        p = e + 1;
    }
    *out = v;
    return n;
}

/* Splits a line at tabs in place; returns the field count (fields[] up to max). */
static size_t split_tabs(char *line, char **fields, size_t max) {
    size_t n = 0;
    for (char *p = line;;) {
        char *e = strchr(p, '\t');
        if (n < max) fields[n] = p;
        n++;
        if (!e) break;
        if (n <= max) *e = 0;
        p = e + 1;
    }
    return n;
}

static int is_dim_name(const char *s, size_t want) {
    char buf[32];
    snprintf(buf, sizeof buf, "%zu", want);
    return !strcmp(s, buf);
}

/* TSV table: cell_id? obs... dims 0..d-1. When dims_required is 0, the table is an obs
 * table only (cell_id + obs columns; the .npy companion). */
static int read_tsv(const char *path, scfm_emb_table *t, int dims_required) {
    char *text = NULL;
    size_t len;
    int rc = scfm_read_file(path, &text, &len);
    if (rc) return rc;
    char **lines = NULL;
    size_t nl = split_lines(text, &lines);
    if (nl == (size_t)-1) { free(text); return SCFM_ENOMEM; }
    while (nl && !*lines[nl - 1]) nl--;
    char **f = NULL;
    if (nl < 1) { rc = scfm_error(SCFM_EFORMAT, "%s: empty file (no header)", path); goto done; }
    size_t nf = 1;
    for (const char *q = lines[0]; *q; q++) nf += *q == '\t';
    f = scfm_calloc(nf + 1, sizeof *f);
    if (!f) { rc = SCFM_ENOMEM; goto done; }
    split_tabs(lines[0], f, nf);
    size_t first = 0, dim0 = nf;
    int has_id = nf && !strcmp(f[0], "cell_id");
    if (has_id) first = 1;
    if (dims_required) {
        for (size_t c = first; c < nf; c++)
            if (is_dim_name(f[c], 0)) { dim0 = c; break; }
        if (dim0 == nf) { rc = scfm_error(SCFM_EFORMAT, "%s: no embedding columns (a header column named 0)", path); goto done; }
        for (size_t c = dim0; c < nf; c++)
            if (!is_dim_name(f[c], c - dim0)) { rc = scfm_error(SCFM_EFORMAT, "%s: header column %zu is '%s', expected %zu", path, c + 1, f[c], c - dim0); goto done; }
    }
    size_t n = nl - 1, d = nf - dim0, n_obs = dim0 - first;
    if (dims_required && n == 0) { rc = scfm_error(SCFM_EFORMAT, "%s: no rows", path); goto done; }
    t->n_obs = n_obs;
    t->obs_names = scfm_calloc(n_obs ? n_obs : 1, sizeof *t->obs_names);
    t->obs = scfm_calloc(n * n_obs > 0 ? n * n_obs : 1, sizeof *t->obs);
    if (!t->ids) t->ids = scfm_calloc(n ? n : 1, sizeof *t->ids);
    if (dims_required) { t->n = n, t->d = d; t->x = scfm_malloc((n * d > 0 ? n * d : 1) * sizeof *t->x); }
    if (!t->obs_names || !t->obs || !t->ids || (dims_required && !t->x)) { rc = SCFM_ENOMEM; goto done; }
    for (size_t k = 0; k < n_obs; k++)
        if (!(t->obs_names[k] = scfm_strdup(f[first + k]))) { rc = SCFM_ENOMEM; goto done; }
    if (!dims_required && n != t->n) { rc = scfm_error(SCFM_EMISMATCH, "%s: %zu rows but the embedding has %zu", path, n, t->n); goto done; }
    for (size_t i = 0; i < n; i++) {
        size_t got = split_tabs(lines[i + 1], f, nf);
        if (got != nf) { rc = scfm_error(SCFM_EFORMAT, "%s: line %zu has %zu fields, the header %zu", path, i + 2, got, nf); goto done; }
        if (has_id) {
            free(t->ids[i]);
            if (!(t->ids[i] = scfm_strdup(f[0]))) { rc = SCFM_ENOMEM; goto done; }
        }
        for (size_t k = 0; k < n_obs; k++)
            if (!(t->obs[i * n_obs + k] = scfm_strdup(f[first + k]))) { rc = SCFM_ENOMEM; goto done; }
        for (size_t c = 0; dims_required && c < d; c++) {
            char *end;
            errno = 0;
            double v = strtod(f[dim0 + c], &end);
            if (end == f[dim0 + c] || *end || errno == ERANGE || v != v)
                { rc = scfm_error(SCFM_EFORMAT, "%s: line %zu column %zu: '%s' is not a number", path, i + 2, dim0 + c + 1, f[dim0 + c]); goto done; }
            t->x[i * d + c] = (float)v;
        }
    }
done:
    free(f), free(lines), free(text);
    return rc;
}

static int read_npy(const char *path, scfm_emb_table *t) {
    char *data = NULL;
    size_t len;
    int rc = scfm_read_file(path, &data, &len);
    if (rc) return rc;
    const unsigned char *u = (const unsigned char *)data;
    if (len < 10 || memcmp(data, "\x93NUMPY", 6)) { rc = scfm_error(SCFM_EFORMAT, "%s: not a .npy file", path); goto done; }
    size_t hl = u[6] == 1 ? (size_t)u[8] | (size_t)u[9] << 8 : len >= 12 ? (size_t)u[8] | (size_t)u[9] << 8 | (size_t)u[10] << 16 | (size_t)u[11] << 24 : 0;
    size_t off = u[6] == 1 ? 10 : 12;
    if (off + hl > len) { rc = scfm_error(SCFM_EFORMAT, "%s: truncated .npy header", path); goto done; }
    char hdr[1024];
    size_t cl = hl < sizeof hdr - 1 ? hl : sizeof hdr - 1;
    memcpy(hdr, data + off, cl);
    hdr[cl] = 0;
    int f4 = strstr(hdr, "'<f4'") != NULL, f8 = strstr(hdr, "'<f8'") != NULL;
    if (!f4 && !f8) { rc = scfm_error(SCFM_EFORMAT, "%s: dtype must be little-endian float32 or float64 ('<f4'/'<f8')", path); goto done; }
    if (strstr(hdr, "'fortran_order': True")) { rc = scfm_error(SCFM_EFORMAT, "%s: Fortran order is not supported", path); goto done; }
    const char *sh = strstr(hdr, "'shape': (");
    unsigned long long r = 0, c = 0;
    if (!sh || sscanf(sh, "'shape': (%llu, %llu)", &r, &c) != 2)
        { rc = scfm_error(SCFM_EFORMAT, "%s: the array must be 2-D (rows, dims)", path); goto done; }
    size_t es = f4 ? 4 : 8, cnt, bytes;
    if (scfm_mul_size((size_t)r, (size_t)c, &cnt) || scfm_mul_size(cnt, es, &bytes) || off + hl + bytes != len)
        { rc = scfm_error(SCFM_EFORMAT, "%s: data size does not match shape (%llu, %llu)", path, r, c); goto done; }
    t->n = r, t->d = c;
    t->x = scfm_malloc((cnt ? cnt : 1) * sizeof *t->x);
    t->ids = scfm_calloc(r ? r : 1, sizeof *t->ids);
    if (!t->x || !t->ids) { rc = SCFM_ENOMEM; goto done; }
    const char *p = data + off + hl;
    for (size_t i = 0; i < cnt; i++) {
        if (f4) memcpy(&t->x[i], p + 4 * i, 4);
        else { double v; memcpy(&v, p + 8 * i, 8); t->x[i] = (float)v; }
    }
    char base[4096];
    snprintf(base, sizeof base, "%.*s.obs.tsv", (int)(strlen(path) - 4), path);
    FILE *fo = fopen(base, "rb");
    if (fo) {
        fclose(fo);
        rc = read_tsv(base, t, 0);
    }
    for (size_t i = 0; !rc && i < t->n; i++)
        if (!t->ids[i]) {
            char b[32];
            snprintf(b, sizeof b, "%zu", i);
            if (!(t->ids[i] = scfm_strdup(b))) rc = SCFM_ENOMEM;
        }
done:
    free(data);
    return rc;
}

#ifdef SCFM_HAVE_HDF5
/* Reads a 1-D string dataset (variable or fixed length) into out[n] (strdup'ed). */
static int h5_strings(hid_t loc, const char *name, size_t n, char **out) {
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    if (d < 0) return -1;
    hid_t ft = H5Dget_type(d), sp = H5Dget_space(d);
    int ok = ft >= 0 && sp >= 0 && H5Tget_class(ft) == H5T_STRING && H5Sget_simple_extent_npoints(sp) == (hssize_t)n;
    if (ok && H5Tis_variable_str(ft) > 0) {
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(ft));
        char **v = calloc(n ? n : 1, sizeof *v);
        ok = v && H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0;
        for (size_t i = 0; ok && i < n; i++) ok = (out[i] = strdup(v[i] ? v[i] : "")) != NULL;
        if (v && ok) H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, v);
        free(v);
        H5Tclose(mt);
    } else if (ok) {
        size_t sz = H5Tget_size(ft);
        char *buf = calloc(n ? n : 1, sz + 1);
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, sz + 1);
        H5Tset_cset(mt, H5Tget_cset(ft));
        ok = buf && H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0;
        for (size_t i = 0; ok && i < n; i++) ok = (out[i] = strndup(buf + i * (sz + 1), sz)) != NULL;
        free(buf);
        H5Tclose(mt);
    }
    if (sp >= 0) H5Sclose(sp);
    if (ft >= 0) H5Tclose(ft);
    H5Dclose(d);
    return ok ? 0 : -1;
}

/* Numeric 1-D dataset as strings (%.6g, or integers). */
static int h5_numbers(hid_t loc, const char *name, size_t n, char **out) {
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    if (d < 0) return -1;
    hid_t sp = H5Dget_space(d), ft = H5Dget_type(d);
    int ok = sp >= 0 && ft >= 0 && H5Sget_simple_extent_npoints(sp) == (hssize_t)n &&
             (H5Tget_class(ft) == H5T_INTEGER || H5Tget_class(ft) == H5T_FLOAT);
    int isint = ok && H5Tget_class(ft) == H5T_INTEGER;
    double *v = ok ? calloc(n ? n : 1, sizeof *v) : NULL;
    ok = ok && v && H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0;
    for (size_t i = 0; ok && i < n; i++) {
        char b[64];
        if (isint) snprintf(b, sizeof b, "%.0f", v[i]);
        else snprintf(b, sizeof b, "%.6g", v[i]);
        ok = (out[i] = strdup(b)) != NULL;
    }
    free(v);
    if (ft >= 0) H5Tclose(ft);
    if (sp >= 0) H5Sclose(sp);
    H5Dclose(d);
    return ok ? 0 : -1;
}

/* An obs column: string-array dataset, categorical group (codes + categories) or numbers. */
static int h5_obs_column(hid_t obs, const char *name, size_t n, char **out) {
    hid_t probe = H5Oopen(obs, name, H5P_DEFAULT);
    if (probe < 0) return -1;
    H5I_type_t kind = H5Iget_type(probe);
    H5Oclose(probe);
    if (kind == H5I_GROUP) {
        hid_t g = H5Gopen2(obs, name, H5P_DEFAULT);
        if (g < 0) return -1;
        int rc = -1;
        hid_t cd = H5Dopen2(g, "categories", H5P_DEFAULT);
        if (cd >= 0) {
            hid_t sp = H5Dget_space(cd);
            hssize_t nc = H5Sget_simple_extent_npoints(sp);
            H5Sclose(sp);
            H5Dclose(cd);
            char **cats = nc >= 0 ? calloc((size_t)nc + 1, sizeof *cats) : NULL;
            long long *codes = calloc(n ? n : 1, sizeof *codes);
            hid_t kd = H5Dopen2(g, "codes", H5P_DEFAULT);
            if (cats && codes && kd >= 0 && h5_strings(g, "categories", (size_t)nc, cats) == 0 &&
                H5Dread(kd, H5T_NATIVE_LLONG, H5S_ALL, H5S_ALL, H5P_DEFAULT, codes) >= 0) {
                rc = 0;
                for (size_t i = 0; !rc && i < n; i++) {
                    const char *s = codes[i] >= 0 && codes[i] < nc ? cats[codes[i]] : "";
                    if (!(out[i] = strdup(s))) rc = -1;
                }
            }
            if (kd >= 0) H5Dclose(kd);
            for (hssize_t c = 0; cats && c < nc; c++) free(cats[c]);
            free(cats), free(codes);
        }
        H5Gclose(g);
        return rc;
    }
    if (h5_strings(obs, name, n, out) == 0) return 0;
    return h5_numbers(obs, name, n, out);
}

typedef struct { char **names; size_t n, cap; } name_list;

static herr_t collect_name(hid_t g, const char *name, const H5L_info_t *info, void *ud) {
    (void)g, (void)info;
    name_list *l = ud;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        char **nv = realloc(l->names, cap * sizeof *nv);
        if (!nv) return -1;
        l->names = nv, l->cap = cap;
    }
    return (l->names[l->n++] = strdup(name)) ? 0 : -1;
}

static void name_list_free(name_list *l) {
    for (size_t i = 0; i < l->n; i++) free(l->names[i]);
    free(l->names);
}

/* Reads a string attribute (scalar or array of strings) into a list. */
static int attr_strings(hid_t obj, const char *name, name_list *l) {
    if (H5Aexists(obj, name) <= 0) return 0;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return -1;
    hid_t ft = H5Aget_type(a), sp = H5Aget_space(a);
    int rc = 0;
    if (H5Tget_class(ft) == H5T_STRING && H5Tis_variable_str(ft) > 0) {
        hssize_t k = H5Sget_simple_extent_npoints(sp);
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(ft));
        char **v = calloc(k > 0 ? (size_t)k : 1, sizeof *v);
        if (v && H5Aread(a, mt, v) >= 0) {
            for (hssize_t i = 0; i < k && !rc; i++) rc = collect_name(obj, v[i] ? v[i] : "", NULL, l) ? -1 : 0;
            H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, v);
        } else rc = -1;
        free(v);
        H5Tclose(mt);
    } else if (H5Tget_class(ft) == H5T_STRING) {
        size_t sz = H5Tget_size(ft);
        hssize_t k = H5Sget_simple_extent_npoints(sp);
        char *buf = calloc(k > 0 ? (size_t)k : 1, sz + 1);
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, sz + 1);
        H5Tset_cset(mt, H5Tget_cset(ft));
        if (buf && H5Aread(a, mt, buf) >= 0) {
            for (hssize_t i = 0; i < k && !rc; i++) {
                char *s = strndup(buf + i * (sz + 1), sz);
                rc = s && !collect_name(obj, s, NULL, l) ? 0 : -1;
                free(s);
            }
        } else rc = -1;
        free(buf);
        H5Tclose(mt);
    } /* anything else (anndata's empty column-order is float64[0]): no names */
    H5Tclose(ft), H5Sclose(sp), H5Aclose(a);
    return rc;
}

static int h5ad_body(hid_t f, const char *path, const char *key, scfm_emb_table *t) {
    hid_t om = H5Gopen2(f, "obsm", H5P_DEFAULT);
    if (om < 0) return scfm_error(SCFM_EFORMAT, "%s: no obsm group (not an AnnData file with embeddings)", path);
    name_list keys = {0};
    hsize_t at = 0;
    H5Literate(om, H5_INDEX_NAME, H5_ITER_INC, &at, collect_name, &keys);
    const char *use = key;
    if (!use) {
        for (size_t i = 0; i < keys.n; i++)
            if (!strcmp(keys.names[i], "X_scfm")) use = "X_scfm";
        if (!use && keys.n == 1) use = keys.names[0];
    }
    int rc = SCFM_OK;
    if (!use) {
        rc = scfm_error(SCFM_ENOTFOUND, "%s: obsm has %zu entries and none is X_scfm: name one (--key)", path, keys.n);
        goto done_om;
    }
    hid_t d = H5Dopen2(om, use, H5P_DEFAULT);
    if (d < 0) { rc = scfm_error(SCFM_ENOTFOUND, "%s: no obsm/%s", path, use); goto done_om; }
    hid_t sp = H5Dget_space(d);
    hsize_t dims[2] = {0, 0};
    if (H5Sget_simple_extent_ndims(sp) != 2) rc = scfm_error(SCFM_EFORMAT, "%s: obsm/%s is not 2-D", path, use);
    else {
        H5Sget_simple_extent_dims(sp, dims, NULL);
        t->n = dims[0], t->d = dims[1];
        t->x = scfm_malloc((t->n * t->d > 0 ? t->n * t->d : 1) * sizeof *t->x);
        if (!t->x) rc = SCFM_ENOMEM;
        else if (H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t->x) < 0)
            rc = scfm_error(SCFM_EFORMAT, "%s: obsm/%s cannot be read as numbers", path, use);
    }
    H5Sclose(sp);
    H5Dclose(d);
done_om:
    name_list_free(&keys);
    H5Gclose(om);
    if (rc) return rc;
    size_t n = t->n;
    t->ids = scfm_calloc(n ? n : 1, sizeof *t->ids);
    if (!t->ids) return SCFM_ENOMEM;
    hid_t obs = H5Gopen2(f, "obs", H5P_DEFAULT);
    if (obs >= 0) {
        name_list idx = {0}, cols = {0};
        attr_strings(obs, "_index", &idx);
        attr_strings(obs, "column-order", &cols);
        if (idx.n == 1 && h5_strings(obs, idx.names[0], n, t->ids) != 0) {
            for (size_t i = 0; i < n; i++) free(t->ids[i]), t->ids[i] = NULL;
        }
        t->obs_names = scfm_calloc(cols.n ? cols.n : 1, sizeof *t->obs_names);
        t->obs = scfm_calloc(n * cols.n > 0 ? n * cols.n : 1, sizeof *t->obs);
        char **tmp = scfm_calloc(n ? n : 1, sizeof *tmp);
        if (!t->obs_names || !t->obs || !tmp) rc = SCFM_ENOMEM;
        for (size_t k = 0; !rc && k < cols.n; k++) {
            memset(tmp, 0, (n ? n : 1) * sizeof *tmp);
            if (h5_obs_column(obs, cols.names[k], n, tmp) != 0) {
                for (size_t i = 0; i < n; i++) free(tmp[i]);
                continue; /* a column of a kind not shown (e.g. boolean arrays): left out */
            }
            size_t c = t->n_obs++;
            t->obs_names[c] = strdup(cols.names[k]);
            for (size_t i = 0; i < n; i++) t->obs[i * cols.n + c] = tmp[i];
        }
        /* compact rows if some columns were left out */
        if (!rc && t->n_obs < cols.n)
            for (size_t i = 0; i < n; i++)
                for (size_t c = 0; c < t->n_obs; c++) t->obs[i * t->n_obs + c] = t->obs[i * cols.n + c];
        free(tmp);
        name_list_free(&idx), name_list_free(&cols);
        H5Gclose(obs);
    }
    for (size_t i = 0; !rc && i < n; i++)
        if (!t->ids[i]) {
            char b[32];
            snprintf(b, sizeof b, "%zu", i);
            if (!(t->ids[i] = scfm_strdup(b))) rc = SCFM_ENOMEM;
        }
    if (!rc && H5Lexists(f, "uns/scfm_command", H5P_DEFAULT) > 0) {
        hid_t u = H5Gopen2(f, "uns", H5P_DEFAULT);
        hid_t cd = H5Dopen2(u, "scfm_command", H5P_DEFAULT);
        hid_t mt = H5Tcopy(H5T_C_S1), ft = cd >= 0 ? H5Dget_type(cd) : -1;
        H5Tset_size(mt, H5T_VARIABLE);
        if (ft >= 0) H5Tset_cset(mt, H5Tget_cset(ft));
        char *s = NULL;
        if (cd >= 0 && H5Dread(cd, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, &s) >= 0 && s) {
            t->command = strdup(s);
            H5free_memory(s);
        }
        H5Tclose(mt);
        if (ft >= 0) H5Tclose(ft);
        if (cd >= 0) H5Dclose(cd);
        H5Gclose(u);
    }
    return rc;
}

static int read_h5ad(const char *path, const char *key, scfm_emb_table *t) {
    H5E_auto2_t old_fn;
    void *old_data;
    H5Eget_auto2(H5E_DEFAULT, &old_fn, &old_data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    int rc;
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        FILE *fp = fopen(path, "rb");
        if (fp) fclose(fp);
        rc = scfm_error(fp ? SCFM_EFORMAT : SCFM_EIO, fp ? "%s: not an HDF5 file" : "%s: cannot open: %s", path,
                        strerror(errno));
    } else {
        rc = h5ad_body(f, path, key, t);
        H5Fclose(f);
    }
    H5Eset_auto2(H5E_DEFAULT, old_fn, old_data);
    return rc;
}
#endif

int scfm_emb_table_read(const char *path, const char *key, scfm_emb_table *t) {
    memset(t, 0, sizeof *t);
    int rc;
    if (ends_with(path, ".h5ad")) {
#ifdef SCFM_HAVE_HDF5
        rc = read_h5ad(path, key, t);
#else
        (void)key;
        rc = scfm_error(SCFM_EINVAL, "%s: this scfm was built without HDF5: use the .npy or .tsv embedding", path);
#endif
    } else if (ends_with(path, ".npy")) rc = read_npy(path, t);
    else if (ends_with(path, ".tsv")) rc = read_tsv(path, t, 1);
    else rc = scfm_error(SCFM_EINVAL, "%s: embeddings must be .h5ad, .npy or .tsv", path);
    if (!rc && t->n == 0) rc = scfm_error(SCFM_EFORMAT, "%s: no cells", path);
    for (size_t i = 0; !rc && i < t->n * t->d; i++)
        if (t->x[i] != t->x[i]) rc = scfm_error(SCFM_EDATA, "%s: cell %zu holds NaN", path, i / t->d);
    if (rc) scfm_emb_table_free(t);
    return rc;
}

int scfm_map_subsample(size_t n, size_t max, uint64_t seed, size_t **idx, size_t *m) {
    size_t *v = scfm_malloc((n ? n : 1) * sizeof *v);
    if (!v) return SCFM_ENOMEM;
    for (size_t i = 0; i < n; i++) v[i] = i;
    size_t k = max && max < n ? max : n;
    if (k < n) {
        scfm_rng r;
        scfm_rng_seed(&r, seed);
        for (size_t i = 0; i < k; i++) { /* partial Fisher-Yates */
            size_t j = i + (size_t)scfm_rng_below(&r, n - i), t = v[i];
            v[i] = v[j], v[j] = t;
        }
        /* ascending order: counting over a bitmap */
        unsigned char *mark = scfm_calloc(n, 1);
        if (!mark) { free(v); return SCFM_ENOMEM; }
        for (size_t i = 0; i < k; i++) mark[v[i]] = 1;
        for (size_t i = 0, w = 0; i < n; i++)
            if (mark[i]) v[w++] = i;
        free(mark);
    }
    *idx = v, *m = k;
    return SCFM_OK;
}

float *scfm_emb_table_rows(const scfm_emb_table *t, const size_t *idx, size_t m) {
    size_t cnt;
    if (scfm_mul_size(m, t->d, &cnt)) { scfm_error(SCFM_ENOMEM, "subsample too large"); return NULL; }
    float *x = scfm_malloc((cnt ? cnt : 1) * sizeof *x);
    if (!x) return NULL;
    for (size_t i = 0; i < m; i++) memcpy(x + i * t->d, t->x + idx[i] * t->d, t->d * sizeof *x);
    return x;
}

/* growable text buffer */
typedef struct { char *p; size_t len, cap; int oom; } tbuf;

static void tb_put(tbuf *b, const char *s) {
    size_t l = strlen(s);
    if (b->oom) return;
    if (b->len + l + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + l + 1) cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) { b->oom = 1; return; }
        b->p = np, b->cap = cap;
    }
    memcpy(b->p + b->len, s, l + 1);
    b->len += l;
}

/* tabs and newlines inside a field would break the table: replaced by spaces */
static void tb_field(tbuf *b, const char *s) {
    char buf[256];
    size_t w = 0;
    for (const char *p = s ? s : ""; *p; p++) {
        buf[w++] = (*p == '\t' || *p == '\n' || *p == '\r') ? ' ' : *p;
        if (w == sizeof buf - 1) { buf[w] = 0; tb_put(b, buf); w = 0; }
    }
    buf[w] = 0;
    tb_put(b, buf);
}

int scfm_map_write_tsv(const char *path, const scfm_emb_table *t, const size_t *idx, size_t m, const double *y) {
    tbuf b = {0};
    tb_put(&b, "cell_id");
    for (size_t k = 0; k < t->n_obs; k++) { tb_put(&b, "\t"); tb_field(&b, t->obs_names[k]); }
    tb_put(&b, "\tx\ty\n");
    for (size_t i = 0; i < m; i++) {
        size_t r = idx[i];
        tb_field(&b, t->ids[r]);
        for (size_t k = 0; k < t->n_obs; k++) { tb_put(&b, "\t"); tb_field(&b, t->obs[r * t->n_obs + k]); }
        char num[80];
        snprintf(num, sizeof num, "\t%.6g\t%.6g\n", y[2 * i], y[2 * i + 1]);
        tb_put(&b, num);
    }
    int rc = b.oom ? scfm_error(SCFM_ENOMEM, "%s: out of memory", path) : scfm_write_file_atomic(path, b.p, b.len);
    free(b.p);
    return rc;
}
