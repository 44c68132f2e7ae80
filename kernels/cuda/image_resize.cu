/* image_resize.cu — CLIP preprocessing of a batch of decoded images on the device.
 *
 * The host builds each image's plan with the CPU path's own code (src/image/resample.h):
 * the same Pillow coefficient tables, pass list and normalisation table. The device runs
 * those passes with the same int32 arithmetic, so results equal the CPU path bit for bit.
 * Everything one call needs (the input rows the passes read, tables, descriptors) goes up
 * in a single copy into one stream-ordered allocation that also holds the intermediates,
 * freed on the stream after use. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.cuh"
#include "image/resample.h"

/* One pass of one image, with device addresses. kind < 0: nothing to do. */
struct dev_pass {
    int kind;
    const uint8_t *src;
    uint8_t *dst;
    long long sstride, dstride;
    int base, n, a0, a1;
    const int *bounds;
    const int32_t *k;
    int ksize;
};

/* Where one image's crop buffer lies and how the crop maps onto it. */
struct dev_crop {
    const uint8_t *crop;
    long long cstride;
    int top, left, x0, x1, y0, y1;
};

__device__ __forceinline__ uint8_t clip8_dev(int32_t ss) {
    int32_t v = ss >> DRUM_RESAMPLE_BITS;
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* blockIdx.y: image; threads stride over the pass's output pixels. */
__global__ static void resample_pass_kernel(const dev_pass *passes, int first, int stage) {
    const dev_pass p = passes[2 * (first + blockIdx.y) + stage];
    if (p.kind < 0) return;
    long long width = p.a1 - p.a0, total = width * p.n;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)gridDim.x * blockDim.x) {
        if (p.kind == DRUM_PASS_COPY) {
            long long r = idx / width, o = idx % width;
            const uint8_t *s = p.src + r * p.sstride + o * 3;
            uint8_t *d = p.dst + r * p.dstride + o * 3;
            d[0] = s[0];
            d[1] = s[1];
            d[2] = s[2];
        } else if (p.kind == DRUM_PASS_ROWS) {
            long long r = idx / width;
            int o = (int)(idx % width);
            int xmin = p.bounds[2 * o] - p.base, xn = p.bounds[2 * o + 1];
            const int32_t *k = p.k + (long long)o * p.ksize;
            const uint8_t *row = p.src + r * p.sstride;
            int32_t s0 = 1 << (DRUM_RESAMPLE_BITS - 1), s1 = s0, s2 = s0;
            for (int t = 0; t < xn; t++) {
                const uint8_t *px = row + (long long)(xmin + t) * 3;
                s0 += px[0] * k[t];
                s1 += px[1] * k[t];
                s2 += px[2] * k[t];
            }
            uint8_t *d = p.dst + r * p.dstride + (long long)o * 3;
            d[0] = clip8_dev(s0);
            d[1] = clip8_dev(s1);
            d[2] = clip8_dev(s2);
        } else {
            int o = (int)(idx / p.n);
            long long col = idx % p.n;
            int ymin = p.bounds[2 * o] - p.base, yn = p.bounds[2 * o + 1];
            const int32_t *k = p.k + (long long)o * p.ksize;
            const uint8_t *s = p.src + col * 3;
            int32_t s0 = 1 << (DRUM_RESAMPLE_BITS - 1), s1 = s0, s2 = s0;
            for (int t = 0; t < yn; t++) {
                const uint8_t *px = s + (long long)(ymin + t) * p.sstride;
                s0 += px[0] * k[t];
                s1 += px[1] * k[t];
                s2 += px[2] * k[t];
            }
            uint8_t *d = p.dst + (long long)o * p.dstride + col * 3;
            d[0] = clip8_dev(s0);
            d[1] = clip8_dev(s1);
            d[2] = clip8_dev(s2);
        }
    }
}

/* out (n, 3, ch, cw): the crop with zero pixels outside the resized image, through the
 * normalisation table lut (3, 256). */
