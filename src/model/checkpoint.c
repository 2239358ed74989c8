/* Checkpoints: DIR/config.json + DIR/model.safetensors in the Hugging Face layout. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scfm/strmap.h"
#include "model_internal.h"
#include "scfm/rng.h"
#include "scfm/safetensors.h"

static int file_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static int join(char *out, size_t n, const char *dir, const char *name) {
    if ((size_t)snprintf(out, n, "%s/%s", dir, name) >= n)
        return scfm_error(SCFM_EINVAL, "%s: path too long", dir);
    return SCFM_OK;
}

/* Canonical model-table name of a file tensor name (legacy gamma/beta, missing "bert."
 * prefix); "" for names to skip silently (position_ids). */
static void canonical_name(const char *in, char *out, size_t n) {
    char tmp[SCFM_TENSOR_NAME_MAX * 2];
    const char *pre = "";
    if (strncmp(in, "bert.", 5) && strncmp(in, "cls.", 4) && strncmp(in, "classifier.", 11) &&
        strncmp(in, "cls4value.", 10) && strncmp(in, "emb_warmup.", 11))
        pre = "bert.";
    snprintf(tmp, sizeof tmp, "%s%s", pre, in);
    size_t len = strlen(tmp);
    if (len > 16 && !strcmp(tmp + len - 16, ".LayerNorm.gamma")) strcpy(tmp + len - 5, "weight");
    else if (len > 15 && !strcmp(tmp + len - 15, ".LayerNorm.beta")) strcpy(tmp + len - 4, "bias");
    if (!strcmp(tmp, "bert.embeddings.position_ids")) tmp[0] = 0;
    snprintf(out, n, "%s", tmp);
}

typedef struct {
    const scfm_safetensors *st;
    char **canon;          /* [st->n] canonical names */
    unsigned char *used;   /* [st->n] */
    scfm_strmap by_canon;  /* canonical name -> file tensor index */
} file_index;

static int index_file(file_index *fx, const scfm_safetensors *st) {
    fx->st = st;
    fx->canon = scfm_calloc(st->n ? st->n : 1, sizeof *fx->canon);
    fx->used = scfm_calloc(st->n ? st->n : 1, 1);
    if (!fx->canon || !fx->used) return SCFM_ENOMEM;
    int rc = scfm_strmap_init(&fx->by_canon, st->n);
    for (size_t i = 0; !rc && i < st->n; i++) {
        char buf[SCFM_TENSOR_NAME_MAX * 2];
        canonical_name(st->t[i].name, buf, sizeof buf);
        if (!(fx->canon[i] = scfm_strdup(buf))) return SCFM_ENOMEM;
        if (!buf[0]) continue;
        size_t k = 0;
        if ((rc = scfm_strmap_put(&fx->by_canon, fx->canon[i], i)) == 1 && scfm_strmap_get(&fx->by_canon, buf, &k))
            rc = scfm_error(SCFM_EFORMAT, "%s: tensors '%s' and '%s' are the same parameter", st->path, st->t[k].name,
                            st->t[i].name);
    }
    return rc;
}

static void index_free(file_index *fx) {
    for (size_t i = 0; fx->canon && i < fx->st->n; i++) free(fx->canon[i]);
    free(fx->canon);
    free(fx->used);
    scfm_strmap_free(&fx->by_canon);
}

static long find_canon(const file_index *fx, const char *name) {
    size_t i;
    return scfm_strmap_get(&fx->by_canon, name, &i) ? (long)i : -1;
}

static int is_head_tensor(const char *name) {
    return !strncmp(name, "cls.", 4) || !strncmp(name, "classifier.", 11) || !strncmp(name, "bert.pooler.", 12) ||
           !strncmp(name, "cls4value.", 10);
}

