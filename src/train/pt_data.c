/* The corpora of a pretraining run seen as one list of cells; vocabulary checks; the
 * seeded train / validation split. */
#include <stdlib.h>
#include <string.h>

#include "train/pretrain_internal.h"

/* Special tokens: the named ones and anything spelled <...>. */
static int mark_specials(pt_data *d) {
    size_t V = scfm_vocab_size(d->vocab);
    d->special = scfm_calloc(V ? V : 1, 1);
    if (!d->special) return SCFM_ENOMEM;
    for (size_t i = 0; i < V; i++) {
        const char *t = scfm_vocab_token(d->vocab, i);
        size_t n = t ? strlen(t) : 0;
        d->special[i] = n >= 2 && t[0] == '<' && t[n - 1] == '>';
    }
    const char *names[] = {"<pad>", "<mask>", "<cls>", "<eos>"};
    for (size_t k = 0; k < 4; k++) {
        int64_t id = scfm_vocab_special(d->vocab, names[k]);
        if (id >= 0 && (size_t)id < V) d->special[id] = 1;
    }
    int64_t mask = scfm_vocab_special(d->vocab, "<mask>");
    if (mask < 0)
        return scfm_error(SCFM_EINVAL, "%s: the vocabulary has no <mask> token", scfm_corpus_dir(d->corp[0]));
    d->mask_id = (int32_t)mask;
    return SCFM_OK;
}

/* All corpora must carry corpus 0's vocabulary. */
static int check_same_vocab(const pt_data *d) {
    const scfm_corpus *c0 = d->corp[0];
    for (size_t k = 1; k < d->n_corp; k++) {
        const scfm_corpus *c = d->corp[k];
        if (scfm_corpus_vocab_hash(c) != d->vocab_hash || scfm_corpus_vocab_size(c) != scfm_corpus_vocab_size(c0))
            return scfm_error(SCFM_EMISMATCH, "%s: vocabulary %016llx (%zu tokens) differs from %s's %016llx "
                              "(%zu tokens); tokenize all corpora with one vocabulary",
                              scfm_corpus_dir(c), (unsigned long long)scfm_corpus_vocab_hash(c),
                              scfm_corpus_vocab_size(c), scfm_corpus_dir(c0),
                              (unsigned long long)d->vocab_hash, scfm_corpus_vocab_size(c0));
        if (strcmp(scfm_corpus_mode(c), scfm_corpus_mode(c0)) != 0)
            return scfm_error(SCFM_EMISMATCH, "%s: mode %s differs from %s's %s", scfm_corpus_dir(c),
                              scfm_corpus_mode(c), scfm_corpus_dir(c0), scfm_corpus_mode(c0));
    }
    return SCFM_OK;
}

int pt_data_open(pt_data *d, const char *const *dirs, size_t n) {
    memset(d, 0, sizeof *d);
    if (n == 0) return scfm_error(SCFM_EINVAL, "no corpus given");
    d->corp = scfm_calloc(n, sizeof *d->corp);
    d->first = scfm_calloc(n + 1, sizeof *d->first);
    if (!d->corp || !d->first) return SCFM_ENOMEM;
    for (size_t k = 0; k < n; k++) {
        if (!(d->corp[k] = scfm_corpus_open(dirs[k]))) return scfm_last_error()[0] ? SCFM_EIO : SCFM_ENOMEM;
        d->n_corp = k + 1;
        if (scfm_add_size(d->first[k], scfm_corpus_n_cells(d->corp[k]), &d->first[k + 1]))
            return scfm_error(SCFM_ENOMEM, "too many cells");
    }
    d->n_cells = d->first[n];
    d->vocab_hash = scfm_corpus_vocab_hash(d->corp[0]);
    int rc = check_same_vocab(d);
    if (rc) return rc;
    if (!(d->vocab = scfm_corpus_load_vocab(d->corp[0]))) return SCFM_EFORMAT;
    if ((rc = mark_specials(d))) return rc;
    d->max_len = SIZE_MAX;
    return SCFM_OK;
}

void pt_data_close(pt_data *d) {
    for (size_t k = 0; k < d->n_corp; k++) scfm_corpus_close(d->corp[k]);
    free(d->corp);
    free(d->first);
    scfm_vocab_free(d->vocab);
    free(d->special);
    memset(d, 0, sizeof *d);
}

