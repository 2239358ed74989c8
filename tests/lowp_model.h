/* Shared by tests/test_lowp.c (bf16) and tests/test_int8.c (int8): random vectors, relative
 * RMS error, cosine, and a reduced-precision model forward against float32 on a random model
 * (include after testutil.h). */
#ifndef SCFM_TESTS_LOWP_MODEL_H
#define SCFM_TESTS_LOWP_MODEL_H
#include "scfm/core.h"
#include "scfm/model.h"
#include "scfm/rng.h"

static float *lowp_randv(scfm_rng *rng, size_t n, float scale) {
    float *x = malloc((n ? n : 1) * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = scale * scfm_rng_normal(rng);
    return x;
}

/* ||a - b|| / ||b|| */
static double lowp_rel_rms(const float *a, const float *b, size_t n) {
    double e = 0, r = 0;
    for (size_t i = 0; i < n; i++) {
        e += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        r += (double)b[i] * b[i];
    }
    return sqrt(e / (r + 1e-300));
}

static double lowp_cosine(const float *a, const float *b, size_t n) {
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return ab / sqrt(aa * bb + 1e-300);
}

/* Mean-pooled cell embeddings of layer L-1 of a random model (preset, `layers` layers when
 * non-zero, FFN activation act when >= 0, weights 4x Hugging Face's initialisation: larger
 * activations than a fresh model) in precision prec against float32: cosine >= 0.999 per
 * cell, >= 0.99 per token, not equal; a forward worker computes the same; training refuses
 * prec, naming it; back to fp32 gives the fp32 result bit for bit. When !supported: setting
 * prec fails with SCFM_EINVAL naming `feature` and the model stays fp32. */
static void lowp_model_vs_fp32(scfm_rng *rng, const char *preset, size_t layers, int act, scfm_precision prec,
                               int supported, const char *feature) {
    const char *pn = scfm_precision_name(prec);
    scfm_bert_config c;
    CHECK(scfm_bert_config_preset(&c, preset) == 0, "preset");
    if (layers) c.num_hidden_layers = layers;
    if (act >= 0) c.hidden_act = (scfm_act)act;
    c.vocab_size = 500;
    scfm_model *m = scfm_model_create(&c, SCFM_HEAD_NONE, 7);
    CHECK(m != NULL, "model: %s", scfm_last_error());
    if (!m) { scfm_bert_config_free(&c); return; }
    CHECK(scfm_model_precision(m) == SCFM_PREC_FP32, "default precision is fp32");
    for (size_t t = 0; t < m->n_tensors; t++)
        if (m->tensors[t].ndim == 2) scfm_scale(m->params + m->tensors[t].offset, m->tensors[t].numel, 4.0f);
    const size_t lens[4] = {300, 37, 511, 1}, B = 4, H = c.hidden_size, L = c.num_hidden_layers;
    size_t offs[5] = {0};
    for (size_t b = 0; b < B; b++) offs[b + 1] = offs[b] + lens[b];
    const size_t N = offs[B];
    int32_t *ids = malloc(N * sizeof *ids);
    for (size_t i = 0; i < N; i++) ids[i] = (int32_t)(2 + scfm_rng_below(rng, c.vocab_size - 2));
    scfm_bert_input in = {.B = B, .offs = offs, .ids = ids};
    float *ref = malloc(N * H * sizeof *ref), *h = malloc(N * H * sizeof *h);
    float *e32 = calloc(B * H, sizeof *e32), *elo = calloc(B * H, sizeof *elo);
    CHECK(scfm_model_forward(m, &in, 0, 0, NULL) == 0, "fp32 forward: %s", scfm_last_error());
    memcpy(ref, scfm_model_hidden(m, L - 1), N * H * sizeof *ref);
    for (size_t b = 0; b < B; b++)
        for (size_t i = offs[b]; i < offs[b + 1]; i++)
            for (size_t d = 0; d < H; d++) e32[b * H + d] += ref[i * H + d] / (float)lens[b];
    int rc = scfm_model_set_precision(m, prec);
    if (!supported) {
        CHECK(rc == SCFM_EINVAL, "%s accepted without %s (rc %d)", pn, feature, rc);
        CHECK(strstr(scfm_last_error(), feature) != NULL, "refusal names the missing feature: '%s'",
              scfm_last_error());
        CHECK(scfm_model_precision(m) == SCFM_PREC_FP32, "precision stays fp32 after a refusal");
        printf("refusal: %s\n", scfm_last_error());
    } else {
        CHECK(rc == 0, "set %s: %s", pn, scfm_last_error());
        CHECK(scfm_model_precision(m) == prec, "precision %s", pn);
        CHECK(scfm_model_forward(m, &in, 0, 0, NULL) == 0, "%s forward: %s", pn, scfm_last_error());
        memcpy(h, scfm_model_hidden(m, L - 1), N * H * sizeof *h);
        for (size_t b = 0; b < B; b++)
            for (size_t i = offs[b]; i < offs[b + 1]; i++)
                for (size_t d = 0; d < H; d++) elo[b * H + d] += h[i * H + d] / (float)lens[b];
        double worst_cell = 1, worst_tok = 1, maxdiff = 0;
        for (size_t b = 0; b < B; b++) worst_cell = fmin(worst_cell, lowp_cosine(elo + b * H, e32 + b * H, H));
        for (size_t i = 0; i < N; i++) {
            worst_tok = fmin(worst_tok, lowp_cosine(h + i * H, ref + i * H, H));
            for (size_t d = 0; d < H; d++) maxdiff = fmax(maxdiff, fabs((double)h[i * H + d] - ref[i * H + d]));
        }
        printf("model %s L %zu act %d: %s vs fp32, layer L-1: cell-embedding cosine min %.7f, token cosine min "
               "%.7f, max |diff| %.3g (LayerNorm output, unit scale)\n",
               preset, L, (int)c.hidden_act, pn, worst_cell, worst_tok, maxdiff);
        CHECK(worst_cell >= 0.999, "%s cell-embedding cosine %.6f < 0.999", pn, worst_cell);
        CHECK(worst_tok >= 0.99, "%s token cosine %.6f < 0.99", pn, worst_tok);
        CHECK(maxdiff > 0, "%s forward equals fp32 exactly: the %s path not taken", pn, pn);
        /* a forward worker shares the converted weights and computes the same */
        scfm_model *wk = scfm_model_worker(m);
        CHECK(wk != NULL, "worker: %s", scfm_last_error());
        if (wk) {
            CHECK(scfm_model_forward(wk, &in, 0, 0, NULL) == 0, "worker %s forward: %s", pn, scfm_last_error());
            CHECK(!memcmp(scfm_model_hidden(wk, L - 1), h, N * H * sizeof *h), "worker's %s forward differs", pn);
            scfm_model_worker_free(wk);
        }
        CHECK(scfm_model_forward(m, &in, 1, 0, NULL) == SCFM_EINVAL, "training forward accepted %s", pn);
        CHECK(strstr(scfm_last_error(), pn) != NULL, "training refusal names %s: '%s'", pn, scfm_last_error());
        CHECK(scfm_model_set_precision(m, SCFM_PREC_FP32) == 0, "set fp32");
        CHECK(scfm_model_forward(m, &in, 0, 0, NULL) == 0, "fp32 forward again");
        CHECK(!memcmp(scfm_model_hidden(m, L - 1), ref, N * H * sizeof *ref), "fp32 after %s differs from fp32", pn);
    }
    CHECK(scfm_model_set_precision(m, (scfm_precision)7) == SCFM_EINVAL, "unknown precision accepted");
    free(ids); free(ref); free(h); free(e32); free(elo);
    scfm_model_free(m);
    scfm_bert_config_free(&c);
}
#endif
