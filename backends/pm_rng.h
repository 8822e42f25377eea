/* The counter-based random numbers every backend shares (router noise), written so that the
 * same few lines port to OpenCL C, GLSL and CUDA: the value for (seed, i) does not depend on
 * the order in which elements are visited. */
#ifndef POLYMOE_RNG_H
#define POLYMOE_RNG_H

#include <math.h>
#include <stdint.h>

/* CUDA compiles the same functions for the device. */
#ifdef __CUDACC__
#define PM_RNG_FN static inline __host__ __device__
#else
#define PM_RNG_FN static inline
#endif

/* A 32-bit integer hash with good avalanche (the "lowbias32" constants). */
PM_RNG_FN uint32_t pm_hash32(uint32_t x) {
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

/* Standard normal for element i: Box-Muller on two uniforms derived from (seed, i).
 * u1 is in (0, 1], u2 in [0, 1). */
PM_RNG_FN float pm_normal(uint32_t seed, uint32_t i) {
    uint32_t h1 = pm_hash32(seed ^ pm_hash32(2u * i));
    uint32_t h2 = pm_hash32(seed ^ pm_hash32(2u * i + 1u));
    float u1 = (float)((h1 >> 8) + 1u) * (1.0f / 16777216.0f);
    float u2 = (float)(h2 >> 8) * (1.0f / 16777216.0f);
    return sqrtf(-2.0f * logf(u1)) * cosf(6.2831853f * u2);
}

#endif
