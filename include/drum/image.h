/* image.h — decoding (stb_image) and CLIP image preprocessing as Hugging Face
 * CLIPImageProcessor does it with its PIL backend (`CLIPImageProcessorPil` in transformers
 * 5, `CLIPImageProcessor` in 4.x): convert to RGB, resize the shortest edge to `size` with
 * Pillow's BICUBIC (antialiased when downscaling), centre crop, rescale by 1/255, normalise
 * with mean/std, output CHW float32.
 *
 * The resize reproduces Pillow's ImagingResample for 8-bit images: separable (horizontal
 * then vertical pass, or the reverse where Pillow 13 reverses them), filter support scaled
 * by the downscale factor, bicubic a = -0.5,
 * coefficients normalised in double then rounded to fixed point with 22 fraction bits,
 * each pass rounded and clipped to uint8. For losslessly stored images (PNG, BMP) the
 * output equals transformers' bit for bit; JPEG differs only by decoder rounding (stb_image
 * versus libjpeg-turbo).
 *
 * Formats: JPEG (baseline and progressive), PNG (8-bit; 16-bit is reduced to its high
 * byte), BMP, GIF (first frame), PNM. Grey replicates to RGB; alpha is handled per
 * drum_alpha_mode. */
#ifndef DRUM_IMAGE_H
#define DRUM_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct drum_backend drum_backend;

/* Images with more pixels are refused, as PIL refuses them (2 * Image.MAX_IMAGE_PIXELS). */
#define DRUM_IMAGE_MAX_PIXELS 178956970LL

typedef enum {
    /* PIL's .convert("RGB"): the alpha channel is dropped, colours kept as stored. What
     * transformers 4.x CLIPImageProcessor and OpenAI's CLIP preprocessing do. */
    DRUM_ALPHA_DROP = 0,
    /* transformers 5's convert_to_rgb: composite onto opaque white with
     * PIL.Image.alpha_composite's integer arithmetic. */
    DRUM_ALPHA_WHITE = 1
} drum_alpha_mode;

typedef struct {
    int size;               /* shortest edge after resizing (CLIP: 224) */
    int crop_h, crop_w;     /* centre crop (224, 224); may exceed the resized image: the
                               outside is zero pixels, as transformers pads */
    float mean[3], std[3];  /* per channel, after rescaling */
    double rescale;         /* 1/255 */
    drum_alpha_mode alpha;
    /* 0: Pillow 13's pass order (vertical first when the height shrinks by more than twice
     * as many pixels as the width); 1: always horizontal first, as earlier Pillow releases.
     * The two differ by a few levels on such (tall, downscaled) images. */
    int legacy_pass_order;
} drum_image_config;

/* A decoded image: h rows of w RGB pixels (HWC, uint8). */
typedef struct {
    int w, h;
    uint8_t *rgb;
} drum_image;

/* CLIP's defaults: size 224, crop 224x224, OpenAI mean/std, rescale 1/255, alpha dropped. */
void drum_image_config_default(drum_image_config *cfg);

/* Decodes an encoded image held in memory to RGB. `name` (a path, or any label) starts
 * every error message. Returns 0 (img owns a malloc'd buffer: drum_image_free), or -1 with
 * "NAME: cannot decode image (reason)" in err. */
int drum_image_decode(const unsigned char *data, size_t len, const char *name,
                      drum_alpha_mode alpha, drum_image *img, char *err, size_t errlen);

/* Reads and decodes the file at path. Errors name the file: "PATH: cannot open: ...",
 * "PATH: cannot decode image (...)". */
int drum_image_load(const char *path, drum_alpha_mode alpha, drum_image *img, char *err,
                    size_t errlen);
/* The same, and *digest gets drum_hash_bytes (rng.h) of the file's bytes (never 0; 0 when
 * the file could not be read): the image part of an example's content id (data.h). */
int drum_image_load_digest(const char *path, drum_alpha_mode alpha, drum_image *img,
                           uint64_t *digest, char *err, size_t errlen);

void drum_image_free(drum_image *img);

/* transformers' get_resize_output_image_size(default_to_square=False): the short edge
 * becomes `size`, the long edge int(size * long / short); ties (w == h) count w as short. */
void drum_image_resize_size(int w, int h, int size, int *out_w, int *out_h);

/* Resize, crop, rescale and normalise one decoded image into out (3, crop_h, crop_w).
 * Returns 0, or -1 on an invalid configuration or image (message in err). */
int drum_image_preprocess(const drum_image *img, const drum_image_config *cfg, float *out,
                          char *err, size_t errlen);

/* The same up to the crop: the uint8 levels (3, crop_h, crop_w) that drum_image_preprocess
 * rescales and normalises, 4x smaller to keep; lut (drum_image_level_lut) maps them to its
 * floats exactly. */
int drum_image_preprocess_levels(const drum_image *img, const drum_image_config *cfg,
                                 uint8_t *out, char *err, size_t errlen);

/* lut[c][u]: the normalised float of level u in channel c, as transformers computes it
 * (float64(u) * rescale -> float32, then (x - mean) / std in float32). */
void drum_image_level_lut(const drum_image_config *cfg, float lut[3][256]);

/* drum_image_preprocess over n images, in parallel (OpenMP); out is (n, 3, crop_h, crop_w). */
int drum_image_preprocess_batch(const drum_image *imgs, int n, const drum_image_config *cfg,
                                float *out, char *err, size_t errlen);

/* Loads and preprocesses n files in parallel into out (n, 3, crop_h, crop_w). Every image
 * is attempted; on failure -1 is returned, *failed (when not NULL) gets the lowest failing
 * index and err its message, which names the file, so a caller can prefix its own context
 * ("data.jsonl:12: "). Rows of failed images are zero. */
int drum_image_preprocess_files(const char *const *paths, int n, const drum_image_config *cfg,
                                float *out, int *failed, char *err, size_t errlen);
/* The same into uint8 levels (n, 3, crop_h, crop_w) (drum_image_preprocess_levels), and
 * into digests (n, or NULL) each file's digest (drum_image_load_digest), 0 for an image
 * that failed: files are read once for both. */
int drum_image_preprocess_files_levels(const char *const *paths, int n,
                                       const drum_image_config *cfg, uint8_t *out,
                                       uint64_t *digests, int *failed, char *err,
                                       size_t errlen);

/* The same preprocessing on a CUDA backend: the n decoded host images go to the device,
 * which resizes, crops and normalises them into out (n, 3, crop_h, crop_w), device memory
 * from be->alloc. Same integer arithmetic and coefficient tables as the CPU path, so the
 * results are identical. Asynchronous on the backend's stream (the host images may be freed
 * on return). Returns 0, or -1 with a message in err (also recorded in be).
 * Defined only when drum is built with CUDA (DRUM_HAVE_CUDA): guard calls with it. */
int drum_image_preprocess_cuda(drum_backend *be, const drum_image *imgs, int n,
                               const drum_image_config *cfg, float *out, char *err,
                               size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
