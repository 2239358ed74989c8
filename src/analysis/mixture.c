/* Two-component 1-D Gaussian mixture by EM (Geneformer's mixture_model statistics mode,
 * which uses scikit-learn's GaussianMixture). See include/scfm/analysis.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "scfm/analysis.h"

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* M-step from responsibilities r[n] of component 1 (component 0: 1 - r). */
static void m_step(const double *x, const double *r, size_t n, double reg, scfm_gmm2 *g) {
    double w[2] = {0, 0}, s[2] = {0, 0}, q[2] = {0, 0};
    for (size_t i = 0; i < n; i++) {
        double p[2] = {1 - r[i], r[i]};
        for (int k = 0; k < 2; k++) { w[k] += p[k]; s[k] += p[k] * x[i]; }
    }
    for (int k = 0; k < 2; k++) g->mean[k] = w[k] > 0 ? s[k] / w[k] : 0;
    for (size_t i = 0; i < n; i++) {
        double p[2] = {1 - r[i], r[i]};
        for (int k = 0; k < 2; k++) q[k] += p[k] * (x[i] - g->mean[k]) * (x[i] - g->mean[k]);
    }
    for (int k = 0; k < 2; k++) {
        g->var[k] = (w[k] > 0 ? q[k] / w[k] : 0) + reg;
        g->weight[k] = w[k] / (double)n;
    }
}

/* E-step: r[i] = P(component 1 | x_i); returns the mean log-likelihood. */
static double e_step(const double *x, size_t n, const scfm_gmm2 *g, double *r) {
    double ll = 0;
    for (size_t i = 0; i < n; i++) {
        double lp[2];
        for (int k = 0; k < 2; k++) {
            double d = x[i] - g->mean[k];
            lp[k] = log(g->weight[k]) - 0.5 * (log(2 * M_PI * g->var[k]) + d * d / g->var[k]);
        }
        double mx = lp[0] > lp[1] ? lp[0] : lp[1];
        double lse = mx + log(exp(lp[0] - mx) + exp(lp[1] - mx));
        r[i] = exp(lp[1] - lse);
        ll += lse;
    }
    return ll / (double)n;
}

int scfm_gmm2_fit(const double *x, size_t n, double reg_covar, double tol, size_t max_iter, scfm_gmm2 *g, double *resp) {
    if (n < 2) return scfm_error(SCFM_EINVAL, "mixture model: %zu values; at least 2 are needed", n);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return scfm_error(SCFM_EINVAL, "mixture model: value %zu is not finite", i);
    double *sorted = scfm_calloc(n, sizeof *sorted), *r = resp ? resp : scfm_calloc(n, sizeof *r);
    if (!sorted || !r) { free(sorted); if (!resp) free(r); return SCFM_ENOMEM; }
    memcpy(sorted, x, n * sizeof *x);
    qsort(sorted, n, sizeof *sorted, cmp_d);
    /* exact 1-D 2-means: the contiguous split of the sorted values with the least within-SS */
    double tot = 0, tot2 = 0, left = 0, left2 = 0, best = INFINITY, cut = sorted[0];
    for (size_t i = 0; i < n; i++) { tot += sorted[i]; tot2 += sorted[i] * sorted[i]; }
    for (size_t k = 1; k < n; k++) {
        left += sorted[k - 1];
        left2 += sorted[k - 1] * sorted[k - 1];
        double nl = (double)k, nr = (double)(n - k), right = tot - left, right2 = tot2 - left2;
        double ss = (left2 - left * left / nl) + (right2 - right * right / nr);
        if (ss < best && sorted[k] > sorted[k - 1]) { best = ss; cut = 0.5 * (sorted[k - 1] + sorted[k]); }
    }
    for (size_t i = 0; i < n; i++) r[i] = x[i] > cut ? 1.0 : 0.0;
    m_step(x, r, n, reg_covar, g);
    double prev = -INFINITY;
    g->n_iter = 0;
    g->converged = 0;
    for (size_t it = 0; it < max_iter; it++) {
        double ll = e_step(x, n, g, r);
        g->n_iter = it + 1;
        g->log_likelihood = ll;
        if (fabs(ll - prev) < tol) { g->converged = 1; break; }
        prev = ll;
        m_step(x, r, n, reg_covar, g);
    }
    g->log_likelihood = e_step(x, n, g, r); /* responsibilities of the final parameters */
    g->impact = fabs(g->mean[1]) >= fabs(g->mean[0]) ? 1 : 0;
    free(sorted);
    if (!resp) free(r);
    return SCFM_OK;
}
