/* layernorm.c (cpu) — LayerNorm over the last dimension, forward and backward. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

void cpu_layernorm_forward(drum_backend *be, float *out, float *mean, float *rstd,
                           const float *inp, const float *w, const float *b, int N, int C,
                           float eps) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        double s = 0;
        for (int c = 0; c < C; c++) s += x[c];
        float m = (float)(s / C);
        double v = 0;
        for (int c = 0; c < C; c++) {
            float d = x[c] - m;
            v += (double)d * d;
        }
        float r = 1.0f / sqrtf((float)(v / C) + eps);
        float *o = out + (size_t)n * C;
        for (int c = 0; c < C; c++) o[c] = (x[c] - m) * r * w[c] + b[c];
        mean[n] = m;
        rstd[n] = r;
    }
}

void cpu_layernorm_backward(drum_backend *be, float *dinp, float *dw, float *db,
                            const float *dout, const float *inp, const float *w,
                            const float *mean, const float *rstd, int N, int C) {
    int nchunks = (N + CPU_ROW_CHUNK - 1) / CPU_ROW_CHUNK;
    float *part = NULL;
    if (dw || db) {
        size_t bytes = (size_t)nchunks * 2 * C * sizeof(float);
        part = cpu_scratch(be, bytes, "layernorm_backward");
        if (!part) return;
        memset(part, 0, bytes);
    }
#pragma omp parallel for schedule(static)
    for (int j = 0; j < nchunks; j++) {
        float *pw = part ? part + (size_t)j * 2 * C : NULL;
        float *pb = pw ? pw + C : NULL;
        int n1 = (j + 1) * CPU_ROW_CHUNK < N ? (j + 1) * CPU_ROW_CHUNK : N;
        for (int n = j * CPU_ROW_CHUNK; n < n1; n++) {
            const float *x = inp + (size_t)n * C, *g = dout + (size_t)n * C;
            float m = mean[n], r = rstd[n];
            /* dxhat = g * w; dx = r * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) */
            double sum_g = 0, sum_gx = 0;
            for (int c = 0; c < C; c++) {
                float xhat = (x[c] - m) * r, dxhat = g[c] * w[c];
                sum_g += dxhat;
                sum_gx += (double)dxhat * xhat;
                if (pw) pw[c] += g[c] * xhat;
                if (pb) pb[c] += g[c];
            }
            if (!dinp) continue;
            float mg = (float)(sum_g / C), mgx = (float)(sum_gx / C);
            float *dx = dinp + (size_t)n * C;
            for (int c = 0; c < C; c++) {
                float xhat = (x[c] - m) * r;
                dx[c] += r * (g[c] * w[c] - mg - xhat * mgx);
            }
        }
    }
    if (part) {
#pragma omp parallel for schedule(static)
        for (int c = 0; c < C; c++) {
            float sw = 0, sb = 0;
            for (int j = 0; j < nchunks; j++) {
                sw += part[(size_t)j * 2 * C + c];
                sb += part[(size_t)j * 2 * C + C + c];
            }
            if (dw) dw[c] += sw;
            if (db) db[c] += sb;
        }
    }
}
