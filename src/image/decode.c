/* decode.c — images to RGB: stb_image for every format, with JPEG's last stages (IDCT,
 * chroma upsampling, YCbCr -> RGB) replaced by libjpeg-turbo's integer arithmetic, so a
 * JPEG decodes to the pixels PIL gets (see image.h). */
#include "drum/error.h"
#include "drum/image.h"
#include "drum/rng.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* stb's implementation lives here, private to this file; formats without a magic number
 * (TGA, PIC) stay out so that a corrupt file is never "decoded" as one. */
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
/* stb allocates through these, so that a decode that failed for memory says so: stb's own
 * reason can name a test it gave up on after a failed allocation ("no SOI" for a PNG) */
static _Thread_local int stb_oom;
static void *stb_malloc(size_t n) {
    void *p = malloc(n);
    if (!p) stb_oom = 1;
    return p;
}
static void *stb_realloc(void *p, size_t n) {
    void *q = realloc(p, n);
    if (!q && n) stb_oom = 1;
    return q;
}
#define STBI_MALLOC(n) stb_malloc(n)
#define STBI_REALLOC(p, n) stb_realloc(p, n)
#define STBI_FREE(p) free(p)
/* stb_image 2.27 declares this name but defines the function as stbi__...: join them, or a
 * static build warns about a declared, never defined function */
#define stbi_set_unpremultiply_on_load_thread stbi__unpremultiply_on_load_thread
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STBI_ONLY_GIF
#define STBI_ONLY_PNM
#define STBI_NO_HDR
#define STBI_NO_LINEAR
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#include <stb/stb_image.h>
#pragma GCC diagnostic pop

/* ---- decoding ------------------------------------------------------------------------ */

/* PIL's alpha_composite of (r, a) over opaque white, per channel (AlphaComposite.c,
 * 7 extra bits, rounded divisions by 255). */
static uint8_t over_white(int v, int a) {
    if (a == 0) return 255;
    uint32_t blend = 255u * (uint32_t)(255 - a);
    uint32_t outa255 = (uint32_t)a * 255u + blend;
    uint32_t coef1 = (uint32_t)a * 255u * 255u * (1u << 7) / outa255;
    uint32_t coef2 = 255u * (1u << 7) - coef1;
    uint32_t tmp = (uint32_t)v * coef1 + 255u * coef2 + (0x80u << 7);
    return (uint8_t)((((tmp >> 8) + tmp) >> 8) >> 7);
}

/* ---- JPEG as libjpeg-turbo decodes it --------------------------------------------------
 * stb parses the file and decodes the entropy-coded coefficients; the inverse DCT is
 * swapped for libjpeg's jpeg_idct_islow (through stb's kernel pointer), and upsampling and
 * colour conversion are redone from stb's component planes with libjpeg-turbo's "fancy"
 * upsamplers (jdsample.c) and table-driven YCbCr -> RGB (jdcolor.c), the defaults PIL
 * decodes with. This reaches into stb_image 2.27's internals (stbi__jpeg and friends). */

#define IDCT_CONST_BITS 13
#define IDCT_PASS1_BITS 2
#define FIX_0_298631336 ((int64_t)2446)
#define FIX_0_390180644 ((int64_t)3196)
#define FIX_0_541196100 ((int64_t)4433)
#define FIX_0_765366865 ((int64_t)6270)
#define FIX_0_899976223 ((int64_t)7373)
#define FIX_1_175875602 ((int64_t)9633)
#define FIX_1_501321110 ((int64_t)12299)
#define FIX_1_847759065 ((int64_t)15137)
#define FIX_1_961570560 ((int64_t)16069)
#define FIX_2_053119869 ((int64_t)16819)
#define FIX_2_562915447 ((int64_t)20995)
#define FIX_3_072711026 ((int64_t)25172)
#define DESCALE(x, n) (((x) + ((int64_t)1 << ((n)-1))) >> (n))

/* libjpeg's post-IDCT range limit: the index wraps at 1024 (x & RANGE_MASK), so wildly
 * out-of-range values of corrupt data map exactly as libjpeg maps them. */
static stbi_uc idct_limit(int64_t x) {
    int i = (int)(x & 1023);
    if (i < 128) return (stbi_uc)(i + 128);
    if (i < 512) return 255;
    if (i < 896) return 0;
    return (stbi_uc)(i - 896);
}

/* The 1-D 8-point transform both passes of jpeg_idct_islow apply: v[0..7] are the inputs in
 * frequency order, out[0..7] the outputs before descaling (libjpeg's LL&M butterfly). */
