/* Prior tables: co-expression pairs against numpy (fixture from scripts/make_priors_fixtures.py
 * on real PBMCs), gene2vec on planted pairs (margin, nearest-neighbour overlap with a numpy
 * reference, seeding), family and GRN pairs from small tables, and bad inputs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scfm/priors.h"
#include "testutil.h"

#define FIX "tests/fixtures/priors/"

static char tmpdir[] = "/tmp/scfm_test_priors_XXXXXX";

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static long find_pair(const scfm_pairs *p, const char *x, const char *y) {
    long a = scfm_pairs_find(p, x), b = scfm_pairs_find(p, y);
    if (a < 0 || b < 0) return -1;
    uint32_t lo = (uint32_t)(a < b ? a : b), hi = (uint32_t)(a < b ? b : a);
    for (size_t i = 0; i < p->n; i++)
        if (p->a[i] == lo && p->b[i] == hi) return (long)i;
    return -1;
}

static void test_coexpression(void) {
    const char *in[] = {FIX "coexp"};
    scfm_coexp_opts o;
    scfm_coexp_opts_init(&o);
    o.threshold = 0.3;
    o.min_cells = 10;
    scfm_pairs p;
    memset(&p, 0, sizeof p);
    scfm_prior_report rep;
    int rc = scfm_priors_coexpression(in, 1, NULL, &o, &p, &rep);
    CHECK(rc == SCFM_OK, "coexpression: %s", scfm_last_error());
    CHECK(rep.n_records == 400, "cells used %zu", rep.n_records);
    FILE *f = fopen(FIX "coexp_expected.tsv", "r");
    CHECK(f != NULL, "expected pairs");
    char a[64], b[64];
    double r;
    int n;
    size_t want = 0, found = 0;
    double worst = 0;
    while (f && fscanf(f, "%63s %63s %lf %d", a, b, &r, &n) == 4) {
        want++;
        long k = find_pair(&p, a, b);
        if (k < 0) continue;
        found++;
        double d = fabs(p.w[k] - r);
        if (d > worst) worst = d;
    }
    if (f) fclose(f);
    CHECK(want > 1000, "expected pairs %zu", want);
    CHECK(found == want && p.n == want, "pairs: numpy %zu, scfm %zu, common %zu", want, p.n, found);
    CHECK(worst < 1e-9, "largest |r - numpy r| %g", worst);
    scfm_pairs_free(&p);
    /* a sample of 100 cells, the same twice */
    o.max_cells = 100;
    scfm_pairs q1, q2;
    memset(&q1, 0, sizeof q1);
    memset(&q2, 0, sizeof q2);
    rc = scfm_priors_coexpression(in, 1, NULL, &o, &q1, &rep);
    CHECK(rc == SCFM_OK && rep.n_records == 100, "sampled cells %zu", rep.n_records);
    rc = scfm_priors_coexpression(in, 1, NULL, &o, &q2, &rep);
    CHECK(rc == SCFM_OK && q1.n == q2.n && q1.n > 0, "sample repeatable %zu %zu", q1.n, q2.n);
    int same = q1.n == q2.n;
    for (size_t i = 0; same && i < q1.n; i++) same = q1.w[i] == q2.w[i];
    CHECK(same, "same sample, same pairs");
    scfm_pairs_free(&q1);
    scfm_pairs_free(&q2);
    /* bad options */
    o.min_cells = 2;
    rc = scfm_priors_coexpression(in, 1, NULL, &o, &q1, &rep);
    CHECK(rc == SCFM_EINVAL && strstr(scfm_last_error(), "min cells"), "min cells 2: %s", scfm_last_error());
    o.min_cells = 100000;
    rc = scfm_priors_coexpression(in, 1, NULL, &o, &q1, &rep);
    CHECK(rc == SCFM_EINVAL && strstr(scfm_last_error(), "no pairs"), "min cells too high: %s", scfm_last_error());
    scfm_pairs_free(&q1);
}

static double cosf_(const float *x, const float *y, size_t n) {
    double xy = 0, xx = 0, yy = 0;
    for (size_t i = 0; i < n; i++) {
        xy += (double)x[i] * y[i];
        xx += (double)x[i] * x[i];
        yy += (double)y[i] * y[i];
    }
    return xy / sqrt(xx * yy);
}

