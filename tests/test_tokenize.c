/* Tokenizer core (one cell, against hand-worked cases and a naive twin) and the corpus
 * store (write / read back / corruption / atomicity). The file-level tokenizer is tested
 * against the numpy reference by tests/cli/tokenize_*.sh. */

#include "scfm/corpus.h"
#include "scfm/rng.h"
#include "testutil.h"

#include <dirent.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- naive twin of scfm_tokenize_cell: dense accumulate, full qsort, truncate ---------- */
typedef struct { double x, c; int32_t id; } nitem;
static int ncmp(const void *pa, const void *pb) {
    const nitem *a = pa, *b = pb;
    if (a->x != b->x) return a->x > b->x ? -1 : 1;
    return (a->id > b->id) - (a->id < b->id);
}
static size_t naive_tokenize(const scfm_tokenizer_params *p, const int32_t *gv, const uint32_t *idx, const double *cnt,
                             size_t nnz, double n_counts, int32_t *tok, float *val) {
    double *acc = calloc(p->vocab_size, sizeof *acc), vsum = 0;
    nitem *it = calloc(p->vocab_size, sizeof *it);
    for (size_t k = 0; k < nnz; k++)
        if (gv[idx[k]] >= 0) { acc[gv[idx[k]]] += cnt[k]; vsum += cnt[k]; }
    double n = p->norm == SCFM_NORM_VOCAB_SUM ? vsum : n_counts;
    size_t m = 0;
    for (size_t v = 0; v < p->vocab_size; v++)
        if (acc[v] > 0 && p->medians[v] > 0 && isfinite(p->medians[v]))
            it[m++] = (nitem){p->values == SCFM_VALUES_RAW_MEDIAN ? acc[v] / p->medians[v] /* GeneCompass: by value */
                                                                  : acc[v] / n * 10000.0 / p->medians[v],
                              acc[v], (int32_t)v};
    qsort(it, m, sizeof *it, ncmp);
    if (m > p->max_genes) m = p->max_genes;
    size_t o = 0;
    if (m && p->cls_id >= 0) { tok[o] = p->cls_id; val[o++] = 0; }
    for (size_t k = 0; k < m; k++, o++) {
        tok[o] = it[k].id;
        val[o] = (float)log2(1.0 + (p->values == SCFM_VALUES_RAW_MEDIAN ? it[k].c / p->medians[it[k].id] : it[k].x));
    }
    if (m && p->eos_id >= 0) { tok[o] = p->eos_id; val[o++] = 0; }
    free(acc);
    free(it);
    return o;
}

