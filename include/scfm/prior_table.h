/* Prior-knowledge tables (GeneCompass, docs/computation.md section 5): a gene -> vector table from a user's
 * file, laid out as a [V, D] float32 matrix in a vocabulary's token order, as GeneCompass
 * stacks its promoter / co-expression / gene-family / GRN tables into its checkpoint's
 * `bert.embeddings.*_knowledge` buffers. User guide: docs/priors.md.
 *
 * Formats, chosen by the file name's ending (case-insensitive):
 *  - .tsv, .tsv.gz, .txt, .txt.gz: key<TAB>v1<TAB>...<TAB>vD per line; the first non-blank
 *    line is a header (skipped) when it starts with "gene" or '#'; later lines starting with
 *    '#' and blank lines are skipped; "\r\n" accepted.
 *  - .npy: a 2-D float32 or float64 array [n, D] (either byte order, C or Fortran order,
 *    format versions 1-3), keys in a sibling list "<name>.genes.tsv" or "<name>.genes.txt"
 *    (x.npy -> x.genes.tsv): one key per line (its first tab-separated field; '#' lines and a
 *    first line starting with "gene" when it is one line more than the array has rows are
 *    skipped).
 *  - .safetensors: exactly one 2-D floating tensor (F32, F64, F16, BF16) [n, D]; keys from
 *    the "genes" entry of __metadata__ (a JSON array of strings, as a string), else from a
 *    sibling list as for .npy.
 *  - .pkl, .pickle: a pickled dict key -> 1-D float32/float64 numpy array (GeneCompass's own
 *    prior files), read by the restricted reader of pickle.h (nothing is executed).
 *
 * Keys: the raw key is looked up in the vocabulary; then the key normalized with
 * scfm_gene_normalize (trimmed, upper-cased, Ensembl version stripped); then, when
 * o->names is given, the symbol's Ensembl ID. Keys reaching no vocabulary gene are counted
 * in unknown_keys and otherwise ignored. Two rows reaching the same vocabulary gene, or two
 * keys equal after normalization, are an error.
 *
 * Rows of the result:
 *  - specials (tokens written "<...>": <pad>, <mask>, <cls>, <eos>): zeros;
 *  - genes with a row in the file: that row (float64 rounded to float32);
 *  - genes the file lacks: a random N(0,1) vector, the rule being: D successive
 *    scfm_rng_normal draws from scfm_rng seeded with
 *    scfm_hash3(o->seed, FNV-1a-64(token bytes), 0x5052494f52) (FNV-1a-64: offset basis
 *    0xcbf29ce484222325, prime 0x100000001b3). A gene's vector thus depends only on the
 *    seed, its token and D: not on its position in the vocabulary or on the file's content.
 *
 * Errors (message names the file and the line, row or key): SCFM_EIO unreadable file;
 * SCFM_EFORMAT malformed content (bad number, ragged or zero width, unsupported dtype or
 * rank, key count differing from the row count, duplicate genes, non-finite value);
 * SCFM_EINVAL unknown file type, width differing from o->width, no key matching the
 * vocabulary, NULL arguments; SCFM_ENOMEM. */
#ifndef SCFM_PRIOR_TABLE_H
#define SCFM_PRIOR_TABLE_H
#include <stddef.h>
#include <stdint.h>
#include "scfm/core.h"
#include "scfm/genes.h"

typedef struct {
    size_t width;                 /* expected vector width D (0 = take it from the file) */
    uint64_t seed;                /* seeds the random vectors of genes the file lacks */
    const scfm_gene_map *names;   /* optional symbol -> Ensembl ID map for symbol-keyed files */
} scfm_prior_opts;

/* file_rows: rows in the file; matched: vocabulary genes given by the file; random_rows:
 * vocabulary genes the file lacks; special_rows: specials (matched + random_rows +
 * special_rows = V); unknown_keys: file rows reaching no vocabulary gene. */
typedef struct { size_t file_rows, matched, random_rows, special_rows, unknown_keys; } scfm_prior_report;

/* Loads the table at path into *out ([V, D] row-major, malloc'ed; free()), *width_out = D.
 * o may be NULL (width from the file, seed 0, no names); rep may be NULL. On error *out is
 * NULL. See above for the formats, rules and error codes. */
int scfm_prior_table_load(const char *path, const scfm_vocab *v, const scfm_prior_opts *o,
                          float **out, size_t *width_out, scfm_prior_report *rep) SCFM_WUR;

/* The random vector of the rule above for `token` (D floats into out). */
void scfm_prior_random_row(uint64_t seed, const char *token, float *out, size_t d);

#endif
