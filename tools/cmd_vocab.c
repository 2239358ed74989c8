/* scfm vocab: build a vocabulary and gene medians from count matrices (per-gene median
 * digests of counts / n_counts * 10000 over non-zero cells), or merge saved digests. */
#include <errno.h>
#include <fcntl.h>
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
#include "scfm/json.h"
#include "scfm/strmap.h"

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
        "  --symbols                (build) keep genes without an Ensembl ID under their symbol (trimmed, upper-\n"
        "                           cased): a vocabulary keyed by symbols, for data without Ensembl IDs\n"
        "  --gene-column COL        (build) gene column of the inputs; --matrix M, --format F as in tokenize\n"
        "  --biotypes LIST          keep genes of these biotypes (e.g. protein_coding,miRNA); needs --gene-table\n"
        "  --gene-table CSV         gene table with gene_id, gene_name, biotype columns\n"
        "  --min-cells N            keep genes expressed in at least N cells (default 1)\n"
        "  --v2                     add <cls> and <eos> (ids 2, 3)\n"
        "  --digest-out FILE        (build) also save the per-gene digests for a later merge\n"
        "  --force                  replace an existing vocabulary directory\n"
        "  --threads N              accepted as by every long command; reading and counting run on one thread\n\n"
        "Joint (GeneCompass) vocabulary of human and mouse genes:\n"
        "       scfm vocab build --human INPUT... --mouse INPUT... --orthologs FILE -o DIR [options]\n"
        "  --human INPUT, --mouse INPUT   inputs of each species (repeatable); each species' medians come from its own cells\n"
        "  --human-gene-names FILE, --mouse-gene-names FILE   symbol -> ID tables per species (repeatable)\n"
        "  --orthologs FILE         BioMart csv or HCOP tsv; one-to-one pairs become the homolog map\n"
        "  --ortholog-min-support N HCOP: keep pairs supported by >= N databases\n"
        "  --symbols                genes without an Ensembl ID kept as species-qualified symbols (human:INS,\n"
        "                           mouse:INS1); the ortholog table may then pair symbols (BioMart 'Gene name' columns)\n"
        "Writes DIR/vocab.tsv (<pad> 0, <mask> 1, human IDs sorted, mouse IDs sorted), DIR/medians.tsv,\n"
        "DIR/homologs.tsv (human_token, mouse_token, human_id, mouse_id) and DIR/vocab.json; see docs/genecompass_data.md.\n");
}

typedef struct {
    const char **inputs, **names;
    size_t n_inputs, n_names;
    const char **sp_inputs[2], **sp_names[2]; /* joint build: human (0) and mouse (1) inputs and name tables */
    size_t n_sp_inputs[2], n_sp_names[2];
    const char *out, *biotypes, *gene_table, *gene_column, *matrix, *format, *digest_out, *orthologs;
    long min_cells, min_support;
    int v2, force, symbols;
} vocab_args;

static const char *const SPECIES[2] = {"human", "mouse"};

/* ---- interned identifiers: string -> index in first-seen order (core/strmap) ------------- */
typedef struct { scfm_strmap map; char **order; size_t n, cap; } strmap;

/* Index of key, inserting a copy of it (with the next index) if new; (size_t)-1 on out of memory. */
static size_t strmap_put(strmap *m, const char *key) {
    size_t v;
    if (m->map.cap && scfm_strmap_get(&m->map, key, &v)) return v;
    if (!m->map.cap && scfm_strmap_init(&m->map, 1024)) return (size_t)-1;
    if (m->n == m->cap) {
        size_t nc = m->cap ? 2 * m->cap : 1024;
        char **no = realloc(m->order, nc * sizeof *no);
        if (!no) return (size_t)-1;
        m->order = no, m->cap = nc;
    }
    char *k = strdup(key);
    if (!k || scfm_strmap_put(&m->map, k, m->n) < 0) { free(k); return (size_t)-1; }
    m->order[m->n] = k;
    return m->n++;
}

