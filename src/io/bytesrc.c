/* Byte source over a plain or gzip file: what the line reader decompresses from.
 *
 * gzip is recognized by its magic bytes (1f 8b), not by the file name. It is inflated with
 * Intel ISA-L (igzip) when the build found it (about 3x zlib's speed on mtx files), else with
 * zlib. Both check every member's CRC-32 and length, read concatenated members (as gzip -d
 * does) and report truncated or corrupt data as an error naming the file. */
#include "io_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef SCFM_HAVE_ISAL
#include <isa-l/igzip_lib.h>
#else
#include <zlib.h>
#endif

#define IN_CAP ((size_t)1 << 18)

struct io_src {
    int fd;
    char *path;
    int gzip;
    unsigned char *in;          /* compressed input, in[in_beg..in_end) unread */
    size_t in_beg, in_end;
    int in_eof;
    int member_open;            /* inside a gzip member (header seen, trailer not yet) */
    int done;                   /* end of data reached */
#ifdef SCFM_HAVE_ISAL
    struct inflate_state st;
#else
    z_stream zs;
    int zs_init;
#endif
};

const char *io_src_inflater(void) {
#ifdef SCFM_HAVE_ISAL
    return "isa-l";
#else
    return "zlib";
#endif
}

static int src_fill(io_src *s) {
    if (s->in_beg > 0) {
        memmove(s->in, s->in + s->in_beg, s->in_end - s->in_beg);
        s->in_end -= s->in_beg;
        s->in_beg = 0;
    }
    while (s->in_end < IN_CAP && !s->in_eof) {
        ssize_t got = read(s->fd, s->in + s->in_end, IN_CAP - s->in_end);
        if (got < 0) {
            if (errno == EINTR) continue;
            return scfm_error(SCFM_EIO, "%s: read error: %s", s->path, strerror(errno));
        }
        if (got == 0) s->in_eof = 1;
        s->in_end += (size_t)got;
        if (got > 0) break;
    }
    return SCFM_OK;
}

static int src_start(io_src *s) {
    s->in_beg = s->in_end = 0;
    s->in_eof = s->done = s->member_open = 0;
    int rc = src_fill(s);
    if (rc) return rc;
    while (s->in_end < 2 && !s->in_eof && !(rc = src_fill(s))) {}
    if (rc) return rc;
    s->gzip = s->in_end >= 2 && s->in[0] == 0x1f && s->in[1] == 0x8b;
    return SCFM_OK;
}

