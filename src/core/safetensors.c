/* safetensors reader (strict) and writer. See include/scfm/safetensors.h and docs/formats.md section 4. */
#include "scfm/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scfm/json.h"
#include "scfm/strmap.h"

static const struct { const char *name; size_t bits; } dtypes[SCFM_DT_COUNT] = {
    [SCFM_DT_BOOL] = {"BOOL", 8},   [SCFM_DT_U8] = {"U8", 8},       [SCFM_DT_I8] = {"I8", 8},
    [SCFM_DT_I16] = {"I16", 16},    [SCFM_DT_U16] = {"U16", 16},    [SCFM_DT_F16] = {"F16", 16},
    [SCFM_DT_BF16] = {"BF16", 16},  [SCFM_DT_I32] = {"I32", 32},    [SCFM_DT_U32] = {"U32", 32},
    [SCFM_DT_F32] = {"F32", 32},    [SCFM_DT_F64] = {"F64", 64},    [SCFM_DT_I64] = {"I64", 64},
    [SCFM_DT_U64] = {"U64", 64},    [SCFM_DT_C64] = {"C64", 64},
    [SCFM_DT_F8_E5M2] = {"F8_E5M2", 8}, [SCFM_DT_F8_E4M3] = {"F8_E4M3", 8},
    [SCFM_DT_F8_E8M0] = {"F8_E8M0", 8}, [SCFM_DT_F8_E4M3FNUZ] = {"F8_E4M3FNUZ", 8},
    [SCFM_DT_F8_E5M2FNUZ] = {"F8_E5M2FNUZ", 8}, [SCFM_DT_F6_E2M3] = {"F6_E2M3", 6},
    [SCFM_DT_F6_E3M2] = {"F6_E3M2", 6}, [SCFM_DT_F4] = {"F4", 4},
};

const char *scfm_dtype_name(scfm_dtype d) {
    return (unsigned)d < SCFM_DT_COUNT ? dtypes[d].name : "?";
}

int scfm_dtype_from_name(const char *s, scfm_dtype *out) {
    for (int i = 0; i < SCFM_DT_COUNT; i++)
        if (!strcmp(s, dtypes[i].name)) { *out = (scfm_dtype)i; return 0; }
    return -1;
}

size_t scfm_dtype_bits(scfm_dtype d) { return (unsigned)d < SCFM_DT_COUNT ? dtypes[d].bits : 0; }

/* ---------------------------------------------------------------------------------------
 * Reader
 * --------------------------------------------------------------------------------------- */
static int read_size_member(const scfm_json *v, size_t *out) {
    if (v->type != SCFM_JSON_NUMBER || !v->is_integer || v->integer < 0 ||
        (unsigned long long)v->integer > (unsigned long long)SIZE_MAX / 2) return -1;
    *out = (size_t)v->integer;
    return 0;
}

static int parse_metadata(scfm_safetensors *st, const scfm_json *md) {
    if (md->type != SCFM_JSON_OBJECT)
        return scfm_error(SCFM_EFORMAT, "%s: __metadata__ is not an object", st->path);
    st->meta_keys = scfm_calloc(md->n ? md->n : 1, sizeof(char *));
    st->meta_vals = scfm_calloc(md->n ? md->n : 1, sizeof(char *));
    if (!st->meta_keys || !st->meta_vals) return SCFM_ENOMEM;
    for (size_t i = 0; i < md->n; i++) {
        if (md->items[i].type != SCFM_JSON_STRING)
            return scfm_error(SCFM_EFORMAT, "%s: __metadata__ value of '%s' is not a string",
                              st->path, md->keys[i]);
        st->meta_keys[i] = scfm_strdup(md->keys[i]);
        st->meta_vals[i] = scfm_strdup(md->items[i].string);
        st->n_meta = i + 1;
        if (!st->meta_keys[i] || !st->meta_vals[i]) return SCFM_ENOMEM;
    }
    return SCFM_OK;
}