/* ---- GeneCompass buffers ---------------------------------------------------------------- */
static int load_buffers(scfm_model *m, file_index *fx) {
    const scfm_genecompass_config *g = &m->cfg.genecompass;
    size_t V = m->cfg.vocab_size, D = g->prior_dim;
    const char *path = fx->st->path;
    char n[SCFM_TENSOR_NAME_MAX];
    long fi;
    for (int k = 0; k < SCFM_N_PRIORS; k++) {
        if (!g->use_prior[k]) continue;
        snprintf(n, sizeof n, "bert.embeddings.%s_knowledge", scfm_prior_name(k));
        if ((fi = find_canon(fx, n)) < 0)
            return scfm_error(SCFM_EFORMAT, "%s: tensor '%s' is missing (config.json has use_%s = true)", path, n,
                              scfm_prior_name(k));
        const scfm_st_tensor *t = &fx->st->t[fi];
        if (t->ndim != 2 || t->shape[0] != V || t->shape[1] != D)
            return scfm_error(SCFM_EMISMATCH, "%s: tensor '%s' must be [%zu, %zu]", path, n, V, D);
        fx->used[fi] = 1;
        int rc = scfm_st_read_f32(fx->st, t, m->gc.knowledge[k], V * D);
        if (rc) return rc;
    }
    if (m->gc.homologous_index) {
        if ((fi = find_canon(fx, "bert.embeddings.homologous_index")) < 0)
            return scfm_error(SCFM_EFORMAT, "%s: tensor 'bert.embeddings.homologous_index' is missing", path);
        const scfm_st_tensor *t = &fx->st->t[fi];
        if (t->ndim != 1 || t->shape[0] != V)
            return scfm_error(SCFM_EMISMATCH, "%s: tensor 'bert.embeddings.homologous_index' must be [%zu]", path, V);
        fx->used[fi] = 1;
        int rc = scfm_st_read_i64(fx->st, t, m->gc.homologous_index, V);
        if (!rc) rc = scfm_model_set_homologs(m, m->gc.homologous_index, V);
        if (rc) return scfm_error_prefix(rc, "%s", path);
    }
    if ((fi = find_canon(fx, "emb_warmup.alpha")) >= 0) {
        const scfm_st_tensor *t = &fx->st->t[fi];
        fx->used[fi] = 1;
        if (t->numel != 1) return scfm_error(SCFM_EMISMATCH, "%s: tensor 'emb_warmup.alpha' must be a scalar", path);
        int rc = scfm_st_read_f32(fx->st, t, &m->gc.alpha, 1);
        if (rc) return rc;
    }
    if ((fi = find_canon(fx, "emb_warmup.steps")) >= 0) {
        const scfm_st_tensor *t = &fx->st->t[fi];
        fx->used[fi] = 1;
        if (t->numel != 1) return scfm_error(SCFM_EMISMATCH, "%s: tensor 'emb_warmup.steps' must be a scalar", path);
        int rc = scfm_st_read_i64(fx->st, t, &m->gc.warmup_steps, 1);
        if (rc) return rc;
    }
    return SCFM_OK;
}

/* The prior width of a GeneCompass checkpoint is that of its knowledge tables. */
static int prior_dim_from_file(scfm_bert_config *cfg, const scfm_safetensors *st) {
    const scfm_genecompass_config *g = &cfg->genecompass;
    if (!g->enabled || !scfm_gc_n_priors(g)) return SCFM_OK;
    for (int k = 0; k < SCFM_N_PRIORS; k++) {
        if (!g->use_prior[k]) continue;
        char n[SCFM_TENSOR_NAME_MAX];
        snprintf(n, sizeof n, "bert.embeddings.%s_knowledge", scfm_prior_name(k));
        const scfm_st_tensor *t = scfm_st_find(st, n);
        if (!t) t = scfm_st_find(st, n + 5);
        if (t && t->ndim == 2 && t->shape[1] > 0) {
            cfg->genecompass.prior_dim = t->shape[1];
            return SCFM_OK;
        }
    }
    return SCFM_OK;
}