io_src *io_src_open(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        scfm_error(SCFM_EIO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    io_src *s = scfm_calloc(1, sizeof *s);
    if (s) {
        s->fd = fd;
        s->path = scfm_strdup(path);
        s->in = scfm_malloc(IN_CAP);
    }
    if (!s || !s->path || !s->in || src_start(s)) {
        close(fd);
        if (s) { s->fd = -1; io_src_close(s); }
        return NULL;
    }
    return s;
}

void io_src_close(io_src *s) {
    if (!s) return;
    if (s->fd >= 0) close(s->fd);
#ifndef SCFM_HAVE_ISAL
    if (s->zs_init) inflateEnd(&s->zs);
#endif
    free(s->in);
    free(s->path);
    free(s);
}

int io_src_rewind(io_src *s) {
    if (lseek(s->fd, 0, SEEK_SET) < 0) return scfm_error(SCFM_EIO, "%s: cannot rewind: %s", s->path, strerror(errno));
    return src_start(s);
}

/* Another member follows when the unread input starts with the gzip magic; anything else
 * after a complete member (zero padding, junk) ends the data, as in zlib's gzread. */
static int next_member(io_src *s, int *more) {
    int rc;
    while (s->in_end - s->in_beg < 2 && !s->in_eof)
        if ((rc = src_fill(s))) return rc;
    *more = s->in_end - s->in_beg >= 2 && s->in[s->in_beg] == 0x1f && s->in[s->in_beg + 1] == 0x8b;
    return SCFM_OK;
}

/* The inflater behind one interface: member_begin starts a gzip member; inflate_step inflates
 * from in[in_beg..in_end) into out[0..cap), advances in_beg, sets *got and *finished (the
 * member's trailer was read and checked), and returns < 0 on corrupt data. */
#ifdef SCFM_HAVE_ISAL
static const char *isal_message(int r) {
    switch (r) {
    case ISAL_INVALID_BLOCK: return "invalid deflate block";
    case ISAL_INVALID_SYMBOL: return "invalid deflate symbol";
    case ISAL_INVALID_LOOKBACK: return "invalid deflate distance";
    case ISAL_INVALID_WRAPPER: return "invalid gzip header";
    case ISAL_UNSUPPORTED_METHOD: return "unsupported compression method";
    case ISAL_INCORRECT_CHECKSUM: return "CRC-32 or length check failed";
    default: return "corrupt compressed data";
    }
}

static int member_begin(io_src *s) {
    isal_inflate_init(&s->st);
    scfm_vector_state_clean(); /* after every ISA-L call: see src/core/cpu.c */
    s->st.crc_flag = ISAL_GZIP;
    return SCFM_OK;
}

static int inflate_step(io_src *s, unsigned char *out, size_t cap, size_t *got, int *finished) {
    s->st.next_in = s->in + s->in_beg;
    s->st.avail_in = (uint32_t)(s->in_end - s->in_beg);
    s->st.next_out = out;
    s->st.avail_out = (uint32_t)(cap > UINT32_MAX ? UINT32_MAX : cap);
    int r = isal_inflate(&s->st);
    scfm_vector_state_clean(); /* ISA-L's AVX-512 inflate leaves the upper state dirty */
    s->in_beg = s->in_end - s->st.avail_in;
    *got = (size_t)(s->st.next_out - out);
    *finished = s->st.block_state == ISAL_BLOCK_FINISH;
    if (r < 0) return scfm_error(SCFM_EFORMAT, "%s: corrupt gzip data (%s)", s->path, isal_message(r));
    return SCFM_OK;
}
#else
static int member_begin(io_src *s) {
    if (!s->zs_init) {
        memset(&s->zs, 0, sizeof s->zs);
        if (inflateInit2(&s->zs, 16 + MAX_WBITS) != Z_OK) return scfm_error(SCFM_ENOMEM, "%s: zlib init failed", s->path);
        s->zs_init = 1;
    } else if (inflateReset(&s->zs) != Z_OK) {
        return scfm_error(SCFM_EFORMAT, "%s: zlib reset failed", s->path);
    }
    return SCFM_OK;
}

static int inflate_step(io_src *s, unsigned char *out, size_t cap, size_t *got, int *finished) {
    s->zs.next_in = s->in + s->in_beg;
    s->zs.avail_in = (uInt)(s->in_end - s->in_beg);
    s->zs.next_out = out;
    s->zs.avail_out = (uInt)(cap > UINT32_MAX ? UINT32_MAX : cap);
    int r = inflate(&s->zs, Z_NO_FLUSH);
    s->in_beg = s->in_end - s->zs.avail_in;
    *got = (size_t)(s->zs.next_out - out);
    *finished = r == Z_STREAM_END;
    if (r != Z_OK && r != Z_STREAM_END && r != Z_BUF_ERROR) /* Z_BUF_ERROR: no progress, judged by the caller */
        return scfm_error(r == Z_MEM_ERROR ? SCFM_ENOMEM : SCFM_EFORMAT, "%s: corrupt gzip data (%s)", s->path,
                          s->zs.msg ? s->zs.msg : "inflate failed");
    return SCFM_OK;
}
#endif

/* Inflates into out[0..cap): *got bytes (0 only at the end of the data). */
static int inflate_some(io_src *s, unsigned char *out, size_t cap, size_t *got) {
    *got = 0;
    while (*got == 0) {
        int rc;
        if (!s->member_open) {
            int more;
            if ((rc = next_member(s, &more))) return rc;
            if (!more) { s->done = 1; return SCFM_OK; }
            if ((rc = member_begin(s))) return rc;
            s->member_open = 1;
        }
        if (s->in_beg == s->in_end && !s->in_eof && (rc = src_fill(s))) return rc;
        const size_t before = s->in_beg;
        int finished;
        if ((rc = inflate_step(s, out, cap, got, &finished))) return rc;
        if (finished) {
            s->member_open = 0;
        } else if (*got == 0 && s->in_beg == s->in_end && s->in_eof) {
            return scfm_error(SCFM_EFORMAT, "%s: truncated gzip data", s->path);
        } else if (*got == 0 && s->in_beg == before && s->in_end - s->in_beg == IN_CAP) {
            return scfm_error(SCFM_EFORMAT, "%s: corrupt gzip data (no progress)", s->path);
        }
    }
    return SCFM_OK;
}

int io_src_read(io_src *s, void *dst, size_t cap, size_t *got) {
    *got = 0;
    if (s->done || cap == 0) return SCFM_OK;
    if (s->gzip) return inflate_some(s, dst, cap, got);
    if (s->in_beg == s->in_end) {
        if (s->in_eof) { s->done = 1; return SCFM_OK; }
        /* plain file: large reads go straight into the caller's buffer */
        for (;;) {
            ssize_t r = read(s->fd, dst, cap);
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) return scfm_error(SCFM_EIO, "%s: read error: %s", s->path, strerror(errno));
            if (r == 0) s->done = s->in_eof = 1;
            *got = (size_t)r;
            return SCFM_OK;
        }
    }
    size_t n = s->in_end - s->in_beg;
    if (n > cap) n = cap;
    memcpy(dst, s->in + s->in_beg, n);
    s->in_beg += n;
    *got = n;
    return SCFM_OK;
}

int scfm_read_all(const char *path, char **data, size_t *len) {
    *data = NULL;
    *len = 0;
    io_src *s = io_src_open(path);
    if (!s) return SCFM_EIO;
    size_t cap = 1 << 16, n = 0, got;
    char *buf = scfm_malloc(cap + 1);
    int rc = buf ? SCFM_OK : SCFM_ENOMEM;
    while (!rc) {
        if (n == cap) {
            if (cap > SIZE_MAX / 4) { rc = scfm_error(SCFM_ENOMEM, "%s: too large", path); break; }
            char *nb = scfm_realloc(buf, cap * 2 + 1);
            if (!nb) { rc = SCFM_ENOMEM; break; }
            buf = nb;
            cap *= 2;
        }
        if ((rc = io_src_read(s, buf + n, cap - n, &got)) || got == 0) break;
        n += got;
    }
    io_src_close(s);
    if (rc) { free(buf); return rc; }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return SCFM_OK;
}
