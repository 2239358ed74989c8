/* Private to src/model: the activation arena and helpers shared by the model's files. */
#ifndef SCFM_MODEL_INTERNAL_H
#define SCFM_MODEL_INTERNAL_H
#include "scfm/model.h"
#include "scfm/rng.h"

/* Saved activations of one encoder layer (forward). x is the layer input (hidden[l]). */
typedef struct {
    float *q, *k, *v, *att;   /* [N,H] */
    float *lse;               /* [NH*N] */
    float *r1, *ln1;          /* [N,H] residual sum before / after attention LayerNorm */
    float *mean1, *rstd1;     /* [N] */
    float *f1, *fa;           /* [N,I] intermediate pre-/post-activation */
    float *r2;                /* [N,H] residual sum before the output LayerNorm */
    float *mean2, *rstd2;     /* [N] */
} scfm_layer_acts;

struct scfm_model_acts {
    /* capacities the arena was sized for */
    size_t cap_N, cap_B, cap_M;
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
    float *dt1, *dt2, *dq, *dk, *dv; /* [N,H] scratch */
    float *dI1, *dI2;         /* [N,I] scratch */
    float *dhx;               /* [max(M,B),H] head input gradient */
    /* state of the last forward */
    int have_fwd, fwd_train;
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

/* Dropout stream of a site: distinct per (site, layer). Layer = L for head sites. */
enum { SCFM_DROP_EMB = 1, SCFM_DROP_ATTN_PROB = 2, SCFM_DROP_ATTN_OUT = 3, SCFM_DROP_FFN_OUT = 4,
       SCFM_DROP_CLS = 5 };
static inline uint64_t scfm__drop_stream(int site, size_t layer) {
    return ((uint64_t)(layer + 1) << 8) | (uint64_t)site;
}
#endif
