/* Golden test of the BERT model against transformers (fixtures written by
 * scripts/make_bert_fixtures.py): logits, loss and hidden states (1e-5 relative), every
 * parameter gradient and the weights after 5 AdamW steps with clipping and a linear
 * warm-up schedule (1e-4 relative). The absolute floor of each comparison is the relative
 * tolerance times the largest magnitude in the reference tensor.
 * Plus model-only checks: dropout determinism and finite differences through dropout,
 * save/load round trips, head switching, schedules, input validation.
 * Usage: test_bert [FIXTURE_CASE_DIR...]   (default: tests/fixtures/bert/relu_mlm) */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scfm/model.h"
#include "scfm/safetensors.h"
#include "testutil.h"

static double max_abs(const float *x, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fabs(x[i]) > m ? fabs(x[i]) : m;
    return m;
}

/* |got - want| <= rtol*|want| + rtol*max|want| + floor (floor: float noise on gradients
 * that are zero in exact arithmetic, e.g. key biases). */
static void cmp(const char *what, const float *got, const float *want, size_t n, double rtol, double floor) {
    CHECK_ARRAY(got, want, n, rtol, rtol * max_abs(want, n) + floor, what);
}

/* A tensor of the state file as floats / int64 (malloc'ed; NULL if absent). */
static float *st_f32(const scfm_safetensors *st, const char *name, size_t *n) {
    const scfm_st_tensor *t = scfm_st_find(st, name);
    if (!t) return NULL;
    float *x = malloc((t->numel ? t->numel : 1) * sizeof *x);
    if (scfm_st_read_f32(st, t, x, t->numel)) { free(x); return NULL; }
    if (n) *n = t->numel;
    return x;
}

static int64_t *st_i64(const scfm_safetensors *st, const char *name, size_t *n) {
    const scfm_st_tensor *t = scfm_st_find(st, name);
    if (!t) return NULL;
    int64_t *x = malloc((t->numel ? t->numel : 1) * sizeof *x);
    if (scfm_st_read_i64(st, t, x, t->numel)) { free(x); return NULL; }
    if (n) *n = t->numel;
    return x;
}

typedef struct {
    scfm_bert_input in;
    size_t *offs, *rows;
    int32_t *ids, *labels;
    float *weights;    /* class_weights (weighted-loss cases) or NULL */
    float *values, *mlm_values; /* GeneCompass cases */
    int32_t *species;
} fixture_input;

static void free_input(fixture_input *f) {
    free(f->offs);
    free(f->rows);
    free(f->ids);
    free(f->labels);
    free(f->weights);
    free(f->values);
    free(f->mlm_values);
    free(f->species);
}

static int32_t *i32_of(const scfm_safetensors *st, const char *name, size_t *n) {
    int64_t *x = st_i64(st, name, n);
    if (!x) return NULL;
    int32_t *y = malloc((*n ? *n : 1) * sizeof *y);
    for (size_t i = 0; i < *n; i++) y[i] = (int32_t)x[i];
    free(x);
    return y;
}

static size_t *size_of_i64(const scfm_safetensors *st, const char *name, size_t *n) {
    int64_t *x = st_i64(st, name, n);
    if (!x) return NULL;
    size_t *y = malloc((*n ? *n : 1) * sizeof *y);
    for (size_t i = 0; i < *n; i++) y[i] = (size_t)x[i];
    free(x);
    return y;
}

