/* scfm grn: targets of transcription factors by in-silico deletion (GeneCompass, docs/computation.md section 7),
 * ranked genes with a test against random genes' deletions, an edge table, and scores
 * against a reference network (precision at k, AUPRC; and the gene-embedding cosine route).
 * Output: docs/grn.md. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef SCFM_HAVE_OPENMP
#include <omp.h>
#endif

#include "cli.h"
#include "scfm/analysis.h"
#include "scfm/corpus.h"
#include "scfm/genes.h"
#include "scfm/grn.h"
#include "scfm/json.h"
#include "scfm/model.h"
#include "scfm/priors.h"

static const char *CMD = "grn";

static void grn_help(void) {
    printf(
        "usage: scfm grn CORPUS -m MODEL_DIR -o PREFIX [--tfs G,G | --tf-file FILE | --network EDGES.tsv] [options]\n\n"
        "For each TF, in the cells that express it: delete it, run the model, and compare every other gene's\n"
        "token state (chosen layer, default the last) with its state in the unperturbed cell (cosine); the\n"
        "mean over cells ranks the TF's candidate targets (ascending). Each gene's cosines are tested against\n"
        "its cosines when random expressed genes are deleted in the same cells (Mann-Whitney, one-sided, BH).\n"
        "All deletions of a cell run in one batch.\n"
        "TFs:\n"
        "  --tfs G,G,...        TFs (vocabulary tokens, or symbols with --gene-names)\n"
        "  --tf-file FILE       TFs, one per line\n"
        "  (neither)            every TF of --network that >= --min-tf-cells selected cells express\n"
        "  --max-tfs N          at most N TFs (those expressed in most cells)\n"
        "  --gene-names FILE    symbol -> Ensembl ID table (repeatable)\n"
        "Cells:\n"
        "  --cells COL=VALUE    only cells whose obs column COL equals VALUE\n"
        "  --max-cells N        cells per TF (a seeded sample of those expressing it; default 200)\n"
        "  --min-tf-cells N     network TFs need this many expressing cells (default 10)\n"
        "  --null-genes N       random expressed genes deleted per cell for the null (default 4)\n"
        "  --seed S             seed of the samples (default 0)\n"
        "Reference network (scores):\n"
        "  --network FILE       TF -> target table (DoRothEA, TRRUST, any TSV with TF and target columns)\n"
        "  --confidence L,...   keep rows whose confidence column is one of these (DoRothEA: A,B,C)\n"
        "  --tf-col NAMES, --target-col NAMES, --conf-col NAME  columns, as in scfm priors build grn\n"
        "  --prior-report FILE  report of a prior the model was built with (repeatable); a network whose\n"
        "                       content hash a GRN prior of the model records is refused (also looked for in\n"
        "                       MODEL_DIR/config.json \"scfm_grn_prior_hashes\", MODEL_DIR/prior_*.json,\n"
        "                       MODEL_DIR/priors/*.json)\n"
        "  --force              score against it anyway\n"
        "  --route2-cells N     cells averaged for the gene-embedding route (default 500; 0 = skip it)\n"
        "Outputs:\n"
        "  PREFIX.targets.tsv   tf tf_token rank target mean_cos n_cells z p fdr known\n"
        "  PREFIX.edges.tsv     TF target score (1 - mean cosine), all TFs\n"
        "  PREFIX.scores.tsv    per TF with known targets: tf n_cells n_scored k precision_at_k random_baseline auprc\n"
        "  PREFIX.summary.json  medians over TFs, the gene-embedding route\n"
        "  --layer N, --batch-tokens N, --batch-cells N, --truncate, --threads N  as in scfm embed\n");
}

#define MAX_NAMES 16

typedef struct {
    const char *corpus, *model, *out, *tfs, *tf_file, *cells, *network, *confidence, *tf_col, *target_col, *conf_col,
        *layer;
    const char *names[MAX_NAMES], *reports[MAX_NAMES];
    size_t n_names, n_reports;
    long max_cells, min_tf_cells, null_genes, seed, max_tfs, route2_cells, batch_tokens, batch_cells, threads;
    int truncate, force;
} args;

static int parse_args(args *a, int argc, char **argv) {
    a->max_cells = 200;
    a->min_tf_cells = 10;
    a->null_genes = 4;
    a->route2_cells = 500;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (o[0] != '-' || !o[1]) {
            if (a->corpus) return cli_usage_error(CMD, "one corpus only (got '%s' and '%s')", a->corpus, o);
            a->corpus = o;
            continue;
        }
        if (!strcmp(o, "--truncate")) { a->truncate = 1; continue; }
        if (!strcmp(o, "--force")) { a->force = 1; continue; }
        if (!v) return cli_usage_error(CMD, "%s needs a value", o);
        i++;
        if (!strcmp(o, "-m") || !strcmp(o, "--model")) a->model = v;
        else if (!strcmp(o, "-o") || !strcmp(o, "--out")) a->out = v;
        else if (!strcmp(o, "--tfs")) a->tfs = v;
        else if (!strcmp(o, "--tf-file")) a->tf_file = v;
        else if (!strcmp(o, "--cells")) a->cells = v;
        else if (!strcmp(o, "--network")) a->network = v;
        else if (!strcmp(o, "--confidence")) a->confidence = v;
        else if (!strcmp(o, "--tf-col")) a->tf_col = v;
        else if (!strcmp(o, "--target-col")) a->target_col = v;
        else if (!strcmp(o, "--conf-col")) a->conf_col = v;
        else if (!strcmp(o, "--layer")) a->layer = v;
        else if (!strcmp(o, "--gene-names")) {
            if (a->n_names == MAX_NAMES) return cli_usage_error(CMD, "%s: at most %d", o, MAX_NAMES);
            a->names[a->n_names++] = v;
        } else if (!strcmp(o, "--prior-report")) {
            if (a->n_reports == MAX_NAMES) return cli_usage_error(CMD, "%s: at most %d", o, MAX_NAMES);
            a->reports[a->n_reports++] = v;
        }
        else if (!strcmp(o, "--max-cells")) { if (cli_long(CMD, o, v, 1, LONG_MAX, &a->max_cells)) return 2; }
        else if (!strcmp(o, "--min-tf-cells")) { if (cli_long(CMD, o, v, 1, LONG_MAX, &a->min_tf_cells)) return 2; }
        else if (!strcmp(o, "--null-genes")) { if (cli_long(CMD, o, v, 1, 1 << 20, &a->null_genes)) return 2; }
        else if (!strcmp(o, "--seed")) { if (cli_long(CMD, o, v, 0, LONG_MAX, &a->seed)) return 2; }
        else if (!strcmp(o, "--max-tfs")) { if (cli_long(CMD, o, v, 1, LONG_MAX, &a->max_tfs)) return 2; }
        else if (!strcmp(o, "--route2-cells")) { if (cli_long(CMD, o, v, 0, LONG_MAX, &a->route2_cells)) return 2; }
        else if (!strcmp(o, "--batch-tokens")) { if (cli_long(CMD, o, v, 1, 1L << 30, &a->batch_tokens)) return 2; }
        else if (!strcmp(o, "--batch-cells")) { if (cli_long(CMD, o, v, 1, 1L << 20, &a->batch_cells)) return 2; }
        else if (!strcmp(o, "--threads")) { if (cli_long(CMD, o, v, 1, 4096, &a->threads)) return 2; }
        else return cli_usage_error(CMD, "unknown option %s", o);
    }
    if (!a->corpus) return cli_usage_error(CMD, "no corpus given");
    if (!a->model) return cli_usage_error(CMD, "-m MODEL_DIR is required");
    if (!a->out) return cli_usage_error(CMD, "-o PREFIX is required");
    if (!a->tfs && !a->tf_file && !a->network)
        return cli_usage_error(CMD, "which TFs? give --tfs, --tf-file or a --network whose TFs are scored");
    return 0;
}

/* A gene name -> token: the token itself, normalized, or a symbol through the name map. */
static int32_t gene_token(const scfm_vocab *v, const scfm_gene_map *map, const char *name) {
    int64_t id = scfm_vocab_lookup(v, name);
    char norm[256];
    snprintf(norm, sizeof norm, "%s", name);
    scfm_gene_normalize(norm);
    if (id < 0) id = scfm_vocab_lookup(v, norm);
    if (id < 0 && map) {
        const char *e = scfm_gene_map_lookup(map, norm);
        if (e) id = scfm_vocab_lookup(v, e);
    }
    if (name[0] == '<') return -1;
    return (int32_t)id;
}

