/* 2-D maps of embeddings: PCA (cyclic Jacobi on the covariance) then t-SNE (sparse kNN P,
 * exact repulsion). Definitions and the reasons for t-SNE: include/scfm/embedmap.h.
 * Determinism: every parallel loop writes only its own rows, and every sum over rows is
 * made serially in row order afterwards, so results do not depend on the thread count. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "scfm/embedmap.h"
#include "scfm/rng.h"

void scfm_map_opts_init(scfm_map_opts *o) {
    memset(o, 0, sizeof *o);
    o->pca_dims = 50;
    o->perplexity = 30.0;
    o->n_iter = 1000;
    o->exaggeration_iter = 250;
    o->early_exaggeration = 12.0;
    o->seed = 0;
}

/* ---- PCA -------------------------------------------------------------------------------- */

/* Eigen-decomposition of the symmetric a[d*d] (destroyed) by cyclic Jacobi rotations:
 * eigenvalues in w[d], eigenvectors as the columns of v[d*d]. */
static int jacobi_eigen(double *a, size_t d, double *w, double *v) {
    for (size_t i = 0; i < d; i++)
        for (size_t j = 0; j < d; j++) v[i * d + j] = i == j;
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0, diag = 0;
        for (size_t i = 0; i < d; i++) {
            diag += a[i * d + i] * a[i * d + i];
            for (size_t j = i + 1; j < d; j++) off += a[i * d + j] * a[i * d + j];
        }
        if (off <= 1e-30 * (diag > 0 ? diag : 1) || off == 0) break;
        for (size_t p = 0; p < d; p++)
            for (size_t q = p + 1; q < d; q++) {
                double apq = a[p * d + q];
                if (apq == 0) continue;
                double app = a[p * d + p], aqq = a[q * d + q];
                double theta = (aqq - app) / (2 * apq);
                double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (size_t k = 0; k < d; k++) { /* columns p, q */
                    double akp = a[k * d + p], akq = a[k * d + q];
                    a[k * d + p] = c * akp - s * akq;
                    a[k * d + q] = s * akp + c * akq;
                }
                for (size_t k = 0; k < d; k++) { /* rows p, q */
                    double apk = a[p * d + k], aqk = a[q * d + k];
                    a[p * d + k] = c * apk - s * aqk;
                    a[q * d + k] = s * apk + c * aqk;
                }
                a[p * d + q] = a[q * d + p] = 0;
                for (size_t k = 0; k < d; k++) {
                    double vkp = v[k * d + p], vkq = v[k * d + q];
                    v[k * d + p] = c * vkp - s * vkq;
                    v[k * d + q] = s * vkp + c * vkq;
                }
            }
    }
    for (size_t i = 0; i < d; i++) w[i] = a[i * d + i];
    return SCFM_OK;
}

int scfm_pca(const float *x, size_t n, size_t d, size_t k, double *scores, double *var) {
    if (!x || !scores || n < 2 || d == 0 || k == 0 || k > d || k > n)
        return scfm_error(SCFM_EINVAL, "pca: need at least 2 rows and 1 <= k <= min(rows, dims) (n %zu, d %zu, k %zu)", n, d, k);
    size_t dd;
    if (scfm_mul_size(d, d, &dd)) return scfm_error(SCFM_ENOMEM, "pca: %zu dims too many", d);
    double *mean = scfm_calloc(d, sizeof *mean), *cov = scfm_calloc(dd, sizeof *cov);
    double *vec = scfm_calloc(dd, sizeof *vec), *w = scfm_calloc(d, sizeof *w);
    size_t *order = scfm_calloc(d, sizeof *order);
    int rc = SCFM_OK;
    if (!mean || !cov || !vec || !w || !order) { rc = SCFM_ENOMEM; goto done; }
    for (size_t j = 0; j < d; j++) {
        double s = 0;
        for (size_t i = 0; i < n; i++) s += x[i * d + j];
        mean[j] = s / (double)n;
        if (!isfinite(mean[j])) { rc = scfm_error(SCFM_EDATA, "pca: column %zu holds a non-finite value", j); goto done; }
    }
#pragma omp parallel for schedule(dynamic, 4)
    for (size_t a = 0; a < d; a++)
        for (size_t b = a; b < d; b++) {
            double s = 0;
            for (size_t i = 0; i < n; i++) s += ((double)x[i * d + a] - mean[a]) * ((double)x[i * d + b] - mean[b]);
            cov[a * d + b] = cov[b * d + a] = s / (double)(n - 1);
        }
    jacobi_eigen(cov, d, w, vec);
    for (size_t j = 0; j < d; j++) order[j] = j;
    for (size_t i = 1; i < d; i++) { /* insertion sort by eigenvalue, descending; ties by index */
        size_t o = order[i], j = i;
        while (j > 0 && w[order[j - 1]] < w[o]) { order[j] = order[j - 1]; j--; }
        order[j] = o;
    }
    for (size_t c = 0; c < k; c++) {
        size_t e = order[c];
        double best = 0;
        for (size_t i = 0; i < n; i++) {
            double s = 0;
            for (size_t j = 0; j < d; j++) s += ((double)x[i * d + j] - mean[j]) * vec[j * d + e];
            scores[i * k + c] = s;
            if (fabs(s) > fabs(best)) best = s;
        }
        if (best < 0)
            for (size_t i = 0; i < n; i++) scores[i * k + c] = -scores[i * k + c];
        if (var) var[c] = w[e] > 0 ? w[e] : 0;
    }
done:
    free(mean), free(cov), free(vec), free(w), free(order);
    return rc;
}

