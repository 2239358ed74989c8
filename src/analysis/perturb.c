/* In-silico perturbation (docs/computation.md section 7): delete, overexpress, inhibit or activate genes
 * (one at a time, as a set, or on top of an anchor gene) in each cell's rank-value tokens,
 * embed the perturbed copies (all copies of one cell batched together), measure the cell
 * embedding shift (toward a goal state and alternative states) and, optionally, the shift
 * of every other gene's contextual embedding; test each gene's shifts against all shifts
 * or against a null run of random genes (Mann-Whitney + BH). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif
#include <stdio.h>

#include "scfm/analysis.h"
#include "scfm/rng.h"

void scfm_perturb_opts_init(scfm_perturb_opts *o) {
    memset(o, 0, sizeof *o);
    o->anchor = -1;
    o->shift_fraction = 0.25;
    scfm_embed_opts_init(&o->embed);
}

void scfm_perturb_result_free(scfm_perturb_result *r) {
    if (!r) return;
    size_t S = r->V + 2;
    for (size_t t = 0; r->V && t < S; t++) {
        if (r->shifts) free(r->shifts[t]);
        if (r->extra) free(r->extra[t]);
        if (r->cell) free(r->cell[t]);
    }
    free(r->shifts);
    free(r->extra);
    free(r->cell);
    free(r->n);
    free(r->cap);
    free(r->gs_key);
    free(r->gs_cnt);
    free(r->gs_sum);
    free(r->gs_m2);
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

static int in_list(const int32_t *g, size_t n, int32_t t) {
    for (size_t i = 0; i < n; i++)
        if (g[i] == t) return 1;
    return 0;
}

int scfm_perturb_apply(const int32_t *tok, size_t len, size_t head, size_t tail, const int32_t *genes,
                       size_t n_genes, scfm_perturb_mode mode, double shift_fraction, size_t max_len,
                       int32_t *out, size_t *out_len) {
    if (head > len || tail > len - head)
        return scfm_error(SCFM_EINVAL, "perturb: %zu leading + %zu trailing specials in a cell of %zu tokens", head,
                          tail, len);
    size_t end = len - tail, k = 0;
    switch (mode) {
    case SCFM_PERTURB_DELETE:
        for (size_t j = 0; j < n_genes; j++)
            if (!in_list(tok + head, end - head, genes[j])) return SCFM_ENOTFOUND;
        for (size_t i = 0; i < len; i++)
            if (i < head || i >= end || !in_list(genes, n_genes, tok[i])) out[k++] = tok[i];
        *out_len = k;
        return SCFM_OK;
    case SCFM_PERTURB_OVEREXPRESS:
        if (max_len == 0) return scfm_error(SCFM_EINVAL, "perturb: max_len is 0");
        for (size_t i = 0; i < head; i++) out[k++] = tok[i];
        for (size_t j = 0; j < n_genes; j++)
            if (!in_list(genes, j, genes[j])) out[k++] = genes[j];
        for (size_t i = head; i < len; i++)
            if (i >= end || !in_list(genes, n_genes, tok[i])) out[k++] = tok[i];
        *out_len = k > max_len ? max_len : k;
        return SCFM_OK;
    case SCFM_PERTURB_INHIBIT:
    case SCFM_PERTURB_ACTIVATE: {
        if (!(shift_fraction > 0 && shift_fraction <= 1))
            return scfm_error(SCFM_EINVAL, "perturb: shift fraction %g is not in (0, 1]", shift_fraction);
        size_t n = end - head;
        for (size_t j = 0; j < n_genes; j++)
            if (!in_list(tok + head, n, genes[j])) return SCFM_ENOTFOUND;
        memcpy(out, tok, len * sizeof *out);
        int32_t *reg = out + head;
        size_t step = (size_t)floor(shift_fraction * (double)n + 0.5);
        if (step < 1) step = 1;
        for (size_t j = 0; j < n_genes; j++) {
            if (in_list(genes, j, genes[j])) continue;
            size_t i = 0;
            while (reg[i] != genes[j]) i++;
            size_t to = mode == SCFM_PERTURB_INHIBIT ? (i + step < n ? i + step : n - 1) : (i >= step ? i - step : 0);
            int32_t g = reg[i];
            if (to > i) memmove(reg + i, reg + i + 1, (to - i) * sizeof *reg);
            else if (to < i) memmove(reg + to + 1, reg + to, (i - to) * sizeof *reg);
            reg[to] = g;
        }
        *out_len = len;
        return SCFM_OK;
    }
    }
    return scfm_error(SCFM_EINVAL, "perturb: unknown mode %d", (int)mode);
}

/* ---- result storage ------------------------------------------------------------------ */
int scfm_perturb_result_init(scfm_perturb_result *r, size_t V, size_t n_extra) {
    memset(r, 0, sizeof *r);
    if (!V || !n_extra || n_extra > 1 + SCFM_PERTURB_MAX_ALT)
        return scfm_error(SCFM_EINVAL, "perturb: result with vocabulary size %zu and %zu values per shift", V, n_extra);
    size_t S = V + 2;
    r->shifts = scfm_calloc(S, sizeof *r->shifts);
    r->extra = scfm_calloc(S, sizeof *r->extra);
    r->cell = scfm_calloc(S, sizeof *r->cell);
    r->n = scfm_calloc(S, sizeof *r->n);
    r->cap = scfm_calloc(S, sizeof *r->cap);
    r->V = V;
    r->n_extra = n_extra;
    if (!r->shifts || !r->extra || !r->cell || !r->n || !r->cap) {
        scfm_perturb_result_free(r);
        return SCFM_ENOMEM;
    }
    return SCFM_OK;
}