static int load_input(const scfm_safetensors *st, scfm_head head, fixture_input *f) {
    memset(f, 0, sizeof *f);
    size_t noffs = 0, nids = 0, nl = 0, nrows = 0;
    f->offs = size_of_i64(st, "offs", &noffs);
    f->ids = i32_of(st, "ids", &nids);
    if (!f->offs || !f->ids || noffs < 2) return -1;
    f->in.B = noffs - 1;
    f->in.offs = f->offs;
    f->in.ids = f->ids;
    if (head == SCFM_HEAD_MLM) {
        f->rows = size_of_i64(st, "mlm_rows", &nrows);
        f->labels = i32_of(st, "mlm_labels", &nl);
        if (!f->rows || !f->labels || nl != nrows) return -1;
        f->in.n_mlm = nrows;
        f->in.mlm_rows = f->rows;
        f->in.mlm_labels = f->labels;
    } else if (head == SCFM_HEAD_SEQCLS) {
        if (!(f->labels = i32_of(st, "seq_labels", &nl)) || nl != f->in.B) return -1;
        f->in.seq_labels = f->labels;
    } else {
        if (!(f->labels = i32_of(st, "tok_labels", &nl)) || nl != nids) return -1;
        f->in.tok_labels = f->labels;
    }
    size_t nw = 0;
    if ((f->weights = st_f32(st, "class_weights", &nw))) f->in.class_weights = f->weights;
    /* GeneCompass: values per row, species per sequence, value targets at the masked rows */
    if ((f->values = st_f32(st, "values", &nw)) && nw != nids) return -1;
    f->in.values = f->values;
    if ((f->species = i32_of(st, "species", &nw)) && nw != f->in.B) return -1;
    f->in.species = f->species;
    if ((f->mlm_values = st_f32(st, "mlm_values", &nw)) && nw != f->in.n_mlm) return -1;
    f->in.mlm_values = f->mlm_values;
    return 0;
}

/* Forward + backward once; compare logits, loss, hidden states and every gradient. */
static void check_gradients(const char *dir, const scfm_safetensors *st, scfm_head head, const fixture_input *f) {
    scfm_model *m = scfm_model_load(dir, head);
    CHECK(m != NULL, "%s: load: %s", dir, scfm_last_error());
    if (!m) return;
    float loss = -1;
    CHECK(scfm_model_zero_grad(m) == 0, "zero_grad");
    int rc = scfm_model_forward(m, &f->in, 1, 1234, &loss);
    CHECK(rc == 0, "%s: forward: %s", dir, scfm_last_error());
    if (rc) { scfm_model_free(m); return; }
    size_t n = 0, rows = 0, cols = 0;
    float *want = st_f32(st, "loss", &n);
    CHECK(want && n == 1, "state has loss");
    if (want) CHECK_CLOSE(loss, want[0], 1e-5, 0, "%s: loss", dir);
    free(want);
    const float *lg = scfm_model_logits(m, &rows, &cols);
    want = st_f32(st, "logits", &n);
    CHECK(want && lg && n == rows * cols, "%s: logits shape %zu x %zu vs %zu", dir, rows, cols, n);
    if (want && lg && n == rows * cols) cmp("logits", lg, want, n, 1e-5, 0);
    free(want);
    /* GeneCompass: predicted values, loss parts, the species rows */
    if ((want = st_f32(st, "pred_values", &n))) {
        const float *pv = scfm_model_values(m);
        CHECK(pv && n == f->in.n_mlm, "%s: predicted values", dir);
        if (pv && n == f->in.n_mlm) cmp("pred_values", pv, want, n, 1e-5, 0);
        free(want);
        float ce = 0, mse = 0, *wce = st_f32(st, "loss_ce", NULL), *wmse = st_f32(st, "loss_mse", NULL);
        scfm_model_loss_parts(m, &ce, &mse);
        if (wce) CHECK_CLOSE(ce, wce[0], 1e-5, 0, "%s: CE part", dir);
        if (wmse) CHECK_CLOSE(mse, wmse[0], 1e-5, 1e-7, "%s: MSE part", dir);
        free(wce);
        free(wmse);
    }
    const size_t *eo = scfm_model_encoder_offsets(m);
    for (size_t l = 0; l <= m->cfg.num_hidden_layers && eo; l++) {
        char name[64];
        snprintf(name, sizeof name, "species_hidden.%zu", l);
        if (!(want = st_f32(st, name, &n))) continue;
        size_t H = m->cfg.hidden_size, rows = 0;
        const float *he = scfm_model_hidden_encoder(m, l, &rows);
        float *got = malloc(f->in.B * H * sizeof *got);
        for (size_t b = 0; b < f->in.B; b++) memcpy(got + b * H, he + eo[b] * H, H * sizeof *got);
        CHECK(n == f->in.B * H && rows == f->in.offs[f->in.B] + f->in.B, "%s shape", name);
        if (n == f->in.B * H) cmp(name, got, want, n, 1e-5, 0);
        free(got);
        free(want);
    }
    for (size_t l = 0; l <= m->cfg.num_hidden_layers; l++) {
        char name[64];
        snprintf(name, sizeof name, "hidden.%zu", l);
        want = st_f32(st, name, &n);
        CHECK(want && n == f->in.offs[f->in.B] * m->cfg.hidden_size, "%s present", name);
        if (want && n == f->in.offs[f->in.B] * m->cfg.hidden_size) cmp(name, scfm_model_hidden(m, l), want, n, 1e-5, 0);
        free(want);
    }
    rc = scfm_model_backward(m);
    CHECK(rc == 0, "%s: backward: %s", dir, scfm_last_error());
    for (size_t i = 0; i < m->n_tensors && !rc; i++) {
        const scfm_tensor *t = &m->tensors[i];
        char name[SCFM_TENSOR_NAME_MAX + 8];
        snprintf(name, sizeof name, "grad.%s", t->name);
        want = st_f32(st, name, &n);
        CHECK(want && n == t->numel, "%s: %s in state", dir, name);
        if (want && n == t->numel) cmp(name, m->grads + t->offset, want, n, 1e-4, 1e-9);
        free(want);
    }
    /* SCFM_TEST_SAVE_DIR: write the loaded model back (the CLI test loads it in PyTorch) */
    const char *sd = getenv("SCFM_TEST_SAVE_DIR");
    if (sd && *sd) {
        char out[4096];
        const char *base = strrchr(dir, '/');
        snprintf(out, sizeof out, "%s/%s", sd, base ? base + 1 : dir);
        CHECK(scfm_model_save(m, out) == 0, "save %s: %s", out, scfm_last_error());
    }
    scfm_model_free(m);
}

