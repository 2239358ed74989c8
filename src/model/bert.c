/* BERT encoder forward and backward over packed sequences (Hugging Face BertModel with
 * post-LayerNorm layers), the activation arena, and the model-level forward/backward that
 * add the heads (heads.c). Backward runs in exact reverse order of the forward. */
#include <stdlib.h>
#include <math.h>
#include <string.h>

#include "model_internal.h"
#include "heads.h"

/* ---- arena ---------------------------------------------------------------------------- */
typedef struct { float *base; size_t off; int err; } carver;

static float *carve(carver *c, size_t a, size_t b) {
    size_t n, padded;
    if (c->err || scfm_mul_size(a, b, &n) || scfm_add_size(n, 15, &padded)) { c->err = 1; return NULL; }
    padded = padded / 16 * 16;
    float *p = c->base ? c->base + c->off : NULL;
    if (scfm_add_size(c->off, padded, &c->off)) c->err = 1;
    return p;
}

static void layout_layer(carver *c, scfm_layer_acts *la, size_t N, size_t H, size_t I, size_t NH) {
    la->qkv = carve(c, N, 3 * H);
    la->att = carve(c, N, H);
    la->lse = carve(c, N, NH);
    la->r1 = carve(c, N, H);
    la->ln1 = carve(c, N, H);
    la->mean1 = carve(c, N, 1);
    la->rstd1 = carve(c, N, 1);
    la->f1 = carve(c, N, I);
    la->fa = carve(c, N, I);
    la->r2 = carve(c, N, H);
    la->mean2 = carve(c, N, 1);
    la->rstd2 = carve(c, N, 1);
}

/* Lays out the forward arena in c (base NULL: sizes only). */
static void layout_fwd(const scfm_model *m, scfm_model_acts *a, carver *c) {
    const scfm_bert_config *cfg = &m->cfg;
    size_t N = a->cap_N, B = a->cap_B, M = a->cap_M, H = cfg->hidden_size, L = cfg->num_hidden_layers;
    size_t C = cfg->num_labels, V = cfg->vocab_size, nl = a->cap_train ? L : 1;
    a->wqkv = carve(c, 3 * H, H + 1);
    a->emb = carve(c, N, H);
    a->emb_mean = carve(c, N, 1);
    a->emb_rstd = carve(c, N, 1);
    for (size_t l = 0; l <= L; l++) a->hidden[l] = carve(c, N, H);
    for (size_t l = 0; l < nl; l++)
        layout_layer(c, &a->layers[l], N, H, cfg->intermediate_size, cfg->num_attention_heads);
    size_t maxrows = N > B ? N : B;
    if (M > maxrows) maxrows = M;
    a->losses = carve(c, maxrows, 1);
    if (m->head == SCFM_HEAD_MLM) {
        a->hx = carve(c, M, H);
        a->ht = carve(c, M, H);
        a->hta = carve(c, M, H);
        a->htl = carve(c, M, H);
        a->hmean = carve(c, M, 1);
        a->hrstd = carve(c, M, 1);
        a->logits = carve(c, M, V);
    } else if (m->head == SCFM_HEAD_SEQCLS) {
        a->hx = carve(c, B, H);
        a->pz = carve(c, B, H);
        a->pooled = carve(c, B, H);
        a->pd = carve(c, B, H);
        a->logits = carve(c, B, C);
    } else if (m->head == SCFM_HEAD_TOKCLS) {
        a->hd = carve(c, N, H);
        a->logits = carve(c, N, C);
    }
}

void scfm__acts_free(scfm_model_acts *a) {
    if (!a) return;
    scfm__gc_acts_free(&a->gc, a->hidden ? a->cap_L : 0);
    scfm_free(a->block);
    scfm_free(a->bblock);
    free(a->pos);
    free(a->eoffs);
    free(a->erow);
    free(a->hidden);
    free(a->layers);
    free(a);
}

