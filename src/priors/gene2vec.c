/* gene2vec: skip-gram with negative sampling over gene pairs (word2vec's update rule), and
 * the gene -> vector table files. One thread, so the vectors depend only on the pairs, the
 * options and the seed. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scfm/priors.h"
#include "scfm/rng.h"

void scfm_gene2vec_opts_init(scfm_gene2vec_opts *o) {
    memset(o, 0, sizeof *o);
    o->dim = 768;
    o->epochs = 30;
    o->negative = 5;
    o->lr = 0.025;
}

static double log_sigmoid(double x) { return x >= 0 ? -log1p(exp(-x)) : x - log1p(exp(x)); }

int scfm_gene2vec_train(const scfm_pairs *p, const scfm_gene2vec_opts *o, float *vec, double *loss) {
    if (!o->dim) return scfm_error(SCFM_EINVAL, "gene2vec: the vector width is 0");
    if (!o->epochs) return scfm_error(SCFM_EINVAL, "gene2vec: 0 epochs");
    if (!o->negative) return scfm_error(SCFM_EINVAL, "gene2vec: 0 negative samples");
    if (!(o->lr > 0)) return scfm_error(SCFM_EINVAL, "gene2vec: learning rate %g is not positive", o->lr);
    if (!p->n || p->n_genes < 2) return scfm_error(SCFM_EINVAL, "gene2vec: the pair list is empty");
    size_t G = p->n_genes, D = o->dim, gd;
    if (scfm_mul_size(G, D, &gd)) return scfm_error(SCFM_ENOMEM, "gene2vec: %zu genes x %zu is too large", G, D);
    float *out = scfm_calloc(gd, sizeof *out), *grad = scfm_malloc(D * sizeof *grad);
    double *cdf = scfm_calloc(G, sizeof *cdf);
    size_t *order = scfm_malloc(p->n * sizeof *order);
    if (!out || !grad || !cdf || !order) {
        free(out);
        free(grad);
        free(cdf);
        free(order);
        return SCFM_ENOMEM;
    }
    /* noise distribution: occurrences^0.75, as a cumulative table */
    for (size_t i = 0; i < p->n; i++) {
        cdf[p->a[i]] += 1;
        cdf[p->b[i]] += 1;
    }
    double tot = 0;
    for (size_t g = 0; g < G; g++) {
        tot += pow(cdf[g], 0.75);
        cdf[g] = tot;
    }
    scfm_rng rng;
    scfm_rng_seed(&rng, scfm_hash3(o->seed, 2, 0));
    for (size_t i = 0; i < gd; i++) vec[i] = (scfm_rng_uniform(&rng) - 0.5f) / (float)D;
    double steps = (double)o->epochs * (double)p->n * 2, step = 0;
    for (size_t ep = 0; ep < o->epochs; ep++) {
        scfm_rng_seed(&rng, scfm_hash3(o->seed, 3, ep));
        for (size_t i = 0; i < p->n; i++) order[i] = i;
        for (size_t i = p->n; i > 1; i--) {
            size_t j = (size_t)scfm_rng_below(&rng, i), t = order[i - 1];
            order[i - 1] = order[j];
            order[j] = t;
        }
        double ls = 0;
        for (size_t k = 0; k < p->n; k++) {
            for (int dir = 0; dir < 2; dir++) {
                uint32_t w = dir ? p->b[order[k]] : p->a[order[k]], c = dir ? p->a[order[k]] : p->b[order[k]];
                double lr = o->lr * (1.0 - step / steps);
                if (lr < o->lr * 1e-4) lr = o->lr * 1e-4;
                step++;
                float *vw = vec + (size_t)w * D;
                memset(grad, 0, D * sizeof *grad);
                for (size_t d = 0; d <= o->negative; d++) {
                    uint32_t tgt = c;
                    double label = 1;
                    if (d) {
                        double u = scfm_rng_uniform_d(&rng) * tot;
                        size_t lo = 0, hi = G - 1;
                        while (lo < hi) {
                            size_t mid = (lo + hi) / 2;
                            if (cdf[mid] > u) hi = mid;
                            else lo = mid + 1;
                        }
                        tgt = (uint32_t)lo;
                        if (tgt == c) continue;
                        label = 0;
                    }
                    float *vt = out + (size_t)tgt * D;
                    double f = 0;
                    for (size_t q = 0; q < D; q++) f += (double)vw[q] * vt[q];
                    ls -= label ? log_sigmoid(f) : log_sigmoid(-f);
                    double sg = 1.0 / (1.0 + exp(-f));
                    float gr = (float)((label - sg) * lr);
                    for (size_t q = 0; q < D; q++) {
                        grad[q] += gr * vt[q];
                        vt[q] += gr * vw[q];
                    }
                }
                for (size_t q = 0; q < D; q++) vw[q] += grad[q];
            }
        }
        if (loss) loss[ep] = ls / (2.0 * (double)p->n);
        scfm_log(SCFM_LOG_PROGRESS, "gene2vec: epoch %zu / %zu, loss %.4f", ep + 1, o->epochs, ls / (2.0 * (double)p->n));
    }
    free(out);
    free(grad);
    free(cdf);
    free(order);
    return SCFM_OK;
}

