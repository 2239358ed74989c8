/* scfm vocab: build a vocabulary and gene medians from count matrices (per-gene median
 * digests of counts / n_counts * 10000 over non-zero cells), or merge saved digests. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "scfm/genes.h"
#include "scfm/io.h"

static const char *CMD = "vocab";

static void vocab_help(void) {
    printf(
        "usage: scfm vocab build INPUT... -o DIR [options]\n"
        "       scfm vocab merge DIGEST... -o DIR [options]\n\n"
        "build  streams the cells of every input and keeps, per gene, a mergeable digest of the non-zero values\n"
        "       counts / n_counts * 10000 (n_counts: obs n_counts if present, else the cell's total; cells with\n"
        "       obs filter_pass != 1 skipped; duplicate gene IDs summed)\n"
        "merge  merges digests saved by 'build --digest-out' (e.g. one per dataset)\n"
        "Both write DIR/vocab.tsv (<pad> 0, <mask> 1, [<cls> 2, <eos> 3 with --v2], then the genes in sorted-ID\n"
        "order) and DIR/medians.tsv (ID<TAB>median).\n\n"
        "  -o, --out DIR            output directory (refused if it exists, unless --force)\n"
        "  --gene-names FILE        symbol -> Ensembl ID table (repeatable); identifiers that are Ensembl IDs pass\n"
        "  --gene-column COL        (build) gene column of the inputs; --matrix M, --format F as in tokenize\n"
        "  --biotypes LIST          keep genes of these biotypes (e.g. protein_coding,miRNA); needs --gene-table\n"
        "  --gene-table CSV         gene table with gene_id, gene_name, biotype columns\n"
        "  --min-cells N            keep genes expressed in at least N cells (default 1)\n"
        "  --v2                     add <cls> and <eos> (ids 2, 3)\n"
        "  --symbols                (build) keep identifiers that are not Ensembl IDs (gene symbols) as tokens,\n"
        "                           upper-cased; scfm tokenize then finds them in the vocabulary as they are\n"
        "  --digest-out FILE        (build) also save the per-gene digests for a later merge\n"
        "  --force                  replace an existing vocabulary directory\n");
}

typedef struct {
    const char **inputs, **names;
    size_t n_inputs, n_names;
    const char *out, *biotypes, *gene_table, *gene_column, *matrix, *format, *digest_out;
    long min_cells;
    int v2, force;
} vocab_args;

/* ---- string -> index hash table ---------------------------------------------------------- */
typedef struct { char **keys; size_t *vals, cap, n; char **order; } strmap;

static uint64_t str_hash(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static int strmap_grow(strmap *m) {
    size_t nc = m->cap ? m->cap * 2 : 1024;
    char **nk = calloc(nc, sizeof *nk);
    size_t *nv = calloc(nc, sizeof *nv);
    char **no = realloc(m->order, nc * sizeof *no);
    if (!nk || !nv || !no) { free(nk); free(nv); if (no) m->order = no; return -1; }
    m->order = no;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i]) continue;
        size_t j = str_hash(m->keys[i]) & (nc - 1);
        while (nk[j]) j = (j + 1) & (nc - 1);
        nk[j] = m->keys[i];
        nv[j] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = nk;
    m->vals = nv;
    m->cap = nc;
    return 0;
}

/* Index of key, inserting it (with the next index) if new; (size_t)-1 on out of memory. */
static size_t strmap_put(strmap *m, const char *key) {
    if ((m->n + 1) * 2 > m->cap && strmap_grow(m)) return (size_t)-1;
    size_t j = str_hash(key) & (m->cap - 1);
    while (m->keys[j]) {
        if (!strcmp(m->keys[j], key)) return m->vals[j];
        j = (j + 1) & (m->cap - 1);
    }
    if (!(m->keys[j] = strdup(key))) return (size_t)-1;
    m->order[m->n] = m->keys[j];
    m->vals[j] = m->n;
    return m->n++;
}

static void strmap_free(strmap *m) {
    for (size_t i = 0; i < m->cap; i++) free(m->keys[i]);
    free(m->keys);
    free(m->vals);
    free(m->order);
}

/* ---- building ------------------------------------------------------------------------------ */
/* --symbols: identifiers that are neither Ensembl IDs nor mapped by --gene-names are kept as
 * they are (normalized), for data that has gene symbols only. */
static int keep_symbols;

