/* Fine-tuning and prediction (docs/computation.md section 7): cell classification (an obs column of a
 * token corpus; BertForSequenceClassification: pooler + dropout + linear on token 0) and
 * gene classification (a gene -> label table; BertForTokenClassification, loss only at
 * labelled genes), starting from a pretrained checkpoint (or, as a baseline, from random
 * weights of the same architecture).
 *
 * Data flow of scfm_finetune:
 *   corpus cells -> labels (cell: the obs column, cells whose label is empty or dropped are
 *   left out; gene: per token from the table) -> stratified train / validation / test split
 *   (scfm_stratified_split; K folds; groups of a column kept apart; or a split column).
 *   Gene task: the labelled genes are split (stratified by class), never the cells: each
 *   split's cells are those holding one of its genes, and only its genes are labelled there,
 *   so test metrics are on genes the model never saw labelled -> optional stratified share
 *   of the training cells / genes (train_fraction) ->
 *   length-grouped packed batches (scfm_sampler), dropout on, AdamW with the Hugging Face
 *   Trainer decay groups, grad-norm clipping, warm-up + schedule -> evaluation on the
 *   validation cells every epoch (or every eval_every steps): loss, accuracy, macro-F1 ->
 *   the best model by validation macro-F1 is kept, early stopping after `patience`
 *   evaluations without improvement -> the best model is evaluated on the test cells.
 *
 * Output directory OUT (built as OUT.tmp.<pid>, renamed when complete; removed on error):
 *   best/               config.json (with id2label, scfm_vocab_hash), model.safetensors,
 *                       vocab.tsv (the corpus's), finetune.json (task, label column)
 *   metrics.json        test accuracy, macro_f1, per-class precision/recall/f1/support,
 *                       the best validation evaluation, split sizes, settings
 *   confusion.tsv       rows = true class, columns = predicted class (label names)
 *   test_predictions.tsv  cell task: cell_id, label, predicted, prob_<class>...
 *                       gene task: cell_id, gene, label, predicted, prob_<class>...
 *   split.tsv           cell task: cell_id, split (train / val / test / unused / excluded);
 *                       gene task: gene, label, split (train / val / test / unused /
 *                       absent: labelled but in no cell)
 *   test_genes.tsv      gene task: gene, label, n (test tokens), predicted, prob_<class>...
 *   with folds K >= 2:  fold-1/ ... fold-K/ (each as above) and metrics.json with every
 *                       fold's test metrics and their mean and sd
 *   log.jsonl           {"type":"train",...} every log_every steps, {"type":"eval",...}
 *
 * Return codes: SCFM_OK or a negative scfm_status with a message in scfm_last_error();
 * progress goes through scfm_log. Nothing here prints or exits. */
#ifndef SCFM_FINETUNE_H
#define SCFM_FINETUNE_H
#include <stddef.h>
#include <stdint.h>
#include "scfm/core.h"
#include "scfm/model.h"

typedef enum { SCFM_FT_CELL = 0, SCFM_FT_GENE = 1 } scfm_ft_task;

typedef struct {
    size_t batch_size;        /* 12 */
    double epochs;            /* 10 */
    long max_steps;           /* > 0: total optimizer steps (overrides epochs) */
    double lr;                /* 5e-5 */
    scfm_sched schedule;      /* linear */
    long warmup_steps;        /* 500 (capped at the total number of steps) */
    double weight_decay;      /* 0.001 */
    double max_grad_norm;     /* 1.0 (0 = off) */
    size_t freeze_layers;     /* 0: nothing frozen; N: embeddings and layers 0..N-1 */
    int random_init;          /* 1: the checkpoint's architecture with random weights */
    int class_weights;        /* 1: weight the loss by class, n / (C * n_c) over the training
                                 labels (sklearn's "balanced"; torch CrossEntropyLoss weight) */
    double val_frac, test_frac; /* 0.1, 0.1 (stratified) */
    double train_fraction;    /* 1.0: share of the training cells kept (stratified) */
    long patience;            /* 3 evaluations without improvement (0 = never stop early) */
    long eval_every;          /* 0: once per epoch; N: every N steps */
    long log_every;           /* 10 */
    size_t mega_mult;         /* 50 (length grouping) */
    uint64_t seed;            /* 42: split, sampler, dropout, head initialisation */
    size_t folds;             /* 0/1: one split; K >= 2: K-fold cross-validation (each fold the
                                 test set once; validation = val_frac of the other folds) */
    double min_class_fraction;/* 0: off; classes with a smaller share of the labelled cells
                                 (genes) are left out (Geneformer's rare_threshold) */
    long max_per_class;       /* 0: off; at most this many cells (genes) per class (seeded) */
} scfm_finetune_config;

