/* The HTML report (src/analysis/report.c, report_svg.c): one self-contained file (inline
 * SVG and CSS, no script, no network) showing what scfm's outputs hold.
 *
 * Parts it recognizes, by what a path holds:
 *   folder with corpus.json     corpus: cells, tokens, genes reaching the vocabulary per
 *                               source, cell-length histogram, tokenizer settings, command
 *   folder with pretrain.json   pretraining: loss and masked-gene accuracy curves (log.jsonl),
 *                               evaluations against the baseline, settings, command; the
 *                               corpora it lists are shown too when they exist
 *   folder with metrics.json    fine-tuning: accuracy, macro-F1, per-class precision / recall /
 *                               F1, confusion matrix (confusion.tsv), curves, settings, command
 *   .h5ad / .npy / .tsv file    cell embeddings (scfm embed): a 2-D map (PCA + t-SNE,
 *                               embedmap.h) coloured by each obs column
 *   .tsv with perturb columns   in-silico perturbation: ranking with shifts, z, FDR
 *   any other folder            searched one level deep for the above
 * A file F's command is read from F.cmd when present (outputs that do not record their own).
 * Every number shown as a figure sits in an element with a data-key attribute, so that a
 * test (or a script) can read the page back. */
#ifndef SCFM_REPORT_H
#define SCFM_REPORT_H
#include <stddef.h>
#include <stdint.h>
#include "scfm/core.h"
#include "scfm/embedmap.h"

typedef struct {
    size_t map_max_cells;      /* cells in each 2-D map (seeded subsample; default 3000) */
    uint64_t seed;             /* subsample seed (default 0) */
    scfm_map_opts map;         /* PCA / t-SNE settings */
    size_t max_groups;         /* colours per obs column before "other" (default 20) */
    size_t max_obs_values;     /* obs columns with more distinct values are not drawn (default 60) */
    size_t perturb_rows;       /* rows of a perturbation ranking shown (default 30) */
} scfm_report_opts;
void scfm_report_opts_init(scfm_report_opts *o);

typedef struct scfm_report scfm_report;
scfm_report *scfm_report_new(const scfm_report_opts *o, const char *title, const char *command);
void scfm_report_free(scfm_report *r);
/* Adds what path holds (see above). Errors: a path that does not exist, a folder holding no
 * scfm output, an unreadable or malformed file (named in the message). */
int scfm_report_add(scfm_report *r, const char *path) SCFM_WUR;
/* Parts added so far. */
size_t scfm_report_n_parts(const scfm_report *r);
/* Writes the page atomically. */
int scfm_report_write(const scfm_report *r, const char *out) SCFM_WUR;
#endif
