/* String -> index hash map (open addressing, FNV-1a), the one map the library's modules share
 * for duplicate checks and name lookups (JSON keys, safetensors tensor names, checkpoint
 * parameters, cell barcodes, gene IDs and symbols, vocabulary tokens). Keys are borrowed: they must outlive the map. Every operation
 * is expected O(1), so a file with n names costs O(n), whatever the names are. */
#ifndef SCFM_STRMAP_H
#define SCFM_STRMAP_H
#include <stddef.h>
#include "scfm/core.h"

typedef struct scfm_strmap {
    const char **keys;
    size_t *vals;
    size_t cap, n;
} scfm_strmap;
/* An empty map sized for `expected` keys (it grows past that). SCFM_OK or SCFM_ENOMEM. */
int scfm_strmap_init(scfm_strmap *m, size_t expected) SCFM_WUR;
/* Insert; if the key exists, keeps the first value and returns 1; 0 inserted; < 0 error. */
int scfm_strmap_put(scfm_strmap *m, const char *key, size_t val) SCFM_WUR;
/* 1 and *val if found, else 0. */
int scfm_strmap_get(const scfm_strmap *m, const char *key, size_t *val);
/* Pointer to the value of key (to update it in place), NULL if absent (or the map is empty). */
size_t *scfm_strmap_ref(const scfm_strmap *m, const char *key);
/* Grows the map (one rehash) so that `expected` keys fit without further rehashing. */
int scfm_strmap_reserve(scfm_strmap *m, size_t expected) SCFM_WUR;
void scfm_strmap_free(scfm_strmap *m);
#endif
