/* Restricted pickle reader: one dict of str -> int / float / str / numpy scalar / 1-D float
 * ndarray (see pickle.h and docs/formats.md section 6). A small stack machine over an object pool; strings are
 * referenced in the input buffer (never copied until the result is built); nothing from the
 * file is ever executed. */
#include "scfm/pickle.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PKL_CAP ((size_t)1 << 26) /* stack, memo, marks, items */

enum { O_NONE = 1, O_BOOL, O_INT, O_FLOAT, O_STR, O_BYTES, O_TUPLE, O_DICT, O_TAG_SCALAR, O_TAG_DTYPE,
       O_TAG_ENCODE, O_DTYPE, O_TAG_RECONSTRUCT, O_TAG_NDARRAY, O_TAG_FROMBUFFER, O_ARRAY0, O_ARRAY };

typedef struct {
    uint8_t t;
    uint8_t aux;   /* O_BYTES, O_ARRAY: 1 = bytes live in the aux buffer, else in the input */
    char kind;     /* O_DTYPE, O_ARRAY: 'i' 'u' 'f' 'b' */
    char order;    /* O_DTYPE, O_ARRAY: '<' '>' '|' '=' */
    uint32_t size; /* O_DTYPE, O_ARRAY: item size */
    union {
        int64_t i;
        double f;
        struct { size_t off, len; } r; /* O_STR / O_BYTES / O_ARRAY: bytes; O_TUPLE: children */
    } u;
} pobj;

typedef struct {
    size_t key_off, key_len;
    int type;
    int64_t i;
    double f;
    size_t s_off, s_len; /* SCFM_PKL_STR: the string; SCFM_PKL_FARRAY: raw bytes */
    uint8_t key_aux;     /* key bytes live in aux (decoded numpy str), else in the input */
    uint8_t a_aux;       /* SCFM_PKL_STR / _FARRAY: s_off is in aux, else in the input */
    char a_order;        /* SCFM_PKL_FARRAY: '<' or '>' */
    uint32_t a_size;     /* SCFM_PKL_FARRAY: 4 or 8 */
} pitem;

typedef struct {
    const unsigned char *p;
    size_t len, pos, op_pos;
    const char *what;
    int proto;
    pobj *objs; size_t nobj, cap_obj;
    size_t *stack; size_t nstack, cap_stack;
    size_t *marks; size_t nmarks, cap_marks;
    size_t *memo; size_t nmemo, cap_memo;
    size_t *kids; size_t nkids, cap_kids;
    unsigned char *aux; size_t naux, cap_aux;
    size_t dict;   /* object index of the dict, SIZE_MAX before EMPTY_DICT */
    pitem *items; size_t nitems, cap_items;
    size_t *tab; size_t cap_tab; /* open addressing: item index + 1, 0 = empty */
} pstate;

static int perr(pstate *s, const char *fmt, ...) SCFM_PRINTF(2, 3);
static int perr(pstate *s, const char *fmt, ...) {
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return scfm_error(SCFM_EFORMAT, "%s: pickle: %s (opcode at byte %zu)", s->what, msg, s->op_pos);
}

static int grow(pstate *s, void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return SCFM_OK;
    if (need > PKL_CAP * 4) return perr(s, "too many objects");
    size_t nc = *cap ? *cap : 64;
    while (nc < need) nc *= 2;
    size_t bytes;
    if (scfm_mul_size(nc, elem, &bytes)) return scfm_error(SCFM_ENOMEM, "%s: pickle too large", s->what);
    void *np = scfm_realloc(*p, bytes);
    if (!np) return SCFM_ENOMEM;
    *p = np;
    *cap = nc;
    return SCFM_OK;
}

static int need(pstate *s, size_t n) {
    if (n > s->len - s->pos) return perr(s, "truncated: needs %zu more bytes, %zu left", n, s->len - s->pos);
    return SCFM_OK;
}

static uint64_t rd_le(const unsigned char *b, size_t n) {
    uint64_t v = 0;
    for (size_t k = n; k-- > 0;) v = (v << 8) | b[k];
    return v;
}

static const char *type_name(int t) {
    static const char *const names[] = {"?", "None", "bool", "int", "float", "str", "bytes", "tuple", "dict",
                                        "numpy scalar()", "numpy dtype()", "_codecs.encode()", "dtype",
                                        "numpy _reconstruct()", "numpy.ndarray", "numpy _frombuffer()",
                                        "ndarray without state", "ndarray"};
    return t >= 1 && t <= O_ARRAY ? names[t] : "?";
}

/* ---- stack ------------------------------------------------------------------------------- */
static int new_obj(pstate *s, const pobj *o, size_t *idx) {
    int rc = grow(s, (void **)&s->objs, &s->cap_obj, s->nobj + 1, sizeof *s->objs);
    if (rc) return rc;
    s->objs[s->nobj] = *o;
    *idx = s->nobj++;
    return SCFM_OK;
}

static int push_idx(pstate *s, size_t idx) {
    if (s->nstack >= PKL_CAP) return perr(s, "stack deeper than %zu", PKL_CAP);
    int rc = grow(s, (void **)&s->stack, &s->cap_stack, s->nstack + 1, sizeof *s->stack);
    if (rc) return rc;
    s->stack[s->nstack++] = idx;
    return SCFM_OK;
}

