/* safetensors header and file (src/core/safetensors.c): open from memory, read every tensor. */
#include "fuzz_util.h"
#include "scfm/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    scfm_safetensors *st = scfm_st_open_mem(data, size, "fuzz.safetensors");
    if (!st) return 0;
    for (size_t i = 0; i < st->n; i++) {
        const scfm_st_tensor *t = &st->t[i];
        if (t->numel > size) continue; /* cannot happen for a valid layout; keeps the buffer small */
        float *f = malloc((t->numel ? t->numel : 1) * sizeof *f);
        if (!f) continue;
        if (scfm_st_read_f32(st, t, f, t->numel)) {}
        free(f);
    }
    (void)scfm_st_meta(st, "format");
    scfm_st_close(st);
    return 0;
}
