/* Masked-gene masking (15% of eligible tokens; 80% <mask>, 10% random, 10% kept) and
 * packing of masked sequences into a batch. See include/scfm/train.h. */
#include <stdlib.h>
#include <string.h>

#include "scfm/train.h"

void scfm_mask_params_init(scfm_mask_params *p, size_t vocab_size, int32_t mask_id,
                           const uint8_t *special) {
    p->mask_prob = 0.15;
    p->mask_frac = 0.8;
    p->random_frac = 0.1;
    p->mask_id = mask_id;
    p->vocab_size = vocab_size;
    p->special = special;
}

int scfm_mask_params_check(const scfm_mask_params *p) {
    if (!(p->mask_prob >= 0 && p->mask_prob <= 1) || !(p->mask_frac >= 0 && p->mask_frac <= 1) ||
        !(p->random_frac >= 0 && p->random_frac <= 1) || p->mask_frac + p->random_frac > 1 + 1e-12)
        return scfm_error(SCFM_EINVAL, "masking: probabilities must lie in [0,1] with mask + random <= 1 "
                          "(got %g, %g, %g)", p->mask_prob, p->mask_frac, p->random_frac);
    if (!p->special || p->vocab_size == 0 || p->mask_id < 0 || (size_t)p->mask_id >= p->vocab_size)
        return scfm_error(SCFM_EINVAL, "masking: <mask> id %d outside the vocabulary (%zu tokens)",
                          (int)p->mask_id, p->vocab_size);
    for (size_t i = 0; i < p->vocab_size; i++)
        if (!p->special[i]) return SCFM_OK;
    return scfm_error(SCFM_EINVAL, "masking: the vocabulary has no non-special token");
}

static int32_t random_token(const scfm_mask_params *p, scfm_rng *r) {
    for (;;) {
        uint64_t t = scfm_rng_below(r, p->vocab_size);
        if (!p->special[t]) return (int32_t)t;
    }
}

/* Decides what selected position i shows to the model; *replaced = 1 for <mask> or a
 * random token (GeneCompass sets their value to -1), 0 when the token stays. */
static int32_t corrupt(const scfm_mask_params *p, int32_t tok, scfm_rng *r, int *replaced) {
    double u = scfm_rng_uniform_d(r);
    *replaced = 1;
    if (u < p->mask_frac) return p->mask_id;
    if (u < p->mask_frac + p->random_frac) return random_token(p, r);
    *replaced = 0;
    return tok;
}

/* Index of the k-th eligible token (k < number of eligible tokens). */
static size_t kth_eligible(const scfm_mask_params *p, const int32_t *tokens, size_t len, size_t k) {
    for (size_t i = 0; i < len; i++)
        if (!p->special[tokens[i]] && k-- == 0) return i;
    return len; /* unreachable when k is in range */
}

int scfm_mask_sequence(const scfm_mask_params *p, const int32_t *tokens, size_t len,
                       uint64_t seed, uint64_t key, int32_t *out, size_t *pos, int32_t *labels,
                       const float *values_in, float *values_out, float *value_labels,
                       size_t *n_sel) {
    *n_sel = 0;
    size_t n_elig = 0;
    for (size_t i = 0; i < len; i++) {
        if (tokens[i] < 0 || (size_t)tokens[i] >= p->vocab_size)
            return scfm_error(SCFM_EINVAL, "masking: token id %d at position %zu outside the vocabulary "
                              "(%zu tokens)", (int)tokens[i], i, p->vocab_size);
        n_elig += !p->special[tokens[i]];
    }
    scfm_rng r;
    scfm_rng_seed(&r, scfm_hash3(seed, SCFM_STREAM_MASK, key));
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (p->special[tokens[i]]) continue;
        if (scfm_rng_uniform_d(&r) < p->mask_prob) pos[n++] = i;
    }
    if (n == 0 && n_elig > 0) pos[n++] = kth_eligible(p, tokens, len, (size_t)scfm_rng_below(&r, n_elig));
    for (size_t k = 0; k < n; k++) labels[k] = tokens[pos[k]];
    if (out != tokens) memmove(out, tokens, len * sizeof *out);
    if (values_in && values_out) {
        for (size_t k = 0; k < n; k++)
            if (value_labels) value_labels[k] = values_in[pos[k]];
        if (values_out != values_in) memmove(values_out, values_in, len * sizeof *values_out);
    }
    for (size_t k = 0; k < n; k++) {
        int replaced;
        out[pos[k]] = corrupt(p, labels[k], &r, &replaced);
        if (values_in && values_out && replaced) values_out[pos[k]] = -1.0f;
    }
    *n_sel = n;
    return SCFM_OK;
}

