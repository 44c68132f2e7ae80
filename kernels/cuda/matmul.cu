/* matmul.cu — C = alpha op(A) op(B) + bias + beta C with cuBLASLt in fp32, and its
 * backward. Row-major operands are read as their column-major transposes, so each call
 * computes C^T = op(B)^T op(A)^T. Descriptors are built per call (nothing global is
 * cached). The bias rides the GEMM's epilogue when C is overwritten and the bias pointer
 * is 16-byte aligned; otherwise (or when no algorithm has that epilogue for the shape) a
 * small kernel adds it. dbias is a two-pass column sum
 * (per-chunk partials, then the chunks in order): no atomics, the same bytes every run. */
#include <stdint.h>

#include "common.cuh"

#define MM_ROW_CHUNK 64

/* Largest power of two (<= 256) dividing the address: tells the heuristic which
 * kernels the pointer allows, so offsets into a parameter buffer stay legal. */
static uint32_t pointer_alignment(const void *p) {
    uintptr_t a = (uintptr_t)p;
    uint32_t al = 256;
    while (al > 4 && (a % al) != 0) al >>= 1;
    return al;
}

/* C(m,n) = alpha op(X) op(Y) [+ bias[n] through the epilogue] + beta C, all row-major:
 * X stored (m,k) or (k,m) when tX, Y stored (k,n) or (n,k) when tY. Returns 0 on success,
 * -1 with an error recorded, or 1 (nothing recorded, nothing run) when a bias was asked
 * for and no algorithm has the bias epilogue for this shape: the caller adds it itself. */
static int lt_gemm(drum_backend *be, float *C, const float *X, const float *Y,
                   const float *bias, int m, int n, int k, int tX, int tY, float alpha,
                   float beta) {
    drum_cuda_state *st = cuda_state(be);
    cublasLtMatmulDesc_t desc = NULL;
    cublasLtMatrixLayout_t ly = NULL, lx = NULL, lc = NULL;
    cublasLtMatmulPreference_t pref = NULL;
    cublasComputeType_t compute =
        be->allow_tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    /* column-major: Lt's A is Y (m_lt = n), Lt's B is X (n_lt = m) */
    cublasOperation_t opa = tY ? CUBLAS_OP_T : CUBLAS_OP_N, opb = tX ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasLtEpilogue_t epi = bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
    uint64_t ws = st->lt_workspace_bytes;
    uint32_t al_y = pointer_alignment(Y), al_x = pointer_alignment(X), al_c = pointer_alignment(C);
    cublasLtMatmulHeuristicResult_t heur;
    cublasStatus_t hs;
    int nres = 0, status = -1;

    if (CUBLAS_CHECK(be, cublasLtMatmulDescCreate(&desc, compute, CUDA_R_32F)) ||
        CUBLAS_CHECK(be, cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &opa,
                                                        sizeof opa)) ||
        CUBLAS_CHECK(be, cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &opb,
                                                        sizeof opb)) ||
        CUBLAS_CHECK(be, cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi,
                                                        sizeof epi)))
        goto done;
    if (bias && CUBLAS_CHECK(be, cublasLtMatmulDescSetAttribute(
                                     desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias)))
        goto done;
    if (CUBLAS_CHECK(be, cublasLtMatrixLayoutCreate(&ly, CUDA_R_32F, tY ? k : n, tY ? n : k,
                                                    tY ? k : n)) ||
        CUBLAS_CHECK(be, cublasLtMatrixLayoutCreate(&lx, CUDA_R_32F, tX ? m : k, tX ? k : m,
                                                    tX ? m : k)) ||
        CUBLAS_CHECK(be, cublasLtMatrixLayoutCreate(&lc, CUDA_R_32F, n, m, n)) ||
        CUBLAS_CHECK(be, cublasLtMatmulPreferenceCreate(&pref)) ||
        CUBLAS_CHECK(be, cublasLtMatmulPreferenceSetAttribute(
                             pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws)) ||
        CUBLAS_CHECK(be, cublasLtMatmulPreferenceSetAttribute(
                             pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al_y,
                             sizeof al_y)) ||
        CUBLAS_CHECK(be, cublasLtMatmulPreferenceSetAttribute(
                             pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al_x,
                             sizeof al_x)) ||
        CUBLAS_CHECK(be, cublasLtMatmulPreferenceSetAttribute(
                             pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al_c,
                             sizeof al_c)) ||
        CUBLAS_CHECK(be, cublasLtMatmulPreferenceSetAttribute(
                             pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al_c,
                             sizeof al_c)))
        goto done;
    hs = cublasLtMatmulAlgoGetHeuristic(st->lt, desc, ly, lx, lc, lc, pref, 1, &heur, &nres);
    /* "nothing fits" comes back either as NOT_SUPPORTED or as zero results */
    if (bias && (hs == CUBLAS_STATUS_NOT_SUPPORTED || (hs == CUBLAS_STATUS_SUCCESS && nres == 0))) {
        status = 1;
        goto done;
    }
    if (drum_cublas_failed(be, hs, "cublasLtMatmulAlgoGetHeuristic", __FILE__, __LINE__))
        goto done;
    if (nres == 0) {
        DRUM_FAIL(be, "matmul: cuBLASLt has no algorithm for C(%d,%d) = op(A)(%d,%d) op(B) "
                  "(transA %d, transB %d)", m, n, m, k, tX, tY);
        goto done;
    }
    if (CUBLAS_CHECK(be, cublasLtMatmul(st->lt, desc, &alpha, Y, ly, X, lx, &beta, C, lc, C, lc,
                                        &heur.algo, st->lt_workspace, st->lt_workspace_bytes,
                                        st->stream)))
        goto done;
    status = 0;
