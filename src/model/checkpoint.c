/* Checkpoints: DIR/config.json + DIR/model.safetensors in the Hugging Face layout. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
    if (strncmp(in, "bert.", 5) && strncmp(in, "cls.", 4) && strncmp(in, "classifier.", 11)) pre = "bert.";
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
} file_index;

static int index_file(file_index *fx, const scfm_safetensors *st) {
    fx->st = st;
    fx->canon = scfm_calloc(st->n ? st->n : 1, sizeof *fx->canon);
    fx->used = scfm_calloc(st->n ? st->n : 1, 1);
    if (!fx->canon || !fx->used) return SCFM_ENOMEM;
    for (size_t i = 0; i < st->n; i++) {
        char buf[SCFM_TENSOR_NAME_MAX * 2];
        canonical_name(st->t[i].name, buf, sizeof buf);
        if (!(fx->canon[i] = scfm_strdup(buf))) return SCFM_ENOMEM;
        for (size_t k = 0; k < i && buf[0]; k++)
            if (!strcmp(fx->canon[k], buf))
                return scfm_error(SCFM_EFORMAT, "%s: tensors '%s' and '%s' are the same parameter", st->path,
                                  st->t[k].name, st->t[i].name);
    }
    return SCFM_OK;
}

static void index_free(file_index *fx) {
    for (size_t i = 0; fx->canon && i < fx->st->n; i++) free(fx->canon[i]);
    free(fx->canon);
    free(fx->used);
}

static long find_canon(const file_index *fx, const char *name) {
    for (size_t i = 0; i < fx->st->n; i++)
        if (!strcmp(fx->canon[i], name)) return (long)i;
    return -1;
}

static int is_head_tensor(const char *name) {
    return !strncmp(name, "cls.", 4) || !strncmp(name, "classifier.", 11) || !strncmp(name, "bert.pooler.", 12);
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
    return SCFM_OK;
}

/* Reports file tensors that were not used. */
static void report_unused(const scfm_model *m, const file_index *fx) {
    size_t other = 0;
    for (size_t i = 0; i < fx->st->n; i++) {
        const char *c = fx->canon[i];
        if (fx->used[i] || !c[0]) continue;
        if (m->head == SCFM_HEAD_MLM && m->cfg.tie_word_embeddings &&
            (!strcmp(c, "cls.predictions.decoder.weight") || !strcmp(c, "cls.predictions.decoder.bias")))
            continue; /* tied duplicates */
        if (is_head_tensor(c)) { other++; continue; }
        scfm_log(SCFM_LOG_WARN, "%s: unexpected tensor '%s' ignored", fx->st->path, fx->st->t[i].name);
    }
    if (other)
        scfm_log(SCFM_LOG_INFO, "%s: %zu tensors of another head ignored (loading as %s)", fx->st->path, other,
                 scfm_head_name(m->head));
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
    scfm_model *m = scfm__model_alloc(&cfg, head);
    scfm_bert_config_free(&cfg);
    if (!m) { scfm_error_prefix(SCFM_EINVAL, "%s", dir); return NULL; }
    scfm_safetensors *st = NULL;
    file_index fx = {0};
    int rc = open_weights(dir, &st);
    if (!rc) rc = index_file(&fx, st);
    if (!rc) rc = fill_model(m, &fx, o ? o->seed : 0);
    if (!rc) report_unused(m, &fx);
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
    scfm_st_entry *e = scfm_calloc(m->n_tensors, sizeof *e);
    if (!e) return SCFM_ENOMEM;
    for (size_t i = 0; i < m->n_tensors; i++) {
        const scfm_tensor *t = &m->tensors[i];
        /* a bare encoder is saved as transformers' BertModel: no "bert." prefix */
        e[i].name = m->head == SCFM_HEAD_NONE ? t->name + 5 : t->name;
        e[i].dtype = SCFM_DT_F32;
        e[i].ndim = t->ndim;
        e[i].shape[0] = t->shape[0];
        e[i].shape[1] = t->shape[1];
        e[i].data = m->params + t->offset;
    }
    static const char *const meta[] = {"format", "pt"};
    rc = join(path, sizeof path, dir, "model.safetensors");
    if (!rc) rc = scfm_st_write_checked(path, e, m->n_tensors, meta, 1) /* + per-tensor CRC-32 */;
    free(e);
    char *json = NULL;
    size_t len = 0;
    if (!rc) rc = scfm_bert_config_to_json(&m->cfg, m->head, &json, &len);
    if (!rc) rc = join(path, sizeof path, dir, "config.json");
    if (!rc) rc = scfm_write_file_atomic(path, json, len);
    free(json);
    return rc;
}
