/* scfm perturb aggregate: merge the raw shift tables (--shifts) of several perturb runs, for
 * example of one job run in pieces with --cell-range, and recompute the statistics as one run
 * over all their cells would (Geneformer's aggregate_data). docs/perturb.md. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "perturb_tables.h"

static const char *CMD = "perturb aggregate";
static const char *RAW_HEAD = "gene\ttoken_id\tcell\tcell_id\tnull\tshift\tcos";

static void aggregate_help(void) {
    printf("usage: scfm perturb aggregate RUN_DIR_OR_SHIFTS.tsv... -o OUT.tsv [--mixture FILE.tsv] [--mixture-reg X]\n\n"
           "Merges the raw shift tables that 'scfm perturb --shifts FILE.tsv' writes (every shift at full\n"
           "precision) and recomputes the per-gene statistics (mean and sd of the shifts, Mann-Whitney\n"
           "against the null run or all shifts, Benjamini-Hochberg FDR) exactly as one run over all their\n"
           "cells: run a big job in pieces with --cell-range A:B, then aggregate the pieces.\n"
           "  RUN_DIR              a folder: every .tsv file in it that is a shift table (sorted by name)\n"
           "  SHIFTS.tsv           a shift table\n"
           "  -o OUT.tsv           the per-gene table (columns as scfm perturb -o)\n"
           "  --mixture FILE.tsv   also the two-component mixture model (as scfm perturb --mixture)\n"
           "  --mixture-reg X      its variance regularization (default 1e-6)\n"
           "The tables must come from runs with the same states (--goal, --alt columns) and hold\n"
           "disjoint cells; a cell in two tables (overlapping ranges) is an error.\n");
}

typedef struct {
    int32_t token; /* -1: the set or the null run */
    int null;
    size_t cell, file;
} raw_row; /* its values: vals[i * (1 + n_extra) ..]: the shift, then cos and the alt shifts */

typedef struct {
    char *head;             /* the first table's header line */
    const char *head_file;
    size_t n_extra, n_alt;
    char *goal, *alt[SCFM_PERTURB_MAX_ALT];
    raw_row *rows;
    size_t n, cap;
    double *vals;           /* [cap * n_extra] */
    char **id, **name, **symbol; /* per token id seen, [cap_tok]; and the set's at set_* */
    size_t cap_tok;
    char *set_id, *set_name, *set_symbol;
    long max_token;
} raw_set;

static void raw_free(raw_set *s) {
    for (size_t t = 0; t < s->cap_tok; t++) {
        free(s->id[t]);
        free(s->name[t]);
        free(s->symbol[t]);
    }
    free(s->id);
    free(s->name);
    free(s->symbol);
    free(s->set_id);
    free(s->set_name);
    free(s->set_symbol);
    free(s->head);
    free(s->goal);
    for (size_t k = 0; k < s->n_alt; k++) free(s->alt[k]);
    free(s->rows);
    free(s->vals);
}

/* The header: gene token_id cell cell_id null shift cos, shift_to_ALT per --alt, name symbol,
 * then shift_to_GOAL in goal runs (pt_write_shifts). */
static int parse_head(raw_set *s, const char *path, char *line) {
    size_t hl = strlen(RAW_HEAD);
    if (strncmp(line, RAW_HEAD, hl) || (line[hl] && line[hl] != '\t'))
        return cli_errorf(CMD, "%s: not a shift table of scfm perturb --shifts (its header does not begin '%s')",
                          path, "gene token_id cell cell_id null shift cos");
    if (s->head) {
        if (strcmp(s->head, line))
            return cli_errorf(CMD, "%s: its columns differ from those of %s (runs with other --goal / --alt states?)",
                              path, s->head_file);
        return 0;
    }
    if (!(s->head = scfm_strdup(line))) return cli_errorf(CMD, "out of memory");
    s->head_file = path;
    char *save = NULL;
    int stage = 0; /* 0: alt columns, 1: after name, 2: after symbol, 3: after the goal column */
    for (char *f = strtok_r(line + hl, "\t", &save); f; f = strtok_r(NULL, "\t", &save)) {
        if (stage == 0 && !strcmp(f, "name")) { stage = 1; continue; }
        if (stage == 1 && !strcmp(f, "symbol")) { stage = 2; continue; }
        if ((stage == 0 || stage == 2) && !strncmp(f, "shift_to_", 9) && f[9]) {
            char *v = scfm_strdup(f + 9);
            if (!v) return cli_errorf(CMD, "out of memory");
            if (stage == 2) { s->goal = v; stage = 3; continue; }
            if (s->n_alt < SCFM_PERTURB_MAX_ALT) { s->alt[s->n_alt++] = v; continue; }
            free(v);
        }
        return cli_errorf(CMD, "%s: unexpected column '%s' in the header", path, f);
    }
    if (stage < 2) return cli_errorf(CMD, "%s: no columns 'name' and 'symbol' (a table of an older scfm perturb?)", path);
    s->n_extra = 1 + s->n_alt;
    return 0;
}

