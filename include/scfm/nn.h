/* Neural-network kernels (fp32), llm.c style: free functions, output first; backward
 * functions ACCUMULATE (+=) into their gradient outputs unless stated otherwise, and any
 * gradient output may be NULL to skip it. Each kernel has a naive twin (suffix _naive) used
 * by tests/test_nn.c (twin comparison + finite differences).
 *
 * Shape legend: N = rows (tokens of all sequences packed back to back, no padding),
 * C = input channels, OC = output channels, B = sequences in a batch, NH = heads,
 * HS = head size (C = NH*HS), V = vocabulary size.
 * Packed sequences: sequence b occupies rows offs[b] .. offs[b+1]-1 (offs has B+1 entries,
 * offs[0] = 0); attention never crosses sequences, so no FLOPs are spent on padding.
 * Threads: OpenMP inside the kernels, oneDNN or OpenBLAS (OpenMP builds) for the matrix products. */
#ifndef SCFM_NN_H
#define SCFM_NN_H
#include <stddef.h>
#include <stdint.h>

typedef enum {
    SCFM_ACT_RELU,       /* "relu" */
    SCFM_ACT_GELU,       /* "gelu": x*0.5*(1+erf(x/sqrt2)) */
    SCFM_ACT_GELU_TANH,  /* "gelu_new", "gelu_pytorch_tanh": 0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3))) */
    SCFM_ACT_GELU_FAST,  /* "gelu_fast": 0.5x(1+tanh(0.7978845608x(1+0.044715x^2))) */
    SCFM_ACT_QUICK_GELU, /* "quick_gelu": x*sigmoid(1.702x) */
    SCFM_ACT_SILU,       /* "silu", "swish": x*sigmoid(x) */
    SCFM_ACT_TANH        /* "tanh" (pooler) */
} scfm_act;
/* Hugging Face hidden_act name -> enum; returns 0, or -1 for an unknown name. */
int scfm_act_from_name(const char *name, scfm_act *out);
const char *scfm_act_name(scfm_act a);

/* Matrix-product backend (src/nn/gemm.c), chosen at run time: "auto" (default: oneDNN if
 * built in, else OpenBLAS, else portable), "onednn", "openblas", "portable" (plain loops).
 * scfm_gemm_set_backend fails with SCFM_EINVAL for a name this build lacks; set it before any
 * kernel runs (not while kernels run on other threads). scfm_gemm_backends lists the names
 * the build has ("onednn openblas portable"); scfm_gemm_kernel describes what runs, e.g.
 * "oneDNN 2.6.3, avx2 kernels" or "OpenBLAS 0.3.21, Zen kernels". */
int scfm_gemm_set_backend(const char *name);
const char *scfm_gemm_backend(void);
const char *scfm_gemm_backends(void);
const char *scfm_gemm_kernel(char *buf, size_t cap);

/* out[N,OC] = inp[N,C] @ w[OC,C]^T + bias[OC] (bias may be NULL). Written, not accumulated. */
void scfm_matmul_forward(float *out, const float *inp, const float *w, const float *bias,
                         size_t N, size_t C, size_t OC);
/* dinp[N,C] += dout @ w;  dw[OC,C] += dout^T @ inp;  dbias[OC] += column sums of dout. */
void scfm_matmul_backward(float *dinp, float *dw, float *dbias, const float *dout,
                          const float *inp, const float *w, size_t N, size_t C, size_t OC);
/* The same with the rows of dout ld floats apart (ld >= OC); any of dinp, dw, dbias may be NULL. */
void scfm_matmul_backward_ld(float *dinp, float *dw, float *dbias, const float *dout, size_t ld,
                             const float *inp, const float *w, size_t N, size_t C, size_t OC);

/* LayerNorm over C with biased variance: out = (x-mean)*rstd*w + b; saves mean[N], rstd[N]. */
void scfm_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                            const float *w, const float *b, size_t N, size_t C, float eps);
/* The residual step of a post-LayerNorm block in one pass: r[N,C] = (r + bias) + res (bias may
 * be NULL), then out = LayerNorm(r) as scfm_layernorm_forward (r keeps the sum, LN's input). */
void scfm_residual_layernorm_forward(float *r, float *out, float *mean, float *rstd, const float *bias,
                                     const float *res, const float *w, const float *b, size_t N, size_t C,
                                     float eps);
