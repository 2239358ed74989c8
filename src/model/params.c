/* Parameter table: one 64-byte aligned float buffer, named tensors (Hugging Face names),
 * typed views, initialisation, freezing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"
#include "scfm/rng.h"

/* Walks the tensors of a model in checkpoint order. In TABLE mode it appends to the table
 * and computes offsets; in VIEW mode it points the i-th view at base + offset. */
typedef struct {
    scfm_model *m;
    int view_mode;
    size_t i, off;
    float *base;
    int err;
} walker;

static float *add(walker *w, const char *name, size_t s0, size_t s1) {
    if (w->err || w->i >= w->m->n_tensors) { w->err = 1; return NULL; }
    scfm_tensor *t = &w->m->tensors[w->i];
    if (w->view_mode) return w->base ? w->base + w->m->tensors[w->i++].offset : (w->i++, NULL);
    memset(t, 0, sizeof *t);
    if ((size_t)snprintf(t->name, sizeof t->name, "%s", name) >= sizeof t->name) { w->err = 1; return NULL; }
    t->ndim = s1 ? 2 : 1;
    t->shape[0] = s0;
    t->shape[1] = s1;
    if (scfm_mul_size(s0, s1 ? s1 : 1, &t->numel)) { w->err = 1; return NULL; }
    t->offset = w->off;
    size_t padded = (t->numel + 15) / 16 * 16;
    if (scfm_add_size(w->off, padded, &w->off)) { w->err = 1; return NULL; }
    size_t len = strlen(name);
    t->decay = !(len >= 4 && !strcmp(name + len - 4, "bias")) && !strstr(name, "LayerNorm") && !strstr(name, ".cat_ln.");
    t->trainable = 1;
    w->i++;
    return NULL;
}

static void walk_layer(walker *w, size_t l, scfm_bert_layer_params *v) {
    const scfm_bert_config *c = &w->m->cfg;
    size_t H = c->hidden_size, I = c->intermediate_size;
    char p[48], n[SCFM_TENSOR_NAME_MAX];
    snprintf(p, sizeof p, "bert.encoder.layer.%zu.", l);
#define T(field, suffix, a, b) (snprintf(n, sizeof n, "%s%s", p, suffix), v->field = add(w, n, a, b))
    T(q_w, "attention.self.query.weight", H, H);   T(q_b, "attention.self.query.bias", H, 0);
    T(k_w, "attention.self.key.weight", H, H);     T(k_b, "attention.self.key.bias", H, 0);
    T(v_w, "attention.self.value.weight", H, H);   T(v_b, "attention.self.value.bias", H, 0);
    T(ao_w, "attention.output.dense.weight", H, H); T(ao_b, "attention.output.dense.bias", H, 0);
    T(ln1_w, "attention.output.LayerNorm.weight", H, 0); T(ln1_b, "attention.output.LayerNorm.bias", H, 0);
    T(ff1_w, "intermediate.dense.weight", I, H);   T(ff1_b, "intermediate.dense.bias", I, 0);
    T(ff2_w, "output.dense.weight", H, I);         T(ff2_b, "output.dense.bias", H, 0);
    T(ln2_w, "output.LayerNorm.weight", H, 0);     T(ln2_b, "output.LayerNorm.bias", H, 0);
#undef T
}

/* GeneCompass's trainable embedding parts (docs/computation.md section 4 names). */
static void walk_genecompass(walker *w, scfm_bert_params *v) {
    const scfm_bert_config *c = &w->m->cfg;
    const scfm_genecompass_config *g = &c->genecompass;
    size_t H = c->hidden_size;
    char n[SCFM_TENSOR_NAME_MAX];
    for (int k = 0; k < SCFM_N_PRIORS; k++) {
        if (!g->use_prior[k]) continue;
        snprintf(n, sizeof n, "bert.embeddings.%s_embeddings.linear1.weight", scfm_prior_name(k));
        v->prior_w[k] = add(w, n, H, g->prior_dim);
        snprintf(n, sizeof n, "bert.embeddings.%s_embeddings.linear1.bias", scfm_prior_name(k));
        v->prior_b[k] = add(w, n, H, 0);
    }
    v->cat_fc_w = add(w, "bert.embeddings.concat_embeddings.cat_fc.weight", H, scfm_gc_fusion_width(g, H));
    v->cat_fc_b = add(w, "bert.embeddings.concat_embeddings.cat_fc.bias", H, 0);
    v->cat_ln_w = add(w, "bert.embeddings.concat_embeddings.cat_ln.weight", H, 0);
    v->cat_ln_b = add(w, "bert.embeddings.concat_embeddings.cat_ln.bias", H, 0);
    v->cat_proj_w = add(w, "bert.embeddings.concat_embeddings.cat_proj.weight", H, H);
    v->cat_proj_b = add(w, "bert.embeddings.concat_embeddings.cat_proj.bias", H, 0);
    if (g->use_cls_token) v->species_emb = add(w, "bert.cls_embedding.weight", g->n_species, H);
}

