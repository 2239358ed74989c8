/* int8 inference (src/nn/int8.c, src/model/lowp.c): quantization and the int8 product against
 * their plain-C twins, int8 against float32 (with the attention on the bf16 kernels where the
 * CPU has them, and again with avx512_bf16 masked: float32 attention), and the refusals. On a CPU without avx512_vnni
 * (or with SCFM_CPU_DISABLE=avx512_vnni) the twins are still checked against float32 and the
 * refusal is checked; the comparisons that need the fast kernels are skipped (exit 77 when
 * nothing else failed). */
#include "scfm/core.h"
#include "scfm/model.h"
#include "scfm/nn.h"
#include "scfm/rng.h"
#include "testutil.h"
#include "lowp_model.h"

#include <float.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>

static scfm_rng rng;

/* ---- quantization: the vector rows equal the twin's; each value within half a step ---- */
static void test_quantize(size_t N, size_t C) {
    float *x = lowp_randv(&rng, N * C, 3.0f);
    if (N > 1) memset(x + C, 0, C * sizeof *x); /* a zero row */
    if (N > 2) {                                /* a row with one outlier and exact ties */
        x[2 * C] = 1000.0f;
        for (size_t c = 1; c < C; c++) x[2 * C + c] = (float)((double)c * 1000.0 / 127.0 / 2.0);
    }
    if (N > 3) /* a row too small for a finite 127 / max (below 127 / FLT_MAX): a zero row */
        for (size_t c = 0; c < C; c++) x[3 * C + c] = 1e-38f * (float)((int)(c % 7) - 3);
    int8_t *q1 = malloc(N * C), *q2 = malloc(N * C);
    float *s1 = malloc(N * sizeof *s1), *s2 = malloc(N * sizeof *s2);
    scfm_int8_quantize_rows(q1, s1, x, N, C);
    CHECK(scfm_vector_state_dirty() != 1, "upper vector state dirty after int8 quantization");
    scfm_int8_quantize_rows_naive(q2, s2, x, N, C);
    CHECK(!memcmp(q1, q2, N * C) && !memcmp(s1, s2, N * sizeof *s1),
          "int8 quantization (N %zu C %zu) differs from its twin", N, C);
    double worst = 0;
    int in_range = 1, extreme = 1;
    for (size_t i = 0; i < N; i++) {
        float amax = 0;
        int qmax = 0;
        for (size_t c = 0; c < C; c++) {
            amax = fabsf(x[i * C + c]) > amax ? fabsf(x[i * C + c]) : amax;
            const int q = q2[i * C + c];
            if (q < -127 || q > 127) in_range = 0;
            qmax = abs(q) > qmax ? abs(q) : qmax;
            if (s2[i] > 0) {
                const double e = fabs((double)q * s2[i] - x[i * C + c]) / s2[i];
                if (e > worst) worst = e;
            }
        }
        const int zero_row = !(amax >= 127.0f / FLT_MAX);
        if (!zero_row && qmax != 127) extreme = 0; /* the largest entry maps to +-127 */
        if (zero_row && (s2[i] != 0 || qmax != 0)) extreme = 0;
    }
    CHECK(in_range, "int8 quantization left [-127, 127]");
    CHECK(extreme, "int8 quantization: a row's largest entry is not +-127 (or a zero row has a scale)");
    CHECK(worst <= 0.5 + 1e-4, "int8 quantization error %.4f steps (> half a step)", worst);
    free(x); free(q1); free(q2); free(s1); free(s2);
}

