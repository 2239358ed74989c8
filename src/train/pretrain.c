/* The masked-gene pretraining loop (scfm pretrain): setup, optimizer steps with gradient
 * accumulation and MPI all-reduce, logging, evaluation, checkpoints, resume.
 * See include/scfm/train.h for the data flow and the run directory. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/pretrain_internal.h"

typedef struct {
    const scfm_pretrain_job *job;
    scfm_pretrain_config c;
    int rank, ranks;
    pt_data data;
    size_t *train, n_train, *val, n_val;
    scfm_sampler *sampler;
    size_t global_micro;             /* cells per sampler batch (batch_size * ranks) */
    pt_eval eval;
    scfm_model *m;
    scfm_adamw opt;
    int have_opt;
    scfm_mask_params mp;
    scfm_mlm_batch batch;
    scfm_seq *seqs;
    scfm_train_state st;
    long total, warmup;
    FILE *log;
    /* this session */
    double t_start, t_window, elapsed0, last_progress;
    long steps_done;
    double win_loss, win_masked, win_tokens, last_lr, last_norm;
    scfm_pretrain_summary sum;
} pt_ctx;

/* ---- setup -------------------------------------------------------------------------------- */

/* Model: from the latest checkpoint (resume), an initial checkpoint, or the config. */
static int setup_model(pt_ctx *x, const char *ckpt_dir) {
    const scfm_pretrain_job *j = x->job;
    if (ckpt_dir) x->m = scfm_model_load(ckpt_dir, SCFM_HEAD_MLM);
    else if (j->init_checkpoint) x->m = scfm_model_load(j->init_checkpoint, SCFM_HEAD_MLM);
    else if (j->model) x->m = scfm_model_create(j->model, SCFM_HEAD_MLM, scfm_hash3(x->c.seed, 0x494E4954, 0));
    else return scfm_error(SCFM_EINVAL, "pretrain: no model configuration given");
    return x->m ? SCFM_OK : SCFM_EINVAL;
}

void pt_genecompass_input(const scfm_model *m, const scfm_mlm_batch *b, scfm_bert_input *in) {
    const scfm_genecompass_config *g = &m->cfg.genecompass;
    if (!g->enabled) return;
    in->species = b->species;
    if (b->has_values) {
        in->values = g->use_values ? b->values : NULL;
        in->mlm_values = b->value_labels;
    }
}

/* A joint corpus (homologous mouse genes written with the human token) needs the model's
 * prior remap to be the corpus's homolog map: else mouse cells would read human priors. */
static int check_homologs(const scfm_model *m, const scfm_corpus *c) {
    if (!scfm_corpus_is_joint(c) || !m->gc.homologous_index) return SCFM_OK;
    size_t V = m->cfg.vocab_size, same = 1, ident = 1;
    scfm_vocab *v = scfm_corpus_load_vocab(c);
    int64_t *idx = NULL;
    int rc = v ? scfm_corpus_load_homologs(c, v, &idx) : SCFM_EFORMAT;
    for (size_t i = 0; !rc && i < V; i++) {
        same &= idx[i] == m->gc.homologous_index[i];
        ident &= m->gc.homologous_index[i] == (int64_t)i;
    }
    free(idx);
    scfm_vocab_free(v);
    if (rc) return rc;
    if (ident && !same)
        return scfm_error(SCFM_EMISMATCH, "%s: a joint (human + mouse) corpus, but the model has no homolog map "
                          "(create it with 'scfm model init --homologs VOCAB_DIR/homologs.tsv')", scfm_corpus_dir(c));
    if (!same)
        return scfm_error(SCFM_EMISMATCH, "%s: the corpus's homolog map differs from the model's homologous_index",
                          scfm_corpus_dir(c));
    return SCFM_OK;
}

