/* Restricted Python pickle reader for Geneformer's dictionary pickles (docs/formats.md section 6)
 * and GeneCompass's prior-knowledge pickles (gene -> numpy vector).
 *
 * Reads one top-level dict whose keys are str (or numpy str scalars, numpy.str_: dtype U<n>,
 * UTF-32 decoded to UTF-8) and whose values are int, float, bool, str,
 * numpy scalars (numpy.core.multiarray.scalar(dtype, raw bytes), dtypes i1 i2 i4 i8 u1 u2 u4
 * u8 f4 f8 b1, either byte order) or 1-D float32/float64 numpy arrays (either byte order; as
 * numpy pickles them: protocols 2-4 `_reconstruct(ndarray, (0,), b'b')` then BUILD with
 * (version, shape, dtype, is_fortran, raw bytes); protocol 5 `_frombuffer(bytes, dtype,
 * shape, order)`). Protocols 2-5. Only data opcodes are executed; the only globals accepted
 * are numpy's `scalar`, `dtype`, `ndarray`, `_reconstruct`, `_frombuffer` (under numpy.core or
 * numpy._core) and, for protocol 2, `_codecs.encode`, each an inert tag: nothing from the
 * file is ever called. Arrays of other dtypes or ranks are rejected. Everything else (other globals,
 * object construction, persistent ids, lists, text-protocol opcodes, trailing bytes after
 * STOP, a top-level object that is not a dict) is rejected with an SCFM_EFORMAT error that
 * names the file and the byte offset. Caps: stack and memo at most 2^26 entries each.
 * A repeated key overwrites the earlier value and keeps its position (as Python does). */
#ifndef SCFM_PICKLE_H
#define SCFM_PICKLE_H
#include <stddef.h>
#include <stdint.h>
#include "scfm/core.h"

enum { SCFM_PKL_INT = 1, SCFM_PKL_FLOAT = 2, SCFM_PKL_STR = 3, SCFM_PKL_FARRAY = 4 };

typedef struct {
    const char *key;  /* NUL-terminated UTF-8 */
    int type;         /* SCFM_PKL_INT (also bools and integer numpy scalars), _FLOAT, _STR, _FARRAY */
    int64_t i;        /* SCFM_PKL_INT */
    double f;         /* SCFM_PKL_FLOAT (also set, converted, for SCFM_PKL_INT) */
    const char *s;    /* SCFM_PKL_STR, NUL-terminated UTF-8 */
    const float *vec; /* SCFM_PKL_FARRAY: vec_len values as float32 (float64 rounded to nearest) */
    size_t vec_len;
} scfm_pkl_item;

typedef struct {
    scfm_pkl_item *items; /* in insertion order */
    size_t n;
    char *strings;        /* storage for keys and string values */
    float *floats;        /* storage for array values, item after item in insertion order (each
                             vec points into it; NULL if none); a caller may take it over */
} scfm_pkl_dict;

/* Parses a pickle held in memory; `what` (usually the path) prefixes error messages.
 * On success fills *out (free with scfm_pkl_dict_free). Returns SCFM_OK or an error. */
int scfm_pickle_parse_dict(const void *data, size_t len, const char *what, scfm_pkl_dict *out) SCFM_WUR;
/* Reads and parses a pickle file. SCFM_EIO if it cannot be read; a Git LFS pointer gets its
 * own message. */
int scfm_pickle_read_dict(const char *path, scfm_pkl_dict *out) SCFM_WUR;
void scfm_pkl_dict_free(scfm_pkl_dict *d);

#endif
