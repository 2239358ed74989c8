/* int8 inference (src/nn/int8.c, src/model/lowp.c): quantization and the int8 product against
 * their plain-C twins, int8 against float32, and the refusals. On a CPU without avx512_vnni
 * (or with SCFM_CPU_DISABLE=avx512_vnni) the twins are still checked against float32 and the
 * refusal is checked; the comparisons that need the fast kernels are skipped (exit 77 when
 * nothing else failed). */
#include "scfm/core.h"
#include "scfm/model.h"
#include "scfm/nn.h"
#include "scfm/rng.h"
#include "testutil.h"

#include <stdint.h>
#include <string.h>
#include <sys/wait.h>

static scfm_rng rng;

static float *randv(size_t n, float scale) {
    float *x = malloc((n ? n : 1) * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = scale * scfm_rng_normal(&rng);
    return x;
}

/* ||a - b|| / ||b|| */
static double rel_rms(const float *a, const float *b, size_t n) {
    double e = 0, r = 0;
    for (size_t i = 0; i < n; i++) {
        e += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        r += (double)b[i] * b[i];
    }
    return sqrt(e / (r + 1e-300));
}

static double cosine(const float *a, const float *b, size_t n) {
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return ab / sqrt(aa * bb + 1e-300);
}

/* ---- quantization: the vector rows equal the twin's; each value within half a step ---- */
static void test_quantize(size_t N, size_t C) {
    float *x = randv(N * C, 3.0f);
    if (N > 1) memset(x + C, 0, C * sizeof *x); /* a zero row */
    if (N > 2) {                                /* a row with one outlier and exact ties */
        x[2 * C] = 1000.0f;
        for (size_t c = 1; c < C; c++) x[2 * C + c] = (float)((double)c * 1000.0 / 127.0 / 2.0);
    }
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
        if (amax > 0 && qmax != 127) extreme = 0; /* the largest entry maps to +-127 */
        if (amax == 0 && s2[i] != 0) extreme = 0;
    }
    CHECK(in_range, "int8 quantization left [-127, 127]");
    CHECK(extreme, "int8 quantization: a row's largest entry is not +-127 (or a zero row has a scale)");
    CHECK(worst <= 0.5 + 1e-4, "int8 quantization error %.4f steps (> half a step)", worst);
    free(x); free(q1); free(q2); free(s1); free(s2);
}