static void idct_1d(const int64_t v[8], int64_t out[8]) {
    int64_t z2 = v[2], z3 = v[6];
    int64_t z1 = (z2 + z3) * FIX_0_541196100;
    int64_t tmp2 = z1 + z3 * -FIX_1_847759065, tmp3 = z1 + z2 * FIX_0_765366865;
    int64_t tmp0 = (v[0] + v[4]) * (1 << IDCT_CONST_BITS);
    int64_t tmp1 = (v[0] - v[4]) * (1 << IDCT_CONST_BITS);
    int64_t tmp10 = tmp0 + tmp3, tmp13 = tmp0 - tmp3, tmp11 = tmp1 + tmp2, tmp12 = tmp1 - tmp2;
    tmp0 = v[7];
    tmp1 = v[5];
    tmp2 = v[3];
    tmp3 = v[1];
    z1 = tmp0 + tmp3;
    z2 = tmp1 + tmp2;
    z3 = tmp0 + tmp2;
    int64_t z4 = tmp1 + tmp3, z5 = (z3 + z4) * FIX_1_175875602;
    tmp0 *= FIX_0_298631336;
    tmp1 *= FIX_2_053119869;
    tmp2 *= FIX_3_072711026;
    tmp3 *= FIX_1_501321110;
    z1 *= -FIX_0_899976223;
    z2 *= -FIX_2_562915447;
    z3 *= -FIX_1_961570560;
    z4 *= -FIX_0_390180644;
    z3 += z5;
    z4 += z5;
    tmp0 += z1 + z3;
    tmp1 += z2 + z4;
    tmp2 += z2 + z3;
    tmp3 += z1 + z4;
    out[0] = tmp10 + tmp3;
    out[7] = tmp10 - tmp3;
    out[1] = tmp11 + tmp2;
    out[6] = tmp11 - tmp2;
    out[2] = tmp12 + tmp1;
    out[5] = tmp12 - tmp1;
    out[3] = tmp13 + tmp0;
    out[4] = tmp13 - tmp0;
}

/* jpeg_idct_islow on one block of dequantised coefficients (natural order, as stb holds
 * them); writes 8x8 samples at out with row stride out_stride. Columns first, into a
 * workspace scaled by 2^IDCT_PASS1_BITS, then rows, range-limited. */
static void idct_islow(stbi_uc *out, int out_stride, short data[64]) {
    int ws[64];
    int64_t v[8], t[8];
    for (int c = 0; c < 8; c++) {
        const short *in = data + c;
        int *w = ws + c;
        if (!in[8] && !in[16] && !in[24] && !in[32] && !in[40] && !in[48] && !in[56]) {
            int dc = (int)((int64_t)in[0] * (1 << IDCT_PASS1_BITS));
            for (int r = 0; r < 8; r++) w[8 * r] = dc;
            continue;
        }
        for (int r = 0; r < 8; r++) v[r] = in[8 * r];
        idct_1d(v, t);
        for (int r = 0; r < 8; r++)
            w[8 * r] = (int)DESCALE(t[r], IDCT_CONST_BITS - IDCT_PASS1_BITS);
    }
    for (int r = 0; r < 8; r++) {
        const int *w = ws + 8 * r;
        stbi_uc *o = out + r * out_stride;
        if (!w[1] && !w[2] && !w[3] && !w[4] && !w[5] && !w[6] && !w[7]) {
            stbi_uc dc = idct_limit(DESCALE((int64_t)w[0], IDCT_PASS1_BITS + 3));
            for (int c = 0; c < 8; c++) o[c] = dc;
            continue;
        }
        for (int c = 0; c < 8; c++) v[c] = w[c];
        idct_1d(v, t);
        for (int c = 0; c < 8; c++)
            o[c] = idct_limit(DESCALE(t[c], IDCT_CONST_BITS + IDCT_PASS1_BITS + 3));
    }
}

/* One output row of a component at full resolution, from its plane (cw x ch samples,
 * row stride ps) expanded by (hs, vs), as libjpeg-turbo's upsampler picks for it: fancy
 * (triangle) for 2x1, 1x2 and 2x2 when the plane is wider than 2 samples (1x2 regardless),
 * replication otherwise. Rows beyond the plane's edges repeat the edge row, as libjpeg's
 * context rows do. `line` holds cw * hs samples. */
