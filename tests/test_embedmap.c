/* 2-D map (src/analysis/embedmap.c) and embedding tables (src/analysis/embtable.c):
 * PCA scores and variances against scikit-learn on real embeddings (fixture from
 * scripts/make_embedmap_fixtures.py), t-SNE independent of the thread count and seeded,
 * separated clusters stay separated, argument errors. The neighbourhood-preservation
 * comparison with sklearn's t-SNE is tests/cli/map_sklearn.sh. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef SCFM_HAVE_OPENMP
#include <omp.h>
#endif
#include "scfm/analysis.h"
#include "scfm/embedmap.h"
#include "scfm/rng.h"
#include "testutil.h"

#define FX "tests/fixtures/embedmap/"

static void test_pca(void) {
    scfm_emb_table t, ref, var;
    int rc = scfm_emb_table_read(FX "baron500.npy", NULL, &t);
    CHECK(rc == 0, "read fixture: %s", scfm_last_error());
    if (rc) return;
    CHECK(t.n == 500 && t.d == 32, "fixture shape %zu x %zu", t.n, t.d);
    CHECK(t.n_obs == 2 && !strcmp(t.obs_names[0], "cell_type"), "obs from baron500.obs.tsv");
    CHECK(scfm_emb_table_obs(&t, "donor") == 1 && scfm_emb_table_obs(&t, "nope") == -1, "obs lookup");
    CHECK(scfm_emb_table_read(FX "pca_ref.npy", NULL, &ref) == 0, "read pca_ref: %s", scfm_last_error());
    CHECK(scfm_emb_table_read(FX "pca_var.npy", NULL, &var) != 0, "1-D .npy is refused");
    CHECK(strstr(scfm_last_error(), "2-D") != NULL, "message says 2-D: %s", scfm_last_error());
    double *s = malloc(500 * 10 * sizeof *s), v[10];
    CHECK(scfm_pca(t.x, t.n, t.d, 10, s, v) == 0, "pca");
    float *sf = malloc(500 * 10 * sizeof *sf);
    for (size_t i = 0; i < 5000; i++) sf[i] = (float)s[i];
    double scale = 0;
    for (size_t i = 0; i < 500; i++) scale = fmax(scale, fabs(ref.x[i * 10]));
    CHECK_ARRAY(sf, ref.x, 5000, 0, 1e-4 * scale, "PCA scores vs sklearn (signs included)");
    /* explained variance: sum of squares of the reference scores / (n - 1) */
    for (size_t c = 0; c < 10; c++) {
        double ss = 0;
        for (size_t i = 0; i < 500; i++) ss += (double)ref.x[i * 10 + c] * ref.x[i * 10 + c];
        CHECK_CLOSE(v[c], ss / 499, 1e-4, 0, "explained variance %zu", c);
    }
    CHECK(scfm_pca(t.x, t.n, t.d, 33, s, v) == SCFM_EINVAL, "k > d refused");
    free(s), free(sf);
    scfm_emb_table_free(&ref);

    /* t-SNE: same result on 1 and 2 threads, and for a repeated run; random init seeded */
    size_t n = 200;
    scfm_map_opts o;
    scfm_map_opts_init(&o);
    o.n_iter = 300;
    double *y1 = malloc(2 * n * sizeof *y1), *y2 = malloc(2 * n * sizeof *y2), *y3 = malloc(2 * n * sizeof *y3), kl1, kl2;
#ifdef SCFM_HAVE_OPENMP
    omp_set_num_threads(1);
#endif
    CHECK(scfm_embed_map(t.x, n, t.d, &o, y1, &kl1) == 0, "map 1 thread: %s", scfm_last_error());
#ifdef SCFM_HAVE_OPENMP
    omp_set_num_threads(2);
#endif
    CHECK(scfm_embed_map(t.x, n, t.d, &o, y2, &kl2) == 0, "map 2 threads");
    CHECK(!memcmp(y1, y2, 2 * n * sizeof *y1) && kl1 == kl2, "thread count changes nothing");
    CHECK(kl1 > 0 && kl1 < 2, "KL divergence %g", kl1);
    o.init_random = 1, o.seed = 3;
    CHECK(scfm_embed_map(t.x, n, t.d, &o, y2, NULL) == 0, "random init");
    CHECK(scfm_embed_map(t.x, n, t.d, &o, y3, NULL) == 0, "random init again");
    CHECK(!memcmp(y2, y3, 2 * n * sizeof *y2), "same seed, same map");
    o.seed = 4;
    CHECK(scfm_embed_map(t.x, n, t.d, &o, y3, NULL) == 0, "other seed");
    CHECK(memcmp(y2, y3, 2 * n * sizeof *y2) != 0, "other seed, other map");
    free(y1), free(y2), free(y3);
    scfm_emb_table_free(&t);
}

