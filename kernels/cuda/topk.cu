/* topk.cu — the k largest entries of every row, descending, ties to the lower index, by
 * radix selection: one block per row finds the key of the k-th largest entry with four
 * 8-bit histogram passes, collects the entries above it and the lowest-index ones equal
 * to it in one ordered pass (ballot prefix sums, no atomics), then places each of the k
 * candidates at its rank. Keys follow the same total order as kernels/cpu/topk.c (float
 * order, -0 == +0, NaN below every number), so both backends return the same indices. */
#include "common.cuh"

#define TOPK_THREADS 256
#define TOPK_WARPS (TOPK_THREADS / 32)

__device__ __forceinline__ unsigned topk_key(float x) {
    unsigned u = __float_as_uint(x);
    if ((u & 0x7fffffffu) > 0x7f800000u) return 0u;
    if ((u & 0x7fffffffu) == 0u) u = 0u;
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

/* candidate a ranks above candidate b */
__device__ __forceinline__ bool topk_better(unsigned ka, int ia, unsigned kb, int ib) {
    return ka > kb || (ka == kb && ia < ib);
}

__global__ static void __launch_bounds__(TOPK_THREADS)
topk_kernel(float *vals, int *idx, float *cand_v, int *cand_i, const float *inp,
            const int *exclude, int V, int k) {
    __shared__ int hist[256];
    __shared__ unsigned s_prefix;
    __shared__ int s_remaining;
    __shared__ int warp_count[2][TOPK_WARPS];
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const size_t row = blockIdx.x;
    const float *x = inp + row * V;
    float *cv = cand_v + row * k;
    int *ci = cand_i + row * k;
    const int skip = exclude ? exclude[row] : -1;

    /* Radix select: after the pass at `shift`, every key whose bits above shift-1 equal
     * `prefix` is still a candidate for the k-th largest, and `remaining` of the k are
     * among them. Whole tiles keep every lane of a warp active for __match_any_sync. */
    unsigned prefix = 0, mask = 0;
    int remaining = k;
    for (int shift = 24; shift >= 0; shift -= 8) {
        for (int b = tid; b < 256; b += TOPK_THREADS) hist[b] = 0;
        __syncthreads();
        for (int base = 0; base < V; base += TOPK_THREADS) {
            int c = base + tid;
            bool match = false;
            unsigned digit = 256u;
            if (c < V && c != skip) {
                unsigned key = topk_key(x[c]);
                match = (key & mask) == prefix;
                if (match) digit = (key >> shift) & 255u;
            }
            /* one shared atomic per distinct digit in the warp: clustered values would
             * otherwise serialise 32 lanes on one bin */
            unsigned peers = __match_any_sync(0xffffffffu, digit);
            if (match && lane == __ffs(peers) - 1) atomicAdd(&hist[digit], __popc(peers));
        }
        __syncthreads();
        if (tid == 0) {
            int cum = 0, b = 255;
            for (; b > 0; b--) {
                if (cum + hist[b] >= remaining) break;
                cum += hist[b];
            }
            s_prefix = prefix | ((unsigned)b << shift);
            s_remaining = remaining - cum;
        }
        __syncthreads();
        prefix = s_prefix;
        remaining = s_remaining;
        mask |= 255u << shift;
    }

    /* prefix is now the k-th largest key: take every key above it (k - remaining of them)
     * and the `remaining` lowest-index keys equal to it, each group in index order. */
    const int ngt = k - remaining, neq = remaining;
    const unsigned below = (1u << lane) - 1u;
    int taken_gt = 0, taken_eq = 0;
    for (int base = 0; base < V && (taken_gt < ngt || taken_eq < neq); base += TOPK_THREADS) {
        int c = base + tid;
        bool gt = false, eq = false;
        float xv = 0.0f;
        if (c < V && c != skip) {
            xv = x[c];
            unsigned key = topk_key(xv);
            gt = key > prefix;
            eq = key == prefix;
        }
        unsigned bgt = __ballot_sync(0xffffffffu, gt), beq = __ballot_sync(0xffffffffu, eq);
        if (lane == 0) {
            warp_count[0][warp] = __popc(bgt);
            warp_count[1][warp] = __popc(beq);
        }
        __syncthreads();
        int off_gt = 0, off_eq = 0, tot_gt = 0, tot_eq = 0;
        for (int w = 0; w < TOPK_WARPS; w++) {
            if (w < warp) {
                off_gt += warp_count[0][w];
                off_eq += warp_count[1][w];
            }
            tot_gt += warp_count[0][w];
            tot_eq += warp_count[1][w];
        }
        if (gt) {
            int p = taken_gt + off_gt + __popc(bgt & below);
            if (p < ngt) {
                cv[p] = xv;
                ci[p] = c;
            }
        }
        if (eq) {
            int p = taken_eq + off_eq + __popc(beq & below);
            if (p < neq) {
                cv[ngt + p] = xv;
                ci[ngt + p] = c;
            }
        }
        taken_gt += tot_gt;
        taken_eq += tot_eq;
        __syncthreads();
    }
    __syncthreads();

    /* each candidate's rank is the number of candidates that beat it */
    float *ov = vals + row * k;
    int *oi = idx + row * k;
    for (int r = tid; r < k; r += TOPK_THREADS) {
        float v = cv[r];
        unsigned kr = topk_key(v);
        int ir = ci[r], rank = 0;
        for (int s = 0; s < k; s++) rank += topk_better(topk_key(cv[s]), ci[s], kr, ir);
        ov[rank] = v;
        oi[rank] = ir;
    }
}

extern "C" void cuda_topk_forward(drum_backend *be, float *vals, int *idx, const float *inp,
                                  const int *exclude, int N, int V, int k) {
    if (!drum_backend_ok(be)) return;
    if (N < 0 || V < 0 || k < 0 || k > V - (exclude ? 1 : 0)) {
        DRUM_FAIL(be, "topk_forward: need N, V >= 0 and 0 <= k <= V%s (got N=%d, V=%d, k=%d)",
                  exclude ? " - 1 with exclude" : "", N, V, k);
        return;
    }
    if (k == 0 || N == 0) return;
    size_t nk = (size_t)N * k;
    char *scratch = (char *)cuda_scratch(be, nk * (sizeof(float) + sizeof(int)));
    if (!scratch) return;
    float *cand_v = (float *)scratch;
    int *cand_i = (int *)(scratch + nk * sizeof(float));
    topk_kernel<<<N, TOPK_THREADS, 0, cuda_stream(be)>>>(vals, idx, cand_v, cand_i, inp, exclude,
                                                         V, k);
    LAUNCH_CHECK(be);
}