static double meta_num(const scfm_safetensors *st, const char *key) {
    const char *v = scfm_st_meta(st, key);
    CHECK(v != NULL, "metadata %s", key);
    return v ? atof(v) : 0;
}

/* S AdamW steps (clip, linear warm-up) on the same batch; compare per-step loss, norm, lr
 * and the final weights. */
static void check_training(const char *dir, const scfm_safetensors *st, scfm_head head, const fixture_input *f) {
    scfm_model *m = scfm_model_load(dir, head);
    CHECK(m != NULL, "%s: load: %s", dir, scfm_last_error());
    if (!m) return;
    double lr = meta_num(st, "lr"), wd = meta_num(st, "weight_decay"), clip = meta_num(st, "max_grad_norm");
    long warm = (long)meta_num(st, "warmup"), total = (long)meta_num(st, "total_steps"), S = (long)meta_num(st, "steps");
    scfm_adamw_config oc;
    scfm_adamw_config_init(&oc);
    oc.weight_decay = (float)wd;
    scfm_adamw opt;
    CHECK(scfm_adamw_init(&opt, m, &oc) == 0, "adamw init");
    size_t n1 = 0, n2 = 0, n3 = 0;
    float *wl = st_f32(st, "steps.loss", &n1), *wn = st_f32(st, "steps.norm", &n2), *wr = st_f32(st, "steps.lr", &n3);
    CHECK(wl && wn && wr && n1 == (size_t)S && n2 == n1 && n3 == n1, "%s: step records", dir);
    for (long s = 0; s < S && wl && wn && wr && n1 == (size_t)S; s++) {
        float loss = 0;
        int rc = scfm_model_zero_grad(m);
        if (!rc) rc = scfm_model_forward(m, &f->in, 1, (uint64_t)s, &loss);
        if (!rc) rc = scfm_model_backward(m);
        CHECK(rc == 0, "%s: step %ld: %s", dir, s, scfm_last_error());
        if (rc) break;
        double norm = scfm_model_clip_grad_norm(m, clip);
        double lrs = scfm_lr_schedule(SCFM_SCHED_LINEAR, lr, s, warm, total);
        CHECK_CLOSE(loss, wl[s], 1e-5, 0, "%s: step %ld loss", dir, s);
        CHECK_CLOSE(norm, wn[s], 1e-4, 0, "%s: step %ld grad norm", dir, s);
        CHECK_CLOSE(lrs, wr[s], 1e-6, 1e-12, "%s: step %ld lr", dir, s);
        CHECK(scfm_adamw_step(&opt, m, (float)lrs) == 0, "adamw step");
    }
    free(wl);
    free(wn);
    free(wr);
    for (size_t i = 0; i < m->n_tensors; i++) {
        const scfm_tensor *t = &m->tensors[i];
        char name[SCFM_TENSOR_NAME_MAX + 8];
        size_t n = 0;
        snprintf(name, sizeof name, "final.%s", t->name);
        float *want = st_f32(st, name, &n);
        CHECK(want && n == t->numel, "%s: %s in state", dir, name);
        /* absolute floor 1e-4 (the tolerance): AdamW normalizes each gradient
         * element, so an element whose gradient is float noise in both implementations
         * moves by a few lr*1e-3 in either direction */
        if (want && n == t->numel) cmp(name, m->params + t->offset, want, n, 1e-4, 1e-4);
        free(want);
    }
    scfm_adamw_free(&opt);
    scfm_model_free(m);
}

