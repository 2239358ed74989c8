/* Private to src/model: the activation arena and helpers shared by the model's files. */
#ifndef SCFM_MODEL_INTERNAL_H
#define SCFM_MODEL_INTERNAL_H
#include "scfm/model.h"
#include "scfm/rng.h"

/* Saved activations of one encoder layer (forward). x is the layer input (hidden[l]). */
typedef struct {
    float *qkv;               /* [N,3H] fused projection: q, k, v column blocks (rows 3H apart) */
    float *att;               /* [N,H] */
    float *lse;               /* [NH*N] */
    float *r1, *ln1;          /* [N,H] residual sum before / after attention LayerNorm */
    float *mean1, *rstd1;     /* [N] */
    float *f1, *fa;           /* [N,I] intermediate pre-/post-activation */
    float *r2;                /* [N,H] residual sum before the output LayerNorm */
    float *mean2, *rstd2;     /* [N] */
} scfm_layer_acts;

/* GeneCompass activations, at gene-row level (NG = input rows), M masked rows. */
typedef struct {
    size_t cap_NG, cap_M, cap_W;
    float *block;
    float *x;                 /* [NG,W] fusion input */
    float *z, *zl, *za, *e;   /* [NG,H] cat_fc out, cat_ln out, QuickGELU out, cat_proj out */
    float *zmean, *zrstd;     /* [NG] */
    float *g0;                /* [NG,H] embedding LayerNorm (+dropout) output, gene rows */
    float *kg;                /* [NG,D] gathered prior rows (scratch) */
    float *pk;                /* [NG,H] prior projection (scratch) */
    float *hl;                /* [NG,H] gene rows of hidden[L] (species row on) */
    float **hid;              /* [L+1] lazily compacted gene rows of hidden[l] (species row on) */
    float *vt, *vta, *vtl, *vmean, *vrstd, *vpred; /* value head [M,H]x3, [M]x3 */
    /* backward scratch */
    float *dx;                /* [NG,W] */
    float *d1, *d2, *d3;      /* [NG,H] */
    float *dv1, *dv2, *dv3;   /* [M,H] */
    int32_t *gids;            /* [NG] prior look-up ids (homolog remap applied) */
    float ce, mse;            /* parts of the last loss */
    int has_value_loss;
} scfm_gc_acts;

struct scfm_model_acts {
    /* capacities the arena was sized for */
    size_t cap_N, cap_B, cap_M, cap_L;
    int cap_train;            /* 1: one scfm_layer_acts per layer; 0: layer scratch shared */
    float *block;             /* the forward arena (one allocation) */
    int32_t *pos;             /* [N] positions when the input gives none */
    float *emb, *emb_mean, *emb_rstd; /* [N,H] embedding sum (LN input), [N], [N] */
    float **hidden;           /* [L+1] -> [N,H] */
    scfm_layer_acts *layers;  /* [L] (train) or [1] (inference) */
    /* heads */
    float *hx, *ht, *hta, *htl, *hmean, *hrstd; /* MLM [M,H]x4, [M]x2 */
    float *logits;            /* MLM [M,V] / SEQCLS [B,C] / TOKCLS [N,C] */
    float *pz, *pooled, *pd;  /* SEQCLS [B,H] pre-tanh, pooled, after dropout */
    float *hd;                /* TOKCLS [N,H] hidden after dropout */
    float *losses;            /* [max(M,B,N)] per-row losses */
    /* backward scratch (allocated on first backward) */
    size_t bcap_N, bcap_M;
    float *bblock;
    float *d_out, *d_in;      /* [N,H] dL/d(layer output), dL/d(layer input) (swapped per layer) */
    float *dt1, *dt2, *dq, *dk, *dv; /* [N,H] scratch; dq, dk, dv one block, also dqkv [N,3H] */
    float *wqkv;              /* [3H,H] + [3H]: one layer's q, k, v weights and biases side by side */
    float *dI1, *dI2;         /* [N,I] scratch */
    float *dhx;               /* [max(M,B),H] head input gradient */
    /* encoder rows: N = NG + B with the species row (GeneCompass), else N = NG */
    size_t NG, cap_offs, cap_erow;
    size_t *eoffs;            /* [B+1] encoder offsets (species row first) */
    size_t *erow;             /* [NG] encoder row of each gene row; NULL = identity */
    const float *hl;          /* gene rows of hidden[L] (hidden[L] itself or gc.hl) */
    scfm_gc_acts gc;
    /* state of the last forward */
    int have_fwd, fwd_train;
    size_t hid_valid;       /* hidden states 0 .. hid_valid-1 hold the last forward (0: none) */
    scfm_bert_input in;       /* shallow copy of the input */
    size_t N, n_valid;
    double wsum;              /* sum of the class weights of the labelled rows (weighted loss) */
    float loss;
    uint64_t seed;
};

scfm_model *scfm__model_alloc(const scfm_bert_config *cfg, scfm_head head);
void scfm__model_set_views(scfm_model *m, float *base, scfm_bert_params *v);
void scfm__model_init_tensor(scfm_model *m, size_t i, scfm_rng *rng);
int scfm__model_ensure_grads(scfm_model *m);
void scfm__acts_free(scfm_model_acts *a);

/* Reduced precision inference (lowp.c): free the weight copies; size the activation scratch
 * for N rows; encoder layer l of an inference forward in bf16 (m->precision == SCFM_PREC_BF16)
 * or int8 (SCFM_PREC_INT8). */
void scfm__lowp_free(scfm_model *m);
int scfm__lowp_worker(scfm_model *w, const scfm_model *m); /* shares the weights, own scratch */
int scfm__lowp_ensure(scfm_model *m, size_t N);
int scfm__layer_forward_bf16(scfm_model *m, size_t l, const scfm_bert_input *in);
int scfm__layer_forward_int8(scfm_model *m, size_t l, const scfm_bert_input *in); /* SCFM_PREC_INT8 */

/* GeneCompass (genecompass.c) */
int scfm__gc_buffers_alloc(scfm_model *m);
void scfm__gc_buffers_free(scfm_model *m);
int scfm__gc_check_batch(const scfm_model *m, const scfm_bert_input *b);
int scfm__gc_acts_ensure(scfm_model *m, size_t NG, size_t M);
void scfm__gc_acts_free(scfm_gc_acts *g, size_t L);
/* Embedding forward: writes hidden[0] (encoder rows, species rows included). */
void scfm__gc_embed_forward(scfm_model *m, const scfm_bert_input *in, const int32_t *pos, int train, uint64_t seed);
/* Embedding backward from d_out (dL/d hidden[0], encoder rows). */
void scfm__gc_embed_backward(scfm_model *m);
/* Value head on the masked rows (a->hx holds their hidden states): predictions and MSE. */
float scfm__gc_value_forward(scfm_model *m, const scfm_bert_input *in, size_t *n_valid);
/* Backward of the value head with row scale s (= loss scale / n_valid); adds into dx [M,H]. */
void scfm__gc_value_backward(scfm_model *m, float s, float *dx);

/* Dropout stream of a site: distinct per (site, layer). Layer = L for head sites. */
enum { SCFM_DROP_EMB = 1, SCFM_DROP_ATTN_PROB = 2, SCFM_DROP_ATTN_OUT = 3, SCFM_DROP_FFN_OUT = 4,
       SCFM_DROP_CLS = 5 };
static inline uint64_t scfm__drop_stream(int site, size_t layer) {
    return ((uint64_t)(layer + 1) << 8) | (uint64_t)site;
}
#endif
