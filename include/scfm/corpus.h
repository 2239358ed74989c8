/* Corpus: the rank-value tokenizer (docs/computation.md sections 1-3) and the on-disk token store.
 *
 * A corpus is a directory:
 *   corpus.json      metadata (format "scfm-corpus", version 1, vocabulary hash and size,
 *                    mode, max_len, has_values, species, tokenizer settings, obs columns,
 *                    sources, cell/token totals, shard list with CRC-32s)
 *   vocab.tsv        the vocabulary used (token<TAB>id, id order)
 *   obs.tsv          header "cell_id<TAB>col..."; one row per cell in corpus order
 *                    (tabs/newlines/CR inside values replaced by spaces)
 *   shard-NNNNN.bin  cells [first, first+n_cells) of the corpus, little-endian:
 *       0   char[8]  magic "SCFMCRP1"
 *       8   u32      version = 1
 *       12  u32      flags (bit0: values present)
 *       16  u64      n_cells
 *       24  u64      n_tokens
 *       32  zero padding to 64
 *       64  u64      offsets[n_cells+1]   (offsets[0] = 0, non-decreasing, last = n_tokens)
 *           zero padding to a multiple of 64
 *           i32      tokens[n_tokens]     (cell i = tokens[offsets[i] .. offsets[i+1]))
 *           zero padding to a multiple of 64 (only when values follow)
 *           f32      values[n_tokens]     (only if flags bit0)
 *       CRC-32 (zlib) of bytes [64, end of file) is stored in corpus.json per shard.
 *   species.u8       one byte per cell in corpus order: 0 human, 1 mouse, 255 unknown; listed in
 *                    corpus.json as "cell_species": {"file": "species.u8", "crc32": N, "human": n0,
 *                    "mouse": n1, "unknown": n2} (corpora without it, from older scfm versions: every
 *                    cell has the corpus's "species")
 *   homologs.tsv     joint (GeneCompass) corpora only: a copy of the joint vocabulary's homolog map,
 *                    recorded as "joint": true, "homologs": {"file": "homologs.tsv", "fnv1a64":
 *                    "<16 hex>", "n_pairs": K}; a joint corpus without it does not open
 *   The writer builds everything in "DIR.tmp.<pid>" and renames it to DIR at the end.
 *
 * Token ids are vocabulary ids (0 = <pad>, 1 = <mask>, V2: 2 = <cls>, 3 = <eos>). V1 cells
 * hold at most max_len gene tokens; V2 cells are <cls> genes... <eos> with at most max_len
 * tokens in all. Values (GeneCompass) are per token, 0.0 at <cls>/<eos>.
 *
 * Return codes: functions returning int give SCFM_OK or a negative scfm_status with a
 * message (naming the file and the problem) in scfm_last_error(); constructors return NULL
 * likewise. Getters on an open corpus cannot fail (indices out of range return NULL / 0). */
#ifndef SCFM_CORPUS_H
#define SCFM_CORPUS_H
#include <stddef.h>
#include <stdint.h>
#include "scfm/core.h"
#include "scfm/genes.h"
#include "scfm/json.h"

#define SCFM_CORPUS_FORMAT "scfm-corpus"
#define SCFM_CORPUS_VERSION 1
#define SCFM_SHARD_MAGIC "SCFMCRP1"
#define SCFM_SHARD_HEADER 64

/* ======================================================================================
 * Reading a corpus (read-only, shards mmap'ed; safe to share between threads)
 * ====================================================================================== */
typedef struct scfm_corpus scfm_corpus;

/* Opens DIR: parses and validates corpus.json (format, version, required keys, shard list),
 * maps every shard, checks its header, sizes, offsets and CRC-32 against corpus.json, and
 * loads obs.tsv. Returns NULL on error: SCFM_EIO (missing/unreadable file), SCFM_EFORMAT
 * (corrupt or truncated file, CRC mismatch, counts disagreeing with corpus.json),
 * SCFM_ENOMEM; the message names the offending file. */
scfm_corpus *scfm_corpus_open(const char *dir);
void scfm_corpus_close(scfm_corpus *c);