static void run_fixture(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/state.safetensors", dir);
    scfm_safetensors *st = scfm_st_open(path);
    CHECK(st != NULL, "open %s: %s", path, scfm_last_error());
    if (!st) return;
    scfm_head head = SCFM_HEAD_MLM;
    const char *hn = scfm_st_meta(st, "head");
    CHECK(hn && scfm_head_from_name(hn, &head) == 0, "%s: head metadata", path);
    fixture_input f;
    int ok = load_input(st, head, &f) == 0;
    CHECK(ok, "%s: input tensors", path);
    if (ok) {
        size_t before = (size_t)tu_failed;
        check_gradients(dir, st, head, &f);
        check_training(dir, st, head, &f);
        printf("%s (%s): %s\n", dir, hn ? hn : "?", (size_t)tu_failed == before ? "ok" : "FAILED");
    }
    free_input(&f);
    scfm_st_close(st);
}

/* ---- model-only checks ---------------------------------------------------------------- */
static scfm_model *tiny(scfm_head head, scfm_act act, float drop) {
    scfm_bert_config c;
    scfm_bert_config_init(&c);
    c.vocab_size = 50;
    c.hidden_size = 16;
    c.num_hidden_layers = 2;
    c.num_attention_heads = 2;
    c.intermediate_size = 24;
    c.max_position_embeddings = 16;
    c.hidden_act = act;
    c.hidden_dropout_prob = c.attention_probs_dropout_prob = drop;
    c.initializer_range = 0.2f;
    if (head == SCFM_HEAD_SEQCLS || head == SCFM_HEAD_TOKCLS) CHECK(scfm_bert_config_set_labels(&c, 3, NULL) == 0, "labels");
    scfm_model *m = scfm_model_create(&c, head, 7);
    CHECK(m != NULL, "create: %s", scfm_last_error());
    scfm_bert_config_free(&c);
    return m;
}

static const size_t t_offs[] = {0, 5, 8, 14};
static const int32_t t_ids[] = {3, 9, 1, 22, 5, 7, 1, 40, 2, 2, 11, 1, 30, 4};
static const size_t t_rows[] = {2, 6, 11, 3};
static const int32_t t_lab[] = {17, 8, 29, -100};
static const int32_t t_seq[] = {1, 0, 2};
static const int32_t t_tok[] = {0, 1, 2, -100, 1, 2, 2, 0, -100, 1, 1, 0, 2, 1};

static scfm_bert_input tiny_input(void) {
    scfm_bert_input in = {.B = 3, .offs = t_offs, .ids = t_ids, .n_mlm = 4, .mlm_rows = t_rows,
                          .mlm_labels = t_lab, .seq_labels = t_seq, .tok_labels = t_tok};
    return in;
}

/* Loss as a function of one parameter, for finite differences (dropout masks fixed). */
static double loss_at(scfm_model *m, const scfm_bert_input *in, size_t idx, double x) {
    float old = m->params[idx], loss = 0;
    m->params[idx] = (float)x;
    int rc = scfm_model_forward(m, in, 1, 99, &loss);
    m->params[idx] = old;
    return rc ? NAN : loss;
}

