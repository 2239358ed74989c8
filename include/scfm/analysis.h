/* Analysis: statistics (rank-sum tests, FDR, cosine similarity, classification metrics,
 * stratified splits), cell and gene embeddings from a model and a token corpus (SPEC
 * section 7), and output writers (.npy, .tsv, .h5ad when built with HDF5).
 *
 * Return codes: functions returning int give SCFM_OK or a negative scfm_status with a
 * message in scfm_last_error(); nothing here prints or exits. */
#ifndef SCFM_ANALYSIS_H
#define SCFM_ANALYSIS_H
#include <stddef.h>
#include <stdint.h>
#include "scfm/core.h"
#include "scfm/corpus.h"
#include "scfm/model.h"

/* ======================================================================================
 * Statistics (src/analysis/stats.c)
 * ====================================================================================== */

/* Two-sample Wilcoxon rank-sum / Mann-Whitney U test, normal approximation, two-sided.
 *   SCFM_RANKSUM_SCIPY_RANKSUMS: scipy.stats.ranksums(x, y): z = (R_x - n_x(n+1)/2) /
 *       sqrt(n_x n_y (n+1)/12) with mid-ranks and NO tie correction; p = 2 sf(|z|).
 *   SCFM_RANKSUM_MWU: scipy.stats.mannwhitneyu(x, y, method='asymptotic',
 *       use_continuity=False): U = max(U_x, U_y), tie-corrected variance
 *       n_x n_y/12 ((n+1) - sum(t^3-t)/(n(n-1))); z = (U - n_x n_y/2)/s; p = 2 sf(z), <= 1.
 *   SCFM_RANKSUM_MWU_CC: the same with use_continuity=True (scipy's default): U - 0.5.
 * stat receives U_x (MWU kinds; scipy's returned statistic) or z (RANKSUMS); z receives the
 * signed z score of x relative to y (positive when x tends to be larger) in every kind.
 * Degenerate variance (all values tied): z = 0, p = 1 (scipy gives NaN).
 * Returns SCFM_OK, SCFM_EINVAL (an empty sample, a NaN value), SCFM_ENOMEM. stat/z may be NULL. */
typedef enum { SCFM_RANKSUM_SCIPY_RANKSUMS = 0, SCFM_RANKSUM_MWU = 1, SCFM_RANKSUM_MWU_CC = 2 } scfm_ranksum_kind;
int scfm_ranksum_test(const double *x, size_t nx, const double *y, size_t ny, scfm_ranksum_kind kind,
                      double *stat, double *z, double *p) SCFM_WUR;

/* Two-sided normal tail: 2 * P(Z > |z|) = erfc(|z|/sqrt 2). */
double scfm_normal_two_sided_p(double z);

/* Mid-ranks (1-based, ties get the mean of their ranks, as scipy.stats.rankdata) of
 * v[n] into ranks[n]; *tie_term (may be NULL) receives sum(t^3 - t) over tie groups.
 * Returns SCFM_OK, SCFM_EINVAL (NaN), SCFM_ENOMEM. */
int scfm_rankdata(const double *v, size_t n, double *ranks, double *tie_term) SCFM_WUR;

/* Benjamini-Hochberg adjusted p-values (scipy.stats.false_discovery_control(p, method='bh')
 * = statsmodels multipletests(p, method='fdr_bh')[1]): q_(i) = min_{j>=i} p_(j) m / j,
 * clipped to 1, in input order. q may alias p. Returns SCFM_OK, SCFM_EINVAL (a p outside
 * [0,1] or NaN), SCFM_ENOMEM. */
int scfm_fdr_bh(const double *p, size_t n, double *q) SCFM_WUR;

/* Cosine similarity of float vectors (accumulated in double), torch's definition:
 * x.y / max(|x| |y|, 1e-8). */
double scfm_cosine(const float *x, const float *y, size_t n);
double scfm_cosine_d(const double *x, const double *y, size_t n);

/* A cell's baseline token states, against which the states of its perturbed copies are
 * compared (gene shifts of in-silico deletion, src/analysis/shift.c): h[len * H] for the
 * baseline's tokens and, per vocabulary id, the baseline position of that gene (-1 where
 * absent or special). */
