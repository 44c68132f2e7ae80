/* listwise.cu — DRUM's rank term and the ListNet / ListMLE ablation losses (ops.h), one
 * block per query row. Per-candidate quantities (1/position, suffix log-sum-exp) go to a
 * scratch row; sums over a row are block reductions in a fixed order, so results are the
 * same bytes every run. Same O(L^2) counting as kernels/cpu/listwise.c: L is a candidate
 * list (tens), and counting "how many come before me" needs no sort. */
#include <math.h>

#include "common.cuh"

#define LW_THREADS 128

__device__ __forceinline__ bool lw_present(float f) { return f != -INFINITY; }

__device__ __forceinline__ float lw_softplus(float x) {
    return fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x)));
}

__device__ __forceinline__ float lw_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

/* Block-wide integer sum; every thread gets the result. `shared` holds 32 ints. */
__device__ __forceinline__ int block_sum_int(int v, int *shared) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    __syncthreads();
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    v = (lane < nwarps) ? shared[lane] : 0;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* ip[i] = 1/pi(i) over the present candidates (sim descending, ties by the lower index),
 * 0 for absent ones; then counts the pairs fb_i > fb_j of the row. Ends with the row's ip
 * visible to the whole block. */
__device__ static int rank_prepare(float *ip, const float *s, const float *f, int L,
                                   int *ishared) {
    int np = 0;
    for (int i = threadIdx.x; i < L; i += blockDim.x) {
        float fi = f[i], si = s[i];
        int before = 0;
        for (int j = 0; j < L; j++) {
            float fj = f[j], sj = s[j];
            before += lw_present(fj) && (sj > si || (sj == si && j < i));
            np += lw_present(fj) && fi > fj;
        }
        ip[i] = lw_present(fi) ? 1.0f / (float)(before + 1) : 0.0f;
    }
    return block_sum_int(np, ishared); /* its barriers also publish ip */
}

__global__ static void rank_forward_kernel(float *loss, float *ipall, const float *sim,
                                           const float *fb, int L) {
    __shared__ float fshared[32];
    __shared__ int ishared[32];
    size_t row = (size_t)blockIdx.x * L;
    const float *s = sim + row, *f = fb + row;
    float *ip = ipall + row;
    int np = rank_prepare(ip, s, f, L, ishared);
    float acc = 0;
    for (int p = threadIdx.x; p < L * L; p += blockDim.x) {
        int i = p / L, j = p - i * L;
        float fj = f[j];
        if (lw_present(fj) && f[i] > fj) acc += fabsf(ip[i] - ip[j]) * lw_softplus(s[j] - s[i]);
    }
    acc = block_sum(acc, fshared);
    if (threadIdx.x == 0) loss[blockIdx.x] = np > 0 ? acc / (float)np : 0.0f;
}

__global__ static void rank_backward_kernel(float *dsim, float *ipall, const float *dloss,
                                            const float *sim, const float *fb, int L) {
    __shared__ int ishared[32];
    size_t row = (size_t)blockIdx.x * L;
    const float *s = sim + row, *f = fb + row;
    float *ip = ipall + row;
    int np = rank_prepare(ip, s, f, L, ishared);
    if (np == 0) return;
    float scale = dloss[blockIdx.x] / (float)np;
    /* pair (a, b), fb_a > fb_b: w softplus(s_b - s_a); d/ds_a = -w sigmoid(s_b - s_a),
     * d/ds_b = +w sigmoid(s_b - s_a) */
    for (int i = threadIdx.x; i < L; i += blockDim.x) {
        float fi = f[i], si = s[i];
        if (!lw_present(fi)) continue;
        float g = 0;
        for (int j = 0; j < L; j++) {
            float fj = f[j];
            if (lw_present(fj) && fi > fj)
                g -= fabsf(ip[i] - ip[j]) * lw_sigmoid(s[j] - si);
            else if (fj > fi)
                g += fabsf(ip[j] - ip[i]) * lw_sigmoid(si - s[j]);
        }
        dsim[row + i] += scale * g;
    }
}

/* Validates sizes; returns 0 when there is nothing to launch (or an error was recorded).
 * pairs: the rank term, which walks a row's L * L pairs with an int index and counts them in
 * an int (ListNet and ListMLE take any L, as on the cpu). */
static int lw_check(drum_backend *be, const char *op, int Q, int L, int pairs) {
    if (!drum_backend_ok(be)) return 0;
    if (Q < 0 || L < 0) {
        DRUM_FAIL(be, "%s: sizes must be >= 0 (got Q=%d, L=%d)", op, Q, L);
        return 0;
    }
    if (pairs && (long long)L * L > 0x7fffffffLL) {
        DRUM_FAIL(be, "%s: L=%d candidates per row is more than this kernel indexes (46340; "
                  "a training step's L is train.batch_queries x train.list_size)", op, L);
        return 0;
    }
    return Q > 0;
}