/* Makes the forward arena hold N tokens, B sequences, M masked rows, in train or inference
 * layout; grows (never shrinks) capacities. Invalidates the previous forward. */
static int acts_ensure(scfm_model *m, size_t N, size_t B, size_t M, int train) {
    scfm_model_acts *a = m->acts;
    if (a && N <= a->cap_N && B <= a->cap_B && M <= a->cap_M && (a->cap_train || !train)) return SCFM_OK;
    size_t L = m->cfg.num_hidden_layers;
    if (!a) {
        if (!(a = scfm_calloc(1, sizeof *a))) return SCFM_ENOMEM;
        m->acts = a;
        a->cap_L = L;
        a->hidden = scfm_calloc(L + 1, sizeof *a->hidden);
        a->layers = scfm_calloc(L, sizeof *a->layers);
        if (!a->hidden || !a->layers) return SCFM_ENOMEM;
    }
    a->have_fwd = 0;
    a->hid_valid = 0;
    a->cap_N = N > a->cap_N ? N : a->cap_N;
    a->cap_B = B > a->cap_B ? B : a->cap_B;
    a->cap_M = M > a->cap_M ? M : a->cap_M;
    a->cap_train = a->cap_train || train;
    scfm_free(a->block);
    a->block = NULL;
    free(a->pos);
    a->pos = NULL;
    carver c = {0};
    layout_fwd(m, a, &c);
    size_t bytes;
    if (c.err || scfm_mul_size(c.off, sizeof(float), &bytes))
        return scfm_error(SCFM_ENOMEM, "activation arena for %zu tokens is too large", N);
    a->block = scfm_alloc_aligned(bytes);
    a->pos = scfm_malloc((a->cap_N ? a->cap_N : 1) * sizeof *a->pos);
    if (!a->block || !a->pos) {
        scfm_free(a->block);
        a->block = NULL;
        a->cap_N = a->cap_B = a->cap_M = 0;
        return scfm_error(SCFM_ENOMEM, "cannot allocate the activation arena (%zu MiB)", bytes >> 20);
    }
    c.base = a->block;
    c.off = 0;
    layout_fwd(m, a, &c);
    return SCFM_OK;
}

/* Backward scratch: d_out, d_in, dt1, dt2 [N,H]; dq, dk, dv [N,H] each, one block (dqkv [N,3H]);
 * dI1, dI2 [N,I]; dhx [max(M,B),H]. */
static int bacts_ensure(scfm_model *m) {
    scfm_model_acts *a = m->acts;
    if (a->bblock && a->bcap_N >= a->cap_N && a->bcap_M >= a->cap_M && a->bcap_M >= a->cap_B) return SCFM_OK;
    size_t N = a->cap_N, H = m->cfg.hidden_size, I = m->cfg.intermediate_size;
    size_t M = a->cap_M > a->cap_B ? a->cap_M : a->cap_B;
    scfm_free(a->bblock);
    a->bblock = NULL;
    for (int pass = 0; pass < 2; pass++) {
        carver c = {.base = a->bblock};
        a->d_out = carve(&c, N, H);
        a->d_in = carve(&c, N, H);
        a->dt1 = carve(&c, N, H);
        a->dt2 = carve(&c, N, H);
        a->dq = carve(&c, N, 3 * H); /* dq, dk, dv: the column blocks' rows of dqkv, or [N,H] scratch */
        a->dk = a->dq ? a->dq + N * H : NULL;
        a->dv = a->dq ? a->dq + 2 * N * H : NULL;
        a->dI1 = carve(&c, N, I);
        a->dI2 = carve(&c, N, I);
        a->dhx = carve(&c, M, H);
        size_t bytes;
        if (c.err || scfm_mul_size(c.off, sizeof(float), &bytes))
            return scfm_error(SCFM_ENOMEM, "backward arena too large");
        if (pass == 0 && !(a->bblock = scfm_alloc_aligned(bytes)))
            return scfm_error(SCFM_ENOMEM, "cannot allocate the backward arena (%zu MiB)", bytes >> 20);
    }
    a->bcap_N = N;
    a->bcap_M = M;
    return SCFM_OK;
}

