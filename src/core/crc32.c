/* CRC-32 (the gzip/zlib polynomial), used for corpus shard checksums: ISA-L's folding
 * implementation when the build has it (several times zlib's speed), else zlib's. */
#include "scfm/core.h"

#ifdef SCFM_HAVE_ISAL
#include <isa-l/crc.h>
#else
#include <zlib.h>
#endif

uint32_t scfm_crc32(uint32_t crc, const void *data, size_t n) {
    const unsigned char *p = data;
#ifdef SCFM_HAVE_ISAL
    crc = crc32_gzip_refl(crc, p, (uint64_t)n);
    scfm_vector_state_clean(); /* ISA-L's AVX-512 CRC leaves the upper state dirty (src/core/cpu.c) */
    return crc;
#else
    while (n) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        crc = (uint32_t)crc32(crc, p, k);
        p += k;
        n -= k;
    }
    return crc;
#endif
}
