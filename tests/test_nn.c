/* Kernels against their naive twins, and backward passes against central finite
 * differences of the forward passes (loss = sum(out * R) for a fixed random R). The matrix
 * products are checked with every backend the build has (oneDNN, OpenBLAS, portable loops),
 * including that the vector state is clean after them; SCFM_GEMM=NAME runs the rest of the
 * kernels on that backend (tests/run_tests.sh runs this binary once per backend). */
#include "scfm/core.h"
#include "scfm/nn.h"
#include "scfm/rng.h"
#include "nn/vexp.h"
#include "testutil.h"

static scfm_rng rng;

static float *randv(size_t n, float scale) {
    float *x = malloc((n ? n : 1) * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = scale * scfm_rng_normal(&rng);
    return x;
}
static float *zeros(size_t n) { return calloc(n ? n : 1, sizeof(float)); }
static double dot(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* ---- matmul ---- */
static void test_matmul_shape(size_t N, size_t C, size_t OC) {
    const char *be = scfm_gemm_backend();
    /* float sums of up to 300 products of O(1) terms: absolute error grows with the length */
    const double at = N * C > 1000 ? 1e-4 : 1e-5;
    float *x = randv(N * C, 1), *w = randv(OC * C, 0.5f), *b = randv(OC, 0.5f), *R = randv(N * OC, 1);
    float *o1 = zeros(N * OC), *o2 = zeros(N * OC);
    scfm_matmul_forward(o1, x, w, b, N, C, OC);
    scfm_matmul_forward_naive(o2, x, w, b, N, C, OC);
    printf("matmul %zux%zux%zu on %s\n", N, C, OC, be);
    CHECK_ARRAY(o1, o2, N * OC, 1e-5, at, "matmul forward vs naive");
    CHECK(scfm_vector_state_dirty() != 1, "upper vector state dirty after matmul (%s)", be);
    float *dx1 = zeros(N * C), *dw1 = zeros(OC * C), *db1 = zeros(OC);
    float *dx2 = zeros(N * C), *dw2 = zeros(OC * C), *db2 = zeros(OC);
    scfm_matmul_backward(dx1, dw1, db1, R, x, w, N, C, OC);
    scfm_matmul_backward_naive(dx2, dw2, db2, R, x, w, N, C, OC);
    CHECK_ARRAY(dx1, dx2, N * C, 1e-4, at, "matmul dinp vs naive");
    CHECK(scfm_vector_state_dirty() != 1, "upper vector state dirty after matmul backward (%s)", be);
    CHECK_ARRAY(dw1, dw2, OC * C, 1e-4, at, "matmul dw vs naive");
    CHECK_ARRAY(db1, db2, OC, 1e-4, at, "matmul dbias vs naive");
    /* finite differences on a few entries of each input */
    float *params[3] = {x, w, b}, *grads[3] = {dx1, dw1, db1};
    size_t sizes[3] = {N * C, OC * C, OC};
    for (int t = 0; t < 3; t++)
        for (int r = 0; r < (N * C < 1000 ? 5 : 1); r++) {
            size_t i = scfm_rng_below(&rng, sizes[t]);
            float keep = params[t][i], h = 1e-2f;
            params[t][i] = keep + h;
            scfm_matmul_forward(o1, x, w, b, N, C, OC);
            double lp = dot(o1, R, N * OC);
            params[t][i] = keep - h;
            scfm_matmul_forward(o1, x, w, b, N, C, OC);
            double lm = dot(o1, R, N * OC);
            params[t][i] = keep;
            CHECK_CLOSE(grads[t][i], (lp - lm) / (2 * h), 2e-2, 2e-2, "matmul finite difference t=%d i=%zu (%s)", t, i, be);
        }
    free(x); free(w); free(b); free(R); free(o1); free(o2);
    free(dx1); free(dw1); free(db1); free(dx2); free(dw2); free(db2);
}

/* Each backend the build has, small and blocked shapes; then back to SCFM_GEMM (or auto). */
static void test_matmul(void) {
    char names[128];
    snprintf(names, sizeof names, "%s", scfm_gemm_backends());
    for (char *save, *n = strtok_r(names, " ", &save); n; n = strtok_r(NULL, " ", &save)) {
        CHECK(scfm_gemm_set_backend(n) == 0 && !strcmp(scfm_gemm_backend(), n), "select backend %s", n);
        test_matmul_shape(37, 19, 23);
        test_matmul_shape(300, 257, 129);
    }
    CHECK(scfm_gemm_set_backend("no-such-backend") == SCFM_EINVAL && strstr(scfm_last_error(), "no-such-backend"),
          "unknown backend rejected: '%s'", scfm_last_error());
    const char *env = getenv("SCFM_GEMM");
    CHECK(scfm_gemm_set_backend(env && *env ? env : "auto") == 0, "SCFM_GEMM=%s: %s", env ? env : "", scfm_last_error());
    char k[128];
    printf("matmul backend for the other kernels: %s (%s)\n", scfm_gemm_backend(), scfm_gemm_kernel(k, sizeof k));
}

/* ---- layernorm ---- */
static void test_layernorm(void) {
    size_t N = 13, C = 40;
    float *x = randv(N * C, 2), *w = randv(C, 1), *b = randv(C, 1), *R = randv(N * C, 1);
    for (size_t i = 0; i < N * C; i++) x[i] += 3.0f; /* non-zero mean */
    float *o1 = zeros(N * C), *o2 = zeros(N * C), *m1 = zeros(N), *r1 = zeros(N), *m2 = zeros(N), *r2 = zeros(N);
    scfm_layernorm_forward(o1, m1, r1, x, w, b, N, C, 1e-12f);
    scfm_layernorm_forward_naive(o2, m2, r2, x, w, b, N, C, 1e-12f);
    CHECK_ARRAY(o1, o2, N * C, 1e-5, 1e-5, "layernorm forward vs naive");
    CHECK_ARRAY(r1, r2, N, 1e-5, 1e-6, "layernorm rstd vs naive");
    float *dx1 = zeros(N * C), *dw1 = zeros(C), *db1 = zeros(C);
    float *dx2 = zeros(N * C), *dw2 = zeros(C), *db2 = zeros(C);
    scfm_layernorm_backward(dx1, dw1, db1, R, x, w, m1, r1, N, C);
    scfm_layernorm_backward_naive(dx2, dw2, db2, R, x, w, m2, r2, N, C);
    CHECK_ARRAY(dx1, dx2, N * C, 1e-4, 1e-5, "layernorm dinp vs naive");
    CHECK_ARRAY(dw1, dw2, C, 1e-4, 1e-5, "layernorm dw vs naive");
    CHECK_ARRAY(db1, db2, C, 1e-4, 1e-5, "layernorm db vs naive");
    float *params[3] = {x, w, b}, *grads[3] = {dx1, dw1, db1};
    size_t sizes[3] = {N * C, C, C};
    for (int t = 0; t < 3; t++)
        for (int r = 0; r < (N * C < 1000 ? 5 : 1); r++) {
            size_t i = scfm_rng_below(&rng, sizes[t]);
            float keep = params[t][i], h = 1e-2f;
            params[t][i] = keep + h;
            scfm_layernorm_forward(o1, m1, r1, x, w, b, N, C, 1e-12f);
            double lp = dot(o1, R, N * C);
            params[t][i] = keep - h;
            scfm_layernorm_forward(o1, m1, r1, x, w, b, N, C, 1e-12f);
            double lm = dot(o1, R, N * C);
            params[t][i] = keep;
            CHECK_CLOSE(grads[t][i], (lp - lm) / (2 * h), 2e-2, 2e-2, "layernorm finite difference t=%d i=%zu", t, i);
        }
    free(x); free(w); free(b); free(R); free(o1); free(o2); free(m1); free(r1); free(m2); free(r2);
    free(dx1); free(dw1); free(db1); free(dx2); free(dw2); free(db2);
}

/* ---- activations: values against double formulas, derivatives by finite differences ---- */
static double act_ref(double x, scfm_act a) {
    switch (a) {
    case SCFM_ACT_RELU: return x > 0 ? x : 0;
    case SCFM_ACT_GELU: return 0.5 * x * (1 + erf(x / sqrt(2.0)));
    case SCFM_ACT_GELU_TANH:
    case SCFM_ACT_GELU_FAST: return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case SCFM_ACT_QUICK_GELU: return x / (1 + exp(-1.702 * x));
    case SCFM_ACT_SILU: return x / (1 + exp(-x));
    case SCFM_ACT_TANH: return tanh(x);
    }
    return NAN;
}

static void test_activations(void) {
    const char *names[] = {"relu", "gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "quick_gelu", "silu", "swish", "tanh"};
    scfm_act tmp;
    CHECK(scfm_act_from_name("bogus", &tmp) == -1, "unknown activation accepted");
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        scfm_act a;
        CHECK(scfm_act_from_name(names[k], &a) == 0, "activation %s not known", names[k]);
        size_t n = 200;
        float *x = randv(n, 2), *y = zeros(n), *d = zeros(n), *ones = zeros(n);
        for (size_t i = 0; i < n; i++) {
            ones[i] = 1.0f;
            if (a == SCFM_ACT_RELU && fabsf(x[i]) < 0.05f) x[i] = 0.5f; /* keep off the kink */
        }
        scfm_act_forward(y, x, n, a);
        scfm_act_backward(d, x, ones, n, a);
        int bad_v = 0, bad_d = 0;
        for (size_t i = 0; i < n; i++) {
            if (fabs(y[i] - act_ref(x[i], a)) > 1e-5 + 1e-5 * fabs(act_ref(x[i], a))) bad_v++;
            double h = 1e-3, fd = (act_ref(x[i] + h, a) - act_ref(x[i] - h, a)) / (2 * h);
            if (fabs(d[i] - fd) > 1e-3) bad_d++;
        }
        CHECK(bad_v == 0, "%s: %d values off", names[k], bad_v);
        CHECK(bad_d == 0, "%s: %d derivatives off", names[k], bad_d);
        free(x); free(y); free(d); free(ones);
    }
}

/* ---- dropout ---- */
static void test_dropout(void) {
    size_t n = 100000;
    float *x = zeros(n), *y = zeros(n), *d = zeros(n);
    for (size_t i = 0; i < n; i++) x[i] = 1.0f;
    scfm_dropout_forward(y, x, n, 0.25f, 42, 7);
    size_t kept = 0;
    int scale_ok = 1;
    for (size_t i = 0; i < n; i++) {
        if (y[i] != 0.0f) { kept++; if (fabsf(y[i] - 1.0f / 0.75f) > 1e-6f) scale_ok = 0; }
    }
    CHECK(fabs((double)kept / n - 0.75) < 0.01, "dropout keep fraction %g", (double)kept / n);
    CHECK(scale_ok, "dropout scale");
    scfm_dropout_backward(d, x, n, 0.25f, 42, 7);
    CHECK_ARRAY(d, y, n, 0, 0, "dropout backward mask equals forward mask");
    scfm_dropout_forward(d, x, n, 0.25f, 42, 8);
    size_t same = 0;
    for (size_t i = 0; i < n; i++) same += (d[i] != 0.0f) == (y[i] != 0.0f);
    CHECK(same < n - 1000, "different streams give different masks");
    free(x); free(y); free(d);
}

/* ---- attention ---- */
static void attention_case(const size_t *lens, size_t B, size_t NH, size_t HS, float p) {
    size_t offs[16] = {0};
    for (size_t b = 0; b < B; b++) offs[b + 1] = offs[b] + lens[b];
    size_t N = offs[B], C = NH * HS;
    float *q = randv(N * C, 1), *k = randv(N * C, 1), *v = randv(N * C, 1), *R = randv(N * C, 1);
    float *o1 = zeros(N * C), *o2 = zeros(N * C), *l1 = zeros(NH * N), *l2 = zeros(NH * N);
    scfm_attention_forward(o1, l1, q, k, v, offs, B, NH, HS, p, 11, 3);
    CHECK(scfm_attention_forward_naive(o2, l2, q, k, v, offs, B, NH, HS, p, 11, 3) == 0, "naive forward: %s", scfm_last_error());
    CHECK_ARRAY(o1, o2, N * C, 1e-4, 1e-5, "attention forward vs naive");
    CHECK_ARRAY(l1, l2, NH * N, 1e-5, 1e-5, "attention lse vs naive");
    float *dq1 = zeros(N * C), *dk1 = zeros(N * C), *dv1 = zeros(N * C);
    float *dq2 = zeros(N * C), *dk2 = zeros(N * C), *dv2 = zeros(N * C);
    scfm_attention_backward(dq1, dk1, dv1, R, o1, l1, q, k, v, offs, B, NH, HS, p, 11, 3);
    CHECK(scfm_attention_backward_naive(dq2, dk2, dv2, R, o2, l2, q, k, v, offs, B, NH, HS, p, 11, 3) == 0, "naive backward: %s",
          scfm_last_error());
    CHECK_ARRAY(dq1, dq2, N * C, 1e-3, 1e-4, "attention dq vs naive");
    CHECK_ARRAY(dk1, dk2, N * C, 1e-3, 1e-4, "attention dk vs naive");
    CHECK_ARRAY(dv1, dv2, N * C, 1e-3, 1e-4, "attention dv vs naive");
    float *params[3] = {q, k, v}, *grads[3] = {dq1, dk1, dv1};
    for (int t = 0; t < 3; t++)
        for (int r = 0; r < 4; r++) {
            size_t i = scfm_rng_below(&rng, N * C);
            float keep = params[t][i], h = 1e-2f;
            params[t][i] = keep + h;
            scfm_attention_forward(o2, l2, q, k, v, offs, B, NH, HS, p, 11, 3);
            double lp = dot(o2, R, N * C);
            params[t][i] = keep - h;
            scfm_attention_forward(o2, l2, q, k, v, offs, B, NH, HS, p, 11, 3);
            double lm = dot(o2, R, N * C);
            params[t][i] = keep;
            CHECK_CLOSE(grads[t][i], (lp - lm) / (2 * h), 3e-2, 3e-2,
                        "attention finite difference (p=%g) t=%d i=%zu", p, t, i);
        }
    /* a sequence's output does not depend on the other sequences of the batch */
    if (B > 1) {
        float *o3 = zeros(lens[1] * C), *l3 = zeros(NH * lens[1]);
        size_t one[2] = {0, lens[1]};
        scfm_attention_forward(o3, l3, q + offs[1] * C, k + offs[1] * C, v + offs[1] * C, one, 1, NH, HS, 0.0f, 0, 0);
        scfm_attention_forward(o1, l1, q, k, v, offs, B, NH, HS, 0.0f, 0, 0);
        CHECK_ARRAY(o3, o1 + offs[1] * C, lens[1] * C, 1e-5, 1e-6, "packed sequence == alone");
        free(o3); free(l3);
    }
    free(q); free(k); free(v); free(R); free(o1); free(o2); free(l1); free(l2);
    free(dq1); free(dk1); free(dv1); free(dq2); free(dk2); free(dv2);
}

static void test_attention(void) {
    size_t lens[3] = {70, 5, 1};
    attention_case(lens, 3, 2, 8, 0.0f);
    attention_case(lens, 3, 2, 8, 0.1f);
    size_t lens2[1] = {9};
    attention_case(lens2, 1, 4, 4, 0.0f);
    /* 600 rows: two full 256-row query and key blocks and a partial one (online softmax
     * across key blocks), 257: one full block and one row */
    size_t lens3[2] = {600, 257};
    attention_case(lens3, 2, 2, 8, 0.0f);
    attention_case(lens3, 2, 1, 16, 0.1f);
    /* the same with the portable expf loops instead of the vectorized exp */
    scfm__vexp_force_portable(1);
    attention_case(lens3, 2, 2, 8, 0.1f);
    scfm__vexp_force_portable(0);
}

/* Vectorized exp and max (src/nn/vexp.c) against double exp, every tail length, both paths. */
static void test_vexp(void) {
    float x[67], y[67];
    for (int path = 0; path < 2; path++) {
        scfm__vexp_force_portable(path);
        for (size_t n = 0; n <= 67; n++) {
            for (size_t j = 0; j < n; j++) x[j] = (float)(scfm_rng_uniform(&rng) * 120.0 - 100.0);
            if (n > 3) x[n / 2] = -200.0f; /* far below the clamp: ~0 */
            memcpy(y, x, sizeof x);
            float mx = -INFINITY;
            for (size_t j = 0; j < n; j++) mx = x[j] > mx ? x[j] : mx;
            CHECK(scfm__vmax(x, n) == mx, "vmax n=%zu path %d", n, path);
            const float shift = n ? mx : 0.0f;
            float sum = scfm__vexp_shift_sum(y, n, shift);
            double want_sum = 0, worst = 0;
            for (size_t j = 0; j < n; j++) {
                double w = exp((double)(float)(x[j] - shift)); /* the float argument both paths see */
                want_sum += w;
                double err = fabs(y[j] - w) - 4e-7 * w - 1e-37;
                if (err > worst) worst = err;
            }
            CHECK(worst <= 0, "vexp n=%zu path %d: error beyond 4e-7 relative by %g", n, path, worst);
            CHECK_CLOSE(sum, want_sum, 1e-6, 1e-30, "vexp sum n=%zu path %d", n, path);
        }
        float z[9] = {0, 1, -1, NAN, 0.5f, -0.5f, 2, -2, 3};
        scfm__vexp_shift_sum(z, 9, 0.0f);
        CHECK(isnan(z[3]) && fabsf(z[1] - 2.7182817f) < 1e-6f, "vexp NaN stays NaN, e^1 (path %d)", path);
    }
    scfm__vexp_force_portable(0);
}

/* Row kernels (src/nn/vrow.c), both paths: GELU (erf form) and its derivative against double
 * erf/exp at every tail length and over [-12, 12], within 4.7e-7 * max(1, |x|) (the AVX2
 * polynomials' measured bound, rounded up to 6e-7) for GELU and 1e-6 for GELU'; the fused bias
 * and residual passes equal their unfused compositions; ReLU rows exact; a LayerNorm row against
 * double. */
static void test_rows(void) {
    float x[203], y[203], pre[203], d[203], dout[203], bias[203];
    for (int path = 0; path < 2; path++) {
        scfm__vexp_force_portable(path);
        double worst = 0, worst_d = 0;
        for (int rep = 0; rep < 40; rep++) {
            size_t n = rep < 20 ? (size_t)rep : 203;
            for (size_t j = 0; j < n; j++) {
                x[j] = rep == 39 ? (float)(-12.0 + 24.0 * (double)j / 202.0) : (float)(scfm_rng_uniform(&rng) * 16.0 - 8.0);
                dout[j] = (float)(scfm_rng_uniform(&rng) * 2.0 - 1.0);
                d[j] = 0.25f;
            }
            scfm_act_forward(y, x, n, SCFM_ACT_GELU);
            scfm_act_backward(d, x, dout, n, SCFM_ACT_GELU);
            for (size_t j = 0; j < n; j++) {
                double xv = x[j], phi = 0.5 * (1.0 + erf(xv / sqrt(2.0)));
                double g = xv * phi, dg = phi + xv * exp(-0.5 * xv * xv) / sqrt(2.0 * M_PI);
                double e = fabs(y[j] - g) / (fabs(xv) > 1 ? fabs(xv) : 1.0);
                double ed = fabs(d[j] - (0.25 + dg * dout[j]));
                if (e > worst) worst = e;
                if (ed > worst_d) worst_d = ed;
            }
        }
        CHECK(worst <= 6e-7, "gelu path %d: error %g * max(1,|x|)", path, worst);
        CHECK(worst_d <= 1e-6, "gelu' path %d: error %g", path, worst_d);
        /* fused bias + GELU over rows of 203 equals bias then GELU */
        for (size_t j = 0; j < 203; j++) {
            x[j] = (float)(scfm_rng_uniform(&rng) * 8.0 - 4.0);
            bias[j] = (float)(scfm_rng_uniform(&rng) - 0.5);
            pre[j] = x[j];
        }
        scfm_bias_act_forward(pre, y, bias, 1, 203, SCFM_ACT_GELU);
        int same = 1;
        for (size_t j = 0; j < 203; j++) same &= pre[j] == x[j] + bias[j];
        scfm_act_forward(d, pre, 203, SCFM_ACT_GELU);
        for (size_t j = 0; j < 203; j++) same &= y[j] == d[j];
        CHECK(same, "bias+gelu fused = bias then gelu (path %d)", path);
        /* ReLU rows (fused bias, forward, backward) are exact: equal to max(x + b, 0) and
         * d + (x > 0) * dout bit for bit, NaN and -0 included, at every tail length */
        float rx[203], rp[203], ry[203], rd[203];
        for (size_t j = 0; j < 203; j++) rx[j] = x[j];
        rx[0] = NAN, rx[1] = -0.0f, rx[2] = 0.0f;
        for (size_t n = 0; n <= 203; n += n < 20 ? 1 : 61) {
            for (size_t j = 0; j < n; j++) rp[j] = rx[j], rd[j] = 0.5f;
            scfm_bias_act_forward(rp, ry, bias, 1, n, SCFM_ACT_RELU);
            same = 1;
            for (size_t j = 0; j < n; j++) {
                float xb = rx[j] + bias[j];
                same &= (isnan(xb) ? isnan(rp[j]) : rp[j] == xb) && ry[j] == (xb > 0.0f ? xb : 0.0f) &&
                        !signbit(ry[j]);
            }
            scfm_act_forward(ry, rx, n, SCFM_ACT_RELU);
            scfm_act_backward(rd, rx, dout, n, SCFM_ACT_RELU);
            for (size_t j = 0; j < n; j++)
                same &= ry[j] == (rx[j] > 0.0f ? rx[j] : 0.0f) && !signbit(ry[j]) &&
                        rd[j] == (rx[j] > 0.0f ? 0.5f + dout[j] : 0.5f);
            CHECK(same, "relu rows exact, n=%zu (path %d)", n, path);
        }
        /* residual + LayerNorm fused = add then LayerNorm; the row against double */
        float w[203], b[203], r[203], o1[203], o2[203], m1, s1, m2, s2;
        for (size_t j = 0; j < 203; j++) {
            w[j] = (float)(scfm_rng_uniform(&rng) + 0.5);
            b[j] = (float)(scfm_rng_uniform(&rng) - 0.5);
            r[j] = x[j];
            pre[j] = (x[j] + bias[j]) + dout[j];
        }
        scfm_residual_layernorm_forward(r, o1, &m1, &s1, bias, dout, w, b, 1, 203, 1e-12f);
        scfm_layernorm_forward(o2, &m2, &s2, pre, w, b, 1, 203, 1e-12f);
        same = m1 == m2 && s1 == s2;
        for (size_t j = 0; j < 203; j++) same &= r[j] == pre[j] && o1[j] == o2[j];
        CHECK(same, "residual+layernorm fused = add then layernorm (path %d)", path);
        double mu = 0, var = 0, worst_ln = 0;
        for (size_t j = 0; j < 203; j++) mu += pre[j];
        mu /= 203;
        for (size_t j = 0; j < 203; j++) var += (pre[j] - mu) * (pre[j] - mu);
        var /= 203;
        for (size_t j = 0; j < 203; j++) {
            double want = (pre[j] - mu) / sqrt(var + 1e-12) * w[j] + b[j];
            double e = fabs(o2[j] - want);
            if (e > worst_ln) worst_ln = e;
        }
        CHECK(worst_ln < 2e-6, "layernorm row path %d: error %g", path, worst_ln);
    }
    scfm__vexp_force_portable(0);
}

/* ---- embedding ---- */
static void test_embedding(void) {
    size_t V = 11, P = 9, C = 20, N = 30;
    float *wte = randv(V * C, 1), *wpe = randv(P * C, 1), *wtt = randv(C, 1), *R = randv(N * C, 1);
    int32_t ids[30], pos[30];
    for (size_t n = 0; n < N; n++) { ids[n] = (int32_t)scfm_rng_below(&rng, V); pos[n] = (int32_t)(n % P); }
    ids[0] = ids[5] = 0;
    float *o = zeros(N * C);
    scfm_embedding_forward(o, ids, pos, wte, wpe, wtt, N, C);
    int bad = 0;
    for (size_t n = 0; n < N; n++)
        for (size_t c = 0; c < C; c++)
            if (fabsf(o[n * C + c] - (wte[ids[n] * C + c] + wpe[pos[n] * C + c] + wtt[c])) > 1e-6f) bad++;
    CHECK(bad == 0, "embedding forward: %d off", bad);
    float *g1 = zeros(V * C), *g2 = zeros(P * C), *g3 = zeros(C);
    float *e1 = zeros(V * C), *e2 = zeros(P * C), *e3 = zeros(C);
    scfm_embedding_backward(g1, g2, g3, R, ids, pos, N, C, 0);
    for (size_t n = 0; n < N; n++)
        for (size_t c = 0; c < C; c++) {
            if (ids[n] != 0) e1[ids[n] * C + c] += R[n * C + c];
            e2[pos[n] * C + c] += R[n * C + c];
            e3[c] += R[n * C + c];
        }
    CHECK_ARRAY(g1, e1, V * C, 1e-5, 1e-6, "embedding dwte (padding row untouched)");
    CHECK_ARRAY(g2, e2, P * C, 1e-5, 1e-6, "embedding dwpe");
    CHECK_ARRAY(g3, e3, C, 1e-5, 1e-6, "embedding dwtt");
    free(wte); free(wpe); free(wtt); free(R); free(o); free(g1); free(g2); free(g3); free(e1); free(e2); free(e3);
}

/* ---- cross-entropy ---- */
static void test_crossentropy(void) {
    size_t N = 6, V = 50;
    float *x = randv(N * V, 3), *d = zeros(N * V), *losses = zeros(N);
    int32_t t[6] = {3, -100, 49, 0, 7, -1};
    size_t nv = 0;
    float mean = scfm_crossentropy_forward(losses, x, t, N, V, &nv);
    CHECK(nv == 4, "valid rows %zu", nv);
    double ref = 0;
    for (size_t n = 0; n < N; n++) {
        if (t[n] < 0) { CHECK(losses[n] == 0.0f, "ignored row loss"); continue; }
        double mx = -1e30, s = 0;
        for (size_t i = 0; i < V; i++) mx = fmax(mx, x[n * V + i]);
        for (size_t i = 0; i < V; i++) s += exp(x[n * V + i] - mx);
        double l = mx + log(s) - x[n * V + t[n]];
        CHECK_CLOSE(losses[n], l, 1e-6, 1e-6, "ce row %zu", n);
        ref += l;
    }
    CHECK_CLOSE(mean, ref / 4, 1e-6, 1e-6, "ce mean");
    scfm_crossentropy_backward(d, x, t, N, V, 0.25f);
    for (int r = 0; r < 8; r++) {
        size_t i = scfm_rng_below(&rng, N * V);
        float keep = x[i], h = 1e-2f;
        x[i] = keep + h;
        double lp = scfm_crossentropy_forward(NULL, x, t, N, V, NULL);
        x[i] = keep - h;
        double lm = scfm_crossentropy_forward(NULL, x, t, N, V, NULL);
        x[i] = keep;
        CHECK_CLOSE(d[i], (lp - lm) / (2 * h), 1e-2, 1e-3, "ce finite difference i=%zu", i);
    }
    free(x); free(d); free(losses);
}

/* ---- AdamW against the textbook formula in double ---- */
static void test_adamw(void) {
    size_t n = 64;
    float *p = randv(n, 1), *g = randv(n, 1), *m = zeros(n), *v = zeros(n);
    double P[64], M[64] = {0}, Vv[64] = {0};
    for (size_t i = 0; i < n; i++) P[i] = p[i];
    double lr = 1e-2, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.01;
    for (long t = 1; t <= 5; t++) {
        scfm_adamw_update(p, g, m, v, n, (float)lr, (float)b1, (float)b2, (float)eps, (float)wd, t);
        for (size_t i = 0; i < n; i++) {
            P[i] *= 1 - lr * wd;
            M[i] = b1 * M[i] + (1 - b1) * g[i];
            Vv[i] = b2 * Vv[i] + (1 - b2) * (double)g[i] * g[i];
            double mh = M[i] / (1 - pow(b1, t)), vh = Vv[i] / (1 - pow(b2, t));
            P[i] -= lr * mh / (sqrt(vh) + eps);
        }
    }
    int bad = 0;
    for (size_t i = 0; i < n; i++) bad += fabs(p[i] - P[i]) > 1e-5 + 1e-5 * fabs(P[i]);
    CHECK(bad == 0, "adamw: %d of %zu params off", bad, n);
    CHECK_CLOSE(scfm_sumsq(g, n), dot(g, g, n), 1e-9, 1e-9, "sumsq");
    free(p); free(g); free(m); free(v);
}

int main(void) {
    scfm_rng_seed(&rng, 1234);
    test_matmul();
    test_layernorm();
    test_activations();
    test_dropout();
    test_vexp();
    test_rows();
    test_attention();
    test_embedding();
    test_crossentropy();
    test_adamw();
    return TEST_END();
}
