/* patchify.cu — images to patch rows for the patch-embedding GEMM, and back.
 * out (B, 1+NP, Cin*P*P): row 0 zero (class token slot), row 1+p patch p in raster order,
 * columns in Conv2d weight order (c, ky, kx). Forward: one thread per output element
 * (coalesced writes); backward: one thread per pixel, each pixel belongs to one patch. */
#include "common.cuh"

__global__ static void patchify_forward_kernel(float *out, const float *img, int B, int Cin,
                                               int H, int W, int P) {
    int GW = W / P, NP = (H / P) * GW, D = Cin * P * P;
    size_t total = (size_t)B * (NP + 1) * D;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        int j = (int)(i % D);
        size_t row = i / D;
        int r = (int)(row % (NP + 1)), b = (int)(row / (NP + 1));
        float v = 0.0f;
        if (r > 0) {
            int py = (r - 1) / GW, px = (r - 1) % GW;
            int c = j / (P * P), ky = (j / P) % P, kx = j % P;
            v = img[(((size_t)b * Cin + c) * H + py * P + ky) * W + px * P + kx];
        }
        out[i] = v;
    }
}

__global__ static void patchify_backward_kernel(float *dimg, const float *dout, int B, int Cin,
                                                int H, int W, int P) {
    int GW = W / P, NP = (H / P) * GW, D = Cin * P * P;
    size_t total = (size_t)B * Cin * H * W;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        int x = (int)(i % W);
        size_t rest = i / W;
        int y = (int)(rest % H);
        rest /= H;
        int c = (int)(rest % Cin), b = (int)(rest / Cin);
        int p = (y / P) * GW + x / P;
        dimg[i] += dout[((size_t)b * (NP + 1) + 1 + p) * D + ((size_t)c * P + y % P) * P + x % P];
    }
}

static unsigned int elem_grid(size_t n) { return min(ceil_div(n, 256), 65535u); }

static int patches_fit(drum_backend *be, int H, int W, int P, const char *op) {
    if (P > 0 && H % P == 0 && W % P == 0) return 1;
    DRUM_FAIL(be, "%s: image %dx%d is not a whole number of %d-pixel patches", op, H, W, P);
    return 0;
}

extern "C" void cuda_patchify_forward(drum_backend *be, float *out, const float *img, int B,
                                      int Cin, int H, int W, int P) {
    if (!drum_backend_ok(be) || !patches_fit(be, H, W, P, "patchify_forward")) return;
    size_t total = (size_t)B * (1 + (size_t)(H / P) * (W / P)) * Cin * P * P;
    if (total == 0) return;
    patchify_forward_kernel<<<elem_grid(total), 256, 0, cuda_stream(be)>>>(out, img, B, Cin, H,
                                                                          W, P);
    LAUNCH_CHECK(be);
}

extern "C" void cuda_patchify_backward(drum_backend *be, float *dimg, const float *dout, int B,
                                       int Cin, int H, int W, int P) {
    if (!drum_backend_ok(be) || !dimg || !patches_fit(be, H, W, P, "patchify_backward")) return;
    size_t total = (size_t)B * Cin * H * W;
    if (total == 0) return;
    patchify_backward_kernel<<<elem_grid(total), 256, 0, cuda_stream(be)>>>(dimg, dout, B, Cin,
                                                                           H, W, P);
    LAUNCH_CHECK(be);
}
