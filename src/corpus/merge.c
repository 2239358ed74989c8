/* Corpus merge (`scfm corpus merge`): concatenates corpora made with the same vocabulary,
 * keeping each cell's species, obs values (union of columns) and, for joint corpora, the homolog
 * map. Rules in scfm/corpus.h (scfm_corpus_merge). */
#include "scfm/corpus.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { char *s; size_t len, cap; int oom; } jbuf;

static void jb_put(jbuf *b, const char *s) {
    size_t n = strlen(s);
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->len + n + 1) nc *= 2;
        char *ns = scfm_realloc(b->s, nc);
        if (!ns) { b->oom = 1; return; }
        b->s = ns;
        b->cap = nc;
    }
    memcpy(b->s + b->len, s, n + 1);
    b->len += n;
}

static void jb_str(jbuf *b, const char *s) {
    if (!b->oom && !b->s) jb_put(b, "");
    if (!b->oom && scfm_json_append_string(&b->s, &b->len, &b->cap, s)) b->oom = 1;
}

/* JSON text of a parsed value (numbers: the exact integer, else %.17g). */
static void jb_value(jbuf *b, const scfm_json *v) {
    char tmp[48];
    switch (v->type) {
    case SCFM_JSON_NULL: jb_put(b, "null"); break;
    case SCFM_JSON_BOOL: jb_put(b, v->boolean ? "true" : "false"); break;
    case SCFM_JSON_NUMBER:
        if (v->is_integer) snprintf(tmp, sizeof tmp, "%lld", v->integer);
        else snprintf(tmp, sizeof tmp, "%.17g", v->number);
        jb_put(b, tmp);
        break;
    case SCFM_JSON_STRING: jb_str(b, v->string); break;
    default:
        jb_put(b, v->type == SCFM_JSON_ARRAY ? "[" : "{");
        for (size_t i = 0; i < v->n; i++) {
            if (i) jb_put(b, ", ");
            if (v->type == SCFM_JSON_OBJECT) { jb_str(b, v->keys[i]); jb_put(b, ": "); }
            jb_value(b, &v->items[i]);
        }
        jb_put(b, v->type == SCFM_JSON_ARRAY ? "]" : "}");
    }
}

static char *json_text(const scfm_json *v) {
    jbuf b = {0};
    jb_value(&b, v);
    if (b.oom) { free(b.s); return NULL; }
    return b.s;
}

/* Checks that every corpus can be merged with the first one. */
static int merge_check(scfm_corpus *const *c, size_t n) {
    for (size_t k = 1; k < n; k++) {
        const char *a = scfm_corpus_dir(c[0]), *b = scfm_corpus_dir(c[k]);
        if (scfm_corpus_vocab_hash(c[k]) != scfm_corpus_vocab_hash(c[0]) ||
            scfm_corpus_vocab_size(c[k]) != scfm_corpus_vocab_size(c[0]))
            return scfm_error(SCFM_EMISMATCH, "%s: vocabulary %016llx (%zu tokens) differs from %s's %016llx (%zu tokens); "
                              "only corpora tokenized with the same vocabulary can be merged", b,
                              (unsigned long long)scfm_corpus_vocab_hash(c[k]), scfm_corpus_vocab_size(c[k]), a,
                              (unsigned long long)scfm_corpus_vocab_hash(c[0]), scfm_corpus_vocab_size(c[0]));
        if (strcmp(scfm_corpus_mode(c[k]), scfm_corpus_mode(c[0])))
            return scfm_error(SCFM_EMISMATCH, "%s: mode %s differs from %s's %s", b, scfm_corpus_mode(c[k]), a,
                              scfm_corpus_mode(c[0]));
        if (scfm_corpus_has_values(c[k]) != scfm_corpus_has_values(c[0]))
            return scfm_error(SCFM_EMISMATCH, "%s %s values but %s %s", b, scfm_corpus_has_values(c[k]) ? "has" : "has no",
                              a, scfm_corpus_has_values(c[0]) ? "has" : "has none");
        if (scfm_corpus_is_joint(c[k]) != scfm_corpus_is_joint(c[0]) ||
            scfm_corpus_homologs_hash(c[k]) != scfm_corpus_homologs_hash(c[0]))
            return scfm_error(SCFM_EMISMATCH, "%s and %s disagree on the homolog map (joint: %s / %s)", b, a,
                              scfm_corpus_is_joint(c[k]) ? "yes" : "no", scfm_corpus_is_joint(c[0]) ? "yes" : "no");
    }
    return SCFM_OK;
}

