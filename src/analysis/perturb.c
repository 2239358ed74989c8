/* In-silico perturbation (SPEC section 7): delete or overexpress genes in each cell's
 * rank-value tokens, embed the perturbed copies (all copies of one cell batched together),
 * measure the cell embedding shift, and test each gene's shifts (Mann-Whitney + BH). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "scfm/analysis.h"

void scfm_perturb_opts_init(scfm_perturb_opts *o) {
    memset(o, 0, sizeof *o);
    scfm_embed_opts_init(&o->embed);
}

void scfm_perturb_result_free(scfm_perturb_result *r) {
    if (!r) return;
    for (size_t t = 0; r->shifts && t < r->V; t++) free(r->shifts[t]);
    free(r->shifts);
    free(r->n);
    free(r->cap);
    memset(r, 0, sizeof *r);
}

int scfm_perturb_tokens(const int32_t *tok, size_t len, int32_t gene, scfm_perturb_mode mode, size_t start,
                        size_t max_len, int32_t *out, size_t *out_len, size_t *orig_len) {
    if (start > len) return scfm_error(SCFM_EINVAL, "perturb: start %zu beyond the cell (%zu tokens)", start, len);
    size_t k = 0, found = 0;
    if (mode == SCFM_PERTURB_DELETE) {
        for (size_t i = 0; i < len; i++) {
            if (tok[i] == gene) found++;
            else out[k++] = tok[i];
        }
        if (!found) return SCFM_ENOTFOUND;
        *out_len = k;
        *orig_len = len;
        return SCFM_OK;
    }
    if (mode != SCFM_PERTURB_OVEREXPRESS) return scfm_error(SCFM_EINVAL, "perturb: unknown mode %d", (int)mode);
    if (max_len == 0) return scfm_error(SCFM_EINVAL, "perturb: max_len is 0");
    for (size_t i = 0; i < start; i++) out[k++] = tok[i];
    out[k++] = gene;
    for (size_t i = start; i < len; i++) {
        if (tok[i] == gene) found++;
        else out[k++] = tok[i];
    }
    if (k > max_len) k = max_len;
    *out_len = k;
    *orig_len = len < k ? len : k;
    return SCFM_OK;
}

static int push_shift(scfm_perturb_result *r, size_t t, double s) {
    if (r->n[t] == r->cap[t]) {
        size_t cap = r->cap[t] ? 2 * r->cap[t] : 8;
        double *p = scfm_realloc(r->shifts[t], cap * sizeof *p);
        if (!p) return SCFM_ENOMEM;
        r->shifts[t] = p;
        r->cap[t] = cap;
    }
    r->shifts[t][r->n[t]++] = s;
    return SCFM_OK;
}

/* Pools sequences offs[0..ns] of ids (packed) at `layer` into out[ns*H], in batches. */
static int embed_seqs(scfm_model *m, size_t layer, scfm_pool pool, const uint8_t *special, const int32_t *ids,
                      const size_t *offs, size_t ns, size_t max_tok, size_t max_cells, size_t *tmp_offs, float *out) {
    size_t H = m->cfg.hidden_size;
    for (size_t a = 0; a < ns;) {
        size_t b = a;
        while (b < ns && b - a < max_cells && (b == a || offs[b + 1] - offs[a] <= max_tok)) b++;
        for (size_t j = a; j <= b; j++) tmp_offs[j - a] = offs[j] - offs[a];
        scfm_bert_input in;
        memset(&in, 0, sizeof in);
        in.B = b - a;
        in.offs = tmp_offs;
        in.ids = ids + offs[a];
        int rc = scfm_model_forward(m, &in, 0, 0, NULL);
        if (rc) return rc;
        const float *h = scfm_model_hidden(m, layer);
        if (!h) return scfm_error(SCFM_EINVAL, "perturb: no hidden state for layer %zu", layer);
        for (size_t j = a; j < b; j++)
            scfm_embed_pool(h + (offs[j] - offs[a]) * H, ids + offs[j], offs[j + 1] - offs[j], H, pool, special,
                            out + j * H);
        a = b;
    }
    return SCFM_OK;
}

typedef struct {
    scfm_model *m;
    const scfm_corpus *c;
    const scfm_perturb_opts *o;
    size_t layer, H, P, max_tok, max_cells;
    uint8_t *special, *seen;
    int v2;
    int32_t *ids, *genes_of;   /* packed sequences; gene of each perturbed copy */
    size_t *offs, *tmp_offs;
    float *emb;
    size_t cap_seq;            /* sequences the buffers hold */
} pt_ctx;

