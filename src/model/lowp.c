/* Reduced precision (bf16, int8) inference of the encoder layers (model.h:
 * scfm_model_set_precision). The bf16 layer below is bert.c's layer_forward for train = 0 with
 * the four linear products and the attention on the bf16 kernels of src/nn/bf16.c; bias,
 * residual, LayerNorm and the activation are the same float32 arithmetic, their passes writing
 * the bf16 input of the next product as they go; the q, k, v product writes bf16 (oneDNN
 * rounds its float32 sums), which is all the attention reads. The int8 layer is layer_forward
 * for train = 0 with the four linear products on int8 operands (src/nn/int8.c: weights
 * quantized once per output channel, activations per row before each product), the attention
 * on the bf16 kernels where the CPU has them (q, k, v rounded to bf16) and in float32
 * elsewhere, and everything else in float32. */
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"

struct scfm_model_lowp {
    size_t L, H, I;
    scfm_bf16 *w;     /* per layer: qkv [3H,H], ao [H,H], ff1 [I,H], ff2 [H,I] */
    float *bqkv;      /* per layer [3H]: q, k, v biases side by side */
    scfm_bf16 *act;   /* [cap_rows][max(H, I)] activations rounded for the next product, then */
    scfm_bf16 *mid;   /* [cap_rows][max(3H, I)] the attention's q, k, v, later the FFN's inner activation */
    int8_t *wq;       /* int8: per layer as w */
    float *wsc;       /* int8: per layer [3H + H + I + H] scales of wq's rows (output channels) */
    int8_t *xq;       /* int8: [cap_rows][max(H, I)] the next product's quantized input */
    float *xs;        /* int8: [cap_rows] its rows' scales */
    int int8_att_bf16; /* int8: attention on the bf16 kernels (the CPU has them), q, k, v in mid */
    size_t cap_rows;
    size_t act_hidden; /* act holds hidden state act_hidden rounded (written by the layer below); 0: none */
    int borrowed;     /* a forward worker's: w and bqkv belong to the model it was made from */
};

static size_t layer_w(const scfm_model_lowp *c) { return 4 * c->H * c->H + 2 * c->I * c->H; }
static size_t layer_s(const scfm_model_lowp *c) { return 5 * c->H + c->I; }

void scfm__lowp_free(scfm_model *m) {
    if (!m->lowp) return;
    if (!m->lowp->borrowed) {
        scfm_free(m->lowp->w);
        free(m->lowp->bqkv);
        scfm_free(m->lowp->wq);
        free(m->lowp->wsc);
    }
    scfm_free(m->lowp->act);
    scfm_free(m->lowp->xq);
    free(m->lowp->xs);
    free(m->lowp);
    m->lowp = NULL;
}

const char *scfm_precision_name(scfm_precision p) {
    return p == SCFM_PREC_BF16 ? "bf16" : p == SCFM_PREC_INT8 ? "int8" : p == SCFM_PREC_FP32 ? "fp32" : "?";
}

int scfm_precision_from_name(const char *name, scfm_precision *out) {
    if (name && !strcmp(name, "fp32")) *out = SCFM_PREC_FP32;
    else if (name && !strcmp(name, "bf16")) *out = SCFM_PREC_BF16;
    else if (name && !strcmp(name, "int8")) *out = SCFM_PREC_INT8;
    else return scfm_error(SCFM_EINVAL, "precision '%s' is not fp32, bf16 or int8", name ? name : "(null)");
    return SCFM_OK;
}

scfm_precision scfm_model_precision(const scfm_model *m) { return m->precision; }

/* The int8 copies of one layer's four weights: rows quantized per output channel. */
static void quantize_layer(scfm_model_lowp *c, const scfm_bert_layer_params *lp, int8_t *w, float *s) {
    const size_t H = c->H, I = c->I;
    scfm_int8_quantize_rows(w, s, lp->q_w, H, H);
    scfm_int8_quantize_rows(w + H * H, s + H, lp->k_w, H, H);
    scfm_int8_quantize_rows(w + 2 * H * H, s + 2 * H, lp->v_w, H, H);
    scfm_int8_quantize_rows(w + 3 * H * H, s + 3 * H, lp->ao_w, H, H);
    scfm_int8_quantize_rows(w + 4 * H * H, s + 4 * H, lp->ff1_w, I, H);
    scfm_int8_quantize_rows(w + 4 * H * H + I * H, s + 4 * H + I, lp->ff2_w, H, I);
}

