/* config.json reading and writing (Hugging Face BertConfig, docs/formats.md section 5). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scfm/model.h"

/* ---- reading -------------------------------------------------------------------------- */
static int get_dim(const scfm_json *j, const char *what, const char *key, int required, size_t *out) {
    const scfm_json *v = scfm_json_get(j, key);
    if (!v) return required ? scfm_error(SCFM_EFORMAT, "%s: missing required field '%s'", what, key) : SCFM_OK;
    if (v->type != SCFM_JSON_NUMBER || !v->is_integer || v->integer <= 0)
        return scfm_error(SCFM_EFORMAT, "%s: field '%s' must be a positive integer", what, key);
    *out = (size_t)v->integer;
    return SCFM_OK;
}

static int get_prob(const scfm_json *j, const char *what, const char *key, int nullable, float *out) {
    const scfm_json *v = scfm_json_get(j, key);
    if (!v) return SCFM_OK;
    if (nullable && v->type == SCFM_JSON_NULL) { *out = -1.0f; return SCFM_OK; }
    if (v->type != SCFM_JSON_NUMBER || !isfinite(v->number))
        return scfm_error(SCFM_EFORMAT, "%s: field '%s' must be a number%s", what, key, nullable ? " or null" : "");
    *out = (float)v->number;
    return SCFM_OK;
}

static int read_labels(scfm_bert_config *c, const scfm_json *j, const char *what) {
    const scfm_json *map = scfm_json_get(j, "id2label");
    size_t n = 0;
    if (!map) { /* some configs store only num_labels */
        const scfm_json *nl = scfm_json_get(j, "num_labels");
        if (!nl) return SCFM_OK;
        if (nl->type != SCFM_JSON_NUMBER || !nl->is_integer || nl->integer < 1 || nl->integer > 1000000)
            return scfm_error(SCFM_EFORMAT, "%s: field 'num_labels' must be a positive integer", what);
        return scfm_bert_config_set_labels(c, (size_t)nl->integer, NULL);
    }
    if (map->type != SCFM_JSON_OBJECT || map->n == 0)
        return scfm_error(SCFM_EFORMAT, "%s: id2label must be a non-empty object", what);
    n = map->n;
    const char **names = scfm_calloc(n, sizeof *names);
    if (!names) return SCFM_ENOMEM;
    int rc = SCFM_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        char *end;
        long k = strtol(map->keys[i], &end, 10);
        if (!*map->keys[i] || *end || k < 0 || (size_t)k >= n || names[k])
            rc = scfm_error(SCFM_EFORMAT, "%s: id2label key '%s' is not one of \"0\"..\"%zu\" (or repeated)",
                            what, map->keys[i], n - 1);
        else if (map->items[i].type != SCFM_JSON_STRING)
            rc = scfm_error(SCFM_EFORMAT, "%s: id2label[\"%s\"] is not a string", what, map->keys[i]);
        else names[k] = map->items[i].string;
    }
    if (!rc) rc = scfm_bert_config_set_labels(c, n, names);
    free(names);
    return rc;
}

static int read_strings(scfm_bert_config *c, const scfm_json *j, const char *what) {
    const scfm_json *v = scfm_json_get(j, "model_type");
    if (v && (v->type != SCFM_JSON_STRING || strcmp(v->string, "bert")))
        return scfm_error(SCFM_EFORMAT, "%s: model_type must be \"bert\"", what);
    if ((v = scfm_json_get(j, "hidden_act"))) {
        if (v->type != SCFM_JSON_STRING || scfm_act_from_name(v->string, &c->hidden_act))
            return scfm_error(SCFM_EFORMAT, "%s: unsupported hidden_act %s%s%s", what,
                              v->type == SCFM_JSON_STRING ? "'" : "", v->type == SCFM_JSON_STRING ? v->string : "(not a string)",
                              v->type == SCFM_JSON_STRING ? "'" : "");
    }
    if ((v = scfm_json_get(j, "position_embedding_type")) && v->type != SCFM_JSON_NULL &&
        (v->type != SCFM_JSON_STRING || strcmp(v->string, "absolute")))
        return scfm_error(SCFM_EFORMAT, "%s: position_embedding_type %s is not supported (only \"absolute\")",
                          what, v->type == SCFM_JSON_STRING ? v->string : "(not a string)");
    if ((v = scfm_json_get(j, "problem_type")) && v->type != SCFM_JSON_NULL) {
        if (v->type != SCFM_JSON_STRING || v->str_len >= sizeof c->problem_type)
            return scfm_error(SCFM_EFORMAT, "%s: problem_type must be a string or null", what);
        memcpy(c->problem_type, v->string, v->str_len + 1);
    }
    if ((v = scfm_json_get(j, "scfm_vocab_hash")) && v->type != SCFM_JSON_NULL) {
        if (v->type != SCFM_JSON_STRING || v->str_len >= sizeof c->vocab_hash)
            return scfm_error(SCFM_EFORMAT, "%s: scfm_vocab_hash must be a short string", what);
        memcpy(c->vocab_hash, v->string, v->str_len + 1);
    }
    if ((v = scfm_json_get(j, "scfm_grn_prior")) && v->type != SCFM_JSON_NULL) {
        struct { const char *key; char *dst; size_t cap; } f[4] = {
            {"table", c->grn_prior_table, sizeof c->grn_prior_table},
            {"table_hash", c->grn_prior_table_hash, sizeof c->grn_prior_table_hash},
            {"network", c->grn_prior_network, sizeof c->grn_prior_network},
            {"network_hash", c->grn_prior_network_hash, sizeof c->grn_prior_network_hash}};
        if (v->type != SCFM_JSON_OBJECT) return scfm_error(SCFM_EFORMAT, "%s: scfm_grn_prior must be an object", what);
        for (int k = 0; k < 4; k++) {
            const scfm_json *s = scfm_json_get(v, f[k].key);
            if (!s || s->type == SCFM_JSON_NULL) continue;
            if (s->type != SCFM_JSON_STRING || s->str_len >= f[k].cap)
                return scfm_error(SCFM_EFORMAT, "%s: scfm_grn_prior.%s must be a string of fewer than %zu bytes or null",
                                  what, f[k].key, f[k].cap);
            memcpy(f[k].dst, s->string, s->str_len + 1);
        }
    }
    return SCFM_OK;
}

