/* The elementwise, normalization, embedding, loss and optimizer kernels of nn.h.
 * Reductions over rows (weight/bias gradients, embedding gradients) are parallelized over
 * column blocks, each thread walking all rows in order: results do not depend on the
 * number of threads. */
#include "scfm/core.h"
#include "scfm/nn.h"
#include "scfm/rng.h"
#include "gemm.h"
#include "vrow.h"

#include <math.h>
#include <string.h>

#define COLBLOCK 16

/* ---- activations ------------------------------------------------------------------------- */
static const struct { const char *name; scfm_act act; } act_names[] = {
    {"relu", SCFM_ACT_RELU},           {"gelu", SCFM_ACT_GELU},
    {"gelu_new", SCFM_ACT_GELU_TANH},  {"gelu_pytorch_tanh", SCFM_ACT_GELU_TANH},
    {"gelu_fast", SCFM_ACT_GELU_FAST}, {"quick_gelu", SCFM_ACT_QUICK_GELU},
    {"silu", SCFM_ACT_SILU},           {"swish", SCFM_ACT_SILU},
    {"tanh", SCFM_ACT_TANH},
};

int scfm_act_from_name(const char *name, scfm_act *out) {
    if (!name) return -1;
    for (size_t i = 0; i < sizeof act_names / sizeof act_names[0]; i++)
        if (strcmp(name, act_names[i].name) == 0) {
            *out = act_names[i].act;
            return 0;
        }
    return -1;
}

const char *scfm_act_name(scfm_act a) {
    for (size_t i = 0; i < sizeof act_names / sizeof act_names[0]; i++)
        if (act_names[i].act == a) return act_names[i].name;
    return "unknown";
}

static const float SQRT1_2 = 0.70710678118654752440f;
static const float INV_SQRT_2PI = 0.39894228040143267794f;
static const float GELU_TANH_C = 0.79788456080286535588f; /* sqrt(2/pi) */

static inline float sigmoidf_(float x) { return 1.0f / (1.0f + expf(-x)); }

static inline float act_f(float x, scfm_act a) {
    switch (a) {
    case SCFM_ACT_RELU: return x > 0.0f ? x : 0.0f;
    case SCFM_ACT_GELU: return 0.5f * x * (1.0f + erff(x * SQRT1_2));
    case SCFM_ACT_GELU_TANH:
        return 0.5f * x * (1.0f + tanhf(GELU_TANH_C * (x + 0.044715f * x * x * x)));
    case SCFM_ACT_GELU_FAST:
        return 0.5f * x * (1.0f + tanhf(0.7978845608f * x * (1.0f + 0.044715f * x * x)));
    case SCFM_ACT_QUICK_GELU: return x * sigmoidf_(1.702f * x);
    case SCFM_ACT_SILU: return x * sigmoidf_(x);
    case SCFM_ACT_TANH: return tanhf(x);
    }
    return x;
}

static inline float act_df(float x, scfm_act a) {
    switch (a) {
    case SCFM_ACT_RELU: return x > 0.0f ? 1.0f : 0.0f;
    case SCFM_ACT_GELU:
        return 0.5f * (1.0f + erff(x * SQRT1_2)) + x * INV_SQRT_2PI * expf(-0.5f * x * x);
    case SCFM_ACT_GELU_TANH:
    case SCFM_ACT_GELU_FAST: {
        float u = GELU_TANH_C * (x + 0.044715f * x * x * x);
        float t = tanhf(u);
        float du = GELU_TANH_C * (1.0f + 3.0f * 0.044715f * x * x);
        return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du;
    }
    case SCFM_ACT_QUICK_GELU: {
        float s = sigmoidf_(1.702f * x);
        return s + 1.702f * x * s * (1.0f - s);
    }
    case SCFM_ACT_SILU: {
        float s = sigmoidf_(x);
        return s + x * s * (1.0f - s);
    }
    case SCFM_ACT_TANH: {
        float t = tanhf(x);
        return 1.0f - t * t;
    }
    }
    return 1.0f;
}

