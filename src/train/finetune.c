/* Fine-tuning (cell and gene classification) and prediction. See include/scfm/finetune.h.
 *
 * Shapes: B = cells in a batch, N = packed tokens (no padding), C = classes,
 * P = the model's max positions (cells are cut to P tokens). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ft_internal.h"

void scfm_finetune_config_init(scfm_finetune_config *c) {
    memset(c, 0, sizeof *c);
    c->batch_size = 12;
    c->epochs = 10;
    c->lr = 5e-5;
    c->schedule = SCFM_SCHED_LINEAR;
    c->warmup_steps = 500;
    c->weight_decay = 0.001;
    c->max_grad_norm = 1.0;
    c->val_frac = 0.1;
    c->test_frac = 0.1;
    c->train_fraction = 1.0;
    c->patience = 3;
    c->log_every = 10;
    c->mega_mult = 50;
    c->seed = 42;
}

int scfm_finetune_config_validate(const scfm_finetune_config *c) {
    if (c->batch_size < 1 || c->batch_size > 1000000) return scfm_error(SCFM_EINVAL, "finetune: batch_size %zu must be in [1, 1000000]", c->batch_size);
    if (!(c->epochs > 0) || c->epochs > 1e6) return scfm_error(SCFM_EINVAL, "finetune: epochs %g must be > 0", c->epochs);
    if (c->max_steps < 0) return scfm_error(SCFM_EINVAL, "finetune: max_steps %ld must be >= 0", c->max_steps);
    if (!(c->lr > 0) || !isfinite(c->lr)) return scfm_error(SCFM_EINVAL, "finetune: lr %g must be > 0", c->lr);
    if (c->warmup_steps < 0) return scfm_error(SCFM_EINVAL, "finetune: warmup_steps %ld must be >= 0", c->warmup_steps);
    if (!(c->weight_decay >= 0) || !isfinite(c->weight_decay))
        return scfm_error(SCFM_EINVAL, "finetune: weight_decay %g must be >= 0", c->weight_decay);
    if (!(c->max_grad_norm >= 0) || !isfinite(c->max_grad_norm))
        return scfm_error(SCFM_EINVAL, "finetune: max_grad_norm %g must be >= 0", c->max_grad_norm);
    if (!(c->val_frac >= 0 && c->val_frac < 1) || !(c->test_frac >= 0 && c->test_frac < 1) ||
        !(c->val_frac + c->test_frac < 1))
        return scfm_error(SCFM_EINVAL, "finetune: validation (%g) and test (%g) fractions must be >= 0 and sum to < 1",
                          c->val_frac, c->test_frac);
    if (!(c->train_fraction > 0 && c->train_fraction <= 1))
        return scfm_error(SCFM_EINVAL, "finetune: train_fraction %g must be in (0, 1]", c->train_fraction);
    if (c->patience < 0) return scfm_error(SCFM_EINVAL, "finetune: patience %ld must be >= 0", c->patience);
    if (c->eval_every < 0) return scfm_error(SCFM_EINVAL, "finetune: eval_every %ld must be >= 0", c->eval_every);
    if (c->log_every < 1) return scfm_error(SCFM_EINVAL, "finetune: log_every %ld must be >= 1", c->log_every);
    if (c->mega_mult < 1) return scfm_error(SCFM_EINVAL, "finetune: mega_mult must be >= 1");
    if (c->folds == 1 || c->folds > 1000) return scfm_error(SCFM_EINVAL, "finetune: folds %zu must be 0 (off) or in [2, 1000]", c->folds);
    if (!(c->min_class_fraction >= 0 && c->min_class_fraction < 1))
        return scfm_error(SCFM_EINVAL, "finetune: min_class_fraction %g must be in [0, 1)", c->min_class_fraction);
    if (c->max_per_class < 0) return scfm_error(SCFM_EINVAL, "finetune: max_per_class %ld must be >= 0", c->max_per_class);
    return SCFM_OK;
}


/* ---- the fine-tuning run ---------------------------------------------------------------- */

typedef struct {
    const scfm_finetune_job *job;
    scfm_finetune_config c;
    scfm_corpus *corpus;
    ft_data d;
    ft_strlist cls;
    int32_t *cell_lab, *tok_lab, *strat;
    float *cw;                /* [C] class weights (--class-weights) */
    int8_t *split;
    size_t *sets[4], nset[4];   /* train, val, test, (unused) */
    int32_t *gl[3];             /* gene task: token labels of the train / val / test genes */
    int8_t *gsplit;             /* gene task: [V] split of each labelled gene (-1 unlabelled) */
    size_t ngenes[5];           /* gene task: train, val, test, unused, absent */
    long fold;                  /* folds: 0-based fold; -1 without folds */
    scfm_cls_metrics gmet;      /* gene task: test metrics per held-out gene */
    size_t gt_n_genes;          /* gene task: held-out genes seen in the test cells */
    int32_t *gt_tok, *gt_truth, *gt_pred;
    size_t *gt_count;
    float *gt_prob;             /* [gt_n_genes * C] mean probabilities over the gene's tokens */
    size_t n_excluded;
    scfm_model *m;
    scfm_adamw opt;
    int have_opt;
    scfm_sampler *sampler;
    ft_batch batch, ebatch;
    ft_preds preds;
    ft_eval ev;
    float *best;                /* best parameters (copy of m->params) */
    const char *tmp;            /* where the outputs go (OUT.tmp.<pid> or its fold-K/) */
    FILE *log;
    long total, warmup, spe, step, best_step, evals_since_best;
    double best_f1, best_loss, best_acc;
    int stopped_early;
    double t0, last_progress, win_loss, win_n, win_cells, t_win, last_lr, last_norm;
    size_t n_truncated;
} ft_ctx;

/* --min-class-fraction / --max-cells-per-class, then the classes left with no sample are
 * removed (the class list stays sorted). */
static int filter_classes(ft_ctx *x, int32_t *lab, size_t n) {
    const char *what = x->job->task == SCFM_FT_CELL ? "cells" : "genes";
    size_t dropped = 0, C = x->cls.n;
    if (x->c.min_class_fraction <= 0 && x->c.max_per_class <= 0) return SCFM_OK;
    int rc = ft_filter_classes(&x->cls, lab, n, x->c.min_class_fraction, x->c.max_per_class, x->c.seed, what, &dropped);
    if (rc) return rc;
    if (x->job->task == SCFM_FT_CELL) x->n_excluded += dropped;
    size_t *cnt = scfm_calloc(C ? C : 1, sizeof *cnt);
    int32_t *map = scfm_calloc(C ? C : 1, sizeof *map);
    if (!cnt || !map) { free(cnt); free(map); return SCFM_ENOMEM; }
    for (size_t i = 0; i < n; i++)
        if (lab[i] >= 0) cnt[lab[i]]++;
    size_t k = 0;
    for (size_t c = 0; c < C; c++) {
        if (cnt[c]) {
            map[c] = (int32_t)k;
            char *t = x->cls.s[k];
            x->cls.s[k++] = x->cls.s[c];
            x->cls.s[c] = t;
        } else map[c] = -1;
    }
    for (size_t c = k; c < C; c++) free(x->cls.s[c]);
    x->cls.n = k;
    for (size_t i = 0; i < n; i++)
        if (lab[i] >= 0) lab[i] = map[lab[i]];
    free(cnt);
    free(map);
    return SCFM_OK;
}

