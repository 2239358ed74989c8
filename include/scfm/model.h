/* The BERT model (Hugging Face BertForMaskedLM / BertForSequenceClassification /
 * BertForTokenClassification, as Geneformer and mouse-Geneformer use it), its checkpoints
 * (config.json + model.safetensors), and the optimizer (AdamW, grad-norm clipping, LR
 * schedules).
 *
 * Memory (llm.c style):
 *  - All parameters live in ONE 64-byte aligned float buffer `params` (n_params floats),
 *    described by a table of named tensors (Hugging Face names, shape, offset, numel,
 *    weight-decay flag, trainable flag). `grads` and the AdamW moments m, v use exactly the
 *    same layout, so zero_grad is a memset and an optimizer step one flat loop per tensor.
 *    `p` / `g` give typed pointers into params / grads (scfm_bert_params).
 *  - Activations live in a private arena sized for (N tokens, B sequences, longest
 *    sequence, masked rows) and reused; it grows when a larger batch arrives.
 *
 * Batches are PACKED: no padding. Sequence b occupies token rows offs[b] .. offs[b+1]-1
 * of ids[], positions are 0..len-1 within each sequence, attention never crosses
 * sequences. MLM targets are a list of packed row indices (logits are computed only at
 * those rows); sequence labels are per sequence; token labels per token (-100 = ignored).
 *
 * A training step:
 *     scfm_model_zero_grad(m);
 *     scfm_model_forward(m, &input, 1, dropout_seed, &loss);
 *     scfm_model_backward(m);                       (input must still be valid)
 *     double norm = scfm_model_clip_grad_norm(m, 1.0);
 *     scfm_adamw_step(&opt, m, scfm_lr_schedule(SCFM_SCHED_LINEAR, lr, step, warmup, total));
 *
 * Return codes: functions returning int give SCFM_OK or a negative scfm_status with a
 * message in scfm_last_error() (file-related messages name the file, and the tensor where
 * there is one); constructors return NULL likewise. Nothing here prints or exits. */
#ifndef SCFM_MODEL_H
#define SCFM_MODEL_H
#include <stddef.h>
#include <stdint.h>
#include "scfm/core.h"
#include "scfm/json.h"
#include "scfm/nn.h"

/* ======================================================================================
 * Heads
 * ====================================================================================== */
typedef enum {
    SCFM_HEAD_NONE = 0,   /* bare encoder (BertModel): hidden states only */
    SCFM_HEAD_MLM = 1,    /* BertForMaskedLM: transform + tied decoder, logits at masked rows */
    SCFM_HEAD_SEQCLS = 2, /* BertForSequenceClassification: pooler + dropout + linear */
    SCFM_HEAD_TOKCLS = 3  /* BertForTokenClassification: dropout + linear per token */
} scfm_head;
const char *scfm_head_name(scfm_head h); /* "none", "mlm", "seqcls", "tokcls" */
/* "mlm", "seqcls"/"cell", "tokcls"/"gene", "none". Returns SCFM_OK or SCFM_EINVAL. */
int scfm_head_from_name(const char *name, scfm_head *out) SCFM_WUR;

/* ======================================================================================
 * Configuration (config.json, docs/formats.md section 5)
 * ====================================================================================== */

/* GeneCompass (Yang et al. 2024) input fusion, species row and value head. enabled = 1 when
 * config.json carries any of GeneCompass's use_* fields. Per gene position with token g,
 * value v, species s (0 human, 1 mouse):
 *   g' = homologous_index[g] if s == 1 else g            (prior look-ups only)
 *   P_k = alpha * (W_k K_k[g'] + b_k)                    k in promoter, co_exp, gene_family, peca_grn
 *   x = concat(E_word[g], v, P_promoter, P_co_exp, P_gene_family, P_peca_grn)   (enabled parts)
 *   e = cat_proj(QuickGELU(cat_ln(cat_fc(x))))           cat_ln eps 1e-5
 *   h0 = dropout(LN(e + token_type[0] + position[i]))    then the species row
 *        cls_embedding[s] in front of each sequence (use_cls_token), no position/LN.
 * Value head (with the MLM head): cls4value = dense, act, LayerNorm, Linear(H -> 1); loss
 * id_loss_weight * CE + value_loss_weight * MSE over masked positions. */