#define ACT_CHUNK 4096 /* elements per task of the vectorized GELU */

void scfm_act_forward(float *out, const float *inp, size_t n, scfm_act a) {
    if (a == SCFM_ACT_GELU || a == SCFM_ACT_RELU) {
        void (*row)(float *, float *, const float *, const float *, size_t) =
            a == SCFM_ACT_GELU ? scfm__gelu_row : scfm__relu_row;
#pragma omp parallel for schedule(static) if (n > 32768)
        for (size_t i = 0; i < n; i += ACT_CHUNK)
            row(out + i, NULL, inp + i, NULL, n - i < ACT_CHUNK ? n - i : ACT_CHUNK);
        return;
    }
#pragma omp parallel for schedule(static) if (n > 32768)
    for (size_t i = 0; i < n; i++) out[i] = act_f(inp[i], a);
}

void scfm_act_backward(float *dinp, const float *inp, const float *dout, size_t n, scfm_act a) {
    if (a == SCFM_ACT_GELU || a == SCFM_ACT_RELU) {
        void (*row)(float *, const float *, const float *, size_t) =
            a == SCFM_ACT_GELU ? scfm__gelu_backward_row : scfm__relu_backward_row;
#pragma omp parallel for schedule(static) if (n > 32768)
        for (size_t i = 0; i < n; i += ACT_CHUNK)
            row(dinp + i, inp + i, dout + i, n - i < ACT_CHUNK ? n - i : ACT_CHUNK);
        return;
    }
#pragma omp parallel for schedule(static) if (n > 32768)
    for (size_t i = 0; i < n; i++) dinp[i] += act_df(inp[i], a) * dout[i];
}

void scfm_bias_act_forward(float *pre, float *out, const float *bias, size_t N, size_t C, scfm_act a) {
    if (a == SCFM_ACT_GELU || a == SCFM_ACT_RELU) {
        void (*row)(float *, float *, const float *, const float *, size_t) =
            a == SCFM_ACT_GELU ? scfm__gelu_row : scfm__relu_row;
#pragma omp parallel for schedule(static) if (N * C > 32768)
        for (size_t n = 0; n < N; n++) row(out + n * C, pre + n * C, pre + n * C, bias, C);
        return;
    }
#pragma omp parallel for schedule(static) if (N * C > 32768)
    for (size_t n = 0; n < N; n++) {
        float *p = pre + n * C, *o = out + n * C;
        for (size_t j = 0; j < C; j++) {
            if (bias) p[j] += bias[j];
            o[j] = act_f(p[j], a);
        }
    }
}

void scfm_bias_act_forward_bf16(const float *pre, scfm_bf16 *out, const float *bias, size_t N, size_t C,
                                scfm_act a) {
    enum { PIECE = 256 };
    void (*row)(float *, float *, const float *, const float *, size_t) =
        a == SCFM_ACT_GELU ? scfm__gelu_row : a == SCFM_ACT_RELU ? scfm__relu_row : NULL;
#pragma omp parallel for schedule(static) if (N * C > 32768)
    for (size_t n = 0; n < N; n++) {
        float t[PIECE];
        for (size_t j0 = 0; j0 < C; j0 += PIECE) {
            const size_t len = C - j0 < PIECE ? C - j0 : PIECE;
            const float *p = pre + n * C + j0;
            if (row)
                row(t, NULL, p, bias ? bias + j0 : NULL, len);
            else
                for (size_t j = 0; j < len; j++) t[j] = act_f(bias ? p[j] + bias[j0 + j] : p[j], a);
            scfm_bf16_convert_row(out + n * C + j0, t, len);
        }
    }
    scfm_vector_state_clean();
}