/* Union of the obs columns in first-seen order; *cols_out malloc'd (names owned by corpora). */
static int obs_union(scfm_corpus *const *c, size_t n, const char ***cols_out, size_t *n_out) {
    size_t cap = 0, m = 0;
    for (size_t k = 0; k < n; k++) cap += scfm_corpus_n_obs(c[k]);
    const char **cols = scfm_calloc(cap ? cap : 1, sizeof *cols);
    if (!cols) return SCFM_ENOMEM;
    for (size_t k = 0; k < n; k++)
        for (size_t j = 0; j < scfm_corpus_n_obs(c[k]); j++) {
            const char *name = scfm_corpus_obs_name(c[k], j);
            size_t q = 0;
            while (q < m && strcmp(cols[q], name)) q++;
            if (q == m) cols[m++] = name;
        }
    *cols_out = cols;
    *n_out = m;
    return SCFM_OK;
}

/* Settings equal in every corpus, then "merged_from" with each corpus's own record. */
static int merge_settings(scfm_corpus_writer *w, scfm_corpus *const *c, size_t n) {
    const scfm_json *s0 = scfm_json_get(scfm_corpus_meta(c[0]), "settings");
    int rc = SCFM_OK;
    for (size_t i = 0; !rc && s0 && s0->type == SCFM_JSON_OBJECT && i < s0->n; i++) {
        char *t0 = json_text(&s0->items[i]);
        int same = t0 != NULL;
        for (size_t k = 1; same && k < n; k++) {
            const scfm_json *sk = scfm_json_get(scfm_corpus_meta(c[k]), "settings");
            const scfm_json *v = sk ? scfm_json_get(sk, s0->keys[i]) : NULL;
            char *tk = v ? json_text(v) : NULL;
            same = tk && !strcmp(tk, t0);
            free(tk);
        }
        if (same) rc = scfm_corpus_writer_setting(w, s0->keys[i], t0);
        else if (!t0) rc = SCFM_ENOMEM;
        free(t0);
    }
    jbuf b = {0};
    jb_put(&b, "[");
    for (size_t k = 0; k < n; k++) {
        const scfm_json *m = scfm_corpus_meta(c[k]), *cmd = scfm_json_get(m, "command"), *st = scfm_json_get(m, "settings");
        char num[64];
        jb_put(&b, k ? ", {\"dir\": " : "{\"dir\": ");
        jb_str(&b, scfm_corpus_dir(c[k]));
        jb_put(&b, ", \"species\": ");
        jb_str(&b, scfm_corpus_species(c[k]));
        snprintf(num, sizeof num, ", \"n_cells\": %zu, \"command\": ", scfm_corpus_n_cells(c[k]));
        jb_put(&b, num);
        if (cmd) jb_value(&b, cmd); else jb_put(&b, "null");
        jb_put(&b, ", \"settings\": ");
        if (st) jb_value(&b, st); else jb_put(&b, "{}");
        jb_put(&b, "}");
    }
    jb_put(&b, "]");
    if (!rc) rc = b.oom ? SCFM_ENOMEM : scfm_corpus_writer_setting(w, "merged_from", b.s);
    free(b.s);
    return rc;
}

static int merge_sources(scfm_corpus_writer *w, scfm_corpus *const *c, size_t n) {
    for (size_t k = 0; k < n; k++) {
        const scfm_json *src = scfm_json_get(scfm_corpus_meta(c[k]), "sources");
        for (size_t i = 0; src && src->type == SCFM_JSON_ARRAY && i < src->n; i++) {
            const scfm_json *e = &src->items[i];
            scfm_corpus_source s = {"", "", 0, 0, 0, 0, 0.0};
            if (scfm_json_get_string(e, "path", &s.path) || scfm_json_get_string(e, "format", &s.format) ||
                scfm_json_get_size(e, "n_cells_in", &s.n_cells_in) || scfm_json_get_size(e, "n_cells_kept", &s.n_cells_kept) ||
                scfm_json_get_size(e, "genes_in", &s.genes_in) || scfm_json_get_size(e, "genes_in_vocab", &s.genes_in_vocab) ||
                scfm_json_get_double(e, "count_share_in_vocab", &s.count_share_in_vocab)) { /* partial entries: what they have */ }
            int rc = scfm_corpus_writer_add_source(w, &s);
            if (rc) return rc;
        }
    }
    return SCFM_OK;
}

