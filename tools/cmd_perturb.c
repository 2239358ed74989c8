/* scfm perturb: in-silico deletion / overexpression / inhibition / activation with per-gene
 * statistics (docs/computation.md section 7): single genes, gene sets, anchor combinations, goal and alternative
 * states, gene-embedding shifts, a null run of random genes. Output: docs/perturb.md. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef SCFM_HAVE_OPENMP
#include <omp.h>
#endif

#include "cli.h"
#include "perturb_tables.h"
#include "scfm/analysis.h"
#include "scfm/corpus.h"
#include "scfm/genes.h"
#include "scfm/model.h"
#include "scfm/rng.h"

static const char *CMD = "perturb";

static void perturb_help(void) {
    printf(
        "usage: scfm perturb CORPUS -m MODEL_DIR -o OUT.tsv --delete|--overexpress|--inhibit|--activate [options]\n"
        "       scfm perturb aggregate RUN_DIR_OR_SHIFTS.tsv... -o OUT.tsv   (merge runs: see its --help)\n\n"
        "Perturbs each cell's tokens, embeds the perturbed copies (all copies of a cell in shared batches)\n"
        "and reports per gene (or gene set) the mean shift, a Mann-Whitney test of its shifts against\n"
        "all genes' shifts (or against a null run of random genes) and Benjamini-Hochberg FDR.\n"
        "Modes: --delete removes the gene; --overexpress moves it to the front (after <cls> in V2),\n"
        "inserting it when absent (cut to the model's length); --inhibit / --activate move it down /\n"
        "up by --shift-fraction of the cell's genes (clamped to the ends, never past <cls>/<eos>).\n"
        "Shift: cos(perturbed, baseline) or, with --goal, cos(perturbed, goal) - cos(baseline, goal);\n"
        "the baseline is the original cell, or the anchor-perturbed cell with --anchor.\n"
        "Genes:\n"
        "  --genes G,G,...      genes to perturb: vocabulary tokens (Ensembl IDs) or, with --gene-names,\n"
        "                       symbols; default (not --overexpress): every gene of each cell\n"
        "  --gene-file FILE     genes to perturb, one per line (first tab field; '#' comments)\n"
        "  --gene-names FILE    symbol -> Ensembl ID table (gene_name_id_dict .pkl/.tsv.gz or a gene csv);\n"
        "                       repeatable. An unknown gene is an error naming it.\n"
        "  --together           perturb all listed genes at once in each cell: one row (cells must have all\n"
        "                       of them, except with --overexpress)\n"
        "  --anchor GENE        perturb GENE in every copy too; shifts against the GENE-only perturbed cell\n"
        "  --shift-fraction F   --inhibit/--activate: move by max(1, round(F * genes in the cell)) (0.25)\n"
        "States and cells:\n"
        "  --cells COL=VALUE    only cells whose obs column COL equals VALUE (the start state);\n"
        "                       COL=V1,V2 takes any of the values; repeated filters must all hold\n"
        "  --goal COL=VALUE     goal state: mean embedding of the cells with COL == VALUE\n"
        "  --alt COL=VALUE      an alternative state (repeatable, at most 16): also report the mean shift\n"
        "                       toward it, cos(p, alt) - cos(baseline, alt)\n"
        "  --max-cells N        at most N cells (the first N after --cells)\n"
        "  --cell-range A:B     run only cells A .. B-1 of the selected cells (0-based; B omitted or past\n"
        "                       the end: to the end), to split a big job; merge the pieces' --shifts\n"
        "                       tables with 'scfm perturb aggregate'\n"
        "  --goal-cells N       at most N cells for each state embedding (default 200)\n"
        "Null run (the reference of the test instead of all genes' shifts):\n"
        "  --null-genes N       perturb N random expressed genes per cell (not listed, not the anchor) the\n"
        "                       same way (with --together: N random sets of the same size)\n"
        "  --null-fixed         use one fixed random set of N genes (drawn from the genes expressed in the\n"
        "                       cells) instead of N per cell\n"
        "  --seed S             seed of the null draws (default 0)\n"
        "Outputs:\n"
        "  -o OUT.tsv           per gene: gene token_id name symbol n_cells mean_shift sd_shift z p fdr\n"
        "                       significant mean_cos [mean_shift_to_<GOAL> sd_shift_to_<GOAL>]\n"
        "                       [mean_shift_to_<ALT> sd_shift_to_<ALT>...]  (sorted by p; significant =\n"
        "                       fdr < 0.05; sd = sample standard deviation of the shifts; symbol from\n"
        "                       --gene-names or the corpus's gene-name tables, '' when unknown; gene\n"
        "                       sets: gene = IDs joined by '+', token_id -1; mean_cos = mean\n"
        "                       cos(perturbed, baseline); <GOAL>, <ALT>: the states' values)\n"
        "  --shifts FILE.tsv    the raw shifts, every one at full precision: gene token_id name symbol\n"
        "                       cell cell_id null shift [shift_to_<GOAL>] cos [shift_to_<ALT>...];\n"
        "                       'scfm perturb aggregate' merges such tables of several runs\n"
        "  --gene-shifts FILE   per (perturbed gene, affected gene): perturbed perturbed_token affected\n"
        "                       affected_token n_cells mean_cos perturbed_symbol affected_symbol sd_cos\n"
        "                       (cosine of the affected gene's contextual embedding before and after,\n"
        "                       its mean and sample sd over the cells having it)\n"
        "  --mixture FILE.tsv   Geneformer's mixture_model: a two-component Gaussian mixture (EM, as\n"
        "                       scikit-learn's GaussianMixture) over the genes' mean shifts: gene token_id\n"
        "                       name symbol n_cells mean_shift impact_prob impact (the component further from no\n"
        "                       effect: shift 0 with --goal, cosine 1 without)\n"
        "  --mixture-reg X      added to the variances (scikit-learn's reg_covar, default 1e-6; cosine\n"
        "                       shifts are small: use about 1e-3 of their variance)\n"
        "  --dump-tokens FILE   debugging: every embedded sequence: cell kind gene tokens...\n"
        "  --layer N, --pool mean|cls, --batch-tokens N, --batch-cells N, --truncate, --threads N,\n"
        "  --precision fp32|bf16|int8  as in scfm embed\n");
}

#define MAX_NAMES 8

typedef struct {
    const char *corpus, *model, *out, *genes, *gene_file, *anchor, *cells, *goal, *shifts, *gene_shifts, *dump, *mixture,
        *pool, *layer;
    const char *names[MAX_NAMES];
    size_t n_names;
    const char *alt[SCFM_PERTURB_MAX_ALT];
    size_t n_alt;
    const char *cell_specs[MAX_NAMES]; /* --cells, repeatable: all must hold (AND) */
    size_t n_cell_specs;
    long range_a, range_b; /* --cell-range A:B */
    int range_set;
    long max_cells, goal_cells, batch_tokens, batch_cells, threads, null_genes, seed;
    double mixture_reg;
    double shift_fraction;
    int mode, truncate, together, null_fixed;
    scfm_precision precision;
} args;

