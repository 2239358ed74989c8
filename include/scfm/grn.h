/* Gene regulatory networks from a model by in-silico deletion (GeneCompass, docs/computation.md section 7),
 * and their scoring against a reference network (src/analysis/grn.c).
 *
 * For a transcription factor TF, in each selected cell that expresses it: the cell, the cell
 * with TF deleted, and the cell with each of `null_per_cell` random other expressed genes
 * deleted (the null) are embedded together in one batch; for every other gene g of the cell,
 * cos(g's token state after, g's token state in the unperturbed cell) at the chosen layer.
 * Per gene: the mean over cells of the TF-deletion cosine, the number of cells, and a
 * Mann-Whitney test (asymptotic, tie-corrected, no continuity) of its TF-deletion cosines
 * against its null cosines, one-sided (TF deletion moves it more: lower cosines),
 * p = Phi(z); Benjamini-Hochberg over the TF's genes. Genes rank by ascending mean cosine.
 * Returns SCFM_OK or a negative scfm_status (message in scfm_last_error()). */
#ifndef SCFM_GRN_H
#define SCFM_GRN_H
#include <stddef.h>
#include <stdint.h>
#include "scfm/analysis.h"

typedef struct {
    scfm_embed_opts embed;  /* layer (default -1: the last), batch sizes, truncate; pool/genes unused */
    size_t max_cells;       /* cells per TF (default 200; a seeded sample when more express it) */
    size_t null_per_cell;   /* random expressed genes deleted per cell for the null (default 4) */
    uint64_t seed;          /* cell sample and null genes (default 0) */
    int use_values;         /* pass the corpus's values with the tokens (GeneCompass models: the
                               (token, value) pair is deleted together); default 0 */
} scfm_grn_opts;
void scfm_grn_opts_init(scfm_grn_opts *o);

typedef struct {
    int32_t tf;
    size_t n_cells;     /* cells in which the TF was deleted */
    size_t n_genes;     /* genes scored, sorted by ascending mean cosine (ties: token id) */
    int32_t *gene;
    double *mean_cos, *z, *p, *fdr; /* z = NaN, p = fdr = 1 for a gene without null values */
    uint32_t *n;        /* cells per gene */
} scfm_grn_tf;
void scfm_grn_tf_free(scfm_grn_tf *t);

/* Runs TF over the cells of cells[n] (corpus indices; NULL = all) that express it. A TF that
 * no selected cell expresses gives n_cells = 0 and no genes (SCFM_OK). */
int scfm_grn_tf_run(scfm_model *m, const scfm_corpus *c, int32_t tf, const size_t *cells, size_t n,
                    const scfm_grn_opts *o, scfm_grn_tf *out) SCFM_WUR;

/* sklearn.metrics.average_precision_score(label, score): sum over distinct score thresholds
 * (descending) of (R_i - R_{i-1}) P_i. NaN when no label is positive. */
double scfm_average_precision(const double *score, const uint8_t *label, size_t n);
/* Positives among the k highest scores (ties: lower index first) / k; NaN when k is 0. */
double scfm_precision_at_k(const double *score, const uint8_t *label, size_t n, size_t k);

/* Looks for a GRN prior built from the file whose content hash (scfm_file_content_hash) is
 * `hash`: in the reports (JSON of `scfm priors build`) reports[n_reports], in
 * model_dir/prior_NAME.json and model_dir/priors/NAME.json, and in model_dir/config.json under
 * "scfm_grn_prior_hashes" (an array of hash strings). Returns 1 and the file naming it in
 * where[where_size] when found, 0 when not, a negative status on an unreadable report. */
int scfm_grn_prior_uses(const char *model_dir, const char *const *reports, size_t n_reports, const char *hash,
                        char *where, size_t where_size);
#endif
