/* act.c (cpu) — elementwise activations: quick_gelu (CLIP), exact gelu, tanh gelu. */
#include <math.h>

#include "common.h"
#include "drum/expf.h"

#define GELU_TANH_K 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_TANH_C 0.044715f
#define INV_SQRT2 0.7071067811865476f
#define INV_SQRT_2PI 0.3989422804014327f

/* gelu and gelu_tanh (quick_gelu has its own loops below) */
static inline float act_value(float x, drum_act act) {
    if (act == DRUM_ACT_GELU) return 0.5f * x * (1.0f + erff(x * INV_SQRT2));
    return 0.5f * x * (1.0f + tanhf(GELU_TANH_K * (x + GELU_TANH_C * x * x * x)));
}

/* d act(x) / dx */
static inline float act_slope(float x, drum_act act) {
    if (act == DRUM_ACT_GELU)
        return 0.5f * (1.0f + erff(x * INV_SQRT2)) + x * INV_SQRT_2PI * expf(-0.5f * x * x);
    float t = tanhf(GELU_TANH_K * (x + GELU_TANH_C * x * x * x));
    return 0.5f * (1.0f + t) +
           0.5f * x * (1.0f - t * t) * GELU_TANH_K * (1.0f + 3.0f * GELU_TANH_C * x * x);
}

static int act_known(drum_backend *be, drum_act act, const char *op) {
    if (act == DRUM_ACT_QUICK_GELU || act == DRUM_ACT_GELU || act == DRUM_ACT_GELU_TANH) return 1;
    DRUM_FAIL(be, "%s: unknown activation %d", op, (int)act);
    return 0;
}

/* quick_gelu, x / (1 + e^(-1.702 x)), and its slope s + 1.702 x s (1 - s) with s the sigmoid
 * 1 / (1 + e^(-1.702 x)), in chunks of QG_CHUNK: each chunk's exponentials go through
 * drum_expf_array (vectorized, with expf's bits: include/drum/expf.h) into a buffer on the
 * stack, then the rest of the arithmetic, so every loop vectorizes. */
#define QG_CHUNK 1024
#define QG_K 1.702f

/* e[i] = e^(-1.702 x) for the chunk of inp from c; returns the chunk's length */
static inline size_t qg_exps(float *e, const float *inp, size_t c, size_t n) {
    size_t m = n - c < QG_CHUNK ? n - c : QG_CHUNK;
    for (size_t i = 0; i < m; i++) e[i] = -QG_K * inp[c + i];
    drum_expf_array(e, e, m);
    return m;
}

static void quick_gelu_forward(float *out, const float *inp, size_t n) {
#pragma omp parallel for schedule(static)
    for (size_t c = 0; c < n; c += QG_CHUNK) {
        float e[QG_CHUNK];
        size_t m = qg_exps(e, inp, c, n);
        for (size_t i = 0; i < m; i++) out[c + i] = inp[c + i] / (1.0f + e[i]);
    }
}

static void quick_gelu_backward(float *dinp, const float *dout, const float *inp, size_t n) {
#pragma omp parallel for schedule(static)
    for (size_t c = 0; c < n; c += QG_CHUNK) {
        float e[QG_CHUNK];
        size_t m = qg_exps(e, inp, c, n);
        for (size_t i = 0; i < m; i++) {
            float x = inp[c + i], s = 1.0f / (1.0f + e[i]);
            dinp[c + i] += dout[c + i] * (s + QG_K * x * s * (1.0f - s));
        }
    }
}

void cpu_act_forward(drum_backend *be, float *out, const float *inp, size_t n, drum_act act) {
    if (!act_known(be, act, "act_forward")) return;
    if (act == DRUM_ACT_QUICK_GELU) {
        quick_gelu_forward(out, inp, n);
        return;
    }
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) out[i] = act_value(inp[i], act);
}

void cpu_act_backward(drum_backend *be, float *dinp, const float *dout, const float *inp,
                      size_t n, drum_act act) {
    if (!dinp || !act_known(be, act, "act_backward")) return;
    if (act == DRUM_ACT_QUICK_GELU) {
        quick_gelu_backward(dinp, dout, inp, n);
        return;
    }
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) dinp[i] += dout[i] * act_slope(inp[i], act);
}
