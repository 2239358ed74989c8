/* Length-grouped sampler: every cell exactly once per epoch, length-homogeneous batches,
 * seeded and reproducible, epoch plans independent of call order. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scfm/rng.h"
#include "scfm/train.h"
#include "testutil.h"

#define NC 1003

static size_t ids[NC], lens[NC];

/* Each id in ids[] seen exactly once over all batches of the current epoch; batch sizes ok. */
static void check_coverage(scfm_sampler *s, size_t batch, const char *what) {
    static unsigned seen[NC];
    memset(seen, 0, sizeof seen);
    size_t nb = scfm_sampler_n_batches(s), total = 0, bad_size = 0;
    for (size_t b = 0; b < nb; b++) {
        const size_t *c;
        size_t n;
        CHECK(scfm_sampler_batch(s, b, &c, &n) == SCFM_OK, "%s: batch %zu", what, b);
        if (n == 0 || n > batch) bad_size++;
        for (size_t i = 0; i < n; i++) {
            size_t k = c[i] - 5000; /* ids are 5000 + index */
            if (k < NC) seen[k]++;
        }
        total += n;
    }
    size_t once = 0;
    for (size_t i = 0; i < NC; i++) once += seen[i] == 1;
    CHECK(total == NC && once == NC, "%s: %zu cells handed out, %zu seen exactly once (want %d)", what,
          total, once, NC);
    CHECK(bad_size == 0, "%s: %zu batches with bad size", what, bad_size);
}

/* Padding a padded batch would need: sum over batches of (max len * n - sum len). */
static double padding_waste(scfm_sampler *s) {
    double waste = 0, tot = 0;
    for (size_t b = 0; b < scfm_sampler_n_batches(s); b++) {
        const size_t *c;
        size_t n, mx = 0;
        if (scfm_sampler_batch(s, b, &c, &n)) return -1;
        for (size_t i = 0; i < n; i++) {
            size_t l = lens[c[i] - 5000];
            mx = l > mx ? l : mx;
            tot += (double)l;
            waste -= (double)l;
        }
        waste += (double)mx * (double)n;
    }
    return waste / tot;
}

static void test_coverage_and_grouping(void) {
    scfm_sampler *s = scfm_sampler_new(ids, lens, NC, 8, 10, 42);
    CHECK(s != NULL, "sampler_new: %s", scfm_last_error());
    if (!s) return;
    /* 1003 = 12 mega-batches of 80 + 43 -> 12*10 + ceil(43/8) = 126 batches */
    CHECK(scfm_sampler_n_batches(s) == 126, "n_batches %zu", scfm_sampler_n_batches(s));
    for (uint64_t e = 0; e < 3; e++) {
        CHECK(scfm_sampler_set_epoch(s, e) == SCFM_OK, "set_epoch");
        check_coverage(s, 8, "grouped");
    }
    double grouped = padding_waste(s);
    scfm_sampler *r = scfm_sampler_new(ids, lens, NC, 8, 1, 42); /* no grouping */
    CHECK(r && scfm_sampler_set_epoch(r, 0) == SCFM_OK, "random sampler");
    check_coverage(r, 8, "ungrouped");
    double random = padding_waste(r);
    /* lengths uniform on [10, 2048]: random batches of 8 waste ~75%, sorted mega-batches of
     * 80 cut that by about ten times */
    CHECK(grouped < 0.2 * random, "length grouping: padding %.3f vs %.3f without grouping", grouped, random);
    const size_t *c;
    size_t n;
    CHECK(scfm_sampler_batch(s, 126, &c, &n) == SCFM_EINVAL, "out-of-range batch rejected");
    scfm_sampler_free(r);
    scfm_sampler_free(s);
}

/* One mega-batch holding every cell: batches are consecutive runs of the sorted order. */
static void test_sorted_partition(void) {
    scfm_sampler *s = scfm_sampler_new(ids, lens, NC, 16, 1000, 7);
    CHECK(s && scfm_sampler_set_epoch(s, 3) == SCFM_OK, "sampler");
    if (!s) return;
    size_t nb = scfm_sampler_n_batches(s), bad = 0, partial = 0;
    CHECK(nb == (NC + 15) / 16, "n_batches %zu", nb);
    /* for every pair of batches, their length ranges must not interleave */
    size_t *mn = calloc(nb, sizeof *mn), *mx = calloc(nb, sizeof *mx);
    for (size_t b = 0; b < nb && mn && mx; b++) {
        const size_t *c;
        size_t n;
        if (scfm_sampler_batch(s, b, &c, &n)) break;
        mn[b] = SIZE_MAX;
        for (size_t i = 0; i < n; i++) {
            size_t l = lens[c[i] - 5000];
            mn[b] = l < mn[b] ? l : mn[b];
            mx[b] = l > mx[b] ? l : mx[b];
        }
        partial += n != 16;
    }
    for (size_t a = 0; a < nb && mn && mx; a++)
        for (size_t b = 0; b < nb; b++)
            if (mn[a] < mn[b] && mx[a] > mn[b]) bad++; /* b's shortest inside a's range */
    CHECK(bad == 0, "%zu interleaving batch pairs", bad);
    CHECK(partial == 1, "%zu partial batches (want 1)", partial);
    free(mn);
    free(mx);
    scfm_sampler_free(s);
}

