/* Length-grouped sampler: seeded per-epoch permutation, mega-batches sorted by length,
 * batches shuffled. See include/scfm/train.h. */
#include <stdlib.h>
#include <string.h>

#include "scfm/train.h"

struct scfm_sampler {
    size_t n, batch, mega;     /* cells, cells per batch, cells per mega-batch */
    size_t *cells, *lens;      /* [n] as given */
    size_t *plan;              /* [n] cell ids in epoch order */
    size_t *starts;            /* [n_batches+1] batch b = plan[starts[b] .. starts[b+1]) */
    size_t *order;             /* [n_batches] shuffled batch order (indices into starts) */
    size_t *tmp;               /* [n] scratch: positions into cells */
    size_t n_batches;
    uint64_t seed, epoch;
    int have_epoch;
};

static size_t count_batches(size_t n, size_t batch, size_t mega) {
    size_t full = n / mega, rest = n % mega;
    return full * (mega / batch) + (rest + batch - 1) / batch;
}

scfm_sampler *scfm_sampler_new(const size_t *cells, const size_t *lens, size_t n, size_t batch,
                               size_t mega_mult, uint64_t seed) {
    if (n == 0 || batch == 0 || mega_mult == 0) {
        scfm_error(SCFM_EINVAL, "sampler: need cells (%zu), batch (%zu) and mega-batch factor (%zu) > 0",
                   n, batch, mega_mult);
        return NULL;
    }
    size_t mega, bytes;
    if (scfm_mul_size(batch, mega_mult, &mega) || scfm_mul_size(n, sizeof(size_t), &bytes)) {
        scfm_error(SCFM_ENOMEM, "sampler: size overflow");
        return NULL;
    }
    scfm_sampler *s = scfm_calloc(1, sizeof *s);
    if (!s) return NULL;
    s->n = n;
    s->batch = batch;
    s->mega = mega;
    s->seed = seed;
    s->n_batches = count_batches(n, batch, mega);
    s->cells = scfm_malloc(bytes);
    s->lens = scfm_malloc(bytes);
    s->plan = scfm_malloc(bytes);
    s->tmp = scfm_malloc(bytes);
    s->starts = scfm_calloc(s->n_batches + 1, sizeof(size_t));
    s->order = scfm_calloc(s->n_batches, sizeof(size_t));
    if (!s->cells || !s->lens || !s->plan || !s->tmp || !s->starts || !s->order) {
        scfm_sampler_free(s);
        return NULL;
    }
    memcpy(s->cells, cells, bytes);
    memcpy(s->lens, lens, bytes);
    return s;
}

void scfm_sampler_free(scfm_sampler *s) {
    if (!s) return;
    free(s->cells);
    free(s->lens);
    free(s->plan);
    free(s->tmp);
    free(s->starts);
    free(s->order);
    free(s);
}

size_t scfm_sampler_n_cells(const scfm_sampler *s) { return s->n; }
size_t scfm_sampler_n_batches(const scfm_sampler *s) { return s->n_batches; }
uint64_t scfm_sampler_epoch(const scfm_sampler *s) { return s->epoch; }

/* Sorts positions a[0..n) by length descending, ties by position ascending: a total order,
 * so the result does not depend on the sort algorithm (bottom-up merge sort, no qsort_r). */
static void sort_by_len(size_t *a, size_t n, const size_t *lens, size_t *scratch) {
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n;
            size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) {
                size_t li = lens[a[i]], lj = lens[a[j]];
                int take_j = lj > li || (lj == li && a[j] < a[i]);
                scratch[k++] = take_j ? a[j++] : a[i++];
            }
            while (i < mid) scratch[k++] = a[i++];
            while (j < hi) scratch[k++] = a[j++];
        }
        memcpy(a, scratch, n * sizeof *a);
    }
}

static void shuffle(size_t *a, size_t n, scfm_rng *r) {
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)scfm_rng_below(r, i);
        size_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

int scfm_sampler_set_epoch(scfm_sampler *s, uint64_t epoch) {
    if (s->have_epoch && s->epoch == epoch) return SCFM_OK;
    scfm_rng r;
    scfm_rng_seed(&r, scfm_hash3(s->seed, SCFM_STREAM_SAMPLER, epoch));
    size_t *perm = s->tmp;
    for (size_t i = 0; i < s->n; i++) perm[i] = i;
    shuffle(perm, s->n, &r);
    size_t nb = 0;
    for (size_t lo = 0; lo < s->n; lo += s->mega) {
        size_t cnt = s->n - lo < s->mega ? s->n - lo : s->mega;
        sort_by_len(perm + lo, cnt, s->lens, s->plan + lo);
        for (size_t b = 0; b < cnt; b += s->batch) s->starts[nb++] = lo + b;
    }
    s->starts[nb] = s->n;
    for (size_t i = 0; i < s->n; i++) s->plan[i] = s->cells[perm[i]];
    for (size_t b = 0; b < nb; b++) s->order[b] = b;
    shuffle(s->order, nb, &r);
    s->epoch = epoch;
    s->have_epoch = 1;
    return SCFM_OK;
}

int scfm_sampler_batch(const scfm_sampler *s, size_t b, const size_t **cells, size_t *n) {
    if (!s->have_epoch || b >= s->n_batches)
        return scfm_error(SCFM_EINVAL, "sampler: batch %zu out of range (%zu per epoch)", b, s->n_batches);
    size_t k = s->order[b];
    *cells = s->plan + s->starts[k];
    *n = s->starts[k + 1] - s->starts[k];
    return SCFM_OK;
}
