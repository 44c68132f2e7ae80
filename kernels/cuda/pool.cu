/* pool.cu — one row per sequence at an index. An index outside [0, T) yields a NaN output
 * row (and no gradient) instead of touching memory outside the sequence, and is recorded
 * for the backend (common.cuh: report_bad_index), which reports it at the next
 * synchronize / to_host. */
#include <math.h>

#include "common.cuh"

/* one thread per element of out (B,C) */
__global__ static void pool_forward_kernel(float *out, const float *inp, const int *idx, int B,
                                           int T, int C, drum_cuda_index_error *bad) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)B * C) return;
    size_t b = i / C, c = i % C;
    int t = idx[b];
    int ok = t >= 0 && t < T;
    if (!ok && c == 0) report_bad_index(bad, DRUM_IDX_ERR_POOL, t, (int)b, T);
    out[i] = ok ? inp[(b * T + t) * C + c] : NAN;
}

__global__ static void pool_backward_kernel(float *dinp, const float *dout, const int *idx,
                                            int B, int T, int C) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)B * C) return;
    size_t b = i / C, c = i % C;
    int t = idx[b];
    if (t < 0 || t >= T) return;
    dinp[(b * T + t) * C + c] += dout[i];
}

extern "C" void cuda_pool_forward(drum_backend *be, float *out, const float *inp, const int *idx,
                                  int B, int T, int C) {
    if (!drum_backend_ok(be) || B == 0 || C == 0) return;
    pool_forward_kernel<<<ceil_div((size_t)B * C, 256), 256, 0, cuda_stream(be)>>>(
        out, inp, idx, B, T, C, cuda_state(be)->idx_err);
    LAUNCH_CHECK(be);
}

extern "C" void cuda_pool_backward(drum_backend *be, float *dinp, const float *dout,
                                   const int *idx, int B, int T, int C) {
    if (!drum_backend_ok(be) || !dinp || B == 0 || C == 0) return;
    pool_backward_kernel<<<ceil_div((size_t)B * C, 256), 256, 0, cuda_stream(be)>>>(
        dinp, dout, idx, B, T, C);
    LAUNCH_CHECK(be);
}
