/* Vectorized row kernels (see vrow.h): GELU (erf form) and ReLU forward and backward, a LayerNorm row.
 * AVX2 + FMA where the CPU has them, else portable loops; scfm__vexp_force_portable(1) selects
 * the portable loops here too (the tests compare both paths).
 *
 * GELU(x) = x * Phi(x), Phi(x) = (1 + erf(x / sqrt 2)) / 2. With z = |x| / sqrt 2:
 *   z < 1      erf(z) = z * P(z^2), P of degree 5;
 *   1 <= z < 4 erfc(z) = exp(-z^2) * Q(1/z), Q of degree 8, and Phi = erfc/2 for x < 0,
 *              1 - erfc/2 for x > 0 (no cancellation in 1 + erf for negative x);
 *   z >= 4     Phi = 0 or 1 (erfc(4) = 1.5e-8).
 * P and Q were fitted by least squares on Chebyshev nodes against scipy.special.erf/erfc in
 * double precision; evaluated in float32, |erf error| <= 1.6e-7 on [-6, 6] (1.3 ulp near 1),
 * and GELU's absolute error is at most 4.7e-7 times max(1, |x|) (measured over 2M points).
 * GELU'(x) = Phi(x) + x * exp(-x^2 / 2) / sqrt(2 pi), reusing exp(-z^2). */
#include "vrow.h"
#include "vexp.h"

#include "scfm/core.h"

#include <math.h>

static const float SQRT1_2 = 0.70710678118654752440f;
static const float INV_SQRT_2PI = 0.39894228040143267794f;

/* ---- portable loops (libm) -------------------------------------------------------------- */
static void gelu_portable(float *out, float *pre, const float *in, const float *bias, size_t n) {
    for (size_t j = 0; j < n; j++) {
        float x = bias ? in[j] + bias[j] : in[j];
        if (pre) pre[j] = x;
        out[j] = 0.5f * x * (1.0f + erff(x * SQRT1_2));
    }
}

static void relu_portable(float *out, float *pre, const float *in, const float *bias, size_t n) {
    for (size_t j = 0; j < n; j++) {
        float x = bias ? in[j] + bias[j] : in[j];
        if (pre) pre[j] = x;
        out[j] = x > 0.0f ? x : 0.0f;
    }
}

static void relu_bwd_portable(float *dinp, const float *inp, const float *dout, size_t n) {
    for (size_t j = 0; j < n; j++)
        if (inp[j] > 0.0f) dinp[j] += dout[j];
}

static void gelu_bwd_portable(float *dinp, const float *inp, const float *dout, size_t n) {
    for (size_t j = 0; j < n; j++) {
        float x = inp[j];
        float d = 0.5f * (1.0f + erff(x * SQRT1_2)) + x * INV_SQRT_2PI * expf(-0.5f * x * x);
        dinp[j] += d * dout[j];
    }
}

/* mean and 1/sqrt(var + eps) of x[C] in double, as the scalar reference */
static void ln_stats_portable(const float *x, size_t C, float eps, float *fm, float *rs) {
    double s = 0.0;
    for (size_t i = 0; i < C; i++) s += x[i];
    double m = s / (double)C, v = 0.0;
    for (size_t i = 0; i < C; i++) {
        double d = x[i] - m;
        v += d * d;
    }
    v /= (double)C;
    *fm = (float)m;
    *rs = (float)(1.0 / sqrt(v + (double)eps));
}

static void ln_row_portable(float *out, float *mean, float *rstd, const float *x, const float *w, const float *b,
                            size_t C, float eps) {
    float fm, rs;
    ln_stats_portable(x, C, eps, &fm, &rs);
    for (size_t i = 0; i < C; i++) out[i] = (x[i] - fm) * rs * w[i] + b[i];
    if (mean) *mean = fm;
    if (rstd) *rstd = rs;
}

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define SCFM_VROW_AVX2 1
#include "vexp_avx2.h"

#define AVX2 __attribute__((target("avx2,fma")))

