/* Vectorized exp and row maximum (see vexp.h). */
#include "vexp.h"

#include "scfm/core.h"

#include <math.h>

static int force_portable;

void scfm__vexp_force_portable(int on) { __atomic_store_n(&force_portable, on, __ATOMIC_RELAXED); }

int scfm__vexp_portable(void) { return __atomic_load_n(&force_portable, __ATOMIC_RELAXED); }

static int use_avx2(void) {
    return !__atomic_load_n(&force_portable, __ATOMIC_RELAXED) && scfm_cpu_has("avx2");
}

static float vmax_portable(const float *x, size_t n) {
    float m = -INFINITY;
    for (size_t j = 0; j < n; j++) m = x[j] > m ? x[j] : m;
    return m;
}

static float vexp_portable(float *x, size_t n, float shift) {
    float s = 0.0f;
    for (size_t j = 0; j < n; j++) {
        x[j] = expf(x[j] - shift);
        s += x[j];
    }
    return s;
}

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define SCFM_VEXP_AVX2 1
#include "vexp_avx2.h"

#define AVX2 __attribute__((target("avx2,fma")))

AVX2 static float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

AVX2 static float vmax_avx2(const float *x, size_t n) {
    size_t j = 0;
    float m = -INFINITY;
    if (n >= 8) {
        __m256 v = _mm256_loadu_ps(x);
        for (j = 8; j + 8 <= n; j += 8) v = _mm256_max_ps(v, _mm256_loadu_ps(x + j));
        float t[8];
        _mm256_storeu_ps(t, v);
        for (int i = 0; i < 8; i++) m = t[i] > m ? t[i] : m;
    }
    for (; j < n; j++) m = x[j] > m ? x[j] : m;
    return m;
}

AVX2 static float vexp_avx2(float *x, size_t n, float shift) {
    const __m256 sh = _mm256_set1_ps(shift);
    __m256 acc = _mm256_setzero_ps();
    size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 e = scfm__exp256(_mm256_sub_ps(_mm256_loadu_ps(x + j), sh));
        _mm256_storeu_ps(x + j, e);
        acc = _mm256_add_ps(acc, e);
    }
    if (j < n) { /* tail through a padded copy: same polynomial for every element */
        float t[8] = {0};
        size_t k = n - j;
        for (size_t i = 0; i < k; i++) t[i] = x[j + i] - shift;
        for (size_t i = k; i < 8; i++) t[i] = -INFINITY;
        __m256 e = scfm__exp256(_mm256_loadu_ps(t));
        __m256 mask = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32((int)k),
                                                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)));
        e = _mm256_and_ps(e, mask);
        _mm256_storeu_ps(t, e);
        for (size_t i = 0; i < k; i++) x[j + i] = t[i];
        acc = _mm256_add_ps(acc, e);
    }
    return hsum256(acc);
}
#endif

float scfm__vmax(const float *x, size_t n) {
#ifdef SCFM_VEXP_AVX2
    if (use_avx2()) return vmax_avx2(x, n);
#endif
    return vmax_portable(x, n);
}

float scfm__vexp_shift_sum(float *x, size_t n, float shift) {
#ifdef SCFM_VEXP_AVX2
    if (use_avx2()) return vexp_avx2(x, n, shift);
#endif
    return vexp_portable(x, n, shift);
}
