/* BERT configuration: defaults, presets, config.json reading and writing, validation. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scfm/model.h"

static const char *head_names[] = {"none", "mlm", "seqcls", "tokcls"};

const char *scfm_head_name(scfm_head h) {
    return (unsigned)h < 4 ? head_names[h] : "?";
}

int scfm_head_from_name(const char *name, scfm_head *out) {
    for (int i = 0; i < 4; i++)
        if (!strcmp(name, head_names[i])) { *out = (scfm_head)i; return SCFM_OK; }
    if (!strcmp(name, "cell")) { *out = SCFM_HEAD_SEQCLS; return SCFM_OK; }
    if (!strcmp(name, "gene")) { *out = SCFM_HEAD_TOKCLS; return SCFM_OK; }
    return scfm_error(SCFM_EINVAL, "unknown head '%s' (mlm, seqcls|cell, tokcls|gene, none)", name);
}

void scfm_bert_config_init(scfm_bert_config *c) {
    memset(c, 0, sizeof *c);
    c->vocab_size = 30522;
    c->hidden_size = 768;
    c->num_hidden_layers = 12;
    c->num_attention_heads = 12;
    c->intermediate_size = 3072;
    c->max_position_embeddings = 512;
    c->type_vocab_size = 2;
    c->hidden_act = SCFM_ACT_GELU;
    c->hidden_dropout_prob = 0.1f;
    c->attention_probs_dropout_prob = 0.1f;
    c->classifier_dropout = -1.0f;
    c->initializer_range = 0.02f;
    c->layer_norm_eps = 1e-12f;
    c->pad_token_id = 0;
    c->tie_word_embeddings = 1;
    c->genecompass.n_species = 2;
    c->genecompass.prior_dim = 768;
    c->genecompass.id_loss_weight = 0.2f;
    c->genecompass.value_loss_weight = 0.8f;
}

static const char *const prior_names[SCFM_N_PRIORS] = {"promoter", "co_exp", "gene_family", "peca_grn"};
const char *scfm_prior_name(int k) { return k >= 0 && k < SCFM_N_PRIORS ? prior_names[k] : NULL; }

size_t scfm_gc_n_priors(const scfm_genecompass_config *g) {
    size_t n = 0;
    for (int k = 0; k < SCFM_N_PRIORS; k++) n += g->enabled && g->use_prior[k];
    return n;
}

int scfm_gc_needs_species(const scfm_genecompass_config *g) {
    return g->enabled && (g->use_cls_token || scfm_gc_n_priors(g) > 0);
}

size_t scfm_gc_fusion_width(const scfm_genecompass_config *g, size_t H) {
    return H * (1 + scfm_gc_n_priors(g)) + (g->enabled && g->use_values ? 1 : 0);
}

typedef struct {
    const char *name;
    size_t L, H, NH, I, P, V;
    scfm_act act;
    float dropout;
} preset;

static const preset presets[] = {
    {"geneformer-v1", 6, 256, 4, 512, 2048, 25426, SCFM_ACT_RELU, 0.02f},
    {"mouse-geneformer", 6, 256, 4, 512, 2048, 25426, SCFM_ACT_SILU, 0.02f},
    {"geneformer-v2-104m", 12, 768, 12, 3072, 4096, 20275, SCFM_ACT_RELU, 0.1f},
    {"genecompass-base", 12, 768, 12, 3072, 2048, 50558, SCFM_ACT_GELU, 0.02f},
    {"genecompass-small", 4, 128, 4, 512, 2048, 50558, SCFM_ACT_GELU, 0.02f},
    {"tiny", 2, 64, 4, 128, 2048, 25426, SCFM_ACT_RELU, 0.02f},
    {"small-cpu", 4, 128, 4, 256, 2048, 25426, SCFM_ACT_RELU, 0.02f},
};

const char *scfm_bert_config_preset_names(void) {
    return "geneformer-v1, mouse-geneformer, geneformer-v2-104m, genecompass-base, genecompass-small, tiny, small-cpu";
}

int scfm_bert_config_preset(scfm_bert_config *c, const char *name) {
    scfm_bert_config_init(c); /* also on error: the caller may free it (a crash once) */
    for (size_t i = 0; i < sizeof presets / sizeof *presets; i++) {
        const preset *p = &presets[i];
        if (strcmp(name, p->name)) continue;
        c->num_hidden_layers = p->L;
        c->hidden_size = p->H;
        c->num_attention_heads = p->NH;
        c->intermediate_size = p->I;
        c->max_position_embeddings = p->P;
        c->vocab_size = p->V;
        c->hidden_act = p->act;
        c->hidden_dropout_prob = c->attention_probs_dropout_prob = p->dropout;
        if (!strncmp(p->name, "genecompass", 11)) {
            scfm_genecompass_config *g = &c->genecompass;
            g->enabled = g->use_values = g->use_cls_token = 1;
            for (int k = 0; k < SCFM_N_PRIORS; k++) g->use_prior[k] = 1;
            g->prior_dim = p->H == 768 ? 768 : p->H;
        }
        return SCFM_OK;
    }
    return scfm_error(SCFM_EINVAL, "unknown model preset '%s' (known: %s)", name, scfm_bert_config_preset_names());
}

