/* common.cuh — what every CUDA op file shares: error checks that record file:line in
 * the backend, the backend's private state, and small launch helpers. */
#ifndef DRUM_CUDA_COMMON_CUH
#define DRUM_CUDA_COMMON_CUH

#include <cuda_runtime.h>
#include <math.h>
#include <cublasLt.h>
#include <cublas_v2.h>

#include "cuda_ops.h"

/* A bad index found on the device (a pool position, a cross-entropy target): kernels cannot
 * reach the backend's error, so they record the first one here; cuda_synchronize and
 * to_host turn it into the backend's sticky error with file:line of the check. */
typedef struct {
    int op;      /* DRUM_IDX_ERR_*; 0 = none */
    int value;   /* the offending index */
    int row;     /* where it was */
    int limit;   /* the valid range is [0, limit) */
} drum_cuda_index_error;

/* Backend-private state, reached through be->impl. */
typedef struct {
    int device;
    cudaStream_t stream;
    cublasHandle_t blas;       /* strided-batched GEMMs (attention) */
    cublasLtHandle_t lt;       /* all other GEMMs */
    void *lt_workspace;
    size_t lt_workspace_bytes;
    drum_cuda_index_error *idx_err; /* device: the first bad index a kernel found */
    void *scratch;             /* reduction partials; grown on demand, stream-ordered reuse */
    size_t scratch_bytes;
} drum_cuda_state;

/* A device buffer of at least `bytes` for one op's temporaries (partial sums). Valid
 * until the next call; ops on the backend's stream run in order, so reuse is safe.
 * Returns NULL (error recorded) on failure. */
void *cuda_scratch(drum_backend *be, size_t bytes);

static inline drum_cuda_state *cuda_state(drum_backend *be) {
    return (drum_cuda_state *)be->impl;
}
static inline cudaStream_t cuda_stream(drum_backend *be) { return cuda_state(be)->stream; }

/* Records a failed CUDA runtime call; returns 1 when it failed. */
static inline int drum_cuda_failed(drum_backend *be, cudaError_t e, const char *what,
                                   const char *file, int line) {
    if (e == cudaSuccess) return 0;
    drum_backend_fail(be, file, line, "%s: %s (%s)", what, cudaGetErrorString(e),
                      cudaGetErrorName(e));
    return 1;
}
#define CUDA_CHECK(be, call) drum_cuda_failed((be), (call), #call, __FILE__, __LINE__)
/* After every kernel launch: catches bad launch configurations at the call site. */
#define LAUNCH_CHECK(be) drum_cuda_failed((be), cudaGetLastError(), "kernel launch", __FILE__, __LINE__)

static inline int drum_cublas_failed(drum_backend *be, cublasStatus_t s, const char *what,
                                     const char *file, int line) {
    if (s == CUBLAS_STATUS_SUCCESS) return 0;
    drum_backend_fail(be, file, line, "%s: cuBLAS status %d (%s)", what, (int)s,
                      cublasGetStatusString(s));
    return 1;
}
#define CUBLAS_CHECK(be, call) drum_cublas_failed((be), (call), #call, __FILE__, __LINE__)

static inline unsigned int ceil_div(size_t a, size_t b) { return (unsigned int)((a + b - 1) / b); }

/* Warp-level sum (all 32 lanes get the result). */
__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}
/* Block-wide sum for blockDim.x a multiple of 32 (<= 1024); every thread gets the result.
 * `shared` holds 32 floats. Fixed reduction order: deterministic. */
__device__ __forceinline__ float block_sum(float v, float *shared) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    v = (lane < nwarps) ? shared[lane] : 0.0f;
    return warp_sum(v);
}

/* Block-wide sums of two values in one round (blockDim.x a multiple of 32); every thread
 * gets both. `shared` holds 64 floats. Fixed order: deterministic. */
__device__ __forceinline__ float2 block_sum2(float a, float b, float *shared) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    a = warp_sum(a);
    b = warp_sum(b);
    __syncthreads(); /* the previous call's readers are done with `shared` */
    if (lane == 0) {
        shared[warp] = a;
        shared[32 + warp] = b;
    }
    __syncthreads();
    a = lane < nwarps ? shared[lane] : 0.0f;
    b = lane < nwarps ? shared[32 + lane] : 0.0f;
    return make_float2(warp_sum(a), warp_sum(b));
}

/* Block-wide max for blockDim.x a multiple of 32 (<= 1024); every thread gets the result.
 * `shared` holds 32 floats. */
__device__ __forceinline__ float block_max(float v, float *shared) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    v = (lane < nwarps) ? shared[lane] : -INFINITY;
    return warp_max(v);
}

enum { DRUM_IDX_ERR_NONE = 0, DRUM_IDX_ERR_POOL = 1, DRUM_IDX_ERR_XENT_TARGET = 2 };

__device__ __forceinline__ void report_bad_index(drum_cuda_index_error *e, int op, int value,
                                                 int row, int limit) {
    if (atomicCAS(&e->op, 0, op) == 0) {
        e->value = value;
        e->row = row;
        e->limit = limit;
    }
}

#endif
