/* scfm embed: cell (and gene) embeddings from a checkpoint and a token corpus (docs/computation.md section 7). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <limits.h>
#include <unistd.h>
#ifdef SCFM_HAVE_OPENMP
#include <omp.h>
#endif

#include "cli.h"
#include "scfm/analysis.h"
#include "scfm/corpus.h"
#include "scfm/genes.h"
#include "scfm/model.h"

static const char *CMD = "embed";

static void embed_help(void) {
    printf("usage: scfm embed CORPUS -m MODEL_DIR -o OUT.h5ad|OUT.npy|OUT.tsv [options]\n\n"
           "Cell embeddings: the mean of one layer's token states over the gene tokens of each cell\n"
           "(special tokens and padding excluded), or the <cls> state (V2 corpora).\n"
           "  -m, --model DIR      checkpoint directory (config.json + model.safetensors)\n"
           "  -o, --out FILE       .h5ad (obsm/X_scfm, obs = cell ids + obs columns; needs HDF5),\n"
           "                       .npy (float32 [cells, hidden]; cell ids and obs go to FILE.obs.tsv),\n"
           "                       .tsv (cell_id, obs columns, one column per dimension)\n"
           "  --layer N            hidden state: 0 = embeddings, 1..L = encoder layers, negative from the\n"
           "                       end (default -2: the second-to-last layer, as Geneformer)\n"
           "  --pool mean|cls      pooling (default mean)\n"
           "  --obs a,b,...        obs columns to carry (default: all the corpus has; '' for none)\n"
           "  --max-cells N        only the first N cells\n"
           "  --genes FILE.tsv     also write gene embeddings: the token states of each gene averaged\n"
           "                       over all its occurrences (gene, token_id, n, dimensions...)\n"
           "  --key NAME           obsm key in .h5ad output (default X_scfm)\n"
           "  --into USER.h5ad     with -o OUT.h5ad: write into a copy of the user's own .h5ad (cells\n"
           "                       matched by obs name; its other cells get NaN)\n"
           "  --summary FILE.tsv   per-state summaries: state, stat (mean / median, exact), n, dims...\n"
           "                       over all cells (state 'all') and, with --summary-by COL, each value of COL\n"
           "  --summary-by COL     obs column whose values are the states of --summary\n"
           "  --batch-tokens N     tokens per forward batch (default 16384)\n"
           "  --batch-cells N      cells per forward batch (default 64)\n"
           "  --truncate           cut cells longer than the model's positions (otherwise an error)\n"
           "  --precision fp32|bf16|int8  arithmetic of the encoder (default fp32, the reference); bf16:\n"
           "                       bf16 operands with float32 sums in the matrix products and attention,\n"
           "                       needs avx512_bf16; int8: int8 operands with int32 sums in the matrix\n"
           "                       products (attention in bf16 where the CPU has it, else float32), needs\n"
           "                       avx512_vnni; both for inference only\n"
           "                       and faster on Geneformer-sized models (docs/speed.md, scfm --version)\n"
           "  --threads N          OpenMP threads\n");
}

typedef struct {
    const char *corpus, *model, *out, *layer, *pool, *obs, *genes, *key, *into, *summary, *summary_by;
    long max_cells, batch_tokens, batch_cells, threads;
    int truncate, have_obs;
    scfm_precision precision;
} args;

static int parse_args(args *a, int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (o[0] != '-' || !o[1]) {
            if (a->corpus) return cli_usage_error(CMD, "one corpus only (got '%s' and '%s')", a->corpus, o);
            a->corpus = o;
            continue;
        }
        if (!strcmp(o, "--truncate")) { a->truncate = 1; continue; }
        if (!v) return cli_usage_error(CMD, "%s needs a value", o);
        i++;
        if (!strcmp(o, "-m") || !strcmp(o, "--model")) a->model = v;
        else if (!strcmp(o, "-o") || !strcmp(o, "--out")) a->out = v;
        else if (!strcmp(o, "--layer")) a->layer = v;
        else if (!strcmp(o, "--pool")) a->pool = v;
        else if (!strcmp(o, "--obs")) { a->obs = v; a->have_obs = 1; }
        else if (!strcmp(o, "--genes")) a->genes = v;
        else if (!strcmp(o, "--key")) a->key = v;
        else if (!strcmp(o, "--into")) a->into = v;
        else if (!strcmp(o, "--summary")) a->summary = v;
        else if (!strcmp(o, "--summary-by")) a->summary_by = v;
        else if (!strcmp(o, "--max-cells")) { if (cli_long(CMD, o, v, 1, LONG_MAX, &a->max_cells)) return 2; }
        else if (!strcmp(o, "--batch-tokens")) { if (cli_long(CMD, o, v, 1, 1L << 30, &a->batch_tokens)) return 2; }
        else if (!strcmp(o, "--batch-cells")) { if (cli_long(CMD, o, v, 1, 1L << 20, &a->batch_cells)) return 2; }
        else if (!strcmp(o, "--threads")) { if (cli_long(CMD, o, v, 1, 4096, &a->threads)) return 2; }
        else if (!strcmp(o, "--precision")) { if (cli_precision(CMD, o, v, &a->precision)) return 2; }
        else return cli_usage_error(CMD, "unknown option %s", o);
    }
    return 0;
}

static int ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), k = strlen(suf);
    return n > k && !strcmp(s + n - k, suf);
}

typedef enum { OUT_H5AD, OUT_NPY, OUT_TSV } out_kind;

/* Selected obs columns (indices into the corpus's). */
static int pick_obs(const args *a, const scfm_corpus *c, size_t **cols, size_t *n) {
    size_t total = scfm_corpus_n_obs(c);
    *cols = calloc(total + 1, sizeof **cols);
    *n = 0;
    if (!*cols) return cli_errorf(CMD, "out of memory");
    if (!a->have_obs) {
        for (size_t k = 0; k < total; k++) (*cols)[(*n)++] = k;
        return 0;
    }
    char *copy = scfm_strdup(a->obs);
    if (!copy) return cli_errorf(CMD, "out of memory");
    for (char *save = NULL, *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        long k = scfm_corpus_obs_index(c, t);
        if (k < 0) {
            int rc = cli_errorf(CMD, "%s: no obs column '%s' in the corpus (it has %zu: see 'scfm corpus info')",
                                scfm_corpus_dir(c), t, total);
            free(copy);
            return rc;
        }
        if (*n < total) (*cols)[(*n)++] = (size_t)k;
    }
    free(copy);
    return 0;
}