static void check_dropout_fd(scfm_head head, scfm_act act) {
    scfm_model *m = tiny(head, act, 0.2f);
    if (!m) return;
    scfm_bert_input in = tiny_input();
    float l1 = 0, l2 = 0, l3 = 0;
    CHECK(scfm_model_forward(m, &in, 1, 99, &l1) == 0, "fwd");
    CHECK(scfm_model_forward(m, &in, 1, 99, &l2) == 0, "fwd");
    CHECK(scfm_model_forward(m, &in, 1, 100, &l3) == 0, "fwd");
    CHECK(l1 == l2, "same dropout seed, same loss (%g %g)", l1, l2);
    CHECK(l1 != l3, "different dropout seed, different loss");
    CHECK(scfm_model_zero_grad(m) == 0 && scfm_model_forward(m, &in, 1, 99, &l1) == 0 && scfm_model_backward(m) == 0,
          "fwd/bwd: %s", scfm_last_error());
    /* central differences on a spread of parameters (in double around float params) */
    int bad = 0, tried = 0;
    for (size_t ti = 0; ti < m->n_tensors; ti++) {
        const scfm_tensor *t = &m->tensors[ti];
        for (size_t k = 0; k < t->numel; k += 1 + t->numel / 3) {
            size_t idx = t->offset + k;
            double h = 2e-3 * (fabs(m->params[idx]) + 0.1);
            double fd = (loss_at(m, &in, idx, m->params[idx] + h) - loss_at(m, &in, idx, m->params[idx] - h)) / (2 * h);
            double g = m->grads[idx];
            tried++;
            if (fabs(fd - g) > 2e-3 + 5e-2 * fabs(fd)) {
                if (bad++ < 5) fprintf(stderr, "  fd %s[%zu]: analytic %g numeric %g\n", t->name, k, g, fd);
            }
        }
    }
    CHECK(bad == 0, "%s/%s: %d of %d finite-difference gradients off", scfm_head_name(head), scfm_act_name(act), bad, tried);
    /* backward scaled accumulates */
    float *g1 = malloc(m->n_params * sizeof *g1);
    memcpy(g1, m->grads, m->n_params * sizeof *g1);
    CHECK(scfm_model_forward(m, &in, 1, 99, &l1) == 0 && scfm_model_backward_scaled(m, 0.5f) == 0, "accumulate");
    int acc_ok = 1;
    for (size_t i = 0; i < m->n_params; i++)
        if (fabsf(m->grads[i] - 1.5f * g1[i]) > 1e-6f + 1e-5f * fabsf(g1[i])) acc_ok = 0;
    CHECK(acc_ok, "backward accumulates with scale");
    free(g1);
    scfm_model_free(m);
}

static int same_params(const scfm_model *a, const scfm_model *b) {
    if (a->n_params != b->n_params || a->n_tensors != b->n_tensors) return 0;
    for (size_t i = 0; i < a->n_tensors; i++) {
        const scfm_tensor *t = &a->tensors[i];
        const scfm_tensor *u = scfm_model_find_tensor(b, t->name);
        if (!u || u->numel != t->numel || memcmp(a->params + t->offset, b->params + u->offset, t->numel * 4)) return 0;
    }
    return 1;
}

