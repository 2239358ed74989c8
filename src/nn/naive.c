/* Naive twins of the kernels: single-threaded textbook loops, written independently of the
 * fast paths, used by tests/test_nn.c to check them (and by finite-difference checks). */
#include "scfm/core.h"
#include "scfm/nn.h"
#include "scfm/rng.h"

#include <math.h>
#include <stdlib.h>

void scfm_matmul_forward_naive(float *out, const float *inp, const float *w, const float *bias,
                               size_t N, size_t C, size_t OC) {
    for (size_t n = 0; n < N; n++)
        for (size_t o = 0; o < OC; o++) {
            double s = bias ? bias[o] : 0.0;
            for (size_t c = 0; c < C; c++) s += (double)inp[n * C + c] * w[o * C + c];
            out[n * OC + o] = (float)s;
        }
}

void scfm_matmul_backward_naive(float *dinp, float *dw, float *dbias, const float *dout,
                                const float *inp, const float *w, size_t N, size_t C, size_t OC) {
    for (size_t n = 0; n < N; n++)
        for (size_t o = 0; o < OC; o++) {
            float d = dout[n * OC + o];
            for (size_t c = 0; c < C; c++) {
                if (dinp) dinp[n * C + c] += d * w[o * C + c];
                if (dw) dw[o * C + c] += d * inp[n * C + c];
            }
            if (dbias) dbias[o] += d;
        }
}

void scfm_layernorm_forward_naive(float *out, float *mean, float *rstd, const float *inp,
                                  const float *w, const float *b, size_t N, size_t C, float eps) {
    for (size_t n = 0; n < N; n++) {
        double m = 0.0, v = 0.0;
        for (size_t i = 0; i < C; i++) m += inp[n * C + i];
        m /= (double)C;
        for (size_t i = 0; i < C; i++) v += (inp[n * C + i] - m) * (inp[n * C + i] - m);
        v /= (double)C;
        double rs = 1.0 / sqrt(v + eps);
        for (size_t i = 0; i < C; i++) out[n * C + i] = (float)((inp[n * C + i] - m) * rs * w[i] + b[i]);
        mean[n] = (float)m;
        rstd[n] = (float)rs;
    }
}

void scfm_layernorm_backward_naive(float *dinp, float *dw, float *db, const float *dout,
                                   const float *inp, const float *w, const float *mean,
                                   const float *rstd, size_t N, size_t C) {
    for (size_t n = 0; n < N; n++) {
        /* y_i = xhat_i w_i + b_i, xhat = (x - m) r; dx_j = sum_i dy_i w_i dxhat_i/dx_j */
        for (size_t j = 0; j < C; j++) {
            double g = 0.0;
            for (size_t i = 0; i < C; i++) {
                double xi = (inp[n * C + i] - mean[n]) * rstd[n];
                double xj = (inp[n * C + j] - mean[n]) * rstd[n];
                double jac = rstd[n] * ((i == j ? 1.0 : 0.0) - 1.0 / (double)C - xi * xj / (double)C);
                g += (double)dout[n * C + i] * w[i] * jac;
            }
            if (dinp) dinp[n * C + j] += (float)g;
        }
        for (size_t i = 0; i < C; i++) {
            if (dw) dw[i] += dout[n * C + i] * (inp[n * C + i] - mean[n]) * rstd[n];
            if (db) db[i] += dout[n * C + i];
        }
    }
}

static int keep(float p, uint64_t seed, uint64_t stream, size_t h, size_t N, size_t i, size_t j) {
    return p <= 0.0f || scfm_hash_uniform(seed, stream, ((uint64_t)h * N + i) * N + j) >= p;
}