/* GeneCompass needs what the corpora may lack: values, each cell's species, prior tables. */
static int check_genecompass(pt_ctx *x, int from_config) {
    const scfm_genecompass_config *g = &x->m->cfg.genecompass;
    if (!g->enabled) return SCFM_OK;
    if (from_config && scfm_gc_n_priors(g))
        return scfm_error(SCFM_EINVAL, "pretrain: the model config uses %zu prior-knowledge tables, which a config "
                          "alone does not hold; create the model with 'scfm model init --prior NAME=FILE ...' and "
                          "pass it with --init (or switch the priors off with --set use_promoter=false ...)",
                          scfm_gc_n_priors(g));
    for (size_t k = 0; k < x->data.n_corp; k++) {
        const scfm_corpus *c = x->data.corp[k];
        if (g->use_values && !scfm_corpus_has_values(c))
            return scfm_error(SCFM_EINVAL, "%s: the corpus has no expression values but the GeneCompass model uses "
                              "them (use_values); tokenize with --values", scfm_corpus_dir(c));
        int rc = scfm_gc_needs_species(g) ? scfm_corpus_require_species(c, NULL, scfm_corpus_n_cells(c)) : SCFM_OK;
        if (!rc) rc = check_homologs(x->m, c);
        if (rc) return rc;
    }
    return SCFM_OK;
}

/* The corpora's vocabulary must be the model's: size, and the hash when the model has one. */
static int check_vocab(pt_ctx *x) {
    scfm_bert_config *cfg = &x->m->cfg;
    size_t V = scfm_vocab_size(x->data.vocab);
    char hex[24];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)x->data.vocab_hash);
    if (cfg->vocab_size != V)
        return scfm_error(SCFM_EMISMATCH, "%s: vocabulary of %zu tokens (%s), but the model has vocab_size %zu; "
                          "use a model for this vocabulary (or --set vocab_size=%zu for a new one)",
                          scfm_corpus_dir(x->data.corp[0]), V, hex, cfg->vocab_size, V);
    if (cfg->vocab_hash[0]) {
        char *end;
        unsigned long long h = strtoull(cfg->vocab_hash, &end, 16);
        if (*end || h != x->data.vocab_hash)
            return scfm_error(SCFM_EMISMATCH, "%s: vocabulary %s differs from the model's (scfm_vocab_hash %s)",
                              scfm_corpus_dir(x->data.corp[0]), hex, cfg->vocab_hash);
    } else {
        memcpy(cfg->vocab_hash, hex, 17);
    }
    if (cfg->pad_token_id >= 0 && (size_t)cfg->pad_token_id < V && !x->data.special[cfg->pad_token_id])
        return scfm_error(SCFM_EMISMATCH, "model pad_token_id %lld is a gene in the corpora's vocabulary",
                          (long long)cfg->pad_token_id);
    return SCFM_OK;
}

static uint64_t config_hash(const scfm_model *m) {
    char *txt = NULL;
    size_t len = 0;
    if (scfm_bert_config_to_json(&m->cfg, SCFM_HEAD_MLM, &txt, &len)) return 0;
    uint64_t h = scfm_hash_bytes(SCFM_HASH_INIT, txt, len);
    h = scfm_hash_bytes(h, &m->n_params, sizeof m->n_params);
    free(txt);
    return h;
}

/* Split, sampler, schedule length. */
static int setup_data(pt_ctx *x) {
    int rc = pt_data_set_max_len(&x->data, x->m->cfg.max_position_embeddings, x->c.truncate);
    if (!rc) rc = pt_data_split(&x->data, x->c.val_fraction, x->c.seed, &x->train, &x->n_train, &x->val, &x->n_val);
    if (rc) return rc;
    size_t *lens = scfm_malloc(x->n_train * sizeof *lens);
    if (!lens || scfm_mul_size(x->c.batch_size, (size_t)x->ranks, &x->global_micro)) {
        free(lens);
        return scfm_error(SCFM_ENOMEM, "pretrain: out of memory");
    }
    for (size_t i = 0; i < x->n_train; i++) lens[i] = pt_data_len(&x->data, x->train[i]);
    x->sampler = scfm_sampler_new(x->train, lens, x->n_train, x->global_micro, x->c.mega_mult, x->c.seed);
    free(lens);
    if (!x->sampler) return SCFM_ENOMEM;
    size_t nb = scfm_sampler_n_batches(x->sampler);
    x->total = x->c.max_steps > 0 ? x->c.max_steps : (long)ceil(x->c.epochs * (double)nb / (double)x->c.grad_accum);
    if (x->total < 1) x->total = 1;
    x->warmup = x->c.warmup_ratio > 0 ? (long)ceil(x->c.warmup_ratio * (double)x->total) : x->c.warmup_steps;
    scfm_mask_params_init(&x->mp, scfm_vocab_size(x->data.vocab), x->data.mask_id, x->data.special);
    x->mp.mask_prob = x->c.mask_prob;
    x->mp.mask_frac = x->c.mask_frac;
    x->mp.random_frac = x->c.random_frac;
    if ((rc = scfm_mask_params_check(&x->mp))) return rc;
    x->seqs = scfm_calloc(x->global_micro, sizeof *x->seqs);
    return x->seqs ? SCFM_OK : SCFM_ENOMEM;
}

