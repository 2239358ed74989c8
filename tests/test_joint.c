/* Joint (GeneCompass) data side: gene species, the homolog map loader (homologous_index and its
 * errors), per-cell species in corpora (written, merged, read back; older corpora without
 * species.u8; a corrupt species.u8), joint corpora without their homolog map, and the species
 * checks done before any compute. Inputs are small files written here; the same pieces on real
 * data are checked by tests/cli/genecompass_data.sh against numpy. */
#include "scfm/corpus.h"
#include "scfm/genes.h"
#include "testutil.h"

#include <sys/stat.h>
#include <unistd.h>

static char root[256];

static const char *tp(const char *name) {
    static char buf[8][512];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", root, name);
    return buf[k];
}

static int write_text(const char *path, const char *s) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t n = strlen(s), w = fwrite(s, 1, n, f);
    fclose(f);
    return w == n ? 0 : -1;
}

static void rm_rf(const char *dir) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", dir);
}

/* Joint vocabulary: <pad> <mask>, 3 human genes (2..4), 3 mouse genes (5..7). */
static const char *VOCAB = "<pad>\t0\n<mask>\t1\nENSG00000000003\t2\nENSG00000000005\t3\nENSG00000000419\t4\n"
                           "ENSMUSG00000000001\t5\nENSMUSG00000000028\t6\nENSMUSG00000000031\t7\n";
static const char *HEAD = "human_token\tmouse_token\thuman_id\tmouse_id\n";

static void test_species(void) {
    CHECK(scfm_gene_species("ENSG00000141510") == 0, "human ID");
    CHECK(scfm_gene_species("ENSGR0000002586") == 0, "V1 PAR-on-Y ID is human");
    CHECK(scfm_gene_species("ENSMUSG00000000001") == 1, "mouse ID");
    CHECK(scfm_gene_species("ENSDARG00000000001") == -1, "zebrafish is neither");
    CHECK(scfm_gene_species("TP53") == -1 && scfm_gene_species("<pad>") == -1, "symbols and specials are neither");
}

/* Loads homologs text against v; returns the status and (on success) checks the index. */
static int load_text(const scfm_vocab *v, const char *body, int64_t **idx) {
    char text[2048];
    snprintf(text, sizeof text, "%s%s", HEAD, body);
    if (write_text(tp("h.tsv"), text)) return -100;
    return scfm_homologs_load(tp("h.tsv"), v, idx);
}

static void expect_error(const scfm_vocab *v, const char *body, int code, const char *needle, const char *what) {
    int64_t *idx = NULL;
    int rc = load_text(v, body, &idx);
    CHECK(rc == code, "%s: status %d, expected %d (%s)", what, rc, code, scfm_last_error());
    CHECK(strstr(scfm_last_error(), needle) && strstr(scfm_last_error(), "h.tsv"), "%s: message '%s' lacks '%s' or the file",
          what, scfm_last_error(), needle);
    CHECK(idx == NULL, "%s: no index on error", what);
    free(idx);
}

static void test_homologs(const scfm_vocab *v) {
    int64_t *idx = NULL;
    int rc = load_text(v, "2\t6\tENSG00000000003\tENSMUSG00000000028\n4\t5\tENSG00000000419\tENSMUSG00000000001\n", &idx);
    CHECK(rc == SCFM_OK, "good homolog map loads: %s", scfm_last_error());
    if (idx) {
        const int64_t want[8] = {0, 1, 6, 3, 5, 5, 6, 7}; /* identity except index[human] = mouse */
        int same = 1;
        for (int i = 0; i < 8; i++) same &= idx[i] == want[i];
        CHECK(same, "homologous_index is identity except at the human tokens");
    }
    free(idx);
    idx = NULL;
    CHECK(load_text(v, "", &idx) == SCFM_OK && idx && idx[3] == 3 && idx[7] == 7, "empty map: identity");
    free(idx);
    if (write_text(tp("h.tsv"), "a\tb\n2\t6\tENSG00000000003\tENSMUSG00000000028\n") == 0) {
        idx = NULL;
        CHECK(scfm_homologs_load(tp("h.tsv"), v, &idx) == SCFM_EFORMAT && strstr(scfm_last_error(), "header"), "bad header");
        free(idx);
    }
    CHECK(scfm_homologs_load(tp("missing.tsv"), v, &idx) == SCFM_EIO, "missing file");
    expect_error(v, "2\t6\tENSG00000000003\n", SCFM_EFORMAT, "line 2: 3 fields", "three fields");
    expect_error(v, "x\t6\tENSG00000000003\tENSMUSG00000000028\n", SCFM_EFORMAT, "not a non-negative integer", "non-integer");
    expect_error(v, "2\t60\tENSG00000000003\tENSMUSG00000000028\n", SCFM_EMISMATCH, "outside the vocabulary", "out of vocab");
    expect_error(v, "3\t6\tENSG00000000003\tENSMUSG00000000028\n", SCFM_EMISMATCH, "is 'ENSG00000000005'", "token names another gene");
    expect_error(v, "5\t6\tENSMUSG00000000001\tENSMUSG00000000028\n", SCFM_EMISMATCH, "not a human gene", "mouse gene as human");
    expect_error(v, "2\t6\tENSG00000000003\tENSMUSG00000000028\n4\t6\tENSG00000000419\tENSMUSG00000000028\n",
                 SCFM_EFORMAT, "line 3: duplicate pair", "mouse token twice");
    expect_error(v, "2\t6\tENSG00000000003\tENSMUSG00000000028\n2\t6\tENSG00000000003\tENSMUSG00000000028\n",
                 SCFM_EFORMAT, "duplicate pair", "the same pair twice");
}