enum { SCFM_PRIOR_PROMOTER = 0, SCFM_PRIOR_CO_EXP = 1, SCFM_PRIOR_GENE_FAMILY = 2, SCFM_PRIOR_PECA_GRN = 3,
       SCFM_N_PRIORS = 4 };
/* "promoter", "co_exp", "gene_family", "peca_grn" (GeneCompass's names); NULL if k >= 4. */
const char *scfm_prior_name(int k);
typedef struct {
    int enabled;          /* 0 = plain BERT (Geneformer); 1 = GeneCompass */
    int use_values;       /* expression value concatenated to the token input (use_values) */
    int use_prior[SCFM_N_PRIORS]; /* use_promoter, use_co_exp, use_gene_family, use_peca_grn */
    int use_cls_token;    /* species row in front of every sequence (use_cls_token) */
    size_t n_species;     /* rows of bert.cls_embedding (2: human 0, mouse 1) */
    size_t prior_dim;     /* width D of the prior tables (768 in GeneCompass); config
                             "prior_embedding_size" (scfm), else taken from the checkpoint */
    float id_loss_weight;     /* 0.2 */
    float value_loss_weight;  /* 0.8 */
    long emb_warmup_steps;    /* recorded (emb_warmup_steps); alpha stays as loaded */
} scfm_genecompass_config;
/* Number of enabled priors; width of cat_fc's input (H * (1 + priors) + use_values). */
size_t scfm_gc_n_priors(const scfm_genecompass_config *g);
size_t scfm_gc_fusion_width(const scfm_genecompass_config *g, size_t H);
/* 1 when the model reads each sequence's species (the species row or a prior look-up). */
int scfm_gc_needs_species(const scfm_genecompass_config *g);

typedef struct {
    /* Architecture (required in config.json: vocab_size, hidden_size, num_hidden_layers,
     * num_attention_heads, intermediate_size, max_position_embeddings; the rest take the
     * Hugging Face BertConfig defaults when absent). */
    size_t vocab_size;               /* V   (HF default 30522) */
    size_t hidden_size;              /* H   (768) */
    size_t num_hidden_layers;        /* L   (12) */
    size_t num_attention_heads;      /* NH  (12); H % NH == 0 */
    size_t intermediate_size;        /* I   (3072) */
    size_t max_position_embeddings;  /* P   (512) */
    size_t type_vocab_size;          /* 2; only token type 0 is used */
    scfm_act hidden_act;             /* "gelu" (FFN and MLM transform) */
    float hidden_dropout_prob;       /* 0.1 */
    float attention_probs_dropout_prob; /* 0.1 */
    float classifier_dropout;        /* < 0 means null in config.json: use hidden_dropout_prob */
    float initializer_range;         /* 0.02 */
    float layer_norm_eps;            /* 1e-12 */
    int64_t pad_token_id;            /* 0; -1 = null (no padding row) */
    int tie_word_embeddings;         /* 1: MLM decoder weight is the word embedding matrix */
    /* Labels (classification heads). num_labels = len(id2label); 0 when absent.
     * id2label[i] are owned strings. */
    size_t num_labels;
    char **id2label;
    char problem_type[48];           /* "" or "single_label_classification" (only kind supported) */
    char vocab_hash[24];             /* "" or 16 hex digits (scfm_vocab_hash), written as
                                        "scfm_vocab_hash"; lets corpus/model mismatches be caught */
    /* Where the GRN prior table came from (set by `scfm model init --prior peca_grn=FILE`; "" when
     * none or unknown): the table and its content hash, and the TF -> target network it was built
     * from with its content hash (scfm_file_content_hash), read from the table's report. Written as
     * "scfm_grn_prior": {"table", "table_hash", "network", "network_hash"} and, when the network is
     * known, "scfm_grn_prior_hashes": [network_hash], which `scfm grn` refuses as its reference. */
    char grn_prior_table[1024], grn_prior_table_hash[24], grn_prior_network[1024], grn_prior_network_hash[24];
    scfm_genecompass_config genecompass;
} scfm_bert_config;

/* Hugging Face BertConfig defaults (30522/768/12/12/3072, gelu, 0.1, 0.1, 512, 2, 0.02,
 * 1e-12, pad 0, tied, no labels). Never fails. */
