/* int8 inference kernels (nn.h): symmetric per-row quantization of float32 rows to int8, and
 * the linear layers' products on int8 operands with int32 sums (oneDNN's s8 x s8 matmul, which
 * runs on AVX512_VNNI's VPDPBUSD where the CPU has it). Every fast kernel has a plain-C twin;
 * tests/test_int8.c compares the two.
 *
 * Quantization of a row x[0..C): amax = max |x[c]|, scale = amax / 127, q[c] = round(x[c] *
 * (127 / amax)) to nearest even, clamped to [-127, 127] (a row of zeros, or one whose largest
 * entry is below 127 / FLT_MAX = 3.7e-37: scale 0, q 0; NaN entries do not count in amax and
 * quantize to -127, infinite ones make the whole row -127 with an infinite scale). A
 * product row then is out[i,o] = ((float)sum_c xq[i,c] wq[o,c] * ws[o]) * xs[i] + bias[o]: the
 * integer sum is exact (|sum| <= 127^2 C < 2^31 for C < 133,000), the error is the two
 * roundings of the operands (relative 1/254 of each row's largest entry). */
#include "scfm/core.h"
#include "scfm/nn.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onednn.h"
#if defined(__x86_64__) && defined(__GNUC__)
#define SCFM_INT8_X86 1
#include <immintrin.h>
#define I8_TARGET __attribute__((target("avx512f,avx512bw,avx512vl")))
#endif

/* Smallest row maximum with a finite 127 / amax; rows below it quantize as zero rows. */
#define MIN_AMAX (127.0f / FLT_MAX)
/* Largest C whose integer sums cannot overflow int32: 127 * 127 * C < 2^31. */
#define INT8_MAX_C ((size_t)133000)

/* the vector code needs AVX-512 F, BW and VL, which avx512_vnni implies (scfm_cpu_has) */
static int fast_cpu(void) { return scfm_cpu_has("avx512_vnni"); }

/* ---- what can run ------------------------------------------------------------------------- */
int scfm_int8_supported(char *why, size_t cap) { return scfm__dnnl_supported("avx512_vnni", why, cap); }

/* ---- quantization ------------------------------------------------------------------------- */
/* max(t, lo) then min(., hi) with the NaN rule of MAXPS/MINPS (the second operand when either
 * is NaN), so that the twin and the vector code agree on every input. */
static float clamp127(float t) {
    t = t > -127.0f ? t : -127.0f;
    return t < 127.0f ? t : 127.0f;
}

static void quantize_row_portable(int8_t *q, float *scale, const float *x, size_t C) {
    float amax = 0.0f;
    for (size_t c = 0; c < C; c++) {
        const float a = fabsf(x[c]);
        amax = a > amax ? a : amax;
    }
    if (!(amax >= MIN_AMAX)) {
        memset(q, 0, C);
        *scale = 0.0f;
        return;
    }
    const float inv = 127.0f / amax;
    for (size_t c = 0; c < C; c++) q[c] = (int8_t)(int)nearbyintf(clamp127(x[c] * inv));
    *scale = amax / 127.0f;
}

#ifdef SCFM_INT8_X86
I8_TARGET static void quantize_row_avx512(int8_t *q, float *scale, const float *x, size_t C) {
    __m512 vmax = _mm512_setzero_ps();
    size_t c = 0;
    for (; c + 16 <= C; c += 16) vmax = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x + c)), vmax);
    if (c < C) {
        const __mmask16 k = (__mmask16)((1u << (C - c)) - 1u);
        vmax = _mm512_max_ps(_mm512_abs_ps(_mm512_maskz_loadu_ps(k, x + c)), vmax);
    }
    const float amax = _mm512_reduce_max_ps(vmax);
    if (!(amax >= MIN_AMAX)) {
        memset(q, 0, C);
        *scale = 0.0f;
        return;
    }
    const __m512 inv = _mm512_set1_ps(127.0f / amax), lo = _mm512_set1_ps(-127.0f), hi = _mm512_set1_ps(127.0f);
    for (c = 0; c < C; c += 16) {
        const size_t n = C - c < 16 ? C - c : 16;
        const __mmask16 k = (__mmask16)(n == 16 ? 0xffffu : (1u << n) - 1u);
        __m512 t = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + c), inv);
        t = _mm512_min_ps(_mm512_max_ps(t, lo), hi);
        /* round to nearest even (the default MXCSR mode), then narrow: values fit in int8 */
        _mm_mask_storeu_epi8(q + c, k, _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(t)));
    }
    *scale = amax / 127.0f;
}
#endif

void scfm_int8_quantize_rows_naive(int8_t *q, float *scale, const float *x, size_t N, size_t C) {
    for (size_t i = 0; i < N; i++) quantize_row_portable(q + i * C, scale + i, x + i * C, C);
}

