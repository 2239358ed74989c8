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
/* scfm_vocab_load: a Geneformer token_dictionary pickle (detected by content) or a
 * token<TAB>id text file, gzipped or plain (scfm's vocab.tsv, Geneformer's TSV dumps; "\r\n"
 * line ends, blank lines and '#' comment lines are accepted). Ids must be integers, unique
 * and dense (0..n-1); tokens unique, without tabs or line breaks. NULL on failure with an
 * error naming the file: SCFM_EIO (cannot open/read), SCFM_EFORMAT (corrupt gzip, rejected
 * pickle, bad line, duplicate or non-dense ids). Lookup is a hash table, exact match. */
typedef struct scfm_vocab scfm_vocab;
scfm_vocab *scfm_vocab_load(const char *path);           /* .pkl, .tsv, .tsv.gz */
void scfm_vocab_free(scfm_vocab *v);
size_t scfm_vocab_size(const scfm_vocab *v);
const char *scfm_vocab_token(const scfm_vocab *v, size_t id);   /* NULL if out of range */
int64_t scfm_vocab_lookup(const scfm_vocab *v, const char *token); /* -1 if absent; exact match */
/* Special ids or -1: "<pad>", "<mask>", "<cls>", "<eos>". */
int64_t scfm_vocab_special(const scfm_vocab *v, const char *name);
/* Stable 64-bit hash of the (id, token) list, printed as 16 hex digits; recorded in corpora
 * and checkpoints so mismatches are detected. Definition: FNV-1a 64-bit (offset basis
 * 0xcbf29ce484222325, prime 0x100000001b3) over the bytes of the lines "<id>\t<token>\n"
 * for id = 0, 1, ..., size-1 (id in decimal). E.g. in Python:
 *   h = 0xcbf29ce484222325
 *   for b in "".join(f"{i}\t{t}\n" for i, t in enumerate(tokens)).encode():
 *       h = ((h ^ b) * 0x100000001b3) % 2**64 */
uint64_t scfm_vocab_hash(const scfm_vocab *v);
int scfm_vocab_write_tsv(const scfm_vocab *v, const char *path) SCFM_WUR; /* atomic */

/* ---- medians: per vocabulary id (NaN for specials / genes without a median) ---------- */
/* Loads a token->median dictionary (.pkl, or token<TAB>value .tsv[.gz]) and aligns it to `v`
 * (*medians_out: malloc'd array of scfm_vocab_size(v) doubles). Genes in v without a median:
 * NaN; dictionary genes outside v are ignored. SCFM_EFORMAT for a non-numeric value or a
 * repeated key, SCFM_EDATA for a negative one; errors name the file. */
int scfm_medians_load(const char *path, const scfm_vocab *v, double **medians_out) SCFM_WUR;

/* ---- gene-ID normalization and symbol mapping ---------------------------------------- */
/* Normalize an identifier in place: trim whitespace, upper-case, strip an Ensembl version
 * suffix ("ENSG00000141510.17" -> "ENSG00000141510"). */
void scfm_gene_normalize(char *id);
int scfm_is_ensembl_id(const char *id);  /* ENS[A-Z]*G digits, or ENS[A-Z]*GR digits (V1's old
                                            PAR-on-Y IDs such as ENSGR0000002586) */
typedef struct scfm_gene_map scfm_gene_map; /* symbol (normalized) -> Ensembl ID */
/* From gene_name_id_dict (.pkl/.tsv[.gz]) or an Ensembl gene table (csv/tsv[.gz] whose header
 * names gene_id and gene_name columns, optionally biotype or gene_biotype; CSV quotes are
 * honoured). Symbols and IDs are normalized; rows whose ID is not an Ensembl ID or whose
 * symbol is empty are skipped. When a symbol has several IDs (within a file or across the
 * files added) the first one added is kept and the symbol counted as ambiguous. Lookups
 * normalize their argument. add_file: SCFM_EIO / SCFM_EFORMAT naming the file; a file without
 * a single usable pair is an SCFM_EFORMAT error. */