void scfm_bert_config_init(scfm_bert_config *c);
/* Named presets: "geneformer-v1" (6/256/4/512 relu, P 2048, V 25426, dropout 0.02),
 * "mouse-geneformer" (same with silu), "geneformer-v2-104m" (12/768/12/3072 relu, P 4096,
 * V 20275, dropout 0.1), "genecompass-base" (12/768/12/3072 gelu, P 2048, V 50558, dropout
 * 0.02, values, all four priors of width 768 and the species row on), "genecompass-small"
 * (4/128/4/512 gelu, P 2048, values, four priors of width 128, species row), "tiny" (2/64/4/128 relu, for tests) and
 * "small-cpu" (4/128/4/256 relu); tiny and small-cpu have P 2048, V 25426, dropout 0.02
 * (set vocab_size from the vocabulary in use).
 * Returns SCFM_OK or SCFM_EINVAL (unknown name; the message lists the presets). *c is
 * initialised either way (safe to pass to scfm_bert_config_free). */
int scfm_bert_config_preset(scfm_bert_config *c, const char *name) SCFM_WUR;
/* Comma-separated preset names, for help texts. */
const char *scfm_bert_config_preset_names(void);
/* Parse config.json. `what` names the file in messages. Returns SCFM_OK, SCFM_EIO
 * (unreadable), SCFM_EFORMAT (bad JSON, missing required field, wrong type, unknown
 * hidden_act, unsupported position_embedding_type, id2label keys not 0..n-1),
 * SCFM_EINVAL (values that fail scfm_bert_config_validate), SCFM_ENOMEM.
 * On error *c is left freed (safe to call scfm_bert_config_free again). */
int scfm_bert_config_load(scfm_bert_config *c, const char *path) SCFM_WUR;
int scfm_bert_config_from_json(scfm_bert_config *c, const scfm_json *j, const char *what) SCFM_WUR;
/* config.json text for `head` (architectures = BertForMaskedLM / BertForSequenceClassification
 * / BertForTokenClassification / BertModel). *out is malloc'ed, NUL-terminated.
 * Returns SCFM_OK or SCFM_ENOMEM. */
int scfm_bert_config_to_json(const scfm_bert_config *c, scfm_head head, char **out, size_t *len) SCFM_WUR;
/* Checks sizes (non-zero, H % NH == 0, sizes that fit the allocation checks, probabilities
 * in [0,1), eps > 0, pad id < V). Returns SCFM_OK or SCFM_EINVAL naming `what` and field. */
int scfm_bert_config_validate(const scfm_bert_config *c, const char *what) SCFM_WUR;
/* Set the label names (n >= 1). names may be NULL: "LABEL_0".."LABEL_{n-1}". Replaces any
 * previous labels. Returns SCFM_OK, SCFM_EINVAL (n == 0) or SCFM_ENOMEM. */
int scfm_bert_config_set_labels(scfm_bert_config *c, size_t n, const char *const *names) SCFM_WUR;
/* Deep copy (dst must not hold owned labels). Returns SCFM_OK or SCFM_ENOMEM. */
int scfm_bert_config_copy(scfm_bert_config *dst, const scfm_bert_config *src) SCFM_WUR;
void scfm_bert_config_free(scfm_bert_config *c); /* frees labels; keeps the scalars */

/* ======================================================================================
 * Parameters
 * ====================================================================================== */

#define SCFM_TENSOR_NAME_MAX 128
typedef struct {
    char name[SCFM_TENSOR_NAME_MAX]; /* Hugging Face name, e.g. "bert.encoder.layer.0.attention.self.query.weight" */
    size_t ndim;                      /* 1 or 2 */
    size_t shape[2];
    size_t offset;                    /* in floats, from params (a multiple of 16: 64-byte aligned) */
    size_t numel;
    int decay;                        /* HF Trainer rule: 0 for biases and LayerNorm weights */
    int trainable;                    /* 1 unless frozen (scfm_model_freeze) */
} scfm_tensor;