int scfm_prior_table_write(const char *path, const char *const *genes, size_t n, const float *vec, size_t dim) {
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= sizeof tmp)
        return scfm_error(SCFM_EINVAL, "%s: path too long", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return scfm_error(SCFM_EIO, "%s: cannot create: %s", path, strerror(errno));
    fputs("ensembl_id", f);
    for (size_t d = 0; d < dim; d++) fprintf(f, "\t%zu", d);
    fputc('\n', f);
    for (size_t i = 0; i < n; i++) {
        fputs(genes[i], f);
        for (size_t d = 0; d < dim; d++) fprintf(f, "\t%.9g", (double)vec[i * dim + d]);
        fputc('\n', f);
    }
    int ok = !ferror(f);
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        remove(tmp);
        return scfm_error(SCFM_EIO, "%s: write failed: %s", path, strerror(e));
    }
    return SCFM_OK;
}

int scfm_prior_table_read(const char *path, char ***genes_out, size_t *n_out, float **vec_out, size_t *dim_out) {
    *genes_out = NULL;
    *vec_out = NULL;
    *n_out = *dim_out = 0;
    char *d = NULL;
    size_t len;
    int rc = scfm_read_file(path, &d, &len);
    if (rc) return rc;
    size_t cap = 0, n = 0, dim = 0, nv = 0, capv = 0, line = 0;
    char **genes = NULL;
    float *vec = NULL;
    char *s = d;
    while (!rc && *s) {
        char *e = strchr(s, '\n');
        if (e) *e = 0;
        line++;
        char *tab = strchr(s, '\t');
        if (*s && *s != '#' && tab) {
            char *q = tab + 1, *end;
            double first = strtod(q, &end);
            (void)first;
            if (line == 1 && (end == q || !strncmp(s, "ensembl_id\t", 11))) goto next; /* header */
            size_t k = 0;
            for (;;) {
                double v = strtod(q, &end);
                if (end == q || !isfinite(v)) {
                    rc = scfm_error(SCFM_EFORMAT, "%s:%zu: not a number", path, line);
                    break;
                }
                if (nv == capv) {
                    capv = capv ? 2 * capv : 4096;
                    float *nvp = scfm_realloc(vec, capv * sizeof *nvp);
                    if (!nvp) {
                        rc = SCFM_ENOMEM;
                        break;
                    }
                    vec = nvp;
                }
                vec[nv++] = (float)v;
                k++;
                if (*end == '\r') end++;
                if (!*end) break;
                if (*end != '\t') {
                    rc = scfm_error(SCFM_EFORMAT, "%s:%zu: not a number", path, line);
                    break;
                }
                q = end + 1;
            }
            if (rc) break;
            if (!dim) dim = k;
            else if (k != dim) {
                rc = scfm_error(SCFM_EFORMAT, "%s:%zu: %zu values, the first row has %zu", path, line, k, dim);
                break;
            }
            if (n == cap) {
                cap = cap ? 2 * cap : 1024;
                char **ng = scfm_realloc(genes, cap * sizeof *ng);
                if (!ng) {
                    rc = SCFM_ENOMEM;
                    break;
                }
                genes = ng;
            }
            *tab = 0;
            if (!(genes[n] = scfm_strdup(s))) rc = SCFM_ENOMEM;
            else n++;
        }
    next:
        if (!e) break;
        s = e + 1;
    }
    free(d);
    if (!rc && !n) rc = scfm_error(SCFM_EFORMAT, "%s: no gene vectors", path);
    if (rc) {
        for (size_t i = 0; i < n; i++) free(genes[i]);
        free(genes);
        free(vec);
        return rc;
    }
    *genes_out = genes;
    *n_out = n;
    *vec_out = vec;
    *dim_out = dim;
    return SCFM_OK;
}
