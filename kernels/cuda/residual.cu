/* residual.cu — out = a + b; the gradient flows unchanged to both inputs. */
#include "common.cuh"

__global__ static void residual_forward_kernel(float *out, const float *a, const float *b,
                                               size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        out[i] = a[i] + b[i];
}

/* No __restrict__: da and db may be the same buffer (a + a), and the one thread that owns
 * element i then adds dout[i] twice, in order. */
__global__ static void residual_backward_kernel(float *da, float *db, const float *dout,
                                                size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        float g = dout[i];
        if (da) da[i] += g;
        if (db) db[i] += g;
    }
}

static unsigned int elem_grid(size_t n) { return min(ceil_div(n, 256), 65535u); }

extern "C" void cuda_residual_forward(drum_backend *be, float *out, const float *a,
                                      const float *b, size_t n) {
    if (!drum_backend_ok(be) || n == 0) return;
    residual_forward_kernel<<<elem_grid(n), 256, 0, cuda_stream(be)>>>(out, a, b, n);
    LAUNCH_CHECK(be);
}

extern "C" void cuda_residual_backward(drum_backend *be, float *da, float *db,
                                       const float *dout, size_t n) {
    if (!drum_backend_ok(be) || (!da && !db) || n == 0) return;
    residual_backward_kernel<<<elem_grid(n), 256, 0, cuda_stream(be)>>>(da, db, dout, n);
    LAUNCH_CHECK(be);
}
