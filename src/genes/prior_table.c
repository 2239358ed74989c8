/* Prior-knowledge tables: TSV / .npy / safetensors / pickle readers into one (keys, [n, D])
 * table, then aligned to a vocabulary (see include/scfm/prior_table.h). */
#include "scfm/prior_table.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "genes/genes_internal.h"
#include "scfm/json.h"
#include "scfm/pickle.h"
#include "scfm/rng.h"
#include "scfm/safetensors.h"

#define PRIOR_STREAM 0x5052494f52ull /* "PRIOR" */

/* A table as read from a file: n keys (in pool), m[n * d], where[k] = line or row number. */
typedef struct {
    const char **keys;
    float *m;
    size_t *where;
    size_t n, d, cap;
    const char *unit; /* "line" (text tables) or "row" (1-based rows of an array) */
    const char *keyfile; /* file the keys came from (path itself, or the sibling list) */
    char keyfile_buf[4096];
    scfm_gn_pool pool;
} raw_table;

static void raw_free(raw_table *t) {
    free(t->keys);
    free(t->m);
    free(t->where);
    scfm_gn_pool_free(&t->pool);
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcasecmp(s + a - b, suffix);
}

/* Appends a key (copied) with where = w; the caller fills its d values at raw->m + k*d. */
static int raw_add_key(raw_table *t, const char *key, size_t len, size_t w) {
    if (t->n == t->cap) {
        size_t nc = t->cap ? 2 * t->cap : 1024, bytes;
        if (scfm_mul_size(nc, sizeof *t->keys, &bytes)) return scfm_error(SCFM_ENOMEM, "prior table too large");
        const char **nk = scfm_realloc(t->keys, bytes);
        if (!nk) return SCFM_ENOMEM;
        t->keys = nk;
        size_t *nw = scfm_realloc(t->where, nc * sizeof *t->where);
        if (!nw) return SCFM_ENOMEM;
        t->where = nw;
        t->cap = nc;
    }
    const char *k = scfm_gn_pool_add(&t->pool, key, len);
    if (!k) return SCFM_ENOMEM;
    t->keys[t->n] = k;
    t->where[t->n] = w;
    t->n++;
    return SCFM_OK;
}

/* ---- TSV ------------------------------------------------------------------------------- */
static int read_tsv(const char *path, raw_table *t) {
    char *buf;
    size_t len, pos = 0, lineno = 0, mcap = 0;
    int rc = scfm_gn_read_all(path, &buf, &len), seen_line = 0;
    if (rc) return rc;
    if (memchr(buf, 0, len)) {
        free(buf);
        return scfm_error(SCFM_EFORMAT, "%s: binary data, not a key<TAB>values text table", path);
    }
    t->unit = "line";
    t->keyfile = path;
    char *line;
    while (!rc && (line = scfm_gn_next_line(buf, len, &pos))) {
        lineno++;
        if (!line[0]) continue;
        int first = !seen_line;
        seen_line = 1;
        if (line[0] == '#' || (first && !strncasecmp(line, "gene", 4))) continue;
        char *tab = strchr(line, '\t');
        if (!tab) {
            rc = scfm_error(SCFM_EFORMAT, "%s: line %zu: no vectors (expected key<TAB>v1<TAB>...<TAB>vD)", path, lineno);
            break;
        }
        size_t d = 1;
        for (const char *q = tab + 1; (q = strchr(q, '\t')); q++) d++;
        if (t->n == 0) t->d = d;
        else if (d != t->d) {
            rc = scfm_error(SCFM_EFORMAT, "%s: line %zu: %zu values, earlier lines have %zu (ragged table)", path,
                            lineno, d, t->d);
            break;
        }
        if ((rc = raw_add_key(t, line, (size_t)(tab - line), lineno))) break;
        size_t need = t->n * t->d;
        if (need > mcap) {
            size_t nc = mcap ? 2 * mcap : 64 * t->d, bytes;
            while (nc < need) nc *= 2;
            if (scfm_mul_size(nc, sizeof(float), &bytes)) { rc = scfm_error(SCFM_ENOMEM, "%s: table too large", path); break; }
            float *nm = scfm_realloc(t->m, bytes);
            if (!nm) { rc = SCFM_ENOMEM; break; }
            t->m = nm;
            mcap = nc;
        }
        float *row = t->m + (t->n - 1) * t->d;
        char *p = tab + 1;
        for (size_t j = 0; j < d; j++) {
            char *end;
            errno = 0;
            double x = strtod(p, &end);
            if (end == p || (*end && *end != '\t')) {
                char *e = strchr(p, '\t');
                if (e) *e = 0;
                rc = scfm_error(SCFM_EFORMAT, "%s: line %zu: value %zu ('%.40s') is not a number", path, lineno, j + 1, p);
                break;
            }
            row[j] = (float)x;
            if (!isfinite(row[j])) {
                rc = scfm_error(SCFM_EFORMAT, "%s: line %zu: value %zu of '%s' is not finite", path, lineno, j + 1,
                                t->keys[t->n - 1]);
                break;
            }
            p = *end ? end + 1 : end;
        }
    }
    free(buf);
    return rc;
}