/* Normalized Ensembl ID of a file's gene identifier, or NULL when it maps to none. */
static const char *gene_to_id(const char *raw, const scfm_gene_map *names, char *buf, size_t cap) {
    snprintf(buf, cap, "%s", raw);
    scfm_gene_normalize(buf);
    if (scfm_is_ensembl_id(buf)) return buf;
    const char *id = names ? scfm_gene_map_lookup(names, buf) : NULL;
    return id ? id : keep_symbols && *buf ? buf : NULL;
}

/* Per-file map from gene index to global index (-1: no ID). */
static int map_file_genes(const char *path, scfm_reader *r, const scfm_gene_map *names, strmap *ids, long **out) {
    size_t n = scfm_reader_n_genes(r);
    const char *const *genes = scfm_reader_genes(r);
    long *map = malloc((n ? n : 1) * sizeof *map);
    if (!map) return cli_errorf(CMD, "out of memory");
    size_t found = 0;
    for (size_t g = 0; g < n; g++) {
        char buf[256];
        const char *id = gene_to_id(genes[g], names, buf, sizeof buf);
        map[g] = -1;
        if (!id) continue;
        size_t k = strmap_put(ids, id);
        if (k == (size_t)-1) { free(map); return cli_errorf(CMD, "out of memory"); }
        map[g] = (long)k;
        found++;
    }
    fprintf(stderr, "vocab: %s (%s): %zu cells, %zu genes, %zu with %s%s\n", path, scfm_reader_format(r),
            scfm_reader_n_cells(r), n, found, keep_symbols ? "an identifier (--symbols)" : "an Ensembl ID",
            found * 2 < n && !keep_symbols ? " (symbols need --gene-names or --symbols)" : "");
    *out = map;
    return 0;
}

static scfm_reader *open_input(const vocab_args *a, const char *path) {
    scfm_reader_opts ro = {path, a->format, a->matrix, a->gene_column, 0, 1024, NULL, 0};
    return scfm_reader_open(&ro);
}

typedef struct { double *acc; size_t *touched; unsigned *stamp; unsigned cur; } cell_acc;

static int digest_cell(scfm_digests *d, cell_acc *ca, const long *map, const scfm_cells_chunk *ch, size_t i,
                       double n_counts) {
    if (++ca->cur == 0) return cli_errorf(CMD, "too many cells");
    size_t m = 0;
    for (size_t k = ch->indptr[i]; k < ch->indptr[i + 1]; k++) {
        long g = map[ch->indices[k]];
        if (g < 0 || ch->data[k] == 0) continue;
        if (ca->stamp[g] != ca->cur) { ca->stamp[g] = ca->cur; ca->acc[g] = 0; ca->touched[m++] = (size_t)g; }
        ca->acc[g] += ch->data[k];
    }
    for (size_t k = 0; k < m; k++) {
        double v = ca->acc[ca->touched[k]] / n_counts * 10000.0;
        if (v > 0 && scfm_digests_add(d, ca->touched[k], v)) return cli_fail(CMD);
    }
    return 0;
}

static long obs_col(scfm_reader *r, const char *name) {
    for (size_t a = 0; a < scfm_reader_n_obs_available(r); a++)
        if (!strcmp(scfm_reader_obs_available(r, a), name)) return (long)a;
    return -1;
}

static int digest_file(const vocab_args *a, const char *path, const long *map, scfm_digests *d, cell_acc *ca) {
    scfm_reader *r = open_input(a, path);
    if (!r) return cli_fail(CMD);
    const char *sel[2];
    size_t ns = 0;
    long cn = obs_col(r, "n_counts") >= 0 ? (long)ns++ : -1;
    if (cn >= 0) sel[cn] = "n_counts";
    long cf = obs_col(r, "filter_pass") >= 0 ? (long)ns++ : -1;
    if (cf >= 0) sel[cf] = "filter_pass";
    int rc = scfm_reader_select_obs(r, sel, ns) ? cli_fail(CMD) : 0;
    scfm_cells_chunk ch;
    memset(&ch, 0, sizeof ch);
    int got;
    while (!rc && (got = scfm_reader_next(r, &ch)) == 1) {
        for (size_t i = 0; !rc && i < ch.n_cells; i++) {
            double n = 0, fp = 1;
            if (cf >= 0 && (scfm_parse_double(ch.obs[i * ch.n_obs + (size_t)cf], &fp) || fp != 1.0)) continue;
            if (cn >= 0 && scfm_parse_double(ch.obs[i * ch.n_obs + (size_t)cn], &n))
                rc = cli_errorf(CMD, "%s: cell %zu: obs n_counts is not a number", path, ch.first_cell + i);
            if (cn < 0)
                for (size_t k = ch.indptr[i]; k < ch.indptr[i + 1]; k++) n += ch.data[k];
            if (!rc && n > 0) rc = digest_cell(d, ca, map, &ch, i, n);
        }
    }
    if (!rc && got < 0) rc = cli_fail(CMD);
    scfm_cells_chunk_free(&ch);
    scfm_reader_close(r);
    return rc;
}

