/* bfloat16 inference kernels (nn.h): rounding of float32 to bf16, the linear layers'
 * products through oneDNN's bf16 matmul, and self-attention with AVX512_BF16 dot products.
 * Every fast kernel has a plain-C twin that emulates the bf16 rounding (round to nearest
 * even of the float32 bits, as VCVTNEPS2BF16) and sums in float32 in the same order where
 * the fast kernel's order is known (attention); tests/test_lowp.c compares the two.
 *
 * Accuracy model: operands are rounded to bf16 (8 significant bits: relative error at most
 * 2^-8), products are exact in float32 and sums are float32; softmax, LayerNorm, activation
 * and the residual sums stay float32 (src/model/lowp.c). */
#include "scfm/core.h"
#include "scfm/nn.h"
#include "vexp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onednn.h"
#if defined(__x86_64__) && defined(__GNUC__) && (__GNUC__ >= 10 || defined(__clang__))
#define SCFM_BF16_X86 1
#include <immintrin.h>
#define BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#endif

/* ---- scalar conversions ------------------------------------------------------------------ */
scfm_bf16 scfm_bf16_from_f32(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (scfm_bf16)((u >> 16) | 0x40u); /* quiet NaN */
    if ((u & 0x7f800000u) == 0) u &= 0x80000000u;                               /* subnormal -> +-0 */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (scfm_bf16)(u >> 16);
}

float scfm_bf16_to_f32(scfm_bf16 h) {
    uint32_t u = (uint32_t)h << 16;
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

void scfm_bf16_convert_naive(scfm_bf16 *dst, const float *src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = scfm_bf16_from_f32(src[i]);
}

static int fast_cpu(void) { return scfm_cpu_has("avx512_bf16"); }

#ifdef SCFM_BF16_X86
BF16_TARGET static void convert_avx512(scfm_bf16 *dst, const float *src, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256bh h = _mm512_cvtneps_pbh(_mm512_loadu_ps(src + i));
        _mm256_storeu_si256((__m256i *)(dst + i), (__m256i)h);
    }
    if (i < n) {
        const __mmask16 k = (__mmask16)((1u << (n - i)) - 1u);
        __m256bh h = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(k, src + i));
        _mm256_mask_storeu_epi16(dst + i, k, (__m256i)h);
    }
}
#endif

static void convert_rows(scfm_bf16 *dst, const float *src, size_t n, int fast) {
#ifdef SCFM_BF16_X86
    if (fast) {
        convert_avx512(dst, src, n);
        return;
    }
#endif
    (void)fast;
    scfm_bf16_convert_naive(dst, src, n);
}

void scfm_bf16_convert_row(scfm_bf16 *dst, const float *src, size_t n) { convert_rows(dst, src, n, fast_cpu()); }

void scfm_bf16_convert(scfm_bf16 *dst, const float *src, size_t n) {
    const int fast = fast_cpu();
    const size_t chunk = 1 << 14;
    if (n <= chunk) {
        convert_rows(dst, src, n, fast);
    } else {
#pragma omp parallel for schedule(static)
        for (size_t c = 0; c < (n + chunk - 1) / chunk; c++) {
            size_t a = c * chunk, len = n - a < chunk ? n - a : chunk;
            convert_rows(dst + a, src + a, len, fast);
        }
    }
#ifdef SCFM_BF16_X86
    if (fast) scfm_vector_state_clean();
#endif
}

/* ---- what can run ------------------------------------------------------------------------- */
int scfm_bf16_supported(char *why, size_t cap) { return scfm__dnnl_supported("avx512_bf16", why, cap); }

/* ---- matrix product --------------------------------------------------------------------- */
void scfm_bf16_matmul_forward_naive(float *out, const scfm_bf16 *inp, const scfm_bf16 *w, const float *bias,
                                    size_t N, size_t C, size_t OC) {
    for (size_t i = 0; i < N; i++)
        for (size_t o = 0; o < OC; o++) {
            float s = 0.0f;
            for (size_t c = 0; c < C; c++) s += scfm_bf16_to_f32(inp[i * C + c]) * scfm_bf16_to_f32(w[o * C + c]);
            out[i * OC + o] = bias ? s + bias[o] : s;
        }
}