static void test_gene2vec(void) {
    scfm_pairs p;
    memset(&p, 0, sizeof p);
    FILE *f = fopen(FIX "g2v_pairs.tsv", "r");
    char a[64], b[64];
    while (f && fscanf(f, "%63s %63s", a, b) == 2) {
        long ia = scfm_pairs_gene(&p, a), ib = scfm_pairs_gene(&p, b);
        CHECK(scfm_pairs_add(&p, (uint32_t)ia, (uint32_t)ib, 0) == SCFM_OK, "add");
    }
    if (f) fclose(f);
    scfm_pairs_finish(&p);
    CHECK(p.n == 224 && p.n_genes == 64, "planted pairs %zu genes %zu", p.n, p.n_genes);
    scfm_gene2vec_opts o;
    scfm_gene2vec_opts_init(&o);
    o.dim = 32;
    o.epochs = 300;
    o.seed = 1;
    size_t G = p.n_genes, D = o.dim;
    float *v = malloc(G * D * sizeof *v), *v2 = malloc(G * D * sizeof *v2);
    double loss[300];
    int rc = scfm_gene2vec_train(&p, &o, v, loss);
    CHECK(rc == SCFM_OK, "train: %s", scfm_last_error());
    CHECK(loss[299] < loss[0] - 1.0, "loss %g -> %g", loss[0], loss[299]);
    /* group = gene number / 8 (names G00..G63) */
    int grp[64];
    for (size_t i = 0; i < G; i++) grp[i] = atoi(p.genes[i] + 1) / 8;
    double s_in = 0, s_out = 0;
    size_t n_in = 0, n_out = 0;
    for (size_t i = 0; i < G; i++)
        for (size_t j = 0; j < G; j++) {
            if (i == j) continue;
            double c = cosf_(v + i * D, v + j * D, D);
            if (grp[i] == grp[j]) s_in += c, n_in++;
            else s_out += c, n_out++;
        }
    double margin = s_in / (double)n_in - s_out / (double)n_out;
    CHECK(margin > 0.3, "planted minus random pairs' mean cosine %.3f (want > 0.3)", margin);
    /* 5 nearest neighbours against the numpy reference */
    f = fopen(FIX "g2v_ref_knn.tsv", "r");
    char g[64], nb[5][64];
    size_t overlap = 0, in_group = 0, rows = 0;
    while (f && fscanf(f, "%63s %63s %63s %63s %63s %63s", g, nb[0], nb[1], nb[2], nb[3], nb[4]) == 6) {
        long i = scfm_pairs_find(&p, g);
        if (i < 0) continue;
        rows++;
        int used[64] = {0};
        used[i] = 1;
        for (int k = 0; k < 5; k++) {
            long best = -1;
            double bc = -2;
            for (size_t j = 0; j < G; j++) {
                if (used[j]) continue;
                double c = cosf_(v + (size_t)i * D, v + j * D, D);
                if (c > bc) bc = c, best = (long)j;
            }
            used[best] = 1;
            in_group += grp[best] == grp[i];
        }
        for (int k = 0; k < 5; k++) {
            long j = scfm_pairs_find(&p, nb[k]);
            if (j >= 0 && used[j]) overlap++;
        }
    }
    if (f) fclose(f);
    CHECK(rows == 64, "reference rows %zu", rows);
    double ov = (double)overlap / (5.0 * (double)rows), ig = (double)in_group / (5.0 * (double)rows);
    /* two draws of 5 of the 7 group-mates share 5/7 = 0.71 on average */
    CHECK(ov >= 0.6, "5-NN overlap with the numpy reference %.3f (want >= 0.6)", ov);
    CHECK(ig >= 0.95, "5-NN within the planted group %.3f (want >= 0.95)", ig);
    /* seeded: the same seed, the same vectors; another seed, others */
    rc = scfm_gene2vec_train(&p, &o, v2, NULL);
    CHECK(rc == SCFM_OK && !memcmp(v, v2, G * D * sizeof *v), "same seed, same vectors");
    o.seed = 2;
    o.epochs = 2;
    rc = scfm_gene2vec_train(&p, &o, v2, NULL);
    CHECK(rc == SCFM_OK && memcmp(v, v2, G * D * sizeof *v), "another seed, other vectors");
    /* bad inputs */
    o.dim = 0;
    rc = scfm_gene2vec_train(&p, &o, v2, NULL);
    CHECK(rc == SCFM_EINVAL && strstr(scfm_last_error(), "width is 0"), "dim 0: %s", scfm_last_error());
    o.dim = 32;
    scfm_pairs e;
    memset(&e, 0, sizeof e);
    rc = scfm_gene2vec_train(&e, &o, v2, NULL);
    CHECK(rc == SCFM_EINVAL && strstr(scfm_last_error(), "empty"), "empty pairs: %s", scfm_last_error());
    /* table round trip */
    char path[256];
    snprintf(path, sizeof path, "%s/t.tsv", tmpdir);
    rc = scfm_prior_table_write(path, (const char *const *)p.genes, G, v, D);
    CHECK(rc == SCFM_OK, "write: %s", scfm_last_error());
    char **genes = NULL;
    float *back = NULL;
    size_t n = 0, dim = 0;
    rc = scfm_prior_table_read(path, &genes, &n, &back, &dim);
    CHECK(rc == SCFM_OK && n == G && dim == D, "read back %zu x %zu", n, dim);
    int eq = rc == SCFM_OK && n == G && dim == D;
    for (size_t i = 0; eq && i < G; i++) eq = !strcmp(genes[i], p.genes[i]);
    for (size_t i = 0; eq && i < G * D; i++) eq = back[i] == v[i];
    CHECK(eq, "table round trip exact");
    for (size_t i = 0; i < n; i++) free(genes[i]);
    free(genes);
    free(back);
    free(v);
    free(v2);
    scfm_pairs_free(&p);
}