/* ---- input checks --------------------------------------------------------------------- */
static int check_labels(const int32_t *lab, size_t n, size_t lim, const char *what) {
    for (size_t i = 0; lab && i < n; i++)
        if (lab[i] != -100 && (lab[i] < 0 || (size_t)lab[i] >= lim))
            return scfm_error(SCFM_EINVAL, "input: %s[%zu] = %d outside [0, %zu) and not -100", what, i,
                              (int)lab[i], lim);
    return SCFM_OK;
}

int scfm_model_check_batch(const scfm_model *m, const scfm_bert_input *b) {
    const scfm_bert_config *c = &m->cfg;
    if (!b->offs || !b->ids || b->B == 0 || b->offs[0] != 0)
        return scfm_error(SCFM_EINVAL, "input: empty batch or offs[0] != 0");
    for (size_t s = 0; s < b->B; s++) {
        if (b->offs[s + 1] <= b->offs[s])
            return scfm_error(SCFM_EINVAL, "input: sequence %zu is empty or offsets decrease", s);
        if (b->offs[s + 1] - b->offs[s] > c->max_position_embeddings)
            return scfm_error(SCFM_EINVAL, "input: sequence %zu has %zu tokens, more than max_position_embeddings %zu",
                              s, b->offs[s + 1] - b->offs[s], c->max_position_embeddings);
    }
    size_t N = b->offs[b->B];
    int rc = scfm__gc_check_batch(m, b);
    if (rc) return rc;
    for (size_t i = 0; i < N; i++) {
        if (b->ids[i] < 0 || (size_t)b->ids[i] >= c->vocab_size)
            return scfm_error(SCFM_EINVAL, "input: token id %d at row %zu outside the vocabulary (%zu)",
                              (int)b->ids[i], i, c->vocab_size);
        if (b->pos && (b->pos[i] < 0 || (size_t)b->pos[i] >= c->max_position_embeddings))
            return scfm_error(SCFM_EINVAL, "input: position %d at row %zu out of range", (int)b->pos[i], i);
    }
    if (m->head == SCFM_HEAD_MLM) {
        if (b->n_mlm && !b->mlm_rows) return scfm_error(SCFM_EINVAL, "input: n_mlm > 0 but no mlm_rows");
        if (b->n_mlm > N) return scfm_error(SCFM_EINVAL, "input: %zu masked rows for %zu tokens", b->n_mlm, N);
        for (size_t i = 0; i < b->n_mlm; i++)
            if (b->mlm_rows[i] >= N)
                return scfm_error(SCFM_EINVAL, "input: mlm_rows[%zu] = %zu beyond %zu tokens", i, b->mlm_rows[i], N);
        return check_labels(b->mlm_labels, b->n_mlm, c->vocab_size, "mlm_labels");
    }
    if (b->class_weights)
        for (size_t k = 0; k < c->num_labels; k++)
            if (!(b->class_weights[k] >= 0.0f) || !isfinite(b->class_weights[k]))
                return scfm_error(SCFM_EINVAL, "input: class_weights[%zu] = %g (must be finite and >= 0)", k,
                                  (double)b->class_weights[k]);
    if (m->head == SCFM_HEAD_SEQCLS) return check_labels(b->seq_labels, b->B, c->num_labels, "seq_labels");
    if (m->head == SCFM_HEAD_TOKCLS) return check_labels(b->tok_labels, N, c->num_labels, "tok_labels");
    return SCFM_OK;
}