static int write_genes(const char *path, const scfm_gene_embed *g, const scfm_corpus *c) {
    scfm_vocab *v = scfm_corpus_load_vocab(c);
    if (!v) return cli_fail(CMD);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    float *row = malloc((g->H ? g->H : 1) * sizeof *row);
    if (!f || !row) {
        if (f) fclose(f);
        free(row);
        scfm_vocab_free(v);
        return cli_errorf(CMD, "%s: cannot create", path);
    }
    fprintf(f, "gene\ttoken_id\tn");
    for (size_t d = 0; d < g->H; d++) fprintf(f, "\t%zu", d);
    fputc('\n', f);
    size_t n = 0;
    for (size_t t = 0; t < g->V; t++) {
        if (!g->count[t]) continue;
        const char *name = scfm_vocab_token(v, t);
        scfm_gene_embed_mean(g, t, row);
        fprintf(f, "%s\t%zu\t%llu", name ? name : "?", t, (unsigned long long)g->count[t]);
        for (size_t d = 0; d < g->H; d++) fprintf(f, "\t%.9g", (double)row[d]);
        fputc('\n', f);
        n++;
    }
    int ok = !ferror(f);
    ok = fclose(f) == 0 && ok;
    free(row);
    scfm_vocab_free(v);
    if (!ok || rename(tmp, path)) {
        remove(tmp);
        return cli_errorf(CMD, "%s: write failed", path);
    }
    fprintf(stderr, "gene embeddings: %zu genes -> %s\n", n, path);
    return 0;
}

