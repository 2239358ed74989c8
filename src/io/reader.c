/* The streaming "cells" reader: format dispatch, accessors, obs selection, and the checks
 * every chunk goes through (finite non-negative values, duplicates summed, zeros dropped). */
#include "io_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* ---- string lists ------------------------------------------------------------------------ */
int io_strlist_push(io_strlist *l, const char *s, size_t len) {
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 64, bytes;
        if (scfm_mul_size(nc, sizeof *l->off, &bytes)) return scfm_error(SCFM_ENOMEM, "string list too long");
        size_t *no = scfm_realloc(l->off, bytes);
        if (!no) return SCFM_ENOMEM;
        l->off = no;
        l->cap = nc;
    }
    size_t need;
    if (scfm_add_size(l->pool_len, len + 1, &need)) return scfm_error(SCFM_ENOMEM, "string pool too large");
    if (need > l->pool_cap) {
        size_t nc = l->pool_cap ? l->pool_cap : 1024;
        while (nc < need) {
            if (nc > SIZE_MAX / 2) return scfm_error(SCFM_ENOMEM, "string pool too large");
            nc *= 2;
        }
        char *np = scfm_realloc(l->pool, nc);
        if (!np) return SCFM_ENOMEM;
        l->pool = np;
        l->pool_cap = nc;
    }
    memcpy(l->pool + l->pool_len, s, len);
    l->pool[l->pool_len + len] = '\0';
    l->off[l->n++] = l->pool_len;
    l->pool_len = need;
    return SCFM_OK;
}

int io_strlist_finish(io_strlist *l) {
    if (!l->pool && !(l->pool = scfm_malloc(1))) return SCFM_ENOMEM;
    free(l->v);
    l->v = scfm_calloc(l->n ? l->n : 1, sizeof *l->v);
    if (!l->v) return SCFM_ENOMEM;
    for (size_t i = 0; i < l->n; i++) l->v[i] = l->pool + l->off[i];
    free(l->off);
    l->off = NULL;
    l->cap = 0;
    return SCFM_OK;
}

void io_strlist_free(io_strlist *l) {
    free(l->v);
    free(l->pool);
    free(l->off);
    memset(l, 0, sizeof *l);
}

int io_strlist_empty(io_strlist *l, size_t n) {
    memset(l, 0, sizeof *l);
    if (!(l->pool = scfm_calloc(1, 1))) return SCFM_ENOMEM;
    l->v = scfm_calloc(n ? n : 1, sizeof *l->v);
    if (!l->v) { io_strlist_free(l); return SCFM_ENOMEM; }
    for (size_t i = 0; i < n; i++) l->v[i] = l->pool;
    l->n = n;
    return SCFM_OK;
}

/* ---- chunks and in-memory CSR -------------------------------------------------------------- */
int io_chunk_reserve(scfm_cells_chunk *ch, size_t n_cells, size_t nnz) {
    if (n_cells > ch->cap_cells || !ch->indptr) {
        size_t nc = n_cells > ch->cap_cells ? n_cells : ch->cap_cells, bytes;
        if (nc == SIZE_MAX || scfm_mul_size(nc + 1, sizeof *ch->indptr, &bytes))
            return scfm_error(SCFM_ENOMEM, "chunk of %zu cells is too large", n_cells);
        size_t *p = scfm_realloc(ch->indptr, bytes);
        if (!p) return SCFM_ENOMEM;
        ch->indptr = p;
        ch->cap_cells = nc;
    }
    if (nnz > ch->cap_nnz || !ch->indices) {
        size_t nc = ch->cap_nnz ? ch->cap_nnz : 4096, b1, b2;
        while (nc < nnz) nc = nc > SIZE_MAX / 2 ? nnz : nc * 2;
        if (scfm_mul_size(nc, sizeof *ch->data, &b2) || scfm_mul_size(nc, sizeof *ch->indices, &b1))
            return scfm_error(SCFM_ENOMEM, "chunk of %zu values is too large", nnz);
        uint32_t *ix = scfm_realloc(ch->indices, b1);
        if (!ix) return SCFM_ENOMEM;
        ch->indices = ix;
        double *d = scfm_realloc(ch->data, b2);
        if (!d) return SCFM_ENOMEM;
        ch->data = d;
        ch->cap_nnz = nc;
    }
    return SCFM_OK;
}

int io_chunk_push(scfm_cells_chunk *ch, size_t nnz_now, uint32_t gene, double v) {
    if (nnz_now >= ch->cap_nnz) {
        if (nnz_now == SIZE_MAX) return scfm_error(SCFM_ENOMEM, "chunk too large");
        int rc = io_chunk_reserve(ch, ch->cap_cells, nnz_now + 1);
        if (rc) return rc;
    }
    ch->indices[nnz_now] = gene;
    ch->data[nnz_now] = v;
    return SCFM_OK;
}

