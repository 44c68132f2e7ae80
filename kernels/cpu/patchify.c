/* patchify.c (cpu) — images to patch rows for the patch-embedding GEMM, and back.
 * out (B, 1+NP, Cin*P*P): row 0 zero (class token slot), row 1+p patch p in raster order,
 * columns in Conv2d weight order (c, ky, kx). Patches do not overlap, so the backward is
 * a plain gather with no reduction. */
#include <string.h>

#include "common.h"

void cpu_patchify_forward(drum_backend *be, float *out, const float *img, int B, int Cin, int H,
                          int W, int P) {
    if (P <= 0 || H % P || W % P) {
        DRUM_FAIL(be, "patchify_forward: image %dx%d is not a whole number of %d-pixel patches",
                  H, W, P);
        return;
    }
    int GW = W / P, NP = (H / P) * GW, D = Cin * P * P;
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int r = 0; r <= NP; r++) {
            float *o = out + ((size_t)b * (NP + 1) + r) * D;
            if (r == 0) {
                memset(o, 0, (size_t)D * sizeof(float));
                continue;
            }
            int py = (r - 1) / GW, px = (r - 1) % GW;
            for (int c = 0; c < Cin; c++)
                for (int ky = 0; ky < P; ky++) {
                    size_t y = (size_t)py * P + ky;
                    const float *src = img + (((size_t)b * Cin + c) * H + y) * W + (size_t)px * P;
                    memcpy(o + ((size_t)c * P + ky) * P, src, (size_t)P * sizeof(float));
                }
        }
}

void cpu_patchify_backward(drum_backend *be, float *dimg, const float *dout, int B, int Cin,
                           int H, int W, int P) {
    if (!dimg) return;
    if (P <= 0 || H % P || W % P) {
        DRUM_FAIL(be, "patchify_backward: image %dx%d is not a whole number of %d-pixel patches",
                  H, W, P);
        return;
    }
    int GW = W / P, NP = (H / P) * GW, D = Cin * P * P;
#pragma omp parallel for collapse(3) schedule(static)
    for (int b = 0; b < B; b++)
        for (int c = 0; c < Cin; c++)
            for (int y = 0; y < H; y++) {
                float *d = dimg + (((size_t)b * Cin + c) * H + y) * W;
                int py = y / P, ky = y % P;
                for (int x = 0; x < W; x++) {
                    size_t row = (size_t)b * (NP + 1) + 1 + (size_t)py * GW + x / P;
                    d[x] += dout[row * D + ((size_t)c * P + ky) * P + x % P];
                }
            }
}
