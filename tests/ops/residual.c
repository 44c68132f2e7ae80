/* residual cases: dim = {n} */
#include "harness.h"

enum { OUT, A, B };

static void setup(opc *c) {
    t_out(c, "out", (size_t)DIM(c, 0));
    t_in(c, "a", (size_t)DIM(c, 0), -2.0f, 2.0f);
    t_in(c, "b", (size_t)DIM(c, 0), -2.0f, 2.0f);
}

static void forward(opc *c, drum_backend *be) {
    be->op.residual_forward(be, DEV(c, OUT), DEV(c, A), DEV(c, B), (size_t)DIM(c, 0));
}

static void backward(opc *c, drum_backend *be) {
    be->op.residual_backward(be, GRAD(c, A), GRAD(c, B), DOUT(c, OUT), (size_t)DIM(c, 0));
}

static void reference(opc *c) {
    for (size_t i = 0; i < (size_t)DIM(c, 0); i++) REF(c, OUT)[i] = REF(c, A)[i] + REF(c, B)[i];
}

#define ROW(name, n, samples) \
    {name, {n}, {0}, setup, forward, backward, reference, 0, 0, 0, samples}
OP_CASES(residual,
         ROW("residual/odd", 1003, 0),
         ROW("residual/realistic", 7 * 197 * 768 + 5, 8)); /* 1.06M elements */
