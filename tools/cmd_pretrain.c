/* scfm pretrain: masked-gene pretraining of a BERT model on token corpora (docs/computation.md section 6). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#ifdef SCFM_HAVE_OPENMP
#include <omp.h>
#endif

#include "cli.h"
#include "scfm/model.h"
#include "scfm/train.h"

static const char *CMD = "pretrain";

static void pretrain_help(void) {
    printf("usage: scfm pretrain CORPUS... -o RUN --config PRESET|config.json [options]\n"
           "       scfm pretrain --resume RUN [--max-steps N] [--epochs E] [--stop-at N] [...]\n"
           "       mpirun -np K scfm pretrain ...      (data parallel: batch per rank, gradients all-reduced)\n\n"
           "model:\n"
           "  --config NAME|FILE   preset (%s) or a config.json\n"
           "  --init DIR           start from the weights of a model directory instead\n"
           "  --set KEY=VALUE      override a model config field (hidden_size=128, hidden_act=silu, ...)\n"
           "                       or a training setting (the options below without '--', '-' as '_')\n"
           "training (defaults: Geneformer V1):\n"
           "  --batch-size N 12    --grad-accum N 1    --max-steps N (0: from --epochs)    --epochs E 3\n"
           "  --lr X 1e-3          --schedule linear|cosine|constant|constant_with_warmup\n"
           "  --warmup-steps N 10000   --warmup-ratio R (overrides steps)   --weight-decay X 0.001\n"
           "  --beta1 0.9 --beta2 0.999 --adam-eps 1e-8 --max-grad-norm 1.0 (0: off)\n"
           "  --mask-prob 0.15 --mask-frac 0.8 --random-frac 0.1   --mega-mult 50 (length grouping)\n"
           "  --val-fraction 0.01  --val-max-cells 2000   --eval-every 500   --log-every 10\n"
           "  --save-every 1000    --keep N (0: keep all checkpoints)   --seed 42\n"
           "  --stop-at N          stop after step N without changing the schedule (resume later)\n"
           "  --truncate           cut cells longer than the model's positions (otherwise an error)\n"
           "  --baseline           also score the most-frequent-gene-per-position baseline\n"
           "other:\n"
           "  --resume RUN         continue RUN from its latest complete checkpoint\n"
           "  --force              start afresh in a RUN that holds a run\n"
           "  --threads N          OpenMP threads (OMP_NUM_THREADS=1: bit-reproducible)\n\n"
           "RUN gets config.json, pretrain.json, vocab.tsv, corpus-K.json, log.jsonl (JSON lines),\n"
           "checkpoint-STEP/ (model.safetensors, config.json, vocab.tsv, state.bin), latest, final.\n",
           scfm_bert_config_preset_names());
}

typedef struct {
    const char **corpora;
    size_t n_corpora;
    const char *out, *config, *init, *resume;
    const char **sets;
    size_t n_sets;
    int force, threads;
    scfm_pretrain_config cfg;
    char given[64][48];    /* training keys given on the command line */
    size_t n_given;
} args;

/* "--foo-bar" -> "foo_bar" in buf. */
static void opt_key(const char *opt, char *buf, size_t n) {
    snprintf(buf, n, "%s", opt + 2);
    for (char *p = buf; *p; p++)
        if (*p == '-') *p = '_';
}

static int set_training(args *a, const char *key, const char *val) {
    int rc = scfm_pretrain_config_set(&a->cfg, key, val);
    if (rc == SCFM_ENOTFOUND) return -1;
    if (rc) return cli_usage_error(CMD, "%s", scfm_last_error());
    if (a->n_given < 64) snprintf(a->given[a->n_given++], sizeof a->given[0], "%s", key);
    return 0;
}