int scfm_perturb_result_add(scfm_perturb_result *r, size_t s, double v, const double *extra, size_t cell) {
    if (!r->V || s >= r->V + 2) return scfm_error(SCFM_EINVAL, "perturb: slot %zu outside the result", s);
    if (r->n[s] == r->cap[s]) {
        size_t cap = r->cap[s] ? 2 * r->cap[s] : 8, ne;
        if (scfm_mul_size(cap, r->n_extra, &ne)) return scfm_error(SCFM_ENOMEM, "perturb: too many shifts");
        double *p = scfm_realloc(r->shifts[s], cap * sizeof *p);
        if (!p) return SCFM_ENOMEM;
        r->shifts[s] = p;
        double *e = scfm_realloc(r->extra[s], ne * sizeof *e);
        if (!e) return SCFM_ENOMEM;
        r->extra[s] = e;
        size_t *c = scfm_realloc(r->cell[s], cap * sizeof *c);
        if (!c) return SCFM_ENOMEM;
        r->cell[s] = c;
        r->cap[s] = cap;
    }
    size_t i = r->n[s]++;
    r->shifts[s][i] = v;
    memcpy(r->extra[s] + i * r->n_extra, extra, r->n_extra * sizeof *extra);
    r->cell[s][i] = cell;
    return SCFM_OK;
}

static uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static int gs_grow(scfm_perturb_result *r) {
    size_t cap = r->gs_cap ? 2 * r->gs_cap : 4096;
    uint64_t *key = scfm_calloc(cap, sizeof *key), *cnt = scfm_calloc(cap, sizeof *cnt);
    double *sum = scfm_calloc(cap, sizeof *sum), *m2 = scfm_calloc(cap, sizeof *m2);
    if (!key || !cnt || !sum || !m2) {
        free(key);
        free(cnt);
        free(sum);
        free(m2);
        return SCFM_ENOMEM;
    }
    for (size_t i = 0; i < r->gs_cap; i++) {
        if (!r->gs_key[i]) continue;
        size_t h = (size_t)mix64(r->gs_key[i]) & (cap - 1);
        while (key[h]) h = (h + 1) & (cap - 1);
        key[h] = r->gs_key[i];
        cnt[h] = r->gs_cnt[i];
        sum[h] = r->gs_sum[i];
        m2[h] = r->gs_m2[i];
    }
    free(r->gs_key);
    free(r->gs_cnt);
    free(r->gs_sum);
    free(r->gs_m2);
    r->gs_key = key;
    r->gs_cnt = cnt;
    r->gs_sum = sum;
    r->gs_m2 = m2;
    r->gs_cap = cap;
    return SCFM_OK;
}

static int gs_add(scfm_perturb_result *r, size_t slot, int32_t tok, double v) {
    if (2 * (r->gs_n + 1) > r->gs_cap) {
        int rc = gs_grow(r);
        if (rc) return rc;
    }
    uint64_t key = (((uint64_t)slot << 32) | (uint32_t)tok) + 1;
    size_t h = (size_t)mix64(key) & (r->gs_cap - 1);
    while (r->gs_key[h] && r->gs_key[h] != key) h = (h + 1) & (r->gs_cap - 1);
    if (!r->gs_key[h]) {
        r->gs_key[h] = key;
        r->gs_n++;
    }
    /* Welford: squared deviations about the running mean (no cancellation for cosines near 1) */
    double before = r->gs_cnt[h] ? r->gs_sum[h] / (double)r->gs_cnt[h] : v;
    r->gs_sum[h] += v;
    r->gs_cnt[h]++;
    r->gs_m2[h] += (v - before) * (v - r->gs_sum[h] / (double)r->gs_cnt[h]);
    return SCFM_OK;
}

/* ---- per cell ------------------------------------------------------------------------ */
typedef struct {
    size_t slot, g0, ng; /* genes ugenes[g0 .. g0+ng) */
    int is_null;
} pt_unit;

/* One forward at a time per worker: its model view (the model itself for worker 0) and the
 * batch's relative offsets and species. */
typedef struct {
    scfm_model *m;
    size_t *offs;                 /* [cap + 1] */
    int32_t *species;             /* [cap] */
    size_t cap;
} pt_worker;

