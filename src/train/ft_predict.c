/* scfm predict: a fine-tuned classifier on every cell of a corpus. See include/scfm/finetune.h. */
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ft_internal.h"

/* ---- prediction -------------------------------------------------------------------------- */

typedef struct {
    FILE *f;
    const ft_data *d;
    const scfm_bert_config *cfg;
    int per_token;
    float *p;            /* [C] */
    double *sum;         /* gene aggregate: [V*C] */
    uint64_t *count;     /* [V] */
    size_t rows;
} pred_ctx;

static int sink_predict(void *ud, const ft_batch *b, const float *lg, size_t C) {
    pred_ctx *x = ud;
    const scfm_corpus *c = x->d->corpus;
    if (x->d->head == SCFM_HEAD_SEQCLS) {
        for (size_t i = 0; i < b->B; i++) {
            ft_softmax_row(lg + i * C, C, x->p, -1);
            fprintf(x->f, "%s\t%s", scfm_corpus_cell_id(c, b->cells[i]), x->cfg->id2label[ft_argmax(x->p, C)]);
            for (size_t k = 0; k < C; k++) fprintf(x->f, "\t%.7g", (double)x->p[k]);
            fputc('\n', x->f);
            x->rows++;
        }
        return SCFM_OK;
    }
    for (size_t i = 0; i < b->B; i++)
        for (size_t r = b->offs[i]; r < b->offs[i + 1]; r++) {
            ft_softmax_row(lg + r * C, C, x->p, -1);
            int32_t t = b->ids[r];
            if (x->per_token) {
                const char *g = x->d->vocab ? scfm_vocab_token(x->d->vocab, (size_t)t) : NULL;
                fprintf(x->f, "%s\t", scfm_corpus_cell_id(c, b->cells[i]));
                if (g) fputs(g, x->f);
                else fprintf(x->f, "%d", (int)t);
                fprintf(x->f, "\t%zu\t%s", r - b->offs[i], x->cfg->id2label[ft_argmax(x->p, C)]);
                for (size_t k = 0; k < C; k++) fprintf(x->f, "\t%.7g", (double)x->p[k]);
                fputc('\n', x->f);
                x->rows++;
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
        const char *g = x->d->vocab ? scfm_vocab_token(x->d->vocab, t) : NULL;
        if (g) fputs(g, x->f);
        else fprintf(x->f, "%zu", t);
        fprintf(x->f, "\t%llu\t%s", (unsigned long long)x->count[t], x->cfg->id2label[ft_argmax(mean, C)]);
        for (size_t k = 0; k < C; k++) fprintf(x->f, "\t%.7g", (double)mean[k]);
        fputc('\n', x->f);
        x->rows++;
    }
    return SCFM_OK;
}

static int predict_run(scfm_model *m, ft_data *d, const char *tmp, const scfm_predict_opts *o, scfm_predict_summary *s) {
    size_t n = scfm_corpus_n_cells(d->corpus), C = m->cfg.num_labels;
    pred_ctx x = {.d = d, .cfg = &m->cfg, .per_token = o && o->per_token};
    size_t *cells = scfm_calloc(n ? n : 1, sizeof *cells);
    x.p = scfm_calloc(C ? C : 1, sizeof *x.p);
    int rc = cells && x.p ? SCFM_OK : SCFM_ENOMEM;
    if (!rc && d->head == SCFM_HEAD_TOKCLS && !x.per_token) {
        size_t vc;
        if (scfm_mul_size(d->V, C, &vc)) return scfm_error(SCFM_ENOMEM, "predict: too many classes");
        x.sum = scfm_calloc(vc ? vc : 1, sizeof *x.sum);
        x.count = scfm_calloc(d->V ? d->V : 1, sizeof *x.count);
        if (!x.sum || !x.count) rc = SCFM_ENOMEM;
    }
    if (!rc && !(x.f = fopen(tmp, "w"))) rc = scfm_error(SCFM_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    if (!rc) {
        if (d->head == SCFM_HEAD_SEQCLS) fputs("cell_id\tpredicted", x.f);
        else if (x.per_token) fputs("cell_id\tgene\tposition\tpredicted", x.f);
        else fputs("gene\tn\tpredicted", x.f);
        for (size_t k = 0; k < C; k++) fprintf(x.f, "\tprob_%s", m->cfg.id2label[k]);
        fputc('\n', x.f);
        for (size_t i = 0; i < n; i++) cells[i] = i;
        ft_batch b;
        memset(&b, 0, sizeof b);
        size_t bc = o && o->batch_cells ? o->batch_cells : 64;
        rc = ft_eval_cells(m, d, cells, n, bc, &b, sink_predict, &x);
        ft_batch_free(&b);
        if (!rc && x.sum) rc = write_gene_aggregate(&x, C);
    }
    if (x.f) {
        int bad = ferror(x.f);
        bad |= fclose(x.f) != 0;
        if (bad && !rc) rc = scfm_error(SCFM_EIO, "%s: write failed", tmp);
    }
    if (s) s->n_rows = x.rows;
    free(cells);
    free(x.p);
    free(x.sum);
    free(x.count);
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
    if (!rc) rc = predict_run(m, &d, tmp, o, &s);
    if (!rc && rename(tmp, out_path) != 0) rc = scfm_error(SCFM_EIO, "%s: cannot rename: %s", out_path, strerror(errno));
    if (rc && tmp) remove(tmp);
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
