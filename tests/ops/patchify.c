/* patchify cases: dim = {B, Cin, H, W, P} */
#include "harness.h"

enum { OUT, IMG };

static size_t out_size(opc *c) {
    size_t B = (size_t)DIM(c, 0), Cin = (size_t)DIM(c, 1), H = (size_t)DIM(c, 2);
    size_t W = (size_t)DIM(c, 3), P = (size_t)DIM(c, 4);
    return B * (1 + (H / P) * (W / P)) * Cin * P * P;
}

static void setup(opc *c) {
    t_out(c, "out", out_size(c));
    t_in(c, "img", (size_t)DIM(c, 0) * DIM(c, 1) * DIM(c, 2) * DIM(c, 3), -1.0f, 1.0f);
}

static void forward(opc *c, drum_backend *be) {
    be->op.patchify_forward(be, DEV(c, OUT), DEV(c, IMG), DIM(c, 0), DIM(c, 1), DIM(c, 2),
                            DIM(c, 3), DIM(c, 4));
}

static void backward(opc *c, drum_backend *be) {
    be->op.patchify_backward(be, GRAD(c, IMG), DOUT(c, OUT), DIM(c, 0), DIM(c, 1), DIM(c, 2),
                             DIM(c, 3), DIM(c, 4));
}

/* Walks the output in its own order (the op walks pixels in the backward): a patch row
 * p = py * (W/P) + px, column (c, ky, kx), reads img[b][c][py*P+ky][px*P+kx]. */
static void reference(opc *c) {
    int B = DIM(c, 0), Cin = DIM(c, 1), H = DIM(c, 2), W = DIM(c, 3), P = DIM(c, 4);
    int GW = W / P, NP = (H / P) * GW, D = Cin * P * P;
    double *out = REF(c, OUT);
    const double *img = REF(c, IMG);
    for (int b = 0; b < B; b++)
        for (int r = 0; r <= NP; r++)
            for (int j = 0; j < D; j++) {
                double v = 0;
                if (r > 0) {
                    int py = (r - 1) / GW, px = (r - 1) % GW;
                    int ch = j / (P * P), ky = (j / P) % P, kx = j % P;
                    v = img[(((size_t)b * Cin + ch) * H + py * P + ky) * W + px * P + kx];
                }
                out[((size_t)b * (NP + 1) + r) * D + j] = v;
            }
}

#define ROW(name, B, Cin, H, W, P, samples) \
    {name, {B, Cin, H, W, P}, {0}, setup, forward, backward, reference, 0, 0, 0, samples}
OP_CASES(patchify,
         ROW("patchify/odd", 2, 3, 15, 10, 5, 0),
         ROW("patchify/one-pixel", 1, 2, 3, 5, 1, 0),
         ROW("patchify/realistic", 7, 3, 224, 224, 32, 8)); /* ViT-B/32: 1.08M outputs */