void scfm_cells_chunk_free(scfm_cells_chunk *ch) {
    if (!ch) return;
    free(ch->indptr);
    free(ch->indices);
    free(ch->data);
    free(ch->obs);
    memset(ch, 0, sizeof *ch);
}

void io_csr_free(io_csr *m) {
    free(m->indptr);
    free(m->indices);
    free(m->data);
    memset(m, 0, sizeof *m);
}

int io_csr_alloc(io_csr *m, size_t n_rows, const size_t *counts) {
    memset(m, 0, sizeof *m);
    size_t nnz = 0, b;
    if (n_rows == SIZE_MAX || !(m->indptr = scfm_calloc(n_rows + 1, sizeof *m->indptr))) return SCFM_ENOMEM;
    for (size_t i = 0; i < n_rows; i++) {
        m->indptr[i] = nnz;
        if (scfm_add_size(nnz, counts[i], &nnz)) { io_csr_free(m); return scfm_error(SCFM_ENOMEM, "too many values"); }
    }
    m->indptr[n_rows] = nnz;
    m->n_rows = n_rows;
    if (scfm_mul_size(nnz ? nnz : 1, sizeof(double), &b) || !(m->data = scfm_malloc(b)) ||
        !(m->indices = scfm_calloc(nnz ? nnz : 1, sizeof *m->indices))) {
        io_csr_free(m);
        return scfm_error(SCFM_ENOMEM, "out of memory for a matrix of %zu values", nnz);
    }
    return SCFM_OK;
}

int io_csr_read(const io_csr *m, size_t first, size_t n, scfm_cells_chunk *ch) {
    size_t b = m->indptr[first], e = m->indptr[first + n];
    int rc = io_chunk_reserve(ch, n, e - b);
    if (rc) return rc;
    for (size_t i = 0; i <= n; i++) ch->indptr[i] = m->indptr[first + i] - b;
    if (e > b) {
        memcpy(ch->indices, m->indices + b, (e - b) * sizeof *ch->indices);
        memcpy(ch->data, m->data + b, (e - b) * sizeof *ch->data);
    }
    return SCFM_OK;
}

/* ---- paths --------------------------------------------------------------------------------- */
int io_path_join(char *out, size_t cap, const char *dir, const char *name) {
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/') dl--;
    int n = snprintf(out, cap, "%.*s/%s", (int)dl, dir, name);
    if (n < 0 || (size_t)n >= cap) return scfm_error(SCFM_EINVAL, "%s: path too long", dir);
    return SCFM_OK;
}

int io_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcasecmp(s + a - b, suf) == 0;
}

const char *scfm_detect_format(const char *path) {
    struct stat st;
    if (!path || stat(path, &st) != 0) return NULL;
    if (S_ISDIR(st.st_mode)) {
        char p[4096];
        if (io_path_join(p, sizeof p, path, "matrix.mtx.gz") == 0 && io_file_exists(p)) return "mtx";
        if (io_path_join(p, sizeof p, path, "matrix.mtx") == 0 && io_file_exists(p)) return "mtx";
        return NULL;
    }
    if (ends_with(path, ".h5ad")) return "h5ad";
    if (ends_with(path, ".loom")) return "loom";
    if (ends_with(path, ".h5") || ends_with(path, ".hdf5")) return "10x-h5";
    if (ends_with(path, ".csv") || ends_with(path, ".csv.gz")) return "csv";
    if (ends_with(path, ".tsv") || ends_with(path, ".tsv.gz") || ends_with(path, ".txt") ||
        ends_with(path, ".txt.gz"))
        return "tsv";
    return NULL;
}

/* ---- open / close -------------------------------------------------------------------------- */
static int open_backend(scfm_reader *r, const scfm_reader_opts *o, const char *fmt) {
    if (!strcmp(fmt, "mtx")) { r->format = "mtx"; return io_open_mtx(r, o); }
    if (!strcmp(fmt, "csv")) { r->format = "csv"; return io_open_csv(r, o, ','); }
    if (!strcmp(fmt, "tsv")) { r->format = "tsv"; return io_open_csv(r, o, '\t'); }
#ifdef SCFM_HAVE_HDF5 /* libhdf5 runs in a child process with limits (h5guard.c) */
    if (!strcmp(fmt, "h5ad")) { r->format = "h5ad"; return io_open_hdf5_guarded(r, o, io_open_h5ad); }
    if (!strcmp(fmt, "10x-h5")) { r->format = "10x-h5"; return io_open_hdf5_guarded(r, o, io_open_tenx_h5); }
    if (!strcmp(fmt, "loom")) { r->format = "loom"; return io_open_hdf5_guarded(r, o, io_open_loom); }
#else
    if (!strcmp(fmt, "h5ad")) { r->format = "h5ad"; return io_open_h5ad(r, o); }
    if (!strcmp(fmt, "10x-h5")) { r->format = "10x-h5"; return io_open_tenx_h5(r, o); }
    if (!strcmp(fmt, "loom")) { r->format = "loom"; return io_open_loom(r, o); }
#endif
    return scfm_error(SCFM_EINVAL, "%s: unknown format '%s' (expected h5ad, mtx, 10x-h5, loom, csv or tsv)", o->path,
                      fmt);
}