#ifdef SCFM_HAVE_DNNL
/* out[M,N] = a[M,K] (row-major bf16) @ w^T (w [N,K] row-major bf16) + bias, out float32 or
 * (out_bf16) the float32 result rounded to bf16 by oneDNN, act (>= 0) as an eltwise post-op. */
static int dnnl_matmul_bf16(void *out, int out_bf16, const scfm_bf16 *a, const scfm_bf16 *w, const float *bias,
                            size_t M, size_t K, size_t N, int act) {
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_attr_t attr = NULL;
    const dnnl_alg_kind_t alg = act == SCFM_ACT_RELU ? dnnl_eltwise_relu
                                : act == SCFM_ACT_GELU ? dnnl_eltwise_gelu_erf
                                                       : dnnl_eltwise_gelu_tanh;
    const int ok = (act < 0 || (dnnl_post_ops_create(&po) == dnnl_success &&
                                dnnl_post_ops_append_eltwise(po, 1.0f, alg, 0.0f, 0.0f) == dnnl_success &&
                                dnnl_primitive_attr_create(&attr) == dnnl_success &&
                                dnnl_primitive_attr_set_post_ops(attr, po) == dnnl_success)) &&
                   scfm__dnnl_matmul(out, out_bf16 ? dnnl_bf16 : dnnl_f32, a, dnnl_bf16, w, dnnl_bf16, bias, NULL, M,
                                     K, N, attr);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (po) dnnl_post_ops_destroy(po);
    if (!ok) return scfm_error(SCFM_EINVAL, "bf16 matmul %zu x %zu x %zu: oneDNN refused it", M, K, N);
    return SCFM_OK;
}
#endif

int scfm_bf16_matmul_forward(float *out, const scfm_bf16 *inp, const scfm_bf16 *w, const float *bias, size_t N,
                             size_t C, size_t OC) {
    if (!N || !OC) return SCFM_OK;
#ifdef SCFM_HAVE_DNNL
    if (C && scfm_bf16_supported(NULL, 0)) return dnnl_matmul_bf16(out, 0, inp, w, bias, N, C, OC, -1);
#endif
    /* no bf16 kernels: the twin, row blocks in parallel */
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < N; i++) scfm_bf16_matmul_forward_naive(out + i * OC, inp + i * C, w, bias, 1, C, OC);
    return SCFM_OK;
}

int scfm_bf16_fuses_act(scfm_act a) { return a == SCFM_ACT_RELU || a == SCFM_ACT_GELU || a == SCFM_ACT_GELU_TANH; }

int scfm_bf16_matmul_forward_b16(scfm_bf16 *out, const scfm_bf16 *inp, const scfm_bf16 *w, const float *bias,
                                 size_t N, size_t C, size_t OC, int act) {
    if (act >= 0 && !scfm_bf16_fuses_act((scfm_act)act))
        return scfm_error(SCFM_EINVAL, "bf16 matmul: activation %d cannot be fused", act);
    if (!N || !OC) return SCFM_OK;
#ifdef SCFM_HAVE_DNNL
    if (C && scfm_bf16_supported(NULL, 0)) return dnnl_matmul_bf16(out, 1, inp, w, bias, N, C, OC, act);
#endif
    int failed = 0;
#pragma omp parallel
    {
        float *row = scfm_malloc(OC * sizeof *row);
        if (!row) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(static)
        for (size_t i = 0; i < N; i++) {
            if (!row) continue;
            scfm_bf16_matmul_forward_naive(row, inp + i * C, w, bias, 1, C, OC);
            if (act >= 0) scfm_act_forward(row, row, OC, (scfm_act)act);
            scfm_bf16_convert_naive(out + i * OC, row, OC);
        }
        free(row);
    }
    scfm_vector_state_clean(); /* the activation's vector rows */
    if (failed) return scfm_error(SCFM_ENOMEM, "bf16 matmul: cannot allocate a row of %zu outputs", OC);
    return SCFM_OK;
}

