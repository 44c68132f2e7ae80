/* bench_ops — every op of the table, forward and backward, at CLIP sizes, against rooflines
 * measured in the same run: device-to-device copy bandwidth for memory-bound ops and a
 * large fp32 GEMM for GEMMs and attention.
 *
 *   bench_ops [cpu|cuda]      (default cpu; cuda without a GPU prints why and exits 0)
 *
 * Shapes: ViT-B/32 (T=50, C=768, 12 heads, MLP 3072), ViT-L/14 (T=257, C=1024, 16 heads,
 * MLP 4096) and the text tower (T=77, C=512, 8 heads, MLP 2048, causal); batch 128 on cuda
 * and 8 on cpu, so `make bench` stays short on a small machine. Rates count the bytes an op
 * must move at least (every input read once, every output written once, an accumulated
 * gradient read and written) or its useful FLOPs (GEMMs, attention as dense matmuls).
 * Each time is the median over repetitions of the mean of enough back-to-back calls to
 * fill about a millisecond, with the backend synchronised around every repetition. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_common.h"
#include "drum/backend.h"

#define MAX_PTR 24
#define MAX_REPS 25

typedef struct {
    drum_backend *be;
    void *ptr[MAX_PTR];
    size_t bytes[MAX_PTR];
    int nptr;
    float *f[16];
    int *ix[4];
    int d[10];
    size_t n;
    float s[4];
} args;

typedef void (*op_fn)(const args *a);

/* ---- data ---------------------------------------------------------------------------- */

#define HOST_RAND_N ((size_t)1 << 22)
static float host_rand[HOST_RAND_N];

