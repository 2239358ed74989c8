/* Fine-tuning (cell and gene classification) and prediction. See include/scfm/finetune.h.
 *
 * Shapes: B = cells in a batch, N = packed tokens (no padding), C = classes,
 * P = the model's max positions (cells are cut to P tokens). */
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scfm/analysis.h"
#include "scfm/corpus.h"
#include "scfm/finetune.h"
#include "scfm/train.h"

enum { SPLIT_EXCLUDED = -1, SPLIT_TRAIN = 0, SPLIT_VAL = 1, SPLIT_TEST = 2, SPLIT_UNUSED = 3 };
#define FT_EVAL_TOKENS 16384
#define FT_STREAM_INIT 0x46494E49u
#define FT_STREAM_FRACTION 0x46524143u

void scfm_finetune_config_init(scfm_finetune_config *c) {
    memset(c, 0, sizeof *c);
    c->batch_size = 12;
    c->epochs = 10;
    c->lr = 5e-5;
    c->schedule = SCFM_SCHED_LINEAR;
    c->warmup_steps = 500;
    c->weight_decay = 0.001;
    c->max_grad_norm = 1.0;
    c->val_frac = 0.1;
    c->test_frac = 0.1;
    c->train_fraction = 1.0;
    c->patience = 3;
    c->log_every = 10;
    c->mega_mult = 50;
    c->seed = 42;
}

int scfm_finetune_config_validate(const scfm_finetune_config *c) {
    if (c->batch_size < 1 || c->batch_size > 1000000) return scfm_error(SCFM_EINVAL, "finetune: batch_size %zu must be in [1, 1000000]", c->batch_size);
    if (!(c->epochs > 0) || c->epochs > 1e6) return scfm_error(SCFM_EINVAL, "finetune: epochs %g must be > 0", c->epochs);
    if (c->max_steps < 0) return scfm_error(SCFM_EINVAL, "finetune: max_steps %ld must be >= 0", c->max_steps);
    if (!(c->lr > 0) || !isfinite(c->lr)) return scfm_error(SCFM_EINVAL, "finetune: lr %g must be > 0", c->lr);
    if (c->warmup_steps < 0) return scfm_error(SCFM_EINVAL, "finetune: warmup_steps %ld must be >= 0", c->warmup_steps);
    if (!(c->weight_decay >= 0) || !isfinite(c->weight_decay))
        return scfm_error(SCFM_EINVAL, "finetune: weight_decay %g must be >= 0", c->weight_decay);
    if (!(c->max_grad_norm >= 0) || !isfinite(c->max_grad_norm))
        return scfm_error(SCFM_EINVAL, "finetune: max_grad_norm %g must be >= 0", c->max_grad_norm);
    if (!(c->val_frac >= 0 && c->val_frac < 1) || !(c->test_frac >= 0 && c->test_frac < 1) ||
        !(c->val_frac + c->test_frac < 1))
        return scfm_error(SCFM_EINVAL, "finetune: validation (%g) and test (%g) fractions must be >= 0 and sum to < 1",
                          c->val_frac, c->test_frac);
    if (!(c->train_fraction > 0 && c->train_fraction <= 1))
        return scfm_error(SCFM_EINVAL, "finetune: train_fraction %g must be in (0, 1]", c->train_fraction);
    if (c->patience < 0) return scfm_error(SCFM_EINVAL, "finetune: patience %ld must be >= 0", c->patience);
    if (c->eval_every < 0) return scfm_error(SCFM_EINVAL, "finetune: eval_every %ld must be >= 0", c->eval_every);
    if (c->log_every < 1) return scfm_error(SCFM_EINVAL, "finetune: log_every %ld must be >= 1", c->log_every);
    if (c->mega_mult < 1) return scfm_error(SCFM_EINVAL, "finetune: mega_mult must be >= 1");
    return SCFM_OK;
}

/* ---- small helpers --------------------------------------------------------------------- */

static char *path_join(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = scfm_malloc(n);
    if (p) snprintf(p, n, "%s/%s", a, b);
    return p;
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *f) {
    (void)st; (void)flag; (void)f;
    return remove(p);
}

static void remove_tree(const char *dir) { nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int copy_file(const char *src, const char *dst) {
    char *data;
    size_t len;
    int rc = scfm_read_file(src, &data, &len);
    if (rc) return rc;
    rc = scfm_write_file_atomic(dst, data, len);
    free(data);
    return rc;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void fmt_eta(char *buf, size_t n, double s) {
    if (!isfinite(s) || s < 0) snprintf(buf, n, "?");
    else if (s >= 3600) snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
    else snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
}

static void json_num(FILE *f, const char *key, double v) {
    if (isfinite(v)) fprintf(f, "\"%s\": %.9g", key, v);
    else fprintf(f, "\"%s\": null", key);
}

/* A string list (class names). */
typedef struct { char **s; size_t n, cap; } strlist;

static int strlist_add(strlist *l, const char *s) {
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->s[i], s)) return SCFM_OK;
    if (l->n == l->cap) {
        size_t nc = l->cap ? 2 * l->cap : 16;
        char **ns = scfm_realloc(l->s, nc * sizeof *ns);
        if (!ns) return SCFM_ENOMEM;
        l->s = ns;
        l->cap = nc;
    }
    if (!(l->s[l->n] = scfm_strdup(s))) return SCFM_ENOMEM;
    l->n++;
    return SCFM_OK;
}

static long strlist_find(const strlist *l, const char *s) {
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->s[i], s)) return (long)i;
    return -1;
}

static void strlist_free(strlist *l) {
    for (size_t i = 0; i < l->n; i++) free(l->s[i]);
    free(l->s);
    memset(l, 0, sizeof *l);
}

/* ---- data view: the corpus with labels -------------------------------------------------- */

typedef struct {
    const scfm_corpus *corpus;
    scfm_vocab *vocab;        /* the corpus's vocab.tsv (names for gene outputs); may be NULL */
    size_t max_len;           /* cells are cut to this many tokens (model positions) */
    scfm_head head;           /* SEQCLS or TOKCLS */
    size_t C;
    const int32_t *cell_label;/* [n_cells] class or -1 (cell task; NULL = no labels) */
    const int32_t *tok_label; /* [V] class or -1 (gene task; NULL = no labels) */
    size_t V;
    const float *class_weights; /* [C] loss weights (training only) or NULL */
} ft_data;

static size_t ft_len(const ft_data *d, size_t cell) {
    size_t n = scfm_corpus_len(d->corpus, cell);
    return n < d->max_len ? n : d->max_len;
}

/* A packed batch with its labels. */
typedef struct {
    size_t B, N, capB, capN;
    size_t *offs, *cells;
    int32_t *ids, *seq_lab, *tok_lab;
} ft_batch;

static void batch_free(ft_batch *b) {
    free(b->offs);
    free(b->cells);
    free(b->ids);
    free(b->seq_lab);
    free(b->tok_lab);
    memset(b, 0, sizeof *b);
}

static int batch_reserve(ft_batch *b, size_t B, size_t N) {
    if (B > b->capB) {
        size_t *o = scfm_realloc(b->offs, (B + 1) * sizeof *o), *c = o ? scfm_realloc(b->cells, B * sizeof *c) : NULL;
        if (o) b->offs = o;
        if (c) b->cells = c;
        int32_t *s = c ? scfm_realloc(b->seq_lab, B * sizeof *s) : NULL;
        if (!s) return SCFM_ENOMEM;
        b->seq_lab = s;
        b->capB = B;
    }
    if (N > b->capN) {
        int32_t *i = scfm_realloc(b->ids, N * sizeof *i);
        if (i) b->ids = i;
        int32_t *t = i ? scfm_realloc(b->tok_lab, N * sizeof *t) : NULL;
        if (!t) return SCFM_ENOMEM;
        b->tok_lab = t;
        b->capN = N;
    }
    return SCFM_OK;
}

/* Packs cells[n] (cut to max_len) with their labels (-100 where unlabelled). */
static int batch_pack(ft_batch *b, const ft_data *d, const size_t *cells, size_t n) {
    size_t N = 0;
    for (size_t i = 0; i < n; i++) N += ft_len(d, cells[i]);
    int rc = batch_reserve(b, n ? n : 1, N ? N : 1);
    if (rc) return rc;
    b->B = n;
    b->N = N;
    b->offs[0] = 0;
    for (size_t i = 0; i < n; i++) {
        const int32_t *tok;
        size_t len;
        if ((rc = scfm_corpus_cell(d->corpus, cells[i], &tok, &len, NULL))) return rc;
        if (len > d->max_len) len = d->max_len;
        if (len == 0) return scfm_error(SCFM_EINVAL, "%s: cell %zu is empty", scfm_corpus_dir(d->corpus), cells[i]);
        size_t o = b->offs[i];
        memcpy(b->ids + o, tok, len * sizeof *tok);
        for (size_t k = 0; k < len; k++) {
            int32_t t = tok[k];
            b->tok_lab[o + k] = d->tok_label && t >= 0 && (size_t)t < d->V && d->tok_label[t] >= 0 ? d->tok_label[t] : -100;
        }
        b->offs[i + 1] = o + len;
        b->cells[i] = cells[i];
        b->seq_lab[i] = d->cell_label && d->cell_label[cells[i]] >= 0 ? d->cell_label[cells[i]] : -100;
    }
    return SCFM_OK;
}