static int set_mode(args *a, int m, const char *o) {
    if (a->mode >= 0 && a->mode != m) return cli_usage_error(CMD, "%s: only one of --delete, --overexpress, --inhibit, --activate", o);
    a->mode = m;
    return 0;
}

/* --cell-range A:B (B omitted: to the end), 0 <= A < B */
static int parse_range(args *a, const char *v) {
    const char *colon = strchr(v, ':');
    char left[64];
    if (!colon || (size_t)(colon - v) >= sizeof left)
        return cli_usage_error(CMD, "--cell-range wants A:B (cells A to B-1 of the selection), got '%s'", v);
    snprintf(left, sizeof left, "%.*s", (int)(colon - v), v);
    if (cli_long(CMD, "--cell-range", left, 0, LONG_MAX - 1, &a->range_a)) return 2;
    a->range_b = LONG_MAX;
    if (colon[1] && cli_long(CMD, "--cell-range", colon + 1, 1, LONG_MAX, &a->range_b)) return 2;
    if (a->range_b <= a->range_a) return cli_usage_error(CMD, "--cell-range %s: B must be larger than A", v);
    a->range_set = 1;
    return 0;
}

static int parse_args(args *a, int argc, char **argv) {
    a->mode = -1;
    a->shift_fraction = -1;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (o[0] != '-' || !o[1]) {
            if (a->corpus) return cli_usage_error(CMD, "one corpus only (got '%s' and '%s')", a->corpus, o);
            a->corpus = o;
            continue;
        }
        if (!strcmp(o, "--delete")) { if (set_mode(a, SCFM_PERTURB_DELETE, o)) return 2; continue; }
        if (!strcmp(o, "--overexpress")) { if (set_mode(a, SCFM_PERTURB_OVEREXPRESS, o)) return 2; continue; }
        if (!strcmp(o, "--inhibit")) { if (set_mode(a, SCFM_PERTURB_INHIBIT, o)) return 2; continue; }
        if (!strcmp(o, "--activate")) { if (set_mode(a, SCFM_PERTURB_ACTIVATE, o)) return 2; continue; }
        if (!strcmp(o, "--truncate")) { a->truncate = 1; continue; }
        if (!strcmp(o, "--together")) { a->together = 1; continue; }
        if (!strcmp(o, "--null-fixed")) { a->null_fixed = 1; continue; }
        if (!v) return cli_usage_error(CMD, "%s needs a value", o);
        i++;
        if (!strcmp(o, "-m") || !strcmp(o, "--model")) a->model = v;
        else if (!strcmp(o, "-o") || !strcmp(o, "--out")) a->out = v;
        else if (!strcmp(o, "--genes")) a->genes = v;
        else if (!strcmp(o, "--gene-file")) a->gene_file = v;
        else if (!strcmp(o, "--gene-names")) {
            if (a->n_names == MAX_NAMES) return cli_usage_error(CMD, "--gene-names: at most %d files", MAX_NAMES);
            a->names[a->n_names++] = v;
        } else if (!strcmp(o, "--anchor")) a->anchor = v;
        else if (!strcmp(o, "--cells")) {
            if (a->n_cell_specs == MAX_NAMES) return cli_usage_error(CMD, "at most %d --cells filters", MAX_NAMES);
            a->cell_specs[a->n_cell_specs++] = v;
            a->cells = v;
        }
        else if (!strcmp(o, "--goal")) a->goal = v;
        else if (!strcmp(o, "--alt")) {
            if (a->n_alt == SCFM_PERTURB_MAX_ALT) return cli_usage_error(CMD, "--alt: at most %d states", SCFM_PERTURB_MAX_ALT);
            a->alt[a->n_alt++] = v;
        } else if (!strcmp(o, "--shifts")) a->shifts = v;
        else if (!strcmp(o, "--gene-shifts")) a->gene_shifts = v;
        else if (!strcmp(o, "--mixture")) a->mixture = v;
        else if (!strcmp(o, "--mixture-reg")) { if (cli_double(CMD, o, v, 0, 1e6, &a->mixture_reg)) return 2; }
        else if (!strcmp(o, "--dump-tokens")) a->dump = v;
        else if (!strcmp(o, "--pool")) a->pool = v;
        else if (!strcmp(o, "--layer")) a->layer = v;
        else if (!strcmp(o, "--shift-fraction")) { if (cli_double(CMD, o, v, 1e-9, 1.0, &a->shift_fraction)) return 2; }
        else if (!strcmp(o, "--cell-range")) { if (parse_range(a, v)) return 2; }
        else if (!strcmp(o, "--max-cells")) { if (cli_long(CMD, o, v, 1, LONG_MAX, &a->max_cells)) return 2; }
        else if (!strcmp(o, "--goal-cells")) { if (cli_long(CMD, o, v, 1, LONG_MAX, &a->goal_cells)) return 2; }
        else if (!strcmp(o, "--null-genes")) { if (cli_long(CMD, o, v, 1, 1L << 20, &a->null_genes)) return 2; }
        else if (!strcmp(o, "--seed")) { if (cli_long(CMD, o, v, 0, LONG_MAX, &a->seed)) return 2; }
        else if (!strcmp(o, "--batch-tokens")) { if (cli_long(CMD, o, v, 1, 1L << 30, &a->batch_tokens)) return 2; }
        else if (!strcmp(o, "--batch-cells")) { if (cli_long(CMD, o, v, 1, 1L << 20, &a->batch_cells)) return 2; }
        else if (!strcmp(o, "--threads")) { if (cli_long(CMD, o, v, 1, 4096, &a->threads)) return 2; }
        else if (!strcmp(o, "--precision")) { if (cli_precision(CMD, o, v, &a->precision)) return 2; }
        else return cli_usage_error(CMD, "unknown option %s", o);
    }
    return 0;
}

