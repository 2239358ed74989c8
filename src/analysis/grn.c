/* GRN inference by in-silico deletion (GeneCompass, docs/computation.md section 7): per TF, delete it in the
 * cells that express it, compare every other gene's token state with the unperturbed one,
 * test against deletions of random expressed genes; and the metrics that score a predicted
 * network against a reference (average precision, precision at k). */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scfm/grn.h"
#include "scfm/json.h"
#include "scfm/rng.h"

void scfm_grn_opts_init(scfm_grn_opts *o) {
    memset(o, 0, sizeof *o);
    scfm_embed_opts_init(&o->embed);
    o->embed.layer = -1;
    o->max_cells = 200;
    o->null_per_cell = 4;
}

void scfm_grn_tf_free(scfm_grn_tf *t) {
    if (!t) return;
    free(t->gene);
    free(t->mean_cos);
    free(t->z);
    free(t->p);
    free(t->fdr);
    free(t->n);
    memset(t, 0, sizeof *t);
}

typedef struct {
    int32_t gene;
    float cos;
} gcos;

typedef struct {
    gcos *v;
    size_t n, cap;
} gcos_list;

static int gl_push(gcos_list *l, int32_t g, double c) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 4096;
        gcos *p = scfm_realloc(l->v, cap * sizeof *p);
        if (!p) return SCFM_ENOMEM;
        l->v = p;
        l->cap = cap;
    }
    l->v[l->n++] = (gcos){g, (float)c};
    return SCFM_OK;
}

static int cmp_gcos(const void *a, const void *b) {
    const gcos *x = a, *y = b;
    if (x->gene != y->gene) return x->gene < y->gene ? -1 : 1;
    return (x->cos > y->cos) - (x->cos < y->cos);
}