/* Typed views into the flat buffer ([out,in] = nn.Linear layout). */
typedef struct {
    float *q_w, *q_b, *k_w, *k_b, *v_w, *v_b;  /* attention.self.{query,key,value} [H,H] [H] */
    float *ao_w, *ao_b;                        /* attention.output.dense [H,H] [H] */
    float *ln1_w, *ln1_b;                      /* attention.output.LayerNorm [H] */
    float *ff1_w, *ff1_b;                      /* intermediate.dense [I,H] [I] */
    float *ff2_w, *ff2_b;                      /* output.dense [H,I] [H] */
    float *ln2_w, *ln2_b;                      /* output.LayerNorm [H] */
} scfm_bert_layer_params;

typedef struct {
    float *wte;                 /* embeddings.word_embeddings [V,H] */
    float *wpe;                 /* embeddings.position_embeddings [P,H] */
    float *wtt;                 /* embeddings.token_type_embeddings [type_vocab,H] (row 0 used) */
    float *emb_ln_w, *emb_ln_b; /* embeddings.LayerNorm [H] */
    scfm_bert_layer_params *layers; /* [L] (array owned by the model) */
    /* MLM head (NULL otherwise) */
    float *mlm_dense_w, *mlm_dense_b; /* cls.predictions.transform.dense [H,H] [H] */
    float *mlm_ln_w, *mlm_ln_b;       /* cls.predictions.transform.LayerNorm [H] */
    float *mlm_bias;                  /* cls.predictions.bias [V] */
    float *mlm_dec_w;                 /* decoder weight: == wte when tied, else
                                         cls.predictions.decoder.weight [V,H] */
    /* Sequence classification (NULL otherwise) */
    float *pool_w, *pool_b;           /* bert.pooler.dense [H,H] [H] */
    /* Classification heads (NULL otherwise) */
    float *cls_w, *cls_b;             /* classifier [C,H] [C] */
    /* GeneCompass (NULL otherwise) */
    float *prior_w[SCFM_N_PRIORS], *prior_b[SCFM_N_PRIORS]; /* bert.embeddings.<k>_embeddings.linear1 [H,D] [H] */
    float *cat_fc_w, *cat_fc_b;       /* bert.embeddings.concat_embeddings.cat_fc [H,W] [H] */
    float *cat_ln_w, *cat_ln_b;       /* ...cat_ln [H] */
    float *cat_proj_w, *cat_proj_b;   /* ...cat_proj [H,H] [H] */
    float *species_emb;               /* bert.cls_embedding.weight [n_species,H] */
    float *val_dense_w, *val_dense_b; /* cls4value.predictions.transform.dense [H,H] [H] */
    float *val_ln_w, *val_ln_b;       /* cls4value.predictions.transform.LayerNorm [H] */
    float *val_dec_w;                 /* cls4value.predictions.decoder.weight [1,H] */
    float *val_bias;                  /* cls4value.predictions.bias [1] (== decoder.bias) */
} scfm_bert_params;

/* GeneCompass's persistent buffers: not parameters (never trained, decayed or given
 * gradients), saved and loaded with the checkpoint under GeneCompass's names. */
typedef struct {
    float *knowledge[SCFM_N_PRIORS]; /* bert.embeddings.<k>_knowledge [V,D] (NULL when off) */
    int64_t *homologous_index;       /* bert.embeddings.homologous_index [V] (any prior on) */
    float alpha;                     /* emb_warmup.alpha (0-d), 1.0 */
    int64_t warmup_steps;            /* emb_warmup.steps (0-d) */
} scfm_gc_buffers;

typedef struct scfm_model_acts scfm_model_acts; /* private activation arena */
typedef struct scfm_model_lowp scfm_model_lowp; /* private reduced-precision weight cache */

/* Arithmetic of the encoder's inference forward (scfm_model_set_precision). */
typedef enum {
    SCFM_PREC_FP32 = 0, /* float32 throughout: the default and the reference */
    SCFM_PREC_BF16 = 1, /* bf16 operands, float32 sums, for inference (see below) */
    SCFM_PREC_INT8 = 2  /* int8 operands of the linear products, int32 sums, for inference */
} scfm_precision;

/* Fields are public for reading (and for writing params/grads values); change shapes only
 * through the API. */
