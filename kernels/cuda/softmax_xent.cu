/* softmax_xent.cu — row-wise softmax cross-entropy, one block per row (max, then the sum
 * of exp, each a fixed-order block reduction). A target outside [0, V) gives a NaN loss and
 * no one-hot term instead of a read outside the row, and is recorded for the backend
 * (common.cuh: report_bad_index), which reports it at the next synchronize / to_host. */
#include <math.h>

#include "common.cuh"

#define XENT_THREADS 256

__global__ static void softmax_xent_forward_kernel(float *loss, float *probs, const float *logits,
                                                   const int *targets, int V,
                                                   drum_cuda_index_error *bad) {
    __shared__ float shared[32];
    size_t n = blockIdx.x;
    const float *x = logits + n * V;
    float *p = probs + n * V;
    float mx = -INFINITY;
    for (int v = threadIdx.x; v < V; v += blockDim.x) mx = fmaxf(mx, x[v]);
    mx = block_max(mx, shared);
    float sum = 0;
    for (int v = threadIdx.x; v < V; v += blockDim.x) {
        float e = expf(x[v] - mx);
        p[v] = e;
        sum += e;
    }
    sum = block_sum(sum, shared);
    float inv = 1.0f / sum;
    for (int v = threadIdx.x; v < V; v += blockDim.x) p[v] *= inv;
    if (threadIdx.x == 0) {
        int t = targets[n];
        /* -log p[t] from the logits: stays finite when p[t] underflows */
        int ok = t >= 0 && t < V;
        if (!ok) report_bad_index(bad, DRUM_IDX_ERR_XENT_TARGET, t, (int)n, V);
        loss[n] = ok ? logf(sum) - (x[t] - mx) : NAN;
    }
}

__global__ static void softmax_xent_backward_kernel(float *dlogits, const float *dloss,
                                                    const float *probs, const int *targets,
                                                    int N, int V) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)N * V) return;
    size_t n = i / V;
    int v = (int)(i % V);
    dlogits[i] += dloss[n] * (probs[i] - (v == targets[n] ? 1.0f : 0.0f));
}

extern "C" void cuda_softmax_xent_forward(drum_backend *be, float *loss, float *probs,
                                          const float *logits, const int *targets, int N, int V) {
    if (!drum_backend_ok(be) || N == 0) return;
    softmax_xent_forward_kernel<<<N, XENT_THREADS, 0, cuda_stream(be)>>>(loss, probs, logits,
                                                                        targets, V,
                                                                        cuda_state(be)->idx_err);
    LAUNCH_CHECK(be);
}

extern "C" void cuda_softmax_xent_backward(drum_backend *be, float *dlogits, const float *dloss,
                                           const float *probs, const int *targets, int N, int V) {
    if (!drum_backend_ok(be) || !dlogits || N == 0) return;
    size_t total = (size_t)N * V;
    softmax_xent_backward_kernel<<<ceil_div(total, 256), 256, 0, cuda_stream(be)>>>(
        dlogits, dloss, probs, targets, N, V);
    LAUNCH_CHECK(be);
}
