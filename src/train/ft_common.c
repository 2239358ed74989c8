/* Fine-tuning internals: small helpers, packed batches, the evaluation driver, metrics of an
 * evaluation, model directories. See ft_internal.h. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ft_internal.h"

/* ---- small helpers --------------------------------------------------------------------- */

char *ft_path_join(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = scfm_malloc(n);
    if (p) snprintf(p, n, "%s/%s", a, b);
    return p;
}


int ft_is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

int ft_copy_file(const char *src, const char *dst) {
    char *data;
    size_t len;
    int rc = scfm_read_file(src, &data, &len);
    if (rc) return rc;
    rc = scfm_write_file_atomic(dst, data, len);
    free(data);
    return rc;
}

int ft_cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

void ft_fmt_eta(char *buf, size_t n, double s) {
    if (!isfinite(s) || s < 0) snprintf(buf, n, "?");
    else if (s >= 3600) snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
    else snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
}

void ft_json_num(FILE *f, const char *key, double v) {
    if (isfinite(v)) fprintf(f, "\"%s\": %.9g", key, v);
    else fprintf(f, "\"%s\": null", key);
}


int ft_strlist_add(ft_strlist *l, const char *s) {
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

long ft_strlist_find(const ft_strlist *l, const char *s) {
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->s[i], s)) return (long)i;
    return -1;
}

void ft_strlist_free(ft_strlist *l) {
    for (size_t i = 0; i < l->n; i++) free(l->s[i]);
    free(l->s);
    memset(l, 0, sizeof *l);
}

/* ---- data view: the corpus with labels -------------------------------------------------- */


size_t ft_len(const ft_data *d, size_t cell) {
    size_t n = scfm_corpus_len(d->corpus, cell);
    return n < d->max_len ? n : d->max_len;
}


void ft_batch_free(ft_batch *b) {
    free(b->offs);
    free(b->cells);
    free(b->ids);
    free(b->seq_lab);
    free(b->tok_lab);
    free(b->vals);
    free(b->species);
    memset(b, 0, sizeof *b);
}

static int batch_reserve(ft_batch *b, size_t B, size_t N) {
    if (B > b->capB) {
        size_t *o = scfm_realloc(b->offs, (B + 1) * sizeof *o), *c = o ? scfm_realloc(b->cells, B * sizeof *c) : NULL;
        if (o) b->offs = o;
        if (c) b->cells = c;
        int32_t *s = c ? scfm_realloc(b->seq_lab, B * sizeof *s) : NULL;
        if (s) b->seq_lab = s;
        int32_t *sp = s ? scfm_realloc(b->species, B * sizeof *sp) : NULL;
        if (!sp) return SCFM_ENOMEM;
        b->species = sp;
        b->capB = B;
    }
    if (N > b->capN) {
        int32_t *i = scfm_realloc(b->ids, N * sizeof *i);
        if (i) b->ids = i;
        int32_t *t = i ? scfm_realloc(b->tok_lab, N * sizeof *t) : NULL;
        if (t) b->tok_lab = t;
        float *v = t ? scfm_realloc(b->vals, N * sizeof *v) : NULL;
        if (!v) return SCFM_ENOMEM;
        b->vals = v;
        b->capN = N;
    }
    return SCFM_OK;
}

