/* HDF5 helpers shared by the h5ad, 10x h5 and loom readers: opening, attributes, string and
 * numeric columns (vlen and fixed strings, any integer/float width, h5py bool enums,
 * compound members), hyperslab reads and a streamed compressed-sparse matrix. */
#include "hdf5_util.h"

#ifdef SCFM_HAVE_HDF5
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int h5u_open(const char *path, hid_t *out) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    *out = H5I_INVALID_HID;
    FILE *f = fopen(path, "rb");
    if (!f) return scfm_error(SCFM_EIO, "%s: cannot open file", path);
    fclose(f);
    hid_t h = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (h < 0) return scfm_error(SCFM_EFORMAT, "%s: not an HDF5 file or corrupt", path);
    *out = h;
    return SCFM_OK;
}

int h5u_exists(hid_t loc, const char *path) {
    char buf[1024];
    size_t len = strlen(path);
    if (!len || len >= sizeof buf) return 0;
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char c = buf[i];
        buf[i] = '\0';
        htri_t e = H5Lexists(loc, buf, H5P_DEFAULT);
        if (e > 0) e = H5Oexists_by_name(loc, buf, H5P_DEFAULT);
        buf[i] = c;
        if (e <= 0) return 0;
    }
    return 1;
}

H5I_type_t h5u_kind(hid_t loc, const char *path) {
    if (!h5u_exists(loc, path)) return H5I_BADID;
    hid_t o = H5Oopen(loc, path, H5P_DEFAULT);
    if (o < 0) return H5I_BADID;
    H5I_type_t t = H5Iget_type(o);
    H5Oclose(o);
    return t == H5I_GROUP || t == H5I_DATASET ? t : H5I_BADID;
}

/* ---- strings ------------------------------------------------------------------------------- */
static size_t trim_len(const char *s, size_t cap, int spacepad) {
    size_t n = 0;
    while (n < cap && s[n]) n++;
    if (spacepad)
        while (n && s[n - 1] == ' ') n--;
    return n;
}

int h5u_attr_str(hid_t obj, const char *attr, char *buf, size_t cap, const char *file) {
    buf[0] = '\0';
    if (H5Aexists(obj, attr) <= 0) return 0;
    hid_t a = H5Aopen(obj, attr, H5P_DEFAULT), t = -1, sp = -1;
    int rc = SCFM_OK;
    if (a < 0) return scfm_error(SCFM_EFORMAT, "%s: cannot open attribute '%s'", file, attr);
    t = H5Aget_type(a);
    sp = H5Aget_space(a);
    if (t < 0 || sp < 0 || H5Tget_class(t) != H5T_STRING) {
        rc = scfm_error(SCFM_EFORMAT, "%s: attribute '%s' is not a string", file, attr);
        goto done;
    }
    if (H5Sget_simple_extent_npoints(sp) != 1) {
        rc = scfm_error(SCFM_EFORMAT, "%s: attribute '%s' is not a single string", file, attr);
        goto done;
    }
    if (H5Tis_variable_str(t) > 0) {
        char *p = NULL;
        if (H5Aread(a, t, &p) < 0) {
            rc = scfm_error(SCFM_EFORMAT, "%s: cannot read attribute '%s'", file, attr);
            goto done;
        }
        snprintf(buf, cap, "%s", p ? p : "");
        H5Dvlen_reclaim(t, sp, H5P_DEFAULT, &p);
    } else {
        size_t sz = H5Tget_size(t);
        char *tmp = scfm_malloc(sz + 1);
        if (!tmp) { rc = SCFM_ENOMEM; goto done; }
        if (H5Aread(a, t, tmp) < 0) {
            free(tmp);
            rc = scfm_error(SCFM_EFORMAT, "%s: cannot read attribute '%s'", file, attr);
            goto done;
        }
        size_t n = trim_len(tmp, sz, H5Tget_strpad(t) == H5T_STR_SPACEPAD);
        snprintf(buf, cap, "%.*s", (int)n, tmp);
        free(tmp);
    }
    rc = 1;
done:
    if (sp >= 0) H5Sclose(sp);
    if (t >= 0) H5Tclose(t);
    H5Aclose(a);
    return rc;
}