static int setup_optimizer(pt_ctx *x) {
    scfm_adamw_config ac;
    scfm_adamw_config_init(&ac);
    ac.beta1 = (float)x->c.beta1;
    ac.beta2 = (float)x->c.beta2;
    ac.eps = (float)x->c.adam_eps;
    ac.weight_decay = (float)x->c.weight_decay;
    int rc = scfm_adamw_init(&x->opt, x->m, &ac);
    if (rc) return rc;
    x->have_opt = 1;
    memset(&x->st, 0, sizeof x->st);
    x->st.n_params = x->opt.n;
    x->st.m = x->opt.m;
    x->st.v = x->opt.v;
    x->st.config_hash = config_hash(x->m);
    x->st.data_hash = pt_data_hash(&x->data, &x->c, x->global_micro);
    scfm_rng_seed(&x->st.rng, scfm_hash3(x->c.seed, SCFM_STREAM_DROPOUT, 0));
    return scfm_model_zero_grad(x->m);
}

/* Resume: training state of checkpoint dir ckpt; must belong to this data and model. */
static int load_state(pt_ctx *x, const char *ckpt) {
    char *p = pt_path(ckpt, "state.bin");
    if (!p) return SCFM_ENOMEM;
    uint64_t want = x->st.data_hash;
    int rc = scfm_train_state_load(p, &x->st);
    if (!rc && x->st.data_hash != want)
        rc = scfm_error(SCFM_EMISMATCH, "%s: the run's data or batching changed (corpora, split, batch_size x ranks, "
                        "mega_mult or masking); resume with the same settings and rank count", p);
    free(p);
    if (rc) return rc;
    x->opt.step = (long)x->st.step;
    x->elapsed0 = x->st.elapsed;
    if (x->st.batch_in_epoch >= scfm_sampler_n_batches(x->sampler))
        return scfm_error(SCFM_EFORMAT, "%s: sampler position %llu beyond the epoch", ckpt,
                          (unsigned long long)x->st.batch_in_epoch);
    return SCFM_OK;
}

/* Rank 0: the run directory's settings files (fresh run) or clean-up (resume). */
static int write_run_files(pt_ctx *x) {
    const char *run = x->job->run_dir;
    char *txt = NULL;
    size_t len;
    int rc = pt_job_json(x->job, &x->data, (size_t)x->ranks, &txt);
    if (!rc) rc = pt_run_write(run, "pretrain.json", txt);
    free(txt);
    if (rc || x->job->resume) return rc;
    if ((rc = scfm_bert_config_to_json(&x->m->cfg, SCFM_HEAD_MLM, &txt, &len))) return rc;
    rc = pt_run_write(run, "config.json", txt);
    free(txt);
    char *vp = pt_path(run, "vocab.tsv");
    if (!rc) rc = vp ? scfm_vocab_write_tsv(x->data.vocab, vp) : SCFM_ENOMEM;
    free(vp);
    for (size_t k = 0; k < x->data.n_corp && !rc; k++) {
        char name[48], *src = pt_path(scfm_corpus_dir(x->data.corp[k]), "corpus.json");
        snprintf(name, sizeof name, "corpus-%zu.json", k);
        rc = src ? pt_run_copy(run, name, src) : SCFM_ENOMEM;
        free(src);
    }
    return rc;
}

/* ---- one optimizer step -------------------------------------------------------------------- */

/* Next sampler batch: this rank's slice packed and masked into x->batch. *global_n gets
 * the number of cells of the whole global micro-batch. */
