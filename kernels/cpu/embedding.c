/* embedding.c (cpu) — row gather from a (V,C) table and its scatter-add backward.
 * The ids are checked in one serial pass first, so the first bad one is the one recorded
 * whatever the thread count. */
#include <string.h>

#include "common.h"

/* Records the first id outside [0, V); returns 1 when all are valid. */
static int ids_valid(drum_backend *be, const int *ids, int N, int V, const char *op) {
    for (int n = 0; n < N; n++) {
        if (ids[n] < 0 || ids[n] >= V) {
            DRUM_FAIL(be, "%s: id %d at position %d is outside the vocabulary [0, %d)", op,
                      ids[n], n, V);
            return 0;
        }
    }
    return 1;
}

/* A bad id records an error and its row is written as zeros (every output is written). */
void cpu_embedding_forward(drum_backend *be, float *out, const int *ids, const float *table,
                           int N, int V, int C) {
    ids_valid(be, ids, N, V, "embedding_forward");
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        float *o = out + (size_t)n * C;
        int id = ids[n];
        if (id >= 0 && id < V)
            memcpy(o, table + (size_t)id * C, (size_t)C * sizeof(float));
        else
            memset(o, 0, (size_t)C * sizeof(float));
    }
}

/* Threads own blocks of channels; each block walks all N rows in order, so every dtable
 * element receives its contributions in the same order for any thread count. */
#define EMB_CHANNEL_BLOCK 32

void cpu_embedding_backward(drum_backend *be, float *dtable, const float *dout, const int *ids,
                            int N, int V, int C) {
    if (!dtable || !ids_valid(be, ids, N, V, "embedding_backward")) return;
    int nblocks = (C + EMB_CHANNEL_BLOCK - 1) / EMB_CHANNEL_BLOCK;
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < nblocks; blk++) {
        int c0 = blk * EMB_CHANNEL_BLOCK;
        int c1 = c0 + EMB_CHANNEL_BLOCK < C ? c0 + EMB_CHANNEL_BLOCK : C;
        for (int n = 0; n < N; n++) {
            float *d = dtable + (size_t)ids[n] * C;
            const float *g = dout + (size_t)n * C;
            for (int c = c0; c < c1; c++) d[c] += g[c];
        }
    }
}
