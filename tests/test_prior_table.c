/* Prior-knowledge tables (scfm_prior_table_load) and the pickle reader's float arrays.
 * References: tests/fixtures/prior/, written by scripts/make_prior_fixtures.py with numpy,
 * pickle and safetensors (the same 8 x 6 float32 table in every format, expected.tsv the
 * expected [V, 6] matrix). Error inputs: fixtures bad_* and text files written here. */
#include "scfm/genes.h"
#include "scfm/pickle.h"
#include "scfm/prior_table.h"
#include "scfm/rng.h"
#include "testutil.h"

#include <stdint.h>
#include <unistd.h>

#define FIX "tests/fixtures/prior/"
#define D 6

static char tmpdir[256];
static int err_has(const char *s) { return strstr(scfm_last_error(), s) != NULL; }

static const char *tp(const char *name) {
    static char buf[8][512];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); exit(1); }
    fputs(text, f);
    fclose(f);
}

/* expected.tsv: per token id: kind (0 zero, 1 file, 2 random) and the values of file rows */
static int kind[64];
static float want[64][D];
static size_t V;

static void load_expected(void) {
    FILE *f = fopen(FIX "expected.tsv", "r");
    CHECK(f != NULL, "expected.tsv");
    if (!f) exit(1);
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        char *p = line, *e;
        long id = strtol(p, &e, 10);
        p = e + 1;
        if (id < 0 || id >= 64) continue;
        kind[id] = !strncmp(p, "zero", 4) ? 0 : !strncmp(p, "file", 4) ? 1 : 2;
        if (kind[id] == 1) {
            p += 4;
            for (int j = 0; j < D; j++) want[id][j] = (float)strtod(p, &p);
        }
        if ((size_t)id + 1 > V) V = (size_t)id + 1;
    }
    fclose(f);
}

static scfm_vocab *vocab;
static scfm_gene_map *names;

/* Loads path and checks it against expected.tsv; returns the matrix (caller frees) or NULL. */
static float *check_format(const char *path, int with_names, uint64_t seed) {
    scfm_prior_opts o = {0, seed, with_names ? names : NULL};
    scfm_prior_report r;
    float *m = NULL;
    size_t d = 0;
    int rc = scfm_prior_table_load(path, vocab, &o, &m, &d, &r);
    CHECK(rc == 0, "%s: %s", path, scfm_last_error());
    if (rc) return NULL;
    CHECK(d == D, "%s: width %zu", path, d);
    CHECK(r.file_rows == 8 && r.matched == 6 && r.random_rows == 2 && r.special_rows == 3 && r.unknown_keys == 2,
          "%s: report rows %zu matched %zu random %zu special %zu unknown %zu", path, r.file_rows, r.matched,
          r.random_rows, r.special_rows, r.unknown_keys);
    size_t bad = 0;
    for (size_t i = 0; i < V; i++)
        for (int j = 0; j < D; j++) {
            float x = m[i * D + j];
            if (kind[i] == 0) bad += x != 0.0f;
            else if (kind[i] == 1) bad += memcmp(&x, &want[i][j], sizeof x) != 0; /* bit-exact */
            else bad += !isfinite(x);
        }
    CHECK(bad == 0, "%s: %zu values differ from numpy's table", path, bad);
    return m;
}