typedef struct {
    size_t V, H, cap;   /* vocabulary size, hidden size, token capacity */
    size_t len;         /* tokens of the baseline held now */
    float *h;           /* [cap * H] */
    int32_t *pos;       /* [V], -1 */
    int32_t *ids;       /* [cap] the baseline's token ids (to clear pos) */
} scfm_shift_base;
/* Allocates for baselines of up to cap tokens. SCFM_OK or SCFM_ENOMEM (b is then freed). */
int scfm_shift_base_init(scfm_shift_base *b, size_t V, size_t H, size_t cap) SCFM_WUR;
/* Takes the baseline: h[len * H] token states of ids[len]; ids where special[id] is set get
 * no position. Clears the previous baseline first. SCFM_OK, SCFM_EINVAL (len > cap or an id
 * >= V). */
int scfm_shift_base_set(scfm_shift_base *b, const float *h, const int32_t *ids, size_t len,
                        const uint8_t *special) SCFM_WUR;
/* The baseline state of gene t, or NULL when the baseline does not hold it (t < V). */
static inline const float *scfm_shift_base_state(const scfm_shift_base *b, int32_t t) {
    int32_t q = b->pos[t];
    return q < 0 ? NULL : b->h + (size_t)q * b->H;
}
/* Forgets the baseline (positions back to -1). */
void scfm_shift_base_clear(scfm_shift_base *b);
void scfm_shift_base_free(scfm_shift_base *b);

/* Classification metrics over n samples with labels in [0, C) (sklearn conventions).
 * confusion [C*C] row = true class, column = predicted (may be NULL); precision / recall /
 * f1 / support [C] (may be NULL; 0 where undefined, sklearn's zero_division=0);
 * accuracy and macro_f1: mean of F1 over classes that occur in truth or prediction
 * (sklearn's f1_score(average='macro') on the labels present). Returns SCFM_OK or
 * SCFM_EINVAL (a label outside [0, C), n == 0, C == 0). */
typedef struct {
    double accuracy, macro_f1;
    size_t n, n_classes, n_present;
} scfm_cls_metrics;
int scfm_cls_metrics_compute(const int32_t *truth, const int32_t *pred, size_t n, size_t C,
                             scfm_cls_metrics *out, size_t *confusion, double *precision,
                             double *recall, double *f1, size_t *support) SCFM_WUR;

/* Stratified split into train (0) / validation (1) / test (2): within each class the
 * indices are shuffled with a seeded scfm_rng (xoshiro; seed -> same split on every
 * machine), then n_val = round(n_c * val_frac), n_test = round(n_c * test_frac) (rounded
 * half up), the rest train; a class keeps at least one training cell when it has any
 * (val/test shrink first). labels[n] in [0, C) or -1 (unlabelled: assigned -1).
 * split[n] receives 0/1/2/-1. Returns SCFM_OK, SCFM_EINVAL (fractions negative or
 * summing above 1, label out of range), SCFM_ENOMEM. */
int scfm_stratified_split(const int32_t *labels, size_t n, size_t C, double val_frac, double test_frac,
                          uint64_t seed, int8_t *split) SCFM_WUR;

/* ======================================================================================
 * Embeddings (src/analysis/embed.c)
 * ====================================================================================== */
typedef enum { SCFM_POOL_MEAN = 0, SCFM_POOL_CLS = 1 } scfm_pool;

typedef struct {
    long layer;            /* hidden-state index: 0 = embeddings output, 1..L = encoder
                              layers; negative counts from the end (-1 = L, -2 = L-1).
                              Default -2: the second-to-last layer (Geneformer). */
    scfm_pool pool;        /* MEAN over non-special, non-pad tokens (default) or the <cls> state */
    size_t batch_tokens;   /* tokens per forward batch (0 = 16384; a longer cell runs alone) */
    size_t batch_cells;    /* cells per forward batch (0 = 64) */
    int truncate;          /* cells longer than the model's positions are cut (else SCFM_EINVAL) */
    int genes;             /* also accumulate per-gene mean contextual embeddings */
} scfm_embed_opts;
void scfm_embed_opts_init(scfm_embed_opts *o);

/* Per-gene embeddings: sum[V*H] (double) and count[V] of token states per vocabulary id,
 * accumulated over the embedded cells at the same layer as the cell embedding. */