__global__ static void crop_normalize_kernel(float *out, const dev_crop *crops, const float *lut,
                                             int first, int ch, int cw) {
    int b = first + blockIdx.y;
    const dev_crop c = crops[b];
    long long plane = (long long)ch * cw;
    float *o = out + (long long)b * 3 * plane;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < plane;
         idx += (long long)gridDim.x * blockDim.x) {
        int i = (int)(idx / cw), j = (int)(idx % cw);
        int y = i + c.top, x = j + c.left;
        uint8_t u0 = 0, u1 = 0, u2 = 0;
        if (y >= c.y0 && y < c.y1 && x >= c.x0 && x < c.x1) {
            const uint8_t *px = c.crop + (long long)(y - c.y0) * c.cstride + (long long)(x - c.x0) * 3;
            u0 = px[0];
            u1 = px[1];
            u2 = px[2];
        }
        o[idx] = lut[u0];
        o[plane + idx] = lut[256 + u1];
        o[2 * plane + idx] = lut[512 + u2];
    }
}

static size_t align16(size_t x) { return (x + 15) & ~(size_t)15; }

/* -1 with msg in err and recorded in be, or (msg NULL) the error be recorded. */
static int fail(drum_backend *be, char *err, size_t errlen, const char *msg) {
    if (msg) {
        snprintf(err, errlen, "%s", msg);
        if (be) DRUM_FAIL(be, "%s", msg);
    } else {
        snprintf(err, errlen, "%s", be->err);
    }
    return -1;
}