static void test_formats(void) {
    static const struct { const char *file; int names; } fmt[] = {
        {"prior.tsv", 0},           {"prior_sym.tsv.gz", 1},      {"prior.npy", 0},     {"prior_f64.npy", 0},
        {"prior.safetensors", 0},   {"prior_sib.safetensors", 0}, {"prior.pkl", 1},     {"prior_p5.pkl", 0},
        {"prior_p2.pkl", 0},        {"prior_npstr.pkl", 1},
    };
    float *first = NULL;
    for (size_t k = 0; k < sizeof fmt / sizeof *fmt; k++) {
        char path[256];
        snprintf(path, sizeof path, FIX "%s", fmt[k].file);
        float *m = check_format(path, fmt[k].names, 42);
        if (m && first) CHECK(!memcmp(m, first, V * D * sizeof *m), "%s: same [V, D] matrix as prior.tsv", path);
        if (!first) first = m;
        else free(m);
    }
    /* the same file with names given: ID keys still match, the report is unchanged */
    free(check_format(FIX "prior.tsv", 1, 42));

    /* random rows: the stated rule, reproducible, seed- and gene-dependent */
    float *a = check_format(FIX "prior.npy", 0, 42), *b = check_format(FIX "prior.npy", 0, 43);
    if (first && a && b) {
        CHECK(!memcmp(a, first, V * D * sizeof *a), "same seed, same matrix");
        float r[D];
        for (size_t i = 0; i < V; i++) {
            if (kind[i] != 2) continue;
            scfm_prior_random_row(42, scfm_vocab_token(vocab, i), r, D);
            CHECK(!memcmp(r, a + i * D, sizeof r), "row %zu follows the documented rule", i);
            /* the rule itself, spelled out: xoshiro256** seeded by scfm_hash3(seed, FNV-1a-64(token), "PRIOR") */
            const char *tok = scfm_vocab_token(vocab, i);
            uint64_t h = 0xcbf29ce484222325ull;
            for (const char *c = tok; *c; c++) h = (h ^ (unsigned char)*c) * 0x100000001b3ull;
            scfm_rng g;
            scfm_rng_seed(&g, scfm_hash3(42, h, 0x5052494f52ull));
            int same = 1;
            for (int j = 0; j < D; j++) same &= scfm_rng_normal(&g) == a[i * D + j];
            CHECK(same, "row %zu = normal draws seeded from (seed, FNV-1a(token))", i);
            CHECK(memcmp(a + i * D, b + i * D, D * sizeof *a) != 0, "row %zu changes with the seed", i);
        }
        CHECK(memcmp(a + 7 * D, a + 9 * D, D * sizeof *a) != 0, "two genes get different random rows");
        for (size_t i = 0; i < V; i++)
            if (kind[i] != 2) CHECK(!memcmp(a + i * D, b + i * D, D * sizeof *a), "row %zu does not depend on the seed", i);
    }
    free(a);
    free(b);
    free(first);

    /* the rule's moments: 200 genes x 6 values ~ N(0, 1) */
    double s = 0, s2 = 0;
    char tok[32];
    float r[D];
    for (int g = 0; g < 200; g++) {
        snprintf(tok, sizeof tok, "ENSG%011d", g);
        scfm_prior_random_row(7, tok, r, D);
        for (int j = 0; j < D; j++) { s += r[j]; s2 += (double)r[j] * r[j]; }
    }
    double mean = s / 1200, var = s2 / 1200 - mean * mean;
    CHECK(fabs(mean) < 0.15 && fabs(var - 1) < 0.2, "random rows ~ N(0,1): mean %g var %g", mean, var);

    /* a gene's random row does not depend on its position in the vocabulary */
    write_text(tp("v2.tsv"), "ENSG00000000460\t0\n<pad>\t1\nENSG00000000003\t2\n");
    scfm_vocab *v2 = scfm_vocab_load(tp("v2.tsv"));
    CHECK(v2 != NULL, "v2: %s", scfm_last_error());
    float *m2 = NULL;
    size_t d2 = 0;
    scfm_prior_opts o = {D, 42, NULL};
    CHECK(v2 && scfm_prior_table_load(FIX "prior.tsv", v2, &o, &m2, &d2, NULL) == 0, "small vocab: %s", scfm_last_error());
    if (m2) {
        scfm_prior_random_row(42, "ENSG00000000460", r, D);
        CHECK(!memcmp(m2, r, sizeof r), "random row independent of the token id");
        float z[D] = {0};
        CHECK(!memcmp(m2 + D, z, sizeof z), "<pad> zero");
        CHECK(!memcmp(m2 + 2 * D, want[3], sizeof r), "file row in another position");
    }
    free(m2);
    scfm_vocab_free(v2);
}

static void expect_fail(const char *path, int with_names, size_t width, int code, const char *n1, const char *n2) {
    scfm_prior_opts o = {width, 1, with_names ? names : NULL};
    float *m = (float *)1;
    size_t d = 0;
    int rc = scfm_prior_table_load(path, vocab, &o, &m, &d, NULL);
    CHECK(rc == code && m == NULL, "%s: rc %d (want %d), out %p: %s", path, rc, code, (void *)m, scfm_last_error());
    CHECK(err_has(path) || (n2 && err_has(n2)), "%s: message names the file: %s", path, scfm_last_error());
    CHECK(!n1 || err_has(n1), "%s: message mentions '%s': %s", path, n1, scfm_last_error());
    CHECK(!n2 || err_has(n2), "%s: message mentions '%s': %s", path, n2, scfm_last_error());
    if (getenv("SCFM_TEST_VERBOSE")) printf("  %s\n", scfm_last_error());
    if (!rc) free(m);
}

