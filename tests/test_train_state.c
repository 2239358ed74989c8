/* Training-state file: exact round trip; corrupt, truncated, foreign and mismatched files
 * rejected with a clear message; atomic write leaves no temporary file. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scfm/train.h"
#include "testutil.h"

#define NP 40000

static char dir[64], path[128];

static int flip_byte(const char *p, long off) {
    FILE *f = fopen(p, "r+b");
    if (!f) return -1;
    int c = 0;
    if (fseek(f, off, SEEK_SET) || (c = fgetc(f)) == EOF || fseek(f, off, SEEK_SET) || fputc(c ^ 0x10, f) == EOF) {
        fclose(f);
        return -1;
    }
    return fclose(f);
}

static size_t count_files(void) {
    DIR *d = opendir(dir);
    size_t n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += e->d_name[0] != '.';
    if (d) closedir(d);
    return n;
}

static int load_into(const char *p, scfm_train_state *t, float *m, float *v, size_t np, uint64_t ch) {
    memset(t, 0, sizeof *t);
    t->n_params = np;
    t->m = m;
    t->v = v;
    t->config_hash = ch;
    return scfm_train_state_load(p, t);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/scfm-state-XXXXXX");
    if (!mkdtemp(dir)) return 1;
    snprintf(path, sizeof path, "%s/state.bin", dir);
    float *m = malloc(NP * sizeof *m), *v = malloc(NP * sizeof *v);
    float *m2 = malloc(NP * sizeof *m), *v2 = malloc(NP * sizeof *v);
    if (!m || !v || !m2 || !v2) return 1;
    scfm_rng r;
    scfm_rng_seed(&r, 3);
    for (size_t i = 0; i < NP; i++) { m[i] = scfm_rng_normal(&r); v[i] = scfm_rng_uniform(&r) * 1e-6f; }
    m[7] = -0.0f;
    scfm_train_state s = {.step = 12345, .epoch = 2, .batch_in_epoch = 77, .config_hash = 0xabcdef0123456789ull,
                          .data_hash = 99, .tokens_seen = 1ull << 40, .cells_seen = 4242, .elapsed = 12.5,
                          .n_params = NP, .m = m, .v = v};
    scfm_rng_seed(&s.rng, 11);
    CHECK(scfm_train_state_save(path, &s) == SCFM_OK, "save: %s", scfm_last_error());
    CHECK(count_files() == 1, "temporary file left behind");

    scfm_train_state t;
    CHECK(load_into(path, &t, m2, v2, NP, s.config_hash) == SCFM_OK, "load: %s", scfm_last_error());
    CHECK(t.step == s.step && t.epoch == s.epoch && t.batch_in_epoch == s.batch_in_epoch &&
              t.tokens_seen == s.tokens_seen && t.cells_seen == s.cells_seen && t.data_hash == 99 &&
              t.elapsed == 12.5 && memcmp(&t.rng, &s.rng, sizeof s.rng) == 0, "scalars round trip");
    CHECK(memcmp(m, m2, NP * sizeof *m) == 0 && memcmp(v, v2, NP * sizeof *v) == 0, "moments bit-exact");

    /* mismatches: parameter count, config hash */
    CHECK(load_into(path, &t, m2, v2, NP - 1, s.config_hash) == SCFM_EMISMATCH, "n_params mismatch");
    CHECK(strstr(scfm_last_error(), "parameters") && strstr(scfm_last_error(), path), "msg: %s", scfm_last_error());
    CHECK(load_into(path, &t, m2, v2, NP, 1) == SCFM_EMISMATCH, "config mismatch");
    CHECK(strstr(scfm_last_error(), "config"), "msg: %s", scfm_last_error());
    CHECK(t.step == 0, "scalars untouched on error");

    /* corrupt byte in the moments, then in the header */
    CHECK(flip_byte(path, 128 + 4 * 1000) == 0, "flip");
    CHECK(load_into(path, &t, m2, v2, NP, s.config_hash) == SCFM_EFORMAT, "corrupt moments accepted");
    CHECK(strstr(scfm_last_error(), "CRC"), "msg: %s", scfm_last_error());
    CHECK(flip_byte(path, 128 + 4 * 1000) == 0 && flip_byte(path, 20) == 0, "flip");
    CHECK(load_into(path, &t, m2, v2, NP, s.config_hash) == SCFM_EFORMAT, "corrupt step accepted");
    CHECK(flip_byte(path, 20) == 0 && flip_byte(path, 0) == 0, "flip");
    CHECK(load_into(path, &t, m2, v2, NP, s.config_hash) == SCFM_EFORMAT, "bad magic accepted");
    CHECK(strstr(scfm_last_error(), "magic"), "msg: %s", scfm_last_error());
    CHECK(flip_byte(path, 0) == 0 && flip_byte(path, 8) == 0, "flip");
    CHECK(load_into(path, &t, m2, v2, NP, s.config_hash) == SCFM_EFORMAT, "future version accepted");
    CHECK(strstr(scfm_last_error(), "version"), "msg: %s", scfm_last_error());
    CHECK(flip_byte(path, 8) == 0, "flip");
    CHECK(load_into(path, &t, m2, v2, NP, s.config_hash) == SCFM_OK, "restored file loads");

    /* truncated (as a kill mid-write would leave it, were it not for the rename) */
    CHECK(truncate(path, 128 + 4 * NP) == 0, "truncate");
    CHECK(load_into(path, &t, m2, v2, NP, s.config_hash) == SCFM_EFORMAT, "truncated accepted");
    CHECK(strstr(scfm_last_error(), "truncated"), "msg: %s", scfm_last_error());
    CHECK(truncate(path, 10) == 0, "truncate");
    CHECK(load_into(path, &t, m2, v2, NP, s.config_hash) == SCFM_EFORMAT, "10-byte file accepted");
    CHECK(load_into("/nonexistent/state.bin", &t, m2, v2, NP, s.config_hash) == SCFM_EIO, "missing file");
    CHECK(scfm_train_state_save("/nonexistent/dir/state.bin", &s) == SCFM_EIO, "unwritable path");

    /* zero parameters is a valid (tiny) file */
    scfm_train_state z = {.step = 1, .config_hash = 5};
    CHECK(scfm_train_state_save(path, &z) == 0 && load_into(path, &t, NULL, NULL, 0, 5) == 0 && t.step == 1,
          "empty state");
    CHECK(scfm_hash_bytes(SCFM_HASH_INIT, "a", 1) == 0xaf63dc4c8601ec8cull, "FNV-1a of 'a'");
    unlink(path);
    rmdir(dir);
    free(m); free(v); free(m2); free(v2);
    return TEST_END();
}