void scfm_layernorm_backward(float *dinp, float *dw, float *db, const float *dout,
                             const float *inp, const float *w, const float *mean,
                             const float *rstd, size_t N, size_t C);

/* Elementwise activation; backward: dinp += act'(inp) * dout. */
void scfm_act_forward(float *out, const float *inp, size_t n, scfm_act a);
void scfm_act_backward(float *dinp, const float *inp, const float *dout, size_t n, scfm_act a);
/* Bias and activation in one pass over pre[N,C]: pre += bias (bias may be NULL), out = act(pre). */
void scfm_bias_act_forward(float *pre, float *out, const float *bias, size_t N, size_t C, scfm_act a);

/* out = a + b (out may alias a or b). */
void scfm_add(float *out, const float *a, const float *b, size_t n);

/* Inverted dropout with a counter-based mask: element i is kept iff
 * scfm_hash_uniform(seed, stream, i) >= p; kept values are scaled by 1/(1-p). p = 0 copies.
 * Backward regenerates the same mask: dinp += mask * dout / (1-p). out may alias inp. */
void scfm_dropout_forward(float *out, const float *inp, size_t n, float p, uint64_t seed, uint64_t stream);
void scfm_dropout_backward(float *dinp, const float *dout, size_t n, float p, uint64_t seed, uint64_t stream);

/* Multi-head self-attention over packed sequences, as BERT computes it:
 * q, k, v, out: [N, NH*HS] (head h = columns h*HS..h*HS+HS-1);
 * P = softmax(q k^T / sqrt(HS)) within each sequence; dropout(p_drop) on P (mask element
 * for (head h, packed query row i, packed key row j) is scfm_hash_uniform(seed, stream,
 * ((uint64_t)h*N + i)*N + j) >= p_drop, N = offs[B]);
 * out = P v. lse[NH*N] saves the per-row log-sum-exp for backward.
 * Computed flash-attention style (query x key tiles, online softmax, vectorized exp, backward
 * recomputing P): fixed per-thread scratch, memory O(N*C), never O(T^2); cannot fail.
 * Backward: dq, dk, dv += (recomputes P from lse). */
void scfm_attention_forward(float *out, float *lse, const float *q, const float *k, const float *v,
                            const size_t *offs, size_t B, size_t NH, size_t HS,
                            float p_drop, uint64_t seed, uint64_t stream);
void scfm_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *out,
                             const float *lse, const float *q, const float *k, const float *v,
                             const size_t *offs, size_t B, size_t NH, size_t HS,
                             float p_drop, uint64_t seed, uint64_t stream);
/* The same with q, k, v (and dq, dk, dv) rows ld floats apart (ld >= NH*HS), e.g. the three
 * column blocks of one fused [N, 3C] projection; out, dout and lse as above. */
void scfm_attention_forward_ld(float *out, float *lse, const float *q, const float *k, const float *v,
                               size_t ld, const size_t *offs, size_t B, size_t NH, size_t HS,
                               float p_drop, uint64_t seed, uint64_t stream);
void scfm_attention_backward_ld(float *dq, float *dk, float *dv, const float *dout, const float *out,
                                const float *lse, const float *q, const float *k, const float *v, size_t ld,
                                const size_t *offs, size_t B, size_t NH, size_t HS,
                                float p_drop, uint64_t seed, uint64_t stream);

/* bfloat16 inference kernels (src/nn/bf16.c). A bf16 is the upper half of a float32's bits.
 * scfm_bf16_from_f32 rounds to nearest even (NaN stays a quiet NaN, subnormals become +-0, as
 * VCVTNEPS2BF16); scfm_bf16_convert does it over an array (AVX512_BF16 where the CPU has it;
 * _naive: the plain-C twin, bit for bit the same). scfm_bf16_supported: 1 when the fast bf16
 * kernels can run (the CPU has avx512_bf16, see scfm_cpu_has and SCFM_CPU_DISABLE, and oneDNN
 * is built in and has its avx512_core_bf16 kernels); else 0 with the missing parts in why.
 * scfm_bf16_matmul_forward: out[N,OC] = inp[N,C] @ w[OC,C]^T + bias[OC] (bias may be NULL),
 * float32 sums and output, by oneDNN's bf16 matmul when supported, else by the twin's loops;
 * SCFM_EINVAL if oneDNN refuses; _b16: the same with the output rounded to bf16, and act
 * (a scfm_act that scfm_bf16_fuses_act accepts: relu, gelu, gelu_tanh; -1: none) applied
 * before the rounding (oneDNN's eltwise post-op; the twin: scfm_act_forward); ENOMEM when the
 * twin cannot allocate its row, EINVAL for an activation it does not fuse.
 * scfm_bf16_attention_forward_ld: the inference (no dropout) case of scfm_attention_forward_ld
 * with q, k, v in bf16 (rows ld apart) and the softmax numerators rounded to bf16, float32
 * softmax and sums (AVX512_BF16 VDPBF16PS when supported and HS % 16 == 0), into
 * out (f32) and/or outb (its bf16 rounding; either may be NULL);
 * _portable: its plain-C twin, the same dot products in the same order (the softmax
 * denominators are summed in another order: last-bit differences). Both need an even HS and
 * allocate per-thread tiles: SCFM_EINVAL / SCFM_ENOMEM. */