int scfm_model_set_precision(scfm_model *m, scfm_precision p) {
    if (p != SCFM_PREC_FP32 && p != SCFM_PREC_BF16 && p != SCFM_PREC_INT8)
        return scfm_error(SCFM_EINVAL, "unknown precision %d", (int)p);
    if (p == SCFM_PREC_FP32) {
        scfm__lowp_free(m);
        m->precision = SCFM_PREC_FP32;
        return SCFM_OK;
    }
    char why[256];
    if (p == SCFM_PREC_BF16 && !scfm_bf16_supported(why, sizeof why))
        return scfm_error(SCFM_EINVAL, "bf16 inference is not available here: %s (use fp32)", why);
    if (p == SCFM_PREC_INT8 && !scfm_int8_supported(why, sizeof why))
        return scfm_error(SCFM_EINVAL, "int8 inference is not available here: %s (use fp32)", why);
    const scfm_bert_config *cfg = &m->cfg;
    const size_t H = cfg->hidden_size, I = cfg->intermediate_size, L = cfg->num_hidden_layers;
    if (p == SCFM_PREC_BF16 && (H / cfg->num_attention_heads) % 2)
        return scfm_error(SCFM_EINVAL, "bf16 inference needs an even head size (hidden %zu / %zu heads)", H,
                          cfg->num_attention_heads);
    /* the old copies go first (peak memory: one set); until the new ones are in place the
     * model is fp32, so that a failure below leaves a usable fp32 model */
    scfm__lowp_free(m);
    m->precision = SCFM_PREC_FP32;
    scfm_model_lowp *c = scfm_calloc(1, sizeof *c);
    if (!c) return scfm_error(SCFM_ENOMEM, "cannot allocate the %s weight cache", scfm_precision_name(p));
    c->L = L;
    c->H = H;
    c->I = I;
    c->int8_att_bf16 = p == SCFM_PREC_INT8 && scfm_bf16_supported(NULL, 0) && (H / cfg->num_attention_heads) % 2 == 0;
    const size_t esz = p == SCFM_PREC_BF16 ? sizeof *c->w : sizeof *c->wq;
    size_t nw, bytes;
    if (scfm_mul_size(layer_w(c), L, &nw) || scfm_mul_size(nw, esz, &bytes)) {
        free(c);
        return scfm_error(SCFM_ENOMEM, "%s weights too large", scfm_precision_name(p));
    }
    void *wbuf = scfm_alloc_aligned(bytes ? bytes : 64);
    float *side = scfm_malloc((L ? L : 1) * (p == SCFM_PREC_BF16 ? 3 * H : layer_s(c)) * sizeof *side);
    if (!wbuf || !side) {
        scfm_free(wbuf);
        free(side);
        free(c);
        return scfm_error(SCFM_ENOMEM, "cannot allocate the %s weights (%zu MiB)", scfm_precision_name(p),
                          bytes >> 20);
    }
    for (size_t l = 0; l < L; l++) {
        const scfm_bert_layer_params *lp = &m->p.layers[l];
        if (p == SCFM_PREC_INT8) {
            quantize_layer(c, lp, (int8_t *)wbuf + l * layer_w(c), side + l * layer_s(c));
            continue;
        }
        scfm_bf16 *w = (scfm_bf16 *)wbuf + l * layer_w(c);
        scfm_bf16_convert(w, lp->q_w, H * H);
        scfm_bf16_convert(w + H * H, lp->k_w, H * H);
        scfm_bf16_convert(w + 2 * H * H, lp->v_w, H * H);
        scfm_bf16_convert(w + 3 * H * H, lp->ao_w, H * H);
        scfm_bf16_convert(w + 4 * H * H, lp->ff1_w, I * H);
        scfm_bf16_convert(w + 4 * H * H + I * H, lp->ff2_w, H * I);
    }
    /* q, k, v biases side by side (both precisions' fused q, k, v product) */
    float *bqkv = p == SCFM_PREC_BF16 ? side : scfm_malloc((L ? L : 1) * 3 * H * sizeof *bqkv);
    if (!bqkv) {
        scfm_free(wbuf);
        free(side);
        free(c);
        return scfm_error(SCFM_ENOMEM, "cannot allocate the %s biases", scfm_precision_name(p));
    }
    for (size_t l = 0; l < L; l++) {
        const scfm_bert_layer_params *lp = &m->p.layers[l];
        float *b = bqkv + l * 3 * H;
        memcpy(b, lp->q_b, H * sizeof *b);
        memcpy(b + H, lp->k_b, H * sizeof *b);
        memcpy(b + 2 * H, lp->v_b, H * sizeof *b);
    }
    c->bqkv = bqkv;
    if (p == SCFM_PREC_BF16) {
        c->w = wbuf;
    } else {
        c->wq = wbuf;
        c->wsc = side;
    }
    m->lowp = c;
    m->precision = p;
    return SCFM_OK;
}