typedef struct {
    scfm_bert_config cfg;
    scfm_head head;
    size_t n_params;        /* floats in params/grads (with alignment padding) */
    size_t n_tensors;
    scfm_tensor *tensors;   /* [n_tensors] in checkpoint order */
    float *params;          /* 64-byte aligned */
    float *grads;           /* same layout; allocated (zeroed) on first backward or zero_grad */
    scfm_bert_params p;     /* views into params */
    scfm_bert_params g;     /* views into grads (all NULL until grads exist) */
    scfm_gc_buffers gc;     /* GeneCompass buffers (zeroed when not GeneCompass) */
    scfm_model_acts *acts;
    scfm_precision precision; /* read with scfm_model_precision; set with scfm_model_set_precision */
    scfm_model_lowp *lowp;    /* bf16 copies of the encoder weights (NULL in fp32) */
} scfm_model;

/* New model with Hugging Face's initialisation (Linear/Embedding weights ~ N(0,
 * initializer_range), biases 0, LayerNorm 1/0, padding row of word_embeddings 0), from a
 * seeded scfm_rng. Classification heads need cfg->num_labels >= 1 (>= 2 for SEQCLS: one label
 * would be regression, not supported) (SCFM_EINVAL otherwise).
 * GeneCompass models get zeroed prior tables [V, D], an identity homologous_index and
 * alpha 1 (fill them with scfm_model_set_prior / scfm_model_set_homologs).
 * Returns NULL: SCFM_EINVAL (invalid config), SCFM_ENOMEM. */
scfm_model *scfm_model_create(const scfm_bert_config *cfg, scfm_head head, uint64_t seed);
void scfm_model_free(scfm_model *m);
/* GeneCompass: copy prior table k (SCFM_PRIOR_*) of [rows = V, width = D] into the model;
 * copy the homolog map (GeneCompass's homologous_index, [V], identity except mouse
 * homologs). Return SCFM_OK, SCFM_EINVAL (prior not used by the model, entry out of
 * range), SCFM_EMISMATCH (shape), SCFM_EDATA (non-finite). */
int scfm_model_set_prior(scfm_model *m, int k, const float *table, size_t rows, size_t width) SCFM_WUR;
int scfm_model_set_homologs(scfm_model *m, const int64_t *index, size_t n) SCFM_WUR;
/* Total trainable-or-not parameter count (sum of numel, padding excluded; the tied decoder
 * counted once). */
size_t scfm_model_num_params(const scfm_model *m);
/* Tensor by Hugging Face name, or NULL. */
const scfm_tensor *scfm_model_find_tensor(const scfm_model *m, const char *name);
/* Freeze (trainable = 0) or unfreeze every tensor whose name starts with prefix; e.g.
 * "bert.embeddings." or "bert.encoder.layer.0.". Frozen tensors are skipped by the
 * optimizer and by the gradient norm. Returns the number of tensors changed. */
size_t scfm_model_set_trainable(scfm_model *m, const char *prefix, int trainable);
/* Freeze embeddings and the first n encoder layers (Geneformer fine-tuning option). */
void scfm_model_freeze_layers(scfm_model *m, size_t n);

/* Reduced precision inference (src/model/lowp.c, docs/speed.md). SCFM_PREC_BF16: in each
 * encoder layer the four linear products (QKV, attention output, FFN in, FFN out) take bf16
 * operands (weights converted once, here, and cached; activations rounded per call) with
 * float32 sums and outputs (oneDNN's bf16 matmul), attention takes bf16 q, k, v and softmax
 * numerators with float32 dot-product sums (AVX512_BF16) and a float32 softmax; embeddings,
 * LayerNorm, activations, residual sums and the heads stay float32. Only for inference:
 * scfm_model_forward with train = 1 fails with SCFM_EINVAL while bf16 is set. Call again
 * after changing the weights (the bf16 copies are taken here). SCFM_PREC_FP32 frees the
 * copies. SCFM_PREC_INT8: the four linear products take int8 operands with int32 sums (oneDNN's
 * s8 matmul, AVX512_VNNI): weights quantized here once per output channel, each product's
 * input per row (symmetric, scale = max |x| / 127), the sums scaled back to float32; attention
 * on the bf16 kernels where scfm_bf16_supported says yes (q, k, v rounded to bf16), else in
 * float32; everything else float32; inference only, as bf16. Returns SCFM_OK, SCFM_EINVAL
 * (unknown precision; bf16 or int8 where scfm_bf16_supported / scfm_int8_supported says no:
 * the message names the missing CPU features), SCFM_ENOMEM. Never prints. */
