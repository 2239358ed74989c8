/* Row-major SGEMM behind one entry point, with the backend chosen at run time:
 *   "onednn"   oneDNN's dnnl_sgemm (its own CPU dispatch: AVX-512, AVX2, ... whatever the
 *              processor has, JIT-compiled), when the build found libdnnl;
 *   "openblas" cblas_sgemm of OpenBLAS, whose kernels are chosen by OpenBLAS's CPU detection
 *              (Debian's 0.3.21 does not know some newer CPUs and falls back to SSE3 kernels);
 *   "portable" a plain loop nest (correct, slow; the reference the others are tested against).
 * "auto" (the default) is oneDNN when built in (it picks the kernels from the CPU's features
 * itself and measured at least as fast as OpenBLAS's best kernels), else OpenBLAS, else
 * portable. Both libraries use the same OpenMP runtime (libgomp) as scfm. */
#include "gemm.h"

#include "scfm/core.h"
#include "scfm/nn.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#ifdef SCFM_HAVE_BLAS
#include <cblas.h>
char *openblas_get_corename(void);
char *openblas_get_config(void);
#endif
#ifdef SCFM_HAVE_DNNL
#include <dnnl.h>
#endif

enum { B_UNSET, B_PORTABLE, B_OPENBLAS, B_ONEDNN };
static int backend_sel; /* B_UNSET until first use or scfm_gemm_set_backend */

static int auto_backend(void) {
#if defined(SCFM_HAVE_DNNL)
    return B_ONEDNN;
#elif defined(SCFM_HAVE_BLAS)
    return B_OPENBLAS;
#else
    return B_PORTABLE;
#endif
}

static int backend(void) {
    int b = __atomic_load_n(&backend_sel, __ATOMIC_RELAXED);
    if (b == B_UNSET) {
        b = auto_backend();
        __atomic_store_n(&backend_sel, b, __ATOMIC_RELAXED);
    }
    return b;
}

const char *scfm_gemm_backends(void) {
    return ""
#ifdef SCFM_HAVE_DNNL
           "onednn "
#endif
#ifdef SCFM_HAVE_BLAS
           "openblas "
#endif
           "portable";
}

int scfm_gemm_set_backend(const char *name) {
    int b;
    if (!name || !strcmp(name, "auto")) b = auto_backend();
    else if (!strcmp(name, "portable")) b = B_PORTABLE;
#ifdef SCFM_HAVE_BLAS
    else if (!strcmp(name, "openblas")) b = B_OPENBLAS;
#endif
#ifdef SCFM_HAVE_DNNL
    else if (!strcmp(name, "onednn")) b = B_ONEDNN;
#endif
    else
        return scfm_error(SCFM_EINVAL, "matmul backend '%s' is not available in this build (have: auto %s)", name,
                          scfm_gemm_backends());
    __atomic_store_n(&backend_sel, b, __ATOMIC_RELAXED);
    return SCFM_OK;
}

const char *scfm_gemm_backend(void) {
    switch (backend()) {
    case B_OPENBLAS: return "openblas";
    case B_ONEDNN: return "onednn";
    default: return "portable";
    }
}

#ifdef SCFM_HAVE_DNNL
static const char *dnnl_isa_name(dnnl_cpu_isa_t isa) {
    switch ((int)isa) {
    case dnnl_cpu_isa_sse41: return "sse4.1";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx512_mic: return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    default: return "default";
    }
}
#endif

const char *scfm_gemm_kernel(char *buf, size_t cap) {
    if (!cap) return buf;
    switch (backend()) {
#ifdef SCFM_HAVE_DNNL
    case B_ONEDNN: {
        const dnnl_version_t *v = dnnl_version();
        snprintf(buf, cap, "oneDNN %d.%d.%d, %s kernels", v->major, v->minor, v->patch,
                 dnnl_isa_name(dnnl_get_effective_cpu_isa()));
        break;
    }
#endif
#ifdef SCFM_HAVE_BLAS
    case B_OPENBLAS: {
        /* openblas_get_config(): "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH ..." -> version */
        const char *cfg = openblas_get_config();
        int n = 0;
        if (!strncmp(cfg, "OpenBLAS ", 9)) n = 9 + (int)strcspn(cfg + 9, " ");
        snprintf(buf, cap, "%.*s, %s kernels", n ? n : 8, n ? cfg : "OpenBLAS", openblas_get_corename());
        break;
    }
#endif
    default: snprintf(buf, cap, "portable loops"); break;
    }
    return buf;
}

static void sgemm_loops(int ta, int tb, size_t M, size_t N, size_t K, float alpha,
                        const float *A, size_t lda, const float *B, size_t ldb, float beta,
                        float *C, size_t ldc) {
    for (size_t i = 0; i < M; i++) {
        float *c = C + i * ldc;
        if (beta == 0.0f)
            for (size_t j = 0; j < N; j++) c[j] = 0.0f;
        else if (beta != 1.0f)
            for (size_t j = 0; j < N; j++) c[j] *= beta;
        for (size_t k = 0; k < K; k++) {
            float a = ta ? A[k * lda + i] : A[i * lda + k];
            a *= alpha;
            if (a == 0.0f) continue;
            if (!tb) {
                const float *b = B + k * ldb;
                for (size_t j = 0; j < N; j++) c[j] += a * b[j];
            } else {
                for (size_t j = 0; j < N; j++) c[j] += a * B[j * ldb + k];
            }
        }
    }
}

void scfm__sgemm(int ta, int tb, size_t M, size_t N, size_t K, float alpha, const float *A,
                 size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc) {
    if (M == 0 || N == 0) return;
    if (K == 0) {
        for (size_t i = 0; i < M; i++)
            for (size_t j = 0; j < N; j++) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
        return;
    }
    const int b = backend();
    (void)b;
#ifdef SCFM_HAVE_DNNL
    if (b == B_ONEDNN) {
        /* dnnl_sgemm is row-major, like cblas with CblasRowMajor. It fails only on invalid
         * arguments (none here: leading dimensions are at least the row lengths). */
        if (dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', (dnnl_dim_t)M, (dnnl_dim_t)N, (dnnl_dim_t)K, alpha, A,
                       (dnnl_dim_t)lda, B, (dnnl_dim_t)ldb, beta, C, (dnnl_dim_t)ldc) == dnnl_success) {
            scfm_vector_state_clean(); /* as after every call into a vectorized library */
            return;
        }
    }
#endif
#ifdef SCFM_HAVE_BLAS
    if (b != B_PORTABLE && M <= INT_MAX && N <= INT_MAX && K <= INT_MAX && lda <= INT_MAX && ldb <= INT_MAX &&
        ldc <= INT_MAX) {
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                    (int)M, (int)N, (int)K, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
        scfm_vector_state_clean();
        return;
    }
#endif
    sgemm_loops(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