int h5u_attr_strlist(hid_t obj, const char *attr, io_strlist *out, const char *file) {
    memset(out, 0, sizeof *out);
    if (H5Aexists(obj, attr) <= 0) return io_strlist_finish(out) ? SCFM_ENOMEM : 0;
    hid_t a = H5Aopen(obj, attr, H5P_DEFAULT), t = -1, sp = -1;
    if (a < 0) return scfm_error(SCFM_EFORMAT, "%s: cannot open attribute '%s'", file, attr);
    int rc = SCFM_OK;
    t = H5Aget_type(a);
    sp = H5Aget_space(a);
    hssize_t np = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    void *buf = NULL;
    if (t < 0 || np < 0) {
        rc = scfm_error(SCFM_EFORMAT, "%s: cannot read attribute '%s'", file, attr);
    } else if (H5Tget_class(t) != H5T_STRING) {
        if (np != 0) rc = scfm_error(SCFM_EFORMAT, "%s: attribute '%s' is not a list of strings", file, attr);
    } else if (np > 0) {
        size_t n = (size_t)np, esz = H5Tis_variable_str(t) > 0 ? sizeof(char *) : H5Tget_size(t), bytes;
        if (scfm_mul_size(n, esz, &bytes) || !(buf = scfm_calloc(1, bytes))) {
            rc = scfm_error(SCFM_ENOMEM, "%s: attribute '%s' too large", file, attr);
        } else if (H5Aread(a, t, buf) < 0) {
            rc = scfm_error(SCFM_EFORMAT, "%s: cannot read attribute '%s'", file, attr);
        } else if (esz == sizeof(char *) && H5Tis_variable_str(t) > 0) {
            char **p = buf;
            for (size_t i = 0; !rc && i < n; i++) rc = io_strlist_push(out, p[i] ? p[i] : "", p[i] ? strlen(p[i]) : 0);
            H5Dvlen_reclaim(t, sp, H5P_DEFAULT, buf);
        } else {
            int spad = H5Tget_strpad(t) == H5T_STR_SPACEPAD;
            for (size_t i = 0; !rc && i < n; i++) {
                const char *s = (const char *)buf + i * esz;
                rc = io_strlist_push(out, s, trim_len(s, esz, spad));
            }
        }
    }
    free(buf);
    if (sp >= 0) H5Sclose(sp);
    if (t >= 0) H5Tclose(t);
    H5Aclose(a);
    if (!rc) rc = io_strlist_finish(out);
    if (rc) { io_strlist_free(out); return rc; }
    return 1;
}

int h5u_attr_ints(hid_t obj, const char *attr, int64_t *v, size_t n, const char *file) {
    if (H5Aexists(obj, attr) <= 0) return 0;
    hid_t a = H5Aopen(obj, attr, H5P_DEFAULT);
    if (a < 0) return scfm_error(SCFM_EFORMAT, "%s: cannot open attribute '%s'", file, attr);
    hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
    int rc = 1;
    if (t < 0 || sp < 0 || H5Tget_class(t) != H5T_INTEGER || H5Sget_simple_extent_npoints(sp) != (hssize_t)n)
        rc = scfm_error(SCFM_EFORMAT, "%s: attribute '%s' must hold %zu integers", file, attr, n);
    else if (H5Aread(a, H5T_NATIVE_INT64, v) < 0)
        rc = scfm_error(SCFM_EFORMAT, "%s: cannot read attribute '%s'", file, attr);
    if (sp >= 0) H5Sclose(sp);
    if (t >= 0) H5Tclose(t);
    H5Aclose(a);
    return rc;
}

