/* Genes module: vocabularies, medians, pickles, gene maps, orthologs, resolution, digests.
 * References: tests/fixtures/genes/expected.tsv and pickles.tsv, written by
 * scripts/make_genes_fixtures.py with Python's pickle and pandas from the real files in
 * shared/data; digests against exact medians computed here by sorting. */
#include "scfm/genes.h"
#include "scfm/pickle.h"
#include "testutil.h"

#include <stdint.h>
#include <unistd.h>
#include <zlib.h>

#define FIX "tests/fixtures/genes/"

static char tmpdir[256];

static const char *sp(const char *rel) { /* shared-data path; rotating buffers */
    static char buf[8][1024];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tu_shared_data(), rel);
    return buf[k];
}

static const char *tp(const char *name) {
    static char buf[8][512];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static int file_exists(const char *p) { return access(p, R_OK) == 0; }

static int write_bytes(const char *path, const void *d, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(d, 1, n, f);
    fclose(f);
    return w == n ? 0 : -1;
}

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)len + 1);
    if (b && fread(b, 1, (size_t)len, f) != (size_t)len) { free(b); b = NULL; }
    fclose(f);
    if (b) { b[len] = 0; *n = (size_t)len; }
    return b;
}

/* ---- expected.tsv ----------------------------------------------------------------------- */
typedef struct { char *f[5]; int nf; } row;
static row *rows;
static size_t n_rows;
static char *expected_text;

static void load_expected(void) {
    size_t len;
    char *b = expected_text = slurp(FIX "expected.tsv", &len);
    if (!b) { CHECK(0, "cannot read " FIX "expected.tsv (run from the repository root)"); return; }
    size_t cap = 0;
    for (char *line = strtok(b, "\n"); line; line = strtok(NULL, "\n")) {
        if (n_rows == cap) { cap = cap ? 2 * cap : 256; rows = realloc(rows, cap * sizeof *rows); }
        row *r = &rows[n_rows++];
        r->nf = 0;
        char *p = line;
        while (r->nf < 5) {
            r->f[r->nf++] = p;
            char *t = strchr(p, '\t');
            if (!t) break;
            *t = 0;
            p = t + 1;
        }
    }
}

static const char *expect1(const char *kind, const char *name) {
    for (size_t i = 0; i < n_rows; i++)
        if (rows[i].nf >= 3 && !strcmp(rows[i].f[0], kind) && !strcmp(rows[i].f[1], name)) return rows[i].f[2];
    fprintf(stderr, "expected.tsv lacks %s %s\n", kind, name);
    return "-1";
}

static long expect_long(const char *kind, const char *name) { return atol(expect1(kind, name)); }

static int err_has(const char *s) { return strstr(scfm_last_error(), s) != NULL; }

/* ---- vocabularies and medians -------------------------------------------------------------- */
static void test_vocab(const char *name, const char *pkl, const char *tsv, const char *med_pkl, const char *med_tsv) {
    scfm_vocab *a = scfm_vocab_load(sp(pkl)), *b = scfm_vocab_load(sp(tsv));
    CHECK(a && b, "%s: load vocab: %s", name, scfm_last_error());
    if (!a || !b) { scfm_vocab_free(a); scfm_vocab_free(b); return; }
    char key[64];
    snprintf(key, sizeof key, "%s_vocab", name);
    CHECK(scfm_vocab_size(a) == (size_t)expect_long("size", key), "%s: vocab size %zu", name, scfm_vocab_size(a));
    CHECK(scfm_vocab_size(a) == scfm_vocab_size(b), "%s: pkl and tsv sizes differ", name);
    size_t diff = 0;
    for (size_t i = 0; i < scfm_vocab_size(a); i++) diff += strcmp(scfm_vocab_token(a, i), scfm_vocab_token(b, i)) != 0;
    CHECK(diff == 0, "%s: %zu tokens differ between pkl and tsv", name, diff);
    char hex[32];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)scfm_vocab_hash(a));
    CHECK(!strcmp(hex, expect1("hash", name)), "%s: hash %s, python says %s", name, hex, expect1("hash", name));
    CHECK(scfm_vocab_hash(a) == scfm_vocab_hash(b), "%s: hashes differ", name);
    size_t ntok = 0;
    for (size_t i = 0; i < n_rows; i++) {
        if (rows[i].nf < 4 || strcmp(rows[i].f[0], "tok") || strcmp(rows[i].f[1], name)) continue;
        const char *t = rows[i].f[2];
        long id = atol(rows[i].f[3]);
        int special = t[0] == '<';
        int64_t got = special ? scfm_vocab_special(a, t) : scfm_vocab_lookup(a, t);
        CHECK(got == id, "%s: token %s: id %lld, want %ld", name, t, (long long)got, id);
        CHECK(scfm_vocab_lookup(b, t) == id, "%s: tsv token %s", name, t);
        if (id >= 0) CHECK(!strcmp(scfm_vocab_token(a, (size_t)id), t), "%s: token of id %ld", name, id);
        ntok++;
    }
    CHECK(ntok >= 20, "%s: only %zu sampled tokens", name, ntok);
    CHECK(scfm_vocab_token(a, scfm_vocab_size(a)) == NULL, "out-of-range id gives NULL");
    CHECK(scfm_vocab_lookup(a, "ENSG_NOT_THERE") == -1, "absent token");
    CHECK(scfm_vocab_lookup(a, "ensg00000000003") == -1, "lookup is exact (case)");

    /* write_tsv round trip */
    const char *out = tp("vocab.tsv");
    CHECK(scfm_vocab_write_tsv(a, out) == 0, "write_tsv: %s", scfm_last_error());
    scfm_vocab *c = scfm_vocab_load(out);
    CHECK(c && scfm_vocab_hash(c) == scfm_vocab_hash(a) && scfm_vocab_size(c) == scfm_vocab_size(a),
          "%s: vocab.tsv round trip", name);
    scfm_vocab_free(c);

    /* medians */
    double *ma = NULL, *mb = NULL;
    CHECK(scfm_medians_load(sp(med_pkl), a, &ma) == 0, "%s: medians pkl: %s", name, scfm_last_error());
    CHECK(scfm_medians_load(sp(med_tsv), a, &mb) == 0, "%s: medians tsv: %s", name, scfm_last_error());
    if (ma && mb) {
        size_t n = scfm_vocab_size(a), with = 0, mism = 0;
        for (size_t i = 0; i < n; i++) {
            with += !isnan(ma[i]);
            mism += !(ma[i] == mb[i] || (isnan(ma[i]) && isnan(mb[i])));
        }
        CHECK(mism == 0, "%s: %zu medians differ between pkl and tsv", name, mism);
        CHECK(with == (size_t)expect_long("nmed", name), "%s: %zu tokens with a median", name, with);
        CHECK(isnan(ma[0]) && isnan(ma[1]), "%s: <pad>/<mask> have no median", name);
        size_t nm = 0;
        for (size_t i = 0; i < n_rows; i++) {
            if (rows[i].nf < 4 || strcmp(rows[i].f[0], "med") || strcmp(rows[i].f[1], name)) continue;
            int64_t id = scfm_vocab_lookup(a, rows[i].f[2]);
            if (id < 0) continue; /* V2 has medians for genes outside its vocabulary */
            double want = strtod(rows[i].f[3], NULL);
            CHECK(ma[id] == want, "%s: median of %s: %.17g want %.17g", name, rows[i].f[2], ma[id], want);
            nm++;
        }
        CHECK(nm >= 5, "%s: only %zu sampled medians checked", name, nm);
    }
    free(ma);
    free(mb);
    scfm_vocab_free(a);
    scfm_vocab_free(b);
}