/* Phi(x) and, in *e, exp(-x^2/2) */
AVX2 static inline __m256 phi256(__m256 x, __m256 *e) {
    const __m256 sign = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f), half = _mm256_set1_ps(0.5f);
    __m256 z = _mm256_andnot_ps(sign, _mm256_mul_ps(x, _mm256_set1_ps(SQRT1_2)));
    __m256 z2 = _mm256_mul_ps(z, z);
    /* z < 1: erf(z) = z P(z^2) */
    __m256 p = _mm256_set1_ps(-5.696713342e-04f);
    p = _mm256_fmadd_ps(p, z2, _mm256_set1_ps(4.934519064e-03f));
    p = _mm256_fmadd_ps(p, z2, _mm256_set1_ps(-2.672698908e-02f));
    p = _mm256_fmadd_ps(p, z2, _mm256_set1_ps(1.128078923e-01f));
    p = _mm256_fmadd_ps(p, z2, _mm256_set1_ps(-3.761241436e-01f));
    p = _mm256_fmadd_ps(p, z2, _mm256_set1_ps(1.128379107e+00f));
    __m256 erf_a = _mm256_mul_ps(z, p);
    /* 1 <= z < 4: erfc(z) = exp(-z^2) Q(1/z) */
    __m256 u = _mm256_div_ps(one, _mm256_max_ps(z, one));
    __m256 q = _mm256_set1_ps(-8.870569989e-03f);
    q = _mm256_fmadd_ps(q, u, _mm256_set1_ps(2.566277049e-02f));
    q = _mm256_fmadd_ps(q, u, _mm256_set1_ps(2.990831248e-02f));
    q = _mm256_fmadd_ps(q, u, _mm256_set1_ps(-2.492048144e-01f));
    q = _mm256_fmadd_ps(q, u, _mm256_set1_ps(5.021969676e-01f));
    q = _mm256_fmadd_ps(q, u, _mm256_set1_ps(-4.739520252e-01f));
    q = _mm256_fmadd_ps(q, u, _mm256_set1_ps(4.260820895e-02f));
    q = _mm256_fmadd_ps(q, u, _mm256_set1_ps(5.589597225e-01f));
    q = _mm256_fmadd_ps(q, u, _mm256_set1_ps(2.749467676e-04f));
    __m256 ez = scfm__exp256(_mm256_sub_ps(_mm256_setzero_ps(), z2));
    __m256 erfc_b = _mm256_mul_ps(ez, q);
    erfc_b = _mm256_and_ps(erfc_b, _mm256_cmp_ps(z, _mm256_set1_ps(4.0f), _CMP_LT_OQ)); /* z >= 4: 0 */
    /* half the tail mass: Phi(-|x|); Phi(|x|) = 1 - that */
    __m256 lo_a = _mm256_mul_ps(half, _mm256_sub_ps(one, erf_a));
    __m256 lo = _mm256_blendv_ps(_mm256_mul_ps(half, erfc_b), lo_a, _mm256_cmp_ps(z, one, _CMP_LT_OQ));
    __m256 neg = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ);
    *e = ez;
    return _mm256_blendv_ps(_mm256_sub_ps(one, lo), lo, neg);
}

AVX2 static void gelu_avx2(float *out, float *pre, const float *in, const float *bias, size_t n) {
    size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 x = _mm256_loadu_ps(in + j), e;
        if (bias) x = _mm256_add_ps(x, _mm256_loadu_ps(bias + j));
        if (pre) _mm256_storeu_ps(pre + j, x);
        _mm256_storeu_ps(out + j, _mm256_mul_ps(x, phi256(x, &e)));
    }
    if (j < n) { /* tail through a padded copy: the same polynomial for every element */
        float t[8] = {0}, o[8];
        for (size_t i = 0; i < n - j; i++) t[i] = bias ? in[j + i] + bias[j + i] : in[j + i];
        __m256 x = _mm256_loadu_ps(t), e;
        _mm256_storeu_ps(o, _mm256_mul_ps(x, phi256(x, &e)));
        for (size_t i = 0; i < n - j; i++) {
            if (pre) pre[j + i] = t[i];
            out[j + i] = o[i];
        }
    }
}

AVX2 static void gelu_bwd_avx2(float *dinp, const float *inp, const float *dout, size_t n) {
    size_t j = 0;
    const __m256 c = _mm256_set1_ps(INV_SQRT_2PI);
    for (; j + 8 <= n; j += 8) {
        __m256 x = _mm256_loadu_ps(inp + j), e;
        __m256 ph = phi256(x, &e);
        __m256 d = _mm256_fmadd_ps(_mm256_mul_ps(x, c), e, ph);
        _mm256_storeu_ps(dinp + j, _mm256_fmadd_ps(d, _mm256_loadu_ps(dout + j), _mm256_loadu_ps(dinp + j)));
    }
    if (j < n) {
        float t[8] = {0}, o[8];
        for (size_t i = 0; i < n - j; i++) t[i] = inp[j + i];
        __m256 x = _mm256_loadu_ps(t), e;
        __m256 ph = phi256(x, &e);
        _mm256_storeu_ps(o, _mm256_fmadd_ps(_mm256_mul_ps(x, c), e, ph));
        for (size_t i = 0; i < n - j; i++) dinp[j + i] += o[i] * dout[j + i];
    }
}

