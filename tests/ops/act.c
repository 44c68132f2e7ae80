/* act cases: dim = {n, act} */
#include <math.h>

#include "harness.h"

enum { OUT, INP };

static void setup(opc *c) {
    t_out(c, "out", (size_t)DIM(c, 0));
    t_in(c, "inp", (size_t)DIM(c, 0), -6.0f, 6.0f);
}

static void forward(opc *c, drum_backend *be) {
    be->op.act_forward(be, DEV(c, OUT), DEV(c, INP), (size_t)DIM(c, 0), (drum_act)DIM(c, 1));
}

static void backward(opc *c, drum_backend *be) {
    be->op.act_backward(be, GRAD(c, INP), DOUT(c, OUT), DEV(c, INP), (size_t)DIM(c, 0),
                        (drum_act)DIM(c, 1));
}

static void reference(opc *c) {
    size_t n = (size_t)DIM(c, 0);
    const double *x = REF(c, INP);
    double *y = REF(c, OUT);
    for (size_t i = 0; i < n; i++) {
        double v = x[i];
        switch ((drum_act)DIM(c, 1)) {
        case DRUM_ACT_QUICK_GELU:
            y[i] = v / (1.0 + exp(-1.702 * v));
            break;
        case DRUM_ACT_GELU:
            y[i] = 0.5 * v * (1.0 + erf(v / sqrt(2.0)));
            break;
        case DRUM_ACT_GELU_TANH:
            y[i] = 0.5 * v * (1.0 + tanh(sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));
            break;
        }
    }
}

#define ROW(name, n, act, samples) \
    {name, {n, act}, {0}, setup, forward, backward, reference, 1e-5, 1e-5, 0, samples}
OP_CASES(act,
         ROW("act/quick_gelu-odd", 1001, DRUM_ACT_QUICK_GELU, 0),
         ROW("act/gelu-odd", 1001, DRUM_ACT_GELU, 0),
         ROW("act/gelu_tanh-odd", 1001, DRUM_ACT_GELU_TANH, 0),
         ROW("act/quick_gelu-realistic", 1048583, DRUM_ACT_QUICK_GELU, 8),
         ROW("act/gelu-realistic", 1048583, DRUM_ACT_GELU, 8),
         ROW("act/gelu_tanh-realistic", 1048583, DRUM_ACT_GELU_TANH, 8));