/* ---- output ------------------------------------------------------------------------------- */
static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int biotype_ok(const vocab_args *a, const scfm_gene_map *table, const char *id) {
    if (!a->biotypes) return 1;
    const char *bt = scfm_gene_map_biotype(table, id);
    if (!bt) return 0;
    size_t n = strlen(bt);
    for (const char *p = a->biotypes; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && !strncmp(p, bt, n)) return 1;
        p += len + (e ? 1 : 0);
    }
    return 0;
}

typedef struct { char *s; size_t len, cap; } textbuf;

static int tb_printf(textbuf *b, const char *fmt, ...) SCFM_PRINTF(2, 3);
static int tb_printf(textbuf *b, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) return -1;
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 1 << 16;
        while (nc < b->len + (size_t)n + 1) nc *= 2;
        char *ns = realloc(b->s, nc);
        if (!ns) return -1;
        b->s = ns;
        b->cap = nc;
    }
    memcpy(b->s + b->len, tmp, (size_t)n + 1);
    b->len += (size_t)n;
    return 0;
}

static void fmt_double(char *buf, size_t cap, double v) {
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) return;
    }
}

static int write_dir(const vocab_args *a, const textbuf *vocab, const textbuf *med) {
    char tmp[4096], p[4200];
    struct stat st;
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", a->out, (long)getpid());
    if (mkdir(tmp, 0777) != 0) return cli_errorf(CMD, "%s: cannot create directory", tmp);
    snprintf(p, sizeof p, "%s/vocab.tsv", tmp);
    int rc = scfm_write_file_atomic(p, vocab->s, vocab->len);
    snprintf(p, sizeof p, "%s/medians.tsv", tmp);
    if (!rc) rc = scfm_write_file_atomic(p, med->s, med->len);
    if (!rc && stat(a->out, &st) == 0) {
        char old[4200];
        snprintf(old, sizeof old, "%s/vocab.tsv", a->out);
        if (!a->force || stat(old, &st) != 0) rc = scfm_error(SCFM_EIO, "%s: exists%s", a->out,
                                                            a->force ? " and is not a vocabulary directory" : " (use --force)");
        snprintf(p, sizeof p, "%s/medians.tsv", a->out);
        if (!rc) { remove(old); remove(p); if (rmdir(a->out) != 0) rc = scfm_error(SCFM_EIO, "%s: cannot replace", a->out); }
    }
    if (!rc && rename(tmp, a->out) != 0) rc = scfm_error(SCFM_EIO, "%s: cannot rename %s", a->out, tmp);
    if (rc) {
        snprintf(p, sizeof p, "%s/vocab.tsv", tmp); remove(p);
        snprintf(p, sizeof p, "%s/medians.tsv", tmp); remove(p);
        rmdir(tmp);
        return cli_fail(CMD);
    }
    return 0;
}