static void check_checkpoints(void) {
    char dir[] = "/tmp/scfm_test_bert_XXXXXX";
    if (!mkdtemp(dir)) { CHECK(0, "mkdtemp"); return; }
    char sub[4200];
    scfm_head heads[] = {SCFM_HEAD_MLM, SCFM_HEAD_SEQCLS, SCFM_HEAD_TOKCLS, SCFM_HEAD_NONE};
    for (size_t h = 0; h < 4; h++) {
        scfm_model *m = tiny(heads[h], SCFM_ACT_GELU, 0.1f);
        if (!m) continue;
        snprintf(sub, sizeof sub, "%s/%s", dir, scfm_head_name(heads[h]));
        CHECK(scfm_model_save(m, sub) == 0, "save %s: %s", sub, scfm_last_error());
        scfm_model *r = scfm_model_load(sub, heads[h]);
        CHECK(r && same_params(m, r), "round trip %s: %s", scfm_head_name(heads[h]), r ? "params differ" : scfm_last_error());
        CHECK(r && r->cfg.num_labels == m->cfg.num_labels && r->cfg.hidden_act == m->cfg.hidden_act &&
                  r->cfg.hidden_dropout_prob == m->cfg.hidden_dropout_prob,
              "config round trip %s", scfm_head_name(heads[h]));
        scfm_model_free(r);
        scfm_model_free(m);
    }
    /* MLM checkpoint -> classifiers: encoder copied, heads fresh */
    snprintf(sub, sizeof sub, "%s/mlm", dir);
    scfm_model *mlm = scfm_model_load(sub, SCFM_HEAD_MLM);
    scfm_load_opts o = {.num_labels = 4, .seed = 3};
    scfm_model *sc = scfm_model_load_ex(sub, SCFM_HEAD_SEQCLS, &o);
    CHECK(sc && sc->cfg.num_labels == 4 && scfm_model_find_tensor(sc, "bert.pooler.dense.weight"), "mlm -> seqcls: %s",
          scfm_last_error());
    scfm_model *none = scfm_model_load(sub, SCFM_HEAD_SEQCLS);
    CHECK(none == NULL && strstr(scfm_last_error(), "label"), "seqcls without labels refused: %s", scfm_last_error());
    if (mlm && sc) {
        const scfm_tensor *a = scfm_model_find_tensor(mlm, "bert.encoder.layer.1.output.dense.weight");
        const scfm_tensor *b = scfm_model_find_tensor(sc, "bert.encoder.layer.1.output.dense.weight");
        CHECK(a && b && !memcmp(mlm->params + a->offset, sc->params + b->offset, a->numel * 4), "encoder carried over");
    }
    /* a bare encoder (no "bert." prefix in the file) loads into an MLM model: head fresh */
    snprintf(sub, sizeof sub, "%s/none", dir);
    scfm_model *fromnone = scfm_model_load(sub, SCFM_HEAD_MLM);
    CHECK(fromnone != NULL, "BertModel file -> MLM: %s", scfm_last_error());
    scfm_model_free(fromnone);
    scfm_model_free(mlm);
    scfm_model_free(sc);
    CHECK(scfm_model_load("/nonexistent/dir", SCFM_HEAD_MLM) == NULL && strstr(scfm_last_error(), "/nonexistent/dir"),
          "missing dir names it: %s", scfm_last_error());
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0, "cleanup");
}

static void check_schedules(void) {
    /* transformers values: linear warm-up 10 of 100, cosine */
    CHECK_CLOSE(scfm_lr_schedule(SCFM_SCHED_LINEAR, 1.0, 0, 10, 100), 0.0, 0, 1e-12, "linear 0");
    CHECK_CLOSE(scfm_lr_schedule(SCFM_SCHED_LINEAR, 1.0, 5, 10, 100), 0.5, 1e-12, 0, "linear 5");
    CHECK_CLOSE(scfm_lr_schedule(SCFM_SCHED_LINEAR, 1.0, 10, 10, 100), 1.0, 1e-12, 0, "linear 10");
    CHECK_CLOSE(scfm_lr_schedule(SCFM_SCHED_LINEAR, 1.0, 55, 10, 100), 0.5, 1e-12, 0, "linear 55");
    CHECK_CLOSE(scfm_lr_schedule(SCFM_SCHED_LINEAR, 1.0, 120, 10, 100), 0.0, 0, 1e-12, "linear past end");
    CHECK_CLOSE(scfm_lr_schedule(SCFM_SCHED_COSINE, 2.0, 55, 10, 100), 1.0, 1e-12, 0, "cosine middle");
    CHECK_CLOSE(scfm_lr_schedule(SCFM_SCHED_COSINE, 2.0, 10, 10, 100), 2.0, 1e-12, 0, "cosine start");
    CHECK_CLOSE(scfm_lr_schedule(SCFM_SCHED_COSINE, 2.0, 32.5 > 0 ? 33 : 0, 10, 100),
                2.0 * 0.5 * (1 + cos(M_PI * 23.0 / 90.0)), 1e-12, 0, "cosine 33");
    CHECK_CLOSE(scfm_lr_schedule(SCFM_SCHED_CONSTANT_WARMUP, 2.0, 5, 10, 100), 1.0, 1e-12, 0, "constant warm-up");
    CHECK_CLOSE(scfm_lr_schedule(SCFM_SCHED_CONSTANT, 2.0, 0, 10, 100), 2.0, 1e-12, 0, "constant");
    scfm_sched s;
    CHECK(scfm_sched_from_name("cosine", &s) == 0 && s == SCFM_SCHED_COSINE, "sched name");
    CHECK(scfm_sched_from_name("cosin", &s) == SCFM_EINVAL, "bad sched name");
}

