/* libhdf5 in a child process: the h5ad, loom and 10x h5 backends run in a forked reader
 * process with limits on address space and CPU time, and talk to the parent over a
 * socketpair. A malformed file that makes libhdf5 crash, ask for gigabytes or loop then ends
 * the child, and the parent reports it as an error naming the file; scfm itself never runs
 * libhdf5's decoders. The parent keeps the generic part of the reader (value checks,
 * duplicates, obs attachment: reader.c); the child only answers "rows [first, first+n)" and
 * "obs column i" with the backend's raw output.
 *
 * Limits (docs/robustness.md): address space = what the process already maps + 4 GiB +
 * 16 x the file's size (SCFM_HDF5_MEMORY_MIB overrides the 4 GiB + 16 x part); CPU time =
 * 60 s + 1 s per 10 MB of file (SCFM_HDF5_CPU_S overrides the 60 s); and a wall-clock
 * limit of 10 x the CPU limit per request. SCFM_HDF5_INPROCESS=1 turns the guard off (for
 * debugging libhdf5 itself). Protocol: requests are one byte ('R' rows, 'O' obs, 'Q' quit)
 * plus u64 arguments; every reply starts with an i32 status (and the error text when it is
 * not SCFM_OK). */
#include "io_internal.h"

#ifdef SCFM_HAVE_HDF5
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    pid_t pid;
    int fd;
    char *file;
    double wall_limit; /* seconds per request */
    unsigned cpu_limit;
    size_t mem_limit;
} guard_state;

