/* Masking: 15% of eligible tokens (binomial tolerance), 80/10/10 split, specials never
 * selected nor drawn, at least one target per sequence, seeded, values, packed batches. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scfm/rng.h"
#include "scfm/train.h"
#include "testutil.h"

#define V 1000
#define NSPEC 4
static uint8_t special[V];

/* |x - n p| within 4.5 binomial standard deviations */
static int within_binomial(double x, double n, double p) {
    return fabs(x - n * p) <= 4.5 * sqrt(n * p * (1 - p)) + 1e-9;
}

static void make_seq(scfm_rng *r, int32_t *t, size_t len) {
    for (size_t i = 0; i < len; i++)
        t[i] = (i == 0 || scfm_rng_below(r, 20) == 0) ? (int32_t)scfm_rng_below(r, NSPEC)
                                                      : (int32_t)(NSPEC + scfm_rng_below(r, V - NSPEC));
}

static void test_statistics(const scfm_mask_params *p) {
    enum { NS = 3000, L = 120 };
    int32_t tok[L], out[L], lab[L];
    size_t pos[L];
    double elig = 0, sel = 0, n_mask = 0, n_rand = 0, n_keep = 0, rand_sum = 0;
    size_t spec_sel = 0, spec_drawn = 0, bad_label = 0, changed_unsel = 0, unsorted = 0;
    scfm_rng r;
    scfm_rng_seed(&r, 99);
    for (size_t s = 0; s < NS; s++) {
        make_seq(&r, tok, L);
        size_t n;
        CHECK(scfm_mask_sequence(p, tok, L, 7, s, out, pos, lab, NULL, NULL, NULL, &n) == SCFM_OK, "mask");
        for (size_t i = 0; i < L; i++) elig += !special[tok[i]];
        sel += (double)n;
        uint8_t is_sel[L] = {0};
        for (size_t k = 0; k < n; k++) {
            is_sel[pos[k]] = 1;
            unsorted += k > 0 && pos[k] <= pos[k - 1];
            spec_sel += special[tok[pos[k]]];
            bad_label += lab[k] != tok[pos[k]];
            int32_t o = out[pos[k]];
            if (o == p->mask_id) n_mask++;
            else if (o == tok[pos[k]]) n_keep++;
            else { n_rand++; rand_sum += o; spec_drawn += special[o]; }
        }
        for (size_t i = 0; i < L; i++) changed_unsel += !is_sel[i] && out[i] != tok[i];
    }
    CHECK(within_binomial(sel, elig, 0.15), "selected %.0f of %.0f eligible (want 15%%)", sel, elig);
    CHECK(spec_sel == 0 && spec_drawn == 0, "specials selected %zu / drawn %zu", spec_sel, spec_drawn);
    CHECK(bad_label == 0 && changed_unsel == 0 && unsorted == 0, "labels %zu, changed %zu, unsorted %zu",
          bad_label, changed_unsel, unsorted);
    /* a random draw equals the original token with probability 1/(V - NSPEC) */
    double p_same = 0.1 / (V - NSPEC);
    CHECK(within_binomial(n_mask, sel, 0.8), "<mask> %.0f of %.0f (want 80%%)", n_mask, sel);
    CHECK(within_binomial(n_rand, sel, 0.1 - p_same), "random %.0f of %.0f (want 10%%)", n_rand, sel);
    CHECK(within_binomial(n_keep, sel, 0.1 + p_same), "kept %.0f of %.0f (want 10%%)", n_keep, sel);
    /* random tokens uniform on [NSPEC, V): mean (NSPEC + V - 1) / 2, sd ~ 288 */
    double mean = rand_sum / n_rand, want = (NSPEC + V - 1) / 2.0;
    CHECK(fabs(mean - want) <= 4.5 * 288.0 / sqrt(n_rand), "random token mean %.1f want %.1f", mean, want);
}