static void check_inputs(void) {
    scfm_model *m = tiny(SCFM_HEAD_MLM, SCFM_ACT_RELU, 0);
    if (!m) return;
    scfm_bert_input in = tiny_input();
    int32_t ids[14];
    memcpy(ids, t_ids, sizeof ids);
    ids[4] = 50;
    in.ids = ids;
    CHECK(scfm_model_forward(m, &in, 0, 0, NULL) == SCFM_EINVAL && strstr(scfm_last_error(), "row 4"), "bad id: %s",
          scfm_last_error());
    in = tiny_input();
    size_t rows[4] = {2, 6, 14, 3};
    in.mlm_rows = rows;
    CHECK(scfm_model_forward(m, &in, 0, 0, NULL) == SCFM_EINVAL, "row beyond N");
    in = tiny_input();
    size_t offs[] = {0, 5, 5, 14};
    in.offs = offs;
    CHECK(scfm_model_forward(m, &in, 0, 0, NULL) == SCFM_EINVAL, "empty sequence");
    in = tiny_input();
    size_t long_offs[] = {0, 17};
    int32_t long_ids[17] = {0};
    in.B = 1;
    in.offs = long_offs;
    in.ids = long_ids;
    in.n_mlm = 0;
    CHECK(scfm_model_forward(m, &in, 0, 0, NULL) == SCFM_EINVAL && strstr(scfm_last_error(), "max_position"),
          "too long: %s", scfm_last_error());
    in = tiny_input();
    in.mlm_labels = NULL;
    float loss = 1;
    CHECK(scfm_model_forward(m, &in, 1, 0, &loss) == 0 && loss == 0, "no labels: forward ok, loss 0");
    CHECK(scfm_model_backward(m) == SCFM_EINVAL, "no labels: backward refused");
    in = tiny_input();
    CHECK(scfm_model_forward(m, &in, 0, 0, &loss) == 0, "eval forward");
    CHECK(scfm_model_backward(m) == SCFM_EINVAL, "backward after eval forward refused");
    /* eval forward equals train forward without dropout, and the arena regrows */
    const float *h = scfm_model_hidden(m, 2);
    float *copy = malloc(14 * 16 * sizeof *copy);
    memcpy(copy, h, 14 * 16 * sizeof *copy);
    CHECK(scfm_model_forward(m, &in, 1, 5, &loss) == 0, "train forward");
    CHECK(!memcmp(copy, scfm_model_hidden(m, 2), 14 * 16 * sizeof *copy), "eval == train at dropout 0");
    CHECK(scfm_model_hidden(m, 3) == NULL, "hidden beyond L is NULL");
    /* encoder-only forward through the first layer, on a worker view: the same states as the
     * full forward's, nothing beyond */
    float *h1 = malloc(14 * 16 * sizeof *h1);
    in = tiny_input();
    CHECK(scfm_model_forward(m, &in, 0, 0, &loss) == 0, "eval forward");
    memcpy(h1, scfm_model_hidden(m, 1), 14 * 16 * sizeof *h1);
    memcpy(copy, scfm_model_hidden(m, 2), 14 * 16 * sizeof *copy);
    scfm_model *w = scfm_model_worker(m);
    CHECK(w && scfm_model_forward_hidden(w, &in, 1) == 0, "forward_hidden on a worker");
    CHECK(w && scfm_model_hidden(w, 1) && !memcmp(h1, scfm_model_hidden(w, 1), 14 * 16 * sizeof *h1),
          "forward_hidden: layer 1 as the full forward's");
    CHECK(w && !scfm_model_hidden(w, 2) && !scfm_model_logits(w, NULL, NULL), "forward_hidden: no layer 2, no head");
    CHECK(w && scfm_model_backward(w) == SCFM_EINVAL, "forward_hidden: no backward");
    CHECK(w && scfm_model_forward_hidden(w, &in, 3) == SCFM_EINVAL, "forward_hidden beyond L refused");
    CHECK(w && scfm_model_forward_hidden(w, &in, 2) == 0 && !memcmp(copy, scfm_model_hidden(w, 2), 14 * 16 * sizeof *copy),
          "forward_hidden through every layer: the last state as the full forward's");
    CHECK(scfm_model_hidden(m, 2) && !memcmp(copy, scfm_model_hidden(m, 2), 14 * 16 * sizeof *copy),
          "the model's own forward untouched by the worker's");
    scfm_model_worker_free(w);
    free(h1);
    free(copy);
    scfm_model_free(m);
    /* freezing */
    m = tiny(SCFM_HEAD_SEQCLS, SCFM_ACT_RELU, 0);
    if (!m) return;
    scfm_model_freeze_layers(m, 1);
    const scfm_tensor *t0 = scfm_model_find_tensor(m, "bert.encoder.layer.0.output.dense.weight");
    const scfm_tensor *t1 = scfm_model_find_tensor(m, "bert.encoder.layer.1.output.dense.weight");
    CHECK(t0 && !t0->trainable && t1 && t1->trainable, "freeze first layer");
    const scfm_tensor *lnw = scfm_model_find_tensor(m, "bert.embeddings.LayerNorm.weight");
    CHECK(lnw && !lnw->decay && t1 && t1->decay, "decay flags");
    scfm_adamw opt;
    CHECK(scfm_adamw_init(&opt, m, NULL) == 0, "opt");
    float before = m->params[t0->offset];
    in = tiny_input();
    CHECK(scfm_model_zero_grad(m) == 0 && scfm_model_forward(m, &in, 1, 0, &loss) == 0 && scfm_model_backward(m) == 0,
          "seqcls step");
    CHECK(scfm_adamw_step(&opt, m, 1e-2f) == 0 && m->params[t0->offset] == before, "frozen tensor unchanged");
    scfm_adamw_free(&opt);
    scfm_model_free(m);
}