/* Selects genes (min cells, biotype, finite median), writes vocab.tsv and medians.tsv. */
static int write_vocab(const vocab_args *a, const scfm_digests *d, char **ids, size_t n_ids) {
    scfm_gene_map *table = NULL;
    if (a->gene_table && (!(table = scfm_gene_map_new()) || scfm_gene_map_add_file(table, a->gene_table)))
        { if (table) scfm_gene_map_free(table); return cli_fail(CMD); }
    size_t n = 0, n_cells = 0, n_bio = 0;
    char **sorted = malloc((n_ids ? n_ids : 1) * sizeof *sorted);
    textbuf vb = {0}, mb = {0};
    int rc = sorted ? 0 : cli_errorf(CMD, "out of memory");
    for (size_t g = 0; !rc && g < n_ids; g++) {
        if (scfm_digests_count(d, g) < (uint64_t)a->min_cells || !isfinite(scfm_digests_median(d, g))) { n_cells++; continue; }
        if (!biotype_ok(a, table, ids[g])) { n_bio++; continue; }
        sorted[n++] = ids[g];
    }
    if (!rc) qsort(sorted, n, sizeof *sorted, cmp_str);
    if (!rc && n == 0) rc = cli_errorf(CMD, "no gene passed the filters (min cells %ld, biotypes %s)", a->min_cells,
                                       a->biotypes ? a->biotypes : "any");
    if (!rc) rc = tb_printf(&vb, "<pad>\t0\n<mask>\t1\n%s", a->v2 ? "<cls>\t2\n<eos>\t3\n" : "");
    strmap idx = {0};
    for (size_t g = 0; !rc && g < n_ids; g++) if (strmap_put(&idx, ids[g]) == (size_t)-1) rc = -1;
    for (size_t k = 0; !rc && k < n; k++) {
        char num[40];
        fmt_double(num, sizeof num, scfm_digests_median(d, strmap_put(&idx, sorted[k])));
        rc = tb_printf(&vb, "%s\t%zu\n", sorted[k], k + (a->v2 ? 4 : 2)) || tb_printf(&mb, "%s\t%s\n", sorted[k], num);
    }
    if (rc < 0) rc = cli_errorf(CMD, "out of memory");
    if (!rc) fprintf(stderr, "vocab: %zu genes kept (%zu below --min-cells %ld, %zu other biotypes)\n", n, n_cells,
                     a->min_cells, n_bio);
    if (!rc) rc = write_dir(a, &vb, &mb);
    strmap_free(&idx);
    free(sorted); free(vb.s); free(mb.s);
    if (table) scfm_gene_map_free(table);
    return rc;
}

/* ---- commands ------------------------------------------------------------------------------ */
static int load_names(const vocab_args *a, scfm_gene_map **names) {
    *names = NULL;
    if (!a->n_names) return 0;
    if (!(*names = scfm_gene_map_new())) return cli_fail(CMD);
    for (size_t i = 0; i < a->n_names; i++)
        if (scfm_gene_map_add_file(*names, a->names[i])) return cli_fail(CMD);
    return 0;
}

static int vocab_build(const vocab_args *a) {
    scfm_gene_map *names = NULL;
    strmap ids = {0};
    long **maps = calloc(a->n_inputs, sizeof *maps);
    scfm_digests *d = NULL;
    cell_acc ca = {0};
    int rc = maps ? load_names(a, &names) : cli_errorf(CMD, "out of memory");
    for (size_t i = 0; !rc && i < a->n_inputs; i++) { /* pass 1: the union of gene IDs */
        scfm_reader *r = open_input(a, a->inputs[i]);
        rc = r ? map_file_genes(a->inputs[i], r, names, &ids, &maps[i]) : cli_fail(CMD);
        scfm_reader_close(r);
    }
    if (!rc && ids.n == 0) rc = cli_errorf(CMD, "no gene identifier maps to an Ensembl ID (symbols need --gene-names)");
    if (!rc && !(d = scfm_digests_new(ids.n))) rc = cli_fail(CMD);
    if (!rc) {
        ca.acc = calloc(ids.n, sizeof *ca.acc);
        ca.touched = calloc(ids.n, sizeof *ca.touched);
        ca.stamp = calloc(ids.n, sizeof *ca.stamp);
        if (!ca.acc || !ca.touched || !ca.stamp) rc = cli_errorf(CMD, "out of memory");
    }
    for (size_t i = 0; !rc && i < a->n_inputs; i++) rc = digest_file(a, a->inputs[i], maps[i], d, &ca);
    if (!rc && a->digest_out && scfm_digests_save(d, (const char *const *)ids.order, a->digest_out)) rc = cli_fail(CMD);
    if (!rc) rc = write_vocab(a, d, ids.order, ids.n);
    for (size_t i = 0; maps && i < a->n_inputs; i++) free(maps[i]);
    free(maps);
    free(ca.acc); free(ca.touched); free(ca.stamp);
    if (d) scfm_digests_free(d);
    if (names) scfm_gene_map_free(names);
    strmap_free(&ids);
    return rc;
}

static void free_ids(char **ids, size_t n) {
    for (size_t i = 0; ids && i < n; i++) free(ids[i]);
    free(ids);
}

