/* Multi-head self-attention over packed sequences (see nn.h).
 *
 * Work is split into (sequence, head) tasks. Inside a task the queries are processed in
 * blocks of QBLOCK rows: scores S = q k^T / sqrt(HS) for the block (QBLOCK x T floats of
 * scratch per thread), a row softmax whose log-sum-exp is saved, dropout on the
 * probabilities from a counter-based mask, and out = P v. Backward recomputes P from the
 * saved log-sum-exp, so memory is O(QBLOCK * T) per thread, never O(T^2) or O(NH * T^2).
 * Tasks write disjoint rows/columns of out, dq, dk, dv: no atomics, and the result does
 * not depend on the number of threads. */
#include "scfm/nn.h"
#include "scfm/rng.h"
#include "gemm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QBLOCK 64

static float *scratch_alloc(size_t n) {
    float *p = malloc(n * sizeof *p);
    if (!p) { /* kernels have no error channel; 2 x 64 x T floats is tiny next to the activations */
        fprintf(stderr, "scfm: out of memory allocating %zu bytes of attention scratch\n",
                n * sizeof *p);
        abort();
    }
    return p;
}

static size_t max_len(const size_t *offs, size_t B) {
    size_t m = 0;
    for (size_t b = 0; b < B; b++)
        if (offs[b + 1] - offs[b] > m) m = offs[b + 1] - offs[b];
    return m;
}

/* Dropout mask of attention probability (head h, packed query row i, packed key row j). */
static inline int kept(uint64_t seed, uint64_t stream, float p, size_t h, size_t N, size_t i, size_t j) {
    return scfm_hash_uniform(seed, stream, ((uint64_t)h * N + i) * N + j) >= p;
}

void scfm_attention_forward(float *out, float *lse, const float *q, const float *k, const float *v,
                            const size_t *offs, size_t B, size_t NH, size_t HS,
                            float p_drop, uint64_t seed, uint64_t stream) {
    const size_t C = NH * HS, N = offs[B], Tmax = max_len(offs, B);
    const float scale = 1.0f / sqrtf((float)HS);
    const float keep_scale = p_drop > 0.0f ? 1.0f / (1.0f - p_drop) : 1.0f;
    if (Tmax == 0) return;
#pragma omp parallel
    {
        float *S = scratch_alloc((size_t)QBLOCK * Tmax);
#pragma omp for schedule(dynamic, 1)
        for (size_t task = 0; task < B * NH; task++) {
            size_t b = task / NH, h = task % NH;
            size_t o = offs[b], T = offs[b + 1] - offs[b];
            if (T == 0) continue;
            const float *K = k + o * C + h * HS, *V = v + o * C + h * HS;
            for (size_t i0 = 0; i0 < T; i0 += QBLOCK) {
                size_t qn = T - i0 < QBLOCK ? T - i0 : QBLOCK;
                const float *Q = q + (o + i0) * C + h * HS;
                scfm__sgemm(0, 1, qn, T, HS, scale, Q, C, K, C, 0.0f, S, T);
                for (size_t r = 0; r < qn; r++) {
                    float *s = S + r * T;
                    float mx = -INFINITY;
                    for (size_t j = 0; j < T; j++) mx = s[j] > mx ? s[j] : mx;
                    float sum = 0.0f;
                    for (size_t j = 0; j < T; j++) {
                        s[j] = expf(s[j] - mx);
                        sum += s[j];
                    }
                    float inv = 1.0f / sum;
                    size_t gi = o + i0 + r;
                    lse[h * N + gi] = mx + logf(sum);
                    if (p_drop > 0.0f) {
                        for (size_t j = 0; j < T; j++)
                            s[j] = kept(seed, stream, p_drop, h, N, gi, o + j)
                                       ? s[j] * inv * keep_scale
                                       : 0.0f;
                    } else {
                        for (size_t j = 0; j < T; j++) s[j] *= inv;
                    }
                }
                scfm__sgemm(0, 0, qn, HS, T, 1.0f, S, T, V, C, 0.0f, out + (o + i0) * C + h * HS, C);
            }
        }
        free(S);
    }
}

