/* scfm core: error codes, error messages, logging hook, checked allocation.
 *
 * Conventions used by every libscfm function:
 *  - Functions returning int return SCFM_OK (0) on success, a negative scfm_status on
 *    failure; the message is then available from scfm_last_error() (thread-local).
 *  - Constructors returning a pointer return NULL on failure, message set likewise.
 *  - The library never prints and never exits. Progress and warnings go through the
 *    log hook (scfm_set_log_fn), which the `scfm` tool points at stderr.
 *  - Every size is size_t; every multiplication that sizes an allocation is checked. */
#ifndef SCFM_CORE_H
#define SCFM_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

#define SCFM_VERSION "0.1.0"

#if defined(__GNUC__)
#define SCFM_WUR __attribute__((warn_unused_result))
#define SCFM_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define SCFM_WUR
#define SCFM_PRINTF(a, b)
#endif

typedef enum {
    SCFM_OK = 0,
    SCFM_EIO = -2,       /* open/read/write/rename failed */
    SCFM_EFORMAT = -3,   /* file is corrupt, truncated or not what it claims */
    SCFM_ENOMEM = -4,    /* allocation failed or size overflow */
    SCFM_EINVAL = -5,    /* bad argument / bad option value */
    SCFM_EMISMATCH = -6, /* shapes, vocabularies or configs disagree */
    SCFM_ENOTFOUND = -7, /* named thing (tensor, column, gene, file) does not exist */
    SCFM_EDATA = -8      /* bad values: NaN, negative or non-integer counts, ... */
} scfm_status;

/* Record an error message (printf-style) for this thread and return `code`.
 * Typical use: return scfm_error(SCFM_EFORMAT, "%s: header truncated", path); */
int scfm_error(int code, const char *fmt, ...) SCFM_PRINTF(2, 3);
/* Prefix the current message with "prefix: " (to add context while unwinding). Returns code. */
int scfm_error_prefix(int code, const char *fmt, ...) SCFM_PRINTF(2, 3);
/* Message of the last error on this thread ("" if none). */
const char *scfm_last_error(void);
void scfm_clear_error(void);
/* Short name of a status code ("format error", ...). */
const char *scfm_status_str(int code);

/* Logging hook. Levels: */
enum { SCFM_LOG_ERROR = 0, SCFM_LOG_WARN = 1, SCFM_LOG_INFO = 2, SCFM_LOG_PROGRESS = 3, SCFM_LOG_DEBUG = 4 };
typedef void (*scfm_log_fn)(int level, const char *msg, void *ud);
void scfm_set_log_fn(scfm_log_fn fn, void *ud); /* NULL = silent (the default) */
void scfm_log(int level, const char *fmt, ...) SCFM_PRINTF(2, 3);

/* Checked allocation: on failure they set an SCFM_ENOMEM error and return NULL.
 * scfm_alloc_aligned gives 64-byte aligned memory, freed with scfm_free. */
void *scfm_malloc(size_t n) SCFM_WUR;
void *scfm_calloc(size_t count, size_t size) SCFM_WUR;
void *scfm_realloc(void *p, size_t n) SCFM_WUR;
void *scfm_alloc_aligned(size_t n) SCFM_WUR;
void scfm_free(void *p);
char *scfm_strdup(const char *s) SCFM_WUR;
/* a*b with overflow check: returns 0 and stores the product, or -1 on overflow. */
int scfm_mul_size(size_t a, size_t b, size_t *out) SCFM_WUR;
int scfm_add_size(size_t a, size_t b, size_t *out) SCFM_WUR;

/* Monotonic wall clock in seconds. */
double scfm_now(void);
/* CRC-32 with zlib's crc32() semantics (gzip polynomial): start with crc = 0, feed pieces. */
uint32_t scfm_crc32(uint32_t crc, const void *data, size_t n);

/* Processor (src/core/cpu.c). scfm_cpu_has: "avx", "avx2" (with FMA), "avx512f", "avx512_bf16"
 * and "avx512_vnni" (each with AVX-512 BW and VL), "xgetbv1" (usable: the CPU has it and the OS
 * saves the registers); 0 on other architectures. The environment variable
 * SCFM_CPU_DISABLE=name,name,... (read once, at the first query) makes the named features read
 * as absent, with those built on them (avx: all the others but xgetbv1; avx512f: avx512_bf16,
 * avx512_vnni), so that the portable paths and the refusals can be tested on a processor that
 * has the features.
 * scfm_vector_state_clean: VZEROUPPER where the CPU has AVX, called after every call into a
 * library that may leave the upper vector state dirty (ISA-L). scfm_vector_state_dirty: 1 if
 * the upper halves of the YMM registers are in use (XGETBV ECX=1, bit 2), 0 if clean, -1 if
 * the processor cannot tell. scfm_cpu_model: the brand string into buf ("unknown" if none). */
int scfm_cpu_has(const char *feature);
void scfm_vector_state_clean(void);
int scfm_vector_state_dirty(void);
const char *scfm_cpu_model(char *buf, size_t cap);

/* Files. scfm_read_file reads a whole file (adds a NUL after the data). */
int scfm_read_file(const char *path, char **data, size_t *len) SCFM_WUR;
/* Atomic write: data goes to "<path>.tmp.<pid>" and is renamed over path when complete. */
int scfm_write_file_atomic(const char *path, const void *data, size_t len) SCFM_WUR;
/* Installs the complete directory tmp as dst in one rename; an existing dst (the caller
 * decides whether it may be replaced) is exchanged atomically where the file system can, then
 * removed, so dst is always the old or the new directory whole. SCFM_EIO names dst. */
int scfm_install_dir(const char *tmp, const char *dst) SCFM_WUR;
/* Removes a directory tree (symbolic links are removed, not followed); an absent one is fine.
 * 0, or -1 when something could not be removed. */
int scfm_remove_tree(const char *dir);

/* Parse helpers with full-string and range checks (no silent defaults). */
int scfm_parse_long(const char *s, long lo, long hi, long *out) SCFM_WUR;
int scfm_parse_double(const char *s, double *out) SCFM_WUR;

#endif