static void test_hand_cases(void) {
    /* vocab: 0 <pad> 1 <mask> 2 <cls> 3 <eos> 4..9 genes; gene 9 has no median */
    double med[10] = {NAN, NAN, NAN, NAN, 1.0, 2.0, 0.5, 1.0, 4.0, NAN};
    /* input genes: g0->4, g1->5, g2->6, g3->-1 (not in vocab), g4->4 (duplicate ID), g5->7, g6->9, g7->8 */
    int32_t gv[8] = {4, 5, 6, -1, 4, 7, 9, 8};
    uint32_t idx[7] = {0, 1, 2, 3, 4, 5, 6};
    double cnt[7] = {1, 4, 1, 100, 1, 2, 5};
    /* counts per id: 4:2 5:4 6:1 7:2 9:5(no median); n_counts 10 (all genes incl. dropped g3=100? no: given) */
    scfm_tokenizer_params p = {10, med, 100, -1, -1, SCFM_NORM_N_COUNTS, SCFM_VALUES_NONE};
    scfm_tok_work *w = scfm_tok_work_new(10);
    int32_t tok[16];
    float val[16];
    size_t len = 99;
    double vs = 0;
    CHECK(scfm_tokenize_cell(&p, gv, 8, idx, cnt, 7, 114.0, w, tok, NULL, &len, &vs) == SCFM_OK, "v1 cell");
    /* x: 4: 2/1=2, 5: 4/2=2, 6: 1/0.5=2, 7: 2/1=2 (all tie, scaled by 10000/114) -> ids ascending */
    CHECK(len == 4 && tok[0] == 4 && tok[1] == 5 && tok[2] == 6 && tok[3] == 7, "tie order by id: len %zu %d %d %d %d",
          len, tok[0], tok[1], tok[2], tok[3]);
    CHECK_CLOSE(vs, 2 + 4 + 1 + 2 + 5, 0, 0, "vocab sum counts genes mapped to the vocabulary");
    double cnt2[7] = {3, 4, 1, 100, 1, 2, 5}; /* id 4: 4 -> x 4 */
    CHECK(scfm_tokenize_cell(&p, gv, 8, idx, cnt2, 7, 114.0, w, tok, NULL, &len, NULL) == SCFM_OK, "cell 2");
    CHECK(len == 4 && tok[0] == 4 && tok[1] == 5, "largest first");
    /* V2 with truncation to 2 genes and values */
    scfm_tokenizer_params p2 = {10, med, 2, 2, 3, SCFM_NORM_N_COUNTS, SCFM_VALUES_NORMALIZED};
    CHECK(scfm_tokenize_cell(&p2, gv, 8, idx, cnt2, 7, 100.0, w, tok, val, &len, NULL) == SCFM_OK, "v2 cell");
    CHECK(len == 4 && tok[0] == 2 && tok[1] == 4 && tok[2] == 5 && tok[3] == 3, "v2 cls genes eos");
    CHECK_CLOSE(val[0], 0, 0, 0, "cls value");
    CHECK_CLOSE(val[1], log2(1 + 4.0 / 100 * 10000 / 1.0), 1e-7, 0, "value log2(1+x)");
    CHECK_CLOSE(val[3], 0, 0, 0, "eos value");
    p2.values = SCFM_VALUES_RAW_MEDIAN;
    CHECK(scfm_tokenize_cell(&p2, gv, 8, idx, cnt2, 7, 100.0, w, tok, val, &len, NULL) == SCFM_OK, "raw values");
    CHECK_CLOSE(val[2], log2(1 + 4.0 / 2.0), 1e-7, 0, "value log2(1+c/median)");
    /* vocab-sum normalization ignores n_counts */
    p.norm = SCFM_NORM_VOCAB_SUM;
    CHECK(scfm_tokenize_cell(&p, gv, 8, idx, cnt2, 7, -1.0, w, tok, NULL, &len, NULL) == SCFM_OK && len == 4,
          "vocab-sum");
    p.norm = SCFM_NORM_N_COUNTS;
    /* cell with only out-of-vocabulary or median-less genes: empty */
    uint32_t idx3[2] = {3, 6};
    double cnt3[2] = {7, 7};
    CHECK(scfm_tokenize_cell(&p, gv, 8, idx3, cnt3, 2, 14.0, w, tok, NULL, &len, NULL) == SCFM_OK && len == 0, "empty");
    /* errors */
    CHECK(scfm_tokenize_cell(&p, gv, 8, idx, cnt, 7, 0.0, w, tok, NULL, &len, NULL) == SCFM_EINVAL, "n_counts 0");
    CHECK(strstr(scfm_last_error(), "n_counts") != NULL, "message names n_counts: %s", scfm_last_error());
    uint32_t bad[1] = {8};
    CHECK(scfm_tokenize_cell(&p, gv, 8, bad, cnt, 1, 10.0, w, tok, NULL, &len, NULL) == SCFM_EINVAL, "index range");
    scfm_tok_work_free(w);
}

/* Random cells with many ties and truncation, against the naive twin. */
static void test_against_naive(void) {
    enum { V = 300, G = 400 };
    double med[V];
    int32_t gv[G];
    scfm_rng r;
    scfm_rng_seed(&r, 7);
    for (size_t v = 0; v < V; v++) med[v] = v < 2 ? NAN : (v % 17 == 0 ? NAN : (double)(1 + scfm_rng_below(&r, 3)));
    for (size_t g = 0; g < G; g++) gv[g] = scfm_rng_below(&r, 10) == 0 ? -1 : (int32_t)(2 + scfm_rng_below(&r, V - 2));
    scfm_tok_work *w = scfm_tok_work_new(V);
    int32_t tok[V + 2], tok2[V + 2];
    float val[V + 2], val2[V + 2];
    uint32_t idx[G];
    double cnt[G];
    size_t bad = 0;
    for (int cell = 0; cell < 3000; cell++) {
        size_t nnz = 0;
        double tot = 0;
        for (uint32_t g = 0; g < G; g++)
            if (scfm_rng_below(&r, 4) == 0) { idx[nnz] = g; cnt[nnz] = (double)(1 + scfm_rng_below(&r, 4)); tot += cnt[nnz++]; }
        for (size_t k = nnz; k > 1; k--) { /* shuffle: the reader need not sort indices */
            size_t j = scfm_rng_below(&r, k);
            uint32_t ti = idx[k - 1]; idx[k - 1] = idx[j]; idx[j] = ti;
            double tc = cnt[k - 1]; cnt[k - 1] = cnt[j]; cnt[j] = tc;
        }
        size_t maxg = (size_t)(1 + scfm_rng_below(&r, cell % 3 == 0 ? 400 : 60));
        int v2 = cell % 2;
        scfm_tokenizer_params p = {V, med, maxg, v2 ? 0 : -1, v2 ? 1 : -1, cell % 5 == 0 ? SCFM_NORM_VOCAB_SUM : SCFM_NORM_N_COUNTS,
                                   cell % 4 == 1 ? SCFM_VALUES_RAW_MEDIAN : SCFM_VALUES_NORMALIZED};
        size_t len;
        int rc = scfm_tokenize_cell(&p, gv, G, idx, cnt, nnz, tot, w, tok, val, &len, NULL);
        size_t len2 = naive_tokenize(&p, gv, idx, cnt, nnz, tot, tok2, val2);
        if (rc || len != len2 || memcmp(tok, tok2, len * sizeof *tok) || memcmp(val, val2, len * sizeof *val)) bad++;
    }
    CHECK(bad == 0, "%zu of 3000 random cells differ from the naive twin", bad);
    scfm_tok_work_free(w);
}