static int setup_labels(ft_ctx *x) {
    const scfm_finetune_job *j = x->job;
    size_t n = scfm_corpus_n_cells(x->corpus), V = scfm_corpus_vocab_size(x->corpus);
    x->strat = scfm_calloc(n ? n : 1, sizeof *x->strat);
    x->split = scfm_calloc(n ? n : 1, 1);
    if (!x->strat || !x->split) return SCFM_ENOMEM;
    int rc;
    if (j->task == SCFM_FT_CELL) {
        if (!j->label_column) return scfm_error(SCFM_EINVAL, "finetune: no label column given");
        if (!(x->cell_lab = scfm_calloc(n ? n : 1, sizeof *x->cell_lab))) return SCFM_ENOMEM;
        if ((rc = ft_cell_labels(j, x->corpus, &x->cls, x->cell_lab, &x->n_excluded))) return rc;
        memcpy(x->strat, x->cell_lab, n * sizeof *x->strat);
    } else {
        if (!j->gene_labels) return scfm_error(SCFM_EINVAL, "finetune: no gene label table given");
        if (!x->d.vocab) return SCFM_EFORMAT;
        if (!(x->tok_lab = scfm_calloc(V ? V : 1, sizeof *x->tok_lab))) return SCFM_ENOMEM;
        if ((rc = ft_gene_labels(j, x->d.vocab, &x->cls, x->tok_lab))) return rc;
        for (size_t i = 0; i < n; i++) x->strat[i] = 0;
    }
    if ((rc = filter_classes(x, j->task == SCFM_FT_CELL ? x->cell_lab : x->tok_lab, j->task == SCFM_FT_CELL ? n : V)))
        return rc;
    if (j->task == SCFM_FT_CELL) memcpy(x->strat, x->cell_lab, n * sizeof *x->strat);
    if (x->cls.n < 2) {
        char what[256];
        if (j->task == SCFM_FT_CELL) snprintf(what, sizeof what, "column '%s' of %s", j->label_column, scfm_corpus_dir(x->corpus));
        else snprintf(what, sizeof what, "%s", j->gene_labels);
        return scfm_error(SCFM_EINVAL, "%s: %zu class%s%s%s after dropping empty%s labels; classification needs at "
                          "least 2", what, x->cls.n, x->cls.n == 1 ? " ('" : "es", x->cls.n == 1 ? x->cls.s[0] : "",
                          x->cls.n == 1 ? "')" : "", j->n_drop_labels ? " and dropped" : "");
    }
    x->d.C = x->cls.n;
    x->d.V = V;
    x->d.cell_label = x->cell_lab;
    x->d.tok_label = x->tok_lab;
    x->d.head = j->task == SCFM_FT_CELL ? SCFM_HEAD_SEQCLS : SCFM_HEAD_TOKCLS;
    return SCFM_OK;
}


/* --class-weights: w_c = n / (C * n_c) over the training labels (cells, or labelled gene
 * tokens of the training cells), 0 for a class absent from training. */
static int make_class_weights(ft_ctx *x) {
    size_t C = x->d.C, n = 0;
    double *cnt = scfm_calloc(C, sizeof *cnt);
    if (!cnt) return SCFM_ENOMEM;
    for (size_t k = 0; k < x->nset[SPLIT_TRAIN]; k++) {
        size_t cell = x->sets[SPLIT_TRAIN][k];
        if (x->d.head == SCFM_HEAD_SEQCLS) {
            int32_t y = x->d.cell_label[cell];
            if (y >= 0) { cnt[y] += 1; n++; }
        } else {
            const int32_t *tok;
            size_t len;
            if (scfm_corpus_cell(x->corpus, cell, &tok, &len, NULL)) continue;
            if (len > x->d.max_len) len = x->d.max_len;
            for (size_t t = 0; t < len; t++) {
                int32_t y = (size_t)tok[t] < x->d.V ? x->d.tok_label[tok[t]] : -1;
                if (y >= 0) { cnt[y] += 1; n++; }
            }
        }
    }
    if (!(x->cw = scfm_calloc(C, sizeof *x->cw))) { free(cnt); return SCFM_ENOMEM; }
    for (size_t c = 0; c < C; c++) {
        x->cw[c] = cnt[c] > 0 ? (float)((double)n / ((double)C * cnt[c])) : 0.0f;
        scfm_log(SCFM_LOG_INFO, "finetune: class %s: %.0f training samples, loss weight %.4g", x->cls.s[c], cnt[c],
                 (double)x->cw[c]);
    }
    free(cnt);
    x->d.class_weights = x->cw;
    return SCFM_OK;
}

/* Gene task: the labelled genes present in the corpus (within the model's positions) are
 * split, stratified by class (or into folds); a split's cells are the cells holding one of
 * its genes, and there only its genes carry labels. */
static int setup_gene_split(ft_ctx *x) {
    const scfm_finetune_job *j = x->job;
    if (j->split_column || j->group_column)
        return scfm_error(SCFM_EINVAL, "finetune: gene classification splits the labelled genes; --split-column and "
                          "--group-column apply to cell classification");
    size_t n = scfm_corpus_n_cells(x->corpus), V = x->d.V, C = x->cls.n;
    uint8_t *seen = scfm_calloc(V ? V : 1, 1);
    int32_t *gstrat = scfm_calloc(V ? V : 1, sizeof *gstrat), *fold = NULL;
    x->gsplit = scfm_calloc(V ? V : 1, 1);
    int rc = seen && gstrat && x->gsplit ? SCFM_OK : SCFM_ENOMEM;
    for (size_t i = 0; !rc && i < n; i++) {
        const int32_t *tok;
        size_t len;
        if ((rc = scfm_corpus_cell(x->corpus, i, &tok, &len, NULL))) break;
        len = len < x->d.max_len ? len : x->d.max_len;
        for (size_t k = 0; k < len; k++)
            if (tok[k] >= 0 && (size_t)tok[k] < V) seen[tok[k]] = 1;
    }
    for (size_t t = 0; !rc && t < V; t++) gstrat[t] = seen[t] ? x->tok_lab[t] : -1;
    if (!rc && x->c.folds >= 2) {
        if (!(fold = scfm_calloc(V ? V : 1, sizeof *fold))) rc = SCFM_ENOMEM;
        if (!rc) rc = ft_fold_assign(gstrat, V, C, x->c.folds, x->c.seed, fold);
        if (!rc) rc = ft_split_fold(gstrat, fold, V, C, (size_t)x->fold, x->c.val_frac, x->c.seed, x->gsplit);
    } else if (!rc) {
        rc = scfm_stratified_split(gstrat, V, C, x->c.val_frac, x->c.test_frac, x->c.seed, x->gsplit);
    }
    if (!rc) rc = ft_subsample_train(gstrat, V, C, x->c.train_fraction, x->c.seed, x->gsplit);
    for (size_t t = 0; !rc && t < V; t++)
        if (x->tok_lab[t] >= 0 && !seen[t]) x->gsplit[t] = SPLIT_ABSENT;
    for (int s = 0; !rc && s < 3; s++)
        if (!(x->gl[s] = scfm_calloc(V ? V : 1, sizeof *x->gl[s]))) rc = SCFM_ENOMEM;
    for (size_t t = 0; !rc && t < V; t++) {
        for (int s = 0; s < 3; s++) x->gl[s][t] = x->gsplit[t] == s ? x->tok_lab[t] : -1;
        if (x->gsplit[t] >= 0 && x->gsplit[t] <= SPLIT_ABSENT) x->ngenes[x->gsplit[t]]++;
    }
    /* cells of each split: those holding one of its genes */
    for (int s = 0; !rc && s < 4; s++) {
        x->nset[s] = 0;
        if (!(x->sets[s] = scfm_calloc(n ? n : 1, sizeof(size_t)))) rc = SCFM_ENOMEM;
    }
    for (size_t i = 0; !rc && i < n; i++) {
        const int32_t *tok;
        size_t len;
        if ((rc = scfm_corpus_cell(x->corpus, i, &tok, &len, NULL))) break;
        len = len < x->d.max_len ? len : x->d.max_len;
        int has[3] = {0, 0, 0};
        for (size_t k = 0; k < len; k++)
            if (tok[k] >= 0 && (size_t)tok[k] < V && x->gsplit[tok[k]] >= 0 && x->gsplit[tok[k]] < 3) has[x->gsplit[tok[k]]] = 1;
        for (int s = 0; s < 3; s++)
            if (has[s]) x->sets[s][x->nset[s]++] = i;
        x->split[i] = has[0] ? SPLIT_TRAIN : has[1] ? SPLIT_VAL : has[2] ? SPLIT_TEST : SPLIT_EXCLUDED;
    }
    free(seen);
    free(gstrat);
    free(fold);
    if (rc) return rc;
    x->d.tok_label = x->gl[SPLIT_TRAIN];
    if (x->ngenes[SPLIT_ABSENT])
        scfm_log(SCFM_LOG_WARN, "finetune: %zu labelled genes appear in no cell (within %zu positions) and are left out",
                 x->ngenes[SPLIT_ABSENT], x->d.max_len);
    scfm_log(SCFM_LOG_INFO, "finetune: labelled genes split %zu train, %zu validation, %zu test%s (stratified by class; "
             "test metrics are on genes never labelled in training)", x->ngenes[0], x->ngenes[1], x->ngenes[2],
             x->ngenes[3] ? " (some unused)" : "");
    if (x->ngenes[SPLIT_TRAIN] == 0 || x->nset[SPLIT_TRAIN] == 0)
        return scfm_error(SCFM_EINVAL, "%s: no training genes", j->gene_labels);
    if (x->nset[SPLIT_VAL] == 0)
        scfm_log(SCFM_LOG_WARN, "finetune: no validation genes: the model after the last step is kept");
    return SCFM_OK;
}

