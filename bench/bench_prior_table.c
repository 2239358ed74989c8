/* Loads one prior-knowledge table (scfm_prior_table_load) and prints the best wall time of
 * --repeat runs, the report and the peak RSS. Driven by bench/bench_prior_table.sh.
 * Usage: bench_prior_table --vocab VOCAB --table FILE [--names MAP] [--width D] [--repeat N] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "scfm/genes.h"
#include "scfm/prior_table.h"

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + 1e-6 * (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

int main(int argc, char **argv) {
    const char *vocab = NULL, *table = NULL, *names = NULL;
    size_t width = 0;
    int repeat = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--vocab")) vocab = argv[i + 1];
        else if (!strcmp(argv[i], "--table")) table = argv[i + 1];
        else if (!strcmp(argv[i], "--names")) names = argv[i + 1];
        else if (!strcmp(argv[i], "--width")) width = (size_t)atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--repeat")) repeat = atoi(argv[i + 1]);
        else { fprintf(stderr, "unknown option %s\n", argv[i]); return 2; }
    }
    if (!vocab || !table) { fprintf(stderr, "usage: %s --vocab V --table T [--names M] [--width D] [--repeat N]\n", argv[0]); return 2; }
    scfm_vocab *v = scfm_vocab_load(vocab);
    scfm_gene_map *m = names ? scfm_gene_map_new() : NULL;
    if (!v || (m && scfm_gene_map_add_file(m, names))) { fprintf(stderr, "%s\n", scfm_last_error()); return 1; }
    double best = 1e30, best_cpu = 1e30;
    scfm_prior_report r = {0};
    size_t d = 0;
    for (int k = 0; k < repeat; k++) {
        scfm_prior_opts o = {width, 1, m};
        float *out = NULL;
        double t0 = scfm_now(), c0 = cpu_seconds();
        if (scfm_prior_table_load(table, v, &o, &out, &d, &r)) { fprintf(stderr, "%s\n", scfm_last_error()); return 1; }
        double t = scfm_now() - t0, c = cpu_seconds() - c0;
        if (t < best) best = t;
        if (c < best_cpu) best_cpu = c;
        free(out);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("RESULT table=%s V=%zu D=%zu rows=%zu matched=%zu random=%zu unknown=%zu seconds=%.3f cpu_seconds=%.3f peak_rss_mb=%.0f\n",
           table, scfm_vocab_size(v), d, r.file_rows, r.matched, r.random_rows, r.unknown_keys, best, best_cpu,
           ru.ru_maxrss / 1024.0);
    scfm_vocab_free(v);
    scfm_gene_map_free(m);
    return 0;
}
