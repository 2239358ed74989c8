/* scfm priors build coexpression|family|grn: gene pairs from count files, a gene -> group
 * table or a TF -> target network, embedded by gene2vec (skip-gram with negative sampling)
 * into a gene -> vector table keyed by Ensembl ID, with a JSON report. See docs/priors.md. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "scfm/genes.h"
#include "scfm/json.h"
#include "scfm/priors.h"

static const char *CMD = "priors";

static void priors_help(void) {
    printf(
        "usage: scfm priors build coexpression COUNTS... -o PREFIX [options]\n"
        "       scfm priors build family GROUPS.tsv -o PREFIX [options]\n"
        "       scfm priors build grn EDGES.tsv -o PREFIX [options]\n\n"
        "Builds a GeneCompass prior-knowledge table: gene pairs, then gene2vec (skip-gram with negative\n"
        "sampling over the pairs, one thread, seeded). Writes PREFIX.tsv (ensembl_id<TAB>v0<TAB>v1...),\n"
        "PREFIX.pairs.tsv (gene_a gene_b [r]) and PREFIX.json (report: sources and their hashes, genes,\n"
        "pairs, loss per epoch, coverage of each --vocab). 'promoter' is not built (see docs/priors.md).\n"
        "Pairs:\n"
        "  coexpression         Pearson r over the cells where both genes are expressed, pairs with\n"
        "                       r >= --threshold; COUNTS: any count file scfm tokenize reads, or a corpus\n"
        "                       tokenized with --values (its values and vocabulary tokens; the vocabulary:\n"
        "                       a --vocab file with the corpus's hash, else the one it records)\n"
        "    --max-cells N      cells per input (a seeded random sample; default 3000)\n"
        "    --threshold R      default 0.8\n"
        "    --min-cells N      genes expressed in >= N cells, pairs co-expressed in >= N cells (30)\n"
        "    --raw              correlate raw counts (default: log1p of counts per 10,000)\n"
        "  family               all pairs of genes within a group ('|' separates several groups)\n"
        "    --gene-col NAMES   gene column, first of these present (\"Ensembl gene ID,ensembl_id,gene_id,\n"
        "                       Approved symbol,symbol,gene\")\n"
        "    --group-col NAMES  group column (\"Group ID,group_id,Group name,group,family\")\n"
        "    --max-group N      skip groups of more than N genes (default: no limit)\n"
        "  grn                  each TF -> target edge\n"
        "    --tf-col NAMES     (\"tf,source,regulator\"), --target-col NAMES (\"target,gene\")\n"
        "    --confidence L,..  keep rows whose --conf-col (\"confidence\") is one of these (DoRothEA: A,B,C)\n"
        "Genes:\n"
        "  --gene-names FILE    symbol -> Ensembl ID table (gene_name_id_dict or an Ensembl gene csv);\n"
        "                       repeatable; without it only Ensembl IDs are used\n"
        "  --orthologs FILE     map human genes to mouse ones (BioMart/HCOP table, one-to-one)\n"
        "  --vocab FILE         report how many tokens of this vocabulary get a vector (repeatable)\n"
        "gene2vec:\n"
        "  --dim N (768), --epochs N (30), --negative N (5), --lr X (0.025), --seed S (0)\n"
        "  --threads N          accepted as by every long command; gene2vec runs on one thread (its\n"
        "                       result is the same for any N)\n");
}

#define MAX_MULTI 16

typedef struct {
    const char *kind, *out, *gene_col, *group_col, *tf_col, *target_col, *conf_col, *confidence, *orthologs;
    const char *inputs[MAX_MULTI], *names[MAX_MULTI], *vocabs[MAX_MULTI];
    size_t n_inputs, n_names, n_vocabs;
    long max_cells, min_cells, max_group, dim, epochs, negative, seed;
    double threshold, lr;
    int raw;
} args;

static int push(const char **arr, size_t *n, const char *v, const char *opt) {
    if (*n == MAX_MULTI) return cli_usage_error(CMD, "%s: at most %d", opt, MAX_MULTI);
    arr[(*n)++] = v;
    return 0;
}

static int parse_args(args *a, int argc, char **argv) {
    a->max_cells = 3000;
    a->min_cells = 30;
    a->threshold = 0.8;
    a->dim = 768;
    a->epochs = 30;
    a->negative = 5;
    a->lr = 0.025;
    if (argc < 2 || strcmp(argv[1], "build"))
        return cli_usage_error(CMD, "expected 'scfm priors build coexpression|family|grn ...' (see --help)");
    if (argc < 3) return cli_usage_error(CMD, "build what? coexpression, family or grn");
    a->kind = argv[2];
    if (!strcmp(a->kind, "promoter"))
        return cli_usage_error(CMD, "promoter vectors are not built by scfm (they need a DNA language model): embed the "
                                    "promoter sequences with DNABERT and bring the table (docs/priors.md)");
    if (strcmp(a->kind, "coexpression") && strcmp(a->kind, "family") && strcmp(a->kind, "grn"))
        return cli_usage_error(CMD, "unknown prior '%s' (coexpression, family or grn)", a->kind);
    for (int i = 3; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (o[0] != '-' || !o[1]) {
            if (push(a->inputs, &a->n_inputs, o, "inputs")) return 2;
            continue;
        }
        if (!strcmp(o, "--raw")) { a->raw = 1; continue; }
        if (!v) return cli_usage_error(CMD, "%s needs a value", o);
        i++;
        if (!strcmp(o, "-o") || !strcmp(o, "--out")) a->out = v;
        else if (!strcmp(o, "--gene-names")) { if (push(a->names, &a->n_names, v, o)) return 2; }
        else if (!strcmp(o, "--vocab")) { if (push(a->vocabs, &a->n_vocabs, v, o)) return 2; }
        else if (!strcmp(o, "--orthologs")) a->orthologs = v;
        else if (!strcmp(o, "--gene-col")) a->gene_col = v;
        else if (!strcmp(o, "--group-col")) a->group_col = v;
        else if (!strcmp(o, "--tf-col")) a->tf_col = v;
        else if (!strcmp(o, "--target-col")) a->target_col = v;
        else if (!strcmp(o, "--conf-col")) a->conf_col = v;
        else if (!strcmp(o, "--confidence")) a->confidence = v;
        else if (!strcmp(o, "--threshold")) { if (cli_double(CMD, o, v, -1, 1, &a->threshold)) return 2; }
        else if (!strcmp(o, "--lr")) { if (cli_double(CMD, o, v, 1e-12, 10, &a->lr)) return 2; }
        else if (!strcmp(o, "--max-cells")) { if (cli_long(CMD, o, v, 1, LONG_MAX, &a->max_cells)) return 2; }
        else if (!strcmp(o, "--min-cells")) { if (cli_long(CMD, o, v, 3, LONG_MAX, &a->min_cells)) return 2; }
        else if (!strcmp(o, "--max-group")) { if (cli_long(CMD, o, v, 2, LONG_MAX, &a->max_group)) return 2; }
        else if (!strcmp(o, "--dim")) { if (cli_long(CMD, o, v, 1, 65536, &a->dim)) return 2; }
        else if (!strcmp(o, "--epochs")) { if (cli_long(CMD, o, v, 1, 100000, &a->epochs)) return 2; }
        else if (!strcmp(o, "--negative")) { if (cli_long(CMD, o, v, 1, 1000, &a->negative)) return 2; }
        else if (!strcmp(o, "--seed")) { if (cli_long(CMD, o, v, 0, LONG_MAX, &a->seed)) return 2; }
        else if (!strcmp(o, "--threads")) { if (cli_threads(CMD, o, v)) return 2; }
        else return cli_usage_error(CMD, "unknown option %s", o);
    }
    if (!a->n_inputs) return cli_usage_error(CMD, "%s: no input file", a->kind);
    if (strcmp(a->kind, "coexpression") && a->n_inputs > 1)
        return cli_usage_error(CMD, "%s: one table only (got %zu)", a->kind, a->n_inputs);
    if (!a->out) return cli_usage_error(CMD, "-o PREFIX is required");
    return 0;
}

static int write_pairs(const char *path, const scfm_pairs *p, int with_r) {
    char tmp[4200];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) return cli_errorf(CMD, "%s: path too long", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return cli_errorf(CMD, "%s: cannot create", path);
    fprintf(f, with_r ? "gene_a\tgene_b\tr\n" : "gene_a\tgene_b\n");
    for (size_t i = 0; i < p->n; i++) {
        if (with_r) fprintf(f, "%s\t%s\t%.9g\n", p->genes[p->a[i]], p->genes[p->b[i]], p->w[i]);
        else fprintf(f, "%s\t%s\n", p->genes[p->a[i]], p->genes[p->b[i]]);
    }
    int ok = !ferror(f);
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path)) {
        remove(tmp);
        return cli_errorf(CMD, "%s: write failed", path);
    }
    return 0;
}

static int write_report(const char *path, const args *a, const scfm_pairs *p, const scfm_prior_report *rep,
                        const double *loss) {
    char tmp[4200];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) return cli_errorf(CMD, "%s: path too long", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return cli_errorf(CMD, "%s: cannot create", path);
    fprintf(f, "{\n  \"format\": \"scfm-prior/1\",\n  \"kind\": \"%s\",\n  \"sources\": [", a->kind);
    for (size_t i = 0; i < a->n_inputs; i++) {
        char h[17];
        fprintf(f, "%s\n    {\"path\": ", i ? "," : "");
        scfm_json_write_string(f, a->inputs[i]);
        if (scfm_priors_is_corpus(a->inputs[i])) fprintf(f, ", \"corpus\": true, \"values\": \"the corpus's\"");
        else if (scfm_file_content_hash(a->inputs[i], h) == SCFM_OK) fprintf(f, ", \"hash\": \"%s\"", h);
        else scfm_clear_error();
        fprintf(f, "}");
    }
    fprintf(f, "\n  ],\n");
    if (a->confidence) {
        fprintf(f, "  \"confidence\": ");
        scfm_json_write_string(f, a->confidence);
        fprintf(f, ",\n");
    }
    if (!strcmp(a->kind, "coexpression"))
        fprintf(f, "  \"max_cells\": %ld,\n  \"threshold\": %.17g,\n  \"min_cells\": %ld,\n  \"values\": \"%s\",\n",
                a->max_cells, a->threshold, a->min_cells, a->raw ? "raw" : "log1p_cp10k");
    fprintf(f, "  \"records\": %zu,\n  \"unmapped\": %zu,\n  \"skipped\": %zu,\n  \"input_genes\": %zu,\n", rep->n_records,
            rep->n_unmapped, rep->n_skipped, rep->n_genes_input);
    fprintf(f, "  \"genes\": %zu,\n  \"pairs\": %zu,\n", p->n_genes, p->n);
    fprintf(f, "  \"gene2vec\": {\"dim\": %ld, \"epochs\": %ld, \"negative\": %ld, \"lr\": %.17g, \"seed\": %ld},\n", a->dim,
            a->epochs, a->negative, a->lr, a->seed);
    fprintf(f, "  \"loss\": [");
    for (long e = 0; e < a->epochs; e++) fprintf(f, "%s%.6f", e ? ", " : "", loss[e]);
    fprintf(f, "],\n  \"coverage\": [");
    for (size_t i = 0; i < a->n_vocabs; i++) {
        scfm_vocab *v = scfm_vocab_load(a->vocabs[i]);
        if (!v) {
            fclose(f);
            remove(tmp);
            return cli_fail(CMD);
        }
        size_t V = scfm_vocab_size(v), k = 0, genes = 0;
        for (size_t t = 0; t < V; t++) {
            const char *tok = scfm_vocab_token(v, t);
            if (tok[0] == '<') continue;
            genes++;
            if (scfm_pairs_find(p, tok) >= 0) k++;
        }
        fprintf(f, "%s\n    {\"vocab\": ", i ? "," : "");
        scfm_json_write_string(f, a->vocabs[i]);
        fprintf(f, ", \"genes\": %zu, \"covered\": %zu}", genes, k);
        fprintf(stderr, "scfm priors: %s: %zu of %zu genes get a vector\n", a->vocabs[i], k, genes);
        scfm_vocab_free(v);
    }
    fprintf(f, "\n  ],\n  \"command\": ");
    scfm_json_write_string(f, cli_cmdline());
    fprintf(f, "\n}\n");
    int ok = !ferror(f);
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path)) {
        remove(tmp);
        return cli_errorf(CMD, "%s: write failed", path);
    }
    return 0;
}

int cmd_priors(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            priors_help();
            return 0;
        }
    args a;
    memset(&a, 0, sizeof a);
    int rc = parse_args(&a, argc, argv);
    if (rc) return rc;
    scfm_gene_map *map = NULL;
    scfm_orthologs *orth = NULL;
    if (a.n_names) {
        map = scfm_gene_map_new();
        if (!map) return cli_fail(CMD);
        for (size_t i = 0; i < a.n_names; i++)
            if (scfm_gene_map_add_file(map, a.names[i])) {
                scfm_gene_map_free(map);
                return cli_fail(CMD);
            }
    }
    if (a.orthologs && !(orth = scfm_orthologs_load(a.orthologs, "human", "mouse", NULL))) {
        scfm_gene_map_free(map);
        return cli_fail(CMD);
    }
    scfm_prior_genes g = {map, orth};
    scfm_pairs p;
    memset(&p, 0, sizeof p);
    scfm_prior_report rep;
    memset(&rep, 0, sizeof rep);
    if (!strcmp(a.kind, "coexpression")) {
        scfm_coexp_opts co;
        scfm_coexp_opts_init(&co);
        co.vocab_paths = a.vocabs;
        co.n_vocab_paths = a.n_vocabs;
        co.max_cells = (size_t)a.max_cells;
        co.threshold = a.threshold;
        co.min_cells = (size_t)a.min_cells;
        co.log1p = !a.raw;
        co.seed = (uint64_t)a.seed;
        rc = scfm_priors_coexpression(a.inputs, a.n_inputs, &g, &co, &p, &rep);
    } else {
        scfm_table_opts to;
        scfm_table_opts_init(&to);
        if (a.gene_col) to.gene_cols = a.gene_col;
        if (a.group_col) to.group_cols = a.group_col;
        if (a.tf_col) to.tf_cols = a.tf_col;
        if (a.target_col) to.target_cols = a.target_col;
        if (a.conf_col) to.conf_col = a.conf_col;
        to.conf_keep = a.confidence;
        to.max_group = (size_t)a.max_group;
        rc = !strcmp(a.kind, "family") ? scfm_priors_family(a.inputs[0], &g, &to, &p, &rep)
                                       : scfm_priors_grn(a.inputs[0], &g, &to, &p, &rep);
    }
    scfm_gene_map_free(map);
    scfm_orthologs_free(orth);
    if (rc) {
        scfm_pairs_free(&p);
        return cli_fail(CMD);
    }
    fprintf(stderr, "scfm priors: %s: %zu records, %zu gene names without an Ensembl ID, %zu pairs over %zu genes\n",
            a.kind, rep.n_records, rep.n_unmapped, p.n, p.n_genes);
    if (!p.n) {
        scfm_pairs_free(&p);
        return cli_errorf(CMD, "%s: no gene pairs (%zu of the names had no Ensembl ID: give --gene-names?)", a.inputs[0],
                          rep.n_unmapped);
    }
    scfm_gene2vec_opts go;
    scfm_gene2vec_opts_init(&go);
    go.dim = (size_t)a.dim;
    go.epochs = (size_t)a.epochs;
    go.negative = (size_t)a.negative;
    go.lr = a.lr;
    go.seed = (uint64_t)a.seed;
    float *vec = malloc(p.n_genes * go.dim * sizeof *vec);
    double *loss = malloc(go.epochs * sizeof *loss);
    if (!vec || !loss) rc = cli_errorf(CMD, "out of memory");
    if (!rc && scfm_gene2vec_train(&p, &go, vec, loss)) rc = cli_fail(CMD);
    char path[4096];
    if (!rc) {
        snprintf(path, sizeof path, "%s.pairs.tsv", a.out);
        rc = write_pairs(path, &p, !strcmp(a.kind, "coexpression"));
    }
    if (!rc) {
        snprintf(path, sizeof path, "%s.tsv", a.out);
        if (scfm_prior_table_write(path, (const char *const *)p.genes, p.n_genes, vec, go.dim)) rc = cli_fail(CMD);
    }
    if (!rc) {
        snprintf(path, sizeof path, "%s.json", a.out);
        rc = write_report(path, &a, &p, &rep, loss);
    }
    if (!rc) {
        fprintf(stderr, "scfm priors: loss %.4f (epoch 1) -> %.4f (epoch %zu); wrote %s.tsv, %s.pairs.tsv, %s.json\n",
                loss[0], loss[go.epochs - 1], go.epochs, a.out, a.out, a.out);
        cli_done("priors build", "%s: %zu genes, %zu pairs, vectors of %zu -> %s.tsv", a.kind, p.n_genes, p.n,
                 go.dim, a.out);
    }
    free(vec);
    free(loss);
    scfm_pairs_free(&p);
    return rc;
}

/* config.json's record of the GRN prior (scfm_bert_config.grn_prior_*): the table, and the network
 * named by the table's report (PREFIX.json of `scfm priors build grn -o PREFIX`) when it is there. */