void scfm_add(float *out, const float *a, const float *b, size_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

/* ---- dropout ----------------------------------------------------------------------------- */
void scfm_dropout_forward(float *out, const float *inp, size_t n, float p, uint64_t seed,
                          uint64_t stream) {
    if (p <= 0.0f) {
        if (out != inp) memmove(out, inp, n * sizeof *out);
        return;
    }
    const float s = 1.0f / (1.0f - p);
#pragma omp parallel for schedule(static) if (n > 32768)
    for (size_t i = 0; i < n; i++)
        out[i] = scfm_hash_uniform(seed, stream, i) >= p ? inp[i] * s : 0.0f;
}

void scfm_dropout_backward(float *dinp, const float *dout, size_t n, float p, uint64_t seed,
                           uint64_t stream) {
    if (p <= 0.0f) {
        for (size_t i = 0; i < n; i++) dinp[i] += dout[i];
        return;
    }
    const float s = 1.0f / (1.0f - p);
#pragma omp parallel for schedule(static) if (n > 32768)
    for (size_t i = 0; i < n; i++)
        if (scfm_hash_uniform(seed, stream, i) >= p) dinp[i] += dout[i] * s;
}

/* ---- matmul ------------------------------------------------------------------------------ */
void scfm_matmul_forward(float *out, const float *inp, const float *w, const float *bias,
                         size_t N, size_t C, size_t OC) {
    scfm__sgemm(0, 1, N, OC, C, 1.0f, inp, C, w, C, 0.0f, out, OC);
    if (bias) {
#pragma omp parallel for schedule(static) if (N * OC > 65536)
        for (size_t n = 0; n < N; n++) {
            float *o = out + n * OC;
            for (size_t j = 0; j < OC; j++) o[j] += bias[j];
        }
    }
}

/* colsum[j] += sum_n x[n*ld + j], j < ncol; deterministic (column blocks, rows in order). */
static void colsum_acc(float *colsum, const float *x, size_t nrow, size_t ncol, size_t ld) {
    size_t nblk = (ncol + COLBLOCK - 1) / COLBLOCK;
#pragma omp parallel for schedule(static) if (nrow * ncol > 65536)
    for (size_t b = 0; b < nblk; b++) {
        size_t j0 = b * COLBLOCK, j1 = j0 + COLBLOCK < ncol ? j0 + COLBLOCK : ncol;
        double acc[COLBLOCK] = {0};
        for (size_t n = 0; n < nrow; n++) {
            const float *r = x + n * ld;
            for (size_t j = j0; j < j1; j++) acc[j - j0] += r[j];
        }
        for (size_t j = j0; j < j1; j++) colsum[j] += (float)acc[j - j0];
    }
}

void scfm_matmul_backward_ld(float *dinp, float *dw, float *dbias, const float *dout, size_t ld,
                             const float *inp, const float *w, size_t N, size_t C, size_t OC) {
    if (dinp) scfm__sgemm(0, 0, N, C, OC, 1.0f, dout, ld, w, C, 1.0f, dinp, C);
    if (dw) scfm__sgemm(1, 0, OC, C, N, 1.0f, dout, ld, inp, C, 1.0f, dw, C);
    if (dbias) colsum_acc(dbias, dout, N, OC, ld);
}

void scfm_matmul_backward(float *dinp, float *dw, float *dbias, const float *dout,
                          const float *inp, const float *w, size_t N, size_t C, size_t OC) {
    scfm_matmul_backward_ld(dinp, dw, dbias, dout, OC, inp, w, N, C, OC);
}

/* ---- layernorm --------------------------------------------------------------------------- */
void scfm_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                            const float *w, const float *b, size_t N, size_t C, float eps) {
#pragma omp parallel for schedule(static) if (N * C > 32768)
    for (size_t n = 0; n < N; n++)
        scfm__layernorm_row(out + n * C, mean ? mean + n : NULL, rstd ? rstd + n : NULL, inp + n * C, w, b, C, eps);
}

static inline void residual_ln_row(float *x, float *out, float *mean, float *rstd, const float *bias, const float *y,
                                   const float *w, const float *b, size_t C, float eps) {
    if (bias)
        for (size_t j = 0; j < C; j++) x[j] = (x[j] + bias[j]) + y[j];
    else
        for (size_t j = 0; j < C; j++) x[j] += y[j];
    scfm__layernorm_row(out, mean, rstd, x, w, b, C, eps);
}

