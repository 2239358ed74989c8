/* bf16 inference (src/nn/bf16.c, src/model/lowp.c): the fast kernels against their plain-C
 * twins, bf16 against float32, and the refusals. On a CPU without avx512_bf16 (or with
 * SCFM_CPU_DISABLE=avx512_bf16) the twins are still checked against float32 and the refusal
 * is checked; the comparisons that need the fast kernels are skipped (exit 77 when nothing
 * else failed). */
#include "scfm/core.h"
#include "scfm/model.h"
#include "scfm/nn.h"
#include "scfm/rng.h"
#include "testutil.h"
#include "lowp_model.h"

#include <stdint.h>
#include <string.h>
#include <sys/wait.h>

static scfm_rng rng;

static float from_bits(uint32_t u) {
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* ---- rounding ---- */
static void test_rounding(int fast) {
    /* known values: ties to even, carries into the exponent, infinities, NaN, subnormals */
    const struct { uint32_t in; uint16_t out; } cases[] = {
        {0x3f800000u, 0x3f80}, /* 1 */
        {0x3f808000u, 0x3f80}, /* 1 + 2^-8: tie, even stays */
        {0x3f818000u, 0x3f82}, /* tie, odd rounds up */
        {0x3f808001u, 0x3f81}, /* above the tie */
        {0x3f807fffu, 0x3f80}, /* below the tie */
        {0x7f7fffffu, 0x7f80}, /* FLT_MAX rounds to +inf */
        {0xff800000u, 0xff80}, /* -inf */
        {0x7fc00000u, 0x7fc0}, /* quiet NaN */
        {0x7f800001u, 0x7fc0}, /* signalling NaN becomes quiet */
        {0x00000001u, 0x0000}, /* subnormal -> +0 */
        {0x807fffffu, 0x8000}, /* subnormal -> -0 */
        {0x00800000u, 0x0080}, /* FLT_MIN stays */
    };
    const size_t nc = sizeof cases / sizeof cases[0];
    float in[16];
    scfm_bf16 got[16], naive[16];
    for (size_t i = 0; i < nc; i++) in[i] = from_bits(cases[i].in);
    scfm_bf16_convert_naive(naive, in, nc);
    for (size_t i = 0; i < nc; i++)
        CHECK(naive[i] == cases[i].out, "naive bf16(%08x) = %04x, want %04x", cases[i].in, naive[i], cases[i].out);
    scfm_bf16_convert(got, in, nc);
    for (size_t i = 0; i < nc; i++)
        CHECK(got[i] == cases[i].out, "bf16(%08x) = %04x, want %04x (%s)", cases[i].in, got[i], cases[i].out,
              fast ? "avx512_bf16" : "portable");
    /* random bit patterns (every exponent), lengths with tails, both paths bit for bit */
    const size_t n = 100003;
    float *x = malloc(n * sizeof *x);
    scfm_bf16 *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    for (size_t i = 0; i < n; i++) x[i] = from_bits((uint32_t)scfm_rng_u64(&rng));
    scfm_bf16_convert(a, x, n);
    scfm_bf16_convert_naive(b, x, n);
    size_t diff = 0;
    for (size_t i = 0; i < n; i++) diff += a[i] != b[i];
    CHECK(diff == 0, "bf16 convert (%s) differs from the twin in %zu of %zu values", fast ? "avx512_bf16" : "portable",
          diff, n);
    CHECK(scfm_vector_state_dirty() != 1, "upper vector state dirty after bf16 convert");
    /* relative error of the rounding <= 2^-8 (half a unit in the 8th significant bit) on normal values */
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        float v = scfm_rng_normal(&rng) * 100.0f, r = scfm_bf16_to_f32(scfm_bf16_from_f32(v));
        double e = fabs((double)r - v) / fabs((double)v);
        if (e > worst) worst = e;
    }
    printf("bf16 rounding: %zu values bit-equal to the twin (%s); worst relative error %.3g (bound 2^-8 = %.3g)\n", n,
           fast ? "avx512_bf16" : "portable", worst, 1.0 / 256);
    CHECK(worst <= 1.0 / 256, "bf16 rounding relative error %g", worst);
    free(x);
    free(a);
    free(b);
}

