/* Internal helpers of the genes module: string tables, stable string pool, whole-file
 * gzip/plain reading, delimited-line splitting, and the key->value dictionary loader shared
 * by vocabularies, medians and gene maps. */
#ifndef SCFM_GENES_INTERNAL_H
#define SCFM_GENES_INTERNAL_H
#include <stddef.h>
#include <stdint.h>
#include "scfm/core.h"
#include "scfm/pickle.h"
#include "scfm/strmap.h"

uint64_t scfm_gn_fnv1a(const void *data, size_t n, uint64_t h);
#define SCFM_GN_FNV_INIT 14695981039346656037ULL

/* The genes module's name tables: the library's string map (include/scfm/strmap.h; keys not
 * owned, they must outlive the table) with int64 values and -1 for "absent". */
typedef scfm_strmap scfm_gn_tab;
static inline int scfm_gn_tab_init(scfm_gn_tab *t, size_t expect) { return scfm_strmap_init(t, expect); }
static inline int64_t scfm_gn_tab_get(const scfm_gn_tab *t, const char *key) { /* -1 if absent */
    size_t v;
    return scfm_strmap_get(t, key, &v) ? (int64_t)v : -1;
}
/* Pointer to the value of key (to update it in place), NULL if absent. */
static inline size_t *scfm_gn_tab_ref(scfm_gn_tab *t, const char *key) { return scfm_strmap_ref(t, key); }
/* Grows the table (one rehash) so that n keys fit without further rehashing. */
static inline int scfm_gn_tab_reserve(scfm_gn_tab *t, size_t n) { return scfm_strmap_reserve(t, n); }
/* Inserts key -> val (val >= 0). Returns 1 if inserted, 0 if the key existed (value unchanged,
 * *old set when old != NULL), or a negative error. */
int scfm_gn_tab_put(scfm_gn_tab *t, const char *key, int64_t val, int64_t *old) SCFM_WUR;
static inline void scfm_gn_tab_free(scfm_gn_tab *t) { scfm_strmap_free(t); }

/* Pool of NUL-terminated strings with stable addresses. */
typedef struct scfm_gn_block scfm_gn_block;
typedef struct { scfm_gn_block *head; } scfm_gn_pool;
const char *scfm_gn_pool_add(scfm_gn_pool *p, const char *s, size_t len); /* NULL on ENOMEM */
void scfm_gn_pool_free(scfm_gn_pool *p);

/* Reads a whole file, gzip or plain (zlib detects which), adding a NUL. Errors name the file
 * (missing file, corrupt or truncated gzip, Git LFS pointer). */
int scfm_gn_read_all(const char *path, char **data, size_t *len) SCFM_WUR;

/* Next line of buf (modifies it: the line end becomes NUL; "\r\n" handled). Returns NULL at
 * the end. *pos is the cursor. */
char *scfm_gn_next_line(char *buf, size_t len, size_t *pos);

/* Splits line in place at `delim` (double quotes honoured: "a,b" is one field, "" an escaped
 * quote). Returns the number of fields (up to max). */
size_t scfm_gn_split(char *line, char delim, char **fields, size_t max);

/* Key -> value dictionary from a Geneformer pickle (.pkl: detected by content) or a
 * key<TAB>value text file (.tsv, .tsv.gz; blank lines and '#' comments skipped; values of
 * text files come back as SCFM_PKL_STR). allow_dup: keep repeated and empty keys of text files
 * (else either is an error naming the line). */
int scfm_gn_load_kv(const char *path, int allow_dup, scfm_pkl_dict *out) SCFM_WUR;
/* The text part of scfm_gn_load_kv: parses buf (NUL-terminated, modified) and, on success,
 * takes ownership of it (out->strings = buf). */
int scfm_gn_parse_kv_text(const char *path, char *buf, size_t len, int allow_dup, scfm_pkl_dict *out) SCFM_WUR;
/* Value as integer / double (pickled numbers, or text parsed with full checks). */
int scfm_gn_item_int(const scfm_pkl_item *it, int64_t *out);
int scfm_gn_item_double(const scfm_pkl_item *it, double *out);

#endif