static int cmp_size(const void *a, const void *b) {
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

typedef struct {
    size_t H, P, V, layer, max_tok, max_cells;
    uint8_t *special;
    int32_t *ids, *del;
    float *vals;
    size_t *offs, *tmp;
    scfm_shift_base base;  /* the cell's token states, sequence 0 */
    size_t cap_ids, cap_seq;
    int32_t species[64];  /* GeneCompass: the cell's species for every sequence of a batch */
} grn_ctx;

/* The cell's sequences: 0 = the cell, 1 = TF deleted, 2.. = one null gene deleted each. */
static int grn_cell(grn_ctx *x, scfm_model *m, const scfm_corpus *c, size_t ci, int32_t tf, const scfm_grn_opts *o,
                    gcos_list *tl, gcos_list *nl) {
    const int32_t *tok;
    const float *val = NULL;
    size_t len, H = x->H;
    const scfm_genecompass_config *gc = &m->cfg.genecompass;
    int use_values = o->use_values || (gc->enabled && gc->use_values); /* GeneCompass models always take values */
    if (scfm_corpus_cell(c, ci, &tok, &len, use_values ? &val : NULL)) return scfm_error_prefix(SCFM_EINVAL, "grn");
    if (use_values && !val) return scfm_error(SCFM_EINVAL, "%s: the corpus has no values", scfm_corpus_dir(c));
    if (scfm_gc_needs_species(gc) && scfm_corpus_require_species(c, &ci, 1)) return SCFM_EINVAL;
    if (len > x->P) len = x->P; /* the caller checked truncation */
    /* null genes: expressed, not special, not the TF */
    size_t nd = 0;
    for (size_t i = 0; i < len; i++)
        if (!x->special[tok[i]] && tok[i] != tf) x->del[nd++] = tok[i];
    size_t R = o->null_per_cell < nd ? o->null_per_cell : nd;
    scfm_rng rng;
    scfm_rng_seed(&rng, scfm_hash3(o->seed, 5 + (uint64_t)(uint32_t)tf, ci));
    for (size_t i = 0; i < R; i++) {
        size_t j = i + (size_t)scfm_rng_below(&rng, nd - i);
        int32_t t = x->del[i];
        x->del[i] = x->del[j];
        x->del[j] = t;
    }
    size_t ns = 2 + R;
    size_t need = ns * len;
    if (need > x->cap_ids) {
        int32_t *ni = scfm_realloc(x->ids, need * sizeof *ni);
        if (!ni) return SCFM_ENOMEM;
        x->ids = ni;
        float *nv = scfm_realloc(x->vals, need * sizeof *nv);
        if (!nv) return SCFM_ENOMEM;
        x->vals = nv;
        x->cap_ids = need;
    }
    if (ns + 1 > x->cap_seq) {
        size_t *a = scfm_realloc(x->offs, (ns + 1) * sizeof *a);
        if (!a) return SCFM_ENOMEM;
        x->offs = a;
        size_t *b = scfm_realloc(x->tmp, (ns + 1) * sizeof *b);
        if (!b) return SCFM_ENOMEM;
        x->tmp = b;
        x->cap_seq = ns + 1;
    }
    size_t k = 0;
    x->offs[0] = 0;
    for (size_t s = 0; s < ns; s++) {
        int32_t gone = s == 0 ? -1 : s == 1 ? tf : x->del[s - 2];
        for (size_t i = 0; i < len; i++) {
            if (tok[i] == gone) continue;
            x->ids[k] = tok[i];
            x->vals[k] = val ? val[i] : 0;
            k++;
        }
        x->offs[s + 1] = k;
    }
    int rc;
    for (size_t a = 0; a < ns;) {
        size_t b = a;
        while (b < ns && b - a < x->max_cells && b - a < 64 && (b == a || x->offs[b + 1] - x->offs[a] <= x->max_tok)) b++;
        for (size_t j = a; j <= b; j++) x->tmp[j - a] = x->offs[j] - x->offs[a];
        scfm_bert_input in;
        memset(&in, 0, sizeof in);
        in.B = b - a;
        in.offs = x->tmp;
        in.ids = x->ids + x->offs[a];
        if (use_values) in.values = x->vals + x->offs[a];
        if (gc->enabled) {
            for (size_t j = 0; j < b - a && j < 64; j++) x->species[j] = (int32_t)scfm_corpus_cell_species(c, ci);
            in.species = x->species;
        }
        if ((rc = scfm_model_forward(m, &in, 0, 0, NULL))) return rc;
        const float *h = scfm_model_hidden(m, x->layer);
        if (!h) return scfm_error(SCFM_EINVAL, "grn: no hidden state for layer %zu", x->layer);
        for (size_t j = a; j < b; j++) {
            const float *hj = h + (x->offs[j] - x->offs[a]) * H;
            const int32_t *sj = x->ids + x->offs[j];
            size_t lj = x->offs[j + 1] - x->offs[j];
            if (j == 0) {
                if ((rc = scfm_shift_base_set(&x->base, hj, sj, lj, x->special))) return rc;
                continue;
            }
            gcos_list *l = j == 1 ? tl : nl;
            for (size_t q = 0; q < lj; q++) {
                int32_t t = sj[q];
                const float *bt = scfm_shift_base_state(&x->base, t);
                if (!bt || t == tf) continue;
                double cv = scfm_cosine(hj + q * H, bt, H);
                if ((rc = gl_push(l, t, cv))) return rc;
            }
        }
        a = b;
    }
    scfm_shift_base_clear(&x->base);
    return SCFM_OK;
}

int scfm_grn_tf_run(scfm_model *m, const scfm_corpus *c, int32_t tf, const size_t *cells, size_t n,
                    const scfm_grn_opts *o, scfm_grn_tf *out) {
    memset(out, 0, sizeof *out);
    out->tf = tf;
    size_t L = m->cfg.num_hidden_layers, V = m->cfg.vocab_size, nc = scfm_corpus_n_cells(c);
    long li = o->embed.layer < 0 ? (long)L + 1 + o->embed.layer : o->embed.layer;
    if (li < 0 || li > (long)L)
        return scfm_error(SCFM_EINVAL, "embedding layer %ld out of range (the model has hidden states 0..%zu)", o->embed.layer, L);
    if (tf < 0 || (size_t)tf >= V) return scfm_error(SCFM_EINVAL, "grn: TF token %d outside the vocabulary (%zu)", (int)tf, V);
    if (!o->max_cells) return scfm_error(SCFM_EINVAL, "grn: at most 0 cells per TF");
    if (!o->null_per_cell) return scfm_error(SCFM_EINVAL, "grn: the null needs at least one random gene per cell");
    grn_ctx x;
    memset(&x, 0, sizeof x);
    x.H = m->cfg.hidden_size;
    x.P = m->cfg.max_position_embeddings;
    x.V = V;
    x.layer = (size_t)li;
    x.max_tok = o->embed.batch_tokens ? o->embed.batch_tokens : 16384;
    x.max_cells = o->embed.batch_cells ? o->embed.batch_cells : 64;
    size_t *sel = scfm_malloc((n ? n : 1) * sizeof *sel), ns = 0;
    int rc = sel ? scfm_embed_special_mask(c, V, &x.special) : SCFM_ENOMEM;
    if (!rc && x.special[tf]) rc = scfm_error(SCFM_EINVAL, "grn: token %d is a special token, not a gene", (int)tf);
    /* the cells expressing the TF */
    for (size_t k = 0; !rc && k < n; k++) {
        size_t ci = cells ? cells[k] : k;
        const int32_t *tok;
        size_t len;
        if (ci >= nc) {
            rc = scfm_error(SCFM_EINVAL, "%s: cell %zu out of range (%zu cells)", scfm_corpus_dir(c), ci, nc);
            break;
        }
        if ((rc = scfm_corpus_cell(c, ci, &tok, &len, NULL))) break;
        if (len > x.P && !o->embed.truncate) {
            rc = scfm_error(SCFM_EINVAL, "%s: cell %zu has %zu tokens, more than the model's %zu positions (use truncation)",
                            scfm_corpus_dir(c), ci, len, x.P);
            break;
        }
        if (len > x.P) len = x.P;
        for (size_t i = 0; i < len; i++) {
            if (tok[i] < 0 || (size_t)tok[i] >= V) {
                rc = scfm_error(SCFM_EINVAL, "%s: cell %zu has token id %d outside the model's vocabulary",
                                scfm_corpus_dir(c), ci, (int)tok[i]);
                break;
            }
            if (tok[i] == tf) {
                sel[ns++] = ci;
                break;
            }
        }
    }
    if (!rc && ns > o->max_cells) { /* seeded sample, then corpus order */
        scfm_rng rng;
        scfm_rng_seed(&rng, scfm_hash3(o->seed, 4, (uint64_t)(uint32_t)tf));
        for (size_t i = 0; i < o->max_cells; i++) {
            size_t j = i + (size_t)scfm_rng_below(&rng, ns - i), t = sel[i];
            sel[i] = sel[j];
            sel[j] = t;
        }
        ns = o->max_cells;
        qsort(sel, ns, sizeof *sel, cmp_size);
    }
    if (!rc) rc = scfm_shift_base_init(&x.base, V, x.H, x.P);
    if (!rc && !(x.del = scfm_malloc(x.P * sizeof *x.del))) rc = SCFM_ENOMEM;
    gcos_list tl = {0}, nl = {0};
    for (size_t k = 0; !rc && k < ns; k++) rc = grn_cell(&x, m, c, sel[k], tf, o, &tl, &nl);
    out->n_cells = rc ? 0 : ns;
    /* per gene: mean, test against the gene's own null cosines */
    if (!rc && tl.n) {
        qsort(tl.v, tl.n, sizeof *tl.v, cmp_gcos);
        qsort(nl.v, nl.n, sizeof *nl.v, cmp_gcos);
        size_t G = 0;
        for (size_t i = 0; i < tl.n; i++) G += !i || tl.v[i].gene != tl.v[i - 1].gene;
        out->gene = scfm_malloc(G * sizeof *out->gene);
        out->mean_cos = scfm_malloc(G * sizeof *out->mean_cos);
        out->z = scfm_malloc(G * sizeof *out->z);
        out->p = scfm_malloc(G * sizeof *out->p);
        out->fdr = scfm_malloc(G * sizeof *out->fdr);
        out->n = scfm_malloc(G * sizeof *out->n);
        double *xs = scfm_malloc(tl.n * sizeof *xs), *ys = scfm_malloc((nl.n ? nl.n : 1) * sizeof *ys);
        if (!out->gene || !out->mean_cos || !out->z || !out->p || !out->fdr || !out->n || !xs || !ys) rc = SCFM_ENOMEM;
        size_t g = 0, j = 0;
        for (size_t i = 0; !rc && i < tl.n;) {
            int32_t gene = tl.v[i].gene;
            size_t nx = 0, ny = 0;
            double s = 0;
            while (i < tl.n && tl.v[i].gene == gene) {
                xs[nx++] = tl.v[i].cos;
                s += tl.v[i].cos;
                i++;
            }
            while (j < nl.n && nl.v[j].gene < gene) j++;
            while (j < nl.n && nl.v[j].gene == gene) ys[ny++] = nl.v[j++].cos;
            out->gene[g] = gene;
            out->mean_cos[g] = s / (double)nx;
            out->n[g] = (uint32_t)nx;
            out->z[g] = NAN;
            out->p[g] = 1;
            if (ny) {
                double z, p2;
                rc = scfm_ranksum_test(xs, nx, ys, ny, SCFM_RANKSUM_MWU, NULL, &z, &p2);
                out->z[g] = z;
                out->p[g] = 0.5 * erfc(-z / sqrt(2.0));
            }
            g++;
        }
        out->n_genes = g;
        if (!rc) rc = scfm_fdr_bh(out->p, g, out->fdr);
        free(xs);
        free(ys);
        /* order by ascending mean cosine, then token */
        if (!rc) {
            size_t *ord = scfm_malloc(g * sizeof *ord);
            double *tmpd = scfm_malloc(g * sizeof *tmpd);
            uint32_t *tmpu = scfm_malloc(g * sizeof *tmpu);
            int32_t *tmpi = scfm_malloc(g * sizeof *tmpi);
            if (!ord || !tmpd || !tmpu || !tmpi) rc = SCFM_ENOMEM;
            for (size_t i = 0; !rc && i < g; i++) ord[i] = i;
            if (!rc) {
                /* Shell sort of the indices by (mean_cos, gene) */
                for (size_t gap = g / 2; gap > 0; gap /= 2)
                    for (size_t i = gap; i < g; i++) {
                        size_t t = ord[i], q = i;
                        while (q >= gap && (out->mean_cos[ord[q - gap]] > out->mean_cos[t] ||
                                            (out->mean_cos[ord[q - gap]] == out->mean_cos[t] &&
                                             out->gene[ord[q - gap]] > out->gene[t]))) {
                            ord[q] = ord[q - gap];
                            q -= gap;
                        }
                        ord[q] = t;
                    }
                double *cols[4] = {out->mean_cos, out->z, out->p, out->fdr};
                for (int cidx = 0; cidx < 4; cidx++) {
                    for (size_t i = 0; i < g; i++) tmpd[i] = cols[cidx][ord[i]];
                    memcpy(cols[cidx], tmpd, g * sizeof *tmpd);
                }
                for (size_t i = 0; i < g; i++) tmpu[i] = out->n[ord[i]];
                memcpy(out->n, tmpu, g * sizeof *tmpu);
                for (size_t i = 0; i < g; i++) tmpi[i] = out->gene[ord[i]];
                memcpy(out->gene, tmpi, g * sizeof *tmpi);
            }
            free(ord);
            free(tmpd);
            free(tmpu);
            free(tmpi);
        }
    }
    free(tl.v);
    free(nl.v);
    free(sel);
    free(x.special);
    free(x.ids);
    free(x.vals);
    free(x.del);
    free(x.offs);
    free(x.tmp);
    scfm_shift_base_free(&x.base);
    if (rc) scfm_grn_tf_free(out);
    return rc;
}

/* ---- metrics ------------------------------------------------------------------------- */
static const double *g_score;
static int cmp_desc(const void *a, const void *b) {
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    if (g_score[x] != g_score[y]) return g_score[x] > g_score[y] ? -1 : 1;
    return (x > y) - (x < y);
}

static size_t *order_desc(const double *score, size_t n) {
    size_t *o = scfm_malloc((n ? n : 1) * sizeof *o);
    if (!o) return NULL;
    for (size_t i = 0; i < n; i++) o[i] = i;
    g_score = score; /* qsort has no context argument; the metrics are not used concurrently */
    qsort(o, n, sizeof *o, cmp_desc);
    return o;
}

double scfm_average_precision(const double *score, const uint8_t *label, size_t n) {
    size_t P = 0;
    for (size_t i = 0; i < n; i++) P += label[i] != 0;
    if (!P) return NAN;
    size_t *o = order_desc(score, n);
    if (!o) return NAN;
    double ap = 0, prev_r = 0;
    size_t tp = 0, fp = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && score[o[j]] == score[o[i]]) {
            if (label[o[j]]) tp++;
            else fp++;
            j++;
        }
        double r = (double)tp / (double)P, p = (double)tp / (double)(tp + fp);
        ap += (r - prev_r) * p;
        prev_r = r;
        i = j;
    }
    free(o);
    return ap;
}

