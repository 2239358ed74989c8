/* The byte source under the text readers (src/io/bytesrc.c): gzip data written here by zlib's
 * deflate (an independent encoder) must come back byte for byte through whichever inflater the
 * build uses (ISA-L or zlib), for one member, concatenated members, trailing padding, plain
 * files and after a rewind; truncated files, a flipped CRC-32 or length, and a damaged deflate
 * stream must be errors naming the file. */
#include "io/io_internal.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static char dir[] = "/tmp/scfm_test_bytesrc_XXXXXX";

/* mtx-like text: n lines "gene cell count" with a mix of repeats and randomness. */
static unsigned char *make_text(size_t n_lines, size_t *len) {
    size_t cap = n_lines * 24 + 64, k = 0;
    unsigned char *t = malloc(cap);
    uint64_t x = 88172645463325252ULL;
    k += (size_t)snprintf((char *)t, cap, "%%%%MatrixMarket matrix coordinate integer general\n");
    for (size_t i = 0; i < n_lines; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        k += (size_t)snprintf((char *)t + k, cap - k, "%u %zu %u\n", (unsigned)(x % 33000) + 1, i / 700 + 1,
                              (unsigned)((x >> 20) % 7 ? 1 + (x >> 40) % 3 : (x >> 24) % 500));
    }
    *len = k;
    return t;
}

/* gzip member of src[0..n) appended to out (zlib deflate, gzip wrapper). */
static size_t gzip_member(const unsigned char *src, size_t n, unsigned char *out, size_t cap, int level) {
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) abort();
    z.next_in = (unsigned char *)src;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) abort();
    size_t k = z.total_out;
    deflateEnd(&z);
    return k;
}

static void write_file(const char *path, const unsigned char *b, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(b, 1, n, f) != n || fclose(f)) { fprintf(stderr, "cannot write %s\n", path); exit(2); }
}

/* Reads after which the upper vector state was dirty (must stay 0: ISA-L's AVX-512 inflate
 * leaves it dirty unless bytesrc.c cleans it; see src/core/cpu.c). */
static int dirty_reads, state_reads;

/* Reads all of path through io_src with reads of at most `step` bytes; *err = status. */
static unsigned char *read_all(const char *path, size_t step, size_t *len, int *err) {
    *len = 0;
    *err = 0;
    io_src *s = io_src_open(path);
    if (!s) { *err = -1000; return NULL; }
    size_t cap = 1 << 16;
    unsigned char *b = malloc(cap);
    for (;;) {
        if (*len + step > cap) { cap = (*len + step) * 2; b = realloc(b, cap); }
        size_t got;
        int rc = io_src_read(s, b + *len, step, &got);
        int d = scfm_vector_state_dirty();
        if (d >= 0) state_reads++;
        if (d == 1) dirty_reads++;
        if (rc) { *err = rc; break; }
        if (!got) break;
        *len += got;
    }
    io_src_close(s);
    return b;
}

static void expect_same(const char *what, const char *path, const unsigned char *want, size_t n) {
    static const size_t steps[] = {1, 7, 4096, 1 << 20};
    for (size_t k = 0; k < sizeof steps / sizeof *steps; k++) {
        if (steps[k] == 1 && n > 200000) continue;
        size_t len;
        int err;
        unsigned char *got = read_all(path, steps[k], &len, &err);
        CHECK(err == 0 && len == n && (n == 0 || memcmp(got, want, n) == 0),
              "%s (reads of %zu): err %d, %zu bytes, want %zu", what, steps[k], err, len, n);
        free(got);
    }
}

static void expect_error(const char *what, const char *path, const char *word) {
    size_t len;
    int err;
    free(read_all(path, 1 << 16, &len, &err));
    const char *msg = scfm_last_error();
    CHECK(err < 0 && strstr(msg, path) && strstr(msg, word), "%s: err %d, message '%s' (want the path and '%s')",
          what, err, msg, word);
}

