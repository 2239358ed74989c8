/* Genes: vocabularies (token dictionaries), gene medians, symbol -> Ensembl ID mapping,
 * orthologs, and mergeable per-gene median digests.
 *
 * Sources accepted everywhere a dictionary is read: Geneformer's original pickles (.pkl,
 * read by a restricted pickle reader, see pickle.h), their TSV dumps (key<TAB>value, .gz or
 * plain), and scfm's own vocab.tsv / medians.tsv. */
#ifndef SCFM_GENES_H
#define SCFM_GENES_H
#include <stddef.h>
#include <stdint.h>
#include "scfm/core.h"

/* ---- vocabulary: token string <-> id (0..size-1, dense) ---------------------------- */
typedef struct scfm_vocab scfm_vocab;
scfm_vocab *scfm_vocab_load(const char *path);           /* .pkl, .tsv, .tsv.gz */
void scfm_vocab_free(scfm_vocab *v);
size_t scfm_vocab_size(const scfm_vocab *v);
const char *scfm_vocab_token(const scfm_vocab *v, size_t id);   /* NULL if out of range */
int64_t scfm_vocab_lookup(const scfm_vocab *v, const char *token); /* -1 if absent; exact match */
/* Special ids or -1: "<pad>", "<mask>", "<cls>", "<eos>". */
int64_t scfm_vocab_special(const scfm_vocab *v, const char *name);
/* Stable 64-bit hash of the (id, token) list, printed as 16 hex digits; recorded in corpora
 * and checkpoints so mismatches are detected. */
uint64_t scfm_vocab_hash(const scfm_vocab *v);
int scfm_vocab_write_tsv(const scfm_vocab *v, const char *path) SCFM_WUR; /* atomic */

/* ---- medians: per vocabulary id (NaN for specials / genes without a median) ---------- */
/* Loads a token->median dictionary and aligns it to `v`. Genes in v without a median: NaN. */
int scfm_medians_load(const char *path, const scfm_vocab *v, double **medians_out) SCFM_WUR;

/* ---- gene-ID normalization and symbol mapping ---------------------------------------- */
/* Normalize an identifier in place: trim whitespace, upper-case, strip an Ensembl version
 * suffix ("ENSG00000141510.17" -> "ENSG00000141510"). */
void scfm_gene_normalize(char *id);
int scfm_is_ensembl_id(const char *id);  /* ENS[A-Z]*G digits */
typedef struct scfm_gene_map scfm_gene_map; /* symbol (normalized) -> Ensembl ID */
/* From gene_name_id_dict (.pkl/.tsv[.gz]) or an Ensembl gene table (csv[.gz] with gene_id,
 * gene_name[, biotype] columns). Several files can be added to one map. */
scfm_gene_map *scfm_gene_map_new(void);
int scfm_gene_map_add_file(scfm_gene_map *m, const char *path) SCFM_WUR;
const char *scfm_gene_map_lookup(const scfm_gene_map *m, const char *symbol); /* NULL if absent */
/* Biotype of an Ensembl ID if the map was loaded from a gene table, else NULL. */
const char *scfm_gene_map_biotype(const scfm_gene_map *m, const char *ensembl_id);
void scfm_gene_map_free(scfm_gene_map *m);

/* ---- orthologs ------------------------------------------------------------------------ */
typedef struct {
    int one2one_only;      /* default 1: keep only ortholog_one2one (BioMart) / pairs whose both
                              sides are unique after filtering (HCOP) */
    int min_support;       /* HCOP: minimum support_n (databases agreeing), default 0 */
    int min_confidence;    /* BioMart: require high-confidence flag (1) if set */
} scfm_ortholog_opts;
typedef struct scfm_orthologs scfm_orthologs; /* source-species ID -> target-species ID */
/* from/to: "human" or "mouse". Reads BioMart csv[.gz] (either direction) or HCOP tsv[.gz]. */
scfm_orthologs *scfm_orthologs_load(const char *path, const char *from, const char *to,
                                    const scfm_ortholog_opts *o);
const char *scfm_orthologs_lookup(const scfm_orthologs *o, const char *id); /* NULL if none */
size_t scfm_orthologs_size(const scfm_orthologs *o);
const char *scfm_orthologs_rule(const scfm_orthologs *o); /* text recorded in corpora */
void scfm_orthologs_free(scfm_orthologs *o);

/* ---- resolving a file's gene column to vocabulary ids --------------------------------- */
typedef struct {
    const scfm_gene_map *names;     /* symbol -> ID (NULL: identifiers must already be IDs) */
    const scfm_orthologs *orthologs;/* applied after symbol mapping (NULL: none) */
} scfm_resolve_opts;
typedef struct {
    int32_t *vocab_id;        /* [n_genes]: vocabulary id per input gene, -1 if dropped;
                                 several input genes may share an id (their counts are summed) */
    size_t n_genes, n_mapped, n_unique_ids; /* input genes, genes reaching the vocab, distinct ids */
    size_t n_not_id, n_no_ortholog, n_not_in_vocab; /* why genes were dropped */
} scfm_gene_resolution;
int scfm_genes_resolve(const char *const *genes, size_t n_genes, const scfm_vocab *v,
                       const scfm_resolve_opts *o, scfm_gene_resolution *out) SCFM_WUR;
void scfm_gene_resolution_free(scfm_gene_resolution *r);

/* ---- mergeable per-gene median digests (for `scfm vocab build`) ---------------------- */
/* Relative-error quantile sketch per gene (DDSketch-style log buckets): the reported median
 * is within SCFM_DIGEST_REL_ERR relative error of a value between the two middle order
 * statistics. Digests of separate datasets merge exactly (bucket counts add). */
#define SCFM_DIGEST_REL_ERR 0.005
typedef struct scfm_digests scfm_digests;
scfm_digests *scfm_digests_new(size_t n_genes);
int scfm_digests_add(scfm_digests *d, size_t gene, double value) SCFM_WUR;  /* value > 0 */
int scfm_digests_merge(scfm_digests *into, const scfm_digests *from) SCFM_WUR;
double scfm_digests_median(const scfm_digests *d, size_t gene); /* NaN if no values */
uint64_t scfm_digests_count(const scfm_digests *d, size_t gene);
int scfm_digests_save(const scfm_digests *d, const char *const *gene_ids, const char *path) SCFM_WUR;
scfm_digests *scfm_digests_load(const char *path, char ***gene_ids_out);
void scfm_digests_free(scfm_digests *d);
#endif