static const stbi_uc *upsample_row(const stbi_uc *plane, int ps, int cw, int ch, int hs,
                                   int vs, int y, stbi_uc *line) {
    if (hs == 1 && vs == 1) return plane + (size_t)y * ps;
    int r = y / vs, v = y % vs;
    const stbi_uc *in0 = plane + (size_t)r * ps;
    if (vs == 2 && (hs == 1 || (hs == 2 && cw > 2))) {
        int rn = v == 0 ? (r > 0 ? r - 1 : 0) : (r + 1 < ch ? r + 1 : ch - 1);
        const stbi_uc *in1 = plane + (size_t)rn * ps;
        if (hs == 1) {
            int bias = v == 0 ? 1 : 2;
            for (int c = 0; c < cw; c++) line[c] = (stbi_uc)((in0[c] * 3 + in1[c] + bias) >> 2);
            return line;
        }
        int this_s = in0[0] * 3 + in1[0], next_s = in0[1] * 3 + in1[1], last_s;
        stbi_uc *o = line;
        *o++ = (stbi_uc)((this_s * 4 + 8) >> 4);
        *o++ = (stbi_uc)((this_s * 3 + next_s + 7) >> 4);
        last_s = this_s;
        this_s = next_s;
        for (int c = 2; c < cw; c++) {
            next_s = in0[c] * 3 + in1[c];
            *o++ = (stbi_uc)((this_s * 3 + last_s + 8) >> 4);
            *o++ = (stbi_uc)((this_s * 3 + next_s + 7) >> 4);
            last_s = this_s;
            this_s = next_s;
        }
        *o++ = (stbi_uc)((this_s * 3 + last_s + 8) >> 4);
        *o++ = (stbi_uc)((this_s * 4 + 7) >> 4);
        return line;
    }
    if (hs == 2 && vs == 1 && cw > 2) {
        stbi_uc *o = line;
        *o++ = in0[0];
        *o++ = (stbi_uc)((in0[0] * 3 + in0[1] + 2) >> 2);
        for (int c = 1; c + 1 < cw; c++) {
            int t = in0[c] * 3;
            *o++ = (stbi_uc)((t + in0[c - 1] + 1) >> 2);
            *o++ = (stbi_uc)((t + in0[c + 1] + 2) >> 2);
        }
        *o++ = (stbi_uc)((in0[cw - 1] * 3 + in0[cw - 2] + 1) >> 2);
        *o++ = in0[cw - 1];
        return line;
    }
    for (int c = 0; c < cw * hs; c++) line[c] = in0[c / hs];
    return line;
}

/* libjpeg-turbo's ycc_rgb_convert tables (jdcolor.c, SCALEBITS 16). */
typedef struct {
    int cr_r[256], cb_b[256];
    int64_t cr_g[256], cb_g[256];
} ycc_tables;

static void ycc_tables_init(ycc_tables *t) {
    const int64_t one_half = (int64_t)1 << 15;
#define YCC_FIX(x) ((int64_t)((x) * (double)(1L << 16) + 0.5))
    for (int i = 0; i < 256; i++) {
        int64_t x = i - 128;
        t->cr_r[i] = (int)((YCC_FIX(1.40200) * x + one_half) >> 16);
        t->cb_b[i] = (int)((YCC_FIX(1.77200) * x + one_half) >> 16);
        t->cr_g[i] = -YCC_FIX(0.71414) * x;
        t->cb_g[i] = -YCC_FIX(0.34414) * x + one_half;
    }
#undef YCC_FIX
}

static stbi_uc clamp255(int v) { return (stbi_uc)(v < 0 ? 0 : v > 255 ? 255 : v); }

/* stb_image 2.27 builds Huffman tables without checking that a DHT segment's 16 code counts
 * sum to at most 256, and a corrupt file then writes past its tables. Walks the markers
 * (skipping entropy-coded data) and rejects such a table, as libjpeg does. */
static int jpeg_dht_ok(const unsigned char *d, size_t n) {
    size_t i = 2;
    while (i + 1 < n) {
        if (d[i] != 0xFF) { /* entropy-coded data: up to the next real marker */
            i++;
            continue;
        }
        unsigned char m = d[i + 1];
        if (m == 0x00 || m == 0xFF || (m >= 0xD0 && m <= 0xD7) || m == 0x01) {
            i += m == 0xFF ? 1 : 2;
            continue;
        }
        if (m == 0xD9) return 1;
        if (i + 4 > n) return 1; /* truncated: stb reports it */
        size_t len = (size_t)d[i + 2] << 8 | d[i + 3];
        if (m == 0xC4) {
            /* stb's loop: tables while the declared length lasts, even past the segment's
             * end, reading zeros past the end of the file */
            long left = (long)len - 2;
            size_t p = i + 4;
            while (left > 0) {
                int count = 0;
                for (int k = 1; k <= 16; k++) count += p + k < n ? d[p + k] : 0;
                if (count > 256) return 0;
                p += 17 + (size_t)count;
                left -= 17 + count;
            }
        }
        i += 2 + len;
    }
    return 1;
}