/* ---- pickles ----------------------------------------------------------------------------- */
static void test_pickles(void) {
    size_t len;
    char *b = slurp(FIX "pickles.tsv", &len);
    CHECK(b != NULL, "pickles.tsv");
    if (!b) return;
    size_t checked = 0;
    for (char *line = strtok(b, "\n"); line; line = strtok(NULL, "\n")) {
        char *f[4];
        int nf = 0;
        for (char *p = line; nf < 4;) {
            f[nf++] = p;
            char *t = strchr(p, '\t');
            if (!t) break;
            *t = 0;
            p = t + 1;
        }
        if (nf < 4) continue;
        char path[512];
        snprintf(path, sizeof path, FIX "%s", f[0]);
        scfm_pkl_dict d;
        int rc = scfm_pickle_read_dict(path, &d);
        CHECK(rc == 0, "%s: %s", path, scfm_last_error());
        if (rc) continue;
        const scfm_pkl_item *it = NULL;
        for (size_t k = 0; k < d.n; k++)
            if (!strcmp(d.items[k].key, f[1])) it = &d.items[k];
        CHECK(it != NULL, "%s: key %s missing", path, f[1]);
        if (it && !strcmp(f[2], "int")) CHECK(it->type == SCFM_PKL_INT && it->i == strtoll(f[3], NULL, 10), "%s: %s int %lld", path, f[1], (long long)it->i);
        if (it && !strcmp(f[2], "float")) {
            double want = strtod(f[3], NULL);
            CHECK(it->type == SCFM_PKL_FLOAT && it->f == want && signbit(it->f) == signbit(want), "%s: %s float %.17g want %.17g", path, f[1], it->f, want);
        }
        if (it && !strcmp(f[2], "str")) CHECK(it->type == SCFM_PKL_STR && !strcmp(it->s, f[3]), "%s: %s str", path, f[1]);
        checked++;
        scfm_pkl_dict_free(&d);
    }
    CHECK(checked >= 20, "pickles.tsv: %zu values checked", checked);
    free(b);

    static const char *const bad[] = {"bad_global.pkl", "bad_list.pkl", "bad_notdict.pkl", "bad_nested.pkl",
                                      "bad_intkey.pkl", "bad_array.pkl", "bad_proto0.pkl"};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        char path[512];
        snprintf(path, sizeof path, FIX "%s", bad[k]);
        scfm_pkl_dict d;
        int rc = scfm_pickle_read_dict(path, &d);
        CHECK(rc == SCFM_EFORMAT && err_has(path), "%s must be rejected naming the file (rc %d: %s)", bad[k], rc,
              scfm_last_error());
        if (!rc) scfm_pkl_dict_free(&d);
    }
    scfm_pkl_dict d;
    CHECK(scfm_pickle_read_dict(FIX "bad_global.pkl", &d) != 0 && err_has("posix.system") , "global named: %s", scfm_last_error());

    /* Every truncation of a real pickle fails cleanly (and names the file). */
    char *pk = slurp(FIX "p2_numpy.pkl", &len);
    size_t fails = 0;
    for (size_t cut = 0; pk && cut < len; cut++) {
        int rc = scfm_pickle_parse_dict(pk, cut, "cut.pkl", &d);
        if (rc == 0) scfm_pkl_dict_free(&d);
        fails += rc != 0 && err_has("cut.pkl");
    }
    CHECK(pk && fails == len, "truncated pickles: %zu of %zu rejected", fails, len);
    /* trailing bytes after STOP */
    if (pk) {
        char *pk2 = malloc(len + 1);
        memcpy(pk2, pk, len);
        pk2[len] = '.';
        CHECK(scfm_pickle_parse_dict(pk2, len + 1, "trail.pkl", &d) == SCFM_EFORMAT && err_has("trailing"), "trailing bytes: %s", scfm_last_error());
        free(pk2);
    }
    free(pk);
    const char lfs[] = "version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 12\n";
    CHECK(write_bytes(tp("lfs.pkl"), lfs, sizeof lfs - 1) == 0, "write lfs");
    CHECK(scfm_pickle_read_dict(tp("lfs.pkl"), &d) == SCFM_EFORMAT && err_has("LFS") && err_has(tp("lfs.pkl")),
          "LFS pointer: %s", scfm_last_error());
}

/* ---- bad inputs -------------------------------------------------------------------------- */
/* gzip of `text` at path (zlib), 0 on success */
static int write_gz(const char *path, const char *text) {
    gzFile g = gzopen(path, "wb");
    if (!g) return -1;
    int n = gzwrite(g, text, (unsigned)strlen(text));
    return gzclose(g) == Z_OK && n == (int)strlen(text) ? 0 : -1;
}

/* Truncated and corrupt dictionaries: from `pkl` and `tsv_gz` (real files when the shared data
 * is there, else a committed fixture pickle and a gzip written here). */