static int parse_shape(const char *path, const char *name, const scfm_json *sh, scfm_st_tensor *t) {
    if (!sh || sh->type != SCFM_JSON_ARRAY)
        return scfm_error(SCFM_EFORMAT, "%s: tensor '%s': shape missing or not an array", path, name);
    if (sh->n > SCFM_ST_MAX_DIMS)
        return scfm_error(SCFM_EFORMAT, "%s: tensor '%s': %zu dimensions (at most %d)", path, name,
                          sh->n, SCFM_ST_MAX_DIMS);
    t->ndim = sh->n;
    t->numel = 1;
    for (size_t d = 0; d < sh->n; d++) {
        if (read_size_member(&sh->items[d], &t->shape[d]))
            return scfm_error(SCFM_EFORMAT, "%s: tensor '%s': shape[%zu] is not a non-negative integer",
                              path, name, d);
        if (scfm_mul_size(t->numel, t->shape[d], &t->numel))
            return scfm_error(SCFM_EFORMAT, "%s: tensor '%s': shape overflows", path, name);
    }
    return SCFM_OK;
}

static int parse_tensor(const char *path, const char *name, const scfm_json *o, scfm_st_tensor *t) {
    if (o->type != SCFM_JSON_OBJECT)
        return scfm_error(SCFM_EFORMAT, "%s: tensor '%s': entry is not an object", path, name);
    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->keys[i], "dtype") && strcmp(o->keys[i], "shape") && strcmp(o->keys[i], "data_offsets"))
            return scfm_error(SCFM_EFORMAT, "%s: tensor '%s': unknown field '%s'", path, name, o->keys[i]);
    const scfm_json *dt = scfm_json_get(o, "dtype"), *off = scfm_json_get(o, "data_offsets");
    if (!dt || dt->type != SCFM_JSON_STRING)
        return scfm_error(SCFM_EFORMAT, "%s: tensor '%s': dtype missing or not a string", path, name);
    if (scfm_dtype_from_name(dt->string, &t->dtype))
        return scfm_error(SCFM_EFORMAT, "%s: tensor '%s': unknown dtype '%s'", path, name, dt->string);
    int rc = parse_shape(path, name, scfm_json_get(o, "shape"), t);
    if (rc) return rc;
    if (!off || off->type != SCFM_JSON_ARRAY || off->n != 2 || read_size_member(&off->items[0], &t->begin) ||
        read_size_member(&off->items[1], &t->end))
        return scfm_error(SCFM_EFORMAT, "%s: tensor '%s': data_offsets must be [begin, end] integers",
                          path, name);
    if (t->end < t->begin)
        return scfm_error(SCFM_EFORMAT, "%s: tensor '%s': data_offsets end %zu < begin %zu", path, name,
                          t->end, t->begin);
    size_t bits;
    if (scfm_mul_size(t->numel, dtypes[t->dtype].bits, &bits))
        return scfm_error(SCFM_EFORMAT, "%s: tensor '%s': size overflows", path, name);
    if (bits % 8)
        return scfm_error(SCFM_EFORMAT, "%s: tensor '%s': %zu %s values are not a whole number of bytes",
                          path, name, t->numel, dtypes[t->dtype].name);
    if (bits / 8 != t->end - t->begin)
        return scfm_error(SCFM_EFORMAT, "%s: tensor '%s': data_offsets span %zu bytes but %zu %s values need %zu",
                          path, name, t->end - t->begin, t->numel, dtypes[t->dtype].name, bits / 8);
    return SCFM_OK;
}