/* ---- sibling key list ---------------------------------------------------------------------- */
/* "<stem>.genes.tsv" or "<stem>.genes.txt" where stem = path without its extension ext. */
static int read_key_list(const char *path, const char *ext, size_t n_rows, raw_table *t) {
    size_t stem = strlen(path) - strlen(ext);
    static const char *const sfx[] = {".genes.tsv", ".genes.txt"};
    const char *found = NULL;
    for (size_t k = 0; k < 2 && !found; k++) {
        if (stem + strlen(sfx[k]) + 1 > sizeof t->keyfile_buf) return scfm_error(SCFM_EINVAL, "%s: path too long", path);
        memcpy(t->keyfile_buf, path, stem);
        strcpy(t->keyfile_buf + stem, sfx[k]);
        FILE *f = fopen(t->keyfile_buf, "rb");
        if (f) { fclose(f); found = t->keyfile_buf; }
    }
    if (!found) {
        memcpy(t->keyfile_buf, path, stem);
        t->keyfile_buf[stem] = 0;
        return scfm_error(SCFM_EIO, "%s: no gene list: expected %s.genes.tsv or %s.genes.txt (one key per line)", path,
                          t->keyfile_buf, t->keyfile_buf);
    }
    t->keyfile = found;
    char *buf;
    size_t len, pos = 0, lineno = 0;
    int rc = scfm_gn_read_all(found, &buf, &len);
    if (rc) return rc;
    size_t data_lines = 0; /* lines that are not '#' comments */
    for (size_t q = 0, st = 0; q <= len; q++)
        if (q == len || buf[q] == '\n') {
            if (q > st && buf[st] != '#') data_lines++;
            st = q + 1;
        }
    char *line;
    int first = 1;
    while (!rc && (line = scfm_gn_next_line(buf, len, &pos))) {
        lineno++;
        if (line[0] == '#') continue;
        /* a first line "gene..." is a header when the list is one longer than the array */
        if (first && data_lines == n_rows + 1 && !strncasecmp(line, "gene", 4)) { first = 0; continue; }
        first = 0;
        char *tab = strchr(line, '\t');
        size_t kl = tab ? (size_t)(tab - line) : strlen(line);
        if (!kl) { rc = scfm_error(SCFM_EFORMAT, "%s: line %zu: empty key", found, lineno); break; }
        rc = raw_add_key(t, line, kl, lineno);
    }
    free(buf);
    if (!rc && t->n != n_rows)
        rc = scfm_error(SCFM_EFORMAT, "%s: %zu keys but %s has %zu rows", found, t->n, path, n_rows);
    t->unit = "line";
    return rc;
}

/* ---- .npy ------------------------------------------------------------------------------ */
/* Value of 'key' in a .npy header dict: pointer just past "'key':" and spaces, or NULL. */
static const char *npy_field(const char *h, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "'%s'", key);
    const char *p = strstr(h, pat);
    if (!p) return NULL;
    p += strlen(pat);
    while (*p == ' ') p++;
    if (*p != ':') return NULL;
    p++;
    while (*p == ' ') p++;
    return p;
}