/* Cells whose obs COL equals VALUE ("COL=VALUE"); all cells when spec is NULL. */
/* Does cell i match one COL=V1,V2,... filter (any of the values)? col < 0 on a bad spec. */
static int parse_spec(const scfm_corpus *c, const char *spec, const char *opt, long *col, const char **values) {
    const char *eq = strchr(spec, '=');
    if (!eq || eq == spec) return cli_usage_error(CMD, "%s wants COL=VALUE or COL=V1,V2, got '%s'", opt, spec);
    char name[256];
    snprintf(name, sizeof name, "%.*s", (int)(eq - spec), spec);
    *col = scfm_corpus_obs_index(c, name);
    if (*col < 0) return cli_errorf(CMD, "%s: %s: no obs column '%s' in the corpus", scfm_corpus_dir(c), opt, name);
    *values = eq + 1;
    return 0;
}

static int value_in(const char *v, const char *list) {
    size_t n = strlen(v);
    for (const char *p = list;;) {
        const char *e = strchr(p, ',');
        size_t k = e ? (size_t)(e - p) : strlen(p);
        if (k == n && !strncmp(p, v, n)) return 1;
        if (!e) return 0;
        p = e + 1;
    }
}

/* Cells matching every filter specs[k] (AND); a filter COL=V1,V2 takes any of its values (OR). */
static int select_cells_all(const scfm_corpus *c, const char *const *specs, size_t n_specs, const char *opt, size_t **out,
                            size_t *n) {
    size_t nc = scfm_corpus_n_cells(c);
    *n = 0;
    *out = malloc((nc ? nc : 1) * sizeof **out);
    if (!*out) return cli_errorf(CMD, "out of memory");
    long cols[MAX_NAMES];
    const char *vals[MAX_NAMES];
    for (size_t k = 0; k < n_specs; k++) {
        int rc = parse_spec(c, specs[k], opt, &cols[k], &vals[k]);
        if (rc) return rc;
    }
    for (size_t i = 0; i < nc; i++) {
        int ok = 1;
        for (size_t k = 0; k < n_specs && ok; k++) ok = value_in(scfm_corpus_obs(c, i, (size_t)cols[k]), vals[k]);
        if (ok) (*out)[(*n)++] = i;
    }
    if (!*n) {
        char all[1024] = "";
        size_t o = 0;
        for (size_t k = 0; k < n_specs && o < sizeof all; k++)
            o += (size_t)snprintf(all + o, sizeof all - o, "%s%s", k ? " and " : "", specs[k]);
        return cli_errorf(CMD, "%s: %s: no cell has %s", scfm_corpus_dir(c), opt, all);
    }
    return 0;
}