static int setup_split(ft_ctx *x) {
    const scfm_finetune_job *j = x->job;
    if (j->task == SCFM_FT_GENE) return setup_gene_split(x);
    size_t n = scfm_corpus_n_cells(x->corpus), C = x->cls.n;
    int rc = SCFM_OK;
    if (j->split_column) {
        if (x->c.folds >= 2 || j->group_column)
            return scfm_error(SCFM_EINVAL, "finetune: --split-column excludes --folds and --group-column");
        rc = ft_split_from_column(j, x->corpus, x->strat, x->split);
    } else if (j->group_column) {
        rc = ft_group_split(x->corpus, j->group_column, x->strat, x->c.val_frac, x->c.test_frac, x->c.folds,
                            x->fold < 0 ? 0 : (size_t)x->fold, x->c.seed, x->split);
    } else if (x->c.folds >= 2) {
        int32_t *fold = scfm_calloc(n ? n : 1, sizeof *fold);
        rc = fold ? ft_fold_assign(x->strat, n, C, x->c.folds, x->c.seed, fold) : SCFM_ENOMEM;
        if (!rc) rc = ft_split_fold(x->strat, fold, n, C, (size_t)x->fold, x->c.val_frac, x->c.seed, x->split);
        free(fold);
    } else {
        rc = scfm_stratified_split(x->strat, n, C, x->c.val_frac, x->c.test_frac, x->c.seed, x->split);
    }
    if (!rc) rc = ft_subsample_train(x->strat, n, C, x->c.train_fraction, x->c.seed, x->split);
    if (rc) return rc;
    for (int s = 0; s < 4; s++) {
        x->nset[s] = 0;
        for (size_t i = 0; i < n; i++) x->nset[s] += x->split[i] == s;
        if (!(x->sets[s] = scfm_calloc(x->nset[s] ? x->nset[s] : 1, sizeof(size_t)))) return SCFM_ENOMEM;
        for (size_t i = 0, k = 0; i < n; i++)
            if (x->split[i] == s) x->sets[s][k++] = i;
    }
    if (x->nset[SPLIT_TRAIN] == 0) return scfm_error(SCFM_EINVAL, "%s: no training cells", scfm_corpus_dir(x->corpus));
    if (x->nset[SPLIT_VAL] == 0)
        scfm_log(SCFM_LOG_WARN, "finetune: no validation cells: the model after the last step is kept");
    return SCFM_OK;
}

static int setup_model(ft_ctx *x, const scfm_bert_config *cfg) {
    const scfm_finetune_job *j = x->job;
    uint64_t seed = scfm_hash3(x->c.seed, FT_STREAM_INIT, 0);
    if (x->c.random_init) {
        scfm_bert_config c2;
        int rc = scfm_bert_config_copy(&c2, cfg);
        if (rc) return rc;
        rc = scfm_bert_config_set_labels(&c2, x->cls.n, (const char *const *)x->cls.s);
        if (!rc && !(x->m = scfm_model_create(&c2, x->d.head, seed))) rc = SCFM_EINVAL;
        scfm_bert_config_free(&c2);
        if (rc) return rc;
    } else {
        scfm_load_opts o = {.num_labels = x->cls.n, .labels = (const char *const *)x->cls.s, .seed = seed};
        if (!(x->m = scfm_model_load_ex(j->model_dir, x->d.head, &o))) return SCFM_EIO;
        if (x->m->cfg.num_labels != x->cls.n)
            return scfm_error(SCFM_EMISMATCH, "%s: the checkpoint's classifier has %zu labels, the data %zu", j->model_dir,
                              x->m->cfg.num_labels, x->cls.n);
        int rc = scfm_bert_config_set_labels(&x->m->cfg, x->cls.n, (const char *const *)x->cls.s);
        if (rc) return rc;
    }
    snprintf(x->m->cfg.vocab_hash, sizeof x->m->cfg.vocab_hash, "%016llx",
             (unsigned long long)scfm_corpus_vocab_hash(x->corpus));
    if (x->c.freeze_layers > x->m->cfg.num_hidden_layers)
        return scfm_error(SCFM_EINVAL, "finetune: freeze_layers %zu exceeds the model's %zu layers", x->c.freeze_layers,
                          x->m->cfg.num_hidden_layers);
    if (x->c.freeze_layers > 0) scfm_model_freeze_layers(x->m, x->c.freeze_layers);
    x->d.max_len = x->m->cfg.max_position_embeddings;
    x->d.gc = &x->m->cfg.genecompass;
    int grc = ft_check_genecompass(&x->d);
    if (grc) return grc;
    size_t longest = scfm_corpus_longest(x->corpus);
    if (longest > x->d.max_len) {
        for (size_t i = 0; i < scfm_corpus_n_cells(x->corpus); i++) x->n_truncated += scfm_corpus_len(x->corpus, i) > x->d.max_len;
        scfm_log(SCFM_LOG_WARN, "finetune: %zu cells are longer than the model's %zu positions (longest %zu) and are "
                 "truncated", x->n_truncated, x->d.max_len, longest);
    }
    scfm_adamw_config ac;
    scfm_adamw_config_init(&ac);
    ac.weight_decay = (float)x->c.weight_decay;
    int rc = scfm_adamw_init(&x->opt, x->m, &ac);
    if (rc) return rc;
    x->have_opt = 1;
    size_t bytes;
    if (scfm_mul_size(x->m->n_params, sizeof(float), &bytes)) return scfm_error(SCFM_ENOMEM, "finetune: model too large");
    if (!(x->best = scfm_malloc(bytes ? bytes : 1))) return SCFM_ENOMEM;
    memcpy(x->best, x->m->params, bytes);
    return scfm_model_zero_grad(x->m);
}

static int setup_sampler(ft_ctx *x) {
    size_t n = x->nset[SPLIT_TRAIN];
    size_t *lens = scfm_calloc(n, sizeof *lens);
    if (!lens) return SCFM_ENOMEM;
    for (size_t i = 0; i < n; i++) lens[i] = ft_len(&x->d, x->sets[SPLIT_TRAIN][i]);
    x->sampler = scfm_sampler_new(x->sets[SPLIT_TRAIN], lens, n, x->c.batch_size, x->c.mega_mult, x->c.seed);
    free(lens);
    if (!x->sampler) return SCFM_ENOMEM;
    x->spe = (long)scfm_sampler_n_batches(x->sampler);
    x->total = x->c.max_steps > 0 ? x->c.max_steps : (long)ceil(x->c.epochs * (double)x->spe);
    if (x->total < 1) x->total = 1;
    x->warmup = x->c.warmup_steps;
    if (x->warmup >= x->total)
        scfm_log(SCFM_LOG_WARN, "finetune: warm-up (%ld steps) is not shorter than training (%ld steps); the learning "
                 "rate never reaches %g (lower --warmup-steps)", x->warmup, x->total, x->c.lr);
    return SCFM_OK;
}

