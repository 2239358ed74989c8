/* HDF5 count matrices (src/io/h5ad.c, loom.c, tenx_h5.c over libhdf5): the same bytes read
 * as h5ad, loom and 10x h5, every chunk and obs column. */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *p = fz_write("m.h5", data, size);
    fz_read_matrix(p, "h5ad", 0);
    fz_read_matrix(p, "loom", 0);
    fz_read_matrix(p, "10x-h5", 0);
    return 0;
}
