/* attention.cu — multi-head attention with materialised scores (llm.c's layout): qkv is
 * permuted to per-head q, k, v (B,NH,T,hd) in scratch, QK^T and att V are fp32 strided-
 * batched GEMMs on the backend's cuBLAS handle, the masked softmax and its backward run one
 * warp per row, and the head outputs are permuted back. No atomics: every output element
 * has one writer. */
#include <math.h>

#include "common.cuh"

/* (B,T,3,NH,hd) -> q, k, v (B,NH,T,hd) */
__global__ static void permute_qkv_kernel(float *q, float *k, float *v, const float *qkv, int B,
                                          int T, int NH, int hd) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x, C = (size_t)NH * hd;
    if (i >= (size_t)B * T * C) return;
    int d = (int)(i % hd), t = (int)(i / hd % T), h = (int)(i / ((size_t)hd * T) % NH);
    size_t b = i / ((size_t)hd * T * NH);
    const float *src = qkv + (b * T + t) * 3 * C + (size_t)h * hd + d;
    q[i] = src[0];
    k[i] = src[C];
    v[i] = src[2 * C];
}

/* (B,T,NH,hd) <-> (B,NH,T,hd): to_heads gathers dout into heads, else y into out */
__global__ static void unpermute_kernel(float *dst, const float *src, int B, int T, int NH,
                                        int hd, int to_heads) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x, C = (size_t)NH * hd;
    if (i >= (size_t)B * T * C) return;
    int d = (int)(i % hd), t = (int)(i / hd % T), h = (int)(i / ((size_t)hd * T) % NH);
    size_t b = i / ((size_t)hd * T * NH);
    size_t flat = (b * T + t) * C + (size_t)h * hd + d;
    if (to_heads)
        dst[i] = src[flat];
    else
        dst[flat] = src[i];
}

/* dqkv (B,T,3,NH,hd) += dq, dk, dv (B,NH,T,hd) */
__global__ static void permute_qkv_backward_kernel(float *dqkv, const float *dq, const float *dk,
                                                   const float *dv, int B, int T, int NH,
                                                   int hd) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x, C = (size_t)NH * hd;
    if (i >= (size_t)B * T * C) return;
    int d = (int)(i % hd), t = (int)(i / hd % T), h = (int)(i / ((size_t)hd * T) % NH);
    size_t b = i / ((size_t)hd * T * NH);
    float *dst = dqkv + (b * T + t) * 3 * C + (size_t)h * hd + d;
    dst[0] += dq[i];
    dst[C] += dk[i];
    dst[2 * C] += dv[i];
}

__device__ __forceinline__ int key_visible(const int *key_mask, int b, int T, int t, int j,
                                           int causal) {
    if (causal && j > t) return 0;
    return !key_mask || key_mask[(size_t)b * T + j] != 0;
}

/* In place on one row of att (already scaled scores): masked softmax; a row with no
 * visible key becomes all zeros. */