/* Two Gaussian clusters 20 sd apart in 10-D stay apart: every point is nearer its own
 * cluster's centre in the map. */
static void test_clusters(void) {
    size_t n = 120, d = 10;
    float *x = malloc(n * d * sizeof *x);
    scfm_rng r;
    scfm_rng_seed(&r, 11);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) x[i * d + j] = scfm_rng_normal(&r) + (i < n / 2 && j == 0 ? 20.0f : 0.0f);
    scfm_map_opts o;
    scfm_map_opts_init(&o);
    o.perplexity = 10;
    double *y = malloc(2 * n * sizeof *y), c[2][2] = {{0}};
    CHECK(scfm_embed_map(x, n, d, &o, y, NULL) == 0, "clusters map");
    for (size_t i = 0; i < n; i++) c[i >= n / 2][0] += y[2 * i] / (n / 2), c[i >= n / 2][1] += y[2 * i + 1] / (n / 2);
    size_t wrong = 0;
    for (size_t i = 0; i < n; i++) {
        double d0 = hypot(y[2 * i] - c[0][0], y[2 * i + 1] - c[0][1]), d1 = hypot(y[2 * i] - c[1][0], y[2 * i + 1] - c[1][1]);
        wrong += (i < n / 2) != (d0 < d1);
    }
    CHECK(wrong == 0, "%zu points nearer the other cluster", wrong);
    CHECK(scfm_embed_map(x, 3, d, &o, y, NULL) == SCFM_EINVAL, "3 points refused");
    x[5] = NAN;
    CHECK(scfm_embed_map(x, n, d, &o, y, NULL) != 0, "NaN refused");
    free(x), free(y);
}

static void test_subsample(void) {
    size_t *idx, m;
    CHECK(scfm_map_subsample(10, 0, 1, &idx, &m) == 0 && m == 10 && idx[9] == 9, "no cap keeps all");
    free(idx);
    CHECK(scfm_map_subsample(1000, 50, 1, &idx, &m) == 0 && m == 50, "cap");
    int asc = 1;
    for (size_t i = 1; i < m; i++) asc &= idx[i] > idx[i - 1];
    CHECK(asc, "ascending, distinct");
    free(idx);
}

/* .h5ad written by scfm embed's writer reads back: matrix, ids, obs columns, command. */
static void test_h5ad_roundtrip(void) {
    if (!scfm_have_hdf5()) return;
    float x[6] = {1, 2, 3, 4, 5, 6};
    const char *ids[3] = {"c1", "c2", "c3"}, *names[2] = {"cell_type", "species"};
    const char *obs[6] = {"beta", "human", "alpha", "mouse", "beta", "mouse"};
    char path[] = "/tmp/test_embedmap_XXXXXX.h5ad";
    int fd = mkstemps(path, 5);
    CHECK(fd >= 0, "temp file");
    close(fd);
    CHECK(scfm_h5ad_write_embedding(path, "X_scfm", x, 3, 2, ids, names, 2, obs, "scfm embed C -m M -o e.h5ad") == 0, "write");
    scfm_emb_table t;
    CHECK(scfm_emb_table_read(path, NULL, &t) == 0, "read h5ad: %s", scfm_last_error());
    CHECK(t.n == 3 && t.d == 2 && t.x[5] == 6, "matrix");
    CHECK(t.n_obs == 2 && !strcmp(t.obs_names[1], "species") && !strcmp(t.obs[1 * 2 + 1], "mouse"), "obs columns");
    CHECK(!strcmp(t.ids[2], "c3"), "ids");
    CHECK(t.command && !strcmp(t.command, "scfm embed C -m M -o e.h5ad"), "command from uns");
    scfm_emb_table_free(&t);
    CHECK(scfm_emb_table_read(path, "X_other", &t) == SCFM_ENOTFOUND, "missing obsm key");
    remove(path);
}

int main(void) {
    test_h5ad_roundtrip();
    test_pca();
    test_clusters();
    test_subsample();
    return TEST_END();
}
