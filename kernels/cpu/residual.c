/* residual.c (cpu) — out = a + b; the gradient flows unchanged to both inputs. */
#include "common.h"

void cpu_residual_forward(drum_backend *be, float *out, const float *a, const float *b,
                          size_t n) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

/* da and db may be the same buffer (a + a): each element is updated twice in order. */
void cpu_residual_backward(drum_backend *be, float *da, float *db, const float *dout, size_t n) {
    if (!da && !db) return;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        if (da) da[i] += dout[i];
        if (db) db[i] += dout[i];
    }
}
