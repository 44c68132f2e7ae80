/* test_expf — drum_expf_array (include/drum/expf.h). Its outputs on a sweep over the 2^32
 * float bit patterns (every 4099th) are pinned by a digest (the same for both builds),
 * taken from glibc 2.36's expf: that holds whatever libm the machine has. Where libm's expf
 * is that algorithm (its sweep has the digest), drum_expf_array is compared with it bit for
 * bit on the sweep and on the special inputs (signed zeros, infinities, NaNs, the overflow
 * and underflow thresholds and their neighbours, denormals). The two inputs on which glibc's
 * builds differ are checked against the value of drum's build; every length up to 70, in
 * place and out of place, unaligned, against one value at a time.
 * tools/bench/expf_exhaustive.c compares all 2^32 inputs with libm. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "drum/expf.h"

#define STRIDE 4099u
/* FNV-1a 64 of the sweep's output bits from glibc 2.36's expf on x86-64: the same for its
 * FMA build and the other, which differ on 2 inputs the sweep does not hold */
#define DIGEST 0xfd949e0a46fbb207ull

static uint32_t bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint64_t digest(const float *y, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        uint32_t u = bits(y[i]);
        for (int b = 0; b < 4; b++, u >>= 8) h = (h ^ (u & 0xff)) * 0x100000001b3ull;
    }
    return h;
}

/* n inputs through drum_expf_array, each compared with expf; returns the mismatches */
static long compare(const float *x, size_t n, const char *what) {
    float *y = malloc(n * sizeof *y);
    if (!y) return -1;
    drum_expf_array(y, x, n);
    long bad = 0;
    for (size_t i = 0; i < n; i++) {
        float want = expf(x[i]);
        if (bits(y[i]) != bits(want) && bad++ < 5)
            fprintf(stderr, "%s: expf(%a) = %a (bits %08x), drum_expf_array gave %a (%08x)\n",
                    what, x[i], want, bits(want), y[i], bits(y[i]));
    }
    free(y);
    return bad;
}

/* The sweep against its digest; returns 1 when libm's expf gives that digest too. */
static int test_sweep(void) {
    size_t n = (size_t)((1ull << 32) / STRIDE) + 1, k = 0;
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    CHECK(x && y, "out of memory");
    if (!x || !y) {
        free(x);
        free(y);
        return 0;
    }
    for (uint64_t u = 0; u < (1ull << 32); u += STRIDE) x[k++] = from_bits((uint32_t)u);
    drum_expf_array(y, x, k);
    uint64_t got = digest(y, k);
    CHECK(got == DIGEST, "%s build: the sweep's digest is 0x%016llx, glibc 2.36's 0x%016llx",
          drum_expf_fused() ? "fused" : "unfused", (unsigned long long)got,
          (unsigned long long)DIGEST);
    for (size_t i = 0; i < k; i++) y[i] = expf(x[i]);
    uint64_t libm = digest(y, k);
    int reference = libm == DIGEST;
    if (reference) {
        long bad = compare(x, k, "sweep");
        CHECK(bad == 0, "%ld of %zu bit patterns (every %u-th) differ from libm's expf", bad, k,
              STRIDE);
    } else {
        SKIP("libm's expf is not glibc 2.28's algorithm (sweep digest 0x%016llx): drum keeps "
             "that algorithm's bits", (unsigned long long)libm);
    }
    free(x);
    free(y);
    return reference;
}

static void test_special(void) {
    const float x[] = {
        0.0f, -0.0f, INFINITY, -INFINITY, NAN, -NAN,
        from_bits(0x7fa00001u), from_bits(0xffa00001u), /* signalling NaNs, quieted */
        from_bits(0x7fc12345u), from_bits(0x00000001u), from_bits(0x80000001u),
        from_bits(0x007fffffu), from_bits(0x80800000u), 1.0f, -1.0f, 0.5f, 1e-8f, -1e-8f,
        0x1.62e42ep6f, nextafterf(0x1.62e42ep6f, 0.0f), nextafterf(0x1.62e42ep6f, INFINITY),
        88.0f, nextafterf(88.0f, 0.0f), -88.0f, nextafterf(-88.0f, 0.0f),
        -0x1.9d1d9ep6f, nextafterf(-0x1.9d1d9ep6f, 0.0f), nextafterf(-0x1.9d1d9ep6f, -INFINITY),
        -0x1.9fe368p6f, nextafterf(-0x1.9fe368p6f, 0.0f), nextafterf(-0x1.9fe368p6f, -INFINITY),
        -87.33654f, -103.5f, -104.0f, 1e30f, -1e30f, 3.4e38f, -3.4e38f,
    };
    long bad = compare(x, sizeof x / sizeof *x, "special");
    CHECK(bad == 0, "%ld special inputs differ from libm's expf", bad);
}

/* Values that do not depend on any libm, and glibc 2.36's where its two builds differ. */
static void test_values(void) {
    const float x[8] = {0.0f, 1.0f, -INFINITY, INFINITY, 89.0f, -104.0f, NAN,
                        -0x1.9fe368p6f};
    float y[8];
    drum_expf_array(y, x, 8);
    CHECK(y[0] == 1.0f && y[1] == 0x1.5bf0a8p+1f && y[2] == 0.0f && y[3] == INFINITY &&
              y[4] == INFINITY && y[5] == 0.0f && isnan(y[6]) && y[7] == 0x1p-149f,
          "e^0 %a, e^1 %a, e^-inf %a, e^inf %a, e^89 %a, e^-104 %a, e^nan %a, e^-103.97 %a",
          y[0], y[1], y[2], y[3], y[4], y[5], y[6], y[7]);
    const float at[2] = {0x1.04845ep+5f, -0x1.f8cbb2p+5f};
    const float fused[2] = {0x1.f93e38p+46f, 0x1.f45326p-92f};
    const float unfused[2] = {0x1.f93e36p+46f, 0x1.f45324p-92f};
    drum_expf_array(y, at, 2);
    const float *want = drum_expf_fused() ? fused : unfused;
    CHECK(bits(y[0]) == bits(want[0]) && bits(y[1]) == bits(want[1]),
          "%s build: e^%a = %a, e^%a = %a; glibc's give %a and %a",
          drum_expf_fused() ? "fused" : "unfused", at[0], y[0], at[1], y[1], want[0], want[1]);
}

/* every length of the vector loops' tails, in place and unaligned, against one at a time */
static void test_lengths(void) {
    float buf[72], in[72], out[72], one[72];
    test_rng r;
    test_rng_seed(&r, 5);
    for (int i = 0; i < 72; i++) {
        in[i] = test_rng_uniform(&r, -20.0f, 20.0f);
        drum_expf_array(&one[i], &in[i], 1);
    }
    int bad = 0;
    for (size_t n = 0; n <= 70; n++) {
        memcpy(buf, in, sizeof buf);
        for (int i = 0; i < 72; i++) out[i] = -1.0f;
        drum_expf_array(buf + 1, buf + 1, n);
        drum_expf_array(out + 1, in + 1, n);
        for (size_t i = 0; i < 72; i++) {
            int inside = i >= 1 && i <= n;
            bad += bits(buf[i]) != bits(inside ? one[i] : in[i]);
            bad += bits(out[i]) != bits(inside ? one[i] : -1.0f);
        }
    }
    CHECK(bad == 0, "%d values wrong over lengths 0..70 (in place, out of place)", bad);
}

int main(void) {
    test_values();
    test_lengths();
    if (test_sweep()) test_special();
    return check_summary();
}