static int read_npy(const char *path, raw_table *t) {
    char *buf;
    size_t len;
    int rc = scfm_read_file(path, &buf, &len);
    if (rc) return rc;
    const unsigned char *u = (const unsigned char *)buf;
    size_t hl = 0, hoff = 0;
    if (len < 10 || memcmp(buf, "\x93NUMPY", 6)) rc = scfm_error(SCFM_EFORMAT, "%s: not a .npy file (bad magic)", path);
    else if (u[6] == 1) { hl = (size_t)u[8] | (size_t)u[9] << 8; hoff = 10; }
    else if ((u[6] == 2 || u[6] == 3) && len >= 12) {
        hl = (size_t)u[8] | (size_t)u[9] << 8 | (size_t)u[10] << 16 | (size_t)u[11] << 24;
        hoff = 12;
    } else rc = scfm_error(SCFM_EFORMAT, "%s: .npy format version %u is not supported", path, u[6]);
    if (!rc && hl > len - hoff) rc = scfm_error(SCFM_EFORMAT, "%s: .npy header runs past the end (truncated)", path);
    char *h = NULL;
    if (!rc && !(h = scfm_malloc(hl + 1))) rc = SCFM_ENOMEM;
    if (rc) { free(buf); return rc; }
    memcpy(h, buf + hoff, hl);
    h[hl] = 0;
    const char *descr = npy_field(h, "descr"), *fo = npy_field(h, "fortran_order"), *sh = npy_field(h, "shape");
    char order = 0;
    size_t esz = 0, n = 0, d = 0;
    int fortran = 0;
    if (!descr || !fo || !sh) rc = scfm_error(SCFM_EFORMAT, "%s: .npy header lacks descr, fortran_order or shape", path);
    else if (!strncmp(descr, "'<f4'", 5) || !strncmp(descr, "'>f4'", 5) || !strncmp(descr, "'=f4'", 5)) { order = descr[1]; esz = 4; }
    else if (!strncmp(descr, "'<f8'", 5) || !strncmp(descr, "'>f8'", 5) || !strncmp(descr, "'=f8'", 5)) { order = descr[1]; esz = 8; }
    else {
        const char *e = strchr(descr + 1, '\'');
        rc = scfm_error(SCFM_EFORMAT, "%s: .npy dtype %.*s is not supported (float32 or float64)", path,
                        e ? (int)(e - descr + 1) : 8, descr);
    }
    if (!rc) {
        if (!strncmp(fo, "True", 4)) fortran = 1;
        else if (strncmp(fo, "False", 5)) rc = scfm_error(SCFM_EFORMAT, "%s: .npy fortran_order is not True/False", path);
    }
    if (!rc) {
        unsigned long long a = 0, b = 0;
        int used = 0;
        if (sscanf(sh, "(%llu, %llu)%n", &a, &b, &used) != 2 || !used) {
            const char *e = strchr(sh, ')');
            rc = scfm_error(SCFM_EFORMAT, "%s: .npy array is not 2-D [genes, width] (shape %.*s)", path,
                            e && e - sh < 60 ? (int)(e - sh + 1) : 20, sh);
        }
        n = (size_t)a;
        d = (size_t)b;
    }
    size_t numel = 0, bytes = 0, off = hoff + hl;
    if (!rc && (scfm_mul_size(n, d, &numel) || scfm_mul_size(numel, esz, &bytes)))
        rc = scfm_error(SCFM_EFORMAT, "%s: .npy shape overflows", path);
    if (!rc && bytes != len - off)
        rc = scfm_error(SCFM_EFORMAT, "%s: .npy data is %zu bytes, shape (%zu, %zu) needs %zu (truncated?)", path,
                        len - off, n, d, bytes);
    if (!rc && d == 0) rc = scfm_error(SCFM_EFORMAT, "%s: vectors of width 0", path);
    if (!rc && !(t->m = scfm_malloc(numel ? numel * sizeof(float) : 1))) rc = SCFM_ENOMEM;
    if (!rc) {
        const unsigned char *p = u + off;
        unsigned char tmp[8];
        uint16_t one = 1;
        unsigned char little;
        memcpy(&little, &one, 1);
        if (esz == 4 && !fortran && little && order != '>') memcpy(t->m, p, numel * 4); /* common case */
        else
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < d; j++) {
                const unsigned char *e = p + (fortran ? j * n + i : i * d + j) * esz;
                for (size_t k = 0; k < esz; k++) tmp[k] = order == '>' ? e[esz - 1 - k] : e[k];
                float f;
                if (esz == 4) memcpy(&f, tmp, 4);
                else { double x; memcpy(&x, tmp, 8); f = (float)x; }
                t->m[i * d + j] = f;
            }
        t->d = d;
        rc = read_key_list(path, ".npy", n, t);
    }
    free(h);
    free(buf);
    return rc;
}