/* ---- transport ------------------------------------------------------------------------------ */
static int put(int fd, const void *p, size_t n) {
    const char *b = p;
    while (n) {
        ssize_t k = send(fd, b, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        b += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Reads n bytes; wall < 0: no limit. Returns 0, -1 (closed / error), -2 (timed out). */
static int get(int fd, void *p, size_t n, double wall) {
    char *b = p;
    double t0 = scfm_now();
    while (n) {
        if (wall >= 0) {
            double left = wall - (scfm_now() - t0);
            if (left <= 0) return -2;
            struct pollfd pf = {fd, POLLIN, 0};
            int r = poll(&pf, 1, left > 1e6 ? 1000000000 : (int)(left * 1000) + 1);
            if (r < 0 && errno == EINTR) continue;
            if (r == 0) return -2;
            if (r < 0) return -1;
        }
        ssize_t k = recv(fd, b, n, 0);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        b += k;
        n -= (size_t)k;
    }
    return 0;
}

static int put_u64(int fd, uint64_t v) { return put(fd, &v, sizeof v); }

static int put_status(int fd, int rc) {
    int32_t s = rc;
    if (put(fd, &s, sizeof s)) return -1;
    if (rc == SCFM_OK) return 0;
    const char *m = scfm_last_error();
    uint32_t n = (uint32_t)strlen(m);
    return put(fd, &n, sizeof n) || put(fd, m, n) ? -1 : 0;
}

static int put_strlist(int fd, const io_strlist *l) {
    size_t bytes = 0;
    for (size_t i = 0; i < l->n; i++) bytes += strlen(l->v[i]) + 1;
    if (put_u64(fd, l->n) || put_u64(fd, bytes)) return -1;
    for (size_t i = 0; i < l->n; i++)
        if (put(fd, l->v[i], strlen(l->v[i]) + 1)) return -1;
    return 0;
}

/* ---- child ---------------------------------------------------------------------------------- */
#if !defined(__SANITIZE_ADDRESS__)
static size_t mapped_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (f) {
        if (fscanf(f, "%lu", &pages) != 1) pages = 0;
        fclose(f);
    }
    return (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
}
#endif

static void child_main(int fd, const scfm_reader_opts *o, io_open_fn open_fn, const guard_state *g) {
    struct rlimit rl;
    rl.rlim_cur = rl.rlim_max = 0;
    setrlimit(RLIMIT_CORE, &rl);
#if !defined(__SANITIZE_ADDRESS__)
    /* (ASan reserves terabytes of shadow memory: no address-space limit under it) */
    rl.rlim_cur = rl.rlim_max = mapped_bytes() + g->mem_limit;
    setrlimit(RLIMIT_AS, &rl);
#endif
    rl.rlim_cur = g->cpu_limit;
    rl.rlim_max = g->cpu_limit + 1;
    setrlimit(RLIMIT_CPU, &rl);
    scfm_reader cr;
    memset(&cr, 0, sizeof cr);
    int rc = (cr.path = scfm_strdup(o->path)) ? open_fn(&cr, o) : SCFM_ENOMEM;
    if (put_status(fd, rc)) _exit(1);
    if (!rc && (put_u64(fd, cr.n_cells) || put_u64(fd, cr.n_genes) || put_strlist(fd, &cr.genes) ||
                put_strlist(fd, &cr.cells) || put_strlist(fd, &cr.obs_names)))
        _exit(1);
    scfm_cells_chunk ch;
    memset(&ch, 0, sizeof ch);
    for (;;) {
        char op;
        if (rc || get(fd, &op, 1, -1) || op == 'Q') break;
        uint64_t a = 0, b = 0;
        if (op == 'R') {
            if (get(fd, &a, 8, -1) || get(fd, &b, 8, -1)) break;
            int r = b > cr.n_cells || a > cr.n_cells - b ? scfm_error(SCFM_EINVAL, "rows out of range")
                                                          : io_chunk_reserve(&ch, (size_t)b, 0);
            if (!r) {
                ch.indptr[0] = 0;
                r = cr.be->read(&cr, (size_t)a, (size_t)b, &ch);
            }
            if (put_status(fd, r)) break;
            if (r) continue;
            size_t nnz = ch.indptr[b];
            if (put(fd, ch.indptr, (size_t)(b + 1) * sizeof *ch.indptr) || put(fd, ch.indices, nnz * sizeof *ch.indices) ||
                put(fd, ch.data, nnz * sizeof *ch.data))
                break;
        } else if (op == 'O') {
            if (get(fd, &a, 8, -1)) break;
            io_strlist out;
            memset(&out, 0, sizeof out);
            int r = a < cr.obs_names.n ? cr.be->load_obs(&cr, (size_t)a, &out) : scfm_error(SCFM_EINVAL, "no such column");
            if (put_status(fd, r) || (!r && put_strlist(fd, &out))) { io_strlist_free(&out); break; }
            io_strlist_free(&out);
        } else {
            break;
        }
    }
    _exit(0); /* no cleanup: the parent owns stdio buffers and the process is going away */
}

/* ---- parent --------------------------------------------------------------------------------- */
/* Why the child went away (called when the socket closed or timed out). */
static int child_lost(guard_state *g, int timed_out, const char *doing) {
    int status = 0;
    if (timed_out) kill(g->pid, SIGKILL);
    pid_t w = waitpid(g->pid, &status, 0);
    g->pid = -1;
    if (timed_out)
        return scfm_error(SCFM_EFORMAT, "%s: libhdf5 made no progress for %.0f s while %s (corrupt file?): reader "
                          "process stopped", g->file, g->wall_limit, doing);
    if (w > 0 && WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        if (sig == SIGXCPU || sig == SIGKILL)
            return scfm_error(SCFM_EFORMAT, "%s: libhdf5 used more than %u s of CPU while %s (corrupt file? limit: "
                              "60 s + 1 s per 10 MB; SCFM_HDF5_CPU_S raises the 60)", g->file, g->cpu_limit, doing);
        return scfm_error(SCFM_EFORMAT, "%s: libhdf5 crashed (signal %d, %s) while %s: the file is corrupt or "
                          "malformed", g->file, sig, strsignal(sig), doing);
    }
    return scfm_error(SCFM_EFORMAT, "%s: the HDF5 reader process failed (exit status %d) while %s: corrupt or "
                      "malformed file, or it needed more than %zu MiB (SCFM_HDF5_MEMORY_MIB raises it)", g->file,
                      w > 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1, doing, g->mem_limit >> 20);
}

/* A reply that breaks the protocol (cannot come from a healthy reader process). */
static int bad_reply(guard_state *g, const char *doing) {
    if (g->pid > 0) {
        kill(g->pid, SIGKILL);
        waitpid(g->pid, NULL, 0);
        g->pid = -1;
    }
    return scfm_error(SCFM_EFORMAT, "%s: the HDF5 reader process sent a malformed reply while %s", g->file, doing);
}

static int get_or_lost(guard_state *g, void *p, size_t n, const char *doing) {
    if (g->pid <= 0) return scfm_error(SCFM_EFORMAT, "%s: the HDF5 reader process is gone", g->file);
    int r = get(g->fd, p, n, g->wall_limit);
    return r ? child_lost(g, r == -2, doing) : SCFM_OK;
}

static int get_status(guard_state *g, const char *doing) {
    int32_t s;
    int rc = get_or_lost(g, &s, sizeof s, doing);
    if (rc || s == SCFM_OK) return rc;
    uint32_t n;
    if ((rc = get_or_lost(g, &n, sizeof n, doing))) return rc;
    if (n > 65536) return bad_reply(g, doing);
    char *m = scfm_malloc((size_t)n + 1);
    if (!m) return SCFM_ENOMEM;
    if ((rc = get_or_lost(g, m, n, doing))) { free(m); return rc; }
    m[n] = 0;
    rc = scfm_error(s < 0 ? s : SCFM_EFORMAT, "%s", m);
    free(m);
    return rc;
}

/* A string list sent by the child; `expect` (or SIZE_MAX) bounds its count. */
static int get_strlist(guard_state *g, io_strlist *l, size_t expect, const char *doing) {
    memset(l, 0, sizeof *l);
    uint64_t n, bytes;
    int rc = get_or_lost(g, &n, 8, doing);
    if (!rc) rc = get_or_lost(g, &bytes, 8, doing);
    if (rc) return rc;
    if ((expect != SIZE_MAX && n != expect) || bytes < n || bytes > ((uint64_t)1 << 40))
        return bad_reply(g, doing);
    char *buf = scfm_malloc((size_t)bytes ? (size_t)bytes : 1);
    if (!buf) return SCFM_ENOMEM;
    rc = get_or_lost(g, buf, (size_t)bytes, doing);
    size_t at = 0;
    for (uint64_t i = 0; !rc && i < n; i++) {
        const char *s = buf + at;
        size_t len = strnlen(s, (size_t)bytes - at);
        if (at + len >= bytes) { rc = bad_reply(g, doing); break; }
        rc = io_strlist_push(l, s, len);
        at += len + 1;
    }
    free(buf);
    if (!rc) rc = io_strlist_finish(l);
    if (rc) io_strlist_free(l);
    return rc;
}

static int guard_read(scfm_reader *r, size_t first, size_t n, scfm_cells_chunk *ch) {
    guard_state *g = r->st;
    char req[17];
    uint64_t a = first, b = n;
    req[0] = 'R';
    memcpy(req + 1, &a, 8);
    memcpy(req + 9, &b, 8);
    if (g->pid <= 0 || put(g->fd, req, sizeof req)) return child_lost(g, 0, "reading the matrix");
    int rc = get_status(g, "reading the matrix");
    if (rc) return rc;
    if ((rc = io_chunk_reserve(ch, n, 0))) return rc;
    if ((rc = get_or_lost(g, ch->indptr, (n + 1) * sizeof *ch->indptr, "reading the matrix"))) return rc;
    size_t nnz = ch->indptr[n];
    for (size_t i = 0; i < n; i++)
        if (ch->indptr[i] > ch->indptr[i + 1]) return bad_reply(g, "reading the matrix");
    if (ch->indptr[0] != 0 || nnz > ((size_t)1 << 40)) return bad_reply(g, "reading the matrix");
    if ((rc = io_chunk_reserve(ch, n, nnz))) return rc;
    if ((rc = get_or_lost(g, ch->indices, nnz * sizeof *ch->indices, "reading the matrix"))) return rc;
    return get_or_lost(g, ch->data, nnz * sizeof *ch->data, "reading the matrix");
}

static int guard_load_obs(scfm_reader *r, size_t i, io_strlist *out) {
    guard_state *g = r->st;
    char req[9];
    uint64_t a = i;
    req[0] = 'O';
    memcpy(req + 1, &a, 8);
    if (g->pid <= 0 || put(g->fd, req, sizeof req)) return child_lost(g, 0, "reading an obs column");
    int rc = get_status(g, "reading an obs column");
    return rc ? rc : get_strlist(g, out, r->n_cells, "reading an obs column");
}

static void guard_close(void *p) {
    guard_state *g = p;
    if (!g) return;
    if (g->pid > 0) {
        char q = 'Q';
        (void)put(g->fd, &q, 1);
        int status;
        for (int k = 0; k < 200 && waitpid(g->pid, &status, WNOHANG) == 0; k++) {
            struct timespec ts = {0, 5000000};
            nanosleep(&ts, NULL);
            if (k == 199) { kill(g->pid, SIGKILL); waitpid(g->pid, &status, 0); }
        }
    }
    if (g->fd >= 0) close(g->fd);
    free(g->file);
    free(g);
}

static const io_backend guard_backend = {guard_read, guard_load_obs, guard_close};

int io_open_hdf5_guarded(scfm_reader *r, const scfm_reader_opts *o, io_open_fn open_fn) {
    const char *inproc = getenv("SCFM_HDF5_INPROCESS");
    if (inproc && !strcmp(inproc, "1")) return open_fn(r, o);
    guard_state *g = scfm_calloc(1, sizeof *g);
    if (!g) return SCFM_ENOMEM;
    g->pid = -1;
    g->fd = -1;
    r->st = g;
    r->be = &guard_backend;
    if (!(g->file = scfm_strdup(o->path))) return SCFM_ENOMEM;
    struct stat st;
    size_t size = stat(o->path, &st) == 0 && st.st_size > 0 ? (size_t)st.st_size : 0;
    const char *e = getenv("SCFM_HDF5_CPU_S");
    long base = e && *e ? atol(e) : 60;
    g->cpu_limit = (unsigned)((base > 0 ? base : 60) + (long)(size / 10000000));
    g->wall_limit = 10.0 * g->cpu_limit;
    e = getenv("SCFM_HDF5_MEMORY_MIB");
    g->mem_limit = e && *e && atol(e) > 0 ? (size_t)atol(e) << 20 : ((size_t)4 << 30) + 16 * size;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return scfm_error(SCFM_EIO, "%s: cannot create a socket for the HDF5 reader: %s", o->path, strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(sv[0]);
        close(sv[1]);
        return scfm_error(SCFM_EIO, "%s: cannot start the HDF5 reader process: %s", o->path, strerror(errno));
    }
    if (pid == 0) {
        close(sv[0]);
        child_main(sv[1], o, open_fn, g);
    }
    close(sv[1]);
    g->pid = pid;
    g->fd = sv[0];
    int rc = get_status(g, "opening the file");
    if (rc) return rc;
    uint64_t nc, ng;
    if ((rc = get_or_lost(g, &nc, 8, "opening the file")) || (rc = get_or_lost(g, &ng, 8, "opening the file")))
        return rc;
    r->n_cells = (size_t)nc;
    r->n_genes = (size_t)ng;
    if ((rc = get_strlist(g, &r->genes, r->n_genes, "opening the file"))) return rc;
    if ((rc = get_strlist(g, &r->cells, SIZE_MAX, "opening the file"))) return rc;
    return get_strlist(g, &r->obs_names, SIZE_MAX, "opening the file");
}
#endif
