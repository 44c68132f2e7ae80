/* topk.c (cpu) — the k largest entries of every row, descending, ties to the lower index. */
#include <stdint.h>
#include <string.h>

#include "common.h"

/* An unsigned key in the order of the float values, with -0 == +0 and NaN below every
 * number: a total order shared with kernels/cuda/topk.cu, so both pick the same indices. */
static inline uint32_t topk_key(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return 0;
    if ((u & 0x7fffffffu) == 0) u = 0;
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

void cpu_topk_forward(drum_backend *be, float *vals, int *idx, const float *inp,
                      const int *exclude, int N, int V, int k) {
    if (!drum_backend_ok(be)) return;
    if (N < 0 || V < 0 || k < 0 || k > V - (exclude ? 1 : 0)) {
        DRUM_FAIL(be, "topk_forward: need N, V >= 0 and 0 <= k <= V%s (got N=%d, V=%d, k=%d)",
                  exclude ? " - 1 with exclude" : "", N, V, k);
        return;
    }
    if (k == 0) return;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * V;
        float *ov = vals + (size_t)n * k;
        int *oi = idx + (size_t)n * k;
        int skip = exclude ? exclude[n] : -1, count = 0;
        uint32_t worst = 0; /* key of ov[k - 1] once the list is full */
        /* Insertion into the sorted best-so-far list; scanning in index order means an
         * equal key seen later never displaces an earlier one. */
        for (int c = 0; c < V; c++) {
            if (c == skip) continue;
            uint32_t key = topk_key(x[c]);
            if (count == k && key <= worst) continue;
            int pos = count < k ? count++ : k - 1;
            while (pos > 0 && topk_key(ov[pos - 1]) < key) {
                ov[pos] = ov[pos - 1];
                oi[pos] = oi[pos - 1];
                pos--;
            }
            ov[pos] = x[c];
            oi[pos] = c;
            if (count == k) worst = topk_key(ov[k - 1]);
        }
    }
}