/* ---- datasets ------------------------------------------------------------------------------ */
int h5u_dims(hid_t ds, int *rank, size_t dims[2], const char *file, const char *what) {
    hid_t sp = H5Dget_space(ds);
    if (sp < 0) return scfm_error(SCFM_EFORMAT, "%s: %s: cannot read the dataspace", file, what);
    hsize_t d[H5S_MAX_RANK];
    int r = H5Sget_simple_extent_ndims(sp);
    if (r >= 0 && r <= 2) r = H5Sget_simple_extent_dims(sp, d, NULL);
    H5Sclose(sp);
    if (r < 0 || r > 2)
        return scfm_error(SCFM_EFORMAT, "%s: %s: expected a 1-D or 2-D dataset (rank %d)", file, what, r);
    *rank = r;
    dims[0] = r > 0 ? (size_t)d[0] : 1;
    dims[1] = r > 1 ? (size_t)d[1] : 1;
    return SCFM_OK;
}

int h5u_len(hid_t ds, size_t *n, const char *file, const char *what) {
    int rank;
    size_t d[2];
    int rc = h5u_dims(ds, &rank, d, file, what);
    if (rc) return rc;
    if (rank != 1) return scfm_error(SCFM_EFORMAT, "%s: %s: expected a 1-D dataset (rank %d)", file, what, rank);
    *n = d[0];
    return SCFM_OK;
}

/* Reads [off, off+n) of a 1-D dataset with memory type mt into out. */
static int read_slice(hid_t ds, hid_t mt, size_t off, size_t n, void *out, const char *file, const char *what) {
    if (!n) return SCFM_OK;
    size_t len;
    int rc = h5u_len(ds, &len, file, what);
    if (rc) return rc;
    if (off > len || n > len - off)
        return scfm_error(SCFM_EFORMAT, "%s: %s: elements [%zu, %zu) past its end (%zu)", file, what, off, off + n, len);
    hid_t fs = H5Dget_space(ds);
    hsize_t o = off, c = n;
    hid_t ms = H5Screate_simple(1, &c, NULL);
    herr_t e = fs < 0 || ms < 0 ? -1 : H5Sselect_hyperslab(fs, H5S_SELECT_SET, &o, NULL, &c, NULL);
    if (e >= 0) e = H5Dread(ds, mt, ms, fs, H5P_DEFAULT, out);
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    if (e < 0) return scfm_error(SCFM_EFORMAT, "%s: %s: read failed (corrupt or truncated file?)", file, what);
    return SCFM_OK;
}

int h5u_read_i64(hid_t ds, size_t off, size_t n, int64_t *out, const char *file, const char *what) {
    hid_t t = H5Dget_type(ds);
    if (t < 0) return scfm_error(SCFM_EFORMAT, "%s: %s: cannot read the type", file, what);
    H5T_class_t cl = H5Tget_class(t);
    int u64 = cl == H5T_INTEGER && H5Tget_sign(t) == H5T_SGN_NONE && H5Tget_size(t) >= 8;
    H5Tclose(t);
    if (cl != H5T_INTEGER) return scfm_error(SCFM_EFORMAT, "%s: %s: expected integers", file, what);
    int rc = read_slice(ds, u64 ? H5T_NATIVE_UINT64 : H5T_NATIVE_INT64, off, n, out, file, what);
    if (!rc && u64)
        for (size_t i = 0; i < n; i++)
            if ((uint64_t)out[i] > (uint64_t)INT64_MAX)
                return scfm_error(SCFM_EFORMAT, "%s: %s: value %" PRIu64 " too large", file, what, (uint64_t)out[i]);
    return rc;
}

