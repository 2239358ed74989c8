/* Prior-knowledge gene tables (GeneCompass, docs/computation.md section 5): gene pairs from co-expression,
 * gene families and TF -> target networks, embedded by skip-gram with negative sampling
 * over the pair list ("gene2vec"), written as gene -> vector tables keyed by Ensembl ID.
 *
 * Return codes: SCFM_OK or a negative scfm_status with a message in scfm_last_error();
 * nothing here prints or exits. */
#ifndef SCFM_PRIORS_H
#define SCFM_PRIORS_H
#include <stddef.h>
#include <stdint.h>
#include "scfm/core.h"
#include "scfm/genes.h"

/* ---- gene pairs (src/priors/pairs.c) ------------------------------------------------- */
/* Genes are interned strings (normalized Ensembl IDs); pairs are unordered (a < b after
 * scfm_pairs_finish, which sorts them and drops duplicates and self-pairs). w holds the
 * Pearson r of co-expression pairs (0 for the other kinds). With directed set (before adding)
 * pairs keep their order (a = TF, b = target: reference networks). */
typedef struct {
    int directed;
    char **genes;
    size_t n_genes, cap_genes;
    uint32_t *a, *b;
    double *w;
    size_t n, cap;
    int64_t *slot; /* open-addressing hash of genes: index + 1, 0 = empty */
    size_t slot_cap;
} scfm_pairs;
void scfm_pairs_free(scfm_pairs *p);
/* Index of gene id (interned on first use), or -1 (SCFM_ENOMEM). */
long scfm_pairs_gene(scfm_pairs *p, const char *id);
/* Index of an already interned gene or -1. */
long scfm_pairs_find(const scfm_pairs *p, const char *id);
int scfm_pairs_add(scfm_pairs *p, uint32_t a, uint32_t b, double w) SCFM_WUR;
void scfm_pairs_finish(scfm_pairs *p);

/* Mapping of input gene names to Ensembl IDs shared by every source: normalize
 * (scfm_gene_normalize); a name that is not an Ensembl ID goes through `names` (NULL: it is
 * dropped); then through `orthologs` when given (e.g. human -> mouse for a mouse model). */
typedef struct {
    const scfm_gene_map *names;
    const scfm_orthologs *orthologs;
} scfm_prior_genes;
/* out[64]: the Ensembl ID of raw, or returns 0 when it has none. */
int scfm_prior_gene_id(const scfm_prior_genes *g, const char *raw, char *out, size_t out_size);

/* What a source contributed. */
typedef struct {
    size_t n_records;     /* rows read (table sources) or cells used (co-expression) */
    size_t n_unmapped;    /* gene names without an Ensembl ID (or without an ortholog) */
    size_t n_genes_input; /* distinct input genes (co-expression: genes passing min_cells) */
    size_t n_pairs;       /* pairs after this source */
    size_t n_skipped;     /* rows dropped by filters (confidence, group size) */
} scfm_prior_report;

/* ---- sources (src/priors/sources.c) -------------------------------------------------- */
/* Co-expression (GeneCompass): per input count file (any format scfm_reader_open reads) or
 * corpus tokenized with values (a directory holding corpus.json, scfm_priors_is_corpus), at
 * most max_cells cells (a seeded uniform sample without replacement when it has more); the
 * cells of all inputs are pooled. Count files: value per gene = log1p(1e4 * count / cell
 * total) (log1p = 1) or the raw count (log1p = 0); input genes mapping to the same Ensembl
 * ID are summed. Corpora: each token is a gene named by its vocabulary token as it is (an
 * Ensembl ID or a joint vocabulary's human:/mouse: symbol; through g->orthologs when given,
 * g->names unused), its value the corpus's (GeneCompass: log2(1 + counts / median); log1p
 * unused); a cell's genes are the ones it kept (its top max_len); the vocabulary is the first
 * of vocab_paths with the corpus's hash, else the corpus's recorded vocab_file (an error
 * otherwise, and for a corpus without values). Genes expressed (value > 0) in fewer than
 * min_cells cells are left out. For each pair of genes, Pearson r over the cells where both
 * are expressed; pairs with at least min_cells such cells and r >= threshold are added (w = r). */