static int push(pstate *s, pobj o) {
    size_t idx;
    int rc = new_obj(s, &o, &idx);
    return rc ? rc : push_idx(s, idx);
}

static size_t mark_floor(const pstate *s) { return s->nmarks ? s->marks[s->nmarks - 1] : 0; }

static int pop(pstate *s, size_t *idx) {
    if (s->nstack <= mark_floor(s)) return perr(s, "stack underflow");
    *idx = s->stack[--s->nstack];
    return SCFM_OK;
}

static int top(pstate *s, size_t *idx) {
    if (s->nstack <= mark_floor(s)) return perr(s, "stack underflow");
    *idx = s->stack[s->nstack - 1];
    return SCFM_OK;
}

/* Pops everything above the last MARK and the mark itself; *first = stack index of the first. */
static int pop_mark(pstate *s, size_t *first, size_t *n) {
    if (!s->nmarks) return perr(s, "no MARK on the stack");
    *first = s->marks[--s->nmarks];
    *n = s->nstack - *first;
    s->nstack = *first;
    return SCFM_OK;
}

static const unsigned char *obj_bytes(const pstate *s, const pobj *o) {
    return o->aux ? s->aux + o->u.r.off : s->p + o->u.r.off;
}

static const unsigned char *item_key(const pstate *s, const pitem *it) { return (it->key_aux ? s->aux : s->p) + it->key_off; }
static const unsigned char *item_val(const pstate *s, const pitem *it) { return (it->a_aux ? s->aux : s->p) + it->s_off; }

static int str_is(const pstate *s, const pobj *o, const char *lit) {
    size_t n = strlen(lit);
    return o->t == O_STR && o->u.r.len == n && !memcmp(obj_bytes(s, o), lit, n);
}