typedef uint16_t scfm_bf16;
scfm_bf16 scfm_bf16_from_f32(float x);
float scfm_bf16_to_f32(scfm_bf16 h);
void scfm_bf16_convert(scfm_bf16 *dst, const float *src, size_t n);
void scfm_bf16_convert_naive(scfm_bf16 *dst, const float *src, size_t n);
int scfm_bf16_supported(char *why, size_t cap);
int scfm_bf16_matmul_forward(float *out, const scfm_bf16 *inp, const scfm_bf16 *w, const float *bias, size_t N,
                             size_t C, size_t OC);
void scfm_bf16_matmul_forward_naive(float *out, const scfm_bf16 *inp, const scfm_bf16 *w, const float *bias,
                                    size_t N, size_t C, size_t OC);
int scfm_bf16_matmul_forward_b16(scfm_bf16 *out, const scfm_bf16 *inp, const scfm_bf16 *w, const float *bias,
                                 size_t N, size_t C, size_t OC, int act);
int scfm_bf16_fuses_act(scfm_act a);
int scfm_bf16_attention_forward_ld(float *out, scfm_bf16 *outb, const scfm_bf16 *q, const scfm_bf16 *k,
                                   const scfm_bf16 *v, size_t ld, const size_t *offs, size_t B, size_t NH, size_t HS);
int scfm_bf16_attention_forward_portable(float *out, scfm_bf16 *outb, const scfm_bf16 *q, const scfm_bf16 *k,
                                         const scfm_bf16 *v, size_t ld, const size_t *offs, size_t B, size_t NH,
                                         size_t HS);
/* One row (serial): dst[n] = bf16(src[n]), as scfm_bf16_convert. */
void scfm_bf16_convert_row(scfm_bf16 *dst, const float *src, size_t n);
/* The row passes of bf16 inference with their output rounded to bf16 in the same pass (so the
 * f32 rows are not read again), the same float arithmetic as their f32 versions:
 * scfm_residual_layernorm_forward_bf16: as scfm_residual_layernorm_forward (no statistics
 * kept), out[N,C] f32 and outb[N,C] its bf16 rounding; scfm_bias_act_forward_bf16:
 * out[N,C] = bf16(act(pre + bias)), pre left as it is. */
void scfm_residual_layernorm_forward_bf16(float *r, float *out, scfm_bf16 *outb, const float *bias,
                                          const float *res, const float *w, const float *b, size_t N, size_t C,
                                          float eps);
void scfm_bias_act_forward_bf16(const float *pre, scfm_bf16 *out, const float *bias, size_t N, size_t C,
                                scfm_act a);

/* int8 inference kernels (src/nn/int8.c). scfm_int8_quantize_rows: each row of x[N,C] to
 * q[N,C] with scale[N], symmetric: scale = max|x| / 127, q = round-to-nearest-even(x * 127 /
 * max|x|) clamped to [-127, 127] (a zero row, or one whose max|x| < 3.7e-37: scale 0, q 0;
 * NaN entries quantize to -127 and do not count in the maximum); AVX-512 where the CPU has it,
 * _naive: the plain-C twin, bit for bit the same. Weights quantize the same way, a row per
 * output channel. scfm_int8_supported: 1 when the fast int8 products can run (the CPU has
 * avx512_vnni, see scfm_cpu_has and SCFM_CPU_DISABLE, and oneDNN has its avx512_core_vnni
 * kernels); else 0 with the missing parts in why. scfm_int8_matmul_forward: out[N,OC] =
 * ((float)(xq @ wq^T)[i,o] * ws[o]) * xs[i] + bias[o] (bias may be NULL; the last step one
 * fused multiply-add), int32 sums (exact), by oneDNN's s8 matmul when supported, else by the
 * twin's loops; SCFM_EINVAL if oneDNN refuses or C is so large that int32 sums could
 * overflow (C > 133,000). */
