/* Cell and gene embeddings (docs/computation.md section 7): run a model over corpus cells in packed,
 * length-grouped batches and pool one layer's token states. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "scfm/analysis.h"
#include "scfm/genes.h"

void scfm_embed_opts_init(scfm_embed_opts *o) {
    memset(o, 0, sizeof *o);
    o->layer = -2;
    o->pool = SCFM_POOL_MEAN;
}

void scfm_gene_embed_free(scfm_gene_embed *g) {
    if (!g) return;
    free(g->sum);
    free(g->count);
    memset(g, 0, sizeof *g);
}

void scfm_gene_embed_mean(const scfm_gene_embed *g, size_t t, float *out) {
    uint64_t n = t < g->V ? g->count[t] : 0;
    for (size_t d = 0; d < g->H; d++) out[d] = n ? (float)(g->sum[t * g->H + d] / (double)n) : 0.0f;
}

/* Special-token mask and <cls> id (-1 when none) for ids 0..V-1. */
static int special_info(const scfm_corpus *c, size_t V, uint8_t **mask_out, int64_t *cls_out) {
    uint8_t *mask = scfm_calloc(V ? V : 1, 1);
    if (!mask) return SCFM_ENOMEM;
    int v2 = !strcmp(scfm_corpus_mode(c), "v2");
    int64_t cls = -1;
    scfm_vocab *v = scfm_corpus_load_vocab(c);
    if (v) {
        size_t n = scfm_vocab_size(v);
        for (size_t i = 0; i < n && i < V; i++) {
            const char *t = scfm_vocab_token(v, i);
            size_t l = t ? strlen(t) : 0;
            if (l >= 2 && t[0] == '<' && t[l - 1] == '>') mask[i] = 1;
        }
        cls = scfm_vocab_special(v, "<cls>");
        scfm_vocab_free(v);
    } else {
        scfm_clear_error();
        for (size_t i = 0; i < V && i < (size_t)(v2 ? 4 : 2); i++) mask[i] = 1;
        if (v2) cls = 2;
    }
    *mask_out = mask;
    if (cls_out) *cls_out = cls;
    return SCFM_OK;
}

int scfm_embed_special_mask(const scfm_corpus *c, size_t V, uint8_t **mask) {
    return special_info(c, V, mask, NULL);
}

int scfm_embed_check_vocab(const scfm_model *m, const char *model_dir, const scfm_corpus *c) {
    char hex[24];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)scfm_corpus_vocab_hash(c));
    size_t cv = scfm_corpus_vocab_size(c), mv = m->cfg.vocab_size;
    const char *md = model_dir ? model_dir : "model";
    int known = 0;
    if (m->cfg.vocab_hash[0]) {
        if (strcasecmp(m->cfg.vocab_hash, hex))
            return scfm_error(SCFM_EMISMATCH,
                              "%s: vocabulary mismatch: the model was trained on vocabulary %s (config.json "
                              "scfm_vocab_hash), the corpus %s was tokenized with %s (%zu tokens)",
                              md, m->cfg.vocab_hash, scfm_corpus_dir(c), hex, cv);
        known = 1;
    } else if (model_dir) {
        char p[4096];
        struct stat st;
        snprintf(p, sizeof p, "%s/vocab.tsv", model_dir);
        if (stat(p, &st) == 0) {
            scfm_vocab *v = scfm_vocab_load(p);
            if (!v) return scfm_error_prefix(SCFM_EFORMAT, "%s", md);
            int rc = scfm_corpus_check_vocab(c, v);
            scfm_vocab_free(v);
            if (rc) return scfm_error_prefix(rc, "%s: vocabulary mismatch (%s)", md, p);
            known = 1;
        }
    }
    if (cv > mv || (!known && cv != mv))
        return scfm_error(SCFM_EMISMATCH,
                          "%s: vocabulary mismatch: the model has %zu tokens, the corpus %s was tokenized with %zu "
                          "(vocab %s)",
                          md, mv, scfm_corpus_dir(c), cv, hex);
    return SCFM_OK;
}