typedef struct { int32_t tok[3]; size_t len; int species; const char *id, *label; } cell;

static int write_corpus(const char *dir, const scfm_vocab *v, const char *species, const char *homologs, const cell *cells,
                        size_t n, int values) {
    const char *obs[1] = {"label"};
    scfm_corpus_writer_opts o = {dir, 1, v, "v1", 8, values, species, "test", obs, 1, 2, homologs};
    scfm_corpus_writer *w = scfm_corpus_writer_open(&o);
    if (!w) return -1;
    const float val[3] = {1.0f, 0.5f, 0.25f};
    for (size_t i = 0; i < n; i++) {
        const char *row[1] = {cells[i].label};
        if ((cells[i].species != -2 && scfm_corpus_writer_set_species(w, cells[i].species)) ||
            scfm_corpus_writer_add(w, cells[i].tok, values ? val : NULL, cells[i].len, cells[i].id, row)) {
            scfm_corpus_writer_abort(w);
            return -1;
        }
    }
    return scfm_corpus_writer_finish(w);
}

static void test_corpora(const scfm_vocab *v, const scfm_vocab *human_only) {
    const char *hm = tp("h.tsv");
    if (write_text(hm, "human_token\tmouse_token\thuman_id\tmouse_id\n2\t6\tENSG00000000003\tENSMUSG00000000028\n")) return;
    const cell hc[2] = {{{2, 3, 4}, 3, -2, "h1", "T"}, {{4, 2, 0}, 2, -2, "h2", "B"}};
    const cell mc[3] = {{{2, 5, 7}, 3, -2, "m1", "beta"}, {{7, 0, 0}, 1, -2, "m2", "ductal"}, {{5, 2, 0}, 2, -2, "m3", "beta"}};
    CHECK(write_corpus(tp("ch"), v, "human", hm, hc, 2, 1) == SCFM_OK, "human joint corpus: %s", scfm_last_error());
    CHECK(write_corpus(tp("cm"), v, "mouse", hm, mc, 3, 1) == SCFM_OK, "mouse joint corpus: %s", scfm_last_error());
    const char *dirs[2] = {tp("cm"), tp("ch")};
    CHECK(scfm_corpus_merge(dirs, 2, tp("cmh"), 0, "merge") == SCFM_OK, "merge: %s", scfm_last_error());
    scfm_corpus *c = scfm_corpus_open(tp("cmh"));
    CHECK(c != NULL, "merged corpus opens: %s", scfm_last_error());
    if (c) {
        const int want[5] = {1, 1, 1, 0, 0};
        int same = scfm_corpus_n_cells(c) == 5;
        for (size_t i = 0; same && i < 5; i++) same = scfm_corpus_cell_species(c, i) == want[i];
        CHECK(same, "per-cell species kept in merge order");
        CHECK(scfm_corpus_cell_species(c, 5) == -1, "out of range: -1");
        CHECK(!strcmp(scfm_corpus_species(c), "mixed"), "corpus species 'mixed', got '%s'", scfm_corpus_species(c));
        CHECK(scfm_corpus_n_species_cells(c, 0) == 2 && scfm_corpus_n_species_cells(c, 1) == 3, "species counts");
        CHECK(scfm_corpus_is_joint(c) && scfm_corpus_homologs_path(c) != NULL, "merged corpus is joint");
        const int32_t *t;
        size_t len;
        const float *val;
        CHECK(scfm_corpus_cell(c, 3, &t, &len, &val) == SCFM_OK && len == 3 && t[0] == 2 && t[2] == 4 && val &&
              val[1] == 0.5f, "cell 3 is the first human cell with its values");
        CHECK(!strcmp(scfm_corpus_cell_id(c, 1), "m2") && !strcmp(scfm_corpus_obs(c, 1, 0), "ductal"), "ids and obs kept");
        int64_t *idx = NULL;
        CHECK(scfm_corpus_load_homologs(c, v, &idx) == SCFM_OK && idx && idx[2] == 6 && idx[3] == 3, "homologs from the corpus");
        free(idx);
        CHECK(scfm_corpus_check_species(c, v) == SCFM_OK, "joint vocabulary takes both species");
        CHECK(scfm_corpus_check_species(c, human_only) == SCFM_EMISMATCH && strstr(scfm_last_error(), "3 mouse cells"),
              "mouse cells for a human-only vocabulary: %s", scfm_last_error());
        scfm_corpus_close(c);
    }
    /* a joint corpus whose homolog map is gone does not open */
    unlink(tp("cmh/homologs.tsv"));
    c = scfm_corpus_open(tp("cmh"));
    CHECK(c == NULL && strstr(scfm_last_error(), "without its homolog map"), "joint corpus without homologs.tsv: %s",
          scfm_last_error());
    scfm_corpus_close(c);
    /* a tampered one neither */
    if (write_text(tp("cm/homologs.tsv"), "human_token\tmouse_token\thuman_id\tmouse_id\n") == 0) {
        c = scfm_corpus_open(tp("cm"));
        CHECK(c == NULL && strstr(scfm_last_error(), "differs"), "changed homologs.tsv: %s", scfm_last_error());
        scfm_corpus_close(c);
    }
    /* merging corpora of different vocabularies, or values with none, is refused */
    const cell one[1] = {{{2, 3, 0}, 2, -2, "x", "T"}};
    CHECK(write_corpus(tp("c_nov"), v, "human", NULL, one, 1, 0) == SCFM_OK, "corpus without values");
    CHECK(write_corpus(tp("c_ho"), human_only, "human", NULL, one, 1, 0) == SCFM_OK, "corpus of another vocabulary");
    const char *d2[2] = {tp("ch"), tp("c_nov")};
    CHECK(scfm_corpus_merge(d2, 2, tp("bad1"), 0, "m") == SCFM_EMISMATCH && strstr(scfm_last_error(), "values"),
          "values vs none: %s", scfm_last_error());
    const char *d3[2] = {tp("c_nov"), tp("c_ho")};
    CHECK(scfm_corpus_merge(d3, 2, tp("bad2"), 0, "m") == SCFM_EMISMATCH && strstr(scfm_last_error(), "vocabulary"),
          "different vocabularies: %s", scfm_last_error());
    struct stat st;
    CHECK(stat(tp("bad1"), &st) != 0 && stat(tp("bad2"), &st) != 0, "failed merges leave nothing");
    /* non-joint corpus: no homolog map to load */
    c = scfm_corpus_open(tp("c_nov"));
    if (c) {
        int64_t *idx = NULL;
        CHECK(scfm_corpus_load_homologs(c, v, &idx) == SCFM_EINVAL && strstr(scfm_last_error(), "no homolog map"),
              "homologs of a non-joint corpus: %s", scfm_last_error());
        scfm_corpus_close(c);
    }
}