static void progress(ft_ctx *x, int force) {
    double now = scfm_now();
    if (!force && now - x->last_progress < 0.5) return;
    x->last_progress = now;
    double el = now - x->t0, per = el / (double)(x->step ? x->step : 1);
    double cps = x->win_cells / (now - x->t_win > 1e-9 ? now - x->t_win : 1e-9);
    char eta[32];
    ft_fmt_eta(eta, sizeof eta, per * (double)(x->total - x->step));
    scfm_log(SCFM_LOG_PROGRESS, "step %ld/%ld  epoch %.2f  loss %.4f  lr %.2e  %.0f cells/s  ETA %s", x->step, x->total,
             (double)x->step / (double)x->spe, x->win_n > 0 ? x->win_loss / x->win_n : NAN, x->last_lr, cps, eta);
}

static void log_train(ft_ctx *x) {
    double now = scfm_now(), dt = now - x->t_win;
    if (x->log) {
        fprintf(x->log, "{\"type\": \"train\", \"step\": %ld, ", x->step);
        ft_json_num(x->log, "epoch", (double)x->step / (double)x->spe);
        fputs(", ", x->log);
        ft_json_num(x->log, "loss", x->win_n > 0 ? x->win_loss / x->win_n : NAN);
        fputs(", ", x->log);
        ft_json_num(x->log, "lr", x->last_lr);
        fputs(", ", x->log);
        ft_json_num(x->log, "grad_norm", x->last_norm);
        fputs(", ", x->log);
        ft_json_num(x->log, "cells_per_s", x->win_cells / (dt > 1e-9 ? dt : 1e-9));
        fputs(", ", x->log);
        ft_json_num(x->log, "elapsed_s", now - x->t0);
        fputs("}\n", x->log);
        fflush(x->log);
    }
    x->win_loss = x->win_n = x->win_cells = 0;
    x->t_win = now;
}

static int train_step(ft_ctx *x) {
    const size_t *cells;
    size_t n;
    long e = x->step / x->spe, b = x->step % x->spe;
    int rc = scfm_sampler_set_epoch(x->sampler, (uint64_t)e);
    if (!rc) rc = scfm_sampler_batch(x->sampler, (size_t)b, &cells, &n);
    if (!rc) rc = ft_batch_pack(&x->batch, &x->d, cells, n);
    if (!rc) rc = scfm_model_zero_grad(x->m);
    if (rc) return rc;
    scfm_bert_input in = ft_batch_input(&x->batch, &x->d, 1);
    float loss = 0;
    rc = scfm_model_forward(x->m, &in, 1, scfm_hash3(x->c.seed, SCFM_STREAM_DROPOUT, (uint64_t)x->step), &loss);
    size_t cnt = rc ? 0 : scfm_model_loss_count(x->m);
    x->last_lr = scfm_lr_schedule(x->c.schedule, x->c.lr, x->step, x->warmup, x->total);
    x->win_cells += (double)n;
    if (!rc && cnt > 0) { /* a gene-task batch may hold no labelled gene: no update */
        rc = scfm_model_backward(x->m);
        if (rc) return rc;
        x->last_norm = scfm_model_clip_grad_norm(x->m, x->c.max_grad_norm);
        if (!isfinite(x->last_norm) || !isfinite(loss))
            return scfm_error(SCFM_EDATA, "finetune: step %ld: loss or gradient is not finite (loss %g, grad norm %g); "
                              "lower the learning rate", x->step + 1, (double)loss, x->last_norm);
        rc = scfm_adamw_step(&x->opt, x->m, (float)x->last_lr);
        x->win_loss += (double)loss * (double)cnt;
        x->win_n += (double)cnt;
    }
    return rc;
}

/* The data as seen by split s: gene task: only the genes of s are labelled. */
static ft_data view(const ft_ctx *x, int s) {
    ft_data d = x->d;
    if (x->gl[s]) d.tok_label = x->gl[s];
    return d;
}

static int run_eval(ft_ctx *x, int *improved) {
    *improved = 0;
    ft_data dv = view(x, SPLIT_VAL);
    int rc = ft_evaluate(x->m, &dv, x->sets[SPLIT_VAL], x->nset[SPLIT_VAL], 64, &x->ebatch, &x->preds, &x->ev);
    if (rc) return rc;
    double f1 = x->ev.met.macro_f1, loss = x->ev.loss, acc = x->ev.met.accuracy;
    if (isfinite(f1) && (x->best_step < 0 || f1 > x->best_f1 || (f1 == x->best_f1 && loss < x->best_loss))) {
        *improved = 1;
        x->best_f1 = f1;
        x->best_loss = loss;
        x->best_acc = acc;
        x->best_step = x->step;
        x->evals_since_best = 0;
        memcpy(x->best, x->m->params, x->m->n_params * sizeof(float));
    } else {
        x->evals_since_best++;
    }
    scfm_log(SCFM_LOG_INFO, "step %ld (epoch %.2f): validation loss %.4f, accuracy %.4f, macro-F1 %.4f%s", x->step,
             (double)x->step / (double)x->spe, loss, acc, f1, *improved ? " (best)" : "");
    if (x->log) {
        fprintf(x->log, "{\"type\": \"eval\", \"step\": %ld, ", x->step);
        ft_json_num(x->log, "epoch", (double)x->step / (double)x->spe);
        fputs(", ", x->log);
        ft_json_num(x->log, "val_loss", loss);
        fputs(", ", x->log);
        ft_json_num(x->log, "val_accuracy", acc);
        fputs(", ", x->log);
        ft_json_num(x->log, "val_macro_f1", f1);
        fprintf(x->log, ", \"n\": %zu, \"best\": %s}\n", x->preds.n, *improved ? "true" : "false");
        fflush(x->log);
    }
    return SCFM_OK;
}

static int loop(ft_ctx *x) {
    long every = x->c.eval_every > 0 ? x->c.eval_every : x->spe;
    int rc = SCFM_OK;
    x->t0 = x->t_win = scfm_now();
    while (x->step < x->total && !rc) {
        if ((rc = train_step(x))) break;
        x->step++;
        int last = x->step == x->total;
        progress(x, last);
        if (x->step % x->c.log_every == 0 || last) log_train(x);
        if (x->nset[SPLIT_VAL] && (x->step % every == 0 || last)) {
            int imp;
            if ((rc = run_eval(x, &imp))) break;
            if (x->c.patience > 0 && x->evals_since_best >= x->c.patience && !last) {
                scfm_log(SCFM_LOG_INFO, "finetune: stopping early at step %ld: no better validation macro-F1 in %ld "
                         "evaluations (best %.4f at step %ld)", x->step, x->c.patience, x->best_f1, x->best_step);
                x->stopped_early = 1;
                break;
            }
            x->t_win = scfm_now();
        }
    }
    if (!rc && x->nset[SPLIT_VAL] == 0) {
        memcpy(x->best, x->m->params, x->m->n_params * sizeof(float));
        x->best_step = x->step;
    }
    return rc;
}

/* ---- outputs ------------------------------------------------------------------------------ */

static FILE *open_out(const ft_ctx *x, const char *name, char **path) {
    *path = ft_path_join(x->tmp, name);
    if (!*path) return NULL;
    FILE *f = fopen(*path, "w");
    if (!f) scfm_error(SCFM_EIO, "%s: cannot create: %s", *path, strerror(errno));
    return f;
}

static int close_out(FILE *f, char *path) {
    int bad = ferror(f);
    bad |= fclose(f) != 0;
    int rc = bad ? scfm_error(SCFM_EIO, "%s: write failed", path) : SCFM_OK;
    free(path);
    return rc;
}

static const char *split_name(int s) {
    switch (s) {
    case SPLIT_TRAIN: return "train";
    case SPLIT_VAL: return "val";
    case SPLIT_TEST: return "test";
    case SPLIT_UNUSED: return "unused";
    default: return "excluded";
    }
}