size_t scfm_corpus_n_cells(const scfm_corpus *c);
uint64_t scfm_corpus_n_tokens(const scfm_corpus *c);
const char *scfm_corpus_dir(const scfm_corpus *c);
/* "v1" or "v2". */
const char *scfm_corpus_mode(const scfm_corpus *c);
/* Longest allowed cell in tokens, specials included (V1 default 2048, V2 default 4096). */
size_t scfm_corpus_max_len(const scfm_corpus *c);
/* Longest cell actually present. */
size_t scfm_corpus_longest(const scfm_corpus *c);
int scfm_corpus_has_values(const scfm_corpus *c);
/* "human", "mouse", "mixed" (cells of both, e.g. merged corpora) or "" when not recorded. */
const char *scfm_corpus_species(const scfm_corpus *c);
/* Species of cell i: 0 human, 1 mouse, -1 unknown (or i out of range). */
int scfm_corpus_cell_species(const scfm_corpus *c, size_t i);
/* SCFM_OK when each of cells[n] (NULL: cells 0..n-1) has a known species, else SCFM_EINVAL
 * naming the corpus and the first such cell (for models that read the species). */
int scfm_corpus_require_species(const scfm_corpus *c, const size_t *cells, size_t n) SCFM_WUR;
/* Cells of species s (0 human, 1 mouse, -1 unknown). */
size_t scfm_corpus_n_species_cells(const scfm_corpus *c, int s);
/* 1 if the corpus was tokenized against a joint (GeneCompass) vocabulary: homologous mouse genes
 * carry the human token id and the corpus holds the homolog map (checked on open). */
int scfm_corpus_is_joint(const scfm_corpus *c);
/* DIR/homologs.tsv of a joint corpus (for scfm_homologs_load), NULL otherwise. */
const char *scfm_corpus_homologs_path(const scfm_corpus *c);
/* FNV-1a 64 of the homolog map recorded in corpus.json (0 when not joint). */
uint64_t scfm_corpus_homologs_hash(const scfm_corpus *c);
/* Loads the corpus's homolog map against v as GeneCompass's homologous_index [V] (see
 * scfm_homologs_load). SCFM_EINVAL naming the corpus when it is not joint (a corpus tokenized
 * without a joint vocabulary has no homolog map). */
int scfm_corpus_load_homologs(const scfm_corpus *c, const scfm_vocab *v, int64_t **index_out) SCFM_WUR;
/* For a model that reads each cell's species (GeneCompass): SCFM_OK when every species with
 * cells in the corpus has genes in v (scfm_vocab_species_mask) and, when the corpus has mouse
 * cells and v holds both species, the corpus is joint. SCFM_EMISMATCH naming the corpus
 * otherwise (e.g. mouse cells for a human-only vocabulary). */
int scfm_corpus_check_species(const scfm_corpus *c, const scfm_vocab *v) SCFM_WUR;
uint64_t scfm_corpus_vocab_hash(const scfm_corpus *c);
size_t scfm_corpus_vocab_size(const scfm_corpus *c);
/* The whole parsed corpus.json (settings, sources, ...); owned by the corpus. */
const scfm_json *scfm_corpus_meta(const scfm_corpus *c);

/* Cell i (global index, shards concatenated in order). Sets *tokens (pointer into the
 * mapped shard), *len, and *values (NULL when the corpus has no values; values may be
 * NULL if not wanted). Returns SCFM_OK or SCFM_EINVAL when i >= n_cells. */
int scfm_corpus_cell(const scfm_corpus *c, size_t i, const int32_t **tokens, size_t *len,
                     const float **values);
/* Length of cell i in tokens (0 if i is out of range); cheap (for length-grouped batching). */
size_t scfm_corpus_len(const scfm_corpus *c, size_t i);

/* Shards, for readers that split work by shard (e.g. one MPI rank per shard). */
size_t scfm_corpus_n_shards(const scfm_corpus *c);
size_t scfm_corpus_shard_first_cell(const scfm_corpus *c, size_t shard);
size_t scfm_corpus_shard_n_cells(const scfm_corpus *c, size_t shard);