/* ---- strings ------------------------------------------------------------------------------ */
static int utf8_ok(const unsigned char *b, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned c = b[i];
        size_t k = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : 9;
        if (k == 9 || (k == 1 && c < 0xC2) || k > n - i - 1) return 0;
        uint32_t cp = k == 0 ? c : k == 1 ? (c & 0x1F) : k == 2 ? (c & 0x0F) : (c & 0x07);
        for (size_t j = 1; j <= k; j++) {
            if ((b[i + j] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (b[i + j] & 0x3F);
        }
        if ((k == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return 0;
        i += k + 1;
    }
    return 1;
}

static int read_blob(pstate *s, size_t lenbytes, int is_str) {
    int rc = need(s, lenbytes);
    if (rc) return rc;
    uint64_t n = rd_le(s->p + s->pos, lenbytes);
    s->pos += lenbytes;
    if (n > s->len - s->pos) return perr(s, "truncated: %s of %llu bytes, %zu left", is_str ? "string" : "bytes",
                                         (unsigned long long)n, s->len - s->pos);
    pobj o = {0};
    o.t = is_str ? O_STR : O_BYTES;
    o.u.r.off = s->pos;
    o.u.r.len = (size_t)n;
    if (is_str && !utf8_ok(s->p + s->pos, (size_t)n)) return perr(s, "string is not valid UTF-8");
    s->pos += (size_t)n;
    return push(s, o);
}

/* ---- globals ------------------------------------------------------------------------------ */
static int resolve_global(pstate *s, const unsigned char *mod, size_t ml, const unsigned char *name, size_t nl) {
#define IS(b, l, lit) ((l) == strlen(lit) && !memcmp((b), (lit), (l)))
    pobj o = {0};
    int multiarray = IS(mod, ml, "numpy.core.multiarray") || IS(mod, ml, "numpy._core.multiarray");
    if (multiarray && IS(name, nl, "scalar"))
        o.t = O_TAG_SCALAR;
    else if (multiarray && IS(name, nl, "_reconstruct"))
        o.t = O_TAG_RECONSTRUCT;
    else if ((IS(mod, ml, "numpy.core.numeric") || IS(mod, ml, "numpy._core.numeric")) && IS(name, nl, "_frombuffer"))
        o.t = O_TAG_FROMBUFFER;
    else if (IS(mod, ml, "numpy") && IS(name, nl, "ndarray"))
        o.t = O_TAG_NDARRAY;
    else if (IS(mod, ml, "numpy") && IS(name, nl, "dtype"))
        o.t = O_TAG_DTYPE;
    else if (IS(mod, ml, "_codecs") && IS(name, nl, "encode"))
        o.t = O_TAG_ENCODE;
    else
        return perr(s, "global '%.*s.%.*s' is not allowed (only numpy scalars, dtypes and arrays)", (int)(ml > 80 ? 80 : ml),
                    (const char *)mod, (int)(nl > 80 ? 80 : nl), (const char *)name);
#undef IS
    return push(s, o);
}

static int op_global(pstate *s) {
    const unsigned char *mod = s->p + s->pos, *nl1 = memchr(mod, '\n', s->len - s->pos);
    if (!nl1) return perr(s, "truncated GLOBAL");
    const unsigned char *name = nl1 + 1, *nl2 = memchr(name, '\n', s->len - (size_t)(name - s->p));
    if (!nl2) return perr(s, "truncated GLOBAL");
    s->pos = (size_t)(nl2 + 1 - s->p);
    return resolve_global(s, mod, (size_t)(nl1 - mod), name, (size_t)(nl2 - name));
}

static int op_stack_global(pstate *s) {
    size_t ni = 0, mi = 0;
    int rc = pop(s, &ni);
    if (!rc) rc = pop(s, &mi);
    if (rc) return rc;
    const pobj *n = &s->objs[ni], *m = &s->objs[mi];
    if (n->t != O_STR || m->t != O_STR) return perr(s, "STACK_GLOBAL needs two strings");
    return resolve_global(s, obj_bytes(s, m), m->u.r.len, obj_bytes(s, n), n->u.r.len);
}

/* ---- REDUCE / BUILD ------------------------------------------------------------------------- */
static const pobj *kid(const pstate *s, const pobj *tup, size_t k) { return &s->objs[s->kids[tup->u.r.off + k]]; }

static int make_dtype(pstate *s, const pobj *args) {
    if (args->u.r.len < 1 || args->u.r.len > 3 || kid(s, args, 0)->t != O_STR)
        return perr(s, "numpy dtype() needs (str, bool, bool)");
    const pobj *nm = kid(s, args, 0);
    const char *b = (const char *)obj_bytes(s, nm);
    size_t n = nm->u.r.len, k = 0;
    pobj o = {0};
    o.t = O_DTYPE;
    o.order = '<';
    if (n && strchr("<>|=", b[0])) o.order = b[k++];
    if (k < n && b[k] == 'U' && n - k >= 2 && n - k <= 8) { /* numpy str: U<chars>, UTF-32 */
        uint32_t chars = 0;
        for (size_t j = k + 1; j < n; j++) {
            if (b[j] < '0' || b[j] > '9') return perr(s, "numpy dtype '%.*s' is not supported", (int)n, b);
            chars = chars * 10 + (uint32_t)(b[j] - '0');
        }
        if (chars == 0 || chars > (1u << 20)) return perr(s, "numpy dtype '%.*s' is not supported", (int)n, b);
        o.kind = 'U';
        o.size = 4 * chars;
        return push(s, o);
    }
    if (k >= n || !strchr("iufb", b[k]) || n - k != 2 || b[k + 1] < '1' || b[k + 1] > '8')
        return perr(s, "numpy dtype '%.*s' is not supported (i1-i8, u1-u8, f4, f8, b1)", (int)(n > 16 ? 16 : n), b);
    o.kind = b[k];
    o.size = (uint32_t)(b[k + 1] - '0');
    int ok = o.kind == 'f' ? (o.size == 4 || o.size == 8)
           : o.kind == 'b' ? o.size == 1 : (o.size == 1 || o.size == 2 || o.size == 4 || o.size == 8);
    if (!ok) return perr(s, "numpy dtype '%.*s' is not supported", (int)(n > 16 ? 16 : n), b);
    return push(s, o);
}

/* A numpy str scalar (UTF-32, NUL-padded) -> an O_STR of UTF-8 in the aux buffer. */
static int make_str_scalar(pstate *s, const pobj *dt, const pobj *by) {
    size_t n = by->u.r.len / 4, off = s->naux, m = 0;
    int rc = grow(s, (void **)&s->aux, &s->cap_aux, s->naux + 4 * n + 1, 1);
    if (rc) return rc;
    const unsigned char *b = obj_bytes(s, by); /* after grow: by may live in aux */
    while (n && !b[4 * n - 1] && !b[4 * n - 2] && !b[4 * n - 3] && !b[4 * n - 4]) n--;
    for (size_t i = 0; i < n; i++) {
        const unsigned char *q = b + 4 * i;
        uint32_t c = dt->order == '>' ? (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3]
                                      : (uint32_t)q[3] << 24 | (uint32_t)q[2] << 16 | (uint32_t)q[1] << 8 | q[0];
        unsigned char *w = s->aux + off + m;
        if (c == 0 || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return perr(s, "numpy str holds an invalid character");
        if (c < 0x80) { w[0] = (unsigned char)c; m += 1; }
        else if (c < 0x800) { w[0] = (unsigned char)(0xC0 | c >> 6); w[1] = (unsigned char)(0x80 | (c & 0x3F)); m += 2; }
        else if (c < 0x10000) {
            w[0] = (unsigned char)(0xE0 | c >> 12); w[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
            w[2] = (unsigned char)(0x80 | (c & 0x3F)); m += 3;
        } else {
            w[0] = (unsigned char)(0xF0 | c >> 18); w[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
            w[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3F)); w[3] = (unsigned char)(0x80 | (c & 0x3F)); m += 4;
        }
    }
    s->naux += m;
    pobj o = {0};
    o.t = O_STR;
    o.aux = 1;
    o.u.r.off = off;
    o.u.r.len = m;
    return push(s, o);
}

static int make_scalar(pstate *s, const pobj *args) {
    if (args->u.r.len != 2 || kid(s, args, 0)->t != O_DTYPE || kid(s, args, 1)->t != O_BYTES)
        return perr(s, "numpy scalar() needs (dtype, bytes)");
    const pobj *dt = kid(s, args, 0), *by = kid(s, args, 1);
    if (by->u.r.len != dt->size)
        return perr(s, "numpy scalar of dtype %c%u has %zu bytes", dt->kind, (unsigned)dt->size, by->u.r.len);
    if (dt->kind == 'U') return make_str_scalar(s, dt, by);
    const unsigned char *b = obj_bytes(s, by);
    unsigned char tmp[8];
    for (uint32_t k = 0; k < dt->size; k++) tmp[k] = dt->order == '>' ? b[dt->size - 1 - k] : b[k];
    uint64_t u = rd_le(tmp, dt->size);
    pobj o = {0};
    if (dt->kind == 'f') {
        o.t = O_FLOAT;
        if (dt->size == 8) memcpy(&o.u.f, &u, 8);
        else { uint32_t w = (uint32_t)u; float f; memcpy(&f, &w, 4); o.u.f = f; }
    } else if (dt->kind == 'b') {
        o.t = O_INT;
        o.u.i = u != 0;
    } else if (dt->kind == 'u') {
        if (u > (uint64_t)INT64_MAX) return perr(s, "numpy u8 value %llu is too large", (unsigned long long)u);
        o.t = O_INT;
        o.u.i = (int64_t)u;
    } else {
        unsigned sh = 64 - 8 * dt->size;
        o.t = O_INT;
        o.u.i = sh ? (int64_t)(u << sh) >> sh : (int64_t)u; /* sign extension */
    }
    return push(s, o);
}

/* _codecs.encode(str, 'latin1'): protocol 2's spelling of bytes. */
static int make_encoded(pstate *s, const pobj *args) {
    if (args->u.r.len != 2 || kid(s, args, 0)->t != O_STR ||
        !(str_is(s, kid(s, args, 1), "latin1") || str_is(s, kid(s, args, 1), "latin-1")))
        return perr(s, "_codecs.encode() needs (str, 'latin1')");
    const pobj *st = kid(s, args, 0);
    size_t n = st->u.r.len, off = s->naux;
    int rc = grow(s, (void **)&s->aux, &s->cap_aux, s->naux + n + 1, 1);
    if (rc) return rc;
    const unsigned char *b = obj_bytes(s, st);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (b[i] < 0x80) s->aux[off + m++] = b[i];
        else if ((b[i] & 0xFE) == 0xC2 && i + 1 < n) { s->aux[off + m++] = (unsigned char)(((b[i] & 3) << 6) | (b[i + 1] & 0x3F)); i++; }
        else return perr(s, "_codecs.encode(): character above U+00FF");
    }
    s->naux += m;
    pobj o = {0};
    o.t = O_BYTES;
    o.aux = 1;
    o.u.r.off = off;
    o.u.r.len = m;
    return push(s, o);
}

/* A 1-D float array of n items of dtype dt whose raw bytes are the O_BYTES object by. */
static int set_array(pstate *s, pobj *o, const pobj *dt, size_t n, const pobj *by) {
    if (dt->kind != 'f')
        return perr(s, "numpy array of dtype %c%u is not supported (only float32 / float64 arrays)", dt->kind,
                    (unsigned)dt->size);
    size_t bytes;
    if (scfm_mul_size(n, dt->size, &bytes) || bytes != by->u.r.len)
        return perr(s, "numpy array of %zu %c%u items has %zu bytes of data", n, dt->kind, (unsigned)dt->size,
                    by->u.r.len);
    memset(o, 0, sizeof *o);
    o->t = O_ARRAY;
    o->aux = by->aux;
    o->kind = dt->kind;
    o->order = dt->order;
    o->size = dt->size;
    o->u.r = by->u.r;
    return SCFM_OK;
}

/* shape tuple of one non-negative int -> *n */
static int shape_1d(pstate *s, const pobj *sh, size_t *n) {
    if (sh->t != O_TUPLE) return perr(s, "numpy array shape is not a tuple");
    if (sh->u.r.len != 1) return perr(s, "numpy array of %zu dimensions (only 1-D arrays are supported)", sh->u.r.len);
    const pobj *d = kid(s, sh, 0);
    if (d->t != O_INT || d->u.i < 0) return perr(s, "numpy array shape is not a non-negative int");
    *n = (size_t)d->u.i;
    return SCFM_OK;
}

/* numpy.core.multiarray._reconstruct(numpy.ndarray, (0,), b'b'): an empty array that BUILD fills. */
static int make_reconstruct(pstate *s, const pobj *args) {
    if (args->u.r.len != 3 || kid(s, args, 0)->t != O_TAG_NDARRAY || kid(s, args, 1)->t != O_TUPLE ||
        kid(s, args, 2)->t != O_BYTES)
        return perr(s, "numpy _reconstruct() needs (numpy.ndarray, shape, bytes)");
    pobj o = {0};
    o.t = O_ARRAY0;
    return push(s, o);
}

/* numpy.core.numeric._frombuffer(buffer, dtype, shape, order): protocol 5's array. */
static int make_frombuffer(pstate *s, const pobj *args) {
    if (args->u.r.len != 4 || kid(s, args, 0)->t != O_BYTES || kid(s, args, 1)->t != O_DTYPE ||
        kid(s, args, 3)->t != O_STR)
        return perr(s, "numpy _frombuffer() needs (bytes, dtype, shape, order)");
    size_t n = 0;
    int rc = shape_1d(s, kid(s, args, 2), &n);
    if (rc) return rc;
    pobj o;
    if ((rc = set_array(s, &o, kid(s, args, 1), n, kid(s, args, 0)))) return rc;
    return push(s, o);
}

/* BUILD of an ndarray: state (version, shape, dtype, is_fortran, raw bytes). */
static int build_array(pstate *s, size_t oi, const pobj *st) {
    if (st->t != O_TUPLE || st->u.r.len != 5 || kid(s, st, 0)->t != O_INT || kid(s, st, 2)->t != O_DTYPE ||
        (kid(s, st, 3)->t != O_BOOL && kid(s, st, 3)->t != O_INT))
        return perr(s, "ndarray state is not the expected (version, shape, dtype, is_fortran, data)");
    if (kid(s, st, 4)->t != O_BYTES)
        return perr(s, "ndarray data is a %s, not bytes (object arrays are not supported)", type_name(kid(s, st, 4)->t));
    size_t n = 0;
    int rc = shape_1d(s, kid(s, st, 1), &n);
    if (rc) return rc;
    pobj o;
    if ((rc = set_array(s, &o, kid(s, st, 2), n, kid(s, st, 4)))) return rc;
    s->objs[oi] = o;
    return SCFM_OK;
}

static int op_reduce(pstate *s) {
    size_t ai = 0, fi = 0;
    int rc = pop(s, &ai);
    if (!rc) rc = pop(s, &fi);
    if (rc) return rc;
    pobj args = s->objs[ai];
    int ft = s->objs[fi].t;
    if (args.t != O_TUPLE) return perr(s, "REDUCE arguments are a %s, not a tuple", type_name(args.t));
    if (ft == O_TAG_DTYPE) return make_dtype(s, &args);
    if (ft == O_TAG_SCALAR) return make_scalar(s, &args);
    if (ft == O_TAG_ENCODE) return make_encoded(s, &args);
    if (ft == O_TAG_RECONSTRUCT) return make_reconstruct(s, &args);
    if (ft == O_TAG_FROMBUFFER) return make_frombuffer(s, &args);
    return perr(s, "REDUCE on a %s is not allowed", type_name(ft));
}

static int op_build(pstate *s) {
    size_t si = 0, oi = 0;
    int rc = pop(s, &si);
    if (!rc) rc = top(s, &oi);
    if (rc) return rc;
    pobj st = s->objs[si];
    if (s->objs[oi].t == O_ARRAY0) return build_array(s, oi, &st);
    if (s->objs[oi].t != O_DTYPE) return perr(s, "BUILD on a %s is not allowed", type_name(s->objs[oi].t));
    if (st.t != O_TUPLE || st.u.r.len != 8 || kid(s, &st, 0)->t != O_INT || kid(s, &st, 1)->t != O_STR ||
        kid(s, &st, 1)->u.r.len != 1)
        return perr(s, "dtype state is not the expected 8-tuple (version, byteorder, ...)");
    for (size_t k = 2; k < 5; k++)
        if (kid(s, &st, k)->t != O_NONE) return perr(s, "structured or subarray dtypes are not supported");
    for (size_t k = 5; k < 8; k++)
        if (kid(s, &st, k)->t != O_INT) return perr(s, "dtype state is not the expected 8-tuple");
    char order = (char)obj_bytes(s, kid(s, &st, 1))[0];
    pobj *dt = &s->objs[oi];
    if (!strchr("<>|=", order) || (order == '|' && dt->size != 1))
        return perr(s, "dtype byte order '%c' is not valid here", order);
    dt->order = order == '=' ? '<' : order;
    return SCFM_OK;
}

/* ---- containers ------------------------------------------------------------------------------ */
static int make_tuple(pstate *s, size_t first, size_t n) {
    int rc = grow(s, (void **)&s->kids, &s->cap_kids, s->nkids + n, sizeof *s->kids);
    if (rc) return rc;
    pobj o = {0};
    o.t = O_TUPLE;
    o.u.r.off = s->nkids;
    o.u.r.len = n;
    if (n) memcpy(s->kids + s->nkids, s->stack + first, n * sizeof *s->kids);
    s->nkids += n;
    s->nstack = first;
    return push(s, o);
}

static int op_tuple_n(pstate *s, size_t n) {
    if (s->nstack - mark_floor(s) < n) return perr(s, "stack underflow");
    return make_tuple(s, s->nstack - n, n);
}

static uint64_t hash_bytes(const unsigned char *b, size_t n) {
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ULL;
    return h;
}

static int tab_rehash(pstate *s, size_t cap) {
    size_t *t = scfm_calloc(cap, sizeof *t);
    if (!t) return SCFM_ENOMEM;
    for (size_t k = 0; k < s->nitems; k++) {
        size_t h = (size_t)hash_bytes(item_key(s, &s->items[k]), s->items[k].key_len) & (cap - 1);
        while (t[h]) h = (h + 1) & (cap - 1);
        t[h] = k + 1;
    }
    free(s->tab);
    s->tab = t;
    s->cap_tab = cap;
    return SCFM_OK;
}

static int dict_set(pstate *s, size_t ki, size_t vi) {
    const pobj *k = &s->objs[ki], *v = &s->objs[vi];
    if (k->t != O_STR) return perr(s, "dict key is a %s, not a str", type_name(k->t));
    pitem it = {k->u.r.off, k->u.r.len, 0, 0, 0, 0, 0, k->aux, 0, 0, 0};
    if (v->t == O_INT || v->t == O_BOOL) { it.type = SCFM_PKL_INT; it.i = v->u.i; it.f = (double)v->u.i; }
    else if (v->t == O_FLOAT) { it.type = SCFM_PKL_FLOAT; it.f = v->u.f; }
    else if (v->t == O_STR) { it.type = SCFM_PKL_STR; it.s_off = v->u.r.off; it.s_len = v->u.r.len; it.a_aux = v->aux; }
    else if (v->t == O_ARRAY) {
        it.type = SCFM_PKL_FARRAY;
        it.s_off = v->u.r.off;
        it.s_len = v->u.r.len;
        it.a_aux = v->aux;
        it.a_order = v->order == '>' ? '>' : '<';
        it.a_size = v->size;
    } else
        return perr(s, "value of key '%.*s' is a %s, not a number, str or float array", (int)(k->u.r.len > 64 ? 64 : k->u.r.len),
                    (const char *)obj_bytes(s, k), type_name(v->t));
    if (2 * (s->nitems + 1) > s->cap_tab) {
        int rc = tab_rehash(s, s->cap_tab ? 2 * s->cap_tab : 1024);
        if (rc) return rc;
    }
    size_t h = (size_t)hash_bytes(item_key(s, &it), it.key_len) & (s->cap_tab - 1);
    for (; s->tab[h]; h = (h + 1) & (s->cap_tab - 1)) {
        pitem *o = &s->items[s->tab[h] - 1];
        if (o->key_len == it.key_len && !memcmp(item_key(s, o), item_key(s, &it), it.key_len)) {
            *o = it; /* repeated key: overwrite in place */
            return SCFM_OK;
        }
    }
    if (s->nitems >= PKL_CAP) return perr(s, "more than %zu dict items", PKL_CAP);
    int rc = grow(s, (void **)&s->items, &s->cap_items, s->nitems + 1, sizeof *s->items);
    if (rc) return rc;
    s->items[s->nitems] = it;
    s->tab[h] = ++s->nitems;
    return SCFM_OK;
}

static int op_setitems(pstate *s, int many) {
    size_t first = 0, n = 0, di = 0;
    int rc;
    if (many) rc = pop_mark(s, &first, &n);
    else { first = s->nstack - 2; n = 2; rc = s->nstack < mark_floor(s) + 2 ? perr(s, "stack underflow") : SCFM_OK; }
    if (rc) return rc;
    if (n % 2) return perr(s, "SETITEMS with an odd number (%zu) of items", n);
    if (!many) s->nstack = first;
    if ((rc = top(s, &di))) return rc;
    if (s->objs[di].t != O_DICT) return perr(s, "SETITEM(S) on a %s", type_name(s->objs[di].t));
    /* the items are still in s->stack[first, first + n): only popped, nothing pushed (indices,
     * not a pointer: the stack may not exist yet when n == 0) */
    for (size_t k = 0; k < n && !rc; k += 2) rc = dict_set(s, s->stack[first + k], s->stack[first + k + 1]);
    return rc;
}

/* ---- memo ------------------------------------------------------------------------------------ */
static int memo_put(pstate *s, size_t idx) {
    size_t oi = 0;
    int rc = top(s, &oi);
    if (rc) return rc;
    /* Python numbers memo entries 0, 1, 2, ... (pickletools.optimize leaves gaps but never
     * raises an index): a pickle of len bytes cannot need an index >= len, so the memo table
     * stays proportional to the input */
    if (idx >= PKL_CAP || idx >= s->len)
        return perr(s, "memo index %zu too large for a %zu-byte pickle", idx, s->len);
    if (idx >= s->nmemo) {
        if ((rc = grow(s, (void **)&s->memo, &s->cap_memo, idx + 1, sizeof *s->memo))) return rc;
        for (size_t k = s->nmemo; k <= idx; k++) s->memo[k] = SIZE_MAX;
        s->nmemo = idx + 1;
    }
    s->memo[idx] = oi;
    return SCFM_OK;
}

static int memo_get(pstate *s, size_t idx) {
    if (idx >= s->nmemo || s->memo[idx] == SIZE_MAX) return perr(s, "memo index %zu was never stored", idx);
    return push_idx(s, s->memo[idx]);
}

/* ---- main loop ------------------------------------------------------------------------------- */
static int op_int(pstate *s, size_t n, int is_signed) {
    int rc = need(s, n);
    if (rc) return rc;
    uint64_t u = rd_le(s->p + s->pos, n);
    s->pos += n;
    pobj o = {0};
    o.t = O_INT;
    if (is_signed && n < 8) { unsigned sh = (unsigned)(64 - 8 * n); o.u.i = (int64_t)(u << sh) >> sh; }
    else o.u.i = (int64_t)u;
    return push(s, o);
}

static int op_long1(pstate *s) {
    int rc = need(s, 1);
    if (rc) return rc;
    size_t n = s->p[s->pos++];
    if (n > 8) return perr(s, "LONG1 of %zu bytes (more than 64 bits)", n);
    if (n == 0) { pobj o = {0}; o.t = O_INT; return push(s, o); }
    return op_int(s, n, 1);
}

static int op_binfloat(pstate *s) {
    int rc = need(s, 8);
    if (rc) return rc;
    uint64_t u = 0;
    for (int k = 0; k < 8; k++) u = (u << 8) | s->p[s->pos + (size_t)k]; /* big-endian */
    s->pos += 8;
    pobj o = {0};
    o.t = O_FLOAT;
    memcpy(&o.u.f, &u, 8);
    return push(s, o);
}

static int op_mark(pstate *s) {
    if (s->nmarks >= PKL_CAP) return perr(s, "too many MARKs");
    int rc = grow(s, (void **)&s->marks, &s->cap_marks, s->nmarks + 1, sizeof *s->marks);
    if (rc) return rc;
    s->marks[s->nmarks++] = s->nstack;
    return SCFM_OK;
}

static int op_simple(pstate *s, int t) {
    pobj o = {0};
    o.t = (uint8_t)t;
    if (t == O_DICT) {
        if (s->dict != SIZE_MAX) return perr(s, "a second dict (nested dicts are not supported)");
        s->dict = s->nobj;
    }
    return push(s, o);
}

static int op_stop(pstate *s) {
    if (s->pos != s->len) return perr(s, "%zu trailing bytes after STOP", s->len - s->pos);
    if (s->nmarks || s->nstack != 1) return perr(s, "STOP with %zu objects and %zu marks on the stack", s->nstack, s->nmarks);
    if (s->objs[s->stack[0]].t != O_DICT) return perr(s, "the pickled object is a %s, not a dict", type_name(s->objs[s->stack[0]].t));
    return 1;
}

static int step(pstate *s) {
    s->op_pos = s->pos;
    if (s->pos >= s->len) return perr(s, "truncated: no STOP opcode");
    unsigned op = s->p[s->pos++];
    int rc;
    switch (op) {
    case 0x80: /* PROTO */
        if ((rc = need(s, 1))) return rc;
        s->proto = s->p[s->pos++];
        if (s->proto < 2 || s->proto > 5) return perr(s, "protocol %d is not supported (2-5)", s->proto);
        return SCFM_OK;
    case 0x95: { /* FRAME */
        if ((rc = need(s, 8))) return rc;
        uint64_t n = rd_le(s->p + s->pos, 8);
        s->pos += 8;
        if (n > s->len - s->pos) return perr(s, "truncated: frame of %llu bytes, %zu left", (unsigned long long)n, s->len - s->pos);
        return SCFM_OK;
    }
    case '.': return op_stop(s);
    case '(': return op_mark(s);
    case '}': return op_simple(s, O_DICT);
    case ')': return make_tuple(s, s->nstack, 0);
    case 'N': return op_simple(s, O_NONE);
    case 0x88: case 0x89: { pobj o = {0}; o.t = O_BOOL; o.u.i = op == 0x88; return push(s, o); }
    case 's': return op_setitems(s, 0);
    case 'u': return op_setitems(s, 1);
    case 't': { size_t first = 0, n = 0; return (rc = pop_mark(s, &first, &n)) ? rc : make_tuple(s, first, n); }
    case 0x85: return op_tuple_n(s, 1);
    case 0x86: return op_tuple_n(s, 2);
    case 0x87: return op_tuple_n(s, 3);
    case 'K': return op_int(s, 1, 0);
    case 'M': return op_int(s, 2, 0);
    case 'J': return op_int(s, 4, 1);
    case 0x8a: return op_long1(s);
    case 'G': return op_binfloat(s);
    case 0x8c: return read_blob(s, 1, 1);
    case 'X': return read_blob(s, 4, 1);
    case 0x8d: return read_blob(s, 8, 1);
    case 'C': return read_blob(s, 1, 0);
    case 'B': return read_blob(s, 4, 0);
    case 0x8e: return read_blob(s, 8, 0);
    case 0x96: return read_blob(s, 8, 0); /* BYTEARRAY8 (protocol 5): read as bytes */
    case 0x94: return memo_put(s, s->nmemo);
    case 'q': if ((rc = need(s, 1))) return rc; s->pos += 1; return memo_put(s, s->p[s->pos - 1]);
    case 'r': if ((rc = need(s, 4))) return rc; s->pos += 4; return memo_put(s, (size_t)rd_le(s->p + s->pos - 4, 4));
    case 'h': if ((rc = need(s, 1))) return rc; s->pos += 1; return memo_get(s, s->p[s->pos - 1]);
    case 'j': if ((rc = need(s, 4))) return rc; s->pos += 4; return memo_get(s, (size_t)rd_le(s->p + s->pos - 4, 4));
    case 'c': return op_global(s);
    case 0x93: return op_stack_global(s);
    case 'R': return op_reduce(s);
    case 'b': return op_build(s);
    default:
        if (op >= 0x20 && op < 0x7f) return perr(s, "opcode '%c' (0x%02x) is not allowed", (char)op, op);
        return perr(s, "opcode 0x%02x is not allowed", op);
    }
}

/* Raw bytes of an array item -> float32 (float64 values rounded to nearest). */
static void convert_array(const pstate *s, const pitem *it, float *dst) {
    const unsigned char *b = item_val(s, it);
    size_t n = it->s_len / it->a_size;
    uint16_t one = 1;
    unsigned char little;
    memcpy(&little, &one, 1);
    if (it->a_size == 4 && it->a_order == '<' && little) { memcpy(dst, b, n * 4); return; } /* common case */
    unsigned char tmp[8];
    for (size_t j = 0; j < n; j++, b += it->a_size) {
        for (uint32_t k = 0; k < it->a_size; k++) tmp[k] = it->a_order == '>' ? b[it->a_size - 1 - k] : b[k];
        uint64_t u = rd_le(tmp, it->a_size);
        if (it->a_size == 8) { double d; memcpy(&d, &u, 8); dst[j] = (float)d; }
        else { uint32_t w = (uint32_t)u; memcpy(&dst[j], &w, 4); }
    }
}

static int finish(pstate *s, scfm_pkl_dict *out) {
    size_t total = 0, nfloat = 0;
    for (size_t k = 0; k < s->nitems; k++) {
        total += s->items[k].key_len + 1 + (s->items[k].type == SCFM_PKL_STR ? s->items[k].s_len + 1 : 0);
        if (s->items[k].type == SCFM_PKL_FARRAY) nfloat += s->items[k].s_len / s->items[k].a_size;
    }
    out->items = scfm_calloc(s->nitems ? s->nitems : 1, sizeof *out->items);
    out->strings = scfm_malloc(total ? total : 1);
    if (nfloat) out->floats = scfm_malloc(nfloat * sizeof *out->floats); /* bytes of the input bound it */
    if (!out->items || !out->strings || (nfloat && !out->floats)) { scfm_pkl_dict_free(out); return SCFM_ENOMEM; }
    char *w = out->strings;
    float *fw = out->floats;
    for (size_t k = 0; k < s->nitems; k++) {
        const pitem *it = &s->items[k];
        scfm_pkl_item *o = &out->items[k];
        memcpy(w, item_key(s, it), it->key_len);
        w[it->key_len] = 0;
        o->key = w;
        w += it->key_len + 1;
        o->type = it->type;
        o->i = it->i;
        o->f = it->f;
        if (it->type == SCFM_PKL_STR) {
            memcpy(w, item_val(s, it), it->s_len);
            w[it->s_len] = 0;
            o->s = w;
            w += it->s_len + 1;
        } else if (it->type == SCFM_PKL_FARRAY) {
            o->vec = fw;
            o->vec_len = it->s_len / it->a_size;
            convert_array(s, it, fw);
            fw += o->vec_len;
        }
    }
    out->n = s->nitems;
    return SCFM_OK;
}

int scfm_pickle_parse_dict(const void *data, size_t len, const char *what, scfm_pkl_dict *out) {
    memset(out, 0, sizeof *out);
    pstate s;
    memset(&s, 0, sizeof s);
    s.p = data;
    s.len = len;
    s.what = what ? what : "pickle";
    s.dict = SIZE_MAX;
    if (len >= 23 && !memcmp(data, "version https://git-lfs", 23))
        return scfm_error(SCFM_EFORMAT, "%s: is a Git LFS pointer, not the pickle itself (fetch it with git lfs pull)", s.what);
    if (len < 2 || s.p[0] != 0x80)
        return scfm_error(SCFM_EFORMAT, "%s: not a pickle (protocol 2-5 pickles start with byte 0x80)", s.what);
    int rc;
    while ((rc = step(&s)) == SCFM_OK) {}
    if (rc == 1) rc = finish(&s, out);
    free(s.objs); free(s.stack); free(s.marks); free(s.memo); free(s.kids); free(s.aux); free(s.items); free(s.tab);
    return rc;
}

int scfm_pickle_read_dict(const char *path, scfm_pkl_dict *out) {
    memset(out, 0, sizeof *out);
    char *data = NULL;
    size_t len = 0;
    int rc = scfm_read_file(path, &data, &len);
    if (rc) return rc;
    rc = scfm_pickle_parse_dict(data, len, path, out);
    free(data);
    return rc;
}

void scfm_pkl_dict_free(scfm_pkl_dict *d) {
    if (!d) return;
    free(d->items);
    free(d->strings);
    free(d->floats);
    d->items = NULL;
    d->strings = NULL;
    d->floats = NULL;
    d->n = 0;
}
