/* similarity cases: dim = {M, N, C}. log_scale is drawn around CLIP's trained value
 * log(100) = 4.6 for the realistic row and lower for the odd ones. */
#include <math.h>

#include "harness.h"

enum { OUT, A, B, LOG_SCALE };

static void setup(opc *c) {
    size_t M = (size_t)DIM(c, 0), N = (size_t)DIM(c, 1), C = (size_t)DIM(c, 2);
    t_out(c, "out", M * N);
    t_in(c, "a", M * C, -1.0f, 1.0f);
    t_in(c, "b", N * C, -1.0f, 1.0f);
    t_in(c, "log_scale", 1, (float)FPARAM(c, 0), (float)FPARAM(c, 1));
}

static void forward(opc *c, drum_backend *be) {
    be->op.similarity_forward(be, DEV(c, OUT), DEV(c, A), DEV(c, B), DEV(c, LOG_SCALE), DIM(c, 0),
                              DIM(c, 1), DIM(c, 2));
}

static void backward(opc *c, drum_backend *be) {
    be->op.similarity_backward(be, GRAD(c, A), GRAD(c, B), GRAD(c, LOG_SCALE), DOUT(c, OUT),
                               DEV(c, OUT), DEV(c, A), DEV(c, B), DEV(c, LOG_SCALE), DIM(c, 0),
                               DIM(c, 1), DIM(c, 2));
}

static void reference(opc *c) {
    int M = DIM(c, 0), N = DIM(c, 1), C = DIM(c, 2);
    double s = exp(REF(c, LOG_SCALE)[0]);
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            const double *x = REF(c, A) + (size_t)m * C, *y = REF(c, B) + (size_t)n * C;
            double dot = 0;
            for (int k = 0; k < C; k++) dot += x[k] * y[k];
            REF(c, OUT)[(size_t)m * N + n] = s * dot;
        }
}

#define ROW(name, M, N, C, lo, hi, samples) \
    {name, {M, N, C}, {lo, hi}, setup, forward, backward, reference, 1e-4, 1e-5, 0, samples}
OP_CASES(similarity,
         ROW("similarity/odd", 7, 11, 37, -0.5, 1.5, 0),
         ROW("similarity/tall", 67, 3, 5, 0.0, 1.0, 0),
         /* 67 queries against a pool of 2053 (1.05M pool elements) */
         ROW("similarity/realistic", 67, 2053, 512, 4.0, 5.0, 6));
