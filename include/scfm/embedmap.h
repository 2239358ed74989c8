/* 2-D maps of cell embeddings (src/analysis/embedmap.c): PCA, then t-SNE; and an embedding
 * table reader (src/analysis/embtable.c) for what `scfm embed` writes (.h5ad, .npy, .tsv).
 *
 * t-SNE rather than UMAP: t-SNE's optimisation is plain full-batch gradient descent, so
 * every iteration is a fixed function of the previous one. With the attraction over a
 * sparse k-nearest-neighbour P (k = 3 * perplexity + 1, as scikit-learn's default) and the
 * repulsion computed exactly over all pairs, each cell's gradient is a per-row sum in a
 * fixed order and the normaliser Z is summed from per-row partial sums in row order: the
 * result is bit-identical for any number of threads. UMAP's stochastic negative-sampling
 * SGD is either sequential or thread-count dependent. Exact repulsion costs O(n^2) per
 * iteration: about 1 minute for 5,000 cells on one core; callers subsample larger inputs.
 *
 * Definitions follow scikit-learn 1.2 (sklearn.manifold.TSNE(init='pca',
 * learning_rate='auto', method='barnes_hut' for P, exact gradient)):
 *  - PCA: columns centred, eigenvectors of the covariance (cyclic Jacobi, double), sorted by
 *    eigenvalue; each component's sign makes the score of largest magnitude positive
 *    (sklearn's svd_flip on U).
 *  - P: squared Euclidean distances to the k nearest neighbours (ties by index), conditional
 *    p_j|i by binary search of beta to entropy log(perplexity) (tolerance 1e-5, 100 steps),
 *    P = (P + P^T) / sum.
 *  - init: the first two principal components scaled so that the first has standard
 *    deviation 1e-4 (or Gaussian N(0, 1e-4) from the seed with init_random).
 *  - optimisation: n_iter iterations (the first exaggeration_iter with P * early_exaggeration
 *    and momentum 0.5, then momentum 0.8), learning rate max(n / early_exaggeration / 4, 50)
 *    when 0, delta-bar-delta gains (+0.2 / *0.8, at least 0.01).
 * Return codes as everywhere: SCFM_OK or a negative scfm_status, message in scfm_last_error(). */
#ifndef SCFM_EMBEDMAP_H
#define SCFM_EMBEDMAP_H
#include <stddef.h>
#include <stdint.h>
#include "scfm/core.h"

typedef struct {
    size_t pca_dims;            /* principal components kept before t-SNE (50; 0 = no PCA) */
    double perplexity;          /* 30 (lowered to (n - 1) / 3 for small n) */
    size_t n_iter;              /* 1000 */
    size_t exaggeration_iter;   /* 250 */
    double early_exaggeration;  /* 12 */
    double learning_rate;       /* 0 = auto */
    int init_random;            /* 0 = PCA init (default), 1 = Gaussian from seed */
    uint64_t seed;              /* used by init_random */
} scfm_map_opts;
void scfm_map_opts_init(scfm_map_opts *o);

/* Principal component scores of x[n*d] (row-major float) into scores[n*k] (double), k <= d,
 * k <= n; var[k] (may be NULL) receives the explained variances (ddof 1). */
int scfm_pca(const float *x, size_t n, size_t d, size_t k, double *scores, double *var) SCFM_WUR;

/* t-SNE of x[n*d] (double) into y[n*2]; *kl (may be NULL) receives the final KL divergence
 * KL(P||Q) (without exaggeration). init[n*2] (may be NULL: Gaussian from the seed) is the
 * starting layout. n >= 4. */
int scfm_tsne(const double *x, size_t n, size_t d, const double *init, const scfm_map_opts *o,
              double *y, double *kl) SCFM_WUR;

/* The 2-D map: PCA to min(pca_dims, d, n) dims (all of d when pca_dims is 0), PCA init from
 * the first two components (unless init_random), t-SNE. y[n*2]. */
int scfm_embed_map(const float *x, size_t n, size_t d, const scfm_map_opts *o, double *y, double *kl) SCFM_WUR;

/* ---- embedding tables ---------------------------------------------------------------- */
typedef struct {
    size_t n, d;         /* cells, dimensions */
    float *x;            /* [n*d] */
    char **ids;          /* [n] cell ids ("0", "1", ... when the file has none) */
    size_t n_obs;
    char **obs_names;    /* [n_obs] */
    char **obs;          /* [n*n_obs], obs[i*n_obs + k] */
    char *command;       /* the command that wrote it (h5ad uns/scfm_command) or NULL */
} scfm_emb_table;
void scfm_emb_table_free(scfm_emb_table *t);
/* Reads an embedding table by extension:
 *  .h5ad  obsm/<key> (key NULL = "X_scfm", else the only obsm entry), obs index and string /
 *         categorical / numeric columns, uns/scfm_command (needs HDF5);
 *  .npy   2-D float32/float64 (C order, little-endian), obs from "<path minus .npy>.obs.tsv"
 *         when present (scfm embed's layout: cell_id then obs columns);
 *  .tsv   `scfm embed` tables: cell_id, obs columns, then columns named 0, 1, ... */
int scfm_emb_table_read(const char *path, const char *key, scfm_emb_table *t) SCFM_WUR;
/* Index of obs column name or -1. */
long scfm_emb_table_obs(const scfm_emb_table *t, const char *name);

/* Seeded subsample: m = min(n, max) indices (max 0 = all) in ascending order into
 * *idx (malloc'ed). Same seed, same cells. */
int scfm_map_subsample(size_t n, size_t max, uint64_t seed, size_t **idx, size_t *m) SCFM_WUR;
/* Rows idx[m] of t as a float matrix [m*d] (malloc'ed). */
float *scfm_emb_table_rows(const scfm_emb_table *t, const size_t *idx, size_t m) SCFM_WUR;
/* Map table, written atomically: cell_id, obs columns, x, y (%.6g); one row per idx[i]. */
int scfm_map_write_tsv(const char *path, const scfm_emb_table *t, const size_t *idx, size_t m,
                       const double *y) SCFM_WUR;
#endif