/* ---- t-SNE ------------------------------------------------------------------------------ */

typedef struct { double d; size_t j; } nb;

static int nb_less(const nb *a, const nb *b) { return a->d < b->d || (a->d == b->d && a->j < b->j); }

/* max-heap of the k best (smallest) neighbours */
static void heap_push(nb *h, size_t *len, size_t k, nb v) {
    if (*len < k) {
        size_t i = (*len)++;
        h[i] = v;
        while (i > 0 && nb_less(&h[(i - 1) / 2], &h[i])) {
            nb t = h[i]; h[i] = h[(i - 1) / 2]; h[(i - 1) / 2] = t;
            i = (i - 1) / 2;
        }
    } else if (nb_less(&v, &h[0])) {
        h[0] = v;
        size_t i = 0;
        for (;;) {
            size_t l = 2 * i + 1, r = l + 1, m = i;
            if (l < k && nb_less(&h[m], &h[l])) m = l;
            if (r < k && nb_less(&h[m], &h[r])) m = r;
            if (m == i) break;
            nb t = h[i]; h[i] = h[m]; h[m] = t;
            i = m;
        }
    }
}

static int nb_cmp(const void *a, const void *b) {
    const nb *x = a, *y = b;
    return nb_less(x, y) ? -1 : nb_less(y, x) ? 1 : 0;
}

/* conditional p_j|i over the k neighbours dist[k] (squared), as sklearn's
 * _binary_search_perplexity */
static void perplexity_row(const nb *row, size_t k, double perplexity, double *p) {
    double beta = 1, beta_min = -INFINITY, beta_max = INFINITY, target = log(perplexity);
    for (int it = 0; it < 100; it++) {
        double sum = 0;
        for (size_t j = 0; j < k; j++) sum += p[j] = exp(-row[j].d * beta);
        if (sum == 0) sum = 1e-8;
        double sd = 0;
        for (size_t j = 0; j < k; j++) { p[j] /= sum; sd += row[j].d * p[j]; }
        double diff = log(sum) + beta * sd - target;
        if (fabs(diff) <= 1e-5) break;
        if (diff > 0) { beta_min = beta; beta = beta_max == INFINITY ? beta * 2 : (beta + beta_max) / 2; }
        else { beta_max = beta; beta = beta_min == -INFINITY ? beta / 2 : (beta + beta_min) / 2; }
    }
}

typedef struct { size_t i, j; double p; } trip;

static int trip_cmp(const void *a, const void *b) {
    const trip *x = a, *y = b;
    if (x->i != y->i) return x->i < y->i ? -1 : 1;
    if (x->j != y->j) return x->j < y->j ? -1 : 1;
    return 0;
}

