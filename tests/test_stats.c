/* Statistics against scipy (fixtures by scripts/make_stats_fixtures.py): rank-sum tests
 * (ranksums, mannwhitneyu asymptotic with/without continuity, ties), rankdata, BH FDR,
 * classification metrics; plus cosine similarity, stratified splits and the .npy writer;
 * embeddings and perturbation on a synthetic V2 corpus with a small random model: a batch
 * equals cells run one by one, <cls> pooling, perturbed tokens, perturbation shifts equal
 * shifts recomputed cell by cell with plain forwards.
 * Usage: test_stats [FIXTURE_DIR]   (default tests/fixtures/stats) */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scfm/analysis.h"
#include "scfm/genes.h"
#include "scfm/model.h"
#include "scfm/rng.h"
#include "testutil.h"

#define MAXV 4096

typedef struct {
    char key[32];
    double v[MAXV];
    size_t n;
} rec;

/* Reads the next record "key numbers..." (skipping comments). Returns 1, 0 at EOF. The
 * "case" keyword keeps its name in key2. */
static int next_rec(FILE *f, rec *r, char *name, size_t name_len) {
    static char line[1 << 20];
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        char *save = NULL, *tok = strtok_r(line, " \t\n", &save);
        if (!tok) continue;
        snprintf(r->key, sizeof r->key, "%s", tok);
        r->n = 0;
        if (!strcmp(r->key, "case")) {
            tok = strtok_r(NULL, " \t\n", &save);
            snprintf(name, name_len, "%s", tok ? tok : "?");
            return 1;
        }
        while ((tok = strtok_r(NULL, " \t\n", &save)) && r->n < MAXV) r->v[r->n++] = strtod(tok, NULL);
        return 1;
    }
    return 0;
}

static FILE *open_fx(const char *dir, const char *name) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "r");
    CHECK(f != NULL, "cannot open fixture %s (run scripts/make_stats_fixtures.py)", p);
    return f;
}

static rec A, B, R;

static void test_ranksum(const char *dir) {
    FILE *f = open_fx(dir, "ranksum.txt");
    if (!f) return;
    char name[128] = "";
    size_t ncases = 0;
    while (next_rec(f, &R, name, sizeof name)) {
        if (!strcmp(R.key, "x")) A = R;
        else if (!strcmp(R.key, "y")) B = R;
        else if (!strcmp(R.key, "rs") || !strcmp(R.key, "mwu") || !strcmp(R.key, "mwucc")) {
            scfm_ranksum_kind k = !strcmp(R.key, "rs") ? SCFM_RANKSUM_SCIPY_RANKSUMS
                                  : !strcmp(R.key, "mwu") ? SCFM_RANKSUM_MWU : SCFM_RANKSUM_MWU_CC;
            double st = NAN, z = NAN, p = NAN;
            int rc = scfm_ranksum_test(A.v, A.n, B.v, B.n, k, &st, &z, &p);
            CHECK(rc == SCFM_OK, "%s %s: %s", name, R.key, scfm_last_error());
            if (isnan(R.v[1])) {
                CHECK(p == 1.0 && z == 0.0, "%s %s: degenerate case should give p = 1, z = 0 (got %g, %g)", name,
                      R.key, p, z);
            } else {
                CHECK_CLOSE(st, R.v[0], 1e-10, 1e-12, "%s %s statistic", name, R.key);
                CHECK_CLOSE(p, R.v[1], 1e-10, 1e-300, "%s %s p-value", name, R.key);
                if (k == SCFM_RANKSUM_SCIPY_RANKSUMS) CHECK_CLOSE(z, R.v[0], 1e-12, 1e-12, "%s z", name);
            }
            if (k == SCFM_RANKSUM_MWU) ncases++;
        }
    }
    fclose(f);
    CHECK(ncases >= 8, "ranksum fixture has only %zu cases", ncases);
    /* sign of z: x larger -> positive */
    double x[] = {5, 6, 7, 8}, y[] = {1, 2, 3}, z = 0, p = 0;
    CHECK(scfm_ranksum_test(x, 4, y, 3, SCFM_RANKSUM_MWU, NULL, &z, &p) == 0 && z > 0, "z sign (x larger)");
    CHECK(scfm_ranksum_test(y, 3, x, 4, SCFM_RANKSUM_MWU, NULL, &z, &p) == 0 && z < 0, "z sign (x smaller)");
    /* errors */
    CHECK(scfm_ranksum_test(x, 0, y, 3, SCFM_RANKSUM_MWU, NULL, &z, &p) == SCFM_EINVAL, "empty sample");
    double bad[] = {1, NAN};
    CHECK(scfm_ranksum_test(bad, 2, y, 3, SCFM_RANKSUM_MWU, NULL, &z, &p) == SCFM_EINVAL, "NaN rejected");
    CHECK(strstr(scfm_last_error(), "NaN") != NULL, "NaN message: %s", scfm_last_error());
}