void scfm_embed_pool(const float *h, const int32_t *ids, size_t len, size_t H, scfm_pool pool,
                     const uint8_t *special, float *out) {
    if (pool == SCFM_POOL_CLS) {
        if (len) memcpy(out, h, H * sizeof *out);
        else memset(out, 0, H * sizeof *out);
        return;
    }
    /* accumulate in double: the result must not depend on the batch a cell ran in */
    double acc[1024];
    double *a = H <= 1024 ? acc : NULL;
    size_t n = 0;
    if (!a) { /* wide models: float accumulation straight into out */
        memset(out, 0, H * sizeof *out);
        for (size_t t = 0; t < len; t++) {
            if (special[ids[t]]) continue;
            for (size_t d = 0; d < H; d++) out[d] += h[t * H + d];
            n++;
        }
        for (size_t d = 0; d < H && n; d++) out[d] /= (float)n;
        return;
    }
    memset(a, 0, H * sizeof *a);
    for (size_t t = 0; t < len; t++) {
        if (special[ids[t]]) continue;
        for (size_t d = 0; d < H; d++) a[d] += h[t * H + d];
        n++;
    }
    for (size_t d = 0; d < H; d++) out[d] = n ? (float)(a[d] / (double)n) : 0.0f;
}

typedef struct {
    size_t len, k; /* k = position in the caller's cells[] */
} len_idx;

static int cmp_len_desc(const void *a, const void *b) {
    const len_idx *x = a, *y = b;
    if (x->len != y->len) return x->len < y->len ? 1 : -1;
    return (x->k > y->k) - (x->k < y->k);
}

typedef struct {
    scfm_model *m;
    const scfm_corpus *c;
    const scfm_embed_opts *o;
    size_t layer, H, P, V;
    const uint8_t *special;
    int64_t cls;
    size_t *offs;
    int32_t *ids;
    float *vals;        /* [max_tok] values (GeneCompass models), else NULL */
    int32_t *species;   /* [max_cells] species of the packed cells (GeneCompass models) */
    float *out;
    scfm_gene_embed *genes;
} embed_ctx;

