/* Float math the compiler can vectorise: plain arithmetic and bit moves, no libm calls (a
 * libm call in a loop stops vectorisation, and double-precision libm is what made the old
 * GELU slow). Accurate to a few float ulps, which the conformance bounds check. */
#ifndef POLYMOE_CPU_VEC_MATH_H
#define POLYMOE_CPU_VEC_MATH_H

#include <stdint.h>
#include <string.h>

/* e^x: x = n ln2 + r with |r| <= ln2/2, e^r by its Taylor series to r^7 (error below 2e-8
 * relative), 2^n built in the exponent bits. NaN stays NaN; x is clamped to where e^x is a
 * normal float. */
static inline float cpu_expf(float x) {
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    const float shifter = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    float t = x * 1.44269504088896341f + shifter;
    float n = t - shifter;
    float r = x - n * 0.693145751953125f - n * 1.428606765330187e-06f; /* ln2 in two parts */
    float p = 1.0f / 5040;
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    uint32_t bits;
    memcpy(&bits, &t, 4);
    bits = (bits - 0x4B400000u + 127u) << 23; /* n + 127 in the exponent field */
    float scale;
    memcpy(&scale, &bits, 4);
    return p * scale;
}

#endif