static scfm_bert_input batch_input(const ft_batch *b, const ft_data *d, int with_labels) {
    scfm_bert_input in;
    memset(&in, 0, sizeof in);
    in.B = b->B;
    in.offs = b->offs;
    in.ids = b->ids;
    if (with_labels && d->head == SCFM_HEAD_SEQCLS) in.seq_labels = b->seq_lab;
    if (with_labels && d->head == SCFM_HEAD_TOKCLS) in.tok_labels = b->tok_lab;
    if (with_labels) in.class_weights = d->class_weights;
    return in;
}

/* Evaluation driver: cells sorted by length (longest first) in batches of at most
 * batch_cells cells and FT_EVAL_TOKENS tokens; sink gets each batch's logits. */
typedef int (*ft_sink)(void *ud, const ft_batch *b, const float *logits, size_t C);

typedef struct { size_t len, cell; } len_cell;
static int cmp_len_desc(const void *a, const void *b) {
    const len_cell *x = a, *y = b;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return x->cell < y->cell ? -1 : x->cell > y->cell;
}

static int ft_eval_cells(scfm_model *m, const ft_data *d, const size_t *cells, size_t n, size_t batch_cells,
                         ft_batch *b, ft_sink sink, void *ud) {
    if (n == 0) return SCFM_OK;
    len_cell *lc = scfm_calloc(n, sizeof *lc);
    size_t *ids = scfm_calloc(n, sizeof *ids);
    int rc = lc && ids ? SCFM_OK : SCFM_ENOMEM;
    for (size_t i = 0; !rc && i < n; i++) lc[i] = (len_cell){ft_len(d, cells[i]), cells[i]};
    if (!rc) qsort(lc, n, sizeof *lc, cmp_len_desc);
    for (size_t i = 0; !rc && i < n; i++) ids[i] = lc[i].cell;
    for (size_t i = 0; !rc && i < n;) {
        size_t j = i, tokens = 0;
        while (j < n && j - i < batch_cells && (j == i || tokens + lc[j].len <= FT_EVAL_TOKENS)) tokens += lc[j++].len;
        rc = batch_pack(b, d, ids + i, j - i);
        scfm_bert_input in = batch_input(b, d, 0);
        if (!rc) rc = scfm_model_forward(m, &in, 0, 0, NULL);
        size_t rows = 0, C = 0;
        const float *lg = rc ? NULL : scfm_model_logits(m, &rows, &C);
        if (!rc && !lg) rc = scfm_error(SCFM_EINVAL, "finetune: the model has no classification head");
        if (!rc) rc = sink(ud, b, lg, C);
        i = j;
    }
    free(lc);
    free(ids);
    return rc;
}

/* Softmax of one logits row into p (float) and the log-probability of class t (t < 0: 0). */
static double softmax_row(const float *z, size_t C, float *p, int32_t t) {
    double mx = z[0], s = 0;
    for (size_t c = 1; c < C; c++) mx = z[c] > mx ? z[c] : mx;
    for (size_t c = 0; c < C; c++) s += exp((double)z[c] - mx);
    for (size_t c = 0; c < C; c++) p[c] = (float)(exp((double)z[c] - mx) / s);
    return t >= 0 ? (double)z[t] - mx - log(s) : 0;
}

static int32_t argmax(const float *p, size_t C) {
    size_t best = 0;
    for (size_t c = 1; c < C; c++)
        if (p[c] > p[best]) best = c;
    return (int32_t)best;
}

/* Labelled predictions collected during an evaluation. */
typedef struct {
    size_t n, cap, C;
    size_t *cell, *pos;
    int32_t *token, *truth, *pred;
    float *prob;          /* [n*C] */
    double loss_sum;
} ft_preds;

static void preds_free(ft_preds *p) {
    free(p->cell);
    free(p->pos);
    free(p->token);
    free(p->truth);
    free(p->pred);
    free(p->prob);
    memset(p, 0, sizeof *p);
}

static int preds_grow(ft_preds *p) {
    if (p->n < p->cap) return SCFM_OK;
    size_t nc = p->cap ? 2 * p->cap : 1024, pc;
    if (scfm_mul_size(nc, p->C * sizeof(float), &pc)) return scfm_error(SCFM_ENOMEM, "finetune: too many predictions");
    size_t *a = scfm_realloc(p->cell, nc * sizeof *a);
    if (a) p->cell = a;
    size_t *b = a ? scfm_realloc(p->pos, nc * sizeof *b) : NULL;
    if (b) p->pos = b;
    int32_t *t = b ? scfm_realloc(p->token, nc * sizeof *t) : NULL;
    if (t) p->token = t;
    int32_t *u = t ? scfm_realloc(p->truth, nc * sizeof *u) : NULL;
    if (u) p->truth = u;
    int32_t *v = u ? scfm_realloc(p->pred, nc * sizeof *v) : NULL;
    if (v) p->pred = v;
    float *f = v ? scfm_realloc(p->prob, pc) : NULL;
    if (!f) return SCFM_ENOMEM;
    p->prob = f;
    p->cap = nc;
    return SCFM_OK;
}

static int preds_add(ft_preds *p, size_t cell, size_t pos, int32_t token, int32_t truth, const float *z) {
    int rc = preds_grow(p);
    if (rc) return rc;
    float *pr = p->prob + p->n * p->C;
    double lp = softmax_row(z, p->C, pr, truth);
    p->loss_sum -= lp;
    p->cell[p->n] = cell;
    p->pos[p->n] = pos;
    p->token[p->n] = token;
    p->truth[p->n] = truth;
    p->pred[p->n] = argmax(pr, p->C);
    p->n++;
    return SCFM_OK;
}

/* Sink: every labelled cell (SEQCLS) or labelled token (TOKCLS). */
typedef struct { ft_preds *p; scfm_head head; } preds_ctx;

static int sink_collect(void *ud, const ft_batch *b, const float *lg, size_t C) {
    preds_ctx *x = ud;
    ft_preds *p = x->p;
    if (C != p->C) return scfm_error(SCFM_EMISMATCH, "finetune: model has %zu classes, expected %zu", C, p->C);
    int rc = SCFM_OK;
    if (x->head == SCFM_HEAD_SEQCLS) {
        for (size_t i = 0; i < b->B && !rc; i++)
            if (b->seq_lab[i] >= 0) rc = preds_add(p, b->cells[i], 0, -1, b->seq_lab[i], lg + i * C);
    } else {
        for (size_t i = 0; i < b->B && !rc; i++)
            for (size_t r = b->offs[i]; r < b->offs[i + 1] && !rc; r++)
                if (b->tok_lab[r] >= 0) rc = preds_add(p, b->cells[i], r - b->offs[i], b->ids[r], b->tok_lab[r], lg + r * C);
    }
    return rc;
}

/* Evaluates cells[n]: predictions, loss, metrics. */
typedef struct {
    scfm_cls_metrics met;
    double loss;
    size_t *confusion;             /* [C*C] */
    double *precision, *recall, *f1;
    size_t *support;
} ft_eval;

static void eval_free(ft_eval *e) {
    free(e->confusion);
    free(e->precision);
    free(e->recall);
    free(e->f1);
    free(e->support);
    memset(e, 0, sizeof *e);
}

static int ft_evaluate(scfm_model *m, const ft_data *d, const size_t *cells, size_t n, size_t batch_cells,
                       ft_batch *b, ft_preds *p, ft_eval *e) {
    preds_free(p);
    eval_free(e);
    p->C = d->C;
    preds_ctx x = {p, d->head};
    int rc = ft_eval_cells(m, d, cells, n, batch_cells, b, sink_collect, &x);
    if (rc) return rc;
    e->loss = NAN;
    e->met.accuracy = e->met.macro_f1 = NAN;
    if (p->n == 0) return SCFM_OK;
    e->confusion = scfm_calloc(d->C * d->C, sizeof *e->confusion);
    e->precision = scfm_calloc(d->C, sizeof(double));
    e->recall = scfm_calloc(d->C, sizeof(double));
    e->f1 = scfm_calloc(d->C, sizeof(double));
    e->support = scfm_calloc(d->C, sizeof(size_t));
    if (!e->confusion || !e->precision || !e->recall || !e->f1 || !e->support) return SCFM_ENOMEM;
    e->loss = p->loss_sum / (double)p->n;
    return scfm_cls_metrics_compute(p->truth, p->pred, p->n, d->C, &e->met, e->confusion, e->precision, e->recall,
                                    e->f1, e->support);
}

/* ---- model directory ------------------------------------------------------------------- */

/* The vocabulary of corpus c must be the model's: same size, and the same hash when the
 * model records one (config "scfm_vocab_hash", else MODEL/vocab.tsv when present). */