typedef struct {
    int32_t *tok;
    char **name;
    size_t n, cap;
} tf_list;

static int tf_add(tf_list *l, int32_t t, const char *name) {
    for (size_t i = 0; i < l->n; i++)
        if (l->tok[i] == t) return 0;
    if (l->n == l->cap) {
        size_t c = l->cap ? 2 * l->cap : 64;
        int32_t *nt = realloc(l->tok, c * sizeof *nt);
        if (nt) l->tok = nt;
        char **nn = nt ? realloc(l->name, c * sizeof *nn) : NULL;
        if (nn) l->name = nn;
        if (!nn) return cli_errorf(CMD, "out of memory");
        l->cap = c;
    }
    l->tok[l->n] = t;
    if (!(l->name[l->n] = scfm_strdup(name))) return cli_errorf(CMD, "out of memory");
    l->n++;
    return 0;
}

static int tf_named(tf_list *l, const scfm_vocab *v, const scfm_gene_map *map, const char *name, const char *opt) {
    int32_t t = gene_token(v, map, name);
    if (t < 0)
        return cli_errorf(CMD, "%s: unknown gene '%s': not in the corpus vocabulary%s", opt, name,
                          map ? " nor in the --gene-names tables" : " (give Ensembl IDs, or symbols with --gene-names)");
    return tf_add(l, t, name);
}

