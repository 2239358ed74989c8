/* 10x Genomics filtered_feature_bc_matrix.h5 reader (docs/formats.md section 2).
 *
 * v3 (Cell Ranger >= 3): /matrix/{data,indices,indptr,shape,barcodes,features/{id,name,...}}.
 * v2 (Cell Ranger <= 2): /<genome>/{data,indices,indptr,shape,barcodes,genes,gene_names};
 * opts->genome picks the group (required when there are several).
 * The matrix is CSC with one column per barcode, i.e. contiguous per cell, so it is streamed
 * chunk by chunk like a CSR. Every feature row is kept (all feature types, e.g. antibody
 * capture too); filter by gene list downstream. Gene column: "id" (default; v2 "genes"),
 * "name" (v2 "gene_names"), or any other dataset name under features/ (v3) or the genome
 * group (v2). No obs columns. */
#include "io_internal.h"

#ifndef SCFM_HAVE_HDF5
int io_open_tenx_h5(scfm_reader *r, const scfm_reader_opts *o) {
    (void)r;
    return scfm_error(SCFM_EINVAL,
                      "%s: cannot read 10x h5: scfm was built without HDF5 (install libhdf5-dev and rebuild)", o->path);
}
#else
#include "hdf5_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    hid_t f;
    char *file;
    h5u_sparse sp;
} tenx_state;

static void tenx_close(void *p) {
    tenx_state *s = p;
    if (!s) return;
    h5u_sparse_close(&s->sp);
    if (s->f > 0) H5Fclose(s->f);
    free(s->file);
    free(s);
}

static int tenx_read(scfm_reader *r, size_t first, size_t n, scfm_cells_chunk *ch) {
    tenx_state *s = r->st;
    return h5u_sparse_read(&s->sp, first, n, ch);
}

static int tenx_load_obs(scfm_reader *r, size_t i, io_strlist *out) {
    (void)i;
    (void)out;
    return scfm_error(SCFM_ENOTFOUND, "%s: 10x h5 files have no obs columns", r->path);
}

static const io_backend tenx_backend = {tenx_read, tenx_load_obs, tenx_close};

static int read_strings_at(hid_t f, const char *path, size_t expect, io_strlist *out, const char *file) {
    if (h5u_kind(f, path) != H5I_DATASET) return scfm_error(SCFM_ENOTFOUND, "%s: dataset '%s' missing", file, path);
    hid_t ds = H5Dopen2(f, path, H5P_DEFAULT);
    if (ds < 0) return scfm_error(SCFM_EFORMAT, "%s: cannot open '%s' (corrupt file?)", file, path);
    int rc = h5u_read_strings(ds, expect, out, file, path);
    H5Dclose(ds);
    return rc;
}

typedef struct {
    char names[2048];
    size_t used, n;
    char first[256];
} group_list;

static herr_t add_group(hid_t g, const char *name, const H5L_info_t *info, void *ud) {
    (void)info;
    group_list *l = ud;
    if (h5u_kind(g, name) != H5I_GROUP) return 0;
    if (!l->n) snprintf(l->first, sizeof l->first, "%s", name);
    if (l->used + 4 < sizeof l->names) {
        int k = snprintf(l->names + l->used, sizeof l->names - l->used, "%s%s", l->n ? ", " : "", name);
        if (k > 0) l->used += (size_t)k < sizeof l->names - l->used ? (size_t)k : sizeof l->names - l->used - 1;
    }
    l->n++;
    return 0;
}

