/* positions cases: dim = {B, T, C} */
#include "harness.h"

enum { OUT, INP, POS };

static void setup(opc *c) {
    size_t B = (size_t)DIM(c, 0), T = (size_t)DIM(c, 1), C = (size_t)DIM(c, 2);
    t_out(c, "out", B * T * C);
    t_in(c, "inp", B * T * C, -2.0f, 2.0f);
    t_in(c, "pos", T * C, -1.0f, 1.0f);
}

static void forward(opc *c, drum_backend *be) {
    be->op.add_positions_forward(be, DEV(c, OUT), DEV(c, INP), DEV(c, POS), DIM(c, 0), DIM(c, 1),
                                 DIM(c, 2));
}

static void backward(opc *c, drum_backend *be) {
    be->op.add_positions_backward(be, GRAD(c, INP), GRAD(c, POS), DOUT(c, OUT), DIM(c, 0),
                                  DIM(c, 1), DIM(c, 2));
}

static void reference(opc *c) {
    size_t B = (size_t)DIM(c, 0), T = (size_t)DIM(c, 1), C = (size_t)DIM(c, 2);
    for (size_t b = 0; b < B; b++)
        for (size_t i = 0; i < T * C; i++)
            REF(c, OUT)[b * T * C + i] = REF(c, INP)[b * T * C + i] + REF(c, POS)[i];
}

#define ROW(name, B, T, C, samples) \
    {name, {B, T, C}, {0}, setup, forward, backward, reference, 0, 0, 0, samples}
OP_CASES(positions,
         ROW("positions/odd", 3, 7, 37, 0),
         ROW("positions/realistic", 7, 197, 768, 8)); /* ViT-B/16 tokens: 1.06M elements */
