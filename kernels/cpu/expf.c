/* expf.c (cpu) — drum_expf_array: glibc's expf, vectorized (include/drum/expf.h).
 *
 * The algorithm (glibc 2.28 on, from Arm's optimized-routines, sysdeps/ieee754/flt-32/e_expf.c):
 * with N = 32, x·N/ln2 = k + r, r in [-1/2, 1/2], k an integer rounded by adding 1.5·2^52;
 * e^x = 2^(k/N) · 2^(r/N), the first a table entry T[k mod N] with k/N's integer part added
 * to its exponent bits, the second the cubic C0·r³ + C1·r² + C2·r + 1; all in double, rounded
 * to float once at the end. Inputs past the table's range take glibc's special values:
 * x > 88.72 gives +inf, x < -103.97 gives 0, NaN gives x + x (the input, quieted), -inf 0.
 * (glibc has a third case, x in [-103.97, -103.28), only to set errno: its value there,
 * 2^-149, is what the cubic rounds to as well.) The special cases are selected with bit
 * masks rather than branches, so that the loops vectorize.
 *
 * Which operations are fused follows glibc's two x86-64 builds of it (its e_expf-fma.c,
 * compiled with -mfma -mavx2, and the baseline SSE2 one). This file is compiled with
 * -ffp-contract=off (Makefile) so that the compiler fuses nothing else. */
#include <math.h>
#include <stdint.h>

#include "drum/expf.h"

#if defined(__x86_64__) && defined(__GNUC__)

/* T[i] = the bits of 2^(i/32) less i << 47 (i/32 in the exponent's units): glibc's table */
static const uint64_t EXP2F_T[32] = {
    0x3ff0000000000000ull, 0x3fefd9b0d3158574ull, 0x3fefb5586cf9890full,
    0x3fef9301d0125b51ull, 0x3fef72b83c7d517bull, 0x3fef54873168b9aaull,
    0x3fef387a6e756238ull, 0x3fef1e9df51fdee1ull, 0x3fef06fe0a31b715ull,
    0x3feef1a7373aa9cbull, 0x3feedea64c123422ull, 0x3feece086061892dull,
    0x3feebfdad5362a27ull, 0x3feeb42b569d4f82ull, 0x3feeab07dd485429ull,
    0x3feea47eb03a5585ull, 0x3feea09e667f3bcdull, 0x3fee9f75e8ec5f74ull,
    0x3feea11473eb0187ull, 0x3feea589994cce13ull, 0x3feeace5422aa0dbull,
    0x3feeb737b0cdc5e5ull, 0x3feec49182a3f090ull, 0x3feed503b23e255dull,
    0x3feee89f995ad3adull, 0x3feeff76f2fb5e47ull, 0x3fef199bdd85529cull,
    0x3fef3720dcef9069ull, 0x3fef5818dcfba487ull, 0x3fef7c97337b9b5full,
    0x3fefa4afa2a490daull, 0x3fefd0765b6e4540ull,
};
#define INV_LN2_N 0x1.71547652b82fep+5 /* 32 / ln 2 */
#define SHIFT 0x1.8p+52                /* rounds a double to an integer in its low bits */
#define C0 0x1.c6af84b912394p-20
#define C1 0x1.ebfce50fac4f3p-13
#define C2 0x1.62e42ff0c52d6p-6
/* float bit patterns: x > 0x1.62e42ep6 gives +inf, x < -0x1.9fe368p6 gives 0; as signed /
 * unsigned integers they order as the floats they are on each side of 0 */
#define OVER_BITS 0x42b17217
#define UNDER_BITS 0xc2cff1b4u

/* the bits of a double or a float, and back (type punning through a union is C) */
typedef union {
    double d;
    uint64_t u;
} bits64;
typedef union {
    float f;
    uint32_t u;
} bits32;

/* b, with c where m is all ones */
static inline uint32_t pick(uint32_t b, uint32_t m, uint32_t c) { return (b & ~m) | (c & m); }

/* glibc's expf, its multiply-adds through FMA(a, b, c) = a·b + c */
#define EXPF_BODY(x, FMA)                                                                       \
    double xd = (double)(x);                                                                    \
    double kd = FMA(INV_LN2_N, xd, SHIFT);                                                      \
    uint64_t ki = (bits64){.d = kd}.u;                                                          \
    kd -= SHIFT;                                                                                \
    double r = FMA(INV_LN2_N, xd, -kd);                                                         \
    double s = (bits64){.u = EXP2F_T[ki % 32] + (ki << 47)}.d;                                  \
    double z = FMA(C0, r, C1), r2 = r * r, y = FMA(C2, r, 1.0);                                 \
    y = FMA(z, r2, y);                                                                          \
    uint32_t u = (bits32){.f = (x)}.u, b = (bits32){.f = (float)(y * s)}.u;                     \
    b = pick(b, -(uint32_t)((int32_t)u > OVER_BITS), 0x7f800000u);                              \
    b = pick(b, -(uint32_t)(u > UNDER_BITS), 0u);                                               \
    b = pick(b, -(uint32_t)((u & 0x7fffffffu) > 0x7f800000u), u | 0x400000u);                   \
    return (bits32){.u = b}.f;

#define FUSED(a, b, c) __builtin_fma(a, b, c)
#define UNFUSED(a, b, c) ((a) * (b) + (c))

__attribute__((target("avx2,fma"), always_inline)) static inline float expf_fused(float x) {
    EXPF_BODY(x, FUSED)
}

__attribute__((always_inline)) static inline float expf_unfused(float x) {
    EXPF_BODY(x, UNFUSED)
}

__attribute__((target("avx2,fma"))) static void array_fused(float *dst, const float *src,
                                                            size_t n) {
#pragma omp simd
    for (size_t i = 0; i < n; i++) dst[i] = expf_fused(src[i]);
}

static void array_unfused(float *dst, const float *src, size_t n) {
#pragma omp simd
    for (size_t i = 0; i < n; i++) dst[i] = expf_unfused(src[i]);
}

/* The build glibc chose. Its ifunc picks the FMA one when the CPU has AVX2 and FMA, unless
 * GLIBC_TUNABLES turns them off: expf on an input where the two builds differ tells. Without
 * AVX2 and FMA the fused loop cannot run at all, whatever the libm. */
static int choose_fused(void) {
    if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) return 0;
    volatile float probe = 0x1.04845ep+5f; /* computed at run time, not folded */
    return expf(probe) != 0x1.f93e36p+46f; /* the unfused build's value */
}

int drum_expf_fused(void) {
    static int fused = -1; /* every thread that finds it unset stores the same value */
    int f = __atomic_load_n(&fused, __ATOMIC_RELAXED);
    if (f < 0) {
        f = choose_fused();
        __atomic_store_n(&fused, f, __ATOMIC_RELAXED);
    }
    return f;
}

void drum_expf_array(float *dst, const float *src, size_t n) {
    if (drum_expf_fused())
        array_fused(dst, src, n);
    else
        array_unfused(dst, src, n);
}

#else

int drum_expf_fused(void) { return 0; }

void drum_expf_array(float *dst, const float *src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = expf(src[i]);
}

#endif