static int write_split(const ft_ctx *x) {
    char *p;
    FILE *f = open_out(x, "split.tsv", &p);
    if (!f) { free(p); return p ? SCFM_EIO : SCFM_ENOMEM; }
    if (x->gsplit) { /* gene task: the genes are split */
        fputs("gene\tlabel\tsplit\n", f);
        for (size_t t = 0; t < x->d.V; t++) {
            if (x->tok_lab[t] < 0) continue;
            const char *g = x->d.vocab ? scfm_vocab_token(x->d.vocab, t) : NULL;
            fprintf(f, "%s\t%s\t%s\n", g ? g : "?", x->cls.s[x->tok_lab[t]],
                    x->gsplit[t] == SPLIT_ABSENT ? "absent" : split_name(x->gsplit[t]));
        }
        return close_out(f, p);
    }
    fputs("cell_id\tsplit\n", f);
    for (size_t i = 0; i < scfm_corpus_n_cells(x->corpus); i++)
        fprintf(f, "%s\t%s\n", scfm_corpus_cell_id(x->corpus, i), split_name(x->split[i]));
    return close_out(f, p);
}

static void prob_header(FILE *f, const ft_strlist *cls) {
    for (size_t c = 0; c < cls->n; c++) fprintf(f, "\tprob_%s", cls->s[c]);
    fputc('\n', f);
}

static int write_predictions(const ft_ctx *x) {
    char *p;
    FILE *f = open_out(x, "test_predictions.tsv", &p);
    if (!f) { free(p); return p ? SCFM_EIO : SCFM_ENOMEM; }
    const ft_preds *pr = &x->preds;
    int gene = x->d.head == SCFM_HEAD_TOKCLS;
    fputs(gene ? "cell_id\tgene\tposition\tlabel\tpredicted" : "cell_id\tlabel\tpredicted", f);
    prob_header(f, &x->cls);
    for (size_t i = 0; i < pr->n; i++) {
        fprintf(f, "%s", scfm_corpus_cell_id(x->corpus, pr->cell[i]));
        if (gene) {
            const char *g = x->d.vocab ? scfm_vocab_token(x->d.vocab, (size_t)pr->token[i]) : NULL;
            if (g) fprintf(f, "\t%s\t%zu", g, pr->pos[i]);
            else fprintf(f, "\t%d\t%zu", (int)pr->token[i], pr->pos[i]);
        }
        fprintf(f, "\t%s\t%s", x->cls.s[pr->truth[i]], x->cls.s[pr->pred[i]]);
        for (size_t c = 0; c < x->cls.n; c++) fprintf(f, "\t%.7g", (double)pr->prob[i * x->cls.n + c]);
        fputc('\n', f);
    }
    return close_out(f, p);
}

/* Gene task: the test tokens averaged per held-out gene (mean probabilities, then argmax),
 * and accuracy / macro-F1 over those genes. */
static int gene_test_metrics(ft_ctx *x) {
    size_t V = x->d.V, C = x->cls.n, G = 0;
    const ft_preds *p = &x->preds;
    double *sum = scfm_calloc(V && C ? V * C : 1, sizeof *sum);
    size_t *cnt = scfm_calloc(V ? V : 1, sizeof *cnt);
    int rc = sum && cnt ? SCFM_OK : SCFM_ENOMEM;
    for (size_t i = 0; !rc && i < p->n; i++) {
        size_t t = (size_t)p->token[i];
        if (t >= V) continue;
        cnt[t]++;
        for (size_t c = 0; c < C; c++) sum[t * C + c] += p->prob[i * C + c];
    }
    for (size_t t = 0; !rc && t < V; t++) G += cnt[t] > 0;
    x->gt_n_genes = G;
    x->gt_tok = rc ? NULL : scfm_calloc(G ? G : 1, sizeof *x->gt_tok);
    x->gt_truth = rc ? NULL : scfm_calloc(G ? G : 1, sizeof *x->gt_truth);
    x->gt_pred = rc ? NULL : scfm_calloc(G ? G : 1, sizeof *x->gt_pred);
    x->gt_count = rc ? NULL : scfm_calloc(G ? G : 1, sizeof *x->gt_count);
    x->gt_prob = rc ? NULL : scfm_calloc(G && C ? G * C : 1, sizeof *x->gt_prob);
    if (!rc && (!x->gt_tok || !x->gt_truth || !x->gt_pred || !x->gt_count || !x->gt_prob)) rc = SCFM_ENOMEM;
    for (size_t t = 0, g = 0; !rc && t < V; t++) {
        if (!cnt[t]) continue;
        float *pr = x->gt_prob + g * C;
        for (size_t c = 0; c < C; c++) pr[c] = (float)(sum[t * C + c] / (double)cnt[t]);
        x->gt_tok[g] = (int32_t)t;
        x->gt_truth[g] = x->tok_lab[t];
        x->gt_pred[g] = ft_argmax(pr, C);
        x->gt_count[g] = cnt[t];
        g++;
    }
    x->gmet.accuracy = x->gmet.macro_f1 = NAN;
    if (!rc && G) {
        size_t *conf = scfm_calloc(C * C, sizeof *conf), *sup = scfm_calloc(C, sizeof *sup);
        double *pr = scfm_calloc(C, sizeof *pr), *re = scfm_calloc(C, sizeof *re), *f1 = scfm_calloc(C, sizeof *f1);
        rc = conf && sup && pr && re && f1 ? scfm_cls_metrics_compute(x->gt_truth, x->gt_pred, G, C, &x->gmet, conf, pr,
                                                                     re, f1, sup) : SCFM_ENOMEM;
        free(conf);
        free(sup);
        free(pr);
        free(re);
        free(f1);
    }
    free(sum);
    free(cnt);
    return rc;
}

static int write_test_genes(const ft_ctx *x) {
    char *p;
    FILE *f = open_out(x, "test_genes.tsv", &p);
    if (!f) { free(p); return p ? SCFM_EIO : SCFM_ENOMEM; }
    size_t C = x->cls.n;
    fputs("gene\tlabel\tn\tpredicted", f);
    prob_header(f, &x->cls);
    for (size_t g = 0; g < x->gt_n_genes; g++) {
        const char *name = x->d.vocab ? scfm_vocab_token(x->d.vocab, (size_t)x->gt_tok[g]) : NULL;
        if (name) fputs(name, f);
        else fprintf(f, "%d", (int)x->gt_tok[g]);
        fprintf(f, "\t%s\t%zu\t%s", x->cls.s[x->gt_truth[g]], x->gt_count[g], x->cls.s[x->gt_pred[g]]);
        for (size_t c = 0; c < C; c++) fprintf(f, "\t%.7g", (double)x->gt_prob[g * C + c]);
        fputc('\n', f);
    }
    return close_out(f, p);
}

static int write_confusion(const ft_ctx *x) {
    char *p;
    FILE *f = open_out(x, "confusion.tsv", &p);
    if (!f) { free(p); return p ? SCFM_EIO : SCFM_ENOMEM; }
    size_t C = x->cls.n;
    fputs("true\\predicted", f);
    for (size_t c = 0; c < C; c++) fprintf(f, "\t%s", x->cls.s[c]);
    fputc('\n', f);
    for (size_t r = 0; r < C; r++) {
        fprintf(f, "%s", x->cls.s[r]);
        for (size_t c = 0; c < C; c++) fprintf(f, "\t%zu", x->ev.confusion ? x->ev.confusion[r * C + c] : (size_t)0);
        fputc('\n', f);
    }
    return close_out(f, p);
}