static int read_scalars(scfm_bert_config *c, const scfm_json *j, const char *what) {
    int rc;
    if ((rc = get_dim(j, what, "vocab_size", 1, &c->vocab_size)) ||
        (rc = get_dim(j, what, "hidden_size", 1, &c->hidden_size)) ||
        (rc = get_dim(j, what, "num_hidden_layers", 1, &c->num_hidden_layers)) ||
        (rc = get_dim(j, what, "num_attention_heads", 1, &c->num_attention_heads)) ||
        (rc = get_dim(j, what, "intermediate_size", 1, &c->intermediate_size)) ||
        (rc = get_dim(j, what, "max_position_embeddings", 1, &c->max_position_embeddings)) ||
        (rc = get_dim(j, what, "type_vocab_size", 0, &c->type_vocab_size)) ||
        (rc = get_prob(j, what, "hidden_dropout_prob", 0, &c->hidden_dropout_prob)) ||
        (rc = get_prob(j, what, "attention_probs_dropout_prob", 0, &c->attention_probs_dropout_prob)) ||
        (rc = get_prob(j, what, "classifier_dropout", 1, &c->classifier_dropout)) ||
        (rc = get_prob(j, what, "initializer_range", 0, &c->initializer_range)) ||
        (rc = get_prob(j, what, "layer_norm_eps", 0, &c->layer_norm_eps)))
        return rc;
    const scfm_json *v = scfm_json_get(j, "pad_token_id");
    if (v && v->type == SCFM_JSON_NULL) c->pad_token_id = -1;
    else if (v && (v->type != SCFM_JSON_NUMBER || !v->is_integer || v->integer < 0))
        return scfm_error(SCFM_EFORMAT, "%s: pad_token_id must be a non-negative integer or null", what);
    else if (v) c->pad_token_id = v->integer;
    if ((v = scfm_json_get(j, "tie_word_embeddings"))) {
        if (v->type != SCFM_JSON_BOOL) return scfm_error(SCFM_EFORMAT, "%s: tie_word_embeddings must be a boolean", what);
        c->tie_word_embeddings = v->boolean;
    }
    return SCFM_OK;
}

static int get_bool(const scfm_json *j, const char *what, const char *key, int *out, int *seen) {
    const scfm_json *v = scfm_json_get(j, key);
    if (!v) return SCFM_OK;
    if (v->type != SCFM_JSON_BOOL) return scfm_error(SCFM_EFORMAT, "%s: field '%s' must be a boolean", what, key);
    *out = v->boolean;
    *seen = 1;
    return SCFM_OK;
}