/* ---- encoder forward ------------------------------------------------------------------ */
static void embed_forward(scfm_model *m, const scfm_bert_input *in, const int32_t *pos, int train, uint64_t seed) {
    scfm_model_acts *a = m->acts;
    const scfm_bert_config *c = &m->cfg;
    size_t N = a->N, H = c->hidden_size;
    if (c->genecompass.enabled) {
        scfm__gc_embed_forward(m, in, pos, train, seed);
        return;
    }
    scfm_embedding_forward(a->emb, in->ids, pos, m->p.wte, m->p.wpe, m->p.wtt, N, H);
    scfm_layernorm_forward(a->hidden[0], a->emb_mean, a->emb_rstd, a->emb, m->p.emb_ln_w, m->p.emb_ln_b, N, H,
                           c->layer_norm_eps);
    if (train && c->hidden_dropout_prob > 0)
        scfm_dropout_forward(a->hidden[0], a->hidden[0], N * H, c->hidden_dropout_prob, seed,
                             scfm__drop_stream(SCFM_DROP_EMB, 0));
}

/* a->wqkv = [q_w; k_w; v_w] ([3H,H]) then [q_b; k_b; v_b] ([3H]) of layer l */
static void fuse_qkv(scfm_model *m, size_t l) {
    const scfm_bert_layer_params *p = &m->p.layers[l];
    size_t H = m->cfg.hidden_size;
    float *w = m->acts->wqkv, *b = w + 3 * H * H;
    memcpy(w, p->q_w, H * H * sizeof *w);
    memcpy(w + H * H, p->k_w, H * H * sizeof *w);
    memcpy(w + 2 * H * H, p->v_w, H * H * sizeof *w);
    memcpy(b, p->q_b, H * sizeof *b);
    memcpy(b + H, p->k_b, H * sizeof *b);
    memcpy(b + 2 * H, p->v_b, H * sizeof *b);
}

static void layer_forward(scfm_model *m, size_t l, const scfm_bert_input *in, int train, uint64_t seed) {
    scfm_model_acts *a = m->acts;
    const scfm_bert_config *c = &m->cfg;
    const scfm_bert_layer_params *p = &m->p.layers[l];
    scfm_layer_acts *la = &a->layers[train ? l : 0];
    size_t N = a->N, H = c->hidden_size, I = c->intermediate_size, NH = c->num_attention_heads;
    float ph = train ? c->hidden_dropout_prob : 0, pa = train ? c->attention_probs_dropout_prob : 0;
    const float *x = a->hidden[l];
    /* q, k, v from one [N,H] x [H,3H] product (the three weights side by side in scratch) */
    fuse_qkv(m, l);
    const float *wqkv = a->wqkv, *bqkv = a->wqkv + 3 * H * H;
    scfm_matmul_forward(la->qkv, x, wqkv, bqkv, N, H, 3 * H);
    scfm_attention_forward_ld(la->att, la->lse, la->qkv, la->qkv + H, la->qkv + 2 * H, 3 * H, a->eoffs, in->B, NH,
                              H / NH, pa, seed, scfm__drop_stream(SCFM_DROP_ATTN_PROB, l));
    /* r1 = dropout(att Wo + bo) + x, ln1 = LN(r1): bias, residual and LayerNorm in one pass
     * when there is no dropout between them */
    scfm_matmul_forward(la->r1, la->att, p->ao_w, ph > 0 ? p->ao_b : NULL, N, H, H);
    if (ph > 0) scfm_dropout_forward(la->r1, la->r1, N * H, ph, seed, scfm__drop_stream(SCFM_DROP_ATTN_OUT, l));
    scfm_residual_layernorm_forward(la->r1, la->ln1, la->mean1, la->rstd1, ph > 0 ? NULL : p->ao_b, x, p->ln1_w,
                                    p->ln1_b, N, H, c->layer_norm_eps);
    /* fa = act(ln1 W1 + b1), bias and activation in one pass */
    scfm_matmul_forward(la->f1, la->ln1, p->ff1_w, NULL, N, H, I);
    scfm_bias_act_forward(la->f1, la->fa, p->ff1_b, N, I, c->hidden_act);
    scfm_matmul_forward(la->r2, la->fa, p->ff2_w, ph > 0 ? p->ff2_b : NULL, N, I, H);
    if (ph > 0) scfm_dropout_forward(la->r2, la->r2, N * H, ph, seed, scfm__drop_stream(SCFM_DROP_FFN_OUT, l));
    scfm_residual_layernorm_forward(la->r2, a->hidden[l + 1], la->mean2, la->rstd2, ph > 0 ? NULL : p->ff2_b, la->ln1,
                                    p->ln2_w, p->ln2_b, N, H, c->layer_norm_eps);
}