extern "C" int drum_image_preprocess_cuda(drum_backend *be, const drum_image *imgs, int n,
                                          const drum_image_config *cfg, float *out, char *err,
                                          size_t errlen) {
    if (!be || be->kind != DRUM_BACKEND_CUDA)
        return fail(be, err, errlen, "drum_image_preprocess_cuda: needs a cuda backend");
    if (!drum_backend_ok(be)) return fail(be, err, errlen, NULL);
    if (n <= 0) return 0;
    drum_resample_plan *plans = (drum_resample_plan *)calloc((size_t)n, sizeof(*plans));
    size_t *off = (size_t *)calloc((size_t)n * 8, sizeof(size_t));
    if (!plans || !off) {
        free(plans);
        free(off);
        return fail(be, err, errlen, "out of memory");
    }
    int built = 0, rc = 0;
    for (; built < n; built++) {
        char e[256];
        if (drum_resample_plan_init(&plans[built], imgs[built].w, imgs[built].h, cfg, e,
                                    sizeof e) != 0) {
            snprintf(err, errlen, "image %d: %s", built, e);
            rc = -1;
            break;
        }
    }
    /* The arena: first what is uploaded (per image [input rows r0..r1][hx bounds][hx taps]
     * [vy bounds][vy taps], then the pass and crop descriptors and the normalisation table),
     * then device-only scratch (per image [intermediate][crop buffer]). off[8b + 0..6] hold
     * those offsets. */
    size_t total = 0;
    for (int b = 0; b < built && rc == 0; b++) {
        const drum_resample_plan *p = &plans[b];
        size_t nh = (size_t)(p->x1 - p->x0), nv = (size_t)(p->y1 - p->y0);
        size_t *o = off + 8 * b;
        o[0] = total;
        total = align16(total + (size_t)(p->r1 - p->r0) * p->w * 3);
        o[1] = total;
        total = align16(total + (p->need_h ? nh * 2 * sizeof(int) : 0));
        o[2] = total;
        total = align16(total + (p->need_h ? nh * p->hx.ksize * sizeof(int32_t) : 0));
        o[3] = total;
        total = align16(total + (p->need_v ? nv * 2 * sizeof(int) : 0));
        o[4] = total;
        total = align16(total + (p->need_v ? nv * p->vy.ksize * sizeof(int32_t) : 0));
    }
    size_t passes_off = total;
    total = align16(total + (size_t)2 * n * sizeof(dev_pass));
    size_t crops_off = total;
    total = align16(total + (size_t)n * sizeof(dev_crop));
    size_t lut_off = total;
    total = align16(total + 3 * 256 * sizeof(float));
    size_t upload = total;
    for (int b = 0; b < built && rc == 0; b++) {
        size_t *o = off + 8 * b;
        o[5] = total;
        total = align16(total + plans[b].tmp_bytes);
        o[6] = total;
        total = align16(total + plans[b].crop_bytes);
    }

    uint8_t *dev = NULL, *host = NULL;
    cudaStream_t st = cuda_stream(be);
    if (rc == 0 && CUDA_CHECK(be, cudaMallocAsync((void **)&dev, total, st))) rc = -2;
    if (rc == 0 && !(host = (uint8_t *)calloc(1, upload))) {
        snprintf(err, errlen, "out of memory for a %zu-byte staging buffer", upload);
        rc = -1;
    }
    if (rc == 0) {
        dev_pass *dp = (dev_pass *)(host + passes_off);
        dev_crop *dc = (dev_crop *)(host + crops_off);
        for (int b = 0; b < n; b++) {
            const drum_resample_plan *p = &plans[b];
            const size_t *o = off + 8 * b;
            size_t nh = (size_t)(p->x1 - p->x0), nv = (size_t)(p->y1 - p->y0);
            size_t in_stride = (size_t)p->w * 3;
            memcpy(host + o[0], imgs[b].rgb + (size_t)p->r0 * in_stride,
                   (size_t)(p->r1 - p->r0) * in_stride);
            if (p->need_h) {
                memcpy(host + o[1], p->hx.bounds, nh * 2 * sizeof(int));
                memcpy(host + o[2], p->hx.k, nh * p->hx.ksize * sizeof(int32_t));
            }
            if (p->need_v) {
                memcpy(host + o[3], p->vy.bounds, nv * 2 * sizeof(int));
                memcpy(host + o[4], p->vy.k, nv * p->vy.ksize * sizeof(int32_t));
            }
            uint8_t *bufs[3] = {dev + o[0], dev + o[5], dev + o[6]};
            for (int s = 0; s < 2; s++) {
                dev_pass *d = &dp[2 * b + s];
                memset(d, 0, sizeof(*d));
                d->kind = -1;
                if (s >= p->npass) continue;
                const drum_resample_pass *ps = &p->pass[s];
                /* the input was uploaded from row r0 on */
                size_t shift = ps->src == DRUM_BUF_INPUT ? (size_t)p->r0 * in_stride : 0;
                d->kind = ps->kind;
                d->src = bufs[ps->src] + (ps->src_off - shift);
                d->dst = bufs[ps->dst];
                d->sstride = (long long)ps->sstride;
                d->dstride = (long long)ps->dstride;
                d->base = ps->base;
                d->n = ps->n;
                d->a0 = ps->a0;
                d->a1 = ps->a1;
                int rows = ps->kind == DRUM_PASS_ROWS;
                d->bounds = (const int *)(dev + (rows ? o[1] : o[3]));
                d->k = (const int32_t *)(dev + (rows ? o[2] : o[4]));
                d->ksize = rows ? p->hx.ksize : p->vy.ksize;
            }
            dc[b].crop = dev + o[6];
            dc[b].cstride = (long long)nh * 3;
            dc[b].top = p->top;
            dc[b].left = p->left;
            dc[b].x0 = p->x0;
            dc[b].x1 = p->x1;
            dc[b].y0 = p->y0;
            dc[b].y1 = p->y1;
        }
        memcpy(host + lut_off, plans[0].lut, 3 * 256 * sizeof(float));
        if (CUDA_CHECK(be, cudaMemcpyAsync(dev, host, upload, cudaMemcpyHostToDevice, st))) rc = -2;
    }
    if (rc == 0) {
        const int threads = 256, chunk = 65535;
        for (int first = 0; first < n && rc == 0; first += chunk) {
            int m = n - first < chunk ? n - first : chunk;
            for (int s = 0; s < 2 && rc == 0; s++) {
                dim3 grid(64, (unsigned)m);
                resample_pass_kernel<<<grid, threads, 0, st>>>((const dev_pass *)(dev + passes_off),
                                                               first, s);
                if (LAUNCH_CHECK(be)) rc = -2;
            }
            if (rc == 0) {
                unsigned bx = ceil_div((size_t)cfg->crop_h * cfg->crop_w, threads);
                dim3 grid(bx < 64 ? bx : 64, (unsigned)m);
                crop_normalize_kernel<<<grid, threads, 0, st>>>(
                    out, (const dev_crop *)(dev + crops_off), (const float *)(dev + lut_off),
                    first, cfg->crop_h, cfg->crop_w);
                if (LAUNCH_CHECK(be)) rc = -2;
            }
        }
    }
    if (dev) CUDA_CHECK(be, cudaFreeAsync(dev, st));
    free(host);
    for (int b = 0; b < built; b++) drum_resample_plan_free(&plans[b]);
    free(plans);
    free(off);
    if (rc == -2) return fail(be, err, errlen, NULL);
    if (rc == -1) { /* a plan or the staging buffer failed, with the message in err */
        char msg[256];
        snprintf(msg, sizeof msg, "%s", err);
        return fail(be, err, errlen, msg);
    }
    return rc;
}