scfm_gene_map *scfm_gene_map_new(void);
int scfm_gene_map_add_file(scfm_gene_map *m, const char *path) SCFM_WUR;
const char *scfm_gene_map_lookup(const scfm_gene_map *m, const char *symbol); /* NULL if absent */
/* The first symbol given for an Ensembl ID, as written (not upper-cased), else NULL. */
const char *scfm_gene_map_symbol(const scfm_gene_map *m, const char *ensembl_id);
/* Biotype of an Ensembl ID if the map was loaded from a gene table, else NULL. */
const char *scfm_gene_map_biotype(const scfm_gene_map *m, const char *ensembl_id);
size_t scfm_gene_map_size(const scfm_gene_map *m);        /* distinct symbols */
/* Symbols seen with more than one Ensembl ID (the first ID added is kept). */
size_t scfm_gene_map_n_ambiguous(const scfm_gene_map *m);
void scfm_gene_map_free(scfm_gene_map *m);

/* ---- orthologs ------------------------------------------------------------------------ */
/* Rows are filtered first (BioMart: homology type ortholog_one2one when one2one_only, else
 * any ortholog_*; confidence >= min_confidence when min_confidence > 0. HCOP: mouse rows
 * (taxon 10090) with support_n >= min_support). IDs are normalized; rows without Ensembl IDs
 * on both sides are skipped; duplicate pairs count once. Then:
 *  - one2one_only: a pair is kept when its source has no other target and its target no
 *    other source among the filtered pairs;
 *  - otherwise ("many2one"): a pair is kept when its source has exactly one target; several
 *    sources may share a target (callers sum their counts); sources with several targets
 *    are dropped.
 * scfm_orthologs_rule: "<biomart|hcop>:<from>-><to>:<one2one|many2one>:<conf|support>>=N",
 * e.g. "biomart:mouse->human:one2one:conf>=0". A BioMart export may be read in either
 * direction (the partner species comes from its "<Species> gene stable ID" column). A BioMart
 * export with gene-name columns instead of stable IDs ("Gene name", "<Species> gene name", or
 * R's spelling "gene.name", "human.gene.name", ...) gives symbol -> symbol pairs (normalized,
 * any non-empty name), the rule then starts "biomart-names:"; scfm_orthologs_by_symbol says so. */
typedef struct {
    int one2one_only;      /* default 1 (NULL opts = {1, 0, 0}) */
    int min_support;       /* HCOP: minimum support_n (databases agreeing), default 0 */
    int min_confidence;    /* BioMart: minimum "orthology confidence" (0 low, 1 high); 0 = any */
} scfm_ortholog_opts;
typedef struct scfm_orthologs scfm_orthologs; /* source-species ID -> target-species ID */
/* from/to: "human" or "mouse". Reads BioMart csv[.gz] (either direction) or HCOP tsv[.gz]. */
/* NULL on failure: SCFM_EINVAL (species), SCFM_EIO/SCFM_EFORMAT naming the file, SCFM_EDATA if
 * no pair passes the filters. */
scfm_orthologs *scfm_orthologs_load(const char *path, const char *from, const char *to,
                                    const scfm_ortholog_opts *o);
const char *scfm_orthologs_lookup(const scfm_orthologs *o, const char *id); /* NULL if none */
size_t scfm_orthologs_size(const scfm_orthologs *o);
int scfm_orthologs_by_symbol(const scfm_orthologs *o);   /* 1: keys and targets are gene symbols */
const char *scfm_orthologs_rule(const scfm_orthologs *o); /* text recorded in corpora */
/* Kept pair k (0..size-1, file order): returns the source ID and sets *target; NULL if out of range. */
const char *scfm_orthologs_pair(const scfm_orthologs *o, size_t k, const char **target);
/* What happened to the table's rows (for reports). Rows: lines with a partner ID (BioMart) or
 * mouse lines (HCOP). n_not_one2one: BioMart rows whose homology type is not ortholog_one2one
 * (one2one_only; else not ortholog_*); n_below_support: HCOP support_n below min_support or
 * BioMart confidence below min_confidence; n_not_id: rows without Ensembl IDs on both sides;
 * n_duplicate: repeated pairs; n_not_unique: distinct filtered pairs dropped by the uniqueness
 * rule (an ID with several partners); n_kept = scfm_orthologs_size. */
