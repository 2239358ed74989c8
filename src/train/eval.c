/* Validation during pretraining: MLM loss and top-1 / top-10 accuracy of the masked genes
 * on a fixed, seeded subset of held-out cells with fixed masks; optionally the baseline
 * that predicts, at each rank position, the genes most frequent there in training cells. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/pretrain_internal.h"

#define EVAL_EPOCH 0xFFFFFFull /* masking key "epoch" of evaluation masks (never trained on) */
#define BASE_K 10
#define BASE_MAX_CELLS 20000

typedef struct { size_t len, id; } len_id;

static int cmp_len_desc(const void *a, const void *b) {
    const len_id *x = a, *y = b;
    if (x->len != y->len) return x->len < y->len ? 1 : -1;
    return (x->id > y->id) - (x->id < y->id);
}

/* A seeded subset of k of the ids (copied, in the given order when k >= n). */
static size_t *pick_subset(const size_t *ids, size_t n, size_t k, uint64_t seed, size_t *out_n) {
    size_t *c = scfm_malloc((n ? n : 1) * sizeof *c);
    if (!c) return NULL;
    memcpy(c, ids, n * sizeof *c);
    if (k < n) {
        scfm_rng r;
        scfm_rng_seed(&r, seed);
        for (size_t i = 0; i < k; i++) { /* partial Fisher-Yates */
            size_t j = i + (size_t)scfm_rng_below(&r, n - i);
            size_t t = c[i];
            c[i] = c[j];
            c[j] = t;
        }
        n = k;
    }
    *out_n = n;
    return c;
}

int pt_eval_init(pt_eval *e, const pt_data *d, const size_t *val, size_t n_val, size_t max_cells,
                 size_t batch, uint64_t seed) {
    memset(e, 0, sizeof *e);
    size_t n = 0;
    size_t *cells = pick_subset(val, n_val, max_cells, scfm_hash3(seed, SCFM_STREAM_SPLIT, 1), &n);
    len_id *li = scfm_malloc((n ? n : 1) * sizeof *li);
    e->starts = scfm_calloc(n / (batch ? batch : 1) + 2, sizeof *e->starts);
    if (!cells || !li || !e->starts) {
        free(cells);
        free(li);
        return SCFM_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) li[i] = (len_id){pt_data_len(d, cells[i]), cells[i]};
    qsort(li, n, sizeof *li, cmp_len_desc);
    for (size_t i = 0; i < n; i++) cells[i] = li[i].id;
    free(li);
    e->cells = cells;
    e->n_cells = n;
    for (size_t i = 0; i < n; i += batch) e->starts[e->n_batches++] = i;
    e->starts[e->n_batches] = n;
    return SCFM_OK;
}

void pt_eval_free(pt_eval *e) {
    free(e->cells);
    free(e->starts);
    free(e->base);
    memset(e, 0, sizeof *e);
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Top BASE_K most frequent values of sorted v[n] (count desc, id asc) into out. */
static void top_k_sorted(const int32_t *v, size_t n, int32_t *out) {
    size_t cnt[BASE_K] = {0};
    for (size_t k = 0; k < BASE_K; k++) out[k] = -1;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && v[j] == v[i]) j++;
        size_t c = j - i;
        /* insert (c, v[i]) if it beats the last; ids arrive ascending, so ties keep the older */
        if (c > cnt[BASE_K - 1]) {
            size_t k = BASE_K - 1;
            while (k > 0 && cnt[k - 1] < c) {
                cnt[k] = cnt[k - 1];
                out[k] = out[k - 1];
                k--;
            }
            cnt[k] = c;
            out[k] = v[i];
        }
        i = j;
    }
}

int pt_eval_baseline(pt_eval *e, const pt_data *d, const size_t *train, size_t n_train, uint64_t seed) {
    size_t n = 0, L = d->max_len == SIZE_MAX ? 0 : d->max_len;
    size_t *cells = pick_subset(train, n_train, BASE_MAX_CELLS, scfm_hash3(seed, SCFM_STREAM_SPLIT, 2), &n);
    int32_t *col = scfm_malloc((n ? n : 1) * sizeof *col);
    size_t nb;
    if (scfm_mul_size(L ? L : 1, BASE_K, &nb)) return scfm_error(SCFM_ENOMEM, "baseline: size overflow");
    e->base = scfm_malloc(nb * sizeof *e->base);
    if (!cells || !col || !e->base) {
        free(cells);
        free(col);
        return SCFM_ENOMEM;
    }
    e->base_len = L;
    for (size_t p = 0; p < L; p++) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            const int32_t *t;
            size_t len;
            if (pt_data_cell(d, cells[i], &t, &len, NULL) == SCFM_OK && len > p && !d->special[t[p]])
                col[m++] = t[p];
        }
        qsort(col, m, sizeof *col, cmp_i32);
        top_k_sorted(col, m, e->base + p * BASE_K);
    }
    free(cells);
    free(col);
    return SCFM_OK;
}

/* Sequence of packed row r (offs ascending). */
static size_t seq_of_row(const scfm_mlm_batch *b, size_t r) {
    size_t lo = 0, hi = b->B;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (b->offs[mid] <= r) lo = mid;
        else hi = mid;
    }
    return lo;
}