/* Obs columns (those given to the tokenizer with --obs), and per-cell values as text. */
size_t scfm_corpus_n_obs(const scfm_corpus *c);
const char *scfm_corpus_obs_name(const scfm_corpus *c, size_t col);   /* NULL if out of range */
/* Column index of `name`, or -1 if the corpus has no such column. */
long scfm_corpus_obs_index(const scfm_corpus *c, const char *name);
/* Value of column col for cell i ("" when missing; NULL if out of range). */
const char *scfm_corpus_obs(const scfm_corpus *c, size_t i, size_t col);
/* Cell identifier (barcode / obs index) of cell i (NULL if out of range). */
const char *scfm_corpus_cell_id(const scfm_corpus *c, size_t i);

/* SCFM_OK if `v` is the vocabulary the corpus was made with (same hash and size), else
 * SCFM_EMISMATCH with a message naming the corpus and both hashes and sizes. */
int scfm_corpus_check_vocab(const scfm_corpus *c, const scfm_vocab *v) SCFM_WUR;
/* Loads DIR/vocab.tsv (the corpus's own copy). NULL on error. */
scfm_vocab *scfm_corpus_load_vocab(const scfm_corpus *c);

/* ======================================================================================
 * Writing a corpus (used by the tokenizer; usable by anything that produces token lists)
 * ====================================================================================== */
typedef struct scfm_corpus_writer scfm_corpus_writer;

typedef struct {
    const char *dir;             /* output directory (must not exist unless force) */
    int force;                   /* replace an existing DIR (only after success) */
    const scfm_vocab *vocab;     /* copied to vocab.tsv; hash and size recorded */
    const char *mode;            /* "v1" | "v2" */
    size_t max_len;              /* recorded; cells longer than this are an SCFM_EINVAL error */
    int has_values;              /* 1: every cell comes with float values */
    const char *species;         /* "human" | "mouse" | NULL */
    const char *command;         /* command line, recorded (NULL: "") */
    const char *const *obs_names;/* [n_obs] obs columns carried per cell */
    size_t n_obs;
    size_t shard_cells;          /* cells per shard (0 = 65536) */
    const char *homologs_path;   /* joint vocabulary: its homolog map, copied into DIR (NULL: none) */
} scfm_corpus_writer_opts;

/* One input file's statistics, recorded in corpus.json "sources". */
typedef struct {
    const char *path, *format;
    size_t n_cells_in, n_cells_kept, genes_in, genes_in_vocab;
    double count_share_in_vocab;
} scfm_corpus_source;

/* Creates DIR.tmp.<pid>. NULL on error: SCFM_EIO (DIR exists without force, mkdir failed),
 * SCFM_EINVAL (bad options). */
scfm_corpus_writer *scfm_corpus_writer_open(const scfm_corpus_writer_opts *o);
/* Appends one cell: tokens[len] (1 <= len <= max_len), values[len] (required iff
 * has_values), cell_id, obs[n_obs] (NULL entries = ""). SCFM_EINVAL, SCFM_EIO, SCFM_ENOMEM. */
int scfm_corpus_writer_add(scfm_corpus_writer *w, const int32_t *tokens, const float *values,
                           size_t len, const char *cell_id, const char *const *obs) SCFM_WUR;
int scfm_corpus_writer_add_source(scfm_corpus_writer *w, const scfm_corpus_source *s) SCFM_WUR;
/* Species of the cells added from now on: 0 human, 1 mouse, -1 unknown (default: opts species). */
int scfm_corpus_writer_set_species(scfm_corpus_writer *w, int species) SCFM_WUR;
/* Adds a member to "settings" in corpus.json: `json` must be a complete JSON value (use
 * scfm_corpus_writer_setting_str for strings). SCFM_EINVAL if it does not parse. */
int scfm_corpus_writer_setting(scfm_corpus_writer *w, const char *key, const char *json) SCFM_WUR;
int scfm_corpus_writer_setting_str(scfm_corpus_writer *w, const char *key, const char *value) SCFM_WUR;
size_t scfm_corpus_writer_n_cells(const scfm_corpus_writer *w);
/* Flushes the last shard, writes corpus.json, renames DIR.tmp.<pid> to DIR (replacing DIR
 * when force) and frees w. On error the temporary directory is removed and w freed;
 * SCFM_EINVAL if no cell was written. */
