/* Text count matrices (src/io/): 10x mtx (in memory and streamed, with the fixture's gene
 * and barcode lists), CSV and TSV tables (cells in rows and genes in rows). */
#include "fuzz_util.h"

static void copy_fixture(const char *name, const char *to) {
    const char *fx = getenv("SCFM_FUZZ_FIXTURES");
    char src[700];
    snprintf(src, sizeof src, "%s/io/mtx_plain/%s", fx && *fx ? fx : "tests/fixtures", name);
    char *d = NULL;
    size_t n = 0;
    if (scfm_read_all(src, &d, &n)) { fprintf(stderr, "fuzz: %s missing (run from the repository root)\n", src); abort(); }
    fz_write(to, d, n);
    free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int ready;
    if (!ready) {
        char cmd[800];
        snprintf(cmd, sizeof cmd, "mkdir -p '%s/mtx'", fz_dir());
        if (system(cmd) != 0) abort();
        copy_fixture("genes.tsv", "mtx/genes.tsv");
        copy_fixture("barcodes.tsv", "mtx/barcodes.tsv");
        ready = 1;
    }
    fz_write("mtx/matrix.mtx", data, size);
    const char *dir = fz_path("mtx");
    scfm_reader_opts o;
    for (int stream = 0; stream < 2; stream++) {
        memset(&o, 0, sizeof o);
        o.path = dir;
        o.format = "mtx";
        o.chunk_cells = 5;
        o.read_memory_mib = stream ? SCFM_READ_STREAM : 0;
        scfm_reader *r = scfm_reader_open(&o);
        if (!r) continue;
        scfm_cells_chunk ch;
        memset(&ch, 0, sizeof ch);
        int rc;
        while ((rc = scfm_reader_next(r, &ch)) == 1) {}
        scfm_cells_chunk_free(&ch);
        scfm_reader_close(r);
    }
    const char *csv = fz_write("m.csv", data, size), *tsv = fz_write("m.tsv", data, size);
    for (int rows = 0; rows < 2; rows++) {
        fz_read_matrix(csv, "csv", rows);
        fz_read_matrix(tsv, "tsv", rows);
    }
    return 0;
}