static int write_cells(const args *a, out_kind kind, const scfm_corpus *c, const float *emb, size_t n, size_t H) {
    size_t *cols = NULL, nc = 0;
    int rc = pick_obs(a, c, &cols, &nc);
    const char **ids = calloc(n ? n : 1, sizeof *ids), **names = calloc(nc + 1, sizeof *names);
    const char **obs = NULL;
    size_t cells_obs;
    if (!rc && (scfm_mul_size(n, nc, &cells_obs) || !(obs = calloc(cells_obs ? cells_obs : 1, sizeof *obs))))
        rc = cli_errorf(CMD, "out of memory");
    if (!rc && (!ids || !names)) rc = cli_errorf(CMD, "out of memory");
    for (size_t k = 0; !rc && k < nc; k++) names[k] = scfm_corpus_obs_name(c, cols[k]);
    for (size_t i = 0; !rc && i < n; i++) {
        ids[i] = scfm_corpus_cell_id(c, i);
        for (size_t k = 0; k < nc; k++) obs[i * nc + k] = scfm_corpus_obs(c, i, cols[k]);
    }
    if (!rc) {
        int r = 0;
        if (kind == OUT_H5AD && a->into) {
            scfm_h5ad_out *h = NULL;
            r = scfm_h5ad_out_open(&h, a->out, a->into, ids, n);
            if (!r) r = scfm_h5ad_out_obsm(h, a->key ? a->key : "X_scfm", emb, H);
            const char **col = r ? NULL : calloc(n ? n : 1, sizeof *col);
            if (!r && !col) r = SCFM_ENOMEM;
            for (size_t k = 0; !r && k < nc; k++) {
                if (scfm_h5ad_out_has_obs(h, names[k])) continue;
                for (size_t i = 0; i < n; i++) col[i] = obs[i * nc + k];
                r = scfm_h5ad_out_categorical(h, names[k], col);
            }
            free(col);
            int r2 = scfm_h5ad_out_close(h, !r, cli_cmdline());
            if (!r) r = r2;
        } else if (kind == OUT_H5AD)
            r = scfm_h5ad_write_embedding(a->out, a->key ? a->key : "X_scfm", emb, n, H, ids, names, nc, obs, cli_cmdline());
        else if (kind == OUT_TSV)
            r = scfm_embed_write_tsv(a->out, emb, n, H, ids, names, nc, obs);
        else {
            char side[4096];
            snprintf(side, sizeof side, "%.*s.obs.tsv", (int)(strlen(a->out) - 4), a->out);
            r = scfm_npy_write_f32(a->out, emb, n, H);
            if (!r) r = scfm_embed_write_tsv(side, emb, n, 0, ids, names, nc, obs);
        }
        if (r) rc = cli_fail(CMD);
    }
    free(cols);
    free(ids);
    free(names);
    free(obs);
    return rc;
}

/* --summary: mean and exact median of the cell embeddings over all cells and over each value
 * of --summary-by. */
