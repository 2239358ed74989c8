/* Resolving a file's gene column to vocabulary ids: normalize, symbol -> ID, orthologs, vocab. */
#include "scfm/genes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int scfm_genes_resolve(const char *const *genes, size_t n_genes, const scfm_vocab *v, const scfm_resolve_opts *o,
                       scfm_gene_resolution *out) {
    memset(out, 0, sizeof *out);
    if (!v) return scfm_error(SCFM_EINVAL, "gene resolution needs a vocabulary");
    if (n_genes && !genes) return scfm_error(SCFM_EINVAL, "gene resolution: no gene list");
    size_t vs = scfm_vocab_size(v);
    out->vocab_id = scfm_malloc((n_genes ? n_genes : 1) * sizeof *out->vocab_id);
    unsigned char *seen = scfm_calloc(vs ? vs : 1, 1);
    if (!out->vocab_id || !seen) { free(seen); scfm_gene_resolution_free(out); return SCFM_ENOMEM; }
    out->n_genes = n_genes;
    const scfm_gene_map *names = o ? o->names : NULL;
    const scfm_orthologs *orth = o ? o->orthologs : NULL;
    const char *pre = o && o->symbol_prefix && o->symbol_prefix[0] ? o->symbol_prefix : NULL;
    for (size_t g = 0; g < n_genes; g++) {
        char buf[256];
        out->vocab_id[g] = -1;
        if (!genes[g] || strlen(genes[g]) >= sizeof buf) { out->n_not_id++; continue; }
        strcpy(buf, genes[g]);
        scfm_gene_normalize(buf);
        const char *id = buf;
        char qual[300];
        if (!(orth && scfm_orthologs_by_symbol(orth)) && !scfm_is_ensembl_id(id)) {
            const char *m = names ? scfm_gene_map_lookup(names, buf) : NULL;
            if (m) id = m;
            else if (pre && !orth) { snprintf(qual, sizeof qual, "%s%s", pre, buf); id = qual; } /* vocabulary below */
            else if (orth || scfm_vocab_lookup(v, buf) < 0) { out->n_not_id++; continue; }
            /* else: a vocabulary keyed by symbols holds the symbol itself */
        }
        if (orth && !(id = scfm_orthologs_lookup(orth, id))) { out->n_no_ortholog++; continue; }
        int64_t k = scfm_vocab_lookup(v, id);
        if (k < 0 || k > INT32_MAX) { out->n_not_in_vocab++; continue; }
        out->vocab_id[g] = (int32_t)k;
        out->n_mapped++;
        if (!seen[k]) { seen[k] = 1; out->n_unique_ids++; }
    }
    free(seen);
    return SCFM_OK;
}

void scfm_gene_resolution_free(scfm_gene_resolution *r) {
    if (!r) return;
    free(r->vocab_id);
    r->vocab_id = NULL;
}