/* Decodes a 1- or 3-component JPEG to grey or RGB. Returns the pixels (*n channels), or
 * NULL: *fallback = 1 when stb's own path should take the file (4 components), else the
 * failure is in stbi_failure_reason(). */
static stbi_uc *jpeg_decode(const unsigned char *data, int len, int *w, int *h, int *n,
                            int *fallback) {
    *fallback = 0;
    if (!jpeg_dht_ok(data, (size_t)len)) return stbi__errpuc("bad DHT header", "Corrupt JPEG");
    stbi__context s;
    stbi__start_mem(&s, data, len);
    stbi__jpeg *z = (stbi__jpeg *)stb_malloc(sizeof(stbi__jpeg));
    if (!z) return stbi__errpuc("outofmem", "Out of memory");
    memset(z, 0, sizeof *z);
    z->s = &s;
    stbi__setup_jpeg(z);
    z->idct_block_kernel = idct_islow;
    z->s->img_n = 0;
    if (!stbi__decode_jpeg_image(z)) {
        stbi__cleanup_jpeg(z);
        free(z);
        return NULL;
    }
    int nc = s.img_n, W = (int)s.img_x, H = (int)s.img_y;
    if (nc != 1 && nc != 3) {
        stbi__cleanup_jpeg(z);
        free(z);
        *fallback = 1;
        return NULL;
    }
    /* libjpeg's colour-space guess (jdapimin.c default_decompress_parms) */
    int is_rgb = 0;
    if (nc == 3) {
        if (z->jfif)
            is_rgb = 0;
        else if (z->app14_color_transform >= 0)
            is_rgb = z->app14_color_transform == 0;
        else
            is_rgb = z->img_comp[0].id == 'R' && z->img_comp[1].id == 'G' &&
                     z->img_comp[2].id == 'B';
    }
    stbi_uc *out = (stbi_uc *)stb_malloc((size_t)W * H * nc);
    stbi_uc *lines = (stbi_uc *)stb_malloc((size_t)3 * (W + 8) * 4);
    if (!out || !lines) {
        free(out);
        free(lines);
        stbi__cleanup_jpeg(z);
        free(z);
        return stbi__errpuc("outofmem", "Out of memory");
    }
    ycc_tables t;
    if (nc == 3 && !is_rgb) ycc_tables_init(&t);
    for (int y = 0; y < H; y++) {
        const stbi_uc *row[3];
        for (int k = 0; k < nc; k++) {
            int hs = z->img_h_max / z->img_comp[k].h, vs = z->img_v_max / z->img_comp[k].v;
            row[k] = upsample_row(z->img_comp[k].data, z->img_comp[k].w2, z->img_comp[k].x,
                                  z->img_comp[k].y, hs, vs, y, lines + (size_t)k * (W + 8) * 4);
        }
        stbi_uc *o = out + (size_t)y * W * nc;
        if (nc == 1) {
            memcpy(o, row[0], (size_t)W);
        } else if (is_rgb) {
            for (int x = 0; x < W; x++) {
                o[3 * x] = row[0][x];
                o[3 * x + 1] = row[1][x];
                o[3 * x + 2] = row[2][x];
            }
        } else {
            for (int x = 0; x < W; x++) {
                int yy = row[0][x], cb = row[1][x], cr = row[2][x];
                o[3 * x] = clamp255(yy + t.cr_r[cr]);
                o[3 * x + 1] = clamp255(yy + (int)((t.cb_g[cb] + t.cr_g[cr]) >> 16));
                o[3 * x + 2] = clamp255(yy + t.cb_b[cb]);
            }
        }
    }
    free(lines);
    stbi__cleanup_jpeg(z);
    free(z);
    *w = W;
    *h = H;
    *n = nc;
    return out;
}