static int select_cells(const scfm_corpus *c, const char *spec, const char *opt, size_t **out, size_t *n) {
    return select_cells_all(c, &spec, spec ? 1 : 0, opt, out, n);
}

/* Mean embedding of the cells of state `spec` (at most cap) into out[H]. */
static int state_embedding(scfm_model *m, const scfm_corpus *c, const char *spec, const char *opt, size_t cap,
                           const scfm_embed_opts *eo, float *out) {
    size_t *cells = NULL, n = 0, H = m->cfg.hidden_size;
    int rc = select_cells(c, spec, opt, &cells, &n);
    if (!rc && n > cap) n = cap;
    float *e = rc ? NULL : malloc(n * H * sizeof *e);
    if (!rc && !e) rc = cli_errorf(CMD, "out of memory");
    if (!rc && scfm_embed_cells(m, c, cells, n, eo, e, NULL)) rc = cli_fail(CMD);
    if (!rc) {
        for (size_t d = 0; d < H; d++) {
            double s = 0;
            for (size_t i = 0; i < n; i++) s += e[i * H + d];
            out[d] = (float)(s / (double)n);
        }
    }
    free(cells);
    free(e);
    return rc;
}

typedef struct {
    const scfm_vocab *v;
    scfm_gene_map *map;
    int32_t *ids;
    char **names; /* the name the user gave, per id */
    size_t n, cap;
} gene_list;

static void gene_list_free(gene_list *g) {
    for (size_t i = 0; i < g->n; i++) free(g->names[i]);
    free(g->ids);
    free(g->names);
}

/* A gene name -> token id: the vocabulary token itself, its normalized form, or a symbol
 * through the name maps. Errors name the gene and the option. */
static int resolve_gene(const gene_list *g, const char *name, const char *opt, int32_t *out) {
    int64_t id = scfm_vocab_lookup(g->v, name);
    char norm[256];
    snprintf(norm, sizeof norm, "%s", name);
    scfm_gene_normalize(norm);
    if (id < 0) id = scfm_vocab_lookup(g->v, norm);
    if (id < 0 && g->map) {
        const char *ens = scfm_gene_map_lookup(g->map, norm);
        if (ens) {
            id = scfm_vocab_lookup(g->v, ens);
            if (id < 0)
                return cli_errorf(CMD, "%s: gene '%s' maps to %s, which is not in the corpus vocabulary", opt, name, ens);
        }
    }
    if (id < 0)
        return cli_errorf(CMD, "%s: unknown gene '%s': not in the corpus vocabulary%s", opt, name,
                          g->map ? " nor in the --gene-names tables" : " (give Ensembl IDs, or symbols with --gene-names)");
    if (!strncmp(name, "<", 1)) return cli_errorf(CMD, "%s: '%s' is a special token, not a gene", opt, name);
    *out = (int32_t)id;
    return 0;
}

static int add_gene(gene_list *g, const char *name, const char *opt) {
    int32_t id;
    if (resolve_gene(g, name, opt, &id)) return 1;
    for (size_t i = 0; i < g->n; i++)
        if (g->ids[i] == id) return 0; /* listed twice */
    if (g->n == g->cap) {
        size_t cap = g->cap ? 2 * g->cap : 16;
        int32_t *ids = realloc(g->ids, cap * sizeof *ids);
        if (ids) g->ids = ids;
        char **nm = ids ? realloc(g->names, cap * sizeof *nm) : NULL;
        if (nm) g->names = nm;
        if (!nm) return cli_errorf(CMD, "out of memory");
        g->cap = cap;
    }
    if (!(g->names[g->n] = scfm_strdup(name))) return cli_errorf(CMD, "out of memory");
    g->ids[g->n++] = id;
    return 0;
}

static int parse_gene_spec(gene_list *g, const char *spec) {
    char *copy = scfm_strdup(spec);
    if (!copy) return cli_errorf(CMD, "out of memory");
    int rc = 0;
    for (char *save = NULL, *t = strtok_r(copy, ",", &save); t && !rc; t = strtok_r(NULL, ",", &save))
        if (*t) rc = add_gene(g, t, "--genes");
    free(copy);
    return rc;
}

static int parse_gene_file(gene_list *g, const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return cli_errorf(CMD, "--gene-file: %s: cannot open: %s", path, strerror(errno));
    char line[4096], opt[4200];
    snprintf(opt, sizeof opt, "--gene-file %s", path);
    int rc = 0;
    size_t before = g->n, lines = 0;
    while (!rc && fgets(line, sizeof line, f)) {
        lines++;
        line[strcspn(line, "\t\r\n")] = 0;
        char *s = line;
        while (*s == ' ') s++;
        size_t l = strlen(s);
        while (l && s[l - 1] == ' ') s[--l] = 0;
        if (!*s || *s == '#') continue;
        rc = add_gene(g, s, opt);
    }
    int bad = ferror(f);
    fclose(f);
    if (!rc && bad) rc = cli_errorf(CMD, "--gene-file: %s: read error", path);
    if (!rc && g->n == before && lines == 0) rc = cli_errorf(CMD, "--gene-file: %s: no genes", path);
    return rc;
}