typedef struct {
    size_t V, H;
    double *sum;
    uint64_t *count;
} scfm_gene_embed;
void scfm_gene_embed_free(scfm_gene_embed *g);
/* Mean of token id t into out[H] (zeros when count is 0). */
void scfm_gene_embed_mean(const scfm_gene_embed *g, size_t t, float *out);

/* Special-token mask for a vocabulary of V ids: 1 for "<...>" tokens (pad, mask, cls, eos)
 * from the corpus's vocab.tsv; when that cannot be read, ids < 2 (v1) or < 4 (v2).
 * *mask is malloc'ed [V]. Returns SCFM_OK or SCFM_ENOMEM. */
int scfm_embed_special_mask(const scfm_corpus *c, size_t V, uint8_t **mask) SCFM_WUR;

/* Checks that a model and a corpus share their vocabulary: the model's config
 * "scfm_vocab_hash" (when present) must equal the corpus's vocab hash; otherwise
 * model_dir/vocab.tsv (when present) must hash to it; in any case every token id must fit
 * the model (corpus vocab_size <= model vocab_size; equal when nothing else is known).
 * model_dir may be NULL. Returns SCFM_OK or SCFM_EMISMATCH naming both. */
int scfm_embed_check_vocab(const scfm_model *m, const char *model_dir, const scfm_corpus *c) SCFM_WUR;

/* Embeds cells[n] (corpus indices; NULL = 0..n-1) into out[n * H] (row i for cells[i]),
 * batching cells of similar length (packed, no padding). When o->genes, *genes (must be
 * zeroed, or from a previous call with the same model) accumulates per-gene sums.
 * The model must be loaded with any head; only hidden states are used (eval mode).
 * Returns SCFM_OK, SCFM_EINVAL (layer out of range, a cell longer than the model's
 * positions without truncate, CLS pooling on cells that do not start with <cls>, a token
 * id >= vocab size, an empty cell for MEAN pooling gets zeros), SCFM_ENOMEM. */
int scfm_embed_cells(scfm_model *m, const scfm_corpus *c, const size_t *cells, size_t n,
                     const scfm_embed_opts *o, float *out, scfm_gene_embed *genes) SCFM_WUR;

/* Per-state summaries (src/analysis/embed_summary.c): for each state s in [0, S) the mean and
 * the exact median (numpy's: the mean of the two middle values for an even count) over the
 * cells i with state[i] == s, per dimension, into mean[S*H], median[S*H]; count[S] cells per
 * state; state[i] < 0 leaves cell i out; an empty state gets NaN. SCFM_OK, SCFM_EINVAL, SCFM_ENOMEM. */
int scfm_embed_state_summary(const float *emb, size_t n, size_t H, const int32_t *state, size_t S, double *mean,
                             double *median, size_t *count) SCFM_WUR;

/* Pools one sequence's hidden states h[len*H] into out[H] (used by embed and perturb):
 * MEAN over positions whose token is not special (mask[id] == 0), CLS = row 0. */
void scfm_embed_pool(const float *h, const int32_t *ids, size_t len, size_t H, scfm_pool pool,
                     const uint8_t *special, float *out);

/* ======================================================================================
 * Writers (src/analysis/npy.c)
 * ====================================================================================== */
/* NumPy .npy v1.0, little-endian float32 ("<f4") or float64 ("<f8"), C order, shape
 * (rows, cols) or (rows,) when cols == 0. Written atomically. SCFM_OK, SCFM_EIO, SCFM_ENOMEM. */
int scfm_npy_write_f32(const char *path, const float *data, size_t rows, size_t cols) SCFM_WUR;
int scfm_npy_write_f64(const char *path, const double *data, size_t rows, size_t cols) SCFM_WUR;

/* Embedding table as TSV: header "cell_id<TAB>obs names...<TAB>0<TAB>1..."; then one row per
 * cell (ids[i], obs[i*n_obs + k], values with %.9g). ids/obs may be NULL (column left out
 * for NULL ids: then the header has only the obs names and dims). Written atomically. */
int scfm_embed_write_tsv(const char *path, const float *emb, size_t n, size_t H,
                         const char *const *ids, const char *const *obs_names, size_t n_obs,
                         const char *const *obs) SCFM_WUR;

