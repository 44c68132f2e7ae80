/* pool.c (cpu) — one row per sequence at an index (class token, EOS token). */
#include <string.h>

#include "common.h"

/* Checks every idx[b] before any thread starts: DRUM_FAIL is not called from a
 * parallel region. Returns 0 when all are in [0, T). */
static int check_indices(drum_backend *be, const char *op, const int *idx, int B, int T) {
    for (int b = 0; b < B; b++) {
        if (idx[b] < 0 || idx[b] >= T) {
            DRUM_FAIL(be, "%s: idx[%d] = %d is outside [0, %d)", op, b, idx[b], T);
            return -1;
        }
    }
    return 0;
}

void cpu_pool_forward(drum_backend *be, float *out, const float *inp, const int *idx, int B,
                      int T, int C) {
    if (check_indices(be, "pool_forward", idx, B, T)) return;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++)
        memcpy(out + (size_t)b * C, inp + ((size_t)b * T + idx[b]) * C, (size_t)C * sizeof(float));
}

void cpu_pool_backward(drum_backend *be, float *dinp, const float *dout, const int *idx, int B,
                       int T, int C) {
    if (!dinp || check_indices(be, "pool_backward", idx, B, T)) return;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        float *d = dinp + ((size_t)b * T + idx[b]) * C;
        const float *g = dout + (size_t)b * C;
        for (int c = 0; c < C; c++) d[c] += g[c];
    }
}
