/* softmax_xent.c (cpu) — row-wise softmax cross-entropy, the max subtracted before exp. */
#include <math.h>

#include "common.h"
#include "drum/expf.h"

/* Checks every target before any thread starts (DRUM_FAIL stays out of parallel
 * regions). Returns 0 when all are in [0, V). */
static int check_targets(drum_backend *be, const char *op, const int *targets, int N, int V) {
    for (int n = 0; n < N; n++) {
        if (targets[n] < 0 || targets[n] >= V) {
            DRUM_FAIL(be, "%s: targets[%d] = %d is outside [0, %d)", op, n, targets[n], V);
            return -1;
        }
    }
    return 0;
}

void cpu_softmax_xent_forward(drum_backend *be, float *loss, float *probs, const float *logits,
                              const int *targets, int N, int V) {
    if (check_targets(be, "softmax_xent_forward", targets, N, V)) return;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *x = logits + (size_t)n * V;
        float *p = probs + (size_t)n * V;
        float mx = x[0];
        for (int v = 1; v < V; v++) mx = fmaxf(mx, x[v]);
        for (int v = 0; v < V; v++) p[v] = x[v] - mx;
        drum_expf_array(p, p, (size_t)V);
        double sum = 0;
        for (int v = 0; v < V; v++) sum += p[v];
        float inv = (float)(1.0 / sum);
        for (int v = 0; v < V; v++) p[v] *= inv;
        /* -log p[t] from the logits, not from p[t]: stays finite when p[t] underflows */
        loss[n] = (float)log(sum) - (x[targets[n]] - mx);
    }
}

void cpu_softmax_xent_backward(drum_backend *be, float *dlogits, const float *dloss,
                               const float *probs, const int *targets, int N, int V) {
    if (!dlogits || check_targets(be, "softmax_xent_backward", targets, N, V)) return;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *p = probs + (size_t)n * V;
        float *d = dlogits + (size_t)n * V, g = dloss[n];
        int t = targets[n];
        for (int v = 0; v < V; v++) d[v] += g * (p[v] - (v == t ? 1.0f : 0.0f));
    }
}
