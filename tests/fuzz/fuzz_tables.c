/* Gene tables (src/genes/): token dictionary and medians TSV, gene-name maps, BioMart (csv)
 * and HCOP (tsv) ortholog tables. The same bytes are offered to every loader. */
#include "fuzz_util.h"
#include "scfm/genes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *tsv = fz_write("table.tsv", data, size), *csv = fz_write("table.csv", data, size);
    scfm_vocab *v = scfm_vocab_load(tsv);
    if (v) {
        double *med = NULL;
        if (scfm_medians_load(tsv, v, &med) == SCFM_OK) free(med);
        scfm_vocab_free(v);
    }
    const char *paths[2] = {csv, tsv};
    for (int k = 0; k < 2; k++) {
        scfm_gene_map *m = scfm_gene_map_new();
        if (m) {
            if (scfm_gene_map_add_file(m, paths[k])) {}
            scfm_gene_map_free(m);
        }
        scfm_orthologs *o = scfm_orthologs_load(paths[k], "mouse", "human", NULL);
        scfm_orthologs_free(o);
        scfm_ortholog_opts opts = {0, 1, 1};
        o = scfm_orthologs_load(paths[k], "human", "mouse", &opts);
        scfm_orthologs_free(o);
    }
    return 0;
}