/* ---- safetensors --------------------------------------------------------------------------- */
static int read_safetensors(const char *path, raw_table *t) {
    FILE *f = fopen(path, "rb");
    if (!f) return scfm_error(SCFM_EIO, "%s: cannot open: %s", path, strerror(errno));
    fclose(f);
    scfm_safetensors *st = scfm_st_open(path);
    if (!st) return SCFM_EFORMAT;
    int rc = SCFM_OK;
    const scfm_st_tensor *x = st->n == 1 ? &st->t[0] : NULL;
    if (!x) rc = scfm_error(SCFM_EFORMAT, "%s: holds %zu tensors, a prior table is exactly one [genes, width] tensor", path, st->n);
    else if (x->ndim != 2)
        rc = scfm_error(SCFM_EFORMAT, "%s: tensor '%s' has %zu dimensions, not 2 [genes, width]", path, x->name, x->ndim);
    else if (x->dtype != SCFM_DT_F32 && x->dtype != SCFM_DT_F64 && x->dtype != SCFM_DT_F16 && x->dtype != SCFM_DT_BF16)
        rc = scfm_error(SCFM_EFORMAT, "%s: tensor '%s' is %s, not a floating type", path, x->name, scfm_dtype_name(x->dtype));
    else if (x->shape[1] == 0) rc = scfm_error(SCFM_EFORMAT, "%s: vectors of width 0", path);
    if (rc) { scfm_st_close(st); return rc; }
    size_t n = x->shape[0], d = x->shape[1];
    if (!(t->m = scfm_malloc(x->numel ? x->numel * sizeof(float) : 1))) { scfm_st_close(st); return SCFM_ENOMEM; }
    const unsigned char *p = scfm_st_data(st, x);
    if (x->dtype == SCFM_DT_F32) memcpy(t->m, p, x->numel * 4);
    else if (x->dtype == SCFM_DT_F64)
        for (size_t i = 0; i < x->numel; i++) { double v; memcpy(&v, p + 8 * i, 8); t->m[i] = (float)v; }
    else rc = scfm_st_read_f32(st, x, t->m, x->numel); /* 16-bit floats: checks finiteness itself */
    t->d = d;
    const char *genes = rc ? NULL : scfm_st_meta(st, "genes");
    if (genes) {
        t->unit = "row";
        t->keyfile = path;
        scfm_json *j = scfm_json_parse(genes, strlen(genes), path);
        if (!j) rc = scfm_error_prefix(SCFM_EFORMAT, "%s: __metadata__ \"genes\"", path);
        else if (j->type != SCFM_JSON_ARRAY || j->n != n)
            rc = scfm_error(SCFM_EFORMAT, "%s: __metadata__ \"genes\" is not an array of %zu strings", path, n);
        for (size_t k = 0; !rc && k < j->n; k++) {
            if (j->items[k].type != SCFM_JSON_STRING || !j->items[k].str_len)
                rc = scfm_error(SCFM_EFORMAT, "%s: __metadata__ \"genes\"[%zu] is not a non-empty string", path, k);
            else rc = raw_add_key(t, j->items[k].string, j->items[k].str_len, k + 1);
        }
        scfm_json_free(j);
    } else if (!rc) rc = read_key_list(path, ".safetensors", n, t);
    scfm_st_close(st);
    return rc;
}