static void test_edge_cases(const scfm_mask_params *p) {
    int32_t out[8], lab[8];
    size_t pos[8], n = 99;
    /* one eligible token among specials: always selected (at least one per sequence) */
    int32_t one[5] = {2, 0, 500, 3, 0};
    size_t hits = 0;
    for (uint64_t k = 0; k < 200; k++) {
        CHECK(scfm_mask_sequence(p, one, 5, 1, k, out, pos, lab, NULL, NULL, NULL, &n) == 0, "mask");
        hits += n == 1 && pos[0] == 2 && lab[0] == 500;
    }
    CHECK(hits == 200, "single eligible token selected %zu of 200 times", hits);
    int32_t none[4] = {0, 1, 2, 3};
    CHECK(scfm_mask_sequence(p, none, 4, 1, 0, out, pos, lab, NULL, NULL, NULL, &n) == 0 && n == 0 &&
              memcmp(out, none, sizeof none) == 0, "all-special sequence: %zu selected", n);
    int32_t bad[3] = {5, V, 6};
    CHECK(scfm_mask_sequence(p, bad, 3, 1, 0, out, pos, lab, NULL, NULL, NULL, &n) == SCFM_EINVAL,
          "token id outside the vocabulary accepted");
    CHECK(strstr(scfm_last_error(), "outside the vocabulary") != NULL, "message: %s", scfm_last_error());
    int32_t neg[2] = {5, -1};
    CHECK(scfm_mask_sequence(p, neg, 2, 1, 0, out, pos, lab, NULL, NULL, NULL, &n) == SCFM_EINVAL,
          "negative token id accepted");
    /* in place (out aliases tokens) gives the same as out of place */
    int32_t a[8] = {10, 11, 12, 13, 14, 15, 16, 17}, b[8], lb[8];
    size_t pb[8], nb;
    memcpy(b, a, sizeof a);
    CHECK(scfm_mask_sequence(p, a, 8, 3, 9, out, pos, lab, NULL, NULL, NULL, &n) == 0 &&
              scfm_mask_sequence(p, b, 8, 3, 9, b, pb, lb, NULL, NULL, NULL, &nb) == 0 && n == nb &&
              memcmp(out, b, sizeof b) == 0 && memcmp(lab, lb, n * sizeof *lab) == 0,
          "in-place masking differs");
}

static void test_seeded(const scfm_mask_params *p) {
    enum { L = 200 };
    int32_t t[L], o1[L], o2[L], o3[L], l1[L], l2[L], l3[L];
    size_t p1[L], p2[L], p3[L], n1, n2, n3;
    scfm_rng r;
    scfm_rng_seed(&r, 5);
    make_seq(&r, t, L);
    CHECK(scfm_mask_sequence(p, t, L, 11, 42, o1, p1, l1, NULL, NULL, NULL, &n1) == 0 &&
              scfm_mask_sequence(p, t, L, 11, 42, o2, p2, l2, NULL, NULL, NULL, &n2) == 0 &&
              scfm_mask_sequence(p, t, L, 11, 43, o3, p3, l3, NULL, NULL, NULL, &n3) == 0, "mask");
    CHECK(n1 == n2 && memcmp(o1, o2, sizeof o1) == 0 && memcmp(p1, p2, n1 * sizeof *p1) == 0,
          "same seed and key give different masks");
    CHECK(n1 != n3 || memcmp(p1, p3, n1 * sizeof *p1) != 0, "other key gives the same mask");
    CHECK(scfm_mask_key(1, 5) != scfm_mask_key(0, 5) && scfm_mask_key(0, 5) != scfm_mask_key(0, 6), "keys");
}

static void test_values(const scfm_mask_params *p) {
    enum { L = 50 };
    int32_t t[L], o[L], lab[L];
    float v[L], vo[L], vl[L];
    size_t pos[L], n;
    for (size_t i = 0; i < L; i++) { t[i] = (int32_t)(10 + i); v[i] = 0.5f + (float)i; }
    CHECK(scfm_mask_sequence(p, t, L, 2, 8, o, pos, lab, v, vo, vl, &n) == 0 && n > 0, "mask with values");
    /* GeneCompass: -1 where the token was replaced (<mask> or another token); a selected
     * token left unchanged keeps its value (a random draw of the same token may read -1) */
    size_t bad = 0, k = 0, kept = 0;
    for (size_t i = 0; i < L; i++) {
        if (k < n && pos[k] == i) {
            bad += vl[k] != v[i];
            if (o[i] != t[i]) bad += vo[i] != -1.0f;
            else if (vo[i] == v[i]) kept++;
            else bad += vo[i] != -1.0f;
            k++;
        } else bad += vo[i] != v[i];
    }
    CHECK(bad == 0, "values: %zu wrong", bad);
    /* over many sequences about 10% of the selected tokens stay and keep their value */
    size_t sel = 0, stay = 0;
    for (uint64_t key = 0; key < 400; key++) {
        CHECK(scfm_mask_sequence(p, t, L, 2, key, o, pos, lab, v, vo, vl, &n) == 0, "mask");
        for (size_t j = 0; j < n; j++) { sel++; stay += vo[pos[j]] == v[pos[j]]; }
    }
    CHECK(stay > sel / 20 && stay < sel / 6, "unchanged selected tokens keep their value: %zu of %zu", stay, sel);
    (void)kept;
}

