/* Heads on top of the encoder, as transformers computes them:
 *  MLM:    x = hidden[L][rows]; t = LN(act(x Wd + bd)); logits = t Wdec^T + bias  [M,V]
 *  SEQCLS: pooled = tanh(hidden[L][first row] Wp + bp); logits = dropout(pooled) Wc + bc [B,C]
 *  TOKCLS: logits = dropout(hidden[L]) Wc + bc  [N,C]
 * Loss: mean cross-entropy over labelled rows (label -100 ignored). */
#include <string.h>

#include "heads.h"

/* Weighted mean of the per-row losses (torch CrossEntropyLoss(weight=w)); saves the weight sum. */
static float weighted_loss(scfm_model_acts *a, const int32_t *labels, const float *w, size_t n, float mean) {
    if (!w) return mean;
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++)
        if (labels[i] >= 0) {
            num += (double)w[labels[i]] * a->losses[i];
            den += w[labels[i]];
        }
    a->wsum = den;
    return den > 0.0 ? (float)(num / den) : 0.0f;
}

/* Backward of weighted_loss: rows arrive scaled by s / n_valid; make that s * w_y / wsum. */
static void weight_rows(const scfm_model_acts *a, float *dlogits, const int32_t *labels, const float *w, size_t n,
                        size_t C) {
    if (!w) return;
    double f = a->wsum > 0.0 ? (double)a->n_valid / a->wsum : 0.0;
    for (size_t i = 0; i < n; i++) {
        if (labels[i] < 0) continue;
        float r = (float)(w[labels[i]] * f);
        for (size_t c = 0; c < C; c++) dlogits[i * C + c] *= r;
    }
}

static float cls_dropout(const scfm_model *m) {
    return m->cfg.classifier_dropout >= 0 ? m->cfg.classifier_dropout : m->cfg.hidden_dropout_prob;
}

int scfm__head_has_labels(const scfm_model *m, const scfm_bert_input *in) {
    switch (m->head) {
    case SCFM_HEAD_MLM: return in->mlm_labels != NULL && in->n_mlm > 0;
    case SCFM_HEAD_SEQCLS: return in->seq_labels != NULL;
    case SCFM_HEAD_TOKCLS: return in->tok_labels != NULL;
    default: return 0;
    }
}

/* Encoder row of gene row i. */
static size_t erow(const scfm_model_acts *a, size_t i) { return a->erow ? a->erow[i] : i; }

static float mlm_forward(scfm_model *m, const scfm_bert_input *in, size_t *n_valid) {
    scfm_model_acts *a = m->acts;
    const scfm_bert_config *c = &m->cfg;
    size_t M = in->n_mlm, H = c->hidden_size, V = c->vocab_size;
    const float *h = a->hl;
    a->gc.ce = a->gc.mse = 0.0f;
    a->gc.has_value_loss = 0;
    if (M == 0) return 0.0f;
    for (size_t i = 0; i < M; i++) memcpy(a->hx + i * H, h + in->mlm_rows[i] * H, H * sizeof(float));
    scfm_matmul_forward(a->ht, a->hx, m->p.mlm_dense_w, m->p.mlm_dense_b, M, H, H);
    scfm_act_forward(a->hta, a->ht, M * H, c->hidden_act);
    scfm_layernorm_forward(a->htl, a->hmean, a->hrstd, a->hta, m->p.mlm_ln_w, m->p.mlm_ln_b, M, H, c->layer_norm_eps);
    scfm_matmul_forward(a->logits, a->htl, m->p.mlm_dec_w, m->p.mlm_bias, M, H, V);
    size_t nv = 0;
    float mse = c->genecompass.enabled ? scfm__gc_value_forward(m, in, &nv) : 0.0f;
    if (!in->mlm_labels) return 0.0f;
    float ce = scfm_crossentropy_forward(a->losses, a->logits, in->mlm_labels, M, V, n_valid);
    a->gc.ce = ce;
    if (!a->gc.has_value_loss) return ce; /* no value targets: the plain masked-gene loss */
    const scfm_genecompass_config *g = &c->genecompass;
    return g->id_loss_weight * ce + g->value_loss_weight * mse;
}