static int perturb_one(pt_ctx *x, size_t ci, scfm_perturb_result *r) {
    const int32_t *tok;
    size_t len;
    if (scfm_corpus_cell(x->c, ci, &tok, &len, NULL)) return scfm_error_prefix(SCFM_EINVAL, "perturb");
    if (len > x->P) {
        if (!x->o->embed.truncate)
            return scfm_error(SCFM_EINVAL, "%s: cell %zu has %zu tokens, more than the model's %zu positions (use truncation)",
                              scfm_corpus_dir(x->c), ci, len, x->P);
        len = x->P;
    }
    for (size_t i = 0; i < len; i++)
        if (tok[i] < 0 || (size_t)tok[i] >= r->V)
            return scfm_error(SCFM_EINVAL, "%s: cell %zu has token id %d outside the model's vocabulary",
                              scfm_corpus_dir(x->c), ci, (int)tok[i]);
    size_t start = x->v2 && len && x->special[tok[0]] ? 1 : 0;
    if (x->o->embed.pool == SCFM_POOL_CLS && !start)
        return scfm_error(SCFM_EINVAL, "%s: cell %zu does not start with <cls>: use mean pooling", scfm_corpus_dir(x->c), ci);
    /* candidate genes */
    size_t ng = x->o->genes ? x->o->n_genes : len, ns = 1;
    size_t need = ng + 1;
    if (need > x->cap_seq) {
        size_t tot;
        if (scfm_mul_size(need, x->P + 1, &tot)) return scfm_error(SCFM_ENOMEM, "perturb: buffers overflow");
        int32_t *ids = scfm_realloc(x->ids, tot * sizeof *ids);
        if (ids) x->ids = ids;
        int32_t *go = scfm_realloc(x->genes_of, need * sizeof *go);
        if (go) x->genes_of = go;
        size_t *of = scfm_realloc(x->offs, (need + 1) * sizeof *of), *to = NULL;
        if (of) x->offs = of;
        if (of) to = scfm_realloc(x->tmp_offs, (need + 1) * sizeof *to);
        if (to) x->tmp_offs = to;
        float *e = scfm_realloc(x->emb, need * x->H * sizeof *e);
        if (e) x->emb = e;
        if (!ids || !go || !of || !to || !e) return SCFM_ENOMEM;
        x->cap_seq = need;
    }
    memcpy(x->ids, tok, len * sizeof *tok);
    x->offs[0] = 0;
    x->offs[1] = len;
    for (size_t j = 0; j < ng; j++) {
        int32_t g = x->o->genes ? x->o->genes[j] : tok[j];
        if (g < 0 || (size_t)g >= r->V || x->special[g] || x->seen[g]) continue;
        x->seen[g] = 1;
        size_t ol, orl;
        int rc = scfm_perturb_tokens(tok, len, g, x->o->mode, start, x->P, x->ids + x->offs[ns], &ol, &orl);
        if (rc == SCFM_ENOTFOUND) continue;
        if (rc) return rc;
        if (ol == 0) continue; /* nothing left to embed */
        x->genes_of[ns] = g;
        x->offs[ns + 1] = x->offs[ns] + ol;
        ns++;
    }
    for (size_t j = 0; j < ng; j++) { /* clear the de-duplication marks */
        int32_t g = x->o->genes ? x->o->genes[j] : tok[j];
        if (g >= 0 && (size_t)g < r->V) x->seen[g] = 0;
    }
    if (ns == 1) return SCFM_OK;
    int rc = embed_seqs(x->m, x->layer, x->o->embed.pool, x->special, x->ids, x->offs, ns, x->max_tok, x->max_cells,
                        x->tmp_offs, x->emb);
    if (rc) return rc;
    const float *orig = x->emb;
    double og = x->o->goal ? scfm_cosine(orig, x->o->goal, x->H) : 0;
    for (size_t j = 1; j < ns; j++) {
        const float *pe = x->emb + j * x->H;
        double s = x->o->goal ? scfm_cosine(pe, x->o->goal, x->H) - og : scfm_cosine(pe, orig, x->H);
        if ((rc = push_shift(r, (size_t)x->genes_of[j], s))) return rc;
    }
    r->n_perturbations += ns - 1;
    return SCFM_OK;
}