int scfm_model_set_precision(scfm_model *m, scfm_precision p) SCFM_WUR;
scfm_precision scfm_model_precision(const scfm_model *m);
/* "fp32", "bf16", "int8" <-> enum. from_name returns SCFM_OK or SCFM_EINVAL (message lists the names). */
const char *scfm_precision_name(scfm_precision p);
int scfm_precision_from_name(const char *name, scfm_precision *out) SCFM_WUR;

/* ======================================================================================
 * Checkpoints: DIR/config.json + DIR/model.safetensors
 * ====================================================================================== */
typedef struct {
    size_t num_labels;           /* classification heads: labels when the checkpoint has none
                                    (an MLM checkpoint); 0 = take them from config.json */
    const char *const *labels;   /* optional names for num_labels (NULL = LABEL_i) */
    uint64_t seed;               /* initialisation of tensors the checkpoint lacks */
} scfm_load_opts;

/* Load a checkpoint directory into a model with `head`. Accepts Geneformer V1 (converted
 * with scripts/convert_pytorch_bin.py) and V2 and any BertForMaskedLM /
 * BertForSequenceClassification / BertForTokenClassification / BertModel checkpoint with
 * the supported options: tied decoder, missing or present cls.predictions.decoder.*,
 * optional bert.embeddings.position_ids, keys without the "bert." prefix, legacy
 * LayerNorm.gamma/beta; F32, F16 or BF16 tensors. Tensors the head needs but the file
 * lacks (pooler/classifier from an MLM checkpoint, MLM head from a classifier) are
 * initialised randomly and reported through scfm_log(SCFM_LOG_WARN); tensors of other
 * heads are ignored (SCFM_LOG_INFO). Returns NULL: SCFM_EIO (missing file; a directory
 * with only pytorch_model.bin gets a message naming the converter), SCFM_EFORMAT (corrupt
 * file, see safetensors.h; encoder tensor missing), SCFM_EMISMATCH (tensor shape disagrees
 * with config.json; classifier rows != num_labels), SCFM_EDATA (non-finite values),
 * SCFM_EINVAL (config), SCFM_ENOMEM. Messages name the file and the tensor. */
scfm_model *scfm_model_load(const char *dir, scfm_head head);
scfm_model *scfm_model_load_ex(const char *dir, scfm_head head, const scfm_load_opts *o);
/* Write DIR/config.json and DIR/model.safetensors (creating DIR if needed; each file is
 * written to a temporary name and renamed). The files load with transformers'
 * BertForMaskedLM / BertForSequenceClassification / BertForTokenClassification /
 * BertModel.from_pretrained (per head); tied tensors are not duplicated; the header has
 * "__metadata__": {"format": "pt"}. Returns SCFM_OK, SCFM_EIO, SCFM_ENOMEM. */
int scfm_model_save(const scfm_model *m, const char *dir) SCFM_WUR;

/* ======================================================================================
 * Forward / backward
 * ======================================================================================
 * Model input (named scfm_bert_input: train.h's scfm_batch is the packer's output; fill
 * this from it with B, offs, ids, pos, n_mlm = n_masked, mlm_rows = mrows,
 * mlm_labels = labels). */