static void walk_value_head(walker *w, scfm_bert_params *v) {
    size_t H = w->m->cfg.hidden_size;
    v->val_bias = add(w, "cls4value.predictions.bias", 1, 0);
    v->val_dense_w = add(w, "cls4value.predictions.transform.dense.weight", H, H);
    v->val_dense_b = add(w, "cls4value.predictions.transform.dense.bias", H, 0);
    v->val_ln_w = add(w, "cls4value.predictions.transform.LayerNorm.weight", H, 0);
    v->val_ln_b = add(w, "cls4value.predictions.transform.LayerNorm.bias", H, 0);
    v->val_dec_w = add(w, "cls4value.predictions.decoder.weight", 1, H);
}

static void walk(walker *w, scfm_bert_params *v) {
    const scfm_bert_config *c = &w->m->cfg;
    size_t H = c->hidden_size, V = c->vocab_size, C = c->num_labels;
    v->wte = add(w, "bert.embeddings.word_embeddings.weight", V, H);
    v->wpe = add(w, "bert.embeddings.position_embeddings.weight", c->max_position_embeddings, H);
    v->wtt = add(w, "bert.embeddings.token_type_embeddings.weight", c->type_vocab_size, H);
    v->emb_ln_w = add(w, "bert.embeddings.LayerNorm.weight", H, 0);
    v->emb_ln_b = add(w, "bert.embeddings.LayerNorm.bias", H, 0);
    if (c->genecompass.enabled) walk_genecompass(w, v);
    for (size_t l = 0; l < c->num_hidden_layers; l++) walk_layer(w, l, &v->layers[l]);
    scfm_head h = w->m->head;
    if (h == SCFM_HEAD_SEQCLS) {
        v->pool_w = add(w, "bert.pooler.dense.weight", H, H);
        v->pool_b = add(w, "bert.pooler.dense.bias", H, 0);
    }
    if (h == SCFM_HEAD_MLM) {
        v->mlm_bias = add(w, "cls.predictions.bias", V, 0);
        v->mlm_dense_w = add(w, "cls.predictions.transform.dense.weight", H, H);
        v->mlm_dense_b = add(w, "cls.predictions.transform.dense.bias", H, 0);
        v->mlm_ln_w = add(w, "cls.predictions.transform.LayerNorm.weight", H, 0);
        v->mlm_ln_b = add(w, "cls.predictions.transform.LayerNorm.bias", H, 0);
        v->mlm_dec_w = c->tie_word_embeddings ? v->wte : add(w, "cls.predictions.decoder.weight", V, H);
        if (c->genecompass.enabled) walk_value_head(w, v);
    }
    if (h == SCFM_HEAD_SEQCLS || h == SCFM_HEAD_TOKCLS) {
        v->cls_w = add(w, "classifier.weight", C, H);
        v->cls_b = add(w, "classifier.bias", C, 0);
    }
}

static size_t count_tensors(const scfm_model *m) {
    size_t n = 5 + 16 * m->cfg.num_hidden_layers;
    if (m->head == SCFM_HEAD_MLM) n += 5 + !m->cfg.tie_word_embeddings;
    const scfm_genecompass_config *g = &m->cfg.genecompass;
    if (g->enabled) n += 6 + 2 * scfm_gc_n_priors(g) + !!g->use_cls_token + (m->head == SCFM_HEAD_MLM ? 6 : 0);
    if (m->head == SCFM_HEAD_SEQCLS) n += 4;
    if (m->head == SCFM_HEAD_TOKCLS) n += 2;
    return n;
}

/* Points `v` (whose layers array must exist) into base (NULL: all NULL). */
void scfm__model_set_views(scfm_model *m, float *base, scfm_bert_params *v) {
    scfm_bert_layer_params *layers = v->layers;
    memset(v, 0, sizeof *v);
    v->layers = layers;
    memset(layers, 0, m->cfg.num_hidden_layers * sizeof *layers);
    walker w = {.m = m, .view_mode = 1, .base = base};
    walk(&w, v);
}