static void write_settings(FILE *f, const ft_ctx *x) {
    const scfm_finetune_config *c = &x->c;
    fprintf(f, "  \"settings\": {\"batch_size\": %zu, \"epochs\": %.9g, \"max_steps\": %ld, \"lr\": %.9g, \"schedule\": \"%s\", "
            "\"warmup_steps\": %ld, \"weight_decay\": %.9g, \"max_grad_norm\": %.9g, \"freeze_layers\": %zu, "
            "\"random_init\": %s, \"class_weights\": %s, \"val_frac\": %.9g, \"test_frac\": %.9g, \"train_fraction\": %.9g, \"patience\": %ld, "
            "\"eval_every\": %ld, \"mega_mult\": %zu, \"seed\": %llu, \"drop_labels\": [",
            c->batch_size, c->epochs, c->max_steps, c->lr, scfm_sched_name(c->schedule), c->warmup_steps, c->weight_decay,
            c->max_grad_norm, c->freeze_layers, c->random_init ? "true" : "false", c->class_weights ? "true" : "false", c->val_frac, c->test_frac,
            c->train_fraction, c->patience, c->eval_every, c->mega_mult, (unsigned long long)c->seed);
    for (size_t k = 0; k < x->job->n_drop_labels; k++) {
        if (k) fputs(", ", f);
        scfm_json_write_string(f, x->job->drop_labels[k]);
    }
    fputs("], \"split_column\": ", f);
    if (x->job->split_column) scfm_json_write_string(f, x->job->split_column);
    else fputs("null", f);
    fputs(", \"group_column\": ", f);
    if (x->job->group_column) scfm_json_write_string(f, x->job->group_column);
    else fputs("null", f);
    fprintf(f, ", \"folds\": %zu, \"fold\": %ld, \"min_class_fraction\": %.9g, \"max_per_class\": %ld},\n", c->folds,
            x->fold < 0 ? -1L : x->fold + 1, c->min_class_fraction, c->max_per_class);
}

static int write_metrics(const ft_ctx *x, double seconds) {
    char *p;
    FILE *f = open_out(x, "metrics.json", &p);
    if (!f) { free(p); return p ? SCFM_EIO : SCFM_ENOMEM; }
    const scfm_finetune_job *j = x->job;
    const ft_eval *e = &x->ev;
    fprintf(f, "{\n  \"format\": \"scfm-finetune-metrics\",\n  \"version\": 1,\n  \"task\": \"%s\",\n",
            j->task == SCFM_FT_CELL ? "cell" : "gene");
    fputs("  \"label\": ", f);
    scfm_json_write_string(f, j->task == SCFM_FT_CELL ? j->label_column : j->gene_labels);
    fputs(",\n  \"classes\": [", f);
    for (size_t c = 0; c < x->cls.n; c++) {
        if (c) fputs(", ", f);
        scfm_json_write_string(f, x->cls.s[c]);
    }
    fputs("],\n  ", f);
    ft_json_num(f, "accuracy", e->met.accuracy);
    fputs(",\n  ", f);
    ft_json_num(f, "macro_f1", e->met.macro_f1);
    fputs(",\n  ", f);
    ft_json_num(f, "loss", e->loss);
    fprintf(f, ",\n  \"n_test_samples\": %zu,\n  \"per_class\": {", x->preds.n);
    for (size_t c = 0; c < x->cls.n; c++) {
        fputs(c ? ",\n    " : "\n    ", f);
        scfm_json_write_string(f, x->cls.s[c]);
        fputs(": {", f);
        ft_json_num(f, "precision", e->precision ? e->precision[c] : NAN);
        fputs(", ", f);
        ft_json_num(f, "recall", e->recall ? e->recall[c] : NAN);
        fputs(", ", f);
        ft_json_num(f, "f1", e->f1 ? e->f1[c] : NAN);
        fprintf(f, ", \"support\": %zu}", e->support ? e->support[c] : (size_t)0);
    }
    fputs("\n  },\n  \"validation\": {", f);
    ft_json_num(f, "macro_f1", x->nset[SPLIT_VAL] ? x->best_f1 : NAN);
    fputs(", ", f);
    ft_json_num(f, "accuracy", x->nset[SPLIT_VAL] ? x->best_acc : NAN);
    fputs(", ", f);
    ft_json_num(f, "loss", x->nset[SPLIT_VAL] ? x->best_loss : NAN);
    fprintf(f, ", \"best_step\": %ld},\n", x->best_step);
    fprintf(f, "  \"n_train\": %zu,\n  \"n_val\": %zu,\n  \"n_test\": %zu,\n  \"n_unused\": %zu,\n  \"n_excluded\": %zu,\n",
            x->nset[SPLIT_TRAIN], x->nset[SPLIT_VAL], x->nset[SPLIT_TEST], x->nset[SPLIT_UNUSED], x->n_excluded);
    if (x->gsplit) {
        fprintf(f, "  \"genes\": {\"n_train\": %zu, \"n_val\": %zu, \"n_test\": %zu, \"n_unused\": %zu, \"n_absent\": %zu},\n"
                "  \"per_gene\": {", x->ngenes[0], x->ngenes[1], x->ngenes[2], x->ngenes[3], x->ngenes[4]);
        ft_json_num(f, "accuracy", x->gmet.accuracy);
        fputs(", ", f);
        ft_json_num(f, "macro_f1", x->gmet.macro_f1);
        fprintf(f, ", \"n\": %zu},\n", x->gt_n_genes);
    }
    fprintf(f, "  \"steps\": %ld,\n  \"total_steps\": %ld,\n  \"steps_per_epoch\": %ld,\n  \"stopped_early\": %s,\n"
            "  \"n_truncated\": %zu,\n  \"seconds\": %.3f,\n", x->step, x->total, x->spe, x->stopped_early ? "true" : "false",
            x->n_truncated, seconds);
    write_settings(f, x);
    fputs("  \"corpus\": ", f);
    scfm_json_write_string(f, j->corpus);
    fputs(",\n  \"model\": ", f);
    scfm_json_write_string(f, j->model_dir);
    fputs(",\n  \"command\": ", f);
    scfm_json_write_string(f, j->command ? j->command : "");
    fprintf(f, ",\n  \"scfm_version\": \"%s\"\n}\n", SCFM_VERSION);
    return close_out(f, p);
}

static int write_best(ft_ctx *x) {
    memcpy(x->m->params, x->best, x->m->n_params * sizeof(float));
    char *dir = ft_path_join(x->tmp, "best");
    if (!dir) return SCFM_ENOMEM;
    int rc = scfm_model_save(x->m, dir);
    char *src = rc ? NULL : ft_path_join(scfm_corpus_dir(x->corpus), "vocab.tsv");
    char *dst = rc ? NULL : ft_path_join(dir, "vocab.tsv");
    if (!rc) rc = src && dst ? ft_copy_file(src, dst) : SCFM_ENOMEM;
    free(src);
    free(dst);
    char *fj = rc ? NULL : ft_path_join(dir, "finetune.json");
    FILE *f = fj ? fopen(fj, "w") : NULL;
    if (!rc && !f) rc = fj ? scfm_error(SCFM_EIO, "%s: cannot create", fj) : SCFM_ENOMEM;
    if (f) {
        fprintf(f, "{\"format\": \"scfm-finetune\", \"task\": \"%s\", \"label\": ", x->job->task == SCFM_FT_CELL ? "cell" : "gene");
        scfm_json_write_string(f, x->job->task == SCFM_FT_CELL ? x->job->label_column : x->job->gene_labels);
        fprintf(f, ", \"best_step\": %ld, \"base_model\": ", x->best_step);
        scfm_json_write_string(f, x->job->model_dir);
        fputs("}\n", f);
        if (fclose(f) != 0) rc = scfm_error(SCFM_EIO, "%s: write failed", fj);
    }
    free(fj);
    if (!rc && x->tok_lab) { /* the gene labels travel with the model (predict shows them) */
        char *gp = ft_path_join(dir, "gene_labels.tsv");
        if (!gp) rc = SCFM_ENOMEM;
        else rc = ft_copy_file(x->job->gene_labels, gp);
        free(gp);
    }
    free(dir);
    return rc;
}