void scfm_mlm_batch_free(scfm_mlm_batch *b) {
    if (!b) return;
    free(b->offs);
    free(b->ids);
    free(b->pos);
    free(b->values);
    free(b->species);
    free(b->mrows);
    free(b->labels);
    free(b->value_labels);
    memset(b, 0, sizeof *b);
}

/* Resized copy of p with room for count elements of size bytes (old block kept on failure). */
static void *grow(void *p, size_t count, size_t size) {
    size_t bytes;
    if (scfm_mul_size(count ? count : 1, size, &bytes)) {
        scfm_error(SCFM_ENOMEM, "batch: size overflow");
        return NULL;
    }
    return scfm_realloc(p, bytes);
}

#define GROW(field, cnt)                                                 \
    do {                                                                 \
        void *q_ = grow(b->field, (cnt), sizeof *b->field);              \
        if (!q_) return SCFM_ENOMEM;                                     \
        b->field = q_;                                                   \
    } while (0)

/* Makes room for B sequences and N rows (with or without values). */
static int batch_reserve(scfm_mlm_batch *b, size_t B, size_t N, int values) {
    if (B + 1 > b->cap_B) {
        GROW(offs, B + 1);
        GROW(species, B);
        b->cap_B = B + 1;
    }
    if (N > b->cap_N) {
        GROW(ids, N);
        GROW(pos, N);
        GROW(mrows, N);
        GROW(labels, N);
        if (b->values) {
            GROW(values, N);
            GROW(value_labels, N);
        }
        b->cap_N = N;
    }
    if (values && !b->values) { /* values buffers, when present, always hold cap_N */
        GROW(values, b->cap_N);
        GROW(value_labels, b->cap_N);
    }
    return SCFM_OK;
}

/* Validates the sequences; sets *N (total rows) and *values (1 if all carry values). */
static int batch_shape(const scfm_seq *seqs, size_t n, size_t *N, int *values) {
    size_t tot = 0, with = 0;
    for (size_t i = 0; i < n; i++) {
        if (seqs[i].len == 0 || !seqs[i].tokens)
            return scfm_error(SCFM_EINVAL, "batch: sequence %zu is empty", i);
        if (scfm_add_size(tot, seqs[i].len, &tot) || tot > INT32_MAX)
            return scfm_error(SCFM_EINVAL, "batch: too many tokens");
        with += seqs[i].values != NULL;
    }
    if (with != 0 && with != n)
        return scfm_error(SCFM_EINVAL, "batch: %zu of %zu sequences have values (all or none)", with, n);
    *N = tot;
    *values = n > 0 && with == n;
    return SCFM_OK;
}

int scfm_mlm_batch_pack(scfm_mlm_batch *b, const scfm_seq *seqs, size_t n, const scfm_mask_params *p,
                    uint64_t seed) {
    size_t N = 0;
    int values = 0, rc;
    if ((rc = batch_shape(seqs, n, &N, &values)) || (rc = batch_reserve(b, n, N, values))) return rc;
    size_t off = 0, nm = 0;
    b->offs[0] = 0;
    for (size_t i = 0; i < n; i++) {
        const scfm_seq *s = &seqs[i];
        size_t k;
        rc = scfm_mask_sequence(p, s->tokens, s->len, seed, s->key, b->ids + off, b->mrows + nm,
                                b->labels + nm, values ? s->values : NULL,
                                values ? b->values + off : NULL, values ? b->value_labels + nm : NULL, &k);
        if (rc) return scfm_error_prefix(rc, "sequence %zu", i);
        for (size_t j = 0; j < k; j++) b->mrows[nm + j] += off;
        for (size_t t = 0; t < s->len; t++) b->pos[off + t] = (int32_t)t;
        b->species[i] = s->species;
        nm += k;
        off += s->len;
        b->offs[i + 1] = off;
    }
    b->B = n;
    b->N = N;
    b->n_masked = nm;
    b->has_values = values;
    return SCFM_OK;
}
