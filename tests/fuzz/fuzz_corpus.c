/* Corpus store (src/corpus/corpus.c). The scratch corpus starts as a copy of the seed
 * corpus tests/fuzz/seeds/corpus_store (one shard). Input byte 0 chooses what the rest
 * replaces: even -> corpus.json; odd -> shard-00000.bin, with corpus.json's crc32 fixed up
 * to match, so mutated shards get past the checksum to the structural checks. Every cell
 * and obs value is then read. */
#include "fuzz_util.h"
#include "scfm/corpus.h"

static char *seed_json;
static size_t seed_json_len;

static char *read_seed(const char *name, size_t *n) {
    const char *d = getenv("SCFM_FUZZ_CORPUS_SEED");
    char p[700];
    snprintf(p, sizeof p, "%s/%s", d && *d ? d : "tests/fuzz/seeds/corpus_store", name);
    char *b = NULL;
    if (scfm_read_all(p, &b, n)) { fprintf(stderr, "fuzz: %s missing (run from the repository root)\n", p); abort(); }
    return b;
}

static void put_seed(const char *name) {
    size_t n;
    char *b = read_seed(name, &n), to[128];
    snprintf(to, sizeof to, "corpus/%s", name);
    fz_write(to, b, n);
    free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!seed_json) {
        char cmd[800];
        snprintf(cmd, sizeof cmd, "mkdir -p '%s/corpus'", fz_dir());
        if (system(cmd) != 0) abort();
        seed_json = read_seed("corpus.json", &seed_json_len);
    }
    put_seed("vocab.tsv");
    put_seed("obs.tsv");
    if (size >= 1 && (data[0] & 1)) {
        put_seed("corpus.json");
        fz_write("corpus/shard-00000.bin", data + 1, size - 1);
        /* corpus.json with "crc32": <crc of the new shard body> */
        uint32_t crc = size - 1 > SCFM_SHARD_HEADER ? scfm_crc32(0, data + 1 + SCFM_SHARD_HEADER, size - 1 - SCFM_SHARD_HEADER) : 0;
        const char *k = strstr(seed_json, "\"crc32\"");
        if (k) {
            const char *v = k + 7;
            while (*v == ' ' || *v == ':') v++;
            const char *e = v;
            while (*e >= '0' && *e <= '9') e++;
            size_t n = (size_t)(v - seed_json);
            char *j = malloc(seed_json_len + 32);
            if (!j) abort();
            memcpy(j, seed_json, n);
            int w = snprintf(j + n, 32, "%u", (unsigned)crc);
            size_t rest = seed_json_len - (size_t)(e - seed_json);
            memcpy(j + n + (size_t)w, e, rest);
            fz_write("corpus/corpus.json", j, n + (size_t)w + rest);
            free(j);
        }
    } else {
        put_seed("shard-00000.bin");
        fz_write("corpus/corpus.json", size ? data + 1 : data, size ? size - 1 : 0);
    }
    scfm_corpus *c = scfm_corpus_open(fz_path("corpus"));
    if (!c) return 0;
    size_t n = scfm_corpus_n_cells(c), no = scfm_corpus_n_obs(c);
    for (size_t i = 0; i < n; i++) {
        const int32_t *t;
        const float *v;
        size_t len;
        if (scfm_corpus_cell(c, i, &t, &len, &v) == SCFM_OK) {
            volatile int64_t sum = 0;
            for (size_t k = 0; k < len; k++) sum += t[k];
            (void)sum;
        }
        (void)scfm_corpus_cell_id(c, i);
        for (size_t k = 0; k < no; k++) (void)scfm_corpus_obs(c, i, k);
    }
    scfm_vocab *voc = scfm_corpus_load_vocab(c);
    if (voc) {
        if (scfm_corpus_check_vocab(c, voc)) {}
        scfm_vocab_free(voc);
    }
    scfm_corpus_close(c);
    return 0;
}
