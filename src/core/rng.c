/* xoshiro256** (Blackman & Vigna) seeded by splitmix64, and a stateless 3-word hash. */
#include "scfm/rng.h"
#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void scfm_rng_seed(scfm_rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

uint64_t scfm_rng_u64(scfm_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

float scfm_rng_uniform(scfm_rng *r) { return (float)(scfm_rng_u64(r) >> 40) * (1.0f / 16777216.0f); }
double scfm_rng_uniform_d(scfm_rng *r) { return (double)(scfm_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0); }

uint64_t scfm_rng_below(scfm_rng *r, uint64_t n) {
    uint64_t lim = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = scfm_rng_u64(r); while (x >= lim);
    return x % n;
}

float scfm_rng_normal(scfm_rng *r) {
    double u1 = scfm_rng_uniform_d(r), u2 = scfm_rng_uniform_d(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

uint64_t scfm_hash3(uint64_t seed, uint64_t stream, uint64_t index) {
    uint64_t x = seed ^ 0x6A09E667F3BCC909ull;
    uint64_t a = splitmix64(&x);
    x = a ^ (stream * 0xD6E8FEB86659FD93ull);
    uint64_t b = splitmix64(&x);
    x = b ^ (index * 0x9E3779B97F4A7C15ull);
    return splitmix64(&x);
}