double scfm_precision_at_k(const double *score, const uint8_t *label, size_t n, size_t k) {
    if (!k || k > n) return NAN;
    size_t *o = order_desc(score, n);
    if (!o) return NAN;
    size_t hit = 0;
    for (size_t i = 0; i < k; i++) hit += label[o[i]] != 0;
    free(o);
    return (double)hit / (double)k;
}

/* ---- the network a model's GRN prior was built from ------------------------------------ */
static int report_uses(const char *path, const char *hash, int *found) {
    char *d = NULL;
    size_t len;
    *found = 0;
    int rc = scfm_read_file(path, &d, &len);
    if (rc) return rc;
    scfm_json *j = scfm_json_parse(d, len, path);
    free(d);
    if (!j) return SCFM_EFORMAT;
    const char *kind = NULL;
    const scfm_json *src = scfm_json_get(j, "sources"), *hs = scfm_json_get(j, "scfm_grn_prior_hashes");
    if (scfm_json_get_string(j, "kind", &kind) == SCFM_OK && !strcmp(kind, "grn") && src && src->type == SCFM_JSON_ARRAY)
        for (size_t i = 0; i < src->n; i++) {
            const char *h = NULL;
            if (scfm_json_get_string(&src->items[i], "hash", &h) == SCFM_OK && !strcmp(h, hash)) *found = 1;
        }
    if (hs && hs->type == SCFM_JSON_ARRAY)
        for (size_t i = 0; i < hs->n; i++)
            if (hs->items[i].type == SCFM_JSON_STRING && !strcmp(hs->items[i].string, hash)) *found = 1;
    scfm_clear_error();
    scfm_json_free(j);
    return SCFM_OK;
}

