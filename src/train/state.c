/* Training-state file: step, data position, RNG, AdamW moments; little-endian, CRC-32.
 * Layout in include/scfm/train.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "scfm/train.h"

#define HDR 128
#define CHUNK 16384 /* floats per I/O chunk */

uint64_t scfm_hash_bytes(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static void put_u32(unsigned char *p, uint32_t x) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(x >> (8 * i));
}
static void put_u64(unsigned char *p, uint64_t x) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(x >> (8 * i));
}
static uint32_t get_u32(const unsigned char *p) {
    uint32_t x = 0;
    for (int i = 0; i < 4; i++) x |= (uint32_t)p[i] << (8 * i);
    return x;
}
static uint64_t get_u64(const unsigned char *p) {
    uint64_t x = 0;
    for (int i = 0; i < 8; i++) x |= (uint64_t)p[i] << (8 * i);
    return x;
}

static void encode_header(unsigned char *h, const scfm_train_state *s) {
    memset(h, 0, HDR);
    memcpy(h, SCFM_STATE_MAGIC, 8);
    put_u32(h + 8, SCFM_STATE_VERSION);
    put_u32(h + 12, HDR);
    put_u64(h + 16, s->step);
    put_u64(h + 24, s->epoch);
    put_u64(h + 32, s->batch_in_epoch);
    for (int i = 0; i < 4; i++) put_u64(h + 40 + 8 * i, s->rng.s[i]);
    put_u64(h + 72, s->config_hash);
    put_u64(h + 80, (uint64_t)s->n_params);
    put_u64(h + 88, s->tokens_seen);
    put_u64(h + 96, s->cells_seen);
    put_u64(h + 104, s->data_hash);
    uint64_t e;
    memcpy(&e, &s->elapsed, 8);
    put_u64(h + 112, e);
}

/* Writes x[n] as little-endian f32, updating *crc. Returns 0 or -1 (write failed). */
static int write_floats(FILE *f, const float *x, size_t n, uLong *crc) {
    unsigned char buf[4 * CHUNK];
    for (size_t i = 0; i < n; i += CHUNK) {
        size_t k = n - i < CHUNK ? n - i : CHUNK;
        for (size_t j = 0; j < k; j++) {
            uint32_t u;
            memcpy(&u, &x[i + j], 4);
            put_u32(buf + 4 * j, u);
        }
        *crc = crc32(*crc, buf, (uInt)(4 * k));
        if (fwrite(buf, 4, k, f) != k) return -1;
    }
    return 0;
}

