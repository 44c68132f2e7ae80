/* image.c — CLIP preprocessing bit-compatible with transformers' PIL path (see image.h):
 * Pillow's resampling tables, the resize-and-crop plan, the passes, normalisation, batches.
 * Only the resized pixels that survive the centre crop are computed; each depends on the
 * input alone, so the result equals resizing everything first. */
#include "drum/error.h"
#include "drum/image.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/resample.h"

void drum_image_config_default(drum_image_config *cfg) {
    static const float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
    static const float std[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    cfg->size = 224;
    cfg->crop_h = cfg->crop_w = 224;
    memcpy(cfg->mean, mean, sizeof mean);
    memcpy(cfg->std, std, sizeof std);
    cfg->rescale = 1.0 / 255.0;
    cfg->alpha = DRUM_ALPHA_DROP;
    cfg->legacy_pass_order = 0;
}

/* ---- Pillow's resampling tables ------------------------------------------------------ */

static double bicubic_filter(double x) {
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

int drum_resample_axis_init(drum_resample_axis *ax, int in_size, int out_size, int o0, int o1) {
    /* the same double expressions, in the same order, as Pillow's precompute_coeffs */
    double scale = (double)(float)in_size / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 2.0 * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    int n = o1 - o0;
    ax->o0 = o0;
    ax->o1 = o1;
    ax->ksize = ksize;
    ax->bounds = malloc((size_t)(n > 0 ? n : 1) * 2 * sizeof(int));
    ax->k = malloc((size_t)(n > 0 ? n : 1) * (size_t)ksize * sizeof(int32_t));
    double *w = malloc((size_t)ksize * sizeof(double));
    if (!ax->bounds || !ax->k || !w) {
        free(w);
        drum_resample_axis_free(ax);
        return -1;
    }
    for (int o = o0; o < o1; o++) {
        double center = (o + 0.5) * scale;
        double ww = 0.0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        int x;
        for (x = 0; x < xmax; x++) {
            w[x] = bicubic_filter((x + xmin - center + 0.5) * ss);
            ww += w[x];
        }
        for (x = 0; x < xmax; x++)
            if (ww != 0.0) w[x] /= ww;
        for (; x < ksize; x++) w[x] = 0;
        int32_t *k = ax->k + (size_t)(o - o0) * ksize;
        for (x = 0; x < ksize; x++)
            k[x] = w[x] < 0 ? (int32_t)(-0.5 + w[x] * (1 << DRUM_RESAMPLE_BITS))
                            : (int32_t)(0.5 + w[x] * (1 << DRUM_RESAMPLE_BITS));
        ax->bounds[2 * (o - o0)] = xmin;
        ax->bounds[2 * (o - o0) + 1] = xmax;
    }
    free(w);
    return 0;
}

void drum_resample_axis_free(drum_resample_axis *ax) {
    free(ax->bounds);
    free(ax->k);
    ax->bounds = NULL;
    ax->k = NULL;
}

void drum_image_resize_size(int w, int h, int size, int *out_w, int *out_h) {
    int s = w <= h ? w : h, l = w <= h ? h : w;
    int nl = (int)((double)size * (double)l / (double)s);
    *out_w = w <= h ? size : nl;
    *out_h = w <= h ? nl : size;
}

/* Python's (a // 2) for any sign. */
static int floor_half(int a) { return a >= 0 ? a / 2 : -((1 - a) / 2); }

int drum_resample_plan_init(drum_resample_plan *p, int w, int h, const drum_image_config *cfg,
                            char *err, size_t errlen) {
    memset(p, 0, sizeof(*p));
    if (cfg->size < 1 || cfg->crop_h < 1 || cfg->crop_w < 1 || cfg->size > 65536 ||
        cfg->crop_h > 65536 || cfg->crop_w > 65536) {
        drum_errorf(err, errlen, "image config: size %d, crop %dx%d (each must be 1..65536)",
                cfg->size, cfg->crop_h, cfg->crop_w);
        return -1;
    }
    for (int c = 0; c < 3; c++)
        if (!(cfg->std[c] != 0.0f) || !isfinite(cfg->std[c]) || !isfinite(cfg->mean[c])) {
            drum_errorf(err, errlen, "image config: channel %d mean %g std %g (std must be finite "
                    "and non-zero)", c, cfg->mean[c], cfg->std[c]);
            return -1;
        }
    if (w < 1 || h < 1) {
        drum_errorf(err, errlen, "image of size %dx%d", w, h);
        return -1;
    }
    /* the long edge grows by size/short: keep it a plain int */
    int s = w <= h ? w : h, l = w <= h ? h : w;
    if ((double)cfg->size * l / s > (double)INT_MAX / 4) {
        drum_errorf(err, errlen, "image %dx%d: aspect ratio too extreme to resize", w, h);
        return -1;
    }
    p->w = w;
    p->h = h;
    drum_image_resize_size(w, h, cfg->size, &p->rw, &p->rh);
    p->top = floor_half(p->rh - cfg->crop_h);
    p->left = floor_half(p->rw - cfg->crop_w);
    p->x0 = p->left > 0 ? p->left : 0;
    p->x1 = p->left + cfg->crop_w < p->rw ? p->left + cfg->crop_w : p->rw;
    p->y0 = p->top > 0 ? p->top : 0;
    p->y1 = p->top + cfg->crop_h < p->rh ? p->top + cfg->crop_h : p->rh;
    p->need_h = p->rw != w;
    p->need_v = p->rh != h;
    /* Pillow 13's ImagingResampleInner: "if height is being scaled down more than twice the
     * amount the width is, run the vertical pass first" */
    p->vertical_first = !cfg->legacy_pass_order && (h - p->rh) > 0 &&
                        (h - p->rh) > (w - p->rw) * 2;
    if ((p->need_h && drum_resample_axis_init(&p->hx, w, p->rw, p->x0, p->x1) != 0) ||
        (p->need_v && drum_resample_axis_init(&p->vy, h, p->rh, p->y0, p->y1) != 0)) {
        drum_resample_plan_free(p);
        drum_errorf(err, errlen, "out of memory for resampling tables");
        return -1;
    }
    /* input rows / columns read; tap windows start and end monotonically with the output */
    int last = 2 * (p->x1 - p->x0 - 1);
    p->c0 = p->need_h ? p->hx.bounds[0] : p->x0;
    p->c1 = p->need_h ? p->hx.bounds[last] + p->hx.bounds[last + 1] : p->x1;
    last = 2 * (p->y1 - p->y0 - 1);
    p->r0 = p->need_v ? p->vy.bounds[0] : p->y0;
    p->r1 = p->need_v ? p->vy.bounds[last] + p->vy.bounds[last + 1] : p->y1;

    size_t in_stride = (size_t)w * 3, ncol = (size_t)(p->x1 - p->x0);
    size_t nrow = (size_t)(p->y1 - p->y0), crop_stride = ncol * 3;
    p->crop_bytes = nrow * crop_stride;
    drum_resample_pass *a = &p->pass[0], *b = &p->pass[1];
    *a = (drum_resample_pass){.src = DRUM_BUF_INPUT, .dst = DRUM_BUF_CROP,
                              .sstride = in_stride, .dstride = crop_stride};
    if (!p->need_h && !p->need_v) {
        p->npass = 1;
        a->kind = DRUM_PASS_COPY;
        a->src_off = (size_t)p->y0 * in_stride + (size_t)p->x0 * 3;
        a->n = (int)nrow;
        a->a0 = p->x0;
        a->a1 = p->x1;
    } else if (!p->need_v) {
        p->npass = 1;
        *a = (drum_resample_pass){DRUM_PASS_ROWS, DRUM_BUF_INPUT, DRUM_BUF_CROP,
                                  (size_t)p->y0 * in_stride, in_stride, crop_stride, 0,
                                  (int)nrow, p->x0, p->x1};
    } else if (!p->need_h) {
        p->npass = 1;
        *a = (drum_resample_pass){DRUM_PASS_COLS, DRUM_BUF_INPUT, DRUM_BUF_CROP,
                                  (size_t)p->r0 * in_stride + (size_t)p->x0 * 3, in_stride,
                                  crop_stride, p->r0, (int)ncol, p->y0, p->y1};
    } else if (!p->vertical_first) {
        p->npass = 2;
        p->tmp_bytes = (size_t)(p->r1 - p->r0) * crop_stride;
        *a = (drum_resample_pass){DRUM_PASS_ROWS, DRUM_BUF_INPUT, DRUM_BUF_TMP,
                                  (size_t)p->r0 * in_stride, in_stride, crop_stride, 0,
                                  p->r1 - p->r0, p->x0, p->x1};
        *b = (drum_resample_pass){DRUM_PASS_COLS, DRUM_BUF_TMP, DRUM_BUF_CROP, 0, crop_stride,
                                  crop_stride, p->r0, (int)ncol, p->y0, p->y1};
    } else {
        size_t tstride = (size_t)(p->c1 - p->c0) * 3;
        p->npass = 2;
        p->tmp_bytes = nrow * tstride;
        *a = (drum_resample_pass){DRUM_PASS_COLS, DRUM_BUF_INPUT, DRUM_BUF_TMP,
                                  (size_t)p->r0 * in_stride + (size_t)p->c0 * 3, in_stride,
                                  tstride, p->r0, p->c1 - p->c0, p->y0, p->y1};
        *b = (drum_resample_pass){DRUM_PASS_ROWS, DRUM_BUF_TMP, DRUM_BUF_CROP, 0, tstride,
                                  crop_stride, p->c0, (int)nrow, p->x0, p->x1};
    }
    drum_image_level_lut(cfg, p->lut);
    return 0;
}

void drum_image_level_lut(const drum_image_config *cfg, float lut[3][256]) {
    /* transformers: float64(u8) * scale -> float32, then (x - mean) / std in float32 */
    for (int c = 0; c < 3; c++)
        for (int u = 0; u < 256; u++) {
            float x = (float)((double)u * cfg->rescale);
            lut[c][u] = (x - cfg->mean[c]) / cfg->std[c];
        }
}

void drum_resample_plan_free(drum_resample_plan *p) {
    drum_resample_axis_free(&p->hx);
    drum_resample_axis_free(&p->vy);
}

static inline uint8_t clip8(int32_t ss) {
    int32_t v = ss >> DRUM_RESAMPLE_BITS;
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* ---- preprocessing ------------------------------------------------------------------- */

/* One pass (resample.h) with Pillow's 8-bit arithmetic: taps summed in int32 from a
 * half-unit bias, then >> 22 and clipped to 0..255. */
static void run_pass(const drum_resample_plan *p, const drum_resample_pass *ps,
                     const uint8_t *src, uint8_t *dst, int32_t *acc) {
    const uint8_t *s = src + ps->src_off;
    int width = ps->a1 - ps->a0;
    if (ps->kind == DRUM_PASS_COPY) {
        for (int r = 0; r < ps->n; r++)
            memcpy(dst + (size_t)r * ps->dstride, s + (size_t)r * ps->sstride, (size_t)width * 3);
    } else if (ps->kind == DRUM_PASS_ROWS) {
        const drum_resample_axis *ax = &p->hx;
        for (int r = 0; r < ps->n; r++) {
            const uint8_t *row = s + (size_t)r * ps->sstride;
            uint8_t *out = dst + (size_t)r * ps->dstride;
            for (int o = 0; o < width; o++) {
                int xmin = ax->bounds[2 * o] - ps->base, xn = ax->bounds[2 * o + 1];
                const int32_t *k = ax->k + (size_t)o * ax->ksize;
                int32_t s0 = 1 << (DRUM_RESAMPLE_BITS - 1), s1 = s0, s2 = s0;
                for (int t = 0; t < xn; t++) {
                    const uint8_t *px = row + (size_t)(xmin + t) * 3;
                    s0 += px[0] * k[t];
                    s1 += px[1] * k[t];
                    s2 += px[2] * k[t];
                }
                out[3 * o] = clip8(s0);
                out[3 * o + 1] = clip8(s1);
                out[3 * o + 2] = clip8(s2);
            }
        }
    } else {
        /* a row of accumulators per output row: reads the source row by row */
        const drum_resample_axis *ax = &p->vy;
        int nv = ps->n * 3;
        for (int o = 0; o < width; o++) {
            int ymin = ax->bounds[2 * o] - ps->base, yn = ax->bounds[2 * o + 1];
            const int32_t *k = ax->k + (size_t)o * ax->ksize;
            for (int i = 0; i < nv; i++) acc[i] = 1 << (DRUM_RESAMPLE_BITS - 1);
            for (int t = 0; t < yn; t++) {
                const uint8_t *row = s + (size_t)(ymin + t) * ps->sstride;
                int32_t kt = k[t];
                for (int i = 0; i < nv; i++) acc[i] += row[i] * kt;
            }
            uint8_t *out = dst + (size_t)o * ps->dstride;
            for (int i = 0; i < nv; i++) out[i] = clip8(acc[i]);
        }
    }
}

/* Resize and crop into levels (uint8) or, through the plan's table, normalised floats. */
static int preprocess(const drum_image *img, const drum_image_config *cfg, float *out,
                      uint8_t *levels, char *err, size_t errlen) {
    drum_resample_plan p;
    if (drum_resample_plan_init(&p, img->w, img->h, cfg, err, errlen) != 0) return -1;
    int maxn = p.pass[0].n > p.pass[1].n ? p.pass[0].n : p.pass[1].n;
    uint8_t *tmp = malloc(p.tmp_bytes + 1), *crop = malloc(p.crop_bytes + 1);
    int32_t *acc = malloc((size_t)maxn * 3 * sizeof(int32_t) + 4);
    if (!tmp || !crop || !acc) {
        free(tmp);
        free(crop);
        free(acc);
        drum_resample_plan_free(&p);
        drum_errorf(err, errlen, "out of memory");
        return -1;
    }
    uint8_t *bufs[3] = {img->rgb, tmp, crop};
    for (int i = 0; i < p.npass; i++)
        run_pass(&p, &p.pass[i], bufs[p.pass[i].src], bufs[p.pass[i].dst], acc);
    /* the crop, zero outside the resized image */
    size_t plane = (size_t)cfg->crop_h * cfg->crop_w, cstride = (size_t)(p.x1 - p.x0) * 3;
    for (int i = 0; i < cfg->crop_h; i++) {
        int y = i + p.top;
        for (int j = 0; j < cfg->crop_w; j++) {
            int x = j + p.left;
            static const uint8_t zero[3] = {0, 0, 0};
            const uint8_t *u = (y >= p.y0 && y < p.y1 && x >= p.x0 && x < p.x1)
                                   ? crop + (size_t)(y - p.y0) * cstride + (size_t)(x - p.x0) * 3
                                   : zero;
            size_t o = (size_t)i * cfg->crop_w + j;
            for (int c = 0; c < 3; c++) {
                if (levels)
                    levels[c * plane + o] = u[c];
                else
                    out[c * plane + o] = p.lut[c][u[c]];
            }
        }
    }
    free(tmp);
    free(crop);
    free(acc);
    drum_resample_plan_free(&p);
    return 0;
}

int drum_image_preprocess(const drum_image *img, const drum_image_config *cfg, float *out,
                          char *err, size_t errlen) {
    return preprocess(img, cfg, out, NULL, err, errlen);
}

int drum_image_preprocess_levels(const drum_image *img, const drum_image_config *cfg,
                                 uint8_t *out, char *err, size_t errlen) {
    return preprocess(img, cfg, NULL, out, err, errlen);
}

int drum_image_preprocess_batch(const drum_image *imgs, int n, const drum_image_config *cfg,
                                float *out, char *err, size_t errlen) {
    size_t per = (size_t)3 * cfg->crop_h * cfg->crop_w;
    int failed = -1;
#pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < n; i++) {
        char e[256];
        if (drum_image_preprocess(&imgs[i], cfg, out + (size_t)i * per, e, sizeof e) != 0) {
            memset(out + (size_t)i * per, 0, per * sizeof(float));
#pragma omp critical(drum_image_batch_fail)
            if (failed < 0 || i < failed) {
                failed = i;
                drum_errorf(err, errlen, "image %d: %s", i, e);
            }
        }
    }
    return failed < 0 ? 0 : -1;
}

/* Loads and preprocesses files in parallel into floats (out) or levels, with their digests
 * (NULL: none). */
static int preprocess_files(const char *const *paths, int n, const drum_image_config *cfg,
                            float *out, uint8_t *levels, uint64_t *digests, int *failed,
                            char *err, size_t errlen) {
    size_t per = (size_t)3 * cfg->crop_h * cfg->crop_w;
    int first = -1;
#pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < n; i++) {
        char e[512];
        drum_image img;
        uint64_t digest;
        int rc = drum_image_load_digest(paths[i], cfg->alpha, &img, &digest, e, sizeof e);
        if (rc == 0) {
            char e2[256];
            rc = preprocess(&img, cfg, out ? out + (size_t)i * per : NULL,
                            levels ? levels + (size_t)i * per : NULL, e2, sizeof e2);
            if (rc != 0) snprintf(e, sizeof e, "%s: %s", paths[i], e2);
            drum_image_free(&img);
        }
        if (digests) digests[i] = rc == 0 ? digest : 0;
        if (rc != 0) {
            if (out) memset(out + (size_t)i * per, 0, per * sizeof(float));
            if (levels) memset(levels + (size_t)i * per, 0, per);
#pragma omp critical(drum_image_files_fail)
            if (first < 0 || i < first) {
                first = i;
                drum_errorf(err, errlen, "%s", e);
            }
        }
    }
    if (failed) *failed = first;
    return first < 0 ? 0 : -1;
}

int drum_image_preprocess_files(const char *const *paths, int n, const drum_image_config *cfg,
                                float *out, int *failed, char *err, size_t errlen) {
    return preprocess_files(paths, n, cfg, out, NULL, NULL, failed, err, errlen);
}

int drum_image_preprocess_files_levels(const char *const *paths, int n,
                                       const drum_image_config *cfg, uint8_t *out,
                                       uint64_t *digests, int *failed, char *err,
                                       size_t errlen) {
    return preprocess_files(paths, n, cfg, NULL, out, digests, failed, err, errlen);
}