static int dir_uses(const char *dir, const char *prefix, const char *hash, char *where, size_t ws) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int res = 0;
    while (!res && (e = readdir(d))) {
        size_t l = strlen(e->d_name), pl = strlen(prefix);
        if (l < 6 || strncmp(e->d_name, prefix, pl) || strcmp(e->d_name + l - 5, ".json")) continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        int f, rc = report_uses(p, hash, &f);
        if (rc) res = rc;
        else if (f) {
            snprintf(where, ws, "%s", p);
            res = 1;
        }
    }
    closedir(d);
    return res;
}

int scfm_grn_prior_uses(const char *model_dir, const char *const *reports, size_t n_reports, const char *hash,
                        char *where, size_t where_size) {
    for (size_t i = 0; i < n_reports; i++) {
        int f, rc = report_uses(reports[i], hash, &f);
        if (rc) return rc;
        if (f) {
            snprintf(where, where_size, "%s", reports[i]);
            return 1;
        }
    }
    if (!model_dir) return 0;
    char p[4096];
    snprintf(p, sizeof p, "%s/config.json", model_dir);
    FILE *f = fopen(p, "r");
    if (f) {
        fclose(f);
        int found, rc = report_uses(p, hash, &found);
        if (rc) return rc;
        if (found) {
            snprintf(where, where_size, "%s", p);
            return 1;
        }
    }
    int r = dir_uses(model_dir, "prior_", hash, where, where_size);
    if (r) return r;
    snprintf(p, sizeof p, "%s/priors", model_dir);
    return dir_uses(p, "", hash, where, where_size);
}