void scfm_int8_quantize_rows(int8_t *q, float *scale, const float *x, size_t N, size_t C) {
    const int fast = fast_cpu();
#pragma omp parallel for schedule(static) if (N * C > 32768)
    for (size_t i = 0; i < N; i++) {
#ifdef SCFM_INT8_X86
        if (fast) {
            quantize_row_avx512(q + i * C, scale + i, x + i * C, C);
            continue;
        }
#endif
        quantize_row_portable(q + i * C, scale + i, x + i * C, C);
    }
#ifdef SCFM_INT8_X86
    if (fast) scfm_vector_state_clean();
#else
    (void)fast;
#endif
}

/* ---- matrix product --------------------------------------------------------------------- */
void scfm_int8_matmul_forward_naive(float *out, const int8_t *xq, const float *xs, const int8_t *wq,
                                    const float *ws, const float *bias, size_t N, size_t C, size_t OC) {
    for (size_t i = 0; i < N; i++)
        for (size_t o = 0; o < OC; o++) {
            int32_t s = 0;
            for (size_t c = 0; c < C; c++) s += (int32_t)xq[i * C + c] * (int32_t)wq[o * C + c];
            const float v = (float)s * ws[o];
            out[i * OC + o] = bias ? fmaf(v, xs[i], bias[o]) : v * xs[i];
        }
}

#ifdef SCFM_HAVE_DNNL
/* out[i, :] = out[i, :] * xs[i] (+ bias), the rows' own scales after oneDNN applied the
 * columns' (FMA, as the twin's fmaf). */
static void row_scale_portable(float *o, float s, const float *bias, size_t n) {
    for (size_t j = 0; j < n; j++) o[j] = bias ? fmaf(o[j], s, bias[j]) : o[j] * s;
}

#ifdef SCFM_INT8_X86
I8_TARGET static void row_scale_avx512(float *o, float s, const float *bias, size_t n) {
    const __m512 vs = _mm512_set1_ps(s);
    for (size_t j = 0; j < n; j += 16) {
        const size_t m = n - j < 16 ? n - j : 16;
        const __mmask16 k = (__mmask16)(m == 16 ? 0xffffu : (1u << m) - 1u);
        const __m512 v = _mm512_maskz_loadu_ps(k, o + j);
        const __m512 r = bias ? _mm512_fmadd_ps(v, vs, _mm512_maskz_loadu_ps(k, bias + j)) : _mm512_mul_ps(v, vs);
        _mm512_mask_storeu_ps(o + j, k, r);
    }
}
#endif

/* out[M,N] = (float)(xq[M,K] @ wq^T) * ws[N] by oneDNN (s8 x s8, int32 sums, per-column
 * output scales given at run time). */
static int dnnl_matmul_s8(float *out, const int8_t *a, const int8_t *w, const float *ws, size_t M, size_t K,
                          size_t N) {
    dnnl_primitive_attr_t attr = NULL;
    const float runtime = DNNL_RUNTIME_F32_VAL;
    const int ok = dnnl_primitive_attr_create(&attr) == dnnl_success &&
                   dnnl_primitive_attr_set_output_scales(attr, 1, 1 << 1, &runtime) == dnnl_success &&
                   scfm__dnnl_matmul(out, dnnl_f32, a, dnnl_s8, w, dnnl_s8, NULL, ws, M, K, N, attr);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (!ok) return scfm_error(SCFM_EINVAL, "int8 matmul %zu x %zu x %zu: oneDNN refused it", M, K, N);
    return SCFM_OK;
}
#endif

int scfm_int8_matmul_forward(float *out, const int8_t *xq, const float *xs, const int8_t *wq, const float *ws,
                             const float *bias, size_t N, size_t C, size_t OC) {
    if (!N || !OC) return SCFM_OK;
    if (C > INT8_MAX_C) return scfm_error(SCFM_EINVAL, "int8 matmul: %zu inputs could overflow the int32 sums", C);
#ifdef SCFM_HAVE_DNNL
    if (C && scfm_int8_supported(NULL, 0)) {
        int rc = dnnl_matmul_s8(out, xq, wq, ws, N, C, OC);
        if (rc) return rc;
        const int fast = fast_cpu();
#pragma omp parallel for schedule(static) if (N * OC > 32768)
        for (size_t i = 0; i < N; i++) {
#ifdef SCFM_INT8_X86
            if (fast) {
                row_scale_avx512(out + i * OC, xs[i], bias, OC);
                continue;
            }
#endif
            row_scale_portable(out + i * OC, xs[i], bias, OC);
        }
#ifdef SCFM_INT8_X86
        if (fast) scfm_vector_state_clean();
#else
        (void)fast;
#endif
        return SCFM_OK;
    }
#endif
    /* no int8 kernels: the twin, row blocks in parallel */
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < N; i++)
        scfm_int8_matmul_forward_naive(out + i * OC, xq + i * C, xs + i, wq, ws, bias, 1, C, OC);
    return SCFM_OK;
}
