/* scfm finetune / scfm predict: cell (obs column) or gene classification from a
 * checkpoint (docs/computation.md section 7), and predictions of the fine-tuned model. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef SCFM_HAVE_OPENMP
#include <omp.h>
#endif

#include "cli.h"
#include "scfm/finetune.h"

static void finetune_help(void) {
    printf("usage: scfm finetune CORPUS -m MODEL_DIR -o OUT --label COLUMN [options]      (cell classification)\n"
           "       scfm finetune CORPUS -m MODEL_DIR -o OUT --gene-labels genes.tsv [options] (gene classification)\n\n"
           "  CORPUS               token corpus (scfm tokenize ... --obs COLUMN carries the labels)\n"
           "  -m, --model DIR      pretrained checkpoint (config.json + model.safetensors)\n"
           "  -o, --out OUT        output directory (built as OUT.tmp.<pid>, renamed when complete)\n"
           "  --label COLUMN       obs column with the cell labels (empty values are left out)\n"
           "  --gene-labels FILE   TSV gene_id<TAB>label: token classification, loss only on labelled genes\n"
           "  --drop-label VALUE   leave out cells (genes) with this label; repeatable (e.g. --drop-label '?')\n"
           "split (stratified by label; gene task: the labelled genes are split, never the cells):\n"
           "  --split-column COL   obs column with train / val (validation) / test instead (cell task)\n"
           "  --val-frac F 0.1     --test-frac F 0.1\n"
           "  --folds K            K-fold cross-validation (OUT/fold-1..K, metrics.json: per fold, mean, sd)\n"
           "  --group-column COL   keep the groups of an obs column (donor, sample) apart (cell task)\n"
           "  --train-fraction F   keep a stratified share F of the training cells / genes (1)\n"
           "  --min-class-fraction F  leave out classes below share F of the labelled cells / genes (0)\n"
           "  --max-cells-per-class N at most N cells (genes) per class, seeded (0: all)\n"
           "training (docs/computation.md section 7 defaults):\n"
           "  --epochs E 10        --max-steps N (overrides --epochs)    --batch-size N 12\n"
           "  --lr X 5e-5          --schedule linear|cosine|constant|constant_with_warmup\n"
           "  --warmup-steps N 500 --weight-decay X 0.001   --max-grad-norm X 1.0 (0: off)\n"
           "  --freeze-layers N    freeze the embeddings and the first N encoder layers (0)\n"
           "  --random-init        same architecture, random weights (baseline)\n"
           "  --class-weights      weight the loss by class: n / (C * n_class) over the training labels\n"
           "  --eval-every N       evaluate every N steps (default: once per epoch)\n"
           "  --patience N 3       stop after N evaluations without a better validation macro-F1 (0: never)\n"
           "  --log-every N 10     --seed N 42    --threads N    --force (replace OUT)\n\n"
           "OUT gets best/ (the model with the best validation macro-F1: config.json with id2label,\n"
           "model.safetensors, vocab.tsv), metrics.json (test accuracy, macro-F1, per-class scores),\n"
           "confusion.tsv, test_predictions.tsv, split.tsv, log.jsonl. A summary goes to stdout.\n");
}

static void predict_help(void) {
    printf("usage: scfm predict CORPUS -m OUT/best -o predictions.tsv|.csv|.h5ad [--into USER.h5ad]\n"
           "                    [--batch-size N] [--per-token] [--threads N]\n\n"
           "The format follows -o: .tsv (tab), .csv (comma, quoted as RFC 4180), .h5ad (cell classifier:\n"
           "  obs scfm_prediction (categorical), scfm_prediction_prob; obsm scfm_probs (columns: uns\n"
           "  scfm_probs_classes); the corpus's obs columns as categoricals). --into USER.h5ad writes\n"
           "  into a copy of the user's own file (its cells matched by obs name; others get NA).\n"
           "Cell classifier: one row per cell: cell_id, predicted, prob_<class>...\n"
           "Gene classifier: one row per gene seen in the corpus: gene, n (occurrences), predicted,\n"
           "  prob_<class>... (probabilities averaged over its occurrences); with --per-token one row\n"
           "  per (cell, gene): cell_id, gene, position, predicted, prob_<class>...\n"
           "Cells longer than the model's positions are truncated (with a warning).\n");
}

static const char *FT = "finetune";

static int parse_finetune(int argc, char **argv, scfm_finetune_job *j, const char **drops, int *threads) {
    scfm_finetune_config *c = &j->cfg;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long l;
        double d;
        if (o[0] != '-' || !o[1]) {
            if (j->corpus) return cli_usage_error(FT, "more than one corpus given ('%s' and '%s')", j->corpus, o);
            j->corpus = o;
            continue;
        }
        if (!strcmp(o, "--random-init")) { c->random_init = 1; continue; }
        if (!strcmp(o, "--class-weights")) { c->class_weights = 1; continue; }
        if (!strcmp(o, "--force")) { j->force = 1; continue; }
        if (!v) return cli_usage_error(FT, "%s needs a value", o);
        i++;
        if (!strcmp(o, "-m") || !strcmp(o, "--model")) j->model_dir = v;
        else if (!strcmp(o, "-o") || !strcmp(o, "--out")) j->out_dir = v;
        else if (!strcmp(o, "--label")) j->label_column = v;
        else if (!strcmp(o, "--gene-labels")) j->gene_labels = v;
        else if (!strcmp(o, "--drop-label")) drops[j->n_drop_labels++] = v;
        else if (!strcmp(o, "--split-column")) j->split_column = v;
        else if (!strcmp(o, "--group-column")) j->group_column = v;
        else if (!strcmp(o, "--folds")) {
            if (cli_long(FT, o, v, 2, 1000, &l)) return 2;
            c->folds = (size_t)l;
        } else if (!strcmp(o, "--min-class-fraction")) {
            if (cli_double(FT, o, v, 0, 0.999999, &c->min_class_fraction)) return 2;
        } else if (!strcmp(o, "--max-cells-per-class")) {
            if (cli_long(FT, o, v, 1, 1000000000L, &c->max_per_class)) return 2;
        }
        else if (!strcmp(o, "--val-frac")) { if (cli_double(FT, o, v, 0, 0.99, &c->val_frac)) return 2; }
        else if (!strcmp(o, "--test-frac")) { if (cli_double(FT, o, v, 0, 0.99, &c->test_frac)) return 2; }
        else if (!strcmp(o, "--train-fraction")) {
            if (cli_double(FT, o, v, 1e-9, 1, &c->train_fraction)) return 2;
        } else if (!strcmp(o, "--epochs")) { if (cli_double(FT, o, v, 1e-9, 1e6, &c->epochs)) return 2; }
        else if (!strcmp(o, "--max-steps")) { if (cli_long(FT, o, v, 1, 1000000000L, &c->max_steps)) return 2; }
        else if (!strcmp(o, "--batch-size")) {
            if (cli_long(FT, o, v, 1, 1000000, &l)) return 2;
            c->batch_size = (size_t)l;
        } else if (!strcmp(o, "--lr")) {
            if (cli_double(FT, o, v, 1e-12, 10, &c->lr)) return 2;
        } else if (!strcmp(o, "--schedule")) {
            if (scfm_sched_from_name(v, &c->schedule)) return cli_usage_error(FT, "--schedule: %s", scfm_last_error());
        } else if (!strcmp(o, "--warmup-steps")) { if (cli_long(FT, o, v, 0, 1000000000L, &c->warmup_steps)) return 2; }
        else if (!strcmp(o, "--weight-decay")) { if (cli_double(FT, o, v, 0, 10, &c->weight_decay)) return 2; }
        else if (!strcmp(o, "--max-grad-norm")) { if (cli_double(FT, o, v, 0, 1e9, &c->max_grad_norm)) return 2; }
        else if (!strcmp(o, "--freeze-layers")) {
            if (cli_long(FT, o, v, 0, 100000, &l)) return 2;
            c->freeze_layers = (size_t)l;
        } else if (!strcmp(o, "--patience")) { if (cli_long(FT, o, v, 0, 1000000000L, &c->patience)) return 2; }
        else if (!strcmp(o, "--eval-every")) { if (cli_long(FT, o, v, 1, 1000000000L, &c->eval_every)) return 2; }
        else if (!strcmp(o, "--log-every")) { if (cli_long(FT, o, v, 1, 1000000000L, &c->log_every)) return 2; }
        else if (!strcmp(o, "--seed")) {
            if (cli_double(FT, o, v, 0, 9007199254740992.0, &d)) return 2;
            if (d != floor(d)) return cli_usage_error(FT, "--seed: '%s' is not an integer", v);
            c->seed = (uint64_t)d;
        } else if (!strcmp(o, "--threads")) {
            if (cli_long(FT, o, v, 1, 4096, &l)) return 2;
            *threads = (int)l;
        } else return cli_usage_error(FT, "unknown option %s", o);
    }
    if (!j->corpus) return cli_usage_error(FT, "no corpus given");
    if (!j->model_dir) return cli_usage_error(FT, "-m MODEL_DIR is required");
    if (!j->out_dir) return cli_usage_error(FT, "-o OUT is required");
    if (!j->label_column && !j->gene_labels) return cli_usage_error(FT, "--label COLUMN or --gene-labels FILE is required");
    if (j->label_column && j->gene_labels) return cli_usage_error(FT, "--label and --gene-labels exclude each other");
    if (c->val_frac + c->test_frac >= 1)
        return cli_usage_error(FT, "--val-frac %g + --test-frac %g must be below 1", c->val_frac, c->test_frac);
    j->task = j->gene_labels ? SCFM_FT_GENE : SCFM_FT_CELL;
    j->drop_labels = drops;
    return 0;
}

static void print_na(const char *key, double v) {
    if (isfinite(v)) printf("%s\t%.6g\n", key, v);
    else printf("%s\tNA\n", key);
}

int cmd_finetune(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        finetune_help();
        return argc < 2 ? 2 : 0;
    }
    scfm_finetune_job j;
    memset(&j, 0, sizeof j);
    scfm_finetune_config_init(&j.cfg);
    const char **drops = calloc((size_t)argc, sizeof *drops);
    if (!drops) return cli_errorf(FT, "out of memory");
    int threads = 0, rc = parse_finetune(argc, argv, &j, drops, &threads);
    if (!rc) {
#ifdef SCFM_HAVE_OPENMP
        if (threads > 0) omp_set_num_threads(threads);
#endif
        j.command = cli_cmdline();
        scfm_finetune_summary s;
        if (scfm_finetune(&j, &s)) rc = cli_fail(FT);
        else {
            printf("out\t%s\ntask\t%s\nclasses\t%zu\ncells_train\t%zu\ncells_val\t%zu\ncells_test\t%zu\n", j.out_dir,
                   j.task == SCFM_FT_CELL ? "cell" : "gene", s.n_classes, s.n_train, s.n_val, s.n_test);
            if (j.task == SCFM_FT_GENE)
                printf("genes_train\t%zu\ngenes_val\t%zu\ngenes_test\t%zu\n", s.n_genes_train, s.n_genes_val,
                       s.n_genes_test);
            if (s.folds >= 2) printf("folds\t%zu (split sizes of fold 1; test figures: mean over folds)\n", s.folds);
            printf("steps\t%ld of %ld%s\nbest_step\t%ld\n", s.steps, s.total_steps, s.stopped_early ? " (stopped early)" : "",
                   s.best_step);
            print_na("val_macro_f1", s.best_val_macro_f1);
            printf("test_n\t%zu\n", s.test_n);
            print_na("test_accuracy", s.test_accuracy);
            print_na("test_macro_f1", s.test_macro_f1);
            if (s.folds >= 2) {
                print_na("test_accuracy_sd", s.sd_accuracy);
                print_na("test_macro_f1_sd", s.sd_macro_f1);
            }
            if (j.task == SCFM_FT_GENE) {
                print_na("test_gene_accuracy", s.test_gene_accuracy);
                print_na("test_gene_macro_f1", s.test_gene_macro_f1);
            }
            cli_done(FT, "%s classification, %zu classes, %ld steps, test accuracy %.4g, macro-F1 %.4g -> %s",
                     j.task == SCFM_FT_CELL ? "cell" : "gene", s.n_classes, s.steps,
                     j.task == SCFM_FT_GENE ? s.test_gene_accuracy : s.test_accuracy,
                     j.task == SCFM_FT_GENE ? s.test_gene_macro_f1 : s.test_macro_f1, j.out_dir);
        }
    }
    free(drops);
    return rc;
}

int cmd_predict(int argc, char **argv) {
    static const char *P = "predict";
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        predict_help();
        return argc < 2 ? 2 : 0;
    }
    const char *corpus = NULL, *model = NULL, *out = NULL;
    scfm_predict_opts o;
    memset(&o, 0, sizeof o);
    int threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long l;
        if (a[0] != '-' || !a[1]) {
            if (corpus) return cli_usage_error(P, "more than one corpus given ('%s' and '%s')", corpus, a);
            corpus = a;
            continue;
        }
        if (!strcmp(a, "--per-token")) { o.per_token = 1; continue; }
        if (!v) return cli_usage_error(P, "%s needs a value", a);
        i++;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "-o") || !strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--into")) o.h5ad_template = v;
        else if (!strcmp(a, "--batch-size")) {
            if (cli_long(P, a, v, 1, 1000000, &l)) return 2;
            o.batch_cells = (size_t)l;
        } else if (!strcmp(a, "--threads")) {
            if (cli_long(P, a, v, 1, 4096, &l)) return 2;
            threads = (int)l;
        } else return cli_usage_error(P, "unknown option %s", a);
    }
    if (!corpus) return cli_usage_error(P, "no corpus given");
    if (!model) return cli_usage_error(P, "-m MODEL_DIR (a fine-tuned model, e.g. OUT/best) is required");
    if (!out) return cli_usage_error(P, "-o FILE is required");
    size_t ol = strlen(out);
    int h5 = ol >= 5 && !strcmp(out + ol - 5, ".h5ad");
    if (!h5 && !(ol >= 4 && (!strcmp(out + ol - 4, ".tsv") || !strcmp(out + ol - 4, ".txt") || !strcmp(out + ol - 4, ".csv"))))
        return cli_usage_error(P, "-o %s: unknown output type (use .tsv, .csv or .h5ad)", out);
    if (o.h5ad_template && !h5) return cli_usage_error(P, "--into %s needs -o FILE.h5ad", o.h5ad_template);
    o.command = cli_cmdline();
#ifdef SCFM_HAVE_OPENMP
    if (threads > 0) omp_set_num_threads(threads);
#else
    (void)threads;
#endif
    scfm_predict_summary s;
    if (scfm_predict(corpus, model, out, &o, &s)) return cli_fail(P);
    printf("out\t%s\nhead\t%s\ncells\t%zu\nrows\t%zu\nclasses\t%zu\ntruncated\t%zu\n", out, scfm_head_name(s.head),
           s.n_cells, s.n_rows, s.n_classes, s.n_truncated);
    cli_done(P, "%zu cells, %zu classes -> %s", s.n_cells, s.n_classes, out);
    return 0;
}