static int check_vocab(const scfm_bert_config *cfg, const char *model_dir, const scfm_corpus *c) {
    uint64_t ch = scfm_corpus_vocab_hash(c);
    size_t cv = scfm_corpus_vocab_size(c);
    char hex[24];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)ch);
    if (cfg->vocab_hash[0] && strcasecmp(cfg->vocab_hash, hex) != 0)
        return scfm_error(SCFM_EMISMATCH, "%s: vocabulary %s (%zu tokens) is not the model's: %s/config.json has "
                          "scfm_vocab_hash %s (vocab_size %zu); tokenize the data with the model's vocabulary",
                          scfm_corpus_dir(c), hex, cv, model_dir, cfg->vocab_hash, cfg->vocab_size);
    if (!cfg->vocab_hash[0] && model_dir) {
        char *vp = path_join(model_dir, "vocab.tsv");
        if (!vp) return SCFM_ENOMEM;
        struct stat st;
        if (stat(vp, &st) == 0) {
            scfm_vocab *v = scfm_vocab_load(vp);
            if (!v) { free(vp); return SCFM_EFORMAT; }
            uint64_t mh = scfm_vocab_hash(v);
            size_t mv = scfm_vocab_size(v);
            scfm_vocab_free(v);
            if (mh != ch) {
                int rc = scfm_error(SCFM_EMISMATCH, "%s: vocabulary %s (%zu tokens) is not the model's (%s: %016llx, %zu "
                                    "tokens); tokenize the data with the model's vocabulary", scfm_corpus_dir(c), hex, cv,
                                    vp, (unsigned long long)mh, mv);
                free(vp);
                return rc;
            }
        }
        free(vp);
    }
    if (cv != cfg->vocab_size)
        return scfm_error(SCFM_EMISMATCH, "%s: vocabulary of %zu tokens (%s), but the model in %s has vocab_size %zu; "
                          "tokenize the data with the model's vocabulary", scfm_corpus_dir(c), cv, hex, model_dir,
                          cfg->vocab_size);
    return SCFM_OK;
}

static int load_config(const char *model_dir, scfm_bert_config *cfg) {
    scfm_bert_config_init(cfg);
    if (!is_dir(model_dir))
        return scfm_error(SCFM_EIO, "%s: no such model directory (expected config.json and model.safetensors)", model_dir);
    char *p = path_join(model_dir, "config.json");
    if (!p) return SCFM_ENOMEM;
    int rc = scfm_bert_config_load(cfg, p);
    free(p);
    return rc;
}

/* Head of a fine-tuned checkpoint from config.json's "architectures". */
static int model_head(const char *model_dir, scfm_head *head) {
    if (!is_dir(model_dir)) return scfm_error(SCFM_EIO, "%s: no such model directory", model_dir);
    char *p = path_join(model_dir, "config.json"), *txt = NULL;
    size_t len = 0;
    if (!p) return SCFM_ENOMEM;
    int rc = scfm_read_file(p, &txt, &len);
    scfm_json *j = rc ? NULL : scfm_json_parse(txt, len, p);
    if (!rc && !j) rc = SCFM_EFORMAT;
    const scfm_json *a = j ? scfm_json_get(j, "architectures") : NULL;
    const char *arch = a && a->type == SCFM_JSON_ARRAY && a->n && a->items[0].type == SCFM_JSON_STRING ? a->items[0].string : "";
    if (!rc) {
        if (strstr(arch, "TokenClassification")) *head = SCFM_HEAD_TOKCLS;
        else if (strstr(arch, "SequenceClassification")) *head = SCFM_HEAD_SEQCLS;
        else rc = scfm_error(SCFM_EINVAL, "%s: not a fine-tuned classifier (architectures: %s); make one with "
                             "'scfm finetune' and predict with its best/ directory", p, arch[0] ? arch : "none");
    }
    scfm_json_free(j);
    free(txt);
    free(p);
    return rc;
}

/* ---- labels ----------------------------------------------------------------------------- */

static int dropped(const scfm_finetune_job *j, const char *v) {
    for (size_t k = 0; k < j->n_drop_labels; k++)
        if (!strcmp(j->drop_labels[k], v)) return 1;
    return 0;
}

static int list_columns(const scfm_corpus *c, char *buf, size_t n) {
    size_t o = 0;
    buf[0] = 0;
    for (size_t k = 0; k < scfm_corpus_n_obs(c) && o + 4 < n; k++)
        o += (size_t)snprintf(buf + o, n - o, "%s'%s'", k ? ", " : "", scfm_corpus_obs_name(c, k));
    if (!scfm_corpus_n_obs(c)) snprintf(buf, n, "none; tokenize with --obs COLUMN to carry labels");
    return 0;
}

static int column_index(const scfm_corpus *c, const char *name, const char *what, size_t *col) {
    long k = scfm_corpus_obs_index(c, name);
    if (k < 0) {
        char cols[1024];
        list_columns(c, cols, sizeof cols);
        return scfm_error(SCFM_ENOTFOUND, "%s: no obs column '%s' (%s); available columns: %s", scfm_corpus_dir(c), name,
                          what, cols);
    }
    *col = (size_t)k;
    return SCFM_OK;
}

/* Cell task: classes (sorted names) and a class per cell (-1: empty or dropped). */
static int cell_labels(const scfm_finetune_job *j, const scfm_corpus *c, strlist *cls, int32_t *lab, size_t *n_excl) {
    size_t col = 0, n = scfm_corpus_n_cells(c);
    int rc = column_index(c, j->label_column, "the label column", &col);
    for (size_t i = 0; !rc && i < n; i++) {
        const char *v = scfm_corpus_obs(c, i, col);
        if (v && v[0] && !dropped(j, v)) rc = strlist_add(cls, v);
    }
    if (rc) return rc;
    qsort(cls->s, cls->n, sizeof *cls->s, cmp_str);
    *n_excl = 0;
    for (size_t i = 0; i < n; i++) {
        const char *v = scfm_corpus_obs(c, i, col);
        lab[i] = v && v[0] && !dropped(j, v) ? (int32_t)strlist_find(cls, v) : -1;
        *n_excl += lab[i] < 0;
    }
    return SCFM_OK;
}

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\r' || s[n - 1] == '\t' || s[n - 1] == '\n')) s[--n] = 0;
    return s;
}

static int64_t lookup_gene(const scfm_vocab *v, char *id) {
    for (char *p = id; *p; p++)
        if (*p >= 'a' && *p <= 'z') *p = (char)(*p - 'a' + 'A');
    int64_t t = scfm_vocab_lookup(v, id);
    char *dot = strchr(id, '.');
    if (t < 0 && dot && !strncmp(id, "ENS", 3)) { /* versioned Ensembl ID */
        *dot = 0;
        t = scfm_vocab_lookup(v, id);
    }
    return t;
}

/* Gene task: the table gene_id<TAB>label (optional header; '#' comments) -> classes and
 * a class per vocabulary id (-1: unlabelled). */
static int gene_labels(const scfm_finetune_job *j, const scfm_vocab *v, strlist *cls, int32_t *lab) {
    const char *path = j->gene_labels;
    char *data = NULL;
    size_t len = 0, V = scfm_vocab_size(v), n_missing = 0, n_lines = 0, n_used = 0;
    int rc = scfm_read_file(path, &data, &len);
    if (rc) return rc;
    char **lab_of = scfm_calloc(V ? V : 1, sizeof *lab_of); /* label text per token (into data) */
    if (!lab_of) { free(data); return SCFM_ENOMEM; }
    char *save = NULL, *line = strtok_r(data, "\n", &save);
    for (size_t ln = 1; line && !rc; line = strtok_r(NULL, "\n", &save), ln++) {
        char *s = trim(line);
        if (!s[0] || s[0] == '#') continue;
        char *tab = strchr(s, '\t');
        if (!tab) { rc = scfm_error(SCFM_EFORMAT, "%s: line %zu: expected gene_id<TAB>label", path, ln); break; }
        *tab = 0;
        char *id = trim(s), *val = trim(tab + 1), *tab2 = strchr(val, '\t');
        if (tab2) *tab2 = 0;
        val = trim(val);
        n_lines++;
        int64_t t = lookup_gene(v, id);
        if (t < 0 && n_lines == 1 && (!strcasecmp(id, "GENE_ID") || !strcasecmp(id, "GENE") || !strcasecmp(id, "ENSEMBL_ID") ||
                                      !strcasecmp(id, "ID") || !strcasecmp(id, "GENE_NAME"))) {
            n_lines--; /* header */
            continue;
        }
        if (!val[0] || dropped(j, val)) continue;
        if (t < 0) { n_missing++; continue; }
        if (lab_of[t] && strcmp(lab_of[t], val))
            rc = scfm_error(SCFM_EFORMAT, "%s: line %zu: gene %s is labelled both '%s' and '%s'", path, ln, id, lab_of[t], val);
        else if (!lab_of[t]) {
            lab_of[t] = val;
            n_used++;
            rc = strlist_add(cls, val);
        }
    }
    if (!rc && n_used == 0)
        rc = scfm_error(SCFM_EINVAL, "%s: none of its %zu genes is in the corpus's vocabulary (expected Ensembl IDs "
                        "such as ENSG00000141510<TAB>label)", path, n_lines);
    if (!rc) {
        qsort(cls->s, cls->n, sizeof *cls->s, cmp_str);
        for (size_t t = 0; t < V; t++) lab[t] = lab_of[t] ? (int32_t)strlist_find(cls, lab_of[t]) : -1;
        if (n_missing)
            scfm_log(SCFM_LOG_WARN, "%s: %zu of %zu labelled genes are not in the vocabulary and are ignored", path,
                     n_missing, n_missing + n_used);
        scfm_log(SCFM_LOG_INFO, "finetune: %zu labelled genes in %zu classes from %s", n_used, cls->n, path);
    }
    free(lab_of);
    free(data);
    return rc;
}

/* ---- split ---------------------------------------------------------------------------- */