static int parse_args(args *a, int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (o[0] != '-') { a->corpora[a->n_corpora++] = o; continue; }
        if (!strcmp(o, "--force")) { a->force = 1; continue; }
        if (!strcmp(o, "--truncate") || !strcmp(o, "--baseline")) {
            if (set_training(a, o + 2, "1")) return 2;
            continue;
        }
        if (!v) return cli_usage_error(CMD, "%s needs a value", o);
        i++;
        if (!strcmp(o, "-o") || !strcmp(o, "--out")) a->out = v;
        else if (!strcmp(o, "--config")) a->config = v;
        else if (!strcmp(o, "--init")) a->init = v;
        else if (!strcmp(o, "--resume")) a->resume = v;
        else if (!strcmp(o, "--set")) a->sets[a->n_sets++] = v;
        else if (!strcmp(o, "--threads")) {
            long t;
            if (cli_long(CMD, o, v, 1, 4096, &t)) return 2;
            a->threads = (int)t;
        } else if (!strncmp(o, "--", 2)) {
            char key[64];
            opt_key(o, key, sizeof key);
            int rc = set_training(a, key, v);
            if (rc < 0) return cli_usage_error(CMD, "unknown option %s", o);
            if (rc) return rc;
        } else {
            return cli_usage_error(CMD, "unknown option %s", o);
        }
    }
    return 0;
}

/* Model config: a preset name or a config.json file. */
static int load_model_config(const char *spec, scfm_bert_config *c) {
    struct stat st;
    scfm_bert_config_init(c);
    if (stat(spec, &st) == 0 && S_ISDIR(st.st_mode)) {
        char p[4096];
        snprintf(p, sizeof p, "%s/config.json", spec);
        return scfm_bert_config_load(c, p) ? cli_fail(CMD) : 0;
    }
    if (stat(spec, &st) == 0) return scfm_bert_config_load(c, spec) ? cli_fail(CMD) : 0;
    if (scfm_bert_config_preset(c, spec)) return cli_fail(CMD);
    return 0;
}

/* Applies KEY=VALUE to the model config by re-reading its JSON with the key appended (the
 * reader keeps the last of duplicated keys). VALUE is JSON, or else taken as a string. */
static int apply_sets(args *a, scfm_bert_config *model) {
    for (size_t i = 0; i < a->n_sets; i++) {
        char key[128];
        const char *eq = strchr(a->sets[i], '=');
        if (!eq || eq == a->sets[i] || (size_t)(eq - a->sets[i]) >= sizeof key)
            return cli_usage_error(CMD, "--set wants KEY=VALUE, got '%s'", a->sets[i]);
        memcpy(key, a->sets[i], (size_t)(eq - a->sets[i]));
        key[eq - a->sets[i]] = 0;
        int rc = set_training(a, key, eq + 1);
        if (rc > 0) return rc;
        if (rc < 0) {
            if (!model) return cli_usage_error(CMD, "--set %s: the model of a resumed run cannot change", key);
            if ((rc = cli_config_set(CMD, model, key, eq + 1))) return rc;
        }
    }
    return 0;
}

/* With --resume only these training settings may change. */
static int check_resume_keys(const args *a) {
    static const char *ok[] = {"max_steps", "epochs", "stop_at", "log_every", "eval_every", "save_every", "keep"};
    for (size_t i = 0; i < a->n_given; i++) {
        size_t k = 0;
        while (k < sizeof ok / sizeof *ok && strcmp(ok[k], a->given[i])) k++;
        if (k == sizeof ok / sizeof *ok)
            return cli_usage_error(CMD, "--%s cannot change when resuming (allowed: --max-steps, --epochs, --stop-at, "
                                   "--log-every, --eval-every, --save-every, --keep)", a->given[i]);
    }
    if (a->n_corpora || a->config || a->init || a->out || a->force)
        return cli_usage_error(CMD, "--resume RUN takes the corpora, model and output from RUN");
    return 0;
}

/* Re-applies the command-line training settings on top of the resumed run's. */
static int overlay(const args *a, scfm_pretrain_config *dst) {
    char *txt;
    if (scfm_pretrain_config_to_json(&a->cfg, &txt)) return cli_fail(CMD);
    scfm_json *j = scfm_json_parse(txt, strlen(txt), "settings");
    free(txt);
    for (size_t i = 0; j && i < a->n_given; i++) {
        const scfm_json *v = scfm_json_get(j, a->given[i]);
        char num[64];
        snprintf(num, sizeof num, "%.17g", v ? v->number : 0);
        if (v && scfm_pretrain_config_set(dst, a->given[i], num)) { scfm_json_free(j); return cli_fail(CMD); }
    }
    scfm_json_free(j);
    return j ? 0 : cli_fail(CMD);
}

