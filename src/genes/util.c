/* Genes module helpers: name tables, string pool, file reading, line splitting, dict loader. */
#include "genes/genes_internal.h"
#include "scfm/io.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t scfm_gn_fnv1a(const void *data, size_t n, uint64_t h) {
    const unsigned char *b = data;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ULL;
    return h;
}

/* ---- name tables ------------------------------------------------------------------------- */
int scfm_gn_tab_put(scfm_gn_tab *t, const char *key, int64_t val, int64_t *old) {
    int r = scfm_strmap_put(t, key, (size_t)val);
    if (r < 0) return r;
    if (r == 1 && old) *old = scfm_gn_tab_get(t, key);
    return !r;
}

/* ---- string pool -------------------------------------------------------------------------- */
struct scfm_gn_block { scfm_gn_block *next; size_t used, cap; char data[]; };

const char *scfm_gn_pool_add(scfm_gn_pool *p, const char *s, size_t len) {
    scfm_gn_block *b = p->head;
    if (!b || b->cap - b->used < len + 1) {
        size_t cap = len + 1 > 65536 ? len + 1 : 65536;
        b = scfm_malloc(sizeof *b + cap);
        if (!b) return NULL;
        b->next = p->head;
        b->used = 0;
        b->cap = cap;
        p->head = b;
    }
    char *d = b->data + b->used;
    memcpy(d, s, len);
    d[len] = 0;
    b->used += len + 1;
    return d;
}

void scfm_gn_pool_free(scfm_gn_pool *p) {
    for (scfm_gn_block *b = p->head, *n; b; b = n) { n = b->next; free(b); }
    p->head = NULL;
}

/* ---- files ---------------------------------------------------------------------------------- */
int scfm_gn_read_all(const char *path, char **data, size_t *len) {
    *data = NULL;
    *len = 0;
    char *buf;
    size_t n;
    int rc = scfm_read_all(path, &buf, &n);
    if (rc) return rc;
    if (n >= 23 && !memcmp(buf, "version https://git-lfs", 23)) {
        free(buf);
        return scfm_error(SCFM_EFORMAT, "%s: is a Git LFS pointer, not the data (fetch it with git lfs pull)", path);
    }
    *data = buf;
    *len = n;
    return SCFM_OK;
}

char *scfm_gn_next_line(char *buf, size_t len, size_t *pos) {
    if (*pos >= len) return NULL;
    char *line = buf + *pos;
    char *nl = memchr(line, '\n', len - *pos);
    size_t n = nl ? (size_t)(nl - line) : len - *pos;
    *pos += n + (nl ? 1 : 0);
    line[n] = 0;
    if (n && line[n - 1] == '\r') line[n - 1] = 0;
    return line;
}

size_t scfm_gn_split(char *line, char delim, char **fields, size_t max) {
    size_t nf = 0;
    char *r = line;
    while (nf < max) {
        char *w = r;
        fields[nf++] = w;
        if (*r == '"') {
            r++;
            for (;;) {
                if (!*r) break;
                if (*r == '"') {
                    if (r[1] == '"') { *w++ = '"'; r += 2; continue; }
                    r++;
                    break;
                }
                *w++ = *r++;
            }
            while (*r && *r != delim) *w++ = *r++;
        } else {
            while (*r && *r != delim) *w++ = *r++;
        }
        int more = *r == delim;
        *w = 0;
        if (!more) break;
        r++;
    }
    return nf;
}

