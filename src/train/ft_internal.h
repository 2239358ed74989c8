/* Internals shared by the fine-tuning sources (src/train/finetune.c: the run and its
 * outputs; ft_common.c: batches, evaluation, model directories; ft_split.c: labels and
 * splits (cells, genes, folds, groups); ft_predict.c: scfm predict). Not a public API. */
#ifndef SCFM_FT_INTERNAL_H
#define SCFM_FT_INTERNAL_H
#include <stdint.h>
#include <stdio.h>

#include "scfm/analysis.h"
#include "scfm/corpus.h"
#include "scfm/finetune.h"
#include "scfm/train.h"

enum { SPLIT_EXCLUDED = -1, SPLIT_TRAIN = 0, SPLIT_VAL = 1, SPLIT_TEST = 2, SPLIT_UNUSED = 3, SPLIT_ABSENT = 4 };
#define FT_EVAL_TOKENS 16384
#define FT_STREAM_INIT 0x46494E49u
#define FT_STREAM_FRACTION 0x46524143u
#define FT_STREAM_FOLDS 0x464F4C44u
#define FT_STREAM_CAP 0x43415053u

/* A string list (class names). */
typedef struct { char **s; size_t n, cap; } ft_strlist;

typedef struct {
    const scfm_corpus *corpus;
    scfm_vocab *vocab;        /* the corpus's vocab.tsv (names for gene outputs); may be NULL */
    size_t max_len;           /* cells are cut to this many tokens (model positions) */
    scfm_head head;           /* SEQCLS or TOKCLS */
    size_t C;
    const int32_t *cell_label;/* [n_cells] class or -1 (cell task; NULL = no labels) */
    const int32_t *tok_label; /* [V] class or -1 (gene task; NULL = no labels) */
    size_t V;
    const float *class_weights; /* [C] loss weights (training only) or NULL */
    const scfm_genecompass_config *gc; /* the model's GeneCompass parts (NULL or disabled: plain BERT) */
} ft_data;

/* A packed batch with its labels. */
typedef struct {
    size_t B, N, capB, capN;
    size_t *offs, *cells;
    int32_t *ids, *seq_lab, *tok_lab;
    float *vals;              /* [N] GeneCompass values (when the model uses them) */
    int32_t *species;         /* [B] species (GeneCompass) */
} ft_batch;

/* Evaluation driver: cells sorted by length (longest first) in batches of at most
 * batch_cells cells and FT_EVAL_TOKENS tokens; sink gets each batch's logits. */
typedef int (*ft_sink)(void *ud, const ft_batch *b, const float *logits, size_t C);

/* Labelled predictions collected during an evaluation. */
typedef struct {
    size_t n, cap, C;
    size_t *cell, *pos;
    int32_t *token, *truth, *pred;
    float *prob;          /* [n*C] */
    double loss_sum;
} ft_preds;

/* Evaluates cells[n]: predictions, loss, metrics. */
typedef struct {
    scfm_cls_metrics met;
    double loss;
    size_t *confusion;             /* [C*C] */
    double *precision, *recall, *f1;
    size_t *support;
} ft_eval;


/* ---- ft_common.c ---- */
char *ft_path_join(const char *a, const char *b);
int ft_is_dir(const char *p);
int ft_copy_file(const char *src, const char *dst);
int ft_cmp_str(const void *a, const void *b);
void ft_fmt_eta(char *buf, size_t n, double s);
void ft_json_num(FILE *f, const char *key, double v);
int ft_strlist_add(ft_strlist *l, const char *s);
long ft_strlist_find(const ft_strlist *l, const char *s);
void ft_strlist_free(ft_strlist *l);
size_t ft_len(const ft_data *d, size_t cell);
/* GeneCompass models: the corpus must hold values (use_values) and every cell's species. */
int ft_check_genecompass(const ft_data *d);
void ft_batch_free(ft_batch *b);
/* Packs cells[n] (cut to max_len) with their labels (-100 where unlabelled). */
int ft_batch_pack(ft_batch *b, const ft_data *d, const size_t *cells, size_t n);
scfm_bert_input ft_batch_input(const ft_batch *b, const ft_data *d, int with_labels);
int ft_eval_cells(scfm_model *m, const ft_data *d, const size_t *cells, size_t n, size_t batch_cells,
                  ft_batch *b, ft_sink sink, void *ud);