static int split_from_column(const scfm_finetune_job *j, const scfm_corpus *c, const int32_t *strat, int8_t *split) {
    size_t col = 0, n = scfm_corpus_n_cells(c);
    int rc = column_index(c, j->split_column, "the split column", &col);
    for (size_t i = 0; !rc && i < n; i++) {
        const char *v = scfm_corpus_obs(c, i, col);
        if (strat[i] < 0) split[i] = SPLIT_EXCLUDED;
        else if (!strcasecmp(v, "train")) split[i] = SPLIT_TRAIN;
        else if (!strcasecmp(v, "val") || !strcasecmp(v, "validation")) split[i] = SPLIT_VAL;
        else if (!strcasecmp(v, "test")) split[i] = SPLIT_TEST;
        else
            rc = scfm_error(SCFM_EINVAL, "%s: cell %s has '%s' in split column '%s' (expected train, val, validation "
                            "or test)", scfm_corpus_dir(c), scfm_corpus_cell_id(c, i), v, j->split_column);
    }
    return rc;
}

/* Keeps a stratified share `frac` of the training cells; the others become unused. */
static int subsample_train(const int32_t *strat, size_t n, size_t C, double frac, uint64_t seed, int8_t *split) {
    if (frac >= 1) return SCFM_OK;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) m += split[i] == SPLIT_TRAIN;
    int32_t *l = scfm_calloc(m ? m : 1, sizeof *l);
    int8_t *s = scfm_calloc(m ? m : 1, 1);
    size_t *at = scfm_calloc(m ? m : 1, sizeof *at);
    int rc = l && s && at ? SCFM_OK : SCFM_ENOMEM;
    for (size_t i = 0, k = 0; !rc && i < n; i++)
        if (split[i] == SPLIT_TRAIN) { at[k] = i; l[k++] = strat[i]; }
    if (!rc) rc = scfm_stratified_split(l, m, C, 1.0 - frac, 0, scfm_hash3(seed, FT_STREAM_FRACTION, 0), s);
    for (size_t k = 0; !rc && k < m; k++)
        if (s[k] != 0) split[at[k]] = SPLIT_UNUSED;
    free(l);
    free(s);
    free(at);
    return rc;
}

/* ---- the fine-tuning run ---------------------------------------------------------------- */

typedef struct {
    const scfm_finetune_job *job;
    scfm_finetune_config c;
    scfm_corpus *corpus;
    ft_data d;
    strlist cls;
    int32_t *cell_lab, *tok_lab, *strat;
    float *cw;                /* [C] class weights (--class-weights) */
    int8_t *split;
    size_t *sets[4], nset[4];   /* train, val, test, (unused) */
    size_t n_excluded;
    scfm_model *m;
    scfm_adamw opt;
    int have_opt;
    scfm_sampler *sampler;
    ft_batch batch, ebatch;
    ft_preds preds;
    ft_eval ev;
    float *best;                /* best parameters (copy of m->params) */
    char *tmp;                  /* OUT.tmp.<pid> */
    FILE *log;
    long total, warmup, spe, step, best_step, evals_since_best;
    double best_f1, best_loss, best_acc;
    int stopped_early;
    double t0, last_progress, win_loss, win_n, win_cells, t_win, last_lr, last_norm;
    size_t n_truncated;
} ft_ctx;

static int setup_labels(ft_ctx *x) {
    const scfm_finetune_job *j = x->job;
    size_t n = scfm_corpus_n_cells(x->corpus), V = scfm_corpus_vocab_size(x->corpus);
    x->strat = scfm_calloc(n ? n : 1, sizeof *x->strat);
    x->split = scfm_calloc(n ? n : 1, 1);
    if (!x->strat || !x->split) return SCFM_ENOMEM;
    int rc;
    if (j->task == SCFM_FT_CELL) {
        if (!j->label_column) return scfm_error(SCFM_EINVAL, "finetune: no label column given");
        if (!(x->cell_lab = scfm_calloc(n ? n : 1, sizeof *x->cell_lab))) return SCFM_ENOMEM;
        if ((rc = cell_labels(j, x->corpus, &x->cls, x->cell_lab, &x->n_excluded))) return rc;
        memcpy(x->strat, x->cell_lab, n * sizeof *x->strat);
    } else {
        if (!j->gene_labels) return scfm_error(SCFM_EINVAL, "finetune: no gene label table given");
        if (!x->d.vocab) return SCFM_EFORMAT;
        if (!(x->tok_lab = scfm_calloc(V ? V : 1, sizeof *x->tok_lab))) return SCFM_ENOMEM;
        if ((rc = gene_labels(j, x->d.vocab, &x->cls, x->tok_lab))) return rc;
        for (size_t i = 0; i < n; i++) x->strat[i] = 0;
    }
    if (x->cls.n < 2) {
        char what[256];
        if (j->task == SCFM_FT_CELL) snprintf(what, sizeof what, "column '%s' of %s", j->label_column, scfm_corpus_dir(x->corpus));
        else snprintf(what, sizeof what, "%s", j->gene_labels);
        return scfm_error(SCFM_EINVAL, "%s: %zu class%s%s%s after dropping empty%s labels; classification needs at "
                          "least 2", what, x->cls.n, x->cls.n == 1 ? " ('" : "es", x->cls.n == 1 ? x->cls.s[0] : "",
                          x->cls.n == 1 ? "')" : "", j->n_drop_labels ? " and dropped" : "");
    }
    x->d.C = x->cls.n;
    x->d.V = V;
    x->d.cell_label = x->cell_lab;
    x->d.tok_label = x->tok_lab;
    x->d.head = j->task == SCFM_FT_CELL ? SCFM_HEAD_SEQCLS : SCFM_HEAD_TOKCLS;
    return SCFM_OK;
}


/* --class-weights: w_c = n / (C * n_c) over the training labels (cells, or labelled gene
 * tokens of the training cells), 0 for a class absent from training. */
static int make_class_weights(ft_ctx *x) {
    size_t C = x->d.C, n = 0;
    double *cnt = scfm_calloc(C, sizeof *cnt);
    if (!cnt) return SCFM_ENOMEM;
    for (size_t k = 0; k < x->nset[SPLIT_TRAIN]; k++) {
        size_t cell = x->sets[SPLIT_TRAIN][k];
        if (x->d.head == SCFM_HEAD_SEQCLS) {
            int32_t y = x->d.cell_label[cell];
            if (y >= 0) { cnt[y] += 1; n++; }
        } else {
            const int32_t *tok;
            size_t len;
            if (scfm_corpus_cell(x->corpus, cell, &tok, &len, NULL)) continue;
            if (len > x->d.max_len) len = x->d.max_len;
            for (size_t t = 0; t < len; t++) {
                int32_t y = (size_t)tok[t] < x->d.V ? x->d.tok_label[tok[t]] : -1;
                if (y >= 0) { cnt[y] += 1; n++; }
            }
        }
    }
    if (!(x->cw = scfm_calloc(C, sizeof *x->cw))) { free(cnt); return SCFM_ENOMEM; }
    for (size_t c = 0; c < C; c++) {
        x->cw[c] = cnt[c] > 0 ? (float)((double)n / ((double)C * cnt[c])) : 0.0f;
        scfm_log(SCFM_LOG_INFO, "finetune: class %s: %.0f training samples, loss weight %.4g", x->cls.s[c], cnt[c],
                 (double)x->cw[c]);
    }
    free(cnt);
    x->d.class_weights = x->cw;
    return SCFM_OK;
}

static int setup_split(ft_ctx *x) {
    const scfm_finetune_job *j = x->job;
    size_t n = scfm_corpus_n_cells(x->corpus), C = j->task == SCFM_FT_CELL ? x->cls.n : 1;
    int rc = j->split_column ? split_from_column(j, x->corpus, x->strat, x->split)
                             : scfm_stratified_split(x->strat, n, C, x->c.val_frac, x->c.test_frac, x->c.seed, x->split);
    if (!rc) rc = subsample_train(x->strat, n, C, x->c.train_fraction, x->c.seed, x->split);
    if (rc) return rc;
    for (int s = 0; s < 4; s++) {
        x->nset[s] = 0;
        for (size_t i = 0; i < n; i++) x->nset[s] += x->split[i] == s;
        if (!(x->sets[s] = scfm_calloc(x->nset[s] ? x->nset[s] : 1, sizeof(size_t)))) return SCFM_ENOMEM;
        for (size_t i = 0, k = 0; i < n; i++)
            if (x->split[i] == s) x->sets[s][k++] = i;
    }
    if (x->nset[SPLIT_TRAIN] == 0) return scfm_error(SCFM_EINVAL, "%s: no training cells", scfm_corpus_dir(x->corpus));
    if (x->nset[SPLIT_VAL] == 0)
        scfm_log(SCFM_LOG_WARN, "finetune: no validation cells: the model after the last step is kept");
    return SCFM_OK;
}

