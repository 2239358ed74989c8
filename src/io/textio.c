/* Text helpers for the mtx and csv readers: a line reader over plain or gzip files (bytesrc.c)
 * and a tab-separated column reader. */
#include "io_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct io_lines {
    io_src *f;
    char *path;
    char *buf;
    size_t cap, beg, end; /* unread bytes are buf[beg..end) */
    int eof;
    size_t lineno;
    size_t max_line; /* io_lines_limit */
};

size_t io_lines_limit(const char *path) {
    struct stat st;
    const size_t floor = (size_t)16 << 20, cap = (size_t)1 << 30;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return cap;
    size_t size = st.st_size > 0 ? (size_t)st.st_size : 0;
    size_t lim = size > cap / 64 ? cap : 64 * size;
    return lim < floor ? floor : lim;
}

io_lines *io_lines_open(const char *path) {
    io_src *f = io_src_open(path);
    if (!f) return NULL;
    io_lines *lr = scfm_calloc(1, sizeof *lr);
    if (lr) {
        lr->cap = (size_t)1 << 20;
        lr->max_line = io_lines_limit(path);
        lr->buf = scfm_calloc(lr->cap + IO_LINES_SLACK, 1);
        lr->path = scfm_strdup(path);
    }
    if (!lr || !lr->buf || !lr->path) {
        io_src_close(f);
        if (lr) { free(lr->buf); free(lr->path); free(lr); }
        return NULL;
    }
    lr->f = f;
    return lr;
}

void io_lines_close(io_lines *lr) {
    if (!lr) return;
    io_src_close(lr->f);
    free(lr->buf);
    free(lr->path);
    free(lr);
}

size_t io_lines_lineno(const io_lines *lr) { return lr->lineno; }

int io_lines_rewind(io_lines *lr) {
    int rc = io_src_rewind(lr->f);
    if (rc) return rc;
    lr->beg = lr->end = 0;
    lr->eof = 0;
    lr->lineno = 0;
    return SCFM_OK;
}

/* Moves the unread bytes to the front, grows the buffer if full, reads more. */
static int fill(io_lines *lr) {
    if (lr->beg > 0) {
        memmove(lr->buf, lr->buf + lr->beg, lr->end - lr->beg);
        lr->end -= lr->beg;
        lr->beg = 0;
    }
    if (lr->end == lr->cap) {
        /* the buffer never grows past the line limit (plus slack): a huge line in a small
         * compressed file fails here, before it costs more memory than the file can justify */
        if (lr->cap >= lr->max_line)
            return scfm_error(SCFM_EFORMAT, "%s: line %zu is longer than %zu bytes (the line limit: 64 x the file's "
                              "size on disk, at least 16 MiB, at most 1 GiB)", lr->path, lr->lineno + 1, lr->max_line);
        size_t nc = lr->cap * 2 < lr->max_line ? lr->cap * 2 : lr->max_line;
        char *nb = scfm_realloc(lr->buf, nc + IO_LINES_SLACK);
        if (!nb) return SCFM_ENOMEM;
        memset(nb + lr->cap + IO_LINES_SLACK, 0, nc - lr->cap);
        lr->buf = nb;
        lr->cap = nc;
    }
    size_t got;
    int rc = io_src_read(lr->f, lr->buf + lr->end, lr->cap - lr->end, &got);
    if (rc) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", scfm_last_error());
        return scfm_error(rc, "%s (after line %zu)", msg, lr->lineno);
    }
    if (got == 0) lr->eof = 1;
    lr->end += got;
    return SCFM_OK;
}

int io_lines_next(io_lines *lr, char **line, size_t *len) {
    for (;;) {
        char *s = lr->buf + lr->beg;
        size_t avail = lr->end - lr->beg, k = 0, lim = avail < 32 ? avail : 32;
        char *nl = NULL;
        /* short lines (mtx entries) are found faster by a plain loop than by a memchr call */
        while (k < lim && s[k] != '\n') k++;
        if (k < lim) nl = s + k;
        else if (avail > lim) nl = memchr(s + lim, '\n', avail - lim);
        if (nl || (lr->eof && lr->end > lr->beg)) {
            size_t n = nl ? (size_t)(nl - s) : lr->end - lr->beg;
            lr->beg += nl ? n + 1 : n;
            if (n && s[n - 1] == '\r') n--;
            s[n] = '\0';
            *line = s;
            *len = n;
            lr->lineno++;
            return 1;
        }
        if (lr->eof) return 0;
        int rc = fill(lr);
        if (rc) return rc;
    }
}

/* Fast-parser access (used by mtx.c; declared in io_internal.h): the unread bytes up to and including
 * the last complete line's "\n", reading more when none is buffered. *n == 0 at end of file
 * or when only an unterminated last line remains (read that one with io_lines_next). The
 * bytes stay valid until the next call on lr; consume them with io_lines_advance. */
int io_lines_window(io_lines *lr, const char **p, size_t *n) {
    for (;;) {
        const char *s = lr->buf + lr->beg;
        size_t avail = lr->end - lr->beg;
        size_t k = avail;
        while (k > 0 && s[k - 1] != '\n') k--;
        if (k) {
            *p = s;
            *n = k;
            return SCFM_OK;
        }
        if (lr->eof) { *p = s; *n = 0; return SCFM_OK; }
        int rc = fill(lr);
        if (rc) return rc;
    }
}

/* Marks `bytes` bytes of the window, holding `lines` complete lines, as read. */
void io_lines_advance(io_lines *lr, size_t bytes, size_t lines) {
    lr->beg += bytes;
    lr->lineno += lines;
}

/* Pointer to the start of field `col` of a tab-separated line and its length, or NULL. */
static const char *tsv_field(const char *line, size_t len, size_t col, size_t *flen) {
    const char *p = line, *end = line + len;
    for (size_t c = 0; c < col; c++) {
        const char *t = memchr(p, '\t', (size_t)(end - p));
        if (!t) return NULL;
        p = t + 1;
    }
    const char *t = memchr(p, '\t', (size_t)(end - p));
    *flen = (size_t)((t ? t : end) - p);
    return p;
}

int io_read_tsv_column(const char *path, size_t col, io_strlist *out, size_t *n_cols) {
    memset(out, 0, sizeof *out);
    io_lines *lr = io_lines_open(path);
    if (!lr) return SCFM_EIO;
    char *line;
    size_t len, flen = 0;
    int rc;
    while ((rc = io_lines_next(lr, &line, &len)) == 1) {
        if (out->n == 0 && n_cols) {
            *n_cols = 1;
            for (size_t i = 0; i < len; i++) *n_cols += line[i] == '\t';
        }
        const char *f = tsv_field(line, len, col, &flen);
        if (!f) {
            rc = scfm_error(SCFM_EFORMAT, "%s: line %zu has fewer than %zu tab-separated columns", path,
                            io_lines_lineno(lr), col + 1);
            break;
        }
        if ((rc = io_strlist_push(out, f, flen))) break;
    }
    io_lines_close(lr);
    if (!rc) rc = io_strlist_finish(out);
    if (rc) io_strlist_free(out);
    return rc;
}
