/* Hostile inputs (issue 13, docs/robustness.md): each defect found by fuzzing or by small
 * files that cost far more than their size, replayed from tests/fuzz/regress/ (written by
 * scripts/make_hostile_inputs.py) or built here, with the error each must give now. Memory:
 * outside ASan this binary runs under a 1 GiB address-space limit, so any input that still
 * sized an allocation from a declared length (the old 0.5-11.5 GB) fails the test. */
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "scfm/core.h"
#include "scfm/io.h"
#include "scfm/json.h"
#include "scfm/pickle.h"
#include "scfm/safetensors.h"
#include "scfm/strmap.h"
#include "testutil.h"

#define RG "tests/fuzz/regress/"

static int has(const char *s) { return strstr(scfm_last_error(), s) != NULL; }

static char tmpd[256];
static const char *tp(const char *name) {
    static char p[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", tmpd, name);
    return p[k];
}

static void write_file(const char *path, const void *d, size_t n) {
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(d, 1, n, f) == n && fclose(f) == 0, "write %s", path);
}

static int open_fails(const char *path, const char *format, const char *msg) {
    scfm_reader_opts o;
    memset(&o, 0, sizeof o);
    o.path = path;
    o.format = format;
    scfm_reader *r = scfm_reader_open(&o);
    int ok = !r && has(msg) && has(path);
    if (!ok) fprintf(stderr, "     %s: %s\n", path, r ? "opened" : scfm_last_error());
    scfm_reader_close(r);
    return ok;
}

static void test_pickle(void) {
    scfm_pkl_dict d;
    unsigned char setitems[] = {0x80, 0x04, 0x28, 0x75}; /* PROTO 4, MARK, SETITEMS: stack never allocated */
    CHECK(scfm_pickle_parse_dict(setitems, sizeof setitems, "s.pkl", &d) == SCFM_EFORMAT && has("stack underflow"),
          "SETITEMS on an empty stack: %s", scfm_last_error());
    CHECK(scfm_pickle_read_dict(RG "pickle/setitems_empty_stack.pkl", &d) == SCFM_EFORMAT, "regress file");
    /* 9 bytes: EMPTY_DICT, LONG_BINPUT 0x03ffffff, STOP: the memo is bounded by the input size */
    CHECK(scfm_pickle_read_dict(RG "pickle/memo_index_huge.pkl", &d) == SCFM_EFORMAT &&
              has("memo index 67108863 too large for a 9-byte pickle"),
          "memo index: %s", scfm_last_error());
    /* a memo index inside the input's size still works (BINPUT 3 in a 10-byte pickle) */
    unsigned char memo_ok[] = {0x80, 0x02, 0x7d, 0x71, 0x05, 0x2e}; /* }, BINPUT 5, STOP */
    CHECK(scfm_pickle_parse_dict(memo_ok, sizeof memo_ok, "m.pkl", &d) == SCFM_OK && d.n == 0, "memo index 5 < 6 bytes: %s",
          scfm_last_error());
    scfm_pkl_dict_free(&d);
}

/* The shared string map (include/scfm/strmap.h) against a plain array: 60000 Ensembl-like
 * keys (long common prefix, the case the multiply in its hash is for) and their repeats;
 * first value kept, ref updates in place, reserve keeps everything, an empty map answers. */
