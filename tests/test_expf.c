/* test_expf — drum_expf_array (include/drum/expf.h) against libm's expf bit for bit: a sweep
 * over the 2^32 float bit patterns (every 4099th), the special inputs (signed zeros,
 * infinities, NaNs, the overflow and underflow thresholds and their neighbours, denormals),
 * the two inputs on which glibc's builds with and without FMA differ (against the value of
 * the build drum picks, known here without libm), and every length up to 70 in place and out
 * of place, unaligned. tools/bench/expf_exhaustive.c compares all 2^32 inputs. */
#include <gnu/libc-version.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "drum/expf.h"

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

/* glibc's expf is the algorithm drum follows from 2.28 on */
static int libm_is_reference(void) {
    int major = 0, minor = 0;
    return sscanf(gnu_get_libc_version(), "%d.%d", &major, &minor) == 2 &&
           (major > 2 || (major == 2 && minor >= 28));
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

static void test_sweep(void) {
    const uint32_t stride = 4099;
    size_t n = (size_t)((1ull << 32) / stride) + 1, k = 0;
    float *x = malloc(n * sizeof *x);
    CHECK(x != NULL, "out of memory");
    if (!x) return;
    for (uint64_t u = 0; u < (1ull << 32); u += stride) x[k++] = from_bits((uint32_t)u);
    long bad = compare(x, k, "sweep");
    CHECK(bad == 0, "%ld of %zu bit patterns (every %u-th) differ from libm's expf", bad, k,
          stride);
    free(x);
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

/* glibc 2.36's values (its two x86-64 builds) where they differ */
static void test_builds(void) {
    const float x[2] = {0x1.04845ep+5f, -0x1.f8cbb2p+5f};
    const float fused[2] = {0x1.f93e38p+46f, 0x1.f45326p-92f};
    const float unfused[2] = {0x1.f93e36p+46f, 0x1.f45324p-92f};
    float y[2];
    drum_expf_array(y, x, 2);
    const float *want = drum_expf_fused() ? fused : unfused;
    CHECK(bits(y[0]) == bits(want[0]) && bits(y[1]) == bits(want[1]),
          "%s build: e^%a = %a, e^%a = %a; glibc's give %a and %a",
          drum_expf_fused() ? "fused" : "unfused", x[0], y[0], x[1], y[1], want[0], want[1]);
}

/* every length of the vector loops' tails, in place and unaligned */
static void test_lengths(void) {
    float buf[72], in[72], out[72];
    test_rng r;
    test_rng_seed(&r, 5);
    for (int i = 0; i < 72; i++) in[i] = test_rng_uniform(&r, -20.0f, 20.0f);
    int bad = 0;
    for (size_t n = 0; n <= 70; n++) {
        memcpy(buf, in, sizeof buf);
        for (int i = 0; i < 72; i++) out[i] = -1.0f;
        drum_expf_array(buf + 1, buf + 1, n);
        drum_expf_array(out + 1, in + 1, n);
        for (size_t i = 0; i < 72; i++) {
            int inside = i >= 1 && i <= n;
            float want = inside ? expf(in[i]) : in[i];
            bad += bits(buf[i]) != bits(want);
            bad += bits(out[i]) != bits(inside ? want : -1.0f);
        }
    }
    CHECK(bad == 0, "%d values wrong over lengths 0..70 (in place, out of place)", bad);
}

int main(void) {
    test_builds();
    if (libm_is_reference()) {
        test_sweep();
        test_special();
        test_lengths();
    } else {
        SKIP("glibc %s's expf predates the algorithm drum_expf_array follows (2.28)",
             gnu_get_libc_version());
    }
    return check_summary();
}
