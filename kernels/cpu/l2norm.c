/* l2norm.c (cpu) — rows divided by their Euclidean norm, without an epsilon, as Hugging
 * Face CLIP normalises its embeddings (a zero row gives NaN there too). */
#include <math.h>

#include "common.h"

void cpu_l2norm_forward(drum_backend *be, float *out, float *norm, const float *inp, int N,
                        int C) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        double s = 0;
        for (int c = 0; c < C; c++) s += (double)x[c] * x[c];
        float r = (float)sqrt(s);
        float *o = out + (size_t)n * C;
        for (int c = 0; c < C; c++) o[c] = x[c] / r;
        norm[n] = r;
    }
}

/* d inp = (dout - out <dout, out>) / norm */
void cpu_l2norm_backward(drum_backend *be, float *dinp, const float *dout, const float *out,
                         const float *norm, int N, int C) {
    if (!dinp) return;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *g = dout + (size_t)n * C, *y = out + (size_t)n * C;
        double s = 0;
        for (int c = 0; c < C; c++) s += (double)g[c] * y[c];
        float dot = (float)s, inv = 1.0f / norm[n];
        float *dx = dinp + (size_t)n * C;
        for (int c = 0; c < C; c++) dx[c] += (g[c] - y[c] * dot) * inv;
    }
}
