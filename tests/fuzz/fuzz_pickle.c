/* Restricted pickle reader (src/genes/pickle.c), and the vocabulary / medians loaders on it. */
#include "fuzz_util.h"
#include "scfm/genes.h"
#include "scfm/pickle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    scfm_pkl_dict d;
    if (scfm_pickle_parse_dict(data, size, "fuzz.pkl", &d) == SCFM_OK) scfm_pkl_dict_free(&d);
    scfm_vocab *v = scfm_vocab_load(fz_write("fuzz.pkl", data, size));
    scfm_vocab_free(v);
    return 0;
}
