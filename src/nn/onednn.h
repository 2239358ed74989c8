/* Private to src/nn (onednn.c). scfm__dnnl_supported: 1 when the reduced-precision kernels
 * built on CPU feature `feature` ("avx512_bf16" or "avx512_vnni") can run: the CPU has it (see
 * scfm_cpu_has and SCFM_CPU_DISABLE) and oneDNN is built in with the matching kernels
 * (avx512_core_bf16, avx512_core_vnni); else 0 with the missing parts in why (either may be
 * NULL). With oneDNN: the one oneDNN CPU engine that scfm's oneDNN primitives run on (bf16.c,
 * int8.c), created at the first call (NULL when oneDNN cannot create it), and one matrix
 * product through oneDNN's matmul primitive:
 *   out[M,N] = a[M,K] (row-major) @ w^T (w [N,K] row-major) (+ bias[N], float32)
 * with the operand types given, attr (may be NULL: post-ops, output scales) applied; scales:
 * the run-time output scales (float32 [N], DNNL_ARG_ATTR_OUTPUT_SCALES) when attr asks for
 * them, else NULL. The primitive is created per call (oneDNN keeps created primitives in its
 * own cache, so a repeated shape costs a look-up) and the upper vector state is cleaned
 * after it. Returns 1 on success, 0 when oneDNN refuses or fails. */
#ifndef SCFM_NN_ONEDNN_H
#define SCFM_NN_ONEDNN_H
#include <stddef.h>

int scfm__dnnl_supported(const char *feature, char *why, size_t cap);

#ifdef SCFM_HAVE_DNNL
#include <dnnl.h>

dnnl_engine_t scfm__dnnl_engine(void);
int scfm__dnnl_matmul(void *out, dnnl_data_type_t ot, const void *a, dnnl_data_type_t at, const void *w,
                      dnnl_data_type_t wt, const float *bias, const float *scales, size_t M, size_t K, size_t N,
                      const_dnnl_primitive_attr_t attr);
#endif
#endif
