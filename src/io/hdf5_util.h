/* Small HDF5 helpers shared by the h5ad, 10x h5 and loom readers (src/io/). Only compiled
 * with SCFM_HAVE_HDF5. Every function returns SCFM_OK or a negative scfm status with a
 * message naming the file (`file`) and the object. */
#ifndef SCFM_IO_HDF5_UTIL_H
#define SCFM_IO_HDF5_UTIL_H
#ifdef SCFM_HAVE_HDF5
#include <hdf5.h>

#include "io_internal.h"

/* Opens read-only with HDF5's own error printing silenced; "<path>: not an HDF5 file or corrupt". */
int h5u_open(const char *path, hid_t *out) SCFM_WUR;
/* 1 if every component of the '/'-separated path exists under loc, else 0. */
int h5u_exists(hid_t loc, const char *path);
/* H5I_GROUP, H5I_DATASET, or H5I_BADID when absent / another kind of object. */
H5I_type_t h5u_kind(hid_t loc, const char *path);
/* Scalar (or one-element) string attribute into buf: 1 found, 0 absent, < 0 error. */
int h5u_attr_str(hid_t obj, const char *attr, char *buf, size_t cap, const char *file) SCFM_WUR;
/* String-array attribute (e.g. column-order); absent -> 0 with out empty; a numeric (empty)
 * array is accepted as an empty list. 1 found. out is finished either way on success. */
int h5u_attr_strlist(hid_t obj, const char *attr, io_strlist *out, const char *file) SCFM_WUR;
/* Integer array attribute of exactly n values (e.g. shape): 1 found, 0 absent, < 0 error. */
int h5u_attr_ints(hid_t obj, const char *attr, int64_t *v, size_t n, const char *file) SCFM_WUR;

/* Dimensions of a dataset: rank (<= 2 accepted; else error) and dims. */
int h5u_dims(hid_t ds, int *rank, size_t dims[2], const char *file, const char *what) SCFM_WUR;
/* Length of a 1-D dataset (error if not 1-D). */
int h5u_len(hid_t ds, size_t *n, const char *file, const char *what) SCFM_WUR;
/* Expected length of a column not tied to the matrix shape (categories): its declared length
 * is then bounded by the file's size instead (h5u_check_len). */
#define H5U_ANY_LEN ((size_t)-1)
/* Checks a dataset's declared length before anything is sized from it: == expect when the
 * shape is known (SCFM_EMISMATCH otherwise), else at most 64 x the file's size + 2^20 entries
 * (no real column is larger: vlen string data is stored uncompressed, and a fixed-width or
 * numeric column compresses far less than 64:1 unless it is constant). */
int h5u_check_len(size_t n, size_t expect, const char *file, const char *what) SCFM_WUR;
/* 1-D dataset of strings (vlen or fixed; trailing NULs/spaces trimmed) into out (finished);
 * its length must be `expect` (or H5U_ANY_LEN, see h5u_check_len). */
int h5u_read_strings(hid_t ds, size_t expect, io_strlist *out, const char *file, const char *what) SCFM_WUR;
/* Elements [off, off+n) of a 1-D integer dataset as int64 (any int width/sign; uint64 above
 * INT64_MAX is an error). */
int h5u_read_i64(hid_t ds, size_t off, size_t n, int64_t *out, const char *file, const char *what) SCFM_WUR;
/* Elements [off, off+n) of a 1-D numeric dataset as double. */
int h5u_read_f64(hid_t ds, size_t off, size_t n, double *out, const char *file, const char *what) SCFM_WUR;
/* Block [r0, r0+nr) x [c0, c0+nc) of a 2-D numeric dataset as double, row-major nr x nc. */
int h5u_read_block(hid_t ds, size_t r0, size_t nr, size_t c0, size_t nc, double *out, const char *file,
                   const char *what) SCFM_WUR;
/* 1 if the dataset holds strings, 0 numbers/bools, < 0 otherwise (error set). */
int h5u_is_string(hid_t ds, const char *file, const char *what) SCFM_WUR;

/* Column of n values as text: strings as stored, integers as integers, floats shortest
 * round-trip text in their stored precision (integral values as integers), bools 1/0,
 * NaN as "". For a compound dataset, `field` names the member (else NULL). The length is
 * checked against `expect` (h5u_check_len) before anything is allocated. */
int h5u_read_text_column(hid_t ds, const char *field, size_t expect, io_strlist *out, const char *file,
                         const char *what) SCFM_WUR;
/* Shortest %g text that reads back to x (in float precision when single). */
void h5u_format_number(double x, int single, char *buf, size_t cap);

/* Compressed-sparse matrix streamed by major index (rows of CSR, columns of 10x CSC):
 * major = the streamed dimension (cells), minor = the index dimension (genes). */
typedef struct {
    hid_t indptr, indices, data;
    const char *file; /* borrowed */
    char what[256];   /* group name for messages */
    size_t n_major, n_minor, nnz;
    int64_t *ip, *ib; /* scratch: indptr slice and indices */
    size_t ip_cap, ib_cap;
} h5u_sparse;
/* Opens grp/{data,indices,indptr}; checks lengths: indptr = n_major+1, data = indices,
 * indptr[0] = 0, indptr[n_major] = nnz. */
int h5u_sparse_open(h5u_sparse *m, hid_t grp, size_t n_major, size_t n_minor, const char *file,
                    const char *what) SCFM_WUR;
/* Major rows [first, first+n) into the chunk (indices checked < n_minor, indptr monotone). */
int h5u_sparse_read(h5u_sparse *m, size_t first, size_t n, scfm_cells_chunk *ch) SCFM_WUR;
/* Whole matrix transposed into an in-memory CSR whose rows are the minor dimension. */
int h5u_sparse_transpose(h5u_sparse *m, io_csr *out) SCFM_WUR;
void h5u_sparse_close(h5u_sparse *m);
#endif
#endif
