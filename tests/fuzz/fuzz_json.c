/* JSON parser (src/core/json.c): parse, duplicate-key check, serialise back. */
#include "fuzz_util.h"
#include "scfm/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    scfm_json *j = scfm_json_parse((const char *)data, size, "fuzz.json");
    if (j) {
        (void)scfm_json_dup_key(j);
        scfm_json_free(j);
    }
    return 0;
}