/* ---- dictionaries ------------------------------------------------------------------------- */
int scfm_gn_parse_kv_text(const char *path, char *buf, size_t len, int allow_dup, scfm_pkl_dict *out) {
    size_t cap = 1024, n = 0, pos = 0, lineno = 0;
    scfm_pkl_item *items = scfm_malloc(cap * sizeof *items);
    size_t *lines = allow_dup ? NULL : scfm_malloc(cap * sizeof *lines);
    scfm_gn_tab seen = {0};
    int rc = items && (allow_dup || lines) ? SCFM_OK : SCFM_ENOMEM;
    if (!rc && !allow_dup) { /* sized for the file's lines: no rehashing while loading */
        size_t n_lines = 1;
        for (const char *q = buf; (q = memchr(q, '\n', len - (size_t)(q - buf))); q++) n_lines++;
        rc = scfm_gn_tab_init(&seen, n_lines);
    }
    char *line;
    while (!rc && (line = scfm_gn_next_line(buf, len, &pos))) {
        lineno++;
        if (!line[0] || line[0] == '#') continue;
        char *tab = strchr(line, '\t');
        if (!tab) { rc = scfm_error(SCFM_EFORMAT, "%s: line %zu: expected key<TAB>value", path, lineno); break; }
        *tab = 0;
        char *val = tab + 1, *end = strchr(val, '\t');
        if (end) *end = 0;
        if (!line[0] && !allow_dup) { rc = scfm_error(SCFM_EFORMAT, "%s: line %zu: empty key", path, lineno); break; }
        if (n == cap) {
            size_t nc = cap * 2;
            scfm_pkl_item *ni = scfm_realloc(items, nc * sizeof *items);
            if (!ni) { rc = SCFM_ENOMEM; break; }
            items = ni;
            if (lines) {
                size_t *nl = scfm_realloc(lines, nc * sizeof *lines);
                if (!nl) { rc = SCFM_ENOMEM; break; }
                lines = nl;
            }
            cap = nc;
        }
        if (!allow_dup) {
            int64_t old = -1;
            int r = scfm_gn_tab_put(&seen, line, (int64_t)n, &old);
            if (r < 0) { rc = r; break; }
            if (r == 0) {
                rc = scfm_error(SCFM_EFORMAT, "%s: key '%s' appears twice (lines %zu and %zu)", path, line,
                                lines[old], lineno);
                break;
            }
            lines[n] = lineno;
        }
        items[n++] = (scfm_pkl_item){.key = line, .type = SCFM_PKL_STR, .s = val};
    }
    scfm_gn_tab_free(&seen);
    free(lines);
    if (rc) { free(items); return rc; }
    out->items = items;
    out->n = n;
    out->strings = buf;
    return SCFM_OK;
}

int scfm_gn_load_kv(const char *path, int allow_dup, scfm_pkl_dict *out) {
    memset(out, 0, sizeof *out);
    char *buf;
    size_t len;
    int rc = scfm_gn_read_all(path, &buf, &len);
    if (rc) return rc;
    if (len && (unsigned char)buf[0] == 0x80) {
        rc = scfm_pickle_parse_dict(buf, len, path, out);
        free(buf);
        return rc;
    }
    if (memchr(buf, 0, len)) {
        free(buf);
        return scfm_error(SCFM_EFORMAT, "%s: binary data, neither a pickle nor a key<TAB>value text file", path);
    }
    rc = scfm_gn_parse_kv_text(path, buf, len, allow_dup, out);
    if (rc) free(buf);
    return rc;
}

int scfm_gn_item_int(const scfm_pkl_item *it, int64_t *out) {
    if (it->type == SCFM_PKL_INT) { *out = it->i; return SCFM_OK; }
    if (it->type == SCFM_PKL_STR) {
        long v;
        if (scfm_parse_long(it->s, LONG_MIN, LONG_MAX, &v)) return SCFM_EFORMAT;
        *out = (int64_t)v;
        return SCFM_OK;
    }
    return SCFM_EFORMAT;
}

int scfm_gn_item_double(const scfm_pkl_item *it, double *out) {
    if (it->type == SCFM_PKL_INT || it->type == SCFM_PKL_FLOAT) { *out = it->f; return SCFM_OK; }
    if (it->type == SCFM_PKL_STR) return scfm_parse_double(it->s, out) ? SCFM_EFORMAT : SCFM_OK;
    return SCFM_EFORMAT;
}
