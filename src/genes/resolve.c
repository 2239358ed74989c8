/* Resolving a file's gene column to vocabulary ids: normalize, symbol -> ID, orthologs, vocab. */
#include "scfm/genes.h"

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
    for (size_t g = 0; g < n_genes; g++) {
        char buf[256];
        out->vocab_id[g] = -1;
        if (!genes[g] || strlen(genes[g]) >= sizeof buf) { out->n_not_id++; continue; }
        strcpy(buf, genes[g]);
        scfm_gene_normalize(buf);
        const char *id = buf;
        if (!scfm_is_ensembl_id(id)) {
            id = names ? scfm_gene_map_lookup(names, buf) : NULL;
            /* a vocabulary of symbols (scfm vocab build --symbols) holds the identifier itself */
            if (!id && !orth && scfm_vocab_lookup(v, buf) >= 0) id = buf;
        }
        if (!id) { out->n_not_id++; continue; }
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
