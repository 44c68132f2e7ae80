/* layernorm.cu — LayerNorm over the last dimension.
 * Fast paths (C % 4 == 0, 16-byte aligned pointers, C <= 2048 forward, <= 4096 backward): the
 * forward keeps a warp's row in registers as float4s (one read of x, one write of out); the
 * backward is one fused pass: a block owns LN_VEC_ROWS rows, each thread owns the same float4
 * columns of every row, so it computes dinp for the row and accumulates dw/db for its columns
 * in registers, then writes one per-block partial. Other shapes: one warp per row, scalar, the
 * dw/db partials from a separate pass. Both paths' partials are summed in block order by one
 * reduce kernel. No atomics anywhere: every result is deterministic. */
#include <stdint.h>

#include "common.cuh"

#define LN_ROW_CHUNK 64
#define LN_VEC_ROWS 16   /* rows per block of the fused backward (partials: 2 C floats each) */
#define LN_FWD_VEC_MAX 16 /* float4s per lane in the forward's register array: C <= 2048 */
#define LN_BWD_VEC_MAX 4  /* float4s per thread in the backward (<= 256 threads): C <= 4096
                           * (8 spills registers) */
#define LN_BWD_THREADS 256

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

/* ---- fast paths: C % 4 == 0, aligned ---- */

/* one warp per row; lane owns float4s lane, lane + 32, ...: the row stays in registers */
template <int V>
__global__ static void layernorm_forward_vec_kernel(float *out, float *mean, float *rstd,
                                                    const float *inp, const float *w,
                                                    const float *b, int N, int C, float eps) {
    int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x & 31;
    if (row >= N) return;
    int C4 = C / 4;
    const float4 *x4 = (const float4 *)(inp + (size_t)row * C);
    float4 xv[V];
    float s = 0;
#pragma unroll
    for (int v = 0; v < V; v++) {
        int c = v * 32 + lane;
        xv[v] = c < C4 ? x4[c] : make_float4(0, 0, 0, 0);
        s += (xv[v].x + xv[v].y) + (xv[v].z + xv[v].w);
    }
    float m = warp_sum(s) / C, q = 0;
#pragma unroll
    for (int v = 0; v < V; v++) {
        if (v * 32 + lane < C4) {
            float4 d = make_float4(xv[v].x - m, xv[v].y - m, xv[v].z - m, xv[v].w - m);
            q += (d.x * d.x + d.y * d.y) + (d.z * d.z + d.w * d.w);
        }
    }
    float r = rsqrtf(warp_sum(q) / C + eps);
    float4 *o4 = (float4 *)(out + (size_t)row * C);
#pragma unroll
    for (int v = 0; v < V; v++) {
        int c = v * 32 + lane;
        if (c < C4) {
            float4 wv = __ldg((const float4 *)w + c), bv = __ldg((const float4 *)b + c), o;
            o.x = (xv[v].x - m) * r * wv.x + bv.x;
            o.y = (xv[v].y - m) * r * wv.y + bv.y;
            o.z = (xv[v].z - m) * r * wv.z + bv.z;
            o.w = (xv[v].w - m) * r * wv.w + bv.w;
            o4[c] = o;
        }
    }
    if (lane == 0) {
        mean[row] = m;
        rstd[row] = r;
    }
}

/* Fused backward over rows [blockIdx.x * LN_VEC_ROWS, +LN_VEC_ROWS): thread t owns float4
 * columns t, t + blockDim.x, ... of every row. dinp += for each row; the block's dw/db column
 * sums go to partial[blockIdx.x][.] and partial[gridDim.x + blockIdx.x][.]. The next row's
 * x and dout are loaded before this row's block reduction, and dinp's old value with this
 * row's, so three rows' worth of loads are in flight around each barrier. */