int main(int argc, char **argv) {
    const char *gemm = getenv("SCFM_GEMM"); /* run_tests.sh runs this once per matmul backend */
    if (gemm && *gemm && scfm_gemm_set_backend(gemm)) { fprintf(stderr, "%s\n", scfm_last_error()); return 1; }
    { char k[128]; printf("matmul: %s (%s)\n", scfm_gemm_backend(), scfm_gemm_kernel(k, sizeof k)); }
    if (argc > 1)
        for (int i = 1; i < argc; i++) run_fixture(argv[i]);
    else {
        run_fixture("tests/fixtures/bert/relu_mlm");
        run_fixture("tests/fixtures/genecompass/all_on");
        run_fixture("tests/fixtures/genecompass/some_off");
        run_fixture("tests/fixtures/genecompass/no_species");
    }
    /* smooth activations only: finite differences across ReLU kinks are meaningless (ReLU
     * is covered by the golden fixture) */
    scfm_act acts[] = {SCFM_ACT_GELU, SCFM_ACT_SILU, SCFM_ACT_GELU_TANH};
    for (size_t a = 0; a < 3; a++) check_dropout_fd(SCFM_HEAD_MLM, acts[a]);
    check_dropout_fd(SCFM_HEAD_SEQCLS, SCFM_ACT_GELU);
    check_dropout_fd(SCFM_HEAD_TOKCLS, SCFM_ACT_SILU);
    check_checkpoints();
    check_schedules();
    check_inputs();
    return TEST_END();
}