static int check_opened(scfm_reader *r) {
    if (r->n_genes > (size_t)UINT32_MAX)
        return scfm_error(SCFM_EFORMAT, "%s: %zu genes is more than this reader supports", r->path, r->n_genes);
    if (r->genes.n != r->n_genes)
        return scfm_error(SCFM_EMISMATCH, "%s: %zu gene names for %zu genes", r->path, r->genes.n, r->n_genes);
    if (r->cells.n && r->cells.n != r->n_cells)
        return scfm_error(SCFM_EMISMATCH, "%s: %zu cell names for %zu cells", r->path, r->cells.n, r->n_cells);
    r->mark = scfm_calloc(r->n_genes ? r->n_genes : 1, sizeof *r->mark);
    r->pos = scfm_calloc(r->n_genes ? r->n_genes : 1, sizeof *r->pos);
    return r->mark && r->pos ? SCFM_OK : SCFM_ENOMEM;
}

scfm_reader *scfm_reader_open(const scfm_reader_opts *o) {
    if (!o || !o->path || !*o->path) {
        scfm_error(SCFM_EINVAL, "reader: no input path");
        return NULL;
    }
    const char *fmt = o->format && *o->format && strcmp(o->format, "auto") ? o->format : scfm_detect_format(o->path);
    if (!fmt) {
        struct stat st;
        if (stat(o->path, &st) != 0)
            scfm_error(SCFM_EIO, "%s: no such file or directory", o->path);
        else
            scfm_error(SCFM_EINVAL, "%s: cannot tell the format (expected a 10x directory with matrix.mtx[.gz], "
                       ".h5ad, .h5, .loom, .csv or .tsv); name it with the format option", o->path);
        return NULL;
    }
    scfm_reader *r = scfm_calloc(1, sizeof *r);
    if (!r) return NULL;
    r->chunk_cells = o->chunk_cells ? o->chunk_cells : 1024;
    int rc = (r->path = scfm_strdup(o->path)) ? open_backend(r, o, fmt) : SCFM_ENOMEM;
    if (!rc) rc = check_opened(r);
    if (rc) {
        scfm_reader_close(r);
        return NULL;
    }
    return r;
}

static void free_selection(scfm_reader *r) {
    for (size_t i = 0; i < r->n_sel; i++) io_strlist_free(&r->sel[i]);
    free(r->sel);
    r->sel = NULL;
    r->n_sel = 0;
}

void scfm_reader_close(scfm_reader *r) {
    if (!r) return;
    if (r->be && r->be->close) r->be->close(r->st);
    free_selection(r);
    io_strlist_free(&r->genes);
    io_strlist_free(&r->cells);
    io_strlist_free(&r->obs_names);
    free(r->mark);
    free(r->pos);
    free(r->path);
    free(r);
}

const char *scfm_reader_format(const scfm_reader *r) { return r->format; }
size_t scfm_reader_n_cells(const scfm_reader *r) { return r->n_cells; }
size_t scfm_reader_n_genes(const scfm_reader *r) { return r->n_genes; }
const char *const *scfm_reader_genes(const scfm_reader *r) { return (const char *const *)r->genes.v; }
const char *const *scfm_reader_cell_ids(const scfm_reader *r) {
    return r->cells.n ? (const char *const *)r->cells.v : NULL;
}
size_t scfm_reader_n_obs_available(const scfm_reader *r) { return r->obs_names.n; }
const char *scfm_reader_obs_available(const scfm_reader *r, size_t i) {
    return i < r->obs_names.n ? r->obs_names.v[i] : NULL;
}

/* ---- obs selection ------------------------------------------------------------------------- */
static int obs_not_found(const scfm_reader *r, const char *name) {
    char avail[1024];
    size_t used = 0;
    avail[0] = '\0';
    for (size_t i = 0; i < r->obs_names.n && used + 8 < sizeof avail; i++) {
        int n = snprintf(avail + used, sizeof avail - used, "%s%s", i ? ", " : "", r->obs_names.v[i]);
        if (n < 0) break;
        used += (size_t)n < sizeof avail - used ? (size_t)n : sizeof avail - used - 1;
    }
    return scfm_error(SCFM_ENOTFOUND, "%s: obs column '%s' not found (available: %s)", r->path, name,
                      r->obs_names.n ? avail : "none");
}