/* A zeroed loss for rows that have no candidates at all. */
__global__ static void zero_kernel(float *x, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] = 0.0f;
}

static void zero_rows(drum_backend *be, float *loss, int Q) {
    zero_kernel<<<ceil_div(Q, 256), 256, 0, cuda_stream(be)>>>(loss, Q);
    LAUNCH_CHECK(be);
}

extern "C" void cuda_listwise_rank_forward(drum_backend *be, float *loss, const float *sim,
                                           const float *fb, int Q, int L) {
    if (!lw_check(be, "listwise_rank_forward", Q, L, 1)) return;
    if (L == 0) return zero_rows(be, loss, Q);
    float *ip = (float *)cuda_scratch(be, (size_t)Q * L * sizeof(float));
    if (!ip) return;
    rank_forward_kernel<<<Q, LW_THREADS, 0, cuda_stream(be)>>>(loss, ip, sim, fb, L);
    LAUNCH_CHECK(be);
}

extern "C" void cuda_listwise_rank_backward(drum_backend *be, float *dsim, const float *dloss,
                                            const float *sim, const float *fb, int Q, int L) {
    if (!dsim || !lw_check(be, "listwise_rank_backward", Q, L, 1) || L == 0) return;
    float *ip = (float *)cuda_scratch(be, (size_t)Q * L * sizeof(float));
    if (!ip) return;
    rank_backward_kernel<<<Q, LW_THREADS, 0, cuda_stream(be)>>>(dsim, ip, dloss, sim, fb, L);
    LAUNCH_CHECK(be);
}

/* ListNet pieces of one row: maxima and log-normalisers of fb/tau_t and of sim over the
 * present candidates. Returns 0 when none is present (the row's loss and gradient are 0). */
__device__ static int listnet_row(const float *s, const float *f, int L, float tau_t,
                                  float *mf, float *lzf, float *ms, float *lzs,
                                  float *fshared, int *ishared) {
    float a = -INFINITY, b = -INFINITY;
    int n = 0;
    for (int i = threadIdx.x; i < L; i += blockDim.x) {
        if (!lw_present(f[i])) continue;
        n++;
        a = fmaxf(a, f[i] / tau_t);
        b = fmaxf(b, s[i]);
    }
    n = block_sum_int(n, ishared);
    if (n == 0) return 0;
    *mf = block_max(a, fshared);
    *ms = block_max(b, fshared);
    float zf = 0, zs = 0;
    for (int i = threadIdx.x; i < L; i += blockDim.x) {
        if (!lw_present(f[i])) continue;
        zf += expf(f[i] / tau_t - *mf);
        zs += expf(s[i] - *ms);
    }
    *lzf = logf(block_sum(zf, fshared));
    *lzs = logf(block_sum(zs, fshared));
    return n;
}

__global__ static void listnet_forward_kernel(float *loss, const float *sim, const float *fb,
                                              int L, float tau_t) {
    __shared__ float fshared[32];
    __shared__ int ishared[32];
    size_t row = (size_t)blockIdx.x * L;
    const float *s = sim + row, *f = fb + row;
    float mf, lzf, ms, lzs, kl = 0;
    if (listnet_row(s, f, L, tau_t, &mf, &lzf, &ms, &lzs, fshared, ishared)) {
        for (int i = threadIdx.x; i < L; i += blockDim.x) {
            if (!lw_present(f[i])) continue;
            float lp = f[i] / tau_t - mf - lzf, lq = s[i] - ms - lzs;
            kl += expf(lp) * (lp - lq);
        }
        kl = block_sum(kl, fshared);
    }
    if (threadIdx.x == 0) loss[blockIdx.x] = kl;
}

__global__ static void listnet_backward_kernel(float *dsim, const float *dloss, const float *sim,
                                               const float *fb, int L, float tau_t) {
    __shared__ float fshared[32];
    __shared__ int ishared[32];
    size_t row = (size_t)blockIdx.x * L;
    const float *s = sim + row, *f = fb + row;
    float mf, lzf, ms, lzs;
    if (!listnet_row(s, f, L, tau_t, &mf, &lzf, &ms, &lzs, fshared, ishared)) return;
    float g = dloss[blockIdx.x];
    for (int i = threadIdx.x; i < L; i += blockDim.x) {
        if (!lw_present(f[i])) continue;
        float p = expf(f[i] / tau_t - mf - lzf), qm = expf(s[i] - ms - lzs);
        dsim[row + i] += g * (qm - p);
    }
}

static int check_tau(drum_backend *be, const char *op, float tau_t) {
    if (tau_t > 0 && isfinite(tau_t)) return 1;
    DRUM_FAIL(be, "%s: tau_t must be a positive finite number (got %g)", op, (double)tau_t);
    return 0;
}