/* Symmetric sparse P in CSR (rowptr[n+1], col, val), summing to 1. */
static int build_p(const double *x, size_t n, size_t d, double perplexity, size_t **rowptr_out, size_t **col_out,
                   double **val_out) {
    size_t k = (size_t)(3 * perplexity + 1);
    if (k > n - 1) k = n - 1;
    nb *nbr = scfm_malloc(n * k * sizeof *nbr);
    double *cp = scfm_malloc(n * k * sizeof *cp);
    trip *t = scfm_malloc(2 * n * k * sizeof *t);
    size_t *rowptr = scfm_calloc(n + 1, sizeof *rowptr), *col = NULL;
    double *val = NULL;
    int rc = SCFM_OK;
    if (!nbr || !cp || !t || !rowptr) { rc = SCFM_ENOMEM; goto fail; }
#pragma omp parallel for schedule(dynamic, 16)
    for (size_t i = 0; i < n; i++) {
        nb *h = nbr + i * k;
        size_t len = 0;
        for (size_t j = 0; j < n; j++) {
            if (j == i) continue;
            double s = 0;
            for (size_t c = 0; c < d; c++) {
                double diff = x[i * d + c] - x[j * d + c];
                s += diff * diff;
            }
            heap_push(h, &len, k, (nb){s, j});
        }
        qsort(h, k, sizeof *h, nb_cmp);
        perplexity_row(h, k, perplexity, cp + i * k);
    }
    for (size_t i = 0; i < n; i++)
        for (size_t a = 0; a < k; a++) {
            t[2 * (i * k + a)] = (trip){i, nbr[i * k + a].j, cp[i * k + a]};
            t[2 * (i * k + a) + 1] = (trip){nbr[i * k + a].j, i, cp[i * k + a]};
        }
    size_t m = 2 * n * k, u = 0;
    qsort(t, m, sizeof *t, trip_cmp);
    for (size_t a = 0; a < m; a++) { /* merge duplicates (at most two per pair: a + b is exact in either order) */
        if (u && t[u - 1].i == t[a].i && t[u - 1].j == t[a].j) t[u - 1].p += t[a].p;
        else t[u++] = t[a];
    }
    col = scfm_malloc(u * sizeof *col);
    val = scfm_malloc(u * sizeof *val);
    if (!col || !val) { rc = SCFM_ENOMEM; goto fail; }
    double total = 0;
    for (size_t a = 0; a < u; a++) total += t[a].p;
    if (!(total > 0)) total = DBL_MIN;
    for (size_t a = 0; a < u; a++) {
        rowptr[t[a].i + 1]++;
        col[a] = t[a].j;
        val[a] = t[a].p / total;
    }
    for (size_t i = 0; i < n; i++) rowptr[i + 1] += rowptr[i];
    free(nbr), free(cp), free(t);
    *rowptr_out = rowptr, *col_out = col, *val_out = val;
    return SCFM_OK;
fail:
    free(nbr), free(cp), free(t), free(rowptr), free(col), free(val);
    return rc;
}

/* Gradient of KL(exag * P || Q) into g[n*2]; per-row repulsion and Z partial sums. Returns Z. */
static double gradient(const double *y, size_t n, const size_t *rowptr, const size_t *col, const double *val,
                       double exag, double *g, double *zrow, double *rep) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        double yi0 = y[2 * i], yi1 = y[2 * i + 1], z = 0, r0 = 0, r1 = 0;
        for (size_t j = 0; j < n; j++) {
            if (j == i) continue;
            double d0 = yi0 - y[2 * j], d1 = yi1 - y[2 * j + 1];
            double w = 1 / (1 + d0 * d0 + d1 * d1);
            z += w;
            r0 += w * w * d0;
            r1 += w * w * d1;
        }
        double a0 = 0, a1 = 0;
        for (size_t e = rowptr[i]; e < rowptr[i + 1]; e++) {
            size_t j = col[e];
            double d0 = yi0 - y[2 * j], d1 = yi1 - y[2 * j + 1];
            double w = 1 / (1 + d0 * d0 + d1 * d1);
            a0 += exag * val[e] * w * d0;
            a1 += exag * val[e] * w * d1;
        }
        zrow[i] = z;
        rep[2 * i] = r0, rep[2 * i + 1] = r1;
        g[2 * i] = a0, g[2 * i + 1] = a1;
    }
    double Z = 0;
    for (size_t i = 0; i < n; i++) Z += zrow[i];
    if (!(Z > 0)) Z = DBL_MIN;
    for (size_t i = 0; i < 2 * n; i++) g[i] = 4 * (g[i] - rep[i] / Z);
    return Z;
}

