/* Error messages (thread-local), logging hook, checked allocation, small file helpers. */
#define _POSIX_C_SOURCE 200809L
#include "scfm/core.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static _Thread_local char err_msg[2048];

int scfm_error(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_msg, sizeof err_msg, fmt, ap);
    va_end(ap);
    return code;
}

int scfm_error_prefix(int code, const char *fmt, ...) {
    char prefix[1024], old[sizeof err_msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err_msg, sizeof old);
    size_t pl = strlen(prefix);
    if (pl > sizeof err_msg - 3) pl = sizeof err_msg - 3;
    memcpy(err_msg, prefix, pl);
    memcpy(err_msg + pl, ": ", 2);
    size_t ol = strlen(old);
    if (ol > sizeof err_msg - pl - 3) ol = sizeof err_msg - pl - 3;
    memcpy(err_msg + pl + 2, old, ol);
    err_msg[pl + 2 + ol] = '\0';
    return code;
}

const char *scfm_last_error(void) { return err_msg; }
void scfm_clear_error(void) { err_msg[0] = '\0'; }

const char *scfm_status_str(int code) {
    switch (code) {
    case SCFM_OK: return "ok";
    case SCFM_EIO: return "I/O error";
    case SCFM_EFORMAT: return "format error";
    case SCFM_ENOMEM: return "out of memory";
    case SCFM_EINVAL: return "invalid argument";
    case SCFM_EMISMATCH: return "mismatch";
    case SCFM_ENOTFOUND: return "not found";
    case SCFM_EDATA: return "bad data";
    default: return "error";
    }
}

static scfm_log_fn log_fn;
static void *log_ud;

void scfm_set_log_fn(scfm_log_fn fn, void *ud) { log_fn = fn; log_ud = ud; }

void scfm_log(int level, const char *fmt, ...) {
    if (!log_fn) return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_fn(level, msg, log_ud);
}

void *scfm_malloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) scfm_error(SCFM_ENOMEM, "out of memory allocating %zu bytes", n);
    return p;
}

void *scfm_calloc(size_t count, size_t size) {
    size_t n;
    if (scfm_mul_size(count, size, &n)) {
        scfm_error(SCFM_ENOMEM, "allocation size overflow (%zu x %zu)", count, size);
        return NULL;
    }
    void *p = calloc(n ? n : 1, 1);
    if (!p) scfm_error(SCFM_ENOMEM, "out of memory allocating %zu bytes", n);
    return p;
}

void *scfm_realloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) scfm_error(SCFM_ENOMEM, "out of memory reallocating %zu bytes", n);
    return q;
}

void *scfm_alloc_aligned(size_t n) {
    void *p = NULL;
    size_t m = (n + 63) & ~(size_t)63;
    if (m < n || posix_memalign(&p, 64, m ? m : 64) != 0) {
        scfm_error(SCFM_ENOMEM, "out of memory allocating %zu aligned bytes", n);
        return NULL;
    }
    return p;
}

void scfm_free(void *p) { free(p); }

char *scfm_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = scfm_malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

int scfm_mul_size(size_t a, size_t b, size_t *out) {
    if (a && b > SIZE_MAX / a) return -1;
    *out = a * b;
    return 0;
}

int scfm_add_size(size_t a, size_t b, size_t *out) {
    if (b > SIZE_MAX - a) return -1;
    *out = a + b;
    return 0;
}

double scfm_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int scfm_read_file(const char *path, char **data, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return scfm_error(SCFM_EIO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = scfm_malloc(cap);
    if (!buf) { fclose(f); return SCFM_ENOMEM; }
    for (;;) {
        if (n + 1 >= cap) {
            if (cap > SIZE_MAX / 2) { free(buf); fclose(f); return scfm_error(SCFM_ENOMEM, "%s: too large", path); }
            char *nb = scfm_realloc(buf, cap * 2);
            if (!nb) { free(buf); fclose(f); return SCFM_ENOMEM; }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) { free(buf); return scfm_error(SCFM_EIO, "%s: read error", path); }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return SCFM_OK;
}

int scfm_write_file_atomic(const char *path, const void *data, size_t len) {
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= sizeof tmp)
        return scfm_error(SCFM_EINVAL, "%s: path too long", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return scfm_error(SCFM_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    int ok = fwrite(data, 1, len, f) == len;
    ok = (fflush(f) == 0) && ok;
    ok = (fsync(fileno(f)) == 0) && ok;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        remove(tmp);
        return scfm_error(SCFM_EIO, "%s: write failed: %s", path, strerror(e));
    }
    return SCFM_OK;
}

int scfm_parse_long(const char *s, long lo, long hi, long *out) {
    if (!s || !*s) return scfm_error(SCFM_EINVAL, "empty number");
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end != '\0') return scfm_error(SCFM_EINVAL, "'%s' is not an integer", s);
    if (v < lo || v > hi) return scfm_error(SCFM_EINVAL, "%ld is out of range [%ld, %ld]", v, lo, hi);
    *out = v;
    return SCFM_OK;
}

int scfm_parse_double(const char *s, double *out) {
    if (!s || !*s) return scfm_error(SCFM_EINVAL, "empty number");
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end != '\0' || !isfinite(v)) return scfm_error(SCFM_EINVAL, "'%s' is not a finite number", s);
    *out = v;
    return SCFM_OK;
}