/* Softmax of one logits row into p (float) and the log-probability of class t (t < 0: 0). */
double ft_softmax_row(const float *z, size_t C, float *p, int32_t t);
int32_t ft_argmax(const float *p, size_t C);
void ft_preds_free(ft_preds *p);
void ft_eval_free(ft_eval *e);
int ft_evaluate(scfm_model *m, const ft_data *d, const size_t *cells, size_t n, size_t batch_cells,
                ft_batch *b, ft_preds *p, ft_eval *e);
int ft_check_vocab(const scfm_bert_config *cfg, const char *model_dir, const scfm_corpus *c);
int ft_load_config(const char *model_dir, scfm_bert_config *cfg);
int ft_model_head(const char *model_dir, scfm_head *head);

/* ---- ft_split.c ---- */
int ft_dropped(const scfm_finetune_job *j, const char *v);
int ft_list_columns(const scfm_corpus *c, char *buf, size_t n);
int ft_column_index(const scfm_corpus *c, const char *name, const char *what, size_t *col);
int ft_cell_labels(const scfm_finetune_job *j, const scfm_corpus *c, ft_strlist *cls, int32_t *lab, size_t *n_excl);
int ft_gene_labels(const scfm_finetune_job *j, const scfm_vocab *v, ft_strlist *cls, int32_t *lab);
int ft_split_from_column(const scfm_finetune_job *j, const scfm_corpus *c, const int32_t *strat, int8_t *split);
/* Keeps a stratified share `frac` of the training items; the others become unused. */
int ft_subsample_train(const int32_t *strat, size_t n, size_t C, double frac, uint64_t seed, int8_t *split);

/* K stratified folds: within each class the items are shuffled (seeded) and dealt to folds
 * in turn, the next class starting where the last one stopped (fold sizes differ by at most
 * one). fold[i] in [0, K) or -1 for unlabelled items (strat < 0). */
int ft_fold_assign(const int32_t *strat, size_t n, size_t C, size_t K, uint64_t seed, int32_t *fold);
/* Fold k: its items are test; a stratified share val_frac of the other folds' items is
 * validation; the rest train; unlabelled items excluded. */
int ft_split_fold(const int32_t *strat, const int32_t *fold, size_t n, size_t C, size_t k, double val_frac,
                  uint64_t seed, int8_t *split);
/* Splits that keep the groups (values of an obs column, e.g. donor) apart: with K >= 2,
 * groups (largest first, ties in a seeded random order) go to the fold with fewest cells;
 * fold `fold` is test, groups of the other folds (smallest first) become validation until
 * they hold val_frac of those cells. Without folds: groups (smallest first, seeded order)
 * go to test until test_frac of the labelled cells, then to validation until val_frac,
 * the rest train. SCFM_EINVAL when there are too few groups. */
int ft_group_split(const scfm_corpus *c, const char *column, const int32_t *strat, double val_frac, double test_frac,
                   size_t K, size_t fold, uint64_t seed, int8_t *split);
/* --min-class-fraction / --max-cells-per-class on labels lab[n] (classes cls): a class
 * holding less than min_fraction of the labelled items is unlabelled (-1); a class with
 * more than max_per_class items keeps a seeded random max_per_class of them. */
int ft_filter_classes(const ft_strlist *cls, int32_t *lab, size_t n, double min_fraction, long max_per_class,
                      uint64_t seed, const char *what, size_t *n_dropped);

#endif