static void test_tables(void) {
    char fam[256], grn[256], names[256], bad[256];
    snprintf(fam, sizeof fam, "%s/fam.tsv", tmpdir);
    snprintf(grn, sizeof grn, "%s/grn.tsv", tmpdir);
    snprintf(names, sizeof names, "%s/names.tsv", tmpdir);
    snprintf(bad, sizeof bad, "%s/bad.tsv", tmpdir);
    write_text(names, "A1\tENSG00000000001\nA2\tENSG00000000002\nA3\tENSG00000000003\nB1\tENSG00000000011\n"
                      "B2\tENSG00000000012\nTF1\tENSG00000000100\n");
    /* groups: g1 = {A1, A2, A3} (A2 twice), g2 = {B1, B2, A1}; NOPE has no ID; g3 = {A3} alone */
    write_text(fam, "HGNC ID\tApproved symbol\tGroup ID\n1\tA1\tg1|g2\n2\tA2\tg1\n2\tA2\tg1\n3\tA3\tg1\n"
                    "4\tB1\tg2\n5\tB2\tg2\n6\tNOPE\tg2\n7\tA3\tg3\n8\tB2\t\n");
    scfm_gene_map *m = scfm_gene_map_new();
    CHECK(scfm_gene_map_add_file(m, names) == SCFM_OK, "names: %s", scfm_last_error());
    scfm_prior_genes g = {m, NULL};
    scfm_table_opts o;
    scfm_table_opts_init(&o);
    scfm_pairs p;
    memset(&p, 0, sizeof p);
    scfm_prior_report rep;
    int rc = scfm_priors_family(fam, &g, &o, &p, &rep);
    CHECK(rc == SCFM_OK, "family: %s", scfm_last_error());
    /* g1: 3 pairs; g2 {A1,B1,B2}: 3 pairs */
    CHECK(p.n == 6 && rep.n_unmapped == 1 && rep.n_skipped == 1, "family pairs %zu unmapped %zu skipped %zu", p.n,
          rep.n_unmapped, rep.n_skipped);
    CHECK(find_pair(&p, "ENSG00000000001", "ENSG00000000012") >= 0, "A1-B2 within g2");
    CHECK(find_pair(&p, "ENSG00000000002", "ENSG00000000011") < 0, "no A2-B1");
    scfm_pairs_free(&p);
    o.max_group = 2;
    rc = scfm_priors_family(fam, &g, &o, &p, &rep);
    CHECK(rc == SCFM_OK && p.n == 0, "groups of 3 skipped: %zu pairs", p.n);
    scfm_pairs_free(&p);
    o.max_group = 0;
    o.group_cols = "nonexistent";
    rc = scfm_priors_family(fam, &g, &o, &p, &rep);
    CHECK(rc == SCFM_ENOTFOUND && strstr(scfm_last_error(), "'Group ID'"), "missing column: %s", scfm_last_error());
    scfm_pairs_free(&p);
    /* grn: DoRothEA-like; confidence cut */
    write_text(grn, "tf\tconfidence\ttarget\tmor\nTF1\tA\tA1\t1\nTF1\tB\tA2\t1\nTF1\tD\tA3\t1\nTF1\tA\tZZZ\t1\n"
                    "A1\tC\tTF1\t-1\n");
    scfm_table_opts_init(&o);
    rc = scfm_priors_grn(grn, &g, &o, &p, &rep);
    CHECK(rc == SCFM_OK && p.n == 3 && rep.n_unmapped == 1, "grn all: %zu pairs, %zu unmapped", p.n, rep.n_unmapped);
    scfm_pairs_free(&p);
    o.conf_keep = "A,B";
    rc = scfm_priors_grn(grn, &g, &o, &p, &rep);
    CHECK(rc == SCFM_OK && p.n == 2 && rep.n_skipped == 2, "grn A,B: %zu pairs, %zu skipped", p.n, rep.n_skipped);
    scfm_pairs_free(&p);
    /* unknown genes only: no pairs (the tool reports it; the trainer refuses) */
    write_text(bad, "tf\ttarget\nFOO\tBAR\nBAZ\tQUX\n");
    scfm_table_opts_init(&o);
    rc = scfm_priors_grn(bad, &g, &o, &p, &rep);
    CHECK(rc == SCFM_OK && p.n == 0 && rep.n_unmapped == 4, "unknown genes: %zu pairs %zu unmapped", p.n, rep.n_unmapped);
    scfm_gene2vec_opts go;
    scfm_gene2vec_opts_init(&go);
    float dummy[4];
    rc = scfm_gene2vec_train(&p, &go, dummy, NULL);
    CHECK(rc == SCFM_EINVAL, "trainer on no pairs");
    scfm_pairs_free(&p);
    char h1[17], h2[17];
    CHECK(scfm_file_content_hash(grn, h1) == SCFM_OK && scfm_file_content_hash(bad, h2) == SCFM_OK && strcmp(h1, h2) &&
              strlen(h1) == 16,
          "content hashes differ");
    scfm_gene_map_free(m);
}

int main(void) {
    if (!mkdtemp(tmpdir)) return 1;
    test_coexpression();
    test_gene2vec();
    test_tables();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd)) return 1;
    return TEST_END();
}
