/* Private to src/nn: one row-major single-precision GEMM entry point.
 *   C[M,N] = alpha * op(A)[M,K] @ op(B)[K,N] + beta * C
 * With OpenBLAS (SCFM_HAVE_BLAS) this is cblas_sgemm; without it, a blocked loop nest that
 * is correct but slow. Called from inside OpenMP regions too: OpenBLAS's OpenMP build then
 * runs single-threaded in the calling thread. */
#ifndef SCFM_NN_GEMM_H
#define SCFM_NN_GEMM_H
#include <stddef.h>

void scfm__sgemm(int trans_a, int trans_b, size_t M, size_t N, size_t K, float alpha,
                 const float *A, size_t lda, const float *B, size_t ldb, float beta, float *C,
                 size_t ldc);
#endif
