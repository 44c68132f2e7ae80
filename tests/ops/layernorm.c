/* layernorm cases: dim = {N, C}, fp = {eps} */
#include <math.h>

#include "harness.h"

enum { OUT, MEAN, RSTD, INP, W, B };

static void setup(opc *c) {
    size_t N = (size_t)DIM(c, 0), C = (size_t)DIM(c, 1);
    t_out(c, "out", N * C);
    t_out_aux(c, "mean", N);
    t_out_aux(c, "rstd", N);
    t_in(c, "inp", N * C, -2.0f, 2.0f);
    t_in(c, "w", C, 0.5f, 1.5f);
    t_in(c, "b", C, -0.5f, 0.5f);
}

static void forward(opc *c, drum_backend *be) {
    be->op.layernorm_forward(be, DEV(c, OUT), DEV(c, MEAN), DEV(c, RSTD), DEV(c, INP), DEV(c, W),
                             DEV(c, B), DIM(c, 0), DIM(c, 1), (float)FPARAM(c, 0));
}

static void backward(opc *c, drum_backend *be) {
    be->op.layernorm_backward(be, GRAD(c, INP), GRAD(c, W), GRAD(c, B), DOUT(c, OUT), DEV(c, INP),
                              DEV(c, W), DEV(c, MEAN), DEV(c, RSTD), DIM(c, 0), DIM(c, 1));
}

static void reference(opc *c) {
    int N = DIM(c, 0), C = DIM(c, 1);
    const double *x = REF(c, INP), *w = REF(c, W), *b = REF(c, B);
    for (int n = 0; n < N; n++) {
        double m = 0, v = 0;
        for (int k = 0; k < C; k++) m += x[(size_t)n * C + k];
        m /= C;
        for (int k = 0; k < C; k++) v += pow(x[(size_t)n * C + k] - m, 2);
        double r = 1.0 / sqrt(v / C + FPARAM(c, 0));
        for (int k = 0; k < C; k++)
            REF(c, OUT)[(size_t)n * C + k] = (x[(size_t)n * C + k] - m) * r * w[k] + b[k];
        REF(c, MEAN)[n] = m;
        REF(c, RSTD)[n] = r;
    }
}

#define ROW(name, N, C, samples) \
    {name, {N, C}, {1e-5}, setup, forward, backward, reference, 1e-4, 1e-5, 0, samples}
OP_CASES(layernorm,
         ROW("layernorm/odd", 7, 37, 0),
         ROW("layernorm/one-col-chunk", 131, 5, 0),
         /* the CUDA fast paths (C % 4 == 0): a partial warp of float4s; C = 1280 (forward:
          * 10 float4s per lane; backward: 160 threads x 2 float4s, 33 rows = 2 blocks of 16
          * + 1); C = 2056 (forward: the scalar kernel; backward: 4 float4s per thread, the
          * last mostly idle); C = 4104 (both scalar) */
         ROW("layernorm/vec-partial-warp", 19, 20, 0),
         ROW("layernorm/vec-wide", 33, 1280, 0),
         ROW("layernorm/vec-very-wide", 5, 2056, 0),
         ROW("layernorm/over-vec", 3, 4104, 0),
         ROW("layernorm/realistic", 1303, 768, 12)); /* 1303 x 768 = 1.0M elements */
