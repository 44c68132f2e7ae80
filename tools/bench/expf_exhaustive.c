/* expf_exhaustive — drum_expf_array (include/drum/expf.h) against libm's expf on all 2^32
 * float bit patterns, and the two on 2^24 inputs in [-20, 20) one thread each: ns per value.
 *
 *   expf_exhaustive            (~20 s on two cores; part of `make bench`)
 *
 * Prints the mismatches (at most 10, then their count) and exits 1 when there is one. Run
 * under GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX2,-FMA, glibc and drum both use the build
 * without FMA, which this then checks. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drum/expf.h"

#define BLOCK 65536

int main(void) {
    long bad = 0;
    double t0 = omp_get_wtime();
#pragma omp parallel for schedule(dynamic, 64) reduction(+ : bad)
    for (uint64_t start = 0; start < (1ull << 32); start += BLOCK) {
        float x[BLOCK], y[BLOCK];
        for (uint32_t i = 0; i < BLOCK; i++) {
            uint32_t u = (uint32_t)(start + i);
            memcpy(&x[i], &u, sizeof u);
        }
        drum_expf_array(y, x, BLOCK);
        for (uint32_t i = 0; i < BLOCK; i++) {
            float want = expf(x[i]);
            if (memcmp(&want, &y[i], sizeof want) == 0) continue;
            if (bad++ < 10) {
#pragma omp critical
                printf("expf(%a) = %a, drum_expf_array: %a\n", x[i], want, y[i]);
            }
        }
    }
    double t1 = omp_get_wtime();
    printf("all 2^32 inputs, %s build: %ld differ from libm's expf (%.1f s, %d threads)\n",
           drum_expf_fused() ? "fused (AVX2 + FMA)" : "unfused", bad, t1 - t0,
           omp_get_max_threads());

    size_t n = (size_t)1 << 24;
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    if (!x || !y) return 2;
    uint32_t s = 1;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)(s >> 8) / 16777216.0f * 40.0f - 20.0f;
        y[i] = 0.0f; /* touched before either timing */
    }
    double best_libm = 1e9, best_drum = 1e9;
    for (int rep = 0; rep < 3; rep++) {
        double a = omp_get_wtime();
        for (size_t i = 0; i < n; i++) y[i] = expf(x[i]);
        double b = omp_get_wtime();
        drum_expf_array(y, x, n);
        double c = omp_get_wtime();
        if (b - a < best_libm) best_libm = b - a;
        if (c - b < best_drum) best_drum = c - b;
    }
    printf("one thread, 2^24 values in [-20, 20): libm expf %.2f ns each, drum_expf_array "
           "%.2f ns (%.1fx)\n", best_libm / n * 1e9, best_drum / n * 1e9, best_libm / best_drum);
    free(x);
    free(y);
    return bad ? 1 : 0;
}