/* ---- attention -----------------------------------------------------------------------------
 * As scfm_attention_forward_ld without dropout (inference), per (sequence, head) task and
 * blocks of QB query rows x KB keys with the online softmax. In bf16: q, k, v and the
 * softmax numerators P are rounded to bf16; S = q k^T and O += P v are float32 sums of
 * exact products, taken in pairs: acc += a[2p+1] b[2p+1]; acc += a[2p] b[2p] for p = 0, 1,
 * ... (the order of VDPBF16PS), so the twin below gives the same sums. Keys are padded to a
 * multiple of 32 with zeros (exact). */
#define QB 64
#define KB 256

typedef struct {
    scfm_bf16 *qb;  /* [QB][HS] query rows */
    scfm_bf16 *kp;  /* [Tpad/16][HS/2][16][2] the sequence's keys, pairs of head columns */
    scfm_bf16 *vp;  /* [Tpad/2][HS][2] its values, pairs of keys */
    scfm_bf16 *pb;  /* [QB][KB] numerators */
    float *s;       /* [QB][KB] scores */
    float *o;       /* [QB][HS] output rows being summed */
    size_t cap_t;   /* keys kp and vp hold */
} att_scratch;

static int scratch_alloc(att_scratch *w, size_t HS) {
    memset(w, 0, sizeof *w);
    w->qb = scfm_malloc(QB * HS * sizeof *w->qb);
    w->pb = scfm_malloc(QB * KB * sizeof *w->pb);
    w->s = scfm_malloc(QB * KB * sizeof *w->s);
    w->o = scfm_malloc(QB * HS * sizeof *w->o);
    return w->qb && w->pb && w->s && w->o ? 0 : -1;
}

/* Room for Tpad keys of one head. */
static int scratch_keys(att_scratch *w, size_t Tpad, size_t HS) {
    if (Tpad <= w->cap_t) return 0;
    free(w->kp);
    free(w->vp);
    w->cap_t = 0;
    w->kp = scfm_malloc(Tpad * HS * sizeof *w->kp);
    w->vp = scfm_malloc(Tpad * HS * sizeof *w->vp);
    if (!w->kp || !w->vp) return -1;
    w->cap_t = Tpad;
    return 0;
}

static void scratch_free(att_scratch *w) {
    free(w->qb);
    free(w->kp);
    free(w->vp);
    free(w->pb);
    free(w->s);
    free(w->o);
}


#ifdef SCFM_BF16_X86
/* The values of one head as pack_kv lays them out (two key rows interleaved, zeros from key
 * T on), 16 columns at a time: the 32-bit word of column c is v[j][c] | v[j+1][c] << 16. */
BF16_TARGET static void pack_v_avx512(scfm_bf16 *vp, const scfm_bf16 *V, size_t ld, size_t T, size_t Tpad,
                                      size_t HS) {
    for (size_t j = 0; j < Tpad; j += 2)
        for (size_t c = 0; c < HS; c += 16) {
            const __m256i a = j < T ? _mm256_loadu_si256((const __m256i *)(V + j * ld + c)) : _mm256_setzero_si256();
            const __m256i b =
                j + 1 < T ? _mm256_loadu_si256((const __m256i *)(V + (j + 1) * ld + c)) : _mm256_setzero_si256();
            const __m512i lo = _mm512_cvtepu16_epi32(a), hi = _mm512_cvtepu16_epi32(b);
            _mm512_storeu_si512(vp + j * HS + 2 * c, _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)));
        }
}

/* The keys of one head as pack_kv lays them out, 16 keys at a time: for each column pair p
 * one gather of the 16 keys' 32-bit words (rows ld apart), masked to zeros from key T on. */
