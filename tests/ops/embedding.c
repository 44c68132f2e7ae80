/* embedding cases: dim = {N, V, C}. N > V in the odd row, so ids repeat and the
 * backward's scatter-add sums several rows into one table row. */
#include "harness.h"

enum { OUT, IDS, TABLE };

static void setup(opc *c) {
    size_t N = (size_t)DIM(c, 0), V = (size_t)DIM(c, 1), C = (size_t)DIM(c, 2);
    t_out(c, "out", N * C);
    t_in_int(c, "ids", N, 0, DIM(c, 1));
    t_in(c, "table", V * C, -1.0f, 1.0f);
}

static void forward(opc *c, drum_backend *be) {
    be->op.embedding_forward(be, DEV(c, OUT), DEVI(c, IDS), DEV(c, TABLE), DIM(c, 0), DIM(c, 1),
                             DIM(c, 2));
}

static void backward(opc *c, drum_backend *be) {
    be->op.embedding_backward(be, GRAD(c, TABLE), DOUT(c, OUT), DEVI(c, IDS), DIM(c, 0),
                              DIM(c, 1), DIM(c, 2));
}

static void reference(opc *c) {
    int N = DIM(c, 0), C = DIM(c, 2);
    for (int n = 0; n < N; n++)
        for (int k = 0; k < C; k++)
            REF(c, OUT)[(size_t)n * C + k] = REF(c, TABLE)[(size_t)REFI(c, IDS)[n] * C + k];
}

#define ROW(name, N, V, C, samples) \
    {name, {N, V, C}, {0}, setup, forward, backward, reference, 0, 0, 0, samples}
OP_CASES(embedding,
         ROW("embedding/odd", 37, 11, 45, 0),
         ROW("embedding/realistic", 2053, 4999, 512, 8)); /* 2053 x 512 = 1.05M outputs */