/* ---- matmul ---- */
static void test_matmul(size_t N, size_t C, size_t OC, int fast) {
    float *x = lowp_randv(&rng, N * C, 1), *w = lowp_randv(&rng, OC * C, 0.1f), *b = lowp_randv(&rng, OC, 0.1f);
    scfm_bf16 *xb = malloc(N * C * sizeof *xb), *wb = malloc(OC * C * sizeof *wb);
    scfm_bf16_convert(xb, x, N * C);
    scfm_bf16_convert(wb, w, OC * C);
    float *o1 = calloc(N * OC, sizeof *o1), *o2 = calloc(N * OC, sizeof *o2), *o3 = calloc(N * OC, sizeof *o3);
    CHECK(scfm_bf16_matmul_forward(o1, xb, wb, b, N, C, OC) == 0, "bf16 matmul: %s", scfm_last_error());
    scfm_bf16_matmul_forward_naive(o2, xb, wb, b, N, C, OC);
    scfm_matmul_forward_naive(o3, x, w, b, N, C, OC);
    CHECK(scfm_vector_state_dirty() != 1, "upper vector state dirty after bf16 matmul");
    /* same bf16 operands, float32 sums in another order: a few float32 ulps of the sums'
     * scale sqrt(C) * 0.1; against float32 operands: the rounding of both operands, about
     * 2^-8 relative per product (random signs: about 0.4% of the scale, 5 sigma allowed
     * element-wise, 1% as a relative RMS) */
    const double at = 1e-5 * sqrt((double)C), scale = 0.1 * sqrt((double)C);
    double d12 = CHECK_ARRAY(o1, o2, N * OC, 1e-5, at, "bf16 matmul vs its twin");
    double d13 = CHECK_ARRAY(o1, o3, N * OC, 0, 0.02 * scale, "bf16 matmul vs float32");
    const double rr = lowp_rel_rms(o1, o3, N * OC);
    CHECK(d13 > 0, "bf16 matmul equals float32 exactly: the operands were not rounded");
    CHECK(rr <= 0.01, "bf16 matmul relative RMS error %.3g against float32", rr);
    printf("bf16 matmul %zux%zux%zu (%s): max |fast - twin| %.3g; against float32 max |diff| %.3g, relative RMS %.3g\n",
           N, C, OC, fast ? "oneDNN" : "twin loops", d12, d13, rr);
    /* bf16 output: the float32 result (after the fused activation) rounded; oneDNN may sum in
     * another blocking and has its own erf/tanh (its GELU-erf about 1e-4 relative from scfm's,
     * so a few % of the roundings fall the other way): within one bf16 step of the rounded
     * float32 output, at least 95% equal; the twin loops: bit for bit */
    scfm_bf16 *ob = malloc(N * OC * sizeof *ob), *or = malloc(N * OC * sizeof *or);
    float *oa = malloc(N * OC * sizeof *oa);
    const int acts[] = {-1, SCFM_ACT_RELU, SCFM_ACT_GELU, SCFM_ACT_GELU_TANH};
    for (size_t k = 0; k < 4; k++) {
        CHECK(scfm_bf16_matmul_forward_b16(ob, xb, wb, b, N, C, OC, acts[k]) == 0, "bf16 matmul, bf16 output: %s",
              scfm_last_error());
        CHECK(scfm_vector_state_dirty() != 1, "upper vector state dirty after bf16 matmul (bf16 output)");
        memcpy(oa, o1, N * OC * sizeof *oa);
        if (acts[k] >= 0) scfm_act_forward(oa, oa, N * OC, (scfm_act)acts[k]);
        scfm_bf16_convert_naive(or, oa, N * OC);
        size_t same = 0, far = 0;
        for (size_t i = 0; i < N * OC; i++) {
            const float u = scfm_bf16_to_f32(ob[i]), v = scfm_bf16_to_f32(or[i]);
            same += ob[i] == or[i];
            far += fabsf(u - v) > fabsf(v) * (1.0f / 128) + 1e-6f;
        }
        CHECK(far == 0, "bf16 matmul, act %d, bf16 output: %zu of %zu values more than one bf16 step from the rounded "
              "f32 output", acts[k], far, N * OC);
        CHECK(fast || same == N * OC, "bf16 matmul twin, act %d, bf16 output: %zu of %zu equal to the rounded f32 "
              "output", acts[k], same, N * OC);
        CHECK(same * 100 >= N * OC * 95, "bf16 matmul, act %d, bf16 output: only %zu of %zu equal to the rounded f32 "
              "output", acts[k], same, N * OC);
        printf("bf16 matmul %zux%zux%zu, act %d fused, bf16 output: %zu of %zu equal to the rounded f32 output, none "
               "further than one bf16 step\n", N, C, OC, acts[k], same, N * OC);
    }
    CHECK(scfm_bf16_matmul_forward_b16(ob, xb, wb, b, N, C, OC, SCFM_ACT_SILU) == SCFM_EINVAL,
          "bf16 matmul: an activation it does not fuse is refused");
    free(ob);
    free(or);
    free(oa);
    /* no bias */
    CHECK(scfm_bf16_matmul_forward(o1, xb, wb, NULL, N, C, OC) == 0, "bf16 matmul: %s", scfm_last_error());
    scfm_bf16_matmul_forward_naive(o2, xb, wb, NULL, N, C, OC);
    CHECK_ARRAY(o1, o2, N * OC, 1e-5, at, "bf16 matmul (no bias) vs its twin");
    free(x); free(w); free(b); free(xb); free(wb); free(o1); free(o2); free(o3);
}

