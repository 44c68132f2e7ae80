/* concat cases: dim = {N, Ca, Cb}, fp = {wa, wb} */
#include "harness.h"

enum { OUT, A, B };

static void setup(opc *c) {
    size_t N = (size_t)DIM(c, 0), Ca = (size_t)DIM(c, 1), Cb = (size_t)DIM(c, 2);
    t_out(c, "out", N * (Ca + Cb));
    t_in(c, "a", N * Ca, -1.0f, 1.0f);
    t_in(c, "b", N * Cb, -1.0f, 1.0f);
}

static void forward(opc *c, drum_backend *be) {
    be->op.concat_forward(be, DEV(c, OUT), DEV(c, A), DEV(c, B), DIM(c, 0), DIM(c, 1), DIM(c, 2),
                          (float)FPARAM(c, 0), (float)FPARAM(c, 1));
}

static void backward(opc *c, drum_backend *be) {
    be->op.concat_backward(be, GRAD(c, A), GRAD(c, B), DOUT(c, OUT), DIM(c, 0), DIM(c, 1),
                           DIM(c, 2), (float)FPARAM(c, 0), (float)FPARAM(c, 1));
}

static void reference(opc *c) {
    int N = DIM(c, 0), Ca = DIM(c, 1), Cb = DIM(c, 2);
    /* the weights as the op receives them (float32) */
    float wa = (float)FPARAM(c, 0), wb = (float)FPARAM(c, 1);
    for (int n = 0; n < N; n++) {
        double *o = REF(c, OUT) + (size_t)n * (Ca + Cb);
        for (int k = 0; k < Ca; k++) o[k] = wa * REF(c, A)[(size_t)n * Ca + k];
        for (int k = 0; k < Cb; k++) o[Ca + k] = wb * REF(c, B)[(size_t)n * Cb + k];
    }
}

#define ROW(name, N, Ca, Cb, wa, wb, samples) \
    {name, {N, Ca, Cb}, {wa, wb}, setup, forward, backward, reference, 0, 0, 0, samples}
OP_CASES(concat,
         ROW("concat/odd", 7, 13, 19, 0.7, 1.3, 0),
         ROW("concat/one-side", 5, 1, 23, 0.0, -2.5, 0),
         ROW("concat/realistic", 1031, 512, 512, 0.5, 0.5, 8)); /* SIT embeddings: 1.06M out */