static void host_rand_init(void) {
    unsigned long long s = 0x2545F4914F6CDD1DULL;
    for (size_t i = 0; i < HOST_RAND_N; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        host_rand[i] = (float)((s >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
    }
}

static void *track(args *a, void *p, size_t bytes) {
    if (p && a->nptr < MAX_PTR) {
        a->bytes[a->nptr] = bytes;
        a->ptr[a->nptr++] = p;
    }
    return p;
}

/* n floats uniform in [-1, 1) (a repeating block), or zeros */
static float *dev_floats(args *a, size_t n, int zero) {
    drum_backend *be = a->be;
    float *p = track(a, be->alloc(be, n * sizeof(float)), n * sizeof(float));
    if (!p) return NULL;
    if (zero) {
        be->memset0(be, p, n * sizeof(float));
        return p;
    }
    for (size_t off = 0; off < n; off += HOST_RAND_N) {
        size_t len = n - off < HOST_RAND_N ? n - off : HOST_RAND_N;
        be->to_device(be, p + off, host_rand, len * sizeof(float));
    }
    return p;
}
static float *R(args *a, size_t n) { return dev_floats(a, n, 0); }
static float *Z(args *a, size_t n) { return dev_floats(a, n, 1); }

/* n ints in [0, hi), spread evenly */
static int *I(args *a, size_t n, int hi) {
    drum_backend *be = a->be;
    int *h = malloc((n + 1) * sizeof(int));
    int *p = track(a, be->alloc(be, n * sizeof(int)), n * sizeof(int));
    if (h && p) {
        for (size_t i = 0; i < n; i++) h[i] = (int)((i * 2654435761ULL) % (unsigned)hi);
        be->to_device(be, p, h, n * sizeof(int));
    }
    free(h);
    return p;
}

static void release(args *a) {
    for (int i = 0; i < a->nptr; i++) a->be->free(a->be, a->ptr[i]);
    a->nptr = 0;
}

/* ---- timing -------------------------------------------------------------------------- */

/* Median milliseconds per call of fn, spending about budget_s; NAN on a backend error.
 * Successive calls cycle through the nset copies of the case's buffers (rotation). */
static double time_ms(const args *set, int nset, op_fn fn, double budget_s) {
    const args *a = set;
    drum_backend *be = a->be;
    for (int c = 0; c < nset; c++) fn(&set[c]);
    be->synchronize(be);
    double t0 = now_s();
    fn(a);
    be->synchronize(be);
    double one = fmax(now_s() - t0, 1e-7);
    int inner = one < 1e-3 ? (int)fmin(ceil(1e-3 / one), 1000) : 1;
    int reps = (int)fmin(fmax(budget_s / (one * inner), 3), MAX_REPS);
    double t[MAX_REPS];
    long call = 0;
    for (int r = 0; r < reps; r++) {
        t0 = now_s();
        for (int k = 0; k < inner; k++) fn(&set[call++ % nset]);
        be->synchronize(be);
        t[r] = (now_s() - t0) / inner;
    }
    if (!drum_backend_ok(be)) return NAN;
    qsort(t, (size_t)reps, sizeof t[0], cmp_double);
    return 1e3 * t[reps / 2];
}

/* Caches must not hold a case's data between calls (an audit found rows of a few MB at
 * 250-1100% of the copy roofline on the cpu, and rows of 40 MB inside an H100's 50 MB L2):
 * the calls cycle through copies of every buffer, enough that a cycle touches ROTATE_BYTES,
 * within MAX_COPIES copies and COPIES_BYTES of memory. */
#define ROTATE_BYTES ((size_t)256 << 20)
#define COPIES_BYTES ((size_t)1 << 30)
#define MAX_COPIES 64

/* set[0] = *a; set[1..] copies of its buffers (contents copied, f[] and ix[] remapped), as
 * many as make the calls of one cycle touch ROTATE_BYTES (`touched`: the bytes a call
 * moves, 0: all its buffers). Returns the count; release(&set[c]) frees each. */
static int rotation(const args *a, args *set, double touched) {
    size_t ws = 0;
    for (int i = 0; i < a->nptr; i++) ws += a->bytes[i];
    if (!(touched > 0) || touched > (double)ws) touched = (double)ws;
    int n = ws ? (int)fmin(fmin(MAX_COPIES, ceil((double)ROTATE_BYTES / touched)),
                           fmax(1, floor((double)COPIES_BYTES / (double)ws)))
               : 1;
    set[0] = *a;
    drum_backend *be = a->be;
    for (int c = 1; c < n; c++) {
        args *s = &set[c];
        *s = *a;
        s->nptr = 0;
        for (int i = 0; i < a->nptr; i++) {
            void *p = track(s, be->alloc(be, a->bytes[i]), a->bytes[i]);
            if (!p) {
                release(s);
                return c;
            }
            be->copy(be, p, a->ptr[i], a->bytes[i]);
            for (int k = 0; k < 16; k++)
                if ((void *)a->f[k] == a->ptr[i]) s->f[k] = p;
            for (int k = 0; k < 4; k++)
                if ((void *)a->ix[k] == a->ptr[i]) s->ix[k] = p;
        }
    }
    return n;
}

/* ---- op calls ------------------------------------------------------------------------ */
/* matmul: f = {C, A, B, bias, dC, dA, dB, dbias}, d = {M, N, K}; nn.Linear layout (transB) */
static void matmul_f(const args *a) {
    a->be->op.matmul_forward(a->be, a->f[0], a->f[1], a->f[2], a->f[3], a->d[0], a->d[1],
                             a->d[2], 0, 1, 1.0f, 0.0f);
}
static void matmul_b(const args *a) {
    a->be->op.matmul_backward(a->be, a->f[5], a->f[6], a->f[7], a->f[4], a->f[1], a->f[2],
                              a->d[0], a->d[1], a->d[2], 0, 1, 1.0f);
}
/* layernorm: f = {out, mean, rstd, inp, w, b, dout, dinp, dw, db}, d = {N, C} */
static void layernorm_f(const args *a) {
    a->be->op.layernorm_forward(a->be, a->f[0], a->f[1], a->f[2], a->f[3], a->f[4], a->f[5],
                                a->d[0], a->d[1], 1e-5f);
}
static void layernorm_b(const args *a) {
    a->be->op.layernorm_backward(a->be, a->f[7], a->f[8], a->f[9], a->f[6], a->f[3], a->f[4],
                                 a->f[1], a->f[2], a->d[0], a->d[1]);
}
/* act: f = {out, inp, dout, dinp}, n */
static void act_f(const args *a) {
    a->be->op.act_forward(a->be, a->f[0], a->f[1], a->n, DRUM_ACT_QUICK_GELU);
}
static void act_b(const args *a) {
    a->be->op.act_backward(a->be, a->f[3], a->f[2], a->f[1], a->n, DRUM_ACT_QUICK_GELU);
}
/* residual: f = {out, x, y, dout, dx, dy}, n */
static void residual_f(const args *a) {
    a->be->op.residual_forward(a->be, a->f[0], a->f[1], a->f[2], a->n);
}
static void residual_b(const args *a) {
    a->be->op.residual_backward(a->be, a->f[4], a->f[5], a->f[3], a->n);
}
/* embedding: f = {out, table, dout, dtable}, ix = {ids}, d = {N, V, C} */
static void embedding_f(const args *a) {
    a->be->op.embedding_forward(a->be, a->f[0], a->ix[0], a->f[1], a->d[0], a->d[1], a->d[2]);
}
static void embedding_b(const args *a) {
    a->be->op.embedding_backward(a->be, a->f[3], a->f[2], a->ix[0], a->d[0], a->d[1], a->d[2]);
}
/* add_positions: f = {out, inp, pos, dout, dinp, dpos}, d = {B, T, C} */
static void positions_f(const args *a) {
    a->be->op.add_positions_forward(a->be, a->f[0], a->f[1], a->f[2], a->d[0], a->d[1], a->d[2]);
}
static void positions_b(const args *a) {
    a->be->op.add_positions_backward(a->be, a->f[4], a->f[5], a->f[3], a->d[0], a->d[1],
                                     a->d[2]);
}
/* patchify: f = {out, img, dout, dimg}, d = {B, Cin, H, W, P} */
static void patchify_f(const args *a) {
    a->be->op.patchify_forward(a->be, a->f[0], a->f[1], a->d[0], a->d[1], a->d[2], a->d[3],
                               a->d[4]);
}
static void patchify_b(const args *a) {
    a->be->op.patchify_backward(a->be, a->f[3], a->f[2], a->d[0], a->d[1], a->d[2], a->d[3],
                                a->d[4]);
}
/* attention: f = {out, att, qkv, dout, dqkv, datt}, d = {B, T, C, NH, causal} */
static void attention_f(const args *a) {
    a->be->op.attention_forward(a->be, a->f[0], a->f[1], a->f[2], NULL, a->d[0], a->d[1],
                                a->d[2], a->d[3], a->d[4]);
}
static void attention_b(const args *a) {
    a->be->op.attention_backward(a->be, a->f[4], a->f[5], a->f[3], a->f[2], a->f[1], NULL,
                                 a->d[0], a->d[1], a->d[2], a->d[3], a->d[4]);
}
/* pool: f = {out, inp, dout, dinp}, ix = {idx}, d = {B, T, C} */
static void pool_f(const args *a) {
    a->be->op.pool_forward(a->be, a->f[0], a->f[1], a->ix[0], a->d[0], a->d[1], a->d[2]);
}
static void pool_b(const args *a) {
    a->be->op.pool_backward(a->be, a->f[3], a->f[2], a->ix[0], a->d[0], a->d[1], a->d[2]);
}
/* l2norm: f = {out, norm, inp, dout, dinp}, d = {N, C} */
static void l2norm_f(const args *a) {
    a->be->op.l2norm_forward(a->be, a->f[0], a->f[1], a->f[2], a->d[0], a->d[1]);
}
static void l2norm_b(const args *a) {
    a->be->op.l2norm_backward(a->be, a->f[4], a->f[3], a->f[0], a->f[1], a->d[0], a->d[1]);
}
/* concat: f = {out, x, y, dout, dx, dy}, d = {N, Ca, Cb} */
static void concat_f(const args *a) {
    a->be->op.concat_forward(a->be, a->f[0], a->f[1], a->f[2], a->d[0], a->d[1], a->d[2], 1.0f,
                             1.0f);
}
static void concat_b(const args *a) {
    a->be->op.concat_backward(a->be, a->f[4], a->f[5], a->f[3], a->d[0], a->d[1], a->d[2], 1.0f,
                              1.0f);
}
/* similarity: f = {out, x, y, log_scale, dout, dx, dy, dlog_scale}, d = {M, N, C} */
static void similarity_f(const args *a) {
    a->be->op.similarity_forward(a->be, a->f[0], a->f[1], a->f[2], a->f[3], a->d[0], a->d[1],
                                 a->d[2]);
}
static void similarity_b(const args *a) {
    a->be->op.similarity_backward(a->be, a->f[5], a->f[6], a->f[7], a->f[4], a->f[0], a->f[1],
                                  a->f[2], a->f[3], a->d[0], a->d[1], a->d[2]);
}
/* softmax_xent: f = {loss, probs, logits, dloss, dlogits}, ix = {targets}, d = {N, V} */
static void xent_f(const args *a) {
    a->be->op.softmax_xent_forward(a->be, a->f[0], a->f[1], a->f[2], a->ix[0], a->d[0], a->d[1]);
}
static void xent_b(const args *a) {
    a->be->op.softmax_xent_backward(a->be, a->f[4], a->f[3], a->f[1], a->ix[0], a->d[0],
                                    a->d[1]);
}
/* listwise losses: f = {loss, sim, fb, dloss, dsim}, d = {Q, L}, s = {tau_t} */
static void rank_f(const args *a) {
    a->be->op.listwise_rank_forward(a->be, a->f[0], a->f[1], a->f[2], a->d[0], a->d[1]);
}
static void rank_b(const args *a) {
    a->be->op.listwise_rank_backward(a->be, a->f[4], a->f[3], a->f[1], a->f[2], a->d[0],
                                     a->d[1]);
}
static void listnet_f(const args *a) {
    a->be->op.listnet_forward(a->be, a->f[0], a->f[1], a->f[2], a->d[0], a->d[1], a->s[0]);
}
static void listnet_b(const args *a) {
    a->be->op.listnet_backward(a->be, a->f[4], a->f[3], a->f[1], a->f[2], a->d[0], a->d[1],
                               a->s[0]);
}
static void listmle_f(const args *a) {
    a->be->op.listmle_forward(a->be, a->f[0], a->f[1], a->f[2], a->d[0], a->d[1]);
}
static void listmle_b(const args *a) {
    a->be->op.listmle_backward(a->be, a->f[4], a->f[3], a->f[1], a->f[2], a->d[0], a->d[1]);
}
/* adamw: f = {param, grad, m, v}, n */
static void adamw_f(const args *a) {
    a->be->op.adamw_update(a->be, a->f[0], a->f[1], a->f[2], a->f[3], a->n, 1e-5f, 0.9f, 0.999f,
                           1e-8f, 0.2f, 10);
}
/* sum_squares: f = {out, x}; scale: f = {x} (s = 1 keeps repeated calls stable) */
static void sumsq_f(const args *a) { a->be->op.sum_squares(a->be, a->f[0], a->f[1], a->n); }
static void scale_f(const args *a) { a->be->op.scale(a->be, a->f[0], a->n, 1.0f); }
/* topk: f = {vals, inp}, ix = {idx, exclude}, d = {N, V, k} */
static void topk_f(const args *a) {
    a->be->op.topk_forward(a->be, a->f[0], a->ix[0], a->f[1], a->ix[1], a->d[0], a->d[1],
                           a->d[2]);
}

/* ---- the table ------------------------------------------------------------------------ */

typedef struct {
    double copy_gbs;   /* device copy, bytes read + written per second / 1e9 */
    double gemm_tfs;   /* fp32 matmul_forward peak */
    double budget_s;   /* time spent per measurement */
    int failed;
} bench_state;

#define UNIT_BYTES 0
#define UNIT_FLOPS 1

/* Times fwd (and bwd) of one set-up case and prints its row. `amount` is bytes or FLOPs
 * per call; a missing op (NULL table entry) is reported as an error. */
static void row(bench_state *st, args *a, const char *op, const char *cfg, const char *shape,
                int present, op_fn fwd, double fwd_amount, op_fn bwd, double bwd_amount,
                int unit) {
    if (!present) {
        printf("%-14s %-9s %-28s  ERROR: op missing from the table\n", op, cfg, shape);
        st->failed = 1;
        release(a);
        return;
    }
    if (!drum_backend_ok(a->be)) {
        printf("%-14s %-9s %-28s  ERROR during setup: %s\n", op, cfg, shape, a->be->err);
        st->failed = 1;
        release(a);
        drum_backend_clear_error(a->be);
        return;
    }
    char cols[2][64];
    args set[MAX_COPIES];
    int nset = rotation(a, set, unit == UNIT_BYTES ? fwd_amount : 0);
    op_fn fns[2] = {fwd, bwd};
    double amounts[2] = {fwd_amount, bwd_amount};
    for (int k = 0; k < 2; k++) {
        if (!fns[k]) {
            snprintf(cols[k], sizeof cols[k], "%9s %12s %6s", "-", "-", "-");
            continue;
        }
        double ms = time_ms(set, nset, fns[k], st->budget_s);
        if (!(ms == ms)) {
            printf("%-14s %-9s %-28s  ERROR: %s\n", op, cfg, shape, a->be->err);
            st->failed = 1;
            drum_backend_clear_error(a->be);
            for (int c = 0; c < nset; c++) release(&set[c]);
            return;
        }
        double rate, roof;
        const char *u;
        if (unit == UNIT_FLOPS) {
            rate = amounts[k] / (ms * 1e-3) / 1e12;
            roof = st->gemm_tfs;
            u = "TF/s";
        } else {
            rate = amounts[k] / (ms * 1e-3) / 1e9;
            roof = st->copy_gbs;
            u = "GB/s";
        }
        char pct[16];
        if (roof > 0)
            snprintf(pct, sizeof pct, "%5.0f%%", 100 * rate / roof);
        else
            snprintf(pct, sizeof pct, "%6s", "n/a");
        snprintf(cols[k], sizeof cols[k], "%9.3f %7.1f %4s %6s", ms, rate, u, pct);
    }
    printf("%-14s %-9s %-28s %s   %s\n", op, cfg, shape, cols[0], cols[1]);
    fflush(stdout);
    for (int c = 0; c < nset; c++) release(&set[c]);
}

typedef struct {
    const char *name;
    int T, C, NH, MLP, causal, img, patch;
} model_cfg;

static const model_cfg MODELS[] = {
    {"ViT-B/32", 50, 768, 12, 3072, 0, 224, 32},
    {"ViT-L/14", 257, 1024, 16, 4096, 0, 224, 14},
    {"text", 77, 512, 8, 2048, 1, 0, 0},
};

#define F4 4.0 /* bytes per float */

static void bench_matmul(bench_state *st, drum_backend *be, const char *cfg, const char *what,
                         int M, int N, int K) {
    args a = {.be = be, .d = {M, N, K}};
    int present = be->op.matmul_forward && be->op.matmul_backward;
    char shape[64];
    snprintf(shape, sizeof shape, "%s %dx%dx%d", what, M, N, K);
    if (present) {
        a.f[0] = Z(&a, (size_t)M * N);
        a.f[1] = R(&a, (size_t)M * K);
        a.f[2] = R(&a, (size_t)N * K);
        a.f[3] = R(&a, (size_t)N);
        a.f[4] = R(&a, (size_t)M * N);
        a.f[5] = Z(&a, (size_t)M * K);
        a.f[6] = Z(&a, (size_t)N * K);
        a.f[7] = Z(&a, (size_t)N);
    }
    double fl = 2.0 * M * N * K;
    row(st, &a, "matmul", cfg, shape, present, matmul_f, fl, matmul_b, 2 * fl, UNIT_FLOPS);
}

static void bench_model(bench_state *st, drum_backend *be, const model_cfg *m, int B) {
    const int T = m->T, C = m->C, BT = B * T;
    const size_t nBTC = (size_t)BT * C, nH = (size_t)BT * m->MLP;
    char shape[64];

    bench_matmul(st, be, m->name, "qkv", BT, 3 * C, C);
    bench_matmul(st, be, m->name, "fc1", BT, m->MLP, C);
    bench_matmul(st, be, m->name, "fc2", BT, C, m->MLP);

    {
        args a = {.be = be, .d = {BT, C}};
        int ok = be->op.layernorm_forward && be->op.layernorm_backward;
        if (ok) {
            a.f[0] = Z(&a, nBTC), a.f[1] = Z(&a, BT), a.f[2] = Z(&a, BT), a.f[3] = R(&a, nBTC);
            a.f[4] = R(&a, C), a.f[5] = R(&a, C), a.f[6] = R(&a, nBTC), a.f[7] = Z(&a, nBTC);
            a.f[8] = Z(&a, C), a.f[9] = Z(&a, C);
        }
        snprintf(shape, sizeof shape, "%dx%d", BT, C);
        row(st, &a, "layernorm", m->name, shape, ok, layernorm_f, F4 * (2.0 * nBTC + 2 * BT),
            layernorm_b, F4 * (4.0 * nBTC + 2 * BT), UNIT_BYTES);
    }
    {
        args a = {.be = be, .n = nH};
        int ok = be->op.act_forward && be->op.act_backward;
        if (ok) a.f[0] = Z(&a, nH), a.f[1] = R(&a, nH), a.f[2] = R(&a, nH), a.f[3] = Z(&a, nH);
        snprintf(shape, sizeof shape, "quick_gelu %zu", nH);
        row(st, &a, "act", m->name, shape, ok, act_f, F4 * 2.0 * nH, act_b, F4 * 4.0 * nH,
            UNIT_BYTES);
    }
    {
        args a = {.be = be, .n = nBTC};
        int ok = be->op.residual_forward && be->op.residual_backward;
        if (ok) {
            a.f[0] = Z(&a, nBTC), a.f[1] = R(&a, nBTC), a.f[2] = R(&a, nBTC);
            a.f[3] = R(&a, nBTC), a.f[4] = Z(&a, nBTC), a.f[5] = Z(&a, nBTC);
        }
        snprintf(shape, sizeof shape, "%zu", nBTC);
        row(st, &a, "residual", m->name, shape, ok, residual_f, F4 * 3.0 * nBTC, residual_b,
            F4 * 5.0 * nBTC, UNIT_BYTES);
    }
    {
        args a = {.be = be, .d = {B, T, C}};
        int ok = be->op.add_positions_forward && be->op.add_positions_backward;
        if (ok) {
            a.f[0] = Z(&a, nBTC), a.f[1] = R(&a, nBTC), a.f[2] = R(&a, (size_t)T * C);
            a.f[3] = R(&a, nBTC), a.f[4] = Z(&a, nBTC), a.f[5] = Z(&a, (size_t)T * C);
        }
        snprintf(shape, sizeof shape, "%dx%dx%d", B, T, C);
        row(st, &a, "add_positions", m->name, shape, ok, positions_f,
            F4 * (2.0 * nBTC + (double)T * C), positions_b, F4 * (3.0 * nBTC + 2.0 * T * C),
            UNIT_BYTES);
    }
    {
        args a = {.be = be, .d = {B, T, C, m->NH, m->causal}};
        size_t natt = (size_t)B * m->NH * T * T;
        int ok = be->op.attention_forward && be->op.attention_backward;
        if (ok) {
            a.f[0] = Z(&a, nBTC), a.f[1] = Z(&a, natt), a.f[2] = R(&a, 3 * nBTC);
            a.f[3] = R(&a, nBTC), a.f[4] = Z(&a, 3 * nBTC), a.f[5] = Z(&a, natt);
        }
        snprintf(shape, sizeof shape, "%dx%dx%d h%d%s", B, T, C, m->NH, m->causal ? " causal" : "");
        /* QK^T and AV as dense GEMMs: 4 B T^2 C forward, twice that backward */
        double fl = 4.0 * B * (double)T * T * C;
        row(st, &a, "attention", m->name, shape, ok, attention_f, fl, attention_b, 2 * fl,
            UNIT_FLOPS);
    }
    {
        args a = {.be = be, .d = {B, T, C}};
        int ok = be->op.pool_forward && be->op.pool_backward;
        if (ok) {
            a.f[0] = Z(&a, (size_t)B * C), a.f[1] = R(&a, nBTC), a.f[2] = R(&a, (size_t)B * C);
            a.f[3] = Z(&a, nBTC), a.ix[0] = I(&a, B, T);
        }
        snprintf(shape, sizeof shape, "%dx%dx%d", B, T, C);
        row(st, &a, "pool", m->name, shape, ok, pool_f, F4 * 2.0 * B * C, pool_b,
            F4 * 3.0 * B * C, UNIT_BYTES);
    }
    if (m->img) {
        int P = m->patch, NP = (m->img / P) * (m->img / P);
        size_t nimg = (size_t)B * 3 * m->img * m->img, nout = (size_t)B * (1 + NP) * 3 * P * P;
        args a = {.be = be, .d = {B, 3, m->img, m->img, P}};
        int ok = be->op.patchify_forward && be->op.patchify_backward;
        if (ok) a.f[0] = Z(&a, nout), a.f[1] = R(&a, nimg), a.f[2] = R(&a, nout), a.f[3] = Z(&a, nimg);
        snprintf(shape, sizeof shape, "%dx3x%dx%d P%d", B, m->img, m->img, P);
        row(st, &a, "patchify", m->name, shape, ok, patchify_f, F4 * ((double)nimg + nout),
            patchify_b, F4 * (2.0 * nimg + nout), UNIT_BYTES);
    } else {
        const int V = 49408;
        args a = {.be = be, .d = {BT, V, C}};
        int ok = be->op.embedding_forward && be->op.embedding_backward;
        if (ok) {
            a.f[0] = Z(&a, nBTC), a.f[1] = R(&a, (size_t)V * C), a.f[2] = R(&a, nBTC);
            a.f[3] = Z(&a, (size_t)V * C), a.ix[0] = I(&a, BT, V);
        }
        snprintf(shape, sizeof shape, "%d ids V%d C%d", BT, V, C);
        row(st, &a, "embedding", m->name, shape, ok, embedding_f, F4 * (2.0 * nBTC + BT),
            embedding_b, F4 * (3.0 * nBTC + BT), UNIT_BYTES);
    }
}

/* The retrieval head, the losses, the optimizer and mining (sizes from the DRUM loop:
 * B queries, 10 scored candidates each in the batch, up to 50 candidates per list). */
static void bench_head(bench_state *st, drum_backend *be, int B, size_t nparams, int topk_rows) {
    char shape[64];
    const int NC = B * 10;
    {
        const int C = 768;
        args a = {.be = be, .d = {NC, C}};
        int ok = be->op.l2norm_forward && be->op.l2norm_backward;
        if (ok) {
            a.f[0] = Z(&a, (size_t)NC * C), a.f[1] = Z(&a, NC), a.f[2] = R(&a, (size_t)NC * C);
            a.f[3] = R(&a, (size_t)NC * C), a.f[4] = Z(&a, (size_t)NC * C);
        }
        snprintf(shape, sizeof shape, "%dx%d", NC, C);
        row(st, &a, "l2norm", "head", shape, ok, l2norm_f, F4 * (2.0 * NC * C + NC), l2norm_b,
            F4 * (4.0 * NC * C + NC), UNIT_BYTES);
    }
    {
        const int Ca = 512, Cb = 512;
        size_t n = (size_t)NC * (Ca + Cb);
        args a = {.be = be, .d = {NC, Ca, Cb}};
        int ok = be->op.concat_forward && be->op.concat_backward;
        if (ok) {
            a.f[0] = Z(&a, n), a.f[1] = R(&a, (size_t)NC * Ca), a.f[2] = R(&a, (size_t)NC * Cb);
            a.f[3] = R(&a, n), a.f[4] = Z(&a, (size_t)NC * Ca), a.f[5] = Z(&a, (size_t)NC * Cb);
        }
        snprintf(shape, sizeof shape, "%dx(%d+%d)", NC, Ca, Cb);
        row(st, &a, "concat", "head", shape, ok, concat_f, F4 * 2.0 * n, concat_b, F4 * 3.0 * n,
            UNIT_BYTES);
    }
    {
        const int M = B, N = NC, C = 1024;
        args a = {.be = be, .d = {M, N, C}};
        int ok = be->op.similarity_forward && be->op.similarity_backward;
        if (ok) {
            a.f[0] = Z(&a, (size_t)M * N), a.f[1] = R(&a, (size_t)M * C);
            a.f[2] = R(&a, (size_t)N * C), a.f[3] = Z(&a, 1), a.f[4] = R(&a, (size_t)M * N);
            a.f[5] = Z(&a, (size_t)M * C), a.f[6] = Z(&a, (size_t)N * C), a.f[7] = Z(&a, 1);
        }
        snprintf(shape, sizeof shape, "%dx%dx%d", M, N, C);
        double fl = 2.0 * M * N * C;
        row(st, &a, "similarity", "head", shape, ok, similarity_f, fl, similarity_b, 2 * fl,
            UNIT_FLOPS);
    }
    {
        const int N = B, V = NC;
        args a = {.be = be, .d = {N, V}};
        int ok = be->op.softmax_xent_forward && be->op.softmax_xent_backward;
        if (ok) {
            a.f[0] = Z(&a, N), a.f[1] = Z(&a, (size_t)N * V), a.f[2] = R(&a, (size_t)N * V);
            a.f[3] = R(&a, N), a.f[4] = Z(&a, (size_t)N * V), a.ix[0] = I(&a, N, V);
        }
        snprintf(shape, sizeof shape, "%dx%d", N, V);
        row(st, &a, "softmax_xent", "loss", shape, ok, xent_f, F4 * (2.0 * N * V + 2 * N), xent_b,
            F4 * (3.0 * N * V + 2 * N), UNIT_BYTES);
    }
    static const struct {
        const char *name;
        op_fn f, b;
    } lw[] = {{"listwise_rank", rank_f, rank_b},
              {"listnet", listnet_f, listnet_b},
              {"listmle", listmle_f, listmle_b}};
    for (int k = 0; k < 3; k++) {
        const int Q = B, L = 50;
        size_t n = (size_t)Q * L;
        args a = {.be = be, .d = {Q, L}, .s = {0.1f}};
        int ok = k == 0   ? be->op.listwise_rank_forward && be->op.listwise_rank_backward
                 : k == 1 ? be->op.listnet_forward && be->op.listnet_backward
                          : be->op.listmle_forward && be->op.listmle_backward;
        if (ok) a.f[0] = Z(&a, Q), a.f[1] = R(&a, n), a.f[2] = R(&a, n), a.f[3] = R(&a, Q), a.f[4] = Z(&a, n);
        snprintf(shape, sizeof shape, "Q%d L%d", Q, L);
        row(st, &a, lw[k].name, "loss", shape, ok, lw[k].f, F4 * (2.0 * n + Q), lw[k].b,
            F4 * (4.0 * n + Q), UNIT_BYTES);
    }
    {
        args a = {.be = be, .n = nparams};
        int ok = be->op.adamw_update != NULL;
        if (ok) a.f[0] = R(&a, nparams), a.f[1] = R(&a, nparams), a.f[2] = Z(&a, nparams), a.f[3] = Z(&a, nparams);
        snprintf(shape, sizeof shape, "%zu params", nparams);
        row(st, &a, "adamw_update", "optim", shape, ok, adamw_f, F4 * 7.0 * nparams, NULL, 0,
            UNIT_BYTES);
    }
    {
        args a = {.be = be, .n = nparams};
        int ok = be->op.sum_squares != NULL;
        if (ok) a.f[0] = Z(&a, 1), a.f[1] = R(&a, nparams);
        snprintf(shape, sizeof shape, "%zu", nparams);
        row(st, &a, "sum_squares", "optim", shape, ok, sumsq_f, F4 * (double)nparams, NULL, 0,
            UNIT_BYTES);
    }
    {
        args a = {.be = be, .n = nparams};
        int ok = be->op.scale != NULL;
        if (ok) a.f[0] = R(&a, nparams);
        snprintf(shape, sizeof shape, "%zu", nparams);
        row(st, &a, "scale", "optim", shape, ok, scale_f, F4 * 2.0 * nparams, NULL, 0,
            UNIT_BYTES);
    }
    {
        const int N = topk_rows, V = 100000, k = 64;
        args a = {.be = be, .d = {N, V, k}};
        int ok = be->op.topk_forward != NULL;
        if (ok) {
            a.f[0] = Z(&a, (size_t)N * k), a.f[1] = R(&a, (size_t)N * V);
            a.ix[0] = I(&a, (size_t)N * k, 1), a.ix[1] = I(&a, N, V);
        }
        snprintf(shape, sizeof shape, "%dx%d k%d", N, V, k);
        row(st, &a, "topk", "mining", shape, ok, topk_f, F4 * ((double)N * V + 2.0 * N * k + N),
            NULL, 0, UNIT_BYTES);
    }
}

/* ---- rooflines ------------------------------------------------------------------------ */

static void copy_op(const args *a) { a->be->copy(a->be, a->f[0], a->f[1], a->n * sizeof(float)); }

/* The cpu's copy with every OpenMP thread, each moving its slice with memmove (the backend's
 * copy is one thread's: the ops run on all of them, so alone it understated the ceiling). */
static void copy_threads_op(const args *a) {
    size_t bytes = a->n * sizeof(float);
#pragma omp parallel
    {
        size_t t = (size_t)omp_get_thread_num(), nt = (size_t)omp_get_num_threads();
        size_t lo = bytes * t / nt, hi = bytes * (t + 1) / nt;
        memmove((char *)a->f[0] + lo, (const char *)a->f[1] + lo, hi - lo);
    }
}

static void measure_rooflines(bench_state *st, drum_backend *be, int gpu, size_t copy_floats,
                              int gemm) {
    args a = {.be = be, .n = copy_floats};
    a.f[0] = Z(&a, copy_floats);
    a.f[1] = R(&a, copy_floats);
    double ms = drum_backend_ok(be) ? time_ms(&a, 1, copy_op, 4 * st->budget_s) : NAN;
    double bytes = 2.0 * F4 * copy_floats; /* read + write */
    st->copy_gbs = ms == ms ? bytes / (ms * 1e-3) / 1e9 : 0;
    if (!gpu) {
        double one = st->copy_gbs, all_ms = time_ms(&a, 1, copy_threads_op, 4 * st->budget_s);
        double all = bytes / (all_ms * 1e-3) / 1e9;
        if (all > st->copy_gbs) st->copy_gbs = all;
        printf("roofline copy: %zu MiB, one thread's memmove %.1f GB/s, %d threads' %.1f GB/s "
               "(read + write); the ceiling is the larger, %.1f GB/s\n",
               copy_floats * sizeof(float) >> 20, one, omp_get_max_threads(), all, st->copy_gbs);
    } else {
        printf("roofline copy: %zu MiB device-to-device, %.1f GB/s (read + write)\n",
               copy_floats * sizeof(float) >> 20, st->copy_gbs);
    }
    release(&a);
    if (!be->op.matmul_forward) {
        printf("roofline GEMM: skipped (matmul not in this build)\n");
        return;
    }
    args g = {.be = be, .d = {gemm, gemm, gemm}};
    size_t n = (size_t)gemm * gemm;
    g.f[0] = Z(&g, n), g.f[1] = R(&g, n), g.f[2] = R(&g, n), g.f[3] = NULL;
    ms = drum_backend_ok(be) ? time_ms(&g, 1, matmul_f, 4 * st->budget_s) : NAN;
    st->gemm_tfs = ms == ms ? 2.0 * n * gemm / (ms * 1e-3) / 1e12 : 0;
    release(&g);
    printf("roofline GEMM: %d^3 fp32 matmul_forward (TF32 %s), %.2f TFLOP/s\n", gemm,
           be->allow_tf32 ? "on" : "off", st->gemm_tfs);
    if (!drum_backend_ok(be)) {
        printf("ERROR measuring rooflines: %s\n", be->err);
        st->failed = 1;
        drum_backend_clear_error(be);
    }
}

int main(int argc, char **argv) {
    const char *name = argc > 1 ? argv[1] : "cpu";
    if (strcmp(name, "cpu") != 0 && strcmp(name, "cuda") != 0) {
        fprintf(stderr, "usage: bench_ops [cpu|cuda]\n");
        return 2;
    }
    char err[512];
    drum_backend *be = drum_backend_create(name, err, sizeof err);
    if (!be) {
        printf("bench_ops %s: not run: %s\n", name, err);
        return strcmp(name, "cuda") == 0 ? 0 : 1;
    }
    int gpu = be->kind == DRUM_BACKEND_CUDA;
    const int B = gpu ? 128 : 8;
    const size_t nparams = gpu ? 151277313 : ((size_t)1 << 24); /* CLIP ViT-B/32 on cuda */
    bench_state st = {.budget_s = gpu ? 0.15 : 0.1};
    host_rand_init();

    printf("bench_ops: backend %s, batch %d, median of up to %d repetitions, the calls cycling "
           "through copies of each case's buffers (%d MiB touched a cycle, within %d copies and "
           "%d MiB)",
           be->name, B, MAX_REPS, (int)(ROTATE_BYTES >> 20), MAX_COPIES,
           (int)(COPIES_BYTES >> 20));
    if (!gpu) /* what the cpu rows depend on (an audit found them unrecorded) */
        printf("; %d OpenMP threads, OpenBLAS's %s kernels", omp_get_max_threads(),
               drum_blas_core());
    printf("\n");
    measure_rooflines(&st, be, gpu, gpu ? (size_t)1 << 28 : (size_t)1 << 25, gpu ? 8192 : 1024);
    printf("%% of roofline: GB/s against the copy, TF/s against the GEMM\n\n");
    printf("%-14s %-9s %-28s %9s %12s %6s   %9s %12s %6s\n", "op", "config", "shape", "fwd ms",
           "rate", "%roof", "bwd ms", "rate", "%roof");
    for (size_t i = 0; i < sizeof MODELS / sizeof MODELS[0]; i++) bench_model(&st, be, &MODELS[i], B);
    bench_head(&st, be, B, nparams, gpu ? 1024 : 64);
    drum_backend_destroy(be);
    if (st.failed) printf("\nbench_ops: some ops FAILED (see ERROR lines)\n");
    return st.failed ? 1 : 0;
}
