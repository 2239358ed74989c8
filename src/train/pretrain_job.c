/* pretrain.json: what a run was started with (written at the start, read by --resume). */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/pretrain_internal.h"

/* Growable text buffer. */
typedef struct { char *s; size_t len, cap; int bad; } tbuf;

static void tb_put(tbuf *b, const char *fmt, ...) SCFM_PRINTF(2, 3);
static void tb_put(tbuf *b, const char *fmt, ...) {
    if (b->bad) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) { b->bad = 1; return; }
        if (b->s && (size_t)n < b->cap - b->len) { b->len += (size_t)n; return; }
        size_t cap = (b->cap + (size_t)n + 1) * 2;
        char *q = scfm_realloc(b->s, cap);
        if (!q) { b->bad = 1; return; }
        b->s = q;
        b->cap = cap;
    }
}

static void tb_str(tbuf *b, const char *s) {
    if (b->bad) return;
    if (scfm_json_append_string(&b->s, &b->len, &b->cap, s ? s : "")) b->bad = 1;
}

/* Text of pretrain.json for the job (corpora given as absolute paths). */
int pt_job_json(const scfm_pretrain_job *job, const pt_data *d, size_t ranks, char **out) {
    char *cfg;
    int rc = scfm_pretrain_config_to_json(&job->cfg, &cfg);
    if (rc) return rc;
    tbuf b = {0};
    tb_put(&b, "{\n  \"format\": \"scfm-pretrain\",\n  \"version\": 1,\n  \"scfm_version\": \"%s\",\n  \"command\": ",
           SCFM_VERSION);
    tb_str(&b, job->command);
    tb_put(&b, ",\n  \"init_checkpoint\": ");
    if (job->init_checkpoint) tb_str(&b, job->init_checkpoint);
    else tb_put(&b, "null");
    tb_put(&b, ",\n  \"ranks\": %zu,\n  \"vocab_hash\": \"%016llx\",\n  \"corpora\": [", ranks,
           (unsigned long long)d->vocab_hash);
    for (size_t k = 0; k < d->n_corp; k++) {
        char *abs = realpath(job->corpora[k], NULL);
        tb_put(&b, "%s\n    {\"path\": ", k ? "," : "");
        tb_str(&b, abs ? abs : job->corpora[k]);
        free(abs);
        tb_put(&b, ", \"n_cells\": %zu, \"n_tokens\": %llu, \"mode\": ", scfm_corpus_n_cells(d->corp[k]),
               (unsigned long long)scfm_corpus_n_tokens(d->corp[k]));
        tb_str(&b, scfm_corpus_mode(d->corp[k]));
        tb_put(&b, ", \"settings\": \"corpus-%zu.json\"}", k);
    }
    tb_put(&b, "\n  ],\n  \"training\": %s\n}\n", cfg);
    free(cfg);
    if (b.bad) {
        free(b.s);
        return scfm_error(SCFM_ENOMEM, "pretrain.json: out of memory");
    }
    *out = b.s;
    return SCFM_OK;
}

/* Hands p (malloc'ed) to the store; returns p, or NULL (p freed) when out of memory. */
static void *keep(scfm_pretrain_store *st, void *p) {
    void **q = p ? scfm_realloc(st->owned, (st->n + 1) * sizeof *q) : NULL;
    if (!q) {
        free(p);
        return NULL;
    }
    st->owned = q;
    st->owned[st->n++] = p;
    return p;
}

static char *keep_string(scfm_pretrain_store *st, const char *s) { return keep(st, scfm_strdup(s)); }

/* Reads the corpora list and the training settings from the parsed pretrain.json. */
static int read_job(const scfm_json *j, const char *what, scfm_pretrain_job *job, scfm_pretrain_store *st) {
    const char *fmt = NULL;
    if (scfm_json_get_string(j, "format", &fmt) || strcmp(fmt, "scfm-pretrain") != 0)
        return scfm_error(SCFM_EFORMAT, "%s: not an scfm pretrain.json (format)", what);
    const scfm_json *cs = scfm_json_get(j, "corpora");
    if (!cs || cs->type != SCFM_JSON_ARRAY || cs->n == 0)
        return scfm_error(SCFM_EFORMAT, "%s: 'corpora' must be a non-empty array", what);
    const char **paths = keep(st, scfm_calloc(cs->n, sizeof(char *)));
    if (!paths) return SCFM_ENOMEM;
    for (size_t k = 0; k < cs->n; k++) {
        const char *p;
        if (scfm_json_get_string(&cs->items[k], "path", &p))
            return scfm_error(SCFM_EFORMAT, "%s: corpora[%zu] has no path", what, k);
        if (!(paths[k] = keep_string(st, p))) return SCFM_ENOMEM;
    }
    job->corpora = paths;
    job->n_corpora = cs->n;
    const char *init = NULL;
    if (scfm_json_get_string(j, "init_checkpoint", &init) == SCFM_OK && !(job->init_checkpoint = keep_string(st, init)))
        return SCFM_ENOMEM;
    scfm_pretrain_config_init(&job->cfg);
    int rc = scfm_pretrain_config_from_json(&job->cfg, scfm_json_get(j, "training"), what);
    job->cfg.stop_at = 0; /* a stop was for the interrupted session only */
    return rc;
}

int scfm_pretrain_job_load(const char *run_dir, scfm_pretrain_job *job, scfm_pretrain_store *st) {
    memset(st, 0, sizeof *st);
    memset(job, 0, sizeof *job);
    char *p = pt_path(run_dir, "pretrain.json"), *text = NULL;
    size_t len;
    if (!p) return SCFM_ENOMEM;
    int rc = scfm_read_file(p, &text, &len);
    if (rc) {
        rc = scfm_error(SCFM_EIO, "%s: no pretraining run to resume (%s unreadable)", run_dir, p);
        free(p);
        return rc;
    }
    scfm_json *j = scfm_json_parse(text, len, p);
    free(text);
    rc = j ? read_job(j, p, job, st) : SCFM_EFORMAT;
    scfm_json_free(j);
    free(p);
    if (!rc && !(p = pt_path(run_dir, "config.json"))) rc = SCFM_ENOMEM;
    else if (!rc) {
        scfm_bert_config_init(&st->model);
        rc = scfm_bert_config_load(&st->model, p);
        free(p);
        job->model = &st->model;
    }
    job->run_dir = run_dir;
    job->resume = 1;
    return rc;
}

void scfm_pretrain_job_release(scfm_pretrain_store *st) {
    for (size_t i = 0; i < st->n; i++) free(st->owned[i]);
    free(st->owned);
    scfm_bert_config_free(&st->model);
    memset(st, 0, sizeof *st);
}