typedef struct {
    scfm_model *m;
    const scfm_corpus *c;
    const scfm_perturb_opts *o;
    size_t layer, H, P, V, max_tok, max_cells, unit_size;
    uint8_t *special, *seen, *tested;
    int v2;
    int32_t *ids;                 /* packed sequences */
    size_t cap_ids;
    size_t *offs, *tmp_offs;      /* [cap_seq + 1] */
    long *seq_unit;               /* [cap_seq]: unit of each sequence, -1 = baseline */
    float *emb;                   /* [cap_seq * H] */
    size_t cap_seq;
    pt_unit *units;
    size_t n_units, cap_units;
    int32_t *ugenes, *glist, *cand;
    size_t n_ugenes, cap_ugenes, cap_glist, cap_cand;
    scfm_shift_base base;         /* baseline token states (gene shifts), P tokens */
    /* GeneCompass models: values follow their tokens; species per sequence */
    int gc;                       /* the model is GeneCompass */
    const float *cell_vals;       /* the current cell's values (rank order) */
    float *vmap;                  /* [V] value of each token of the current cell */
    float *vals;                  /* [cap_vals] values of the packed sequences */
    size_t cap_vals;
    int32_t cell_species;         /* species of the current cell */
    pt_worker *wk;                /* [n_wk] */
    size_t n_wk;
    size_t *bnd;                  /* batch k = sequences bnd[k] .. bnd[k+1]-1 */
    size_t cap_bnd;
} pt_ctx;

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return SCFM_OK;
    size_t c = *cap ? *cap : 16, bytes;
    while (c < need) c *= 2;
    if (scfm_mul_size(c, elem, &bytes)) return scfm_error(SCFM_ENOMEM, "perturb: buffer size overflows");
    void *q = scfm_realloc(*p, bytes);
    if (!q) return SCFM_ENOMEM;
    *p = q;
    *cap = c;
    return SCFM_OK;
}

static int add_unit(pt_ctx *x, size_t slot, const int32_t *g, size_t ng, int is_null) {
    size_t cu = x->cap_units, cg = x->cap_ugenes;
    int rc = grow((void **)&x->units, &cu, x->n_units + 1, sizeof *x->units);
    if (!rc) x->cap_units = cu;
    if (!rc) rc = grow((void **)&x->ugenes, &cg, x->n_ugenes + ng, sizeof *x->ugenes);
    if (rc) return rc;
    x->cap_ugenes = cg;
    memcpy(x->ugenes + x->n_ugenes, g, ng * sizeof *g);
    x->units[x->n_units++] = (pt_unit){.slot = slot, .g0 = x->n_ugenes, .ng = ng, .is_null = is_null};
    x->n_ugenes += ng;
    return SCFM_OK;
}

/* Room for `need` sequences in offs, tmp_offs, seq_unit (need + 1 entries) and emb. */
static int ensure_seq(pt_ctx *x, size_t need) {
    if (need <= x->cap_seq) return SCFM_OK;
    size_t c = x->cap_seq ? x->cap_seq : 16, ne;
    while (c < need) c *= 2;
    if (scfm_mul_size(c, x->H, &ne)) return scfm_error(SCFM_ENOMEM, "perturb: buffer size overflows");
    size_t *of = scfm_realloc(x->offs, (c + 1) * sizeof *of);
    if (of) x->offs = of;
    size_t *to = of ? scfm_realloc(x->tmp_offs, (c + 1) * sizeof *to) : NULL;
    if (to) x->tmp_offs = to;
    long *su = to ? scfm_realloc(x->seq_unit, c * sizeof *su) : NULL;
    if (su) x->seq_unit = su;
    float *e = su ? scfm_realloc(x->emb, ne * sizeof *e) : NULL;
    if (e) x->emb = e;
    if (!e) return SCFM_ENOMEM;
    x->cap_seq = c;
    return SCFM_OK;
}

/* Appends the cell perturbed with [anchor] + genes as sequence ns; *added = 0 when the
 * genes are not all there (or nothing is left). */
/* GeneCompass values of sequence ns (ol tokens at offs[ns]): every gene keeps its own value
 * ((token, value) pairs travel together: deletion removes both); a gene the perturbation
 * moved or inserted (x->glist[0..nl)) takes the value the cell has at the gene's new rank,
 * so values stay in rank order (overexpression: the cell's highest value). */
static int seq_values(pt_ctx *x, size_t ns, size_t ol, size_t nl, size_t len) {
    size_t cap = x->cap_vals, need = x->offs[ns] + ol;
    int rc = grow((void **)&x->vals, &cap, need, sizeof *x->vals);
    if (rc) return rc;
    x->cap_vals = cap;
    const int32_t *ids = x->ids + x->offs[ns];
    float *v = x->vals + x->offs[ns];
    for (size_t q = 0; q < ol; q++) {
        int moved = 0;
        for (size_t i = 0; i < nl && !moved; i++) moved = ids[q] == x->glist[i];
        v[q] = moved ? x->cell_vals[q < len ? q : len - 1] : x->vmap[ids[q]];
    }
    return SCFM_OK;
}