/* ---- pickle ---------------------------------------------------------------------------------- */
static int read_pickle(const char *path, raw_table *t) {
    scfm_pkl_dict dict;
    int rc = scfm_pickle_read_dict(path, &dict);
    if (rc) return rc;
    t->unit = "entry";
    t->keyfile = path;
    size_t n = dict.n, d = 0;
    for (size_t k = 0; !rc && k < n; k++) {
        const scfm_pkl_item *it = &dict.items[k];
        if (it->type != SCFM_PKL_FARRAY)
            rc = scfm_error(SCFM_EFORMAT, "%s: value of '%s' is not a float vector (numpy float32/float64 array)", path, it->key);
        else if (k == 0) d = it->vec_len;
        else if (it->vec_len != d)
            rc = scfm_error(SCFM_EFORMAT, "%s: vector of '%s' has %zu values, earlier ones %zu (ragged table)", path,
                            it->key, it->vec_len, d);
    }
    if (!rc && n && d == 0) rc = scfm_error(SCFM_EFORMAT, "%s: vectors of width 0", path);
    /* the reader stores the vectors one after the other in item order: that is the [n, d] matrix */
    for (size_t k = 0; !rc && k < n; k++)
        if (dict.items[k].vec != dict.floats + k * d)
            rc = scfm_error(SCFM_EFORMAT, "%s: internal: vectors not contiguous", path);
    if (!rc && n) { t->m = dict.floats; dict.floats = NULL; }
    for (size_t k = 0; !rc && k < n; k++) rc = raw_add_key(t, dict.items[k].key, strlen(dict.items[k].key), k + 1);
    t->d = d;
    scfm_pkl_dict_free(&dict);
    return rc;
}

/* ---- alignment --------------------------------------------------------------------------------- */
static uint64_t fnv1a64(const char *s) { return scfm_gn_fnv1a(s, strlen(s), SCFM_GN_FNV_INIT); }

void scfm_prior_random_row(uint64_t seed, const char *token, float *out, size_t d) {
    scfm_rng r;
    scfm_rng_seed(&r, scfm_hash3(seed, fnv1a64(token), PRIOR_STREAM));
    for (size_t j = 0; j < d; j++) out[j] = scfm_rng_normal(&r);
}

static int is_special(const char *tok) {
    size_t n = strlen(tok);
    return n >= 2 && tok[0] == '<' && tok[n - 1] == '>';
}

/* Vocabulary id of a key (-1: none) and, in norm (size >= 256 or strlen+1), its normalized form. */
static int64_t key_to_id(const char *key, const scfm_vocab *v, const scfm_gene_map *names, char *norm, size_t cap) {
    int64_t id = scfm_vocab_lookup(v, key);
    snprintf(norm, cap, "%s", key);
    scfm_gene_normalize(norm);
    if (id < 0) id = scfm_vocab_lookup(v, norm);
    if (id < 0 && names) {
        const char *ens = scfm_gene_map_lookup(names, key);
        if (ens) id = scfm_vocab_lookup(v, ens);
    }
    if (id >= 0 && is_special(scfm_vocab_token(v, (size_t)id))) id = -1;
    return id;
}

static int align(const char *path, const raw_table *t, const scfm_vocab *v, const scfm_prior_opts *o, float *out,
                 scfm_prior_report *rep) {
    size_t V = scfm_vocab_size(v), d = t->d;
    int64_t *row_of = scfm_malloc((V ? V : 1) * sizeof *row_of);
    scfm_gn_tab seen = {0};
    scfm_gn_pool pool = {0};
    int rc = row_of ? scfm_gn_tab_init(&seen, t->n) : SCFM_ENOMEM;
    for (size_t i = 0; i < V; i++) row_of[i] = -1;
    char stackbuf[512];
    for (size_t k = 0; !rc && k < t->n; k++) {
        const char *key = t->keys[k];
        size_t kl = strlen(key) + 1;
        char *norm = kl <= sizeof stackbuf ? stackbuf : scfm_malloc(kl);
        if (!norm) { rc = SCFM_ENOMEM; break; }
        int64_t id = key_to_id(key, v, o->names, norm, kl > sizeof stackbuf ? kl : sizeof stackbuf);
        const char *nk = scfm_gn_pool_add(&pool, norm, strlen(norm));
        if (norm != stackbuf) free(norm);
        if (!nk) { rc = SCFM_ENOMEM; break; }
        int64_t old = -1;
        int r = scfm_gn_tab_put(&seen, nk, (int64_t)k, &old);
        if (r < 0) { rc = r; break; }
        if (r == 0) {
            rc = scfm_error(SCFM_EFORMAT, "%s: duplicate gene: '%s' (%s %zu) and '%s' (%s %zu) are the same key '%s'",
                            t->keyfile, t->keys[old], t->unit, t->where[old], key, t->unit, t->where[k], nk);
            break;
        }
        if (id < 0) { rep->unknown_keys++; continue; }
        if (row_of[id] >= 0) {
            size_t a = (size_t)row_of[id];
            rc = scfm_error(SCFM_EFORMAT, "%s: duplicate gene: '%s' (%s %zu) and '%s' (%s %zu) are both %s", t->keyfile,
                            t->keys[a], t->unit, t->where[a], key, t->unit, t->where[k], scfm_vocab_token(v, (size_t)id));
            break;
        }
        row_of[id] = (int64_t)k;
        rep->matched++;
    }
    if (!rc && rep->matched == 0)
        rc = scfm_error(SCFM_EINVAL, "%s: none of its %zu keys matches a gene of the vocabulary (first key '%s'%s)", path,
                        t->n, t->n ? t->keys[0] : "", o->names ? "" : "; symbol keys need a gene name table");
    for (size_t i = 0; !rc && i < V; i++) {
        const char *tok = scfm_vocab_token(v, i);
        float *row = out + i * d;
        if (is_special(tok)) { memset(row, 0, d * sizeof *row); rep->special_rows++; }
        else if (row_of[i] >= 0) memcpy(row, t->m + (size_t)row_of[i] * d, d * sizeof *row);
        else { scfm_prior_random_row(o->seed, tok, row, d); rep->random_rows++; }
    }
    scfm_gn_tab_free(&seen);
    scfm_gn_pool_free(&pool);
    free(row_of);
    return rc;
}

