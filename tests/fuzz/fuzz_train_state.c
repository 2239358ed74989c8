/* Training-state file (src/train/state.c). The target takes n_params and the config hash
 * from the input's own header and fixes up the trailing CRC, so mutations reach the checks
 * behind it (the CRC check itself is covered by tests/test_train_state.c). */
#include "fuzz_util.h"
#include "scfm/train.h"

static uint64_t rd64(const uint8_t *p) {
    uint64_t v = 0;
    for (int k = 7; k >= 0; k--) v = (v << 8) | p[k];
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    if (size) memcpy(buf, data, size);
    scfm_train_state s;
    memset(&s, 0, sizeof s);
    if (size >= 132) {
        uint32_t crc = scfm_crc32(0, buf, size - 4);
        for (int k = 0; k < 4; k++) buf[size - 4 + (size_t)k] = (uint8_t)(crc >> (8 * k));
        s.config_hash = rd64(buf + 72);
        uint64_t np = rd64(buf + 80);
        s.n_params = np <= size / 8 ? (size_t)np : 1;
    } else {
        s.n_params = 1;
    }
    s.m = calloc(s.n_params ? s.n_params : 1, sizeof *s.m);
    s.v = calloc(s.n_params ? s.n_params : 1, sizeof *s.v);
    if (s.m && s.v && scfm_train_state_load(fz_write("state.bin", buf, size), &s)) {}
    free(s.m);
    free(s.v);
    free(buf);
    return 0;
}