void scfm_bert_config_free(scfm_bert_config *c) {
    if (!c) return;
    for (size_t i = 0; i < c->num_labels && c->id2label; i++) free(c->id2label[i]);
    free(c->id2label);
    c->id2label = NULL;
    c->num_labels = 0;
}

int scfm_bert_config_set_labels(scfm_bert_config *c, size_t n, const char *const *names) {
    if (n == 0) return scfm_error(SCFM_EINVAL, "number of labels must be at least 1");
    char **lab = scfm_calloc(n, sizeof *lab);
    if (!lab) return SCFM_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        char tmp[32];
        snprintf(tmp, sizeof tmp, "LABEL_%zu", i);
        lab[i] = scfm_strdup(names && names[i] ? names[i] : tmp);
        if (!lab[i]) {
            for (size_t k = 0; k < i; k++) free(lab[k]);
            free(lab);
            return SCFM_ENOMEM;
        }
    }
    scfm_bert_config_free(c);
    c->id2label = lab;
    c->num_labels = n;
    return SCFM_OK;
}

int scfm_bert_config_copy(scfm_bert_config *dst, const scfm_bert_config *src) {
    *dst = *src;
    dst->id2label = NULL;
    dst->num_labels = 0;
    if (src->num_labels == 0) return SCFM_OK;
    return scfm_bert_config_set_labels(dst, src->num_labels, (const char *const *)src->id2label);
}

static int bad(const char *what, const char *field, const char *why) {
    return scfm_error(SCFM_EINVAL, "%s: %s %s", what ? what : "config", field, why);
}

int scfm_bert_config_validate(const scfm_bert_config *c, const char *what) {
    const size_t cap = (size_t)1 << 24;
    const struct { const char *n; size_t v; } dims[] = {
        {"vocab_size", c->vocab_size}, {"hidden_size", c->hidden_size},
        {"num_hidden_layers", c->num_hidden_layers}, {"num_attention_heads", c->num_attention_heads},
        {"intermediate_size", c->intermediate_size}, {"max_position_embeddings", c->max_position_embeddings},
        {"type_vocab_size", c->type_vocab_size}};
    for (size_t i = 0; i < sizeof dims / sizeof *dims; i++)
        if (dims[i].v == 0 || dims[i].v > cap) return bad(what, dims[i].n, "must be in 1..16777216");
    if (c->num_hidden_layers > 1024) return bad(what, "num_hidden_layers", "must be at most 1024");
    if (c->hidden_size % c->num_attention_heads)
        return bad(what, "hidden_size", "must be a multiple of num_attention_heads");
    size_t vh, ph;
    if (scfm_mul_size(c->vocab_size, c->hidden_size, &vh) || vh > ((size_t)1 << 34) ||
        scfm_mul_size(c->max_position_embeddings, c->hidden_size, &ph) || ph > ((size_t)1 << 34))
        return bad(what, "vocab_size/max_position_embeddings x hidden_size", "too large");
    const struct { const char *n; float v; } probs[] = {
        {"hidden_dropout_prob", c->hidden_dropout_prob},
        {"attention_probs_dropout_prob", c->attention_probs_dropout_prob}};
    for (size_t i = 0; i < 2; i++)
        if (!(probs[i].v >= 0 && probs[i].v < 1)) return bad(what, probs[i].n, "must be in [0, 1)");
    if (!(c->classifier_dropout < 1) || isnan(c->classifier_dropout))
        return bad(what, "classifier_dropout", "must be null or in [0, 1)");
    if (!(c->layer_norm_eps > 0) || !isfinite(c->layer_norm_eps)) return bad(what, "layer_norm_eps", "must be > 0");
    if (!(c->initializer_range >= 0) || !isfinite(c->initializer_range))
        return bad(what, "initializer_range", "must be >= 0");
    if (c->pad_token_id < -1 || (c->pad_token_id >= 0 && (size_t)c->pad_token_id >= c->vocab_size))
        return bad(what, "pad_token_id", "must be null or below vocab_size");
    if (c->problem_type[0] && strcmp(c->problem_type, "single_label_classification"))
        return bad(what, "problem_type", "is not supported (only single_label_classification)");
    const scfm_genecompass_config *g = &c->genecompass;
    if (g->enabled) {
        if (g->n_species < 1 || g->n_species > 64) return bad(what, "n_species", "must be in 1..64");
        if (scfm_gc_n_priors(g) && (g->prior_dim == 0 || g->prior_dim > 65536))
            return bad(what, "prior_embedding_size", "must be in 1..65536");
        if (!(g->id_loss_weight >= 0) || !(g->value_loss_weight >= 0) || !isfinite(g->id_loss_weight) ||
            !isfinite(g->value_loss_weight))
            return bad(what, "id_loss_weight/value_loss_weight", "must be finite and >= 0");
        size_t vd;
        if (scfm_mul_size(c->vocab_size, g->prior_dim, &vd) || vd > ((size_t)1 << 34))
            return bad(what, "vocab_size x prior_embedding_size", "too large");
    }
    return SCFM_OK;
}
