/* pool cases: dim = {B, T, C}. The cpu backend must reject an index outside [0, T): the
 * "pool/rejects-bad-index" row probes that before its ordinary run (cpu only: the cuda
 * kernels have no device-side error channel; they write NaN rows instead). */
#include <string.h>

#include "../common/check.h"
#include "harness.h"

enum { OUT, INP, IDX };

static void setup(opc *c) {
    size_t B = (size_t)DIM(c, 0), T = (size_t)DIM(c, 1), C = (size_t)DIM(c, 2);
    t_out(c, "out", B * C);
    t_in(c, "inp", B * T * C, -2.0f, 2.0f);
    t_in_int(c, "idx", B, 0, (int)T);
}

static void forward(opc *c, drum_backend *be) {
    be->op.pool_forward(be, DEV(c, OUT), DEV(c, INP), DEVI(c, IDX), DIM(c, 0), DIM(c, 1),
                        DIM(c, 2));
}

static void backward(opc *c, drum_backend *be) {
    be->op.pool_backward(be, GRAD(c, INP), DOUT(c, OUT), DEVI(c, IDX), DIM(c, 0), DIM(c, 1),
                         DIM(c, 2));
}

static void probe_bad_index(opc *c, drum_backend *be) {
    int B = DIM(c, 0), T = DIM(c, 1), C = DIM(c, 2);
    const int bad[2] = {T, -1};
    int *idx = be->alloc(be, (size_t)B * sizeof(int));
    float *dinp = be->alloc(be, (size_t)B * T * C * sizeof(float));
    if (!idx || !dinp) {
        CHECK(0, "pool probe: allocation failed: %s", be->err);
        return;
    }
    for (int k = 0; k < 2; k++) {
        be->to_device(be, idx, REFI(c, IDX), (size_t)B * sizeof(int));
        be->to_device(be, idx + B - 1, &bad[k], sizeof(int));
        be->op.pool_forward(be, DEV(c, OUT), DEV(c, INP), idx, B, T, C);
        CHECK(!drum_backend_ok(be) && strstr(be->err, "pool_forward"),
              "pool_forward accepted idx %d with T = %d (err '%s')", bad[k], T, be->err);
        drum_backend_clear_error(be);
        be->op.pool_backward(be, dinp, DOUT(c, OUT), idx, B, T, C);
        CHECK(!drum_backend_ok(be) && strstr(be->err, "pool_backward"),
              "pool_backward accepted idx %d with T = %d (err '%s')", bad[k], T, be->err);
        drum_backend_clear_error(be);
    }
    be->free(be, idx);
    be->free(be, dinp);
}

static void forward_probe(opc *c, drum_backend *be) {
    if (be->kind == DRUM_BACKEND_CPU) probe_bad_index(c, be);
    forward(c, be);
}

static void reference(opc *c) {
    int B = DIM(c, 0), T = DIM(c, 1), C = DIM(c, 2);
    for (int b = 0; b < B; b++) {
        const double *x = REF(c, INP) + ((size_t)b * T + REFI(c, IDX)[b]) * C;
        for (int k = 0; k < C; k++) REF(c, OUT)[(size_t)b * C + k] = x[k];
    }
}

#define ROW(name, fwd, B, T, C, samples) \
    {name, {B, T, C}, {0}, setup, fwd, backward, reference, 0, 0, 0, samples}
OP_CASES(pool,
         ROW("pool/odd", forward, 5, 13, 37, 0),
         ROW("pool/rejects-bad-index", forward_probe, 3, 7, 5, 0),
         ROW("pool/realistic", forward, 26, 77, 512, 8)); /* text EOS pooling: 1.0M inputs */