BF16_TARGET static void pack_k_avx512(scfm_bf16 *kp, const scfm_bf16 *K, size_t ld, size_t T, size_t Tpad,
                                      size_t HS) {
    const size_t HP = HS / 2;
    const __m512i rows = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                            _mm512_set1_epi32((int)(ld * sizeof *K)));
    for (size_t j0 = 0; j0 < Tpad; j0 += 16) {
        const size_t n = j0 >= T ? 0 : T - j0 < 16 ? T - j0 : 16;
        const __mmask16 k = (__mmask16)((1u << n) - 1u);
        scfm_bf16 *kd = kp + (j0 / 16) * HP * 32;
        const scfm_bf16 *base = K + (n ? j0 * ld : 0);
        for (size_t p = 0; p < HP; p++)
            _mm512_storeu_si512(kd + p * 32,
                                _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), k, rows, base + 2 * p, 1));
    }
}

/* exp(x) in 16 lanes: the clamp, reduction and polynomial of vexp_avx2.h's scfm__exp256. */
BF16_TARGET static inline __m512 exp512(__m512 x) {
    x = _mm512_min_ps(_mm512_set1_ps(88.3762626647949f), x);
    x = _mm512_max_ps(_mm512_set1_ps(-87.3365447504f), x);
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    const __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(p, _mm512_castsi512_ps(e));
}

/* The softmax numerators of one block of a score row in one pass after the max: m = the
 * larger of mold and max s[0, kn); pr[j] = bf16(exp(s[j] - m)) for j < kn, zeros up to kpad
 * (a multiple of 32). Returns the float32 sum of the exp values (before rounding). */
BF16_TARGET static float numerators_avx512(const float *s, size_t kn, size_t kpad, float mold, float *mout,
                                           scfm_bf16 *pr) {
    const __mmask16 tail = (__mmask16)((1u << (kn % 16)) - 1u);
    const size_t full = kn / 16 * 16;
    __m512 mx = _mm512_set1_ps(mold);
    for (size_t j = 0; j < full; j += 16) mx = _mm512_max_ps(mx, _mm512_loadu_ps(s + j));
    if (tail) mx = _mm512_mask_max_ps(mx, tail, mx, _mm512_maskz_loadu_ps(tail, s + full));
    const float m = _mm512_reduce_max_ps(mx);
    const __m512 sh = _mm512_set1_ps(m);
    __m512 acc = _mm512_setzero_ps();
    size_t j = 0;
    for (; j < full; j += 16) {
        const __m512 e = exp512(_mm512_sub_ps(_mm512_loadu_ps(s + j), sh));
        acc = _mm512_add_ps(acc, e);
        _mm256_storeu_si256((__m256i *)(pr + j), (__m256i)_mm512_cvtneps_pbh(e));
    }
    if (tail) {
        const __m512 e = _mm512_maskz_mov_ps(tail, exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(tail, s + j), sh)));
        acc = _mm512_add_ps(acc, e);
        _mm256_storeu_si256((__m256i *)(pr + j), (__m256i)_mm512_cvtneps_pbh(e));
        j += 16;
    }
    for (; j < kpad; j += 16) _mm256_storeu_si256((__m256i *)(pr + j), _mm256_setzero_si256());
    *mout = m;
    return _mm512_reduce_add_ps(acc);
}

/* x[0, n) *= f */
BF16_TARGET static void scale_avx512(float *x, size_t n, float f) {
    const __m512 v = _mm512_set1_ps(f);
    size_t j = 0;
    for (; j + 16 <= n; j += 16) _mm512_storeu_ps(x + j, _mm512_mul_ps(_mm512_loadu_ps(x + j), v));
    if (j < n) {
        const __mmask16 k = (__mmask16)((1u << (n - j)) - 1u);
        _mm512_mask_storeu_ps(x + j, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + j), v));
    }
}
#endif

