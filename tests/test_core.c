/* Core: JSON parser (valid and invalid input), checked arithmetic, number parsing, RNG, CRC-32
 * (against zlib's crc32 and the standard check value), the vector state after CRC-32 (clean:
 * ISA-L's AVX-512 CRC leaves it dirty, which slowed every later float instruction 10x). */
#include "scfm/core.h"
#include "scfm/json.h"
#include "scfm/rng.h"
#include "testutil.h"

#include <zlib.h>

/* scfm_crc32 (ISA-L or zlib inside) equals zlib's crc32 whole and fed in pieces. */
static void test_crc32(void) {
    CHECK(scfm_crc32(0, "123456789", 9) == 0xCBF43926u, "CRC-32 check value: %08x", scfm_crc32(0, "123456789", 9));
    CHECK(scfm_crc32(0, "", 0) == 0, "empty");
    static unsigned char buf[100003];
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    for (size_t i = 0; i < sizeof buf; i++) { x ^= x << 13; x ^= x >> 7; x ^= x << 17; buf[i] = (unsigned char)x; }
    const size_t lens[] = {1, 3, 15, 16, 17, 63, 64, 65, 255, 4096, 100003};
    for (size_t k = 0; k < sizeof lens / sizeof *lens; k++) {
        uint32_t want = (uint32_t)crc32(0, buf, (uInt)lens[k]);
        CHECK(scfm_crc32(0, buf, lens[k]) == want, "length %zu", lens[k]);
        size_t h = lens[k] / 3;
        CHECK(scfm_crc32(scfm_crc32(0, buf, h), buf + h, lens[k] - h) == want, "length %zu in two pieces", lens[k]);
    }
}

/* The upper vector state is clean after every scfm_crc32 call (XGETBV ECX=1, bit 2). The
 * detector itself is checked first: a 256-bit instruction dirties the state, and
 * scfm_vector_state_clean() cleans it. */
static void test_vector_state(void) {
    if (scfm_vector_state_dirty() < 0) {
        printf("vector state: skipped (this CPU has no XGETBV with ECX=1, CPUID.(EAX=0Dh,ECX=1):EAX bit 2)\n");
        return;
    }
#if defined(__x86_64__) || defined(__i386__)
    if (scfm_cpu_has("avx")) {
        __asm__ volatile("vpcmpeqd %%ymm0, %%ymm0, %%ymm0" ::: "xmm0");
        CHECK(scfm_vector_state_dirty() == 1, "a 256-bit instruction should leave the upper state dirty");
        scfm_vector_state_clean();
        CHECK(scfm_vector_state_dirty() == 0, "scfm_vector_state_clean should clean the upper state");
    }
#endif
    static unsigned char buf[1 << 20];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)(i * 2654435761u >> 13);
    const size_t lens[] = {9, 64, 4096, 1 << 20};
    for (size_t k = 0; k < sizeof lens / sizeof *lens; k++) {
        uint32_t c = scfm_crc32(0, buf, lens[k]);
        int d = scfm_vector_state_dirty();
        CHECK(d == 0, "upper vector state dirty after scfm_crc32 of %zu bytes (crc %08x)", lens[k], c);
    }
}

static scfm_json *P(const char *s) { return scfm_json_parse(s, strlen(s), "t.json"); }

int main(void) {
    test_crc32();
    test_vector_state();
    scfm_json *j = P(" {\"a\": 1, \"b\": [true, false, null, -2.5e3], \"c\": \"x\\u00e9\\ud83d\\ude00\\n\", \"d\": {}} ");
    CHECK(j != NULL, "parse valid: %s", scfm_last_error());
    if (j) {
        long long a = 0;
        CHECK(scfm_json_get_long(j, "a", &a) == 0 && a == 1, "a");
        const scfm_json *b = scfm_json_get(j, "b");
        CHECK(b && b->type == SCFM_JSON_ARRAY && b->n == 4, "b array");
        CHECK(b && b->items[3].number == -2500.0 && !b->items[3].is_integer, "b[3]");
        const char *c = NULL;
        CHECK(scfm_json_get_string(j, "c", &c) == 0 && !strcmp(c, "x\xc3\xa9\xf0\x9f\x98\x80\n"), "utf8 escapes");
        CHECK(scfm_json_get_long(j, "zz", &a) == SCFM_ENOTFOUND, "missing key");
        CHECK(scfm_json_get_long(j, "c", &a) == SCFM_EFORMAT, "wrong type");
        CHECK(scfm_json_dup_key(j) == NULL, "no dup");
        scfm_json_free(j);
    }
    const char *bad[] = {"", "{", "{\"a\":}", "[1,]", "{\"a\":1} x", "\"\\x\"", "01", "1.", "-", "\"a\x01\"",
                         "\"\\ud800\"", "\"\xff\"", "nul", "[1 2]", "{1:2}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        scfm_json *x = P(bad[i]);
        CHECK(x == NULL, "should reject '%s'", bad[i]);
        CHECK(x != NULL || strstr(scfm_last_error(), "t.json") != NULL, "message names file: %s", scfm_last_error());
        scfm_json_free(x);
    }
    j = P("{\"k\":1,\"k\":2}");
    CHECK(j && scfm_json_dup_key(j) && !strcmp(scfm_json_dup_key(j), "k"), "dup key found");
    scfm_json_free(j);
    char deep[600];
    memset(deep, '[', 300); memset(deep + 300, ']', 300); deep[600 - 1] = 0; deep[599] = ']';
    j = scfm_json_parse(deep, 600 - 1, "deep");
    CHECK(j == NULL, "deep nesting rejected");

    size_t out;
    CHECK(scfm_mul_size((size_t)1 << 40, (size_t)1 << 30, &out) == -1, "mul overflow");
    CHECK(scfm_mul_size(3, 5, &out) == 0 && out == 15, "mul");
    long l;
    CHECK(scfm_parse_long("12x", 0, 100, &l) != 0, "12x rejected");
    CHECK(scfm_parse_long("101", 0, 100, &l) != 0, "range");
    CHECK(scfm_parse_long("42", 0, 100, &l) == 0 && l == 42, "42");
    double d;
    CHECK(scfm_parse_double("nan", &d) != 0, "nan rejected");
    CHECK(scfm_parse_double("1e-3", &d) == 0 && d == 1e-3, "1e-3");

    scfm_rng r, r2;
    scfm_rng_seed(&r, 42); scfm_rng_seed(&r2, 42);
    double mean = 0;
    int same = 1;
    for (int i = 0; i < 100000; i++) {
        float u = scfm_rng_uniform(&r);
        same &= (u == scfm_rng_uniform(&r2));
        CHECK(u >= 0 && u < 1, "uniform range");
        mean += u;
    }
    mean /= 100000;
    CHECK(same, "same seed same stream");
    CHECK(fabs(mean - 0.5) < 0.01, "uniform mean %g", mean);
    int hist[10] = {0};
    for (int i = 0; i < 100000; i++) hist[scfm_rng_below(&r, 10)]++;
    for (int i = 0; i < 10; i++) CHECK(abs(hist[i] - 10000) < 600, "below(10) bucket %d = %d", i, hist[i]);
    double hm = 0;
    for (int i = 0; i < 100000; i++) hm += scfm_hash_uniform(7, 3, (uint64_t)i);
    CHECK(fabs(hm / 100000 - 0.5) < 0.01, "hash uniform mean");
    CHECK(scfm_hash3(1, 2, 3) == scfm_hash3(1, 2, 3) && scfm_hash3(1, 2, 3) != scfm_hash3(1, 2, 4), "hash determinism");
    return TEST_END();
}