int scfm_int8_supported(char *why, size_t cap);
void scfm_int8_quantize_rows(int8_t *q, float *scale, const float *x, size_t N, size_t C);
void scfm_int8_quantize_rows_naive(int8_t *q, float *scale, const float *x, size_t N, size_t C);
int scfm_int8_matmul_forward(float *out, const int8_t *xq, const float *xs, const int8_t *wq, const float *ws,
                             const float *bias, size_t N, size_t C, size_t OC);
void scfm_int8_matmul_forward_naive(float *out, const int8_t *xq, const float *xs, const int8_t *wq,
                                    const float *ws, const float *bias, size_t N, size_t C, size_t OC);

/* BERT embeddings: out[n] = wte[ids[n]] + wpe[pos[n]] + wtt (token type 0 row). */
void scfm_embedding_forward(float *out, const int32_t *ids, const int32_t *pos, const float *wte,
                            const float *wpe, const float *wtt, size_t N, size_t C);
/* dwte[ids[n]] += dout[n] except for ids[n] == padding_idx (-1: none); dwpe[pos[n]] += dout[n];
 * dwtt += sum dout. Deterministic (no atomics: independent of thread count). */
void scfm_embedding_backward(float *dwte, float *dwpe, float *dwtt, const float *dout,
                             const int32_t *ids, const int32_t *pos, size_t N, size_t C,
                             int64_t padding_idx);

/* Softmax cross-entropy per row; targets < 0 are ignored (Hugging Face uses -100).
 * losses[N] (0 for ignored rows); returns the mean over non-ignored rows (0 if none) and
 * the count in *n_valid. Computed in double for the log-sum-exp. */
float scfm_crossentropy_forward(float *losses, const float *logits, const int32_t *targets,
                                size_t N, size_t V, size_t *n_valid);
/* dlogits = (softmax(logits) - onehot(target)) * scale for valid rows, 0 for ignored rows
 * (written, not accumulated; may alias logits). */
void scfm_crossentropy_backward(float *dlogits, const float *logits, const int32_t *targets,
                                size_t N, size_t V, float scale);

/* AdamW exactly as torch.optim.AdamW (amsgrad off), step t >= 1:
 *   p *= 1 - lr*wd;  m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2;
 *   p -= (lr / (1-b1^t)) * m / (sqrt(v)/sqrt(1-b2^t) + eps) */
void scfm_adamw_update(float *p, const float *g, float *m, float *v, size_t n, float lr,
                       float b1, float b2, float eps, float wd, long t);
/* Sum of squares in double (for global grad-norm clipping). */
double scfm_sumsq(const float *x, size_t n);
void scfm_scale(float *x, size_t n, float s);

/* Naive twins (single-threaded, textbook loops) for tests. The attention twins allocate
 * O(N) doubles and return SCFM_ENOMEM (message set) if that fails, else 0. */
void scfm_matmul_forward_naive(float *out, const float *inp, const float *w, const float *bias,
                               size_t N, size_t C, size_t OC);
void scfm_matmul_backward_naive(float *dinp, float *dw, float *dbias, const float *dout,
                                const float *inp, const float *w, size_t N, size_t C, size_t OC);
int scfm_attention_forward_naive(float *out, float *lse, const float *q, const float *k,
                                 const float *v, const size_t *offs, size_t B, size_t NH,
                                 size_t HS, float p_drop, uint64_t seed, uint64_t stream);
int scfm_attention_backward_naive(float *dq, float *dk, float *dv, const float *dout,
                                   const float *out, const float *lse, const float *q,
                                   const float *k, const float *v, const size_t *offs, size_t B,
                                   size_t NH, size_t HS, float p_drop, uint64_t seed,
                                   uint64_t stream);
void scfm_layernorm_forward_naive(float *out, float *mean, float *rstd, const float *inp,
                                  const float *w, const float *b, size_t N, size_t C, float eps);
void scfm_layernorm_backward_naive(float *dinp, float *dw, float *db, const float *dout,
                                   const float *inp, const float *w, const float *mean,
                                   const float *rstd, size_t N, size_t C);
#endif