int drum_image_decode(const unsigned char *data, size_t len, const char *name,
                      drum_alpha_mode alpha, drum_image *img, char *err, size_t errlen) {
    img->w = img->h = 0;
    img->rgb = NULL;
    if (len == 0 || len > INT_MAX) {
        drum_errorf(err, errlen, "%s: cannot decode image (%s)", name,
                len == 0 ? "empty file" : "file larger than 2 GiB");
        return -1;
    }
    int w, h, n, fallback = 1;
    /* PIL refuses images over 2 * MAX_IMAGE_PIXELS (DecompressionBombError); so do we,
     * before a corrupt or hostile header makes the decoder allocate gigabytes */
    if (stbi_info_from_memory(data, (int)len, &w, &h, &n) &&
        (int64_t)w * h > DRUM_IMAGE_MAX_PIXELS) {
        drum_errorf(err, errlen, "%s: %dx%d pixels is over the decompression-bomb limit (%lld, PIL's)",
                name, w, h, (long long)DRUM_IMAGE_MAX_PIXELS);
        return -1;
    }
    unsigned char *px = NULL;
    stb_oom = 0;
    stbi__context probe;
    stbi__start_mem(&probe, data, (int)len);
    if (stbi__jpeg_test(&probe)) px = jpeg_decode(data, (int)len, &w, &h, &n, &fallback);
    if (!px && fallback) px = stbi_load_from_memory(data, (int)len, &w, &h, &n, 0);
    if (!px && stb_oom)
        return drum_errorf(err, errlen, "%s: out of memory decoding the image", name);
    if (!px) {
        /* stb names an unknown PNG chunk by its type, which is "" for zero bytes (a file cut
         * at its IEND chunk) */
        const char *why = stbi_failure_reason();
        if (!why || (unsigned char)why[0] < 0x21 || (unsigned char)why[0] > 0x7e)
            why = "corrupt or truncated data";
        drum_errorf(err, errlen, "%s: cannot decode image (%s)", name, why);
        return -1;
    }
    size_t np = (size_t)w * (size_t)h;
    uint8_t *rgb = malloc(np * 3);
    if (!rgb) {
        stbi_image_free(px);
        drum_errorf(err, errlen, "%s: out of memory for a %dx%d image", name, w, h);
        return -1;
    }
    int white = alpha == DRUM_ALPHA_WHITE;
    for (size_t i = 0; i < np; i++) {
        const unsigned char *s = px + i * (size_t)n;
        uint8_t *d = rgb + i * 3;
        switch (n) {
        case 1:
            d[0] = d[1] = d[2] = s[0];
            break;
        case 2:
            d[0] = d[1] = d[2] = white ? over_white(s[0], s[1]) : s[0];
            break;
        default:
            for (int c = 0; c < 3; c++) d[c] = (n == 4 && white) ? over_white(s[c], s[3]) : s[c];
        }
    }
    stbi_image_free(px);
    img->w = w;
    img->h = h;
    img->rgb = rgb;
    return 0;
}

int drum_image_load(const char *path, drum_alpha_mode alpha, drum_image *img, char *err,
                    size_t errlen) {
    return drum_image_load_digest(path, alpha, img, NULL, err, errlen);
}

int drum_image_load_digest(const char *path, drum_alpha_mode alpha, drum_image *img,
                           uint64_t *digest, char *err, size_t errlen) {
    img->w = img->h = 0;
    img->rgb = NULL;
    if (digest) *digest = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        drum_errorf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct stat st; /* a device or a pipe could be read forever */
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        drum_errorf(err, errlen, "%s: not a regular file", path);
        return -1;
    }
    unsigned char *buf = NULL;
    size_t n = 0, cap = 0;
    int bad = 0;
    for (;;) {
        if (cap - n < 65536) {
            cap = cap ? cap * 2 : 1 << 16;
            unsigned char *nb = realloc(buf, cap);
            if (!nb) {
                bad = 1;
                break;
            }
            buf = nb;
        }
        errno = 0;
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    int saved = errno;
    bad |= ferror(f) ? 2 : 0;
    fclose(f);
    if (bad) {
        free(buf);
        drum_errorf(err, errlen, "%s: %s%s", path, bad & 2 ? "cannot read: " : "out of memory",
                    bad & 2 ? (saved ? strerror(saved) : "I/O error") : "");
        return -1;
    }
    if (digest) {
        uint64_t h = drum_hash_bytes(buf, n, DRUM_FNV1A_INIT);
        *digest = h ? h : 1;
    }
    int rc = drum_image_decode(buf, n, path, alpha, img, err, errlen);
    free(buf);
    return rc;
}

void drum_image_free(drum_image *img) {
    if (!img) return;
    free(img->rgb);
    img->rgb = NULL;
    img->w = img->h = 0;
}