int scfm_corpus_writer_finish(scfm_corpus_writer *w) SCFM_WUR;
/* Discards everything written (removes the temporary directory) and frees w. */
void scfm_corpus_writer_abort(scfm_corpus_writer *w);

/* Concatenates corpora into one at out_dir (`scfm corpus merge`): same vocabulary hash, mode and
 * has_values required (SCFM_EMISMATCH naming the corpora); max_len the largest; obs columns the
 * union in first-seen order ("" where a corpus lacks one); per-cell species kept; joint corpora
 * only with joint corpora of the same homolog map. Settings equal in every input are kept,
 * the inputs' own under "merged_from"; sources concatenated. */
int scfm_corpus_merge(const char *const *dirs, size_t n_dirs, const char *out_dir, int force,
                      const char *command) SCFM_WUR;

/* ======================================================================================
 * Tokenizer core: one cell, on arrays (no I/O). Thread-safe with one workspace per thread.
 * ====================================================================================== */
typedef enum { SCFM_NORM_N_COUNTS = 0, SCFM_NORM_VOCAB_SUM = 1 } scfm_norm_mode;
/* Values: NORMALIZED log2(1 + counts / n * 10000 / median) (the per-cell step on);
 * RAW_MEDIAN log2(1 + counts / median) (GeneCompass's released inputs; `scfm tokenize --values`). */
typedef enum { SCFM_VALUES_NONE = 0, SCFM_VALUES_NORMALIZED = 1, SCFM_VALUES_RAW_MEDIAN = 2 } scfm_values_mode;
/* Vocabulary genes without a median: AUTO = ONE when values are on (GeneCompass), else DROP
 * (Geneformer: never emitted); ONE: median 1. */
typedef enum { SCFM_MISSING_MEDIAN_AUTO = 0, SCFM_MISSING_MEDIAN_DROP = 1, SCFM_MISSING_MEDIAN_ONE = 2 } scfm_missing_median;

typedef struct {
    size_t vocab_size;
    const double *medians;     /* [vocab_size]; a token without a finite positive median is
                                  never emitted (specials, genes lacking a median) */
    size_t max_genes;          /* gene tokens kept (V1: 2048, V2: 4094) */
    int32_t cls_id, eos_id;    /* >= 0: wrap the genes in <cls> ... <eos> (V2); -1: none */
    scfm_norm_mode norm;
    scfm_values_mode values;
} scfm_tokenizer_params;

typedef struct scfm_tok_work scfm_tok_work;
scfm_tok_work *scfm_tok_work_new(size_t vocab_size);
void scfm_tok_work_free(scfm_tok_work *w);

/* Tokenizes one cell given as nnz (gene index, count) pairs of the input file and
 * gene_vocab[n_genes] (vocabulary id of each input gene, -1 = dropped; duplicates summed).
 * n_counts: the cell's total (used for SCFM_NORM_N_COUNTS; ignored for VOCAB_SUM).
 * Rank key x = count / n * 10000 / median (n = n_counts or the sum over vocabulary genes;
 * RAW_MEDIAN values: x = count / median, the same order without the per-cell rounding),
 * non-zero only, sorted by x descending, ties by ascending token id, truncated to
 * max_genes. Values: NORMALIZED log2(1 + x), RAW_MEDIAN log2(1 + count / median).
 * Writes *len tokens (<= max_genes + 2) to tokens and, when values are on, to values.
 * *vocab_sum receives the summed counts of genes reaching the vocabulary (may be NULL).
 * Returns SCFM_OK (a cell with no expressed vocabulary gene gives *len = 0), SCFM_EINVAL
 * (n_counts <= 0 or not finite while some gene is expressed, gene index out of range). */
int scfm_tokenize_cell(const scfm_tokenizer_params *p, const int32_t *gene_vocab, size_t n_genes,
                       const uint32_t *idx, const double *cnt, size_t nnz, double n_counts,
                       scfm_tok_work *w, int32_t *tokens, float *values, size_t *len,
                       double *vocab_sum) SCFM_WUR;

