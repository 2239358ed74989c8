/* config.json (src/model/config_json.c): parse, validate, write back. */
#include "fuzz_util.h"
#include "scfm/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    scfm_bert_config c;
    scfm_bert_config_init(&c);
    if (scfm_bert_config_load(&c, fz_write("config.json", data, size)) == SCFM_OK) {
        char *out = NULL;
        size_t len = 0;
        if (scfm_bert_config_to_json(&c, SCFM_HEAD_MLM, &out, &len) == SCFM_OK) free(out);
    }
    scfm_bert_config_free(&c);
    return 0;
}