/* docs/computation.md section 7 defaults as listed above. */
void scfm_finetune_config_init(scfm_finetune_config *c);
/* SCFM_OK or SCFM_EINVAL naming the field that is out of range. */
int scfm_finetune_config_validate(const scfm_finetune_config *c) SCFM_WUR;

typedef struct {
    const char *corpus;             /* token corpus directory */
    const char *model_dir;          /* checkpoint (config.json + model.safetensors) */
    const char *out_dir;            /* OUT (must not exist unless force) */
    scfm_ft_task task;
    const char *label_column;       /* cell task: obs column */
    const char *gene_labels;        /* gene task: TSV gene_id<TAB>label */
    const char *const *drop_labels; /* label values left out (e.g. "?") */
    size_t n_drop_labels;
    const char *split_column;       /* optional obs column: train / val / validation / test */
    const char *group_column;       /* optional obs column (donor, sample): its groups are kept
                                       apart (each group wholly in train, val or test) */
    int force;                      /* replace an existing OUT */
    const char *command;            /* recorded in metrics.json */
    scfm_finetune_config cfg;
} scfm_finetune_job;

typedef struct {
    size_t n_classes, n_train, n_val, n_test;
    long steps, total_steps, best_step;
    int stopped_early;
    double best_val_macro_f1;          /* NaN when there was no validation split */
    double test_accuracy, test_macro_f1, test_loss; /* NaN when there was no test split */
    size_t test_n;                     /* test samples (cells, or labelled gene tokens) */
    size_t n_genes_train, n_genes_val, n_genes_test; /* gene task: labelled genes per split */
    double test_gene_accuracy, test_gene_macro_f1;   /* gene task: per held-out gene (NaN otherwise) */
    size_t folds;                      /* >= 2: the figures above are the mean over the folds */
    double sd_accuracy, sd_macro_f1;   /* folds: sample sd of the test accuracy / macro-F1 */
    double seconds;
} scfm_finetune_summary;

/* Runs a fine-tuning job (see the top of this file). Errors before training: SCFM_ENOTFOUND
 * (label or split column missing: the message lists the corpus's columns), SCFM_EIO (model
 * directory or file missing), SCFM_EMISMATCH (the corpus's vocabulary is not the model's),
 * SCFM_EINVAL (fewer than 2 classes, empty training split, bad settings, OUT exists),
 * SCFM_EFORMAT (bad gene label table). Nothing is left at OUT on error. */
int scfm_finetune(const scfm_finetune_job *job, scfm_finetune_summary *out) SCFM_WUR;

/* Predictions of a fine-tuned checkpoint on every cell of a corpus. The format follows the
 * extension of out_path: .tsv / .txt (tab-separated), .csv (comma-separated, RFC 4180
 * quoting), .h5ad (cell classifier only: obs scfm_prediction (categorical) and
 * scfm_prediction_prob, obsm scfm_probs [cells, C] with uns scfm_probs_classes, the
 * corpus's obs columns as categoricals; into a copy of h5ad_template when given); any
 * other extension is SCFM_EINVAL.
 *   cell classifier: TSV cell_id, predicted, prob_<class>... (one row per cell)
 *   gene classifier: TSV gene, n, predicted, prob_<class>... (one row per vocabulary gene
 *     seen in the corpus; probabilities averaged over its occurrences), or with per_token
 *     one row per (cell, gene): cell_id, gene, position, predicted, prob_<class>...
 * Cells longer than the model's positions are truncated (one warning). Written atomically. */
typedef struct {
    size_t batch_cells;     /* cells per forward batch (0 = 64) */
    int per_token;          /* gene classifier: one row per token */
    const char *h5ad_template; /* .h5ad output: write into a copy of this .h5ad (NULL: new file) */
    const char *command;    /* recorded in an .h5ad's uns/scfm_command (may be NULL) */
} scfm_predict_opts;

typedef struct {
    scfm_head head;
    size_t n_cells, n_rows, n_classes, n_truncated;
    double seconds;
} scfm_predict_summary;

int scfm_predict(const char *corpus_dir, const char *model_dir, const char *out_path,
                 const scfm_predict_opts *o, scfm_predict_summary *out) SCFM_WUR;

#endif
