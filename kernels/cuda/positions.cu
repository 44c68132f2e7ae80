/* positions.cu — adds a (T,C) position table to every sequence of a (B,T,C) batch.
 * dpos: one thread per (t,c) sums over b in order (no atomics, deterministic). */
#include "common.cuh"

__global__ static void add_positions_forward_kernel(float *out, const float *inp,
                                                    const float *pos, size_t n, size_t TC) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        out[i] = inp[i] + pos[i % TC];
}

__global__ static void add_positions_dinp_kernel(float *dinp, const float *dout, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        dinp[i] += dout[i];
}

__global__ static void add_positions_dpos_kernel(float *dpos, const float *dout, int B,
                                                 size_t TC) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < TC;
         i += (size_t)gridDim.x * blockDim.x) {
        float s = 0;
        for (int b = 0; b < B; b++) s += dout[(size_t)b * TC + i];
        dpos[i] += s;
    }
}

static unsigned int elem_grid(size_t n) { return min(ceil_div(n, 256), 65535u); }

extern "C" void cuda_add_positions_forward(drum_backend *be, float *out, const float *inp,
                                           const float *pos, int B, int T, int C) {
    size_t TC = (size_t)T * C, n = (size_t)B * TC;
    if (!drum_backend_ok(be) || n == 0) return;
    add_positions_forward_kernel<<<elem_grid(n), 256, 0, cuda_stream(be)>>>(out, inp, pos, n, TC);
    LAUNCH_CHECK(be);
}

extern "C" void cuda_add_positions_backward(drum_backend *be, float *dinp, float *dpos,
                                            const float *dout, int B, int T, int C) {
    size_t TC = (size_t)T * C, n = (size_t)B * TC;
    if (!drum_backend_ok(be) || n == 0) return;
    cudaStream_t s = cuda_stream(be);
    if (dinp) {
        add_positions_dinp_kernel<<<elem_grid(n), 256, 0, s>>>(dinp, dout, n);
        if (LAUNCH_CHECK(be)) return;
    }
    if (dpos) {
        add_positions_dpos_kernel<<<elem_grid(TC), 256, 0, s>>>(dpos, dout, B, TC);
        LAUNCH_CHECK(be);
    }
}