static const scfm_st_tensor *sort_base;
static int cmp_offsets(const void *a, const void *b) {
    const scfm_st_tensor *x = &sort_base[*(const size_t *)a], *y = &sort_base[*(const size_t *)b];
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* scfm's checkpoints carry "scfm_crc32" in __metadata__: the CRC-32 of every tensor's bytes
 * as 8 hex digits, in data-offset order, separated by spaces (transformers ignores it).
 * Verified at open when present; files from elsewhere have none. ord: tensors by offset. */
static int verify_crcs(const scfm_safetensors *st, const size_t *ord) {
    const char *v = scfm_st_meta(st, SCFM_ST_CRC_KEY);
    if (!v) return SCFM_OK;
    const unsigned char *data = st->map + st->data_start;
    for (size_t k = 0; k < st->n; k++) {
        const scfm_st_tensor *t = &st->t[ord[k]];
        uint32_t want = 0;
        for (int d = 0; d < 8; d++) {
            char c = v[d];
            int x = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (x < 0)
                return scfm_error(SCFM_EFORMAT, "%s: __metadata__ %s has no valid checksum for tensor '%s' (entry %zu)",
                                  st->path, SCFM_ST_CRC_KEY, t->name, k + 1);
            want = want << 4 | (uint32_t)x;
        }
        v += 8;
        if (*v && *v != ' ')
            return scfm_error(SCFM_EFORMAT, "%s: __metadata__ %s is malformed after entry %zu", st->path, SCFM_ST_CRC_KEY,
                              k + 1);
        if (*v) v++;
        uint32_t got = scfm_crc32(0, data + t->begin, t->end - t->begin);
        if (got != want)
            return scfm_error(SCFM_EFORMAT, "%s: tensor '%s': CRC-32 %08x does not match the stored %08x (file corrupt)",
                              st->path, t->name, (unsigned)got, (unsigned)want);
    }
    if (*v)
        return scfm_error(SCFM_EFORMAT, "%s: __metadata__ %s has more checksums than the %zu tensors", st->path,
                          SCFM_ST_CRC_KEY, st->n);
    return SCFM_OK;
}

/* Offsets sorted by begin must tile [0, buffer) exactly; then the checksums (if any). */
static int check_layout(scfm_safetensors *st) {
    size_t buf = st->size - st->data_start, *ord = scfm_malloc((st->n ? st->n : 1) * sizeof(size_t));
    if (!ord) return SCFM_ENOMEM;
    for (size_t i = 0; i < st->n; i++) ord[i] = i;
    sort_base = st->t;
    qsort(ord, st->n, sizeof *ord, cmp_offsets);
    size_t pos = 0;
    int rc = SCFM_OK;
    for (size_t k = 0; k < st->n && !rc; k++) {
        const scfm_st_tensor *t = &st->t[ord[k]];
        if (t->end > buf)
            rc = scfm_error(SCFM_EFORMAT, "%s: tensor '%s': data_offsets [%zu, %zu) outside the %zu-byte buffer",
                            st->path, t->name, t->begin, t->end, buf);
        else if (t->begin < pos)
            rc = scfm_error(SCFM_EFORMAT, "%s: tensor '%s': data_offsets [%zu, %zu) overlap another tensor",
                            st->path, t->name, t->begin, t->end);
        else if (t->begin > pos)
            rc = scfm_error(SCFM_EFORMAT, "%s: tensor '%s': hole of %zu bytes before data_offsets %zu",
                            st->path, t->name, t->begin - pos, t->begin);
        pos = t->end > pos ? t->end : pos;
    }
    if (!rc && pos != buf)
        rc = scfm_error(SCFM_EFORMAT, "%s: %zu bytes after the last tensor (buffer %zu, tensors end at %zu)",
                        st->path, buf - pos, buf, pos);
    if (!rc) rc = verify_crcs(st, ord);
    free(ord);
    return rc;
}

static int parse_header(scfm_safetensors *st) {
    if (st->size < 8)
        return scfm_error(SCFM_EFORMAT, "%s: file too small for a safetensors header (%zu bytes)", st->path, st->size);
    uint64_t hn = 0;
    for (int i = 7; i >= 0; i--) hn = (hn << 8) | st->map[i];
    if (hn > SCFM_ST_MAX_HEADER)
        return scfm_error(SCFM_EFORMAT, "%s: header length %llu exceeds the limit of %u bytes (not a safetensors file?)",
                          st->path, (unsigned long long)hn, SCFM_ST_MAX_HEADER);
    if (hn > st->size - 8)
        return scfm_error(SCFM_EFORMAT, "%s: header length %llu runs past the end of the %zu-byte file (truncated?)",
                          st->path, (unsigned long long)hn, st->size);
    st->data_start = 8 + (size_t)hn;
    const char *h = (const char *)st->map + 8;
    if (hn < 2 || h[0] != '{')
        return scfm_error(SCFM_EFORMAT, "%s: header does not start with '{'", st->path);
    scfm_json *j = scfm_json_parse(h, (size_t)hn, st->path);
    if (!j) return SCFM_EFORMAT;
    int rc = SCFM_OK;
    const char *dup = scfm_json_dup_key(j);
    if (dup) rc = scfm_error(SCFM_EFORMAT, "%s: duplicate key '%s' in header", st->path, dup);
    if (!rc && j->type != SCFM_JSON_OBJECT) rc = scfm_error(SCFM_EFORMAT, "%s: header is not an object", st->path);
    if (!rc && !(st->t = scfm_calloc(j->n ? j->n : 1, sizeof *st->t))) rc = SCFM_ENOMEM;
    for (size_t i = 0; !rc && i < j->n; i++) {
        if (!strcmp(j->keys[i], "__metadata__")) { rc = parse_metadata(st, &j->items[i]); continue; }
        scfm_st_tensor *t = &st->t[st->n];
        if (!(t->name = scfm_strdup(j->keys[i]))) { rc = SCFM_ENOMEM; break; }
        st->n++;
        if (!*t->name) rc = scfm_error(SCFM_EFORMAT, "%s: empty tensor name", st->path);
        else rc = parse_tensor(st->path, t->name, &j->items[i], t);
    }
    scfm_json_free(j);
    return rc ? rc : check_layout(st);
}


/* Every handle is an st_file (st first), which records whether the map is ours and indexes
 * the tensors by name (scfm_st_find is O(1): loaders look up every parameter). */
typedef struct { scfm_safetensors st; int mapped; scfm_strmap by_name; } st_file;

static int index_names(scfm_safetensors *st) {
    st_file *f = (st_file *)st;
    int rc = scfm_strmap_init(&f->by_name, st->n);
    for (size_t i = 0; !rc && i < st->n; i++)
        if ((rc = scfm_strmap_put(&f->by_name, st->t[i].name, i)) == 1) /* the JSON check makes this unreachable */
            rc = scfm_error(SCFM_EFORMAT, "%s: duplicate tensor '%s'", st->path, st->t[i].name);
    return rc;
}

static scfm_safetensors *st_new(const char *what) {
    st_file *f = scfm_calloc(1, sizeof *f);
    if (!f) return NULL;
    if (!(f->st.path = scfm_strdup(what ? what : "<memory>"))) { free(f); return NULL; }
    return &f->st;
}

scfm_safetensors *scfm_st_open_mem(const void *data, size_t size, const char *what) {
    scfm_safetensors *st = st_new(what);
    if (!st) return NULL;
    st->map = data;
    st->size = size;
    if (parse_header(st) || index_names(st)) {
        scfm_st_close(st);
        return NULL;
    }
    return st;
}


scfm_safetensors *scfm_st_open(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) { scfm_error(SCFM_EIO, "%s: cannot open: %s", path, strerror(errno)); return NULL; }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        scfm_error(SCFM_EIO, "%s: not a regular file", path);
        return NULL;
    }
    st_file *f = (st_file *)st_new(path);
    if (!f) { close(fd); return NULL; }
    f->st.size = (size_t)sb.st_size;
    if (f->st.size > 0) {
        void *p = mmap(NULL, f->st.size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            scfm_error(SCFM_EIO, "%s: cannot map: %s", path, strerror(errno));
            close(fd);
            free(f->st.path);
            free(f);
            return NULL;
        }
        f->st.map = p;
        f->mapped = 1;
    }
    close(fd);
    if (parse_header(&f->st) || index_names(&f->st)) { scfm_st_close(&f->st); return NULL; }
    return &f->st;
}