static const int32_t *positions(scfm_model_acts *a, const scfm_bert_input *in) {
    if (in->pos) return in->pos;
    for (size_t s = 0; s < in->B; s++)
        for (size_t i = in->offs[s]; i < in->offs[s + 1]; i++) a->pos[i] = (int32_t)(i - in->offs[s]);
    return a->pos;
}

/* Encoder layout: offsets with the species row in front of each sequence (GeneCompass
 * use_cls_token), the encoder row of each gene row. */
static int encoder_layout(scfm_model *m, const scfm_bert_input *in) {
    scfm_model_acts *a = m->acts;
    size_t B = in->B, NG = in->offs[B];
    int sp = m->cfg.genecompass.enabled && m->cfg.genecompass.use_cls_token;
    if (a->cap_offs < B + 1 || (sp && !a->erow) || (sp && a->cap_erow < NG)) {
        size_t cb = B + 1 > a->cap_offs ? B + 1 : a->cap_offs, cn = NG > a->cap_erow ? NG : a->cap_erow;
        size_t *eo = realloc(a->eoffs, cb * sizeof *eo);
        if (!eo) return scfm_error(SCFM_ENOMEM, "encoder offsets");
        a->eoffs = eo;
        a->cap_offs = cb;
        if (sp) {
            size_t *er = realloc(a->erow, cn * sizeof *er);
            if (!er) return scfm_error(SCFM_ENOMEM, "encoder rows");
            a->erow = er;
            a->cap_erow = cn;
        }
    }
    if (!sp) {
        free(a->erow);
        a->erow = NULL;
        a->cap_erow = 0;
    }
    for (size_t s = 0; s <= B; s++) a->eoffs[s] = in->offs[s] + (sp ? s : 0);
    if (sp)
        for (size_t s = 0; s < B; s++)
            for (size_t i = in->offs[s]; i < in->offs[s + 1]; i++) a->erow[i] = i + s + 1;
    return SCFM_OK;
}

/* Gene rows of hidden[L] for the heads (a copy when species rows sit between them). */
static void gene_rows_last(scfm_model *m) {
    scfm_model_acts *a = m->acts;
    size_t H = m->cfg.hidden_size;
    const float *h = a->hidden[m->cfg.num_hidden_layers];
    if (!a->erow) { a->hl = h; return; }
    for (size_t i = 0; i < a->NG; i++) memcpy(a->gc.hl + i * H, h + a->erow[i] * H, H * sizeof(float));
    a->hl = a->gc.hl;
}

/* The forward through the first n_layers encoder layers; the head (and have_fwd) only
 * when n_layers is all of them. */
