/* concat.c (cpu) — weighted concatenation along features, [wa * a | wb * b] (SIT's joint
 * image-text embedding). */
#include "common.h"

void cpu_concat_forward(drum_backend *be, float *out, const float *a, const float *b, int N,
                        int Ca, int Cb, float wa, float wb) {
    int Co = Ca + Cb;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        float *o = out + (size_t)n * Co;
        const float *x = a + (size_t)n * Ca, *y = b + (size_t)n * Cb;
        for (int c = 0; c < Ca; c++) o[c] = wa * x[c];
        for (int c = 0; c < Cb; c++) o[Ca + c] = wb * y[c];
    }
}

void cpu_concat_backward(drum_backend *be, float *da, float *db, const float *dout, int N,
                         int Ca, int Cb, float wa, float wb) {
    int Co = Ca + Cb;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *g = dout + (size_t)n * Co;
        if (da) {
            float *d = da + (size_t)n * Ca;
            for (int c = 0; c < Ca; c++) d[c] += wa * g[c];
        }
        if (db) {
            float *d = db + (size_t)n * Cb;
            for (int c = 0; c < Cb; c++) d[c] += wb * g[Ca + c];
        }
    }
}