int scfm_train_state_save(const char *path, const scfm_train_state *s) {
    if (s->n_params && (!s->m || !s->v))
        return scfm_error(SCFM_EINVAL, "%s: training state without optimizer moments", path);
    size_t plen = strlen(path) + 32;
    char *tmp = scfm_malloc(plen);
    if (!tmp) return SCFM_ENOMEM;
    snprintf(tmp, plen, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        int rc = scfm_error(SCFM_EIO, "%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return rc;
    }
    unsigned char h[HDR], tail[4];
    encode_header(h, s);
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, h, HDR);
    int bad = fwrite(h, 1, HDR, f) != HDR || write_floats(f, s->m, s->n_params, &crc) ||
              write_floats(f, s->v, s->n_params, &crc);
    put_u32(tail, (uint32_t)crc);
    bad = bad || fwrite(tail, 1, 4, f) != 4 || fflush(f) != 0 || fsync(fileno(f)) != 0;
    bad = (fclose(f) != 0) || bad;
    if (bad || rename(tmp, path) != 0) {
        int rc = scfm_error(SCFM_EIO, "%s: write failed: %s", path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return rc;
    }
    free(tmp);
    return SCFM_OK;
}

/* Reads n little-endian floats into x, updating *crc. Returns 0 or -1 (short read). */
static int read_floats(FILE *f, float *x, size_t n, uLong *crc) {
    unsigned char buf[4 * CHUNK];
    for (size_t i = 0; i < n; i += CHUNK) {
        size_t k = n - i < CHUNK ? n - i : CHUNK;
        if (fread(buf, 4, k, f) != k) return -1;
        *crc = crc32(*crc, buf, (uInt)(4 * k));
        for (size_t j = 0; j < k; j++) {
            uint32_t u = get_u32(buf + 4 * j);
            memcpy(&x[i + j], &u, 4);
        }
    }
    return 0;
}

/* Checks magic, version, sizes and the expected parameter count and config hash. */
static int check_header(const char *path, const unsigned char *h, uint64_t fsize, const scfm_train_state *s) {
    if (memcmp(h, SCFM_STATE_MAGIC, 8) != 0)
        return scfm_error(SCFM_EFORMAT, "%s: not a training-state file (bad magic)", path);
    uint32_t ver = get_u32(h + 8), hdr = get_u32(h + 12);
    if (ver != SCFM_STATE_VERSION || hdr != HDR)
        return scfm_error(SCFM_EFORMAT, "%s: unsupported training-state version %u (header %u bytes); "
                          "this scfm reads version %d", path, ver, hdr, SCFM_STATE_VERSION);
    uint64_t np = get_u64(h + 80);
    if (np > (UINT64_MAX - HDR - 4) / 8 || fsize != HDR + 8 * np + 4)
        return scfm_error(SCFM_EFORMAT, "%s: truncated or oversized: %llu bytes for %llu parameters "
                          "(expected %llu)", path, (unsigned long long)fsize, (unsigned long long)np,
                          np > (UINT64_MAX - HDR - 4) / 8 ? 0ull : (unsigned long long)(HDR + 8 * np + 4));
    if (np != (uint64_t)s->n_params)
        return scfm_error(SCFM_EMISMATCH, "%s: state is for %llu parameters, the model has %zu", path,
                          (unsigned long long)np, s->n_params);
    uint64_t ch = get_u64(h + 72);
    if (ch != s->config_hash)
        return scfm_error(SCFM_EMISMATCH, "%s: state was written for a different model/training config "
                          "(config hash %016llx, current %016llx)", path, (unsigned long long)ch,
                          (unsigned long long)s->config_hash);
    return SCFM_OK;
}

static void decode_header(const unsigned char *h, scfm_train_state *s) {
    s->step = get_u64(h + 16);
    s->epoch = get_u64(h + 24);
    s->batch_in_epoch = get_u64(h + 32);
    for (int i = 0; i < 4; i++) s->rng.s[i] = get_u64(h + 40 + 8 * i);
    s->tokens_seen = get_u64(h + 88);
    s->cells_seen = get_u64(h + 96);
    s->data_hash = get_u64(h + 104);
    uint64_t e = get_u64(h + 112);
    memcpy(&s->elapsed, &e, 8);
}

int scfm_train_state_load(const char *path, scfm_train_state *s) {
    FILE *f = fopen(path, "rb");
    if (!f) return scfm_error(SCFM_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    memset(&st, 0, sizeof st);
    unsigned char h[HDR], tail[4];
    int rc = SCFM_OK;
    if (fstat(fileno(f), &st) != 0 || st.st_size < HDR + 4) {
        rc = scfm_error(SCFM_EFORMAT, "%s: truncated training-state file (%lld bytes)", path,
                        (long long)st.st_size);
        goto done;
    }
    if (fread(h, 1, HDR, f) != HDR) {
        rc = scfm_error(SCFM_EIO, "%s: read failed", path);
        goto done;
    }
    if ((rc = check_header(path, h, (uint64_t)st.st_size, s))) goto done;
    uLong crc = crc32(crc32(0L, Z_NULL, 0), h, HDR);
    if (read_floats(f, s->m, s->n_params, &crc) || read_floats(f, s->v, s->n_params, &crc) ||
        fread(tail, 1, 4, f) != 4) {
        rc = scfm_error(SCFM_EFORMAT, "%s: truncated training-state file", path);
        goto done;
    }
    if (get_u32(tail) != (uint32_t)crc) {
        rc = scfm_error(SCFM_EFORMAT, "%s: CRC mismatch (file corrupt): stored %08x, computed %08x", path,
                        get_u32(tail), (uint32_t)crc);
        goto done;
    }
    decode_header(h, s);
done:
    fclose(f);
    return rc;
}