static void test_errors(void) {
    const char *hdr = "gene\ta\tb\n";
    char buf[1024];
    /* text tables */
    snprintf(buf, sizeof buf, "%sENSG00000000003\t1\t2\nENSG00000000005\t1\t2\t3\n", hdr);
    write_text(tp("ragged.tsv"), buf);
    expect_fail(tp("ragged.tsv"), 0, 0, SCFM_EFORMAT, "line 3", "ragged");
    write_text(tp("w0.tsv"), "ENSG00000000003\nENSG00000000005\n");
    expect_fail(tp("w0.tsv"), 0, 0, SCFM_EFORMAT, "line 1", "no vectors");
    write_text(tp("w2.tsv"), "ENSG00000000003\t1\t2\nENSG00000000005\t1\t2\n");
    expect_fail(tp("w2.tsv"), 0, 768, SCFM_EINVAL, "2 wide", "768");
    write_text(tp("dup.tsv"), "ENSG00000000003\t1\t2\nENSG00000000005\t1\t2\nensg00000000003.4\t3\t4\n");
    expect_fail(tp("dup.tsv"), 0, 0, SCFM_EFORMAT, "duplicate", "ensg00000000003.4");
    write_text(tp("dupsym.tsv"), "ENSG00000000003\t1\t2\nTSPAN6\t1\t2\n");
    expect_fail(tp("dupsym.tsv"), 1, 0, SCFM_EFORMAT, "TSPAN6", "line 2");
    /* without names the symbol is just an unknown key: no error */
    float *m = NULL;
    size_t d = 0;
    scfm_prior_report r;
    CHECK(scfm_prior_table_load(tp("dupsym.tsv"), vocab, NULL, &m, &d, &r) == 0 && r.unknown_keys == 1 && d == 2,
          "symbol without names is unknown: %s", scfm_last_error());
    free(m);
    write_text(tp("nan.tsv"), "ENSG00000000003\t1\t2\nENSG00000000005\tnan\t2\n");
    expect_fail(tp("nan.tsv"), 0, 0, SCFM_EFORMAT, "line 2", "not finite");
    write_text(tp("inf.tsv"), "ENSG00000000003\t1\t1e39\n");
    expect_fail(tp("inf.tsv"), 0, 0, SCFM_EFORMAT, "line 1", "not finite");
    write_text(tp("num.tsv"), "ENSG00000000003\t1\t2x\n");
    expect_fail(tp("num.tsv"), 0, 0, SCFM_EFORMAT, "line 1", "2x");
    write_text(tp("empty.tsv"), "ENSG00000000003\t1\t\n");
    expect_fail(tp("empty.tsv"), 0, 0, SCFM_EFORMAT, "line 1", "not a number");
    write_text(tp("nomatch.tsv"), "ENSG00000999999\t1\t2\nFOO\t1\t2\n");
    expect_fail(tp("nomatch.tsv"), 0, 0, SCFM_EINVAL, "none of its 2 keys", "ENSG00000999999");
    write_text(tp("hdronly.tsv"), hdr);
    expect_fail(tp("hdronly.tsv"), 0, 0, SCFM_EFORMAT, "no genes", NULL);
    expect_fail(tp("missing.tsv"), 0, 0, SCFM_EIO, NULL, NULL);
    write_text(tp("table.csv"), "ENSG00000000003,1,2\n");
    expect_fail(tp("table.csv"), 0, 0, SCFM_EINVAL, "unknown prior table type", NULL);
    /* arrays */
    expect_fail(FIX "bad_int.npy", 0, 0, SCFM_EFORMAT, "'<i4'", "float32 or float64");
    expect_fail(FIX "bad_3d.npy", 0, 0, SCFM_EFORMAT, "2-D", NULL);
    expect_fail(FIX "bad_nan.npy", 0, 0, SCFM_EFORMAT, "row 7 ('ENSG00000000419')", "not finite");
    expect_fail(FIX "bad_rows.npy", 0, 0, SCFM_EFORMAT, "7 keys", "8 rows");
    expect_fail(FIX "bad_nolist.npy", 0, 0, SCFM_EIO, "bad_nolist.genes.tsv", "one key per line");
    expect_fail(FIX "bad_width0.npy", 0, 0, SCFM_EFORMAT, "width 0", NULL);
    expect_fail(FIX "prior.npy", 0, 5, SCFM_EINVAL, "6 wide", "expected 5");
    expect_fail(FIX "bad_two.safetensors", 0, 0, SCFM_EFORMAT, "2 tensors", NULL);
    expect_fail(FIX "bad_int.safetensors", 0, 0, SCFM_EFORMAT, "I64", "not a floating type");
    expect_fail(FIX "bad_genes.safetensors", 0, 0, SCFM_EFORMAT, "\"genes\"", "8 strings");
    /* pickles */
    expect_fail(FIX "bad_int.pkl", 0, 0, SCFM_EFORMAT, "i8", "only float32 / float64");
    expect_fail(FIX "bad_2d.pkl", 0, 0, SCFM_EFORMAT, "2 dimensions", "1-D");
    expect_fail(FIX "bad_ragged.pkl", 0, 0, SCFM_EFORMAT, "ragged", "ENSG00000000938.12");
    expect_fail(FIX "bad_list.pkl", 0, 0, SCFM_EFORMAT, "not allowed", NULL);
    expect_fail(FIX "bad_dup.pkl", 1, 0, SCFM_EFORMAT, "TSPAN6", "both ENSG00000000003");
    /* the Geneformer pickles' own refusals still hold */
    expect_fail("tests/fixtures/genes/bad_global.pkl", 0, 0, SCFM_EFORMAT, "posix.system", NULL);
    /* arguments */
    CHECK(scfm_prior_table_load(NULL, vocab, NULL, &m, &d, NULL) == SCFM_EINVAL, "NULL path");
    CHECK(scfm_prior_table_load(FIX "prior.tsv", NULL, NULL, &m, &d, NULL) == SCFM_EINVAL, "NULL vocab");
}