/* Index of key, or (size_t)-1 when absent. */
static size_t strmap_get(const strmap *m, const char *key) {
    size_t v;
    return m->map.cap && scfm_strmap_get(&m->map, key, &v) ? v : (size_t)-1;
}

static void strmap_free(strmap *m) {
    for (size_t i = 0; i < m->n; i++) free(m->order[i]);
    free(m->order);
    if (m->map.cap) scfm_strmap_free(&m->map);
}

/* ---- building ------------------------------------------------------------------------------ */
/* Normalized Ensembl ID of a file's gene identifier, or NULL when it maps to none; with
 * `symbols`, an identifier that maps to no ID is kept as it is (normalized). */
static const char *gene_to_id(const char *raw, const scfm_gene_map *names, int symbols, char *buf, size_t cap) {
    snprintf(buf, cap, "%s", raw);
    scfm_gene_normalize(buf);
    if (scfm_is_ensembl_id(buf)) return buf;
    const char *id = names ? scfm_gene_map_lookup(names, buf) : NULL;
    return id ? id : symbols && buf[0] ? buf : NULL;
}

/* Per-file map from gene index to global index (-1: no ID). */
/* species >= 0 (joint build): IDs of another species are dropped and counted. With
 * `symbols`, identifiers without an ID are kept as symbols; in a joint build qualified by the
 * input's species ("human:INS", "mouse:INS1"), since both species' symbols share one vocabulary. */
