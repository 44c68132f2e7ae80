/* embedding.cu — row gather from a (V,C) table and its scatter-add backward.
 *
 * Out-of-range ids: the forward writes a zero row for them and the kernel records the
 * lowest bad position (with its id) through a 64-bit integer atomicMin in a scratch word;
 * the host reads that word back before returning, so the error is in the backend when
 * the call returns, as on the cpu. That costs one stream synchronisation per forward call
 * (once per text-tower forward, where the token ids enter). The backward does not check
 * again (its ids are the forward's): a bad id there contributes nothing.
 *
 * Backward without atomics: thread (c, bucket) owns channel c of the table rows whose id
 * falls in its vocabulary bucket and walks all N ids in order, so every table element is
 * written by one thread and sums its rows in the same order on every run. */
#include "common.cuh"

#define EMB_BUCKETS 256 /* vocabulary buckets: enough blocks to fill the GPU at C = 512 */
#define EMB_IDS_TILE 1024

__global__ static void embedding_forward_kernel(float *out, unsigned long long *bad,
                                                const int *ids, const float *table, int N,
                                                int V, int C) {
    size_t total = (size_t)N * C;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        int n = (int)(i / C), c = (int)(i % C), id = ids[n];
        if (id >= 0 && id < V) {
            out[i] = table[(size_t)id * C + c];
        } else {
            out[i] = 0.0f;
            if (c == 0) atomicMin(bad, ((unsigned long long)n << 32) | (unsigned int)id);
        }
    }
}

/* block (32 channels, 8 buckets); grid (channel tiles, bucket groups) */
__global__ static void embedding_backward_kernel(float *dtable, const float *dout,
                                                 const int *ids, int N, int V, int C,
                                                 int nbuckets) {
    __shared__ int tile[EMB_IDS_TILE];
    int c = blockIdx.x * 32 + threadIdx.x;
    int bucket = blockIdx.y * blockDim.y + threadIdx.y;
    int v0 = 0, v1 = 0;
    if (bucket < nbuckets) {
        v0 = (int)((long long)bucket * V / nbuckets);
        v1 = (int)((long long)(bucket + 1) * V / nbuckets);
    }
    int tid = threadIdx.y * 32 + threadIdx.x, nthreads = 32 * blockDim.y;
    for (int n0 = 0; n0 < N; n0 += EMB_IDS_TILE) {
        int len = min(EMB_IDS_TILE, N - n0);
        __syncthreads();
        for (int k = tid; k < len; k += nthreads) tile[k] = ids[n0 + k];
        __syncthreads();
        if (c >= C) continue;
        for (int k = 0; k < len; k++) {
            int id = tile[k];
            if (id >= v0 && id < v1)
                dtable[(size_t)id * C + c] += dout[(size_t)(n0 + k) * C + c];
        }
    }
}

extern "C" void cuda_embedding_forward(drum_backend *be, float *out, const int *ids,
                                       const float *table, int N, int V, int C) {
    if (!drum_backend_ok(be) || N <= 0 || C <= 0) return;
    cudaStream_t s = cuda_stream(be);
    unsigned long long *bad = (unsigned long long *)cuda_scratch(be, sizeof *bad);
    if (!bad) return;
    if (CUDA_CHECK(be, cudaMemsetAsync(bad, 0xff, sizeof *bad, s))) return;
    size_t total = (size_t)N * C;
    embedding_forward_kernel<<<min(ceil_div(total, 256), 65535u), 256, 0, s>>>(out, bad, ids,
                                                                              table, N, V, C);
    if (LAUNCH_CHECK(be)) return;
    unsigned long long first = 0;
    if (CUDA_CHECK(be, cudaMemcpyAsync(&first, bad, sizeof first, cudaMemcpyDeviceToHost, s)) ||
        CUDA_CHECK(be, cudaStreamSynchronize(s)))
        return;
    if (first != ~0ULL)
        DRUM_FAIL(be, "embedding_forward: id %d at position %d is outside the vocabulary [0, %d)",
                  (int)(unsigned int)(first & 0xffffffffULL), (int)(first >> 32), V);
}

extern "C" void cuda_embedding_backward(drum_backend *be, float *dtable, const float *dout,
                                        const int *ids, int N, int V, int C) {
    if (!drum_backend_ok(be) || !dtable || N <= 0 || C <= 0 || V <= 0) return;
    int nbuckets = V < EMB_BUCKETS ? V : EMB_BUCKETS;
    dim3 block(32, 8), grid(ceil_div(C, 32), ceil_div(nbuckets, 8));
    embedding_backward_kernel<<<grid, block, 0, cuda_stream(be)>>>(dtable, dout, ids, N, V, C,
                                                                   nbuckets);
    LAUNCH_CHECK(be);
}
