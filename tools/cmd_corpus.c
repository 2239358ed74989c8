/* scfm corpus: inspect (info) and export a token corpus. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "scfm/corpus.h"

static const char *CMD = "corpus";

static void corpus_help(void) {
    printf("usage: scfm corpus info DIR\n"
           "       scfm corpus export DIR --tsv OUT.tsv [--names]\n"
           "       scfm corpus merge DIR DIR... -o OUT [--force]\n\n"
           "info    validates the corpus (sizes, offsets, CRC-32s) and prints cells, tokens, mode, vocabulary hash,\n"
           "        tokenizer settings, sources and a histogram of cell lengths\n"
           "export  writes one line per cell: cell_id, obs columns, length, token ids separated by spaces\n"
           "        (--names: gene IDs instead of ids) and, if the corpus has values, the values\n"
           "merge   concatenates corpora tokenized with the same vocabulary (same mode, values on or off in all) into\n"
           "        OUT; each cell keeps its species and obs values (columns: the union); joint corpora keep the\n"
           "        homolog map (all must share it)\n");
}

static void print_json_value(const scfm_json *v) {
    switch (v->type) {
    case SCFM_JSON_NULL: printf("null"); break;
    case SCFM_JSON_BOOL: printf("%s", v->boolean ? "true" : "false"); break;
    case SCFM_JSON_NUMBER: printf("%.10g", v->number); break;
    case SCFM_JSON_STRING: printf("%s", v->string); break;
    default:
        printf(v->type == SCFM_JSON_ARRAY ? "[" : "{");
        for (size_t i = 0; i < v->n; i++) {
            if (i) printf(", ");
            if (v->type == SCFM_JSON_OBJECT) printf("%s: ", v->keys[i]);
            print_json_value(&v->items[i]);
        }
        printf(v->type == SCFM_JSON_ARRAY ? "]" : "}");
    }
}

static void print_sources(const scfm_json *m) {
    const scfm_json *src = scfm_json_get(m, "sources");
    if (!src || src->type != SCFM_JSON_ARRAY) return;
    printf("sources (%zu):\n", src->n);
    for (size_t i = 0; i < src->n; i++) {
        const scfm_json *s = &src->items[i];
        const char *path = "?", *fmt = "?";
        size_t cin = 0, kept = 0, gin = 0, gv = 0;
        double share = NAN;
        if (scfm_json_get_string(s, "path", &path) || scfm_json_get_string(s, "format", &fmt) ||
            scfm_json_get_size(s, "n_cells_in", &cin) || scfm_json_get_size(s, "n_cells_kept", &kept) ||
            scfm_json_get_size(s, "genes_in", &gin) || scfm_json_get_size(s, "genes_in_vocab", &gv) ||
            scfm_json_get_double(s, "count_share_in_vocab", &share)) { /* partial entries print what they have */ }
        printf("  %s (%s): %zu of %zu cells kept; %zu of %zu genes in the vocabulary, %.1f%% of counts\n", path, fmt,
               kept, cin, gv, gin, 100.0 * share);
    }
}