int h5u_read_f64(hid_t ds, size_t off, size_t n, double *out, const char *file, const char *what) {
    hid_t t = H5Dget_type(ds);
    if (t < 0) return scfm_error(SCFM_EFORMAT, "%s: %s: cannot read the type", file, what);
    H5T_class_t cl = H5Tget_class(t);
    H5Tclose(t);
    if (cl != H5T_INTEGER && cl != H5T_FLOAT)
        return scfm_error(SCFM_EFORMAT, "%s: %s: expected numbers (int or float)", file, what);
    return read_slice(ds, H5T_NATIVE_DOUBLE, off, n, out, file, what);
}

int h5u_read_block(hid_t ds, size_t r0, size_t nr, size_t c0, size_t nc, double *out, const char *file,
                   const char *what) {
    int rank;
    size_t d[2];
    int rc = h5u_dims(ds, &rank, d, file, what);
    if (rc) return rc;
    if (rank != 2) return scfm_error(SCFM_EFORMAT, "%s: %s: expected a 2-D matrix (rank %d)", file, what, rank);
    if (r0 > d[0] || nr > d[0] - r0 || c0 > d[1] || nc > d[1] - c0)
        return scfm_error(SCFM_EFORMAT, "%s: %s: block outside the %zu x %zu matrix", file, what, d[0], d[1]);
    if (!nr || !nc) return SCFM_OK;
    hid_t t = H5Dget_type(ds);
    H5T_class_t cl = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
    if (t >= 0) H5Tclose(t);
    if (cl != H5T_INTEGER && cl != H5T_FLOAT)
        return scfm_error(SCFM_EFORMAT, "%s: %s: expected a numeric matrix (int or float)", file, what);
    hid_t fs = H5Dget_space(ds);
    hsize_t o[2] = {r0, c0}, c[2] = {nr, nc};
    hid_t ms = H5Screate_simple(2, c, NULL);
    herr_t e = fs < 0 || ms < 0 ? -1 : H5Sselect_hyperslab(fs, H5S_SELECT_SET, o, NULL, c, NULL);
    if (e >= 0) e = H5Dread(ds, H5T_NATIVE_DOUBLE, ms, fs, H5P_DEFAULT, out);
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    if (e < 0) return scfm_error(SCFM_EFORMAT, "%s: %s: read failed (corrupt or truncated file?)", file, what);
    return SCFM_OK;
}

int h5u_is_string(hid_t ds, const char *file, const char *what) {
    hid_t t = H5Dget_type(ds);
    if (t < 0) return scfm_error(SCFM_EFORMAT, "%s: %s: cannot read the type", file, what);
    H5T_class_t cl = H5Tget_class(t);
    H5Tclose(t);
    if (cl == H5T_STRING) return 1;
    if (cl == H5T_INTEGER || cl == H5T_FLOAT || cl == H5T_ENUM) return 0;
    return scfm_error(SCFM_EFORMAT, "%s: %s: unsupported data type (class %d)", file, what, (int)cl);
}

void h5u_format_number(double x, int single, char *buf, size_t cap) {
    if (isnan(x)) { if (cap) buf[0] = '\0'; return; }
    if (x == floor(x) && fabs(x) < 9007199254740992.0) {
        snprintf(buf, cap, "%.0f", x);
        return;
    }
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, cap, "%.*g", p, x);
        double y = strtod(buf, NULL);
        if (single ? (float)y == (float)x : y == x) return;
    }
    snprintf(buf, cap, "%.17g", x);
}

int h5u_check_len(size_t n, size_t expect, const char *file, const char *what) {
    if (expect != H5U_ANY_LEN) {
        if (n != expect)
            return scfm_error(SCFM_EMISMATCH, "%s: %s has %zu entries but the matrix shape says %zu", file, what, n,
                              expect);
        return SCFM_OK;
    }
    struct stat st;
    size_t size = stat(file, &st) == 0 && st.st_size > 0 ? (size_t)st.st_size : 0;
    size_t lim = size > (SIZE_MAX - ((size_t)1 << 20)) / 64 ? SIZE_MAX : 64 * size + ((size_t)1 << 20);
    if (n > lim)
        return scfm_error(SCFM_EFORMAT, "%s: %s declares %zu entries, more than a file of %zu bytes can hold "
                          "(limit 64 x file size + 2^20)", file, what, n, size);
    return SCFM_OK;
}