/* A corpus written before per-cell species: corpus.json without cell_species, no species.u8. */
static void test_old_corpus(const scfm_vocab *v) {
    const cell one[2] = {{{2, 3, 0}, 2, -2, "x", "T"}, {{4, 0, 0}, 1, -2, "y", "B"}};
    if (write_corpus(tp("old"), v, "mouse", NULL, one, 2, 0)) { CHECK(0, "write old corpus"); return; }
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "sed -i '/\"cell_species\"/d' '%s' && rm '%s'", tp("old/corpus.json"), tp("old/species.u8"));
    CHECK(system(cmd) == 0, "strip cell_species");
    scfm_corpus *c = scfm_corpus_open(tp("old"));
    CHECK(c != NULL, "old corpus opens: %s", scfm_last_error());
    if (c) {
        CHECK(scfm_corpus_cell_species(c, 0) == 1 && scfm_corpus_cell_species(c, 1) == 1, "cells take the corpus species");
        CHECK(!scfm_corpus_is_joint(c) && scfm_corpus_homologs_path(c) == NULL, "not joint");
        scfm_corpus_close(c);
    }
    /* corrupt species.u8 */
    if (write_corpus(tp("bad_sp"), v, "human", NULL, one, 2, 0) == SCFM_OK && write_text(tp("bad_sp/species.u8"), "\001\000") == 0) {
        c = scfm_corpus_open(tp("bad_sp"));
        CHECK(c == NULL && strstr(scfm_last_error(), "species.u8"), "corrupt species.u8: %s", scfm_last_error());
        scfm_corpus_close(c);
    }
}

int main(void) {
    snprintf(root, sizeof root, "/tmp/scfm_test_joint.%ld", (long)getpid());
    rm_rf(root);
    mkdir(root, 0777);
    test_species();
    scfm_vocab *v = NULL, *h = NULL;
    if (write_text(tp("vocab.tsv"), VOCAB) == 0) v = scfm_vocab_load(tp("vocab.tsv"));
    if (write_text(tp("human.tsv"), "<pad>\t0\n<mask>\t1\nENSG00000000003\t2\nENSG00000000005\t3\n") == 0)
        h = scfm_vocab_load(tp("human.tsv"));
    CHECK(v && h, "vocabularies load");
    if (v && h) {
        CHECK(scfm_vocab_species_mask(v) == 3u && scfm_vocab_species_mask(h) == 1u, "vocabulary species masks");
        test_homologs(v);
        test_corpora(v, h);
        test_old_corpus(v);
    }
    scfm_vocab_free(v);
    scfm_vocab_free(h);
    rm_rf(root);
    return TEST_END();
}