/* Accumulates top-1/top-10 hits of logits[n, V] against labels into acc[0..1], and of the
 * baseline (by position) into acc[2..3]; with predicted values (GeneCompass) the squared
 * errors into acc[6], rows into acc[7]; per species s (0, 1) top-1, top-10, squared error
 * and rows into acc[8 + 4s ..]. */
static void score(const float *logits, size_t V, const float *pv, const scfm_mlm_batch *b, const pt_eval *e,
                  double *acc) {
    for (size_t r = 0; r < b->n_masked; r++) {
        const float *row = logits + r * V;
        int32_t y = b->labels[r];
        float ly = row[y];
        size_t above = 0;
        for (size_t j = 0; j < V && above < 10; j++) above += row[j] > ly;
        acc[0] += above == 0;
        acc[1] += above < 10;
        double se = 0;
        if (pv && b->has_values) {
            se = ((double)pv[r] - b->value_labels[r]) * ((double)pv[r] - b->value_labels[r]);
            acc[6] += se;
            acc[7] += 1;
        }
        int32_t sp = b->species[seq_of_row(b, b->mrows[r])];
        if (sp == 0 || sp == 1) {
            double *a = acc + 8 + 4 * sp;
            a[0] += above == 0;
            a[1] += above < 10;
            a[2] += se;
            a[3] += 1;
        }
        size_t p = (size_t)b->pos[b->mrows[r]];
        if (e->base && p < e->base_len) {
            const int32_t *bp = e->base + p * BASE_K;
            acc[2] += bp[0] == y;
            for (size_t k = 0; k < BASE_K; k++)
                if (bp[k] == y) { acc[3] += 1; break; }
        }
    }
}

/* Packs eval batch k (fixed masks) into b. */
static int pack_eval_batch(const pt_eval *e, size_t k, const pt_data *d, const scfm_mask_params *mp,
                           uint64_t seed, scfm_mlm_batch *b, scfm_seq *seqs, int gc) {
    size_t n = e->starts[k + 1] - e->starts[k];
    for (size_t i = 0; i < n; i++) {
        size_t g = e->cells[e->starts[k] + i];
        int rc = pt_data_cell(d, g, &seqs[i].tokens, &seqs[i].len, &seqs[i].values);
        if (rc) return rc;
        if (!gc) seqs[i].values = NULL; /* values enter GeneCompass models only */
        seqs[i].species = pt_data_species(d, g);
        seqs[i].key = scfm_mask_key(EVAL_EPOCH, g);
    }
    return scfm_mlm_batch_pack(b, seqs, n, mp, seed);
}

int pt_eval_run(pt_eval *e, const pt_data *d, scfm_model *m, const scfm_mask_params *mp, uint64_t seed,
                scfm_mlm_batch *b, pt_eval_result *res) {
    double acc[16] = {0}; /* top1, top10, base top1, base top10, loss sum, masked, then see score() */
    size_t maxb = 0;
    for (size_t k = 0; k < e->n_batches; k++)
        if (e->starts[k + 1] - e->starts[k] > maxb) maxb = e->starts[k + 1] - e->starts[k];
    scfm_seq *seqs = scfm_calloc(maxb ? maxb : 1, sizeof *seqs);
    if (!seqs) return SCFM_ENOMEM;
    int rc = SCFM_OK, K = scfm_dist_size(), R = scfm_dist_rank();
    for (size_t k = (size_t)R; k < e->n_batches && !rc; k += (size_t)K) {
        if ((rc = pack_eval_batch(e, k, d, mp, seed, b, seqs, m->cfg.genecompass.enabled))) break;
        scfm_bert_input mb = {.B = b->B, .offs = b->offs, .ids = b->ids, .pos = b->pos, .n_mlm = b->n_masked,
                         .mlm_rows = b->mrows, .mlm_labels = b->labels};
        pt_genecompass_input(m, b, &mb);
        float loss = 0;
        if (b->n_masked == 0) continue;
        if ((rc = scfm_model_forward(m, &mb, 0, 0, &loss))) break;
        size_t rows = 0, V = 0;
        const float *logits = scfm_model_logits(m, &rows, &V);
        if (!logits || rows != b->n_masked) { rc = scfm_error(SCFM_EINVAL, "eval: model gave no MLM logits"); break; }
        score(logits, V, scfm_model_values(m), b, e, acc);
        acc[4] += (double)loss * (double)b->n_masked;
        acc[5] += (double)b->n_masked;
    }
    free(seqs);
    rc = scfm_dist_agree(rc);
    if (rc || (rc = scfm_dist_allreduce_f64(acc, 16))) return rc;
    double n = acc[5] > 0 ? acc[5] : NAN;
    *res = (pt_eval_result){.loss = acc[4] / n, .top1 = acc[0] / n, .top10 = acc[1] / n,
                            .base_top1 = e->base ? acc[2] / n : NAN, .base_top10 = e->base ? acc[3] / n : NAN,
                            .n_masked = acc[5], .value_mse = acc[7] > 0 ? acc[6] / acc[7] : NAN};
    for (int s = 0; s < 2; s++) {
        const double *a = acc + 8 + 4 * s;
        double ns = a[3] > 0 ? a[3] : NAN;
        res->sp_top1[s] = a[0] / ns;
        res->sp_top10[s] = a[1] / ns;
        res->sp_mse[s] = acc[7] > 0 ? a[2] / ns : NAN;
        res->sp_n[s] = a[3];
    }
    return SCFM_OK;
}