/* Cells whose obs COL equals VALUE; all when spec is NULL. */
static int select_cells(const scfm_corpus *c, const char *spec, size_t **out, size_t *n) {
    size_t nc = scfm_corpus_n_cells(c);
    *n = 0;
    *out = malloc((nc ? nc : 1) * sizeof **out);
    if (!*out) return cli_errorf(CMD, "out of memory");
    if (!spec) {
        for (size_t i = 0; i < nc; i++) (*out)[(*n)++] = i;
        return 0;
    }
    const char *eq = strchr(spec, '=');
    if (!eq || eq == spec) return cli_usage_error(CMD, "--cells wants COL=VALUE, got '%s'", spec);
    char col[256];
    snprintf(col, sizeof col, "%.*s", (int)(eq - spec), spec);
    long k = scfm_corpus_obs_index(c, col);
    if (k < 0) return cli_errorf(CMD, "%s: --cells: no obs column '%s' in the corpus", scfm_corpus_dir(c), col);
    for (size_t i = 0; i < nc; i++)
        if (!strcmp(scfm_corpus_obs(c, i, (size_t)k), eq + 1)) (*out)[(*n)++] = i;
    if (!*n) return cli_errorf(CMD, "%s: --cells: no cell has %s = '%s'", scfm_corpus_dir(c), col, eq + 1);
    return 0;
}

static FILE *open_tmp(const char *path, char *tmp, size_t ts) {
    if ((size_t)snprintf(tmp, ts, "%s.tmp", path) >= ts) return NULL;
    return fopen(tmp, "w");
}