static float seqcls_forward(scfm_model *m, const scfm_bert_input *in, int train, uint64_t seed, size_t *n_valid) {
    scfm_model_acts *a = m->acts;
    const scfm_bert_config *c = &m->cfg;
    size_t B = in->B, H = c->hidden_size, C = c->num_labels;
    const float *h = a->hidden[c->num_hidden_layers];
    float p = train ? cls_dropout(m) : 0.0f;
    /* the first encoder row: token 0, or GeneCompass's species row */
    for (size_t b = 0; b < B; b++) memcpy(a->hx + b * H, h + a->eoffs[b] * H, H * sizeof(float));
    scfm_matmul_forward(a->pz, a->hx, m->p.pool_w, m->p.pool_b, B, H, H);
    scfm_act_forward(a->pooled, a->pz, B * H, SCFM_ACT_TANH);
    scfm_dropout_forward(a->pd, a->pooled, B * H, p, seed, scfm__drop_stream(SCFM_DROP_CLS, c->num_hidden_layers));
    scfm_matmul_forward(a->logits, a->pd, m->p.cls_w, m->p.cls_b, B, H, C);
    if (!in->seq_labels) return 0.0f;
    float mean = scfm_crossentropy_forward(a->losses, a->logits, in->seq_labels, B, C, n_valid);
    return weighted_loss(a, in->seq_labels, in->class_weights, B, mean);
}

static float tokcls_forward(scfm_model *m, const scfm_bert_input *in, int train, uint64_t seed, size_t *n_valid) {
    scfm_model_acts *a = m->acts;
    const scfm_bert_config *c = &m->cfg;
    size_t N = a->NG, H = c->hidden_size, C = c->num_labels;
    float p = train ? cls_dropout(m) : 0.0f;
    scfm_dropout_forward(a->hd, a->hl, N * H, p, seed,
                         scfm__drop_stream(SCFM_DROP_CLS, c->num_hidden_layers));
    scfm_matmul_forward(a->logits, a->hd, m->p.cls_w, m->p.cls_b, N, H, C);
    if (!in->tok_labels) return 0.0f;
    float mean = scfm_crossentropy_forward(a->losses, a->logits, in->tok_labels, N, C, n_valid);
    return weighted_loss(a, in->tok_labels, in->class_weights, N, mean);
}

float scfm__head_forward(scfm_model *m, const scfm_bert_input *in, int train, uint64_t seed, size_t *n_valid) {
    *n_valid = 0;
    switch (m->head) {
    case SCFM_HEAD_MLM: return mlm_forward(m, in, n_valid);
    case SCFM_HEAD_SEQCLS: return seqcls_forward(m, in, train, seed, n_valid);
    case SCFM_HEAD_TOKCLS: return tokcls_forward(m, in, train, seed, n_valid);
    default: return 0.0f;
    }
}

static void mlm_backward(scfm_model *m, float scale, float *dh) {
    scfm_model_acts *a = m->acts;
    const scfm_bert_config *c = &m->cfg;
    const scfm_bert_input *in = &a->in;
    size_t M = in->n_mlm, H = c->hidden_size, V = c->vocab_size;
    float *dtl = a->dt1, *dta = a->dt2, *dt = a->dq, *dx = a->dhx;
    const scfm_genecompass_config *g = &c->genecompass;
    float s_ce = a->gc.has_value_loss ? scale * g->id_loss_weight : scale;
    scfm_crossentropy_backward(a->logits, a->logits, in->mlm_labels, M, V, s_ce);
    memset(dtl, 0, M * H * sizeof *dtl);
    scfm_matmul_backward(dtl, m->g.mlm_dec_w, m->g.mlm_bias, a->logits, a->htl, m->p.mlm_dec_w, M, H, V);
    memset(dta, 0, M * H * sizeof *dta);
    scfm_layernorm_backward(dta, m->g.mlm_ln_w, m->g.mlm_ln_b, dtl, a->hta, m->p.mlm_ln_w, a->hmean, a->hrstd, M, H);
    memset(dt, 0, M * H * sizeof *dt);
    scfm_act_backward(dt, a->ht, dta, M * H, c->hidden_act);
    memset(dx, 0, M * H * sizeof *dx);
    scfm_matmul_backward(dx, m->g.mlm_dense_w, m->g.mlm_dense_b, dt, a->hx, m->p.mlm_dense_w, M, H, H);
    if (g->enabled) scfm__gc_value_backward(m, scale, dx);
    for (size_t i = 0; i < M; i++) {
        float *d = dh + erow(a, in->mlm_rows[i]) * H;
        const float *s = dx + i * H;
        for (size_t k = 0; k < H; k++) d[k] += s[k];
    }
}