/* Merges digest files whose gene lists are identical (in the same order). */
static int vocab_merge(const vocab_args *a) {
    char **ids0 = NULL;
    scfm_digests *d = scfm_digests_load(a->inputs[0], &ids0);
    if (!d) return cli_fail(CMD);
    size_t n0 = 0;
    while (ids0 && ids0[n0]) n0++;
    int rc = 0;
    for (size_t i = 1; !rc && i < a->n_inputs; i++) {
        char **ids = NULL;
        scfm_digests *e = scfm_digests_load(a->inputs[i], &ids);
        if (!e) { rc = cli_fail(CMD); break; }
        size_t n = 0;
        while (ids && ids[n]) n++;
        int same = n == n0;
        for (size_t g = 0; same && g < n; g++) same = !strcmp(ids[g], ids0[g]);
        if (!same) rc = cli_errorf(CMD, "%s: its gene list differs from %s's; merging digests over different gene "
                                   "lists is not supported yet: build them with the same inputs' gene union",
                                   a->inputs[i], a->inputs[0]);
        else if (scfm_digests_merge(d, e)) rc = cli_fail(CMD);
        free_ids(ids, n);
        scfm_digests_free(e);
    }
    if (!rc) rc = write_vocab(a, d, ids0, n0);
    free_ids(ids0, n0);
    scfm_digests_free(d);
    return rc;
}

static int parse_vocab_args(vocab_args *a, int argc, char **argv) {
    static const char *const val_opts[] = {"-o", "--out", "--gene-names", "--gene-column", "--matrix", "--format",
                                           "--biotypes", "--gene-table", "--min-cells", "--digest-out", NULL};
    a->min_cells = 1;
    for (int i = 2; i < argc; i++) {
        const char *o = argv[i];
        if (o[0] != '-') { a->inputs[a->n_inputs++] = o; continue; }
        if (!strcmp(o, "--v2")) { a->v2 = 1; continue; }
        if (!strcmp(o, "--force")) { a->force = 1; continue; }
        if (!strcmp(o, "--symbols")) { keep_symbols = 1; continue; }
        int known = 0;
        for (const char *const *v = val_opts; *v; v++) known |= !strcmp(o, *v);
        if (!known) return cli_usage_error(CMD, "unknown option '%s'", o);
        if (++i >= argc) return cli_usage_error(CMD, "%s needs a value", o);
        const char *v = argv[i];
        if (!strcmp(o, "-o") || !strcmp(o, "--out")) a->out = v;
        else if (!strcmp(o, "--gene-names")) a->names[a->n_names++] = v;
        else if (!strcmp(o, "--gene-column")) a->gene_column = v;
        else if (!strcmp(o, "--matrix")) a->matrix = v;
        else if (!strcmp(o, "--format")) a->format = strcmp(v, "auto") ? v : NULL;
        else if (!strcmp(o, "--biotypes")) a->biotypes = v;
        else if (!strcmp(o, "--gene-table")) a->gene_table = v;
        else if (!strcmp(o, "--digest-out")) a->digest_out = v;
        else if (cli_long(CMD, o, v, 1, 1L << 40, &a->min_cells)) return 2;
    }
    if (!a->n_inputs) return cli_usage_error(CMD, "no inputs");
    if (!a->out) return cli_usage_error(CMD, "no output directory (-o DIR)");
    if (a->biotypes && !a->gene_table) return cli_usage_error(CMD, "--biotypes needs --gene-table CSV");
    return 0;
}

int cmd_vocab(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        vocab_help();
        return argc < 2 ? 2 : 0;
    }
    int build = !strcmp(argv[1], "build");
    if (!build && strcmp(argv[1], "merge")) return cli_usage_error(CMD, "unknown subcommand '%s' (build, merge)", argv[1]);
    vocab_args a;
    memset(&a, 0, sizeof a);
    a.inputs = calloc((size_t)argc, sizeof(char *));
    a.names = calloc((size_t)argc, sizeof(char *));
    int rc = a.inputs && a.names ? parse_vocab_args(&a, argc, argv) : cli_errorf(CMD, "out of memory");
    if (!rc && !build && a.digest_out) rc = cli_usage_error(CMD, "--digest-out is for build");
    if (!rc) rc = build ? vocab_build(&a) : vocab_merge(&a);
    if (!rc) cli_report_done();
    free(a.inputs);
    free(a.names);
    return rc;
}
