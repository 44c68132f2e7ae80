/* adamw cases: dim = {n, step, -log10(eps), bad}, fp = {lr, beta1, beta2, weight_decay}.
 * The float64 reference is torch.optim.AdamW's update written out; `bad` rows first call
 * the op with step 0 and require a recorded error. */
#include <math.h>

#include "harness.h"

enum { PARAM, GRAD_, M, V };

static void setup(opc *c) {
    size_t n = (size_t)DIM(c, 0);
    t_inout(c, "param", n, -1.0f, 1.0f);
    t_in_const(c, "grad", n, -1.0f, 1.0f);
    t_inout(c, "m", n, -0.1f, 0.1f);
    t_inout(c, "v", n, 0.0f, 0.01f);
}

static float eps_of(opc *c) { return (float)pow(10.0, -DIM(c, 2)); }

static void update(opc *c, drum_backend *be, int step) {
    be->op.adamw_update(be, DEV(c, PARAM), DEV(c, GRAD_), DEV(c, M), DEV(c, V),
                        (size_t)DIM(c, 0), (float)FPARAM(c, 0), (float)FPARAM(c, 1),
                        (float)FPARAM(c, 2), eps_of(c), (float)FPARAM(c, 3), step);
}

static void forward(opc *c, drum_backend *be) {
    if (DIM(c, 3)) {
        update(c, be, 0);
        if (drum_backend_ok(be)) return; /* state left as drawn: the comparison fails */
        drum_backend_clear_error(be);
    }
    update(c, be, DIM(c, 1));
}

static void reference(opc *c) {
    /* the hyperparameters as the op receives them: floats */
    double lr = (float)FPARAM(c, 0), b1 = (float)FPARAM(c, 1), b2 = (float)FPARAM(c, 2);
    double wd = (float)FPARAM(c, 3), eps = eps_of(c);
    int t = DIM(c, 1);
    double bc1 = 1 - pow(b1, t), bc2 = 1 - pow(b2, t);
    double *p = REF(c, PARAM), *m = REF(c, M), *v = REF(c, V);
    const double *g = REF(c, GRAD_);
    for (size_t i = 0; i < (size_t)DIM(c, 0); i++) {
        p[i] *= 1 - lr * wd;
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        p[i] -= lr / bc1 * m[i] / (sqrt(v[i]) / sqrt(bc2) + eps);
    }
}

#define ROW(name, n, step, eps_exp, bad, lr, b1, b2, wd) \
    {name, {n, step, eps_exp, bad}, {lr, b1, b2, wd}, setup, forward, NULL, reference, 1e-5, 1e-6, 0, 0}
OP_CASES(adamw,
         ROW("adamw/odd-first-step", 1001, 1, 8, 1, 1e-3, 0.9, 0.999, 0.01),
         ROW("adamw/late-step", 77, 1000, 8, 0, 3e-4, 0.9, 0.98, 0.1),
         ROW("adamw/no-decay-low-beta", 129, 3, 6, 0, 1e-2, 0.3, 0.99, 0.0),
         ROW("adamw/realistic", 1048579, 10, 8, 0, 1e-5, 0.9, 0.999, 0.2));