static int next_micro_batch(pt_ctx *x, size_t *global_n) {
    const size_t *cells;
    size_t n;
    int rc = scfm_sampler_set_epoch(x->sampler, x->st.epoch);
    if (!rc) rc = scfm_sampler_batch(x->sampler, (size_t)x->st.batch_in_epoch, &cells, &n);
    if (rc) return rc;
    size_t lo = n * (size_t)x->rank / (size_t)x->ranks, hi = n * (size_t)(x->rank + 1) / (size_t)x->ranks;
    for (size_t i = lo; i < hi; i++) {
        scfm_seq *s = &x->seqs[i - lo];
        if ((rc = pt_data_cell(&x->data, cells[i], &s->tokens, &s->len, &s->values))) return rc;
        if (!x->m->cfg.genecompass.enabled) s->values = NULL; /* values enter GeneCompass models only */
        s->species = pt_data_species(&x->data, cells[i]);
        s->key = scfm_mask_key(x->st.epoch, cells[i]);
    }
    *global_n = n;
    if (++x->st.batch_in_epoch == scfm_sampler_n_batches(x->sampler)) {
        x->st.epoch++;
        x->st.batch_in_epoch = 0;
    }
    return scfm_mlm_batch_pack(&x->batch, x->seqs, hi - lo, &x->mp, x->c.seed);
}

/* Forward + backward of the packed micro-batch; gradient of the SUM of token losses. */
static int micro_step(pt_ctx *x, uint64_t dseed, double *acc) {
    scfm_mlm_batch *b = &x->batch;
    acc[2] += (double)b->N;
    if (b->n_masked == 0) return SCFM_OK;
    scfm_bert_input in = {.B = b->B, .offs = b->offs, .ids = b->ids, .pos = b->pos, .n_mlm = b->n_masked,
                          .mlm_rows = b->mrows, .mlm_labels = b->labels};
    pt_genecompass_input(x->m, b, &in);
    float loss = 0;
    int rc = scfm_model_forward(x->m, &in, 1, scfm_hash3(dseed, SCFM_STREAM_DROPOUT, (uint64_t)x->rank), &loss);
    if (!rc) rc = scfm_model_backward_scaled(x->m, (float)b->n_masked);
    acc[0] += (double)loss * (double)b->n_masked;
    acc[1] += (double)b->n_masked;
    return rc;
}

/* Sums gradients and statistics over ranks, averages over masked tokens, clips, updates. */
static int apply_update(pt_ctx *x, double *acc) {
    int rc = scfm_dist_allreduce_f32(x->m->grads, x->m->n_params);
    if (!rc) rc = scfm_dist_allreduce_f64(acc, 3);
    if (rc) return rc;
    if (!(acc[1] > 0)) return scfm_error(SCFM_EDATA, "step %llu: no masked token in the whole batch",
                                         (unsigned long long)x->st.step + 1);
    scfm_scale(x->m->grads, x->m->n_params, (float)(1.0 / acc[1]));
    x->last_norm = scfm_model_clip_grad_norm(x->m, x->c.max_grad_norm);
    if (!isfinite(x->last_norm) || !isfinite(acc[0]))
        return scfm_error(SCFM_EDATA, "step %llu: loss or gradient is not finite (loss %g, grad norm %g); "
                          "lower the learning rate", (unsigned long long)x->st.step + 1, acc[0] / acc[1], x->last_norm);
    x->last_lr = scfm_lr_schedule(x->c.schedule, x->c.lr, (long)x->st.step, x->warmup, x->total);
    return scfm_adamw_step(&x->opt, x->m, (float)x->last_lr);
}

static int train_step(pt_ctx *x) {
    double acc[3] = {0}; /* loss sum, masked tokens, tokens */
    int rc = scfm_model_zero_grad(x->m);
    for (size_t a = 0; a < x->c.grad_accum && !rc; a++) {
        size_t n = 0;
        uint64_t dseed = scfm_rng_u64(&x->st.rng);
        rc = next_micro_batch(x, &n);
        if (!rc) rc = micro_step(x, dseed, acc);
        x->st.cells_seen += n;
    }
    rc = scfm_dist_agree(rc);
    if (!rc) rc = apply_update(x, acc);
    if (rc) return rc;
    x->st.step++;
    x->st.tokens_seen += (uint64_t)acc[2];
    x->win_loss += acc[0];
    x->win_masked += acc[1];
    x->win_tokens += acc[2];
    return SCFM_OK;
}

/* ---- logging, evaluation, checkpoints ---------------------------------------------------- */