static int cmp_size(const void *a, const void *b) {
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

static int print_lengths(const scfm_corpus *c) {
    size_t n = scfm_corpus_n_cells(c), maxl = scfm_corpus_max_len(c);
    if (n == 0) { printf("no cells\n"); return 0; }
    size_t *lens = malloc(n * sizeof *lens);
    if (!lens) return cli_errorf(CMD, "out of memory");
    double sum = 0;
    for (size_t i = 0; i < n; i++) { lens[i] = scfm_corpus_len(c, i); sum += (double)lens[i]; }
    qsort(lens, n, sizeof *lens, cmp_size);
    printf("cell length: min %zu, median %zu, mean %.1f, max %zu (max_len %zu)\n", lens[0], lens[n / 2], sum / (double)n,
           lens[n - 1], maxl);
    enum { BINS = 16 };
    size_t hist[BINS] = {0}, peak = 1;
    for (size_t i = 0; i < n; i++) {
        size_t b = lens[i] * BINS / (maxl + 1);
        hist[b < BINS ? b : BINS - 1]++;
    }
    for (int b = 0; b < BINS; b++) if (hist[b] > peak) peak = hist[b];
    for (int b = 0; b < BINS; b++) {
        size_t lo = (size_t)b * (maxl + 1) / BINS, hi = (size_t)(b + 1) * (maxl + 1) / BINS - 1;
        char bar[41];
        size_t w = hist[b] * 40 / peak;
        memset(bar, '#', w);
        bar[w] = '\0';
        printf("  %5zu-%-5zu %8zu %s\n", lo, hi, hist[b], bar);
    }
    free(lens);
    return 0;
}

static int corpus_info(const char *dir) {
    scfm_corpus *c = scfm_corpus_open(dir);
    if (!c) return cli_fail(CMD);
    const scfm_json *m = scfm_corpus_meta(c);
    const char *cmd = "", *created = "";
    if (scfm_json_get_string(m, "command", &cmd) || scfm_json_get_string(m, "created", &created)) { /* optional */ }
    printf("corpus %s: ok (%zu shards, CRC-32s verified)\n", dir, scfm_corpus_n_shards(c));
    printf("cells %zu, tokens %llu, mode %s, max_len %zu, values %s, species %s\n", scfm_corpus_n_cells(c),
           (unsigned long long)scfm_corpus_n_tokens(c), scfm_corpus_mode(c), scfm_corpus_max_len(c),
           scfm_corpus_has_values(c) ? "yes" : "no", *scfm_corpus_species(c) ? scfm_corpus_species(c) : "-");
    printf("vocabulary %016llx (%zu tokens)\ncreated %s by: %s\n", (unsigned long long)scfm_corpus_vocab_hash(c),
           scfm_corpus_vocab_size(c), created, cmd);
    printf("cells per species: human %zu, mouse %zu, unknown %zu\n", scfm_corpus_n_species_cells(c, 0),
           scfm_corpus_n_species_cells(c, 1), scfm_corpus_n_species_cells(c, -1));
    if (scfm_corpus_is_joint(c))
        printf("joint vocabulary: homolog map %s (fnv1a64 %016llx)\n", scfm_corpus_homologs_path(c),
               (unsigned long long)scfm_corpus_homologs_hash(c));
    const scfm_json *s = scfm_json_get(m, "settings");
    printf("settings:\n");
    for (size_t i = 0; s && s->type == SCFM_JSON_OBJECT && i < s->n; i++) {
        printf("  %s: ", s->keys[i]);
        print_json_value(&s->items[i]);
        printf("\n");
    }
    printf("obs columns:");
    for (size_t k = 0; k < scfm_corpus_n_obs(c); k++) printf(" %s", scfm_corpus_obs_name(c, k));
    printf("%s\n", scfm_corpus_n_obs(c) ? "" : " (none)");
    print_sources(m);
    int rc = print_lengths(c);
    if (!rc)
        cli_done("corpus info", "%s: %zu cells, %llu tokens, mode %s, obs columns %zu", dir, scfm_corpus_n_cells(c),
                 (unsigned long long)scfm_corpus_n_tokens(c), scfm_corpus_mode(c), scfm_corpus_n_obs(c));
    scfm_corpus_close(c);
    return rc;
}

static int export_cell(FILE *f, const scfm_corpus *c, const scfm_vocab *v, size_t i) {
    const int32_t *t;
    const float *val;
    size_t len;
    if (scfm_corpus_cell(c, i, &t, &len, &val)) return -1;
    fputs(scfm_corpus_cell_id(c, i), f);
    for (size_t k = 0; k < scfm_corpus_n_obs(c); k++) fprintf(f, "\t%s", scfm_corpus_obs(c, i, k));
    fprintf(f, "\t%zu\t", len);
    for (size_t k = 0; k < len; k++) {
        if (k) fputc(' ', f);
        if (v) fputs(scfm_vocab_token(v, (size_t)t[k]), f);
        else fprintf(f, "%d", t[k]);
    }
    if (val) {
        fputc('\t', f);
        for (size_t k = 0; k < len; k++) fprintf(f, k ? " %.9g" : "%.9g", (double)val[k]);
    }
    return fputc('\n', f) == EOF ? -1 : 0;
}

static int write_export(const scfm_corpus *c, const scfm_vocab *v, const char *out) {
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld", out, (long)getpid()) >= sizeof tmp)
        return cli_errorf(CMD, "%s: path too long", out);
    FILE *f = fopen(tmp, "w");
    if (!f) return cli_errorf(CMD, "%s: cannot create", tmp);
    fputs("cell_id", f);
    for (size_t k = 0; k < scfm_corpus_n_obs(c); k++) fprintf(f, "\t%s", scfm_corpus_obs_name(c, k));
    fprintf(f, "\tlength\t%s%s\n", v ? "genes" : "tokens", scfm_corpus_has_values(c) ? "\tvalues" : "");
    int bad = 0;
    for (size_t i = 0; i < scfm_corpus_n_cells(c) && !bad; i++) bad = export_cell(f, c, v, i);
    bad = (fclose(f) != 0) || bad;
    if (bad || rename(tmp, out) != 0) {
        remove(tmp);
        return cli_errorf(CMD, "%s: write failed", out);
    }
    return 0;
}

static int corpus_export(int argc, char **argv) {
    const char *dir = NULL, *out = NULL;
    int names = 0;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--tsv")) {
            if (++i >= argc) return cli_usage_error(CMD, "--tsv needs a value");
            out = argv[i];
        } else if (!strcmp(argv[i], "--names")) names = 1;
        else if (argv[i][0] == '-') return cli_usage_error(CMD, "unknown option '%s'", argv[i]);
        else if (!dir) dir = argv[i];
        else return cli_usage_error(CMD, "unexpected argument '%s'", argv[i]);
    }
    if (!dir || !out) return cli_usage_error(CMD, "export needs DIR and --tsv OUT");
    scfm_corpus *c = scfm_corpus_open(dir);
    if (!c) return cli_fail(CMD);
    scfm_vocab *v = names ? scfm_corpus_load_vocab(c) : NULL;
    int rc = names && !v ? cli_fail(CMD) : write_export(c, v, out);
    if (v) scfm_vocab_free(v);
    if (!rc) cli_done("corpus export", "%zu cells of %s -> %s", scfm_corpus_n_cells(c), dir, out);
    scfm_corpus_close(c);
    return rc;
}