static int setup_model(ft_ctx *x, const scfm_bert_config *cfg) {
    const scfm_finetune_job *j = x->job;
    uint64_t seed = scfm_hash3(x->c.seed, FT_STREAM_INIT, 0);
    if (x->c.random_init) {
        scfm_bert_config c2;
        int rc = scfm_bert_config_copy(&c2, cfg);
        if (rc) return rc;
        rc = scfm_bert_config_set_labels(&c2, x->cls.n, (const char *const *)x->cls.s);
        if (!rc && !(x->m = scfm_model_create(&c2, x->d.head, seed))) rc = SCFM_EINVAL;
        scfm_bert_config_free(&c2);
        if (rc) return rc;
    } else {
        scfm_load_opts o = {.num_labels = x->cls.n, .labels = (const char *const *)x->cls.s, .seed = seed};
        if (!(x->m = scfm_model_load_ex(j->model_dir, x->d.head, &o))) return SCFM_EIO;
        if (x->m->cfg.num_labels != x->cls.n)
            return scfm_error(SCFM_EMISMATCH, "%s: the checkpoint's classifier has %zu labels, the data %zu", j->model_dir,
                              x->m->cfg.num_labels, x->cls.n);
        int rc = scfm_bert_config_set_labels(&x->m->cfg, x->cls.n, (const char *const *)x->cls.s);
        if (rc) return rc;
    }
    snprintf(x->m->cfg.vocab_hash, sizeof x->m->cfg.vocab_hash, "%016llx",
             (unsigned long long)scfm_corpus_vocab_hash(x->corpus));
    if (x->c.freeze_layers > x->m->cfg.num_hidden_layers)
        return scfm_error(SCFM_EINVAL, "finetune: freeze_layers %zu exceeds the model's %zu layers", x->c.freeze_layers,
                          x->m->cfg.num_hidden_layers);
    if (x->c.freeze_layers > 0) scfm_model_freeze_layers(x->m, x->c.freeze_layers);
    x->d.max_len = x->m->cfg.max_position_embeddings;
    size_t longest = scfm_corpus_longest(x->corpus);
    if (longest > x->d.max_len) {
        for (size_t i = 0; i < scfm_corpus_n_cells(x->corpus); i++) x->n_truncated += scfm_corpus_len(x->corpus, i) > x->d.max_len;
        scfm_log(SCFM_LOG_WARN, "finetune: %zu cells are longer than the model's %zu positions (longest %zu) and are "
                 "truncated", x->n_truncated, x->d.max_len, longest);
    }
    scfm_adamw_config ac;
    scfm_adamw_config_init(&ac);
    ac.weight_decay = (float)x->c.weight_decay;
    int rc = scfm_adamw_init(&x->opt, x->m, &ac);
    if (rc) return rc;
    x->have_opt = 1;
    size_t bytes;
    if (scfm_mul_size(x->m->n_params, sizeof(float), &bytes)) return scfm_error(SCFM_ENOMEM, "finetune: model too large");
    if (!(x->best = scfm_malloc(bytes ? bytes : 1))) return SCFM_ENOMEM;
    memcpy(x->best, x->m->params, bytes);
    return scfm_model_zero_grad(x->m);
}

static int setup_sampler(ft_ctx *x) {
    size_t n = x->nset[SPLIT_TRAIN];
    size_t *lens = scfm_calloc(n, sizeof *lens);
    if (!lens) return SCFM_ENOMEM;
    for (size_t i = 0; i < n; i++) lens[i] = ft_len(&x->d, x->sets[SPLIT_TRAIN][i]);
    x->sampler = scfm_sampler_new(x->sets[SPLIT_TRAIN], lens, n, x->c.batch_size, x->c.mega_mult, x->c.seed);
    free(lens);
    if (!x->sampler) return SCFM_ENOMEM;
    x->spe = (long)scfm_sampler_n_batches(x->sampler);
    x->total = x->c.max_steps > 0 ? x->c.max_steps : (long)ceil(x->c.epochs * (double)x->spe);
    if (x->total < 1) x->total = 1;
    x->warmup = x->c.warmup_steps;
    if (x->warmup >= x->total)
        scfm_log(SCFM_LOG_WARN, "finetune: warm-up (%ld steps) is not shorter than training (%ld steps); the learning "
                 "rate never reaches %g (lower --warmup-steps)", x->warmup, x->total, x->c.lr);
    return SCFM_OK;
}

static void progress(ft_ctx *x, int force) {
    double now = scfm_now();
    if (!force && now - x->last_progress < 0.5) return;
    x->last_progress = now;
    double el = now - x->t0, per = el / (double)(x->step ? x->step : 1);
    double cps = x->win_cells / (now - x->t_win > 1e-9 ? now - x->t_win : 1e-9);
    char eta[32];
    fmt_eta(eta, sizeof eta, per * (double)(x->total - x->step));
    scfm_log(SCFM_LOG_PROGRESS, "step %ld/%ld  epoch %.2f  loss %.4f  lr %.2e  %.0f cells/s  ETA %s", x->step, x->total,
             (double)x->step / (double)x->spe, x->win_n > 0 ? x->win_loss / x->win_n : NAN, x->last_lr, cps, eta);
}

static void log_train(ft_ctx *x) {
    double now = scfm_now(), dt = now - x->t_win;
    if (x->log) {
        fprintf(x->log, "{\"type\": \"train\", \"step\": %ld, ", x->step);
        json_num(x->log, "epoch", (double)x->step / (double)x->spe);
        fputs(", ", x->log);
        json_num(x->log, "loss", x->win_n > 0 ? x->win_loss / x->win_n : NAN);
        fputs(", ", x->log);
        json_num(x->log, "lr", x->last_lr);
        fputs(", ", x->log);
        json_num(x->log, "grad_norm", x->last_norm);
        fputs(", ", x->log);
        json_num(x->log, "cells_per_s", x->win_cells / (dt > 1e-9 ? dt : 1e-9));
        fputs(", ", x->log);
        json_num(x->log, "elapsed_s", now - x->t0);
        fputs("}\n", x->log);
        fflush(x->log);
    }
    x->win_loss = x->win_n = x->win_cells = 0;
    x->t_win = now;
}

static int train_step(ft_ctx *x) {
    const size_t *cells;
    size_t n;
    long e = x->step / x->spe, b = x->step % x->spe;
    int rc = scfm_sampler_set_epoch(x->sampler, (uint64_t)e);
    if (!rc) rc = scfm_sampler_batch(x->sampler, (size_t)b, &cells, &n);
    if (!rc) rc = batch_pack(&x->batch, &x->d, cells, n);
    if (!rc) rc = scfm_model_zero_grad(x->m);
    if (rc) return rc;
    scfm_bert_input in = batch_input(&x->batch, &x->d, 1);
    float loss = 0;
    rc = scfm_model_forward(x->m, &in, 1, scfm_hash3(x->c.seed, SCFM_STREAM_DROPOUT, (uint64_t)x->step), &loss);
    size_t cnt = rc ? 0 : scfm_model_loss_count(x->m);
    x->last_lr = scfm_lr_schedule(x->c.schedule, x->c.lr, x->step, x->warmup, x->total);
    x->win_cells += (double)n;
    if (!rc && cnt > 0) { /* a gene-task batch may hold no labelled gene: no update */
        rc = scfm_model_backward(x->m);
        if (rc) return rc;
        x->last_norm = scfm_model_clip_grad_norm(x->m, x->c.max_grad_norm);
        if (!isfinite(x->last_norm) || !isfinite(loss))
            return scfm_error(SCFM_EDATA, "finetune: step %ld: loss or gradient is not finite (loss %g, grad norm %g); "
                              "lower the learning rate", x->step + 1, (double)loss, x->last_norm);
        rc = scfm_adamw_step(&x->opt, x->m, (float)x->last_lr);
        x->win_loss += (double)loss * (double)cnt;
        x->win_n += (double)cnt;
    }
    return rc;
}

static int run_eval(ft_ctx *x, int *improved) {
    *improved = 0;
    int rc = ft_evaluate(x->m, &x->d, x->sets[SPLIT_VAL], x->nset[SPLIT_VAL], 64, &x->ebatch, &x->preds, &x->ev);
    if (rc) return rc;
    double f1 = x->ev.met.macro_f1, loss = x->ev.loss, acc = x->ev.met.accuracy;
    if (isfinite(f1) && (x->best_step < 0 || f1 > x->best_f1 || (f1 == x->best_f1 && loss < x->best_loss))) {
        *improved = 1;
        x->best_f1 = f1;
        x->best_loss = loss;
        x->best_acc = acc;
        x->best_step = x->step;
        x->evals_since_best = 0;
        memcpy(x->best, x->m->params, x->m->n_params * sizeof(float));
    } else {
        x->evals_since_best++;
    }
    scfm_log(SCFM_LOG_INFO, "step %ld (epoch %.2f): validation loss %.4f, accuracy %.4f, macro-F1 %.4f%s", x->step,
             (double)x->step / (double)x->spe, loss, acc, f1, *improved ? " (best)" : "");
    if (x->log) {
        fprintf(x->log, "{\"type\": \"eval\", \"step\": %ld, ", x->step);
        json_num(x->log, "epoch", (double)x->step / (double)x->spe);
        fputs(", ", x->log);
        json_num(x->log, "val_loss", loss);
        fputs(", ", x->log);
        json_num(x->log, "val_accuracy", acc);
        fputs(", ", x->log);
        json_num(x->log, "val_macro_f1", f1);
        fprintf(x->log, ", \"n\": %zu, \"best\": %s}\n", x->preds.n, *improved ? "true" : "false");
        fflush(x->log);
    }
    return SCFM_OK;
}