/* --null-fixed: n_units * u random genes expressed in the cells (not listed, not the anchor). */
static int fixed_null(const scfm_corpus *c, const size_t *cells, size_t n, const uint8_t *excluded, size_t V,
                      size_t want, uint64_t seed, int32_t **out, size_t *n_out) {
    uint8_t *seen = calloc(V, 1);
    int32_t *cand = malloc(V * sizeof *cand);
    uint8_t *special = NULL;
    if (!seen || !cand || scfm_embed_special_mask(c, V, &special)) {
        free(seen);
        free(cand);
        return cli_errorf(CMD, "out of memory");
    }
    for (size_t k = 0; k < n; k++) {
        const int32_t *t;
        size_t len;
        if (scfm_corpus_cell(c, cells[k], &t, &len, NULL)) continue;
        for (size_t i = 0; i < len; i++)
            if (t[i] >= 0 && (size_t)t[i] < V) seen[t[i]] = 1;
    }
    size_t nc = 0;
    for (size_t t = 0; t < V; t++)
        if (seen[t] && !special[t] && !excluded[t]) cand[nc++] = (int32_t)t;
    if (want > nc) want = nc;
    scfm_rng rng;
    scfm_rng_seed(&rng, scfm_hash3(seed, 1, 0));
    for (size_t i = 0; i < want; i++) {
        size_t j = i + (size_t)scfm_rng_below(&rng, nc - i);
        int32_t x = cand[i];
        cand[i] = cand[j];
        cand[j] = x;
    }
    free(seen);
    free(special);
    *out = cand;
    *n_out = want;
    return 0;
}

static char *set_label(const gene_list *g, int symbols) {
    size_t l = 1;
    for (size_t i = 0; i < g->n; i++)
        l += strlen(symbols ? g->names[i] : scfm_vocab_token(g->v, (size_t)g->ids[i])) + 1;
    char *s = malloc(l);
    if (!s) return NULL;
    s[0] = 0;
    for (size_t i = 0; i < g->n; i++) {
        if (i) strcat(s, "+");
        strcat(s, symbols ? g->names[i] : scfm_vocab_token(g->v, (size_t)g->ids[i]));
    }
    return s;
}

/* Gene symbols: from the --gene-names tables, else from the tables the corpus was tokenized
 * with (corpus.json settings gene_names_K) when they are still there. NULL: none known. */
static scfm_gene_map *symbol_map(const scfm_corpus *c, scfm_gene_map *given, int *own) {
    *own = 0;
    if (given) return given;
    const scfm_json *st = scfm_json_get(scfm_corpus_meta(c), "settings");
    scfm_gene_map *m = NULL;
    for (int k = 0; st && k < 64; k++) {
        char key[32];
        const char *path = NULL;
        snprintf(key, sizeof key, "gene_names_%d", k);
        if (scfm_json_get_string(st, key, &path) || !path) break;
        if (access(path, R_OK)) {
            fprintf(stderr, "scfm perturb: warning: %s (the corpus's gene-name table) is not readable: no symbols "
                    "from it (give --gene-names)\n", path);
            continue;
        }
        if (!m && !(m = scfm_gene_map_new())) break;
        if (scfm_gene_map_add_file(m, path))
            fprintf(stderr, "scfm perturb: warning: %s: %s: no symbols from it\n", path, scfm_last_error());
    }
    scfm_clear_error();
    *own = m != NULL;
    return m;
}

