/* scfm perturb: in-silico deletion / overexpression with per-gene statistics (SPEC 7). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef SCFM_HAVE_OPENMP
#include <omp.h>
#endif

#include "cli.h"
#include "scfm/analysis.h"
#include "scfm/corpus.h"
#include "scfm/genes.h"
#include "scfm/model.h"

static const char *CMD = "perturb";

static void perturb_help(void) {
    printf("usage: scfm perturb CORPUS -m MODEL_DIR -o OUT.tsv --delete|--overexpress [options]\n\n"
           "Perturbs each cell's tokens (delete: remove the gene; overexpress: move it to the front, after\n"
           "<cls> in V2, inserting it when absent), embeds the perturbed copies (all copies of a cell in\n"
           "shared batches) and reports per gene: cells, mean shift, Mann-Whitney z and p of its shifts\n"
           "against all genes' shifts, Benjamini-Hochberg FDR (significant: FDR < 0.05).\n"
           "Shift: cos(perturbed, original) or, with --goal, cos(perturbed, goal) - cos(original, goal).\n"
           "  --genes ID,ID,...    genes (vocabulary tokens) to perturb; default (delete): every gene of each cell\n"
           "  --cells COL=VALUE    only cells whose obs column COL equals VALUE (the start state)\n"
           "  --goal COL=VALUE     goal state: mean embedding of the cells with COL == VALUE\n"
           "  --max-cells N        at most N cells (after --cells)\n"
           "  --goal-cells N       at most N cells for the goal embedding (default 200)\n"
           "  --shifts FILE.tsv    also write every (gene, cell, shift)\n"
           "  --layer N, --pool mean|cls, --batch-tokens N, --batch-cells N, --truncate, --threads N\n"
           "                       as in scfm embed\n");
}

typedef struct {
    const char *corpus, *model, *out, *genes, *cells, *goal, *shifts, *pool, *layer;
    long max_cells, goal_cells, batch_tokens, batch_cells, threads;
    int mode, truncate;
} args;

static int parse_args(args *a, int argc, char **argv) {
    a->mode = -1;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (o[0] != '-' || !o[1]) {
            if (a->corpus) return cli_usage_error(CMD, "one corpus only (got '%s' and '%s')", a->corpus, o);
            a->corpus = o;
            continue;
        }
        if (!strcmp(o, "--delete")) { a->mode = SCFM_PERTURB_DELETE; continue; }
        if (!strcmp(o, "--overexpress")) { a->mode = SCFM_PERTURB_OVEREXPRESS; continue; }
        if (!strcmp(o, "--truncate")) { a->truncate = 1; continue; }
        if (!v) return cli_usage_error(CMD, "%s needs a value", o);
        i++;
        if (!strcmp(o, "-m") || !strcmp(o, "--model")) a->model = v;
        else if (!strcmp(o, "-o") || !strcmp(o, "--out")) a->out = v;
        else if (!strcmp(o, "--genes")) a->genes = v;
        else if (!strcmp(o, "--cells")) a->cells = v;
        else if (!strcmp(o, "--goal")) a->goal = v;
        else if (!strcmp(o, "--shifts")) a->shifts = v;
        else if (!strcmp(o, "--pool")) a->pool = v;
        else if (!strcmp(o, "--layer")) a->layer = v;
        else if (!strcmp(o, "--max-cells")) { if (cli_long(CMD, o, v, 1, LONG_MAX, &a->max_cells)) return 2; }
        else if (!strcmp(o, "--goal-cells")) { if (cli_long(CMD, o, v, 1, LONG_MAX, &a->goal_cells)) return 2; }
        else if (!strcmp(o, "--batch-tokens")) { if (cli_long(CMD, o, v, 1, 1L << 30, &a->batch_tokens)) return 2; }
        else if (!strcmp(o, "--batch-cells")) { if (cli_long(CMD, o, v, 1, 1L << 20, &a->batch_cells)) return 2; }
        else if (!strcmp(o, "--threads")) { if (cli_long(CMD, o, v, 1, 4096, &a->threads)) return 2; }
        else return cli_usage_error(CMD, "unknown option %s", o);
    }
    return 0;
}

/* Cells whose obs COL equals VALUE ("COL=VALUE"); all cells when spec is NULL. */
static int select_cells(const scfm_corpus *c, const char *spec, const char *opt, size_t **out, size_t *n) {
    size_t nc = scfm_corpus_n_cells(c);
    *n = 0;
    *out = malloc((nc ? nc : 1) * sizeof **out);
    if (!*out) return cli_errorf(CMD, "out of memory");
    if (!spec) {
        for (size_t i = 0; i < nc; i++) (*out)[(*n)++] = i;
        return 0;
    }
    const char *eq = strchr(spec, '=');
    if (!eq || eq == spec) return cli_usage_error(CMD, "%s wants COL=VALUE, got '%s'", opt, spec);
    char col[256];
    snprintf(col, sizeof col, "%.*s", (int)(eq - spec), spec);
    long k = scfm_corpus_obs_index(c, col);
    if (k < 0) return cli_errorf(CMD, "%s: %s: no obs column '%s' in the corpus", scfm_corpus_dir(c), opt, col);
    for (size_t i = 0; i < nc; i++)
        if (!strcmp(scfm_corpus_obs(c, i, (size_t)k), eq + 1)) (*out)[(*n)++] = i;
    if (!*n) return cli_errorf(CMD, "%s: %s: no cell has %s = '%s'", scfm_corpus_dir(c), opt, col, eq + 1);
    return 0;
}

