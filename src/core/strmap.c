/* String -> index hash map: see include/scfm/strmap.h. */
#include "scfm/strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* FNV-1a, then a multiply to spread it: gene IDs share long prefixes ("ENSG00000"), and raw
 * FNV's low bits cluster them in the linearly probed table. */
static size_t hash_str(const char *s) {
    uint64_t h = 14695981039346656037ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (size_t)((h * 0x9E3779B97F4A7C15ULL) >> 24);
}

int scfm_strmap_init(scfm_strmap *m, size_t expected) {
    memset(m, 0, sizeof *m);
    if (expected > SIZE_MAX / 8 / sizeof(size_t)) return scfm_error(SCFM_ENOMEM, "hash map too large");
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

static int rebuild(scfm_strmap *m, size_t expected) {
    scfm_strmap n;
    int rc = scfm_strmap_init(&n, expected);
    if (rc) return rc;
    for (size_t i = 0; i < m->cap; i++)
        if (m->keys[i] && (rc = scfm_strmap_put(&n, m->keys[i], m->vals[i])) < 0) { scfm_strmap_free(&n); return rc; }
    scfm_strmap_free(m);
    *m = n;
    return SCFM_OK;
}

int scfm_strmap_put(scfm_strmap *m, const char *key, size_t val) {
    if ((m->n + 1) * 2 > m->cap) {
        int rc = rebuild(m, m->cap);
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

int scfm_strmap_reserve(scfm_strmap *m, size_t expected) {
    if (m->cap && expected * 2 < m->cap) return SCFM_OK;
    return rebuild(m, expected > m->n ? expected : m->n);
}

size_t *scfm_strmap_ref(const scfm_strmap *m, const char *key) {
    if (!m->cap) return NULL;
    size_t i = hash_str(key) & (m->cap - 1);
    while (m->keys[i]) {
        if (!strcmp(m->keys[i], key)) return &m->vals[i];
        i = (i + 1) & (m->cap - 1);
    }
    return NULL;
}

int scfm_strmap_get(const scfm_strmap *m, const char *key, size_t *val) {
    const size_t *v = scfm_strmap_ref(m, key);
    if (v) *val = *v;
    return v != NULL;
}
