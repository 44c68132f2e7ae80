/* l2norm.cu — rows divided by their norm (no epsilon, as Hugging Face CLIP), one warp per
 * row forward and backward. */
#include "common.cuh"

__global__ static void l2norm_forward_kernel(float *out, float *norm, const float *inp, int N,
                                             int C) {
    int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x & 31;
    if (row >= N) return;
    const float *x = inp + (size_t)row * C;
    float s = 0;
    for (int c = lane; c < C; c += 32) s += x[c] * x[c];
    float r = sqrtf(warp_sum(s));
    float *o = out + (size_t)row * C;
    for (int c = lane; c < C; c += 32) o[c] = x[c] / r;
    if (lane == 0) norm[row] = r;
}

/* d inp = (dout - out <dout, out>) / norm */
__global__ static void l2norm_backward_kernel(float *dinp, const float *dout, const float *out,
                                              const float *norm, int N, int C) {
    int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x & 31;
    if (row >= N) return;
    const float *g = dout + (size_t)row * C, *y = out + (size_t)row * C;
    float s = 0;
    for (int c = lane; c < C; c += 32) s += g[c] * y[c];
    float dot = warp_sum(s), inv = 1.0f / norm[row];
    float *dx = dinp + (size_t)row * C;
    for (int c = lane; c < C; c += 32) dx[c] += (g[c] - y[c] * dot) * inv;
}

extern "C" void cuda_l2norm_forward(drum_backend *be, float *out, float *norm, const float *inp,
                                    int N, int C) {
    if (!drum_backend_ok(be) || N == 0) return;
    l2norm_forward_kernel<<<ceil_div(N, 8), 256, 0, cuda_stream(be)>>>(out, norm, inp, N, C);
    LAUNCH_CHECK(be);
}

extern "C" void cuda_l2norm_backward(drum_backend *be, float *dinp, const float *dout,
                                     const float *out, const float *norm, int N, int C) {
    if (!drum_backend_ok(be) || !dinp || N == 0) return;
    l2norm_backward_kernel<<<ceil_div(N, 8), 256, 0, cuda_stream(be)>>>(dinp, dout, out, norm, N,
                                                                       C);
    LAUNCH_CHECK(be);
}
