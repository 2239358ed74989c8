/* Statistics for the analysis commands: rank-sum tests (scipy's ranksums and mannwhitneyu
 * asymptotic), Benjamini-Hochberg FDR, cosine similarity, classification metrics and
 * stratified splits. See include/scfm/analysis.h for the exact definitions. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "scfm/analysis.h"
#include "scfm/rng.h"

typedef struct {
    double v;
    size_t i;
} vi_pair;

static int cmp_vi(const void *a, const void *b) {
    const vi_pair *x = a, *y = b;
    if (x->v < y->v) return -1;
    if (x->v > y->v) return 1;
    return (x->i > y->i) - (x->i < y->i);
}

double scfm_normal_two_sided_p(double z) {
    double p = erfc(fabs(z) / sqrt(2.0));
    return p > 1.0 ? 1.0 : p;
}

int scfm_rankdata(const double *v, size_t n, double *ranks, double *tie_term) {
    if (tie_term) *tie_term = 0;
    if (n == 0) return SCFM_OK;
    size_t bytes;
    if (scfm_mul_size(n, sizeof(vi_pair), &bytes)) return scfm_error(SCFM_ENOMEM, "rankdata: %zu values overflow", n);
    vi_pair *s = scfm_malloc(bytes);
    if (!s) return SCFM_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (isnan(v[i])) {
            free(s);
            return scfm_error(SCFM_EINVAL, "rankdata: value %zu is NaN", i);
        }
        s[i].v = v[i];
        s[i].i = i;
    }
    qsort(s, n, sizeof *s, cmp_vi);
    double tt = 0;
    for (size_t a = 0; a < n;) {
        size_t b = a + 1;
        while (b < n && s[b].v == s[a].v) b++;
        /* positions a..b-1 (0-based) have ranks a+1..b: mean (a+1+b)/2 */
        double r = 0.5 * ((double)a + 1.0 + (double)b);
        for (size_t k = a; k < b; k++) ranks[s[k].i] = r;
        double t = (double)(b - a);
        tt += t * t * t - t;
        a = b;
    }
    free(s);
    if (tie_term) *tie_term = tt;
    return SCFM_OK;
}

int scfm_ranksum_test(const double *x, size_t nx, const double *y, size_t ny, scfm_ranksum_kind kind,
                      double *stat, double *z_out, double *p_out) {
    if (nx == 0 || ny == 0) return scfm_error(SCFM_EINVAL, "rank-sum test: empty sample (%zu vs %zu values)", nx, ny);
    size_t n, bytes;
    if (scfm_add_size(nx, ny, &n) || scfm_mul_size(n, 2 * sizeof(double), &bytes))
        return scfm_error(SCFM_ENOMEM, "rank-sum test: sizes overflow");
    double *all = scfm_malloc(bytes);
    if (!all) return SCFM_ENOMEM;
    double *ranks = all + n;
    memcpy(all, x, nx * sizeof *x);
    memcpy(all + nx, y, ny * sizeof *y);
    double tie = 0;
    int rc = scfm_rankdata(all, n, ranks, &tie);
    if (rc) {
        free(all);
        return scfm_error_prefix(rc, "rank-sum test");
    }
    double r1 = 0;
    for (size_t i = 0; i < nx; i++) r1 += ranks[i];
    free(all);
    double n1 = (double)nx, n2 = (double)ny, nn = (double)n;
    double st, z, p;
    if (kind == SCFM_RANKSUM_SCIPY_RANKSUMS) {
        double expected = n1 * (nn + 1.0) / 2.0;
        double sd = sqrt(n1 * n2 * (nn + 1.0) / 12.0);
        z = (r1 - expected) / sd;
        p = scfm_normal_two_sided_p(z);
        st = z;
    } else if (kind == SCFM_RANKSUM_MWU || kind == SCFM_RANKSUM_MWU_CC) {
        double u1 = r1 - n1 * (n1 + 1.0) / 2.0, u2 = n1 * n2 - u1;
        double u = u1 > u2 ? u1 : u2, mu = n1 * n2 / 2.0;
        double s = sqrt(n1 * n2 / 12.0 * ((nn + 1.0) - tie / (nn * (nn - 1.0))));
        st = u1;
        if (!(s > 0)) {
            z = 0;
            p = 1;
        } else {
            double num = u - mu - (kind == SCFM_RANKSUM_MWU_CC ? 0.5 : 0.0);
            double zz = num / s; /* scipy's z: for U = max(U1, U2) */
            p = erfc(zz / sqrt(2.0));
            if (p > 1) p = 1;
            if (p < 0) p = 0;
            z = (u1 - mu) / s; /* signed, x relative to y */
        }
    } else {
        return scfm_error(SCFM_EINVAL, "rank-sum test: unknown kind %d", (int)kind);
    }
    if (stat) *stat = st;
    if (z_out) *z_out = z;
    if (p_out) *p_out = p;
    return SCFM_OK;
}

int scfm_fdr_bh(const double *p, size_t n, double *q) {
    if (n == 0) return SCFM_OK;
    size_t bytes;
    if (scfm_mul_size(n, sizeof(vi_pair), &bytes)) return scfm_error(SCFM_ENOMEM, "FDR: %zu p-values overflow", n);
    for (size_t i = 0; i < n; i++)
        if (!(p[i] >= 0 && p[i] <= 1)) return scfm_error(SCFM_EINVAL, "FDR: p-value %zu is %g (not in [0, 1])", i, p[i]);
    vi_pair *s = scfm_malloc(bytes);
    if (!s) return SCFM_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        s[i].v = p[i];
        s[i].i = i;
    }
    qsort(s, n, sizeof *s, cmp_vi);
    double m = (double)n, run = INFINITY;
    for (size_t k = n; k-- > 0;) {
        double adj = s[k].v * (m / (double)(k + 1)); /* scipy: ps *= m / i */
        if (adj < run) run = adj;
        s[k].v = run;
    }
    for (size_t k = 0; k < n; k++) q[s[k].i] = s[k].v > 1 ? 1 : (s[k].v < 0 ? 0 : s[k].v);
    free(s);
    return SCFM_OK;
}