template <int V>
__global__ static void __launch_bounds__(LN_BWD_THREADS)
layernorm_backward_vec_kernel(float *dinp, float *partial, const float *dout, const float *inp,
                              const float *w, const float *mean, const float *rstd, int N,
                              int C) {
    __shared__ float red[64];
    const float4 zero = make_float4(0, 0, 0, 0);
    int C4 = C / 4, T = blockDim.x;
    int n0 = blockIdx.x * LN_VEC_ROWS, n1 = min(N, n0 + LN_VEC_ROWS);
    float4 wv[V], aw[V], ab[V], x[V], g[V];
#pragma unroll
    for (int v = 0; v < V; v++) {
        int c = v * T + threadIdx.x;
        bool in = c < C4;
        wv[v] = in ? __ldg((const float4 *)w + c) : zero;
        x[v] = in ? ((const float4 *)(inp + (size_t)n0 * C))[c] : zero;
        g[v] = in ? ((const float4 *)(dout + (size_t)n0 * C))[c] : zero;
        aw[v] = zero;
        ab[v] = zero;
    }
    for (int n = n0; n < n1; n++) {
        float m = mean[n], r = rstd[n];
        float4 xh[V], dxh[V], d[V], xn[V], gn[V];
        float sg = 0, sgx = 0;
#pragma unroll
        for (int v = 0; v < V; v++) {
            int c = v * T + threadIdx.x;
            bool in = c < C4;
            d[v] = in && dinp ? ((const float4 *)(dinp + (size_t)n * C))[c] : zero;
            bool next = in && n + 1 < n1;
            xn[v] = next ? ((const float4 *)(inp + (size_t)(n + 1) * C))[c] : zero;
            gn[v] = next ? ((const float4 *)(dout + (size_t)(n + 1) * C))[c] : zero;
            xh[v] = make_float4((x[v].x - m) * r, (x[v].y - m) * r, (x[v].z - m) * r,
                                (x[v].w - m) * r);
            dxh[v] = make_float4(g[v].x * wv[v].x, g[v].y * wv[v].y, g[v].z * wv[v].z,
                                 g[v].w * wv[v].w);
            sg += (dxh[v].x + dxh[v].y) + (dxh[v].z + dxh[v].w);
            sgx += (dxh[v].x * xh[v].x + dxh[v].y * xh[v].y) +
                   (dxh[v].z * xh[v].z + dxh[v].w * xh[v].w);
            aw[v].x += g[v].x * xh[v].x;
            aw[v].y += g[v].y * xh[v].y;
            aw[v].z += g[v].z * xh[v].z;
            aw[v].w += g[v].w * xh[v].w;
            ab[v].x += g[v].x;
            ab[v].y += g[v].y;
            ab[v].z += g[v].z;
            ab[v].w += g[v].w;
        }
        float2 s = block_sum2(sg, sgx, red);
        float mg = s.x / C, mgx = s.y / C;
#pragma unroll
        for (int v = 0; v < V; v++) {
            int c = v * T + threadIdx.x;
            if (dinp && c < C4) {
                d[v].x += r * (dxh[v].x - mg - xh[v].x * mgx);
                d[v].y += r * (dxh[v].y - mg - xh[v].y * mgx);
                d[v].z += r * (dxh[v].z - mg - xh[v].z * mgx);
                d[v].w += r * (dxh[v].w - mg - xh[v].w * mgx);
                ((float4 *)(dinp + (size_t)n * C))[c] = d[v];
            }
            x[v] = xn[v];
            g[v] = gn[v];
        }
    }
    float4 *pw = (float4 *)(partial + (size_t)blockIdx.x * C);
    float4 *pb = (float4 *)(partial + (size_t)(gridDim.x + blockIdx.x) * C);
#pragma unroll
    for (int v = 0; v < V; v++) {
        int c = v * T + threadIdx.x;
        if (c < C4) {
            pw[c] = aw[v];
            pb[c] = ab[v];
        }
    }
}

/* dw[c] += sum over j of partial[j][c], db likewise from partial[nparts + j][c]: a block of
 * 32 columns x 32 part-lanes, each lane summing parts y, y + 32, ..., then the 32 lanes in
 * order. Deterministic. */
__global__ static void layernorm_param_reduce_kernel(float *dw, float *db, const float *partial,
                                                     int C, int nparts) {
    __shared__ float sw[32][33], sb[32][33];
    int tx = threadIdx.x, ty = threadIdx.y, c = blockIdx.x * 32 + tx;
    float aw = 0, ab = 0;
    if (c < C)
        for (int j = ty; j < nparts; j += 32) {
            aw += partial[(size_t)j * C + c];
            ab += partial[(size_t)(nparts + j) * C + c];
        }
    sw[ty][tx] = aw;
    sb[ty][tx] = ab;
    __syncthreads();
    if (ty == 0 && c < C) {
        aw = 0;
        ab = 0;
        for (int j = 0; j < 32; j++) {
            aw += sw[j][tx];
            ab += sb[j][tx];
        }
        if (dw) dw[c] += aw;
        if (db) db[c] += ab;
    }
}

static int aligned16(const void *p) { return ((uintptr_t)p & 15) == 0; }

