/* adamw.cu — one AdamW step over a flat parameter buffer, elementwise, with the same
 * operations and roundings as kernels/cpu/adamw.c (CPU torch.optim.AdamW's), so the two
 * backends give the same bits. */
#include <math.h>

#include "common.cuh"

__global__ static void adamw_kernel(float *param, const float *grad, float *m, float *v,
                                    size_t n, float decay, float one_minus_b1, float beta2,
                                    float one_minus_b2, float eps, float neg_step_size,
                                    float bc2_sqrt) {
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        float g = grad[i], mi = m[i];
        float p = __fmul_rn(param[i], decay);
        /* the same roundings as the cpu version: explicit fused multiply-adds where CPU
         * torch has them (lerp_, addcmul_), none elsewhere */
        mi = one_minus_b1 < 0.5f ? __fmaf_rn(one_minus_b1, __fsub_rn(g, mi), mi)
                                 : __fmaf_rn(__fsub_rn(one_minus_b1, 1.0f), __fsub_rn(g, mi), g);
        float vi = __fmaf_rn(__fmul_rn(one_minus_b2, g), g, __fmul_rn(v[i], beta2));
        float denom = __fadd_rn(__fdiv_rn(sqrtf(vi), bc2_sqrt), eps);
        param[i] = __fadd_rn(p, __fdiv_rn(__fmul_rn(neg_step_size, mi), denom));
        m[i] = mi;
        v[i] = vi;
    }
}

extern "C" void cuda_adamw_update(drum_backend *be, float *param, const float *grad, float *m,
                                  float *v, size_t n, float lr, float beta1, float beta2,
                                  float eps, float weight_decay, int step) {
    if (!drum_backend_ok(be)) return;
    if (step < 1) {
        DRUM_FAIL(be, "adamw_update: step counts from 1 (got %d)", step);
        return;
    }
    if (n == 0) return;
    float decay = (float)(1.0 - (double)lr * weight_decay);
    float one_minus_b1 = (float)(1.0 - (double)beta1);
    float one_minus_b2 = (float)(1.0 - (double)beta2);
    double bc1 = 1.0 - pow(beta1, step), bc2 = 1.0 - pow(beta2, step);
    float neg_step_size = (float)-(lr / bc1);
    float bc2_sqrt = (float)sqrt(bc2);
    size_t blocks = (n + 255) / 256;
    if (blocks > 65536) blocks = 65536;
    adamw_kernel<<<(unsigned)blocks, 256, 0, cuda_stream(be)>>>(
        param, grad, m, v, n, decay, one_minus_b1, beta2, one_minus_b2, eps, neg_step_size,
        bc2_sqrt);
    LAUNCH_CHECK(be);
}
