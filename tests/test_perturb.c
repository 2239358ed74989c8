/* scfm_perturb_apply: the token rules of docs/perturb.md on hand-written cells (expected
 * sequences written out by hand from the rules, not computed by the code under test). */
#include <stdint.h>
#include <string.h>

#include "scfm/analysis.h"
#include "testutil.h"

static int same(const int32_t *a, size_t na, const int32_t *b, size_t nb) {
    return na == nb && !memcmp(a, b, na * sizeof *a);
}

#define APPLY(tok, head, tail, genes, mode, F, maxlen)                                                             \
    scfm_perturb_apply(tok, sizeof tok / sizeof *tok, head, tail, genes, sizeof genes / sizeof *genes, mode, F,   \
                       maxlen, out, &ol)

int main(void) {
    int32_t out[64];
    size_t ol = 0;
    /* V2 cell: <cls>=2, 8 genes 10..17, <eos>=3 */
    int32_t v2[] = {2, 10, 11, 12, 13, 14, 15, 16, 17, 3};
    int32_t v1[] = {10, 11, 12, 13, 14, 15, 16, 17};
    {
        int32_t g[] = {11};
        /* n = 8, F = 0.25: k = 2 */
        int32_t w[] = {2, 10, 12, 13, 11, 14, 15, 16, 17, 3};
        CHECK(APPLY(v2, 1, 1, g, SCFM_PERTURB_INHIBIT, 0.25, 64) == 0 && same(out, ol, w, 10), "inhibit by 2");
        int32_t w2[] = {2, 11, 10, 12, 13, 14, 15, 16, 17, 3};
        CHECK(APPLY(v2, 1, 1, g, SCFM_PERTURB_ACTIVATE, 0.25, 64) == 0 && same(out, ol, w2, 10),
              "activate clamps at the first gene, after <cls>");
    }
    {
        int32_t g[] = {16};
        int32_t w[] = {2, 10, 11, 12, 13, 14, 15, 17, 16, 3};
        CHECK(APPLY(v2, 1, 1, g, SCFM_PERTURB_INHIBIT, 0.25, 64) == 0 && same(out, ol, w, 10),
              "inhibit clamps at the last gene, before <eos>");
        int32_t w2[] = {10, 11, 12, 13, 14, 15, 17, 16};
        CHECK(APPLY(v1, 0, 0, g, SCFM_PERTURB_INHIBIT, 0.25, 64) == 0 && same(out, ol, w2, 8), "inhibit V1 clamps");
        /* F = 0.5: k = 4; 16 at index 6 -> 2 */
        int32_t w3[] = {10, 11, 16, 12, 13, 14, 15, 17};
        CHECK(APPLY(v1, 0, 0, g, SCFM_PERTURB_ACTIVATE, 0.5, 64) == 0 && same(out, ol, w3, 8), "activate by 4");
        /* F = 0.01: round(0.08) = 0 -> at least 1 */
        int32_t w4[] = {10, 11, 12, 13, 14, 16, 15, 17};
        CHECK(APPLY(v1, 0, 0, g, SCFM_PERTURB_ACTIVATE, 0.01, 64) == 0 && same(out, ol, w4, 8), "moves at least 1");
        /* F = 0.3125: 2.5 rounds half up to 3 */
        int32_t w5[] = {10, 11, 12, 16, 13, 14, 15, 17};
        CHECK(APPLY(v1, 0, 0, g, SCFM_PERTURB_ACTIVATE, 0.3125, 64) == 0 && same(out, ol, w5, 8), "half rounds up");
    }
    {
        /* two genes, in the order given, each on the result of the previous move */
        int32_t g[] = {10, 11, 10};
        /* k = 2; 10: index 0 -> 2 gives 11 12 10 13 ...; then 11: index 0 -> 2 gives 12 10 11 13 ... */
        int32_t w2[] = {12, 10, 11, 13, 14, 15, 16, 17};
        CHECK(APPLY(v1, 0, 0, g, SCFM_PERTURB_INHIBIT, 0.25, 64) == 0 && same(out, ol, w2, 8),
              "set inhibited in order (duplicate ignored)");
    }
    {
        int32_t g[] = {13, 99};
        CHECK(APPLY(v2, 1, 1, g, SCFM_PERTURB_DELETE, 0.25, 64) == SCFM_ENOTFOUND, "delete needs every gene");
        CHECK(APPLY(v2, 1, 1, g, SCFM_PERTURB_INHIBIT, 0.25, 64) == SCFM_ENOTFOUND, "inhibit needs every gene");
        int32_t w[] = {2, 13, 99, 10, 11, 12, 14, 15, 16, 17, 3};
        CHECK(APPLY(v2, 1, 1, g, SCFM_PERTURB_OVEREXPRESS, 0.25, 64) == 0 && same(out, ol, w, 11),
              "overexpress a set: present and absent genes in front, in order");
        CHECK(APPLY(v2, 1, 1, g, SCFM_PERTURB_OVEREXPRESS, 0.25, 10) == 0 && same(out, ol, w, 10),
              "overexpress cut to max_len");
    }
    {
        int32_t g[] = {17, 10};
        int32_t w[] = {2, 11, 12, 13, 14, 15, 16, 3};
        CHECK(APPLY(v2, 1, 1, g, SCFM_PERTURB_DELETE, 0.25, 64) == 0 && same(out, ol, w, 8), "delete a set");
        int32_t sp[] = {3};
        CHECK(APPLY(v2, 1, 1, sp, SCFM_PERTURB_DELETE, 0.25, 64) == SCFM_ENOTFOUND, "specials are not in the region");
        int32_t one[] = {2, 10, 3};
        int32_t g1[] = {10};
        CHECK(APPLY(one, 1, 1, g1, SCFM_PERTURB_INHIBIT, 0.25, 64) == 0 && same(out, ol, one, 3), "a single gene stays");
        CHECK(APPLY(one, 2, 2, g1, SCFM_PERTURB_INHIBIT, 0.25, 64) == SCFM_EINVAL, "head + tail > len");
        CHECK(APPLY(v1, 0, 0, g1, SCFM_PERTURB_INHIBIT, 0.0, 64) == SCFM_EINVAL, "fraction 0");
        CHECK(APPLY(v1, 0, 0, g1, SCFM_PERTURB_OVEREXPRESS, 0.25, 0) == SCFM_EINVAL, "max_len 0");
        CHECK(APPLY(v1, 0, 0, g1, (scfm_perturb_mode)7, 0.25, 64) == SCFM_EINVAL, "unknown mode");
    }
    {   /* gene-shift baseline: positions of non-special genes, cleared between cells */
        scfm_shift_base b;
        uint8_t special[8] = {1, 1, 0, 0, 0, 0, 0, 0};
        float h[4 * 2] = {0, 0, 1, 2, 3, 4, 5, 6};
        int32_t c1[] = {0, 5, 2, 7}, c2[] = {1, 3, 4};
        CHECK(scfm_shift_base_init(&b, 8, 2, 4) == SCFM_OK, "baseline init");
        CHECK(scfm_shift_base_set(&b, h, c1, 4, special) == SCFM_OK, "baseline set");
        const float *s5 = scfm_shift_base_state(&b, 5), *s7 = scfm_shift_base_state(&b, 7);
        CHECK(s5 && s5[0] == 1 && s5[1] == 2, "gene 5 at position 1");
        CHECK(s7 && s7[0] == 5 && s7[1] == 6, "gene 7 at position 3");
        CHECK(!scfm_shift_base_state(&b, 0) && !scfm_shift_base_state(&b, 3), "special and absent genes have no state");
        CHECK(scfm_shift_base_set(&b, h, c2, 3, special) == SCFM_OK, "a second baseline");
        CHECK(!scfm_shift_base_state(&b, 5) && !scfm_shift_base_state(&b, 7), "the first cell's genes are forgotten");
        const float *s4 = scfm_shift_base_state(&b, 4);
        CHECK(s4 && s4[0] == 3 && s4[1] == 4, "gene 4 at position 2");
        int32_t bad[] = {2, 8};
        CHECK(scfm_shift_base_set(&b, h, bad, 2, special) == SCFM_EINVAL, "an id outside the vocabulary");
        CHECK(scfm_shift_base_set(&b, h, c1, 5, special) == SCFM_EINVAL, "longer than the capacity");
        scfm_shift_base_clear(&b);
        for (int32_t t = 0; t < 8; t++) CHECK(!scfm_shift_base_state(&b, t), "cleared: id %d", t);
        scfm_shift_base_free(&b);
    }
    return TEST_END();
}