static void seqcls_backward(scfm_model *m, float scale, float *dh) {
    scfm_model_acts *a = m->acts;
    const scfm_bert_config *c = &m->cfg;
    const scfm_bert_input *in = &a->in;
    size_t B = in->B, H = c->hidden_size, C = c->num_labels;
    float *dpd = a->dt1, *dpooled = a->dt2, *dpz = a->dq, *dx = a->dhx;
    scfm_crossentropy_backward(a->logits, a->logits, in->seq_labels, B, C, scale);
    weight_rows(a, a->logits, in->seq_labels, in->class_weights, B, C);
    memset(dpd, 0, B * H * sizeof *dpd);
    scfm_matmul_backward(dpd, m->g.cls_w, m->g.cls_b, a->logits, a->pd, m->p.cls_w, B, H, C);
    memset(dpooled, 0, B * H * sizeof *dpooled);
    scfm_dropout_backward(dpooled, dpd, B * H, cls_dropout(m), a->seed,
                          scfm__drop_stream(SCFM_DROP_CLS, c->num_hidden_layers));
    memset(dpz, 0, B * H * sizeof *dpz);
    scfm_act_backward(dpz, a->pz, dpooled, B * H, SCFM_ACT_TANH);
    memset(dx, 0, B * H * sizeof *dx);
    scfm_matmul_backward(dx, m->g.pool_w, m->g.pool_b, dpz, a->hx, m->p.pool_w, B, H, H);
    for (size_t b = 0; b < B; b++) {
        float *d = dh + a->eoffs[b] * H;
        for (size_t k = 0; k < H; k++) d[k] += dx[b * H + k];
    }
}

static void tokcls_backward(scfm_model *m, float scale, float *dh) {
    scfm_model_acts *a = m->acts;
    const scfm_bert_config *c = &m->cfg;
    size_t N = a->NG, H = c->hidden_size, C = c->num_labels;
    float *dhd = a->dt1, *dg = a->erow ? a->dt2 : dh;
    scfm_crossentropy_backward(a->logits, a->logits, a->in.tok_labels, N, C, scale);
    weight_rows(a, a->logits, a->in.tok_labels, a->in.class_weights, N, C);
    memset(dhd, 0, N * H * sizeof *dhd);
    scfm_matmul_backward(dhd, m->g.cls_w, m->g.cls_b, a->logits, a->hd, m->p.cls_w, N, H, C);
    if (a->erow) memset(dg, 0, N * H * sizeof *dg);
    scfm_dropout_backward(dg, dhd, N * H, cls_dropout(m), a->seed, scfm__drop_stream(SCFM_DROP_CLS, c->num_hidden_layers));
    if (a->erow)
        for (size_t i = 0; i < N; i++) {
            float *d = dh + a->erow[i] * H;
            for (size_t k = 0; k < H; k++) d[k] += dg[i * H + k];
        }
}

void scfm__head_backward(scfm_model *m, float scale, float *dh) {
    switch (m->head) {
    case SCFM_HEAD_MLM: mlm_backward(m, scale, dh); break;
    case SCFM_HEAD_SEQCLS: seqcls_backward(m, scale, dh); break;
    case SCFM_HEAD_TOKCLS: tokcls_backward(m, scale, dh); break;
    default: break;
    }
}