/* A forward worker (scfm_model_worker) of a bf16 model: the weight copies shared, its own
 * activation scratch, so that workers can run forwards at the same time. */
int scfm__lowp_worker(scfm_model *w, const scfm_model *m) {
    w->lowp = NULL;
    if (!m->lowp) return SCFM_OK;
    scfm_model_lowp *c = scfm_calloc(1, sizeof *c);
    if (!c) return SCFM_ENOMEM;
    *c = *m->lowp;
    c->act = c->mid = NULL;
    c->xq = NULL;
    c->xs = NULL;
    c->cap_rows = 0;
    c->act_hidden = 0;
    c->borrowed = 1;
    w->lowp = c;
    return SCFM_OK;
}

/* Activation scratch for N rows. */
int scfm__lowp_ensure(scfm_model *m, size_t N) {
    scfm_model_lowp *c = m->lowp;
    c->act_hidden = 0; /* a new forward: nothing rounded yet */
    size_t n, bytes, wide = c->I > c->H ? c->I : c->H, wide_mid = c->I > 3 * c->H ? c->I : 3 * c->H;
    if (N <= c->cap_rows) return SCFM_OK;
    if (m->precision == SCFM_PREC_INT8) {
        size_t qkv = 0;
        if (scfm_mul_size(N, wide, &bytes) || (c->int8_att_bf16 && scfm_mul_size(N, 3 * c->H * sizeof *c->mid, &qkv)))
            return scfm_error(SCFM_ENOMEM, "int8 activations for %zu tokens are too large", N);
        scfm_free(c->xq);
        free(c->xs);
        scfm_free(c->act);
        c->act = c->mid = NULL;
        c->cap_rows = 0;
        c->xq = scfm_alloc_aligned(bytes ? bytes : 64);
        c->xs = scfm_malloc((N ? N : 1) * sizeof *c->xs);
        if (c->int8_att_bf16) c->act = c->mid = scfm_alloc_aligned(qkv ? qkv : 64);
        if (!c->xq || !c->xs || (c->int8_att_bf16 && !c->act)) {
            scfm_free(c->xq);
            free(c->xs);
            scfm_free(c->act);
            c->xq = NULL;
            c->xs = NULL;
            c->act = c->mid = NULL;
            return scfm_error(SCFM_ENOMEM, "cannot allocate the int8 activations (%zu MiB)", (bytes + qkv) >> 20);
        }
        c->cap_rows = N;
        return SCFM_OK;
    }
    if (scfm_mul_size(N, wide + wide_mid, &n) || scfm_mul_size(n, sizeof *c->act, &bytes))
        return scfm_error(SCFM_ENOMEM, "bf16 activations for %zu tokens are too large", N);
    scfm_free(c->act);
    c->act = c->mid = NULL;
    c->cap_rows = 0;
    if (!(c->act = scfm_alloc_aligned(bytes)))
        return scfm_error(SCFM_ENOMEM, "cannot allocate the bf16 activations (%zu MiB)", bytes >> 20);
    c->mid = c->act + N * wide;
    c->cap_rows = N;
    return SCFM_OK;
}

/* x[N,C] quantized into the scratch, then out[N,OC] = x @ w^T + bias on int8 operands. */
static int int8_linear(scfm_model_lowp *c, float *out, const float *x, const int8_t *w, const float *ws,
                       const float *bias, size_t N, size_t C, size_t OC) {
    scfm_int8_quantize_rows(c->xq, c->xs, x, N, C);
    return scfm_int8_matmul_forward(out, c->xq, c->xs, w, ws, bias, N, C, OC);
}