static int loop(ft_ctx *x) {
    long every = x->c.eval_every > 0 ? x->c.eval_every : x->spe;
    int rc = SCFM_OK;
    x->t0 = x->t_win = scfm_now();
    while (x->step < x->total && !rc) {
        if ((rc = train_step(x))) break;
        x->step++;
        int last = x->step == x->total;
        progress(x, last);
        if (x->step % x->c.log_every == 0 || last) log_train(x);
        if (x->nset[SPLIT_VAL] && (x->step % every == 0 || last)) {
            int imp;
            if ((rc = run_eval(x, &imp))) break;
            if (x->c.patience > 0 && x->evals_since_best >= x->c.patience && !last) {
                scfm_log(SCFM_LOG_INFO, "finetune: stopping early at step %ld: no better validation macro-F1 in %ld "
                         "evaluations (best %.4f at step %ld)", x->step, x->c.patience, x->best_f1, x->best_step);
                x->stopped_early = 1;
                break;
            }
            x->t_win = scfm_now();
        }
    }
    if (!rc && x->nset[SPLIT_VAL] == 0) {
        memcpy(x->best, x->m->params, x->m->n_params * sizeof(float));
        x->best_step = x->step;
    }
    return rc;
}

/* ---- outputs ------------------------------------------------------------------------------ */

static FILE *open_out(const ft_ctx *x, const char *name, char **path) {
    *path = path_join(x->tmp, name);
    if (!*path) return NULL;
    FILE *f = fopen(*path, "w");
    if (!f) scfm_error(SCFM_EIO, "%s: cannot create: %s", *path, strerror(errno));
    return f;
}

static int close_out(FILE *f, char *path) {
    int bad = ferror(f);
    bad |= fclose(f) != 0;
    int rc = bad ? scfm_error(SCFM_EIO, "%s: write failed", path) : SCFM_OK;
    free(path);
    return rc;
}

static const char *split_name(int s) {
    switch (s) {
    case SPLIT_TRAIN: return "train";
    case SPLIT_VAL: return "val";
    case SPLIT_TEST: return "test";
    case SPLIT_UNUSED: return "unused";
    default: return "excluded";
    }
}

static int write_split(const ft_ctx *x) {
    char *p;
    FILE *f = open_out(x, "split.tsv", &p);
    if (!f) { free(p); return p ? SCFM_EIO : SCFM_ENOMEM; }
    fputs("cell_id\tsplit\n", f);
    for (size_t i = 0; i < scfm_corpus_n_cells(x->corpus); i++)
        fprintf(f, "%s\t%s\n", scfm_corpus_cell_id(x->corpus, i), split_name(x->split[i]));
    return close_out(f, p);
}

static void prob_header(FILE *f, const strlist *cls) {
    for (size_t c = 0; c < cls->n; c++) fprintf(f, "\tprob_%s", cls->s[c]);
    fputc('\n', f);
}

static int write_predictions(const ft_ctx *x) {
    char *p;
    FILE *f = open_out(x, "test_predictions.tsv", &p);
    if (!f) { free(p); return p ? SCFM_EIO : SCFM_ENOMEM; }
    const ft_preds *pr = &x->preds;
    int gene = x->d.head == SCFM_HEAD_TOKCLS;
    fputs(gene ? "cell_id\tgene\tposition\tlabel\tpredicted" : "cell_id\tlabel\tpredicted", f);
    prob_header(f, &x->cls);
    for (size_t i = 0; i < pr->n; i++) {
        fprintf(f, "%s", scfm_corpus_cell_id(x->corpus, pr->cell[i]));
        if (gene) {
            const char *g = x->d.vocab ? scfm_vocab_token(x->d.vocab, (size_t)pr->token[i]) : NULL;
            if (g) fprintf(f, "\t%s\t%zu", g, pr->pos[i]);
            else fprintf(f, "\t%d\t%zu", (int)pr->token[i], pr->pos[i]);
        }
        fprintf(f, "\t%s\t%s", x->cls.s[pr->truth[i]], x->cls.s[pr->pred[i]]);
        for (size_t c = 0; c < x->cls.n; c++) fprintf(f, "\t%.7g", (double)pr->prob[i * x->cls.n + c]);
        fputc('\n', f);
    }
    return close_out(f, p);
}

static int write_confusion(const ft_ctx *x) {
    char *p;
    FILE *f = open_out(x, "confusion.tsv", &p);
    if (!f) { free(p); return p ? SCFM_EIO : SCFM_ENOMEM; }
    size_t C = x->cls.n;
    fputs("true\\predicted", f);
    for (size_t c = 0; c < C; c++) fprintf(f, "\t%s", x->cls.s[c]);
    fputc('\n', f);
    for (size_t r = 0; r < C; r++) {
        fprintf(f, "%s", x->cls.s[r]);
        for (size_t c = 0; c < C; c++) fprintf(f, "\t%zu", x->ev.confusion ? x->ev.confusion[r * C + c] : (size_t)0);
        fputc('\n', f);
    }
    return close_out(f, p);
}

static void write_settings(FILE *f, const ft_ctx *x) {
    const scfm_finetune_config *c = &x->c;
    fprintf(f, "  \"settings\": {\"batch_size\": %zu, \"epochs\": %.9g, \"max_steps\": %ld, \"lr\": %.9g, \"schedule\": \"%s\", "
            "\"warmup_steps\": %ld, \"weight_decay\": %.9g, \"max_grad_norm\": %.9g, \"freeze_layers\": %zu, "
            "\"random_init\": %s, \"class_weights\": %s, \"val_frac\": %.9g, \"test_frac\": %.9g, \"train_fraction\": %.9g, \"patience\": %ld, "
            "\"eval_every\": %ld, \"mega_mult\": %zu, \"seed\": %llu, \"drop_labels\": [",
            c->batch_size, c->epochs, c->max_steps, c->lr, scfm_sched_name(c->schedule), c->warmup_steps, c->weight_decay,
            c->max_grad_norm, c->freeze_layers, c->random_init ? "true" : "false", c->class_weights ? "true" : "false", c->val_frac, c->test_frac,
            c->train_fraction, c->patience, c->eval_every, c->mega_mult, (unsigned long long)c->seed);
    for (size_t k = 0; k < x->job->n_drop_labels; k++) {
        if (k) fputs(", ", f);
        scfm_json_write_string(f, x->job->drop_labels[k]);
    }
    fputs("], \"split_column\": ", f);
    if (x->job->split_column) scfm_json_write_string(f, x->job->split_column);
    else fputs("null", f);
    fputs("},\n", f);
}

static int write_metrics(const ft_ctx *x, double seconds) {
    char *p;
    FILE *f = open_out(x, "metrics.json", &p);
    if (!f) { free(p); return p ? SCFM_EIO : SCFM_ENOMEM; }
    const scfm_finetune_job *j = x->job;
    const ft_eval *e = &x->ev;
    fprintf(f, "{\n  \"format\": \"scfm-finetune-metrics\",\n  \"version\": 1,\n  \"task\": \"%s\",\n",
            j->task == SCFM_FT_CELL ? "cell" : "gene");
    fputs("  \"label\": ", f);
    scfm_json_write_string(f, j->task == SCFM_FT_CELL ? j->label_column : j->gene_labels);
    fputs(",\n  \"classes\": [", f);
    for (size_t c = 0; c < x->cls.n; c++) {
        if (c) fputs(", ", f);
        scfm_json_write_string(f, x->cls.s[c]);
    }
    fputs("],\n  ", f);
    json_num(f, "accuracy", e->met.accuracy);
    fputs(",\n  ", f);
    json_num(f, "macro_f1", e->met.macro_f1);
    fputs(",\n  ", f);
    json_num(f, "loss", e->loss);
    fprintf(f, ",\n  \"n_test_samples\": %zu,\n  \"per_class\": {", x->preds.n);
    for (size_t c = 0; c < x->cls.n; c++) {
        fputs(c ? ",\n    " : "\n    ", f);
        scfm_json_write_string(f, x->cls.s[c]);
        fputs(": {", f);
        json_num(f, "precision", e->precision ? e->precision[c] : NAN);
        fputs(", ", f);
        json_num(f, "recall", e->recall ? e->recall[c] : NAN);
        fputs(", ", f);
        json_num(f, "f1", e->f1 ? e->f1[c] : NAN);
        fprintf(f, ", \"support\": %zu}", e->support ? e->support[c] : (size_t)0);
    }
    fputs("\n  },\n  \"validation\": {", f);
    json_num(f, "macro_f1", x->nset[SPLIT_VAL] ? x->best_f1 : NAN);
    fputs(", ", f);
    json_num(f, "accuracy", x->nset[SPLIT_VAL] ? x->best_acc : NAN);
    fputs(", ", f);
    json_num(f, "loss", x->nset[SPLIT_VAL] ? x->best_loss : NAN);
    fprintf(f, ", \"best_step\": %ld},\n", x->best_step);
    fprintf(f, "  \"n_train\": %zu,\n  \"n_val\": %zu,\n  \"n_test\": %zu,\n  \"n_unused\": %zu,\n  \"n_excluded\": %zu,\n",
            x->nset[SPLIT_TRAIN], x->nset[SPLIT_VAL], x->nset[SPLIT_TEST], x->nset[SPLIT_UNUSED], x->n_excluded);
    fprintf(f, "  \"steps\": %ld,\n  \"total_steps\": %ld,\n  \"steps_per_epoch\": %ld,\n  \"stopped_early\": %s,\n"
            "  \"n_truncated\": %zu,\n  \"seconds\": %.3f,\n", x->step, x->total, x->spe, x->stopped_early ? "true" : "false",
            x->n_truncated, seconds);
    write_settings(f, x);
    fputs("  \"corpus\": ", f);
    scfm_json_write_string(f, j->corpus);
    fputs(",\n  \"model\": ", f);
    scfm_json_write_string(f, j->model_dir);
    fputs(",\n  \"command\": ", f);
    scfm_json_write_string(f, j->command ? j->command : "");
    fprintf(f, ",\n  \"scfm_version\": \"%s\"\n}\n", SCFM_VERSION);
    return close_out(f, p);
}

