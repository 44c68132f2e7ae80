/* grad_utils.cu — gradient-norm and scaling helpers for clipping and loss scaling.
 * sum_squares: a grid whose size depends only on n writes one float64 partial per block
 * into scratch, then a single block adds the partials in a fixed order: no atomics, the
 * same bytes every run. */
#include "common.cuh"

#define SUMSQ_THREADS 256
#define SUMSQ_MAX_BLOCKS 1024

/* Block-wide float64 sum in a fixed order; thread 0 gets the result. `shared` holds 32. */
__device__ __forceinline__ double block_sum_double(double v, double *shared) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    __syncthreads();
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    v = (lane < nwarps) ? shared[lane] : 0.0;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__global__ static void sumsq_partial_kernel(double *partial, const float *x, size_t n) {
    __shared__ double shared[32];
    size_t stride = (size_t)gridDim.x * blockDim.x;
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    /* four independent loads in flight per thread */
    for (; i + 3 * stride < n; i += 4 * stride) {
        float a = x[i], b = x[i + stride], c = x[i + 2 * stride], d = x[i + 3 * stride];
        s0 += (double)a * a;
        s1 += (double)b * b;
        s2 += (double)c * c;
        s3 += (double)d * d;
    }
    for (; i < n; i += stride) s0 += (double)x[i] * x[i];
    double s = block_sum_double((s0 + s1) + (s2 + s3), shared);
    if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

__global__ static void sumsq_final_kernel(float *out, const double *partial, int nparts) {
    __shared__ double shared[32];
    double s = 0;
    for (int j = threadIdx.x; j < nparts; j += blockDim.x) s += partial[j];
    s = block_sum_double(s, shared);
    if (threadIdx.x == 0) *out = (float)s;
}

extern "C" void cuda_sum_squares(drum_backend *be, float *out, const float *x, size_t n) {
    if (!drum_backend_ok(be)) return;
    size_t blocks = (n + SUMSQ_THREADS * 8 - 1) / (SUMSQ_THREADS * 8);
    if (blocks < 1) blocks = 1;
    if (blocks > SUMSQ_MAX_BLOCKS) blocks = SUMSQ_MAX_BLOCKS;
    double *partial = (double *)cuda_scratch(be, blocks * sizeof(double));
    if (!partial) return;
    cudaStream_t s = cuda_stream(be);
    sumsq_partial_kernel<<<(unsigned)blocks, SUMSQ_THREADS, 0, s>>>(partial, x, n);
    if (LAUNCH_CHECK(be)) return;
    sumsq_final_kernel<<<1, SUMSQ_THREADS, 0, s>>>(out, partial, (int)blocks);
    LAUNCH_CHECK(be);
}

__global__ static void scale_kernel(float *x, size_t n, float s) {
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) x[i] *= s;
}

extern "C" void cuda_scale(drum_backend *be, float *x, size_t n, float s) {
    if (!drum_backend_ok(be) || n == 0) return;
    size_t blocks = (n + 255) / 256;
    if (blocks > 65536) blocks = 65536;
    scale_kernel<<<(unsigned)blocks, 256, 0, cuda_stream(be)>>>(x, n, s);
    LAUNCH_CHECK(be);
}