/* GeneCompass's config fields: any use_* key makes the config a GeneCompass one. */
static int read_genecompass(scfm_bert_config *c, const scfm_json *j, const char *what) {
    scfm_genecompass_config *g = &c->genecompass;
    static const char *const keys[SCFM_N_PRIORS] = {"use_promoter", "use_co_exp", "use_gene_family", "use_peca_grn"};
    int seen = 0, rc;
    if ((rc = get_bool(j, what, "use_values", &g->use_values, &seen)) ||
        (rc = get_bool(j, what, "use_cls_token", &g->use_cls_token, &seen)))
        return rc;
    for (int k = 0; k < SCFM_N_PRIORS; k++)
        if ((rc = get_bool(j, what, keys[k], &g->use_prior[k], &seen))) return rc;
    g->enabled = seen;
    if (!seen) return SCFM_OK;
    if ((rc = get_dim(j, what, "prior_embedding_size", 0, &g->prior_dim)) ||
        (rc = get_prob(j, what, "id_loss_weight", 0, &g->id_loss_weight)) ||
        (rc = get_prob(j, what, "value_loss_weight", 0, &g->value_loss_weight)))
        return rc;
    const scfm_json *v = scfm_json_get(j, "emb_warmup_steps");
    if (v && v->type == SCFM_JSON_NUMBER && v->is_integer && v->integer >= 0) g->emb_warmup_steps = (long)v->integer;
    else if (v && v->type != SCFM_JSON_NULL)
        return scfm_error(SCFM_EFORMAT, "%s: field 'emb_warmup_steps' must be a non-negative integer", what);
    return SCFM_OK;
}

int scfm_bert_config_from_json(scfm_bert_config *c, const scfm_json *j, const char *what) {
    if (!what) what = "config";
    scfm_bert_config_init(c);
    if (j->type != SCFM_JSON_OBJECT) return scfm_error(SCFM_EFORMAT, "%s: not a JSON object", what);
    int rc = read_scalars(c, j, what);
    if (!rc) rc = read_strings(c, j, what);
    if (!rc) rc = read_labels(c, j, what);
    if (!rc) rc = read_genecompass(c, j, what);
    if (!rc) rc = scfm_bert_config_validate(c, what);
    if (rc) scfm_bert_config_free(c);
    return rc;
}

int scfm_bert_config_load(scfm_bert_config *c, const char *path) {
    char *text = NULL;
    size_t len = 0;
    scfm_bert_config_init(c);
    int rc = scfm_read_file(path, &text, &len);
    if (rc) return rc;
    scfm_json *j = scfm_json_parse(text, len, path);
    free(text);
    if (!j) return SCFM_EFORMAT;
    const char *dup = scfm_json_dup_key(j);
    if (dup) rc = scfm_error(SCFM_EFORMAT, "%s: duplicate key '%s'", path, dup);
    else rc = scfm_bert_config_from_json(c, j, path);
    scfm_json_free(j);
    return rc;
}

/* ---- writing -------------------------------------------------------------------------- */
typedef struct { char *buf; size_t len, cap; int err; } obuf;

static void put(obuf *o, const char *fmt, ...) SCFM_PRINTF(2, 3);
static void put(obuf *o, const char *fmt, ...) {
    if (o->err) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->buf ? o->buf + o->len : NULL, o->buf ? o->cap - o->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) { o->err = 1; return; }
        if (o->buf && o->len + (size_t)n < o->cap) { o->len += (size_t)n; return; }
        size_t nc = (o->cap + (size_t)n + 64) * 2;
        char *nb = scfm_realloc(o->buf, nc);
        if (!nb) { o->err = 1; return; }
        o->buf = nb;
        o->cap = nc;
    }
}

static void put_str(obuf *o, const char *s) {
    if (!o->err && scfm_json_append_string(&o->buf, &o->len, &o->cap, s)) o->err = 1;
}

/* Shortest decimal that reads back as the same float. */
static void put_float(obuf *o, float f) {
    char tmp[40];
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, (double)f);
        if (strtof(tmp, NULL) == f) break;
    }
    if (!strpbrk(tmp, ".eEn")) strcat(tmp, ".0");
    put(o, "%s", tmp);
}

static const char *architecture(scfm_head h) {
    switch (h) {
    case SCFM_HEAD_MLM: return "BertForMaskedLM";
    case SCFM_HEAD_SEQCLS: return "BertForSequenceClassification";
    case SCFM_HEAD_TOKCLS: return "BertForTokenClassification";
    default: return "BertModel";
    }
}

static void put_labels(obuf *o, const scfm_bert_config *c) {
    put(o, "  \"id2label\": {");
    for (size_t i = 0; i < c->num_labels; i++) {
        put(o, "%s\n    \"%zu\": ", i ? "," : "", i);
        put_str(o, c->id2label[i]);
    }
    put(o, "\n  },\n");
    put(o, "  \"label2id\": {");
    for (size_t i = 0; i < c->num_labels; i++) {
        put(o, "%s\n    ", i ? "," : "");
        put_str(o, c->id2label[i]);
        put(o, ": %zu", i);
    }
    put(o, "\n  },\n");
}