static int add_seq(pt_ctx *x, const int32_t *tok, size_t len, size_t head, size_t tail, const int32_t *g, size_t ng,
                   size_t ns, long unit, int *added) {
    *added = 0;
    size_t nl = 0, cap = x->cap_glist, need;
    int rc = grow((void **)&x->glist, &cap, ng + 1, sizeof *x->glist);
    if (rc) return rc;
    x->cap_glist = cap;
    if (x->o->anchor >= 0) x->glist[nl++] = x->o->anchor;
    for (size_t i = 0; i < ng; i++) x->glist[nl++] = g[i];
    if ((rc = ensure_seq(x, ns + 2))) return rc;
    if (scfm_add_size(x->offs[ns], len + nl, &need)) return scfm_error(SCFM_ENOMEM, "perturb: buffer size overflows");
    cap = x->cap_ids;
    if ((rc = grow((void **)&x->ids, &cap, need, sizeof *x->ids))) return rc;
    x->cap_ids = cap;
    size_t ol = 0;
    if (nl == 0) {
        memcpy(x->ids + x->offs[ns], tok, len * sizeof *tok);
        ol = len;
    } else {
        rc = scfm_perturb_apply(tok, len, head, tail, x->glist, nl, x->o->mode, x->o->shift_fraction, x->P,
                                x->ids + x->offs[ns], &ol);
        if (rc == SCFM_ENOTFOUND) return SCFM_OK;
        if (rc) return rc;
    }
    if (ol == 0) return SCFM_OK;
    if (x->gc && (rc = seq_values(x, ns, ol, nl, len))) return rc;
    x->offs[ns + 1] = x->offs[ns] + ol;
    x->seq_unit[ns] = unit;
    *added = 1;
    return SCFM_OK;
}

/* Null units of the cell's own genes (region tok[head..end)). */
static int null_units(pt_ctx *x, size_t ci, const int32_t *tok, size_t head, size_t end) {
    const scfm_perturb_opts *o = x->o;
    size_t u = x->unit_size, nullslot = SCFM_PERTURB_SLOT_NULL(x->V);
    if (o->null_genes) {
        for (size_t i = 0; i + u <= o->n_null_genes; i += u) {
            int rc = add_unit(x, nullslot, o->null_genes + i, u, 1);
            if (rc) return rc;
        }
        return SCFM_OK;
    }
    if (!o->null_per_cell) return SCFM_OK;
    size_t nc = 0, cap = x->cap_cand;
    int rc = grow((void **)&x->cand, &cap, end - head + 1, sizeof *x->cand);
    if (rc) return rc;
    x->cap_cand = cap;
    for (size_t i = head; i < end; i++) {
        int32_t t = tok[i];
        if (x->special[t] || x->tested[t] || t == o->anchor || x->seen[t]) continue;
        x->seen[t] = 1;
        x->cand[nc++] = t;
    }
    for (size_t i = 0; i < nc; i++) x->seen[x->cand[i]] = 0;
    size_t want = o->null_per_cell * u;
    if (want > nc) want = nc / u * u;
    scfm_rng rng;
    scfm_rng_seed(&rng, scfm_hash3(o->seed, 0, ci));
    for (size_t i = 0; i < want; i++) { /* partial Fisher-Yates */
        size_t j = i + (size_t)scfm_rng_below(&rng, nc - i);
        int32_t t = x->cand[i];
        x->cand[i] = x->cand[j];
        x->cand[j] = t;
    }
    for (size_t i = 0; i < want; i += u)
        if ((rc = add_unit(x, nullslot, x->cand + i, u, 1))) return rc;
    return SCFM_OK;
}

/* Batches of whole sequences of the cell (at most max_cells sequences and max_tok tokens,
 * a longer sequence alone) into x->bnd; with several workers, as many batches as a multiple of
 * the workers when the cap allows, so that they end together. */
static int batch_bounds(pt_ctx *x, size_t ns, size_t *nb) {
    size_t cap = x->max_cells, cb = x->cap_bnd;
    if (x->n_wk > 1) {
        size_t k = (ns + cap - 1) / cap;
        k = (k + x->n_wk - 1) / x->n_wk * x->n_wk;
        size_t c = (ns + k - 1) / k;
        if (c < cap) cap = c;
    }
    int rc = grow((void **)&x->bnd, &cb, ns + 1, sizeof *x->bnd);
    if (rc) return rc;
    x->cap_bnd = cb;
    size_t k = 0;
    x->bnd[0] = 0;
    for (size_t a = 0; a < ns;) {
        size_t b = a;
        while (b < ns && b - a < cap && (b == a || x->offs[b + 1] - x->offs[a] <= x->max_tok)) b++;
        x->bnd[++k] = a = b;
    }
    *nb = k;
    return SCFM_OK;
}

/* Forward of sequences a .. b-1 on worker w up to the embedding layer; their pooled cell
 * embeddings into x->emb; *h = the layer's token states (w's arena, until its next forward). */