static int write_best(ft_ctx *x) {
    memcpy(x->m->params, x->best, x->m->n_params * sizeof(float));
    char *dir = path_join(x->tmp, "best");
    if (!dir) return SCFM_ENOMEM;
    int rc = scfm_model_save(x->m, dir);
    char *src = rc ? NULL : path_join(scfm_corpus_dir(x->corpus), "vocab.tsv");
    char *dst = rc ? NULL : path_join(dir, "vocab.tsv");
    if (!rc) rc = src && dst ? copy_file(src, dst) : SCFM_ENOMEM;
    free(src);
    free(dst);
    char *fj = rc ? NULL : path_join(dir, "finetune.json");
    FILE *f = fj ? fopen(fj, "w") : NULL;
    if (!rc && !f) rc = fj ? scfm_error(SCFM_EIO, "%s: cannot create", fj) : SCFM_ENOMEM;
    if (f) {
        fprintf(f, "{\"format\": \"scfm-finetune\", \"task\": \"%s\", \"label\": ", x->job->task == SCFM_FT_CELL ? "cell" : "gene");
        scfm_json_write_string(f, x->job->task == SCFM_FT_CELL ? x->job->label_column : x->job->gene_labels);
        fprintf(f, ", \"best_step\": %ld, \"base_model\": ", x->best_step);
        scfm_json_write_string(f, x->job->model_dir);
        fputs("}\n", f);
        if (fclose(f) != 0) rc = scfm_error(SCFM_EIO, "%s: write failed", fj);
    }
    free(fj);
    if (!rc && x->tok_lab) { /* the gene labels travel with the model (predict shows them) */
        char *gp = path_join(dir, "gene_labels.tsv");
        if (!gp) rc = SCFM_ENOMEM;
        else rc = copy_file(x->job->gene_labels, gp);
        free(gp);
    }
    free(dir);
    return rc;
}

static int prepare_out(ft_ctx *x) {
    const char *out = x->job->out_dir;
    if (!out || !out[0]) return scfm_error(SCFM_EINVAL, "finetune: no output directory");
    struct stat st;
    if (stat(out, &st) == 0 && !x->job->force)
        return scfm_error(SCFM_EINVAL, "%s: already exists (choose another -o or use --force)", out);
    size_t n = strlen(out) + 32;
    if (!(x->tmp = scfm_malloc(n))) return SCFM_ENOMEM;
    snprintf(x->tmp, n, "%s.tmp.%ld", out, (long)getpid());
    remove_tree(x->tmp);
    if (mkdir(x->tmp, 0777) != 0) {
        int rc = scfm_error(SCFM_EIO, "%s: cannot create: %s", x->tmp, strerror(errno));
        free(x->tmp);
        x->tmp = NULL;
        return rc;
    }
    char *lp = path_join(x->tmp, "log.jsonl");
    if (!lp) return SCFM_ENOMEM;
    x->log = fopen(lp, "w");
    int rc = x->log ? SCFM_OK : scfm_error(SCFM_EIO, "%s: cannot create: %s", lp, strerror(errno));
    free(lp);
    return rc;
}

static int install_out(ft_ctx *x) {
    const char *out = x->job->out_dir;
    if (x->log) {
        int bad = fclose(x->log) != 0;
        x->log = NULL;
        if (bad) return scfm_error(SCFM_EIO, "%s/log.jsonl: write failed", x->tmp);
    }
    struct stat st;
    if (stat(out, &st) == 0) { /* --force */
        size_t n = strlen(out) + 32;
        char *old = scfm_malloc(n);
        if (!old) return SCFM_ENOMEM;
        snprintf(old, n, "%s.old.%ld", out, (long)getpid());
        int ok = rename(out, old) == 0;
        if (ok) remove_tree(old);
        free(old);
        if (!ok) return scfm_error(SCFM_EIO, "%s: cannot replace: %s", out, strerror(errno));
    }
    if (rename(x->tmp, out) != 0) return scfm_error(SCFM_EIO, "%s: rename from %s failed: %s", out, x->tmp, strerror(errno));
    free(x->tmp);
    x->tmp = NULL;
    return SCFM_OK;
}

static void teardown(ft_ctx *x) {
    if (x->log) fclose(x->log);
    if (x->tmp) {
        remove_tree(x->tmp);
        free(x->tmp);
    }
    preds_free(&x->preds);
    eval_free(&x->ev);
    batch_free(&x->batch);
    batch_free(&x->ebatch);
    scfm_sampler_free(x->sampler);
    if (x->have_opt) scfm_adamw_free(&x->opt);
    scfm_model_free(x->m);
    free(x->best);
    for (int s = 0; s < 4; s++) free(x->sets[s]);
    free(x->split);
    free(x->strat);
    free(x->cell_lab);
    free(x->tok_lab);
    free(x->cw);
    strlist_free(&x->cls);
    scfm_vocab_free(x->d.vocab);
    scfm_corpus_close(x->corpus);
}

static int setup(ft_ctx *x) {
    const scfm_finetune_job *j = x->job;
    if (!j->corpus || !j->model_dir) return scfm_error(SCFM_EINVAL, "finetune: corpus and model directory are required");
    if (j->task == SCFM_FT_GENE && j->label_column)
        return scfm_error(SCFM_EINVAL, "finetune: a label column and a gene label table exclude each other");
    int rc = scfm_finetune_config_validate(&x->c);
    if (rc) return rc;
    scfm_bert_config cfg;
    scfm_bert_config_init(&cfg);
    if ((rc = load_config(j->model_dir, &cfg))) return rc;
    if (!(x->corpus = scfm_corpus_open(j->corpus))) rc = SCFM_EIO;
    if (!rc) rc = check_vocab(&cfg, j->model_dir, x->corpus);
    if (!rc && x->c.freeze_layers > cfg.num_hidden_layers)
        rc = scfm_error(SCFM_EINVAL, "%s: freeze_layers %zu exceeds the model's %zu layers", j->model_dir,
                        x->c.freeze_layers, cfg.num_hidden_layers);
    if (!rc) {
        x->d.corpus = x->corpus;
        x->d.vocab = scfm_corpus_load_vocab(x->corpus); /* gene names for the outputs */
        if (!x->d.vocab && j->task == SCFM_FT_GENE) rc = SCFM_EFORMAT;
        else scfm_clear_error();
    }
    if (!rc) rc = setup_labels(x);
    if (!rc) rc = setup_split(x);
    if (!rc) rc = setup_model(x, &cfg);
    if (!rc && x->c.class_weights) rc = make_class_weights(x); /* needs the model's max_len */
    if (!rc) rc = setup_sampler(x);
    scfm_bert_config_free(&cfg);
    return rc;
}

static void describe(const ft_ctx *x) {
    const scfm_finetune_job *j = x->job;
    scfm_log(SCFM_LOG_INFO, "finetune: %s classification, %zu classes; cells: %zu train, %zu validation, %zu test, "
             "%zu unused, %zu excluded (no label)", j->task == SCFM_FT_CELL ? "cell" : "gene", x->cls.n,
             x->nset[SPLIT_TRAIN], x->nset[SPLIT_VAL], x->nset[SPLIT_TEST], x->nset[SPLIT_UNUSED], x->n_excluded);
    scfm_log(SCFM_LOG_INFO, "finetune: model %s%s: %zu layers, hidden %zu, %zu parameters%s; batch %zu, %ld steps per "
             "epoch, %ld steps, warm-up %ld, lr %g (%s)", j->model_dir, x->c.random_init ? " (random weights)" : "",
             x->m->cfg.num_hidden_layers, x->m->cfg.hidden_size, scfm_model_num_params(x->m),
             x->c.freeze_layers ? " (embeddings and first layers frozen)" : "", x->c.batch_size, x->spe, x->total,
             x->warmup, x->c.lr, scfm_sched_name(x->c.schedule));
}