void scfm_st_close(scfm_safetensors *st) {
    if (!st) return;
    for (size_t i = 0; i < st->n; i++) free(st->t[i].name);
    for (size_t i = 0; i < st->n_meta; i++) { free(st->meta_keys[i]); free(st->meta_vals[i]); }
    free(st->t);
    free(st->meta_keys);
    free(st->meta_vals);
    free(st->path);
    st_file *f = (st_file *)st;
    scfm_strmap_free(&f->by_name);
    if (f->mapped && st->map && st->size) munmap((void *)st->map, st->size);
    free(f);
}

const scfm_st_tensor *scfm_st_find(const scfm_safetensors *st, const char *name) {
    size_t i;
    return scfm_strmap_get(&((const st_file *)st)->by_name, name, &i) ? &st->t[i] : NULL;
}

const char *scfm_st_meta(const scfm_safetensors *st, const char *key) {
    for (size_t i = 0; i < st->n_meta; i++)
        if (!strcmp(st->meta_keys[i], key)) return st->meta_vals[i];
    return NULL;
}

const void *scfm_st_data(const scfm_safetensors *st, const scfm_st_tensor *t) {
    return st->map + st->data_start + t->begin;
}

static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 31, man = h & 1023u, bits;
    if (exp == 31) bits = sign | 0x7f800000u | (man << 13);
    else if (exp) bits = sign | ((exp + 112u) << 23) | (man << 13);
    else if (!man) bits = sign;
    else { /* subnormal: renormalise */
        exp = 113;
        while (!(man & 1024u)) { man <<= 1; exp--; }
        bits = sign | (exp << 23) | ((man & 1023u) << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

int scfm_st_read_f32(const scfm_safetensors *st, const scfm_st_tensor *t, float *out, size_t n) {
    if (t->numel != n)
        return scfm_error(SCFM_EMISMATCH, "%s: tensor '%s': %zu values, expected %zu", st->path, t->name, t->numel, n);
    const unsigned char *p = scfm_st_data(st, t);
    for (size_t i = 0; i < n; i++) {
        float f;
        if (t->dtype == SCFM_DT_F32) memcpy(&f, p + 4 * i, 4);
        else if (t->dtype == SCFM_DT_BF16) {
            uint32_t b = (uint32_t)p[2 * i] << 16 | (uint32_t)p[2 * i + 1] << 24;
            memcpy(&f, &b, 4);
        } else if (t->dtype == SCFM_DT_F16) f = half_to_float((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
        else if (t->dtype == SCFM_DT_F64) {
            double d;
            memcpy(&d, p + 8 * i, 8);
            f = (float)d;
        } else
            return scfm_error(SCFM_EFORMAT, "%s: tensor '%s': dtype %s is not a floating type", st->path,
                              t->name, dtypes[t->dtype].name);
        if (!isfinite(f))
            return scfm_error(SCFM_EDATA, "%s: tensor '%s': non-finite value at index %zu", st->path, t->name, i);
        out[i] = f;
    }
    return SCFM_OK;
}

int scfm_st_read_i64(const scfm_safetensors *st, const scfm_st_tensor *t, int64_t *out, size_t n) {
    if (t->numel != n)
        return scfm_error(SCFM_EMISMATCH, "%s: tensor '%s': %zu values, expected %zu", st->path, t->name, t->numel, n);
    const unsigned char *p = scfm_st_data(st, t);
    size_t w = dtypes[t->dtype].bits / 8;
    int is_signed;
    switch (t->dtype) {
    case SCFM_DT_I8: case SCFM_DT_I16: case SCFM_DT_I32: case SCFM_DT_I64: is_signed = 1; break;
    case SCFM_DT_U8: case SCFM_DT_U16: case SCFM_DT_U32: case SCFM_DT_U64: is_signed = 0; break;
    default:
        return scfm_error(SCFM_EFORMAT, "%s: tensor '%s': dtype %s is not an integer type", st->path, t->name,
                          dtypes[t->dtype].name);
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t u = 0;
        for (size_t b = 0; b < w; b++) u |= (uint64_t)p[i * w + b] << (8 * b);
        if (is_signed && w < 8 && (u >> (8 * w - 1)) & 1) u |= ~(uint64_t)0 << (8 * w);
        if (!is_signed && u > (uint64_t)INT64_MAX)
            return scfm_error(SCFM_EFORMAT, "%s: tensor '%s': value at index %zu exceeds int64", st->path, t->name, i);
        memcpy(&out[i], &u, 8);
    }
    return SCFM_OK;
}

/* ---------------------------------------------------------------------------------------
 * Writer
 * --------------------------------------------------------------------------------------- */
static const scfm_st_entry *wsort_base;
static int cmp_write(const void *a, const void *b) {
    const scfm_st_entry *x = &wsort_base[*(const size_t *)a], *y = &wsort_base[*(const size_t *)b];
    size_t bx = dtypes[x->dtype].bits, by = dtypes[y->dtype].bits;
    if (bx != by) return bx > by ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int entry_bytes(const scfm_st_entry *e, size_t *out) {
    size_t numel = 1, bits;
    if ((unsigned)e->dtype >= SCFM_DT_COUNT || e->ndim > SCFM_ST_MAX_DIMS || !e->name || !*e->name)
        return scfm_error(SCFM_EINVAL, "safetensors writer: tensor '%s': bad dtype, rank or name",
                          e->name ? e->name : "(null)");
    for (size_t d = 0; d < e->ndim; d++)
        if (scfm_mul_size(numel, e->shape[d], &numel))
            return scfm_error(SCFM_EINVAL, "safetensors writer: tensor '%s': shape overflows", e->name);
    if (scfm_mul_size(numel, dtypes[e->dtype].bits, &bits) || bits % 8)
        return scfm_error(SCFM_EINVAL, "safetensors writer: tensor '%s': not a whole number of bytes", e->name);
    *out = bits / 8;
    return SCFM_OK;
}

typedef struct { char *buf; size_t len, cap; int err; } sbuf;

static void sb_add(sbuf *b, const char *s) {
    size_t l = strlen(s);
    if (b->err) return;
    if (b->len + l + 1 > b->cap) {
        size_t nc = (b->cap + l + 1) * 2;
        char *nb = scfm_realloc(b->buf, nc);
        if (!nb) { b->err = 1; return; }
        b->buf = nb;
        b->cap = nc;
    }
    memcpy(b->buf + b->len, s, l + 1);
    b->len += l;
}

static void sb_str(sbuf *b, const char *s) {
    if (!b->err && scfm_json_append_string(&b->buf, &b->len, &b->cap, s)) b->err = 1;
}

/* Builds the header JSON (padded to a multiple of 8) for entries in order ord. */
static int build_header(const scfm_st_entry *e, const size_t *ord, size_t n, const char *const *meta,
                        size_t n_meta, char **out, size_t *out_len) {
    sbuf b = {0};
    char num[128];
    size_t off = 0;
    sb_add(&b, "{\"__metadata__\":{");
    for (size_t i = 0; i < n_meta; i++) {
        if (i) sb_add(&b, ",");
        sb_str(&b, meta[2 * i]);
        sb_add(&b, ":");
        sb_str(&b, meta[2 * i + 1]);
    }
    sb_add(&b, "}");
    for (size_t k = 0; k < n; k++) {
        const scfm_st_entry *t = &e[ord[k]];
        size_t nb;
        if (entry_bytes(t, &nb)) { free(b.buf); return SCFM_EINVAL; }
        sb_add(&b, ",");
        sb_str(&b, t->name);
        sb_add(&b, ":{\"dtype\":\"");
        sb_add(&b, dtypes[t->dtype].name);
        sb_add(&b, "\",\"shape\":[");
        for (size_t d = 0; d < t->ndim; d++) {
            snprintf(num, sizeof num, "%s%zu", d ? "," : "", t->shape[d]);
            sb_add(&b, num);
        }
        snprintf(num, sizeof num, "],\"data_offsets\":[%zu,%zu]}", off, off + nb);
        sb_add(&b, num);
        off += nb;
    }
    sb_add(&b, "}");
    while (!b.err && b.len % 8) sb_add(&b, " ");
    if (b.err) { free(b.buf); return scfm_error(SCFM_ENOMEM, "safetensors writer: out of memory"); }
    *out = b.buf;
    *out_len = b.len;
    return SCFM_OK;
}

static int write_all(FILE *f, const scfm_st_entry *e, const size_t *ord, size_t n, const char *hdr, size_t hlen) {
    unsigned char lenb[8];
    for (int i = 0; i < 8; i++) lenb[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    int ok = fwrite(lenb, 1, 8, f) == 8 && fwrite(hdr, 1, hlen, f) == hlen;
    for (size_t k = 0; ok && k < n; k++) {
        size_t nb = 0;
        if (entry_bytes(&e[ord[k]], &nb)) return -1;
        ok = nb == 0 || fwrite(e[ord[k]].data, 1, nb, f) == nb;
    }
    return ok ? 0 : -1;
}

/* The SCFM_ST_CRC_KEY value for entries in write order ord (malloc'd). */
static int crc_meta(const scfm_st_entry *e, const size_t *ord, size_t n, char **out) {
    char *v = scfm_malloc(9 * n + 1);
    if (!v) return SCFM_ENOMEM;
    size_t len = 0;
    v[0] = 0;
    for (size_t k = 0; k < n; k++) {
        size_t nb = 0;
        if (entry_bytes(&e[ord[k]], &nb)) { free(v); return SCFM_EINVAL; }
        len += (size_t)snprintf(v + len, 10, "%s%08x", k ? " " : "", (unsigned)scfm_crc32(0, e[ord[k]].data, nb));
    }
    *out = v;
    return SCFM_OK;
}

static int st_write(const char *path, const scfm_st_entry *e, size_t n, const char *const *meta_kv, size_t n_meta,
                    int with_crc);

int scfm_st_write(const char *path, const scfm_st_entry *e, size_t n, const char *const *meta_kv, size_t n_meta) {
    return st_write(path, e, n, meta_kv, n_meta, 0);
}

int scfm_st_write_checked(const char *path, const scfm_st_entry *e, size_t n, const char *const *meta_kv,
                          size_t n_meta) {
    return st_write(path, e, n, meta_kv, n_meta, 1);
}

static int st_write(const char *path, const scfm_st_entry *e, size_t n, const char *const *meta_kv, size_t n_meta,
                    int with_crc) {
    size_t *ord = scfm_malloc((n ? n : 1) * sizeof *ord);
    if (!ord) return SCFM_ENOMEM;
    for (size_t i = 0; i < n; i++) ord[i] = i;
    wsort_base = e;
    qsort(ord, n, sizeof *ord, cmp_write);
    for (size_t k = 1; k < n; k++)
        if (!strcmp(e[ord[k]].name, e[ord[k - 1]].name)) {
            int rc = scfm_error(SCFM_EINVAL, "%s: duplicate tensor name '%s'", path, e[ord[k]].name);
            free(ord);
            return rc;
        }
    char *hdr = NULL, tmp[4096];
    size_t hlen = 0;
    int rc = SCFM_OK;
    const char **meta = (const char **)meta_kv;
    char *crcs = NULL;
    if (with_crc) { /* the caller's pairs, then SCFM_ST_CRC_KEY */
        meta = scfm_calloc(2 * n_meta + 2, sizeof *meta);
        rc = meta ? crc_meta(e, ord, n, &crcs) : SCFM_ENOMEM;
        if (!rc) {
            for (size_t i = 0; i < 2 * n_meta; i++) meta[i] = meta_kv[i];
            meta[2 * n_meta] = SCFM_ST_CRC_KEY;
            meta[2 * n_meta + 1] = crcs;
        }
    }
    if (!rc) rc = build_header(e, ord, n, meta, n_meta + (with_crc ? 1 : 0), &hdr, &hlen);
    if (with_crc) { free((void *)meta); free(crcs); }
    if (rc) { free(ord); return rc; }
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= sizeof tmp) {
        free(ord); free(hdr);
        return scfm_error(SCFM_EINVAL, "%s: path too long", path);
    }
    FILE *f = fopen(tmp, "wb");
    if (!f) { free(ord); free(hdr); return scfm_error(SCFM_EIO, "%s: cannot create: %s", tmp, strerror(errno)); }
    int ok = write_all(f, e, ord, n, hdr, hlen) == 0;
    ok = fflush(f) == 0 && ok;
    ok = fsync(fileno(f)) == 0 && ok;
    ok = fclose(f) == 0 && ok;
    free(ord);
    free(hdr);
    if (!ok || rename(tmp, path) != 0) {
        int err = errno;
        remove(tmp);
        return scfm_error(SCFM_EIO, "%s: write failed: %s", path, strerror(err));
    }
    return SCFM_OK;
}