static int embed_batch(pt_ctx *x, pt_worker *w, size_t a, size_t b, const float **h) {
    size_t n = b - a, H = x->H;
    if (n > w->cap) {
        size_t *of = scfm_realloc(w->offs, (n + 1) * sizeof *of);
        if (of) w->offs = of;
        int32_t *sp = of ? scfm_realloc(w->species, n * sizeof *sp) : NULL;
        if (sp) w->species = sp;
        if (!sp) return SCFM_ENOMEM;
        w->cap = n;
    }
    for (size_t j = a; j <= b; j++) w->offs[j - a] = x->offs[j] - x->offs[a];
    scfm_bert_input in;
    memset(&in, 0, sizeof in);
    in.B = n;
    in.offs = w->offs;
    in.ids = x->ids + x->offs[a];
    if (x->gc) {
        for (size_t j = 0; j < n; j++) w->species[j] = x->cell_species;
        in.species = w->species;
        if (x->m->cfg.genecompass.use_values) in.values = x->vals + x->offs[a];
    }
    int rc = scfm_model_forward_hidden(w->m, &in, x->layer);
    if (rc) return rc;
    *h = scfm_model_hidden(w->m, x->layer);
    if (!*h) return scfm_error(SCFM_EINVAL, "perturb: no hidden state for layer %zu", x->layer);
    for (size_t j = a; j < b; j++)
        scfm_embed_pool(*h + (x->offs[j] - x->offs[a]) * H, x->ids + x->offs[j], x->offs[j + 1] - x->offs[j], H,
                        x->o->embed.pool, x->special, x->emb + j * H);
    return SCFM_OK;
}

/* Gene shifts of sequences a .. b-1 (token states h): the baseline's states are kept, each
 * copy's tokens compared with theirs. */
static int gene_shifts(pt_ctx *x, scfm_perturb_result *r, const float *h, size_t a, size_t b) {
    const scfm_perturb_opts *o = x->o;
    size_t H = x->H;
    for (size_t j = a; j < b; j++) {
        const float *hj = h + (x->offs[j] - x->offs[a]) * H;
        const int32_t *sj = x->ids + x->offs[j];
        size_t lj = x->offs[j + 1] - x->offs[j];
        if (j == 0) {
            int rc = scfm_shift_base_set(&x->base, hj, sj, lj, x->special);
            if (rc) return rc;
            continue;
        }
        const pt_unit *pu = x->units + x->seq_unit[j];
        if (pu->is_null) continue;
        for (size_t q = 0; q < lj; q++) {
            int32_t t = sj[q];
            const float *bt = scfm_shift_base_state(&x->base, t);
            if (!bt || t == o->anchor || in_list(x->ugenes + pu->g0, pu->ng, t)) continue;
            double cv = scfm_cosine(hj + q * H, bt, H);
            int rc = gs_add(r, pu->slot, t, cv);
            if (rc) return rc;
        }
    }
    return SCFM_OK;
}

/* The cell's nb batches on the workers, each forward on one thread. */
static int embed_parallel(pt_ctx *x, size_t nb) {
    int err = SCFM_OK;
    char msg[512] = "";
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads((int)x->n_wk)
#endif
    for (size_t k = 0; k < nb; k++) {
        int e;
#ifdef _OPENMP
#pragma omp atomic read
#endif
        e = err;
        if (e) continue;
#ifdef _OPENMP
        omp_set_num_threads(1); /* this thread's own kernels (and oneDNN's) run on it alone */
        pt_worker *w = x->wk + omp_get_thread_num();
#else
        pt_worker *w = x->wk;
#endif
        const float *h;
        e = embed_batch(x, w, x->bnd[k], x->bnd[k + 1], &h);
        if (e) {
#ifdef _OPENMP
#pragma omp critical(scfm_perturb_err)
#endif
            if (!err) {
                snprintf(msg, sizeof msg, "%s", scfm_last_error());
#ifdef _OPENMP
#pragma omp atomic write
#endif
                err = e;
            }
        }
    }
    return err && msg[0] ? scfm_error(err, "%s", msg) : err;
}