static void test_rankdata(const char *dir) {
    FILE *f = open_fx(dir, "rankdata.txt");
    if (!f) return;
    char name[8];
    static double ranks[MAXV];
    double tie = 0;
    size_t n = 0;
    while (next_rec(f, &R, name, sizeof name)) {
        if (!strcmp(R.key, "v")) {
            A = R;
            CHECK(scfm_rankdata(A.v, A.n, ranks, &tie) == 0, "rankdata: %s", scfm_last_error());
        } else if (!strcmp(R.key, "r")) {
            for (size_t i = 0; i < R.n; i++) CHECK(ranks[i] == R.v[i], "rank %zu: %g want %g", i, ranks[i], R.v[i]);
            n++;
        } else if (!strcmp(R.key, "tie")) {
            CHECK(tie == R.v[0], "tie term %g want %g", tie, R.v[0]);
        }
    }
    fclose(f);
    CHECK(n >= 2, "rankdata fixture has %zu cases", n);
}

static void test_bh(const char *dir) {
    FILE *f = open_fx(dir, "bh.txt");
    if (!f) return;
    char name[8];
    static double q[MAXV], q2[MAXV];
    size_t n = 0;
    while (next_rec(f, &R, name, sizeof name)) {
        if (!strcmp(R.key, "p")) {
            A = R;
            CHECK(scfm_fdr_bh(A.v, A.n, q) == 0, "bh: %s", scfm_last_error());
        } else if (!strcmp(R.key, "q")) {
            CHECK(R.n == A.n, "bh fixture sizes");
            for (size_t i = 0; i < R.n; i++) CHECK_CLOSE(q[i], R.v[i], 1e-12, 1e-300, "bh q[%zu] of set %zu", i, n);
            /* in place */
            memcpy(q2, A.v, A.n * sizeof *q2);
            CHECK(scfm_fdr_bh(q2, A.n, q2) == 0, "bh in place");
            CHECK(!memcmp(q2, q, A.n * sizeof *q2), "bh in place equals out of place");
            n++;
        }
    }
    fclose(f);
    CHECK(n >= 5, "bh fixture has %zu sets", n);
    double bad[] = {0.1, 1.5};
    CHECK(scfm_fdr_bh(bad, 2, q) == SCFM_EINVAL, "p > 1 rejected");
}

static void test_metrics(const char *dir) {
    FILE *f = open_fx(dir, "metrics.txt");
    if (!f) return;
    char name[8];
    static int32_t truth[MAXV], pred[MAXV];
    static size_t cm[MAXV], sup[64];
    static double pr[64], rc[64], f1[64];
    size_t C = 0, n = 0, sets = 0;
    scfm_cls_metrics m;
    memset(&m, 0, sizeof m);
    while (next_rec(f, &R, name, sizeof name)) {
        if (!strcmp(R.key, "C")) C = (size_t)R.v[0];
        else if (!strcmp(R.key, "truth")) {
            n = R.n;
            for (size_t i = 0; i < n; i++) truth[i] = (int32_t)R.v[i];
        } else if (!strcmp(R.key, "pred")) {
            for (size_t i = 0; i < n; i++) pred[i] = (int32_t)R.v[i];
            int r = scfm_cls_metrics_compute(truth, pred, n, C, &m, cm, pr, rc, f1, sup);
            CHECK(r == 0, "metrics: %s", scfm_last_error());
            sets++;
        } else if (!strcmp(R.key, "cm")) {
            for (size_t i = 0; i < C * C; i++) CHECK(cm[i] == (size_t)R.v[i], "confusion[%zu] %zu want %g", i, cm[i], R.v[i]);
        } else if (!strcmp(R.key, "prec")) {
            for (size_t i = 0; i < C; i++) CHECK_CLOSE(pr[i], R.v[i], 1e-12, 1e-15, "precision[%zu]", i);
        } else if (!strcmp(R.key, "rec")) {
            for (size_t i = 0; i < C; i++) CHECK_CLOSE(rc[i], R.v[i], 1e-12, 1e-15, "recall[%zu]", i);
        } else if (!strcmp(R.key, "f1")) {
            for (size_t i = 0; i < C; i++) CHECK_CLOSE(f1[i], R.v[i], 1e-12, 1e-15, "f1[%zu]", i);
        } else if (!strcmp(R.key, "acc")) {
            CHECK_CLOSE(m.accuracy, R.v[0], 1e-12, 1e-15, "accuracy");
        } else if (!strcmp(R.key, "macro")) {
            CHECK_CLOSE(m.macro_f1, R.v[0], 1e-12, 1e-15, "macro F1 (set %zu)", sets);
        }
    }
    fclose(f);
    CHECK(sets >= 3, "metrics fixture has %zu sets", sets);
    int32_t t[] = {0, 1}, p[] = {0, 3};
    CHECK(scfm_cls_metrics_compute(t, p, 2, 3, &m, NULL, NULL, NULL, NULL, NULL) == SCFM_EINVAL, "label out of range");
}