/* float4s per thread for C4 float4 columns spread over `threads`, rounded up to a template
 * instance (1, 2, 4, 8, 16); 0 when over `max` */
static int vec_per_thread(int C4, int threads, int max) {
    int v = (C4 + threads - 1) / threads, p = 1;
    while (p < v) p *= 2;
    return p <= max ? p : 0;
}

static int forward_vec(cudaStream_t s, float *out, float *mean, float *rstd, const float *inp,
                       const float *w, const float *b, int N, int C, float eps) {
    if (C % 4 || !aligned16(out) || !aligned16(inp) || !aligned16(w) || !aligned16(b)) return 0;
    dim3 grid(ceil_div(N, 8)), block(256);
#define LN_FWD(V) layernorm_forward_vec_kernel<V><<<grid, block, 0, s>>>(out, mean, rstd, inp, w, b, N, C, eps)
    switch (vec_per_thread(C / 4, 32, LN_FWD_VEC_MAX)) {
    case 1: LN_FWD(1); break;
    case 2: LN_FWD(2); break;
    case 4: LN_FWD(4); break;
    case 8: LN_FWD(8); break;
    case 16: LN_FWD(16); break;
    default: return 0;
    }
#undef LN_FWD
    return 1;
}

extern "C" void cuda_layernorm_forward(drum_backend *be, float *out, float *mean, float *rstd,
                                       const float *inp, const float *w, const float *b, int N,
                                       int C, float eps) {
    if (!drum_backend_ok(be) || N == 0) return;
    if (!forward_vec(cuda_stream(be), out, mean, rstd, inp, w, b, N, C, eps))
        layernorm_forward_kernel<<<ceil_div(N, 8), 256, 0, cuda_stream(be)>>>(out, mean, rstd,
                                                                             inp, w, b, N, C, eps);
    LAUNCH_CHECK(be);
}

extern "C" void cuda_layernorm_backward(drum_backend *be, float *dinp, float *dw, float *db,
                                        const float *dout, const float *inp, const float *w,
                                        const float *mean, const float *rstd, int N, int C) {
    if (!drum_backend_ok(be) || N == 0) return;
    cudaStream_t s = cuda_stream(be);
    /* the fewest float4s per thread that keep a block within LN_BWD_THREADS threads */
    int C4 = C / 4, v = vec_per_thread(C4, LN_BWD_THREADS, LN_BWD_VEC_MAX);
    int threads = v ? ((C4 + v - 1) / v + 31) / 32 * 32 : 0;
    int nparts;
    float *partial;
    if (C % 4 == 0 && v && aligned16(dout) && aligned16(inp) && aligned16(w) &&
        (!dinp || aligned16(dinp))) {
        nparts = (N + LN_VEC_ROWS - 1) / LN_VEC_ROWS;
        partial = (float *)cuda_scratch(be, (size_t)2 * nparts * C * sizeof(float));
        if (!partial) return;
        /* scratch is 256-byte aligned and C % 4 == 0: every partial row is float4-aligned */
#define LN_BWD(V) layernorm_backward_vec_kernel<V><<<nparts, threads, 0, s>>>(dinp, partial, dout, inp, w, mean, rstd, N, C)
        switch (v) {
        case 1: LN_BWD(1); break;
        case 2: LN_BWD(2); break;
        default: LN_BWD(4); break;
        }
#undef LN_BWD
        if (LAUNCH_CHECK(be)) return;
    } else {
        if (dinp) {
            layernorm_dinp_kernel<<<ceil_div(N, 8), 256, 0, s>>>(dinp, dout, inp, w, mean, rstd,
                                                                 N, C);
            if (LAUNCH_CHECK(be)) return;
        }
        if (!dw && !db) return;
        nparts = (N + LN_ROW_CHUNK - 1) / LN_ROW_CHUNK;
        partial = (float *)cuda_scratch(be, (size_t)2 * nparts * C * sizeof(float));
        if (!partial) return;
        layernorm_param_partial_kernel<<<dim3(ceil_div(C, 128), nparts), 128, 0, s>>>(
            partial, dout, inp, mean, rstd, N, C, nparts);
        if (LAUNCH_CHECK(be)) return;
    }
    /* either path leaves per-row-group column sums: dw/db get them in group order */
    if (!dw && !db) return;
    layernorm_param_reduce_kernel<<<ceil_div(C, 32), dim3(32, 32), 0, s>>>(dw, db, partial, C,
                                                                          nparts);
    LAUNCH_CHECK(be);
}
