/* grad_utils.c (cpu) — gradient-norm and scaling helpers for clipping and loss scaling. */
#include "common.h"

/* The buffer is cut into a fixed number of chunks that depends only on n; each chunk is
 * summed in float64 by one thread and the chunk sums are added in order, so the result is
 * the same for any thread count. */
#define SUMSQ_CHUNKS 256

void cpu_sum_squares(drum_backend *be, float *out, const float *x, size_t n) {
    if (!drum_backend_ok(be)) return;
    double part[SUMSQ_CHUNKS];
    size_t chunk = (n + SUMSQ_CHUNKS - 1) / SUMSQ_CHUNKS;
#pragma omp parallel for schedule(static)
    for (int j = 0; j < SUMSQ_CHUNKS; j++) {
        size_t i0 = (size_t)j * chunk, i1 = i0 + chunk < n ? i0 + chunk : n;
        /* four interleaved sums keep the adds from waiting on each other */
        double s[4] = {0, 0, 0, 0};
        size_t i = i0;
        for (; i + 4 <= i1; i += 4)
            for (int u = 0; u < 4; u++) s[u] += (double)x[i + u] * x[i + u];
        for (; i < i1; i++) s[0] += (double)x[i] * x[i];
        part[j] = (s[0] + s[1]) + (s[2] + s[3]);
    }
    double total = 0;
    for (int j = 0; j < SUMSQ_CHUNKS; j++) total += part[j];
    *out = (float)total;
}

void cpu_scale(drum_backend *be, float *x, size_t n, float s) {
    if (!drum_backend_ok(be)) return;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) x[i] *= s;
}
