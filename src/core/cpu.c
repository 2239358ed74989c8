/* What the processor offers and the vector-register state scfm leaves behind.
 *
 * Some libraries scfm calls (ISA-L's CRC-32 and inflate, in their AVX-512 versions) return
 * with the upper halves of the vector registers in use (no VZEROUPPER). On Intel cores every
 * SSE or scalar-float instruction that runs afterwards (scfm's kernels, libm's exp) then pays
 * a state-transition penalty: one CRC call made the float code of a training step about 10x
 * slower. scfm_vector_state_clean() is called right after each such call; it executes
 * VZEROUPPER when the CPU has AVX (the instruction does not exist without it).
 * scfm_vector_state_dirty() reads the processor's in-use bitmap (XGETBV with ECX = 1) so
 * tests can prove the state is clean after every call into those libraries. */
#include "scfm/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#define SCFM_X86 1
#include <cpuid.h>

static void cpuid(unsigned leaf, unsigned sub, unsigned r[4]) {
    __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
}

static uint64_t xgetbv(unsigned ecx) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(ecx));
    return ((uint64_t)hi << 32) | lo;
}

/* The features scfm_cpu_has knows and their bits. */
static const struct { const char *name; int bit; } feature_names[] = {
    {"avx", 1}, {"xgetbv1", 2}, {"avx2", 4}, {"avx512f", 8}, {"avx512_bf16", 16}, {"avx512_vnni", 32}};
enum { N_FEATURES = sizeof feature_names / sizeof feature_names[0] };

/* SCFM_CPU_DISABLE=name,name,...: features to treat as absent (tests of the portable paths
 * and of refusals on a CPU that has the features). Masking a feature masks those built on it
 * (avx: avx2, avx512f, avx512_bf16, avx512_vnni; avx512f: avx512_bf16, avx512_vnni). Unknown names
 * are ignored. */
static int disabled_mask(void) {
    const char *e = getenv("SCFM_CPU_DISABLE");
    int mask = 0;
    while (e && *e) {
        size_t n = strcspn(e, ", ");
        for (int k = 0; k < N_FEATURES; k++)
            if (strlen(feature_names[k].name) == n && !strncmp(e, feature_names[k].name, n)) {
                const int b = feature_names[k].bit;
                mask |= b == 1 ? (1 | 4 | 8 | 16 | 32) : b == 8 ? (8 | 16 | 32) : b;
            }
        e += n;
        while (*e == ',' || *e == ' ') e++;
    }
    return mask;
}

/* Bit 0: AVX usable (CPU has it and the OS saves YMM state). Bit 1: XGETBV with ECX = 1
 * exists (CPUID.(EAX=0Dh,ECX=1):EAX bit 2). Bit 2: AVX2 + FMA usable. Bit 3: AVX-512F
 * usable (the OS saves the opmask and ZMM state too). Bit 4: AVX512_BF16 usable (with
 * AVX-512F, BW and VL: CPUID.(EAX=7,ECX=1):EAX bit 5). Bit 5: AVX512_VNNI usable (with AVX-512F,
 * BW and VL: CPUID.(EAX=7,ECX=0):ECX bit 11). Bit 30: computed. */
static int feature_cache;

static int features(void) {
    int f = __atomic_load_n(&feature_cache, __ATOMIC_RELAXED);
    if (f) return f;
    f = 1 << 30;
    unsigned r[4], max;
    __cpuid(0, max, r[1], r[2], r[3]);
    if (max >= 1) {
        cpuid(1, 0, r);
        const int osxsave = (r[2] >> 27) & 1, avx = (r[2] >> 28) & 1, fma = (r[2] >> 12) & 1;
        if (osxsave) {
            const uint64_t xcr0 = xgetbv(0);
            const int ymm_os = (xcr0 & 6) == 6, zmm_os = (xcr0 & 0xe6) == 0xe6;
            if (avx && ymm_os) f |= 1;
            if (max >= 7 && (f & 1)) {
                cpuid(7, 0, r);
                if (((r[1] >> 5) & 1) && fma) f |= 4;
                if (((r[1] >> 16) & 1) && zmm_os) f |= 8;
                const int bw = (r[1] >> 30) & 1, vl = (r[1] >> 31) & 1, leaf7_max = (int)r[0];
                if ((f & 8) && bw && vl && ((r[2] >> 11) & 1)) f |= 32;
                if ((f & 8) && bw && vl && leaf7_max >= 1) {
                    cpuid(7, 1, r);
                    if ((r[0] >> 5) & 1) f |= 16;
                }
            }
            if (max >= 0xd) {
                cpuid(0xd, 1, r);
                if ((r[0] >> 2) & 1) f |= 2;
            }
        }
    }
    f &= ~disabled_mask();
    __atomic_store_n(&feature_cache, f, __ATOMIC_RELAXED);
    return f;
}
#endif /* x86 */

int scfm_cpu_has(const char *feature) {
#ifdef SCFM_X86
    const int f = features();
    for (int k = 0; k < N_FEATURES; k++)
        if (!strcmp(feature, feature_names[k].name)) return (f & feature_names[k].bit) != 0;
#else
    (void)feature;
#endif
    return 0;
}

void scfm_vector_state_clean(void) {
#ifdef SCFM_X86
    if (features() & 1) __asm__ volatile("vzeroupper" ::: "memory");
#endif
}

int scfm_vector_state_dirty(void) {
#ifdef SCFM_X86
    if (!(features() & 2)) return -1;
    return (int)((xgetbv(1) >> 2) & 1); /* XINUSE bit 2: upper halves of YMM0-15 */
#else
    return -1;
#endif
}

const char *scfm_cpu_model(char *buf, size_t cap) {
    if (!cap) return buf;
    buf[0] = '\0';
#ifdef SCFM_X86
    unsigned r[4], max;
    __cpuid(0x80000000u, max, r[1], r[2], r[3]);
    if (max >= 0x80000004u && cap > 48) {
        char s[49];
        for (unsigned i = 0; i < 3; i++) {
            cpuid(0x80000002u + i, 0, r);
            memcpy(s + 16 * i, r, 16);
        }
        s[48] = '\0';
        const char *p = s;
        while (*p == ' ') p++;
        size_t n = strlen(p);
        while (n && p[n - 1] == ' ') n--;
        memcpy(buf, p, n);
        buf[n] = '\0';
    }
#endif
    if (!buf[0]) snprintf(buf, cap, "unknown");
    return buf;
}
