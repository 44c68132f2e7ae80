/* positions.c (cpu) — adds a (T,C) position table to every sequence of a (B,T,C) batch. */
#include "common.h"

void cpu_add_positions_forward(drum_backend *be, float *out, const float *inp, const float *pos,
                               int B, int T, int C) {
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            size_t row = ((size_t)b * T + t) * C;
            const float *p = pos + (size_t)t * C;
            for (int c = 0; c < C; c++) out[row + c] = inp[row + c] + p[c];
        }
}

/* dpos[t] sums dout[b,t] over b in order 0..B-1; threads split t, so the sum does not
 * depend on the thread count. */
void cpu_add_positions_backward(drum_backend *be, float *dinp, float *dpos, const float *dout,
                                int B, int T, int C) {
    if (dinp) {
        size_t n = (size_t)B * T * C;
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) dinp[i] += dout[i];
    }
    if (dpos) {
#pragma omp parallel for schedule(static)
        for (int t = 0; t < T; t++) {
            float *d = dpos + (size_t)t * C;
            for (int c = 0; c < C; c++) {
                float s = 0;
                for (int b = 0; b < B; b++) s += dout[((size_t)b * T + t) * C + c];
                d[c] += s;
            }
        }
    }
}