/* Packing: offsets, positions, targets at the right packed rows, same masks as alone. */
static void test_batch(const scfm_mask_params *p) {
    int32_t s0[5] = {10, 20, 30, 40, 50}, s1[3] = {2, 60, 3}, s2[7] = {70, 71, 72, 73, 74, 75, 76};
    scfm_seq seqs[3] = {{s0, NULL, 5, 100, 0}, {s1, NULL, 3, 101, 1}, {s2, NULL, 7, 102, 0}};
    scfm_mlm_batch b;
    memset(&b, 0, sizeof b);
    CHECK(scfm_mlm_batch_pack(&b, seqs, 3, p, 17) == SCFM_OK, "pack: %s", scfm_last_error());
    CHECK(b.B == 3 && b.N == 15 && b.offs[0] == 0 && b.offs[1] == 5 && b.offs[2] == 8 && b.offs[3] == 15,
          "offsets");
    CHECK(b.pos[0] == 0 && b.pos[4] == 4 && b.pos[5] == 0 && b.pos[7] == 2 && b.pos[14] == 6, "positions");
    CHECK(b.n_masked >= 3 && !b.has_values, "at least one target per sequence (%zu)", b.n_masked);
    const int32_t *all[15];
    for (size_t i = 0; i < 15; i++) all[i] = i < 5 ? &s0[i] : i < 8 ? &s1[i - 5] : &s2[i - 8];
    size_t bad = 0;
    for (size_t k = 0; k < b.n_masked; k++) {
        bad += b.mrows[k] >= 15 || b.labels[k] != *all[b.mrows[k]] || (k && b.mrows[k] <= b.mrows[k - 1]);
    }
    CHECK(bad == 0, "%zu bad targets", bad);
    CHECK(b.ids[5] == 2 && b.ids[7] == 3, "specials kept");
    /* sequence 2 masked alone gives the same rows (independent of batch composition) */
    int32_t o[7], l[7];
    size_t ps[7], n, same = 0, in2 = 0;
    CHECK(scfm_mask_sequence(p, s2, 7, 17, 102, o, ps, l, NULL, NULL, NULL, &n) == 0, "alone");
    for (size_t k = 0; k < b.n_masked; k++)
        if (b.mrows[k] >= 8) { same += in2 < n && b.mrows[k] == ps[in2] + 8; in2++; }
    CHECK(in2 == n && same == n && memcmp(b.ids + 8, o, sizeof o) == 0, "batch vs alone");
    CHECK(b.species[0] == 0 && b.species[1] == 1 && b.species[2] == 0, "species per sequence packed");
    /* values: all or none; then a batch with values; then grow without values again */
    float v0[5] = {1, 2, 3, 4, 5};
    scfm_seq mixed[2] = {{s0, v0, 5, 1, 1}, {s1, NULL, 3, 2, 0}};
    CHECK(scfm_mlm_batch_pack(&b, mixed, 2, p, 1) == SCFM_EINVAL, "mixed values accepted");
    scfm_seq withv[1] = {{s0, v0, 5, 1, 1}};
    CHECK(scfm_mlm_batch_pack(&b, withv, 1, p, 1) == 0 && b.has_values && b.N == 5, "values batch");
    int32_t big[40];
    for (size_t i = 0; i < 40; i++) big[i] = (int32_t)(100 + i);
    scfm_seq bs[1] = {{big, NULL, 40, 3, 1}};
    CHECK(scfm_mlm_batch_pack(&b, bs, 1, p, 1) == 0 && !b.has_values && b.N == 40, "grow");
    float bv[40] = {0};
    scfm_seq bsv[1] = {{big, bv, 40, 3, 1}};
    CHECK(scfm_mlm_batch_pack(&b, bsv, 1, p, 1) == 0 && b.has_values, "grow with values");
    scfm_seq empty[1] = {{s0, NULL, 0, 3, 1}};
    CHECK(scfm_mlm_batch_pack(&b, empty, 1, p, 1) == SCFM_EINVAL, "empty sequence accepted");
    CHECK(scfm_mlm_batch_pack(&b, seqs, 0, p, 1) == SCFM_OK && b.B == 0 && b.N == 0 && b.n_masked == 0,
          "empty batch (an MPI rank without cells)");
    scfm_mlm_batch_free(&b);
}

static void test_params(void) {
    scfm_mask_params p;
    scfm_mask_params_init(&p, V, 1, special);
    CHECK(scfm_mask_params_check(&p) == SCFM_OK, "defaults");
    CHECK(p.mask_prob == 0.15 && p.mask_frac == 0.8 && p.random_frac == 0.1, "default values");
    p.mask_frac = 0.95;
    CHECK(scfm_mask_params_check(&p) == SCFM_EINVAL, "mask + random > 1 accepted");
    scfm_mask_params_init(&p, V, V, special);
    CHECK(scfm_mask_params_check(&p) == SCFM_EINVAL, "mask id out of range accepted");
    uint8_t all[4] = {1, 1, 1, 1};
    scfm_mask_params_init(&p, 4, 1, all);
    CHECK(scfm_mask_params_check(&p) == SCFM_EINVAL, "all-special vocabulary accepted");
}

int main(void) {
    for (size_t i = 0; i < NSPEC; i++) special[i] = 1;
    scfm_mask_params p;
    scfm_mask_params_init(&p, V, 1, special);
    test_statistics(&p);
    test_edge_cases(&p);
    test_seeded(&p);
    test_values(&p);
    test_batch(&p);
    test_params();
    return TEST_END();
}
