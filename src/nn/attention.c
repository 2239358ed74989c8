/* Multi-head self-attention over packed sequences (see nn.h), flash-attention style.
 *
 * Work is split into (sequence, head) tasks. Inside a task the queries are processed in
 * blocks of QBLOCK rows and, for each, the keys in blocks of KBLOCK: scores S = q k^T /
 * sqrt(HS) for the block pair, an online softmax (running row maximum and sum; the output
 * rows accumulated so far are rescaled when the maximum grows), dropout on the probabilities
 * from a counter-based mask, out += P v; at the end out /= sum and the row's log-sum-exp is
 * saved. Backward recomputes P block by block from the saved log-sum-exp. Scratch is a few
 * QBLOCK x KBLOCK tiles per thread (thread-local, nothing allocated), so memory does not grow
 * with T and the kernels cannot fail. exp runs vectorized (vexp.c). Tasks write disjoint
 * rows/columns of out, dq, dk, dv: no atomics, and the result does not depend on the number
 * of threads. */
#include "scfm/nn.h"
#include "scfm/rng.h"
#include "gemm.h"
#include "vexp.h"

#include <math.h>
#include <string.h>

#ifndef QBLOCK
#define QBLOCK 256
#endif
#ifndef KBLOCK
#define KBLOCK 256
#endif

static _Thread_local float tile_a[QBLOCK * KBLOCK], tile_b[QBLOCK * KBLOCK];

/* Dropout mask of attention probability (head h, packed query row i, packed key row j). */
static inline int kept(uint64_t seed, uint64_t stream, float p, size_t h, size_t N, size_t i, size_t j) {
    return scfm_hash_uniform(seed, stream, ((uint64_t)h * N + i) * N + j) >= p;
}

void scfm_attention_forward_ld(float *out, float *lse, const float *q, const float *k, const float *v,
                               size_t ld, const size_t *offs, size_t B, size_t NH, size_t HS,
                               float p_drop, uint64_t seed, uint64_t stream) {
    const size_t C = NH * HS, N = offs[B];
    const float scale = 1.0f / sqrtf((float)HS);
    const float keep_scale = p_drop > 0.0f ? 1.0f / (1.0f - p_drop) : 1.0f;
#pragma omp parallel for schedule(dynamic, 1)
    for (size_t task = 0; task < B * NH; task++) {
        float *S = tile_a;
        float mrow[QBLOCK], lrow[QBLOCK];
        size_t b = task / NH, h = task % NH;
        size_t o = offs[b], T = offs[b + 1] - offs[b];
        for (size_t i0 = 0; i0 < T; i0 += QBLOCK) {
            const size_t qn = T - i0 < QBLOCK ? T - i0 : QBLOCK, row0 = o + i0;
            const float *Q = q + row0 * ld + h * HS;
            float *O = out + row0 * C + h * HS;
            for (size_t r = 0; r < qn; r++) {
                mrow[r] = -INFINITY;
                lrow[r] = 0.0f;
                memset(O + r * C, 0, HS * sizeof *O);
            }
            for (size_t j0 = 0; j0 < T; j0 += KBLOCK) {
                const size_t kn = T - j0 < KBLOCK ? T - j0 : KBLOCK;
                const float *K = k + (o + j0) * ld + h * HS, *V = v + (o + j0) * ld + h * HS;
                scfm__sgemm(0, 1, qn, kn, HS, scale, Q, ld, K, ld, 0.0f, S, kn);
                for (size_t r = 0; r < qn; r++) {
                    float *s = S + r * kn;
                    const float bm = scfm__vmax(s, kn), mnew = bm > mrow[r] ? bm : mrow[r];
                    const float corr = expf(mrow[r] - mnew); /* 0 on the first key block */
                    lrow[r] = lrow[r] * corr + scfm__vexp_shift_sum(s, kn, mnew);
                    mrow[r] = mnew;
                    if (corr != 1.0f) {
                        float *orow = O + r * C;
                        for (size_t c = 0; c < HS; c++) orow[c] *= corr;
                    }
                    if (p_drop > 0.0f) {
                        const size_t gi = row0 + r;
                        for (size_t j = 0; j < kn; j++)
                            if (!kept(seed, stream, p_drop, h, N, gi, o + j0 + j)) s[j] = 0.0f;
                    }
                }
                scfm__sgemm(0, 0, qn, HS, kn, 1.0f, S, kn, V, ld, 1.0f, O, C);
            }
            for (size_t r = 0; r < qn; r++) {
                const float f = keep_scale / lrow[r];
                float *orow = O + r * C;
                for (size_t c = 0; c < HS; c++) orow[c] *= f;
                lse[h * N + row0 + r] = mrow[r] + logf(lrow[r]);
            }
        }
    }
}

