/* scfm predict: a fine-tuned classifier on every cell of a corpus. See include/scfm/finetune.h. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ft_internal.h"

/* ---- prediction -------------------------------------------------------------------------- */

typedef enum { FMT_TSV = 0, FMT_CSV = 1, FMT_H5AD = 2 } out_fmt;

static int ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && !strcasecmp(s + n - k, suf);
}

static int pick_format(const char *path, out_fmt *f) {
    if (ends_with(path, ".tsv") || ends_with(path, ".txt")) *f = FMT_TSV;
    else if (ends_with(path, ".csv")) *f = FMT_CSV;
    else if (ends_with(path, ".h5ad")) *f = FMT_H5AD;
    else return scfm_error(SCFM_EINVAL, "%s: unknown output type (use .tsv, .csv or .h5ad)", path);
    return SCFM_OK;
}

typedef struct {
    FILE *f;
    out_fmt fmt;
    const ft_data *d;
    const scfm_bert_config *cfg;
    int per_token;
    float *p;            /* [C] */
    double *sum;         /* gene aggregate: [V*C] */
    uint64_t *count;     /* [V] */
    float *cell_prob;    /* h5ad: [n_cells * C] */
    size_t rows;
} pred_ctx;

/* One text field: TSV as is; CSV quoted (RFC 4180) when it holds a comma, quote or newline. */
static void put(pred_ctx *x, const char *s, int first) {
    if (!first) fputc(x->fmt == FMT_CSV ? ',' : '\t', x->f);
    if (x->fmt == FMT_CSV && strpbrk(s, ",\"\r\n")) {
        fputc('"', x->f);
        for (const char *c = s; *c; c++) {
            if (*c == '"') fputc('"', x->f);
            fputc(*c, x->f);
        }
        fputc('"', x->f);
    } else {
        fputs(s, x->f);
    }
}

static void put_num(pred_ctx *x, double v) {
    char b[32];
    snprintf(b, sizeof b, "%.7g", v);
    put(x, b, 0);
}

static void put_gene(pred_ctx *x, int32_t t, int first) {
    const char *g = x->d->vocab ? scfm_vocab_token(x->d->vocab, (size_t)t) : NULL;
    char b[32];
    if (!g) {
        snprintf(b, sizeof b, "%d", (int)t);
        g = b;
    }
    put(x, g, first);
}

static void put_probs(pred_ctx *x, const float *p, size_t C) {
    for (size_t k = 0; k < C; k++) put_num(x, (double)p[k]);
    fputc('\n', x->f);
    x->rows++;
}

static int sink_predict(void *ud, const ft_batch *b, const float *lg, size_t C) {
    pred_ctx *x = ud;
    const scfm_corpus *c = x->d->corpus;
    if (x->d->head == SCFM_HEAD_SEQCLS) {
        for (size_t i = 0; i < b->B; i++) {
            ft_softmax_row(lg + i * C, C, x->p, -1);
            if (x->cell_prob) {
                memcpy(x->cell_prob + b->cells[i] * C, x->p, C * sizeof *x->p);
                x->rows++;
                continue;
            }
            put(x, scfm_corpus_cell_id(c, b->cells[i]), 1);
            put(x, x->cfg->id2label[ft_argmax(x->p, C)], 0);
            put_probs(x, x->p, C);
        }
        return SCFM_OK;
    }
    for (size_t i = 0; i < b->B; i++)
        for (size_t r = b->offs[i]; r < b->offs[i + 1]; r++) {
            ft_softmax_row(lg + r * C, C, x->p, -1);
            int32_t t = b->ids[r];
            if (x->per_token) {
                char pos[32];
                snprintf(pos, sizeof pos, "%zu", r - b->offs[i]);
                put(x, scfm_corpus_cell_id(c, b->cells[i]), 1);
                put_gene(x, t, 0);
                put(x, pos, 0);
                put(x, x->cfg->id2label[ft_argmax(x->p, C)], 0);
                put_probs(x, x->p, C);
            } else if (t >= 0 && (size_t)t < x->d->V) {
                x->count[t]++;
                for (size_t k = 0; k < C; k++) x->sum[(size_t)t * C + k] += x->p[k];
            }
        }
    return SCFM_OK;
}

static int write_gene_aggregate(pred_ctx *x, size_t C) {
    float *mean = x->p;
    for (size_t t = 0; t < x->d->V; t++) {
        if (!x->count[t]) continue;
        for (size_t k = 0; k < C; k++) mean[k] = (float)(x->sum[t * C + k] / (double)x->count[t]);
        char n[32];
        snprintf(n, sizeof n, "%llu", (unsigned long long)x->count[t]);
        put_gene(x, (int32_t)t, 1);
        put(x, n, 0);
        put(x, x->cfg->id2label[ft_argmax(mean, C)], 0);
        put_probs(x, mean, C);
    }
    return SCFM_OK;
}

