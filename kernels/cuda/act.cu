/* act.cu — elementwise activations (quick_gelu, exact gelu, tanh gelu) and their
 * backward; one grid-stride kernel per activation, the same formulas as kernels/cpu/act.c. */
#include "common.cuh"

#define GELU_TANH_K 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_TANH_C 0.044715f
#define INV_SQRT2 0.7071067811865476f
#define INV_SQRT_2PI 0.3989422804014327f

template <int ACT> __device__ __forceinline__ float act_value(float x) {
    if (ACT == DRUM_ACT_QUICK_GELU) return x / (1.0f + expf(-1.702f * x));
    if (ACT == DRUM_ACT_GELU) return 0.5f * x * (1.0f + erff(x * INV_SQRT2));
    return 0.5f * x * (1.0f + tanhf(GELU_TANH_K * (x + GELU_TANH_C * x * x * x)));
}

/* d act(x) / dx */
template <int ACT> __device__ __forceinline__ float act_slope(float x) {
    if (ACT == DRUM_ACT_QUICK_GELU) {
        float s = 1.0f / (1.0f + expf(-1.702f * x));
        return s + 1.702f * x * s * (1.0f - s);
    }
    if (ACT == DRUM_ACT_GELU)
        return 0.5f * (1.0f + erff(x * INV_SQRT2)) + x * INV_SQRT_2PI * expf(-0.5f * x * x);
    float t = tanhf(GELU_TANH_K * (x + GELU_TANH_C * x * x * x));
    return 0.5f * (1.0f + t) +
           0.5f * x * (1.0f - t * t) * GELU_TANH_K * (1.0f + 3.0f * GELU_TANH_C * x * x);
}

template <int ACT>
__global__ static void act_forward_kernel(float *out, const float *inp, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        out[i] = act_value<ACT>(inp[i]);
}

template <int ACT>
__global__ static void act_backward_kernel(float *dinp, const float *dout, const float *inp,
                                           size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        dinp[i] += dout[i] * act_slope<ACT>(inp[i]);
}

static unsigned int elem_grid(size_t n) { return min(ceil_div(n, 256), 65535u); }

extern "C" void cuda_act_forward(drum_backend *be, float *out, const float *inp, size_t n,
                                 drum_act act) {
    if (!drum_backend_ok(be) || n == 0) return;
    cudaStream_t s = cuda_stream(be);
    switch (act) {
    case DRUM_ACT_QUICK_GELU:
        act_forward_kernel<DRUM_ACT_QUICK_GELU><<<elem_grid(n), 256, 0, s>>>(out, inp, n);
        break;
    case DRUM_ACT_GELU:
        act_forward_kernel<DRUM_ACT_GELU><<<elem_grid(n), 256, 0, s>>>(out, inp, n);
        break;
    case DRUM_ACT_GELU_TANH:
        act_forward_kernel<DRUM_ACT_GELU_TANH><<<elem_grid(n), 256, 0, s>>>(out, inp, n);
        break;
    default:
        DRUM_FAIL(be, "act_forward: unknown activation %d", (int)act);
        return;
    }
    LAUNCH_CHECK(be);
}

extern "C" void cuda_act_backward(drum_backend *be, float *dinp, const float *dout,
                                  const float *inp, size_t n, drum_act act) {
    if (!drum_backend_ok(be) || !dinp || n == 0) return;
    cudaStream_t s = cuda_stream(be);
    switch (act) {
    case DRUM_ACT_QUICK_GELU:
        act_backward_kernel<DRUM_ACT_QUICK_GELU><<<elem_grid(n), 256, 0, s>>>(dinp, dout, inp, n);
        break;
    case DRUM_ACT_GELU:
        act_backward_kernel<DRUM_ACT_GELU><<<elem_grid(n), 256, 0, s>>>(dinp, dout, inp, n);
        break;
    case DRUM_ACT_GELU_TANH:
        act_backward_kernel<DRUM_ACT_GELU_TANH><<<elem_grid(n), 256, 0, s>>>(dinp, dout, inp, n);
        break;
    default:
        DRUM_FAIL(be, "act_backward: unknown activation %d", (int)act);
        return;
    }
    LAUNCH_CHECK(be);
}
