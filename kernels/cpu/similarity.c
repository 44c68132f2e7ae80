/* similarity.c (cpu) — scaled similarity logits exp(log_scale) * a b^T (CLIP's
 * logits_per_text / logits_per_image), GEMMs through cblas. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>

#include "common.h"

void cpu_similarity_forward(drum_backend *be, float *out, const float *a, const float *b,
                            const float *log_scale, int M, int N, int C) {
    if (M == 0 || N == 0) return;
    float s = expf(*log_scale);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, C, s, a, C, b, C, 0.0f, out, N);
}

/* d out / d log_scale = out, so dlog_scale = sum(dout * out): per-chunk partials in
 * float64, added in chunk order. */
void cpu_similarity_backward(drum_backend *be, float *da, float *db, float *dlog_scale,
                             const float *dout, const float *out, const float *a,
                             const float *b, const float *log_scale, int M, int N, int C) {
    if (M == 0 || N == 0) return;
    float s = expf(*log_scale);
    if (da) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, C, N, s, dout, N, b, C,
                        1.0f, da, C);
    if (db) cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, C, M, s, dout, N, a, C,
                        1.0f, db, C);
    if (!dlog_scale) return;
    int nchunks = (M + CPU_ROW_CHUNK - 1) / CPU_ROW_CHUNK;
    double *part = cpu_scratch(be, (size_t)nchunks * sizeof(double), "similarity_backward");
    if (!part) return;
#pragma omp parallel for schedule(static)
    for (int j = 0; j < nchunks; j++) {
        int m1 = (j + 1) * CPU_ROW_CHUNK < M ? (j + 1) * CPU_ROW_CHUNK : M;
        double acc = 0;
        for (size_t k = (size_t)j * CPU_ROW_CHUNK * N; k < (size_t)m1 * N; k++)
            acc += (double)dout[k] * out[k];
        part[j] = acc;
    }
    double total = 0;
    for (int j = 0; j < nchunks; j++) total += part[j];
    *dlog_scale += (float)total;
}