/* Same seed and epoch -> same plan whatever was computed before; other epochs/seeds differ. */
static void test_reproducible(void) {
    scfm_sampler *a = scfm_sampler_new(ids, lens, NC, 8, 10, 42);
    scfm_sampler *b = scfm_sampler_new(ids, lens, NC, 8, 10, 42);
    scfm_sampler *c = scfm_sampler_new(ids, lens, NC, 8, 10, 43);
    CHECK(a && b && c, "sampler_new");
    if (!a || !b || !c) return;
    CHECK(scfm_sampler_set_epoch(a, 2) == 0 && scfm_sampler_set_epoch(b, 0) == 0 &&
          scfm_sampler_set_epoch(b, 5) == 0 && scfm_sampler_set_epoch(b, 2) == 0 &&
          scfm_sampler_set_epoch(c, 2) == 0, "set_epoch");
    CHECK(scfm_sampler_epoch(b) == 2, "epoch getter");
    size_t same_b = 0, same_c = 0, nb = scfm_sampler_n_batches(a);
    for (size_t k = 0; k < nb; k++) {
        const size_t *x, *y, *z;
        size_t nx, ny, nz;
        if (scfm_sampler_batch(a, k, &x, &nx) || scfm_sampler_batch(b, k, &y, &ny) ||
            scfm_sampler_batch(c, k, &z, &nz)) break;
        same_b += nx == ny && memcmp(x, y, nx * sizeof *x) == 0;
        same_c += nx == nz && memcmp(x, z, nx * sizeof *x) == 0;
    }
    CHECK(same_b == nb, "same seed/epoch: %zu of %zu batches equal", same_b, nb);
    CHECK(same_c < nb / 10, "other seed: %zu of %zu batches equal", same_c, nb);
    const size_t *x0, *x1;
    size_t n0, n1;
    CHECK(scfm_sampler_set_epoch(a, 0) == 0 && scfm_sampler_batch(a, 0, &x0, &n0) == 0, "epoch 0");
    size_t first0[8] = {0};
    memcpy(first0, x0, n0 * sizeof *x0);
    CHECK(scfm_sampler_set_epoch(a, 1) == 0 && scfm_sampler_batch(a, 0, &x1, &n1) == 0, "epoch 1");
    CHECK(n0 != n1 || memcmp(first0, x1, n0 * sizeof *x1) != 0, "epochs 0 and 1 start alike");
    scfm_sampler_free(a);
    scfm_sampler_free(b);
    scfm_sampler_free(c);
}

static void test_errors(void) {
    CHECK(scfm_sampler_new(ids, lens, 0, 8, 10, 1) == NULL, "n = 0 accepted");
    CHECK(strstr(scfm_last_error(), "sampler") != NULL, "message: %s", scfm_last_error());
    CHECK(scfm_sampler_new(ids, lens, NC, 0, 10, 1) == NULL, "batch = 0 accepted");
    CHECK(scfm_sampler_new(ids, lens, NC, 8, 0, 1) == NULL, "mega_mult = 0 accepted");
    scfm_sampler *s = scfm_sampler_new(ids, lens, 1, 8, 10, 1); /* one cell */
    const size_t *c;
    size_t n;
    CHECK(s && scfm_sampler_n_batches(s) == 1, "one cell, one batch");
    CHECK(s && scfm_sampler_batch(s, 0, &c, &n) == SCFM_EINVAL, "batch before set_epoch rejected");
    CHECK(s && scfm_sampler_set_epoch(s, 0) == 0 && scfm_sampler_batch(s, 0, &c, &n) == 0 && n == 1 &&
              c[0] == 5000, "one cell batch");
    scfm_sampler_free(s);
}

int main(void) {
    scfm_rng r;
    scfm_rng_seed(&r, 1);
    for (size_t i = 0; i < NC; i++) {
        ids[i] = 5000 + i;
        lens[i] = 10 + (size_t)scfm_rng_below(&r, 2039);
    }
    test_coverage_and_grouping();
    test_sorted_partition();
    test_reproducible();
    test_errors();
    return TEST_END();
}