/* Chooses the matrix group: "matrix" (v3) or the genome group (v2). */
static int choose_group(tenx_state *s, const scfm_reader_opts *o, char *grp, size_t cap, int *v3) {
    *v3 = h5u_kind(s->f, "matrix") == H5I_GROUP;
    if (*v3) {
        snprintf(grp, cap, "matrix");
        return SCFM_OK;
    }
    if (o->genome && *o->genome) {
        if (h5u_kind(s->f, o->genome) != H5I_GROUP)
            return scfm_error(SCFM_ENOTFOUND, "%s: genome '%s' not found in the 10x h5 file", s->file, o->genome);
        snprintf(grp, cap, "%s", o->genome);
        return SCFM_OK;
    }
    group_list l;
    memset(&l, 0, sizeof l);
    hsize_t at = 0;
    if (H5Literate(s->f, H5_INDEX_NAME, H5_ITER_INC, &at, add_group, &l) < 0)
        return scfm_error(SCFM_EFORMAT, "%s: cannot list the file's groups", s->file);
    if (l.n == 0)
        return scfm_error(SCFM_EFORMAT, "%s: not a 10x h5 matrix (no /matrix group and no genome group)", s->file);
    if (l.n > 1)
        return scfm_error(SCFM_EINVAL, "%s: several genomes (%s): choose one with the genome option", s->file, l.names);
    snprintf(grp, cap, "%s", l.first);
    return SCFM_OK;
}

int io_open_tenx_h5(scfm_reader *r, const scfm_reader_opts *o) {
    tenx_state *s = scfm_calloc(1, sizeof *s);
    if (!s) return SCFM_ENOMEM;
    s->f = H5I_INVALID_HID;
    s->sp.indptr = s->sp.indices = s->sp.data = H5I_INVALID_HID;
    r->st = s;
    r->be = &tenx_backend;
    if (!(s->file = scfm_strdup(o->path))) return SCFM_ENOMEM;
    int rc = h5u_open(o->path, &s->f);
    if (rc) return rc;
    char grp[256], p[700];
    int v3;
    if ((rc = choose_group(s, o, grp, sizeof grp, &v3))) return rc;
    const char *gc = o->gene_column && *o->gene_column ? o->gene_column : "id";
    if (v3) snprintf(p, sizeof p, "%s/features/%s", grp, gc);
    else
        snprintf(p, sizeof p, "%s/%s", grp, !strcmp(gc, "id") ? "genes" : !strcmp(gc, "name") ? "gene_names" : gc);
    if (h5u_kind(s->f, p) != H5I_DATASET)
        return scfm_error(SCFM_ENOTFOUND, "%s: gene column '%s' not found (no dataset '%s')", s->file, gc, p);
    char sp[700]; /* the shape first: feature and barcode counts are checked against it before reading */
    snprintf(sp, sizeof sp, "%s/shape", grp);
    if (h5u_kind(s->f, sp) != H5I_DATASET) return scfm_error(SCFM_ENOTFOUND, "%s: dataset '%s' missing", s->file, sp);
    hid_t ds = H5Dopen2(s->f, sp, H5P_DEFAULT);
    size_t n;
    int64_t sh[2] = {0, 0};
    rc = ds < 0 ? scfm_error(SCFM_EFORMAT, "%s: cannot open '%s'", s->file, sp) : h5u_len(ds, &n, s->file, sp);
    if (!rc && n != 2) rc = scfm_error(SCFM_EFORMAT, "%s: '%s' must hold 2 values (has %zu)", s->file, sp, n);
    if (!rc) rc = h5u_read_i64(ds, 0, 2, sh, s->file, sp);
    if (ds >= 0) H5Dclose(ds);
    if (rc) return rc;
    if (sh[0] < 0 || sh[1] < 0) return scfm_error(SCFM_EFORMAT, "%s: '%s' is negative", s->file, sp);
    if ((rc = read_strings_at(s->f, p, (size_t)sh[0], &r->genes, s->file))) return rc;
    snprintf(p, sizeof p, "%s/barcodes", grp);
    if ((rc = read_strings_at(s->f, p, (size_t)sh[1], &r->cells, s->file))) return rc;
    r->n_genes = r->genes.n;
    r->n_cells = r->cells.n;
    hid_t g = H5Gopen2(s->f, grp, H5P_DEFAULT);
    if (g < 0) return scfm_error(SCFM_EFORMAT, "%s: cannot open '%s'", s->file, grp);
    rc = h5u_sparse_open(&s->sp, g, r->n_cells, r->n_genes, s->file, grp);
    H5Gclose(g);
    if (rc) return rc;
    return io_strlist_finish(&r->obs_names);
}
#endif
