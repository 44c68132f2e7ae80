/* matmul.c (cpu) — C = alpha op(A) op(B) + bias + beta C through OpenBLAS, and its backward.
 * Every product is one row-major cblas_sgemm; dbias is a chunked column sum so its bytes
 * do not depend on the thread count. */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

/* C(m,n) = alpha op(X) op(Y) + beta C, row-major; X stored (m,k) or (k,m) when tX,
 * Y stored (k,n) or (n,k) when tY. */
static void gemm(float *C, const float *X, const float *Y, int m, int n, int k, int tX, int tY,
                 float alpha, float beta) {
    cblas_sgemm(CblasRowMajor, tX ? CblasTrans : CblasNoTrans, tY ? CblasTrans : CblasNoTrans,
                m, n, k, alpha, X, tX ? m : k, Y, tY ? k : n, beta, C, n);
}

void cpu_matmul_forward(drum_backend *be, float *C, const float *A, const float *B,
                        const float *bias, int M, int N, int K, int transA, int transB,
                        float alpha, float beta) {
    if (beta != 0.0f && beta != 1.0f) {
        DRUM_FAIL(be, "matmul_forward: beta must be 0 or 1, got %g", (double)beta);
        return;
    }
    if (M <= 0 || N <= 0) return;
    /* C starts as bias + beta C, then the GEMM accumulates into it: one code path for
     * every (bias, beta) pair, and K = 0 still writes every element. */
    if (beta == 0.0f || bias) {
#pragma omp parallel for schedule(static)
        for (int i = 0; i < M; i++) {
            float *c = C + (size_t)i * N;
            if (beta == 0.0f) {
                if (bias)
                    memcpy(c, bias, (size_t)N * sizeof(float));
                else
                    memset(c, 0, (size_t)N * sizeof(float));
            } else {
                for (int j = 0; j < N; j++) c[j] += bias[j];
            }
        }
    }
    if (K > 0) gemm(C, A, B, M, N, K, transA, transB, alpha, 1.0f);
}

/* dbias[j] += sum_i dC[i][j]: chunks of CPU_ROW_CHUNK rows summed per thread, then the
 * chunk partials added in chunk order. */
static void column_sums(drum_backend *be, float *dbias, const float *dC, int M, int N) {
    int nchunks = (M + CPU_ROW_CHUNK - 1) / CPU_ROW_CHUNK;
    size_t bytes = (size_t)nchunks * N * sizeof(float);
    float *part = cpu_scratch(be, bytes, "matmul_backward");
    if (!part) return;
    memset(part, 0, bytes);
#pragma omp parallel for schedule(static)
    for (int j = 0; j < nchunks; j++) {
        float *p = part + (size_t)j * N;
        int i1 = (j + 1) * CPU_ROW_CHUNK < M ? (j + 1) * CPU_ROW_CHUNK : M;
        for (int i = j * CPU_ROW_CHUNK; i < i1; i++) {
            const float *g = dC + (size_t)i * N;
            for (int c = 0; c < N; c++) p[c] += g[c];
        }
    }
#pragma omp parallel for schedule(static)
    for (int c = 0; c < N; c++) {
        float s = 0;
        for (int j = 0; j < nchunks; j++) s += part[(size_t)j * N + c];
        dbias[c] += s;
    }
}

void cpu_matmul_backward(drum_backend *be, float *dA, float *dB, float *dbias, const float *dC,
                         const float *A, const float *B, int M, int N, int K, int transA,
                         int transB, float alpha) {
    if (M <= 0 || N <= 0) return;
    if (K > 0) {
        /* dA = dC op(B)^T, stored (M,K); or its transpose op(B) dC^T, stored (K,M) */
        if (dA && !transA) gemm(dA, dC, B, M, K, N, 0, !transB, alpha, 1.0f);
        if (dA && transA) gemm(dA, B, dC, K, M, N, transB, 1, alpha, 1.0f);
        /* dB = op(A)^T dC, stored (K,N); or its transpose dC^T op(A), stored (N,K) */
        if (dB && !transB) gemm(dB, A, dC, K, N, M, !transA, 0, alpha, 1.0f);
        if (dB && transB) gemm(dB, dC, A, N, K, M, 1, transA, alpha, 1.0f);
    }
    if (dbias) column_sums(be, dbias, dC, M, N);
}