int scfm_reader_select_obs(scfm_reader *r, const char *const *names, size_t n) {
    free_selection(r);
    for (size_t k = 0; k < n; k++) {
        size_t i = 0;
        while (i < r->obs_names.n && strcmp(r->obs_names.v[i], names[k])) i++;
        if (i == r->obs_names.n) return obs_not_found(r, names[k]);
    }
    if (n && !(r->sel = scfm_calloc(n, sizeof *r->sel))) return SCFM_ENOMEM;
    for (size_t k = 0; k < n; k++) {
        size_t i = 0;
        while (strcmp(r->obs_names.v[i], names[k])) i++;
        int rc = r->be->load_obs(r, i, &r->sel[k]);
        r->n_sel = k + 1;
        if (!rc && r->sel[k].n != r->n_cells)
            rc = scfm_error(SCFM_EFORMAT, "%s: obs column '%s' has %zu values for %zu cells", r->path, names[k],
                            r->sel[k].n, r->n_cells);
        if (rc) { free_selection(r); return rc; }
    }
    return SCFM_OK;
}

/* ---- chunks -------------------------------------------------------------------------------- */
static int bad_value(const scfm_reader *r, size_t cell, uint32_t gene, double v) {
    const char *id = r->cells.n ? r->cells.v[cell] : "";
    return scfm_error(SCFM_EDATA, "%s: cell %s%s#%zu, gene %s: %s value %g", r->data_path ? r->data_path : r->path, id, *id ? " " : "", cell,
                      r->genes.v[gene], isfinite(v) ? "negative" : "non-finite", v);
}

/* Checks cell i of the chunk, drops zeros, sums duplicate genes; compacts to position w. Zeros
 * are skipped before the duplicate check: a sum of positive values stays positive, so no
 * zero can appear later (a sum that overflows is reported as non-finite). */
static int finish_cell(scfm_reader *r, scfm_cells_chunk *ch, size_t i, size_t *w) {
    const size_t cell = ch->first_cell + i, stamp = cell + 1, b = ch->indptr[i], e = ch->indptr[i + 1];
    size_t o = *w;
    for (size_t k = b; k < e; k++) {
        uint32_t g = ch->indices[k];
        double v = ch->data[k];
        if (g >= r->n_genes)
            return scfm_error(SCFM_EFORMAT, "%s: cell #%zu: gene index %u out of range (%zu genes)", r->path, cell, g,
                              r->n_genes);
        if (!(v > 0)) {
            if (v == 0) continue;
            return bad_value(r, cell, g, v);
        }
        if (!isfinite(v)) return bad_value(r, cell, g, v);
        if (r->mark[g] == stamp) {
            double sum = ch->data[r->pos[g]] + v;
            if (!isfinite(sum)) return bad_value(r, cell, g, sum);
            ch->data[r->pos[g]] = sum;
            continue;
        }
        r->mark[g] = stamp;
        r->pos[g] = o;
        ch->indices[o] = g;
        ch->data[o++] = v;
    }
    *w = o;
    return SCFM_OK;
}

static int attach_obs(scfm_reader *r, scfm_cells_chunk *ch) {
    ch->n_obs = r->n_sel;
    if (!r->n_sel) return SCFM_OK;
    size_t cnt, bytes;
    if (scfm_mul_size(ch->n_cells, r->n_sel, &cnt) || scfm_mul_size(cnt, sizeof *ch->obs, &bytes))
        return scfm_error(SCFM_ENOMEM, "obs chunk too large");
    char **o = scfm_realloc(ch->obs, bytes);
    if (!o) return SCFM_ENOMEM;
    ch->obs = o;
    for (size_t i = 0; i < ch->n_cells; i++)
        for (size_t k = 0; k < r->n_sel; k++) o[i * r->n_sel + k] = r->sel[k].v[ch->first_cell + i];
    return SCFM_OK;
}

int scfm_reader_next(scfm_reader *r, scfm_cells_chunk *ch) {
    if (r->next_cell >= r->n_cells) return 0;
    size_t n = r->n_cells - r->next_cell;
    if (n > r->chunk_cells) n = r->chunk_cells;
    int rc = io_chunk_reserve(ch, n, 0);
    if (rc) return rc;
    ch->first_cell = r->next_cell;
    ch->n_cells = n;
    ch->indptr[0] = 0;
    if ((rc = r->be->read(r, r->next_cell, n, ch))) return rc;
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        size_t b = w;
        if ((rc = finish_cell(r, ch, i, &w))) return rc;
        ch->indptr[i] = b;
    }
    ch->indptr[n] = w;
    if ((rc = attach_obs(r, ch))) return rc;
    r->next_cell += n;
    return 1;
}
