/* grad_utils cases: sum_squares (dim = {n, threads-check}) and scale (dim = {n}, fp = {s}).
 * A threads-check row computes the sum with 1 and with 3 OpenMP threads and requires the
 * same bytes (ops.h: reductions do not depend on the thread count) before reporting it. */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "harness.h"

enum { OUT, X };

static void setup_sumsq(opc *c) {
    t_out(c, "out", 1);
    t_in_const(c, "x", (size_t)DIM(c, 0), -3.0f, 3.0f);
}

static void forward_sumsq(opc *c, drum_backend *be) {
    size_t n = (size_t)DIM(c, 0);
    if (!DIM(c, 1)) {
        be->op.sum_squares(be, DEV(c, OUT), DEV(c, X), n);
        return;
    }
    int saved = omp_get_max_threads();
    float r[2];
    for (int k = 0; k < 2; k++) {
        omp_set_num_threads(k == 0 ? 1 : 3);
        be->op.sum_squares(be, DEV(c, OUT), DEV(c, X), n);
        be->to_host(be, &r[k], DEV(c, OUT), sizeof(float));
    }
    omp_set_num_threads(saved);
    if (memcmp(&r[0], &r[1], sizeof(float)) != 0) {
        float nan = NAN;
        be->to_device(be, DEV(c, OUT), &nan, sizeof nan);
    }
}

static void reference_sumsq(opc *c) {
    double s = 0;
    for (size_t i = 0; i < (size_t)DIM(c, 0); i++) s += REF(c, X)[i] * REF(c, X)[i];
    REF(c, OUT)[0] = s;
}

static void setup_scale(opc *c) { t_inout(c, "x", (size_t)DIM(c, 0), -2.0f, 2.0f); }

static void forward_scale(opc *c, drum_backend *be) {
    be->op.scale(be, DEV(c, 0), (size_t)DIM(c, 0), (float)FPARAM(c, 0));
}

static void reference_scale(opc *c) {
    for (size_t i = 0; i < (size_t)DIM(c, 0); i++) REF(c, 0)[i] *= (float)FPARAM(c, 0);
}

#define SUMSQ(name, n, threads) \
    {name, {n, threads}, {0}, setup_sumsq, forward_sumsq, NULL, reference_sumsq, 1e-6, 1e-6, 0, 0}
#define SCALE(name, n, s) \
    {name, {n}, {s}, setup_scale, forward_scale, NULL, reference_scale, 1e-6, 1e-7, 0, 0}
OP_CASES(grad_utils,
         SUMSQ("sum_squares/empty", 0, 0),
         SUMSQ("sum_squares/one", 1, 0),
         SUMSQ("sum_squares/odd", 1237, 1),
         SUMSQ("sum_squares/realistic", 15000017, 1),
         SCALE("scale/odd", 5, -2.5),
         SCALE("scale/realistic", 1000003, 0.37));