int pt_data_set_max_len(pt_data *d, size_t max_pos, int truncate) {
    d->max_len = max_pos;
    for (size_t k = 0; k < d->n_corp; k++) {
        size_t longest = scfm_corpus_longest(d->corp[k]);
        if (longest > max_pos && !truncate)
            return scfm_error(SCFM_EINVAL, "%s: cells of up to %zu tokens, but the model has %zu positions; "
                              "re-tokenize with a smaller --max-len or pass --truncate",
                              scfm_corpus_dir(d->corp[k]), longest, max_pos);
        if (longest > max_pos)
            scfm_log(SCFM_LOG_WARN, "%s: cells longer than %zu tokens are cut to %zu", scfm_corpus_dir(d->corp[k]),
                     max_pos, max_pos);
    }
    return SCFM_OK;
}

/* Corpus k holding global cell g (binary search over first[]). */
static size_t corpus_of(const pt_data *d, size_t g) {
    size_t lo = 0, hi = d->n_corp;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (d->first[mid] <= g) lo = mid;
        else hi = mid;
    }
    return lo;
}

int pt_data_cell(const pt_data *d, size_t g, const int32_t **tok, size_t *len, const float **val) {
    if (g >= d->n_cells) return scfm_error(SCFM_EINVAL, "cell %zu out of range (%zu cells)", g, d->n_cells);
    size_t k = corpus_of(d, g);
    int rc = scfm_corpus_cell(d->corp[k], g - d->first[k], tok, len, val);
    if (rc) return rc;
    if (*len > d->max_len) *len = d->max_len;
    return SCFM_OK;
}

int32_t pt_data_species(const pt_data *d, size_t g) {
    if (g >= d->n_cells) return -1;
    size_t k = corpus_of(d, g);
    return (int32_t)scfm_corpus_cell_species(d->corp[k], g - d->first[k]);
}

size_t pt_data_len(const pt_data *d, size_t g) {
    if (g >= d->n_cells) return 0;
    size_t k = corpus_of(d, g);
    size_t n = scfm_corpus_len(d->corp[k], g - d->first[k]);
    return n > d->max_len ? d->max_len : n;
}

int pt_data_split(const pt_data *d, double val_fraction, uint64_t seed, size_t **train, size_t *n_train,
                  size_t **val, size_t *n_val) {
    *train = scfm_calloc(d->n_cells ? d->n_cells : 1, sizeof **train);
    *val = scfm_calloc(d->n_cells ? d->n_cells : 1, sizeof **val);
    if (!*train || !*val) return SCFM_ENOMEM;
    size_t nt = 0, nv = 0;
    for (size_t g = 0; g < d->n_cells; g++) {
        if (pt_data_len(d, g) == 0) continue; /* nothing to learn from an empty cell */
        double u = (double)(scfm_hash3(seed, SCFM_STREAM_SPLIT, g) >> 11) * (1.0 / 9007199254740992.0);
        if (u < val_fraction) (*val)[nv++] = g;
        else (*train)[nt++] = g;
    }
    *n_train = nt;
    *n_val = nv;
    if (nt == 0) return scfm_error(SCFM_EINVAL, "no training cells (%zu cells, val_fraction %g)", d->n_cells, val_fraction);
    return SCFM_OK;
}

uint64_t pt_data_hash(const pt_data *d, const scfm_pretrain_config *c, size_t global_micro) {
    uint64_t h = SCFM_HASH_INIT;
    uint64_t v[8] = {d->vocab_hash, d->n_cells, d->n_corp, c->seed, global_micro, c->mega_mult,
                     (uint64_t)d->max_len, 0};
    memcpy(&v[7], &c->val_fraction, 8);
    h = scfm_hash_bytes(h, v, sizeof v);
    for (size_t k = 0; k < d->n_corp; k++) {
        uint64_t t = scfm_corpus_n_tokens(d->corp[k]);
        h = scfm_hash_bytes(h, &t, sizeof t);
    }
    double mp[3] = {c->mask_prob, c->mask_frac, c->random_frac};
    return scfm_hash_bytes(h, mp, sizeof mp);
}
