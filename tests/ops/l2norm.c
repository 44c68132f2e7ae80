/* l2norm cases: dim = {N, C}. Inputs are drawn from [-1, 2), so no row norm comes near
 * zero, where x / ||x|| (no epsilon) is ill-conditioned. */
#include <math.h>

#include "harness.h"

enum { OUT, NORM, INP };

static void setup(opc *c) {
    size_t N = (size_t)DIM(c, 0), C = (size_t)DIM(c, 1);
    t_out(c, "out", N * C);
    t_out_aux(c, "norm", N);
    t_in(c, "inp", N * C, -1.0f, 2.0f);
}

static void forward(opc *c, drum_backend *be) {
    be->op.l2norm_forward(be, DEV(c, OUT), DEV(c, NORM), DEV(c, INP), DIM(c, 0), DIM(c, 1));
}

static void backward(opc *c, drum_backend *be) {
    be->op.l2norm_backward(be, GRAD(c, INP), DOUT(c, OUT), DEV(c, OUT), DEV(c, NORM), DIM(c, 0),
                           DIM(c, 1));
}

static void reference(opc *c) {
    int N = DIM(c, 0), C = DIM(c, 1);
    for (int n = 0; n < N; n++) {
        const double *x = REF(c, INP) + (size_t)n * C;
        double s = 0;
        for (int k = 0; k < C; k++) s += x[k] * x[k];
        double r = sqrt(s);
        for (int k = 0; k < C; k++) REF(c, OUT)[(size_t)n * C + k] = x[k] / r;
        REF(c, NORM)[n] = r;
    }
}

#define ROW(name, N, C, samples) \
    {name, {N, C}, {0}, setup, forward, backward, reference, 1e-5, 1e-5, 0, samples}
OP_CASES(l2norm,
         ROW("l2norm/odd", 7, 37, 0),
         ROW("l2norm/wide", 3, 1031, 0),
         ROW("l2norm/realistic", 2053, 512, 8)); /* a pool of embeddings: 1.05M elements */