/* ---- corpus store -------------------------------------------------------------------- */
static char tmp_root[256];

static void rm_rf(const char *dir) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "warning: %s failed\n", cmd);
}

static int exists(const char *p) { struct stat st; return stat(p, &st) == 0; }

static scfm_vocab *make_vocab(const char *name, size_t n) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", tmp_root, name);
    FILE *f = fopen(path, "w");
    fprintf(f, "<pad>\t0\n<mask>\t1\n<cls>\t2\n<eos>\t3\n");
    for (size_t i = 4; i < n; i++) fprintf(f, "ENSG%011zu\t%zu\n", i * 7, i);
    fclose(f);
    scfm_vocab *v = scfm_vocab_load(path);
    CHECK(v != NULL, "vocab load: %s", scfm_last_error());
    return v;
}

/* Deterministic test cell i: length 1 + (i*37 % 50), tokens from a formula. */
static size_t test_cell(size_t i, int32_t *tok, float *val) {
    size_t len = 1 + (i * 37) % 50;
    for (size_t k = 0; k < len; k++) { tok[k] = (int32_t)(4 + (i * 13 + k * 7) % 96); val[k] = (float)(i + 0.25 * (double)k); }
    return len;
}

static int write_corpus(const char *dir, scfm_vocab *v, size_t n_cells, size_t shard_cells, int force) {
    const char *obs_names[2] = {"cell_type", "batch"};
    scfm_corpus_writer_opts o = {dir, force, v, "v2", 64, 1, "human", "test command", obs_names, 2, shard_cells, NULL};
    scfm_corpus_writer *w = scfm_corpus_writer_open(&o);
    if (!w) return -1;
    int32_t tok[64];
    float val[64];
    int rc = 0;
    for (size_t i = 0; i < n_cells && !rc; i++) {
        char id[32], ct[32];
        snprintf(id, sizeof id, "cell%zu", i);
        snprintf(ct, sizeof ct, "type\t%zu\nx", i % 3); /* tab/newline must be replaced */
        const char *obs[2] = {ct, i % 2 ? "b1" : NULL};
        size_t len = test_cell(i, tok, val);
        rc = scfm_corpus_writer_add(w, tok, val, len, id, obs);
    }
    CHECK(scfm_corpus_writer_setting_str(w, "norm", "n_counts") == 0, "setting");
    CHECK(scfm_corpus_writer_setting(w, "bad", "{not json") != 0, "bad setting JSON rejected");
    scfm_corpus_source s = {"in.h5ad", "h5ad", n_cells, n_cells, 100, 90, 0.9};
    CHECK(scfm_corpus_writer_add_source(w, &s) == 0, "source");
    if (rc) { scfm_corpus_writer_abort(w); return rc; }
    return scfm_corpus_writer_finish(w);
}