static int parse_genes(const char *spec, const scfm_vocab *v, int32_t **ids, size_t *n) {
    size_t k = 1;
    for (const char *p = spec; *p; p++) k += *p == ',';
    char *copy = scfm_strdup(spec);
    *ids = malloc(k * sizeof **ids);
    *n = 0;
    if (!copy || !*ids) { free(copy); return cli_errorf(CMD, "out of memory"); }
    for (char *save = NULL, *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int64_t id = scfm_vocab_lookup(v, t);
        if (id < 0) {
            int rc = cli_errorf(CMD, "--genes: '%s' is not in the corpus vocabulary (give Ensembl IDs)", t);
            free(copy);
            return rc;
        }
        (*ids)[(*n)++] = (int32_t)id;
    }
    free(copy);
    return *n ? 0 : cli_usage_error(CMD, "--genes: no genes given");
}

static int write_stats(const char *path, const scfm_perturb_stat *s, size_t n, const scfm_vocab *v) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) return cli_errorf(CMD, "%s: cannot create: %s", path, strerror(errno));
    fprintf(f, "gene\ttoken_id\tn_cells\tmean_shift\tz\tp\tfdr\tsignificant\n");
    for (size_t i = 0; i < n; i++) {
        const char *g = scfm_vocab_token(v, (size_t)s[i].token);
        fprintf(f, "%s\t%d\t%zu\t%.9g\t%.9g\t%.9g\t%.9g\t%d\n", g ? g : "?", (int)s[i].token, s[i].n, s[i].mean_shift,
                s[i].z, s[i].p, s[i].fdr, s[i].fdr < 0.05);
    }
    int ok = !ferror(f);
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path)) {
        remove(tmp);
        return cli_errorf(CMD, "%s: write failed", path);
    }
    return 0;
}

static int write_shifts(const char *path, const scfm_perturb_result *r, const scfm_vocab *v) {
    FILE *f = fopen(path, "w");
    if (!f) return cli_errorf(CMD, "%s: cannot create: %s", path, strerror(errno));
    fprintf(f, "gene\ttoken_id\tshift\n");
    for (size_t t = 0; t < r->V; t++)
        for (size_t i = 0; i < r->n[t]; i++) fprintf(f, "%s\t%zu\t%.9g\n", scfm_vocab_token(v, t), t, r->shifts[t][i]);
    return fclose(f) == 0 ? 0 : cli_errorf(CMD, "%s: write failed", path);
}