/* ---- fused row passes: the same floats as the f32 pass followed by a rounding pass ---- */
static void test_row_passes(size_t N, size_t C) {
    float *r1 = lowp_randv(&rng, N * C, 1.0f), *res = lowp_randv(&rng, N * C, 1.0f), *w = lowp_randv(&rng, C, 1.0f), *b = lowp_randv(&rng, C, 0.3f),
          *bias = lowp_randv(&rng, C, 0.3f);
    float *r2 = malloc(N * C * sizeof *r2), *o1 = malloc(N * C * sizeof *o1), *o2 = malloc(N * C * sizeof *o2);
    scfm_bf16 *b1 = malloc(N * C * sizeof *b1), *b2 = malloc(N * C * sizeof *b2);
    for (int with_bias = 0; with_bias < 2; with_bias++) {
        memcpy(r2, r1, N * C * sizeof *r2);
        float *m = malloc(N * sizeof *m), *rs = malloc(N * sizeof *rs);
        scfm_residual_layernorm_forward(r1, o1, m, rs, with_bias ? bias : NULL, res, w, b, N, C, 1e-12f);
        scfm_bf16_convert_naive(b1, o1, N * C);
        scfm_residual_layernorm_forward_bf16(r2, o2, b2, with_bias ? bias : NULL, res, w, b, N, C, 1e-12f);
        CHECK(!memcmp(r1, r2, N * C * sizeof *r1) && !memcmp(o1, o2, N * C * sizeof *o1),
              "residual LayerNorm bf16 pass (N %zu C %zu bias %d): f32 sums and outputs as the f32 pass", N, C, with_bias);
        CHECK(!memcmp(b1, b2, N * C * sizeof *b1), "residual LayerNorm bf16 pass (N %zu C %zu bias %d): rounding", N, C,
              with_bias);
        CHECK(scfm_vector_state_dirty() != 1, "upper vector state dirty after the LayerNorm bf16 pass");
        free(m);
        free(rs);
    }
    const scfm_act acts[] = {SCFM_ACT_RELU, SCFM_ACT_GELU, SCFM_ACT_GELU_TANH};
    for (size_t k = 0; k < 3; k++)
        for (int with_bias = 0; with_bias < 2; with_bias++) {
            memcpy(r2, r1, N * C * sizeof *r2);
            scfm_bias_act_forward(r2, o1, with_bias ? bias : NULL, N, C, acts[k]);
            scfm_bf16_convert_naive(b1, o1, N * C);
            memcpy(o2, r1, N * C * sizeof *o2);
            scfm_bias_act_forward_bf16(r1, b2, with_bias ? bias : NULL, N, C, acts[k]);
            CHECK(!memcmp(o2, r1, N * C * sizeof *o2), "bias + activation bf16 pass leaves its input as it is");
            CHECK(!memcmp(b1, b2, N * C * sizeof *b1), "bias + activation %d bf16 pass (N %zu C %zu bias %d)", (int)acts[k],
                  N, C, with_bias);
        }
    free(r1); free(res); free(w); free(b); free(bias); free(r2); free(o1); free(o2); free(b1); free(b2);
}