/* The names the tables print per slot: token, the name given, the symbol. */
static int names_build(pt_names *nm, const args *a, const gene_list *gl, const scfm_vocab *v, const scfm_corpus *c,
                       size_t V, char **set_strs) {
    memset(nm, 0, sizeof *nm);
    nm->V = V;
    nm->id = calloc(V + 2, sizeof *nm->id);
    nm->name = calloc(V + 2, sizeof *nm->name);
    nm->symbol = calloc(V + 2, sizeof *nm->symbol);
    if (!nm->id || !nm->name || !nm->symbol) return cli_errorf(CMD, "out of memory");
    int own;
    scfm_gene_map *map = symbol_map(c, gl->map, &own);
    for (size_t t = 0; t < V; t++) {
        const char *tok = scfm_vocab_token(v, t), *sym = map ? scfm_gene_map_symbol(map, tok) : NULL;
        nm->id[t] = nm->name[t] = tok;
        /* a vocabulary keyed by symbols (vocab build --symbols): the token is the symbol */
        nm->symbol[t] = sym ? sym : tok && tok[0] != '<' && !scfm_is_ensembl_id(tok) ? tok : "";
    }
    for (size_t i = 0; i < gl->n; i++) nm->name[gl->ids[i]] = gl->names[i];
    nm->id[SCFM_PERTURB_SLOT_NULL(V)] = nm->name[SCFM_PERTURB_SLOT_NULL(V)] = "<null>";
    if (a->together) {
        set_strs[0] = set_label(gl, 0);
        set_strs[1] = set_label(gl, 1);
        size_t l = 1;
        for (size_t i = 0; i < gl->n; i++) l += strlen(nm->symbol[gl->ids[i]]) + 1;
        if ((set_strs[2] = malloc(l))) { /* the symbols joined; "" when one is unknown */
            set_strs[2][0] = 0;
            size_t i = 0;
            for (; i < gl->n && *nm->symbol[gl->ids[i]]; i++) {
                if (i) strcat(set_strs[2], "+");
                strcat(set_strs[2], nm->symbol[gl->ids[i]]);
            }
            if (i < gl->n) set_strs[2][0] = 0;
        }
        nm->id[SCFM_PERTURB_SLOT_SET(V)] = set_strs[0];
        nm->name[SCFM_PERTURB_SLOT_SET(V)] = set_strs[1];
        nm->symbol[SCFM_PERTURB_SLOT_SET(V)] = set_strs[2];
    }
    /* symbols point into the map: kept until the tables are written (freed by names_free) */
    nm->own_map = own ? map : NULL;
    if (a->goal) nm->goal = pt_state_value(a->goal);
    for (size_t k = 0; k < a->n_alt; k++) nm->alt[k] = pt_state_value(a->alt[k]);
    nm->n_alt = a->n_alt;
    if (a->together && (!set_strs[0] || !set_strs[1] || !set_strs[2])) return cli_errorf(CMD, "out of memory");
    return 0;
}

static void names_free(pt_names *nm) {
    free(nm->id);
    free(nm->name);
    free(nm->symbol);
    scfm_gene_map_free(nm->own_map);
}

typedef struct {
    uint64_t key, cnt;
    double mean, sd;
} gs_row;

static int cmp_gs(const void *a, const void *b) {
    const gs_row *x = a, *y = b;
    uint64_t sx = (x->key - 1) >> 32, sy = (y->key - 1) >> 32;
    if (sx != sy) return sx < sy ? -1 : 1;
    if (x->mean != y->mean) return x->mean < y->mean ? -1 : 1;
    return (x->key > y->key) - (x->key < y->key);
}

static int write_gene_shifts(const char *path, const scfm_perturb_result *r, const scfm_vocab *v, const pt_names *nm) {
    gs_row *rows = malloc((r->gs_n ? r->gs_n : 1) * sizeof *rows);
    if (!rows) return cli_errorf(CMD, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < r->gs_cap; i++)
        if (r->gs_key[i])
            rows[n++] = (gs_row){r->gs_key[i], r->gs_cnt[i], r->gs_sum[i] / (double)r->gs_cnt[i],
                                 r->gs_cnt[i] > 1 ? sqrt(r->gs_m2[i] / (double)(r->gs_cnt[i] - 1)) : NAN};
    qsort(rows, n, sizeof *rows, cmp_gs);
    char tmp[4096];
    FILE *f = pt_open_tmp(CMD, path, tmp, sizeof tmp);
    if (!f) {
        free(rows);
        return 1;
    }
    fprintf(f, "perturbed\tperturbed_token\taffected\taffected_token\tn_cells\tmean_cos\tperturbed_symbol\t"
               "affected_symbol\tsd_cos\n");
    for (size_t i = 0; i < n; i++) {
        size_t slot = (size_t)((rows[i].key - 1) >> 32), t = (size_t)((rows[i].key - 1) & 0xffffffffu);
        fprintf(f, "%s\t%d\t%s\t%zu\t%llu\t%.9g\t%s\t%s\t%.9g\n", nm->id[slot], slot < r->V ? (int)slot : -1,
                scfm_vocab_token(v, t), t, (unsigned long long)rows[i].cnt, rows[i].mean,
                nm->symbol[slot] ? nm->symbol[slot] : "", t < r->V && nm->symbol[t] ? nm->symbol[t] : "", rows[i].sd);
    }
    free(rows);
    return pt_finish_file(CMD, f, tmp, path);
}

typedef struct {
    FILE *f;
    size_t V;
} dump_ctx;

static void dump_seq(void *ud, size_t cell, size_t slot, const int32_t *ug, size_t nug, const int32_t *ids, size_t len) {
    dump_ctx *d = ud;
    const char *kind = slot == (size_t)-1 ? "baseline" : slot == SCFM_PERTURB_SLOT_NULL(d->V) ? "null"
                                                      : slot == SCFM_PERTURB_SLOT_SET(d->V) ? "set" : "gene";
    fprintf(d->f, "%zu\t%s\t", cell, kind);
    for (size_t i = 0; i < nug; i++) fprintf(d->f, "%s%d", i ? "+" : "", (int)ug[i]);
    if (!nug) fprintf(d->f, "-");
    fprintf(d->f, "\t");
    for (size_t i = 0; i < len; i++) fprintf(d->f, "%s%d", i ? " " : "", (int)ids[i]);
    fprintf(d->f, "\n");
}

