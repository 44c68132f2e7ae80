/* levels.cu — normalised pixels from uint8 levels through a per-channel table: images go to
 * the device as bytes (a quarter of the floats) and are expanded there. */
#include "common.cuh"

__global__ static void levels_forward_kernel(float *out, const uint8_t *levels, const float *lut,
                                             size_t n, size_t plane) {
    __shared__ float table[3 * 256];
    for (int i = threadIdx.x; i < 3 * 256; i += blockDim.x) table[i] = lut[i];
    __syncthreads();
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        out[i] = table[(i / plane) % 3 * 256 + levels[i]];
}

extern "C" void cuda_levels_forward(drum_backend *be, float *out, const uint8_t *levels,
                                    const float *lut, int B, size_t plane) {
    size_t n = (size_t)B * 3 * plane;
    if (!drum_backend_ok(be) || n == 0) return;
    unsigned int grid = min(ceil_div(n, 256), 65535u);
    levels_forward_kernel<<<grid, 256, 0, cuda_stream(be)>>>(out, levels, lut, n, plane);
    LAUNCH_CHECK(be);
}