/* ======================================================================================
 * Tokenizing files into a corpus (what `scfm tokenize` runs)
 * ====================================================================================== */
typedef struct {
    const char *mode;                 /* "v1" (default) | "v2" */
    const char *vocab_path;           /* required */
    const char *medians_path;         /* required */
    const char *const *gene_name_paths; /* symbol -> ID tables (0..n) */
    size_t n_gene_name_paths;
    const char *gene_column;          /* reader option (NULL = format default) */
    const char *matrix;               /* reader option: h5ad layer / raw/X (NULL = X) */
    const char *format;               /* reader option (NULL = auto) */
    int genes_in_rows;                /* reader option: csv/tsv with one gene per row */
    const char *genome;               /* reader option: 10x h5 v2 genome group */
    const char *to_species;           /* NULL, "human", "mouse": convert IDs through orthologs */
    const char *from_species;         /* source species for orthologs (NULL = the other one) */
    const char *orthologs_path;       /* required with to_species */
    int ortholog_min_support;         /* HCOP support_n threshold (0 = none) */
    int all_orthologs;                /* keep one-to-many orthologs too (default one-to-one) */
    scfm_norm_mode norm;
    scfm_values_mode values;
    int ignore_file_n_counts;         /* compute n_counts even when the file has it */
    int allow_non_integer;            /* otherwise non-integer counts are SCFM_EDATA */
    const char *species;              /* species of the cells, recorded per cell; NULL = to_species or
                                         unset. Required with a joint vocabulary (vocab.json next to
                                         vocab_path): human genes take their token, mouse genes with a
                                         homolog the HUMAN token (normalized by the mouse gene's own
                                         median), other mouse genes their own token; genes of the other
                                         species are dropped. A one-species vocabulary must hold genes
                                         of `species` (or of to_species when converting). */
    const char *const *obs;           /* obs columns carried per cell */
    size_t n_obs;
    size_t max_len;                   /* 0 = mode default (2048 / 4096), specials included */
    int threads;                      /* 0 = OpenMP default */
    size_t chunk_cells;               /* cells per reader chunk (0 = 1024) */
    size_t read_memory_mib;           /* scfm_reader_opts.read_memory_mib (0 = default) */
    size_t shard_cells;               /* cells per shard (0 = 65536) */
    int force;                        /* overwrite an existing output directory */
    const char *command;              /* recorded command line */
    scfm_missing_median missing_median;
} scfm_tokenize_opts;

/* Totals of one run (filled also on failure as far as it got). */
typedef struct {
    size_t n_cells_in, n_cells_kept, n_filtered, n_empty;
    uint64_t n_tokens;
    double seconds;
    size_t n_inputs;   /* input files (a folder of .h5ad / .loom files counts its files) */
    size_t n_renamed;  /* cell IDs made unique (used by an earlier input) */
} scfm_tokenize_stats;

/* Tokenizes inputs[n_inputs] (files or 10x directories, any reader format) into the corpus
 * directory out_dir. A folder that is not a 10x folder (no matrix.mtx[.gz]) and holds .h5ad /
 * .loom files stands for those files in sorted order. With several input files, each cell's
 * file is recorded in the obs column "source" (after the o->obs columns; not when o->obs names
 * a column "source") and a cell ID an earlier input used gets the suffix -K (K = its input's
 * position, 0-based; -K-2, ... if that is taken), a warning giving how many. Reports per input (genes in file, genes reaching the vocabulary, share
 * of counts reaching it; a warning below 50%) and progress through scfm_log. Nothing is
 * left at out_dir on error. Returns SCFM_OK or the first error: SCFM_EIO, SCFM_EFORMAT,
 * SCFM_EDATA (NaN / negative / non-integer counts, named by file, cell and gene),
 * SCFM_ENOTFOUND (obs or gene column), SCFM_EINVAL (options, vocab without <cls>/<eos> in
 * V2), SCFM_ENOMEM. */
int scfm_tokenize_files(const char *const *inputs, size_t n_inputs, const scfm_tokenize_opts *o,
                        const char *out_dir, scfm_tokenize_stats *stats) SCFM_WUR;

#endif
