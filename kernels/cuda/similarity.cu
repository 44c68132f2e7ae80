/* similarity.cu — scaled similarity logits exp(log_scale) a b^T. GEMMs on the backend's
 * cuBLAS handle; the scale is read on the device (log_scale is a trainable backend tensor,
 * so a host copy would stall the stream). dlog_scale = sum(dout * out) is reduced in
 * float64 over a grid whose size depends only on M*N, then over the block partials in
 * order: deterministic, no atomics. */
#include <math.h>

#include "common.cuh"

#define SIM_THREADS 256
#define SIM_MAX_BLOCKS 256

__global__ static void scale_kernel(float *x, const float *log_scale, size_t n) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] *= expf(*log_scale);
}

/* gs = exp(log_scale) * dout when gs is not NULL; partial[block] = this block's share of
 * sum(dout * out) when partial is not NULL. */
__global__ static void grad_prep_kernel(float *gs, double *partial, const float *dout,
                                        const float *out, const float *log_scale, size_t n) {
    __shared__ double sh[SIM_THREADS];
    float s = expf(*log_scale);
    double acc = 0;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        if (gs) gs[i] = s * dout[i];
        if (partial) acc += (double)dout[i] * out[i];
    }
    if (!partial) return;
    sh[threadIdx.x] = acc;
    __syncthreads();
    for (int w = SIM_THREADS / 2; w > 0; w >>= 1) {
        if ((int)threadIdx.x < w) sh[threadIdx.x] += sh[threadIdx.x + w];
        __syncthreads();
    }
    if (threadIdx.x == 0) partial[blockIdx.x] = sh[0];
}

/* one block: *dlog_scale += sum of partial[0..nblocks) */
__global__ static void sum_partials_kernel(float *dlog_scale, const double *partial, int nblocks) {
    __shared__ double sh[SIM_THREADS];
    double acc = 0;
    for (int j = threadIdx.x; j < nblocks; j += SIM_THREADS) acc += partial[j];
    sh[threadIdx.x] = acc;
    __syncthreads();
    for (int w = SIM_THREADS / 2; w > 0; w >>= 1) {
        if ((int)threadIdx.x < w) sh[threadIdx.x] += sh[threadIdx.x + w];
        __syncthreads();
    }
    if (threadIdx.x == 0) *dlog_scale += (float)sh[0];
}

static int set_math_mode(drum_backend *be) {
    return CUBLAS_CHECK(be, cublasSetMathMode(cuda_state(be)->blas,
                                              be->allow_tf32 ? CUBLAS_TF32_TENSOR_OP_MATH
                                                             : CUBLAS_DEFAULT_MATH));
}

/* Row-major out (M,N) is column-major out^T (N,M) = b a^T. */
extern "C" void cuda_similarity_forward(drum_backend *be, float *out, const float *a,
                                        const float *b, const float *log_scale, int M, int N,
                                        int C) {
    if (!drum_backend_ok(be) || M == 0 || N == 0 || set_math_mode(be)) return;
    const float one = 1.0f, zero = 0.0f;
    if (CUBLAS_CHECK(be, cublasSgemm(cuda_state(be)->blas, CUBLAS_OP_T, CUBLAS_OP_N, N, M, C,
                                     &one, b, C, a, C, &zero, out, N)))
        return;
    size_t n = (size_t)M * N;
    scale_kernel<<<ceil_div(n, SIM_THREADS), SIM_THREADS, 0, cuda_stream(be)>>>(out, log_scale, n);
    LAUNCH_CHECK(be);
}

/* da (M,C) += gs b, db (N,C) += gs^T a, gs = exp(log_scale) dout */
extern "C" void cuda_similarity_backward(drum_backend *be, float *da, float *db,
                                         float *dlog_scale, const float *dout, const float *out,
                                         const float *a, const float *b, const float *log_scale,
                                         int M, int N, int C) {
    if (!drum_backend_ok(be) || M == 0 || N == 0 || (!da && !db && !dlog_scale)) return;
    cudaStream_t s = cuda_stream(be);
    size_t n = (size_t)M * N;
    int nblocks = (int)(ceil_div(n, SIM_THREADS) < SIM_MAX_BLOCKS ? ceil_div(n, SIM_THREADS)
                                                                  : SIM_MAX_BLOCKS);
    size_t bytes = SIM_MAX_BLOCKS * sizeof(double) + ((da || db) ? n * sizeof(float) : 0);
    double *partial = (double *)cuda_scratch(be, bytes);
    if (!partial || set_math_mode(be)) return;
    float *gs = (da || db) ? (float *)(partial + SIM_MAX_BLOCKS) : NULL;
    grad_prep_kernel<<<nblocks, SIM_THREADS, 0, s>>>(gs, dlog_scale ? partial : NULL, dout, out,
                                                     log_scale, n);
    if (LAUNCH_CHECK(be)) return;
    if (dlog_scale) {
        sum_partials_kernel<<<1, SIM_THREADS, 0, s>>>(dlog_scale, partial, nblocks);
        if (LAUNCH_CHECK(be)) return;
    }
    const float one = 1.0f;
    cublasHandle_t h = cuda_state(be)->blas;
    /* column-major: da^T (C,M) += b^T gs^T; db^T (C,N) += a^T gs */
    if (da && CUBLAS_CHECK(be, cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, C, M, N, &one, b, C, gs,
                                           N, &one, da, C)))
        return;
    if (db) CUBLAS_CHECK(be, cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_T, C, N, M, &one, a, C, gs, N,
                                         &one, db, C));
}