/* x[0, n) *= f, vectorized on the fast path */
static void scale_row(float *x, size_t n, float f, int fast) {
#ifdef SCFM_BF16_X86
    if (fast) {
        scale_avx512(x, n, f);
        return;
    }
#endif
    for (size_t c = 0; c < n; c++) x[c] *= f;
}

/* Packs the T keys and values (rows ld apart) of one head, zero-padded to Tpad (a multiple
 * of 32). Keys: 32-bit words (column pairs) transposed in blocks of 16 keys; values: two
 * key rows interleaved. */
static void pack_kv(att_scratch *w, const scfm_bf16 *K, const scfm_bf16 *V, size_t ld, size_t T, size_t Tpad,
                    size_t HS, int fast) {
#ifdef SCFM_BF16_X86
    if (fast && HS % 16 == 0) {
        pack_k_avx512(w->kp, K, ld, T, Tpad, HS);
        pack_v_avx512(w->vp, V, ld, T, Tpad, HS);
        return;
    }
#endif
    const size_t HP = HS / 2;
    uint32_t *kp32 = (uint32_t *)w->kp;
    for (size_t j = 0; j < Tpad; j++) {
        uint32_t *kd = kp32 + (j / 16) * HP * 16 + (j % 16);
        if (j < T) {
            const scfm_bf16 *kr = K + j * ld;
            for (size_t p = 0; p < HP; p++) kd[p * 16] = (uint32_t)kr[2 * p] | (uint32_t)kr[2 * p + 1] << 16;
        } else {
            for (size_t p = 0; p < HP; p++) kd[p * 16] = 0;
        }
    }
    for (size_t j = 0; j < Tpad; j += 2) {
        scfm_bf16 *vd = w->vp + j * HS;
        for (size_t c = 0; c < HS; c++) {
            vd[2 * c] = j < T ? V[j * ld + c] : 0;
            vd[2 * c + 1] = j + 1 < T ? V[(j + 1) * ld + c] : 0;
        }
    }
}

/* S[r][j] = scale * sum over pairs (portable: the reference order) */
static void scores_portable(att_scratch *w, const scfm_bf16 *kp, size_t qn, size_t kpad, size_t HS, float scale) {
    const size_t HP = HS / 2;
    for (size_t r = 0; r < qn; r++)
        for (size_t j = 0; j < kpad; j++) {
            const scfm_bf16 *q = w->qb + r * HS, *kk = kp + ((j / 16) * HP * 16 + (j % 16)) * 2;
            float acc = 0.0f;
            for (size_t p = 0; p < HP; p++) {
                acc += scfm_bf16_to_f32(q[2 * p + 1]) * scfm_bf16_to_f32(kk[p * 32 + 1]);
                acc += scfm_bf16_to_f32(q[2 * p]) * scfm_bf16_to_f32(kk[p * 32]);
            }
            w->s[r * KB + j] = acc * scale;
        }
}

/* O[r][c] += sum over key pairs of P v (portable) */
static void pv_portable(att_scratch *w, const scfm_bf16 *vp, float *O, size_t C, size_t qn, size_t kpad, size_t HS) {
    for (size_t r = 0; r < qn; r++) {
        const scfm_bf16 *p = w->pb + r * KB;
        float *o = O + r * C;
        for (size_t c = 0; c < HS; c++) {
            float acc = o[c];
            for (size_t jp = 0; jp < kpad / 2; jp++) {
                acc += scfm_bf16_to_f32(p[2 * jp + 1]) * scfm_bf16_to_f32(vp[(jp * HS + c) * 2 + 1]);
                acc += scfm_bf16_to_f32(p[2 * jp]) * scfm_bf16_to_f32(vp[(jp * HS + c) * 2]);
            }
            o[c] = acc;
        }
    }
}

#ifdef SCFM_BF16_X86
BF16_TARGET static inline __m512bh as_bh(__m512i x) { return (__m512bh)x; }

