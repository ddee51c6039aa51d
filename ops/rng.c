/* rng.c — PCG32 random generator (pcg32_random_r / pcg32_srandom_r of the PCG reference code)
 * with documented float, bounded-integer and Box-Muller normal methods (see ops.h). */
#include <math.h>

#include "ops.h"

uint32_t lb_rng_u32(lb_rng *r) {
    uint64_t old = r->state;
    r->state = old * 6364136223846793005ULL + r->inc;
    uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
    uint32_t rot = (uint32_t)(old >> 59u);
    return (xorshifted >> rot) | (xorshifted << ((-rot) & 31));
}

void lb_rng_seed(lb_rng *r, uint64_t seed) {
    r->state = 0;
    r->inc = (54u << 1u) | 1u;
    lb_rng_u32(r);
    r->state += seed;
    lb_rng_u32(r);
    r->has_spare = 0;
    r->spare = 0;
}

uint32_t lb_rng_below(lb_rng *r, uint32_t n) {
    if (n == 0) return 0;
    uint64_t m = (uint64_t)lb_rng_u32(r) * n;
    uint32_t l = (uint32_t)m;
    if (l < n) {
        uint32_t t = (uint32_t)(-n) % n;
        while (l < t) { m = (uint64_t)lb_rng_u32(r) * n; l = (uint32_t)m; }
    }
    return (uint32_t)(m >> 32);
}

float lb_rng_uniform(lb_rng *r) { return (float)(lb_rng_u32(r) >> 8) * (1.0f / 16777216.0f); }

double lb_rng_normal(lb_rng *r) {
    if (r->has_spare) { r->has_spare = 0; return r->spare; }
    double u1 = ((double)lb_rng_u32(r) + 1.0) * (1.0 / 4294967296.0);
    double u2 = (double)lb_rng_u32(r) * (1.0 / 4294967296.0);
    double rad = sqrt(-2.0 * log(u1));
    double th = 2.0 * 3.14159265358979323846 * u2;
    r->spare = rad * sin(th);
    r->has_spare = 1;
    return rad * cos(th);
}
