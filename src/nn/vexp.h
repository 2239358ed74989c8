/* Private to src/nn: vectorized exp over float rows, for the softmax in attention.
 * AVX2 + FMA where the CPU has them (chosen at run time; the build stays portable), expf
 * loops otherwise. The AVX2 exp is Cephes' single-precision polynomial (relative error about
 * 2e-7 against expf; inputs below -87.3 give about 1e-38 instead of a subnormal or 0; NaN
 * stays NaN). scfm__vexp_force_portable(1) selects the expf loops (tests compare the two). */
#ifndef SCFM_NN_VEXP_H
#define SCFM_NN_VEXP_H
#include <stddef.h>

/* Maximum of x[0..n) (-INFINITY for n = 0). */
float scfm__vmax(const float *x, size_t n);
/* x[j] = exp(x[j] - shift) for j < n; returns the sum of the new x. */
float scfm__vexp_shift_sum(float *x, size_t n, float shift);
void scfm__vexp_force_portable(int on); /* also the row kernels of vrow.c */
int scfm__vexp_portable(void);
#endif
