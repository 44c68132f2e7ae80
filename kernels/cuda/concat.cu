/* concat.cu — weighted concatenation along features, [wa * a | wb * b], one thread per
 * output element. */
#include "common.cuh"

__global__ static void concat_forward_kernel(float *out, const float *a, const float *b,
                                             size_t total, int Ca, int Cb, float wa, float wb) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= total) return;
    size_t Co = (size_t)Ca + Cb, n = i / Co;
    int c = (int)(i % Co);
    out[i] = c < Ca ? wa * a[n * Ca + c] : wb * b[n * Cb + (c - Ca)];
}

__global__ static void concat_backward_kernel(float *da, float *db, const float *dout,
                                              size_t total, int Ca, int Cb, float wa, float wb) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= total) return;
    size_t Co = (size_t)Ca + Cb, n = i / Co;
    int c = (int)(i % Co);
    if (c < Ca) {
        if (da) da[n * Ca + c] += wa * dout[i];
    } else if (db) {
        db[n * Cb + (c - Ca)] += wb * dout[i];
    }
}

extern "C" void cuda_concat_forward(drum_backend *be, float *out, const float *a, const float *b,
                                    int N, int Ca, int Cb, float wa, float wb) {
    size_t total = (size_t)N * ((size_t)Ca + Cb);
    if (!drum_backend_ok(be) || total == 0) return;
    concat_forward_kernel<<<ceil_div(total, 256), 256, 0, cuda_stream(be)>>>(out, a, b, total,
                                                                            Ca, Cb, wa, wb);
    LAUNCH_CHECK(be);
}

extern "C" void cuda_concat_backward(drum_backend *be, float *da, float *db, const float *dout,
                                     int N, int Ca, int Cb, float wa, float wb) {
    size_t total = (size_t)N * ((size_t)Ca + Cb);
    if (!drum_backend_ok(be) || total == 0 || (!da && !db)) return;
    concat_backward_kernel<<<ceil_div(total, 256), 256, 0, cuda_stream(be)>>>(da, db, dout, total,
                                                                             Ca, Cb, wa, wb);
    LAUNCH_CHECK(be);
}