__global__ static void softmax_forward_kernel(float *att, const int *key_mask, int B, int NH,
                                              int T, int causal) {
    size_t row = (size_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    int lane = threadIdx.x & 31;
    if (row >= (size_t)B * NH * T) return;
    int t = (int)(row % T), b = (int)(row / ((size_t)T * NH));
    float *a = att + row * T;
    float mx = -INFINITY;
    int any = 0;
    for (int j = lane; j < T; j += 32) {
        if (!key_visible(key_mask, b, T, t, j, causal)) continue;
        mx = fmaxf(mx, a[j]);
        any = 1;
    }
    mx = warp_max(mx);
    if (!__any_sync(0xffffffffu, any)) {
        for (int j = lane; j < T; j += 32) a[j] = 0.0f;
        return;
    }
    float sum = 0;
    for (int j = lane; j < T; j += 32) {
        float e = key_visible(key_mask, b, T, t, j, causal) ? expf(a[j] - mx) : 0.0f;
        a[j] = e;
        sum += e;
    }
    float inv = 1.0f / warp_sum(sum);
    for (int j = lane; j < T; j += 32) a[j] *= inv;
}

/* In place on one row of datt: dpre = att * (datt - <att, datt>). Masked entries have
 * att = 0 and come out 0. */
__global__ static void softmax_backward_kernel(float *datt, const float *att, size_t rows, int T) {
    size_t row = (size_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    int lane = threadIdx.x & 31;
    if (row >= rows) return;
    const float *a = att + row * T;
    float *g = datt + row * T;
    float dot = 0;
    for (int j = lane; j < T; j += 32) dot += a[j] * g[j];
    dot = warp_sum(dot);
    for (int j = lane; j < T; j += 32) g[j] = a[j] * (g[j] - dot);
}

/* One fp32 (or TF32 when the backend allows it) strided-batched GEMM, column-major as
 * cuBLAS sees it; returns 1 on failure. */
static int gemm_batched(drum_backend *be, cublasOperation_t ta, cublasOperation_t tb, int m,
                        int n, int k, float alpha, const float *A, int lda, long long sa,
                        const float *Bm, int ldb, long long sb, float *Cm, int ldc, long long sc,
                        int batch) {
    const float beta = 0.0f;
    return CUBLAS_CHECK(be, cublasSgemmStridedBatched(cuda_state(be)->blas, ta, tb, m, n, k,
                                                      &alpha, A, lda, sa, Bm, ldb, sb, &beta,
                                                      Cm, ldc, sc, batch));
}

static int set_math_mode(drum_backend *be) {
    return CUBLAS_CHECK(be, cublasSetMathMode(cuda_state(be)->blas,
                                              be->allow_tf32 ? CUBLAS_TF32_TENSOR_OP_MATH
                                                             : CUBLAS_DEFAULT_MATH));
}

/* Row-major X (r,c) is column-major X^T (c,r), so att = q k^T is computed as
 * att^T = k q^T, and so on for each product below (the same calls as llm.c). */
extern "C" void cuda_attention_forward(drum_backend *be, float *out, float *att, const float *qkv,
                                       const int *key_mask, int B, int T, int C, int NH,
                                       int causal) {
    if (!drum_backend_ok(be) || B == 0 || T == 0) return;
    cudaStream_t s = cuda_stream(be);
    int hd = C / NH, batch = B * NH;
    size_t n = (size_t)B * T * C;
    float *q = (float *)cuda_scratch(be, 4 * n * sizeof(float));
    if (!q || set_math_mode(be)) return;
    float *k = q + n, *v = k + n, *y = v + n;
    permute_qkv_kernel<<<ceil_div(n, 256), 256, 0, s>>>(q, k, v, qkv, B, T, NH, hd);
    if (LAUNCH_CHECK(be)) return;
    long long sh = (long long)T * hd, sa = (long long)T * T;
    if (gemm_batched(be, CUBLAS_OP_T, CUBLAS_OP_N, T, T, hd, 1.0f / sqrtf((float)hd), k, hd, sh,
                     q, hd, sh, att, T, sa, batch))
        return;
    size_t rows = (size_t)batch * T;
    softmax_forward_kernel<<<ceil_div(rows, 8), 256, 0, s>>>(att, key_mask, B, NH, T, causal);
    if (LAUNCH_CHECK(be)) return;
    if (gemm_batched(be, CUBLAS_OP_N, CUBLAS_OP_N, hd, T, T, 1.0f, v, hd, sh, att, T, sa, y, hd,
                     sh, batch))
        return;
    unpermute_kernel<<<ceil_div(n, 256), 256, 0, s>>>(out, y, B, T, NH, hd, 0);
    LAUNCH_CHECK(be);
}

extern "C" void cuda_attention_backward(drum_backend *be, float *dqkv, float *datt,
                                        const float *dout, const float *qkv, const float *att,
                                        const int *key_mask, int B, int T, int C, int NH,
                                        int causal) {
    if (!drum_backend_ok(be) || !dqkv || B == 0 || T == 0) return;
    cudaStream_t s = cuda_stream(be);
    int hd = C / NH, batch = B * NH;
    size_t n = (size_t)B * T * C;
    float *q = (float *)cuda_scratch(be, 7 * n * sizeof(float));
    if (!q || set_math_mode(be)) return;
    float *k = q + n, *v = k + n, *dy = v + n, *dq = dy + n, *dk = dq + n, *dv = dk + n;
    permute_qkv_kernel<<<ceil_div(n, 256), 256, 0, s>>>(q, k, v, qkv, B, T, NH, hd);
    if (LAUNCH_CHECK(be)) return;
    unpermute_kernel<<<ceil_div(n, 256), 256, 0, s>>>(dy, dout, B, T, NH, hd, 1);
    if (LAUNCH_CHECK(be)) return;
    long long sh = (long long)T * hd, sa = (long long)T * T;
    float scale = 1.0f / sqrtf((float)hd);
    /* datt = dy v^T; dv = att^T dy */
    if (gemm_batched(be, CUBLAS_OP_T, CUBLAS_OP_N, T, T, hd, 1.0f, v, hd, sh, dy, hd, sh, datt,
                     T, sa, batch) ||
        gemm_batched(be, CUBLAS_OP_N, CUBLAS_OP_T, hd, T, T, 1.0f, dy, hd, sh, att, T, sa, dv,
                     hd, sh, batch))
        return;
    size_t rows = (size_t)batch * T;
    softmax_backward_kernel<<<ceil_div(rows, 8), 256, 0, s>>>(datt, att, rows, T);
    if (LAUNCH_CHECK(be)) return;
    /* dq = scale * dpre k; dk = scale * dpre^T q */
    if (gemm_batched(be, CUBLAS_OP_N, CUBLAS_OP_N, hd, T, T, scale, k, hd, sh, datt, T, sa, dq,
                     hd, sh, batch) ||
        gemm_batched(be, CUBLAS_OP_N, CUBLAS_OP_T, hd, T, T, scale, q, hd, sh, datt, T, sa, dk,
                     hd, sh, batch))
        return;
    permute_qkv_backward_kernel<<<ceil_div(n, 256), 256, 0, s>>>(dqkv, dq, dk, dv, B, T, NH, hd);
    LAUNCH_CHECK(be);
}