int scfm__layer_forward_int8(scfm_model *m, size_t l, const scfm_bert_input *in) {
    scfm_model_acts *a = m->acts;
    scfm_model_lowp *c = m->lowp;
    const scfm_bert_config *cfg = &m->cfg;
    const scfm_bert_layer_params *p = &m->p.layers[l];
    scfm_layer_acts *la = &a->layers[0];
    const size_t N = a->N, H = cfg->hidden_size, I = cfg->intermediate_size, NH = cfg->num_attention_heads;
    const int8_t *w = c->wq + l * layer_w(c), *wqkv = w, *wao = w + 3 * H * H, *w1 = w + 4 * H * H, *w2 = w1 + I * H;
    const float *s = c->wsc + l * layer_s(c), *sqkv = s, *sao = s + 3 * H, *s1 = s + 4 * H, *s2 = s1 + I;
    const float *x = a->hidden[l];
    int rc;
    if ((rc = int8_linear(c, la->qkv, x, wqkv, sqkv, c->bqkv + l * 3 * H, N, H, 3 * H))) return rc;
    if (c->int8_att_bf16) { /* q, k, v rounded to bf16 for the bf16 attention (f32 output) */
        scfm_bf16_convert(c->mid, la->qkv, N * 3 * H);
        if ((rc = scfm_bf16_attention_forward_ld(la->att, NULL, c->mid, c->mid + H, c->mid + 2 * H, 3 * H, a->eoffs,
                                                 in->B, NH, H / NH)))
            return rc;
    } else {
        scfm_attention_forward_ld(la->att, la->lse, la->qkv, la->qkv + H, la->qkv + 2 * H, 3 * H, a->eoffs, in->B,
                                  NH, H / NH, 0.0f, 0, 0);
    }
    if ((rc = int8_linear(c, la->r1, la->att, wao, sao, NULL, N, H, H))) return rc;
    scfm_residual_layernorm_forward(la->r1, la->ln1, la->mean1, la->rstd1, p->ao_b, x, p->ln1_w, p->ln1_b, N, H,
                                    cfg->layer_norm_eps);
    if ((rc = int8_linear(c, la->f1, la->ln1, w1, s1, NULL, N, H, I))) return rc;
    scfm_bias_act_forward(la->f1, la->fa, p->ff1_b, N, I, cfg->hidden_act);
    if ((rc = int8_linear(c, la->r2, la->fa, w2, s2, NULL, N, I, H))) return rc;
    scfm_residual_layernorm_forward(la->r2, a->hidden[l + 1], la->mean2, la->rstd2, p->ff2_b, la->ln1, p->ln2_w,
                                    p->ln2_b, N, H, cfg->layer_norm_eps);
    return SCFM_OK;
}

int scfm__layer_forward_bf16(scfm_model *m, size_t l, const scfm_bert_input *in) {
    scfm_model_acts *a = m->acts;
    scfm_model_lowp *c = m->lowp;
    const scfm_bert_config *cfg = &m->cfg;
    const scfm_bert_layer_params *p = &m->p.layers[l];
    scfm_layer_acts *la = &a->layers[0];
    const size_t N = a->N, H = cfg->hidden_size, I = cfg->intermediate_size, NH = cfg->num_attention_heads;
    const scfm_bf16 *w = c->w + l * layer_w(c), *wqkv = w, *wao = w + 3 * H * H, *w1 = w + 4 * H * H,
                    *w2 = w1 + I * H;
    const float *x = a->hidden[l];
    int rc;
    /* each row pass writes its bf16 rounding for the next product itself (no separate
     * conversion pass); the layer below left this layer's input rounded in act */
    if (l == 0 || c->act_hidden != l) scfm_bf16_convert(c->act, x, N * H);
    c->act_hidden = 0;
    if ((rc = scfm_bf16_matmul_forward_b16(c->mid, c->act, wqkv, c->bqkv + l * 3 * H, N, H, 3 * H, -1))) return rc;
    if ((rc = scfm_bf16_attention_forward_ld(NULL, c->act, c->mid, c->mid + H, c->mid + 2 * H, 3 * H, a->eoffs,
                                             in->B, NH, H / NH)))
        return rc;
    if ((rc = scfm_bf16_matmul_forward(la->r1, c->act, wao, NULL, N, H, H))) return rc;
    scfm_residual_layernorm_forward_bf16(la->r1, la->ln1, c->act, p->ao_b, x, p->ln1_w, p->ln1_b, N, H,
                                         cfg->layer_norm_eps);
    /* inner activation: bias and activation in oneDNN's product where it has the activation */
    if (scfm_bf16_fuses_act(cfg->hidden_act)) {
        if ((rc = scfm_bf16_matmul_forward_b16(c->mid, c->act, w1, p->ff1_b, N, H, I, (int)cfg->hidden_act)))
            return rc;
    } else {
        if ((rc = scfm_bf16_matmul_forward(la->f1, c->act, w1, NULL, N, H, I))) return rc;
        scfm_bias_act_forward_bf16(la->f1, c->mid, p->ff1_b, N, I, cfg->hidden_act);
    }
    if ((rc = scfm_bf16_matmul_forward(la->r2, c->mid, w2, NULL, N, I, H))) return rc;
    scfm_residual_layernorm_forward_bf16(la->r2, a->hidden[l + 1], c->act, p->ff2_b, la->ln1, p->ln2_w, p->ln2_b, N,
                                         H, cfg->layer_norm_eps);
    c->act_hidden = l + 1;
    return SCFM_OK;
}