typedef struct {
    size_t B;                   /* sequences */
    const size_t *offs;         /* [B+1]: offs[0] = 0, strictly increasing; each length <= P */
    const int32_t *ids;         /* [N = offs[B]] token ids in [0, V) */
    const int32_t *pos;         /* optional [N] position ids in [0, P); NULL = 0..len-1 per
                                   sequence (the normal case) */
    /* SCFM_HEAD_MLM */
    size_t n_mlm;               /* masked rows (logits are computed only there) */
    const size_t *mlm_rows;     /* [n_mlm] packed row indices < N */
    const int32_t *mlm_labels;  /* [n_mlm] target ids in [0, V) or -100 (ignored); NULL = no loss */
    /* SCFM_HEAD_SEQCLS */
    const int32_t *seq_labels;  /* [B] in [0, C) or -100; NULL = no loss */
    /* SCFM_HEAD_TOKCLS */
    const int32_t *tok_labels;  /* [N] in [0, C) or -100; NULL = no loss */
    /* SCFM_HEAD_SEQCLS / TOKCLS: optional per-class loss weights [num_labels] (>= 0), as
     * torch.nn.CrossEntropyLoss(weight=w): loss = sum_i w[y_i] l_i / sum_i w[y_i] over
     * labelled rows. NULL = unweighted mean. */
    const float *class_weights;
    /* GeneCompass (must be NULL for a plain BERT) */
    const float *values;        /* [N] expression values (required when use_values; the
                                   value of <mask>/random-replaced rows is -1) */
    const int32_t *species;     /* [B] species ids in [0, n_species) (required when the
                                   species row or a prior is on) */
    const float *mlm_values;    /* [n_mlm] original values at the masked rows: targets of the
                                   value head's MSE (NULL = no value loss) */
} scfm_bert_input;

/* Check a batch against the model (offsets, lengths <= P, ids < V, rows < N, labels in
 * range or -100). Returns SCFM_OK or SCFM_EINVAL with the offending index. */
int scfm_model_check_batch(const scfm_model *m, const scfm_bert_input *b) SCFM_WUR;

/* Forward pass. train = 1: dropout as configured, with masks drawn from dropout_seed
 * (counter-based, one stream per site and layer, so backward regenerates them), and the
 * activations needed by scfm_model_backward are kept; train = 0: no dropout (eval).
 * *loss (may be NULL) receives the head's mean cross-entropy over labelled rows (0 when the
 * batch carries no labels for this head or none is valid). The batch is checked first and
 * must stay valid until scfm_model_backward. Returns SCFM_OK, SCFM_EINVAL (bad batch),
 * SCFM_ENOMEM (arena). */
int scfm_model_forward(scfm_model *m, const scfm_bert_input *b, int train, uint64_t dropout_seed,
                       float *loss) SCFM_WUR;
/* Eval forward (no dropout) through the embeddings and the first n_layers encoder layers only
 * (n_layers <= L), no head: hidden states 0..n_layers are then available from
 * scfm_model_hidden (later layers, logits and backward are not). The states are the same as
 * scfm_model_forward's (the layers run as in the full forward). Returns as scfm_model_forward. */
int scfm_model_forward_hidden(scfm_model *m, const scfm_bert_input *b, size_t n_layers) SCFM_WUR;
/* A forward worker: a view of m that shares m's parameters (read-only) and has its own
 * activation arena, so that several workers run eval forwards of the same model at once
 * (one per thread). For scfm_model_forward(train = 0) / scfm_model_forward_hidden and the
 * accessors of their results only: no training, no backward, no changes to the weights.
 * Free every worker (scfm_model_worker_free) before m. NULL: SCFM_ENOMEM. */
scfm_model *scfm_model_worker(const scfm_model *m);
void scfm_model_worker_free(scfm_model *w);
/* Backward of the last forward (which must have had train = 1 and labels): ACCUMULATES
 * d(loss)/d(param) into grads (allocating them zeroed if needed). The _scaled form
 * multiplies the loss by `scale` first (gradient accumulation: 1/steps). Returns SCFM_OK,
 * SCFM_EINVAL (no training forward, or no labels), SCFM_ENOMEM. */
int scfm_model_backward(scfm_model *m) SCFM_WUR;
int scfm_model_backward_scaled(scfm_model *m, float scale) SCFM_WUR;
/* Zero the gradients (allocating them if needed). Returns SCFM_OK or SCFM_ENOMEM. */
int scfm_model_zero_grad(scfm_model *m) SCFM_WUR;

/* Results of the last forward (pointers into the arena: valid until the next forward).
 * hidden: layer 0 = embeddings output, layer l = output of encoder layer l (1..L), as
 * transformers' output_hidden_states; [N, H] packed gene rows (a GeneCompass species row
 * is left out: the rows match the input's ids). NULL if layer > L or no forward. */
