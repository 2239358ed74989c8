/* Private pieces of the pretraining loop (src/train/): the corpora view, evaluation,
 * and the run directory. Not part of the public API. */
#ifndef SCFM_TRAIN_PRETRAIN_INTERNAL_H
#define SCFM_TRAIN_PRETRAIN_INTERNAL_H
#include <stdio.h>

#include "scfm/corpus.h"
#include "scfm/train.h"

/* ---- corpora as one list of cells (pt_data.c) --------------------------------------- */
typedef struct {
    scfm_corpus **corp;
    size_t n_corp;
    size_t *first;          /* [n_corp+1] global index of each corpus's first cell */
    size_t n_cells;
    scfm_vocab *vocab;      /* corpus 0's vocabulary (all corpora share it) */
    uint64_t vocab_hash;
    uint8_t *special;       /* [vocab size] */
    int32_t mask_id;
    size_t max_len;         /* cells are cut to this length (model positions) */
} pt_data;

/* Opens the corpora and checks that they share one vocabulary (SCFM_EMISMATCH). */
int pt_data_open(pt_data *d, const char *const *dirs, size_t n);
void pt_data_close(pt_data *d);
/* Sets max_len from the model; SCFM_EINVAL if a cell is longer and !truncate. */
int pt_data_set_max_len(pt_data *d, size_t max_pos, int truncate);
/* Cell g (global): tokens, length (cut to max_len), values (NULL without). */
int pt_data_cell(const pt_data *d, size_t g, const int32_t **tok, size_t *len, const float **val);
size_t pt_data_len(const pt_data *d, size_t g);
/* Species of global cell g: 0 human, 1 mouse, -1 unknown (from its corpus). */
int32_t pt_data_species(const pt_data *d, size_t g);
/* GeneCompass inputs of a model: fills in's values / species / mlm_values from batch b. */
void pt_genecompass_input(const scfm_model *m, const scfm_mlm_batch *b, scfm_bert_input *in);
/* Train / validation split: fills *train and *val (malloc'ed global indices). */
int pt_data_split(const pt_data *d, double val_fraction, uint64_t seed, size_t **train, size_t *n_train,
                  size_t **val, size_t *n_val);
/* Hash of everything that fixes the sequence of batches (corpora, split, batching). */
uint64_t pt_data_hash(const pt_data *d, const scfm_pretrain_config *c, size_t global_micro);

/* ---- evaluation (eval.c) ----------------------------------------------------------------- */
typedef struct {
    size_t n_batches;
    size_t *starts;         /* [n_batches+1] into cells */
    size_t *cells;          /* evaluated cells, sorted by length */
    size_t n_cells;
    int32_t *base;          /* [max_len * 10] most frequent tokens per position (-1 = none), or NULL */
    size_t base_len;
} pt_eval;

typedef struct {
    double loss, top1, top10;        /* per masked token */
    double base_top1, base_top10;    /* NaN without baseline */
    double n_masked;
    double value_mse;                /* GeneCompass value head, masked rows (NaN without values) */
    /* per species (0 human, 1 mouse): top-1, top-10, value MSE, masked genes (0 if none) */
    double sp_top1[2], sp_top10[2], sp_mse[2], sp_n[2];
} pt_eval_result;

/* Chooses at most max_cells of val (seeded) and groups them into batches. */
int pt_eval_init(pt_eval *e, const pt_data *d, const size_t *val, size_t n_val, size_t max_cells,
                 size_t batch, uint64_t seed);
/* Most frequent token per position over (up to 20000 of) the training cells. */
int pt_eval_baseline(pt_eval *e, const pt_data *d, const size_t *train, size_t n_train, uint64_t seed);
/* Evaluates (every rank its share of batches; results summed over ranks). */
int pt_eval_run(pt_eval *e, const pt_data *d, scfm_model *m, const scfm_mask_params *mp, uint64_t seed,
                scfm_mlm_batch *scratch, pt_eval_result *r);
void pt_eval_free(pt_eval *e);

/* ---- run directory (run_dir.c) ------------------------------------------------------------ */
/* Creates RUN (rank 0). SCFM_EINVAL if it holds a run (pretrain.json) and !force. */
int pt_run_prepare(const char *run, int force);
/* Writes RUN/<name> atomically. */
int pt_run_write(const char *run, const char *name, const char *text);
/* Copies src to RUN/<name> atomically. */
int pt_run_copy(const char *run, const char *name, const char *src);
/* Name of the newest complete checkpoint from RUN/latest into buf. SCFM_EIO if none. */
int pt_run_latest(const char *run, char *buf, size_t cap);
/* Writes checkpoint-<step>/ (model, state, vocab) as tmp + rename, then RUN/latest. */
int pt_run_checkpoint(const char *run, long step, const scfm_model *m, const scfm_train_state *st,
                      size_t keep);
/* Points RUN/final at checkpoint-<step>. */
int pt_run_final(const char *run, long step);
/* Removes checkpoint-*.tmp.* directories left by a killed run. */
void pt_run_clean_tmp(const char *run);
/* Keeps the records of log.jsonl with step <= step (after a resume). */
int pt_run_trim_log(const char *run, long step);
/* Opens RUN/log.jsonl for appending. */
FILE *pt_run_open_log(const char *run);
/* Text of pretrain.json (pretrain_job.c). */
int pt_job_json(const scfm_pretrain_job *job, const pt_data *d, size_t ranks, char **out);
/* "RUN/name" (malloc'ed) or NULL. */
char *pt_path(const char *run, const char *name);

#endif