int cli_grn_prior_record(const char *cmd, scfm_bert_config *cfg, const char *table) {
    char h[17], rp[4200];
    if (strlen(table) >= sizeof cfg->grn_prior_table) return cli_errorf(cmd, "%s: path too long", table);
    if (scfm_file_content_hash(table, h)) return cli_fail(cmd);
    snprintf(cfg->grn_prior_table, sizeof cfg->grn_prior_table, "%s", table);
    snprintf(cfg->grn_prior_table_hash, sizeof cfg->grn_prior_table_hash, "%s", h);
    snprintf(rp, sizeof rp, "%s", table);
    static const char *const ext[] = {".tsv.gz", ".tsv", ".npy", ".safetensors", ".pkl", NULL};
    for (const char *const *e = ext; *e; e++) {
        size_t n = strlen(rp), l = strlen(*e);
        if (n > l && !strcmp(rp + n - l, *e)) { rp[n - l] = 0; break; }
    }
    strncat(rp, ".json", sizeof rp - strlen(rp) - 1);
    char *text = NULL;
    size_t len = 0;
    scfm_json *j = NULL;
    const char *kind = NULL, *net = NULL, *nh = NULL;
    if (scfm_read_file(rp, &text, &len) == SCFM_OK && (j = scfm_json_parse(text, len, rp))) {
        const scfm_json *src = scfm_json_get(j, "sources");
        if (scfm_json_get_string(j, "kind", &kind) || strcmp(kind, "grn"))
            fprintf(stderr, "scfm %s: warning: %s is not the report of a GRN prior (kind %s)\n", cmd, rp, kind ? kind : "?");
        else if (src && src->type == SCFM_JSON_ARRAY && src->n == 1 &&
                 !scfm_json_get_string(&src->items[0], "path", &net) && !scfm_json_get_string(&src->items[0], "hash", &nh) &&
                 strlen(net) < sizeof cfg->grn_prior_network && strlen(nh) < sizeof cfg->grn_prior_network_hash) {
            snprintf(cfg->grn_prior_network, sizeof cfg->grn_prior_network, "%s", net);
            snprintf(cfg->grn_prior_network_hash, sizeof cfg->grn_prior_network_hash, "%s", nh);
            fprintf(stderr, "scfm %s: peca_grn prior built from %s (hash %s), recorded in config.json\n", cmd, net, nh);
        }
    }
    scfm_clear_error();
    if (!cfg->grn_prior_network_hash[0])
        fprintf(stderr, "scfm %s: warning: no report %s naming the network of the GRN prior %s: config.json cannot "
                "say which network built it, so scfm grn cannot refuse that network as a reference\n", cmd, rp, table);
    scfm_json_free(j);
    free(text);
    return 0;
}