/* Cell classifier into AnnData: obs scfm_prediction (categorical) and scfm_prediction_prob,
 * obsm scfm_probs [cells, C] (columns: uns scfm_probs_classes), the corpus's obs columns as
 * categoricals (a template keeps its own columns of the same names). */
static int write_h5ad(pred_ctx *x, const char *path, const scfm_predict_opts *o, size_t C) {
    const scfm_corpus *c = x->d->corpus;
    size_t n = scfm_corpus_n_cells(c);
    const char **ids = scfm_calloc(n ? n : 1, sizeof *ids), **pred = scfm_calloc(n ? n : 1, sizeof *pred);
    double *pmax = scfm_calloc(n ? n : 1, sizeof *pmax);
    scfm_h5ad_out *h = NULL;
    int rc = ids && pred && pmax ? SCFM_OK : SCFM_ENOMEM;
    for (size_t i = 0; !rc && i < n; i++) {
        const float *p = x->cell_prob + i * C;
        int32_t k = ft_argmax(p, C);
        ids[i] = scfm_corpus_cell_id(c, i);
        pred[i] = x->cfg->id2label[k];
        pmax[i] = p[k];
    }
    if (!rc) rc = scfm_h5ad_out_open(&h, path, o ? o->h5ad_template : NULL, ids, n);
    if (!rc) rc = scfm_h5ad_out_categorical(h, "scfm_prediction", pred);
    if (!rc) rc = scfm_h5ad_out_float(h, "scfm_prediction_prob", pmax);
    if (!rc) rc = scfm_h5ad_out_obsm(h, "scfm_probs", x->cell_prob, C);
    if (!rc) rc = scfm_h5ad_out_uns_strings(h, "scfm_probs_classes", (const char *const *)x->cfg->id2label, C);
    for (size_t k = 0; !rc && k < scfm_corpus_n_obs(c); k++) {
        const char *name = scfm_corpus_obs_name(c, k);
        if (scfm_h5ad_out_has_obs(h, name)) continue;
        for (size_t i = 0; i < n; i++) pred[i] = scfm_corpus_obs(c, i, k);
        rc = scfm_h5ad_out_categorical(h, name, pred);
    }
    int rc2 = scfm_h5ad_out_close(h, !rc, o ? o->command : NULL);
    if (!rc) rc = rc2;
    free(ids);
    free(pred);
    free(pmax);
    return rc;
}