/* max(x, 0) returns its second operand (0) for NaN and for -0, as the portable x > 0 ? x : 0 */
AVX2 static void relu_avx2(float *out, float *pre, const float *in, const float *bias, size_t n) {
    const __m256 z = _mm256_setzero_ps();
    size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 x = _mm256_loadu_ps(in + j);
        if (bias) x = _mm256_add_ps(x, _mm256_loadu_ps(bias + j));
        if (pre) _mm256_storeu_ps(pre + j, x);
        _mm256_storeu_ps(out + j, _mm256_max_ps(x, z));
    }
    if (j < n) relu_portable(out + j, pre ? pre + j : NULL, in + j, bias ? bias + j : NULL, n - j);
}

AVX2 static void relu_bwd_avx2(float *dinp, const float *inp, const float *dout, size_t n) {
    const __m256 z = _mm256_setzero_ps();
    size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 m = _mm256_cmp_ps(_mm256_loadu_ps(inp + j), z, _CMP_GT_OQ);
        __m256 d = _mm256_and_ps(m, _mm256_loadu_ps(dout + j));
        _mm256_storeu_ps(dinp + j, _mm256_add_ps(_mm256_loadu_ps(dinp + j), d));
    }
    if (j < n) relu_bwd_portable(dinp + j, inp + j, dout + j, n - j);
}

AVX2 static double hsum256d(__m256d v) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

/* The statistics in double as the reference (only the order of the sums differs); the
 * output with a multiply and an add (no FMA), bit-identical to the portable loop's. */
AVX2 static void ln_row_avx2(float *out, float *mean, float *rstd, const float *x, const float *w, const float *b,
                             size_t C, float eps) {
    size_t c8 = C / 8 * 8, i;
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    for (i = 0; i < c8; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
    }
    double s = hsum256d(_mm256_add_pd(s0, s1));
    for (; i < C; i++) s += x[i];
    double m = s / (double)C;
    __m256d md = _mm256_set1_pd(m), v0 = _mm256_setzero_pd(), v1 = _mm256_setzero_pd();
    for (i = 0; i < c8; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256d d0 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), md);
        __m256d d1 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)), md);
        v0 = _mm256_add_pd(v0, _mm256_mul_pd(d0, d0));
        v1 = _mm256_add_pd(v1, _mm256_mul_pd(d1, d1));
    }
    double var = hsum256d(_mm256_add_pd(v0, v1));
    for (; i < C; i++) {
        double d = x[i] - m;
        var += d * d;
    }
    var /= (double)C;
    float fm = (float)m, rs = (float)(1.0 / sqrt(var + (double)eps));
    __m256 fmv = _mm256_set1_ps(fm), rsv = _mm256_set1_ps(rs);
    for (i = 0; i < c8; i += 8) {
        __m256 y = _mm256_mul_ps(_mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), fmv), rsv), _mm256_loadu_ps(w + i));
        _mm256_storeu_ps(out + i, _mm256_add_ps(y, _mm256_loadu_ps(b + i)));
    }
    for (; i < C; i++) out[i] = (x[i] - fm) * rs * w[i] + b[i];
    if (mean) *mean = fm;
    if (rstd) *rstd = rs;
}
#endif

static int use_avx2(void) { return !scfm__vexp_portable() && scfm_cpu_has("avx2"); /* "avx2" includes FMA */ }

void scfm__gelu_row(float *out, float *pre, const float *in, const float *bias, size_t n) {
#ifdef SCFM_VROW_AVX2
    if (use_avx2()) {
        gelu_avx2(out, pre, in, bias, n);
        return;
    }
#endif
    gelu_portable(out, pre, in, bias, n);
}

void scfm__gelu_backward_row(float *dinp, const float *inp, const float *dout, size_t n) {
#ifdef SCFM_VROW_AVX2
    if (use_avx2()) {
        gelu_bwd_avx2(dinp, inp, dout, n);
        return;
    }
#endif
    gelu_bwd_portable(dinp, inp, dout, n);
}

void scfm__relu_row(float *out, float *pre, const float *in, const float *bias, size_t n) {
#ifdef SCFM_VROW_AVX2
    if (use_avx2()) {
        relu_avx2(out, pre, in, bias, n);
        return;
    }
#endif
    relu_portable(out, pre, in, bias, n);
}

void scfm__relu_backward_row(float *dinp, const float *inp, const float *dout, size_t n) {
#ifdef SCFM_VROW_AVX2
    if (use_avx2()) {
        relu_bwd_avx2(dinp, inp, dout, n);
        return;
    }
#endif
    relu_bwd_portable(dinp, inp, dout, n);
}

void scfm__layernorm_row(float *out, float *mean, float *rstd, const float *x, const float *w, const float *b,
                         size_t C, float eps) {
#ifdef SCFM_VROW_AVX2
    if (use_avx2()) {
        ln_row_avx2(out, mean, rstd, x, w, b, C, eps);
        return;
    }
#endif
    ln_row_portable(out, mean, rstd, x, w, b, C, eps);
}
