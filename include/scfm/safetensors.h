/* safetensors reader and writer (docs/formats.md section 4).
 *
 * File layout: u64 LE header length N, N bytes of JSON header, then the byte buffer.
 * Header: {"__metadata__": {str: str}, "<name>": {"dtype": "F32", "shape": [..],
 * "data_offsets": [begin, end]}, ...}, offsets relative to the byte buffer.
 *
 * The reader is strict: besides what the reference reader checks (header size limits,
 * header within the file, offsets packed from 0 without gaps, byte counts matching
 * dtype x shape, buffer ending exactly at end of file) it rejects duplicate keys, unknown
 * dtypes, unknown fields, non-string metadata and a header not starting with '{'. The file
 * is mmap'ed read-only; tensors need not be aligned (values are copied out).
 *
 * Return codes: SCFM_OK, or negative scfm_status with a message naming the file (and the
 * tensor where there is one): SCFM_EIO (open/read/write), SCFM_EFORMAT (anything
 * malformed), SCFM_EDATA (non-finite float values, when converting), SCFM_EMISMATCH
 * (caller's expected shape differs), SCFM_ENOTFOUND (no tensor of that name),
 * SCFM_ENOMEM. */
#ifndef SCFM_SAFETENSORS_H
#define SCFM_SAFETENSORS_H
#include <stddef.h>
#include <stdint.h>
#include "scfm/core.h"

typedef enum {
    SCFM_DT_BOOL, SCFM_DT_U8, SCFM_DT_I8, SCFM_DT_I16, SCFM_DT_U16, SCFM_DT_F16, SCFM_DT_BF16,
    SCFM_DT_I32, SCFM_DT_U32, SCFM_DT_F32, SCFM_DT_F64, SCFM_DT_I64, SCFM_DT_U64, SCFM_DT_C64,
    SCFM_DT_F8_E5M2, SCFM_DT_F8_E4M3, SCFM_DT_F8_E8M0, SCFM_DT_F8_E4M3FNUZ, SCFM_DT_F8_E5M2FNUZ,
    SCFM_DT_F6_E2M3, SCFM_DT_F6_E3M2, SCFM_DT_F4,
    SCFM_DT_COUNT
} scfm_dtype;
const char *scfm_dtype_name(scfm_dtype d);          /* "F32", ... */
int scfm_dtype_from_name(const char *s, scfm_dtype *out); /* 0, or -1 if unknown */
size_t scfm_dtype_bits(scfm_dtype d);               /* 1 (BOOL: 8), 4, 6, 8, 16, 32, 64, 128 */

#define SCFM_ST_MAX_DIMS 8
#define SCFM_ST_MAX_HEADER 100000000u

typedef struct {
    char *name;
    scfm_dtype dtype;
    size_t ndim;
    size_t shape[SCFM_ST_MAX_DIMS];
    size_t numel;
    size_t begin, end;        /* byte offsets in the data buffer */
} scfm_st_tensor;

typedef struct {
    char *path;
    const unsigned char *map; /* whole file, mmap'ed */
    size_t size;              /* file size */
    size_t data_start;        /* 8 + N */
    size_t n;                 /* tensors, in header order */
    scfm_st_tensor *t;
    size_t n_meta;            /* __metadata__ pairs */
    char **meta_keys, **meta_vals;
} scfm_safetensors;

/* Open and validate a file. NULL on error (codes above). */
scfm_safetensors *scfm_st_open(const char *path);
/* Validate an in-memory image (same checks; `what` names it in messages; the buffer must
 * outlive the result; scfm_st_close does not free it). */
scfm_safetensors *scfm_st_open_mem(const void *data, size_t size, const char *what);
void scfm_st_close(scfm_safetensors *st);
/* Tensor by name or NULL. */
const scfm_st_tensor *scfm_st_find(const scfm_safetensors *st, const char *name);
/* Metadata value or NULL. */
const char *scfm_st_meta(const scfm_safetensors *st, const char *key);
/* Raw bytes of a tensor (may be unaligned). */
const void *scfm_st_data(const scfm_safetensors *st, const scfm_st_tensor *t);

/* Convert a floating tensor (F32, F16, BF16, F64) to float32 into out[numel]; checks that
 * numel == n and that every value is finite. Returns SCFM_OK, SCFM_EMISMATCH (n differs),
 * SCFM_EFORMAT (dtype not floating), SCFM_EDATA (non-finite; names the tensor and index). */
int scfm_st_read_f32(const scfm_safetensors *st, const scfm_st_tensor *t, float *out, size_t n) SCFM_WUR;
/* Integer tensor (I8..I64, U8..U64) to int64. Returns SCFM_OK, SCFM_EMISMATCH,
 * SCFM_EFORMAT (not an integer dtype or U64 value > INT64_MAX). */
int scfm_st_read_i64(const scfm_safetensors *st, const scfm_st_tensor *t, int64_t *out, size_t n) SCFM_WUR;

/* Writer. Tensors are sorted as the reference writer does (dtype alignment descending, then
 * name), packed from offset 0, the header padded with spaces to a multiple of 8, and
 * "__metadata__" written first (with the given pairs; callers pass {"format","pt"} for
 * transformers). Data is little-endian. The file is written to "<path>.tmp.<pid>" and
 * renamed. Returns SCFM_OK, SCFM_EINVAL (duplicate or empty name, too many dims, byte count
 * not whole), SCFM_EIO, SCFM_ENOMEM. */
typedef struct {
    const char *name;
    scfm_dtype dtype;
    size_t ndim;
    size_t shape[SCFM_ST_MAX_DIMS];
    const void *data;   /* numel * bits/8 bytes, native (little-endian) order */
} scfm_st_entry;
int scfm_st_write(const char *path, const scfm_st_entry *e, size_t n,
                  const char *const *meta_kv, size_t n_meta) SCFM_WUR;
/* The same, adding __metadata__ SCFM_ST_CRC_KEY: the CRC-32 of every tensor's bytes (8 hex
 * digits each, in data-offset order, space-separated). scfm_st_open / scfm_st_open_mem
 * verify it whenever it is present: a changed byte is SCFM_EFORMAT naming the file and the
 * tensor. Other readers (transformers, safetensors) ignore metadata. */
#define SCFM_ST_CRC_KEY "scfm_crc32"
int scfm_st_write_checked(const char *path, const scfm_st_entry *e, size_t n,
                          const char *const *meta_kv, size_t n_meta) SCFM_WUR;
#endif