/* The output directory of a run: dir (created here) with log.jsonl open. */
static int prepare_out(ft_ctx *x, const char *dir) {
    if (mkdir(dir, 0777) != 0) return scfm_error(SCFM_EIO, "%s: cannot create: %s", dir, strerror(errno));
    x->tmp = dir;
    char *lp = ft_path_join(x->tmp, "log.jsonl");
    if (!lp) return SCFM_ENOMEM;
    x->log = fopen(lp, "w");
    int rc = x->log ? SCFM_OK : scfm_error(SCFM_EIO, "%s: cannot create: %s", lp, strerror(errno));
    free(lp);
    return rc;
}

static int close_log(ft_ctx *x) {
    if (!x->log) return SCFM_OK;
    int bad = fclose(x->log) != 0;
    x->log = NULL;
    return bad ? scfm_error(SCFM_EIO, "%s/log.jsonl: write failed", x->tmp) : SCFM_OK;
}


static void teardown(ft_ctx *x) {
    if (x->log) fclose(x->log);
    for (int s = 0; s < 3; s++) free(x->gl[s]);
    free(x->gsplit);
    free(x->gt_tok);
    free(x->gt_truth);
    free(x->gt_pred);
    free(x->gt_count);
    free(x->gt_prob);
    ft_preds_free(&x->preds);
    ft_eval_free(&x->ev);
    ft_batch_free(&x->batch);
    ft_batch_free(&x->ebatch);
    scfm_sampler_free(x->sampler);
    if (x->have_opt) scfm_adamw_free(&x->opt);
    scfm_model_free(x->m);
    free(x->best);
    for (int s = 0; s < 4; s++) free(x->sets[s]);
    free(x->split);
    free(x->strat);
    free(x->cell_lab);
    free(x->tok_lab);
    free(x->cw);
    ft_strlist_free(&x->cls);
    scfm_vocab_free(x->d.vocab);
    scfm_corpus_close(x->corpus);
}

static int setup(ft_ctx *x) {
    const scfm_finetune_job *j = x->job;
    if (!j->corpus || !j->model_dir) return scfm_error(SCFM_EINVAL, "finetune: corpus and model directory are required");
    if (j->task == SCFM_FT_GENE && j->label_column)
        return scfm_error(SCFM_EINVAL, "finetune: a label column and a gene label table exclude each other");
    int rc = scfm_finetune_config_validate(&x->c);
    if (rc) return rc;
    scfm_bert_config cfg;
    scfm_bert_config_init(&cfg);
    if ((rc = ft_load_config(j->model_dir, &cfg))) return rc;
    if (!(x->corpus = scfm_corpus_open(j->corpus))) rc = SCFM_EIO;
    if (!rc) rc = ft_check_vocab(&cfg, j->model_dir, x->corpus);
    if (!rc && x->c.freeze_layers > cfg.num_hidden_layers)
        rc = scfm_error(SCFM_EINVAL, "%s: freeze_layers %zu exceeds the model's %zu layers", j->model_dir,
                        x->c.freeze_layers, cfg.num_hidden_layers);
    if (!rc) {
        x->d.corpus = x->corpus;
        x->d.vocab = scfm_corpus_load_vocab(x->corpus); /* gene names for the outputs */
        if (!x->d.vocab && j->task == SCFM_FT_GENE) rc = SCFM_EFORMAT;
        else scfm_clear_error();
    }
    if (!rc) x->d.max_len = cfg.max_position_embeddings; /* the gene split looks at the positions seen */
    if (!rc) rc = setup_labels(x);
    if (!rc) rc = setup_split(x);
    if (!rc) rc = setup_model(x, &cfg);
    if (!rc && x->c.class_weights) rc = make_class_weights(x); /* needs the model's max_len */
    if (!rc) rc = setup_sampler(x);
    scfm_bert_config_free(&cfg);
    return rc;
}

static void describe(const ft_ctx *x) {
    const scfm_finetune_job *j = x->job;
    scfm_log(SCFM_LOG_INFO, "finetune: %s classification, %zu classes; cells: %zu train, %zu validation, %zu test, "
             "%zu unused, %zu excluded (no label)", j->task == SCFM_FT_CELL ? "cell" : "gene", x->cls.n,
             x->nset[SPLIT_TRAIN], x->nset[SPLIT_VAL], x->nset[SPLIT_TEST], x->nset[SPLIT_UNUSED], x->n_excluded);
    scfm_log(SCFM_LOG_INFO, "finetune: model %s%s: %zu layers, hidden %zu, %zu parameters%s; batch %zu, %ld steps per "
             "epoch, %ld steps, warm-up %ld, lr %g (%s)", j->model_dir, x->c.random_init ? " (random weights)" : "",
             x->m->cfg.num_hidden_layers, x->m->cfg.hidden_size, scfm_model_num_params(x->m),
             x->c.freeze_layers ? " (embeddings and first layers frozen)" : "", x->c.batch_size, x->spe, x->total,
             x->warmup, x->c.lr, scfm_sched_name(x->c.schedule));
}

/* One training run (fold < 0: the plain split) writing into dir. */
static int run_one(const scfm_finetune_job *job, long fold, const char *dir, scfm_finetune_summary *out) {
    ft_ctx x;
    memset(&x, 0, sizeof x);
    x.job = job;
    x.c = job->cfg;
    x.fold = fold;
    x.best_step = -1;
    x.best_f1 = x.best_loss = x.best_acc = NAN;
    x.gmet.accuracy = x.gmet.macro_f1 = NAN;
    double t_start = scfm_now();
    memset(out, 0, sizeof *out);
    if (fold >= 0) scfm_log(SCFM_LOG_INFO, "finetune: fold %ld of %zu", fold + 1, job->cfg.folds);
    int rc = setup(&x);
    if (!rc) rc = prepare_out(&x, dir);
    if (!rc) {
        describe(&x);
        rc = loop(&x);
    }
    if (!rc) rc = write_best(&x);
    ft_data dt = view(&x, SPLIT_TEST);
    if (!rc) rc = ft_evaluate(x.m, &dt, x.sets[SPLIT_TEST], x.nset[SPLIT_TEST], 64, &x.ebatch, &x.preds, &x.ev);
    if (!rc && x.gsplit) rc = gene_test_metrics(&x);
    if (!rc && x.nset[SPLIT_TEST])
        scfm_log(SCFM_LOG_INFO, "finetune: test (%zu %s, model of step %ld): accuracy %.4f, macro-F1 %.4f",
                 x.preds.n, job->task == SCFM_FT_CELL ? "cells" : "labelled tokens of held-out genes", x.best_step,
                 x.ev.met.accuracy, x.ev.met.macro_f1);
    if (!rc && x.gsplit && x.gt_n_genes)
        scfm_log(SCFM_LOG_INFO, "finetune: test per held-out gene (%zu genes): accuracy %.4f, macro-F1 %.4f",
                 x.gt_n_genes, x.gmet.accuracy, x.gmet.macro_f1);
    if (!rc) rc = write_predictions(&x);
    if (!rc && x.gsplit) rc = write_test_genes(&x);
    if (!rc) rc = write_confusion(&x);
    if (!rc) rc = write_split(&x);
    if (!rc) rc = write_metrics(&x, scfm_now() - t_start);
    if (!rc) rc = close_log(&x);
    out->n_classes = x.cls.n;
    out->n_train = x.nset[SPLIT_TRAIN];
    out->n_val = x.nset[SPLIT_VAL];
    out->n_test = x.nset[SPLIT_TEST];
    out->n_genes_train = x.ngenes[SPLIT_TRAIN];
    out->n_genes_val = x.ngenes[SPLIT_VAL];
    out->n_genes_test = x.ngenes[SPLIT_TEST];
    out->steps = x.step;
    out->total_steps = x.total;
    out->best_step = x.best_step;
    out->stopped_early = x.stopped_early;
    out->best_val_macro_f1 = x.nset[SPLIT_VAL] ? x.best_f1 : NAN;
    out->test_accuracy = x.preds.n ? x.ev.met.accuracy : NAN;
    out->test_macro_f1 = x.preds.n ? x.ev.met.macro_f1 : NAN;
    out->test_loss = x.preds.n ? x.ev.loss : NAN;
    out->test_n = x.preds.n;
    out->test_gene_accuracy = x.gt_n_genes ? x.gmet.accuracy : NAN;
    out->test_gene_macro_f1 = x.gt_n_genes ? x.gmet.macro_f1 : NAN;
    out->sd_accuracy = out->sd_macro_f1 = NAN;
    out->seconds = scfm_now() - t_start;
    teardown(&x);
    return rc;
}