int scfm_perturb_cells(scfm_model *m, const scfm_corpus *c, const size_t *cells, size_t n, const scfm_perturb_opts *o,
                       scfm_perturb_result *r) {
    size_t L = m->cfg.num_hidden_layers, V = m->cfg.vocab_size;
    long li = o->embed.layer < 0 ? (long)L + 1 + o->embed.layer : o->embed.layer;
    if (li < 0 || li > (long)L)
        return scfm_error(SCFM_EINVAL, "embedding layer %ld out of range (the model has hidden states 0..%zu)", o->embed.layer, L);
    if (!o->genes && o->mode == SCFM_PERTURB_OVEREXPRESS)
        return scfm_error(SCFM_EINVAL, "perturb: overexpression needs a list of genes");
    if (r->V && r->V != V) return scfm_error(SCFM_EINVAL, "perturb: result holds another vocabulary size");
    if (!r->V) {
        r->shifts = scfm_calloc(V, sizeof *r->shifts);
        r->n = scfm_calloc(V, sizeof *r->n);
        r->cap = scfm_calloc(V, sizeof *r->cap);
        if (!r->shifts || !r->n || !r->cap) {
            scfm_perturb_result_free(r);
            return SCFM_ENOMEM;
        }
        r->V = V;
    }
    pt_ctx x;
    memset(&x, 0, sizeof x);
    x.m = m;
    x.c = c;
    x.o = o;
    x.layer = (size_t)li;
    x.H = m->cfg.hidden_size;
    x.P = m->cfg.max_position_embeddings;
    x.max_tok = o->embed.batch_tokens ? o->embed.batch_tokens : 16384;
    x.max_cells = o->embed.batch_cells ? o->embed.batch_cells : 64;
    x.v2 = !strcmp(scfm_corpus_mode(c), "v2");
    x.seen = scfm_calloc(V, 1);
    int rc = x.seen ? scfm_embed_special_mask(c, V, &x.special) : SCFM_ENOMEM;
    size_t nc = scfm_corpus_n_cells(c);
    double t0 = scfm_now(), last = t0;
    for (size_t k = 0; !rc && k < n; k++) {
        size_t ci = cells ? cells[k] : k;
        if (ci >= nc) rc = scfm_error(SCFM_EINVAL, "%s: cell %zu out of range (%zu cells)", scfm_corpus_dir(c), ci, nc);
        else rc = perturb_one(&x, ci, r);
        if (!rc) r->n_cells++;
        double now = scfm_now();
        if (!rc && (now - last > 10.0 || k + 1 == n)) {
            scfm_log(SCFM_LOG_PROGRESS, "perturb: %zu / %zu cells, %zu perturbations (%.1f/s)", k + 1, n,
                     r->n_perturbations, (double)r->n_perturbations / (now - t0 > 1e-9 ? now - t0 : 1e-9));
            last = now;
        }
    }
    free(x.seen);
    free(x.special);
    free(x.ids);
    free(x.genes_of);
    free(x.offs);
    free(x.tmp_offs);
    free(x.emb);
    return rc;
}

static int cmp_stat(const void *a, const void *b) {
    const scfm_perturb_stat *x = a, *y = b;
    if (x->p != y->p) return x->p < y->p ? -1 : 1;
    return (x->token > y->token) - (x->token < y->token);
}

int scfm_perturb_stats(const scfm_perturb_result *r, scfm_perturb_stat **out, size_t *n_out) {
    *out = NULL;
    *n_out = 0;
    size_t ng = 0, total = 0;
    for (size_t t = 0; t < r->V; t++)
        if (r->n[t]) {
            ng++;
            total += r->n[t];
        }
    if (!ng) return scfm_error(SCFM_EINVAL, "perturb: no perturbation produced a shift");
    double *all = scfm_malloc(total * sizeof *all), *p = scfm_malloc(ng * sizeof *p);
    scfm_perturb_stat *s = scfm_calloc(ng, sizeof *s);
    if (!all || !p || !s) {
        free(all);
        free(p);
        free(s);
        return SCFM_ENOMEM;
    }
    size_t k = 0, g = 0;
    for (size_t t = 0; t < r->V; t++) {
        if (r->n[t]) memcpy(all + k, r->shifts[t], r->n[t] * sizeof *all);
        k += r->n[t];
    }
    int rc = SCFM_OK;
    for (size_t t = 0; t < r->V && !rc; t++) {
        if (!r->n[t]) continue;
        double sum = 0;
        for (size_t i = 0; i < r->n[t]; i++) sum += r->shifts[t][i];
        s[g].token = (int32_t)t;
        s[g].n = r->n[t];
        s[g].mean_shift = sum / (double)r->n[t];
        rc = scfm_ranksum_test(r->shifts[t], r->n[t], all, total, SCFM_RANKSUM_MWU, NULL, &s[g].z, &s[g].p);
        p[g] = s[g].p;
        g++;
    }
    if (!rc) rc = scfm_fdr_bh(p, ng, p);
    for (size_t i = 0; !rc && i < ng; i++) s[i].fdr = p[i];
    free(all);
    free(p);
    if (rc) {
        free(s);
        return rc;
    }
    qsort(s, ng, sizeof *s, cmp_stat);
    *out = s;
    *n_out = ng;
    return SCFM_OK;
}