static void test_strmap(void) {
    size_t n = 60000;
    char *pool = malloc(n * 24);
    size_t *ref = malloc(n * sizeof *ref);
    CHECK(pool && ref, "alloc");
    if (!pool || !ref) { free(pool); free(ref); return; }
    scfm_strmap m;
    memset(&m, 0, sizeof m);
    size_t v = 7;
    CHECK(!scfm_strmap_get(&m, "x", &v) && v == 7 && !scfm_strmap_ref(&m, "x"), "empty map: nothing found");
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        snprintf(pool + 24 * i, 24, "ENSG%011zu", (i * 7919) % 1000003);
        ref[i] = i;
        int r = scfm_strmap_put(&m, pool + 24 * i, i);
        bad += r != 0;
    }
    CHECK(!bad && m.n == n, "%d of %zu distinct keys not inserted; n %zu", bad, n, m.n);
    CHECK(scfm_strmap_reserve(&m, 4 * n) == SCFM_OK && m.cap >= 8 * n && m.n == n, "reserve: cap %zu", m.cap);
    for (size_t i = 0; i < n; i += 3) { /* repeats keep the first value */
        char k[24];
        snprintf(k, sizeof k, "ENSG%011zu", (i * 7919) % 1000003);
        bad += scfm_strmap_put(&m, pool + 24 * i, i + 1) != 1;
        size_t *p = scfm_strmap_ref(&m, k);
        if (!p || *p != ref[i]) bad++;
        else *p = ref[i] = i + 5; /* updated in place */
    }
    CHECK(!bad && m.n == n, "repeats: %d wrong", bad);
    for (size_t i = 0; i < n; i++) {
        char k[24];
        snprintf(k, sizeof k, "ENSG%011zu", (i * 7919) % 1000003);
        bad += !scfm_strmap_get(&m, k, &v) || v != ref[i];
    }
    bad += scfm_strmap_get(&m, "ENSG99999999999", &v);
    CHECK(!bad, "%d lookups differ from the reference", bad);
    /* probe lengths stay short for these keys: the longest run of occupied slots */
    size_t run = 0, longest = 0;
    for (size_t i = 0; i < m.cap; i++) {
        run = m.keys[i] ? run + 1 : 0;
        if (run > longest) longest = run;
    }
    CHECK(longest < 64, "longest probe run %zu of cap %zu", longest, m.cap);
    scfm_strmap_free(&m);
    free(pool);
    free(ref);
}

static void test_json_dups(void) {
    /* 200000 keys: a duplicate at the very end is found, none reported without it (the check
     * is the shared hash map, core/strmap.h: linear; the pairwise check took 19 s for 80000 keys) */
    size_t n = 200000, cap = n * 24 + 64, len = 0;
    char *b = malloc(cap);
    CHECK(b != NULL, "alloc");
    if (!b) return;
    b[len++] = '{';
    for (size_t i = 0; i < n; i++) len += (size_t)snprintf(b + len, cap - len, "%s\"key%zu\": %zu", i ? ", " : "", i, i);
    size_t open_end = len;
    len += (size_t)snprintf(b + len, cap - len, "}");
    scfm_json *j = scfm_json_parse(b, len, "k.json");
    CHECK(j && j->n == n && scfm_json_dup_key(j) == NULL, "no duplicate among %zu keys", n);
    scfm_json_free(j);
    len = open_end + (size_t)snprintf(b + open_end, cap - open_end, ", \"key31337\": 0}");
    j = scfm_json_parse(b, len, "k.json");
    const char *d = j ? scfm_json_dup_key(j) : NULL;
    CHECK(d && !strcmp(d, "key31337"), "duplicate found: %s", d ? d : "(none)");
    scfm_json_free(j);
    /* small objects and nested ones */
    const char *nested = "{\"a\": {\"x\": 1, \"y\": 2, \"x\": 3}, \"b\": 1}";
    j = scfm_json_parse(nested, strlen(nested), "n.json");
    d = j ? scfm_json_dup_key(j) : NULL;
    CHECK(d && !strcmp(d, "x"), "nested duplicate: %s", d ? d : "(none)");
    scfm_json_free(j);
    free(b);
}