static int forward_layers(scfm_model *m, const scfm_bert_input *in, int train, uint64_t dropout_seed, float *loss,
                          size_t n_layers) {
    int rc = scfm_model_check_batch(m, in);
    if (rc) return rc;
    const scfm_precision prec = m->precision;
    if (train && prec != SCFM_PREC_FP32)
        return scfm_error(SCFM_EINVAL, "%s is for inference only: training runs in fp32 (set the precision to fp32)",
                          scfm_precision_name(prec));
    int gc = m->cfg.genecompass.enabled, sp = gc && m->cfg.genecompass.use_cls_token;
    size_t L = m->cfg.num_hidden_layers, full = n_layers == L;
    size_t NG = in->offs[in->B], N = NG + (sp ? in->B : 0), M = full && m->head == SCFM_HEAD_MLM ? in->n_mlm : 0;
    if ((rc = acts_ensure(m, N, in->B, M, train))) return rc;
    scfm_model_acts *a = m->acts;
    a->have_fwd = 0;
    a->hid_valid = 0;
    if ((rc = encoder_layout(m, in))) return rc;
    if (gc && (rc = scfm__gc_acts_ensure(m, NG, M))) return rc;
    if (prec != SCFM_PREC_FP32 && (rc = scfm__lowp_ensure(m, N))) return rc;
    a->NG = NG;
    a->N = N;
    a->in = *in;
    a->seed = dropout_seed;
    a->fwd_train = !!train;
    embed_forward(m, in, positions(a, in), train, dropout_seed);
    for (size_t l = 0; l < n_layers; l++) {
        if (prec == SCFM_PREC_FP32) layer_forward(m, l, in, train, dropout_seed);
        else if ((rc = prec == SCFM_PREC_BF16 ? scfm__layer_forward_bf16(m, l, in)
                                               : scfm__layer_forward_int8(m, l, in)))
            return rc;
    }
    a->hid_valid = n_layers + 1;
    if (!full) return SCFM_OK;
    gene_rows_last(m);
    a->loss = scfm__head_forward(m, in, train, dropout_seed, &a->n_valid);
    a->have_fwd = 1;
    if (loss) *loss = a->loss;
    return SCFM_OK;
}

int scfm_model_forward(scfm_model *m, const scfm_bert_input *in, int train, uint64_t dropout_seed, float *loss) {
    return forward_layers(m, in, train, dropout_seed, loss, m->cfg.num_hidden_layers);
}

int scfm_model_forward_hidden(scfm_model *m, const scfm_bert_input *in, size_t n_layers) {
    if (n_layers > m->cfg.num_hidden_layers)
        return scfm_error(SCFM_EINVAL, "forward: %zu layers asked of a model with %zu", n_layers,
                          (size_t)m->cfg.num_hidden_layers);
    return forward_layers(m, in, 0, 0, NULL, n_layers);
}

/* ---- forward workers ------------------------------------------------------------------ */
scfm_model *scfm_model_worker(const scfm_model *m) {
    scfm_model *w = scfm_malloc(sizeof *w);
    if (!w) return NULL;
    *w = *m;
    w->grads = NULL;
    memset(&w->g, 0, sizeof w->g);
    w->acts = NULL;
    if (scfm__lowp_worker(w, m)) { free(w); return NULL; }
    return w;
}

void scfm_model_worker_free(scfm_model *w) {
    if (!w) return;
    scfm__acts_free(w->acts);
    scfm__lowp_free(w);
    free(w);
}

/* ---- accessors ------------------------------------------------------------------------ */
const float *scfm_model_hidden(const scfm_model *m, size_t layer) {
    scfm_model_acts *a = m->acts;
    if (!a || layer >= a->hid_valid) return NULL;
    if (!a->erow) return a->hidden[layer];
    /* species rows present: compact the gene rows once per forward and layer */
    size_t H = m->cfg.hidden_size;
    if (!a->gc.hid[layer]) {
        float *g = scfm_malloc((a->NG ? a->NG : 1) * H * sizeof *g);
        if (!g) return NULL;
        for (size_t i = 0; i < a->NG; i++) memcpy(g + i * H, a->hidden[layer] + a->erow[i] * H, H * sizeof *g);
        a->gc.hid[layer] = g;
    }
    return a->gc.hid[layer];
}

const float *scfm_model_hidden_encoder(const scfm_model *m, size_t layer, size_t *rows) {
    const scfm_model_acts *a = m->acts;
    if (!a || layer >= a->hid_valid) return NULL;
    if (rows) *rows = a->N;
    return a->hidden[layer];
}