/* Direct checks of the pickle reader's arrays (values, byte orders, every truncation). */
static void test_pickle_arrays(void) {
    static const char *const files[] = {FIX "prior.pkl", FIX "prior_p5.pkl", FIX "prior_p2.pkl", FIX "prior_npstr.pkl"};
    for (size_t f = 0; f < 4; f++) {
        scfm_pkl_dict dict;
        int rc = scfm_pickle_read_dict(files[f], &dict);
        CHECK(rc == 0, "%s: %s", files[f], scfm_last_error());
        if (rc) continue;
        CHECK(dict.n == 8, "%s: 8 entries", files[f]);
        size_t ok = 0;
        for (size_t k = 0; k < dict.n; k++)
            ok += dict.items[k].type == SCFM_PKL_FARRAY && dict.items[k].vec_len == D;
        CHECK(ok == 8, "%s: 8 float vectors of 6", files[f]);
        /* entry 1 is ENSG00000000003 (token 3), entry 5 ENSG00000000005 (token 4) */
        CHECK(!memcmp(dict.items[1].vec, want[3], sizeof want[3]) && !memcmp(dict.items[5].vec, want[4], sizeof want[4]),
              "%s: values bit-exact", files[f]);
        scfm_pkl_dict_free(&dict);
        char *data = NULL;
        size_t len = 0;
        if (scfm_read_file(files[f], &data, &len)) continue;
        size_t fails = 0;
        for (size_t cut = 0; cut < len; cut++) {
            scfm_pkl_dict d2;
            int rc2 = scfm_pickle_parse_dict(data, cut, "cut.pkl", &d2);
            if (rc2 == SCFM_EFORMAT && err_has("cut.pkl")) fails++;
            if (!rc2) scfm_pkl_dict_free(&d2);
        }
        CHECK(fails == len, "%s: %zu of %zu truncations rejected", files[f], fails, len);
        free(data);
    }
}

/* Real data (skipped without shared data): a table keyed by the symbols of
 * human/pbmc1k_v3/genes.tsv as published (stray duplicates included) against Geneformer V1's
 * vocabulary (25,426 tokens) and gene_name_id_dict, compared with real.tsv (Python's count). */
static const char *sp(const char *rel) {
    static char buf[4][1024];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tu_shared_data(), rel);
    return buf[k];
}