static void test_roundtrip(scfm_vocab *v) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/c1", tmp_root);
    CHECK(write_corpus(dir, v, 23, 5, 0) == 0, "write: %s", scfm_last_error());
    scfm_corpus *c = scfm_corpus_open(dir);
    CHECK(c != NULL, "open: %s", scfm_last_error());
    if (!c) return;
    CHECK(scfm_corpus_n_cells(c) == 23 && scfm_corpus_n_shards(c) == 5, "cells %zu shards %zu", scfm_corpus_n_cells(c),
          scfm_corpus_n_shards(c));
    CHECK(!strcmp(scfm_corpus_mode(c), "v2") && scfm_corpus_max_len(c) == 64 && scfm_corpus_has_values(c), "meta");
    CHECK(!strcmp(scfm_corpus_species(c), "human"), "species");
    CHECK(scfm_corpus_vocab_hash(c) == scfm_vocab_hash(v) && scfm_corpus_vocab_size(c) == scfm_vocab_size(v), "hash");
    CHECK(scfm_corpus_check_vocab(c, v) == SCFM_OK, "check_vocab same");
    size_t bad = 0;
    uint64_t total = 0;
    for (size_t i = 0; i < 23; i++) {
        int32_t tok[64];
        float val[64];
        size_t want = test_cell(i, tok, val), len;
        const int32_t *t;
        const float *f;
        if (scfm_corpus_cell(c, i, &t, &len, &f) || len != want || memcmp(t, tok, len * 4) || memcmp(f, val, len * 4) ||
            scfm_corpus_len(c, i) != want)
            bad++;
        total += want;
        char id[32], ct[32];
        snprintf(id, sizeof id, "cell%zu", i);
        snprintf(ct, sizeof ct, "type %zu x", i % 3);
        if (strcmp(scfm_corpus_cell_id(c, i), id) || strcmp(scfm_corpus_obs(c, i, 0), ct) ||
            strcmp(scfm_corpus_obs(c, i, 1), i % 2 ? "b1" : ""))
            bad++;
    }
    CHECK(bad == 0, "%zu cells differ after the round trip", bad);
    CHECK(scfm_corpus_n_tokens(c) == total, "n_tokens");
    CHECK(scfm_corpus_shard_first_cell(c, 2) == 10 && scfm_corpus_shard_n_cells(c, 4) == 3, "shard ranges");
    CHECK(scfm_corpus_obs_index(c, "batch") == 1 && scfm_corpus_obs_index(c, "nope") == -1, "obs index");
    CHECK(!strcmp(scfm_corpus_obs_name(c, 0), "cell_type"), "obs name");
    const int32_t *t;
    size_t len;
    CHECK(scfm_corpus_cell(c, 23, &t, &len, NULL) == SCFM_EINVAL, "out of range cell");
    CHECK(scfm_corpus_obs(c, 23, 0) == NULL && scfm_corpus_len(c, 99) == 0, "out of range getters");
    const scfm_json *m = scfm_corpus_meta(c), *s = scfm_json_get(m, "settings");
    const char *norm = NULL;
    CHECK(s && scfm_json_get_string(s, "norm", &norm) == 0 && !strcmp(norm, "n_counts"), "settings recorded");
    scfm_vocab *v2 = make_vocab("vocab_other.tsv", 101);
    CHECK(scfm_corpus_check_vocab(c, v2) == SCFM_EMISMATCH, "check_vocab other");
    CHECK(strstr(scfm_last_error(), dir) != NULL, "mismatch message names the corpus: %s", scfm_last_error());
    scfm_vocab_free(v2);
    scfm_corpus_close(c);
    /* refuse to overwrite; force replaces */
    CHECK(write_corpus(dir, v, 5, 0, 0) != 0, "existing dir refused");
    CHECK(strstr(scfm_last_error(), "--force") != NULL, "message suggests --force: %s", scfm_last_error());
    CHECK(write_corpus(dir, v, 7, 0, 1) == 0, "force replaces: %s", scfm_last_error());
    c = scfm_corpus_open(dir);
    CHECK(c && scfm_corpus_n_cells(c) == 7 && scfm_corpus_n_shards(c) == 1, "replaced corpus");
    scfm_corpus_close(c);
}

/* Copies corpus c1 to c2 and applies one corruption; open must fail naming `want_in_msg`. */
static void corrupt_case(const char *what, const char *cmd, const char *want_in_msg) {
    char sh[2048], dir[512];
    snprintf(dir, sizeof dir, "%s/bad", tmp_root);
    rm_rf(dir);
    snprintf(sh, sizeof sh, "cp -r '%s/c1' '%s' && cd '%s' && %s", tmp_root, dir, dir, cmd);
    CHECK(system(sh) == 0, "%s: setup failed", what);
    scfm_corpus *c = scfm_corpus_open(dir);
    CHECK(c == NULL, "%s: corrupt corpus opened", what);
    CHECK(strstr(scfm_last_error(), want_in_msg) != NULL, "%s: message '%s' lacks '%s'", what, scfm_last_error(),
          want_in_msg);
    scfm_corpus_close(c);
}

