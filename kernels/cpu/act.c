/* act.c (cpu) — elementwise activations: quick_gelu (CLIP), exact gelu, tanh gelu. */
#include <math.h>

#include "common.h"

#define GELU_TANH_K 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_TANH_C 0.044715f
#define INV_SQRT2 0.7071067811865476f
#define INV_SQRT_2PI 0.3989422804014327f

static inline float act_value(float x, drum_act act) {
    switch (act) {
    case DRUM_ACT_QUICK_GELU:
        return x / (1.0f + expf(-1.702f * x));
    case DRUM_ACT_GELU:
        return 0.5f * x * (1.0f + erff(x * INV_SQRT2));
    case DRUM_ACT_GELU_TANH:
        return 0.5f * x * (1.0f + tanhf(GELU_TANH_K * (x + GELU_TANH_C * x * x * x)));
    }
    return 0.0f;
}

/* d act(x) / dx */
static inline float act_slope(float x, drum_act act) {
    switch (act) {
    case DRUM_ACT_QUICK_GELU: {
        float s = 1.0f / (1.0f + expf(-1.702f * x));
        return s + 1.702f * x * s * (1.0f - s);
    }
    case DRUM_ACT_GELU:
        return 0.5f * (1.0f + erff(x * INV_SQRT2)) + x * INV_SQRT_2PI * expf(-0.5f * x * x);
    case DRUM_ACT_GELU_TANH: {
        float t = tanhf(GELU_TANH_K * (x + GELU_TANH_C * x * x * x));
        return 0.5f * (1.0f + t) +
               0.5f * x * (1.0f - t * t) * GELU_TANH_K * (1.0f + 3.0f * GELU_TANH_C * x * x);
    }
    }
    return 0.0f;
}

static int act_known(drum_backend *be, drum_act act, const char *op) {
    if (act == DRUM_ACT_QUICK_GELU || act == DRUM_ACT_GELU || act == DRUM_ACT_GELU_TANH) return 1;
    DRUM_FAIL(be, "%s: unknown activation %d", op, (int)act);
    return 0;
}

void cpu_act_forward(drum_backend *be, float *out, const float *inp, size_t n, drum_act act) {
    if (!act_known(be, act, "act_forward")) return;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) out[i] = act_value(inp[i], act);
}

void cpu_act_backward(drum_backend *be, float *dinp, const float *dout, const float *inp,
                      size_t n, drum_act act) {
    if (!dinp || !act_known(be, act, "act_backward")) return;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) dinp[i] += dout[i] * act_slope(inp[i], act);
}