static int perturb_one(pt_ctx *x, size_t ci, scfm_perturb_result *r) {
    const scfm_perturb_opts *o = x->o;
    const int32_t *tok;
    size_t len, H = x->H;
    const float *cv = NULL;
    if (scfm_corpus_cell(x->c, ci, &tok, &len, x->gc ? &cv : NULL)) return scfm_error_prefix(SCFM_EINVAL, "perturb");
    if (x->gc && x->m->cfg.genecompass.use_values && !cv)
        return scfm_error(SCFM_EINVAL, "%s: the corpus has no expression values but the GeneCompass model uses them",
                          scfm_corpus_dir(x->c));
    if (len > x->P) {
        if (!o->embed.truncate)
            return scfm_error(SCFM_EINVAL, "%s: cell %zu has %zu tokens, more than the model's %zu positions (use truncation)",
                              scfm_corpus_dir(x->c), ci, len, x->P);
        len = x->P;
    }
    for (size_t i = 0; i < len; i++)
        if (tok[i] < 0 || (size_t)tok[i] >= x->V)
            return scfm_error(SCFM_EINVAL, "%s: cell %zu has token id %d outside the model's vocabulary",
                              scfm_corpus_dir(x->c), ci, (int)tok[i]);
    size_t head = x->v2 && len && x->special[tok[0]] ? 1 : 0;
    size_t tail = x->v2 && len > head && x->special[tok[len - 1]] ? 1 : 0;
    static const float zero = 0.0f;
    x->cell_vals = cv ? cv : &zero;
    if (x->gc)
        for (size_t i = 0; i < len; i++) x->vmap[tok[i]] = cv ? cv[i] : 0.0f;
    if (o->embed.pool == SCFM_POOL_CLS && !head)
        return scfm_error(SCFM_EINVAL, "%s: cell %zu does not start with <cls>: use mean pooling", scfm_corpus_dir(x->c), ci);
    /* units: the tested genes (or set), then the null units */
    x->n_units = 0;
    x->n_ugenes = 0;
    int rc = SCFM_OK;
    if (!o->genes) {
        for (size_t i = head; i < len - tail && !rc; i++) {
            int32_t g = tok[i];
            if (x->special[g] || x->seen[g] || g == o->anchor) continue;
            x->seen[g] = 1;
            rc = add_unit(x, (size_t)g, &g, 1, 0);
        }
        for (size_t i = head; i < len - tail; i++) x->seen[tok[i]] = 0;
    } else if (o->together) {
        rc = add_unit(x, SCFM_PERTURB_SLOT_SET(x->V), o->genes, o->n_genes, 0);
    } else {
        for (size_t j = 0; j < o->n_genes && !rc; j++) {
            int32_t g = o->genes[j];
            if (x->special[g] || x->seen[g] || g == o->anchor) continue;
            x->seen[g] = 1;
            rc = add_unit(x, (size_t)g, &g, 1, 0);
        }
        for (size_t j = 0; j < o->n_genes; j++) x->seen[o->genes[j]] = 0;
    }
    if (!rc) rc = null_units(x, ci, tok, head, len - tail);
    if (rc) return rc;
    /* sequences: 0 = baseline (the cell, or the anchor-perturbed cell), then one per unit */
    int added;
    if ((rc = ensure_seq(x, 2))) return rc;
    x->offs[0] = 0;
    if ((rc = add_seq(x, tok, len, head, tail, NULL, 0, 0, -1, &added))) return rc;
    if (!added) return SCFM_OK; /* no anchor in this cell, or nothing to embed */
    size_t ns = 1;
    for (size_t u = 0; u < x->n_units; u++) {
        const pt_unit *pu = x->units + u;
        if ((rc = add_seq(x, tok, len, head, tail, x->ugenes + pu->g0, pu->ng, ns, (long)u, &added))) return rc;
        ns += (size_t)added;
    }
    if (ns == 1) return SCFM_OK;
    for (size_t j = 0; o->on_seq && j < ns; j++) {
        const pt_unit *pu = j ? x->units + x->seq_unit[j] : NULL;
        o->on_seq(o->on_seq_ud, ci, pu ? pu->slot : (size_t)-1, pu ? x->ugenes + pu->g0 : NULL, pu ? pu->ng : 0,
                  x->ids + x->offs[j], x->offs[j + 1] - x->offs[j]);
    }
    /* embed in batches of whole sequences: one forward at a time (every thread inside it),
     * or with several workers one batch per worker at once, each forward on one thread */
    size_t nb;
    if ((rc = batch_bounds(x, ns, &nb))) return rc;
    if (x->gc) x->cell_species = (int32_t)scfm_corpus_cell_species(x->c, ci);
    if (x->n_wk > 1 && nb > 1) {
        if ((rc = embed_parallel(x, nb))) return rc;
    } else {
        for (size_t k = 0; k < nb; k++) {
            const float *h;
            size_t a = x->bnd[k], b = x->bnd[k + 1];
            if ((rc = embed_batch(x, x->wk, a, b, &h))) return rc;
            if (o->gene_shifts && (rc = gene_shifts(x, r, h, a, b))) return rc;
        }
    }
    if (o->gene_shifts) scfm_shift_base_clear(&x->base);
    double extra[1 + SCFM_PERTURB_MAX_ALT];
    const float *base = x->emb;
    double bg = o->goal ? scfm_cosine(base, o->goal, H) : 0, ba[SCFM_PERTURB_MAX_ALT];
    for (size_t k = 0; k < o->n_alt; k++) ba[k] = scfm_cosine(base, o->alt + k * H, H);
    for (size_t j = 1; j < ns; j++) {
        const float *pe = x->emb + j * H;
        const pt_unit *pu = x->units + x->seq_unit[j];
        extra[0] = scfm_cosine(pe, base, H);
        for (size_t k = 0; k < o->n_alt; k++) extra[1 + k] = scfm_cosine(pe, o->alt + k * H, H) - ba[k];
        double s = o->goal ? scfm_cosine(pe, o->goal, H) - bg : extra[0];
        if ((rc = scfm_perturb_result_add(r, pu->slot, s, extra, ci))) return rc;
        if (pu->is_null) r->n_null++;
        else r->n_perturbations++;
    }
    return SCFM_OK;
}