static double epoch_pos(const pt_ctx *x) {
    return (double)x->st.epoch + (double)x->st.batch_in_epoch / (double)scfm_sampler_n_batches(x->sampler);
}

static void fmt_eta(char *buf, size_t n, double s) {
    if (!isfinite(s) || s < 0) snprintf(buf, n, "?");
    else if (s >= 3600) snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
    else snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
}

static void progress(pt_ctx *x, int force) {
    double now = scfm_now();
    if (x->rank != 0 || (!force && now - x->last_progress < 0.5)) return;
    x->last_progress = now;
    long end = x->c.stop_at > 0 && x->c.stop_at < x->total ? x->c.stop_at : x->total;
    double per = (now - x->t_start) / (double)(x->steps_done ? x->steps_done : 1);
    double tps = x->win_tokens / (now - x->t_window > 1e-9 ? now - x->t_window : 1e-9);
    char eta[32];
    fmt_eta(eta, sizeof eta, per * (double)(end - (long)x->st.step));
    scfm_log(SCFM_LOG_PROGRESS, "step %llu/%ld  epoch %.2f  loss %.4f  lr %.2e  %.0f tok/s  ETA %s",
             (unsigned long long)x->st.step, x->total, epoch_pos(x),
             x->win_masked > 0 ? x->win_loss / x->win_masked : NAN, x->last_lr, tps, eta);
}

static void json_num(FILE *f, const char *key, double v) {
    if (isfinite(v)) fprintf(f, ", \"%s\": %.9g", key, v);
    else fprintf(f, ", \"%s\": null", key);
}

static void log_train(pt_ctx *x) {
    double now = scfm_now(), dt = now - x->t_window;
    double loss = x->win_masked > 0 ? x->win_loss / x->win_masked : NAN;
    x->sum.train_loss = loss;
    if (x->log) {
        fprintf(x->log, "{\"type\": \"train\", \"step\": %llu", (unsigned long long)x->st.step);
        json_num(x->log, "epoch", epoch_pos(x));
        json_num(x->log, "loss", loss);
        json_num(x->log, "lr", x->last_lr);
        json_num(x->log, "grad_norm", x->last_norm);
        fprintf(x->log, ", \"tokens\": %llu", (unsigned long long)x->st.tokens_seen);
        json_num(x->log, "tokens_per_s", x->win_tokens / (dt > 1e-9 ? dt : 1e-9));
        json_num(x->log, "elapsed_s", x->elapsed0 + now - x->t_start);
        fprintf(x->log, "}\n");
        fflush(x->log);
    }
    x->win_loss = x->win_masked = x->win_tokens = 0;
    x->t_window = now;
}

