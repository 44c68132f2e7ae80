/* layernorm.cu — LayerNorm over the last dimension: one warp per row forward and for
 * dinp; dw/db as per-chunk column partials summed in chunk order (no atomics). */
#include "common.cuh"

#define LN_ROW_CHUNK 64

__global__ static void layernorm_forward_kernel(float *out, float *mean, float *rstd,
                                                const float *inp, const float *w,
                                                const float *b, int N, int C, float eps) {
    int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x & 31;
    if (row >= N) return;
    const float *x = inp + (size_t)row * C;
    float s = 0;
    for (int c = lane; c < C; c += 32) s += x[c];
    float m = warp_sum(s) / C;
    float v = 0;
    for (int c = lane; c < C; c += 32) {
        float d = x[c] - m;
        v += d * d;
    }
    float r = rsqrtf(warp_sum(v) / C + eps);
    float *o = out + (size_t)row * C;
    for (int c = lane; c < C; c += 32) o[c] = (x[c] - m) * r * w[c] + b[c];
    if (lane == 0) {
        mean[row] = m;
        rstd[row] = r;
    }
}

__global__ static void layernorm_dinp_kernel(float *dinp, const float *dout, const float *inp,
                                             const float *w, const float *mean,
                                             const float *rstd, int N, int C) {
    int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x & 31;
    if (row >= N) return;
    const float *x = inp + (size_t)row * C, *g = dout + (size_t)row * C;
    float m = mean[row], r = rstd[row];
    float sg = 0, sgx = 0;
    for (int c = lane; c < C; c += 32) {
        float dxhat = g[c] * w[c];
        sg += dxhat;
        sgx += dxhat * (x[c] - m) * r;
    }
    sg = warp_sum(sg) / C;
    sgx = warp_sum(sgx) / C;
    float *dx = dinp + (size_t)row * C;
    for (int c = lane; c < C; c += 32) dx[c] += r * (g[c] * w[c] - sg - (x[c] - m) * r * sgx);
}

/* partial[j][c] (dw) and partial[nchunks + j][c] (db) over rows of chunk j */
__global__ static void layernorm_param_partial_kernel(float *partial, const float *dout,
                                                      const float *inp, const float *mean,
                                                      const float *rstd, int N, int C,
                                                      int nchunks) {
    int c = blockIdx.x * blockDim.x + threadIdx.x, j = blockIdx.y;
    if (c >= C) return;
    int n0 = j * LN_ROW_CHUNK, n1 = min(N, n0 + LN_ROW_CHUNK);
    float sw = 0, sb = 0;
    for (int n = n0; n < n1; n++) {
        float g = dout[(size_t)n * C + c];
        sw += g * (inp[(size_t)n * C + c] - mean[n]) * rstd[n];
        sb += g;
    }
    partial[(size_t)j * C + c] = sw;
    partial[(size_t)(nchunks + j) * C + c] = sb;
}

__global__ static void layernorm_param_sum_kernel(float *dw, float *db, const float *partial,
                                                  int C, int nchunks) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float sw = 0, sb = 0;
    for (int j = 0; j < nchunks; j++) {
        sw += partial[(size_t)j * C + c];
        sb += partial[(size_t)(nchunks + j) * C + c];
    }
    if (dw) dw[c] += sw;
    if (db) db[c] += sb;
}

extern "C" void cuda_layernorm_forward(drum_backend *be, float *out, float *mean, float *rstd,
                                       const float *inp, const float *w, const float *b, int N,
                                       int C, float eps) {
    if (!drum_backend_ok(be) || N == 0) return;
    layernorm_forward_kernel<<<ceil_div(N, 8), 256, 0, cuda_stream(be)>>>(out, mean, rstd, inp,
                                                                         w, b, N, C, eps);
    LAUNCH_CHECK(be);
}

extern "C" void cuda_layernorm_backward(drum_backend *be, float *dinp, float *dw, float *db,
                                        const float *dout, const float *inp, const float *w,
                                        const float *mean, const float *rstd, int N, int C) {
    if (!drum_backend_ok(be) || N == 0) return;
    cudaStream_t s = cuda_stream(be);
    if (dinp) {
        layernorm_dinp_kernel<<<ceil_div(N, 8), 256, 0, s>>>(dinp, dout, inp, w, mean, rstd, N, C);
        if (LAUNCH_CHECK(be)) return;
    }
    if (!dw && !db) return;
    int nchunks = (N + LN_ROW_CHUNK - 1) / LN_ROW_CHUNK;
    float *partial = (float *)cuda_scratch(be, (size_t)2 * nchunks * C * sizeof(float));
    if (!partial) return;
    layernorm_param_partial_kernel<<<dim3(ceil_div(C, 128), nchunks), 128, 0, s>>>(
        partial, dout, inp, mean, rstd, N, C, nchunks);
    if (LAUNCH_CHECK(be)) return;
    layernorm_param_sum_kernel<<<ceil_div(C, 128), 128, 0, s>>>(dw, db, partial, C, nchunks);
    LAUNCH_CHECK(be);
}
