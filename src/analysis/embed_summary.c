/* Per-state summaries of cell embeddings (Geneformer's summary_stat): the mean and the exact
 * median over the cells of each state, per dimension. See include/scfm/analysis.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "scfm/analysis.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int scfm_embed_state_summary(const float *emb, size_t n, size_t H, const int32_t *state, size_t S, double *mean,
                             double *median, size_t *count) {
    if (!emb || !state || !mean || !median || !count) return scfm_error(SCFM_EINVAL, "embed summary: missing arrays");
    memset(count, 0, S * sizeof *count);
    for (size_t i = 0; i < n; i++) {
        if (state[i] < 0) continue;
        if ((size_t)state[i] >= S) return scfm_error(SCFM_EINVAL, "embed summary: state %d out of range", (int)state[i]);
        count[state[i]]++;
    }
    size_t most = 0;
    for (size_t s = 0; s < S; s++) most = count[s] > most ? count[s] : most;
    double *buf = scfm_calloc(most ? most : 1, sizeof *buf);
    size_t *members = scfm_calloc(n ? n : 1, sizeof *members), *start = scfm_calloc(S + 1, sizeof *start);
    if (!buf || !members || !start) {
        free(buf);
        free(members);
        free(start);
        return SCFM_ENOMEM;
    }
    for (size_t s = 0; s < S; s++) start[s + 1] = start[s] + count[s];
    size_t *fill = scfm_calloc(S ? S : 1, sizeof *fill);
    if (!fill) { free(buf); free(members); free(start); return SCFM_ENOMEM; }
    for (size_t i = 0; i < n; i++)
        if (state[i] >= 0) members[start[state[i]] + fill[state[i]]++] = i;
    for (size_t s = 0; s < S; s++) {
        size_t m = count[s];
        for (size_t d = 0; d < H; d++) {
            double sum = 0;
            for (size_t k = 0; k < m; k++) {
                buf[k] = (double)emb[members[start[s] + k] * H + d];
                sum += buf[k];
            }
            mean[s * H + d] = m ? sum / (double)m : NAN;
            if (!m) { median[s * H + d] = NAN; continue; }
            qsort(buf, m, sizeof *buf, cmp_double);
            median[s * H + d] = m % 2 ? buf[m / 2] : 0.5 * (buf[m / 2 - 1] + buf[m / 2]);
        }
    }
    free(fill);
    free(buf);
    free(members);
    free(start);
    return SCFM_OK;
}