static void test_cosine(void) {
    float x[] = {1, 2, 3}, y[] = {-2, 0.5f, 4}, z[] = {0, 0, 0};
    double want = (1 * -2 + 2 * 0.5 + 3 * 4) / (sqrt(14.0) * sqrt(4 + 0.25 + 16));
    CHECK_CLOSE(scfm_cosine(x, y, 3), want, 1e-12, 0, "cosine");
    CHECK_CLOSE(scfm_cosine(x, x, 3), 1.0, 1e-12, 0, "cosine self");
    CHECK(scfm_cosine(x, z, 3) == 0.0, "cosine with a zero vector is 0 (torch eps)");
    double a[] = {1, 0}, b[] = {0, 1};
    CHECK(fabs(scfm_cosine_d(a, b, 2)) < 1e-15, "orthogonal");
}

static void test_split(void) {
    enum { N = 1000, C = 4 };
    static int32_t lab[N];
    static int8_t s1[N], s2[N], s3[N];
    size_t cls_n[C] = {0};
    for (size_t i = 0; i < N; i++) {
        lab[i] = i % 10 == 9 ? -1 : (int32_t)((i * 7) % C == 3 && i % 3 ? 3 : (i * 7) % 3);
        if (i == 5) lab[i] = 3;
        if (lab[i] >= 0) cls_n[lab[i]]++;
    }
    CHECK(scfm_stratified_split(lab, N, C, 0.1, 0.1, 42, s1) == 0, "split: %s", scfm_last_error());
    CHECK(scfm_stratified_split(lab, N, C, 0.1, 0.1, 42, s2) == 0, "split again");
    CHECK(scfm_stratified_split(lab, N, C, 0.1, 0.1, 43, s3) == 0, "split other seed");
    CHECK(!memcmp(s1, s2, N), "same seed, same split");
    CHECK(memcmp(s1, s3, N) != 0, "other seed, other split");
    for (size_t c = 0; c < C; c++) {
        size_t k[3] = {0};
        for (size_t i = 0; i < N; i++)
            if (lab[i] == (int32_t)c) k[s1[i]]++;
        size_t nv = (size_t)floor(cls_n[c] * 0.1 + 0.5);
        CHECK(k[1] == nv && k[2] == nv && k[0] == cls_n[c] - 2 * nv, "class %zu: %zu/%zu/%zu of %zu", c, k[0], k[1],
              k[2], cls_n[c]);
    }
    for (size_t i = 0; i < N; i++)
        if (lab[i] < 0) CHECK(s1[i] == -1, "unlabelled cell %zu assigned", i);
    /* a one-cell class stays in training */
    int32_t one[] = {0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    int8_t so[11];
    CHECK(scfm_stratified_split(one, 11, 2, 0.5, 0.4, 1, so) == 0 && so[0] == 0, "singleton class in train");
    CHECK(scfm_stratified_split(one, 11, 2, 0.7, 0.4, 1, so) == SCFM_EINVAL, "fractions above 1 rejected");
}

static void test_npy(void) {
    char path[] = "/tmp/scfm_test_npy_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    if (fd < 0) return;
    close(fd);
    float d[6] = {1, 2, 3, 4, 5, 6.5f};
    CHECK(scfm_npy_write_f32(path, d, 2, 3) == 0, "npy write: %s", scfm_last_error());
    char *buf = NULL;
    size_t len = 0;
    CHECK(scfm_read_file(path, &buf, &len) == 0, "npy read back");
    if (buf) {
        CHECK(len > 10 && !memcmp(buf, "\x93NUMPY\x01\x00", 8), "npy magic");
        size_t hl = (unsigned char)buf[8] | ((size_t)(unsigned char)buf[9] << 8);
        CHECK((10 + hl) % 64 == 0, "npy header aligned to 64");
        CHECK(strstr(buf + 10, "'descr': '<f4'") && strstr(buf + 10, "'shape': (2, 3)") &&
                  strstr(buf + 10, "'fortran_order': False"), "npy header: %.*s", (int)hl, buf + 10);
        CHECK(len == 10 + hl + sizeof d && !memcmp(buf + 10 + hl, d, sizeof d), "npy data");
        free(buf);
    }
    double e[2] = {1, 2};
    CHECK(scfm_npy_write_f64(path, e, 2, 0) == 0, "npy 1-d");
    if (scfm_read_file(path, &buf, &len) == 0) {
        CHECK(strstr(buf + 10, "'shape': (2,)") && strstr(buf + 10, "'<f8'"), "npy 1-d header");
        free(buf);
    }
    unlink(path);
    CHECK(scfm_npy_write_f32("/nonexistent-dir/x.npy", d, 2, 3) == SCFM_EIO, "npy unwritable path");
}

static void test_perturb_tokens(void) {
    int32_t t[] = {2, 10, 11, 12, 13, 3}, o[8];
    size_t ol = 0, orl = 0;
    CHECK(scfm_perturb_tokens(t, 6, 12, SCFM_PERTURB_DELETE, 1, 6, o, &ol, &orl) == 0 && ol == 5 && orl == 6 &&
              o[0] == 2 && o[1] == 10 && o[2] == 11 && o[3] == 13 && o[4] == 3, "delete");
    CHECK(scfm_perturb_tokens(t, 6, 99, SCFM_PERTURB_DELETE, 1, 6, o, &ol, &orl) == SCFM_ENOTFOUND, "delete absent");
    CHECK(scfm_perturb_tokens(t, 6, 12, SCFM_PERTURB_OVEREXPRESS, 1, 6, o, &ol, &orl) == 0 && ol == 6 && orl == 6 &&
              o[0] == 2 && o[1] == 12 && o[2] == 10 && o[3] == 11 && o[4] == 13 && o[5] == 3, "overexpress present (V2)");
    CHECK(scfm_perturb_tokens(t + 1, 4, 13, SCFM_PERTURB_OVEREXPRESS, 0, 8, o, &ol, &orl) == 0 && ol == 4 &&
              o[0] == 13 && o[1] == 10 && o[3] == 12, "overexpress present (V1)");
    CHECK(scfm_perturb_tokens(t, 6, 20, SCFM_PERTURB_OVEREXPRESS, 1, 8, o, &ol, &orl) == 0 && ol == 7 && orl == 6 &&
              o[1] == 20 && o[2] == 10 && o[6] == 3, "overexpress absent: inserted");
    CHECK(scfm_perturb_tokens(t, 6, 20, SCFM_PERTURB_OVEREXPRESS, 1, 6, o, &ol, &orl) == 0 && ol == 6 && orl == 6 &&
              o[1] == 20 && o[5] == 13, "overexpress absent at max length: truncated");
}

/* ---- synthetic corpus + random model ------------------------------------------------ */
enum { SV = 64, SCELLS = 9 };

static scfm_corpus *make_corpus(const char *root) {
    char vp[512], dir[512];
    snprintf(vp, sizeof vp, "%s/vocab.tsv", root);
    snprintf(dir, sizeof dir, "%s/corpus", root);
    FILE *f = fopen(vp, "w");
    if (!f) return NULL;
    fprintf(f, "<pad>\t0\n<mask>\t1\n<cls>\t2\n<eos>\t3\n");
    for (int i = 4; i < SV; i++) fprintf(f, "ENSG%011d\t%d\n", i, i);
    fclose(f);
    scfm_vocab *v = scfm_vocab_load(vp);
    CHECK(v != NULL, "vocab: %s", scfm_last_error());
    if (!v) return NULL;
    const char *obs_names[] = {"state"};
    scfm_corpus_writer_opts o = {.dir = dir, .vocab = v, .mode = "v2", .max_len = 40, .obs_names = obs_names, .n_obs = 1};
    scfm_corpus_writer *w = scfm_corpus_writer_open(&o);
    CHECK(w != NULL, "corpus writer: %s", scfm_last_error());
    scfm_rng r;
    scfm_rng_seed(&r, 5);
    for (int c = 0; w && c < SCELLS; c++) {
        int32_t tok[40];
        size_t len = 5 + (size_t)scfm_rng_below(&r, 30), k = 0;
        uint8_t used[SV] = {0};
        tok[k++] = 2;
        while (k < len - 1) {
            int32_t g = 4 + (int32_t)scfm_rng_below(&r, SV - 4);
            if (c % 2 == 0 && k == 1) g = 7; /* gene 7 in every even cell */
            if (used[g]) continue;
            used[g] = 1;
            tok[k++] = g;
        }
        tok[k++] = 3;
        char id[32];
        snprintf(id, sizeof id, "cell%d", c);
        const char *obs[] = {c < 3 ? "goal" : "start"};
        CHECK(scfm_corpus_writer_add(w, tok, NULL, k, id, obs) == 0, "add cell: %s", scfm_last_error());
    }
    if (w) CHECK(scfm_corpus_writer_finish(w) == 0, "finish: %s", scfm_last_error());
    scfm_vocab_free(v);
    scfm_corpus *c = scfm_corpus_open(dir);
    CHECK(c != NULL, "corpus open: %s", scfm_last_error());
    return c;
}

/* One cell alone through the model: pooled embedding of layer `layer`. */
static void embed_alone(scfm_model *m, const int32_t *ids, size_t len, size_t layer, scfm_pool pool,
                        const uint8_t *special, float *out) {
    size_t offs[2] = {0, len};
    scfm_bert_input in;
    memset(&in, 0, sizeof in);
    in.B = 1;
    in.offs = offs;
    in.ids = ids;
    CHECK(scfm_model_forward(m, &in, 0, 0, NULL) == 0, "forward: %s", scfm_last_error());
    const float *h = scfm_model_hidden(m, layer);
    size_t H = m->cfg.hidden_size, n = 0;
    for (size_t d = 0; d < H; d++) out[d] = 0;
    if (pool == SCFM_POOL_CLS) {
        memcpy(out, h, H * sizeof *out);
        return;
    }
    double acc[256] = {0};
    for (size_t t = 0; t < len; t++) {
        if (special[ids[t]]) continue;
        n++;
        for (size_t d = 0; d < H; d++) acc[d] += h[t * H + d];
    }
    for (size_t d = 0; d < H; d++) out[d] = (float)(acc[d] / (double)n);
}

static void test_embed_perturb(void) {
    char root[] = "/tmp/scfm_test_embed_XXXXXX";
    if (!mkdtemp(root)) return;
    scfm_corpus *c = make_corpus(root);
    scfm_bert_config cfg;
    scfm_bert_config_init(&cfg);
    CHECK(scfm_bert_config_preset(&cfg, "tiny") == 0, "preset");
    cfg.vocab_size = SV;
    cfg.max_position_embeddings = 40;
    scfm_model *m = c ? scfm_model_create(&cfg, SCFM_HEAD_NONE, 11) : NULL;
    CHECK(m != NULL, "model: %s", scfm_last_error());
    if (!m) goto done;
    size_t H = cfg.hidden_size, L = cfg.num_hidden_layers;
    uint8_t *special = NULL;
    CHECK(scfm_embed_special_mask(c, SV, &special) == 0 && special[0] && special[2] && special[3] && !special[4],
          "special mask");
    float *a = calloc(SCELLS * H, sizeof *a), *b = calloc(SCELLS * H, sizeof *b), one[256], one2[256];
    scfm_embed_opts o;
    scfm_embed_opts_init(&o);
    scfm_gene_embed g;
    memset(&g, 0, sizeof g);
    o.genes = 1;
    CHECK(scfm_embed_cells(m, c, NULL, SCELLS, &o, a, &g) == 0, "embed batch: %s", scfm_last_error());
    o.genes = 0;
    o.batch_cells = 1;
    CHECK(scfm_embed_cells(m, c, NULL, SCELLS, &o, b, NULL) == 0, "embed one by one: %s", scfm_last_error());
    CHECK_ARRAY(a, b, SCELLS * H, 1e-5, 1e-6, "batched vs one-by-one embeddings");
    /* each cell alone through plain forward, layer L-1, mean over genes */
    uint64_t cnt7 = 0;
    for (size_t i = 0; i < SCELLS; i++) {
        const int32_t *t;
        size_t len;
        CHECK(scfm_corpus_cell(c, i, &t, &len, NULL) == 0, "cell");
        embed_alone(m, t, len, L - 1, SCFM_POOL_MEAN, special, one);
        CHECK_ARRAY(a + i * H, one, H, 1e-5, 1e-6, "embedding vs plain forward");
        for (size_t k = 0; k < len; k++) cnt7 += t[k] == 7;
    }
    CHECK(g.count[7] == cnt7 && g.count[0] == 0 && g.count[2] == 0, "gene counts (7: %llu want %llu)",
          (unsigned long long)g.count[7], (unsigned long long)cnt7);
    scfm_gene_embed_free(&g);
    /* <cls> pooling at the last layer, cells 2 and 5 only */
    size_t sel[2] = {5, 2};
    o.pool = SCFM_POOL_CLS;
    o.layer = -1;
    CHECK(scfm_embed_cells(m, c, sel, 2, &o, b, NULL) == 0, "embed cls: %s", scfm_last_error());
    for (size_t k = 0; k < 2; k++) {
        const int32_t *t;
        size_t len;
        CHECK(scfm_corpus_cell(c, sel[k], &t, &len, NULL) == 0, "cell");
        embed_alone(m, t, len, L, SCFM_POOL_CLS, special, one);
        CHECK_ARRAY(b + k * H, one, H, 1e-5, 1e-6, "cls embedding vs plain forward");
    }
    o.layer = (long)L + 1;
    CHECK(scfm_embed_cells(m, c, NULL, 1, &o, b, NULL) == SCFM_EINVAL, "layer out of range");

    /* perturbation: delete genes 7 and 9 (and an absent one) in every cell, goal = cell 0 */
    int32_t genes[] = {7, 9, 63};
    scfm_perturb_opts po;
    scfm_perturb_opts_init(&po);
    po.genes = genes;
    po.n_genes = 3;
    po.mode = SCFM_PERTURB_DELETE;
    po.embed.batch_tokens = 64; /* several batches per cell */
    for (int pass = 0; pass < 3; pass++) {
        scfm_perturb_result r;
        memset(&r, 0, sizeof r);
        po.goal = pass == 1 ? a : NULL;
        po.mode = pass == 2 ? SCFM_PERTURB_OVEREXPRESS : SCFM_PERTURB_DELETE;
        CHECK(scfm_perturb_cells(m, c, NULL, SCELLS, &po, &r) == 0, "perturb: %s", scfm_last_error());
        size_t want_n[3] = {0, 0, 0};
        double maxd = 0;
        for (size_t i = 0; i < SCELLS; i++) {
            const int32_t *t;
            size_t len;
            CHECK(scfm_corpus_cell(c, i, &t, &len, NULL) == 0, "cell");
            embed_alone(m, t, len, L - 1, SCFM_POOL_MEAN, special, one);
            for (int gi = 0; gi < 3; gi++) {
                int32_t p[48];
                size_t k = 0, found = 0;
                if (pass < 2) {
                    for (size_t q = 0; q < len; q++) {
                        if (t[q] == genes[gi]) found = 1;
                        else p[k++] = t[q];
                    }
                    if (!found) continue;
                } else { /* overexpress by hand: after <cls>, cut to 40 */
                    p[k++] = t[0];
                    p[k++] = genes[gi];
                    for (size_t q = 1; q < len; q++)
                        if (t[q] != genes[gi]) p[k++] = t[q];
                    if (k > 40) k = 40;
                }
                embed_alone(m, p, k, L - 1, SCFM_POOL_MEAN, special, one2);
                double want = pass == 1 ? scfm_cosine(one2, a, H) - scfm_cosine(one, a, H) : scfm_cosine(one2, one, H);
                size_t j = want_n[gi]++;
                if (j < r.n[genes[gi]]) {
                    double d = fabs(r.shifts[genes[gi]][j] - want);
                    if (d > maxd) maxd = d;
                }
            }
        }
        for (int gi = 0; gi < 3; gi++)
            CHECK(r.n[genes[gi]] == want_n[gi], "pass %d gene %d: %zu shifts, want %zu", pass, genes[gi],
                  r.n[genes[gi]], want_n[gi]);
        CHECK(maxd < 1e-5, "pass %d: shifts differ from plain forwards by %g", pass, maxd);
        CHECK(want_n[0] >= 5, "gene 7 is in the even cells");
        scfm_perturb_stat *st = NULL;
        size_t ns = 0;
        CHECK(scfm_perturb_stats(&r, &st, &ns) == 0, "perturb stats: %s", scfm_last_error());
        for (size_t i = 0; i < ns; i++) {
            CHECK(st[i].n == r.n[st[i].token] && st[i].fdr >= st[i].p - 1e-15 && st[i].fdr <= 1, "stat row %zu", i);
            if (i) CHECK(st[i].p >= st[i - 1].p, "stats sorted by p");
        }
        free(st);
        scfm_perturb_result_free(&r);
    }
    po.genes = NULL;
    po.mode = SCFM_PERTURB_DELETE;
    po.goal = NULL;
    {
        scfm_perturb_result r;
        memset(&r, 0, sizeof r);
        size_t cell0 = 0, len0 = scfm_corpus_len(c, 0);
        CHECK(scfm_perturb_cells(m, c, &cell0, 1, &po, &r) == 0 && r.n_perturbations == len0 - 2,
              "delete every gene of a cell: %zu perturbations, want %zu", r.n_perturbations, len0 - 2);
        scfm_perturb_result_free(&r);
    }
    /* twins: every gene of every cell deleted with one forward at a time (every thread in it)
     * and with three workers (batches of a cell at once, each forward on one thread), at the
     * last layer and at L - 1 (the forward stops there), mean and <cls> pooling */
    for (int pass = 0; pass < 3; pass++) {
        scfm_perturb_result r1, r3;
        memset(&r1, 0, sizeof r1);
        memset(&r3, 0, sizeof r3);
        po.embed.layer = pass == 1 ? -2 : -1;
        po.embed.pool = pass == 2 ? SCFM_POOL_CLS : SCFM_POOL_MEAN;
        po.embed.batch_cells = 4;
        po.workers = 1;
        CHECK(scfm_perturb_cells(m, c, NULL, SCELLS, &po, &r1) == 0, "perturb, 1 worker: %s", scfm_last_error());
        po.workers = 3;
        CHECK(scfm_perturb_cells(m, c, NULL, SCELLS, &po, &r3) == 0, "perturb, 3 workers: %s", scfm_last_error());
        CHECK(r1.n_perturbations > 4 * SCELLS && r1.n_perturbations == r3.n_perturbations && r1.n_cells == r3.n_cells,
              "pass %d: %zu and %zu perturbations", pass, r1.n_perturbations, r3.n_perturbations);
        double maxd = 0;
        size_t bad = 0;
        for (size_t t = 0; t < SV && r1.V && r3.V; t++) {
            if (r1.n[t] != r3.n[t]) bad++;
            for (size_t i = 0; i < r1.n[t] && i < r3.n[t]; i++) {
                double d = fabs(r1.shifts[t][i] - r3.shifts[t][i]);
                if (d > maxd) maxd = d;
                if (r1.cell[t][i] != r3.cell[t][i]) bad++;
            }
        }
        CHECK(!bad && maxd < 1e-6, "pass %d: workers vs one forward at a time: %zu mismatched slots, |d| %g", pass, bad,
              maxd);
        scfm_perturb_result_free(&r1);
        scfm_perturb_result_free(&r3);
    }
    po.embed.layer = -2;
    po.embed.pool = SCFM_POOL_MEAN;
    po.embed.batch_cells = 0;
    po.workers = 0;
    po.mode = SCFM_PERTURB_OVEREXPRESS;
    {
        scfm_perturb_result r;
        memset(&r, 0, sizeof r);
        CHECK(scfm_perturb_cells(m, c, NULL, 1, &po, &r) == SCFM_EINVAL, "overexpress without genes");
        scfm_perturb_result_free(&r);
    }
    free(a);
    free(b);
    free(special);
done:
    scfm_model_free(m);
    scfm_bert_config_free(&cfg);
    if (c) scfm_corpus_close(c);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", root);
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "tests/fixtures/stats";
    test_ranksum(dir);
    test_rankdata(dir);
    test_bh(dir);
    test_metrics(dir);
    test_cosine();
    test_split();
    test_npy();
    test_perturb_tokens();
    test_embed_perturb();
    return TEST_END();
}