int scfm_tsne(const double *x, size_t n, size_t d, const double *init, const scfm_map_opts *o, double *y,
              double *kl) {
    if (!x || !y || !o || n < 4 || d == 0) return scfm_error(SCFM_EINVAL, "t-SNE: need at least 4 points (got %zu)", n);
    double perp = o->perplexity;
    if (!(perp > 0)) return scfm_error(SCFM_EINVAL, "t-SNE: perplexity must be positive");
    if (perp > (double)(n - 1) / 3) perp = (double)(n - 1) / 3;
    if (perp < 1) perp = 1;
    if (!(o->early_exaggeration > 0) || o->learning_rate < 0)
        return scfm_error(SCFM_EINVAL, "t-SNE: early exaggeration must be positive and the learning rate >= 0");
    for (size_t i = 0; i < n * d; i++)
        if (!isfinite(x[i])) return scfm_error(SCFM_EDATA, "t-SNE: row %zu holds a non-finite value", i / d);
    size_t *rowptr = NULL, *col = NULL;
    double *val = NULL;
    int rc = build_p(x, n, d, perp, &rowptr, &col, &val);
    if (rc) return rc;
    double *g = scfm_malloc(2 * n * sizeof *g), *upd = scfm_calloc(2 * n, sizeof *upd);
    double *gain = scfm_malloc(2 * n * sizeof *gain), *zrow = scfm_malloc(n * sizeof *zrow);
    double *rep = scfm_malloc(2 * n * sizeof *rep);
    if (!g || !upd || !gain || !zrow || !rep) { rc = SCFM_ENOMEM; goto done; }
    if (init) memcpy(y, init, 2 * n * sizeof *y);
    else {
        scfm_rng r;
        scfm_rng_seed(&r, o->seed);
        for (size_t i = 0; i < 2 * n; i++) y[i] = 1e-4 * scfm_rng_normal(&r);
    }
    for (size_t i = 0; i < 2 * n; i++) gain[i] = 1;
    double lr = o->learning_rate > 0 ? o->learning_rate : (double)n / o->early_exaggeration / 4;
    if (o->learning_rate <= 0 && lr < 50) lr = 50;
    for (size_t it = 0; it < o->n_iter; it++) {
        int early = it < o->exaggeration_iter;
        double mom = early ? 0.5 : 0.8;
        gradient(y, n, rowptr, col, val, early ? o->early_exaggeration : 1.0, g, zrow, rep);
        for (size_t i = 0; i < 2 * n; i++) {
            if (upd[i] * g[i] < 0) gain[i] += 0.2;
            else gain[i] *= 0.8;
            if (gain[i] < 0.01) gain[i] = 0.01;
            upd[i] = mom * upd[i] - lr * gain[i] * g[i];
            y[i] += upd[i];
        }
    }
    if (kl) {
        double Z = gradient(y, n, rowptr, col, val, 1.0, g, zrow, rep), s = 0;
        for (size_t i = 0; i < n; i++)
            for (size_t e = rowptr[i]; e < rowptr[i + 1]; e++) {
                size_t j = col[e];
                double d0 = y[2 * i] - y[2 * j], d1 = y[2 * i + 1] - y[2 * j + 1];
                double q = 1 / (1 + d0 * d0 + d1 * d1) / Z;
                if (val[e] > 0) s += val[e] * log(val[e] / (q > DBL_MIN ? q : DBL_MIN));
            }
        *kl = s;
    }
    for (size_t i = 0; i < 2 * n; i++)
        if (!isfinite(y[i])) { rc = scfm_error(SCFM_EDATA, "t-SNE: the layout diverged (try a lower learning rate)"); break; }
done:
    free(rowptr), free(col), free(val), free(g), free(upd), free(gain), free(zrow), free(rep);
    return rc;
}

int scfm_embed_map(const float *x, size_t n, size_t d, const scfm_map_opts *o, double *y, double *kl) {
    if (!x || !y || !o || n < 4 || d == 0) return scfm_error(SCFM_EINVAL, "2-D map: need at least 4 cells (got %zu)", n);
    size_t k = o->pca_dims ? o->pca_dims : d;
    if (k > d) k = d;
    if (k > n) k = n;
    size_t cols = o->pca_dims ? k : d;
    if (cols < 2) cols = 2;
    double *s = scfm_calloc(n * cols, sizeof *s), *init = scfm_malloc(2 * n * sizeof *init);
    int rc = s && init ? SCFM_OK : SCFM_ENOMEM;
    if (!rc && o->pca_dims) rc = scfm_pca(x, n, d, k, s, NULL);
    else if (!rc)
        for (size_t i = 0; i < n * d; i++) s[i] = x[i];
    if (!rc && !o->init_random) {
        double *pc = s;
        double *tmp = NULL;
        if (!o->pca_dims || k < 2) { /* PCA of the input just for the init */
            tmp = scfm_calloc(2 * n, sizeof *tmp);
            if (!tmp) rc = SCFM_ENOMEM;
            else if (d >= 2) rc = scfm_pca(x, n, d, 2, tmp, NULL);
            pc = tmp;
        }
        size_t stride = pc == s ? k : 2;
        double m = 0, v = 0;
        for (size_t i = 0; !rc && i < n; i++) m += pc[i * stride];
        m /= (double)n;
        for (size_t i = 0; !rc && i < n; i++) v += (pc[i * stride] - m) * (pc[i * stride] - m);
        double sd = sqrt(v / (double)n);
        if (!(sd > 0)) sd = 1;
        for (size_t i = 0; !rc && i < n; i++) {
            init[2 * i] = pc[i * stride] / sd * 1e-4;
            init[2 * i + 1] = (stride > 1 ? pc[i * stride + 1] : 0) / sd * 1e-4;
        }
        free(tmp);
    }
    if (!rc) rc = scfm_tsne(s, n, o->pca_dims ? k : d, o->init_random ? NULL : init, o, y, kl);
    free(s), free(init);
    return rc;
}