static int load_tensor(scfm_model *m, size_t ti, const file_index *fx, long fi) {
    const scfm_tensor *t = &m->tensors[ti];
    const scfm_st_tensor *s = &fx->st->t[fi];
    int same = s->ndim == t->ndim;
    for (size_t d = 0; same && d < t->ndim; d++) same = s->shape[d] == t->shape[d];
    if (!same) {
        char got[96] = "", want[64];
        for (size_t d = 0; d < s->ndim && d < 4; d++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%zu", d ? "," : "", s->shape[d]);
        if (t->ndim == 2) snprintf(want, sizeof want, "%zu,%zu", t->shape[0], t->shape[1]);
        else snprintf(want, sizeof want, "%zu", t->shape[0]);
        return scfm_error(SCFM_EMISMATCH, "%s: tensor '%s' has shape [%s] but config.json implies [%s]",
                          fx->st->path, s->name, got, want);
    }
    return scfm_st_read_f32(fx->st, s, m->params + t->offset, t->numel);
}

/* Fills the model from the file; initialises head tensors the file lacks. */
static int fill_model(scfm_model *m, file_index *fx, uint64_t seed) {
    scfm_rng rng;
    scfm_rng_seed(&rng, seed);
    for (size_t i = 0; i < m->n_tensors; i++) {
        const char *name = m->tensors[i].name;
        long fi = find_canon(fx, name);
        if (fi < 0 && !strcmp(name, "cls.predictions.bias")) fi = find_canon(fx, "cls.predictions.decoder.bias");
        if (fi < 0 && !strcmp(name, "cls4value.predictions.bias"))
            fi = find_canon(fx, "cls4value.predictions.decoder.bias");
        if (fi < 0) {
            if (!is_head_tensor(name))
                return scfm_error(SCFM_EFORMAT, "%s: tensor '%s' is missing", fx->st->path, name);
            scfm_log(SCFM_LOG_WARN, "%s: no '%s' in the checkpoint: initialised randomly (seed %llu)", fx->st->path,
                     name, (unsigned long long)seed);
            scfm__model_init_tensor(m, i, &rng);
            continue;
        }
        fx->used[fi] = 1;
        int rc = load_tensor(m, i, fx, fi);
        if (rc) return rc;
    }
    return m->cfg.genecompass.enabled ? load_buffers(m, fx) : SCFM_OK;
}

/* File tensors that were not used: tied duplicates and other heads' tensors are skipped
 * (reported); anything else is a part scfm would not compute, so the load fails rather
 * than run a different model. */
static int check_unused(const scfm_model *m, const file_index *fx) {
    size_t other = 0;
    for (size_t i = 0; i < fx->st->n; i++) {
        const char *c = fx->canon[i];
        if (fx->used[i] || !c[0]) continue;
        if (m->head == SCFM_HEAD_MLM && m->cfg.tie_word_embeddings &&
            (!strcmp(c, "cls.predictions.decoder.weight") || !strcmp(c, "cls.predictions.decoder.bias")))
            continue; /* tied duplicates */
        if (m->head == SCFM_HEAD_MLM && !strcmp(c, "cls4value.predictions.decoder.bias")) continue;
        if (is_head_tensor(c)) { other++; continue; }
        if (!strcmp(c, "bert.embeddings.token_type_ids")) continue; /* a non-persistent buffer some exports keep */
        if (!m->cfg.genecompass.enabled &&
            (strstr(c, "_knowledge") || strstr(c, "concat_embeddings.") || !strncmp(c, "emb_warmup.", 11) ||
             !strcmp(c, "bert.cls_embedding.weight") || !strcmp(c, "bert.embeddings.homologous_index")))
            return scfm_error(SCFM_EFORMAT,
                              "%s: tensor '%s' is a GeneCompass part but config.json has none of GeneCompass's use_* "
                              "fields: refusing to run it as a plain BERT", fx->st->path, fx->st->t[i].name);
        return scfm_error(SCFM_EFORMAT, "%s: tensor '%s' is not part of the model config.json describes",
                          fx->st->path, fx->st->t[i].name);
    }
    if (other)
        scfm_log(SCFM_LOG_INFO, "%s: %zu tensors of another head ignored (loading as %s)", fx->st->path, other,
                 scfm_head_name(m->head));
    return SCFM_OK;
}

static int load_config(const char *dir, scfm_head head, const scfm_load_opts *o, scfm_bert_config *cfg) {
    char path[4096];
    int rc = join(path, sizeof path, dir, "config.json");
    if (rc) return rc;
    if (!file_exists(path)) return scfm_error(SCFM_EIO, "%s: no config.json (not a model checkpoint directory)", dir);
    if ((rc = scfm_bert_config_load(cfg, path))) return rc;
    if (head != SCFM_HEAD_SEQCLS && head != SCFM_HEAD_TOKCLS) return SCFM_OK;
    if (o && o->num_labels) {
        if (cfg->num_labels && cfg->num_labels != o->num_labels)
            scfm_log(SCFM_LOG_INFO, "%s: replacing %zu labels from config.json by %zu", dir, cfg->num_labels,
                     o->num_labels);
        rc = scfm_bert_config_set_labels(cfg, o->num_labels, o->labels);
    } else if (!cfg->num_labels)
        rc = scfm_error(SCFM_EINVAL, "%s: config.json has no id2label and no number of labels was given for the %s head",
                        dir, scfm_head_name(head));
    if (rc) scfm_bert_config_free(cfg);
    return rc;
}

static int open_weights(const char *dir, scfm_safetensors **st) {
    char path[4096], bin[4096];
    int rc = join(path, sizeof path, dir, "model.safetensors");
    if (!rc) rc = join(bin, sizeof bin, dir, "pytorch_model.bin");
    if (rc) return rc;
    if (!file_exists(path) && file_exists(bin))
        return scfm_error(SCFM_EIO, "%s: only pytorch_model.bin found; convert it once with "
                          "'python scripts/convert_pytorch_bin.py %s OUT_DIR'", dir, dir);
    if (!(*st = scfm_st_open(path))) return SCFM_EFORMAT;
    return SCFM_OK;
}

scfm_model *scfm_model_load_ex(const char *dir, scfm_head head, const scfm_load_opts *o) {
    scfm_bert_config cfg;
    if (load_config(dir, head, o, &cfg)) return NULL;
    scfm_safetensors *st = NULL;
    if (open_weights(dir, &st) || prior_dim_from_file(&cfg, st)) {
        scfm_bert_config_free(&cfg);
        scfm_st_close(st);
        return NULL;
    }
    scfm_model *m = scfm__model_alloc(&cfg, head);
    scfm_bert_config_free(&cfg);
    if (!m) { scfm_error_prefix(SCFM_EINVAL, "%s", dir); scfm_st_close(st); return NULL; }
    file_index fx = {0};
    int rc = index_file(&fx, st);
    if (!rc) rc = fill_model(m, &fx, o ? o->seed : 0);
    if (!rc) rc = check_unused(m, &fx);
    if (fx.st) index_free(&fx);
    scfm_st_close(st);
    if (rc) { scfm_model_free(m); return NULL; }
    return m;
}

scfm_model *scfm_model_load(const char *dir, scfm_head head) { return scfm_model_load_ex(dir, head, NULL); }

/* ---- saving --------------------------------------------------------------------------- */
static int ensure_dir(const char *dir) {
    struct stat sb;
    if (stat(dir, &sb) == 0) {
        if (S_ISDIR(sb.st_mode)) return SCFM_OK;
        return scfm_error(SCFM_EIO, "%s: exists and is not a directory", dir);
    }
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return scfm_error(SCFM_EIO, "%s: cannot create directory: %s", dir, strerror(errno));
    return SCFM_OK;
}

int scfm_model_save(const scfm_model *m, const char *dir) {
    char path[4096];
    int rc = ensure_dir(dir);
    if (rc) return rc;
    size_t nb = m->cfg.genecompass.enabled ? SCFM_N_PRIORS + 4 : 0, n = 0;
    scfm_st_entry *e = scfm_calloc(m->n_tensors + nb, sizeof *e);
    char (*bn)[SCFM_TENSOR_NAME_MAX] = scfm_calloc(nb ? nb : 1, sizeof *bn);
    int64_t *posids = NULL;
    if (!e || !bn) { free(e); free(bn); return SCFM_ENOMEM; }
    /* a bare encoder is saved as transformers' BertModel: no "bert." prefix */
    size_t strip = m->head == SCFM_HEAD_NONE ? 5 : 0;
    for (size_t i = 0; i < m->n_tensors; i++, n++) {
        const scfm_tensor *t = &m->tensors[i];
        e[n].name = strip && !strncmp(t->name, "bert.", 5) ? t->name + 5 : t->name;
        e[n].dtype = SCFM_DT_F32;
        e[n].ndim = t->ndim;
        e[n].shape[0] = t->shape[0];
        e[n].shape[1] = t->shape[1];
        e[n].data = m->params + t->offset;
    }
    if (nb) { /* GeneCompass's persistent buffers, under its names */
        const scfm_genecompass_config *g = &m->cfg.genecompass;
        size_t V = m->cfg.vocab_size, P = m->cfg.max_position_embeddings, b = 0;
        for (int k = 0; k < SCFM_N_PRIORS; k++) {
            if (!g->use_prior[k]) continue;
            snprintf(bn[b], sizeof bn[b], "%sembeddings.%s_knowledge", strip ? "" : "bert.", scfm_prior_name(k));
            e[n++] = (scfm_st_entry){.name = bn[b++], .dtype = SCFM_DT_F32, .ndim = 2, .shape = {V, g->prior_dim},
                                     .data = m->gc.knowledge[k]};
        }
        if (m->gc.homologous_index)
            e[n++] = (scfm_st_entry){.name = strip ? "embeddings.homologous_index" : "bert.embeddings.homologous_index",
                                     .dtype = SCFM_DT_I64, .ndim = 1, .shape = {V}, .data = m->gc.homologous_index};
        if (!(posids = scfm_malloc(P * sizeof *posids))) rc = SCFM_ENOMEM;
        for (size_t i = 0; posids && i < P; i++) posids[i] = (int64_t)i;
        e[n++] = (scfm_st_entry){.name = strip ? "embeddings.position_ids" : "bert.embeddings.position_ids",
                                 .dtype = SCFM_DT_I64, .ndim = 2, .shape = {1, P}, .data = posids};
        if (!strip) {
            e[n++] = (scfm_st_entry){.name = "emb_warmup.alpha", .dtype = SCFM_DT_F32, .ndim = 0, .data = &m->gc.alpha};
            e[n++] = (scfm_st_entry){.name = "emb_warmup.steps", .dtype = SCFM_DT_I64, .ndim = 0,
                                     .data = &m->gc.warmup_steps};
        }
    }
    static const char *const meta[] = {"format", "pt"};
    if (!rc) rc = join(path, sizeof path, dir, "model.safetensors");
    if (!rc) rc = scfm_st_write_checked(path, e, n, meta, 1); /* + per-tensor CRC-32 */
    free(e);
    free(bn);
    free(posids);
    char *json = NULL;
    size_t len = 0;
    if (!rc) rc = scfm_bert_config_to_json(&m->cfg, m->head, &json, &len);
    if (!rc) rc = join(path, sizeof path, dir, "config.json");
    if (!rc) rc = scfm_write_file_atomic(path, json, len);
    free(json);
    return rc;
}
