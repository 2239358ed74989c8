/* Replays fuzz inputs through a target without libFuzzer (the normal build links this with
 * each tests/fuzz/fuzz_<name>.c into build/fuzz/replay_<name>). Arguments: files or
 * directories (every regular file in them, sorted). Outside AddressSanitizer the address
 * space is limited (SCFM_FUZZ_AS_MIB, default 3072 MiB) so that an input costing far more
 * memory than its size fails here as an abort, as it would under libFuzzer's -rss_limit_mb.
 * Prints one line per input and the count; exit 0 when every input ran to completion. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "scfm/core.h"
#include "scfm/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#if defined(__SANITIZE_ADDRESS__)
#define FZ_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FZ_ASAN 1
#endif
#endif

static int run_file(const char *path) {
    FILE *f = fopen(path, "rb"); /* the bytes as they are (scfm_read_all would inflate gzip) */
    if (!f) { fprintf(stderr, "replay: %s: cannot open\n", path); return 1; }
    size_t len = 0, cap = 1 << 16;
    char *data = malloc(cap);
    for (size_t got; data && (got = fread(data + len, 1, cap - len, f)) > 0;) {
        len += got;
        if (len == cap) {
            char *nd = realloc(data, cap *= 2);
            if (!nd) free(data);
            data = nd;
        }
    }
    fclose(f);
    if (!data) { fprintf(stderr, "replay: %s: out of memory\n", path); return 1; }
    double t0 = scfm_now();
    LLVMFuzzerTestOneInput((const uint8_t *)data, len);
    fprintf(stderr, "replay: %s (%zu bytes): %.3f s\n", path, len, scfm_now() - t0);
    free(data);
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int run_dir(const char *dir, size_t *n) {
    DIR *d = opendir(dir);
    if (!d) { fprintf(stderr, "replay: %s: cannot open\n", dir); return 1; }
    char **names = NULL;
    size_t k = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (k == cap) {
            cap = cap ? 2 * cap : 64;
            char **nn = realloc(names, cap * sizeof *names);
            if (!nn) abort();
            names = nn;
        }
        size_t l = strlen(dir) + strlen(e->d_name) + 2;
        if (!(names[k] = malloc(l))) abort();
        snprintf(names[k++], l, "%s/%s", dir, e->d_name);
    }
    closedir(d);
    qsort(names, k, sizeof *names, cmp_str);
    int bad = 0;
    for (size_t i = 0; i < k; i++) {
        struct stat st;
        if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) { bad |= run_file(names[i]); (*n)++; }
        free(names[i]);
    }
    free(names);
    return bad;
}

int main(int argc, char **argv) {
#ifndef FZ_ASAN
    const char *lim = getenv("SCFM_FUZZ_AS_MIB");
    long mib = lim && *lim ? atol(lim) : 3072;
    if (mib > 0) {
        struct rlimit rl = {(rlim_t)mib << 20, (rlim_t)mib << 20};
        setrlimit(RLIMIT_AS, &rl);
    }
#endif
    size_t n = 0;
    int bad = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) { fprintf(stderr, "replay: %s: missing\n", argv[i]); bad = 1; continue; }
        if (S_ISDIR(st.st_mode)) bad |= run_dir(argv[i], &n);
        else { bad |= run_file(argv[i]); n++; }
    }
    printf("replayed %zu inputs\n", n);
    return bad;
}