void scfm_residual_layernorm_forward(float *r, float *out, float *mean, float *rstd, const float *bias,
                                     const float *res, const float *w, const float *b, size_t N, size_t C,
                                     float eps) {
#pragma omp parallel for schedule(static) if (N * C > 32768)
    for (size_t n = 0; n < N; n++)
        residual_ln_row(r + n * C, out + n * C, mean ? mean + n : NULL, rstd ? rstd + n : NULL, bias, res + n * C, w,
                        b, C, eps);
}

void scfm_residual_layernorm_forward_bf16(float *r, float *out, scfm_bf16 *outb, const float *bias,
                                          const float *res, const float *w, const float *b, size_t N, size_t C,
                                          float eps) {
#pragma omp parallel for schedule(static) if (N * C > 32768)
    for (size_t n = 0; n < N; n++) {
        residual_ln_row(r + n * C, out + n * C, NULL, NULL, bias, res + n * C, w, b, C, eps);
        scfm_bf16_convert_row(outb + n * C, out + n * C, C);
    }
    scfm_vector_state_clean();
}

void scfm_layernorm_backward(float *dinp, float *dw, float *db, const float *dout,
                             const float *inp, const float *w, const float *mean,
                             const float *rstd, size_t N, size_t C) {
    if (dinp) {
#pragma omp parallel for schedule(static) if (N * C > 32768)
        for (size_t n = 0; n < N; n++) {
            const float *x = inp + n * C, *dy = dout + n * C;
            float m = mean[n], rs = rstd[n];
            double s1 = 0.0, s2 = 0.0; /* mean(dnorm), mean(dnorm * norm) */
            for (size_t i = 0; i < C; i++) {
                float nh = (x[i] - m) * rs, dn = dy[i] * w[i];
                s1 += dn;
                s2 += (double)dn * nh;
            }
            float a1 = (float)(s1 / (double)C), a2 = (float)(s2 / (double)C);
            float *dx = dinp + n * C;
            for (size_t i = 0; i < C; i++) {
                float nh = (x[i] - m) * rs, dn = dy[i] * w[i];
                dx[i] += rs * (dn - a1 - nh * a2);
            }
        }
    }
    if (dw || db) {
        size_t nblk = (C + COLBLOCK - 1) / COLBLOCK;
#pragma omp parallel for schedule(static) if (N * C > 32768)
        for (size_t bk = 0; bk < nblk; bk++) {
            size_t j0 = bk * COLBLOCK, j1 = j0 + COLBLOCK < C ? j0 + COLBLOCK : C;
            double aw[COLBLOCK] = {0}, ab[COLBLOCK] = {0};
            for (size_t n = 0; n < N; n++) {
                const float *x = inp + n * C, *dy = dout + n * C;
                float m = mean[n], rs = rstd[n];
                for (size_t j = j0; j < j1; j++) {
                    aw[j - j0] += (double)dy[j] * ((x[j] - m) * rs);
                    ab[j - j0] += dy[j];
                }
            }
            for (size_t j = j0; j < j1; j++) {
                if (dw) dw[j] += (float)aw[j - j0];
                if (db) db[j] += (float)ab[j - j0];
            }
        }
    }
}

/* ---- embeddings -------------------------------------------------------------------------- */
void scfm_embedding_forward(float *out, const int32_t *ids, const int32_t *pos, const float *wte,
                            const float *wpe, const float *wtt, size_t N, size_t C) {
#pragma omp parallel for schedule(static) if (N * C > 32768)
    for (size_t n = 0; n < N; n++) {
        const float *a = wte + (size_t)ids[n] * C, *p = wpe + (size_t)pos[n] * C;
        float *o = out + n * C;
        for (size_t i = 0; i < C; i++) o[i] = a[i] + p[i] + wtt[i];
    }
}

