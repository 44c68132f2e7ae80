/* adamw.c (cpu) — one AdamW step over a flat parameter buffer, with PyTorch's operations
 * and roundings (torch.optim.AdamW on the CPU): decay first, then the moments, then the
 * bias-corrected step, so a trajectory can be compared with PyTorch's bit for bit when the
 * hyperparameters are floats. */
#include <math.h>

#include "common.h"

void cpu_adamw_update(drum_backend *be, float *param, const float *grad, float *m, float *v,
                      size_t n, float lr, float beta1, float beta2, float eps,
                      float weight_decay, int step) {
    if (!drum_backend_ok(be)) return;
    if (step < 1) {
        DRUM_FAIL(be, "adamw_update: step counts from 1 (got %d)", step);
        return;
    }
    /* PyTorch computes these scalars in Python (float64) and hands them to float kernels. */
    float decay = (float)(1.0 - (double)lr * weight_decay);
    float one_minus_b1 = (float)(1.0 - (double)beta1);
    float one_minus_b2 = (float)(1.0 - (double)beta2);
    double bc1 = 1.0 - pow(beta1, step), bc2 = 1.0 - pow(beta2, step);
    float neg_step_size = (float)-(lr / bc1);
    float bc2_sqrt = (float)sqrt(bc2);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        float g = grad[i], p = param[i] * decay;
        /* lerp_ and mul_ + addcmul_ as CPU torch computes them: its vectorised lerp is an
         * explicit fused multiply-add, and addcmul's self + (value * t1) * t2 is compiled
         * into one */
        float mi = one_minus_b1 < 0.5f ? fmaf(one_minus_b1, g - m[i], m[i])
                                       : fmaf(one_minus_b1 - 1.0f, g - m[i], g);
        float vi = fmaf(one_minus_b2 * g, g, v[i] * beta2);
        float denom = sqrtf(vi) / bc2_sqrt + eps;
        param[i] = p + neg_step_size * mi / denom;
        m[i] = mi;
        v[i] = vi;
    }
}