static int close_tmp(FILE *f, const char *tmp, const char *path) {
    int ok = !ferror(f);
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path)) {
        remove(tmp);
        return cli_errorf(CMD, "%s: write failed", path);
    }
    return 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, size_t n) {
    if (!n) return NAN;
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

typedef struct {
    uint8_t *is_tf;        /* [V] TF of the network */
    size_t *off;           /* [V + 1] targets of TF t: tgt[off[t] .. off[t+1]) */
    int32_t *tgt;
    size_t n_edges;
} network;

static void network_free(network *n) {
    free(n->is_tf);
    free(n->off);
    free(n->tgt);
}

static int load_network(const args *a, const scfm_vocab *v, const scfm_gene_map *map, size_t V, network *net) {
    memset(net, 0, sizeof *net);
    scfm_table_opts to;
    scfm_table_opts_init(&to);
    if (a->tf_col) to.tf_cols = a->tf_col;
    if (a->target_col) to.target_cols = a->target_col;
    if (a->conf_col) to.conf_col = a->conf_col;
    to.conf_keep = a->confidence;
    scfm_prior_genes g = {map, NULL};
    scfm_pairs p;
    memset(&p, 0, sizeof p);
    p.directed = 1;
    scfm_prior_report rep;
    if (scfm_priors_grn(a->network, &g, &to, &p, &rep)) return cli_fail(CMD);
    int32_t *tok = malloc((p.n_genes ? p.n_genes : 1) * sizeof *tok);
    net->is_tf = calloc(V, 1);
    net->off = calloc(V + 1, sizeof *net->off);
    net->tgt = malloc((p.n ? p.n : 1) * sizeof *net->tgt);
    if (!tok || !net->is_tf || !net->off || !net->tgt) {
        free(tok);
        scfm_pairs_free(&p);
        return cli_errorf(CMD, "out of memory");
    }
    for (size_t i = 0; i < p.n_genes; i++) {
        int64_t t = scfm_vocab_lookup(v, p.genes[i]);
        tok[i] = (int32_t)t;
    }
    for (size_t i = 0; i < p.n; i++) {
        int32_t s = tok[p.a[i]], t = tok[p.b[i]];
        if (s < 0 || t < 0) continue;
        net->off[s + 1]++;
        net->is_tf[s] = 1;
    }
    for (size_t t = 0; t < V; t++) net->off[t + 1] += net->off[t];
    size_t *fill = calloc(V, sizeof *fill);
    if (!fill) {
        free(tok);
        scfm_pairs_free(&p);
        return cli_errorf(CMD, "out of memory");
    }
    for (size_t i = 0; i < p.n; i++) {
        int32_t s = tok[p.a[i]], t = tok[p.b[i]];
        if (s < 0 || t < 0) continue;
        net->tgt[net->off[s] + fill[s]++] = t;
    }
    net->n_edges = net->off[V];
    free(fill);
    free(tok);
    fprintf(stderr, "scfm grn: %s: %zu edges kept, %zu between vocabulary genes\n", a->network, p.n, net->n_edges);
    scfm_pairs_free(&p);
    if (!net->n_edges) return cli_errorf(CMD, "%s: no edge between genes of the corpus vocabulary", a->network);
    return 0;
}

/* Route 2: gene embeddings averaged over cells, cosine of every network TF with every gene. */
static int route2(const args *a, scfm_model *m, const scfm_corpus *c, const size_t *cells, size_t n, const network *net,
                  const scfm_grn_opts *go, size_t V, FILE *sj) {
    size_t H = m->cfg.hidden_size, nn = n < (size_t)a->route2_cells ? n : (size_t)a->route2_cells;
    scfm_embed_opts eo = go->embed;
    eo.genes = 1;
    scfm_gene_embed ge;
    memset(&ge, 0, sizeof ge);
    float *cellv = malloc(nn * H * sizeof *cellv);
    if (!cellv) return cli_errorf(CMD, "out of memory");
    if (scfm_embed_cells(m, c, cells, nn, &eo, cellv, &ge)) {
        free(cellv);
        scfm_gene_embed_free(&ge);
        return cli_fail(CMD);
    }
    free(cellv);
    size_t G = 0;
    int32_t *gl = malloc(V * sizeof *gl);
    float *mean = malloc(V * H * sizeof *mean);
    uint8_t *special = NULL;
    if (!gl || !mean || scfm_embed_special_mask(c, V, &special)) {
        free(gl);
        free(mean);
        scfm_gene_embed_free(&ge);
        return cli_errorf(CMD, "out of memory");
    }
    for (size_t t = 0; t < V; t++)
        if (ge.count[t] && !special[t]) {
            scfm_gene_embed_mean(&ge, t, mean + G * H);
            gl[G++] = (int32_t)t;
        }
    size_t ntf = 0;
    for (size_t i = 0; i < G; i++) ntf += net->is_tf[gl[i]];
    size_t ne = ntf * (G - 1), k = 0, P = 0;
    double *score = malloc((ne ? ne : 1) * sizeof *score);
    uint8_t *lab = calloc(ne ? ne : 1, 1), *istgt = calloc(V, 1);
    int rc = score && lab && istgt ? 0 : cli_errorf(CMD, "out of memory");
    for (size_t i = 0; !rc && i < G; i++) {
        int32_t tf = gl[i];
        if (!net->is_tf[tf]) continue;
        for (size_t e = net->off[tf]; e < net->off[tf + 1]; e++) istgt[net->tgt[e]] = 1;
        for (size_t j = 0; j < G; j++) {
            if (j == i) continue;
            score[k] = scfm_cosine(mean + i * H, mean + j * H, H);
            lab[k] = istgt[gl[j]];
            P += lab[k];
            k++;
        }
        for (size_t e = net->off[tf]; e < net->off[tf + 1]; e++) istgt[net->tgt[e]] = 0;
    }
    if (!rc) {
        double ap = P ? scfm_average_precision(score, lab, k) : NAN, pk = P ? scfm_precision_at_k(score, lab, k, P) : NAN;
        fprintf(sj, ",\n  \"embedding_route\": {\"cells\": %zu, \"genes\": %zu, \"tfs\": %zu, \"edges_scored\": %zu, "
                    "\"known_edges\": %zu, \"auprc\": %.6f, \"top_edges_precision\": %.6f, \"random_baseline\": %.6f}",
                nn, G, ntf, k, P, ap, pk, k ? (double)P / (double)k : NAN);
        fprintf(stderr, "scfm grn: embedding route: %zu TFs x %zu genes, %zu known edges: AUPRC %.4f, precision of the "
                        "top %zu edges %.4f (random %.4f)\n", ntf, G, P, ap, P, pk, k ? (double)P / (double)k : NAN);
    }
    free(score);
    free(lab);
    free(istgt);
    free(gl);
    free(mean);
    free(special);
    scfm_gene_embed_free(&ge);
    return rc;
}

static int run(const args *a, scfm_corpus *c, scfm_model *m, scfm_vocab *v) {
    size_t V = m->cfg.vocab_size;
    scfm_grn_opts go;
    scfm_grn_opts_init(&go);
    if (a->layer && cli_long(CMD, "--layer", a->layer, -10000, 10000, &go.embed.layer)) return 2;
    go.embed.batch_tokens = (size_t)a->batch_tokens;
    go.embed.batch_cells = (size_t)a->batch_cells;
    go.embed.truncate = a->truncate;
    go.max_cells = (size_t)a->max_cells;
    go.null_per_cell = (size_t)a->null_genes;
    go.seed = (uint64_t)a->seed;
    scfm_gene_map *map = NULL;
    tf_list tl;
    memset(&tl, 0, sizeof tl);
    network net;
    memset(&net, 0, sizeof net);
    size_t *cells = NULL, n = 0;
    scfm_grn_tf *res = NULL;
    int rc = 0;
    if (a->n_names) {
        if (!(map = scfm_gene_map_new())) rc = cli_fail(CMD);
        for (size_t i = 0; !rc && i < a->n_names; i++)
            if (scfm_gene_map_add_file(map, a->names[i])) rc = cli_fail(CMD);
    }
    if (!rc && a->network) {
        char h[17], where[4096];
        if (scfm_file_content_hash(a->network, h)) rc = cli_fail(CMD);
        int used = rc ? 0 : scfm_grn_prior_uses(a->model, a->reports, a->n_reports, h, where, sizeof where);
        if (used < 0) rc = cli_fail(CMD);
        else if (used && !a->force)
            rc = cli_errorf(CMD, "%s was used to build the model's GRN prior (%s records its hash %s): scoring against it "
                                 "would score the model's own input; use another network, or --force", a->network, where, h);
        else if (used)
            fprintf(stderr, "scfm grn: warning: %s built the model's GRN prior (%s); scoring anyway (--force)\n", a->network,
                    where);
        if (!rc) rc = load_network(a, v, map, V, &net);
    }
    if (!rc) rc = select_cells(c, a->cells, &cells, &n);
    if (!rc && a->tfs) {
        char *copy = scfm_strdup(a->tfs);
        if (!copy) rc = cli_errorf(CMD, "out of memory");
        for (char *save = NULL, *t = copy ? strtok_r(copy, ",", &save) : NULL; t && !rc; t = strtok_r(NULL, ",", &save))
            if (*t) rc = tf_named(&tl, v, map, t, "--tfs");
        free(copy);
        if (!rc && !tl.n) rc = cli_usage_error(CMD, "--tfs: no gene in '%s'", a->tfs);
    }
    if (!rc && a->tf_file) {
        FILE *f = fopen(a->tf_file, "r");
        if (!f) rc = cli_errorf(CMD, "--tf-file: %s: cannot open: %s", a->tf_file, strerror(errno));
        char line[4096];
        while (!rc && f && fgets(line, sizeof line, f)) {
            line[strcspn(line, "\t\r\n")] = 0;
            if (line[0] && line[0] != '#') rc = tf_named(&tl, v, map, line, "--tf-file");
        }
        if (f) fclose(f);
        if (!rc && !tl.n) rc = cli_errorf(CMD, "--tf-file: %s: no TFs", a->tf_file);
    }
    if (!rc && !a->tfs && !a->tf_file) { /* the network's TFs expressed in enough cells */
        size_t *cnt = calloc(V, sizeof *cnt);
        if (!cnt) rc = cli_errorf(CMD, "out of memory");
        for (size_t k = 0; !rc && k < n; k++) {
            const int32_t *t;
            size_t len;
            if (scfm_corpus_cell(c, cells[k], &t, &len, NULL)) continue;
            for (size_t i = 0; i < len; i++)
                if (t[i] >= 0 && (size_t)t[i] < V) cnt[t[i]]++;
        }
        size_t want = a->max_tfs ? (size_t)a->max_tfs : V;
        while (!rc && tl.n < want) { /* most expressed first */
            size_t best = V;
            for (size_t t = 0; t < V; t++)
                if (net.is_tf[t] && cnt[t] >= (size_t)a->min_tf_cells && (best == V || cnt[t] > cnt[best])) best = t;
            if (best == V) break;
            rc = tf_add(&tl, (int32_t)best, scfm_vocab_token(v, best));
            cnt[best] = 0;
        }
        free(cnt);
        if (!rc && !tl.n)
            rc = cli_errorf(CMD, "%s: no TF of the network is expressed in %ld or more of the %zu selected cells", a->network,
                            a->min_tf_cells, n);
    }
    if (!rc && !(res = calloc(tl.n ? tl.n : 1, sizeof *res))) rc = cli_errorf(CMD, "out of memory");
    double t0 = scfm_now();
    for (size_t i = 0; !rc && i < tl.n; i++) {
        if (scfm_grn_tf_run(m, c, tl.tok[i], cells, n, &go, &res[i])) rc = cli_fail(CMD);
        else if (!res[i].n_cells)
            fprintf(stderr, "scfm grn: warning: no selected cell expresses %s: no targets\n", tl.name[i]);
        fprintf(stderr, "scfm grn: TF %zu / %zu (%s): %zu cells, %zu genes (%.0f s)\n", i + 1, tl.n, tl.name[i],
                res[i].n_cells, res[i].n_genes, scfm_now() - t0);
    }
    /* outputs */
    char path[4096], tmp[4200];
    FILE *ft = NULL, *fe = NULL, *fs = NULL, *sj = NULL;
    char tpath[4096], epath[4096], spath[4096], jpath[4096], ttmp[4200], etmp[4200], stmp[4200], jtmp[4200];
    (void)path;
    (void)tmp;
    snprintf(tpath, sizeof tpath, "%s.targets.tsv", a->out);
    snprintf(epath, sizeof epath, "%s.edges.tsv", a->out);
    snprintf(spath, sizeof spath, "%s.scores.tsv", a->out);
    snprintf(jpath, sizeof jpath, "%s.summary.json", a->out);
    if (!rc) {
        ft = open_tmp(tpath, ttmp, sizeof ttmp);
        fe = open_tmp(epath, etmp, sizeof etmp);
        fs = a->network ? open_tmp(spath, stmp, sizeof stmp) : NULL;
        sj = open_tmp(jpath, jtmp, sizeof jtmp);
        if (!ft || !fe || !sj || (a->network && !fs)) rc = cli_errorf(CMD, "%s: cannot create the outputs", a->out);
    }
    double *pk = calloc(tl.n ? tl.n : 1, sizeof *pk), *base = calloc(tl.n ? tl.n : 1, sizeof *base),
           *apv = calloc(tl.n ? tl.n : 1, sizeof *apv);
    size_t nscored = 0;
    uint8_t *istgt = calloc(V, 1);
    if (!rc && (!pk || !base || !apv || !istgt)) rc = cli_errorf(CMD, "out of memory");
    if (!rc) {
        fprintf(ft, "tf\ttf_token\trank\ttarget\tmean_cos\tn_cells\tz\tp\tfdr\tknown\n");
        fprintf(fe, "TF\ttarget\tscore\n");
        if (fs) fprintf(fs, "tf\ttf_token\tn_cells\tn_scored\tk\tprecision_at_k\trandom_baseline\tauprc\n");
    }
    for (size_t i = 0; !rc && i < tl.n; i++) {
        const scfm_grn_tf *r = &res[i];
        const char *tfid = scfm_vocab_token(v, (size_t)r->tf);
        if (a->network)
            for (size_t e = net.off[r->tf]; e < net.off[r->tf + 1]; e++) istgt[net.tgt[e]] = 1;
        size_t k = 0;
        double *score = malloc((r->n_genes ? r->n_genes : 1) * sizeof *score);
        uint8_t *lab = malloc(r->n_genes ? r->n_genes : 1);
        if (!score || !lab) rc = cli_errorf(CMD, "out of memory");
        for (size_t g = 0; !rc && g < r->n_genes; g++) {
            const char *gid = scfm_vocab_token(v, (size_t)r->gene[g]);
            lab[g] = istgt[r->gene[g]];
            score[g] = 1.0 - r->mean_cos[g];
            k += lab[g];
            fprintf(ft, "%s\t%d\t%zu\t%s\t%.9g\t%u\t%.6g\t%.6g\t%.6g\t%s\n", tl.name[i], (int)r->tf, g + 1, gid,
                    r->mean_cos[g], r->n[g], r->z[g], r->p[g], r->fdr[g], a->network ? (lab[g] ? "1" : "0") : "-");
            fprintf(fe, "%s\t%s\t%.9g\n", tfid, gid, score[g]);
        }
        if (!rc && fs && k) {
            double p = scfm_precision_at_k(score, lab, r->n_genes, k), ap = scfm_average_precision(score, lab, r->n_genes);
            double b = (double)k / (double)r->n_genes;
            fprintf(fs, "%s\t%d\t%zu\t%zu\t%zu\t%.6f\t%.6f\t%.6f\n", tl.name[i], (int)r->tf, r->n_cells, r->n_genes, k, p, b,
                    ap);
            pk[nscored] = p;
            base[nscored] = b;
            apv[nscored] = ap;
            nscored++;
        }
        if (a->network)
            for (size_t e = net.off[r->tf]; e < net.off[r->tf + 1]; e++) istgt[net.tgt[e]] = 0;
        free(score);
        free(lab);
    }
    if (!rc) {
        fprintf(sj, "{\n  \"tfs\": %zu,\n  \"tfs_scored\": %zu,\n  \"layer\": %ld,\n  \"max_cells\": %ld,\n  \"null_genes\": %ld",
                tl.n, nscored, go.embed.layer, a->max_cells, a->null_genes);
        if (a->network) {
            double mb = median(base, nscored), mp = median(pk, nscored), ma = median(apv, nscored);
            fprintf(sj, ",\n  \"network\": ");
            scfm_json_write_string(sj, a->network);
            fprintf(sj, ",\n  \"median_precision_at_k\": %.6f,\n  \"median_random_baseline\": %.6f,\n  \"median_auprc\": %.6f",
                    mp, mb, ma);
            fprintf(stderr, "scfm grn: %zu TFs scored against %s: median precision@k %.4f, random baseline %.4f, median "
                            "AUPRC %.4f\n", nscored, a->network, mp, mb, ma);
            if (a->route2_cells > 0) rc = route2(a, m, c, cells, n, &net, &go, V, sj);
        }
        if (!rc) {
            fprintf(sj, ",\n  \"command\": ");
            scfm_json_write_string(sj, cli_cmdline());
            fprintf(sj, "\n}\n");
        }
    }
    if (!rc) rc = close_tmp(ft, ttmp, tpath);
    else if (ft) fclose(ft), remove(ttmp);
    if (!rc) rc = close_tmp(fe, etmp, epath);
    else if (fe) fclose(fe), remove(etmp);
    if (fs) {
        if (!rc) rc = close_tmp(fs, stmp, spath);
        else fclose(fs), remove(stmp);
    }
    if (!rc) rc = close_tmp(sj, jtmp, jpath);
    else if (sj) fclose(sj), remove(jtmp);
    if (!rc) {
        printf("tfs\t%zu\ntfs_scored\t%zu\noutput\t%s.targets.tsv\n", tl.n, nscored, a->out);
        cli_done(CMD, "%zu TFs, %zu scored against the network -> %s.targets.tsv", tl.n, nscored, a->out);
    }
    for (size_t i = 0; res && i < tl.n; i++) scfm_grn_tf_free(&res[i]);
    free(res);
    for (size_t i = 0; i < tl.n; i++) free(tl.name[i]);
    free(tl.tok);
    free(tl.name);
    free(pk);
    free(base);
    free(apv);
    free(istgt);
    free(cells);
    network_free(&net);
    scfm_gene_map_free(map);
    return rc;
}

int cmd_grn(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        grn_help();
        return argc < 2 ? 2 : 0;
    }
    args a;
    memset(&a, 0, sizeof a);
    int rc = parse_args(&a, argc, argv);
    if (rc) return rc;
#ifdef SCFM_HAVE_OPENMP
    if (a.threads > 0) omp_set_num_threads((int)a.threads);
#endif
    scfm_corpus *c = scfm_corpus_open(a.corpus);
    if (!c) return cli_fail(CMD);
    scfm_vocab *v = scfm_corpus_load_vocab(c);
    scfm_model *m = v ? scfm_model_load(a.model, SCFM_HEAD_NONE) : NULL;
    if (!v || !m) rc = cli_fail(CMD);
    else if (scfm_embed_check_vocab(m, a.model, c)) rc = cli_fail(CMD);
    else rc = run(&a, c, m, v);
    scfm_model_free(m);
    scfm_vocab_free(v);
    scfm_corpus_close(c);
    return rc;
}