static int write_summary(const args *a, const scfm_corpus *c, const float *emb, size_t n, size_t H) {
    long col = -1;
    if (a->summary_by && (col = scfm_corpus_obs_index(c, a->summary_by)) < 0)
        return cli_errorf(CMD, "%s: --summary-by: no obs column '%s' in the corpus", scfm_corpus_dir(c), a->summary_by);
    const char **names = calloc(n + 1, sizeof *names);
    int32_t *st = calloc(n ? n : 1, sizeof *st);
    size_t S = 1;
    if (!names || !st) { free(names); free(st); return cli_errorf(CMD, "out of memory"); }
    names[0] = "all";
    for (size_t i = 0; i < n && col >= 0; i++) { /* states in order of first appearance */
        const char *v = scfm_corpus_obs(c, i, (size_t)col);
        size_t s = 1;
        while (s < S && strcmp(names[s], v)) s++;
        if (s == S) names[S++] = v;
        st[i] = (int32_t)s;
    }
    double *mean = calloc(S && H ? S * H : 1, sizeof *mean), *med = calloc(S && H ? S * H : 1, sizeof *med);
    size_t *cnt = calloc(S, sizeof *cnt);
    int32_t *all = calloc(n ? n : 1, sizeof *all);
    int rc = mean && med && cnt && all ? 0 : cli_errorf(CMD, "out of memory");
    /* state 0: every cell; then the column's states */
    if (!rc && scfm_embed_state_summary(emb, n, H, all, 1, mean, med, cnt)) rc = cli_fail(CMD);
    for (size_t i = 0; !rc && col >= 0 && i < n; i++) st[i] -= 1;
    if (!rc && col >= 0 && scfm_embed_state_summary(emb, n, H, st, S - 1, mean + H, med + H, cnt + 1)) rc = cli_fail(CMD);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", a->summary, (long)getpid());
    FILE *f = rc ? NULL : fopen(tmp, "w");
    if (!rc && !f) rc = cli_errorf(CMD, "%s: cannot create: %s", a->summary, strerror(errno));
    if (f) {
        fprintf(f, "%s\tstat\tn", a->summary_by ? a->summary_by : "state");
        for (size_t d = 0; d < H; d++) fprintf(f, "\t%zu", d);
        fputc('\n', f);
        for (size_t s = 0; s < S; s++)
            for (int k = 0; k < 2; k++) {
                const double *v = (k ? med : mean) + s * H;
                fprintf(f, "%s\t%s\t%zu", names[s], k ? "median" : "mean", cnt[s]);
                for (size_t d = 0; d < H; d++) fprintf(f, "\t%.9g", v[d]);
                fputc('\n', f);
            }
        int ok = !ferror(f);
        ok = fclose(f) == 0 && ok;
        if (!ok || rename(tmp, a->summary)) {
            remove(tmp);
            rc = cli_errorf(CMD, "%s: write failed", a->summary);
        }
    }
    free(names);
    free(st);
    free(mean);
    free(med);
    free(cnt);
    free(all);
    return rc;
}

/* The directory of path must exist and be writable (checked before hours of compute). */
static int check_writable(const char *path) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == dir) dir[1] = 0;
    else *slash = 0;
    if (access(dir, W_OK) != 0)
        return cli_errorf(CMD, "%s: cannot write there (directory %s: %s)", path, dir, strerror(errno));
    return 0;
}

