/* softmax_xent cases: dim = {N, V}, fp = {logit range}. The cpu backend must reject a
 * target outside [0, V): "softmax_xent/rejects-bad-target" probes that before its ordinary
 * run (cpu only: the cuda kernels have no device-side error channel; they give a NaN
 * loss instead). */
#include <math.h>
#include <string.h>

#include "../common/check.h"
#include "harness.h"

enum { LOSS, PROBS, LOGITS, TARGETS };

static void setup(opc *c) {
    size_t N = (size_t)DIM(c, 0), V = (size_t)DIM(c, 1);
    float r = (float)FPARAM(c, 0);
    t_out(c, "loss", N);
    t_out_aux(c, "probs", N * V);
    t_in(c, "logits", N * V, -r, r);
    t_in_int(c, "targets", N, 0, (int)V);
}

static void forward(opc *c, drum_backend *be) {
    be->op.softmax_xent_forward(be, DEV(c, LOSS), DEV(c, PROBS), DEV(c, LOGITS),
                                DEVI(c, TARGETS), DIM(c, 0), DIM(c, 1));
}

static void backward(opc *c, drum_backend *be) {
    be->op.softmax_xent_backward(be, GRAD(c, LOGITS), DOUT(c, LOSS), DEV(c, PROBS),
                                 DEVI(c, TARGETS), DIM(c, 0), DIM(c, 1));
}

static void probe_bad_target(opc *c, drum_backend *be) {
    int N = DIM(c, 0), V = DIM(c, 1);
    const int bad[2] = {V, -1};
    int *targets = be->alloc(be, (size_t)N * sizeof(int));
    float *dlogits = be->alloc(be, (size_t)N * V * sizeof(float));
    if (!targets || !dlogits) {
        CHECK(0, "softmax_xent probe: allocation failed: %s", be->err);
        return;
    }
    for (int k = 0; k < 2; k++) {
        be->to_device(be, targets, REFI(c, TARGETS), (size_t)N * sizeof(int));
        be->to_device(be, targets + N / 2, &bad[k], sizeof(int));
        be->op.softmax_xent_forward(be, DEV(c, LOSS), DEV(c, PROBS), DEV(c, LOGITS), targets, N,
                                    V);
        CHECK(!drum_backend_ok(be) && strstr(be->err, "softmax_xent_forward"),
              "softmax_xent_forward accepted target %d with V = %d (err '%s')", bad[k], V,
              be->err);
        drum_backend_clear_error(be);
        be->op.softmax_xent_backward(be, dlogits, DOUT(c, LOSS), DEV(c, PROBS), targets, N, V);
        CHECK(!drum_backend_ok(be) && strstr(be->err, "softmax_xent_backward"),
              "softmax_xent_backward accepted target %d with V = %d (err '%s')", bad[k], V,
              be->err);
        drum_backend_clear_error(be);
    }
    be->free(be, targets);
    be->free(be, dlogits);
}

static void forward_probe(opc *c, drum_backend *be) {
    if (be->kind == DRUM_BACKEND_CPU) probe_bad_target(c, be);
    forward(c, be);
}

static void reference(opc *c) {
    int N = DIM(c, 0), V = DIM(c, 1);
    for (int n = 0; n < N; n++) {
        const double *x = REF(c, LOGITS) + (size_t)n * V;
        double mx = x[0], sum = 0;
        for (int v = 1; v < V; v++) mx = fmax(mx, x[v]);
        for (int v = 0; v < V; v++) sum += exp(x[v] - mx);
        for (int v = 0; v < V; v++) REF(c, PROBS)[(size_t)n * V + v] = exp(x[v] - mx) / sum;
        REF(c, LOSS)[n] = log(sum) - (x[REFI(c, TARGETS)[n]] - mx);
    }
}

#define ROW(name, fwd, N, V, range, samples) \
    {name, {N, V}, {range}, setup, fwd, backward, reference, 1e-5, 1e-5, 0, samples}
OP_CASES(softmax_xent,
         ROW("softmax_xent/odd", forward, 7, 37, 4.0, 0),
         ROW("softmax_xent/one-class", forward, 5, 1, 4.0, 0),
         ROW("softmax_xent/large-logits", forward, 9, 23, 80.0, 0), /* exp overflows unshifted */
         ROW("softmax_xent/rejects-bad-target", forward_probe, 6, 5, 4.0, 0),
         ROW("softmax_xent/realistic", forward, 1031, 1031, 4.0, 8)); /* 1.06M logits */