const float *scfm_model_hidden(const scfm_model *m, size_t layer);
/* Head logits: MLM [n_mlm, V] (rows in mlm_rows order), SEQCLS [B, C], TOKCLS [N, C];
 * NULL for SCFM_HEAD_NONE. rows/cols may be NULL. scfm_model_backward overwrites them with
 * their gradient (read them before backward). */
const float *scfm_model_logits(const scfm_model *m, size_t *rows, size_t *cols);
/* GeneCompass: the value head's predictions at the masked rows [n_mlm] (NULL otherwise),
 * and the two parts of the last loss (CE over masked ids, MSE over masked values; the
 * loss itself is id_loss_weight * ce + value_loss_weight * mse). */
const float *scfm_model_values(const scfm_model *m);
void scfm_model_loss_parts(const scfm_model *m, float *ce, float *mse);
/* Encoder rows of the last forward including the species rows ([rows, H]; with no species
 * row the same as scfm_model_hidden) and the encoder offsets [B+1]. */
const float *scfm_model_hidden_encoder(const scfm_model *m, size_t layer, size_t *rows);
const size_t *scfm_model_encoder_offsets(const scfm_model *m);
/* SEQCLS pooled output tanh(W h_0 + b) [B, H] (before dropout), else NULL. */
const float *scfm_model_pooled(const scfm_model *m);
/* Number of labelled rows in the last loss (for weighting accumulated losses). */
size_t scfm_model_loss_count(const scfm_model *m);

/* ======================================================================================
 * Optimizer: AdamW (torch.optim.AdamW semantics), clipping, schedules
 * ====================================================================================== */
typedef struct {
    float beta1, beta2, eps;  /* 0.9, 0.999, 1e-8 */
    float weight_decay;       /* applied only to tensors with decay = 1 */
} scfm_adamw_config;

typedef struct {
    scfm_adamw_config cfg;
    float *m, *v;             /* same layout as params (64-byte aligned, zeroed at init) */
    size_t n;                 /* = model n_params */
    long step;                /* steps taken (t of the bias correction is step after ++) */
} scfm_adamw;

/* Defaults 0.9/0.999/1e-8, weight decay 0. */
void scfm_adamw_config_init(scfm_adamw_config *c);
/* Allocate zeroed moments for model m. Returns SCFM_OK or SCFM_ENOMEM. */
int scfm_adamw_init(scfm_adamw *o, const scfm_model *m, const scfm_adamw_config *c) SCFM_WUR;
void scfm_adamw_free(scfm_adamw *o);
/* One step at learning rate lr over every trainable tensor (frozen tensors untouched).
 * Returns SCFM_OK or SCFM_EINVAL (no grads, moments from another layout). */
int scfm_adamw_step(scfm_adamw *o, scfm_model *m, float lr) SCFM_WUR;

/* torch.nn.utils.clip_grad_norm_(params, max_norm): total L2 norm over trainable tensors
 * (in double), and if max_norm > 0 grads are scaled by min(1, max_norm/(norm+1e-6)).
 * Returns the norm BEFORE clipping (0 when there are no grads). */
double scfm_model_clip_grad_norm(scfm_model *m, double max_norm);

typedef enum {
    SCFM_SCHED_CONSTANT,   /* lr */
    SCFM_SCHED_CONSTANT_WARMUP, /* get_constant_schedule_with_warmup */
    SCFM_SCHED_LINEAR,     /* get_linear_schedule_with_warmup */
    SCFM_SCHED_COSINE      /* get_cosine_schedule_with_warmup (num_cycles 0.5) */
} scfm_sched;
/* Learning rate for optimizer step number `step` (0-based: the first update uses step 0,
 * exactly as transformers' LambdaLR, so with warm-up the first update has lr 0).
 *   warm-up (step < warmup): lr * step / max(1, warmup)
 *   linear:  lr * max(0, (total - step) / max(1, total - warmup))
 *   cosine:  lr * max(0, 0.5 * (1 + cos(pi * (step - warmup) / max(1, total - warmup)))) */
double scfm_lr_schedule(scfm_sched kind, double lr, long step, long warmup, long total);
/* "constant", "constant_with_warmup", "linear", "cosine". Returns SCFM_OK or SCFM_EINVAL. */
int scfm_sched_from_name(const char *name, scfm_sched *out) SCFM_WUR;
const char *scfm_sched_name(scfm_sched s);
#endif