static void print_summary(const scfm_pretrain_summary *s, const char *run) {
    printf("run\t%s\nsteps\t%ld of %ld\ntokens\t%llu\nseconds\t%.1f\ntrain_loss\t%.6g\n", run, s->steps,
           s->total_steps, (unsigned long long)s->tokens, s->seconds, s->train_loss);
    printf("val_loss\t%.6g\nval_top1\t%.6g\nval_top10\t%.6g\n", s->val_loss, s->val_top1, s->val_top10);
    if (s->base_top1 == s->base_top1) printf("baseline_top1\t%.6g\nbaseline_top10\t%.6g\n", s->base_top1, s->base_top10);
}

static int run_job(args *a, scfm_pretrain_job *job) {
    scfm_pretrain_summary sum;
    if (scfm_dist_init(NULL, NULL)) return cli_fail(CMD);
    int rank = scfm_dist_rank(), rc = scfm_pretrain(job, &sum);
    if (rc) {
        if (scfm_dist_size() > 1) fprintf(stderr, "scfm %s (rank %d): %s\n", CMD, rank, scfm_last_error());
        else cli_fail(CMD);
        scfm_dist_finalize();
        return 1;
    }
    if (rank == 0) {
        print_summary(&sum, job->run_dir);
        cli_done(CMD, "%ld of %ld steps, train loss %.4g, validation loss %.4g, top-1 %.4g -> %s", sum.steps,
                 sum.total_steps, sum.train_loss, sum.val_loss, sum.val_top1, job->run_dir);
    }
    scfm_dist_finalize();
    (void)a;
    return 0;
}

static int start(args *a, char **argv) {
    scfm_pretrain_job job;
    memset(&job, 0, sizeof job);
    scfm_bert_config model;
    scfm_bert_config_init(&model);
    if (!a->out) return cli_usage_error(CMD, "-o RUN is required");
    if (!a->n_corpora) return cli_usage_error(CMD, "no corpus given");
    if (!a->config && !a->init) return cli_usage_error(CMD, "--config PRESET|config.json (or --init DIR) is required");
    if (a->config && a->init) return cli_usage_error(CMD, "--config and --init exclude each other");
    if (a->config && load_model_config(a->config, &model)) return 1;
    int rc = apply_sets(a, a->init ? NULL : &model);
    if (!rc) {
        job = (scfm_pretrain_job){.corpora = a->corpora, .n_corpora = a->n_corpora, .model = a->init ? NULL : &model,
                                  .init_checkpoint = a->init, .cfg = a->cfg, .run_dir = a->out, .force = a->force,
                                  .command = cli_cmdline()};
        rc = run_job(a, &job);
    }
    scfm_bert_config_free(&model);
    (void)argv;
    return rc;
}

static int resume(args *a) {
    int rc = check_resume_keys(a);
    if (rc) return rc;
    scfm_pretrain_job job;
    scfm_pretrain_store store;
    if (scfm_pretrain_job_load(a->resume, &job, &store)) {
        scfm_pretrain_job_release(&store);
        return cli_fail(CMD);
    }
    job.command = cli_cmdline();
    if (!(rc = overlay(a, &job.cfg))) rc = run_job(a, &job);
    scfm_pretrain_job_release(&store);
    return rc;
}

int cmd_pretrain(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        pretrain_help();
        return argc < 2 ? 2 : 0;
    }
    args a;
    memset(&a, 0, sizeof a);
    a.corpora = calloc((size_t)argc, sizeof *a.corpora);
    a.sets = calloc((size_t)argc, sizeof *a.sets);
    scfm_pretrain_config_init(&a.cfg);
    int rc = a.corpora && a.sets ? parse_args(&a, argc, argv) : cli_errorf(CMD, "out of memory");
    if (!rc) {
#ifdef SCFM_HAVE_OPENMP
        if (a.threads > 0) omp_set_num_threads(a.threads);
#endif
        rc = a.resume ? resume(&a) : start(&a, argv);
    }
    free(a.corpora);
    free(a.sets);
    return rc;
}