void scfm_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *out,
                             const float *lse, const float *q, const float *k, const float *v,
                             const size_t *offs, size_t B, size_t NH, size_t HS,
                             float p_drop, uint64_t seed, uint64_t stream) {
    const size_t C = NH * HS, N = offs[B], Tmax = max_len(offs, B);
    const float scale = 1.0f / sqrtf((float)HS);
    const float keep_scale = p_drop > 0.0f ? 1.0f / (1.0f - p_drop) : 1.0f;
    if (Tmax == 0) return;
#pragma omp parallel
    {
        float *P = scratch_alloc((size_t)QBLOCK * Tmax);
        float *G = scratch_alloc((size_t)QBLOCK * Tmax);
        float Dq[QBLOCK];
#pragma omp for schedule(dynamic, 1)
        for (size_t task = 0; task < B * NH; task++) {
            size_t b = task / NH, h = task % NH;
            size_t o = offs[b], T = offs[b + 1] - offs[b];
            if (T == 0) continue;
            const float *K = k + o * C + h * HS, *V = v + o * C + h * HS;
            for (size_t i0 = 0; i0 < T; i0 += QBLOCK) {
                size_t qn = T - i0 < QBLOCK ? T - i0 : QBLOCK;
                size_t row0 = o + i0;
                const float *Q = q + row0 * C + h * HS, *dO = dout + row0 * C + h * HS;
                /* P = softmax(S) recomputed from the saved log-sum-exp */
                scfm__sgemm(0, 1, qn, T, HS, scale, Q, C, K, C, 0.0f, P, T);
                for (size_t r = 0; r < qn; r++) {
                    float l = lse[h * N + row0 + r];
                    float *p = P + r * T;
                    for (size_t j = 0; j < T; j++) p[j] = expf(p[j] - l);
                    /* D = rowsum(dO * O) = sum_j P_ij dP_ij */
                    const float *orow = out + (row0 + r) * C + h * HS, *drow = dO + r * C;
                    float d = 0.0f;
                    for (size_t c = 0; c < HS; c++) d += orow[c] * drow[c];
                    Dq[r] = d;
                }
                /* dv += Pdrop^T dO */
                if (dv) {
                    for (size_t r = 0; r < qn; r++) {
                        const float *p = P + r * T;
                        float *g = G + r * T;
                        if (p_drop > 0.0f) {
                            for (size_t j = 0; j < T; j++)
                                g[j] = kept(seed, stream, p_drop, h, N, row0 + r, o + j)
                                           ? p[j] * keep_scale
                                           : 0.0f;
                        } else {
                            memcpy(g, p, T * sizeof *g);
                        }
                    }
                    scfm__sgemm(1, 0, T, HS, qn, 1.0f, G, T, dO, C, 1.0f, dv + o * C + h * HS, C);
                }
                if (!dq && !dk) continue;
                /* dPdrop = dO v^T; dP = dPdrop * mask * keep_scale; dS = P (dP - D) */
                scfm__sgemm(0, 1, qn, T, HS, 1.0f, dO, C, V, C, 0.0f, G, T);
                for (size_t r = 0; r < qn; r++) {
                    const float *p = P + r * T;
                    float *g = G + r * T;
                    if (p_drop > 0.0f) {
                        for (size_t j = 0; j < T; j++) {
                            float dp = kept(seed, stream, p_drop, h, N, row0 + r, o + j)
                                           ? g[j] * keep_scale
                                           : 0.0f;
                            g[j] = p[j] * (dp - Dq[r]);
                        }
                    } else {
                        for (size_t j = 0; j < T; j++) g[j] = p[j] * (g[j] - Dq[r]);
                    }
                }
                if (dq) scfm__sgemm(0, 0, qn, HS, T, scale, G, T, K, C, 1.0f, dq + row0 * C + h * HS, C);
                if (dk) scfm__sgemm(1, 0, T, HS, qn, scale, G, T, Q, C, 1.0f, dk + o * C + h * HS, C);
            }
        }
        free(P);
        free(G);
    }
}