static void test_text(void) {
    /* a header of 2^24 + 2^20 commas (17 KB of gzip): the line limit (16 MiB for a file this
     * small) stops it before it is split into 17 M columns */
    CHECK(open_fails(RG "text_matrix/header_commas.csv.gz", "csv", "line 1 is longer than 16777216 bytes"),
          "header of commas");
    /* a 24 MiB comment line in a 24 KB gzip mtx: the same limit, with the line named */
    char dir[600];
    snprintf(dir, sizeof dir, "%s/mtx", tmpd);
    CHECK(mkdir(dir, 0700) == 0, "mkdir");
    FILE *in = fopen(RG "text_matrix/long_comment.mtx.gz", "rb");
    char buf[1 << 16];
    FILE *out = fopen(tp("mtx/matrix.mtx.gz"), "wb");
    for (size_t k; in && out && (k = fread(buf, 1, sizeof buf, in)) > 0;) CHECK(fwrite(buf, 1, k, out) == k, "copy");
    if (in) fclose(in);
    if (out) fclose(out);
    FILE *g = fopen(tp("mtx/genes.tsv"), "w"), *c = fopen(tp("mtx/barcodes.tsv"), "w");
    for (int i = 0; g && i < 50; i++) fprintf(g, "ENSG%011d\tG%d\n", i, i);
    for (int i = 0; c && i < 30; i++) fprintf(c, "cell%d\n", i);
    if (g) fclose(g);
    if (c) fclose(c);
    CHECK(open_fails(dir, "mtx", "line 2 is longer than 16777216 bytes"), "long mtx comment");
    /* commas only in a small plain header: an empty column name, not 3 unnamed genes */
    write_file(tp("commas.csv"), ",,,\nc1,1,2,3\n", 12);
    CHECK(open_fails(tp("commas.csv"), "csv", "header column 2 is empty"), "empty header name");
    /* a header and no rows: 0 cells is an error */
    write_file(tp("header.csv"), ",g1,g2\n", 7);
    CHECK(open_fails(tp("header.csv"), "csv", "no data rows after the header (0 cells)"), "0 cells");
    scfm_reader_opts o;
    memset(&o, 0, sizeof o);
    o.path = tp("header.csv");
    o.csv_genes_in_rows = 1;
    scfm_reader *r = scfm_reader_open(&o);
    CHECK(!r && has("0 genes"), "genes in rows, 0 genes: %s", r ? "opened" : scfm_last_error());
    scfm_reader_close(r);
    /* a long line well inside the limit still reads (a 2 MiB header: 200k genes) */
    size_t ng = 200000, cap = ng * 12 + 64, len = 0;
    char *h = malloc(cap);
    for (size_t i = 0; h && i < ng; i++) len += (size_t)snprintf(h + len, cap - len, ",g%zu", i);
    if (h) {
        h[len++] = '\n';
        memcpy(h + len, "c1", 2);
        len += 2;
        for (size_t i = 0; i < ng && len + 3 < cap; i++) { memcpy(h + len, ",0", 2); len += 2; }
        h[len++] = '\n';
        gzFile z = gzopen(tp("wide.csv.gz"), "wb1");
        CHECK(z && gzwrite(z, h, (unsigned)len) == (int)len && gzclose(z) == Z_OK, "gz write");
        free(h);
        memset(&o, 0, sizeof o);
        o.path = tp("wide.csv.gz");
        r = scfm_reader_open(&o);
        CHECK(r && scfm_reader_n_genes(r) == ng && scfm_reader_n_cells(r) == 1, "wide csv: %s",
              r ? "ok" : scfm_last_error());
        scfm_reader_close(r);
    }
}