done:
    if (pref) CUBLAS_CHECK(be, cublasLtMatmulPreferenceDestroy(pref));
    if (lc) CUBLAS_CHECK(be, cublasLtMatrixLayoutDestroy(lc));
    if (lx) CUBLAS_CHECK(be, cublasLtMatrixLayoutDestroy(lx));
    if (ly) CUBLAS_CHECK(be, cublasLtMatrixLayoutDestroy(ly));
    if (desc) CUBLAS_CHECK(be, cublasLtMatmulDescDestroy(desc));
    return status;
}

/* C[i][j] = (keep ? C[i][j] : 0) + (bias ? bias[j] : 0) */
__global__ static void bias_kernel(float *C, const float *bias, int M, int N, int keep) {
    size_t total = (size_t)M * N;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        float v = keep ? C[i] : 0.0f;
        C[i] = bias ? v + bias[i % N] : v;
    }
}

extern "C" void cuda_matmul_forward(drum_backend *be, float *C, const float *A, const float *B,
                                    const float *bias, int M, int N, int K, int transA,
                                    int transB, float alpha, float beta) {
    if (!drum_backend_ok(be)) return;
    if (beta != 0.0f && beta != 1.0f) {
        DRUM_FAIL(be, "matmul_forward: beta must be 0 or 1, got %g", (double)beta);
        return;
    }
    if (M <= 0 || N <= 0) return;
    size_t total = (size_t)M * N;
    unsigned int grid = min(ceil_div(total, 256), 65535u);
    if (K <= 0) {
        bias_kernel<<<grid, 256, 0, cuda_stream(be)>>>(C, bias, M, N, beta != 0.0f);
        LAUNCH_CHECK(be);
        return;
    }
    int fused = 0;
    if (bias && beta == 0.0f && pointer_alignment(bias) >= 16) {
        int r = lt_gemm(be, C, A, B, bias, M, N, K, transA, transB, alpha, beta);
        if (r < 0) return;
        fused = r == 0;
    }
    if (!fused && lt_gemm(be, C, A, B, NULL, M, N, K, transA, transB, alpha, beta)) return;
    if (bias && !fused) {
        bias_kernel<<<grid, 256, 0, cuda_stream(be)>>>(C, bias, M, N, 1);
        LAUNCH_CHECK(be);
    }
}

/* partial[j][c] = sum of dC rows in chunk j, column c */
__global__ static void colsum_partial_kernel(float *partial, const float *dC, int M, int N) {
    int c = blockIdx.x * blockDim.x + threadIdx.x, j = blockIdx.y;
    if (c >= N) return;
    int i0 = j * MM_ROW_CHUNK, i1 = min(M, i0 + MM_ROW_CHUNK);
    float s = 0;
    for (int i = i0; i < i1; i++) s += dC[(size_t)i * N + c];
    partial[(size_t)j * N + c] = s;
}

__global__ static void colsum_finish_kernel(float *dbias, const float *partial, int N,
                                            int nchunks) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= N) return;
    float s = 0;
    for (int j = 0; j < nchunks; j++) s += partial[(size_t)j * N + c];
    dbias[c] += s;
}

extern "C" void cuda_matmul_backward(drum_backend *be, float *dA, float *dB, float *dbias,
                                     const float *dC, const float *A, const float *B, int M,
                                     int N, int K, int transA, int transB, float alpha) {
    if (!drum_backend_ok(be) || M <= 0 || N <= 0) return;
    if (K > 0) {
        /* dA = dC op(B)^T, stored (M,K); or its transpose op(B) dC^T, stored (K,M) */
        if (dA && !transA && lt_gemm(be, dA, dC, B, NULL, M, K, N, 0, !transB, alpha, 1.0f))
            return;
        if (dA && transA && lt_gemm(be, dA, B, dC, NULL, K, M, N, transB, 1, alpha, 1.0f)) return;
        /* dB = op(A)^T dC, stored (K,N); or its transpose dC^T op(A), stored (N,K) */
        if (dB && !transB && lt_gemm(be, dB, A, dC, NULL, K, N, M, !transA, 0, alpha, 1.0f))
            return;
        if (dB && transB && lt_gemm(be, dB, dC, A, NULL, N, K, M, 1, transA, alpha, 1.0f)) return;
    }
    if (!dbias) return;
    int nchunks = (M + MM_ROW_CHUNK - 1) / MM_ROW_CHUNK;
    float *partial = (float *)cuda_scratch(be, (size_t)nchunks * N * sizeof(float));
    if (!partial) return;
    cudaStream_t s = cuda_stream(be);
    colsum_partial_kernel<<<dim3(ceil_div(N, 128), nchunks), 128, 0, s>>>(partial, dC, M, N);
    if (LAUNCH_CHECK(be)) return;
    colsum_finish_kernel<<<ceil_div(N, 128), 128, 0, s>>>(dbias, partial, N, nchunks);
    LAUNCH_CHECK(be);
}
