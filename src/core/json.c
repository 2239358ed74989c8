/* Strict JSON DOM parser and string writer. */
#include "scfm/json.h"
#include "scfm/core.h"
#include "scfm/strmap.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *s;
    size_t n, i;
    const char *what;
    int depth;
} parser;

static int perr(parser *p, const char *msg) {
    return scfm_error(SCFM_EFORMAT, "%s%sinvalid JSON at byte %zu: %s", p->what ? p->what : "",
                      p->what ? ": " : "", p->i, msg);
}

static void skip_ws(parser *p) {
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r')) p->i++;
}

static int parse_value(parser *p, scfm_json *out);

static int hex4(parser *p, unsigned *out) {
    if (p->n - p->i < 4) return perr(p, "short \\u escape");
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        char c = p->s[p->i++];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return perr(p, "bad hex digit in \\u escape");
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *d, unsigned cp) {
    if (cp < 0x80) { d[0] = (char)cp; return 1; }
    if (cp < 0x800) { d[0] = (char)(0xC0 | (cp >> 6)); d[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        d[0] = (char)(0xE0 | (cp >> 12)); d[1] = (char)(0x80 | ((cp >> 6) & 0x3F)); d[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    d[0] = (char)(0xF0 | (cp >> 18)); d[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    d[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); d[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Validate one UTF-8 sequence starting at s[i]; returns its length or 0. */
static size_t utf8_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t len;
    unsigned cp;
    if (c < 0x80) return 1;
    if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; }
    else return 0;
    if (n < len) return 0;
    for (size_t k = 1; k < len; k++) {
        if ((s[k] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[k] & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

static int parse_string(parser *p, char **out, size_t *out_len) {
    /* p->s[p->i] == '"' */
    p->i++;
    size_t start = p->i, cap = 16;
    (void)start;
    char *buf = scfm_malloc(cap);
    size_t len = 0;
    if (!buf) return SCFM_ENOMEM;
    for (;;) {
        if (p->i >= p->n) { free(buf); return perr(p, "unterminated string"); }
        if (len + 8 >= cap) {
            char *nb = scfm_realloc(buf, cap * 2);
            if (!nb) { free(buf); return SCFM_ENOMEM; }
            buf = nb;
            cap *= 2;
        }
        unsigned char c = (unsigned char)p->s[p->i];
        if (c == '"') { p->i++; break; }
        if (c < 0x20) { free(buf); return perr(p, "control character in string"); }
        if (c == '\\') {
            p->i++;
            if (p->i >= p->n) { free(buf); return perr(p, "unterminated escape"); }
            char e = p->s[p->i++];
            switch (e) {
            case '"': buf[len++] = '"'; break;
            case '\\': buf[len++] = '\\'; break;
            case '/': buf[len++] = '/'; break;
            case 'b': buf[len++] = '\b'; break;
            case 'f': buf[len++] = '\f'; break;
            case 'n': buf[len++] = '\n'; break;
            case 'r': buf[len++] = '\r'; break;
            case 't': buf[len++] = '\t'; break;
            case 'u': {
                unsigned cp;
                if (hex4(p, &cp)) { free(buf); return SCFM_EFORMAT; }
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    unsigned lo;
                    if (p->n - p->i < 6 || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u') { free(buf); return perr(p, "lone surrogate"); }
                    p->i += 2;
                    if (hex4(p, &lo)) { free(buf); return SCFM_EFORMAT; }
                    if (lo < 0xDC00 || lo > 0xDFFF) { free(buf); return perr(p, "bad surrogate pair"); }
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                } else if (cp >= 0xDC00 && cp <= 0xDFFF) { free(buf); return perr(p, "lone surrogate"); }
                if (cp == 0) { free(buf); return perr(p, "NUL in string"); }
                len += put_utf8(buf + len, cp);
                break;
            }
            default: free(buf); return perr(p, "bad escape");
            }
            continue;
        }
        size_t l = utf8_len((const unsigned char *)p->s + p->i, p->n - p->i);
        if (!l) { free(buf); return perr(p, "invalid UTF-8"); }
        memcpy(buf + len, p->s + p->i, l);
        len += l;
        p->i += l;
    }
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    return 0;
}

static int parse_number(parser *p, scfm_json *out) {
    size_t st = p->i;
    int integer = 1;
    if (p->i < p->n && p->s[p->i] == '-') p->i++;
    if (p->i >= p->n || !(p->s[p->i] >= '0' && p->s[p->i] <= '9')) return perr(p, "bad number");
    if (p->s[p->i] == '0') p->i++;
    else while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
    if (p->i < p->n && p->s[p->i] == '.') {
        integer = 0;
        p->i++;
        if (p->i >= p->n || !(p->s[p->i] >= '0' && p->s[p->i] <= '9')) return perr(p, "bad fraction");
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
    }
    if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
        integer = 0;
        p->i++;
        if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-')) p->i++;
        if (p->i >= p->n || !(p->s[p->i] >= '0' && p->s[p->i] <= '9')) return perr(p, "bad exponent");
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
    }
    char tmp[64];
    size_t l = p->i - st;
    if (l >= sizeof tmp) {
        /* very long literal: parse as double through a heap copy */
        char *h = scfm_malloc(l + 1);
        if (!h) return SCFM_ENOMEM;
        memcpy(h, p->s + st, l);
        h[l] = 0;
        out->number = strtod(h, NULL);
        free(h);
        integer = 0;
    } else {
        memcpy(tmp, p->s + st, l);
        tmp[l] = 0;
        out->number = strtod(tmp, NULL);
        if (integer) {
            errno = 0;
            long long v = strtoll(tmp, NULL, 10);
            if (errno) integer = 0;
            else out->integer = v;
        }
    }
    out->type = SCFM_JSON_NUMBER;
    out->is_integer = integer;
    return 0;
}

static int lit(parser *p, const char *w) {
    size_t l = strlen(w);
    if (p->n - p->i < l || memcmp(p->s + p->i, w, l) != 0) return perr(p, "unexpected token");
    p->i += l;
    return 0;
}

static int push(scfm_json **items, char ***keys, size_t *n, size_t *cap, int with_keys) {
    if (*n < *cap) return 0;
    size_t nc = *cap ? *cap * 2 : 4;
    scfm_json *ni = scfm_realloc(*items, nc * sizeof **items);
    if (!ni) return SCFM_ENOMEM;
    *items = ni;
    if (with_keys) {
        char **nk = scfm_realloc(*keys, nc * sizeof **keys);
        if (!nk) return SCFM_ENOMEM;
        *keys = nk;
    }
    *cap = nc;
    return 0;
}

static void free_children(scfm_json *j) {
    if (j->type == SCFM_JSON_STRING) free(j->string);
    if (j->type == SCFM_JSON_ARRAY || j->type == SCFM_JSON_OBJECT) {
        for (size_t i = 0; i < j->n; i++) {
            free_children(&j->items[i]);
            if (j->keys) free(j->keys[i]);
        }
        free(j->items);
        free(j->keys);
    }
}

static int parse_container(parser *p, scfm_json *out, int is_obj) {
    size_t cap = 0;
    out->type = is_obj ? SCFM_JSON_OBJECT : SCFM_JSON_ARRAY;
    if (++p->depth > 256) return perr(p, "nesting too deep");
    p->i++;
    skip_ws(p);
    if (p->i < p->n && p->s[p->i] == (is_obj ? '}' : ']')) { p->i++; p->depth--; return 0; }
    for (;;) {
        int rc = push(&out->items, &out->keys, &out->n, &cap, is_obj);
        if (rc) return rc;
        scfm_json *it = &out->items[out->n];
        memset(it, 0, sizeof *it);
        if (is_obj) {
            skip_ws(p);
            if (p->i >= p->n || p->s[p->i] != '"') return perr(p, "expected object key");
            size_t kl;
            rc = parse_string(p, &out->keys[out->n], &kl);
            if (rc) return rc;
            skip_ws(p);
            if (p->i >= p->n || p->s[p->i] != ':') { free(out->keys[out->n]); return perr(p, "expected ':'"); }
            p->i++;
        }
        rc = parse_value(p, it);
        if (rc) {
            free_children(it);
            if (is_obj) free(out->keys[out->n]);
            return rc;
        }
        out->n++;
        skip_ws(p);
        if (p->i >= p->n) return perr(p, "unterminated container");
        if (p->s[p->i] == ',') { p->i++; continue; }
        if (p->s[p->i] == (is_obj ? '}' : ']')) { p->i++; break; }
        return perr(p, "expected ',' or closing bracket");
    }
    p->depth--;
    return 0;
}

static int parse_value(parser *p, scfm_json *out) {
    skip_ws(p);
    if (p->i >= p->n) return perr(p, "unexpected end of input");
    char c = p->s[p->i];
    switch (c) {
    case '{': return parse_container(p, out, 1);
    case '[': return parse_container(p, out, 0);
    case '"': out->type = SCFM_JSON_STRING; return parse_string(p, &out->string, &out->str_len);
    case 't': out->type = SCFM_JSON_BOOL; out->boolean = 1; return lit(p, "true");
    case 'f': out->type = SCFM_JSON_BOOL; out->boolean = 0; return lit(p, "false");
    case 'n': out->type = SCFM_JSON_NULL; return lit(p, "null");
    default: return parse_number(p, out);
    }
}

scfm_json *scfm_json_parse(const char *text, size_t len, const char *what) {
    parser p = {text, len, 0, what, 0};
    scfm_json *j = scfm_calloc(1, sizeof *j);
    if (!j) return NULL;
    int rc = parse_value(&p, j);
    if (!rc) {
        skip_ws(&p);
        if (p.i != p.n) rc = perr(&p, "trailing characters after JSON value");
    }
    if (rc) { scfm_json_free(j); return NULL; }
    return j;
}

void scfm_json_free(scfm_json *j) {
    if (!j) return;
    free_children(j);
    free(j);
}

const scfm_json *scfm_json_get(const scfm_json *obj, const char *key) {
    if (!obj || obj->type != SCFM_JSON_OBJECT) return NULL;
    for (size_t i = obj->n; i-- > 0;)
        if (strcmp(obj->keys[i], key) == 0) return &obj->items[i];
    return NULL;
}

/* First key of obj that repeats an earlier one: one pass over the shared hash map (linear in
 * the number of keys; a small object is compared directly). */
static const char *dup_in_object(const scfm_json *j) {
    if (j->n > 16) {
        scfm_strmap m;
        if (scfm_strmap_init(&m, j->n) == SCFM_OK) {
            const char *dup = NULL;
            for (size_t i = 0; i < j->n && !dup; i++) {
                int p = scfm_strmap_put(&m, j->keys[i], i);
                if (p == 1) dup = j->keys[i];
                else if (p < 0) break; /* no memory: the direct comparison below decides */
            }
            int complete = dup || m.n == j->n;
            scfm_strmap_free(&m);
            if (complete) return dup;
        }
        scfm_clear_error();
    }
    for (size_t i = 1; i < j->n; i++)
        for (size_t k = 0; k < i; k++)
            if (strcmp(j->keys[i], j->keys[k]) == 0) return j->keys[i];
    return NULL;
}

const char *scfm_json_dup_key(const scfm_json *j) {
    if (j->type == SCFM_JSON_OBJECT) {
        const char *d = dup_in_object(j);
        if (d) return d;
    }
    if (j->type == SCFM_JSON_OBJECT || j->type == SCFM_JSON_ARRAY)
        for (size_t i = 0; i < j->n; i++) {
            const char *d = scfm_json_dup_key(&j->items[i]);
            if (d) return d;
        }
    return NULL;
}

int scfm_json_get_long(const scfm_json *obj, const char *key, long long *out) {
    const scfm_json *v = scfm_json_get(obj, key);
    if (!v) return scfm_error(SCFM_ENOTFOUND, "missing key '%s'", key);
    if (v->type != SCFM_JSON_NUMBER || !v->is_integer) return scfm_error(SCFM_EFORMAT, "key '%s' is not an integer", key);
    *out = v->integer;
    return SCFM_OK;
}

int scfm_json_get_size(const scfm_json *obj, const char *key, size_t *out) {
    long long v = 0;
    int rc = scfm_json_get_long(obj, key, &v);
    if (rc) return rc;
    if (v < 0) return scfm_error(SCFM_EFORMAT, "key '%s' is negative (%lld)", key, v);
    *out = (size_t)v;
    return SCFM_OK;
}

int scfm_json_get_double(const scfm_json *obj, const char *key, double *out) {
    const scfm_json *v = scfm_json_get(obj, key);
    if (!v) return scfm_error(SCFM_ENOTFOUND, "missing key '%s'", key);
    if (v->type != SCFM_JSON_NUMBER) return scfm_error(SCFM_EFORMAT, "key '%s' is not a number", key);
    *out = v->number;
    return SCFM_OK;
}

int scfm_json_get_bool(const scfm_json *obj, const char *key, int *out) {
    const scfm_json *v = scfm_json_get(obj, key);
    if (!v) return scfm_error(SCFM_ENOTFOUND, "missing key '%s'", key);
    if (v->type != SCFM_JSON_BOOL) return scfm_error(SCFM_EFORMAT, "key '%s' is not a boolean", key);
    *out = v->boolean;
    return SCFM_OK;
}

int scfm_json_get_string(const scfm_json *obj, const char *key, const char **out) {
    const scfm_json *v = scfm_json_get(obj, key);
    if (!v) return scfm_error(SCFM_ENOTFOUND, "missing key '%s'", key);
    if (v->type != SCFM_JSON_STRING) return scfm_error(SCFM_EFORMAT, "key '%s' is not a string", key);
    *out = v->string;
    return SCFM_OK;
}

static const char *escape_of(unsigned char c, char tmp[8]) {
    switch (c) {
    case '"': return "\\\"";
    case '\\': return "\\\\";
    case '\n': return "\\n";
    case '\r': return "\\r";
    case '\t': return "\\t";
    case '\b': return "\\b";
    case '\f': return "\\f";
    default:
        if (c < 0x20) { snprintf(tmp, 8, "\\u%04x", c); return tmp; }
        return NULL;
    }
}

void scfm_json_write_string(FILE *f, const char *s) {
    char tmp[8];
    fputc('"', f);
    for (; *s; s++) {
        const char *e = escape_of((unsigned char)*s, tmp);
        if (e) fputs(e, f);
        else fputc(*s, f);
    }
    fputc('"', f);
}

static int app(char **buf, size_t *len, size_t *cap, const char *s, size_t n) {
    if (*len + n + 1 > *cap) {
        size_t nc = *cap ? *cap : 64;
        while (nc < *len + n + 1) nc *= 2;
        char *nb = scfm_realloc(*buf, nc);
        if (!nb) return -1;
        *buf = nb;
        *cap = nc;
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = 0;
    return 0;
}

int scfm_json_append_string(char **buf, size_t *len, size_t *cap, const char *s) {
    char tmp[8];
    if (app(buf, len, cap, "\"", 1)) return -1;
    for (; *s; s++) {
        const char *e = escape_of((unsigned char)*s, tmp);
        if (e ? app(buf, len, cap, e, strlen(e)) : app(buf, len, cap, s, 1)) return -1;
    }
    return app(buf, len, cap, "\"", 1);
}
