/* Gene shifts of in-silico deletion: a cell's baseline token states and each gene's position
 * in them, shared by perturbation (perturb.c) and GRN inference (grn.c). */
#include <stdlib.h>
#include <string.h>
#include "scfm/analysis.h"

int scfm_shift_base_init(scfm_shift_base *b, size_t V, size_t H, size_t cap) {
    memset(b, 0, sizeof *b);
    b->V = V;
    b->H = H;
    b->cap = cap;
    size_t nh;
    if (scfm_mul_size(cap ? cap : 1, H * sizeof *b->h, &nh))
        return scfm_error(SCFM_ENOMEM, "gene shifts: a baseline of %zu x %zu states overflows", cap, H);
    b->h = scfm_malloc(nh);
    b->pos = scfm_malloc((V ? V : 1) * sizeof *b->pos);
    b->ids = scfm_malloc((cap ? cap : 1) * sizeof *b->ids);
    if (!b->h || !b->pos || !b->ids) {
        scfm_shift_base_free(b);
        return scfm_error(SCFM_ENOMEM, "gene shifts: no memory for a baseline of %zu tokens", cap);
    }
    for (size_t t = 0; t < V; t++) b->pos[t] = -1;
    return SCFM_OK;
}

void scfm_shift_base_clear(scfm_shift_base *b) {
    for (size_t q = 0; q < b->len; q++) b->pos[b->ids[q]] = -1;
    b->len = 0;
}

int scfm_shift_base_set(scfm_shift_base *b, const float *h, const int32_t *ids, size_t len,
                        const uint8_t *special) {
    scfm_shift_base_clear(b);
    if (len > b->cap) return scfm_error(SCFM_EINVAL, "gene shifts: a baseline of %zu tokens (capacity %zu)", len, b->cap);
    for (size_t q = 0; q < len; q++)
        if (ids[q] < 0 || (size_t)ids[q] >= b->V)
            return scfm_error(SCFM_EINVAL, "gene shifts: token id %d outside the vocabulary (%zu)", ids[q], b->V);
    memcpy(b->h, h, len * b->H * sizeof *h);
    for (size_t q = 0; q < len; q++) {
        b->ids[q] = ids[q];
        if (!special[ids[q]]) b->pos[ids[q]] = (int32_t)q;
    }
    b->len = len;
    return SCFM_OK;
}

void scfm_shift_base_free(scfm_shift_base *b) {
    free(b->h);
    free(b->pos);
    free(b->ids);
    memset(b, 0, sizeof *b);
}