static int run_eval(pt_ctx *x) {
    if (x->eval.n_batches == 0) return SCFM_OK;
    pt_eval_result r;
    int rc = pt_eval_run(&x->eval, &x->data, x->m, &x->mp, x->c.seed, &x->batch, &r);
    if (rc) return rc;
    x->sum.val_loss = r.loss;
    x->sum.val_top1 = r.top1;
    x->sum.val_top10 = r.top10;
    x->sum.base_top1 = r.base_top1;
    x->sum.base_top10 = r.base_top10;
    if (x->rank == 0)
        scfm_log(SCFM_LOG_INFO, "step %llu: validation loss %.4f, top-1 %.4f, top-10 %.4f (%.0f masked genes)",
                 (unsigned long long)x->st.step, r.loss, r.top1, r.top10, r.n_masked);
    if (x->rank == 0 && !isnan(r.value_mse))
        scfm_log(SCFM_LOG_INFO, "step %llu: validation value MSE %.4f", (unsigned long long)x->st.step, r.value_mse);
    static const char *const spn[2] = {"human", "mouse"};
    for (int s = 0; s < 2 && x->rank == 0; s++)
        if (r.sp_n[s] > 0 && r.sp_n[s] < r.n_masked)
            scfm_log(SCFM_LOG_INFO, "step %llu: %s cells: top-1 %.4f, top-10 %.4f, value MSE %.4f (%.0f masked genes)",
                     (unsigned long long)x->st.step, spn[s], r.sp_top1[s], r.sp_top10[s], r.sp_mse[s], r.sp_n[s]);
    if (x->rank == 0 && x->eval.base)
        scfm_log(SCFM_LOG_INFO, "step %llu: baseline (most frequent gene per position) top-1 %.4f, top-10 %.4f",
                 (unsigned long long)x->st.step, r.base_top1, r.base_top10);
    if (x->log) {
        fprintf(x->log, "{\"type\": \"eval\", \"step\": %llu", (unsigned long long)x->st.step);
        json_num(x->log, "val_loss", r.loss);
        json_num(x->log, "val_top1", r.top1);
        json_num(x->log, "val_top10", r.top10);
        json_num(x->log, "n_masked", r.n_masked);
        if (!isnan(r.value_mse)) json_num(x->log, "val_value_mse", r.value_mse);
        for (int s = 0; s < 2; s++) {
            if (!(r.sp_n[s] > 0)) continue;
            char k[40];
            snprintf(k, sizeof k, "%s_top1", spn[s]);
            json_num(x->log, k, r.sp_top1[s]);
            snprintf(k, sizeof k, "%s_top10", spn[s]);
            json_num(x->log, k, r.sp_top10[s]);
            snprintf(k, sizeof k, "%s_value_mse", spn[s]);
            if (!isnan(r.sp_mse[s])) json_num(x->log, k, r.sp_mse[s]);
            snprintf(k, sizeof k, "%s_n_masked", spn[s]);
            json_num(x->log, k, r.sp_n[s]);
        }
        if (x->eval.base) {
            json_num(x->log, "base_top1", r.base_top1);
            json_num(x->log, "base_top10", r.base_top10);
        }
        fprintf(x->log, "}\n");
        fflush(x->log);
    }
    return SCFM_OK;
}

static int save_checkpoint(pt_ctx *x) {
    int rc = SCFM_OK;
    if (x->rank == 0) {
        x->st.elapsed = x->elapsed0 + scfm_now() - x->t_start;
        rc = pt_run_checkpoint(x->job->run_dir, (long)x->st.step, x->m, &x->st, x->c.keep);
        if (!rc) scfm_log(SCFM_LOG_INFO, "step %llu: checkpoint %s/checkpoint-%llu", (unsigned long long)x->st.step,
                          x->job->run_dir, (unsigned long long)x->st.step);
    }
    return scfm_dist_agree(rc);
}

/* ---- the run -------------------------------------------------------------------------------- */

static int loop(pt_ctx *x) {
    int rc = SCFM_OK;
    long stop = x->c.stop_at > 0 && x->c.stop_at < x->total ? x->c.stop_at : x->total;
    while ((long)x->st.step < stop && !rc) {
        if ((rc = train_step(x))) break;
        x->steps_done++;
        long s = (long)x->st.step;
        int last = s == stop;
        progress(x, last);
        if (s % x->c.log_every == 0 || last) log_train(x);
        if ((x->c.eval_every > 0 && s % x->c.eval_every == 0) || s == x->total) rc = run_eval(x);
        if (!rc && ((x->c.save_every > 0 && s % x->c.save_every == 0) || last)) rc = save_checkpoint(x);
        if (x->win_tokens == 0) x->t_window = scfm_now(); /* tokens/s counts training time only */
    }
    if (!rc && x->rank == 0 && (long)x->st.step == x->total) rc = pt_run_final(x->job->run_dir, x->total);
    return rc;
}

/* Opens data and model, checks that they belong together, restores a resumed state. */
static int setup(pt_ctx *x) {
    const scfm_pretrain_job *j = x->job;
    char latest[64], *ckpt = NULL;
    int rc = scfm_pretrain_config_validate(&x->c);
    if (!rc) rc = pt_data_open(&x->data, j->corpora, j->n_corpora);
    if (!rc && j->resume && !(rc = pt_run_latest(j->run_dir, latest, sizeof latest)))
        if (!(ckpt = pt_path(j->run_dir, latest))) rc = SCFM_ENOMEM;
    if (!rc) rc = setup_model(x, ckpt);
    if (!rc) rc = check_vocab(x);
    if (!rc) rc = check_genecompass(x, !ckpt && !j->init_checkpoint);
    if (!rc) rc = setup_data(x);
    if (!rc) rc = setup_optimizer(x);
    if (!rc && ckpt) rc = load_state(x, ckpt);
    if (!rc) rc = pt_eval_init(&x->eval, &x->data, x->val, x->n_val, x->c.val_max_cells, x->c.batch_size, x->c.seed);
    if (!rc && x->c.baseline && x->eval.n_batches) rc = pt_eval_baseline(&x->eval, &x->data, x->train, x->n_train, x->c.seed);
    free(ckpt);
    return rc;
}