int scfm_attention_forward_naive(float *out, float *lse, const float *q, const float *k,
                                  const float *v, const size_t *offs, size_t B, size_t NH,
                                  size_t HS, float p_drop, uint64_t seed, uint64_t stream) {
    size_t C = NH * HS, N = offs[B];
    double *p = scfm_malloc((N ? N : 1) * sizeof *p);
    if (!p) return scfm_error_prefix(SCFM_ENOMEM, "naive attention forward");
    for (size_t b = 0; b < B; b++)
        for (size_t h = 0; h < NH; h++)
            for (size_t i = offs[b]; i < offs[b + 1]; i++) {
                double mx = -INFINITY, sum = 0.0;
                for (size_t j = offs[b]; j < offs[b + 1]; j++) {
                    double s = 0.0;
                    for (size_t c = 0; c < HS; c++) s += (double)q[i * C + h * HS + c] * k[j * C + h * HS + c];
                    p[j] = s / sqrt((double)HS);
                    if (p[j] > mx) mx = p[j];
                }
                for (size_t j = offs[b]; j < offs[b + 1]; j++) sum += exp(p[j] - mx);
                lse[h * N + i] = (float)(mx + log(sum));
                for (size_t c = 0; c < HS; c++) {
                    double o = 0.0;
                    for (size_t j = offs[b]; j < offs[b + 1]; j++)
                        if (keep(p_drop, seed, stream, h, N, i, j))
                            o += exp(p[j] - mx) / sum / (1.0 - p_drop) * v[j * C + h * HS + c];
                    out[i * C + h * HS + c] = (float)o;
                }
            }
    scfm_free(p);
    return SCFM_OK;
}

int scfm_attention_backward_naive(float *dq, float *dk, float *dv, const float *dout,
                                   const float *out, const float *lse, const float *q,
                                   const float *k, const float *v, const size_t *offs, size_t B,
                                   size_t NH, size_t HS, float p_drop, uint64_t seed,
                                   uint64_t stream) {
    (void)out;
    size_t C = NH * HS, N = offs[B];
    double *P = scfm_malloc((N ? N : 1) * sizeof *P), *dP = scfm_malloc((N ? N : 1) * sizeof *dP);
    if (!P || !dP) {
        scfm_free(P);
        scfm_free(dP);
        return scfm_error_prefix(SCFM_ENOMEM, "naive attention backward");
    }
    double sc = 1.0 / sqrt((double)HS);
    for (size_t b = 0; b < B; b++)
        for (size_t h = 0; h < NH; h++)
            for (size_t i = offs[b]; i < offs[b + 1]; i++) {
                /* textbook: softmax Jacobian applied explicitly (no D shortcut) */
                for (size_t j = offs[b]; j < offs[b + 1]; j++) {
                    double s = 0.0;
                    for (size_t c = 0; c < HS; c++) s += (double)q[i * C + h * HS + c] * k[j * C + h * HS + c];
                    P[j] = exp(s * sc - lse[h * N + i]);
                    double g = 0.0;
                    for (size_t c = 0; c < HS; c++) g += (double)dout[i * C + h * HS + c] * v[j * C + h * HS + c];
                    int kp = keep(p_drop, seed, stream, h, N, i, j);
                    dP[j] = kp ? g / (1.0 - p_drop) : 0.0;
                    if (dv && kp)
                        for (size_t c = 0; c < HS; c++)
                            dv[j * C + h * HS + c] += (float)(P[j] / (1.0 - p_drop) * dout[i * C + h * HS + c]);
                }
                for (size_t j = offs[b]; j < offs[b + 1]; j++) {
                    double ds = 0.0;
                    for (size_t l = offs[b]; l < offs[b + 1]; l++)
                        ds += dP[l] * P[l] * ((l == j ? 1.0 : 0.0) - P[j]);
                    ds *= sc;
                    for (size_t c = 0; c < HS; c++) {
                        if (dq) dq[i * C + h * HS + c] += (float)(ds * k[j * C + h * HS + c]);
                        if (dk) dk[j * C + h * HS + c] += (float)(ds * q[i * C + h * HS + c]);
                    }
                }
            }
    scfm_free(P);
    scfm_free(dP);
    return SCFM_OK;
}