/* Runs cells ord[a..b) as one packed batch and pools them. */
static int run_batch(embed_ctx *x, const len_idx *ord, size_t a, size_t b, const size_t *cells) {
    size_t B = b - a, N = 0;
    x->offs[0] = 0;
    for (size_t j = 0; j < B; j++) {
        size_t ci = cells ? cells[ord[a + j].k] : ord[a + j].k, len;
        const int32_t *tok;
        const float *val = NULL;
        if (scfm_corpus_cell(x->c, ci, &tok, &len, x->vals ? &val : NULL)) return scfm_error_prefix(SCFM_EINVAL, "embed");
        if (x->vals && !val)
            return scfm_error(SCFM_EINVAL, "%s: the corpus has no expression values but the GeneCompass model uses them",
                              scfm_corpus_dir(x->c));
        if (len > x->P) len = x->P; /* checked by the caller unless truncating */
        for (size_t t = 0; t < len; t++) {
            if (tok[t] < 0 || (size_t)tok[t] >= x->V)
                return scfm_error(SCFM_EINVAL, "%s: cell %zu has token id %d outside the model's vocabulary (%zu)",
                                  scfm_corpus_dir(x->c), ci, (int)tok[t], x->V);
            x->ids[N + t] = tok[t];
        }
        if (x->vals) memcpy(x->vals + N, val, (len < x->P ? len : x->P) * sizeof *val);
        if (x->species) x->species[j] = (int32_t)scfm_corpus_cell_species(x->c, ci);
        if (x->o->pool == SCFM_POOL_CLS && !x->species && (len == 0 || x->cls < 0 || tok[0] != x->cls))
            return scfm_error(SCFM_EINVAL, "%s: cell %zu does not start with <cls>: use mean pooling (V1 corpora have no <cls>)",
                              scfm_corpus_dir(x->c), ci);
        N += len;
        x->offs[j + 1] = N;
    }
    /* empty cells cannot go through the model: give them zeros and pack the others */
    size_t *offs = x->offs;
    size_t Bn = 0;
    size_t *map = scfm_malloc((B ? B : 1) * sizeof *map);
    size_t *po = scfm_malloc((B + 1) * sizeof *po);
    if (!map || !po) {
        free(map);
        free(po);
        return SCFM_ENOMEM;
    }
    po[0] = 0;
    for (size_t j = 0; j < B; j++) {
        if (offs[j + 1] == offs[j]) {
            memset(x->out + ord[a + j].k * x->H, 0, x->H * sizeof(float));
            continue;
        }
        if (x->species) x->species[Bn] = x->species[j]; /* compacted in place: Bn <= j */
        map[Bn++] = j;
        po[Bn] = offs[j + 1];
    }
    int rc = SCFM_OK;
    if (Bn) {
        scfm_bert_input in;
        memset(&in, 0, sizeof in);
        in.B = Bn;
        in.offs = po;
        in.ids = x->ids;
        const scfm_genecompass_config *gc = &x->m->cfg.genecompass;
        if (gc->enabled) {
            in.values = gc->use_values ? x->vals : NULL;
            in.species = x->species;
        }
        rc = scfm_model_forward(x->m, &in, 0, 0, NULL);
        const float *h = rc ? NULL : scfm_model_hidden(x->m, x->layer);
        if (!rc && !h) rc = scfm_error(SCFM_EINVAL, "embed: no hidden state for layer %zu", x->layer);
        /* GeneCompass's cell (CLS) state is its species row */
        const float *he = gc->enabled && gc->use_cls_token ? scfm_model_hidden_encoder(x->m, x->layer, NULL) : NULL;
        const size_t *eo = he ? scfm_model_encoder_offsets(x->m) : NULL;
        for (size_t q = 0; !rc && q < Bn; q++) {
            size_t j = map[q], s = po[q], len = po[q + 1] - po[q];
            if (eo && x->o->pool == SCFM_POOL_CLS)
                memcpy(x->out + ord[a + j].k * x->H, he + eo[q] * x->H, x->H * sizeof(float));
            else
                scfm_embed_pool(h + s * x->H, x->ids + s, len, x->H, x->o->pool, x->special,
                                x->out + ord[a + j].k * x->H);
            if (!x->genes) continue;
            for (size_t t = 0; t < len; t++) {
                int32_t id = x->ids[s + t];
                if (x->special[id]) continue;
                double *g = x->genes->sum + (size_t)id * x->H;
                const float *r = h + (s + t) * x->H;
                for (size_t d = 0; d < x->H; d++) g[d] += r[d];
                x->genes->count[id]++;
            }
        }
    }
    free(map);
    free(po);
    return rc;
}

static int genes_init(scfm_gene_embed *g, size_t V, size_t H) {
    if (g->sum) {
        if (g->V != V || g->H != H) return scfm_error(SCFM_EINVAL, "embed: gene accumulator has another shape");
        return SCFM_OK;
    }
    size_t n;
    if (scfm_mul_size(V, H, &n)) return scfm_error(SCFM_ENOMEM, "embed: gene table %zu x %zu overflows", V, H);
    g->sum = scfm_calloc(n, sizeof *g->sum);
    g->count = scfm_calloc(V, sizeof *g->count);
    if (!g->sum || !g->count) {
        scfm_gene_embed_free(g);
        return SCFM_ENOMEM;
    }
    g->V = V;
    g->H = H;
    return SCFM_OK;
}