/* Rank 0: prepares RUN (files, log) before step 1. */
static int open_run(pt_ctx *x) {
    const char *run = x->job->run_dir;
    int rc = SCFM_OK;
    if (x->rank == 0) {
        if (x->job->resume) {
            pt_run_clean_tmp(run);
            rc = pt_run_trim_log(run, (long)x->st.step);
        } else {
            rc = pt_run_prepare(run, x->job->force);
        }
        if (!rc) rc = write_run_files(x);
        if (!rc && !(x->log = pt_run_open_log(run))) rc = SCFM_EIO;
    }
    return scfm_dist_agree(rc);
}

static void describe(const pt_ctx *x) {
    if (x->rank != 0) return;
    scfm_log(SCFM_LOG_INFO, "pretrain: %zu %s, %zu cells (%zu training, %zu held out, %zu evaluated); "
             "vocabulary %016llx (%zu tokens)", x->data.n_corp, x->data.n_corp == 1 ? "corpus" : "corpora",
             x->data.n_cells, x->n_train, x->n_val,
             x->eval.n_cells, (unsigned long long)x->data.vocab_hash, scfm_vocab_size(x->data.vocab));
    scfm_log(SCFM_LOG_INFO, "pretrain: model %zu layers, hidden %zu, %zu parameters; %d rank(s) x batch %zu x "
             "accumulation %zu = %zu cells per step; %zu steps per epoch; %ld steps, warm-up %ld, lr %g (%s)%s",
             x->m->cfg.num_hidden_layers, x->m->cfg.hidden_size, scfm_model_num_params(x->m), x->ranks,
             x->c.batch_size, x->c.grad_accum, x->global_micro * x->c.grad_accum,
             (scfm_sampler_n_batches(x->sampler) + x->c.grad_accum - 1) / x->c.grad_accum, x->total, x->warmup,
             x->c.lr, scfm_sched_name(x->c.schedule), x->job->resume ? "; resuming" : "");
    if (x->job->resume)
        scfm_log(SCFM_LOG_INFO, "pretrain: resuming at step %llu (epoch %llu, batch %llu)",
                 (unsigned long long)x->st.step, (unsigned long long)x->st.epoch,
                 (unsigned long long)x->st.batch_in_epoch);
}

static void teardown(pt_ctx *x) {
    if (x->log) fclose(x->log);
    pt_eval_free(&x->eval);
    scfm_mlm_batch_free(&x->batch);
    free(x->seqs);
    if (x->have_opt) scfm_adamw_free(&x->opt);
    scfm_model_free(x->m);
    scfm_sampler_free(x->sampler);
    free(x->train);
    free(x->val);
    pt_data_close(&x->data);
}

int scfm_pretrain(const scfm_pretrain_job *job, scfm_pretrain_summary *out) {
    pt_ctx x;
    memset(&x, 0, sizeof x);
    x.job = job;
    x.c = job->cfg;
    x.rank = scfm_dist_rank();
    x.ranks = scfm_dist_size();
    x.sum = (scfm_pretrain_summary){.val_loss = NAN, .val_top1 = NAN, .val_top10 = NAN, .base_top1 = NAN,
                                    .base_top10 = NAN, .train_loss = NAN};
    if (!job->run_dir) return scfm_error(SCFM_EINVAL, "pretrain: no run directory");
    int rc = scfm_dist_agree(setup(&x));
    if (!rc) rc = open_run(&x);
    if (!rc) {
        describe(&x);
        x.t_start = x.t_window = scfm_now();
        rc = loop(&x);
    }
    x.sum.steps = (long)x.st.step;
    x.sum.total_steps = x.total;
    x.sum.tokens = x.st.tokens_seen;
    x.sum.seconds = x.elapsed0 + (x.t_start > 0 ? scfm_now() - x.t_start : 0);
    if (out) *out = x.sum;
    teardown(&x);
    return rc;
}