static void test_corruption(scfm_vocab *v) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/c1", tmp_root);
    rm_rf(dir);
    CHECK(write_corpus(dir, v, 23, 5, 0) == 0, "write: %s", scfm_last_error());
    corrupt_case("bit flip", "printf '\\x7f' | dd of=shard-00001.bin bs=1 seek=200 conv=notrunc 2>/dev/null",
                 "shard-00001.bin: CRC");
    corrupt_case("truncated", "truncate -s -4 shard-00002.bin", "shard-00002.bin: size");
    corrupt_case("empty shard", ": > shard-00000.bin", "shard-00000.bin: truncated");
    corrupt_case("bad magic", "printf 'XCFM' | dd of=shard-00003.bin bs=1 seek=0 conv=notrunc 2>/dev/null",
                 "shard-00003.bin: bad magic");
    corrupt_case("missing shard", "rm shard-00004.bin", "shard-00004.bin: cannot open");
    corrupt_case("version", "sed -i 's/\"version\": 1,/\"version\": 2,/' corpus.json", "version 2 is not supported");
    corrupt_case("json", "truncate -s 100 corpus.json", "corpus.json");
    corrupt_case("n_cells", "sed -i 's/\"n_cells\": 23,/\"n_cells\": 24,/' corpus.json", "corpus.json: shards hold");
    corrupt_case("obs rows", "sed -i '$d' obs.tsv", "obs.tsv");
    corrupt_case("obs missing", "rm obs.tsv", "obs.tsv");
    scfm_corpus *c = scfm_corpus_open("/nonexistent/corpus");
    CHECK(c == NULL && strstr(scfm_last_error(), "/nonexistent/corpus"), "missing dir: %s", scfm_last_error());
}

static void test_writer_errors(scfm_vocab *v) {
    char dir[512], tmp[600];
    snprintf(dir, sizeof dir, "%s/w", tmp_root);
    scfm_corpus_writer_opts o = {dir, 0, v, "v1", 8, 0, NULL, NULL, NULL, 0, 0, NULL};
    scfm_corpus_writer *w = scfm_corpus_writer_open(&o);
    CHECK(w != NULL, "writer open");
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", dir, (long)getpid());
    CHECK(exists(tmp) && !exists(dir), "work happens in DIR.tmp.<pid>");
    int32_t tok[10] = {4, 5, 6, 7, 8, 9, 10, 11, 12, 13};
    CHECK(scfm_corpus_writer_add(w, tok, NULL, 9, "a", NULL) == SCFM_EINVAL, "too long");
    CHECK(scfm_corpus_writer_add(w, tok, NULL, 0, "a", NULL) == SCFM_EINVAL, "empty cell");
    int32_t badtok[1] = {100000};
    CHECK(scfm_corpus_writer_add(w, badtok, NULL, 1, "a", NULL) == SCFM_EINVAL, "token outside vocab");
    CHECK(scfm_corpus_writer_add(w, tok, NULL, 3, "a", NULL) == SCFM_OK, "ok cell");
    scfm_corpus_writer_abort(w);
    CHECK(!exists(tmp) && !exists(dir), "abort leaves nothing");
    w = scfm_corpus_writer_open(&o);
    CHECK(scfm_corpus_writer_finish(w) == SCFM_EINVAL, "finish with no cells is an error");
    CHECK(!exists(tmp) && !exists(dir), "failed finish leaves nothing");
    o.mode = "v3";
    CHECK(scfm_corpus_writer_open(&o) == NULL && strstr(scfm_last_error(), "v3"), "bad mode");
}

int main(void) {
    test_hand_cases();
    test_against_naive();
    snprintf(tmp_root, sizeof tmp_root, "/tmp/scfm_test_tokenize.%ld", (long)getpid());
    rm_rf(tmp_root);
    mkdir(tmp_root, 0777);
    scfm_vocab *v = make_vocab("vocab.tsv", 100);
    if (v) {
        test_roundtrip(v);
        test_corruption(v);
        test_writer_errors(v);
        scfm_vocab_free(v);
    }
    rm_rf(tmp_root);
    return TEST_END();
}