static int corpus_merge(int argc, char **argv) {
    const char **dirs = calloc((size_t)argc, sizeof *dirs), *out = NULL;
    size_t n = 0;
    int force = 0, rc = dirs ? 0 : cli_errorf(CMD, "out of memory");
    for (int i = 2; !rc && i < argc; i++) {
        if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--out")) {
            if (++i >= argc) rc = cli_usage_error(CMD, "%s needs a value", argv[i - 1]);
            else out = argv[i];
        } else if (!strcmp(argv[i], "--force")) force = 1;
        else if (argv[i][0] == '-') rc = cli_usage_error(CMD, "unknown option '%s'", argv[i]);
        else dirs[n++] = argv[i];
    }
    if (!rc && (n < 1 || !out)) rc = cli_usage_error(CMD, "merge needs corpora and -o OUT");
    if (!rc && scfm_corpus_merge(dirs, n, out, force, cli_cmdline())) rc = cli_fail(CMD);
    if (!rc) cli_done("corpus merge", "%zu corpora -> %s", n, out);
    free(dirs);
    return rc;
}

int cmd_corpus(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        corpus_help();
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "info")) {
        if (argc != 3 || argv[2][0] == '-') return cli_usage_error(CMD, "usage: scfm corpus info DIR");
        return corpus_info(argv[2]);
    }
    if (!strcmp(argv[1], "export")) return corpus_export(argc, argv);
    if (!strcmp(argv[1], "merge")) return corpus_merge(argc, argv);
    return cli_usage_error(CMD, "unknown subcommand '%s' (info, export, merge)", argv[1]);
}