static int keep_str(char **slot, const char *v) {
    if (*slot) return 0;
    return (*slot = scfm_strdup(v)) ? 0 : -1;
}

static int add_row(raw_set *s, const char *path, size_t lineno, char **f, size_t nf, size_t file) {
    size_t want = 6 + s->n_extra + 2 + (s->goal ? 1 : 0), fn = 6 + s->n_extra, fs = fn + 1;
    if (nf != want) return cli_errorf(CMD, "%s: line %zu: %zu fields, expected %zu", path, lineno, nf, want);
    long tok, nul;
    unsigned long long cell;
    char *e;
    tok = strtol(f[1], &e, 10);
    if (*e || e == f[1] || tok < -1 || tok >= INT32_MAX) return cli_errorf(CMD, "%s: line %zu: bad token_id '%s'", path, lineno, f[1]);
    cell = strtoull(f[2], &e, 10);
    if (*e || e == f[2] || f[2][0] == '-') return cli_errorf(CMD, "%s: line %zu: bad cell '%s'", path, lineno, f[2]);
    nul = strtol(f[4], &e, 10);
    if (*e || e == f[4] || (nul != 0 && nul != 1)) return cli_errorf(CMD, "%s: line %zu: null is '%s', not 0 or 1", path, lineno, f[4]);
    if (nul && tok != -1) return cli_errorf(CMD, "%s: line %zu: a null-run row with token_id %ld", path, lineno, tok);
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 4096;
        raw_row *r = realloc(s->rows, cap * sizeof *r);
        if (r) s->rows = r;
        double *v = r ? realloc(s->vals, cap * (1 + s->n_extra) * sizeof *v) : NULL;
        if (v) s->vals = v;
        if (!r || !v) return cli_errorf(CMD, "out of memory");
        s->cap = cap;
    }
    double *val = s->vals + s->n * (1 + s->n_extra); /* shift, cos, alt shifts: columns 5 .. 5 + n_extra */
    for (size_t j = 0; j <= s->n_extra; j++)
        if (scfm_parse_double(f[5 + j], &val[j]))
            return cli_errorf(CMD, "%s: line %zu: bad number '%s'", path, lineno, f[5 + j]);
    s->rows[s->n++] = (raw_row){(int32_t)tok, (int)nul, (size_t)cell, file};
    int bad = 0;
    if (tok >= 0) {
        if ((size_t)tok >= s->cap_tok) {
            size_t cap = s->cap_tok ? s->cap_tok : 1024;
            while (cap <= (size_t)tok) cap *= 2;
            char **a = realloc(s->id, cap * sizeof *a), **b = a ? realloc(s->name, cap * sizeof *b) : NULL;
            if (a) s->id = a;
            if (b) s->name = b;
            char **c = b ? realloc(s->symbol, cap * sizeof *c) : NULL;
            if (c) s->symbol = c;
            if (!c) return cli_errorf(CMD, "out of memory");
            for (size_t t = s->cap_tok; t < cap; t++) s->id[t] = s->name[t] = s->symbol[t] = NULL;
            s->cap_tok = cap;
        }
        if (s->id[tok] && strcmp(s->id[tok], f[0]))
            return cli_errorf(CMD, "%s: line %zu: token %ld is '%s' here but '%s' in an earlier table (another "
                              "vocabulary?)", path, lineno, tok, f[0], s->id[tok]);
        bad = keep_str(&s->id[tok], f[0]) || keep_str(&s->name[tok], f[fn]) || keep_str(&s->symbol[tok], f[fs]);
        if (tok > s->max_token) s->max_token = tok;
    } else if (!nul) {
        if (s->set_id && strcmp(s->set_id, f[0]))
            return cli_errorf(CMD, "%s: line %zu: gene set '%s', but '%s' in an earlier row", path, lineno, f[0],
                              s->set_id);
        bad = keep_str(&s->set_id, f[0]) || keep_str(&s->set_name, f[fn]) || keep_str(&s->set_symbol, f[fs]);
    }
    return bad ? cli_errorf(CMD, "out of memory") : 0;
}