static int run(const args *a, scfm_corpus *c, scfm_model *m, scfm_vocab *v) {
    size_t V = m->cfg.vocab_size, H = m->cfg.hidden_size;
    scfm_perturb_opts o;
    scfm_perturb_opts_init(&o);
    o.mode = (scfm_perturb_mode)a->mode;
    if (a->shift_fraction > 0) o.shift_fraction = a->shift_fraction;
    if (a->layer && cli_long(CMD, "--layer", a->layer, -10000, 10000, &o.embed.layer)) return 2;
    if (a->pool && strcmp(a->pool, "mean") && strcmp(a->pool, "cls"))
        return cli_usage_error(CMD, "--pool: '%s' is not mean or cls", a->pool);
    o.embed.pool = a->pool && !strcmp(a->pool, "cls") ? SCFM_POOL_CLS : SCFM_POOL_MEAN;
    o.embed.batch_tokens = (size_t)a->batch_tokens;
    o.embed.batch_cells = (size_t)a->batch_cells;
    o.embed.truncate = a->truncate;
    o.together = a->together;
    o.gene_shifts = a->gene_shifts != NULL;
    o.seed = (uint64_t)a->seed;
    gene_list gl;
    memset(&gl, 0, sizeof gl);
    gl.v = v;
    size_t *cells = NULL, n = 0, nstat = 0, n_fixed = 0;
    float *goal = NULL, *alt = NULL;
    int32_t *fixed = NULL;
    uint8_t *excluded = NULL;
    char *set_strs[3] = {NULL, NULL, NULL}; /* the set's IDs, names, symbols */
    scfm_perturb_result r;
    memset(&r, 0, sizeof r);
    scfm_perturb_stat *st = NULL;
    FILE *dumpf = NULL;
    int rc = 0;
    if (a->n_names) {
        gl.map = scfm_gene_map_new();
        if (!gl.map) rc = cli_fail(CMD);
        for (size_t i = 0; !rc && i < a->n_names; i++)
            if (scfm_gene_map_add_file(gl.map, a->names[i])) rc = cli_fail(CMD);
    }
    int32_t anchor = -1;
    if (!rc && a->anchor) rc = resolve_gene(&gl, a->anchor, "--anchor", &anchor);
    o.anchor = anchor;
    if (!rc && a->genes) rc = parse_gene_spec(&gl, a->genes);
    if (!rc && a->gene_file) rc = parse_gene_file(&gl, a->gene_file);
    if (!rc && anchor >= 0)
        for (size_t i = 0; i < gl.n; i++)
            if (gl.ids[i] == anchor) {
                rc = cli_usage_error(CMD, "--anchor %s is also among the genes to perturb", a->anchor);
                break;
            }
    if (!rc && (a->genes || a->gene_file) && !gl.n) rc = cli_usage_error(CMD, "no genes given");
    o.genes = gl.n ? gl.ids : NULL;
    o.n_genes = gl.n;
    if (!rc && a->mode == SCFM_PERTURB_OVEREXPRESS && !o.genes)
        rc = cli_usage_error(CMD, "--overexpress needs --genes or --gene-file");
    if (!rc && a->together && !o.genes) rc = cli_usage_error(CMD, "--together needs --genes or --gene-file");
    if (!rc && a->null_fixed && !a->null_genes) rc = cli_usage_error(CMD, "--null-fixed needs --null-genes N");
    if (!rc) rc = select_cells_all(c, a->cell_specs, a->n_cell_specs, "--cells", &cells, &n);
    if (!rc && a->max_cells > 0 && (size_t)a->max_cells < n) n = (size_t)a->max_cells;
    /* --cell-range A:B: cells [A, B) of the selection; everything drawn from the selection as a
     * whole (the --null-fixed genes) is drawn from all of it, so that pieces add up to one run */
    size_t first = 0, n_all = n;
    if (!rc && a->range_set) {
        if ((size_t)a->range_a >= n)
            rc = cli_errorf(CMD, "--cell-range %ld:%ld: the selection has only %zu cells", a->range_a, a->range_b, n);
        first = (size_t)a->range_a;
        if (!rc && (size_t)a->range_b < n) n = (size_t)a->range_b;
        n -= first;
    }
    size_t cap = a->goal_cells > 0 ? (size_t)a->goal_cells : 200;
    if (!rc && a->goal) {
        if (!(goal = calloc(H, sizeof *goal))) rc = cli_errorf(CMD, "out of memory");
        else rc = state_embedding(m, c, a->goal, "--goal", cap, &o.embed, goal);
        o.goal = goal;
    }
    if (!rc && a->n_alt) {
        if (!(alt = calloc(a->n_alt * H, sizeof *alt))) rc = cli_errorf(CMD, "out of memory");
        for (size_t k = 0; !rc && k < a->n_alt; k++) rc = state_embedding(m, c, a->alt[k], "--alt", cap, &o.embed, alt + k * H);
        o.alt = alt;
        o.n_alt = a->n_alt;
    }
    if (!rc && a->null_genes) {
        size_t u = a->together ? gl.n : 1;
        if (a->null_fixed) {
            if (!(excluded = calloc(V, 1))) rc = cli_errorf(CMD, "out of memory");
            for (size_t i = 0; !rc && i < gl.n; i++) excluded[gl.ids[i]] = 1;
            if (!rc && anchor >= 0) excluded[anchor] = 1;
            if (!rc) rc = fixed_null(c, cells, n_all, excluded, V, (size_t)a->null_genes * u, o.seed, &fixed,
                                     &n_fixed);
            if (!rc && n_fixed < u) rc = cli_errorf(CMD, "--null-fixed: the cells express too few other genes");
            o.null_genes = fixed;
            o.n_null_genes = n_fixed;
        } else {
            o.null_per_cell = (size_t)a->null_genes;
        }
    }
    pt_names nm;
    memset(&nm, 0, sizeof nm);
    if (!rc) rc = names_build(&nm, a, &gl, v, c, V, set_strs);
    dump_ctx dc = {NULL, V};
    if (!rc && a->dump) {
        if (!(dumpf = fopen(a->dump, "w"))) rc = cli_errorf(CMD, "%s: cannot create: %s", a->dump, strerror(errno));
        dc.f = dumpf;
        o.on_seq = dump_seq;
        o.on_seq_ud = &dc;
    }
    if (!rc && scfm_perturb_cells(m, c, cells + first, n, &o, &r)) rc = cli_fail(CMD);
    if (dumpf && fclose(dumpf) && !rc) rc = cli_errorf(CMD, "%s: write failed", a->dump);
    for (size_t i = 0; !rc && !a->together && i < gl.n; i++)
        if (!r.n[gl.ids[i]])
            fprintf(stderr, "scfm perturb: warning: no selected cell has %s (%s): no row for it\n", gl.names[i],
                    scfm_vocab_token(v, (size_t)gl.ids[i]));
    if (!rc && scfm_perturb_stats(&r, &st, &nstat)) rc = cli_fail(CMD);
    if (!rc && a->shifts) rc = pt_write_shifts(CMD, a->shifts, &r, c, &nm);
    if (!rc && a->gene_shifts) rc = write_gene_shifts(a->gene_shifts, &r, v, &nm);
    if (!rc && a->mixture) rc = pt_write_mixture(CMD, a->mixture, st, nstat, &nm, a->mixture_reg);
    if (!rc) rc = pt_write_stats(CMD, a->out, st, nstat, &nm);
    if (!rc) {
        pt_print_summary(CMD, &r, st, nstat, a->out);
    }
    gene_list_free(&gl);
    scfm_gene_map_free(gl.map);
    free(cells);
    free(goal);
    free(alt);
    free(fixed);
    free(excluded);
    for (int k = 0; k < 3; k++) free(set_strs[k]);
    names_free(&nm);
    free(st);
    scfm_perturb_result_free(&r);
    return rc;
}