/* Keys in sorted order, as transformers writes them. */
int scfm_bert_config_to_json(const scfm_bert_config *c, scfm_head head, char **out, size_t *len) {
    obuf o = {0};
    put(&o, "{\n  \"architectures\": [\n    \"%s\"\n  ],\n", architecture(head));
    put(&o, "  \"attention_probs_dropout_prob\": ");
    put_float(&o, c->attention_probs_dropout_prob);
    put(&o, ",\n  \"classifier_dropout\": ");
    if (c->classifier_dropout < 0) put(&o, "null");
    else put_float(&o, c->classifier_dropout);
    const scfm_genecompass_config *g = &c->genecompass;
    if (g->enabled) put(&o, ",\n  \"emb_warmup_steps\": %ld", g->emb_warmup_steps);
    put(&o, ",\n  \"hidden_act\": \"%s\",\n  \"hidden_dropout_prob\": ", scfm_act_name(c->hidden_act));
    put_float(&o, c->hidden_dropout_prob);
    put(&o, ",\n  \"hidden_size\": %zu,\n", c->hidden_size);
    if (c->num_labels) put_labels(&o, c);
    put(&o, "  \"initializer_range\": ");
    put_float(&o, c->initializer_range);
    if (g->enabled) {
        put(&o, ",\n  \"id_loss_weight\": ");
        put_float(&o, g->id_loss_weight);
    }
    put(&o, ",\n  \"intermediate_size\": %zu,\n  \"layer_norm_eps\": ", c->intermediate_size);
    put_float(&o, c->layer_norm_eps);
    put(&o, ",\n  \"max_position_embeddings\": %zu,\n  \"model_type\": \"bert\",\n", c->max_position_embeddings);
    put(&o, "  \"num_attention_heads\": %zu,\n  \"num_hidden_layers\": %zu,\n", c->num_attention_heads,
        c->num_hidden_layers);
    if (c->pad_token_id >= 0) put(&o, "  \"pad_token_id\": %lld,\n", (long long)c->pad_token_id);
    else put(&o, "  \"pad_token_id\": null,\n");
    put(&o, "  \"position_embedding_type\": \"absolute\",\n");
    if (g->enabled && scfm_gc_n_priors(g)) put(&o, "  \"prior_embedding_size\": %zu,\n", g->prior_dim);
    if (c->problem_type[0]) put(&o, "  \"problem_type\": \"%s\",\n", c->problem_type);
    if (c->grn_prior_table[0]) { /* the network `scfm grn` must not score this model against */
        const char *val[4] = {c->grn_prior_table, c->grn_prior_table_hash, c->grn_prior_network, c->grn_prior_network_hash};
        const char *key[4] = {"table", "table_hash", "network", "network_hash"};
        put(&o, "  \"scfm_grn_prior\": {");
        for (int k = 0; k < 4; k++) {
            put(&o, "%s\"%s\": ", k ? ", " : "", key[k]);
            if (val[k][0]) put_str(&o, val[k]);
            else put(&o, "null");
        }
        put(&o, "},\n");
        if (c->grn_prior_network_hash[0]) {
            put(&o, "  \"scfm_grn_prior_hashes\": [");
            put_str(&o, c->grn_prior_network_hash);
            put(&o, "],\n");
        }
    }
    if (c->vocab_hash[0]) {
        put(&o, "  \"scfm_vocab_hash\": ");
        put_str(&o, c->vocab_hash);
        put(&o, ",\n");
    }
    put(&o, "  \"scfm_version\": \"%s\",\n", SCFM_VERSION);
    put(&o, "  \"tie_word_embeddings\": %s,\n", c->tie_word_embeddings ? "true" : "false");
    put(&o, "  \"torch_dtype\": \"float32\",\n  \"type_vocab_size\": %zu,\n", c->type_vocab_size);
    put(&o, "  \"use_cache\": true,\n");
    if (g->enabled) {
        const char *tf[2] = {"false", "true"};
        put(&o, "  \"use_cls_token\": %s,\n  \"use_co_exp\": %s,\n  \"use_gene_family\": %s,\n", tf[!!g->use_cls_token],
            tf[!!g->use_prior[SCFM_PRIOR_CO_EXP]], tf[!!g->use_prior[SCFM_PRIOR_GENE_FAMILY]]);
        put(&o, "  \"use_peca_grn\": %s,\n  \"use_promoter\": %s,\n  \"use_values\": %s,\n  \"value_loss_weight\": ",
            tf[!!g->use_prior[SCFM_PRIOR_PECA_GRN]], tf[!!g->use_prior[SCFM_PRIOR_PROMOTER]], tf[!!g->use_values]);
        put_float(&o, g->value_loss_weight);
        put(&o, ",\n");
    }
    put(&o, "  \"vocab_size\": %zu\n}\n", c->vocab_size);
    if (o.err) { free(o.buf); return scfm_error(SCFM_ENOMEM, "config.json: out of memory"); }
    *out = o.buf;
    if (len) *len = o.len;
    return SCFM_OK;
}