static int read_table(raw_set *s, const char *path, size_t file) {
    FILE *fp = fopen(path, "r");
    if (!fp) return cli_errorf(CMD, "%s: cannot open: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t len;
    int rc = 0;
    char *f[8 + 2 + SCFM_PERTURB_MAX_ALT + 1];
    while (!rc && (len = getline(&line, &cap, fp)) >= 0) {
        lineno++;
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (lineno == 1) { rc = parse_head(s, path, line); continue; }
        if (!len) continue;
        size_t nf = 0;
        for (char *p = line;;) {
            if (nf == sizeof f / sizeof *f) { nf++; break; }
            f[nf++] = p;
            char *t = strchr(p, '\t');
            if (!t) break;
            *t = 0;
            p = t + 1;
        }
        rc = add_row(s, path, lineno, f, nf, file);
    }
    if (!rc && ferror(fp)) rc = cli_errorf(CMD, "%s: read error", path);
    if (!rc && lineno == 0) rc = cli_errorf(CMD, "%s: empty file", path);
    free(line);
    fclose(fp);
    return rc;
}

static int is_raw_table(const char *path) {
    FILE *fp = fopen(path, "r");
    char buf[128];
    int ok = fp && fgets(buf, sizeof buf, fp) && !strncmp(buf, RAW_HEAD, strlen(RAW_HEAD));
    if (fp) fclose(fp);
    return ok;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The tables a RUN_DIR holds: its .tsv files whose header is a shift table's, sorted. */
static int list_dir(const char *dir, char ***paths, size_t *n, size_t *cap) {
    DIR *d = opendir(dir);
    if (!d) return cli_errorf(CMD, "%s: cannot open: %s", dir, strerror(errno));
    size_t n0 = *n;
    struct dirent *de;
    int rc = 0;
    while (!rc && (de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l < 5 || strcmp(de->d_name + l - 4, ".tsv")) continue;
        char *p = malloc(strlen(dir) + l + 2);
        if (!p) { rc = cli_errorf(CMD, "out of memory"); break; }
        sprintf(p, "%s/%s", dir, de->d_name);
        if (!is_raw_table(p)) { free(p); continue; }
        if (*n == *cap) {
            size_t c = *cap ? 2 * *cap : 16;
            char **q = realloc(*paths, c * sizeof *q);
            if (!q) { free(p); rc = cli_errorf(CMD, "out of memory"); break; }
            *paths = q;
            *cap = c;
        }
        (*paths)[(*n)++] = p;
    }
    closedir(d);
    if (!rc && *n == n0) rc = cli_errorf(CMD, "%s: no shift table (a .tsv written by scfm perturb --shifts) in it", dir);
    if (!rc) qsort(*paths + n0, *n - n0, sizeof **paths, cmp_str);
    return rc;
}

static int cmp_cell_file(const void *a, const void *b) {
    const size_t *x = a, *y = b;
    if (x[0] != y[0]) return x[0] < y[0] ? -1 : 1;
    return (x[1] > y[1]) - (x[1] < y[1]);
}

/* Every cell in one table only (pieces of one job hold disjoint cells); counts the cells. */
static int check_disjoint(const raw_set *s, char **paths, size_t *n_cells) {
    size_t *cf = malloc((s->n ? s->n : 1) * 2 * sizeof *cf);
    if (!cf) return cli_errorf(CMD, "out of memory");
    for (size_t i = 0; i < s->n; i++) {
        cf[2 * i] = s->rows[i].cell;
        cf[2 * i + 1] = s->rows[i].file;
    }
    qsort(cf, s->n, 2 * sizeof *cf, cmp_cell_file);
    int rc = 0;
    *n_cells = 0;
    for (size_t i = 0; i < s->n && !rc; i++) {
        if (i && cf[2 * i] == cf[2 * i - 2]) {
            if (cf[2 * i + 1] != cf[2 * i - 1])
                rc = cli_errorf(CMD, "cell %zu is in both %s and %s: the runs overlap (cell ranges must be disjoint)",
                                cf[2 * i], paths[cf[2 * i - 1]], paths[cf[2 * i + 1]]);
            continue;
        }
        (*n_cells)++;
    }
    free(cf);
    return rc;
}

int cmd_perturb_aggregate(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        aggregate_help();
        return argc < 2 ? 2 : 0;
    }
    const char *out = NULL, *mixture = NULL;
    double reg = 1e-6;
    char **paths = NULL;
    size_t np = 0, cap = 0, n_args = 0;
    const char **args = calloc((size_t)argc, sizeof *args);
    int rc = args ? 0 : cli_errorf(CMD, "out of memory");
    for (int i = 1; i < argc && !rc; i++) { /* options first: a bad value is a usage error whatever the inputs */
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (o[0] != '-' || !o[1]) { args[n_args++] = o; continue; }
        if (!v) { rc = cli_usage_error(CMD, "%s needs a value", o); break; }
        i++;
        if (!strcmp(o, "-o") || !strcmp(o, "--out")) out = v;
        else if (!strcmp(o, "--mixture")) mixture = v;
        else if (!strcmp(o, "--mixture-reg")) rc = cli_double(CMD, o, v, 0, 1e6, &reg);
        else rc = cli_usage_error(CMD, "unknown option %s", o);
    }
    const char *files[] = {out, mixture}, *opts[] = {"-o", "--mixture"};
    for (int k = 0; !rc && k < 2; k++) {
        size_t l = files[k] ? strlen(files[k]) : 0;
        if (files[k] && !(l >= 4 && (!strcmp(files[k] + l - 4, ".tsv") || !strcmp(files[k] + l - 4, ".txt"))))
            rc = cli_usage_error(CMD, "%s %s: perturbation tables are tab-separated: name the file .tsv", opts[k], files[k]);
    }
    if (!rc && !n_args) rc = cli_usage_error(CMD, "no run folder or shift table given");
    if (!rc && !out) rc = cli_usage_error(CMD, "-o OUT.tsv is required");
    for (size_t k = 0; !rc && k < n_args; k++) { /* a folder stands for its shift tables */
        struct stat sb;
        if (stat(args[k], &sb)) rc = cli_errorf(CMD, "%s: %s", args[k], strerror(errno));
        else if (S_ISDIR(sb.st_mode)) rc = list_dir(args[k], &paths, &np, &cap);
        else {
            if (np == cap) {
                size_t c = cap ? 2 * cap : 16;
                char **q = realloc(paths, c * sizeof *q);
                if (!q) { rc = cli_errorf(CMD, "out of memory"); break; }
                paths = q;
                cap = c;
            }
            if (!(paths[np] = scfm_strdup(args[k]))) rc = cli_errorf(CMD, "out of memory");
            else np++;
        }
    }
    free(args);
    raw_set s;
    memset(&s, 0, sizeof s);
    s.max_token = -1;
    for (size_t k = 0; !rc && k < np; k++) rc = read_table(&s, paths[k], k);
    size_t n_cells = 0;
    if (!rc && !s.n) rc = cli_errorf(CMD, "the tables hold no shift");
    if (!rc) rc = check_disjoint(&s, paths, &n_cells);
    /* the rows into one result, slots as scfm perturb's: token ids, then the set, the null run */
    size_t V = (size_t)(s.max_token + 1) > 0 ? (size_t)(s.max_token + 1) : 1;
    scfm_perturb_result r;
    memset(&r, 0, sizeof r);
    if (!rc && scfm_perturb_result_init(&r, V, s.n_extra)) rc = cli_fail(CMD);
    for (size_t i = 0; !rc && i < s.n; i++) {
        const raw_row *w = &s.rows[i];
        size_t slot = w->null ? SCFM_PERTURB_SLOT_NULL(V) : w->token < 0 ? SCFM_PERTURB_SLOT_SET(V) : (size_t)w->token;
        const double *val = s.vals + i * (1 + s.n_extra);
        if (scfm_perturb_result_add(&r, slot, val[0], val + 1, w->cell)) rc = cli_fail(CMD);
        if (w->null) r.n_null++;
        else r.n_perturbations++;
    }
    r.n_cells = n_cells;
    scfm_perturb_stat *st = NULL;
    size_t nstat = 0;
    if (!rc && scfm_perturb_stats(&r, &st, &nstat)) rc = cli_fail(CMD);
    pt_names nm;
    memset(&nm, 0, sizeof nm);
    nm.V = V;
    nm.id = calloc(V + 2, sizeof *nm.id);
    nm.name = calloc(V + 2, sizeof *nm.name);
    nm.symbol = calloc(V + 2, sizeof *nm.symbol);
    if (!rc && (!nm.id || !nm.name || !nm.symbol)) rc = cli_errorf(CMD, "out of memory");
    for (size_t t = 0; !rc && t < V && t < s.cap_tok; t++) {
        nm.id[t] = s.id[t];
        nm.name[t] = s.name[t];
        nm.symbol[t] = s.symbol[t];
    }
    if (!rc) {
        nm.id[SCFM_PERTURB_SLOT_SET(V)] = s.set_id;
        nm.name[SCFM_PERTURB_SLOT_SET(V)] = s.set_name;
        nm.symbol[SCFM_PERTURB_SLOT_SET(V)] = s.set_symbol;
        nm.goal = s.goal;
        for (size_t k = 0; k < s.n_alt; k++) nm.alt[k] = s.alt[k];
        nm.n_alt = s.n_alt;
    }
    if (!rc && mixture) rc = pt_write_mixture(CMD, mixture, st, nstat, &nm, reg);
    if (!rc) rc = pt_write_stats(CMD, out, st, nstat, &nm);
    if (!rc) {
        fprintf(stderr, "scfm perturb aggregate: %zu shift tables, %zu cells, %zu shifts\n", np, n_cells, s.n);
        pt_print_summary(CMD, &r, st, nstat, out);
    }
    free(nm.id);
    free(nm.name);
    free(nm.symbol);
    free(st);
    scfm_perturb_result_free(&r);
    raw_free(&s);
    for (size_t k = 0; k < np; k++) free(paths[k]);
    free(paths);
    return rc;
}
