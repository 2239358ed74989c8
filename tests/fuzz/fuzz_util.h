/* Shared by the fuzz targets (tests/fuzz/fuzz_*.c). Each target defines
 * LLVMFuzzerTestOneInput; it is linked either with libFuzzer (`make fuzz`, clang) or with
 * replay.c (the normal build: build/fuzz/replay_<name> replays files, used by the test suite).
 * Inputs that a reader takes by path are written to a per-process scratch directory. The
 * library's errors are expected: a target only checks that nothing crashes, leaks or hangs. */
#ifndef SCFM_FUZZ_UTIL_H
#define SCFM_FUZZ_UTIL_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scfm/core.h"
#include "scfm/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Scratch directory (created once) and a file name in it. */
static inline const char *fz_dir(void) {
    static char dir[512];
    if (!dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/scfm-fuzz.%ld", t && *t ? t : "/tmp", (long)getpid());
        char cmd[600];
        snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
        if (system(cmd) != 0) abort();
    }
    return dir;
}

static inline const char *fz_path(const char *name) {
    static char p[8][700];
    static int k;
    k = (k + 1) % 8;
    snprintf(p[k], sizeof p[k], "%s/%s", fz_dir(), name);
    return p[k];
}

/* Writes data to the scratch file `name`; returns its path. */
static inline const char *fz_write(const char *name, const void *data, size_t size) {
    const char *path = fz_path(name);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    if (fclose(f)) abort();
    return path;
}

/* Opens a count matrix and reads every chunk and every obs column. */
static inline void fz_read_matrix(const char *path, const char *format, int genes_in_rows) {
    scfm_reader_opts o;
    memset(&o, 0, sizeof o);
    o.path = path;
    o.format = format;
    o.csv_genes_in_rows = genes_in_rows;
    o.chunk_cells = 7;
    scfm_reader *r = scfm_reader_open(&o);
    if (!r) return;
    size_t n_obs = scfm_reader_n_obs_available(r);
    const char *names[8];
    size_t k = 0;
    for (size_t i = 0; i < n_obs && k < 8; i++) names[k++] = scfm_reader_obs_available(r, i);
    int rc = k ? scfm_reader_select_obs(r, names, k) : SCFM_OK;
    scfm_cells_chunk ch;
    memset(&ch, 0, sizeof ch);
    while (!rc && (rc = scfm_reader_next(r, &ch)) == 1) {}
    scfm_cells_chunk_free(&ch);
    scfm_reader_close(r);
}
#endif