extern "C" void cuda_listnet_forward(drum_backend *be, float *loss, const float *sim,
                                     const float *fb, int Q, int L, float tau_t) {
    if (!drum_backend_ok(be) || !check_tau(be, "listnet_forward", tau_t)) return;
    if (!lw_check(be, "listnet_forward", Q, L, 0)) return;
    if (L == 0) return zero_rows(be, loss, Q);
    listnet_forward_kernel<<<Q, LW_THREADS, 0, cuda_stream(be)>>>(loss, sim, fb, L, tau_t);
    LAUNCH_CHECK(be);
}

extern "C" void cuda_listnet_backward(drum_backend *be, float *dsim, const float *dloss,
                                      const float *sim, const float *fb, int Q, int L,
                                      float tau_t) {
    if (!dsim || !drum_backend_ok(be) || !check_tau(be, "listnet_backward", tau_t)) return;
    if (!lw_check(be, "listnet_backward", Q, L, 0) || L == 0) return;
    listnet_backward_kernel<<<Q, LW_THREADS, 0, cuda_stream(be)>>>(dsim, dloss, sim, fb, L,
                                                                   tau_t);
    LAUNCH_CHECK(be);
}

/* 1 when candidate j is i itself or a present candidate after i in the fb-descending
 * order (ties by the lower index first): j is in the Plackett-Luce suffix starting at i. */
__device__ __forceinline__ bool in_suffix(const float *f, int i, int j) {
    float fi = f[i], fj = f[j];
    return j == i || (lw_present(fj) && (fj < fi || (fj == fi && j > i)));
}

/* lse[i] = log sum over the suffix starting at present candidate i of exp(sim), 0 for
 * absent ones; returns this thread's share of sum (lse_i - s_i). Ends with lse visible to
 * the block. */
__device__ static float suffix_lse(float *lse, const float *s, const float *f, int L) {
    float acc = 0;
    for (int i = threadIdx.x; i < L; i += blockDim.x) {
        float v = 0;
        if (lw_present(f[i])) {
            float m = -INFINITY, z = 0;
            for (int j = 0; j < L; j++)
                if (in_suffix(f, i, j)) m = fmaxf(m, s[j]);
            for (int j = 0; j < L; j++)
                if (in_suffix(f, i, j)) z += expf(s[j] - m);
            v = m + logf(z);
            acc += v - s[i];
        }
        lse[i] = v;
    }
    __syncthreads();
    return acc;
}

__global__ static void listmle_forward_kernel(float *loss, float *lseall, const float *sim,
                                              const float *fb, int L) {
    __shared__ float fshared[32];
    size_t row = (size_t)blockIdx.x * L;
    float acc = suffix_lse(lseall + row, sim + row, fb + row, L);
    acc = block_sum(acc, fshared);
    if (threadIdx.x == 0) loss[blockIdx.x] = acc;
}

__global__ static void listmle_backward_kernel(float *dsim, float *lseall, const float *dloss,
                                               const float *sim, const float *fb, int L) {
    size_t row = (size_t)blockIdx.x * L;
    const float *s = sim + row, *f = fb + row;
    float *lse = lseall + row;
    suffix_lse(lse, s, f, L);
    float dl = dloss[blockIdx.x];
    /* d/ds_j = -1 + sum over the suffixes i that contain j of softmax_i(j) */
    for (int j = threadIdx.x; j < L; j += blockDim.x) {
        if (!lw_present(f[j])) continue;
        float g = -1.0f;
        for (int i = 0; i < L; i++)
            if (lw_present(f[i]) && in_suffix(f, i, j)) g += expf(s[j] - lse[i]);
        dsim[row + j] += dl * g;
    }
}

extern "C" void cuda_listmle_forward(drum_backend *be, float *loss, const float *sim,
                                     const float *fb, int Q, int L) {
    if (!lw_check(be, "listmle_forward", Q, L, 0)) return;
    if (L == 0) return zero_rows(be, loss, Q);
    float *lse = (float *)cuda_scratch(be, (size_t)Q * L * sizeof(float));
    if (!lse) return;
    listmle_forward_kernel<<<Q, LW_THREADS, 0, cuda_stream(be)>>>(loss, lse, sim, fb, L);
    LAUNCH_CHECK(be);
}

extern "C" void cuda_listmle_backward(drum_backend *be, float *dsim, const float *dloss,
                                      const float *sim, const float *fb, int Q, int L) {
    if (!dsim || !lw_check(be, "listmle_backward", Q, L, 0) || L == 0) return;
    float *lse = (float *)cuda_scratch(be, (size_t)Q * L * sizeof(float));
    if (!lse) return;
    listmle_backward_kernel<<<Q, LW_THREADS, 0, cuda_stream(be)>>>(dsim, lse, dloss, sim, fb, L);
    LAUNCH_CHECK(be);
}