static int merge_cells(scfm_corpus_writer *w, const scfm_corpus *c, const char **cols, size_t n_cols, const char **row) {
    long *map = scfm_calloc(n_cols ? n_cols : 1, sizeof *map);
    if (!map) return SCFM_ENOMEM;
    for (size_t q = 0; q < n_cols; q++) map[q] = scfm_corpus_obs_index(c, cols[q]);
    int rc = SCFM_OK;
    for (size_t i = 0; !rc && i < scfm_corpus_n_cells(c); i++) {
        const int32_t *tok;
        const float *val;
        size_t len;
        rc = scfm_corpus_cell(c, i, &tok, &len, &val);
        for (size_t q = 0; q < n_cols; q++) row[q] = map[q] >= 0 ? scfm_corpus_obs(c, i, (size_t)map[q]) : "";
        if (!rc) rc = scfm_corpus_writer_set_species(w, scfm_corpus_cell_species(c, i));
        if (!rc) rc = scfm_corpus_writer_add(w, tok, val, len, scfm_corpus_cell_id(c, i), row);
    }
    free(map);
    return rc;
}

int scfm_corpus_merge(const char *const *dirs, size_t n_dirs, const char *out_dir, int force, const char *command) {
    if (n_dirs < 1) return scfm_error(SCFM_EINVAL, "corpus merge: no input corpora");
    scfm_corpus **c = scfm_calloc(n_dirs, sizeof *c);
    if (!c) return SCFM_ENOMEM;
    int rc = SCFM_OK;
    for (size_t k = 0; !rc && k < n_dirs; k++)
        if (!(c[k] = scfm_corpus_open(dirs[k]))) rc = SCFM_EFORMAT;
    if (!rc) rc = merge_check(c, n_dirs);
    const char **cols = NULL, **row = NULL;
    size_t n_cols = 0, max_len = 0;
    scfm_vocab *v = NULL;
    scfm_corpus_writer *w = NULL;
    if (!rc) rc = obs_union(c, n_dirs, &cols, &n_cols);
    if (!rc && !(row = scfm_calloc(n_cols ? n_cols : 1, sizeof *row))) rc = SCFM_ENOMEM;
    if (!rc && !(v = scfm_corpus_load_vocab(c[0]))) rc = SCFM_EFORMAT;
    for (size_t k = 0; !rc && k < n_dirs; k++)
        if (scfm_corpus_max_len(c[k]) > max_len) max_len = scfm_corpus_max_len(c[k]);
    if (!rc) {
        scfm_corpus_writer_opts o = {out_dir, force, v, scfm_corpus_mode(c[0]), max_len, scfm_corpus_has_values(c[0]),
                                     NULL, command, cols, n_cols, 0, scfm_corpus_homologs_path(c[0])};
        if (!(w = scfm_corpus_writer_open(&o))) rc = SCFM_EIO;
    }
    if (!rc) rc = merge_settings(w, c, n_dirs);
    if (!rc) rc = merge_sources(w, c, n_dirs);
    for (size_t k = 0; !rc && k < n_dirs; k++) rc = merge_cells(w, c[k], cols, n_cols, row);
    if (w) {
        if (!rc) rc = scfm_corpus_writer_finish(w);
        else scfm_corpus_writer_abort(w);
    }
    if (!rc)
        scfm_log(SCFM_LOG_INFO, "corpus merge: wrote %s from %zu corpora", out_dir, n_dirs);
    free(cols);
    free(row);
    scfm_vocab_free(v);
    for (size_t k = 0; k < n_dirs; k++) scfm_corpus_close(c[k]);
    free(c);
    return rc;
}