static void test_hdf5(void) {
#ifdef SCFM_HAVE_HDF5
    /* obs/_index declared as 2^31 strings in a 24 KB file: checked against the matrix's 3
     * rows before anything is allocated (was 11.5 GB and 37 s) */
    CHECK(open_fails(RG "hdf5/obs_index_2e31.h5ad", "h5ad",
                     "obs/_index has 2147483648 entries but the matrix shape says 3"),
          "2^31 obs index");
    /* malformed files on which libhdf5 1.10 itself segfaults (found by mutating the fixtures):
     * the reader process dies, scfm reports it (under ASan, ASan's SEGV handler makes the
     * reader process exit with status 1 instead of dying by the signal) */
#if defined(__SANITIZE_ADDRESS__)
#define SEGV_MSG "the HDF5 reader process failed"
#else
#define SEGV_MSG "libhdf5 crashed (signal 11"
#endif
    CHECK(open_fails(RG "hdf5/libhdf5_segv_1.h5ad", "h5ad", SEGV_MSG), "libhdf5 SEGV (h5ad)");
    CHECK(open_fails(RG "hdf5/libhdf5_segv_2.loom", "loom", SEGV_MSG), "libhdf5 SEGV (loom)");
    CHECK(open_fails(RG "hdf5/libhdf5_segv_3.loom", "loom", SEGV_MSG), "libhdf5 SEGV (loom)");
    /* and a valid file still reads through the reader process, every cell */
    scfm_reader_opts o;
    memset(&o, 0, sizeof o);
    o.path = "tests/fixtures/io/csr.h5ad";
    o.chunk_cells = 7;
    scfm_reader *r = scfm_reader_open(&o);
    scfm_cells_chunk ch;
    memset(&ch, 0, sizeof ch);
    size_t cells = 0;
    int rc = r ? SCFM_OK : -1;
    while (r && (rc = scfm_reader_next(r, &ch)) == 1) cells += ch.n_cells;
    CHECK(r && rc == 0 && cells == 30, "csr.h5ad through the reader process: %zu cells, %s", cells,
          rc ? scfm_last_error() : "ok");
    scfm_cells_chunk_free(&ch);
    scfm_reader_close(r);
#endif
}

/* A safetensors header of 200000 one-element tensors (6 MB): opens, every name is found by
 * scfm_st_find (a hash lookup), and a repeated name at the end is refused naming it. The
 * pairwise duplicate check and the linear find made this minutes. */
static void test_many_tensors(void) {
    size_t n = 200000, cap = n * 96 + 256, len = 0;
    char *h = malloc(cap + 8 + 4 * n + 64);
    CHECK(h != NULL, "alloc");
    if (!h) return;
    char *j = h + 8;
    len += (size_t)snprintf(j + len, cap - len, "{");
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(j + len, cap - len, "%s\"t%zu\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[%zu,%zu]}",
                                i ? "," : "", i, 4 * i, 4 * i + 4);
    size_t open_end = len;
    for (int pass = 0; pass < 2; pass++) {
        len = open_end;
        size_t nt = n;
        if (pass) { /* t777 again, as the last tensor */
            len += (size_t)snprintf(j + len, cap - len, ",\"t777\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[%zu,%zu]}",
                                    4 * n, 4 * n + 4);
            nt++;
        }
        j[len++] = '}';
        for (int b = 0; b < 8; b++) h[b] = (char)((uint64_t)len >> (8 * b));
        float one = 1;
        for (size_t i = 0; i < nt; i++) memcpy(j + len + 4 * i, &one, 4);
        size_t total = 8 + len + 4 * nt;
        write_file(tp("many.safetensors"), h, total);
        scfm_safetensors *st = scfm_st_open(tp("many.safetensors"));
        if (!pass) {
            size_t found = 0;
            char name[32];
            for (size_t i = 0; st && i < n; i++) {
                snprintf(name, sizeof name, "t%zu", i);
                const scfm_st_tensor *t = scfm_st_find(st, name);
                found += t && t == &st->t[i] && t->begin == 4 * i;
            }
            CHECK(st && st->n == n && found == n && !scfm_st_find(st, "t200000") && !scfm_st_find(st, ""),
                  "200000 tensors: %zu found by name (%s)", found, st ? "opened" : scfm_last_error());
        } else
            CHECK(!st && has("duplicate key 't777' in header") && has("many.safetensors") &&
                      strlen(scfm_last_error()) < 400,
                  "200001 tensors, one repeated: %s", st ? "opened" : scfm_last_error());
        scfm_st_close(st);
    }
    free(h);
}