static int run(const args *a) {
    out_kind kind;
    if (ends_with(a->out, ".h5ad")) kind = OUT_H5AD;
    else if (ends_with(a->out, ".npy")) kind = OUT_NPY;
    else if (ends_with(a->out, ".tsv")) kind = OUT_TSV;
    else return cli_usage_error(CMD, "-o %s: unknown output type (use .h5ad, .npy or .tsv)", a->out);
    if (kind == OUT_H5AD && !scfm_have_hdf5())
        return cli_usage_error(CMD, "-o %s: this scfm was built without HDF5; write .npy or .tsv", a->out);
    if (a->into && kind != OUT_H5AD) return cli_usage_error(CMD, "--into %s needs -o OUT.h5ad", a->into);
    if (a->summary && !ends_with(a->summary, ".tsv"))
        return cli_usage_error(CMD, "--summary %s: summaries are written as .tsv", a->summary);
    if (a->summary_by && !a->summary) return cli_usage_error(CMD, "--summary-by needs --summary FILE.tsv");
    if (a->genes && !ends_with(a->genes, ".tsv"))
        return cli_usage_error(CMD, "--genes %s: gene embeddings are written as .tsv", a->genes);
    scfm_embed_opts o;
    scfm_embed_opts_init(&o);
    if (a->layer && cli_long(CMD, "--layer", a->layer, -10000, 10000, &o.layer)) return 2;
    if (a->pool) {
        if (!strcmp(a->pool, "mean")) o.pool = SCFM_POOL_MEAN;
        else if (!strcmp(a->pool, "cls")) o.pool = SCFM_POOL_CLS;
        else return cli_usage_error(CMD, "--pool: '%s' is not mean or cls", a->pool);
    }
    o.batch_tokens = (size_t)a->batch_tokens;
    o.batch_cells = (size_t)a->batch_cells;
    o.truncate = a->truncate;
    o.genes = a->genes != NULL;

    if (check_writable(a->out) || (a->genes && check_writable(a->genes))) return 1;
    scfm_corpus *c = scfm_corpus_open(a->corpus);
    if (!c) return cli_fail(CMD);
    size_t *obs_cols = NULL, n_obs_cols = 0; /* validate --obs before the long part */
    int obs_rc = pick_obs(a, c, &obs_cols, &n_obs_cols);
    free(obs_cols);
    if (!obs_rc && a->summary_by && scfm_corpus_obs_index(c, a->summary_by) < 0)
        obs_rc = cli_errorf(CMD, "%s: --summary-by: no obs column '%s' in the corpus", scfm_corpus_dir(c), a->summary_by);
    if (obs_rc) {
        scfm_corpus_close(c);
        return obs_rc;
    }
    scfm_model *m = scfm_model_load(a->model, SCFM_HEAD_NONE);
    if (!m) {
        scfm_corpus_close(c);
        return cli_fail(CMD);
    }
    int rc = cli_set_precision(CMD, m, a->precision);
    if (!rc && scfm_embed_check_vocab(m, a->model, c)) rc = cli_fail(CMD);
    size_t n = scfm_corpus_n_cells(c), H = m->cfg.hidden_size, bytes;
    if (a->max_cells > 0 && (size_t)a->max_cells < n) n = (size_t)a->max_cells;
    float *emb = NULL;
    scfm_gene_embed genes;
    memset(&genes, 0, sizeof genes);
    if (!rc && (scfm_mul_size(n, H, &bytes) || !(emb = scfm_malloc(bytes * sizeof *emb)))) rc = cli_fail(CMD);
    double t0 = scfm_now();
    if (!rc && scfm_embed_cells(m, c, NULL, n, &o, emb, &genes)) rc = cli_fail(CMD);
    double secs = scfm_now() - t0;
    if (!rc) rc = write_cells(a, kind, c, emb, n, H);
    if (!rc && a->genes) rc = write_genes(a->genes, &genes, c);
    if (!rc && a->summary) rc = write_summary(a, c, emb, n, H);
    if (!rc) {
        long L = (long)m->cfg.num_hidden_layers;
        printf("cells\t%zu\ndim\t%zu\nlayer\t%ld\npool\t%s\nprecision\t%s\nseconds\t%.2f\noutput\t%s\n", n, H,
               o.layer < 0 ? L + 1 + o.layer : o.layer, o.pool == SCFM_POOL_CLS ? "cls" : "mean",
               scfm_precision_name(a->precision), secs, a->out);
        cli_done(CMD, "%zu cells x %zu dimensions -> %s", n, H, a->out);
    }
    scfm_gene_embed_free(&genes);
    free(emb);
    scfm_model_free(m);
    scfm_corpus_close(c);
    return rc;
}

int cmd_embed(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        embed_help();
        return argc < 2 ? 2 : 0;
    }
    args a;
    memset(&a, 0, sizeof a);
    int rc = parse_args(&a, argc, argv);
    if (rc) return rc;
    if (!a.corpus) return cli_usage_error(CMD, "no corpus given");
    if (!a.model) return cli_usage_error(CMD, "-m MODEL_DIR is required");
    if (!a.out) return cli_usage_error(CMD, "-o OUT.h5ad|.npy|.tsv is required");
#ifdef SCFM_HAVE_OPENMP
    if (a.threads > 0) omp_set_num_threads((int)a.threads);
#endif
    return run(&a);
}