int scfm_prior_table_load(const char *path, const scfm_vocab *v, const scfm_prior_opts *o, float **out,
                          size_t *width_out, scfm_prior_report *rep) {
    if (out) *out = NULL;
    if (!path || !v || !out || !width_out)
        return scfm_error(SCFM_EINVAL, "scfm_prior_table_load: path, vocabulary and outputs are required");
    scfm_prior_opts dflt = {0, 0, NULL};
    scfm_prior_report rdummy;
    if (!o) o = &dflt;
    if (!rep) rep = &rdummy;
    memset(rep, 0, sizeof *rep);
    raw_table t;
    memset(&t, 0, sizeof t);
    int rc;
    if (ends_with(path, ".tsv") || ends_with(path, ".tsv.gz") || ends_with(path, ".txt") || ends_with(path, ".txt.gz"))
        rc = read_tsv(path, &t);
    else if (ends_with(path, ".npy")) rc = read_npy(path, &t);
    else if (ends_with(path, ".safetensors")) rc = read_safetensors(path, &t);
    else if (ends_with(path, ".pkl") || ends_with(path, ".pickle")) rc = read_pickle(path, &t);
    else
        rc = scfm_error(SCFM_EINVAL, "%s: unknown prior table type (expected .tsv, .tsv.gz, .npy, .safetensors or .pkl)",
                        path);
    if (!rc && t.n == 0) rc = scfm_error(SCFM_EFORMAT, "%s: no genes in the table", path);
    if (!rc && t.d == 0) rc = scfm_error(SCFM_EFORMAT, "%s: vectors of width 0", path);
    for (size_t k = 0; !rc && k < t.n; k++) /* every row, used or not (text tables: checked per line) */
        for (size_t j = 0; j < t.d; j++)
            if (!isfinite(t.m[k * t.d + j])) {
                rc = scfm_error(SCFM_EFORMAT, "%s: row %zu ('%s'): value %zu is not finite", path, k + 1, t.keys[k], j + 1);
                break;
            }
    if (!rc && o->width && t.d != o->width)
        rc = scfm_error(SCFM_EINVAL, "%s: vectors are %zu wide, expected %zu", path, t.d, o->width);
    rep->file_rows = t.n;
    size_t V = scfm_vocab_size(v), numel = 0;
    float *m = NULL;
    if (!rc && scfm_mul_size(V, t.d, &numel)) rc = scfm_error(SCFM_ENOMEM, "%s: [%zu, %zu] is too large", path, V, t.d);
    if (!rc && !(m = scfm_malloc(numel ? numel * sizeof *m : 1))) rc = SCFM_ENOMEM;
    if (!rc) rc = align(path, &t, v, o, m, rep);
    if (rc) free(m);
    else {
        *out = m;
        *width_out = t.d;
    }
    raw_free(&t);
    return rc;
}