/* ---- attention ---- */
static void test_attention(const size_t *lens, size_t B, size_t NH, size_t HS, int fast) {
    size_t offs[8] = {0};
    for (size_t b = 0; b < B; b++) offs[b + 1] = offs[b] + lens[b];
    const size_t N = offs[B], C = NH * HS, ld = 3 * C;
    float *qkv = lowp_randv(&rng, N * ld, 1.0f);
    for (size_t i = 0; i < N * ld; i += 7) qkv[i] *= 3.0f; /* a few larger scores */
    scfm_bf16 *qb = malloc(N * ld * sizeof *qb); /* the bf16 kernels' q, k, v: rounded */
    scfm_bf16_convert_naive(qb, qkv, N * ld);
    float *o1 = calloc(N * C, sizeof *o1), *o2 = calloc(N * C, sizeof *o2), *o3 = calloc(N * C, sizeof *o3);
    float *lse = calloc(N * NH, sizeof *lse);
    scfm_bf16 *ob1 = calloc(N * C, sizeof *ob1), *ob2 = calloc(N * C, sizeof *ob2);
    CHECK(scfm_bf16_attention_forward_ld(o1, ob1, qb, qb + C, qb + 2 * C, ld, offs, B, NH, HS) == 0,
          "bf16 attention: %s", scfm_last_error());
    CHECK(scfm_bf16_attention_forward_portable(o2, NULL, qb, qb + C, qb + 2 * C, ld, offs, B, NH, HS) == 0,
          "bf16 attention twin: %s", scfm_last_error());
    /* the bf16 output is the f32 output rounded; alone (out NULL) it is the same */
    scfm_bf16_convert_naive(ob2, o1, N * C);
    CHECK(!memcmp(ob1, ob2, N * C * sizeof *ob1), "bf16 attention: the bf16 output is the f32 output rounded");
    memset(ob2, 0, N * C * sizeof *ob2);
    CHECK(scfm_bf16_attention_forward_ld(NULL, ob2, qb, qb + C, qb + 2 * C, ld, offs, B, NH, HS) == 0,
          "bf16 attention, bf16 output only: %s", scfm_last_error());
    CHECK(!memcmp(ob1, ob2, N * C * sizeof *ob1), "bf16 attention: bf16 output alone equals it with f32 beside it");
    free(ob1);
    free(ob2);
    scfm_attention_forward_ld(o3, lse, qkv, qkv + C, qkv + 2 * C, ld, offs, B, NH, HS, 0, 0, 0);
    CHECK(scfm_vector_state_dirty() != 1, "upper vector state dirty after bf16 attention");
    size_t same = 0;
    for (size_t i = 0; i < N * C; i++) same += o1[i] == o2[i];
    double d12 = CHECK_ARRAY(o1, o2, N * C, 1e-6, 1e-6, "bf16 attention vs its twin");
    /* against float32: scores of up to about 10 here, rounded q and k move them by ~2^-8 of
     * that; outputs are averages of O(1) values */
    double d13 = CHECK_ARRAY(o1, o3, N * C, 0, 0.3, "bf16 attention vs float32");
    const double rr = lowp_rel_rms(o1, o3, N * C);
    CHECK(rr <= 0.03, "bf16 attention relative RMS error %.3g against float32", rr);
    printf("bf16 attention B %zu (N %zu) NH %zu HS %zu (%s): %zu of %zu outputs bit-equal to the twin, max diff %.3g; "
           "against float32 max |diff| %.3g, relative RMS %.3g\n",
           B, N, NH, HS, fast && HS % 16 == 0 ? "avx512_bf16" : "portable", same, N * C, d12, d13, rr);
    free(qkv); free(qb); free(o1); free(o2); free(o3); free(lse);
}

