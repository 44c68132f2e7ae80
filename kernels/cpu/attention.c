/* attention.c (cpu) — multi-head scaled dot-product attention over packed qkv (B,T,3C),
 * probabilities materialised as att (B,NH,T,T). One thread owns one (b, h) pair from start
 * to end, so every sum runs in a fixed order whatever the thread count, and the pairs
 * write disjoint slices of out, att and dqkv. */
#include <math.h>

#include "common.h"

/* Key j is visible to query t of sequence b. */
static inline int visible(const int *key_mask, int b, int T, int t, int j, int causal) {
    if (causal && j > t) return 0;
    return !key_mask || key_mask[(size_t)b * T + j] != 0;
}

void cpu_attention_forward(drum_backend *be, float *out, float *att, const float *qkv,
                           const int *key_mask, int B, int T, int C, int NH, int causal) {
    int hd = C / NH;
    size_t C3 = (size_t)3 * C;
    float scale = 1.0f / sqrtf((float)hd);
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < NH; h++) {
            const float *base = qkv + (size_t)b * T * C3 + (size_t)h * hd;
            for (int t = 0; t < T; t++) {
                const float *q = base + (size_t)t * C3;
                float *a = att + (((size_t)b * NH + h) * T + t) * T;
                float *o = out + ((size_t)b * T + t) * C + (size_t)h * hd;
                float mx = -INFINITY;
                int any = 0;
                for (int j = 0; j < T; j++) {
                    if (!visible(key_mask, b, T, t, j, causal)) continue;
                    const float *k = base + (size_t)j * C3 + C;
                    float s = 0;
                    for (int d = 0; d < hd; d++) s += q[d] * k[d];
                    a[j] = s * scale;
                    mx = any ? fmaxf(mx, a[j]) : a[j];
                    any = 1;
                }
                for (int d = 0; d < hd; d++) o[d] = 0;
                if (!any) {
                    for (int j = 0; j < T; j++) a[j] = 0;
                    continue;
                }
                float sum = 0;
                for (int j = 0; j < T; j++) {
                    if (!visible(key_mask, b, T, t, j, causal)) {
                        a[j] = 0;
                        continue;
                    }
                    a[j] = expf(a[j] - mx);
                    sum += a[j];
                }
                float inv = 1.0f / sum;
                for (int j = 0; j < T; j++) {
                    if (a[j] == 0) continue;
                    a[j] *= inv;
                    const float *v = base + (size_t)j * C3 + 2 * (size_t)C;
                    for (int d = 0; d < hd; d++) o[d] += a[j] * v[d];
                }
            }
        }
    }
}

/* Masked keys have att = 0 exactly, so they drop out of every product below without
 * consulting the masks again; causal only shortens the loops. */
void cpu_attention_backward(drum_backend *be, float *dqkv, float *datt, const float *dout,
                            const float *qkv, const float *att, const int *key_mask, int B,
                            int T, int C, int NH, int causal) {
    if (!dqkv) return;
    int hd = C / NH;
    size_t C3 = (size_t)3 * C;
    float scale = 1.0f / sqrtf((float)hd);
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < NH; h++) {
            const float *base = qkv + (size_t)b * T * C3 + (size_t)h * hd;
            float *dbase = dqkv + (size_t)b * T * C3 + (size_t)h * hd;
            for (int t = 0; t < T; t++) {
                int jend = causal ? t + 1 : T;
                const float *a = att + (((size_t)b * NH + h) * T + t) * T;
                float *da = datt + (((size_t)b * NH + h) * T + t) * T;
                const float *g = dout + ((size_t)b * T + t) * C + (size_t)h * hd;
                const float *q = base + (size_t)t * C3;
                float *dq = dbase + (size_t)t * C3;
                float dot = 0;
                for (int j = 0; j < jend; j++) {
                    const float *v = base + (size_t)j * C3 + 2 * (size_t)C;
                    float s = 0;
                    for (int d = 0; d < hd; d++) s += g[d] * v[d];
                    da[j] = s;
                    dot += a[j] * s;
                    float *dv = dbase + (size_t)j * C3 + 2 * (size_t)C;
                    for (int d = 0; d < hd; d++) dv[d] += a[j] * g[d];
                }
                for (int j = 0; j < jend; j++) {
                    float dpre = a[j] * (da[j] - dot) * scale;
                    if (dpre == 0) continue;
                    const float *k = base + (size_t)j * C3 + C;
                    float *dk = dbase + (size_t)j * C3 + C;
                    for (int d = 0; d < hd; d++) {
                        dq[d] += dpre * k[d];
                        dk[d] += dpre * q[d];
                    }
                }
            }
        }
    }
}