/* Checkpoint tensors carry CRC-32s (scfm_st_write_checked); a flipped byte names the tensor. */
static void test_tensor_crc(void) {
    float a[4] = {1, 2, 3, 4}, b[6] = {5, 6, 7, 8, 9, 10}, c[2] = {11, 12};
    scfm_st_entry e[3] = {{"alpha", SCFM_DT_F32, 1, {4}, a}, {"beta", SCFM_DT_F32, 2, {2, 3}, b},
                          {"gamma", SCFM_DT_F32, 1, {2}, c}};
    const char *meta[] = {"format", "pt"};
    const char *p = tp("ck.safetensors");
    CHECK(scfm_st_write_checked(p, e, 3, meta, 1) == SCFM_OK, "write: %s", scfm_last_error());
    scfm_safetensors *st = scfm_st_open(p);
    CHECK(st && scfm_st_meta(st, SCFM_ST_CRC_KEY) && strlen(scfm_st_meta(st, SCFM_ST_CRC_KEY)) == 3 * 9 - 1 &&
              scfm_st_meta(st, "format"), "checked file opens, 3 CRCs: %s", st ? "ok" : scfm_last_error());
    size_t beta_off = st ? st->data_start + scfm_st_find(st, "beta")->begin : 0;
    scfm_st_close(st);
    char *d = NULL;
    size_t n = 0;
    CHECK(scfm_read_all(p, &d, &n) == SCFM_OK && beta_off > 0 && beta_off + 5 < n, "read back");
    if (!d || !beta_off) return;
    d[beta_off + 5] ^= 0x10; /* one bit of beta */
    write_file(tp("flip.safetensors"), d, n);
    st = scfm_st_open(tp("flip.safetensors"));
    CHECK(!st && has("tensor 'beta': CRC-32") && has("flip.safetensors"), "flipped bit: %s",
          st ? "opened" : scfm_last_error());
    scfm_st_close(st);
    d[beta_off + 5] ^= 0x10;
    /* a corrupted checksum string is an error too */
    char *k = memmem(d, n, SCFM_ST_CRC_KEY "\":\"", strlen(SCFM_ST_CRC_KEY) + 3);
    CHECK(k != NULL, "key in header");
    if (k) {
        k[strlen(SCFM_ST_CRC_KEY) + 3] = 'z';
        write_file(tp("badkey.safetensors"), d, n);
        st = scfm_st_open(tp("badkey.safetensors"));
        CHECK(!st && has("no valid checksum for tensor"), "bad checksum text: %s", st ? "opened" : scfm_last_error());
        scfm_st_close(st);
    }
    free(d);
    /* files without checksums (transformers, Geneformer) open as before */
    CHECK(scfm_st_write(tp("plain.safetensors"), e, 3, meta, 1) == SCFM_OK, "plain write");
    st = scfm_st_open(tp("plain.safetensors"));
    CHECK(st && !scfm_st_meta(st, SCFM_ST_CRC_KEY), "plain file has no CRCs and opens");
    scfm_st_close(st);
}

int main(void) {
#if !defined(__SANITIZE_ADDRESS__)
    struct rlimit rl = {(rlim_t)1 << 30, (rlim_t)1 << 30};
    CHECK(setrlimit(RLIMIT_AS, &rl) == 0, "RLIMIT_AS");
#endif
    const char *t = getenv("TMPDIR");
    snprintf(tmpd, sizeof tmpd, "%s/scfm-hostile.XXXXXX", t && *t ? t : "/tmp");
    CHECK(mkdtemp(tmpd) != NULL, "mkdtemp");
    test_pickle();
    test_strmap();
    test_json_dups();
    test_text();
    test_hdf5();
    test_tensor_crc();
    test_many_tensors();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpd);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", tmpd);
    return TEST_END();
}