/* mean and sample sd (ddof 1) of v[n], NaNs left out. */
static void mean_sd(const double *v, size_t n, double *mean, double *sd) {
    double s = 0, q = 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(v[i])) { s += v[i]; k++; }
    *mean = k ? s / (double)k : NAN;
    for (size_t i = 0; i < n; i++)
        if (isfinite(v[i])) q += (v[i] - *mean) * (v[i] - *mean);
    *sd = k > 1 ? sqrt(q / (double)(k - 1)) : NAN;
}

enum { CV_ACC, CV_F1, CV_LOSS, CV_VAL_F1, CV_GENE_ACC, CV_GENE_F1, CV_N };
static const char *const CV_NAMES[CV_N] = {"accuracy", "macro_f1", "loss", "val_macro_f1", "gene_accuracy", "gene_macro_f1"};

static double cv_value(const scfm_finetune_summary *s, int k) {
    switch (k) {
    case CV_ACC: return s->test_accuracy;
    case CV_F1: return s->test_macro_f1;
    case CV_LOSS: return s->test_loss;
    case CV_VAL_F1: return s->best_val_macro_f1;
    case CV_GENE_ACC: return s->test_gene_accuracy;
    default: return s->test_gene_macro_f1;
    }
}

static int write_cv_metrics(const scfm_finetune_job *job, const char *dir, const scfm_finetune_summary *fs, size_t K,
                            double mean[CV_N], double sd[CV_N]) {
    char *p = ft_path_join(dir, "metrics.json");
    if (!p) return SCFM_ENOMEM;
    FILE *f = fopen(p, "w");
    if (!f) {
        int rc = scfm_error(SCFM_EIO, "%s: cannot create: %s", p, strerror(errno));
        free(p);
        return rc;
    }
    fprintf(f, "{\n  \"format\": \"scfm-finetune-cv\",\n  \"version\": 1,\n  \"task\": \"%s\",\n  \"folds\": %zu,\n"
            "  \"per_fold\": [", job->task == SCFM_FT_CELL ? "cell" : "gene", K);
    for (size_t k = 0; k < K; k++) {
        fprintf(f, "%s\n    {\"fold\": %zu, \"dir\": \"fold-%zu\", ", k ? "," : "", k + 1, k + 1);
        for (int m = 0; m < CV_N; m++) {
            ft_json_num(f, CV_NAMES[m], cv_value(&fs[k], m));
            fputs(", ", f);
        }
        fprintf(f, "\"n_train\": %zu, \"n_val\": %zu, \"n_test\": %zu, \"n_test_samples\": %zu", fs[k].n_train,
                fs[k].n_val, fs[k].n_test, fs[k].test_n);
        if (job->task == SCFM_FT_GENE)
            fprintf(f, ", \"n_genes_train\": %zu, \"n_genes_val\": %zu, \"n_genes_test\": %zu", fs[k].n_genes_train,
                    fs[k].n_genes_val, fs[k].n_genes_test);
        fprintf(f, ", \"best_step\": %ld}", fs[k].best_step);
    }
    fputs("\n  ],\n  \"mean\": {", f);
    for (int m = 0; m < CV_N; m++) {
        if (m) fputs(", ", f);
        ft_json_num(f, CV_NAMES[m], mean[m]);
    }
    fputs("},\n  \"sd\": {", f);
    for (int m = 0; m < CV_N; m++) {
        if (m) fputs(", ", f);
        ft_json_num(f, CV_NAMES[m], sd[m]);
    }
    fputs("},\n  \"sd_ddof\": 1,\n  \"command\": ", f);
    scfm_json_write_string(f, job->command ? job->command : "");
    fprintf(f, ",\n  \"scfm_version\": \"%s\"\n}\n", SCFM_VERSION);
    int bad = ferror(f);
    bad |= fclose(f) != 0;
    int rc = bad ? scfm_error(SCFM_EIO, "%s: write failed", p) : SCFM_OK;
    free(p);
    return rc;
}

int scfm_finetune(const scfm_finetune_job *job, scfm_finetune_summary *out) {
    scfm_finetune_summary tmp_s;
    if (!out) out = &tmp_s;
    memset(out, 0, sizeof *out);
    double t0 = scfm_now();
    const char *o = job->out_dir;
    if (!o || !o[0]) return scfm_error(SCFM_EINVAL, "finetune: no output directory");
    int rc = scfm_finetune_config_validate(&job->cfg);
    if (rc) return rc;
    struct stat st;
    if (stat(o, &st) == 0 && !job->force)
        return scfm_error(SCFM_EINVAL, "%s: already exists (choose another -o or use --force)", o);
    size_t n = strlen(o) + 32;
    char *tmp = scfm_malloc(n);
    if (!tmp) return SCFM_ENOMEM;
    snprintf(tmp, n, "%s.tmp.%ld", o, (long)getpid());
    scfm_remove_tree(tmp);
    size_t K = job->cfg.folds;
    if (K < 2) {
        rc = run_one(job, -1, tmp, out);
    } else {
        scfm_finetune_summary *fs = scfm_calloc(K, sizeof *fs);
        if (!fs) rc = SCFM_ENOMEM;
        else if (mkdir(tmp, 0777) != 0) rc = scfm_error(SCFM_EIO, "%s: cannot create: %s", tmp, strerror(errno));
        for (size_t k = 0; !rc && k < K; k++) {
            char sub[64];
            snprintf(sub, sizeof sub, "fold-%zu", k + 1);
            char *d = ft_path_join(tmp, sub);
            rc = d ? run_one(job, (long)k, d, &fs[k]) : SCFM_ENOMEM;
            free(d);
        }
        double mean[CV_N], sd[CV_N], v[64];
        if (!rc) {
            for (int m = 0; m < CV_N; m++) {
                double *vals = K <= 64 ? v : scfm_calloc(K, sizeof *vals);
                if (!vals) { rc = SCFM_ENOMEM; break; }
                for (size_t k = 0; k < K; k++) vals[k] = cv_value(&fs[k], m);
                mean_sd(vals, K, &mean[m], &sd[m]);
                if (vals != v) free(vals);
            }
        }
        if (!rc) rc = write_cv_metrics(job, tmp, fs, K, mean, sd);
        if (!rc) {
            *out = fs[0];
            out->folds = K;
            out->test_accuracy = mean[CV_ACC];
            out->test_macro_f1 = mean[CV_F1];
            out->test_loss = mean[CV_LOSS];
            out->best_val_macro_f1 = mean[CV_VAL_F1];
            out->test_gene_accuracy = mean[CV_GENE_ACC];
            out->test_gene_macro_f1 = mean[CV_GENE_F1];
            out->sd_accuracy = sd[CV_ACC];
            out->sd_macro_f1 = sd[CV_F1];
            for (size_t k = 0; k < K; k++)
                scfm_log(SCFM_LOG_INFO, "finetune: fold %zu: test accuracy %.4f, macro-F1 %.4f", k + 1,
                         fs[k].test_accuracy, fs[k].test_macro_f1);
            scfm_log(SCFM_LOG_INFO, "finetune: %zu folds: test accuracy %.4f (sd %.4f), macro-F1 %.4f (sd %.4f)", K,
                     mean[CV_ACC], sd[CV_ACC], mean[CV_F1], sd[CV_F1]);
        }
        free(fs);
    }
    if (!rc) rc = scfm_install_dir(tmp, o);
    if (rc) scfm_remove_tree(tmp);
    free(tmp);
    out->seconds = scfm_now() - t0;
    return rc;
}