typedef struct {
    size_t n_rows, n_not_one2one, n_below_support, n_not_id, n_duplicate, n_not_unique, n_kept;
} scfm_ortholog_stats;
void scfm_orthologs_stats_get(const scfm_orthologs *o, scfm_ortholog_stats *out);
void scfm_orthologs_free(scfm_orthologs *o);

/* ---- species of gene IDs, joint (GeneCompass) vocabularies, homolog maps -------------- */
/* Species of a gene token: 0 human (Ensembl ENSG..., ENSGR..., or a species-qualified symbol
 * "human:SYMBOL"), 1 mouse (ENSMUSG..., or "mouse:SYMBOL"), -1 other (plain symbols included).
 * Qualified symbols are the tokens of joint vocabularies built from data without Ensembl IDs
 * (`scfm vocab build --human ... --mouse ... --symbols`), where human GCG and mouse Gcg would
 * otherwise be the same normalized string. */
#define SCFM_SYMBOL_PREFIX_HUMAN "human:"
#define SCFM_SYMBOL_PREFIX_MOUSE "mouse:"
int scfm_gene_species(const char *id);
/* Which species' genes a vocabulary holds: bit 0 human, bit 1 mouse (scfm_gene_species). */
unsigned scfm_vocab_species_mask(const scfm_vocab *v);

/* Homolog map file (DIR/homologs.tsv of a joint vocabulary, written by `scfm vocab build
 * --human ... --mouse ...`): header "human_token<TAB>mouse_token<TAB>human_id<TAB>mouse_id",
 * then one line per kept one-to-one pair, token ids of the joint vocabulary v. Checked: the
 * header, four fields per line, integer tokens inside v, each id naming its token in v (the
 * vocabulary's token at human_token is human_id, likewise mouse), human token of a human gene and
 * mouse token of a mouse gene, no token in two pairs. *index_out (malloc'd, [scfm_vocab_size(v)])
 * is GeneCompass's `homologous_index`: identity except index[human_token] = mouse_token for each
 * pair. Errors name the file and line: SCFM_EIO, SCFM_EFORMAT (bad header/line, duplicate pair),
 * SCFM_EMISMATCH (token outside v or naming another gene). */
int scfm_homologs_load(const char *path, const scfm_vocab *v, int64_t **index_out) SCFM_WUR;
/* FNV-1a 64 of a file's bytes (the homolog map's hash recorded in vocab.json and corpora). */
int scfm_file_fnv1a64(const char *path, uint64_t *out) SCFM_WUR;

/* A joint vocabulary: DIR/vocab.tsv next to DIR/vocab.json (format "scfm-vocab", "joint":
 * true, species ["human", "mouse"], token ranges, homolog count and file hash). */
typedef struct {
    int joint;                /* 0: no vocab.json next to the vocabulary (a one-species one) */
    size_t first[2], end[2];  /* token range [first, end) of human (0) and mouse (1) genes */
    size_t n_homologs;
    uint64_t homologs_hash;   /* FNV-1a 64 of homologs.tsv */
    char *homologs_path;      /* DIR/homologs.tsv (malloc'd) */
    int64_t *homologous_index;/* [vocab size], see scfm_homologs_load */
    int32_t *mouse_to_human;  /* [vocab size]: the human token of a mouse token with a homolog, else -1 */
    int symbols;              /* some genes are species-qualified symbols ("human:INS", "mouse:INS1") */
} scfm_joint_vocab;
/* Reads vocab.json in the directory of vocab_path when present (j->joint = 0 when absent),
 * checks it against v (vocabulary hash, ranges, layout <pad> <mask> human... mouse...) and loads
 * the homolog map, checking its hash. Errors name the file. */
int scfm_joint_vocab_load(const char *vocab_path, const scfm_vocab *v, scfm_joint_vocab *j) SCFM_WUR;
void scfm_joint_vocab_free(scfm_joint_vocab *j);

