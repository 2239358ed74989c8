/* Pretraining settings: defaults (Geneformer V1, docs/computation.md section 6), key=value setting,
 * validation and JSON round trip, all driven by one field table. */
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scfm/train.h"

typedef enum { F_SIZE, F_LONG, F_DOUBLE, F_BOOL, F_SCHED, F_U64 } ftype;
typedef struct {
    const char *key;
    ftype type;
    size_t off;
    double lo, hi; /* accepted range (numbers) */
} field;

#define FLD(k, t, lo, hi) {#k, t, offsetof(scfm_pretrain_config, k), lo, hi}
static const field FIELDS[] = {
    FLD(batch_size, F_SIZE, 1, 1e6),      FLD(grad_accum, F_SIZE, 1, 1e6),
    FLD(max_steps, F_LONG, 0, 1e15),      FLD(epochs, F_DOUBLE, 0, 1e6),
    FLD(stop_at, F_LONG, 0, 1e15),        FLD(lr, F_DOUBLE, 0, 10),
    FLD(schedule, F_SCHED, 0, 0),         FLD(warmup_steps, F_LONG, 0, 1e15),
    FLD(warmup_ratio, F_DOUBLE, 0, 1),    FLD(weight_decay, F_DOUBLE, 0, 10),
    FLD(beta1, F_DOUBLE, 0, 0.999999),    FLD(beta2, F_DOUBLE, 0, 0.999999999),
    FLD(adam_eps, F_DOUBLE, 0, 1),        FLD(max_grad_norm, F_DOUBLE, 0, 1e12),
    FLD(mask_prob, F_DOUBLE, 0, 1),       FLD(mask_frac, F_DOUBLE, 0, 1),
    FLD(random_frac, F_DOUBLE, 0, 1),     FLD(mega_mult, F_SIZE, 1, 1e6),
    FLD(val_fraction, F_DOUBLE, 0, 0.9),  FLD(val_max_cells, F_SIZE, 0, 1e12),
    FLD(eval_every, F_LONG, 0, 1e15),     FLD(log_every, F_LONG, 1, 1e15),
    FLD(save_every, F_LONG, 0, 1e15),     FLD(keep, F_SIZE, 0, 1e6),
    FLD(truncate, F_BOOL, 0, 1),          FLD(baseline, F_BOOL, 0, 1),
    FLD(seed, F_U64, 0, 0),
};
#define NFIELDS (sizeof FIELDS / sizeof FIELDS[0])

void scfm_pretrain_config_init(scfm_pretrain_config *c) {
    memset(c, 0, sizeof *c);
    c->batch_size = 12;
    c->grad_accum = 1;
    c->epochs = 3;
    c->lr = 1e-3;
    c->schedule = SCFM_SCHED_LINEAR;
    c->warmup_steps = 10000;
    c->weight_decay = 0.001;
    c->beta1 = 0.9;
    c->beta2 = 0.999;
    c->adam_eps = 1e-8;
    c->max_grad_norm = 1.0;
    c->mask_prob = 0.15;
    c->mask_frac = 0.8;
    c->random_frac = 0.1;
    c->mega_mult = 50;
    c->val_fraction = 0.01;
    c->val_max_cells = 2000;
    c->eval_every = 500;
    c->log_every = 10;
    c->save_every = 1000;
    c->seed = 42;
}

static const field *find_field(const char *key) {
    for (size_t i = 0; i < NFIELDS; i++)
        if (strcmp(FIELDS[i].key, key) == 0) return &FIELDS[i];
    return NULL;
}

static int parse_bool(const char *v, int *out) {
    if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on")) *out = 1;
    else if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off")) *out = 0;
    else return -1;
    return 0;
}

/* Stores a numeric value (already range-checked) into the field. */
static void store_number(scfm_pretrain_config *c, const field *f, double x) {
    char *p = (char *)c + f->off;
    switch (f->type) {
    case F_SIZE: *(size_t *)p = (size_t)x; break;
    case F_LONG: *(long *)p = (long)x; break;
    case F_DOUBLE: *(double *)p = x; break;
    case F_BOOL: *(int *)p = x != 0; break;
    default: break;
    }
}

int scfm_pretrain_config_set(scfm_pretrain_config *c, const char *key, const char *value) {
    const field *f = find_field(key);
    if (!f) return scfm_error(SCFM_ENOTFOUND, "unknown training setting '%s'", key);
    char *p = (char *)c + f->off;
    if (f->type == F_SCHED) {
        if (scfm_sched_from_name(value, (scfm_sched *)p))
            return scfm_error(SCFM_EINVAL, "%s: unknown schedule '%s' (constant, constant_with_warmup, linear, "
                              "cosine)", key, value);
        return SCFM_OK;
    }
    if (f->type == F_U64) {
        char *end;
        unsigned long long u = strtoull(value, &end, 0);
        if (!*value || *end || *value == '-' || u >= (1ull << 53))
            return scfm_error(SCFM_EINVAL, "%s: '%s' is not a seed (an integer in [0, 2^53))", key, value);
        *(uint64_t *)p = (uint64_t)u;
        return SCFM_OK;
    }
    double x;
    int b;
    if (f->type == F_BOOL) {
        if (parse_bool(value, &b)) return scfm_error(SCFM_EINVAL, "%s: '%s' is not a boolean", key, value);
        x = b;
    } else if (scfm_parse_double(value, &x)) {
        return scfm_error(SCFM_EINVAL, "%s: '%s' is not a number", key, value);
    }
    if (!(x >= f->lo && x <= f->hi) || ((f->type == F_SIZE || f->type == F_LONG) && x != floor(x)))
        return scfm_error(SCFM_EINVAL, "%s: %s is out of range (%s in [%g, %g])", key, value,
                          f->type == F_DOUBLE ? "a number" : "an integer", f->lo, f->hi);
    store_number(c, f, x);
    return SCFM_OK;
}