/* AnnData .h5ad with obs (index = cell ids, string columns obs_names), an empty var, no X
 * (anndata reads it as X = None) and obsm[key] = emb [n, H] float32; uns/scfm_command
 * records the command line when given. Atomic. Only with HDF5 (SCFM_HAVE_HDF5); otherwise
 * returns SCFM_EINVAL saying the build lacks HDF5. */
int scfm_h5ad_write_embedding(const char *path, const char *key, const float *emb, size_t n, size_t H,
                              const char *const *ids, const char *const *obs_names, size_t n_obs,
                              const char *const *obs, const char *command) SCFM_WUR;
/* 1 when the library was built with HDF5. */
int scfm_have_hdf5(void);

/* Per-cell results into AnnData (src/analysis/h5ad_out.c). scfm_h5ad_out_open starts
 * PATH.tmp.<pid>: a new file (obs index = ids[n], empty var, no X) or, with template_path,
 * a byte copy of the user's .h5ad whose obs index is matched to ids (every id must be in
 * it; its other cells get missing values: NaN, categorical code -1). Columns and keys that
 * exist are replaced. Values are given per id (v[i] for ids[i]):
 *   categorical: obs column, anndata categorical (sorted distinct values; NULL/"" missing);
 *   float: obs column float64; obsm: [n, cols] float32; uns_strings: a string array.
 * close(commit = 1) records uns/scfm_command (when given) and renames to PATH; commit = 0
 * (or any error) removes the temporary file. Without HDF5: SCFM_EINVAL naming the path. */
typedef struct scfm_h5ad_out scfm_h5ad_out;
int scfm_h5ad_out_open(scfm_h5ad_out **o, const char *path, const char *template_path, const char *const *ids,
                       size_t n) SCFM_WUR;
int scfm_h5ad_out_has_obs(const scfm_h5ad_out *o, const char *name);
int scfm_h5ad_out_categorical(scfm_h5ad_out *o, const char *name, const char *const *v) SCFM_WUR;
int scfm_h5ad_out_float(scfm_h5ad_out *o, const char *name, const double *v) SCFM_WUR;
int scfm_h5ad_out_obsm(scfm_h5ad_out *o, const char *key, const float *m, size_t cols) SCFM_WUR;
int scfm_h5ad_out_uns_strings(scfm_h5ad_out *o, const char *key, const char *const *v, size_t k) SCFM_WUR;
int scfm_h5ad_out_close(scfm_h5ad_out *o, int commit, const char *command);

/* Two-component Gaussian mixture over values x[n] (src/analysis/mixture.c): Geneformer's
 * mixture_model statistics (scikit-learn GaussianMixture(n_components=2)). Initialised from
 * the exact 1-D 2-means split (scikit-learn: k-means), then EM with variances + reg_covar
 * (scikit-learn's default 1e-6) until the mean log-likelihood changes by less than tol or
 * max_iter iterations. Component 0 holds the lower values at the start. resp[n] (may be
 * NULL) receives P(component 1 | x_i) under the final parameters; impact = the component
 * whose mean is further from 0. SCFM_EINVAL (n < 2, a value not finite), SCFM_ENOMEM. */
typedef struct {
    double weight[2], mean[2], var[2];
    double log_likelihood;  /* mean per value */
    size_t n_iter;
    int converged, impact;
} scfm_gmm2;
int scfm_gmm2_fit(const double *x, size_t n, double reg_covar, double tol, size_t max_iter, scfm_gmm2 *g,
                  double *resp) SCFM_WUR;

/* ======================================================================================
 * In-silico perturbation (src/analysis/perturb.c, docs/computation.md section 7)
 * ====================================================================================== */
typedef enum {
    SCFM_PERTURB_DELETE = 0,      /* remove the token */
    SCFM_PERTURB_OVEREXPRESS = 1, /* move it to the front (after <cls>), inserting it when absent */
    SCFM_PERTURB_INHIBIT = 2,     /* move it down (toward the end) by a fraction of the cell's genes */
    SCFM_PERTURB_ACTIVATE = 3     /* move it up (toward the front) by that fraction */
} scfm_perturb_mode;

