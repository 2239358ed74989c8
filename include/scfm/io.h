/* Count-matrix readers behind one streaming "cells" interface.
 *
 * Formats: AnnData .h5ad (X dense/CSR/CSC, raw/X, layers/<name>; old and new anndata),
 * 10x MatrixMarket directories (matrix.mtx[.gz] + features.tsv[.gz]|genes.tsv + barcodes.tsv[.gz],
 * optional labels.tsv -> obs column "label"), 10x filtered_feature_bc_matrix.h5 (v2 and v3),
 * loom, dense CSV/TSV. The rest of scfm sees only this header.
 *
 * Use:
 *   scfm_reader *r = scfm_reader_open(&opts);        NULL on error (scfm_last_error())
 *   scfm_reader_select_obs(r, names, n);              which obs columns travel with each cell
 *   scfm_cells_chunk ch = {0};
 *   while ((rc = scfm_reader_next(r, &ch)) == 1) { ... cells ch.first_cell .. +ch.n_cells ... }
 *   rc == 0: end; rc < 0: error. scfm_cells_chunk_free(&ch); scfm_reader_close(r);
 * Memory stays bounded by opts.chunk_cells for row-major layouts (CSR h5ad, dense h5ad, loom,
 * 10x h5, and mtx sorted by cell beyond opts.read_memory_mib); layouts that are gene-major (CSC
 * h5ad, mtx not sorted by cell) are transposed once on open, which needs memory proportional to
 * the number of non-zeros. */
#ifndef SCFM_IO_H
#define SCFM_IO_H
#include <stddef.h>
#include <stdint.h>
#include "scfm/core.h"

typedef struct scfm_reader scfm_reader;

typedef struct {
    const char *path;        /* file, or directory for 10x mtx */
    const char *format;      /* NULL/"auto", "h5ad", "mtx", "10x-h5", "loom", "csv", "tsv" */
    const char *matrix;      /* h5ad: NULL/"X", "raw/X", "layers/<name>"; loom: NULL = /matrix, or a layer name */
    const char *gene_column; /* h5ad var column / loom row attr / 10x features column ("id", "name")
                                holding the gene IDs or symbols; NULL = format default
                                (h5ad: var index; loom: "ensembl_id" if present else "Accession"
                                else "Gene"; mtx/10x-h5: "id" column, i.e. the first) */
    int csv_genes_in_rows;   /* csv/tsv: 0 = one cell per row (default), 1 = one gene per row */
    size_t chunk_cells;      /* cells per chunk (0 = 1024) */
    const char *genome;      /* 10x h5 v2: which genome group (NULL = the only one, error if several) */
    size_t read_memory_mib;  /* mtx: a file whose entries need at most this much memory (16 bytes
                                per non-zero) is read once into memory; larger ones are read in two
                                passes (check, then stream by cell) with memory bounded by
                                chunk_cells. 0 = SCFM_READ_MEMORY_DEFAULT_MIB; SCFM_READ_STREAM =
                                always two passes */
} scfm_reader_opts;
#define SCFM_READ_MEMORY_DEFAULT_MIB ((size_t)1024)
#define SCFM_READ_STREAM ((size_t)-1)

typedef struct {
    size_t first_cell;   /* global index of the chunk's first cell */
    size_t n_cells;
    size_t *indptr;      /* [n_cells+1], offsets into indices/data */
    uint32_t *indices;   /* gene index (0..n_genes-1) per non-zero; unsorted allowed, no duplicates */
    double *data;        /* the value per non-zero as stored (finite, >= 0 guaranteed) */
    char **obs;          /* [n_cells * n_selected_obs] values of the selected obs columns as text
                            ("" when missing); cell i column k at obs[i*n_obs + k] */
    size_t n_obs;
    size_t cap_nnz, cap_cells; /* internal: allocated capacities (reused between calls) */
} scfm_cells_chunk;

scfm_reader *scfm_reader_open(const scfm_reader_opts *opts);
void scfm_reader_close(scfm_reader *r);
const char *scfm_reader_format(const scfm_reader *r);   /* "h5ad", "mtx", ... */
size_t scfm_reader_n_cells(const scfm_reader *r);
size_t scfm_reader_n_genes(const scfm_reader *r);
/* Gene identifiers from the chosen gene column, [n_genes], as stored (no normalization). */
const char *const *scfm_reader_genes(const scfm_reader *r);
/* Cell identifiers (barcodes / obs index / CellID), [n_cells]. */
const char *const *scfm_reader_cell_ids(const scfm_reader *r);
/* Obs columns the file has (names), so callers can look for n_counts, filter_pass, labels. */
size_t scfm_reader_n_obs_available(const scfm_reader *r);
const char *scfm_reader_obs_available(const scfm_reader *r, size_t i);
/* Choose the obs columns delivered per cell; a name that does not exist -> SCFM_ENOTFOUND
 * with a message naming the file, the column and the available columns. */
int scfm_reader_select_obs(scfm_reader *r, const char *const *names, size_t n) SCFM_WUR;
/* Next chunk: returns 1 (chunk filled), 0 (end), < 0 error. NaN/Inf or negative values are
 * an SCFM_EDATA error naming the file, cell and gene. */
int scfm_reader_next(scfm_reader *r, scfm_cells_chunk *chunk) SCFM_WUR;
void scfm_cells_chunk_free(scfm_cells_chunk *chunk);
/* A whole plain or gzip file (gunzipped: ISA-L when built with it, else zlib) into a new buffer
 * with a NUL after the data; truncated or corrupt gzip data is an error naming the file. */
int scfm_read_all(const char *path, char **data, size_t *len) SCFM_WUR;
/* Detect a format from a path ("h5ad", "mtx", "10x-h5", "loom", "csv", "tsv") or NULL. */
const char *scfm_detect_format(const char *path);
#endif