int h5u_read_text_column(hid_t ds, const char *field, size_t expect, io_strlist *out, const char *file,
                         const char *what) {
    memset(out, 0, sizeof *out);
    size_t n;
    int rc = h5u_len(ds, &n, file, what);
    if (!rc) rc = h5u_check_len(n, expect, file, what);
    if (rc) return rc;
    hid_t ft = H5Dget_type(ds), et = -1, mt = -1, rt = -1, sp = -1;
    void *buf = NULL;
    if (ft < 0) return scfm_error(SCFM_EFORMAT, "%s: %s: cannot read the type", file, what);
    if (field) {
        int idx = H5Tget_class(ft) == H5T_COMPOUND ? H5Tget_member_index(ft, field) : -1;
        if (idx < 0) {
            H5Tclose(ft);
            return scfm_error(SCFM_ENOTFOUND, "%s: %s: no field '%s'", file, what, field);
        }
        et = H5Tget_member_type(ft, (unsigned)idx);
    } else {
        et = H5Tcopy(ft);
    }
    H5T_class_t cl = et >= 0 ? H5Tget_class(et) : H5T_NO_CLASS;
    int vlen = cl == H5T_STRING && H5Tis_variable_str(et) > 0, spad = 0, single = 0, is_signed = 1;
    size_t esz = 0;
    if (cl == H5T_STRING) {
        mt = H5Tcopy(et);
        esz = H5Tget_size(mt);
        spad = H5Tget_strpad(et) == H5T_STR_SPACEPAD;
    } else if (cl == H5T_INTEGER) {
        is_signed = H5Tget_sign(et) != H5T_SGN_NONE;
        mt = H5Tcopy(is_signed ? H5T_NATIVE_INT64 : H5T_NATIVE_UINT64);
        esz = 8;
    } else if (cl == H5T_FLOAT) {
        single = H5Tget_size(et) <= 4;
        mt = H5Tcopy(H5T_NATIVE_DOUBLE);
        esz = 8;
    } else if (cl == H5T_ENUM) {
        mt = H5Tget_native_type(et, H5T_DIR_ASCEND);
        esz = mt >= 0 ? H5Tget_size(mt) : 0;
        hid_t base = H5Tget_super(et);
        is_signed = base >= 0 && H5Tget_sign(base) != H5T_SGN_NONE;
        if (base >= 0) H5Tclose(base);
        if (esz > 8) esz = 0;
    }
    if (mt < 0 || esz == 0) {
        rc = scfm_error(SCFM_EFORMAT, "%s: %s%s%s: unsupported column type (class %d)", file, what, field ? "/" : "",
                        field ? field : "", (int)cl);
        goto done;
    }
    if (field) {
        rt = H5Tcreate(H5T_COMPOUND, esz);
        if (rt < 0 || H5Tinsert(rt, field, 0, mt) < 0) {
            rc = scfm_error(SCFM_EFORMAT, "%s: %s: cannot build a type for field '%s'", file, what, field);
            goto done;
        }
    } else {
        rt = H5Tcopy(mt);
    }
    size_t bytes;
    if (scfm_mul_size(n ? n : 1, esz, &bytes) || !(buf = scfm_calloc(1, bytes))) {
        rc = scfm_error(SCFM_ENOMEM, "%s: %s: column too large", file, what);
        goto done;
    }
    if (n && H5Dread(ds, rt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        /* strings read before the failure are still owned by buf: reclaimed below */
        rc = scfm_error(SCFM_EFORMAT, "%s: %s: read failed (corrupt or truncated file?)", file, what);
        goto done;
    }
    char num[64];
    for (size_t i = 0; !rc && i < n; i++) {
        const char *p = (const char *)buf + i * esz;
        if (cl == H5T_STRING) {
            if (vlen) {
                const char *s;
                memcpy(&s, p, sizeof s);
                rc = io_strlist_push(out, s ? s : "", s ? strlen(s) : 0);
            } else {
                rc = io_strlist_push(out, p, trim_len(p, esz, spad));
            }
            continue;
        }
        if (cl == H5T_FLOAT) {
            double v;
            memcpy(&v, p, sizeof v);
            h5u_format_number(v, single, num, sizeof num);
        } else if (cl == H5T_INTEGER && is_signed) {
            int64_t v;
            memcpy(&v, p, sizeof v);
            snprintf(num, sizeof num, "%" PRId64, v);
        } else if (cl == H5T_INTEGER) {
            uint64_t v;
            memcpy(&v, p, sizeof v);
            snprintf(num, sizeof num, "%" PRIu64, v);
        } else { /* enum: its integer value (h5py bool: FALSE = 0, TRUE = 1) */
            int64_t v = 0;
            if (esz == 1) v = is_signed ? *(const int8_t *)p : *(const uint8_t *)p;
            else if (esz == 2) { int16_t a; uint16_t b; memcpy(&a, p, 2); memcpy(&b, p, 2); v = is_signed ? a : b; }
            else if (esz == 4) { int32_t a; uint32_t b; memcpy(&a, p, 4); memcpy(&b, p, 4); v = is_signed ? a : (int64_t)b; }
            else memcpy(&v, p, 8);
            snprintf(num, sizeof num, "%" PRId64, v);
        }
        rc = io_strlist_push(out, num, strlen(num));
    }
done:
    if (vlen && n && buf) {
        sp = H5Dget_space(ds);
        if (sp >= 0) H5Dvlen_reclaim(rt, sp, H5P_DEFAULT, buf);
    }
    free(buf);
    if (sp >= 0) H5Sclose(sp);
    if (rt >= 0) H5Tclose(rt);
    if (mt >= 0) H5Tclose(mt);
    if (et >= 0) H5Tclose(et);
    H5Tclose(ft);
    if (!rc) rc = io_strlist_finish(out);
    if (rc) io_strlist_free(out);
    return rc;
}

int h5u_read_strings(hid_t ds, size_t expect, io_strlist *out, const char *file, const char *what) {
    int s = h5u_is_string(ds, file, what);
    if (s < 0) return s;
    if (!s) return scfm_error(SCFM_EFORMAT, "%s: %s: expected strings", file, what);
    return h5u_read_text_column(ds, NULL, expect, out, file, what);
}

/* ---- compressed sparse --------------------------------------------------------------------- */
void h5u_sparse_close(h5u_sparse *m) {
    if (m->indptr > 0) H5Dclose(m->indptr);
    if (m->indices > 0) H5Dclose(m->indices);
    if (m->data > 0) H5Dclose(m->data);
    free(m->ip);
    free(m->ib);
    m->indptr = m->indices = m->data = H5I_INVALID_HID;
    m->ip = m->ib = NULL;
    m->ip_cap = m->ib_cap = 0;
}

static int open_member(hid_t grp, const char *name, hid_t *out, const char *file, const char *what) {
    if (h5u_kind(grp, name) != H5I_DATASET)
        return scfm_error(SCFM_ENOTFOUND, "%s: %s/%s: dataset missing", file, what, name);
    *out = H5Dopen2(grp, name, H5P_DEFAULT);
    if (*out < 0) return scfm_error(SCFM_EFORMAT, "%s: %s/%s: cannot open (corrupt file?)", file, what, name);
    return SCFM_OK;
}

static int grow_i64(int64_t **p, size_t *cap, size_t n) {
    if (n <= *cap && *p) return SCFM_OK;
    size_t b;
    if (scfm_mul_size(n ? n : 1, sizeof **p, &b)) return scfm_error(SCFM_ENOMEM, "buffer too large");
    int64_t *q = scfm_realloc(*p, b);
    if (!q) return SCFM_ENOMEM;
    *p = q;
    *cap = n;
    return SCFM_OK;
}

int h5u_sparse_open(h5u_sparse *m, hid_t grp, size_t n_major, size_t n_minor, const char *file,
                    const char *what) {
    memset(m, 0, sizeof *m);
    m->indptr = m->indices = m->data = H5I_INVALID_HID;
    m->file = file;
    snprintf(m->what, sizeof m->what, "%s", what);
    m->n_major = n_major;
    m->n_minor = n_minor;
    int rc = open_member(grp, "data", &m->data, file, what);
    if (!rc) rc = open_member(grp, "indices", &m->indices, file, what);
    if (!rc) rc = open_member(grp, "indptr", &m->indptr, file, what);
    if (rc) return rc;
    size_t nd, ni, np;
    char w[300];
    snprintf(w, sizeof w, "%s/data", what);
    if ((rc = h5u_len(m->data, &nd, file, w))) return rc;
    snprintf(w, sizeof w, "%s/indices", what);
    if ((rc = h5u_len(m->indices, &ni, file, w))) return rc;
    snprintf(w, sizeof w, "%s/indptr", what);
    if ((rc = h5u_len(m->indptr, &np, file, w))) return rc;
    if (nd != ni)
        return scfm_error(SCFM_EFORMAT, "%s: %s: data has %zu values but indices has %zu", file, what, nd, ni);
    if (np != n_major + 1)
        return scfm_error(SCFM_EMISMATCH, "%s: %s: indptr has %zu values, expected %zu (%zu rows + 1)", file, what, np,
                          n_major + 1, n_major);
    int64_t ends[2];
    if ((rc = h5u_read_i64(m->indptr, 0, 1, &ends[0], file, w))) return rc;
    if ((rc = h5u_read_i64(m->indptr, n_major, 1, &ends[1], file, w))) return rc;
    if (ends[0] != 0) return scfm_error(SCFM_EFORMAT, "%s: %s: indptr[0] is %" PRId64 ", not 0", file, what, ends[0]);
    if ((uint64_t)ends[1] != nd)
        return scfm_error(SCFM_EFORMAT, "%s: %s: indptr ends at %" PRId64 " but there are %zu values", file, what,
                          ends[1], nd);
    m->nnz = nd;
    return SCFM_OK;
}

static int check_indptr(h5u_sparse *m, const int64_t *ip, size_t first, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (ip[i + 1] < ip[i] || ip[i] < 0 || (uint64_t)ip[i + 1] > m->nnz)
            return scfm_error(SCFM_EFORMAT, "%s: %s/indptr is not non-decreasing within [0, %zu] at position %zu "
                              "(%" PRId64 " then %" PRId64 ")", m->file, m->what, m->nnz, first + i, ip[i], ip[i + 1]);
    return SCFM_OK;
}

static int check_index(h5u_sparse *m, int64_t v, size_t pos) {
    if (v < 0 || (uint64_t)v >= m->n_minor)
        return scfm_error(SCFM_EFORMAT, "%s: %s/indices[%zu] = %" PRId64 " is out of range (must be < %zu)", m->file,
                          m->what, pos, v, m->n_minor);
    return SCFM_OK;
}

int h5u_sparse_read(h5u_sparse *m, size_t first, size_t n, scfm_cells_chunk *ch) {
    char w[300];
    snprintf(w, sizeof w, "%s/indptr", m->what);
    int rc = grow_i64(&m->ip, &m->ip_cap, n + 1);
    if (!rc) rc = h5u_read_i64(m->indptr, first, n + 1, m->ip, m->file, w);
    if (!rc) rc = check_indptr(m, m->ip, first, n);
    if (rc) return rc;
    size_t b = (size_t)m->ip[0], cnt = (size_t)m->ip[n] - b;
    if ((rc = io_chunk_reserve(ch, n, cnt)) || (rc = grow_i64(&m->ib, &m->ib_cap, cnt))) return rc;
    snprintf(w, sizeof w, "%s/indices", m->what);
    if ((rc = h5u_read_i64(m->indices, b, cnt, m->ib, m->file, w))) return rc;
    snprintf(w, sizeof w, "%s/data", m->what);
    if ((rc = h5u_read_f64(m->data, b, cnt, ch->data, m->file, w))) return rc;
    for (size_t k = 0; k < cnt; k++) {
        if ((rc = check_index(m, m->ib[k], b + k))) return rc;
        ch->indices[k] = (uint32_t)m->ib[k];
    }
    for (size_t i = 0; i <= n; i++) ch->indptr[i] = (size_t)m->ip[i] - b;
    return SCFM_OK;
}

int h5u_sparse_transpose(h5u_sparse *m, io_csr *out) {
    const size_t block = (size_t)1 << 20;
    char w[300];
    size_t *cur = NULL;
    double *db = NULL;
    int rc = grow_i64(&m->ip, &m->ip_cap, m->n_major + 1);
    snprintf(w, sizeof w, "%s/indptr", m->what);
    if (!rc) rc = h5u_read_i64(m->indptr, 0, m->n_major + 1, m->ip, m->file, w);
    if (!rc) rc = check_indptr(m, m->ip, 0, m->n_major);
    if (!rc && m->n_major > UINT32_MAX)
        rc = scfm_error(SCFM_EFORMAT, "%s: %s: %zu genes is more than this reader supports", m->file, m->what,
                        m->n_major);
    if (!rc) rc = grow_i64(&m->ib, &m->ib_cap, block);
    if (!rc && !(cur = scfm_calloc(m->n_minor ? m->n_minor : 1, sizeof *cur))) rc = SCFM_ENOMEM;
    if (!rc && !(db = scfm_malloc(block * sizeof *db))) rc = SCFM_ENOMEM;
    snprintf(w, sizeof w, "%s/indices", m->what);
    for (size_t k0 = 0; !rc && k0 < m->nnz; k0 += block) {
        size_t c = m->nnz - k0 < block ? m->nnz - k0 : block;
        if ((rc = h5u_read_i64(m->indices, k0, c, m->ib, m->file, w))) break;
        for (size_t k = 0; !rc && k < c; k++)
            if (!(rc = check_index(m, m->ib[k], k0 + k))) cur[m->ib[k]]++;
    }
    if (!rc) rc = io_csr_alloc(out, m->n_minor, cur);
    if (!rc)
        for (size_t g = 0; g < m->n_minor; g++) cur[g] = out->indptr[g];
    size_t j = 0;
    for (size_t k0 = 0; !rc && k0 < m->nnz; k0 += block) {
        size_t c = m->nnz - k0 < block ? m->nnz - k0 : block;
        if ((rc = h5u_read_i64(m->indices, k0, c, m->ib, m->file, w))) break;
        char wd[300];
        snprintf(wd, sizeof wd, "%s/data", m->what);
        if ((rc = h5u_read_f64(m->data, k0, c, db, m->file, wd))) break;
        for (size_t k = 0; k < c; k++) {
            while ((size_t)m->ip[j + 1] <= k0 + k) j++;
            size_t g = (size_t)m->ib[k];
            if (cur[g] >= out->indptr[g + 1]) {
                rc = scfm_error(SCFM_EFORMAT, "%s: %s: file changed while being read", m->file, m->what);
                break;
            }
            out->indices[cur[g]] = (uint32_t)j;
            out->data[cur[g]++] = db[k];
        }
    }
    free(cur);
    free(db);
    if (rc) io_csr_free(out);
    return rc;
}
#endif
