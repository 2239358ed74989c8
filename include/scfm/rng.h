/* Random numbers.
 *  - scfm_rng: sequential generator (xoshiro256**) for samplers, masking, init; its
 *    state is four uint64 words and is saved in training-state files.
 *  - scfm_hash_u32/uniform: counter-based (stateless) numbers for dropout, so forward and
 *    backward regenerate the same mask from (seed, stream, index) without storing it,
 *    independent of thread count. */
#ifndef SCFM_RNG_H
#define SCFM_RNG_H
#include <stdint.h>
#include <stddef.h>

typedef struct { uint64_t s[4]; } scfm_rng;

void scfm_rng_seed(scfm_rng *r, uint64_t seed);
uint64_t scfm_rng_u64(scfm_rng *r);
/* uniform in [0,1) with 24 random bits (float) / 53 bits (double) */
float scfm_rng_uniform(scfm_rng *r);
double scfm_rng_uniform_d(scfm_rng *r);
/* uniform integer in [0, n), unbiased; n > 0 */
uint64_t scfm_rng_below(scfm_rng *r, uint64_t n);
/* standard normal (Box-Muller) */
float scfm_rng_normal(scfm_rng *r);

/* Stateless: a well-mixed 64-bit hash of (seed, stream, index). */
uint64_t scfm_hash3(uint64_t seed, uint64_t stream, uint64_t index);
static inline float scfm_hash_uniform(uint64_t seed, uint64_t stream, uint64_t index) {
    return (float)(scfm_hash3(seed, stream, index) >> 40) * (1.0f / 16777216.0f);
}
#endif