/* ---- resolving a file's gene column to vocabulary ids --------------------------------- */
typedef struct {
    const scfm_gene_map *names;     /* symbol -> ID (NULL: identifiers must already be IDs) */
    const scfm_orthologs *orthologs;/* applied after symbol mapping (NULL: none) */
    const char *symbol_prefix;      /* joint vocabularies keyed by symbols: a symbol that o->names does not
                                       map is looked up as prefix + symbol ("mouse:" + "INS1"); NULL: none */
} scfm_resolve_opts;
typedef struct {
    int32_t *vocab_id;        /* [n_genes]: vocabulary id per input gene, -1 if dropped;
                                 several input genes may share an id (their counts are summed) */
    size_t n_genes, n_mapped, n_unique_ids; /* input genes, genes reaching the vocab, distinct ids */
    size_t n_not_id, n_no_ortholog, n_not_in_vocab; /* why genes were dropped */
} scfm_gene_resolution;
/* Per input gene: normalize; if it is not an Ensembl ID, map it through o->names; a symbol
 * that o->names does not map (or with no names) is kept as it is when v holds it as a token
 * (a vocabulary keyed by symbols, `scfm vocab build --symbols`), else it is dropped
 * (n_not_id); then through o->orthologs if given (none: n_no_ortholog); then look the ID up
 * in v (absent: n_not_in_vocab). With orthologs keyed by symbol (scfm_orthologs_by_symbol)
 * the normalized identifier goes to them directly, without o->names. n_mapped + the three
 * drop counts = n_genes. out->vocab_id is malloc'd; free with scfm_gene_resolution_free. o
 * may be NULL. */
int scfm_genes_resolve(const char *const *genes, size_t n_genes, const scfm_vocab *v,
                       const scfm_resolve_opts *o, scfm_gene_resolution *out) SCFM_WUR;
void scfm_gene_resolution_free(scfm_gene_resolution *r);

/* ---- mergeable per-gene median digests (for `scfm vocab build`) ---------------------- */
/* Relative-error quantile sketch per gene (DDSketch-style log buckets, gamma = (1+a)/(1-a),
 * a = SCFM_DIGEST_REL_ERR; bucket k = ceil(log(v)/log(gamma)) holds (gamma^(k-1), gamma^k]
 * and is represented by 2 gamma^k/(gamma+1)). With n values, scfm_digests_median returns
 * the mean of the representatives of the order statistics of 0-based ranks floor((n-1)/2)
 * and ceil((n-1)/2): within relative error a of the exact median (numpy.median, the mean of
 * the two middle values). Digests of separate datasets merge exactly (bucket counts add).
 * scfm_digests_add: SCFM_EINVAL for a gene out of range, SCFM_EDATA unless 0 < value < inf.
 * scfm_digests_merge: SCFM_EMISMATCH if the gene counts differ.
 * File: see src/genes/digests.c (magic "SCFMDGST", version 1, FNV-1a-64 checksum), written
 * atomically. scfm_digests_load returns, in *gene_ids_out when not NULL, a NULL-terminated
 * array of malloc'd strings (free each, then the array); errors name the file. */
#define SCFM_DIGEST_REL_ERR 0.005
typedef struct scfm_digests scfm_digests;
scfm_digests *scfm_digests_new(size_t n_genes);
int scfm_digests_add(scfm_digests *d, size_t gene, double value) SCFM_WUR;  /* value > 0 */
int scfm_digests_merge(scfm_digests *into, const scfm_digests *from) SCFM_WUR;
double scfm_digests_median(const scfm_digests *d, size_t gene); /* NaN if no values */
uint64_t scfm_digests_count(const scfm_digests *d, size_t gene);
size_t scfm_digests_n_genes(const scfm_digests *d);
int scfm_digests_save(const scfm_digests *d, const char *const *gene_ids, const char *path) SCFM_WUR;
scfm_digests *scfm_digests_load(const char *path, char ***gene_ids_out);
void scfm_digests_free(scfm_digests *d);
#endif