/* ---- model ---- */
static void test_names(void) {
    scfm_precision p;
    CHECK(scfm_precision_from_name("bf16", &p) == 0 && p == SCFM_PREC_BF16, "bf16 name");
    CHECK(scfm_precision_from_name("fp32", &p) == 0 && p == SCFM_PREC_FP32, "fp32 name");
    CHECK(scfm_precision_from_name("fp16", &p) == SCFM_EINVAL, "fp16 accepted");
    CHECK(!strcmp(scfm_precision_name(SCFM_PREC_BF16), "bf16"), "name of bf16");
}

int main(int argc, char **argv) {
    (void)argc;
    scfm_rng_seed(&rng, 42);
    char why[256];
    const int supported = scfm_bf16_supported(why, sizeof why), fast_cpu = scfm_cpu_has("avx512_bf16");
    printf("bf16 supported: %s%s%s\n", supported ? "yes" : "no: ", supported ? "" : why, "");
    test_rounding(fast_cpu);
    test_matmul(64, 256, 768, supported);
    test_matmul(37, 100, 30, supported);
    test_matmul(513, 512, 256, supported);
    test_row_passes(200, 256);
    test_row_passes(3, 600); /* columns in pieces with a tail */
    test_row_passes(1, 7);
    const size_t l1[3] = {300, 37, 1}, l2[2] = {600, 257}, l3[1] = {70};
    test_attention(l1, 3, 4, 64, fast_cpu);
    test_attention(l2, 2, 2, 32, fast_cpu);
    test_attention(l3, 1, 2, 96, fast_cpu);
    test_attention(l3, 1, 3, 6, fast_cpu); /* HS not a multiple of 16: the portable path */
    test_names();
    /* bf16 forward against fp32 (lowp_model.h) */
    lowp_model_vs_fp32(&rng, "geneformer-v1", 3, -1, SCFM_PREC_BF16, supported, "avx512_bf16"); /* relu: fused */
    lowp_model_vs_fp32(&rng, "tiny", 0, SCFM_ACT_GELU, SCFM_PREC_BF16, supported, "avx512_bf16"); /* gelu: fused */
    lowp_model_vs_fp32(&rng, "mouse-geneformer", 2, -1, SCFM_PREC_BF16, supported, "avx512_bf16"); /* silu: row pass */
    /* the refusal on this CPU too: this binary again with avx512_bf16 masked must skip
     * (its checks, the refusal's included, passing) */
    if (supported && !getenv("SCFM_CPU_DISABLE")) {
        char cmd[4200];
        snprintf(cmd, sizeof cmd, "SCFM_CPU_DISABLE=avx512_bf16 '%s'", argv[0]);
        int st = system(cmd);
        CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 77,
              "with SCFM_CPU_DISABLE=avx512_bf16: exit %d, want 77 (skipped, nothing failed)",
              st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    }
    if (!supported) tu_skip("bf16 kernels not supported here (%s): fast-vs-twin comparisons and bf16 forward not run", why);
    return TEST_END();
}