static int predict_run(scfm_model *m, ft_data *d, const char *path, const char *tmp, const scfm_predict_opts *o,
                       scfm_predict_summary *s) {
    size_t n = scfm_corpus_n_cells(d->corpus), C = m->cfg.num_labels;
    pred_ctx x = {.d = d, .cfg = &m->cfg, .per_token = o && o->per_token};
    int rc = pick_format(path, &x.fmt);
    if (rc) return rc;
    if (x.fmt == FMT_H5AD && d->head != SCFM_HEAD_SEQCLS)
        return scfm_error(SCFM_EINVAL, "%s: a gene classifier predicts per gene%s, not per cell: write .tsv or .csv", path,
                          x.per_token ? " token" : "");
    if (o && o->h5ad_template && x.fmt != FMT_H5AD)
        return scfm_error(SCFM_EINVAL, "%s: writing into a copy of %s needs an .h5ad output", path, o->h5ad_template);
    size_t *cells = scfm_calloc(n ? n : 1, sizeof *cells);
    x.p = scfm_calloc(C ? C : 1, sizeof *x.p);
    rc = cells && x.p ? SCFM_OK : SCFM_ENOMEM;
    if (!rc && d->head == SCFM_HEAD_TOKCLS && !x.per_token) {
        size_t vc;
        if (scfm_mul_size(d->V, C, &vc)) rc = scfm_error(SCFM_ENOMEM, "predict: too many classes");
        x.sum = rc ? NULL : scfm_calloc(vc ? vc : 1, sizeof *x.sum);
        x.count = rc ? NULL : scfm_calloc(d->V ? d->V : 1, sizeof *x.count);
        if (!rc && (!x.sum || !x.count)) rc = SCFM_ENOMEM;
    }
    if (!rc && x.fmt == FMT_H5AD) {
        size_t nc;
        if (scfm_mul_size(n, C, &nc)) rc = scfm_error(SCFM_ENOMEM, "predict: too many cells");
        else if (!(x.cell_prob = scfm_calloc(nc ? nc : 1, sizeof *x.cell_prob))) rc = SCFM_ENOMEM;
    }
    if (!rc && x.fmt != FMT_H5AD && !(x.f = fopen(tmp, "w")))
        rc = scfm_error(SCFM_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    if (!rc) {
        if (x.f) {
            if (d->head == SCFM_HEAD_SEQCLS) { put(&x, "cell_id", 1); put(&x, "predicted", 0); }
            else if (x.per_token) { put(&x, "cell_id", 1); put(&x, "gene", 0); put(&x, "position", 0); put(&x, "predicted", 0); }
            else { put(&x, "gene", 1); put(&x, "n", 0); put(&x, "predicted", 0); }
            for (size_t k = 0; k < C; k++) {
                size_t l = strlen(m->cfg.id2label[k]) + 6;
                char *h = scfm_malloc(l);
                if (!h) { rc = SCFM_ENOMEM; break; }
                snprintf(h, l, "prob_%s", m->cfg.id2label[k]);
                put(&x, h, 0);
                free(h);
            }
            fputc('\n', x.f);
        }
        for (size_t i = 0; i < n; i++) cells[i] = i;
        ft_batch b;
        memset(&b, 0, sizeof b);
        size_t bc = o && o->batch_cells ? o->batch_cells : 64;
        if (!rc) rc = ft_eval_cells(m, d, cells, n, bc, &b, sink_predict, &x);
        ft_batch_free(&b);
        if (!rc && x.sum) rc = write_gene_aggregate(&x, C);
    }
    if (x.f) {
        int bad = ferror(x.f);
        bad |= fclose(x.f) != 0;
        if (bad && !rc) rc = scfm_error(SCFM_EIO, "%s: write failed", tmp);
        if (!rc && rename(tmp, path) != 0) rc = scfm_error(SCFM_EIO, "%s: cannot rename: %s", path, strerror(errno));
        if (rc) remove(tmp);
    } else if (!rc && x.cell_prob) {
        rc = write_h5ad(&x, path, o, C);
    }
    if (s) s->n_rows = x.rows;
    free(cells);
    free(x.p);
    free(x.sum);
    free(x.count);
    free(x.cell_prob);
    return rc;
}

int scfm_predict(const char *corpus_dir, const char *model_dir, const char *out_path, const scfm_predict_opts *o,
                 scfm_predict_summary *out) {
    double t0 = scfm_now();
    scfm_predict_summary s;
    memset(&s, 0, sizeof s);
    if (!corpus_dir || !model_dir || !out_path) return scfm_error(SCFM_EINVAL, "predict: corpus, model and output are required");
    scfm_head head = SCFM_HEAD_NONE;
    int rc = ft_model_head(model_dir, &head);
    if (rc) return rc;
    scfm_corpus *c = scfm_corpus_open(corpus_dir);
    if (!c) return SCFM_EIO;
    scfm_model *m = scfm_model_load(model_dir, head);
    if (!m) rc = SCFM_EIO;
    if (!rc) rc = ft_check_vocab(&m->cfg, model_dir, c);
    if (!rc && (m->cfg.num_labels < 1 || !m->cfg.id2label))
        rc = scfm_error(SCFM_EFORMAT, "%s/config.json: no id2label", model_dir);
    ft_data d;
    memset(&d, 0, sizeof d);
    char *tmp = NULL;
    if (!rc) {
        d.corpus = c;
        d.vocab = scfm_corpus_load_vocab(c);
        scfm_clear_error();
        d.max_len = m->cfg.max_position_embeddings;
        d.head = head;
        d.gc = &m->cfg.genecompass;
        d.C = m->cfg.num_labels;
        d.V = scfm_corpus_vocab_size(c);
        for (size_t i = 0; i < scfm_corpus_n_cells(c); i++) s.n_truncated += scfm_corpus_len(c, i) > d.max_len;
        if (s.n_truncated)
            scfm_log(SCFM_LOG_WARN, "predict: %zu cells are longer than the model's %zu positions and are truncated",
                     s.n_truncated, d.max_len);
        size_t n = strlen(out_path) + 32;
        if (!(tmp = scfm_malloc(n))) rc = SCFM_ENOMEM;
        else snprintf(tmp, n, "%s.tmp.%ld", out_path, (long)getpid());
    }
    if (!rc) rc = ft_check_genecompass(&d);
    if (!rc) rc = predict_run(m, &d, out_path, tmp, o, &s);
    s.head = head;
    s.n_cells = scfm_corpus_n_cells(c);
    s.n_classes = m ? m->cfg.num_labels : 0;
    s.seconds = scfm_now() - t0;
    if (out) *out = s;
    free(tmp);
    scfm_vocab_free(d.vocab);
    scfm_model_free(m);
    scfm_corpus_close(c);
    return rc;
}