const size_t *scfm_model_encoder_offsets(const scfm_model *m) {
    const scfm_model_acts *a = m->acts;
    return a && a->hid_valid ? a->eoffs : NULL;
}

const float *scfm_model_logits(const scfm_model *m, size_t *rows, size_t *cols) {
    const scfm_model_acts *a = m->acts;
    if (!a || !a->have_fwd || m->head == SCFM_HEAD_NONE) return NULL;
    size_t r = m->head == SCFM_HEAD_MLM ? a->in.n_mlm : m->head == SCFM_HEAD_SEQCLS ? a->in.B : a->NG;
    if (rows) *rows = r;
    if (cols) *cols = m->head == SCFM_HEAD_MLM ? m->cfg.vocab_size : m->cfg.num_labels;
    return a->logits;
}

const float *scfm_model_pooled(const scfm_model *m) {
    if (!m->acts || !m->acts->have_fwd || m->head != SCFM_HEAD_SEQCLS) return NULL;
    return m->acts->pooled;
}

size_t scfm_model_loss_count(const scfm_model *m) {
    return m->acts && m->acts->have_fwd ? m->acts->n_valid : 0;
}

/* ---- encoder backward ----------------------------------------------------------------- */
/* d_out holds dL/d(hidden[l+1]); on return d_in holds dL/d(hidden[l]) (overwritten). */
static void layer_backward(scfm_model *m, size_t l) {
    scfm_model_acts *a = m->acts;
    const scfm_bert_config *c = &m->cfg;
    const scfm_bert_layer_params *p = &m->p.layers[l];
    const scfm_bert_layer_params *g = &m->g.layers[l];
    const scfm_layer_acts *la = &a->layers[l];
    size_t N = a->N, H = c->hidden_size, I = c->intermediate_size, NH = c->num_attention_heads;
    size_t NHf = N * H, NI = N * I;
    float ph = c->hidden_dropout_prob, pa = c->attention_probs_dropout_prob;
    uint64_t seed = a->seed;
    const float *x = a->hidden[l];
    float *dr2 = a->dt1, *dln1 = a->dt2, *dr1 = a->dq, *dff2 = a->dk;
    /* output LayerNorm: hidden[l+1] = LN(r2) */
    memset(dr2, 0, NHf * sizeof *dr2);
    scfm_layernorm_backward(dr2, g->ln2_w, g->ln2_b, a->d_out, la->r2, p->ln2_w, la->mean2, la->rstd2, N, H);
    /* r2 = dropout(fa W2 + b2) + ln1 */
    memcpy(dln1, dr2, NHf * sizeof *dln1);
    memset(dff2, 0, NHf * sizeof *dff2);
    scfm_dropout_backward(dff2, dr2, NHf, ph, seed, scfm__drop_stream(SCFM_DROP_FFN_OUT, l));
    memset(a->dI2, 0, NI * sizeof *a->dI2);
    scfm_matmul_backward(a->dI2, g->ff2_w, g->ff2_b, dff2, la->fa, p->ff2_w, N, I, H);
    memset(a->dI1, 0, NI * sizeof *a->dI1);
    scfm_act_backward(a->dI1, la->f1, a->dI2, NI, c->hidden_act);
    scfm_matmul_backward(dln1, g->ff1_w, g->ff1_b, a->dI1, la->ln1, p->ff1_w, N, H, I);
    /* ln1 = LN(r1) */
    memset(dr1, 0, NHf * sizeof *dr1);
    scfm_layernorm_backward(dr1, g->ln1_w, g->ln1_b, dln1, la->r1, p->ln1_w, la->mean1, la->rstd1, N, H);
    /* r1 = dropout(att Wo + bo) + x */
    memcpy(a->d_in, dr1, NHf * sizeof *a->d_in);
    float *dao = a->dt1, *datt = a->dt2;
    memset(dao, 0, NHf * sizeof *dao);
    scfm_dropout_backward(dao, dr1, NHf, ph, seed, scfm__drop_stream(SCFM_DROP_ATTN_OUT, l));
    memset(datt, 0, NHf * sizeof *datt);
    scfm_matmul_backward(datt, g->ao_w, g->ao_b, dao, la->att, p->ao_w, N, H, H);
    /* attention */
    /* attention into dqkv [N,3H] (the dq, dk, dv block), then the fused projection's backward */
    float *dqkv = a->dq, *qkv = la->qkv;
    const size_t H3 = 3 * H;
    memset(dqkv, 0, 3 * NHf * sizeof *dqkv);
    const scfm_bert_input *in = &a->in;
    scfm_attention_backward_ld(dqkv, dqkv + H, dqkv + 2 * H, datt, la->att, la->lse, qkv, qkv + H, qkv + 2 * H, H3,
                               a->eoffs, in->B, NH, H / NH, pa, seed, scfm__drop_stream(SCFM_DROP_ATTN_PROB, l));
    scfm_matmul_backward_ld(NULL, g->q_w, g->q_b, dqkv, H3, x, NULL, N, H, H);
    scfm_matmul_backward_ld(NULL, g->k_w, g->k_b, dqkv + H, H3, x, NULL, N, H, H);
    scfm_matmul_backward_ld(NULL, g->v_w, g->v_b, dqkv + 2 * H, H3, x, NULL, N, H, H);
    fuse_qkv(m, l);
    scfm_matmul_backward_ld(a->d_in, NULL, NULL, dqkv, H3, x, a->wqkv, N, H, H3);
}