/* Scores for rows [0, qn) and keys [0, kpad), kpad a multiple of 32: 4 rows x 32 keys per
 * register block, 1 row x 32 keys for the last rows. */
BF16_TARGET static void scores_avx512(att_scratch *w, const scfm_bf16 *kp, size_t qn, size_t kpad, size_t HS,
                                      float scale) {
    const size_t HP = HS / 2;
    const uint32_t *q32 = (const uint32_t *)w->qb;
    const __m512 sc = _mm512_set1_ps(scale);
    for (size_t j0 = 0; j0 < kpad; j0 += 32) {
        const scfm_bf16 *k0 = kp + (j0 / 16) * HP * 32, *k1 = k0 + HP * 32;
        size_t r = 0;
        for (; r + 4 <= qn; r += 4) {
            __m512 a[4][2];
            _Pragma("GCC unroll 4")
            for (int i = 0; i < 4; i++) a[i][0] = a[i][1] = _mm512_setzero_ps();
            for (size_t p = 0; p < HP; p++) {
                const __m512bh b0 = as_bh(_mm512_loadu_si512(k0 + p * 32)), b1 = as_bh(_mm512_loadu_si512(k1 + p * 32));
                _Pragma("GCC unroll 4")
                for (int i = 0; i < 4; i++) {
                    const __m512bh qq = as_bh(_mm512_set1_epi32((int)q32[(r + i) * HP + p]));
                    a[i][0] = _mm512_dpbf16_ps(a[i][0], qq, b0);
                    a[i][1] = _mm512_dpbf16_ps(a[i][1], qq, b1);
                }
            }
            _Pragma("GCC unroll 4")
            for (int i = 0; i < 4; i++) {
                _mm512_storeu_ps(w->s + (r + i) * KB + j0, _mm512_mul_ps(a[i][0], sc));
                _mm512_storeu_ps(w->s + (r + i) * KB + j0 + 16, _mm512_mul_ps(a[i][1], sc));
            }
        }
        for (; r < qn; r++) {
            __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
            for (size_t p = 0; p < HP; p++) {
                const __m512bh qq = as_bh(_mm512_set1_epi32((int)q32[r * HP + p]));
                a0 = _mm512_dpbf16_ps(a0, qq, as_bh(_mm512_loadu_si512(k0 + p * 32)));
                a1 = _mm512_dpbf16_ps(a1, qq, as_bh(_mm512_loadu_si512(k1 + p * 32)));
            }
            _mm512_storeu_ps(w->s + r * KB + j0, _mm512_mul_ps(a0, sc));
            _mm512_storeu_ps(w->s + r * KB + j0 + 16, _mm512_mul_ps(a1, sc));
        }
    }
}

/* O rows += P v; HS a multiple of 16: 4 rows x 64 columns per block where it fits, else
 * 16-column pieces. */