typedef struct {
    size_t max_cells;   /* per input (default 3000) */
    double threshold;   /* default 0.8 */
    size_t min_cells;   /* default 30 */
    int log1p;          /* default 1 */
    uint64_t seed;      /* cell sample (default 0) */
    size_t block;       /* genes per block of the pair computation (0 = 256) */
    const char *const *vocab_paths; /* vocabularies that may name corpus inputs' tokens */
    size_t n_vocab_paths;
} scfm_coexp_opts;
/* 1 when path is a corpus directory (holds corpus.json). */
int scfm_priors_is_corpus(const char *path);
void scfm_coexp_opts_init(scfm_coexp_opts *o);
int scfm_priors_coexpression(const char *const *inputs, size_t n_inputs, const scfm_prior_genes *g,
                             const scfm_coexp_opts *o, scfm_pairs *out, scfm_prior_report *rep) SCFM_WUR;

/* A delimited table with a header (tab-separated, or comma-separated for .csv[.gz]; plain or
 * gzip). Columns are found by name, case-insensitively: the first of the comma-separated
 * candidates that the header has. */
typedef struct {
    const char *gene_cols;   /* family: default "Ensembl gene ID,ensembl_id,gene_id,Approved symbol,symbol,gene" */
    const char *group_cols;  /* family: default "Group ID,group_id,Group name,group,family" */
    size_t max_group;        /* family: groups with more genes are skipped (0 = no limit) */
    const char *tf_cols;     /* grn: default "tf,source,TF,regulator" */
    const char *target_cols; /* grn: default "target,Target,gene" */
    const char *conf_col;    /* grn: column holding a confidence level (default "confidence") */
    const char *conf_keep;   /* grn: comma-separated levels kept (e.g. "A,B,C"); NULL = all rows */
} scfm_table_opts;
void scfm_table_opts_init(scfm_table_opts *o);
/* Gene family: every pair of genes within a group (a gene may be in several groups). */
int scfm_priors_family(const char *path, const scfm_prior_genes *g, const scfm_table_opts *o, scfm_pairs *out,
                       scfm_prior_report *rep) SCFM_WUR;
/* Regulatory network: each TF -> target edge as a pair. */
int scfm_priors_grn(const char *path, const scfm_prior_genes *g, const scfm_table_opts *o, scfm_pairs *out,
                    scfm_prior_report *rep) SCFM_WUR;

/* Identity of a source file: FNV-1a 64 (as scfm_vocab_hash) over its bytes after gunzip,
 * as 16 hex digits into out[17]. Recorded in a prior's report ("sources") so that `scfm grn`
 * can refuse to score a model against the network its GRN prior was built from. */
int scfm_file_content_hash(const char *path, char out[17]) SCFM_WUR;

/* ---- gene2vec (src/priors/gene2vec.c) ------------------------------------------------ */
/* Skip-gram with negative sampling over the pairs, word2vec's update rule: each epoch visits
 * the pairs in a seeded random order, each pair in both directions (a predicts b, b predicts
 * a); per direction one positive and `negative` negatives drawn from the pair-occurrence
 * counts raised to 0.75 (a negative equal to the positive is skipped); learning rate decays
 * linearly from lr to lr * 1e-4 over all updates. Input vectors start uniform in
 * [-0.5/dim, 0.5/dim), output vectors at 0; the result is the input vectors. One thread:
 * the result depends only on the pairs, the options and the seed.
 * vec: [p->n_genes * dim] (caller's); loss: [epochs] mean loss per direction, or NULL.
 * SCFM_EINVAL: dim 0, epochs 0, no pairs, negative 0, lr <= 0. */
typedef struct {
    size_t dim;       /* default 768 (GeneCompass) */
    size_t epochs;    /* default 30 */
    size_t negative;  /* default 5 */
    double lr;        /* default 0.025 */
    uint64_t seed;    /* default 0 */
} scfm_gene2vec_opts;
void scfm_gene2vec_opts_init(scfm_gene2vec_opts *o);
int scfm_gene2vec_train(const scfm_pairs *p, const scfm_gene2vec_opts *o, float *vec, double *loss) SCFM_WUR;

/* Gene -> vector table as TSV: header "ensembl_id<TAB>0<TAB>1...", then one row per gene
 * (values %.9g). Written atomically. */
int scfm_prior_table_write(const char *path, const char *const *genes, size_t n, const float *vec,
                           size_t dim) SCFM_WUR;
/* Reads such a table (a header line is optional: a first line starting "ensembl_id<TAB>" or whose
 * second field is not a number is skipped). *genes (n strings) and *vec [n * dim] are malloc'ed. */
int scfm_prior_table_read(const char *path, char ***genes, size_t *n, float **vec, size_t *dim) SCFM_WUR;
#endif