/* Packs cells[n] (cut to max_len) with their labels (-100 where unlabelled). */
int ft_batch_pack(ft_batch *b, const ft_data *d, const size_t *cells, size_t n) {
    size_t N = 0;
    for (size_t i = 0; i < n; i++) N += ft_len(d, cells[i]);
    int rc = batch_reserve(b, n ? n : 1, N ? N : 1);
    if (rc) return rc;
    b->B = n;
    b->N = N;
    b->offs[0] = 0;
    for (size_t i = 0; i < n; i++) {
        const int32_t *tok;
        const float *val = NULL;
        size_t len;
        if ((rc = scfm_corpus_cell(d->corpus, cells[i], &tok, &len, &val))) return rc;
        if (len > d->max_len) len = d->max_len;
        if (len == 0) return scfm_error(SCFM_EINVAL, "%s: cell %zu is empty", scfm_corpus_dir(d->corpus), cells[i]);
        size_t o = b->offs[i];
        memcpy(b->ids + o, tok, len * sizeof *tok);
        if (val) memcpy(b->vals + o, val, len * sizeof *val);
        else memset(b->vals + o, 0, len * sizeof *b->vals);
        b->species[i] = (int32_t)scfm_corpus_cell_species(d->corpus, cells[i]);
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

scfm_bert_input ft_batch_input(const ft_batch *b, const ft_data *d, int with_labels) {
    scfm_bert_input in;
    memset(&in, 0, sizeof in);
    in.B = b->B;
    in.offs = b->offs;
    in.ids = b->ids;
    if (with_labels && d->head == SCFM_HEAD_SEQCLS) in.seq_labels = b->seq_lab;
    if (with_labels && d->head == SCFM_HEAD_TOKCLS) in.tok_labels = b->tok_lab;
    if (with_labels) in.class_weights = d->class_weights;
    if (d->gc && d->gc->enabled) { /* checked by ft_check_genecompass */
        in.values = d->gc->use_values ? b->vals : NULL;
        in.species = b->species;
    }
    return in;
}

int ft_check_genecompass(const ft_data *d) {
    const scfm_genecompass_config *g = d->gc;
    if (!g || !g->enabled) return SCFM_OK;
    if (g->use_values && !scfm_corpus_has_values(d->corpus))
        return scfm_error(SCFM_EINVAL, "%s: the corpus has no expression values but the GeneCompass model uses them "
                          "(tokenize with --values)", scfm_corpus_dir(d->corpus));
    return scfm_gc_needs_species(g) ? scfm_corpus_require_species(d->corpus, NULL, scfm_corpus_n_cells(d->corpus))
                                    : SCFM_OK;
}


typedef struct { size_t len, cell; } len_cell;
static int cmp_len_desc(const void *a, const void *b) {
    const len_cell *x = a, *y = b;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return x->cell < y->cell ? -1 : x->cell > y->cell;
}

int ft_eval_cells(scfm_model *m, const ft_data *d, const size_t *cells, size_t n, size_t batch_cells,
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
        rc = ft_batch_pack(b, d, ids + i, j - i);
        scfm_bert_input in = ft_batch_input(b, d, 0);
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
double ft_softmax_row(const float *z, size_t C, float *p, int32_t t) {
    double mx = z[0], s = 0;
    for (size_t c = 1; c < C; c++) mx = z[c] > mx ? z[c] : mx;
    for (size_t c = 0; c < C; c++) s += exp((double)z[c] - mx);
    for (size_t c = 0; c < C; c++) p[c] = (float)(exp((double)z[c] - mx) / s);
    return t >= 0 ? (double)z[t] - mx - log(s) : 0;
}

int32_t ft_argmax(const float *p, size_t C) {
    size_t best = 0;
    for (size_t c = 1; c < C; c++)
        if (p[c] > p[best]) best = c;
    return (int32_t)best;
}


void ft_preds_free(ft_preds *p) {
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
    double lp = ft_softmax_row(z, p->C, pr, truth);
    p->loss_sum -= lp;
    p->cell[p->n] = cell;
    p->pos[p->n] = pos;
    p->token[p->n] = token;
    p->truth[p->n] = truth;
    p->pred[p->n] = ft_argmax(pr, p->C);
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


void ft_eval_free(ft_eval *e) {
    free(e->confusion);
    free(e->precision);
    free(e->recall);
    free(e->f1);
    free(e->support);
    memset(e, 0, sizeof *e);
}

int ft_evaluate(scfm_model *m, const ft_data *d, const size_t *cells, size_t n, size_t batch_cells,
                       ft_batch *b, ft_preds *p, ft_eval *e) {
    ft_preds_free(p);
    ft_eval_free(e);
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
int ft_check_vocab(const scfm_bert_config *cfg, const char *model_dir, const scfm_corpus *c) {
    uint64_t ch = scfm_corpus_vocab_hash(c);
    size_t cv = scfm_corpus_vocab_size(c);
    char hex[24];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)ch);
    if (cfg->vocab_hash[0] && strcasecmp(cfg->vocab_hash, hex) != 0)
        return scfm_error(SCFM_EMISMATCH, "%s: vocabulary %s (%zu tokens) is not the model's: %s/config.json has "
                          "scfm_vocab_hash %s (vocab_size %zu); tokenize the data with the model's vocabulary",
                          scfm_corpus_dir(c), hex, cv, model_dir, cfg->vocab_hash, cfg->vocab_size);
    if (!cfg->vocab_hash[0] && model_dir) {
        char *vp = ft_path_join(model_dir, "vocab.tsv");
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

int ft_load_config(const char *model_dir, scfm_bert_config *cfg) {
    scfm_bert_config_init(cfg);
    if (!ft_is_dir(model_dir))
        return scfm_error(SCFM_EIO, "%s: no such model directory (expected config.json and model.safetensors)", model_dir);
    char *p = ft_path_join(model_dir, "config.json");
    if (!p) return SCFM_ENOMEM;
    int rc = scfm_bert_config_load(cfg, p);
    free(p);
    return rc;
}

/* Head of a fine-tuned checkpoint from config.json's "architectures". */
int ft_model_head(const char *model_dir, scfm_head *head) {
    if (!ft_is_dir(model_dir)) return scfm_error(SCFM_EIO, "%s: no such model directory", model_dir);
    char *p = ft_path_join(model_dir, "config.json"), *txt = NULL;
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
