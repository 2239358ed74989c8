/* Private interface of the count-matrix readers (src/io/). Each format is a backend that
 * fills struct scfm_reader at open time (dimensions, gene and cell names, obs column names)
 * and then delivers raw CSR rows for a range of cells; reader.c validates the values,
 * sums duplicates, drops zeros and attaches the selected obs columns. */
#ifndef SCFM_IO_INTERNAL_H
#define SCFM_IO_INTERNAL_H
#include <stddef.h>
#include <stdint.h>
#include "scfm/io.h"
#include "scfm/strmap.h"

/* A list of n strings kept in one pool: v[i] points into pool. */
typedef struct {
    char **v;
    size_t n;
    char *pool;
    size_t pool_len, pool_cap; /* builder state */
    size_t *off;               /* builder: offsets into pool, turned into v by io_strlist_finish */
    size_t cap;
} io_strlist;

int io_strlist_push(io_strlist *l, const char *s, size_t len) SCFM_WUR;
int io_strlist_finish(io_strlist *l) SCFM_WUR; /* builds v (also for n == 0) */
void io_strlist_free(io_strlist *l);
/* n copies of "" (for missing obs columns). */
int io_strlist_empty(io_strlist *l, size_t n) SCFM_WUR;

typedef struct {
    /* Raw rows of cells [first, first+n): fills ch->indptr (from 0), ch->indices and ch->data.
     * Indices must be < n_genes; duplicates and zeros allowed; values unchecked. */
    int (*read)(scfm_reader *r, size_t first, size_t n, scfm_cells_chunk *ch);
    /* Obs column i (of obs_names) as n_cells strings. */
    int (*load_obs)(scfm_reader *r, size_t i, io_strlist *out);
    void (*close)(void *state);
} io_backend;

struct scfm_reader {
    char *path;
    const char *data_path;    /* file holding the values when path is a directory (messages); NULL = path */
    const char *format;
    const io_backend *be;
    void *st;                 /* backend state */
    size_t n_cells, n_genes, chunk_cells, next_cell;
    io_strlist genes, cells;  /* cells may have n == 0 (no identifiers) */
    io_strlist obs_names;
    size_t n_sel;
    io_strlist *sel;          /* [n_sel] selected obs columns, each [n_cells] */
    size_t *mark;             /* [n_genes] duplicate detection: last cell stamp */
    size_t *pos;              /* [n_genes] position of the gene's entry in the current cell */
};

/* Grow the chunk to hold n cells and nnz entries (keeps contents). */
int io_chunk_reserve(scfm_cells_chunk *ch, size_t n_cells, size_t nnz) SCFM_WUR;
/* Append one entry to the chunk (growing it); the caller sets indptr. */
int io_chunk_push(scfm_cells_chunk *ch, size_t nnz_now, uint32_t gene, double v) SCFM_WUR;

/* Backends: fill r (everything except path/format/chunk_cells) from opts; return 0 or < 0. */
int io_open_mtx(scfm_reader *r, const scfm_reader_opts *o) SCFM_WUR;
int io_open_csv(scfm_reader *r, const scfm_reader_opts *o, char delim) SCFM_WUR;
int io_open_h5ad(scfm_reader *r, const scfm_reader_opts *o) SCFM_WUR;
int io_open_tenx_h5(scfm_reader *r, const scfm_reader_opts *o) SCFM_WUR;
int io_open_loom(scfm_reader *r, const scfm_reader_opts *o) SCFM_WUR;
/* Runs an HDF5 backend's open in a child process with memory and CPU limits (h5guard.c):
 * r gets a proxy backend that forwards reads to it. */
typedef int (*io_open_fn)(scfm_reader *r, const scfm_reader_opts *o);
int io_open_hdf5_guarded(scfm_reader *r, const scfm_reader_opts *o, io_open_fn open_fn) SCFM_WUR;

/* In-memory CSR (cells x genes) used by layouts that are transposed or loaded at open. */
typedef struct {
    size_t n_rows;
    size_t *indptr;     /* [n_rows+1] */
    uint32_t *indices;
    double *data;
} io_csr;
void io_csr_free(io_csr *m);
/* Read rows [first, first+n) of m into ch. */
int io_csr_read(const io_csr *m, size_t first, size_t n, scfm_cells_chunk *ch) SCFM_WUR;
/* Counting-sort transpose: `counts[c]` entries per row c were announced; io_csr_alloc sizes m
 * and turns counts into write cursors; io_csr_put places one entry. */
int io_csr_alloc(io_csr *m, size_t n_rows, const size_t *counts) SCFM_WUR;

/* Helpers shared by the backends. */
int io_path_join(char *out, size_t cap, const char *dir, const char *name) SCFM_WUR;
int io_file_exists(const char *path);

/* Byte source over a plain or gzip file (bytesrc.c): gzip recognized by its magic bytes,
 * inflated by ISA-L when built with it, else zlib; concatenated members are read; truncated or
 * corrupt data is an error naming the file. io_src_read gives *got == 0 only at the end. */
typedef struct io_src io_src;
io_src *io_src_open(const char *path);               /* NULL on error (message names path) */
int io_src_read(io_src *s, void *dst, size_t cap, size_t *got) SCFM_WUR;
int io_src_rewind(io_src *s) SCFM_WUR;
void io_src_close(io_src *s);
const char *io_src_inflater(void);                   /* "isa-l" or "zlib" */

/* Line reader over a plain or gzip file (an io_src). Lines come without "\n"/"\r\n",
 * NUL-terminated, writable until the next call. */
typedef struct io_lines io_lines;
/* Longest line a file may hold: 64 x its size on disk, at least 16 MiB, at most 1 GiB
 * (1 GiB for a pipe or a file that cannot be stat'ed). */
size_t io_lines_limit(const char *path);
io_lines *io_lines_open(const char *path);          /* NULL on error (message names path) */
/* 1 = line, 0 = end of file, < 0 error (truncated gzip, read error). */
int io_lines_next(io_lines *lr, char **line, size_t *len) SCFM_WUR;
size_t io_lines_lineno(const io_lines *lr);          /* 1-based number of the last line */
int io_lines_rewind(io_lines *lr) SCFM_WUR;
/* Fast-parser access: the unread bytes up to and including the last complete line's "\n"
 * (reading more when none is buffered); *n == 0 at end of file or when only an unterminated
 * last line remains (read it with io_lines_next). Valid until the next call on lr; consume
 * with io_lines_advance(bytes, complete lines in them). Returns 0 or < 0 on a read error.
 * IO_LINES_SLACK bytes after the window's end are always readable (for word-wise compares). */
#define IO_LINES_SLACK 16
int io_lines_window(io_lines *lr, const char **p, size_t *n) SCFM_WUR;
void io_lines_advance(io_lines *lr, size_t bytes, size_t lines);
void io_lines_close(io_lines *lr);

/* Column `col` (0-based) of every line of a tab-separated file; *n_cols = columns of the
 * first line. A line with fewer columns is an error naming the file and line. */
int io_read_tsv_column(const char *path, size_t col, io_strlist *out, size_t *n_cols) SCFM_WUR;

#endif