int scfm_perturb_cells(scfm_model *m, const scfm_corpus *c, const size_t *cells, size_t n, const scfm_perturb_opts *o,
                       scfm_perturb_result *r) {
    size_t L = m->cfg.num_hidden_layers, V = m->cfg.vocab_size;
    long li = o->embed.layer < 0 ? (long)L + 1 + o->embed.layer : o->embed.layer;
    if (li < 0 || li > (long)L)
        return scfm_error(SCFM_EINVAL, "embedding layer %ld out of range (the model has hidden states 0..%zu)", o->embed.layer, L);
    if ((int)o->mode < 0 || (int)o->mode > 3) return scfm_error(SCFM_EINVAL, "perturb: unknown mode %d", (int)o->mode);
    if (!o->genes && o->mode == SCFM_PERTURB_OVEREXPRESS)
        return scfm_error(SCFM_EINVAL, "perturb: overexpression needs a list of genes");
    if (o->together && (!o->genes || !o->n_genes))
        return scfm_error(SCFM_EINVAL, "perturb: perturbing genes together needs a list of genes");
    if ((o->mode == SCFM_PERTURB_INHIBIT || o->mode == SCFM_PERTURB_ACTIVATE) &&
        !(o->shift_fraction > 0 && o->shift_fraction <= 1))
        return scfm_error(SCFM_EINVAL, "perturb: shift fraction %g is not in (0, 1]", o->shift_fraction);
    if (o->n_alt > SCFM_PERTURB_MAX_ALT || (o->n_alt && !o->alt))
        return scfm_error(SCFM_EINVAL, "perturb: %zu alternative states (at most %d)", o->n_alt, SCFM_PERTURB_MAX_ALT);
    if (o->anchor >= 0 && (size_t)o->anchor >= V)
        return scfm_error(SCFM_EINVAL, "perturb: anchor token %d outside the model's vocabulary (%zu)", (int)o->anchor, V);
    for (size_t j = 0; o->genes && j < o->n_genes; j++)
        if (o->genes[j] < 0 || (size_t)o->genes[j] >= V)
            return scfm_error(SCFM_EINVAL, "perturb: gene token %d outside the model's vocabulary (%zu)", (int)o->genes[j], V);
    for (size_t j = 0; o->null_genes && j < o->n_null_genes; j++)
        if (o->null_genes[j] < 0 || (size_t)o->null_genes[j] >= V)
            return scfm_error(SCFM_EINVAL, "perturb: null gene token %d outside the model's vocabulary (%zu)",
                              (int)o->null_genes[j], V);
    if (r->V && (r->V != V || r->n_extra != 1 + o->n_alt))
        return scfm_error(SCFM_EINVAL, "perturb: result holds another vocabulary size or number of states");
    if (!r->V) {
        int rc = scfm_perturb_result_init(r, V, 1 + o->n_alt);
        if (rc) return rc;
    }
    pt_ctx x;
    memset(&x, 0, sizeof x);
    x.m = m;
    x.c = c;
    x.o = o;
    x.V = V;
    x.layer = (size_t)li;
    x.H = m->cfg.hidden_size;
    x.P = m->cfg.max_position_embeddings;
    x.max_tok = o->embed.batch_tokens ? o->embed.batch_tokens : 16384;
    x.max_cells = o->embed.batch_cells ? o->embed.batch_cells : 64;
    x.v2 = !strcmp(scfm_corpus_mode(c), "v2");
    x.gc = m->cfg.genecompass.enabled;
    x.unit_size = o->together ? o->n_genes : 1;
    x.seen = scfm_calloc(V, 1);
    x.tested = scfm_calloc(V, 1);
    if (x.gc) x.vmap = scfm_calloc(V, sizeof *x.vmap);
    int rc = x.seen && x.tested && (!x.gc || x.vmap) ? scfm_embed_special_mask(c, V, &x.special) : SCFM_ENOMEM;
    const scfm_genecompass_config *gcc = &m->cfg.genecompass;
    if (!rc && scfm_gc_needs_species(gcc)) rc = scfm_corpus_require_species(c, cells, n);
    for (size_t j = 0; !rc && o->genes && j < o->n_genes; j++) x.tested[o->genes[j]] = 1;
    if (!rc && o->gene_shifts) rc = scfm_shift_base_init(&x.base, V, x.H, x.P);
    /* workers: one forward at a time with gene shifts (they read each batch's token states in
     * order), else by default one per thread */
    size_t nw = o->workers;
#ifdef _OPENMP
    if (!nw) nw = (size_t)omp_get_max_threads();
#endif
    if (!nw || o->gene_shifts) nw = 1;
    if (!rc && !(x.wk = scfm_calloc(nw, sizeof *x.wk))) rc = SCFM_ENOMEM;
    for (size_t w = 0; !rc && w < nw; w++) {
        x.wk[w].m = w ? scfm_model_worker(m) : m;
        if (!x.wk[w].m) rc = SCFM_ENOMEM;
        else x.n_wk = w + 1;
    }
    if (!rc && nw > 1) (void)scfm_gemm_backend(); /* the backend chosen before the workers start */
    size_t nc = scfm_corpus_n_cells(c);
    double t0 = scfm_now(), last = t0;
    for (size_t k = 0; !rc && k < n; k++) {
        size_t ci = cells ? cells[k] : k;
        if (ci >= nc) rc = scfm_error(SCFM_EINVAL, "%s: cell %zu out of range (%zu cells)", scfm_corpus_dir(c), ci, nc);
        else rc = perturb_one(&x, ci, r);
        if (!rc) r->n_cells++;
        double now = scfm_now();
        if (!rc && (now - last > 10.0 || k + 1 == n)) {
            scfm_log(SCFM_LOG_PROGRESS, "perturb: %zu / %zu cells, %zu perturbations + %zu null (%.1f/s)", k + 1, n,
                     r->n_perturbations, r->n_null,
                     (double)(r->n_perturbations + r->n_null) / (now - t0 > 1e-9 ? now - t0 : 1e-9));
            last = now;
        }
    }
    free(x.seen);
    free(x.tested);
    free(x.special);
    free(x.ids);
    free(x.offs);
    free(x.tmp_offs);
    free(x.seq_unit);
    free(x.emb);
    free(x.units);
    free(x.ugenes);
    free(x.glist);
    free(x.cand);
    scfm_shift_base_free(&x.base);
    free(x.vmap);
    free(x.vals);
    for (size_t w = 0; w < x.n_wk; w++) {
        if (w) scfm_model_worker_free(x.wk[w].m);
        free(x.wk[w].offs);
        free(x.wk[w].species);
    }
    free(x.wk);
    free(x.bnd);
    return rc;
}