/* Allocates the model shell: config copy, table, params buffer (zeroed), views. */
scfm_model *scfm__model_alloc(const scfm_bert_config *cfg, scfm_head head) {
    if ((unsigned)head > SCFM_HEAD_TOKCLS) { scfm_error(SCFM_EINVAL, "unknown head %d", (int)head); return NULL; }
    if (scfm_bert_config_validate(cfg, "model config")) return NULL;
    if ((head == SCFM_HEAD_SEQCLS || head == SCFM_HEAD_TOKCLS) && cfg->num_labels == 0) {
        scfm_error(SCFM_EINVAL, "a %s head needs at least one label (num_labels = 0)", scfm_head_name(head));
        return NULL;
    }
    if (head == SCFM_HEAD_SEQCLS && cfg->num_labels == 1) {
        scfm_error(SCFM_EINVAL, "a seqcls head with one label would be regression, which is not supported");
        return NULL;
    }
    scfm_model *m = scfm_calloc(1, sizeof *m);
    if (!m) return NULL;
    m->head = head;
    if (scfm_bert_config_copy(&m->cfg, cfg)) { free(m); return NULL; }
    m->n_tensors = count_tensors(m);
    m->tensors = scfm_calloc(m->n_tensors, sizeof *m->tensors);
    m->p.layers = scfm_calloc(cfg->num_hidden_layers, sizeof *m->p.layers);
    m->g.layers = scfm_calloc(cfg->num_hidden_layers, sizeof *m->g.layers);
    if (!m->tensors || !m->p.layers || !m->g.layers) goto fail;
    scfm_bert_params scratch = {.layers = m->g.layers};
    walker w = {.m = m};
    walk(&w, &scratch);
    size_t bytes;
    if (w.err || w.i != m->n_tensors || scfm_mul_size(w.off, sizeof(float), &bytes)) {
        scfm_error(SCFM_ENOMEM, "model too large");
        goto fail;
    }
    m->n_params = w.off;
    if (!(m->params = scfm_alloc_aligned(bytes ? bytes : 64))) goto fail;
    memset(m->params, 0, bytes);
    scfm__model_set_views(m, m->params, &m->p);
    scfm__model_set_views(m, NULL, &m->g);
    if (cfg->genecompass.enabled && scfm__gc_buffers_alloc(m)) goto fail;
    return m;
fail:
    scfm_model_free(m);
    return NULL;
}

/* Hugging Face _init_weights for tensor i: LayerNorm weight 1, biases 0, other weights
 * N(0, initializer_range); the padding row of word_embeddings 0. */
void scfm__model_init_tensor(scfm_model *m, size_t i, scfm_rng *rng) {
    const scfm_tensor *t = &m->tensors[i];
    float *x = m->params + t->offset;
    size_t len = strlen(t->name);
    if (strstr(t->name, "LayerNorm.weight") || strstr(t->name, ".cat_ln.weight")) {
        for (size_t k = 0; k < t->numel; k++) x[k] = 1.0f;
    } else if (len >= 4 && !strcmp(t->name + len - 4, "bias")) {
        memset(x, 0, t->numel * sizeof *x);
    } else {
        float sd = m->cfg.initializer_range;
        for (size_t k = 0; k < t->numel; k++) x[k] = sd * scfm_rng_normal(rng);
    }
    if (!strcmp(t->name, "bert.embeddings.word_embeddings.weight") && m->cfg.pad_token_id >= 0)
        memset(x + (size_t)m->cfg.pad_token_id * t->shape[1], 0, t->shape[1] * sizeof *x);
}

scfm_model *scfm_model_create(const scfm_bert_config *cfg, scfm_head head, uint64_t seed) {
    scfm_model *m = scfm__model_alloc(cfg, head);
    if (!m) return NULL;
    scfm_rng rng;
    scfm_rng_seed(&rng, seed);
    for (size_t i = 0; i < m->n_tensors; i++) scfm__model_init_tensor(m, i, &rng);
    return m;
}

void scfm_model_free(scfm_model *m) {
    if (!m) return;
    scfm__acts_free(m->acts);
    scfm__lowp_free(m);
    scfm__gc_buffers_free(m);
    scfm_free(m->params);
    scfm_free(m->grads);
    free(m->tensors);
    free(m->p.layers);
    free(m->g.layers);
    scfm_bert_config_free(&m->cfg);
    free(m);
}

size_t scfm_model_num_params(const scfm_model *m) {
    size_t n = 0;
    for (size_t i = 0; i < m->n_tensors; i++) n += m->tensors[i].numel;
    return n;
}

const scfm_tensor *scfm_model_find_tensor(const scfm_model *m, const char *name) {
    for (size_t i = 0; i < m->n_tensors; i++)
        if (!strcmp(m->tensors[i].name, name)) return &m->tensors[i];
    return NULL;
}

size_t scfm_model_set_trainable(scfm_model *m, const char *prefix, int trainable) {
    size_t n = 0, lp = strlen(prefix);
    for (size_t i = 0; i < m->n_tensors; i++)
        if (!strncmp(m->tensors[i].name, prefix, lp) && m->tensors[i].trainable != !!trainable) {
            m->tensors[i].trainable = !!trainable;
            n++;
        }
    return n;
}

void scfm_model_freeze_layers(scfm_model *m, size_t n) {
    scfm_model_set_trainable(m, "bert.embeddings.", 0);
    for (size_t l = 0; l < n && l < m->cfg.num_hidden_layers; l++) {
        char p[64];
        snprintf(p, sizeof p, "bert.encoder.layer.%zu.", l);
        scfm_model_set_trainable(m, p, 0);
    }
}

int scfm__model_ensure_grads(scfm_model *m) {
    if (m->grads) return SCFM_OK;
    size_t bytes = m->n_params * sizeof(float);
    if (!(m->grads = scfm_alloc_aligned(bytes ? bytes : 64))) return SCFM_ENOMEM;
    memset(m->grads, 0, bytes);
    scfm__model_set_views(m, m->grads, &m->g);
    return SCFM_OK;
}

int scfm_model_zero_grad(scfm_model *m) {
    if (!m->grads) return scfm__model_ensure_grads(m);
    memset(m->grads, 0, m->n_params * sizeof(float));
    return SCFM_OK;
}