int scfm_finetune(const scfm_finetune_job *job, scfm_finetune_summary *out) {
    ft_ctx x;
    memset(&x, 0, sizeof x);
    x.job = job;
    x.c = job->cfg;
    x.best_step = -1;
    x.best_f1 = x.best_loss = x.best_acc = NAN;
    double t_start = scfm_now();
    if (out) memset(out, 0, sizeof *out);
    int rc = setup(&x);
    if (!rc) rc = prepare_out(&x);
    if (!rc) {
        describe(&x);
        rc = loop(&x);
    }
    if (!rc) rc = write_best(&x);
    if (!rc) rc = ft_evaluate(x.m, &x.d, x.sets[SPLIT_TEST], x.nset[SPLIT_TEST], 64, &x.ebatch, &x.preds, &x.ev);
    if (!rc && x.nset[SPLIT_TEST])
        scfm_log(SCFM_LOG_INFO, "finetune: test (%zu %s, model of step %ld): accuracy %.4f, macro-F1 %.4f",
                 x.preds.n, job->task == SCFM_FT_CELL ? "cells" : "labelled genes", x.best_step, x.ev.met.accuracy,
                 x.ev.met.macro_f1);
    if (!rc) rc = write_predictions(&x);
    if (!rc) rc = write_confusion(&x);
    if (!rc) rc = write_split(&x);
    if (!rc) rc = write_metrics(&x, scfm_now() - t_start);
    if (!rc) rc = install_out(&x);
    if (out) {
        out->n_classes = x.cls.n;
        out->n_train = x.nset[SPLIT_TRAIN];
        out->n_val = x.nset[SPLIT_VAL];
        out->n_test = x.nset[SPLIT_TEST];
        out->steps = x.step;
        out->total_steps = x.total;
        out->best_step = x.best_step;
        out->stopped_early = x.stopped_early;
        out->best_val_macro_f1 = x.nset[SPLIT_VAL] ? x.best_f1 : NAN;
        out->test_accuracy = x.preds.n ? x.ev.met.accuracy : NAN;
        out->test_macro_f1 = x.preds.n ? x.ev.met.macro_f1 : NAN;
        out->test_loss = x.preds.n ? x.ev.loss : NAN;
        out->test_n = x.preds.n;
        out->seconds = scfm_now() - t_start;
    }
    teardown(&x);
    return rc;
}

/* ---- prediction -------------------------------------------------------------------------- */

typedef struct {
    FILE *f;
    const ft_data *d;
    const scfm_bert_config *cfg;
    int per_token;
    float *p;            /* [C] */
    double *sum;         /* gene aggregate: [V*C] */
    uint64_t *count;     /* [V] */
    size_t rows;
} pred_ctx;

static int sink_predict(void *ud, const ft_batch *b, const float *lg, size_t C) {
    pred_ctx *x = ud;
    const scfm_corpus *c = x->d->corpus;
    if (x->d->head == SCFM_HEAD_SEQCLS) {
        for (size_t i = 0; i < b->B; i++) {
            softmax_row(lg + i * C, C, x->p, -1);
            fprintf(x->f, "%s\t%s", scfm_corpus_cell_id(c, b->cells[i]), x->cfg->id2label[argmax(x->p, C)]);
            for (size_t k = 0; k < C; k++) fprintf(x->f, "\t%.7g", (double)x->p[k]);
            fputc('\n', x->f);
            x->rows++;
        }
        return SCFM_OK;
    }
    for (size_t i = 0; i < b->B; i++)
        for (size_t r = b->offs[i]; r < b->offs[i + 1]; r++) {
            softmax_row(lg + r * C, C, x->p, -1);
            int32_t t = b->ids[r];
            if (x->per_token) {
                const char *g = x->d->vocab ? scfm_vocab_token(x->d->vocab, (size_t)t) : NULL;
                fprintf(x->f, "%s\t", scfm_corpus_cell_id(c, b->cells[i]));
                if (g) fputs(g, x->f);
                else fprintf(x->f, "%d", (int)t);
                fprintf(x->f, "\t%zu\t%s", r - b->offs[i], x->cfg->id2label[argmax(x->p, C)]);
                for (size_t k = 0; k < C; k++) fprintf(x->f, "\t%.7g", (double)x->p[k]);
                fputc('\n', x->f);
                x->rows++;
            } else if (t >= 0 && (size_t)t < x->d->V) {
                x->count[t]++;
                for (size_t k = 0; k < C; k++) x->sum[(size_t)t * C + k] += x->p[k];
            }
        }
    return SCFM_OK;
}

static int write_gene_aggregate(pred_ctx *x, size_t C) {
    float *mean = x->p;
    for (size_t t = 0; t < x->d->V; t++) {
        if (!x->count[t]) continue;
        for (size_t k = 0; k < C; k++) mean[k] = (float)(x->sum[t * C + k] / (double)x->count[t]);
        const char *g = x->d->vocab ? scfm_vocab_token(x->d->vocab, t) : NULL;
        if (g) fputs(g, x->f);
        else fprintf(x->f, "%zu", t);
        fprintf(x->f, "\t%llu\t%s", (unsigned long long)x->count[t], x->cfg->id2label[argmax(mean, C)]);
        for (size_t k = 0; k < C; k++) fprintf(x->f, "\t%.7g", (double)mean[k]);
        fputc('\n', x->f);
        x->rows++;
    }
    return SCFM_OK;
}

static int predict_run(scfm_model *m, ft_data *d, const char *tmp, const scfm_predict_opts *o, scfm_predict_summary *s) {
    size_t n = scfm_corpus_n_cells(d->corpus), C = m->cfg.num_labels;
    pred_ctx x = {.d = d, .cfg = &m->cfg, .per_token = o && o->per_token};
    size_t *cells = scfm_calloc(n ? n : 1, sizeof *cells);
    x.p = scfm_calloc(C ? C : 1, sizeof *x.p);
    int rc = cells && x.p ? SCFM_OK : SCFM_ENOMEM;
    if (!rc && d->head == SCFM_HEAD_TOKCLS && !x.per_token) {
        size_t vc;
        if (scfm_mul_size(d->V, C, &vc)) return scfm_error(SCFM_ENOMEM, "predict: too many classes");
        x.sum = scfm_calloc(vc ? vc : 1, sizeof *x.sum);
        x.count = scfm_calloc(d->V ? d->V : 1, sizeof *x.count);
        if (!x.sum || !x.count) rc = SCFM_ENOMEM;
    }
    if (!rc && !(x.f = fopen(tmp, "w"))) rc = scfm_error(SCFM_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    if (!rc) {
        if (d->head == SCFM_HEAD_SEQCLS) fputs("cell_id\tpredicted", x.f);
        else if (x.per_token) fputs("cell_id\tgene\tposition\tpredicted", x.f);
        else fputs("gene\tn\tpredicted", x.f);
        for (size_t k = 0; k < C; k++) fprintf(x.f, "\tprob_%s", m->cfg.id2label[k]);
        fputc('\n', x.f);
        for (size_t i = 0; i < n; i++) cells[i] = i;
        ft_batch b;
        memset(&b, 0, sizeof b);
        size_t bc = o && o->batch_cells ? o->batch_cells : 64;
        rc = ft_eval_cells(m, d, cells, n, bc, &b, sink_predict, &x);
        batch_free(&b);
        if (!rc && x.sum) rc = write_gene_aggregate(&x, C);
    }
    if (x.f) {
        int bad = ferror(x.f);
        bad |= fclose(x.f) != 0;
        if (bad && !rc) rc = scfm_error(SCFM_EIO, "%s: write failed", tmp);
    }
    if (s) s->n_rows = x.rows;
    free(cells);
    free(x.p);
    free(x.sum);
    free(x.count);
    return rc;
}

int scfm_predict(const char *corpus_dir, const char *model_dir, const char *out_path, const scfm_predict_opts *o,
                 scfm_predict_summary *out) {
    double t0 = scfm_now();
    scfm_predict_summary s;
    memset(&s, 0, sizeof s);
    if (!corpus_dir || !model_dir || !out_path) return scfm_error(SCFM_EINVAL, "predict: corpus, model and output are required");
    scfm_head head = SCFM_HEAD_NONE;
    int rc = model_head(model_dir, &head);
    if (rc) return rc;
    scfm_corpus *c = scfm_corpus_open(corpus_dir);
    if (!c) return SCFM_EIO;
    scfm_model *m = scfm_model_load(model_dir, head);
    if (!m) rc = SCFM_EIO;
    if (!rc) rc = check_vocab(&m->cfg, model_dir, c);
    if (!rc && (m->cfg.num_labels < 1 || !m->cfg.id2label))
        rc = scfm_error(SCFM_EFORMAT, "%s/config.json: no id2label", model_dir);
    ft_data d;
    memset(&d, 0, sizeof d);
    char *tmp = NULL;
    if (!rc) {
        d.corpus = c;
        d.vocab = scfm_corpus_load_vocab(c);
        scfm_clear_error();
        d.max_len = m->cfg.max_position_embeddings;
        d.head = head;
        d.C = m->cfg.num_labels;
        d.V = scfm_corpus_vocab_size(c);
        for (size_t i = 0; i < scfm_corpus_n_cells(c); i++) s.n_truncated += scfm_corpus_len(c, i) > d.max_len;
        if (s.n_truncated)
            scfm_log(SCFM_LOG_WARN, "predict: %zu cells are longer than the model's %zu positions and are truncated",
                     s.n_truncated, d.max_len);
        size_t n = strlen(out_path) + 32;
        if (!(tmp = scfm_malloc(n))) rc = SCFM_ENOMEM;
        else snprintf(tmp, n, "%s.tmp.%ld", out_path, (long)getpid());
    }
    if (!rc) rc = predict_run(m, &d, tmp, o, &s);
    if (!rc && rename(tmp, out_path) != 0) rc = scfm_error(SCFM_EIO, "%s: cannot rename: %s", out_path, strerror(errno));
    if (rc && tmp) remove(tmp);
    s.head = head;
    s.n_cells = scfm_corpus_n_cells(c);
    s.n_classes = m ? m->cfg.num_labels : 0;
    s.seconds = scfm_now() - t0;
    if (out) *out = s;
    free(tmp);
    scfm_vocab_free(d.vocab);
    scfm_model_free(m);
    scfm_corpus_close(c);
    return rc;
}