double scfm_cosine(const float *x, const float *y, size_t n) {
    double xy = 0, xx = 0, yy = 0;
    for (size_t i = 0; i < n; i++) {
        xy += (double)x[i] * y[i];
        xx += (double)x[i] * x[i];
        yy += (double)y[i] * y[i];
    }
    double d = sqrt(xx) * sqrt(yy);
    return xy / (d > 1e-8 ? d : 1e-8);
}

double scfm_cosine_d(const double *x, const double *y, size_t n) {
    double xy = 0, xx = 0, yy = 0;
    for (size_t i = 0; i < n; i++) {
        xy += x[i] * y[i];
        xx += x[i] * x[i];
        yy += y[i] * y[i];
    }
    double d = sqrt(xx) * sqrt(yy);
    return xy / (d > 1e-8 ? d : 1e-8);
}

int scfm_cls_metrics_compute(const int32_t *truth, const int32_t *pred, size_t n, size_t C,
                             scfm_cls_metrics *out, size_t *confusion, double *precision,
                             double *recall, double *f1, size_t *support) {
    if (n == 0 || C == 0) return scfm_error(SCFM_EINVAL, "metrics: %zu samples, %zu classes", n, C);
    size_t cc;
    if (scfm_mul_size(C, C, &cc) || scfm_mul_size(cc, sizeof(size_t), &cc))
        return scfm_error(SCFM_ENOMEM, "metrics: %zu classes overflow", C);
    for (size_t i = 0; i < n; i++)
        if (truth[i] < 0 || (size_t)truth[i] >= C || pred[i] < 0 || (size_t)pred[i] >= C)
            return scfm_error(SCFM_EINVAL, "metrics: sample %zu has label %d / prediction %d outside [0, %zu)", i,
                              (int)truth[i], (int)pred[i], C);
    size_t *cm = confusion ? confusion : scfm_calloc(C * C, sizeof(size_t));
    if (!cm) return SCFM_ENOMEM;
    if (confusion) memset(cm, 0, C * C * sizeof *cm);
    size_t correct = 0;
    for (size_t i = 0; i < n; i++) {
        cm[(size_t)truth[i] * C + (size_t)pred[i]]++;
        correct += truth[i] == pred[i];
    }
    double fsum = 0;
    size_t present = 0;
    for (size_t c = 0; c < C; c++) {
        size_t tp = cm[c * C + c], row = 0, col = 0;
        for (size_t k = 0; k < C; k++) {
            row += cm[c * C + k];
            col += cm[k * C + c];
        }
        double pr = col ? (double)tp / (double)col : 0, rc = row ? (double)tp / (double)row : 0;
        double f = pr + rc > 0 ? 2 * pr * rc / (pr + rc) : 0;
        if (precision) precision[c] = pr;
        if (recall) recall[c] = rc;
        if (f1) f1[c] = f;
        if (support) support[c] = row;
        if (row || col) {
            present++;
            fsum += f;
        }
    }
    if (!confusion) free(cm);
    if (out) {
        out->n = n;
        out->n_classes = C;
        out->n_present = present;
        out->accuracy = (double)correct / (double)n;
        out->macro_f1 = present ? fsum / (double)present : 0;
    }
    return SCFM_OK;
}

int scfm_stratified_split(const int32_t *labels, size_t n, size_t C, double val_frac, double test_frac,
                          uint64_t seed, int8_t *split) {
    if (!(val_frac >= 0 && test_frac >= 0 && val_frac + test_frac <= 1.0))
        return scfm_error(SCFM_EINVAL, "split: fractions %g (validation) and %g (test) must be >= 0 and sum to <= 1",
                          val_frac, test_frac);
    for (size_t i = 0; i < n; i++)
        if (labels[i] < -1 || (labels[i] >= 0 && (size_t)labels[i] >= C))
            return scfm_error(SCFM_EINVAL, "split: cell %zu has label %d outside [0, %zu)", i, (int)labels[i], C);
    size_t *idx = scfm_calloc(n ? n : 1, sizeof *idx);
    if (!idx) return SCFM_ENOMEM;
    scfm_rng rng;
    scfm_rng_seed(&rng, seed);
    for (size_t i = 0; i < n; i++) split[i] = -1;
    for (size_t c = 0; c < C; c++) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (labels[i] == (int32_t)c) idx[m++] = i;
        if (!m) continue;
        for (size_t i = m; i > 1; i--) { /* Fisher-Yates */
            size_t j = (size_t)scfm_rng_below(&rng, i);
            size_t t = idx[i - 1];
            idx[i - 1] = idx[j];
            idx[j] = t;
        }
        size_t nv = (size_t)floor((double)m * val_frac + 0.5), nt = (size_t)floor((double)m * test_frac + 0.5);
        if (nv > m) nv = m;
        if (nt > m) nt = m;
        while (nv + nt > m - 1) {
            if (nt > 0 && nt >= nv) nt--;
            else nv--;
        }
        for (size_t k = 0; k < m; k++) split[idx[k]] = (int8_t)(k < nv ? 1 : (k < nv + nt ? 2 : 0));
    }
    free(idx);
    return SCFM_OK;
}