/* ---- the product: fast vs twin, int8 vs float32 ---- */
static void test_matmul(size_t N, size_t C, size_t OC, int fast) {
    float *x = randv(N * C, 1.0f), *w = randv(OC * C, 0.05f), *b = randv(OC, 0.1f);
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
    const double rr = rel_rms(o2, o3, N * OC);
    printf("int8 matmul %zux%zux%zu (%s): %zu of %zu differ from the twin (max %.3g), rel RMS vs f32 %.4f\n", N, C, OC,
           fast ? "oneDNN" : "twin", diff, N * OC, d12, rr);
    /* the int32 sums are exact and both scale them with the same float steps */
    CHECK(d12 <= 1e-6, "int8 matmul differs from its twin by %.3g", d12);
    CHECK(rr <= 0.02, "int8 matmul relative RMS error %.4f against float32", rr);
    CHECK(rr > 0, "int8 matmul equals float32 exactly: the operands were not quantized");
    CHECK(scfm_int8_matmul_forward(o1, xq, xs, wq, ws, NULL, N, C, OC) == 0, "int8 matmul without bias");
    scfm_int8_matmul_forward_naive(o2, xq, xs, wq, ws, NULL, N, C, OC);
    d12 = 0;
    for (size_t i = 0; i < N * OC; i++) d12 = fmax(d12, fabs((double)o1[i] - o2[i]));
    CHECK(d12 <= 1e-6, "int8 matmul without bias differs from its twin by %.3g", d12);
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

/* int8 forward against float32 on a random model (fewer layers): mean-pooled cell embeddings
 * of the second-to-last layer, cosine >= 0.999 per cell. */
static void test_model(const char *preset, size_t layers, int supported) {
    scfm_bert_config c;
    CHECK(scfm_bert_config_preset(&c, preset) == 0, "preset");
    if (layers) c.num_hidden_layers = layers;
    c.vocab_size = 500;
    scfm_model *m = scfm_model_create(&c, SCFM_HEAD_NONE, 7);
    CHECK(m != NULL, "model: %s", scfm_last_error());
    if (!m) { scfm_bert_config_free(&c); return; }
    /* weights 4x Hugging Face's initialisation (std 0.08): larger activations than a fresh model */
    for (size_t t = 0; t < m->n_tensors; t++)
        if (m->tensors[t].ndim == 2) scfm_scale(m->params + m->tensors[t].offset, m->tensors[t].numel, 4.0f);
    const size_t lens[4] = {300, 37, 511, 1}, B = 4, H = c.hidden_size, L = c.num_hidden_layers;
    size_t offs[5] = {0};
    for (size_t b = 0; b < B; b++) offs[b + 1] = offs[b] + lens[b];
    const size_t N = offs[B];
    int32_t *ids = malloc(N * sizeof *ids);
    for (size_t i = 0; i < N; i++) ids[i] = (int32_t)(2 + scfm_rng_below(&rng, c.vocab_size - 2));
    scfm_bert_input in = {.B = B, .offs = offs, .ids = ids};
    float *ref = malloc(N * H * sizeof *ref), *e32 = calloc(B * H, sizeof *e32), *e8 = calloc(B * H, sizeof *e8);
    CHECK(scfm_model_forward(m, &in, 0, 0, NULL) == 0, "fp32 forward: %s", scfm_last_error());
    memcpy(ref, scfm_model_hidden(m, L - 1), N * H * sizeof *ref);
    for (size_t b = 0; b < B; b++)
        for (size_t i = offs[b]; i < offs[b + 1]; i++)
            for (size_t d = 0; d < H; d++) e32[b * H + d] += ref[i * H + d] / (float)lens[b];
    int rc = scfm_model_set_precision(m, SCFM_PREC_INT8);
    if (!supported) {
        CHECK(rc == SCFM_EINVAL, "int8 accepted without avx512_vnni (rc %d)", rc);
        CHECK(strstr(scfm_last_error(), "avx512_vnni") != NULL, "refusal names the missing feature: '%s'",
              scfm_last_error());
        CHECK(scfm_model_precision(m) == SCFM_PREC_FP32, "precision stays fp32 after a refusal");
        printf("refusal: %s\n", scfm_last_error());
    } else {
        CHECK(rc == 0, "set int8: %s", scfm_last_error());
        CHECK(scfm_model_precision(m) == SCFM_PREC_INT8, "precision int8");
        CHECK(scfm_model_forward(m, &in, 0, 0, NULL) == 0, "int8 forward: %s", scfm_last_error());
        const float *h8 = scfm_model_hidden(m, L - 1);
        for (size_t b = 0; b < B; b++)
            for (size_t i = offs[b]; i < offs[b + 1]; i++)
                for (size_t d = 0; d < H; d++) e8[b * H + d] += h8[i * H + d] / (float)lens[b];
        double worst_cell = 1, worst_tok = 1, maxdiff = 0;
        for (size_t b = 0; b < B; b++) worst_cell = fmin(worst_cell, cosine(e8 + b * H, e32 + b * H, H));
        for (size_t i = 0; i < N; i++) {
            worst_tok = fmin(worst_tok, cosine(h8 + i * H, ref + i * H, H));
            for (size_t d = 0; d < H; d++) maxdiff = fmax(maxdiff, fabs((double)h8[i * H + d] - ref[i * H + d]));
        }
        printf("model %s L %zu: int8 vs fp32, layer L-1: cell-embedding cosine min %.7f, token cosine min %.7f, "
               "max |diff| %.3g\n",
               preset, L, worst_cell, worst_tok, maxdiff);
        CHECK(worst_cell >= 0.999, "cell-embedding cosine %.6f < 0.999", worst_cell);
        CHECK(worst_tok >= 0.99, "token cosine %.6f < 0.99", worst_tok);
        CHECK(maxdiff > 0, "int8 forward equals fp32 exactly: int8 path not taken");
        /* a forward worker shares the int8 weights and computes the same */
        scfm_model *wk = scfm_model_worker(m);
        CHECK(wk != NULL, "worker: %s", scfm_last_error());
        if (wk) {
            float *h = malloc(N * H * sizeof *h);
            memcpy(h, h8, N * H * sizeof *h);
            CHECK(scfm_model_forward(wk, &in, 0, 0, NULL) == 0, "worker int8 forward: %s", scfm_last_error());
            CHECK(!memcmp(scfm_model_hidden(wk, L - 1), h, N * H * sizeof *h), "worker's int8 forward differs");
            free(h);
            scfm_model_worker_free(wk);
        }
        CHECK(scfm_model_forward(m, &in, 1, 0, NULL) == SCFM_EINVAL, "training forward accepted int8");
        CHECK(strstr(scfm_last_error(), "int8") != NULL, "training refusal names int8: '%s'", scfm_last_error());
        CHECK(scfm_model_set_precision(m, SCFM_PREC_FP32) == 0, "set fp32");
        CHECK(scfm_model_forward(m, &in, 0, 0, NULL) == 0, "fp32 forward again");
        CHECK(!memcmp(scfm_model_hidden(m, L - 1), ref, N * H * sizeof *ref), "fp32 after int8 differs from fp32");
    }
    free(ids); free(ref); free(e32); free(e8);
    scfm_model_free(m);
    scfm_bert_config_free(&c);
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
    test_model("geneformer-v1", 3, supported);
    test_model("mouse-geneformer", 2, supported);
    if (supported && !getenv("SCFM_CPU_DISABLE")) {
        char cmd[4200];
        snprintf(cmd, sizeof cmd, "SCFM_CPU_DISABLE=avx512_vnni '%s'", argv[0]);
        int st = system(cmd);
        CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 77,
              "with SCFM_CPU_DISABLE=avx512_vnni: exit %d, want 77 (skipped, nothing failed)",
              st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    }
    if (!supported) tu_skip("int8 kernels not supported here (%s): the int8 forward not run", why);
    return TEST_END();
}