void scfm_embedding_backward(float *dwte, float *dwpe, float *dwtt, const float *dout,
                             const int32_t *ids, const int32_t *pos, size_t N, size_t C,
                             int64_t padding_idx) {
    size_t nblk = (C + COLBLOCK - 1) / COLBLOCK;
#pragma omp parallel for schedule(static) if (N * C > 32768)
    for (size_t bk = 0; bk < nblk; bk++) {
        size_t j0 = bk * COLBLOCK, j1 = j0 + COLBLOCK < C ? j0 + COLBLOCK : C;
        double tt[COLBLOCK] = {0};
        for (size_t n = 0; n < N; n++) {
            const float *d = dout + n * C;
            if (dwte && (int64_t)ids[n] != padding_idx) {
                float *g = dwte + (size_t)ids[n] * C;
                for (size_t j = j0; j < j1; j++) g[j] += d[j];
            }
            if (dwpe) {
                float *g = dwpe + (size_t)pos[n] * C;
                for (size_t j = j0; j < j1; j++) g[j] += d[j];
            }
            for (size_t j = j0; j < j1; j++) tt[j - j0] += d[j];
        }
        if (dwtt)
            for (size_t j = j0; j < j1; j++) dwtt[j] += (float)tt[j - j0];
    }
}

/* ---- cross-entropy ----------------------------------------------------------------------- */
static double row_lse(const float *x, size_t V) {
    float mx = -INFINITY;
    for (size_t i = 0; i < V; i++) mx = x[i] > mx ? x[i] : mx;
    double s = 0.0;
    for (size_t i = 0; i < V; i++) s += exp((double)x[i] - mx);
    return mx + log(s);
}

float scfm_crossentropy_forward(float *losses, const float *logits, const int32_t *targets,
                                size_t N, size_t V, size_t *n_valid) {
    double total = 0.0;
    size_t cnt = 0;
#pragma omp parallel for schedule(static) reduction(+ : total, cnt) if (N * V > 65536)
    for (size_t n = 0; n < N; n++) {
        if (targets[n] < 0 || (size_t)targets[n] >= V) {
            if (losses) losses[n] = 0.0f;
            continue;
        }
        const float *x = logits + n * V;
        double l = row_lse(x, V) - x[targets[n]];
        if (losses) losses[n] = (float)l;
        total += l;
        cnt++;
    }
    if (n_valid) *n_valid = cnt;
    return cnt ? (float)(total / (double)cnt) : 0.0f;
}

void scfm_crossentropy_backward(float *dlogits, const float *logits, const int32_t *targets,
                                size_t N, size_t V, float scale) {
#pragma omp parallel for schedule(static) if (N * V > 65536)
    for (size_t n = 0; n < N; n++) {
        const float *x = logits + n * V;
        float *d = dlogits + n * V;
        if (targets[n] < 0 || (size_t)targets[n] >= V) {
            for (size_t i = 0; i < V; i++) d[i] = 0.0f;
            continue;
        }
        double lse = row_lse(x, V);
        int32_t t = targets[n];
        for (size_t i = 0; i < V; i++) d[i] = (float)exp((double)x[i] - lse) * scale;
        d[t] -= scale;
    }
}

/* ---- optimizer helpers ------------------------------------------------------------------- */
void scfm_adamw_update(float *p, const float *g, float *m, float *v, size_t n, float lr,
                       float b1, float b2, float eps, float wd, long t) {
    const double bc1 = 1.0 - pow((double)b1, (double)t);
    const double bc2 = 1.0 - pow((double)b2, (double)t);
    const float step = (float)(lr / bc1);
    const float bc2_sqrt = (float)sqrt(bc2);
    const float decay = 1.0f - lr * wd;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        float pi = p[i] * decay;
        float mi = m[i] * b1 + (1.0f - b1) * g[i];
        float vi = v[i] * b2 + (1.0f - b2) * g[i] * g[i];
        m[i] = mi;
        v[i] = vi;
        float denom = sqrtf(vi) / bc2_sqrt + eps;
        p[i] = pi - step * (mi / denom);
    }
}

double scfm_sumsq(const float *x, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    return s;
}

void scfm_scale(float *x, size_t n, float s) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) x[i] *= s;
}