static void test_real(void) {
    FILE *g = fopen(sp("human/pbmc1k_v3/genes.tsv"), "r");
    if (!g) { tu_skip("the real-data test needs the team's data: %s/human/pbmc1k_v3 not found", tu_shared_data()); return; }
    FILE *e = fopen(FIX "real.tsv", "r");
    CHECK(e != NULL, "real.tsv");
    if (!e) { fclose(g); return; }
    long dup_a = 0, dup_b = 0, cnt[4] = {0};
    unsigned long long digest = 0;
    static char drop[1 << 20];
    char line[4096];
    while (fgets(line, sizeof line, e)) {
        long x;
        if (sscanf(line, "dup\t%ld\t%ld", &dup_a, &dup_b) == 2) continue;
        if (sscanf(line, "drop\t%ld", &x) == 1 && x > 0 && x < (long)sizeof drop) drop[x] = 1;
        sscanf(line, "count\t%ld\t%ld\t%ld\t%ld", &cnt[0], &cnt[1], &cnt[2], &cnt[3]);
        sscanf(line, "digest\t%llx", &digest);
    }
    fclose(e);
    FILE *all = fopen(tp("real_all.tsv"), "w"), *kept = fopen(tp("real_kept.tsv"), "w");
    long row = 0, kr = 0;
    while (fgets(line, sizeof line, g)) {
        line[strcspn(line, "\r\n")] = 0;
        row++;
        fprintf(all, "%s\t%ld\t-12345\t%ld\n", line, row - 1, (row - 1) % 7);
        if (row < (long)sizeof drop && drop[row]) continue;
        fprintf(kept, "%s\t%ld\t-12345\t%ld\n", line, kr, kr % 7);
        kr++;
    }
    fclose(g);
    fclose(all);
    fclose(kept);
    scfm_vocab *v1 = scfm_vocab_load(sp("geneformer/v1/token_dictionary.tsv.gz"));
    scfm_gene_map *nm = scfm_gene_map_new();
    CHECK(v1 && nm && scfm_gene_map_add_file(nm, sp("geneformer/v1/gene_name_id_dict.tsv.gz")) == 0, "V1: %s",
          scfm_last_error());
    if (!v1) { scfm_gene_map_free(nm); return; }
    scfm_prior_opts o = {3, 11, nm};
    float *m = (float *)1;
    size_t d = 0;
    scfm_prior_report r;
    /* as published the list has duplicates: an error naming the first pair (lines of the table) */
    int rc = scfm_prior_table_load(tp("real_all.tsv"), v1, &o, &m, &d, &r);
    char a[32], b[32];
    snprintf(a, sizeof a, "line %ld)", dup_a);
    snprintf(b, sizeof b, "line %ld)", dup_b);
    CHECK(rc == SCFM_EFORMAT && m == NULL && err_has("duplicate gene") && err_has(a) && err_has(b),
          "real duplicates: rc %d: %s (want lines %ld and %ld)", rc, scfm_last_error(), dup_a, dup_b);
    m = NULL;
    rc = scfm_prior_table_load(tp("real_kept.tsv"), v1, &o, &m, &d, &r);
    CHECK(rc == 0 && d == 3, "real table: %s", scfm_last_error());
    if (!rc) {
        size_t V1 = scfm_vocab_size(v1);
        CHECK(r.file_rows == (size_t)kr && r.matched == (size_t)cnt[0] && r.unknown_keys == (size_t)cnt[1] &&
                  r.random_rows == (size_t)cnt[2] && r.special_rows == (size_t)cnt[3] &&
                  r.matched + r.random_rows + r.special_rows == V1,
              "real counts: matched %zu unknown %zu random %zu special %zu; python: %ld %ld %ld %ld", r.matched,
              r.unknown_keys, r.random_rows, r.special_rows, cnt[0], cnt[1], cnt[2], cnt[3]);
        unsigned long long dg = 0;
        size_t bad = 0;
        for (size_t i = 0; i < V1; i++) {
            const float *x = m + i * 3;
            if (x[1] != -12345.0f) continue; /* random or special */
            dg += (unsigned long long)(i + 1) * (unsigned long long)(x[0] + 1);
            bad += x[2] != (float)((long)x[0] % 7);
        }
        CHECK(dg == digest && bad == 0, "real rows: digest %016llx, python %016llx (%zu bad rows)", dg, digest, bad);
        CHECK(!m[0] && !m[1] && !m[2] && !m[3] && !m[4] && !m[5], "<pad>, <mask> zero");
    }
    free(m);
    scfm_vocab_free(v1);
    scfm_gene_map_free(nm);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/scfm_test_prior.XXXXXX");
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }
    load_expected();
    vocab = scfm_vocab_load(FIX "vocab.tsv");
    names = scfm_gene_map_new();
    CHECK(vocab && scfm_vocab_size(vocab) == V, "vocab: %s", scfm_last_error());
    CHECK(names && scfm_gene_map_add_file(names, FIX "names.tsv") == 0, "names: %s", scfm_last_error());
    if (!vocab) return TEST_END();
    test_formats();
    test_errors();
    test_pickle_arrays();
    test_real();
    scfm_vocab_free(vocab);
    scfm_gene_map_free(names);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return TEST_END();
}
