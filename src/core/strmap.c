/* String -> index hash map: see src/core/strmap.h. */
#include "scfm/strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static size_t hash_str(const char *s) {
    uint64_t h = 14695981039346656037ULL; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (size_t)(h ^ (h >> 32));
}

int scfm_strmap_init(scfm_strmap *m, size_t expected) {
    memset(m, 0, sizeof *m);
    size_t cap = 16;
    while (cap < expected * 2 + 1) {
        if (cap > SIZE_MAX / 4 / sizeof(size_t)) return scfm_error(SCFM_ENOMEM, "hash map too large");
        cap *= 2;
    }
    m->keys = scfm_calloc(cap, sizeof *m->keys);
    m->vals = scfm_calloc(cap, sizeof *m->vals);
    if (!m->keys || !m->vals) { scfm_strmap_free(m); return SCFM_ENOMEM; }
    m->cap = cap;
    return SCFM_OK;
}

void scfm_strmap_free(scfm_strmap *m) {
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

static int grow(scfm_strmap *m) {
    scfm_strmap n;
    int rc = scfm_strmap_init(&n, m->cap);
    if (rc) return rc;
    for (size_t i = 0; i < m->cap; i++)
        if (m->keys[i] && (rc = scfm_strmap_put(&n, m->keys[i], m->vals[i])) < 0) { scfm_strmap_free(&n); return rc; }
    scfm_strmap_free(m);
    *m = n;
    return SCFM_OK;
}

int scfm_strmap_put(scfm_strmap *m, const char *key, size_t val) {
    if ((m->n + 1) * 2 > m->cap) {
        int rc = grow(m);
        if (rc) return rc;
    }
    size_t i = hash_str(key) & (m->cap - 1);
    while (m->keys[i]) {
        if (!strcmp(m->keys[i], key)) return 1;
        i = (i + 1) & (m->cap - 1);
    }
    m->keys[i] = key;
    m->vals[i] = val;
    m->n++;
    return 0;
}

int scfm_strmap_get(const scfm_strmap *m, const char *key, size_t *val) {
    if (!m->cap) return 0;
    size_t i = hash_str(key) & (m->cap - 1);
    while (m->keys[i]) {
        if (!strcmp(m->keys[i], key)) { *val = m->vals[i]; return 1; }
        i = (i + 1) & (m->cap - 1);
    }
    return 0;
}