BF16_TARGET static void pv_avx512(att_scratch *w, const scfm_bf16 *vp, float *O, size_t C, size_t qn, size_t kpad,
                                  size_t HS) {
    const size_t JP = kpad / 2;
    size_t c0 = 0;
    for (; c0 + 64 <= HS; c0 += 64) {
        size_t r = 0;
        for (; r + 4 <= qn; r += 4) {
            __m512 a[4][4];
            _Pragma("GCC unroll 4")
            for (int i = 0; i < 4; i++)
                _Pragma("GCC unroll 4")
                for (int t = 0; t < 4; t++) a[i][t] = _mm512_loadu_ps(O + (r + i) * C + c0 + 16 * t);
            const uint32_t *p0 = (const uint32_t *)(w->pb + r * KB);
            for (size_t jp = 0; jp < JP; jp++) {
                const scfm_bf16 *vv = vp + (jp * HS + c0) * 2;
                const __m512bh v0 = as_bh(_mm512_loadu_si512(vv)), v1 = as_bh(_mm512_loadu_si512(vv + 32)),
                               v2 = as_bh(_mm512_loadu_si512(vv + 64)), v3 = as_bh(_mm512_loadu_si512(vv + 96));
                _Pragma("GCC unroll 4")
                for (int i = 0; i < 4; i++) {
                    const __m512bh pp = as_bh(_mm512_set1_epi32((int)p0[i * (KB / 2) + jp]));
                    a[i][0] = _mm512_dpbf16_ps(a[i][0], pp, v0);
                    a[i][1] = _mm512_dpbf16_ps(a[i][1], pp, v1);
                    a[i][2] = _mm512_dpbf16_ps(a[i][2], pp, v2);
                    a[i][3] = _mm512_dpbf16_ps(a[i][3], pp, v3);
                }
            }
            _Pragma("GCC unroll 4")
            for (int i = 0; i < 4; i++)
                _Pragma("GCC unroll 4")
                for (int t = 0; t < 4; t++) _mm512_storeu_ps(O + (r + i) * C + c0 + 16 * t, a[i][t]);
        }
        for (; r < qn; r++) {
            __m512 a[4];
            _Pragma("GCC unroll 4")
            for (int t = 0; t < 4; t++) a[t] = _mm512_loadu_ps(O + r * C + c0 + 16 * t);
            const uint32_t *p0 = (const uint32_t *)(w->pb + r * KB);
            for (size_t jp = 0; jp < JP; jp++) {
                const scfm_bf16 *vv = vp + (jp * HS + c0) * 2;
                const __m512bh pp = as_bh(_mm512_set1_epi32((int)p0[jp]));
                _Pragma("GCC unroll 4")
                for (int t = 0; t < 4; t++) a[t] = _mm512_dpbf16_ps(a[t], pp, as_bh(_mm512_loadu_si512(vv + 32 * t)));
            }
            _Pragma("GCC unroll 4")
            for (int t = 0; t < 4; t++) _mm512_storeu_ps(O + r * C + c0 + 16 * t, a[t]);
        }
    }
    for (; c0 < HS; c0 += 16)
        for (size_t r = 0; r < qn; r++) {
            __m512 a = _mm512_loadu_ps(O + r * C + c0);
            const uint32_t *p0 = (const uint32_t *)(w->pb + r * KB);
            for (size_t jp = 0; jp < JP; jp++)
                a = _mm512_dpbf16_ps(a, as_bh(_mm512_set1_epi32((int)p0[jp])),
                                     as_bh(_mm512_loadu_si512(vp + (jp * HS + c0) * 2)));
            _mm512_storeu_ps(O + r * C + c0, a);
        }
}
#endif

/* One (sequence, head) task. fast: the AVX512_BF16 kernels (HS % 16 == 0). Returns -1 when
 * the key tiles cannot be allocated. */