int main(void) {
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 2; }
    char path[256];
    size_t n;
    unsigned char *text = make_text(400000, &n); /* ~5 MB, several deflate blocks */
    size_t zcap = n + n / 10 + 1024;
    unsigned char *z = malloc(2 * zcap + 4096);
    fprintf(stderr, "inflater: %s, text %zu bytes\n", io_src_inflater(), n);

    /* one member, levels 1 (fast, many blocks) and 9 */
    snprintf(path, sizeof path, "%s/one.gz", dir);
    size_t zn = gzip_member(text, n, z, zcap, 1);
    write_file(path, z, zn);
    expect_same("one member, level 1", path, text, n);
    size_t zn9 = gzip_member(text, n, z, zcap, 9);
    write_file(path, z, zn9);
    expect_same("one member, level 9", path, text, n);

    /* rewind gives the same bytes again */
    io_src *s = io_src_open(path);
    unsigned char *buf = malloc(n);
    size_t got = 0, g;
    CHECK(s && io_src_read(s, buf, 1000, &g) == 0 && g > 0, "read before rewind");
    CHECK(s && io_src_rewind(s) == 0, "rewind");
    while (s && got < n && io_src_read(s, buf + got, n - got, &g) == 0 && g) got += g;
    CHECK(got == n && memcmp(buf, text, n) == 0, "after rewind: %zu of %zu bytes equal", got, n);
    io_src_close(s);

    /* two members: the first half and the second half, then zero padding (ignored) */
    size_t half = n / 2;
    size_t a = gzip_member(text, half, z, zcap, 6);
    size_t b = gzip_member(text + half, n - half, z + a, zcap, 6);
    snprintf(path, sizeof path, "%s/two.gz", dir);
    write_file(path, z, a + b);
    expect_same("two members", path, text, n);
    memset(z + a + b, 0, 512);
    write_file(path, z, a + b + 512);
    expect_same("two members + zero padding", path, text, n);

    /* an empty member and an empty plain file */
    snprintf(path, sizeof path, "%s/empty.gz", dir);
    write_file(path, z, gzip_member(text, 0, z, zcap, 6));
    expect_same("empty member", path, text, 0);
    snprintf(path, sizeof path, "%s/empty.txt", dir);
    write_file(path, text, 0);
    expect_same("empty plain file", path, text, 0);

    /* plain text */
    snprintf(path, sizeof path, "%s/plain.txt", dir);
    write_file(path, text, n);
    expect_same("plain file", path, text, n);

    /* truncations: inside the header, the data, the trailer; and the second member cut */
    zn = gzip_member(text, n, z, zcap, 6);
    const size_t cuts[] = {5, zn / 3, zn - 5, zn - 1};
    snprintf(path, sizeof path, "%s/cut.gz", dir);
    for (size_t k = 0; k < sizeof cuts / sizeof *cuts; k++) {
        write_file(path, z, cuts[k]);
        char what[64];
        snprintf(what, sizeof what, "cut at %zu of %zu", cuts[k], zn);
        expect_error(what, path, "truncated");
    }
    a = gzip_member(text, half, z, zcap, 6);
    b = gzip_member(text + half, n - half, z + a, zcap, 6);
    write_file(path, z, a + b / 2);
    expect_error("second member cut", path, "truncated");

    /* damaged: CRC-32, length, deflate data */
    snprintf(path, sizeof path, "%s/bad.gz", dir);
    zn = gzip_member(text, n, z, zcap, 6);
    z[zn - 8] ^= 0x01;
    write_file(path, z, zn);
    expect_error("CRC-32 flipped", path, "corrupt");
    z[zn - 8] ^= 0x01;
    z[zn - 2] ^= 0x01;
    write_file(path, z, zn);
    expect_error("length flipped", path, "corrupt");
    z[zn - 2] ^= 0x01;
    for (size_t k = 0; k < 64; k++) z[20 + k] ^= 0xA5;
    write_file(path, z, zn);
    expect_error("deflate data damaged", path, "corrupt");

    /* 300 single-bit flips at random places: each read either fails with a message naming the
     * file or (a flip in a header field such as the time stamp) gives the original bytes */
    zn = gzip_member(text, n / 8, z, zcap, 6);
    uint64_t x = 12345;
    size_t wrong = 0, failed = 0;
    for (int t = 0; t < 300; t++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        size_t at = (size_t)(x % zn);
        unsigned char bit = (unsigned char)(1u << ((x >> 32) % 8));
        z[at] ^= bit;
        write_file(path, z, zn);
        z[at] ^= bit;
        size_t len;
        int err;
        unsigned char *got = read_all(path, 1 << 16, &len, &err);
        if (err) failed += strstr(scfm_last_error(), path) != NULL;
        else wrong += len != n / 8 || memcmp(got, text, n / 8) != 0;
        free(got);
    }
    CHECK(wrong == 0, "bit flips: %zu reads gave wrong bytes without an error", wrong);
    CHECK(failed > 250, "bit flips: only %zu of 300 failed with a message naming the file", failed);

    /* a missing file */
    snprintf(path, sizeof path, "%s/missing.gz", dir);
    CHECK(io_src_open(path) == NULL && strstr(scfm_last_error(), path), "missing file: '%s'", scfm_last_error());

    free(buf);
    free(z);
    free(text);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) {}
    if (scfm_vector_state_dirty() < 0)
        printf("vector state after reads: skipped (no XGETBV with ECX=1 on this CPU)\n");
    else
        CHECK(dirty_reads == 0 && state_reads > 0, "upper vector state dirty after %d of %d reads", dirty_reads, state_reads);
    return TEST_END();
}
