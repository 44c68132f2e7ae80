/* resample.h — library-internal: Pillow-compatible resampling tables and the crop geometry
 * of CLIP preprocessing, shared by the CPU path (src/image/image.c) and the host side of
 * the CUDA path (kernels/cuda/image_resize.cu), so both run the same arithmetic. */
#ifndef DRUM_IMAGE_RESAMPLE_H
#define DRUM_IMAGE_RESAMPLE_H

#include <stddef.h>
#include <stdint.h>

#include "drum/image.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Pillow's PRECISION_BITS for 8-bit resampling: 32 - 8 - 2. */
#define DRUM_RESAMPLE_BITS 22

/* Fixed-point bicubic taps for output samples [o0, o1) of one axis (Pillow's
 * precompute_coeffs + normalize_coeffs_8bpc, restricted to a window). Output sample o reads
 * input samples bounds[2(o-o0)] .. + bounds[2(o-o0)+1] - 1 with weights k[(o-o0)*ksize ..]. */
typedef struct {
    int o0, o1;
    int ksize;
    int *bounds;
    int32_t *k;
} drum_resample_axis;

int drum_resample_axis_init(drum_resample_axis *ax, int in_size, int out_size, int o0, int o1);
void drum_resample_axis_free(drum_resample_axis *ax);

/* One separable pass over uint8 RGB rows. ROWS applies the horizontal table along each of
 * n rows; COLS applies the vertical table down each of n columns; COPY copies n rows of
 * a1 - a0 pixels (no resize at all). Source pixel (row 0, column 0) sits src_off bytes
 * into the source buffer and is input row `base` (COLS) or input column `base` (ROWS).
 * Output index o in [a0, a1) lands at destination row (COLS) / column (ROWS) o - a0. */
enum { DRUM_PASS_COPY = 0, DRUM_PASS_ROWS = 1, DRUM_PASS_COLS = 2 };
enum { DRUM_BUF_INPUT = 0, DRUM_BUF_TMP = 1, DRUM_BUF_CROP = 2 };
typedef struct {
    int kind;
    int src, dst;            /* DRUM_BUF_* */
    size_t src_off;
    size_t sstride, dstride; /* bytes per row */
    int base, n, a0, a1;
} drum_resample_pass;

/* Everything one image needs. Output pixel (i, j) of the crop is resized pixel
 * (i + top, j + left) when that lies in [y0, y1) x [x0, x1) (the "crop buffer", uint8,
 * (y1 - y0) x (x1 - x0) x 3), else a zero pixel, as transformers pads. */
typedef struct {
    int w, h;            /* input size */
    int rw, rh;          /* resized size */
    int top, left;       /* crop origin in resized coordinates (negative: padding) */
    int x0, x1, y0, y1;  /* resized columns / rows that fall inside the crop */
    int need_h, need_v;  /* Pillow skips the pass of an axis whose size is unchanged */
    int vertical_first;  /* Pillow 13: vertical pass first when the height shrinks by more
                            than twice as many pixels as the width (unless legacy order) */
    int r0, r1, c0, c1;  /* input rows / columns the passes read */
    int npass;
    drum_resample_pass pass[2];
    size_t tmp_bytes, crop_bytes;
    drum_resample_axis hx, vy;
    float lut[3][256];   /* normalised value of each uint8 level, per channel */
} drum_resample_plan;

/* Validates cfg against a w x h image and fills p. Returns 0, or -1 with err. */
int drum_resample_plan_init(drum_resample_plan *p, int w, int h, const drum_image_config *cfg,
                            char *err, size_t errlen);
void drum_resample_plan_free(drum_resample_plan *p);

#ifdef __cplusplus
}
#endif
#endif