/* ---- statistics ---------------------------------------------------------------------- */
static int cmp_stat(const void *a, const void *b) {
    const scfm_perturb_stat *x = a, *y = b;
    if (x->p != y->p) return x->p < y->p ? -1 : 1;
    return (x->slot > y->slot) - (x->slot < y->slot);
}

int scfm_perturb_stats(const scfm_perturb_result *r, scfm_perturb_stat **out, size_t *n_out) {
    *out = NULL;
    *n_out = 0;
    if (!r->V) return scfm_error(SCFM_EINVAL, "no perturbation produced a shift (do the selected cells have the genes and the anchor?)");
    size_t V = r->V, nslot = V + 1, nullslot = SCFM_PERTURB_SLOT_NULL(V), ng = 0, total = 0;
    int vs_null = r->n[nullslot] > 0;
    for (size_t t = 0; t < nslot; t++)
        if (r->n[t]) {
            ng++;
            total += r->n[t];
        }
    if (!ng) return scfm_error(SCFM_EINVAL, "no perturbation produced a shift (do the selected cells have the genes and the anchor?)");
    const double *ref = NULL;
    size_t nref = vs_null ? r->n[nullslot] : total;
    double *all = NULL, *p = scfm_malloc(ng * sizeof *p);
    if (!vs_null) all = scfm_malloc(total * sizeof *all);
    scfm_perturb_stat *s = scfm_calloc(ng, sizeof *s);
    if (!p || (!vs_null && !all) || !s) {
        free(all);
        free(p);
        free(s);
        return SCFM_ENOMEM;
    }
    if (vs_null) ref = r->shifts[nullslot];
    else {
        size_t k = 0;
        for (size_t t = 0; t < nslot; t++) {
            if (r->n[t]) memcpy(all + k, r->shifts[t], r->n[t] * sizeof *all);
            k += r->n[t];
        }
        ref = all;
    }
    int rc = SCFM_OK;
    size_t g = 0;
    for (size_t t = 0; t < nslot && !rc; t++) {
        if (!r->n[t]) continue;
        size_t nt = r->n[t];
        double sum = 0, sc = 0, sa[SCFM_PERTURB_MAX_ALT] = {0};
        for (size_t i = 0; i < nt; i++) {
            sum += r->shifts[t][i];
            sc += r->extra[t][i * r->n_extra];
            for (size_t k = 1; k < r->n_extra && k <= SCFM_PERTURB_MAX_ALT; k++) sa[k - 1] += r->extra[t][i * r->n_extra + k];
        }
        s[g].token = t < V ? (int32_t)t : -1;
        s[g].slot = t;
        s[g].n = nt;
        s[g].mean_shift = sum / (double)nt;
        s[g].mean_cos = sc / (double)nt;
        for (size_t k = 1; k < r->n_extra && k <= SCFM_PERTURB_MAX_ALT; k++) s[g].mean_alt[k - 1] = sa[k - 1] / (double)nt;
        /* sample standard deviations, second pass about the means */
        double q = 0, qa[SCFM_PERTURB_MAX_ALT] = {0};
        for (size_t i = 0; i < nt; i++) {
            double d = r->shifts[t][i] - s[g].mean_shift;
            q += d * d;
            for (size_t k = 1; k < r->n_extra && k <= SCFM_PERTURB_MAX_ALT; k++) {
                double e = r->extra[t][i * r->n_extra + k] - s[g].mean_alt[k - 1];
                qa[k - 1] += e * e;
            }
        }
        s[g].sd_shift = nt > 1 ? sqrt(q / (double)(nt - 1)) : NAN;
        for (size_t k = 1; k < r->n_extra && k <= SCFM_PERTURB_MAX_ALT; k++)
            s[g].sd_alt[k - 1] = nt > 1 ? sqrt(qa[k - 1] / (double)(nt - 1)) : NAN;
        rc = scfm_ranksum_test(r->shifts[t], nt, ref, nref, SCFM_RANKSUM_MWU, NULL, &s[g].z, &s[g].p);
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
