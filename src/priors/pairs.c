/* Gene pairs for the prior tables: interned gene IDs, unordered pairs, and the mapping of
 * input gene names to Ensembl IDs (symbols through a name table, then orthologs). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "scfm/priors.h"

void scfm_pairs_free(scfm_pairs *p) {
    if (!p) return;
    for (size_t i = 0; i < p->n_genes; i++) free(p->genes[i]);
    free(p->genes);
    free(p->a);
    free(p->b);
    free(p->w);
    free(p->slot);
    int directed = p->directed;
    memset(p, 0, sizeof *p);
    p->directed = directed;
}

static uint64_t str_hash(const char *s) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

long scfm_pairs_find(const scfm_pairs *p, const char *id) {
    if (!p->slot_cap) return -1;
    size_t h = (size_t)str_hash(id) & (p->slot_cap - 1);
    while (p->slot[h]) {
        long k = (long)(p->slot[h] - 1);
        if (!strcmp(p->genes[k], id)) return k;
        h = (h + 1) & (p->slot_cap - 1);
    }
    return -1;
}

static int rehash(scfm_pairs *p) {
    size_t cap = p->slot_cap ? 2 * p->slot_cap : 1024;
    int64_t *s = scfm_calloc(cap, sizeof *s);
    if (!s) return SCFM_ENOMEM;
    for (size_t i = 0; i < p->n_genes; i++) {
        size_t h = (size_t)str_hash(p->genes[i]) & (cap - 1);
        while (s[h]) h = (h + 1) & (cap - 1);
        s[h] = (int64_t)i + 1;
    }
    free(p->slot);
    p->slot = s;
    p->slot_cap = cap;
    return SCFM_OK;
}

long scfm_pairs_gene(scfm_pairs *p, const char *id) {
    long k = scfm_pairs_find(p, id);
    if (k >= 0) return k;
    if (p->n_genes >= UINT32_MAX - 1) return scfm_error(SCFM_ENOMEM, "priors: too many genes"), -1;
    if (2 * (p->n_genes + 1) > p->slot_cap && rehash(p)) return -1;
    if (p->n_genes == p->cap_genes) {
        size_t c = p->cap_genes ? 2 * p->cap_genes : 256;
        char **g = scfm_realloc(p->genes, c * sizeof *g);
        if (!g) return -1;
        p->genes = g;
        p->cap_genes = c;
    }
    char *d = scfm_strdup(id);
    if (!d) return -1;
    p->genes[p->n_genes] = d;
    size_t h = (size_t)str_hash(id) & (p->slot_cap - 1);
    while (p->slot[h]) h = (h + 1) & (p->slot_cap - 1);
    p->slot[h] = (int64_t)p->n_genes + 1;
    return (long)p->n_genes++;
}

int scfm_pairs_add(scfm_pairs *p, uint32_t a, uint32_t b, double w) {
    if (a == b) return SCFM_OK;
    if (p->n == p->cap) {
        size_t c = p->cap ? 2 * p->cap : 1024;
        uint32_t *na = scfm_realloc(p->a, c * sizeof *na);
        if (!na) return SCFM_ENOMEM;
        p->a = na;
        uint32_t *nb = scfm_realloc(p->b, c * sizeof *nb);
        if (!nb) return SCFM_ENOMEM;
        p->b = nb;
        double *nw = scfm_realloc(p->w, c * sizeof *nw);
        if (!nw) return SCFM_ENOMEM;
        p->w = nw;
        p->cap = c;
    }
    int swap = !p->directed && a > b;
    p->a[p->n] = swap ? b : a;
    p->b[p->n] = swap ? a : b;
    p->w[p->n] = w;
    p->n++;
    return SCFM_OK;
}

typedef struct {
    uint64_t key;
    double w;
} pair_key;

static int cmp_key(const void *x, const void *y) {
    uint64_t a = ((const pair_key *)x)->key, b = ((const pair_key *)y)->key;
    return (a > b) - (a < b);
}

void scfm_pairs_finish(scfm_pairs *p) {
    if (!p->n) return;
    pair_key *k = malloc(p->n * sizeof *k);
    if (!k) { /* without room to sort: leave the list as it is (duplicates are harmless) */
        return;
    }
    for (size_t i = 0; i < p->n; i++) k[i] = (pair_key){((uint64_t)p->a[i] << 32) | p->b[i], p->w[i]};
    qsort(k, p->n, sizeof *k, cmp_key);
    size_t m = 0;
    for (size_t i = 0; i < p->n; i++) {
        if (m && k[m - 1].key == k[i].key) {
            if (k[i].w > k[m - 1].w) k[m - 1].w = k[i].w; /* the same pair from two inputs: the larger r */
            continue;
        }
        k[m++] = k[i];
    }
    for (size_t i = 0; i < m; i++) {
        p->a[i] = (uint32_t)(k[i].key >> 32);
        p->b[i] = (uint32_t)k[i].key;
        p->w[i] = k[i].w;
    }
    p->n = m;
    free(k);
}

int scfm_prior_gene_id(const scfm_prior_genes *g, const char *raw, char *out, size_t out_size) {
    char buf[256];
    size_t n = strlen(raw);
    if (n >= sizeof buf || out_size < 2) return 0;
    memcpy(buf, raw, n + 1);
    /* a joint vocabulary's species-qualified symbol (human:INS, mouse:INS1) is kept: the symbol
     * normalized, the prefix lower-case, no table or ortholog applied */
    size_t pl = !strncasecmp(buf, SCFM_SYMBOL_PREFIX_HUMAN, 6) || !strncasecmp(buf, SCFM_SYMBOL_PREFIX_MOUSE, 6) ? 6 : 0;
    if (pl) {
        for (size_t i = 0; i < pl; i++) buf[i] = (char)tolower((unsigned char)buf[i]);
        scfm_gene_normalize(buf + pl);
        if (!buf[pl] || strlen(buf) >= out_size) return 0;
        strcpy(out, buf);
        return 1;
    }
    scfm_gene_normalize(buf);
    const char *id = buf;
    if (!buf[0]) return 0;
    if (!scfm_is_ensembl_id(buf)) {
        id = g && g->names ? scfm_gene_map_lookup(g->names, buf) : NULL;
        if (!id) return 0;
    }
    if (g && g->orthologs) {
        id = scfm_orthologs_lookup(g->orthologs, id);
        if (!id) return 0;
    }
    if (strlen(id) >= out_size) return 0;
    strcpy(out, id);
    return 1;
}