static int run(const args *a, scfm_corpus *c, scfm_model *m, scfm_vocab *v) {
    scfm_perturb_opts o;
    scfm_perturb_opts_init(&o);
    o.mode = (scfm_perturb_mode)a->mode;
    if (a->layer && cli_long(CMD, "--layer", a->layer, -10000, 10000, &o.embed.layer)) return 2;
    if (a->pool && strcmp(a->pool, "mean") && strcmp(a->pool, "cls"))
        return cli_usage_error(CMD, "--pool: '%s' is not mean or cls", a->pool);
    o.embed.pool = a->pool && !strcmp(a->pool, "cls") ? SCFM_POOL_CLS : SCFM_POOL_MEAN;
    o.embed.batch_tokens = (size_t)a->batch_tokens;
    o.embed.batch_cells = (size_t)a->batch_cells;
    o.embed.truncate = a->truncate;
    int32_t *genes = NULL;
    size_t *cells = NULL, *goal_cells = NULL, n = 0, ng = 0, nstat = 0;
    float *goal = NULL, *gemb = NULL;
    scfm_perturb_result r;
    memset(&r, 0, sizeof r);
    scfm_perturb_stat *st = NULL;
    int rc = 0;
    if (a->genes) rc = parse_genes(a->genes, v, &genes, &o.n_genes);
    o.genes = genes;
    if (!rc && a->mode == SCFM_PERTURB_OVEREXPRESS && !genes) rc = cli_usage_error(CMD, "--overexpress needs --genes");
    if (!rc) rc = select_cells(c, a->cells, "--cells", &cells, &n);
    if (!rc && a->max_cells > 0 && (size_t)a->max_cells < n) n = (size_t)a->max_cells;
    if (!rc && a->goal) {
        rc = select_cells(c, a->goal, "--goal", &goal_cells, &ng);
        size_t cap = a->goal_cells > 0 ? (size_t)a->goal_cells : 200;
        if (ng > cap) ng = cap;
        size_t H = m->cfg.hidden_size;
        if (!rc && (!(goal = calloc(H, sizeof *goal)) || !(gemb = malloc(ng * H * sizeof *gemb))))
            rc = cli_errorf(CMD, "out of memory");
        if (!rc && scfm_embed_cells(m, c, goal_cells, ng, &o.embed, gemb, NULL)) rc = cli_fail(CMD);
        for (size_t i = 0; !rc && i < ng; i++)
            for (size_t d = 0; d < H; d++) goal[d] += gemb[i * H + d] / (float)ng;
        o.goal = goal;
    }
    if (!rc && scfm_perturb_cells(m, c, cells, n, &o, &r)) rc = cli_fail(CMD);
    if (!rc && scfm_perturb_stats(&r, &st, &nstat)) rc = cli_fail(CMD);
    if (!rc) rc = write_stats(a->out, st, nstat, v);
    if (!rc && a->shifts) rc = write_shifts(a->shifts, &r, v);
    if (!rc) {
        size_t sig = 0;
        for (size_t i = 0; i < nstat; i++) sig += st[i].fdr < 0.05;
        printf("cells\t%zu\nperturbations\t%zu\ngenes\t%zu\nsignificant\t%zu\noutput\t%s\n", r.n_cells,
               r.n_perturbations, nstat, sig, a->out);
        cli_report_done();
    }
    free(genes);
    free(cells);
    free(goal_cells);
    free(goal);
    free(gemb);
    free(st);
    scfm_perturb_result_free(&r);
    return rc;
}

int cmd_perturb(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        perturb_help();
        return argc < 2 ? 2 : 0;
    }
    args a;
    memset(&a, 0, sizeof a);
    int rc = parse_args(&a, argc, argv);
    if (rc) return rc;
    if (!a.corpus) return cli_usage_error(CMD, "no corpus given");
    if (!a.model) return cli_usage_error(CMD, "-m MODEL_DIR is required");
    if (!a.out) return cli_usage_error(CMD, "-o OUT.tsv is required");
    if (a.mode < 0) return cli_usage_error(CMD, "--delete or --overexpress is required");
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
