/* topk cases: dim = {N, V, k, levels, use_exclude, bad}.
 * The harness draws values uniformly; with levels > 0 the forward snaps them to `levels`
 * values (in a scratch tensor) so ties are everywhere and the lower-index rule decides.
 * exclude draws -1 (none) or a column of the row. `bad` rows first call the op with k < 0
 * and require a recorded error. */
#include <math.h>
#include <stdlib.h>

#include "harness.h"

enum { VALS, IDX, INP, EXCL, X };

static void setup(opc *c) {
    int N = DIM(c, 0), V = DIM(c, 1), k = DIM(c, 2);
    t_out(c, "vals", (size_t)N * k);
    t_out_int(c, "idx", (size_t)N * k);
    t_in_const(c, "draw", (size_t)N * V, -1.0f, 1.0f);
    t_in_int(c, "exclude", (size_t)N, -1, V);
    t_scratch(c, "inp", (size_t)N * V);
}

static double snap(const opc *c, double u) {
    int levels = DIM(c, 3);
    return levels ? floor((u + 1) * 0.5 * levels) / levels - 0.5 : u;
}

static void forward(opc *c, drum_backend *be) {
    int N = DIM(c, 0), V = DIM(c, 1), k = DIM(c, 2);
    size_t n = (size_t)N * V;
    float *h = malloc((n + 1) * sizeof(float));
    if (!h) abort();
    be->to_host(be, h, DEV(c, INP), n * sizeof(float));
    for (size_t i = 0; i < n; i++) h[i] = (float)snap(c, h[i]);
    be->to_device(be, DEV(c, X), h, n * sizeof(float));
    free(h);
    const int *excl = DIM(c, 4) ? DEVI(c, EXCL) : NULL;
    if (DIM(c, 5)) {
        be->op.topk_forward(be, DEV(c, VALS), DEVI(c, IDX), DEV(c, X), excl, N, V, -3);
        if (drum_backend_ok(be)) return; /* outputs left poisoned: the case fails */
        drum_backend_clear_error(be);
    }
    be->op.topk_forward(be, DEV(c, VALS), DEVI(c, IDX), DEV(c, X), excl, N, V, k);
}

typedef struct {
    double v;
    int i;
} entry;

static int cmp_entry(const void *pa, const void *pb) {
    const entry *a = pa, *b = pb;
    if (a->v != b->v) return a->v > b->v ? -1 : 1;
    return a->i - b->i;
}

static void reference(opc *c) {
    int N = DIM(c, 0), V = DIM(c, 1), k = DIM(c, 2);
    entry *e = malloc(((size_t)V + 1) * sizeof *e);
    if (!e) abort();
    for (int n = 0; n < N; n++) {
        int m = 0, skip = DIM(c, 4) ? REFI(c, EXCL)[n] : -1;
        for (int j = 0; j < V; j++)
            if (j != skip) e[m++] = (entry){(float)snap(c, REF(c, INP)[(size_t)n * V + j]), j};
        qsort(e, (size_t)m, sizeof *e, cmp_entry);
        for (int r = 0; r < k; r++) {
            REF(c, VALS)[(size_t)n * k + r] = e[r].v;
            REFO(c, IDX)[(size_t)n * k + r] = e[r].i;
        }
    }
    free(e);
}

#define ROW(name, N, V, k, levels, excl, bad) \
    {name, {N, V, k, levels, excl, bad}, {0}, setup, forward, NULL, reference, 1e-6, 1e-7, 0, 0}
OP_CASES(topk,
         ROW("topk/odd-ties", 7, 37, 5, 4, 1, 1),
         ROW("topk/all-but-excluded", 3, 9, 8, 3, 1, 0),
         ROW("topk/k-equals-V", 4, 16, 16, 5, 0, 0),
         ROW("topk/distinct", 33, 5000, 50, 0, 1, 0),
         ROW("topk/one-level", 5, 300, 20, 1, 1, 0),
         ROW("topk/realistic", 64, 100003, 64, 1000, 1, 0));
