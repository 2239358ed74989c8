/* A small, strict JSON reader (DOM) and writer helpers, for config.json, corpus.json,
 * safetensors headers and training logs.
 * Reader: RFC 8259; rejects trailing garbage, control characters in strings, invalid
 * UTF-8 escapes and nesting deeper than 256. Object key order is preserved; duplicate
 * keys are kept (scfm_json_dup_key() reports the first one, for strict callers). */
#ifndef SCFM_JSON_H
#define SCFM_JSON_H
#include <stddef.h>
#include <stdio.h>

typedef enum { SCFM_JSON_NULL, SCFM_JSON_BOOL, SCFM_JSON_NUMBER, SCFM_JSON_STRING,
               SCFM_JSON_ARRAY, SCFM_JSON_OBJECT } scfm_json_type;

typedef struct scfm_json scfm_json;
struct scfm_json {
    scfm_json_type type;
    int boolean;
    double number;
    int is_integer;      /* number had no fraction/exponent */
    long long integer;   /* exact value when is_integer and it fits */
    char *string;        /* STRING: NUL-terminated UTF-8 (len in str_len) */
    size_t str_len;
    size_t n;            /* ARRAY/OBJECT: number of children */
    scfm_json *items;    /* ARRAY/OBJECT children */
    char **keys;         /* OBJECT: keys[i] names items[i] */
};

/* Parse `len` bytes. Returns NULL on error, message (with byte offset) in scfm_last_error(),
 * prefixed by `what` (e.g. a file name) if not NULL. */
scfm_json *scfm_json_parse(const char *text, size_t len, const char *what);
void scfm_json_free(scfm_json *j);
/* Object member by key (last one wins when duplicated) or NULL. */
const scfm_json *scfm_json_get(const scfm_json *obj, const char *key);
/* First duplicated key in any object of the tree, or NULL. */
const char *scfm_json_dup_key(const scfm_json *j);

/* Typed getters for object members; return SCFM_OK, SCFM_ENOTFOUND (missing, *out untouched)
 * or SCFM_EFORMAT (wrong type / not an integer / out of range). Messages name the key. */
int scfm_json_get_long(const scfm_json *obj, const char *key, long long *out);
int scfm_json_get_size(const scfm_json *obj, const char *key, size_t *out);
int scfm_json_get_double(const scfm_json *obj, const char *key, double *out);
int scfm_json_get_bool(const scfm_json *obj, const char *key, int *out);
/* *out points into the tree (do not free). */
int scfm_json_get_string(const scfm_json *obj, const char *key, const char **out);

/* Writer helpers: write s as a JSON string literal (with quotes and escapes). */
void scfm_json_write_string(FILE *f, const char *s);
/* Same into a growable buffer: appends to *buf (realloc'ed), returns 0 or -1 (ENOMEM set). */
int scfm_json_append_string(char **buf, size_t *len, size_t *cap, const char *s);
#endif
