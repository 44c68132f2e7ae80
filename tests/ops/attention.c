/* attention cases: dim = {B, T, C, NH, causal, mask}, mask: 0 = no key_mask (NULL),
 * 1 = random 0/1 key_mask, 2 = random key_mask with the last sequence all padding.
 * The harness draws ints uniformly, so mask 2 zeroes that sequence's mask on the backend
 * before the op runs (and the reference reads it the same way): every run then has
 * fully-masked query rows, which must get zero probabilities and a zero output. With
 * causal, a sequence whose first key is padding also has a fully-masked first query. */
#include <math.h>

#include "harness.h"

enum { OUT, ATT, QKV, MASK, DATT };

static void setup(opc *c) {
    size_t B = (size_t)DIM(c, 0), T = (size_t)DIM(c, 1), C = (size_t)DIM(c, 2);
    size_t NH = (size_t)DIM(c, 3);
    t_out(c, "out", B * T * C);
    t_out_aux(c, "att", B * NH * T * T);
    t_in(c, "qkv", B * T * 3 * C, -1.0f, 1.0f);
    t_in_int(c, "key_mask", B * T, 0, 2);
    t_scratch(c, "datt", B * NH * T * T);
}

static const int *key_mask(opc *c) { return DIM(c, 5) ? DEVI(c, MASK) : NULL; }

static void forward(opc *c, drum_backend *be) {
    int B = DIM(c, 0), T = DIM(c, 1);
    if (DIM(c, 5) == 2) be->memset0(be, DEVI(c, MASK) + (size_t)(B - 1) * T, (size_t)T * sizeof(int));
    be->op.attention_forward(be, DEV(c, OUT), DEV(c, ATT), DEV(c, QKV), key_mask(c), B, T,
                             DIM(c, 2), DIM(c, 3), DIM(c, 4));
}

static void backward(opc *c, drum_backend *be) {
    be->op.attention_backward(be, GRAD(c, QKV), DEV(c, DATT), DOUT(c, OUT), DEV(c, QKV),
                              DEV(c, ATT), key_mask(c), DIM(c, 0), DIM(c, 1), DIM(c, 2),
                              DIM(c, 3), DIM(c, 4));
}

static int visible(opc *c, int b, int t, int j) {
    int B = DIM(c, 0), T = DIM(c, 1);
    if (DIM(c, 4) && j > t) return 0;
    if (DIM(c, 5) == 0) return 1;
    if (DIM(c, 5) == 2 && b == B - 1) return 0;
    return REFI(c, MASK)[(size_t)b * T + j] != 0;
}

static void reference(opc *c) {
    int B = DIM(c, 0), T = DIM(c, 1), C = DIM(c, 2), NH = DIM(c, 3), hd = C / NH;
    size_t C3 = (size_t)3 * C;
    double scale = 1.0 / sqrt((double)hd);
    const double *qkv = REF(c, QKV);
    double s[T];
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int t = 0; t < T; t++) {
                const double *q = qkv + ((size_t)b * T + t) * C3 + (size_t)h * hd;
                double *a = REF(c, ATT) + (((size_t)b * NH + h) * T + t) * T;
                double *o = REF(c, OUT) + ((size_t)b * T + t) * C + (size_t)h * hd;
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j < T; j++) {
                    s[j] = -INFINITY;
                    if (!visible(c, b, t, j)) continue;
                    const double *k = qkv + ((size_t)b * T + j) * C3 + C + (size_t)h * hd;
                    double dot = 0;
                    for (int d = 0; d < hd; d++) dot += q[d] * k[d];
                    s[j] = dot * scale;
                    mx = fmax(mx, s[j]);
                }
                for (int j = 0; j < T; j++) {
                    a[j] = s[j] == -INFINITY ? 0 : exp(s[j] - mx);
                    sum += a[j];
                }
                for (int d = 0; d < hd; d++) o[d] = 0;
                for (int j = 0; j < T; j++) {
                    if (a[j] == 0) continue;
                    a[j] /= sum;
                    const double *v = qkv + ((size_t)b * T + j) * C3 + 2 * (size_t)C + (size_t)h * hd;
                    for (int d = 0; d < hd; d++) o[d] += a[j] * v[d];
                }
            }
}

#define ROW(name, B, T, C, NH, causal, mask, samples) \
    {name, {B, T, C, NH, causal, mask}, {0}, setup, forward, backward, reference, 1e-4, 1e-5, 0, samples}
OP_CASES(attention,
         ROW("attention/odd", 3, 13, 20, 4, 0, 0, 0),
         ROW("attention/odd-causal", 3, 13, 20, 4, 1, 0, 0),
         ROW("attention/odd-padded", 3, 11, 18, 3, 0, 1, 0),
         ROW("attention/odd-causal-padded", 3, 11, 18, 3, 1, 1, 0),
         ROW("attention/fully-masked", 4, 9, 15, 3, 0, 2, 0),
         ROW("attention/fully-masked-causal", 4, 9, 15, 3, 1, 2, 0),
         ROW("attention/head-64", 3, 50, 768, 12, 0, 0, 8),      /* ViT-B/32 vision tower */
         ROW("attention/realistic", 26, 77, 512, 8, 1, 0, 6));   /* CLIP text tower: 3.1M qkv */
