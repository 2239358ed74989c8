/* Vocabularies (token string <-> dense id) and gene medians aligned to a vocabulary. */
#include "genes/genes_internal.h"
#include "scfm/genes.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct scfm_vocab {
    size_t n;
    const char **tokens; /* [n], by id, in `pool` */
    scfm_gn_pool pool;
    scfm_gn_tab index;   /* token -> id */
};

void scfm_vocab_free(scfm_vocab *v) {
    if (!v) return;
    free(v->tokens);
    scfm_gn_pool_free(&v->pool);
    scfm_gn_tab_free(&v->index);
    free(v);
}

static int vocab_fill(scfm_vocab *v, const char *path, const scfm_pkl_dict *d) {
    size_t n = d->n;
    if (n == 0) return scfm_error(SCFM_EFORMAT, "%s: empty vocabulary", path);
    if (n > INT32_MAX) return scfm_error(SCFM_EFORMAT, "%s: vocabulary of %zu tokens is too large", path, n);
    v->tokens = scfm_calloc(n, sizeof *v->tokens);
    if (!v->tokens) return SCFM_ENOMEM;
    v->n = n;
    int rc = scfm_gn_tab_init(&v->index, n);
    if (rc) return rc;
    for (size_t k = 0; k < n; k++) {
        const scfm_pkl_item *it = &d->items[k];
        int64_t id;
        if (scfm_gn_item_int(it, &id))
            return scfm_error(SCFM_EFORMAT, "%s: token '%s': id is not an integer", path, it->key);
        if (id < 0 || (uint64_t)id >= n)
            return scfm_error(SCFM_EFORMAT, "%s: token '%s' has id %" PRId64 ", outside 0..%zu (ids must be dense)",
                              path, it->key, id, n - 1);
        if (v->tokens[id])
            return scfm_error(SCFM_EFORMAT, "%s: id %" PRId64 " is used by both '%s' and '%s'", path, id,
                              v->tokens[id], it->key);
        if (strpbrk(it->key, "\t\r\n"))
            return scfm_error(SCFM_EFORMAT, "%s: token '%s' contains a tab or line break", path, it->key);
        const char *t = scfm_gn_pool_add(&v->pool, it->key, strlen(it->key));
        if (!t) return SCFM_ENOMEM;
        v->tokens[id] = t;
        int r = scfm_gn_tab_put(&v->index, t, id, NULL);
        if (r < 0) return r;
        if (r == 0) return scfm_error(SCFM_EFORMAT, "%s: token '%s' appears twice", path, it->key);
    }
    return SCFM_OK;
}

scfm_vocab *scfm_vocab_load(const char *path) {
    scfm_pkl_dict d;
    if (scfm_gn_load_kv(path, 0, &d)) return NULL;
    scfm_vocab *v = scfm_calloc(1, sizeof *v);
    int rc = v ? vocab_fill(v, path, &d) : SCFM_ENOMEM;
    scfm_pkl_dict_free(&d);
    if (rc) { scfm_vocab_free(v); return NULL; }
    return v;
}

size_t scfm_vocab_size(const scfm_vocab *v) { return v ? v->n : 0; }

const char *scfm_vocab_token(const scfm_vocab *v, size_t id) { return v && id < v->n ? v->tokens[id] : NULL; }

int64_t scfm_vocab_lookup(const scfm_vocab *v, const char *token) {
    return v && token ? scfm_gn_tab_get(&v->index, token) : -1;
}

int64_t scfm_vocab_special(const scfm_vocab *v, const char *name) { return scfm_vocab_lookup(v, name); }

/* Decimal digits of x into buf (no NUL); returns their count. */
static size_t put_decimal(char *buf, size_t x) {
    char t[24];
    size_t n = 0;
    do { t[n++] = (char)('0' + x % 10); x /= 10; } while (x);
    for (size_t i = 0; i < n; i++) buf[i] = t[n - 1 - i];
    return n;
}

uint64_t scfm_vocab_hash(const scfm_vocab *v) {
    uint64_t h = SCFM_GN_FNV_INIT;
    char num[32];
    for (size_t id = 0; v && id < v->n; id++) {
        size_t k = put_decimal(num, id);
        num[k++] = '\t';
        h = scfm_gn_fnv1a(num, k, h);
        h = scfm_gn_fnv1a(v->tokens[id], strlen(v->tokens[id]), h);
        h = scfm_gn_fnv1a("\n", 1, h);
    }
    return h;
}

int scfm_vocab_write_tsv(const scfm_vocab *v, const char *path) {
    size_t total = 0;
    for (size_t id = 0; id < v->n; id++) total += strlen(v->tokens[id]) + 24;
    char *buf = scfm_malloc(total + 1), *w = buf;
    if (!buf) return SCFM_ENOMEM;
    for (size_t id = 0; id < v->n; id++) {
        size_t n = strlen(v->tokens[id]);
        memcpy(w, v->tokens[id], n);
        w += n;
        *w++ = '\t';
        w += put_decimal(w, id);
        *w++ = '\n';
    }
    int rc = scfm_write_file_atomic(path, buf, (size_t)(w - buf));
    free(buf);
    return rc;
}

/* ---- medians ---------------------------------------------------------------------------------- */
int scfm_medians_load(const char *path, const scfm_vocab *v, double **medians_out) {
    *medians_out = NULL;
    scfm_pkl_dict d;
    int rc = scfm_gn_load_kv(path, 0, &d);
    if (rc) return rc;
    double *m = scfm_malloc((v->n ? v->n : 1) * sizeof *m);
    if (!m) { scfm_pkl_dict_free(&d); return SCFM_ENOMEM; }
    for (size_t k = 0; k < v->n; k++) m[k] = NAN;
    size_t matched = 0;
    for (size_t k = 0; k < d.n && !rc; k++) {
        const scfm_pkl_item *it = &d.items[k];
        double x;
        if (scfm_gn_item_double(it, &x) || !isfinite(x))
            rc = scfm_error(SCFM_EFORMAT, "%s: gene '%s': median is not a finite number", path, it->key);
        else if (x < 0)
            rc = scfm_error(SCFM_EDATA, "%s: gene '%s': median %g is negative", path, it->key, x);
        int64_t id = rc ? -1 : scfm_vocab_lookup(v, it->key);
        if (id >= 0) { m[id] = x; matched++; }
    }
    size_t n_med = d.n;
    scfm_pkl_dict_free(&d);
    if (rc) { free(m); return rc; }
    scfm_log(SCFM_LOG_DEBUG, "%s: %zu medians, %zu of %zu vocabulary tokens matched", path, n_med, matched, v->n);
    *medians_out = m;
    return SCFM_OK;
}