static void test_bad_inputs(const char *pkl, const char *tsv_gz) {
    size_t len;
    /* truncated pickle */
    char *pk = slurp(pkl, &len);
    CHECK(pk != NULL, "read %s", pkl);
    if (pk) {
        const char *p = tp("trunc.pkl");
        CHECK(write_bytes(p, pk, len / 2) == 0, "write");
        scfm_vocab *v = scfm_vocab_load(p);
        CHECK(!v && err_has(p) && err_has("truncated"), "truncated pickle: %s", scfm_last_error());
        scfm_vocab_free(v);
        free(pk);
    }
    /* corrupt and truncated gzip */
    char *gz = slurp(tsv_gz, &len);
    CHECK(gz != NULL, "read %s", tsv_gz);
    if (gz) {
        const char *p = tp("corrupt.tsv.gz");
        for (size_t k = len / 2; k < len / 2 + 64; k++) gz[k] ^= 0x5a;
        CHECK(write_bytes(p, gz, len) == 0, "write");
        scfm_vocab *v = scfm_vocab_load(p);
        CHECK(!v && err_has(p) && err_has("gzip"), "corrupt gzip: %s", scfm_last_error());
        scfm_vocab_free(v);
        free(gz);
        gz = slurp(tsv_gz, &len);
        p = tp("trunc.tsv.gz");
        CHECK(write_bytes(p, gz, len - len / 3) == 0, "write");
        v = scfm_vocab_load(p);
        CHECK(!v && err_has(p) && err_has("gzip"), "truncated gzip: %s", scfm_last_error());
        scfm_vocab_free(v);
        free(gz);
    }
    struct { const char *name, *text, *msg; } cases[] = {
        {"dupid.tsv", "<pad>\t0\n<mask>\t1\nENSG1\t1\n", "used by both"},
        {"gap.tsv", "<pad>\t0\n<mask>\t1\nENSG1\t5\n", "dense"},
        {"duptok.tsv", "<pad>\t0\nA\t1\nA\t2\n", "twice"},
        {"notint.tsv", "<pad>\t0\nA\tx1\n", "not an integer"},
        {"notab.tsv", "<pad> 0\n", "key<TAB>value"},
        {"empty.tsv", "", "empty"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        const char *p = tp(cases[k].name);
        CHECK(write_bytes(p, cases[k].text, strlen(cases[k].text)) == 0, "write");
        scfm_vocab *v = scfm_vocab_load(p);
        CHECK(!v && err_has(p) && err_has(cases[k].msg), "%s: %s", cases[k].name, scfm_last_error());
        scfm_vocab_free(v);
    }
    /* CRLF and comments are fine */
    const char *ok = "# comment\r\n<pad>\t0\r\n<mask>\t1\r\nENSG00000000003\t2\r\n\r\n";
    CHECK(write_bytes(tp("crlf.tsv"), ok, strlen(ok)) == 0, "write");
    scfm_vocab *v = scfm_vocab_load(tp("crlf.tsv"));
    CHECK(v && scfm_vocab_size(v) == 3 && scfm_vocab_lookup(v, "ENSG00000000003") == 2 &&
          scfm_vocab_special(v, "<mask>") == 1 && scfm_vocab_special(v, "<cls>") == -1, "CRLF vocab: %s", scfm_last_error());
    /* medians: bad value, negative */
    if (v) {
        double *m = NULL;
        const char *bm = "ENSG00000000003\tabc\n";
        CHECK(write_bytes(tp("badmed.tsv"), bm, strlen(bm)) == 0, "write");
        CHECK(scfm_medians_load(tp("badmed.tsv"), v, &m) != 0 && err_has(tp("badmed.tsv")) && !m, "bad median: %s", scfm_last_error());
        bm = "ENSG00000000003\t-1\n";
        CHECK(write_bytes(tp("negmed.tsv"), bm, strlen(bm)) == 0, "write");
        CHECK(scfm_medians_load(tp("negmed.tsv"), v, &m) == SCFM_EDATA && err_has("negative"), "negative median: %s", scfm_last_error());
        bm = "ENSG00000000003\t2.5\nENSG_OTHER\t1\n";
        CHECK(write_bytes(tp("med.tsv"), bm, strlen(bm)) == 0, "write");
        CHECK(scfm_medians_load(tp("med.tsv"), v, &m) == 0 && m && m[2] == 2.5 && isnan(m[0]), "small medians");
        free(m);
    }
    scfm_vocab_free(v);
    /* missing files */
    const char *missing = tp("no_such_file.pkl");
    v = scfm_vocab_load(missing);
    CHECK(!v && err_has(missing), "missing vocab: %s", scfm_last_error());
    scfm_gene_map *m = scfm_gene_map_new();
    CHECK(scfm_gene_map_add_file(m, missing) == SCFM_EIO && err_has(missing), "missing gene map: %s", scfm_last_error());
    scfm_gene_map_free(m);
    scfm_orthologs *o = scfm_orthologs_load(missing, "mouse", "human", NULL);
    CHECK(!o && err_has(missing), "missing orthologs: %s", scfm_last_error());
    char **ids = NULL;
    scfm_digests *d = scfm_digests_load(missing, &ids);
    CHECK(!d && !ids && err_has(missing), "missing digests: %s", scfm_last_error());
}

/* ---- gene maps ------------------------------------------------------------------------------- */
static void check_map(scfm_gene_map *m, const char *name, int check_counts) {
    if (check_counts) {
        CHECK(scfm_gene_map_size(m) == (size_t)expect_long("nsym", name), "%s: %zu symbols, want %ld", name,
              scfm_gene_map_size(m), expect_long("nsym", name));
        CHECK(scfm_gene_map_n_ambiguous(m) == (size_t)expect_long("namb", name), "%s: %zu ambiguous, want %ld", name,
              scfm_gene_map_n_ambiguous(m), expect_long("namb", name));
    }
    size_t n = 0;
    for (size_t i = 0; i < n_rows; i++) {
        if (rows[i].nf < 4 || strcmp(rows[i].f[1], name)) continue;
        if (!strcmp(rows[i].f[0], "sym")) {
            const char *got = scfm_gene_map_lookup(m, rows[i].f[2]);
            CHECK(got && !strcmp(got, rows[i].f[3]), "%s: %s -> %s, want %s", name, rows[i].f[2], got ? got : "NULL", rows[i].f[3]);
            n++;
        } else if (!strcmp(rows[i].f[0], "bio")) {
            const char *got = scfm_gene_map_biotype(m, rows[i].f[2]);
            CHECK(got && !strcmp(got, rows[i].f[3]), "%s: biotype of %s: %s want %s", name, rows[i].f[2], got ? got : "NULL", rows[i].f[3]);
        }
    }
    CHECK(n >= 20, "%s: %zu lookups", name, n);
}

static void test_gene_maps(void) {
    scfm_gene_map *h = scfm_gene_map_new();
    CHECK(scfm_gene_map_add_file(h, sp("genes/human_ensembl_genes.csv.gz")) == 0, "human table: %s", scfm_last_error());
    check_map(h, "human_table", 1);
    const char *tp53 = scfm_gene_map_lookup(h, "TP53");
    CHECK(tp53 && !strcmp(tp53, "ENSG00000141510"), "TP53 in the gene table");
    CHECK(scfm_gene_map_lookup(h, "  tp53 ") == tp53, "lookup normalizes");
    const char *bt = scfm_gene_map_biotype(h, "ENSG00000141510.17");
    CHECK(bt && !strcmp(bt, "protein_coding"), "TP53 biotype %s", bt ? bt : "NULL");
    CHECK(scfm_gene_map_lookup(h, "NO_SUCH_GENE_XYZ") == NULL, "absent symbol");

    scfm_gene_map *mm = scfm_gene_map_new();
    CHECK(scfm_gene_map_add_file(mm, sp("genes/mouse_ensembl_genes.csv.gz")) == 0, "mouse table: %s", scfm_last_error());
    check_map(mm, "mouse_table", 1);

    scfm_gene_map *a = scfm_gene_map_new(), *b = scfm_gene_map_new();
    CHECK(scfm_gene_map_add_file(a, sp("geneformer/v1/gene_name_id_dict.pkl")) == 0, "v1 names pkl: %s", scfm_last_error());
    CHECK(scfm_gene_map_add_file(b, sp("geneformer/v1/gene_name_id_dict.tsv.gz")) == 0, "v1 names tsv: %s", scfm_last_error());
    check_map(a, "v1_names", 1);
    check_map(b, "v1_names", 1);
    const char *t1 = scfm_gene_map_lookup(a, "TP53");
    CHECK(t1 && tp53 && !strcmp(t1, tp53), "TP53: gene_name_id_dict agrees with the gene table");
    /* symbol from the gene table vs the dictionary: most protein-coding symbols agree */
    scfm_gene_map_free(a);
    scfm_gene_map_free(b);
    a = scfm_gene_map_new();
    CHECK(scfm_gene_map_add_file(a, sp("geneformer/v2/gene_name_id_dict_gc104M.pkl")) == 0, "v2 names: %s", scfm_last_error());
    check_map(a, "v2_names", 1);
    /* several files in one map: the first added wins */
    CHECK(scfm_gene_map_add_file(a, sp("genes/human_ensembl_genes.csv.gz")) == 0, "second file: %s", scfm_last_error());
    check_map(a, "v2_names", 0);
    CHECK(scfm_gene_map_size(a) >= (size_t)expect_long("nsym", "v2_names"), "map grew");
    scfm_gene_map_free(a);

    /* small table with quotes, CRLF, versions, an ambiguous symbol */
    const char *csv = "gene_id,gene_name,biotype\r\nENSG00000000001.5,\"AB,C\",protein_coding\r\n"
                      "ENSG00000000002,Dup,lncRNA\r\nENSG00000000003.1,DUP,miRNA\r\nNOTANID,X,y\r\n";
    CHECK(write_bytes(tp("tiny.csv"), csv, strlen(csv)) == 0, "write");
    a = scfm_gene_map_new();
    CHECK(scfm_gene_map_add_file(a, tp("tiny.csv")) == 0, "tiny table: %s", scfm_last_error());
    const char *x = scfm_gene_map_lookup(a, "ab,c");
    CHECK(x && !strcmp(x, "ENSG00000000001"), "quoted symbol");
    x = scfm_gene_map_lookup(a, "dup");
    CHECK(x && !strcmp(x, "ENSG00000000002"), "first ID kept");
    CHECK(scfm_gene_map_n_ambiguous(a) == 1 && scfm_gene_map_size(a) == 2, "tiny counts %zu %zu",
          scfm_gene_map_n_ambiguous(a), scfm_gene_map_size(a));
    bt = scfm_gene_map_biotype(a, "ENSG00000000003");
    CHECK(bt && !strcmp(bt, "miRNA"), "tiny biotype");
    scfm_gene_map_free(a);
    scfm_gene_map_free(h);
    scfm_gene_map_free(mm);
}

static void test_normalize(void) {
    struct { const char *in, *out; int ens; } c[] = {
        {"ENSG00000141510.17", "ENSG00000141510", 1}, {"  ensg00000141510  ", "ENSG00000141510", 1},
        {"ENSMUSG00000064336.1\t", "ENSMUSG00000064336", 1}, {"tp53", "TP53", 0}, {"RP11-1.2", "RP11-1.2", 0},
        {"ENSG0001.x", "ENSG0001.X", 0}, {"ENSG", "ENSG", 0}, {"ENS123", "ENS123", 0}, {"ENSMUST00000001", "ENSMUST00000001", 0},
        {"ENSGR0000002586.3", "ENSGR0000002586", 1}, {"ENSR0001", "ENSR0001", 0}, {"ENSG12A", "ENSG12A", 0},
        {"", "", 0}};
    for (size_t k = 0; k < sizeof c / sizeof *c; k++) {
        char b[64];
        strcpy(b, c[k].in);
        scfm_gene_normalize(b);
        CHECK(!strcmp(b, c[k].out), "normalize '%s' -> '%s' want '%s'", c[k].in, b, c[k].out);
        CHECK(scfm_is_ensembl_id(b) == c[k].ens, "is_ensembl_id('%s')", b);
    }
}

/* ---- orthologs ---------------------------------------------------------------------------- */
static void test_orthologs(void) {
    size_t n_rules = 0;
    for (size_t i = 0; i < n_rows; i++) {
        if (strcmp(rows[i].f[0], "orth") || rows[i].nf < 3) continue;
        char spec[256], *bar, *file, *rule;
        snprintf(spec, sizeof spec, "%s", rows[i].f[1]);
        bar = strchr(spec, '|');
        if (!bar) continue;
        *bar = 0;
        file = spec;
        rule = bar + 1;
        char from[8], to[8], kind[16], lim[32];
        if (sscanf(strchr(rule, ':') + 1, "%5[a-z]->%5[a-z]:%15[a-z0-9]:%31s", from, to, kind, lim) != 4) continue;
        scfm_ortholog_opts o = {!strcmp(kind, "one2one"), 0, 0};
        int v = atoi(strchr(lim, '=') + 1);
        if (!strncmp(lim, "conf", 4)) o.min_confidence = v;
        else o.min_support = v;
        char path[300];
        snprintf(path, sizeof path, "orthologs/%s", file);
        scfm_orthologs *r = scfm_orthologs_load(sp(path), from, to, &o);
        CHECK(r != NULL, "%s: %s", rows[i].f[1], scfm_last_error());
        if (!r) continue;
        n_rules++;
        CHECK(scfm_orthologs_size(r) == (size_t)atol(rows[i].f[2]), "%s: %zu pairs, pandas says %s", rows[i].f[1],
              scfm_orthologs_size(r), rows[i].f[2]);
        CHECK(!strcmp(scfm_orthologs_rule(r), rule), "rule '%s' want '%s'", scfm_orthologs_rule(r), rule);
        size_t np = 0;
        for (size_t j = 0; j < n_rows; j++) {
            if (strcmp(rows[j].f[1], rows[i].f[1])) continue;
            if (!strcmp(rows[j].f[0], "pair") && rows[j].nf >= 4) {
                const char *t = scfm_orthologs_lookup(r, rows[j].f[2]);
                CHECK(t && !strcmp(t, rows[j].f[3]), "%s: %s -> %s want %s", rule, rows[j].f[2], t ? t : "NULL", rows[j].f[3]);
                np++;
            } else if (!strcmp(rows[j].f[0], "nopair")) {
                CHECK(scfm_orthologs_lookup(r, rows[j].f[2]) == NULL, "%s: %s must be dropped", rule, rows[j].f[2]);
            }
        }
        CHECK(np >= 6, "%s: %zu pairs checked", rule, np);
        scfm_orthologs_free(r);
    }
    CHECK(n_rules == 24, "%zu ortholog rules checked", n_rules);
    /* a known pair: human TP53 <-> mouse Trp53 (ENSMUSG00000059552) */
    scfm_orthologs *r = scfm_orthologs_load(sp("orthologs/biomart_mouse_to_human.csv.gz"), "mouse", "human", NULL);
    const char *t = r ? scfm_orthologs_lookup(r, "ENSMUSG00000059552") : NULL;
    CHECK(t && !strcmp(t, "ENSG00000141510"), "Trp53 -> TP53: %s", t ? t : scfm_last_error());
    scfm_orthologs_free(r);
    r = scfm_orthologs_load(sp("orthologs/hcop_human_mouse.tsv.gz"), "human", "mouse", NULL);
    t = r ? scfm_orthologs_lookup(r, "ENSG00000141510.17") : NULL;
    CHECK(t && !strcmp(t, "ENSMUSG00000059552"), "HCOP TP53 -> Trp53: %s", t ? t : scfm_last_error());
    scfm_orthologs_free(r);
    r = scfm_orthologs_load(sp("orthologs/hcop_human_mouse.tsv.gz"), "human", "human", NULL);
    CHECK(!r && scfm_last_error()[0], "human->human rejected");
    r = scfm_orthologs_load(sp("orthologs/hcop_human_mouse.tsv.gz"), "human", "rat", NULL);
    CHECK(!r, "rat rejected");
}

/* ---- resolution ------------------------------------------------------------------------- */
static void test_resolve(void) {
    scfm_vocab *v = scfm_vocab_load(sp("geneformer/v1/token_dictionary.tsv.gz"));
    scfm_gene_map *names = scfm_gene_map_new();
    int ok = v && names && scfm_gene_map_add_file(names, sp("genes/human_ensembl_genes.csv.gz")) == 0;
    CHECK(ok, "resolve setup: %s", scfm_last_error());
    if (!ok) { scfm_vocab_free(v); scfm_gene_map_free(names); return; }
    int64_t tp53 = scfm_vocab_lookup(v, "ENSG00000141510");
    CHECK(tp53 >= 2, "TP53 in V1 vocab");
    const char *genes[] = {"ENSG00000141510.17", " tp53 ", "TP53", "NOT_A_GENE", "ENSG99999999999", "ENSG00000000003",
                           "ENSMUSG00000059552", NULL};
    size_t n = sizeof genes / sizeof *genes;
    scfm_gene_resolution r;
    scfm_resolve_opts o = {NULL, NULL, NULL};
    CHECK(scfm_genes_resolve(genes, n, v, &o, &r) == 0, "resolve: %s", scfm_last_error());
    CHECK(r.n_genes == n && r.vocab_id[0] == tp53 && r.vocab_id[1] == -1 && r.vocab_id[2] == -1 && r.vocab_id[5] == 2,
          "resolve without names");
    CHECK(r.n_mapped == 2 && r.n_unique_ids == 2 && r.n_not_id == 4 && r.n_not_in_vocab == 2 && r.n_no_ortholog == 0,
          "counts without names: mapped %zu unique %zu not_id %zu not_in_vocab %zu", r.n_mapped, r.n_unique_ids,
          r.n_not_id, r.n_not_in_vocab);
    scfm_gene_resolution_free(&r);
    o.names = names;
    CHECK(scfm_genes_resolve(genes, n, v, &o, &r) == 0, "resolve: %s", scfm_last_error());
    CHECK(r.vocab_id[1] == tp53 && r.vocab_id[2] == tp53 && r.vocab_id[3] == -1, "symbols mapped");
    CHECK(r.n_mapped == 4 && r.n_unique_ids == 2 && r.n_not_id == 2 && r.n_not_in_vocab == 2,
          "counts with names: mapped %zu unique %zu not_id %zu not_in_vocab %zu", r.n_mapped, r.n_unique_ids,
          r.n_not_id, r.n_not_in_vocab);
    scfm_gene_resolution_free(&r);
    /* V1's old PAR-on-Y IDs resolve */
    const char *par[] = {"ENSGR0000002586.1"};
    CHECK(scfm_genes_resolve(par, 1, v, &o, &r) == 0 && r.vocab_id[0] >= 2 &&
          r.vocab_id[0] == scfm_vocab_lookup(v, "ENSGR0000002586"), "ENSGR id resolves");
    scfm_gene_resolution_free(&r);
    /* mouse genes through orthologs into the human vocabulary */
    scfm_orthologs *orth = scfm_orthologs_load(sp("orthologs/biomart_mouse_to_human.csv.gz"), "mouse", "human", NULL);
    scfm_gene_map *mnames = scfm_gene_map_new();
    CHECK(orth && scfm_gene_map_add_file(mnames, sp("genes/mouse_ensembl_genes.csv.gz")) == 0, "mouse setup");
    const char *mg[] = {"Trp53", "ENSMUSG00000059552.14", "mt-Tf", "Xkr4", "nonsense"};
    scfm_resolve_opts mo = {mnames, orth, NULL};
    CHECK(scfm_genes_resolve(mg, 5, v, &mo, &r) == 0, "resolve mouse");
    CHECK(r.vocab_id[0] == tp53 && r.vocab_id[1] == tp53 && r.n_not_id == 1 && r.n_unique_ids >= 1,
          "mouse -> human: ids %d %d, not_id %zu", r.vocab_id[0], r.vocab_id[1], r.n_not_id);
    CHECK(r.n_mapped + r.n_not_id + r.n_no_ortholog + r.n_not_in_vocab == 5, "counts add up");
    const char *xkr4 = scfm_orthologs_lookup(orth, scfm_gene_map_lookup(mnames, "Xkr4"));
    int64_t want = xkr4 ? scfm_vocab_lookup(v, xkr4) : -1;
    CHECK(r.vocab_id[3] == want, "Xkr4 via ortholog");
    scfm_gene_resolution_free(&r);
    scfm_orthologs_free(orth);
    scfm_gene_map_free(mnames);
    scfm_gene_map_free(names);
    scfm_vocab_free(v);
}

/* ---- orthologs and vocabularies keyed by gene symbols (no shared data needed) ------------- */
static scfm_orthologs *orth_text(const char *name, const char *text, const char *from, const char *to, int one2one,
                                 int min_conf) {
    CHECK(write_bytes(tp(name), text, strlen(text)) == 0, "write %s", name);
    scfm_ortholog_opts o = {one2one, 0, min_conf};
    return scfm_orthologs_load(tp(name), from, to, &o);
}

static int maps_to(const scfm_orthologs *o, const char *src, const char *want) {
    const char *t = scfm_orthologs_lookup(o, src);
    return want ? t && !strcmp(t, want) : t == NULL;
}

/* ID -> symbol: the first symbol given for an ID, as written (mouse case kept, spaces trimmed). */
static void test_map_symbols(void) {
    const char *text = "Actb\tENSMUSG00000029580\n ACTB-alias \tENSMUSG00000029580.4\nTrp53\tENSMUSG00000059552\n";
    FILE *f = fopen(tp("names_sym.tsv"), "w");
    CHECK(f && fputs(text, f) >= 0 && fclose(f) == 0, "write names_sym.tsv");
    scfm_gene_map *m = scfm_gene_map_new();
    CHECK(m && scfm_gene_map_add_file(m, tp("names_sym.tsv")) == SCFM_OK, "load names_sym.tsv: %s", scfm_last_error());
    const char *a = scfm_gene_map_symbol(m, "ENSMUSG00000029580"), *b = scfm_gene_map_symbol(m, "ensmusg00000059552.2");
    CHECK(a && !strcmp(a, "Actb"), "symbol of ENSMUSG00000029580: %s", a ? a : "(none)");
    CHECK(b && !strcmp(b, "Trp53"), "symbol of ENSMUSG00000059552 (normalized lookup): %s", b ? b : "(none)");
    CHECK(!scfm_gene_map_symbol(m, "ENSMUSG00000000001") && !scfm_gene_map_symbol(NULL, "X"), "unknown ID: no symbol");
    const char *alias = scfm_gene_map_lookup(m, "actb-alias");
    CHECK(alias && !strcmp(alias, "ENSMUSG00000029580"), "the alias still maps to the ID");
    scfm_gene_map_free(m);
}

static void test_symbol_orthologs(void) {
    /* BioMart export of gene names with R's column names (read.csv), as the came package ships
     * them: mouse genes, their human partners; DUP1/DUP2 share a partner (not one-to-one). */
    const char *r_style =
        "\"gene.name\",\"human.gene.name\",\"human.homology.type\",\"human.orthology.confidence..0.low..1.high.\"\r\n"
        "\"Trp53\",\"TP53\",\"ortholog_one2one\",1\r\n"
        "\"mt-Nd1\",\"MT-ND1\",\"ortholog_one2one\",1\r\n"
        "\"Gm1\",\"ABC\",\"ortholog_one2many\",0\r\n"
        "\"Gm2\",\"ABC\",\"ortholog_one2many\",0\r\n"
        "\"Dup1\",\"DUPH\",\"ortholog_one2one\",1\r\n"
        "\"Dup2\",\"DUPH\",\"ortholog_one2one\",1\r\n"
        "\"\",\"EMPTY\",\"ortholog_one2one\",1\r\n"
        "\"Trp53\",\"TP53\",\"ortholog_one2one\",1\r\n";
    scfm_orthologs *o = orth_text("names_r.csv", r_style, "mouse", "human", 1, 0);
    CHECK(o && scfm_orthologs_by_symbol(o) && scfm_orthologs_size(o) == 2, "R-style names one2one: %zu pairs: %s",
          scfm_orthologs_size(o), o ? "" : scfm_last_error());
    CHECK(o && maps_to(o, "Trp53", "TP53") && maps_to(o, " trp53 ", "TP53") && maps_to(o, "mt-Nd1", "MT-ND1") &&
          maps_to(o, "Gm1", NULL) && maps_to(o, "Dup1", NULL) && maps_to(o, "EMPTY", NULL), "R-style pairs");
    CHECK(o && !strcmp(scfm_orthologs_rule(o), "biomart-names:mouse->human:one2one:conf>=0"), "rule %s",
          o ? scfm_orthologs_rule(o) : "");
    scfm_orthologs_free(o);
    o = orth_text("names_r.csv", r_style, "human", "mouse", 1, 0); /* the other direction: targets normalized */
    CHECK(o && maps_to(o, "TP53", "TRP53") && maps_to(o, "MT-ND1", "MT-ND1") && scfm_orthologs_size(o) == 2,
          "human -> mouse by name: %s", o ? "" : scfm_last_error());
    scfm_orthologs_free(o);
    o = orth_text("names_r.csv", r_style, "mouse", "human", 0, 0); /* many2one: Gm1, Gm2 -> ABC; Dup1, Dup2 -> DUPH */
    CHECK(o && scfm_orthologs_size(o) == 6 && maps_to(o, "Gm2", "ABC") && maps_to(o, "Dup1", "DUPH"),
          "many2one by name: %zu", scfm_orthologs_size(o));
    scfm_orthologs_free(o);
    o = orth_text("names_r.csv", r_style, "mouse", "human", 0, 1); /* confidence >= 1 drops the Gm rows */
    CHECK(o && scfm_orthologs_size(o) == 4 && maps_to(o, "Gm1", NULL), "confidence filter by name");
    scfm_orthologs_free(o);
    /* BioMart's own titles, human -> mouse file read mouse -> human */
    const char *titles = "Gene name,Mouse gene name,Mouse homology type\nTP53,Trp53,ortholog_one2one\nINS,Ins2,ortholog_one2many\n";
    o = orth_text("names_bm.csv", titles, "mouse", "human", 1, 0);
    CHECK(o && scfm_orthologs_by_symbol(o) && maps_to(o, "Trp53", "TP53") && maps_to(o, "Ins2", NULL) &&
          scfm_orthologs_size(o) == 1, "BioMart titles by name: %s", o ? "" : scfm_last_error());
    scfm_orthologs_free(o);
    /* stable IDs present: they are used, not the names */
    const char *both = "Gene stable ID,Gene name,Human gene stable ID,Human gene name,Human homology type\n"
                       "ENSMUSG00000059552,Trp53,ENSG00000141510,TP53,ortholog_one2one\n";
    o = orth_text("both.csv", both, "mouse", "human", 1, 0);
    CHECK(o && !scfm_orthologs_by_symbol(o) && maps_to(o, "ENSMUSG00000059552", "ENSG00000141510") &&
          maps_to(o, "Trp53", NULL) && !strncmp(scfm_orthologs_rule(o), "biomart:", 8), "IDs preferred over names");
    scfm_orthologs_free(o);
    /* bad headers */
    o = orth_text("bad.csv", "\"gene.name\",\"other\"\nA,B\n", "mouse", "human", 1, 0);
    CHECK(!o && err_has(tp("bad.csv")) && err_has("Gene name"), "names without partner column: %s", scfm_last_error());
    o = orth_text("bad2.csv", "gene.name,rat.gene.name,rat.homology.type\nA,B,ortholog_one2one\n", "mouse", "human", 1, 0);
    CHECK(!o && err_has("rat") && err_has("not supported"), "rat partner: %s", scfm_last_error());
    o = orth_text("bad3.csv", "gene.name,human.gene.name\nA,B\n", "mouse", "human", 1, 0);
    CHECK(!o && err_has("homology type"), "no homology type: %s", scfm_last_error());

    /* resolution with a vocabulary keyed by symbols (scfm vocab build --symbols) */
    const char *vt = "<pad>\t0\n<mask>\t1\nTP53\t2\nMT-ND1\t3\nINS\t4\n";
    CHECK(write_bytes(tp("symvocab.tsv"), vt, strlen(vt)) == 0, "write");
    scfm_vocab *v = scfm_vocab_load(tp("symvocab.tsv"));
    CHECK(v != NULL, "symbol vocab: %s", scfm_last_error());
    if (!v) return;
    const char *hg[] = {" tp53", "Ins", "ENSG00000141510", "NOPE", "MT-ND1"};
    scfm_gene_resolution r;
    scfm_resolve_opts ro = {NULL, NULL, NULL};
    CHECK(scfm_genes_resolve(hg, 5, v, &ro, &r) == 0, "resolve symbols: %s", scfm_last_error());
    CHECK(r.vocab_id[0] == 2 && r.vocab_id[1] == 4 && r.vocab_id[2] == -1 && r.vocab_id[3] == -1 && r.vocab_id[4] == 3,
          "symbols resolve to their tokens");
    CHECK(r.n_mapped == 3 && r.n_not_id == 1 && r.n_not_in_vocab == 1 && r.n_unique_ids == 3, "symbol counts: %zu %zu %zu",
          r.n_mapped, r.n_not_id, r.n_not_in_vocab);
    scfm_gene_resolution_free(&r);
    o = orth_text("names_r.csv", r_style, "mouse", "human", 1, 0);
    const char *mg[] = {"Trp53", "mt-Nd1", "Ins2", "Gm1", "ENSMUSG00000059552"};
    scfm_resolve_opts mo = {NULL, o, NULL};
    CHECK(o && scfm_genes_resolve(mg, 5, v, &mo, &r) == 0, "resolve mouse symbols: %s", scfm_last_error());
    CHECK(o && r.vocab_id[0] == 2 && r.vocab_id[1] == 3 && r.vocab_id[2] == -1 && r.vocab_id[3] == -1 &&
          r.n_mapped == 2 && r.n_no_ortholog == 3 && r.n_not_id == 0, "mouse symbols through symbol orthologs");
    scfm_gene_resolution_free(&r);
    scfm_orthologs_free(o);
    scfm_vocab_free(v);
}

/* ---- digests ------------------------------------------------------------------------------ */
static uint64_t rng_state = 88172645463325252ULL;
static double urand(void) {
    rng_state ^= rng_state << 13; rng_state ^= rng_state >> 7; rng_state ^= rng_state << 17;
    return ((double)(rng_state >> 11) + 0.5) / 9007199254740992.0;
}
static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void test_digests(void) {
    enum { G = 12 };
    size_t sizes[G] = {1, 2, 3, 4, 10, 11, 100, 101, 1000, 2001, 5000, 0};
    scfm_digests *all = scfm_digests_new(G), *p1 = scfm_digests_new(G), *p2 = scfm_digests_new(G);
    CHECK(all && p1 && p2, "digests_new");
    if (!all || !p1 || !p2) return;
    double worst = 0;
    for (size_t g = 0; g < G; g++) {
        size_t n = sizes[g];
        double *x = malloc((n ? n : 1) * sizeof *x);
        for (size_t i = 0; i < n; i++) {
            /* log-normal-ish spread over ~6 orders of magnitude, plus repeated integer values */
            x[i] = g % 3 == 0 ? floor(1 + 20 * urand()) : exp(6 * (urand() - 0.5) * 2.3);
            CHECK(scfm_digests_add(all, g, x[i]) == 0, "add");
            CHECK(scfm_digests_add(i % 3 ? p1 : p2, g, x[i]) == 0, "add");
        }
        qsort(x, n, sizeof *x, cmp_d);
        double med = scfm_digests_median(all, g);
        CHECK(scfm_digests_count(all, g) == n, "count gene %zu", g);
        if (n == 0) {
            CHECK(isnan(med), "empty gene: NaN");
        } else {
            double exact = n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
            double rel = fabs(med - exact) / exact;
            if (rel > worst) worst = rel;
            CHECK(rel <= SCFM_DIGEST_REL_ERR * (1 + 1e-9), "gene %zu (n %zu): median %.9g exact %.9g rel %.3g", g, n, med,
                  exact, rel);
        }
        free(x);
    }
    printf("digests: worst relative error %.5f (bound %.3f)\n", worst, SCFM_DIGEST_REL_ERR);
    /* exact integers: median of {1,1,2} */
    scfm_digests *s = scfm_digests_new(1);
    CHECK(s && !scfm_digests_add(s, 0, 1) && !scfm_digests_add(s, 0, 2) && !scfm_digests_add(s, 0, 1), "small");
    CHECK_CLOSE(scfm_digests_median(s, 0), 1.0, SCFM_DIGEST_REL_ERR, 0, "median of {1,1,2}");
    CHECK(scfm_digests_add(s, 0, 0.0) == SCFM_EDATA && scfm_digests_add(s, 0, -1) != 0 && scfm_digests_add(s, 0, NAN) != 0 &&
          scfm_digests_add(s, 0, INFINITY) != 0 && scfm_digests_add(s, 1, 1.0) == SCFM_EINVAL, "bad values rejected");
    CHECK(scfm_digests_merge(all, s) == SCFM_EMISMATCH, "merge of different sizes");
    scfm_digests_free(s);
    /* merge == single digest */
    CHECK(scfm_digests_merge(p1, p2) == 0, "merge");
    for (size_t g = 0; g < G; g++) {
        CHECK(scfm_digests_count(p1, g) == scfm_digests_count(all, g), "merged count %zu", g);
        double a = scfm_digests_median(p1, g), b = scfm_digests_median(all, g);
        CHECK(a == b || (isnan(a) && isnan(b)), "merged median %zu: %.17g vs %.17g", g, a, b);
    }
    /* save / load */
    const char *ids[G];
    char names[G][16];
    for (size_t g = 0; g < G; g++) { snprintf(names[g], sizeof names[g], "ENSG%03zu", g); ids[g] = names[g]; }
    const char *path = tp("d.digest");
    CHECK(scfm_digests_save(all, ids, path) == 0, "save: %s", scfm_last_error());
    char **lids = NULL;
    scfm_digests *l = scfm_digests_load(path, &lids);
    CHECK(l && lids, "load: %s", scfm_last_error());
    if (l && lids) {
        CHECK(scfm_digests_n_genes(l) == G && lids[G] == NULL, "loaded gene count");
        for (size_t g = 0; g < G; g++) {
            CHECK(lids[g] && !strcmp(lids[g], ids[g]), "id %zu", g);
            double a = scfm_digests_median(l, g), b = scfm_digests_median(all, g);
            CHECK((a == b || (isnan(a) && isnan(b))) && scfm_digests_count(l, g) == scfm_digests_count(all, g),
                  "loaded gene %zu", g);
        }
        /* loaded digests still merge */
        CHECK(scfm_digests_merge(l, all) == 0 && scfm_digests_count(l, 10) == 2 * sizes[10], "merge after load");
    }
    for (size_t g = 0; lids && lids[g]; g++) free(lids[g]);
    free(lids);
    scfm_digests_free(l);
    /* corrupted / truncated files */
    size_t len;
    char *b = slurp(path, &len);
    if (b) {
        b[len / 2] ^= 1;
        const char *bad = tp("bad.digest");
        CHECK(write_bytes(bad, b, len) == 0, "write");
        l = scfm_digests_load(bad, NULL);
        CHECK(!l && err_has(bad) && err_has("checksum"), "corrupt digest: %s", scfm_last_error());
        b[len / 2] ^= 1;
        CHECK(write_bytes(bad, b, len - 9) == 0, "write");
        l = scfm_digests_load(bad, NULL);
        CHECK(!l && err_has(bad), "truncated digest: %s", scfm_last_error());
        CHECK(write_bytes(bad, "SCFMDGS", 7) == 0, "write");
        l = scfm_digests_load(bad, NULL);
        CHECK(!l && err_has(bad), "tiny digest: %s", scfm_last_error());
        free(b);
    }
    scfm_digests_free(all);
    scfm_digests_free(p1);
    scfm_digests_free(p2);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/scfm_test_genes.XXXXXX");
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }
    load_expected();
    test_normalize();
    test_pickles();
    test_digests();
    test_symbol_orthologs();
    test_map_symbols();
    int have_shared = file_exists(sp("geneformer/v1/token_dictionary.pkl"));
    if (!have_shared) {
        static char vt[64 * 2100]; /* a 2,000-gene vocabulary: its gzip is large enough to corrupt in the middle */
        size_t n = (size_t)snprintf(vt, sizeof vt, "<pad>\t0\n<mask>\t1\n");
        for (int g = 0; g < 2000; g++) n += (size_t)snprintf(vt + n, sizeof vt - n, "ENSG%011d\t%d\n", 7 * g + 3, g + 2);
        CHECK(write_gz(tp("small.tsv.gz"), vt) == 0, "write small.tsv.gz");
        test_bad_inputs(FIX "p4_plain.pkl", tp("small.tsv.gz"));
        tu_skip("Geneformer's dictionaries, gene tables and ortholog tables not found at %s", tu_shared_data());
    } else {
        test_bad_inputs(sp("geneformer/v1/token_dictionary.pkl"), sp("geneformer/v1/token_dictionary.tsv.gz"));
        test_vocab("v1", "geneformer/v1/token_dictionary.pkl", "geneformer/v1/token_dictionary.tsv.gz",
                   "geneformer/v1/gene_median_dictionary.pkl", "geneformer/v1/gene_median_dictionary.tsv.gz");
        test_vocab("v2", "geneformer/v2/token_dictionary_gc104M.pkl", "geneformer/v2/token_dictionary_gc104M.tsv.gz",
                   "geneformer/v2/gene_median_dictionary_gc104M.pkl", "geneformer/v2/gene_median_dictionary_gc104M.tsv.gz");
        test_gene_maps();
        test_orthologs();
        test_resolve();
    }
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    free(rows);
    free(expected_text);
    return TEST_END();
}
