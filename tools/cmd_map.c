/* scfm map: 2-D map (PCA, then t-SNE) of cell embeddings written by `scfm embed`. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef SCFM_HAVE_OPENMP
#include <omp.h>
#endif

#include "cli.h"
#include "scfm/embedmap.h"

static const char *CMD = "map";

static void map_help(void) {
    printf("usage: scfm map EMBEDDINGS -o MAP.tsv [options]\n\n"
           "2-D map of cell embeddings (.h5ad obsm/X_scfm, .npy (+ .obs.tsv), or .tsv from scfm embed):\n"
           "PCA, then t-SNE (scikit-learn's definitions: perplexity 30, PCA init, early exaggeration 12\n"
           "for 250 iterations, learning rate max(n/48, 50)). Seeded, deterministic and independent of the\n"
           "thread count. Output: cell_id, obs columns, x, y.\n"
           "  -o, --out FILE       output table (.tsv)\n"
           "  --pca-dims N         principal components before t-SNE (default 50; 0 = none)\n"
           "  --perplexity P       default 30\n"
           "  --iter N             t-SNE iterations (default 1000)\n"
           "  --max-cells N        seeded subsample of at most N cells (default 5000; 0 = all; the exact\n"
           "                       repulsion costs O(n^2) per iteration: ~1 min for 5,000 cells per core)\n"
           "  --seed S             subsample (and --random-init) seed (default 0)\n"
           "  --random-init        Gaussian start instead of the first two principal components\n"
           "  --key NAME           obsm key of an .h5ad (default X_scfm, or its only entry)\n"
           "  --threads N          OpenMP threads (the result does not depend on it)\n");
}

int cmd_map(int argc, char **argv) {
    const char *in = NULL, *out = NULL, *key = NULL;
    long pca = 50, iter = 1000, max_cells = 5000, seed = 0, threads = 0;
    double perp = 30;
    int random_init = 0;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) { map_help(); return 0; }
        if (o[0] != '-' || !o[1]) {
            if (in) return cli_usage_error(CMD, "one embedding file only (got '%s' and '%s')", in, o);
            in = o;
            continue;
        }
        if (!strcmp(o, "--random-init")) { random_init = 1; continue; }
        if (!v) return cli_usage_error(CMD, "%s needs a value", o);
        i++;
        if (!strcmp(o, "-o") || !strcmp(o, "--out")) out = v;
        else if (!strcmp(o, "--key")) key = v;
        else if (!strcmp(o, "--pca-dims")) { if (cli_long(CMD, o, v, 0, 100000, &pca)) return 2; }
        else if (!strcmp(o, "--iter")) { if (cli_long(CMD, o, v, 0, 1000000, &iter)) return 2; }
        else if (!strcmp(o, "--max-cells")) { if (cli_long(CMD, o, v, 0, LONG_MAX, &max_cells)) return 2; }
        else if (!strcmp(o, "--seed")) { if (cli_long(CMD, o, v, 0, LONG_MAX, &seed)) return 2; }
        else if (!strcmp(o, "--threads")) { if (cli_long(CMD, o, v, 1, 4096, &threads)) return 2; }
        else if (!strcmp(o, "--perplexity")) { if (cli_double(CMD, o, v, 1e-3, 1e6, &perp)) return 2; }
        else return cli_usage_error(CMD, "unknown option %s", o);
    }
    if (!in) return cli_usage_error(CMD, "an embedding file is required (see scfm map --help)");
    if (!out) return cli_usage_error(CMD, "-o MAP.tsv is required");
#ifdef SCFM_HAVE_OPENMP
    if (threads) omp_set_num_threads((int)threads);
#endif
    scfm_emb_table t;
    if (scfm_emb_table_read(in, key, &t)) return cli_fail(CMD);
    size_t *idx = NULL, m = 0;
    float *x = NULL;
    double *y = NULL, kl = 0;
    int rc = 1;
    if (scfm_map_subsample(t.n, (size_t)max_cells, (uint64_t)seed, &idx, &m) || !(x = scfm_emb_table_rows(&t, idx, m)) ||
        !(y = scfm_malloc(2 * m * sizeof *y))) { rc = cli_fail(CMD); goto done; }
    scfm_map_opts o;
    scfm_map_opts_init(&o);
    o.pca_dims = (size_t)pca, o.perplexity = perp, o.n_iter = (size_t)iter, o.seed = (uint64_t)seed;
    o.init_random = random_init;
    if (o.exaggeration_iter > o.n_iter) o.exaggeration_iter = o.n_iter;
    fprintf(stderr, "scfm map: %zu of %zu cells, %zu dims -> PCA %ld -> t-SNE (%ld iterations)\n", m, t.n, t.d, pca, iter);
    if (scfm_embed_map(x, m, t.d, &o, y, &kl)) { rc = cli_errorf(CMD, "%s: %s", in, scfm_last_error()); goto done; }
    if (scfm_map_write_tsv(out, &t, idx, m, y)) { rc = cli_fail(CMD); goto done; }
    fprintf(stderr, "scfm map: KL divergence %.4f; wrote %s\n", kl, out);
    cli_done(CMD, "%zu cells, KL divergence %.4f -> %s", m, kl, out);
    rc = 0;
done:
    free(idx), free(x), free(y);
    scfm_emb_table_free(&t);
    return rc;
}