void scfm_attention_backward_ld(float *dq, float *dk, float *dv, const float *dout, const float *out,
                                const float *lse, const float *q, const float *k, const float *v, size_t ld,
                                const size_t *offs, size_t B, size_t NH, size_t HS,
                                float p_drop, uint64_t seed, uint64_t stream) {
    const size_t C = NH * HS, N = offs[B];
    const float scale = 1.0f / sqrtf((float)HS);
    const float keep_scale = p_drop > 0.0f ? 1.0f / (1.0f - p_drop) : 1.0f;
#pragma omp parallel for schedule(dynamic, 1)
    for (size_t task = 0; task < B * NH; task++) {
        float *P = tile_a, *G = tile_b;
        float Dq[QBLOCK];
        size_t b = task / NH, h = task % NH;
        size_t o = offs[b], T = offs[b + 1] - offs[b];
        for (size_t i0 = 0; i0 < T; i0 += QBLOCK) {
            const size_t qn = T - i0 < QBLOCK ? T - i0 : QBLOCK, row0 = o + i0;
            const float *Q = q + row0 * ld + h * HS, *dO = dout + row0 * C + h * HS;
            /* D = rowsum(dO * O) = sum_j P_ij dP_ij */
            for (size_t r = 0; r < qn; r++) {
                const float *orow = out + (row0 + r) * C + h * HS, *drow = dO + r * C;
                float d = 0.0f;
                for (size_t c = 0; c < HS; c++) d += orow[c] * drow[c];
                Dq[r] = d;
            }
            for (size_t j0 = 0; j0 < T; j0 += KBLOCK) {
                const size_t kn = T - j0 < KBLOCK ? T - j0 : KBLOCK, col0 = o + j0;
                const float *K = k + col0 * ld + h * HS, *V = v + col0 * ld + h * HS;
                /* P = softmax(S) recomputed from the saved log-sum-exp */
                scfm__sgemm(0, 1, qn, kn, HS, scale, Q, ld, K, ld, 0.0f, P, kn);
                for (size_t r = 0; r < qn; r++) (void)scfm__vexp_shift_sum(P + r * kn, kn, lse[h * N + row0 + r]);
                /* dv += Pdrop^T dO */
                if (dv) {
                    const float *Pd = P;
                    if (p_drop > 0.0f) {
                        for (size_t r = 0; r < qn; r++)
                            for (size_t j = 0; j < kn; j++)
                                G[r * kn + j] = kept(seed, stream, p_drop, h, N, row0 + r, col0 + j)
                                                    ? P[r * kn + j] * keep_scale
                                                    : 0.0f;
                        Pd = G;
                    }
                    scfm__sgemm(1, 0, kn, HS, qn, 1.0f, Pd, kn, dO, C, 1.0f, dv + col0 * ld + h * HS, ld);
                }
                if (!dq && !dk) continue;
                /* dPdrop = dO v^T; dP = dPdrop * mask * keep_scale; dS = P (dP - D) */
                scfm__sgemm(0, 1, qn, kn, HS, 1.0f, dO, C, V, ld, 0.0f, G, kn);
                for (size_t r = 0; r < qn; r++) {
                    const float *p = P + r * kn;
                    float *g = G + r * kn;
                    if (p_drop > 0.0f) {
                        for (size_t j = 0; j < kn; j++) {
                            float dp = kept(seed, stream, p_drop, h, N, row0 + r, col0 + j) ? g[j] * keep_scale : 0.0f;
                            g[j] = p[j] * (dp - Dq[r]);
                        }
                    } else {
                        for (size_t j = 0; j < kn; j++) g[j] = p[j] * (g[j] - Dq[r]);
                    }
                }
                if (dq) scfm__sgemm(0, 0, qn, HS, kn, scale, G, kn, K, ld, 1.0f, dq + row0 * ld + h * HS, ld);
                if (dk) scfm__sgemm(1, 0, kn, HS, qn, scale, G, kn, Q, ld, 1.0f, dk + col0 * ld + h * HS, ld);
            }
        }
    }
}

void scfm_attention_forward(float *out, float *lse, const float *q, const float *k, const float *v,
                            const size_t *offs, size_t B, size_t NH, size_t HS,
                            float p_drop, uint64_t seed, uint64_t stream) {
    scfm_attention_forward_ld(out, lse, q, k, v, NH * HS, offs, B, NH, HS, p_drop, seed, stream);
}

void scfm_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *out,
                             const float *lse, const float *q, const float *k, const float *v,
                             const size_t *offs, size_t B, size_t NH, size_t HS,
                             float p_drop, uint64_t seed, uint64_t stream) {
    scfm_attention_backward_ld(dq, dk, dv, dout, out, lse, q, k, v, NH * HS, offs, B, NH, HS, p_drop, seed, stream);
}
