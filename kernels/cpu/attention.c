/* attention.c (cpu) — multi-head scaled dot-product attention over packed qkv (B,T,3C),
 * probabilities materialised as att (B,NH,T,T). One thread owns one (b, h) pair from start
 * to end, so every sum runs in a fixed order whatever the thread count, and the pairs
 * write disjoint slices of out, att and dqkv.
 *
 * Dot products over the head dimension (q.k, dout.v) are taken for all keys at once from a
 * transposed copy of the head's keys or values (hd rows of T), so the loop over keys runs in
 * SIMD while each key's sum still adds its hd products in order d = 0, 1, ...: the same
 * float operations, in the same order, as one scalar dot product per key. */
#include <math.h>
#include <omp.h>

#include "common.h"
#include "drum/expf.h"

/* Key j is visible to query t of sequence b. */
static inline int visible(const int *key_mask, int b, int T, int t, int j, int causal) {
    if (causal && j > t) return 0;
    return !key_mask || key_mask[(size_t)b * T + j] != 0;
}

/* xt (hd, T) = the head's slice at `offset` (0: q, C: k, 2C: v) of every token, transposed. */
static void gather_t(float *xt, const float *base, size_t C3, size_t offset, int T, int hd) {
    for (int j = 0; j < T; j++)
        for (int d = 0; d < hd; d++) xt[(size_t)d * T + j] = base[(size_t)j * C3 + offset + d];
}

/* s[j] = sum_d x[d] * yt[d][j] for j < n, each sum in order d = 0 .. hd-1 from 0. */
static void dots(float *s, const float *x, const float *yt, int n, int T, int hd) {
    for (int j = 0; j < n; j++) s[j] = 0.0f;
    for (int d = 0; d < hd; d++) {
        const float xd = x[d], *y = yt + (size_t)d * T;
#pragma omp simd
        for (int j = 0; j < n; j++) s[j] += xd * y[j];
    }
}

void cpu_attention_forward(drum_backend *be, float *out, float *att, const float *qkv,
                           const int *key_mask, int B, int T, int C, int NH, int causal) {
    int hd = C / NH;
    size_t C3 = (size_t)3 * C, per = (size_t)(hd + 1) * T; /* a thread's kt and s */
    float scale = 1.0f / sqrtf((float)hd);
    float *scr = cpu_scratch(be, (size_t)omp_get_max_threads() * per * sizeof(float),
                             "attention_forward");
    if (!scr) return;
#pragma omp parallel
    {
        float *kt = scr + (size_t)omp_get_thread_num() * per, *s = kt + (size_t)hd * T;
#pragma omp for collapse(2) schedule(static)
        for (int b = 0; b < B; b++) {
            for (int h = 0; h < NH; h++) {
                const float *base = qkv + (size_t)b * T * C3 + (size_t)h * hd;
                gather_t(kt, base, C3, (size_t)C, T, hd);
                for (int t = 0; t < T; t++) {
                    const float *q = base + (size_t)t * C3;
                    float *a = att + (((size_t)b * NH + h) * T + t) * T;
                    float *o = out + ((size_t)b * T + t) * C + (size_t)h * hd;
                    dots(s, q, kt, causal ? t + 1 : T, T, hd);
                    float mx = -INFINITY;
                    int any = 0;
                    for (int j = 0; j < T; j++) {
                        if (!visible(key_mask, b, T, t, j, causal)) continue;
                        a[j] = s[j] * scale;
                        mx = any ? fmaxf(mx, a[j]) : a[j];
                        any = 1;
                    }
                    for (int d = 0; d < hd; d++) o[d] = 0;
                    if (!any) {
                        for (int j = 0; j < T; j++) a[j] = 0;
                        continue;
                    }
                    /* a masked key's e^-inf is 0 exactly, and adds nothing to the sum; the
                     * keys after t, under the causal mask, are not computed */
                    int nk = causal ? t + 1 : T;
                    for (int j = 0; j < nk; j++)
                        a[j] = visible(key_mask, b, T, t, j, causal) ? a[j] - mx : -INFINITY;
                    for (int j = nk; j < T; j++) a[j] = 0;
                    drum_expf_array(a, a, (size_t)nk);
                    float sum = 0;
                    for (int j = 0; j < nk; j++) sum += a[j];
                    float inv = 1.0f / sum;
                    for (int j = 0; j < T; j++) {
                        if (a[j] == 0) continue;
                        a[j] *= inv;
                        const float aj = a[j], *v = base + (size_t)j * C3 + 2 * (size_t)C;
#pragma omp simd
                        for (int d = 0; d < hd; d++) o[d] += aj * v[d];
                    }
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
    size_t C3 = (size_t)3 * C, per = (size_t)hd * T; /* a thread's vt */
    float scale = 1.0f / sqrtf((float)hd);
    float *scr = cpu_scratch(be, (size_t)omp_get_max_threads() * per * sizeof(float),
                             "attention_backward");
    if (!scr) return;
#pragma omp parallel
    {
        float *vt = scr + (size_t)omp_get_thread_num() * per;
#pragma omp for collapse(2) schedule(static)
        for (int b = 0; b < B; b++) {
            for (int h = 0; h < NH; h++) {
                const float *base = qkv + (size_t)b * T * C3 + (size_t)h * hd;
                float *dbase = dqkv + (size_t)b * T * C3 + (size_t)h * hd;
                gather_t(vt, base, C3, 2 * (size_t)C, T, hd);
                for (int t = 0; t < T; t++) {
                    int jend = causal ? t + 1 : T;
                    const float *a = att + (((size_t)b * NH + h) * T + t) * T;
                    float *da = datt + (((size_t)b * NH + h) * T + t) * T;
                    const float *g = dout + ((size_t)b * T + t) * C + (size_t)h * hd;
                    const float *q = base + (size_t)t * C3;
                    float *dq = dbase + (size_t)t * C3;
                    dots(da, g, vt, jend, T, hd);
                    float dot = 0;
                    for (int j = 0; j < jend; j++) {
                        dot += a[j] * da[j];
                        const float aj = a[j];
                        float *dv = dbase + (size_t)j * C3 + 2 * (size_t)C;
#pragma omp simd
                        for (int d = 0; d < hd; d++) dv[d] += aj * g[d];
                    }
                    for (int j = 0; j < jend; j++) {
                        float dpre = a[j] * (da[j] - dot) * scale;
                        if (dpre == 0) continue;
                        const float *k = base + (size_t)j * C3 + C;
                        float *dk = dbase + (size_t)j * C3 + C;
#pragma omp simd
                        for (int d = 0; d < hd; d++) {
                            dq[d] += dpre * k[d];
                            dk[d] += dpre * q[d];
                        }
                    }
                }
            }
        }
    }
}