int scfm_pretrain_config_validate(const scfm_pretrain_config *c) {
    if (c->mask_frac + c->random_frac > 1 + 1e-12)
        return scfm_error(SCFM_EINVAL, "mask_frac + random_frac = %g exceeds 1", c->mask_frac + c->random_frac);
    if (c->max_steps == 0 && !(c->epochs > 0))
        return scfm_error(SCFM_EINVAL, "training length: set max_steps > 0 or epochs > 0");
    if (c->mask_prob <= 0) return scfm_error(SCFM_EINVAL, "mask_prob must be > 0");
    if (c->batch_size == 0 || c->grad_accum == 0 || c->mega_mult == 0 || c->log_every <= 0)
        return scfm_error(SCFM_EINVAL, "batch_size, grad_accum, mega_mult and log_every must be > 0");
    return SCFM_OK;
}

/* Appends "key": value for field f. Returns 0 or -1 on overflow. */
static int put_field(char *buf, size_t cap, size_t *len, const scfm_pretrain_config *c, const field *f) {
    const char *p = (const char *)c + f->off;
    int n;
    size_t room = cap - *len;
    char *o = buf + *len;
    switch (f->type) {
    case F_SIZE: n = snprintf(o, room, "\"%s\": %zu", f->key, *(const size_t *)p); break;
    case F_LONG: n = snprintf(o, room, "\"%s\": %ld", f->key, *(const long *)p); break;
    case F_DOUBLE: n = snprintf(o, room, "\"%s\": %.17g", f->key, *(const double *)p); break;
    case F_BOOL: n = snprintf(o, room, "\"%s\": %s", f->key, *(const int *)p ? "true" : "false"); break;
    case F_SCHED: n = snprintf(o, room, "\"%s\": \"%s\"", f->key, scfm_sched_name(*(const scfm_sched *)p)); break;
    default: n = snprintf(o, room, "\"%s\": %" PRIu64, f->key, *(const uint64_t *)p); break;
    }
    if (n < 0 || (size_t)n >= room) return -1;
    *len += (size_t)n;
    return 0;
}

int scfm_pretrain_config_to_json(const scfm_pretrain_config *c, char **out) {
    size_t cap = 64 * NFIELDS + 16, len = 0;
    char *buf = scfm_malloc(cap);
    if (!buf) return SCFM_ENOMEM;
    buf[len++] = '{';
    for (size_t i = 0; i < NFIELDS; i++) {
        if (i) { buf[len++] = ','; buf[len++] = ' '; }
        if (put_field(buf, cap - 2, &len, c, &FIELDS[i])) {
            free(buf);
            return scfm_error(SCFM_ENOMEM, "training settings: JSON buffer too small");
        }
    }
    buf[len++] = '}';
    buf[len] = 0;
    *out = buf;
    return SCFM_OK;
}

/* Reads one field from JSON value v. */
static int field_from_json(scfm_pretrain_config *c, const field *f, const scfm_json *v, const char *what) {
    char text[64];
    if (f->type == F_SCHED) {
        if (v->type != SCFM_JSON_STRING) return scfm_error(SCFM_EFORMAT, "%s: '%s' must be a string", what, f->key);
        snprintf(text, sizeof text, "%s", v->string);
    } else if (f->type == F_BOOL && v->type == SCFM_JSON_BOOL) {
        snprintf(text, sizeof text, "%d", v->boolean);
    } else if (v->type == SCFM_JSON_NUMBER && f->type == F_U64 && v->is_integer) {
        snprintf(text, sizeof text, "%lld", v->integer);
    } else if (v->type == SCFM_JSON_NUMBER && f->type != F_U64) {
        snprintf(text, sizeof text, "%.17g", v->number);
    } else {
        return scfm_error(SCFM_EFORMAT, "%s: '%s' has the wrong type", what, f->key);
    }
    int rc = scfm_pretrain_config_set(c, f->key, text);
    return rc ? scfm_error_prefix(SCFM_EFORMAT, "%s", what) : SCFM_OK;
}

int scfm_pretrain_config_from_json(scfm_pretrain_config *c, const scfm_json *j, const char *what) {
    if (!j || j->type != SCFM_JSON_OBJECT) return scfm_error(SCFM_EFORMAT, "%s: training settings must be an object", what);
    for (size_t i = 0; i < NFIELDS; i++) {
        const scfm_json *v = scfm_json_get(j, FIELDS[i].key);
        if (v) {
            int rc = field_from_json(c, &FIELDS[i], v, what);
            if (rc) return rc;
        }
    }
    return SCFM_OK;
}