static int map_file_genes(const char *path, scfm_reader *r, const scfm_gene_map *names, int species, int symbols,
                          strmap *ids,
                          long **out) {
    size_t n = scfm_reader_n_genes(r);
    const char *const *genes = scfm_reader_genes(r);
    long *map = malloc((n ? n : 1) * sizeof *map);
    if (!map) return cli_errorf(CMD, "out of memory");
    size_t found = 0, other = 0;
    for (size_t g = 0; g < n; g++) {
        char buf[256], qual[300];
        const char *id = gene_to_id(genes[g], names, symbols, buf, sizeof buf);
        map[g] = -1;
        if (!id) continue;
        if (species >= 0 && symbols && !scfm_is_ensembl_id(id)) { /* joint: "human:INS", "mouse:INS1" */
            snprintf(qual, sizeof qual, "%s:%s", SPECIES[species], id);
            id = qual;
        }
        if (species >= 0 && scfm_gene_species(id) != species) { other++; continue; }
        size_t k = strmap_put(ids, id);
        if (k == (size_t)-1) { free(map); return cli_errorf(CMD, "out of memory"); }
        map[g] = (long)k;
        found++;
    }
    fprintf(stderr, "vocab: %s%s%s (%s): %zu cells, %zu genes, %zu %s%s%s\n", species >= 0 ? SPECIES[species] : "",
            species >= 0 ? " " : "", path, scfm_reader_format(r), scfm_reader_n_cells(r), n, found,
            symbols ? "kept (IDs or symbols)" : "with an Ensembl ID",
            !symbols && found * 2 < n ? " (symbols need --gene-names, or --symbols)" : "",
            other ? " (IDs of another species dropped)" : "");
    if (other) fprintf(stderr, "vocab: WARNING: %s: %zu gene IDs are not %s Ensembl IDs and were dropped\n", path, other,
                       SPECIES[species]);
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

typedef struct { const char *name; const textbuf *text; } out_file;


static int write_dir(const vocab_args *a, const out_file *files, size_t n_files) {
    char tmp[4096], p[4200];
    struct stat st;
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", a->out, (long)getpid());
    if (mkdir(tmp, 0777) != 0) return cli_errorf(CMD, "%s: cannot create directory", tmp);
    int rc = 0;
    for (size_t k = 0; !rc && k < n_files; k++) {
        snprintf(p, sizeof p, "%s/%s", tmp, files[k].name);
        rc = scfm_write_file_atomic(p, files[k].text->s ? files[k].text->s : "", files[k].text->len);
    }
    /* An existing vocabulary (--force) is exchanged with the new one in one step
     * (scfm_install_dir): a SIGKILL at any point leaves DIR the old or the new vocabulary, whole. */
    if (!rc && stat(a->out, &st) == 0) {
        snprintf(p, sizeof p, "%s/vocab.tsv", a->out);
        if (!a->force || stat(p, &st) != 0) rc = scfm_error(SCFM_EIO, "%s: exists%s", a->out,
                                                          a->force ? " and is not a vocabulary directory" : " (use --force)");
    }
    if (!rc) rc = scfm_install_dir(tmp, a->out);
    if (rc) {
        scfm_remove_tree(tmp);
        return cli_fail(CMD);
    }
    return 0;
}

/* The genes that pass the filters (min cells, biotype, finite median), sorted by ID, as
 * indices into ids[] (*sel_out, malloc'd; *n_out of them). */
static int select_genes(const vocab_args *a, const char *what, const scfm_digests *d, char **ids, size_t n_ids,
                        size_t **sel_out, size_t *n_out) {
    scfm_gene_map *table = NULL;
    if (a->gene_table && (!(table = scfm_gene_map_new()) || scfm_gene_map_add_file(table, a->gene_table)))
        { if (table) scfm_gene_map_free(table); return cli_fail(CMD); }
    size_t n = 0, n_cells = 0, n_bio = 0;
    char **sorted = malloc((n_ids ? n_ids : 1) * sizeof *sorted);
    size_t *sel = malloc((n_ids ? n_ids : 1) * sizeof *sel);
    strmap idx = {0};
    int rc = sorted && sel ? 0 : cli_errorf(CMD, "out of memory");
    for (size_t g = 0; !rc && g < n_ids; g++) {
        if (scfm_digests_count(d, g) < (uint64_t)a->min_cells || !isfinite(scfm_digests_median(d, g))) { n_cells++; continue; }
        if (!biotype_ok(a, table, ids[g])) { n_bio++; continue; }
        sorted[n++] = ids[g];
    }
    if (!rc) qsort(sorted, n, sizeof *sorted, cmp_str);
    if (!rc && n == 0) rc = cli_errorf(CMD, "no %sgene passed the filters (min cells %ld, biotypes %s)", what, a->min_cells,
                                       a->biotypes ? a->biotypes : "any");
    for (size_t g = 0; !rc && g < n_ids; g++) if (strmap_put(&idx, ids[g]) == (size_t)-1) rc = cli_errorf(CMD, "out of memory");
    for (size_t k = 0; !rc && k < n; k++) sel[k] = strmap_put(&idx, sorted[k]);
    if (!rc) fprintf(stderr, "vocab: %zu %sgenes kept (%zu below --min-cells %ld, %zu other biotypes)\n", n, what, n_cells,
                     a->min_cells, n_bio);
    strmap_free(&idx);
    free(sorted);
    if (table) scfm_gene_map_free(table);
    if (rc) { free(sel); return rc; }
    *sel_out = sel;
    *n_out = n;
    return 0;
}

/* Writes vocab.tsv and medians.tsv of a one-species vocabulary. */
static int write_vocab(const vocab_args *a, const scfm_digests *d, char **ids, size_t n_ids) {
    size_t *sel = NULL, n = 0;
    if (select_genes(a, "", d, ids, n_ids, &sel, &n)) return 1;
    textbuf vb = {0}, mb = {0};
    int rc = tb_printf(&vb, "<pad>\t0\n<mask>\t1\n%s", a->v2 ? "<cls>\t2\n<eos>\t3\n" : "");
    for (size_t k = 0; !rc && k < n; k++) {
        char num[40];
        fmt_double(num, sizeof num, scfm_digests_median(d, sel[k]));
        rc = tb_printf(&vb, "%s\t%zu\n", ids[sel[k]], k + (a->v2 ? 4 : 2)) || tb_printf(&mb, "%s\t%s\n", ids[sel[k]], num);
    }
    if (rc < 0) rc = cli_errorf(CMD, "out of memory");
    const out_file files[] = {{"vocab.tsv", &vb}, {"medians.tsv", &mb}};
    if (!rc) rc = write_dir(a, files, 2);
    free(sel); free(vb.s); free(mb.s);
    return rc;
}

/* ---- commands ------------------------------------------------------------------------------ */
static int load_names(const char *const *files, size_t n, scfm_gene_map **names) {
    *names = NULL;
    if (!n) return 0;
    if (!(*names = scfm_gene_map_new())) return cli_fail(CMD);
    for (size_t i = 0; i < n; i++)
        if (scfm_gene_map_add_file(*names, files[i])) return cli_fail(CMD);
    return 0;
}

/* Per-gene digests over inputs[n_inputs]: the union of gene IDs in *ids (insertion order),
 * digests in *d_out. species >= 0: only that species' IDs (joint build). */
static int collect(const vocab_args *a, const char *const *inputs, size_t n_inputs, const char *const *name_files,
                   size_t n_names, int species, strmap *ids, scfm_digests **d_out) {
    scfm_gene_map *names = NULL;
    long **maps = calloc(n_inputs ? n_inputs : 1, sizeof *maps);
    scfm_digests *d = NULL;
    cell_acc ca = {0};
    int rc = maps ? load_names(name_files, n_names, &names) : cli_errorf(CMD, "out of memory");
    for (size_t i = 0; !rc && i < n_inputs; i++) { /* pass 1: the union of gene IDs */
        scfm_reader *r = open_input(a, inputs[i]);
        rc = r ? map_file_genes(inputs[i], r, names, species, a->symbols, ids, &maps[i]) : cli_fail(CMD);
        scfm_reader_close(r);
    }
    if (!rc && ids->n == 0 && a->symbols) rc = cli_errorf(CMD, "the %s%sinputs have no gene identifiers",
                                                          species >= 0 ? SPECIES[species] : "", species >= 0 ? " " : "");
    if (!rc && ids->n == 0)
        rc = cli_errorf(CMD, "no gene identifier of the %s%sinputs maps to an Ensembl ID (symbols need --%s%sgene-names%s)",
                        species >= 0 ? SPECIES[species] : "", species >= 0 ? " " : "",
                        species >= 0 ? SPECIES[species] : "", species >= 0 ? "-" : "", ", or --symbols");
    if (!rc && !(d = scfm_digests_new(ids->n))) rc = cli_fail(CMD);
    if (!rc) {
        ca.acc = calloc(ids->n, sizeof *ca.acc);
        ca.touched = calloc(ids->n, sizeof *ca.touched);
        ca.stamp = calloc(ids->n, sizeof *ca.stamp);
        if (!ca.acc || !ca.touched || !ca.stamp) rc = cli_errorf(CMD, "out of memory");
    }
    for (size_t i = 0; !rc && i < n_inputs; i++) rc = digest_file(a, inputs[i], maps[i], d, &ca);
    for (size_t i = 0; maps && i < n_inputs; i++) free(maps[i]);
    free(maps);
    free(ca.acc); free(ca.touched); free(ca.stamp);
    if (names) scfm_gene_map_free(names);
    if (rc) { if (d) scfm_digests_free(d); return rc; }
    *d_out = d;
    return 0;
}

static int vocab_build(const vocab_args *a) {
    strmap ids = {0};
    scfm_digests *d = NULL;
    int rc = collect(a, a->inputs, a->n_inputs, a->names, a->n_names, -1, &ids, &d);
    if (!rc && a->digest_out && scfm_digests_save(d, (const char *const *)ids.order, a->digest_out)) rc = cli_fail(CMD);
    if (!rc) rc = write_vocab(a, d, ids.order, ids.n);
    if (d) scfm_digests_free(d);
    strmap_free(&ids);
    return rc;
}

/* ---- joint (GeneCompass) vocabulary: <pad> <mask> human genes, mouse genes, homolog map ---- */

static uint64_t fnv_bytes(uint64_t h, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

typedef struct { size_t h, m; } tok_pair;

static int cmp_pair(const void *x, const void *y) {
    const tok_pair *p = x, *q = y;
    return (p->h > q->h) - (p->h < q->h);
}

typedef struct {
    scfm_ortholog_stats st;
    size_t kept, absent_h, absent_m, absent_both;
} homolog_report;

/* Pairs of the ortholog table whose two genes are both in the vocabulary (tokmap: ID -> token). */
static int joint_pairs(const vocab_args *a, const strmap *tokmap, tok_pair **out, homolog_report *rep, char *rule,
                       size_t rule_cap) {
    scfm_ortholog_opts oo = {1, (int)a->min_support, 0};
    scfm_orthologs *o = scfm_orthologs_load(a->orthologs, "human", "mouse", &oo);
    if (!o) return cli_fail(CMD);
    scfm_orthologs_stats_get(o, &rep->st);
    snprintf(rule, rule_cap, "%s", scfm_orthologs_rule(o));
    int by_symbol = scfm_orthologs_by_symbol(o);
    if (by_symbol && !a->symbols) {
        scfm_orthologs_free(o);
        return cli_errorf(CMD, "%s pairs gene symbols, not Ensembl IDs: build the vocabulary with --symbols (genes "
                          "keyed human:SYMBOL / mouse:SYMBOL), or give a table with stable-ID columns", a->orthologs);
    }
    size_t n = scfm_orthologs_size(o);
    tok_pair *p = malloc((n ? n : 1) * sizeof *p);
    if (!p) { scfm_orthologs_free(o); return cli_errorf(CMD, "out of memory"); }
    for (size_t k = 0; k < n; k++) {
        const char *m, *h = scfm_orthologs_pair(o, k, &m);
        char qh[300], qm[300];
        if (by_symbol) { /* the vocabulary's species-qualified symbols */
            snprintf(qh, sizeof qh, "%s%s", SCFM_SYMBOL_PREFIX_HUMAN, h);
            snprintf(qm, sizeof qm, "%s%s", SCFM_SYMBOL_PREFIX_MOUSE, m);
            h = qh;
            m = qm;
        }
        size_t th = strmap_get(tokmap, h), tm = strmap_get(tokmap, m);
        if (th != (size_t)-1 && tm != (size_t)-1) p[rep->kept++] = (tok_pair){th + 2, tm + 2};
        else if (th == (size_t)-1 && tm == (size_t)-1) rep->absent_both++;
        else if (th == (size_t)-1) rep->absent_h++;
        else rep->absent_m++;
    }
    scfm_orthologs_free(o);
    qsort(p, rep->kept, sizeof *p, cmp_pair);
    *out = p;
    return 0;
}

static int json_str(textbuf *b, const char *s) {
    if (!b->s && tb_printf(b, "%s", "")) return -1;
    return scfm_json_append_string(&b->s, &b->len, &b->cap, s);
}

static int joint_json(textbuf *b, const vocab_args *a, const size_t n[2], uint64_t vh, uint64_t hh, const char *rule,
                      const homolog_report *r) {
    const scfm_ortholog_stats *st = &r->st;
    int rc = tb_printf(b, "{\n  \"format\": \"scfm-vocab\",\n  \"version\": 1,\n  \"joint\": true,\n"
                          "  \"species\": [\"human\", \"mouse\"],\n  \"layout\": \"<pad> 0, <mask> 1, human %s "
                          "(sorted), mouse %s (sorted)\",\n  \"gene_keys\": \"%s\",\n  \"vocab_size\": %zu,\n"
                          "  \"vocab_hash\": \"%016llx\",\n",
                       a->symbols ? "genes, Ensembl IDs or human:SYMBOL" : "Ensembl IDs",
                       a->symbols ? "genes, Ensembl IDs or mouse:SYMBOL" : "Ensembl IDs",
                       a->symbols ? "symbols" : "ensembl", n[0] + n[1] + 2, (unsigned long long)vh);
    rc = rc || tb_printf(b, "  \"ranges\": {\"human\": [2, %zu], \"mouse\": [%zu, %zu]},\n", n[0] + 2, n[0] + 2,
                         n[0] + n[1] + 2);
    rc = rc || tb_printf(b, "  \"n_genes\": {\"human\": %zu, \"mouse\": %zu},\n", n[0], n[1]);
    rc = rc || tb_printf(b, "  \"n_homologs\": %zu,\n  \"homologs_file\": \"homologs.tsv\",\n  \"homologs_fnv1a64\": "
                            "\"%016llx\",\n  \"orthologs\": ", r->kept, (unsigned long long)hh);
    rc = rc || json_str(b, rule) || tb_printf(b, ",\n  \"ortholog_file\": ") || json_str(b, a->orthologs);
    rc = rc || tb_printf(b, ",\n  \"medians\": \"per species, from its own cells: non-zero median of counts / n_counts "
                            "* 10000\",\n  \"min_cells\": %ld,\n", a->min_cells);
    rc = rc || tb_printf(b, "  \"inputs\": {\"human\": [");
    for (int s = 0; s < 2 && !rc; s++) {
        if (s) rc = tb_printf(b, "], \"mouse\": [");
        for (size_t i = 0; !rc && i < a->n_sp_inputs[s]; i++)
            rc = (i && tb_printf(b, ", ")) || json_str(b, a->sp_inputs[s][i]);
    }
    rc = rc || tb_printf(b, "]},\n  \"homolog_report\": {\"table_rows\": %zu, \"kept\": %zu, \"not_one2one_type\": %zu, "
                            "\"not_one2one_partners\": %zu, \"below_support\": %zu, \"no_ensembl_id\": %zu, "
                            "\"human_gene_absent\": %zu, \"mouse_gene_absent\": %zu, \"both_absent\": %zu}\n}\n",
                         st->n_rows, r->kept, st->n_not_one2one, st->n_not_unique, st->n_below_support, st->n_not_id,
                         r->absent_h, r->absent_m, r->absent_both);
    return rc ? -1 : 0;
}

static void joint_report(const vocab_args *a, const size_t n[2], const char *rule, const homolog_report *r) {
    const scfm_ortholog_stats *st = &r->st;
    fprintf(stderr, "vocab: joint vocabulary: <pad> 0, <mask> 1, %zu human genes (tokens 2..%zu), %zu mouse genes "
            "(tokens %zu..%zu), %zu tokens\n", n[0], n[0] + 1, n[1], n[0] + 2, n[0] + n[1] + 1, n[0] + n[1] + 2);
    fprintf(stderr, "vocab: homologs from %s (%s): %zu table rows, %zu one-to-one pairs kept; dropped: %zu not one-to-one "
            "(homology type), %zu not one-to-one (a gene with several partners), %zu below support (--ortholog-min-support "
            "%ld), %zu without Ensembl IDs, %zu duplicate rows; %zu with the human gene absent from the data, %zu with the "
            "mouse gene absent, %zu with both absent\n", a->orthologs, rule, st->n_rows, r->kept, st->n_not_one2one,
            st->n_not_unique, st->n_below_support, a->min_support, st->n_not_id, st->n_duplicate, r->absent_h, r->absent_m,
            r->absent_both);
}

static int vocab_build_joint(const vocab_args *a) {
    strmap ids[2], tokmap;
    memset(ids, 0, sizeof ids);
    memset(&tokmap, 0, sizeof tokmap);
    scfm_digests *d[2] = {NULL, NULL};
    size_t *sel[2] = {NULL, NULL}, n[2] = {0, 0};
    tok_pair *pairs = NULL;
    homolog_report rep;
    memset(&rep, 0, sizeof rep);
    textbuf vb = {0}, mb = {0}, hb = {0}, jb = {0};
    char rule[200] = "";
    int rc = 0;
    for (int s = 0; !rc && s < 2; s++) {
        char what[16];
        snprintf(what, sizeof what, "%s ", SPECIES[s]);
        rc = collect(a, a->sp_inputs[s], a->n_sp_inputs[s], a->sp_names[s], a->n_sp_names[s], s, &ids[s], &d[s]);
        if (!rc) rc = select_genes(a, what, d[s], ids[s].order, ids[s].n, &sel[s], &n[s]);
    }
    if (!rc && tb_printf(&vb, "<pad>\t0\n<mask>\t1\n")) rc = cli_errorf(CMD, "out of memory");
    uint64_t vh = fnv_bytes(14695981039346656037ULL, "0\t<pad>\n1\t<mask>\n", 17);
    for (int s = 0; !rc && s < 2; s++)
        for (size_t k = 0; !rc && k < n[s]; k++) {
            const char *id = ids[s].order[sel[s][k]];
            char num[40], line[200];
            size_t tok = tokmap.n + 2;
            fmt_double(num, sizeof num, scfm_digests_median(d[s], sel[s][k]));
            int l = snprintf(line, sizeof line, "%zu\t%s\n", tok, id);
            vh = fnv_bytes(vh, line, (size_t)l);
            if (strmap_put(&tokmap, id) == (size_t)-1 || tb_printf(&vb, "%s\t%zu\n", id, tok) ||
                tb_printf(&mb, "%s\t%s\n", id, num))
                rc = cli_errorf(CMD, "out of memory");
        }
    if (!rc) rc = joint_pairs(a, &tokmap, &pairs, &rep, rule, sizeof rule);
    if (!rc && tb_printf(&hb, "human_token\tmouse_token\thuman_id\tmouse_id\n")) rc = cli_errorf(CMD, "out of memory");
    for (size_t k = 0; !rc && k < rep.kept; k++)
        if (tb_printf(&hb, "%zu\t%zu\t%s\t%s\n", pairs[k].h, pairs[k].m, tokmap.order[pairs[k].h - 2],
                      tokmap.order[pairs[k].m - 2]))
            rc = cli_errorf(CMD, "out of memory");
    if (!rc && joint_json(&jb, a, n, vh, fnv_bytes(14695981039346656037ULL, hb.s, hb.len), rule, &rep))
        rc = cli_errorf(CMD, "out of memory");
    if (!rc) joint_report(a, n, rule, &rep);
    if (!rc && rep.kept == 0) fprintf(stderr, "vocab: WARNING: no homologous pair has both genes in the vocabulary\n");
    const out_file files[] = {{"vocab.tsv", &vb}, {"medians.tsv", &mb}, {"homologs.tsv", &hb}, {"vocab.json", &jb}};
    if (!rc) rc = write_dir(a, files, 4);
    if (!rc) { /* read back what was written, through the library's checks */
        char vp[4200];
        snprintf(vp, sizeof vp, "%s/vocab.tsv", a->out);
        scfm_vocab *v = scfm_vocab_load(vp);
        scfm_joint_vocab j;
        if (!v || scfm_joint_vocab_load(vp, v, &j)) rc = cli_fail(CMD);
        else scfm_joint_vocab_free(&j);
        scfm_vocab_free(v);
    }
    for (int s = 0; s < 2; s++) {
        if (d[s]) scfm_digests_free(d[s]);
        strmap_free(&ids[s]);
        free(sel[s]);
    }
    strmap_free(&tokmap);
    free(pairs);
    free(vb.s); free(mb.s); free(hb.s); free(jb.s);
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

static int check_joint_args(const vocab_args *a) {
    if (!a->n_sp_inputs[0] || !a->n_sp_inputs[1] || !a->orthologs)
        return cli_usage_error(CMD, "a joint vocabulary needs --human INPUT, --mouse INPUT (each repeatable) and "
                               "--orthologs FILE");
    if (a->n_inputs) return cli_usage_error(CMD, "'%s': with --human/--mouse every input names its species "
                                            "(--human INPUT or --mouse INPUT)", a->inputs[0]);
    if (a->n_names) return cli_usage_error(CMD, "--gene-names is for one-species builds; a joint build takes "
                                           "--human-gene-names and --mouse-gene-names");
    if (a->v2) return cli_usage_error(CMD, "--v2 is not supported for a joint (GeneCompass) vocabulary: it has no <cls>/<eos>");
    if (a->biotypes || a->gene_table) return cli_usage_error(CMD, "--biotypes/--gene-table are not supported for a joint vocabulary yet");
    if (a->digest_out) return cli_usage_error(CMD, "--digest-out is not supported for a joint vocabulary yet");
    if (!a->out) return cli_usage_error(CMD, "no output directory (-o DIR)");
    return 0;
}

static int parse_vocab_args(vocab_args *a, int argc, char **argv) {
    static const char *const val_opts[] = {"-o", "--out", "--gene-names", "--gene-column", "--matrix", "--format",
                                           "--biotypes", "--gene-table", "--min-cells", "--digest-out", "--human",
                                           "--mouse", "--human-gene-names", "--mouse-gene-names", "--orthologs",
                                           "--ortholog-min-support", "--threads", NULL};
    a->min_cells = 1;
    for (int i = 2; i < argc; i++) {
        const char *o = argv[i];
        if (o[0] != '-') { a->inputs[a->n_inputs++] = o; continue; }
        if (!strcmp(o, "--v2")) { a->v2 = 1; continue; }
        if (!strcmp(o, "--force")) { a->force = 1; continue; }
        if (!strcmp(o, "--symbols")) { a->symbols = 1; continue; }
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
        else if (!strcmp(o, "--human")) a->sp_inputs[0][a->n_sp_inputs[0]++] = v;
        else if (!strcmp(o, "--mouse")) a->sp_inputs[1][a->n_sp_inputs[1]++] = v;
        else if (!strcmp(o, "--human-gene-names")) a->sp_names[0][a->n_sp_names[0]++] = v;
        else if (!strcmp(o, "--mouse-gene-names")) a->sp_names[1][a->n_sp_names[1]++] = v;
        else if (!strcmp(o, "--orthologs")) a->orthologs = v;
        else if (!strcmp(o, "--ortholog-min-support")) { if (cli_long(CMD, o, v, 0, 1000, &a->min_support)) return 2; }
        else if (!strcmp(o, "--threads")) { if (cli_threads(CMD, o, v)) return 2; }
        else if (cli_long(CMD, o, v, 1, 1L << 40, &a->min_cells)) return 2;
    }
    int joint = a->n_sp_inputs[0] || a->n_sp_inputs[1] || a->orthologs || a->n_sp_names[0] || a->n_sp_names[1];
    if (joint) return check_joint_args(a);
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
    int ok = a.inputs && a.names;
    for (int s = 0; s < 2; s++) {
        a.sp_inputs[s] = calloc((size_t)argc, sizeof(char *));
        a.sp_names[s] = calloc((size_t)argc, sizeof(char *));
        ok = ok && a.sp_inputs[s] && a.sp_names[s];
    }
    int rc = ok ? parse_vocab_args(&a, argc, argv) : cli_errorf(CMD, "out of memory");
    int joint = a.n_sp_inputs[0] || a.n_sp_inputs[1];
    if (!rc && !build && a.digest_out) rc = cli_usage_error(CMD, "--digest-out is for build");
    if (!rc && !build && joint) rc = cli_usage_error(CMD, "merge does not build joint vocabularies yet (use build --human ... --mouse ...)");
    if (!rc && !build && a.symbols) rc = cli_usage_error(CMD, "--symbols is for build");
    if (!rc) rc = !build ? vocab_merge(&a) : joint ? vocab_build_joint(&a) : vocab_build(&a);
    if (!rc) {
        char p[4096];
        snprintf(p, sizeof p, "%s/vocab.tsv", a.out);
        scfm_vocab *v = scfm_vocab_load(p);
        scfm_clear_error();
        cli_done(build ? "vocab build" : "vocab merge", "%zu tokens -> %s", v ? scfm_vocab_size(v) : 0, a.out);
        scfm_vocab_free(v);
    }
    free(a.inputs);
    free(a.names);
    for (int s = 0; s < 2; s++) { free(a.sp_inputs[s]); free(a.sp_names[s]); }
    return rc;
}