/* ---- the product: fast vs twin, int8 vs float32 ---- */
static void test_matmul(size_t N, size_t C, size_t OC, int fast) {
    float *x = lowp_randv(&rng, N * C, 1.0f), *w = lowp_randv(&rng, OC * C, 0.05f), *b = lowp_randv(&rng, OC, 0.1f);
    int8_t *xq = malloc(N * C), *wq = malloc(OC * C);
    float *xs = malloc(N * sizeof *xs), *ws = malloc(OC * sizeof *ws);
    scfm_int8_quantize_rows(xq, xs, x, N, C);
    scfm_int8_quantize_rows(wq, ws, w, OC, C);
    float *o1 = malloc(N * OC * sizeof *o1), *o2 = malloc(N * OC * sizeof *o2), *o3 = malloc(N * OC * sizeof *o3);
    CHECK(scfm_int8_matmul_forward(o1, xq, xs, wq, ws, b, N, C, OC) == 0, "int8 matmul: %s", scfm_last_error());
    CHECK(scfm_vector_state_dirty() != 1, "upper vector state dirty after int8 matmul");
    scfm_int8_matmul_forward_naive(o2, xq, xs, wq, ws, b, N, C, OC);
    for (size_t i = 0; i < N; i++)
        for (size_t o = 0; o < OC; o++) {
            double s = b[o];
            for (size_t c = 0; c < C; c++) s += (double)x[i * C + c] * w[o * C + c];
            o3[i * OC + o] = (float)s;
        }
    size_t diff = 0;
    double d12 = 0;
    for (size_t i = 0; i < N * OC; i++) {
        diff += o1[i] != o2[i];
        const double e = fabs((double)o1[i] - o2[i]);
        if (e > d12) d12 = e;
    }
    const double rr = lowp_rel_rms(o2, o3, N * OC);
    printf("int8 matmul %zux%zux%zu (%s): %zu of %zu differ from the twin (max %.3g), rel RMS vs f32 %.4f\n", N, C, OC,
           fast ? "oneDNN" : "twin", diff, N * OC, d12, rr);
    /* the int32 sums are exact and both scale them with the same float steps: bit for bit */
    CHECK(diff == 0, "int8 matmul differs from its twin in %zu of %zu values (max %.3g)", diff, N * OC, d12);
    CHECK(rr <= 0.02, "int8 matmul relative RMS error %.4f against float32", rr);
    CHECK(rr > 0, "int8 matmul equals float32 exactly: the operands were not quantized");
    CHECK(scfm_int8_matmul_forward(o1, xq, xs, wq, ws, NULL, N, C, OC) == 0, "int8 matmul without bias");
    scfm_int8_matmul_forward_naive(o2, xq, xs, wq, ws, NULL, N, C, OC);
    d12 = 0;
    for (size_t i = 0; i < N * OC; i++) d12 = fmax(d12, fabs((double)o1[i] - o2[i]));
    CHECK(d12 == 0, "int8 matmul without bias differs from its twin by %.3g", d12);
    free(x); free(w); free(b); free(xq); free(wq); free(xs); free(ws); free(o1); free(o2); free(o3);
}

static void test_matmul_limits(void) {
    int8_t q = 1;
    float s = 1, o = 0;
    CHECK(scfm_int8_matmul_forward(&o, &q, &s, &q, &s, NULL, 1, 200000, 1) == SCFM_EINVAL,
          "int8 matmul accepted 200,000 inputs (int32 sums could overflow)");
    CHECK(strstr(scfm_last_error(), "overflow") != NULL, "the refusal says why: '%s'", scfm_last_error());
    CHECK(scfm_int8_matmul_forward(&o, &q, &s, &q, &s, NULL, 0, 4, 1) == 0, "empty int8 matmul");
}

static void test_names(void) {
    scfm_precision p;
    CHECK(scfm_precision_from_name("int8", &p) == 0 && p == SCFM_PREC_INT8, "int8 name");
    CHECK(!strcmp(scfm_precision_name(SCFM_PREC_INT8), "int8"), "name of int8");
    CHECK(scfm_precision_from_name("int4", &p) == SCFM_EINVAL, "int4 accepted");
    CHECK(strstr(scfm_last_error(), "int8") != NULL, "the names listed: '%s'", scfm_last_error());
}

int main(int argc, char **argv) {
    (void)argc;
    scfm_rng_seed(&rng, 43);
    char why[256];
    const int supported = scfm_int8_supported(why, sizeof why);
    printf("int8 supported: %s%s\n", supported ? "yes" : "no: ", supported ? "" : why);
    test_quantize(5, 256);
    test_quantize(3, 7);   /* shorter than a vector */
    test_quantize(4, 600); /* a tail */
    test_matmul(64, 256, 768, supported);
    test_matmul(37, 100, 30, supported);
    test_matmul(513, 1024, 256, supported);
    test_matmul_limits();
    test_names();
    /* int8 forward against fp32 (lowp_model.h) */
    lowp_model_vs_fp32(&rng, "geneformer-v1", 3, -1, SCFM_PREC_INT8, supported, "avx512_vnni");    /* relu */
    lowp_model_vs_fp32(&rng, "mouse-geneformer", 2, -1, SCFM_PREC_INT8, supported, "avx512_vnni"); /* silu */
    if (supported && !getenv("SCFM_CPU_DISABLE")) {
        char cmd[4200];
        snprintf(cmd, sizeof cmd, "SCFM_CPU_DISABLE=avx512_vnni '%s'", argv[0]);
        int st = system(cmd);
        CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 77,
              "with SCFM_CPU_DISABLE=avx512_vnni: exit %d, want 77 (skipped, nothing failed)",
              st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1);
        /* where the CPU has bf16 the int8 forward's attention runs on the bf16 kernels: the
         * f32-attention variant (a CPU with VNNI and no BF16) passes the same checks */
        if (scfm_bf16_supported(NULL, 0)) {
            snprintf(cmd, sizeof cmd, "SCFM_CPU_DISABLE=avx512_bf16 '%s' > /dev/null", argv[0]);
            st = system(cmd);
            CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "with SCFM_CPU_DISABLE=avx512_bf16 (int8 with f32 attention): exit %d, want 0",
                  st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1);
        }
    }
    if (!supported) tu_skip("int8 kernels not supported here (%s): the int8 forward not run", why);
    return TEST_END();
}