/* One cell's tokens with one gene perturbed (DELETE / OVEREXPRESS only; kept for callers of
 * the first API). tok[len] is the cell; start = 1 when it begins with <cls> (V2: nothing
 * moves before it), else 0. out needs room for len + 1 tokens.
 *   DELETE: every occurrence of gene removed (*out_len = len - 1); SCFM_ENOTFOUND when absent.
 *   OVEREXPRESS: gene moved to position `start` (same length) or, when absent, inserted there
 *   (len + 1), and cut to max_len. *orig_len receives how many leading tokens of the
 *   original to compare with: len, or min(len, *out_len) after an insertion (docs/computation.md: both
 *   truncated to the same length). Returns SCFM_OK, SCFM_ENOTFOUND, SCFM_EINVAL. */
int scfm_perturb_tokens(const int32_t *tok, size_t len, int32_t gene, scfm_perturb_mode mode, size_t start,
                        size_t max_len, int32_t *out, size_t *out_len, size_t *orig_len) SCFM_WUR;

/* The general form: genes[n_genes] perturbed together in one cell. The cell is
 * tok[0..head) (fixed leading specials: 1 for V2's <cls>), the gene region tok[head..len-tail)
 * and tok[len-tail..len) (fixed trailing specials: 1 for V2's <eos>). out needs room for
 * len + n_genes tokens. Genes are applied in the order given (a gene listed twice counts once):
 *   DELETE: every occurrence removed from the gene region.
 *   OVEREXPRESS: the genes (present or not) are removed from the region and placed at its
 *     front in the order given; the result is cut to max_len tokens (a plain cut, as
 *     scfm_perturb_tokens: the trailing special goes first).
 *   INHIBIT / ACTIVATE: with n = the number of tokens in the gene region and
 *     k = max(1, floor(shift_fraction * n + 0.5)), each gene in turn is taken out of its
 *     region index i and put back at index min(i + k, n - 1) (INHIBIT) or max(i - k, 0)
 *     (ACTIVATE), i.e. Python's l.insert(j, l.pop(i)) on the region list.
 * DELETE / INHIBIT / ACTIVATE need every listed gene in the region: SCFM_ENOTFOUND (no
 * message) when one is missing. SCFM_EINVAL: head + tail > len, shift_fraction outside
 * (0, 1], max_len 0 for OVEREXPRESS, an unknown mode. */
int scfm_perturb_apply(const int32_t *tok, size_t len, size_t head, size_t tail, const int32_t *genes,
                       size_t n_genes, scfm_perturb_mode mode, double shift_fraction, size_t max_len,
                       int32_t *out, size_t *out_len) SCFM_WUR;

#define SCFM_PERTURB_MAX_ALT 16

typedef struct {
    scfm_perturb_mode mode;
    const int32_t *genes;   /* token ids to perturb; NULL = every gene token of each cell (not
                               for OVEREXPRESS) */
    size_t n_genes;
    int together;           /* 1: all genes perturbed at once in each copy, one result (slot V) */
    int32_t anchor;         /* >= 0: perturbed in every copy (with each gene / the set); shifts
                               are measured against the anchor-only perturbed cell; cells
                               without it (DELETE/INHIBIT/ACTIVATE) are skipped. -1: none */
    double shift_fraction;  /* INHIBIT / ACTIVATE: fraction of the cell's genes (default 0.25) */
    const float *goal;      /* optional [H] goal-state embedding: shift = cos(p, goal) - cos(b, goal)
                               (b = the baseline: the original cell, or anchor-perturbed);
                               NULL: shift = cos(p, b) (1 = no change) */
    const float *alt;       /* optional [n_alt * H] alternative states: extra shifts
                               cos(p, alt_k) - cos(b, alt_k) */
    size_t n_alt;           /* <= SCFM_PERTURB_MAX_ALT */
    /* null run: per cell, null_per_cell random units of the cell's own expressed genes (not
     * listed, not the anchor, not special), each unit as many genes as one tested unit (1,
     * or n_genes with together), drawn with an scfm_rng seeded by scfm_hash3(seed, 0, cell);
     * or, when null_genes is given, those fixed genes in consecutive units of that size.
     * Null shifts go to slot V + 1 and become the reference of scfm_perturb_stats. */
    size_t null_per_cell;
    const int32_t *null_genes;
    size_t n_null_genes;
    uint64_t seed;
    int gene_shifts;        /* accumulate per (unit, affected gene) cosines of contextual
                               token states, before vs after (not for null units) */
    scfm_embed_opts embed;  /* layer, pooling, batch sizes, truncate (genes ignored) */
    size_t workers;         /* forwards at once, each on one thread with its own activations
                               (the batches of a cell's copies shared among them); 0 = one per
                               OpenMP thread; 1 = one forward at a time, every thread inside it.
                               Gene shifts use 1. Memory: one activation arena per worker */
    /* optional: called with every sequence embedded (a debugging aid): the baseline with
     * slot = SIZE_MAX, then each perturbed copy with its slot and the unit's genes */
    void (*on_seq)(void *ud, size_t cell, size_t slot, const int32_t *unit_genes, size_t n_unit_genes,
                   const int32_t *ids, size_t len);
    void *on_seq_ud;
} scfm_perturb_opts;
void scfm_perturb_opts_init(scfm_perturb_opts *o);

