/* Private to src/nn: vectorized row kernels (vrow.c), AVX2 + FMA with portable twins.
 *   scfm__gelu_row           out[j] = GELU(x), x = in[j] (+ bias[j]); pre[j] = x when pre != NULL
 *   scfm__gelu_backward_row  dinp[j] += GELU'(inp[j]) * dout[j]
 *   scfm__relu_row           out[j] = max(x, 0), the same x and pre; scfm__relu_backward_row
 *                            dinp[j] += dout[j] where inp[j] > 0 (both exact: equal to the
 *                            portable loops bit for bit)
 *   scfm__layernorm_row      out = (x - mean) * rstd * w + b over one row of C, the statistics
 *                            (biased variance, eps inside the root) in double
 * GELU is the erf form ("gelu"); the AVX2 path is within 4.7e-7 * max(1, |x|) of it. */
#ifndef SCFM_NN_VROW_H
#define SCFM_NN_VROW_H
#include <stddef.h>

void scfm__gelu_row(float *out, float *pre, const float *in, const float *bias, size_t n);
void scfm__gelu_backward_row(float *dinp, const float *inp, const float *dout, size_t n);
void scfm__relu_row(float *out, float *pre, const float *in, const float *bias, size_t n);
void scfm__relu_backward_row(float *dinp, const float *inp, const float *dout, size_t n);
void scfm__layernorm_row(float *out, float *mean, float *rstd, const float *x, const float *w, const float *b,
                         size_t C, float eps);
#endif