static void embed_backward(scfm_model *m) {
    scfm_model_acts *a = m->acts;
    const scfm_bert_config *c = &m->cfg;
    if (c->genecompass.enabled) {
        scfm__gc_embed_backward(m);
        return;
    }
    size_t N = a->N, H = c->hidden_size;
    float *dln = a->dt1, *demb = a->dt2;
    memset(dln, 0, N * H * sizeof *dln);
    scfm_dropout_backward(dln, a->d_out, N * H, c->hidden_dropout_prob, a->seed, scfm__drop_stream(SCFM_DROP_EMB, 0));
    memset(demb, 0, N * H * sizeof *demb);
    scfm_layernorm_backward(demb, m->g.emb_ln_w, m->g.emb_ln_b, dln, a->emb, m->p.emb_ln_w, a->emb_mean,
                            a->emb_rstd, N, H);
    const int32_t *pos = a->in.pos ? a->in.pos : a->pos;
    scfm_embedding_backward(m->g.wte, m->g.wpe, m->g.wtt, demb, a->in.ids, pos, N, H, c->pad_token_id);
}

int scfm_model_backward_scaled(scfm_model *m, float scale) {
    scfm_model_acts *a = m->acts;
    if (!a || !a->have_fwd || !a->fwd_train)
        return scfm_error(SCFM_EINVAL, "backward: no training forward pass to differentiate");
    if (!scfm__head_has_labels(m, &a->in))
        return scfm_error(SCFM_EINVAL, "backward: the input carries no labels for the %s head", scfm_head_name(m->head));
    int rc = scfm__model_ensure_grads(m);
    if (!rc) rc = bacts_ensure(m);
    if (rc) return rc;
    size_t NH = a->N * m->cfg.hidden_size;
    memset(a->d_out, 0, NH * sizeof *a->d_out);
    scfm__head_backward(m, a->n_valid ? scale / (float)a->n_valid : 0.0f, a->d_out);
    for (size_t l = m->cfg.num_hidden_layers; l-- > 0;) {
        layer_backward(m, l);
        float *t = a->d_out;
        a->d_out = a->d_in;
        a->d_in = t;
    }
    embed_backward(m);
    return SCFM_OK;
}

int scfm_model_backward(scfm_model *m) { return scfm_model_backward_scaled(m, 1.0f); }