static int attention_task(att_scratch *w, float *out, scfm_bf16 *outb, const scfm_bf16 *q, const scfm_bf16 *k,
                          const scfm_bf16 *v, size_t ld, size_t C, size_t o, size_t T, size_t h, size_t HS, int fast) {
    const float scale = 1.0f / sqrtf((float)HS);
    const size_t Tpad = (T + 31) / 32 * 32, HP = HS / 2;
    float mrow[QB], lrow[QB];
    if (scratch_keys(w, Tpad, HS)) return -1;
    pack_kv(w, k + o * ld + h * HS, v + o * ld + h * HS, ld, T, Tpad, HS, fast);
    for (size_t i0 = 0; i0 < T; i0 += QB) {
        const size_t qn = T - i0 < QB ? T - i0 : QB, row0 = o + i0;
        float *O = w->o;
        memset(O, 0, qn * HS * sizeof *O);
        for (size_t r = 0; r < qn; r++) {
            mrow[r] = -INFINITY;
            lrow[r] = 0.0f;
            memcpy(w->qb + r * HS, q + (row0 + r) * ld + h * HS, HS * sizeof *w->qb);
        }
        for (size_t j0 = 0; j0 < T; j0 += KB) {
            const size_t kn = T - j0 < KB ? T - j0 : KB, kpad = (kn + 31) / 32 * 32;
            const scfm_bf16 *kp = w->kp + (j0 / 16) * HP * 32, *vp = w->vp + j0 * HS;
#ifdef SCFM_BF16_X86
            if (fast) scores_avx512(w, kp, qn, kpad, HS, scale);
            else
#endif
                scores_portable(w, kp, qn, kpad, HS, scale);
            for (size_t r = 0; r < qn; r++) {
                float *s = w->s + r * KB, mnew, sum;
                scfm_bf16 *pr = w->pb + r * KB;
#ifdef SCFM_BF16_X86
                if (fast) sum = numerators_avx512(s, kn, kpad, mrow[r], &mnew, pr);
                else
#endif
                {
                    const float bm = scfm__vmax(s, kn);
                    mnew = bm > mrow[r] ? bm : mrow[r];
                    sum = scfm__vexp_shift_sum(s, kn, mnew);
                    convert_rows(pr, s, kn, 0);
                    for (size_t j = kn; j < kpad; j++) pr[j] = 0;
                }
                const float corr = expf(mrow[r] - mnew);
                lrow[r] = lrow[r] * corr + sum;
                mrow[r] = mnew;
                if (corr != 1.0f) scale_row(O + r * HS, HS, corr, fast);
            }
#ifdef SCFM_BF16_X86
            if (fast) pv_avx512(w, vp, O, HS, qn, kpad, HS);
            else
#endif
                pv_portable(w, vp, O, HS, qn, kpad, HS);
        }
        for (size_t r = 0; r < qn; r++) {
            float *orow = O + r * HS;
            scale_row(orow, HS, 1.0f / lrow[r], fast);
            if (out) memcpy(out + (row0 + r) * C + h * HS, orow, HS * sizeof *orow);
            if (outb) convert_rows(outb + (row0 + r) * C + h * HS, orow, HS, fast);
        }
    }
    return 0;
}

static int attention(float *out, scfm_bf16 *outb, const scfm_bf16 *q, const scfm_bf16 *k, const scfm_bf16 *v,
                     size_t ld,
                     const size_t *offs, size_t B, size_t NH, size_t HS, int fast) {
    if (HS % 2) return scfm_error(SCFM_EINVAL, "bf16 attention: head size %zu is odd", HS);
    const size_t C = NH * HS;
    int failed = 0;
#pragma omp parallel
    {
        att_scratch w;
        int bad = scratch_alloc(&w, HS);
        if (bad) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 1)
        for (size_t task = 0; task < B * NH; task++) {
            if (bad) continue;
            const size_t b = task / NH, h = task % NH;
            if (attention_task(&w, out, outb, q, k, v, ld, C, offs[b], offs[b + 1] - offs[b], h, HS, fast)) {
                bad = 1;
#pragma omp atomic write
                failed = 1;
            }
        }
        scratch_free(&w);
    }
    if (fast) scfm_vector_state_clean();
    if (failed) return scfm_error(SCFM_ENOMEM, "bf16 attention: cannot allocate the per-thread tiles");
    return SCFM_OK;
}

int scfm_bf16_attention_forward_ld(float *out, scfm_bf16 *outb, const scfm_bf16 *q, const scfm_bf16 *k,
                                   const scfm_bf16 *v, size_t ld, const size_t *offs, size_t B, size_t NH, size_t HS) {
    int fast = 0;
#ifdef SCFM_BF16_X86
    fast = fast_cpu() && HS % 16 == 0;
#endif
    return attention(out, outb, q, k, v, ld, offs, B, NH, HS, fast);
}

int scfm_bf16_attention_forward_portable(float *out, scfm_bf16 *outb, const scfm_bf16 *q, const scfm_bf16 *k,
                                         const scfm_bf16 *v, size_t ld, const size_t *offs, size_t B, size_t NH,
                                         size_t HS) {
    return attention(out, outb, q, k, v, ld, offs, B, NH, HS, 0);
}