int cmd_perturb(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        perturb_help();
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "aggregate")) return cmd_perturb_aggregate(argc - 1, argv + 1);
    args a;
    memset(&a, 0, sizeof a);
    a.mixture_reg = 1e-6;
    int rc = parse_args(&a, argc, argv);
    if (rc) return rc;
    if (!a.corpus) return cli_usage_error(CMD, "no corpus given");
    if (!a.model) return cli_usage_error(CMD, "-m MODEL_DIR is required");
    if (!a.out) return cli_usage_error(CMD, "-o OUT.tsv is required");
    {
        const char *files[] = {a.out, a.shifts, a.gene_shifts, a.mixture};
        const char *opts[] = {"-o", "--shifts", "--gene-shifts", "--mixture"};
        for (int k = 0; k < 4; k++) {
            size_t l = files[k] ? strlen(files[k]) : 0;
            if (files[k] && !(l >= 4 && (!strcmp(files[k] + l - 4, ".tsv") || !strcmp(files[k] + l - 4, ".txt"))))
                return cli_usage_error(CMD, "%s %s: perturbation tables are tab-separated: name the file .tsv", opts[k],
                                       files[k]);
        }
    }
    if (a.mode < 0) return cli_usage_error(CMD, "one of --delete, --overexpress, --inhibit, --activate is required");
    if (a.shift_fraction > 0 && a.mode != SCFM_PERTURB_INHIBIT && a.mode != SCFM_PERTURB_ACTIVATE)
        return cli_usage_error(CMD, "--shift-fraction applies to --inhibit and --activate only");
#ifdef SCFM_HAVE_OPENMP
    if (a.threads > 0) omp_set_num_threads((int)a.threads);
#endif
    scfm_corpus *c = scfm_corpus_open(a.corpus);
    if (!c) return cli_fail(CMD);
    scfm_vocab *v = scfm_corpus_load_vocab(c);
    scfm_model *m = v ? scfm_model_load(a.model, SCFM_HEAD_NONE) : NULL;
    if (!v || !m) rc = cli_fail(CMD);
    else if ((rc = cli_set_precision(CMD, m, a.precision))) {
    } else if (scfm_embed_check_vocab(m, a.model, c)) rc = cli_fail(CMD);
    else rc = run(&a, c, m, v);
    scfm_model_free(m);
    scfm_vocab_free(v);
    scfm_corpus_close(c);
    return rc;
}