int scfm_embed_cells(scfm_model *m, const scfm_corpus *c, const size_t *cells, size_t n, const scfm_embed_opts *o,
                     float *out, scfm_gene_embed *genes) {
    scfm_embed_opts def;
    if (!o) {
        scfm_embed_opts_init(&def);
        o = &def;
    }
    embed_ctx x;
    memset(&x, 0, sizeof x);
    size_t L = m->cfg.num_hidden_layers;
    long li = o->layer < 0 ? (long)L + 1 + o->layer : o->layer;
    if (li < 0 || li > (long)L)
        return scfm_error(SCFM_EINVAL, "embedding layer %ld out of range (the model has hidden states 0..%zu; "
                          "negative values count from the end)", o->layer, L);
    x = (embed_ctx){.m = m, .c = c, .o = o, .layer = (size_t)li, .H = m->cfg.hidden_size,
                    .P = m->cfg.max_position_embeddings, .V = m->cfg.vocab_size, .out = out,
                    .genes = o->genes ? genes : NULL};
    if (o->genes && !genes) return scfm_error(SCFM_EINVAL, "embed: gene embeddings requested without an accumulator");
    size_t nc = scfm_corpus_n_cells(c);
    for (size_t k = 0; k < n; k++) {
        size_t ci = cells ? cells[k] : k;
        if (ci >= nc) return scfm_error(SCFM_EINVAL, "%s: cell %zu out of range (%zu cells)", scfm_corpus_dir(c), ci, nc);
        if (!o->truncate && scfm_corpus_len(c, ci) > x.P)
            return scfm_error(SCFM_EINVAL, "%s: cell %zu has %zu tokens, more than the model's %zu positions "
                              "(use truncation)", scfm_corpus_dir(c), ci, scfm_corpus_len(c, ci), x.P);
    }
    if (n == 0) return SCFM_OK;
    size_t max_tok = o->batch_tokens ? o->batch_tokens : 16384, max_cells = o->batch_cells ? o->batch_cells : 64;
    if (max_tok < x.P) max_tok = x.P;
    uint8_t *special = NULL;
    len_idx *ord = scfm_calloc(n, sizeof *ord);
    x.offs = scfm_calloc(max_cells + 1, sizeof *x.offs);
    x.ids = scfm_calloc(max_tok, sizeof *x.ids);
    const scfm_genecompass_config *gc = &m->cfg.genecompass;
    int rc = SCFM_OK;
    if (gc->enabled) {
        if (gc->use_values && !(x.vals = scfm_calloc(max_tok, sizeof *x.vals))) rc = SCFM_ENOMEM;
        if (!(x.species = scfm_calloc(max_cells, sizeof *x.species))) rc = SCFM_ENOMEM;
        if (!rc && scfm_gc_needs_species(gc)) rc = scfm_corpus_require_species(c, cells, n);
    }
    if (!rc) rc = (!ord || !x.offs || !x.ids) ? SCFM_ENOMEM : special_info(c, x.V, &special, &x.cls);
    if (!rc && x.genes) rc = genes_init(x.genes, x.V, x.H);
    x.special = special;
    if (!rc) {
        for (size_t k = 0; k < n; k++) {
            size_t len = scfm_corpus_len(c, cells ? cells[k] : k);
            ord[k] = (len_idx){.len = len > x.P ? x.P : len, .k = k};
        }
        qsort(ord, n, sizeof *ord, cmp_len_desc);
        size_t done = 0;
        double t0 = scfm_now(), last = t0;
        for (size_t a = 0; a < n && !rc;) {
            size_t b = a, tok = 0;
            while (b < n && b - a < max_cells && (b == a || tok + ord[b].len <= max_tok)) tok += ord[b++].len;
            rc = run_batch(&x, ord, a, b, cells);
            done += b - a;
            a = b;
            double now = scfm_now();
            if (!rc && (now - last > 10.0 || done == n)) {
                scfm_log(SCFM_LOG_PROGRESS, "embed: %zu / %zu cells (%.1f cells/s)", done, n,
                         (double)done / (now - t0 > 1e-9 ? now - t0 : 1e-9));
                last = now;
            }
        }
    }
    free(special);
    free(ord);
    free(x.offs);
    free(x.ids);
    free(x.vals);
    free(x.species);
    return rc;
}