/* Shifts gathered over cells, per slot: slot t < V = the gene with token id t (anchor
 * runs: anchor + t), slot V = the gene set (together), slot V + 1 = the null run.
 * For slot s: shifts[s][0..n[s]) the primary shift, cell[s][i] the corpus index of the cell,
 * extra[s][i * n_extra + 0] = cos(perturbed, baseline), [.. + 1 + k] = shift toward alt k.
 * Gene shifts (opts.gene_shifts): an open-addressing table of gs_cap entries, gs_key =
 * (slot << 32 | affected token) + 1 (0 = empty), gs_sum = sum of cosines, gs_cnt = cells,
 * gs_m2 = sum of squared deviations from their mean (Welford; sd = sqrt(gs_m2 / (cnt - 1))). */
typedef struct {
    size_t V, n_extra;
    double **shifts, **extra;
    size_t **cell;
    size_t *n, *cap;
    size_t n_cells, n_perturbations, n_null;
    uint64_t *gs_key, *gs_cnt;
    double *gs_sum, *gs_m2;
    size_t gs_cap, gs_n;
} scfm_perturb_result;
void scfm_perturb_result_free(scfm_perturb_result *r);
/* An empty result for vocabulary size V and n_extra values per shift (1 + alternative
 * states), and one shift appended to slot `slot` (< V + 2): how a merged result is rebuilt
 * from the raw shift tables of several runs (scfm perturb aggregate). SCFM_EINVAL, SCFM_ENOMEM. */
int scfm_perturb_result_init(scfm_perturb_result *r, size_t V, size_t n_extra) SCFM_WUR;
int scfm_perturb_result_add(scfm_perturb_result *r, size_t slot, double shift, const double *extra,
                            size_t cell) SCFM_WUR;
#define SCFM_PERTURB_SLOT_SET(V) (V)
#define SCFM_PERTURB_SLOT_NULL(V) ((V) + 1)

/* Perturbs cells[n] (NULL = 0..n-1) of the corpus, all copies of one cell in shared
 * batches, and appends each (unit, cell) shift to *r (zero it before the first call; later
 * calls must use the same options). Returns SCFM_OK, SCFM_EINVAL (options, cells too long
 * without truncate, CLS pooling on a corpus without <cls>), SCFM_ENOMEM. */
int scfm_perturb_cells(scfm_model *m, const scfm_corpus *c, const size_t *cells, size_t n,
                       const scfm_perturb_opts *o, scfm_perturb_result *r) SCFM_WUR;

/* Statistics per perturbed unit (genes and the set; not the null slot): mean shift, the
 * Mann-Whitney test (asymptotic, tie-corrected, no continuity, two-sided) of its shifts
 * against the null run's shifts when r holds any, else against all units' shifts pooled
 * (the unit's own included), and Benjamini-Hochberg FDR over the units tested. */
typedef struct {
    int32_t token;          /* token id; -1 for the gene set */
    size_t slot, n;
    double mean_shift, z, p, fdr;
    double mean_cos;        /* mean cos(perturbed, baseline) */
    double mean_alt[SCFM_PERTURB_MAX_ALT];
    double sd_shift;        /* sample standard deviations (n - 1; NaN for one shift) */
    double sd_alt[SCFM_PERTURB_MAX_ALT];
} scfm_perturb_stat;
/* *out (malloc'ed, *n_out rows) sorted by p, then slot. Returns SCFM_OK, SCFM_ENOMEM,
 * SCFM_EINVAL (no shifts). */
int scfm_perturb_stats(const scfm_perturb_result *r, scfm_perturb_stat **out, size_t *n_out) SCFM_WUR;

#endif
