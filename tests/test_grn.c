/* GRN metrics against sklearn / numpy (fixture from scripts/make_grn_fixtures.py): average
 * precision with and without tied scores, precision at k; the degenerate cases. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scfm/grn.h"
#include "testutil.h"

int main(void) {
    FILE *f = fopen("tests/fixtures/grn/metrics.txt", "r");
    CHECK(f != NULL, "fixture");
    if (!f) return TEST_END();
    char word[16];
    size_t n = 0, k = 0, cases = 0;
    double *s = NULL;
    uint8_t *l = NULL;
    while (fscanf(f, "%15s", word) == 1) {
        if (!strcmp(word, "case")) {
            if (fscanf(f, "%zu %zu", &n, &k) != 2) break;
            free(s);
            free(l);
            s = malloc(n * sizeof *s);
            l = malloc(n);
        } else if (!strcmp(word, "s")) {
            for (size_t i = 0; i < n; i++)
                if (fscanf(f, "%lf", &s[i]) != 1) break;
        } else if (!strcmp(word, "l")) {
            for (size_t i = 0; i < n; i++) {
                int v = 0;
                if (fscanf(f, "%d", &v) != 1) break;
                l[i] = (uint8_t)v;
            }
        } else if (!strcmp(word, "ap")) {
            double want;
            if (fscanf(f, "%lf", &want) != 1) break;
            CHECK_CLOSE(scfm_average_precision(s, l, n), want, 1e-12, 1e-12, "case %zu: average precision", cases);
        } else if (!strcmp(word, "pk")) {
            double want;
            if (fscanf(f, "%lf", &want) != 1) break;
            CHECK_CLOSE(scfm_precision_at_k(s, l, n, k), want, 1e-12, 1e-12, "case %zu: precision at k", cases);
            cases++;
        }
    }
    fclose(f);
    CHECK(cases == 12, "cases read %zu", cases);
    /* no positives: NaN (sklearn warns and has no defined value); k = 0 or k > n: NaN */
    double sc[3] = {0.3, 0.2, 0.1};
    uint8_t none[3] = {0, 0, 0}, all[3] = {1, 1, 1};
    CHECK(isnan(scfm_average_precision(sc, none, 3)), "AP without positives");
    CHECK(scfm_average_precision(sc, all, 3) == 1.0, "AP all positive");
    CHECK(isnan(scfm_precision_at_k(sc, all, 3, 0)) && isnan(scfm_precision_at_k(sc, all, 3, 4)), "k 0 / k > n");
    free(s);
    free(l);
    return TEST_END();
}
