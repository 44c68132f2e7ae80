/* listwise cases (rank term, ListNet, ListMLE): dim = {Q, L, pad_pct, flags, loss}, fp = {tau_t}.
 *
 * The harness draws inputs uniformly; a list-wise loss needs structure instead, so every
 * case builds the op's real inputs from the drawn ones (build_inputs, shared by the forward
 * and the float64 reference) into two scratch tensors:
 *   sim = a per-row shuffled grid (step SIM_STEP) + the drawn noise (|noise| < SIM_NOISE):
 *         finite differences (h = 1e-4) never reorder sims, and d sim / d noise = 1, so the
 *         op's dsim is exactly the gradient the harness checks on the noise tensor;
 *   fb  = -INFINITY (padding) for a drawn value below pad_pct/100, else one of FB_LEVELS
 *         levels, so feedback ties (excluded pairs, index-ordered ListMLE) are common.
 * F_SPECIAL rows: row 0 all padding, row 1 a single present candidate, row 2 all feedback
 * tied; each must give loss 0 and no gradient. F_TIES draws no noise and halves the grid,
 * so sims tie exactly and positions fall back to the index (forward only). F_BADARGS first
 * calls the op with an invalid argument and requires a recorded error. */
#include <math.h>
#include <stdlib.h>

#include "harness.h"

enum { LOSS, SIM, FB, SIMX, FBX };
enum { K_RANK, K_LISTNET, K_LISTMLE };
enum { F_SPECIAL = 1, F_TIES = 2, F_BADARGS = 4 };

#define SIM_STEP 0.25
#define SIM_NOISE 0.05f
#define FB_LEVELS 8

static void setup(opc *c) {
    size_t n = (size_t)DIM(c, 0) * DIM(c, 1);
    float noise = DIM(c, 3) & F_TIES ? 0.0f : SIM_NOISE;
    t_out(c, "loss", (size_t)DIM(c, 0));
    t_in(c, "sim_noise", n, -noise, noise);
    t_in_const(c, "fb_draw", n, 0.0f, 1.0f);
    t_scratch(c, "sim", n);
    t_scratch(c, "fb", n);
}

/* The real (sim, fb) of every row from the drawn (noise, u), in float64. */
static void build_inputs(const opc *c, const double *noise, const double *u, double *sim,
                         double *fb) {
    int Q = DIM(c, 0), L = DIM(c, 1), flags = DIM(c, 3);
    double pad = DIM(c, 2) / 100.0;
    for (int q = 0; q < Q; q++) {
        double *s = sim + (size_t)q * L, *f = fb + (size_t)q * L;
        unsigned long long st = 0x9e3779b97f4a7c15ULL * (unsigned long long)(q + 1);
        for (int i = 0; i < L; i++) s[i] = flags & F_TIES ? i / 2 : i;
        for (int i = L - 1; i > 0; i--) { /* Fisher-Yates with a fixed per-row LCG */
            st = st * 6364136223846793005ULL + 1442695040888963407ULL;
            int j = (int)((st >> 33) % (unsigned long long)(i + 1));
            double t = s[i];
            s[i] = s[j];
            s[j] = t;
        }
        for (int i = 0; i < L; i++) {
            size_t k = (size_t)q * L + i;
            s[i] = SIM_STEP * (s[i] - L / 2) + noise[k];
            double v = u[k];
            f[i] = v < pad ? -INFINITY : 0.5 * floor((v - pad) / (1 - pad) * FB_LEVELS) - 2.0;
            if (flags & F_SPECIAL) {
                if (q == 0 || (q == 1 && i != 3)) f[i] = -INFINITY;
                if ((q == 1 && i == 3) || q == 2) f[i] = 1.0;
            }
        }
    }
}

/* Builds the op's inputs from the drawn tensors into the scratch tensors. */
static void prepare(opc *c, drum_backend *be) {
    size_t n = (size_t)DIM(c, 0) * DIM(c, 1);
    float *hs = malloc((n + 1) * sizeof(float)), *hf = malloc((n + 1) * sizeof(float));
    double *buf = calloc(4 * n + 1, sizeof(double));
    if (!hs || !hf || !buf) abort();
    be->to_host(be, hs, DEV(c, SIM), n * sizeof(float));
    be->to_host(be, hf, DEV(c, FB), n * sizeof(float));
    for (size_t k = 0; k < n; k++) {
        buf[k] = hs[k];
        buf[n + k] = hf[k];
    }
    build_inputs(c, buf, buf + n, buf + 2 * n, buf + 3 * n);
    for (size_t k = 0; k < n; k++) {
        hs[k] = (float)buf[2 * n + k];
        hf[k] = (float)buf[3 * n + k];
    }
    be->to_device(be, DEV(c, SIMX), hs, n * sizeof(float));
    be->to_device(be, DEV(c, FBX), hf, n * sizeof(float));
    free(hs);
    free(hf);
    free(buf);
}

static void run_forward(opc *c, drum_backend *be, int Q, float tau_t) {
    int L = DIM(c, 1);
    if (DIM(c, 4) == K_RANK)
        be->op.listwise_rank_forward(be, DEV(c, LOSS), DEV(c, SIMX), DEV(c, FBX), Q, L);
    else if (DIM(c, 4) == K_LISTNET)
        be->op.listnet_forward(be, DEV(c, LOSS), DEV(c, SIMX), DEV(c, FBX), Q, L, tau_t);
    else
        be->op.listmle_forward(be, DEV(c, LOSS), DEV(c, SIMX), DEV(c, FBX), Q, L);
}

static void forward(opc *c, drum_backend *be) {
    prepare(c, be);
    if (DIM(c, 3) & F_BADARGS) {
        /* a negative size, or (ListNet) a zero temperature, must be refused */
        int listnet = DIM(c, 4) == K_LISTNET;
        run_forward(c, be, listnet ? DIM(c, 0) : -1, listnet ? 0.0f : (float)FPARAM(c, 0));
        if (drum_backend_ok(be)) return; /* leaves the NaN-poisoned loss: the case fails */
        drum_backend_clear_error(be);
    }
    run_forward(c, be, DIM(c, 0), (float)FPARAM(c, 0));
}

static void backward(opc *c, drum_backend *be) {
    int Q = DIM(c, 0), L = DIM(c, 1);
    if (DIM(c, 4) == K_RANK)
        be->op.listwise_rank_backward(be, GRAD(c, SIM), DOUT(c, LOSS), DEV(c, SIMX), DEV(c, FBX),
                                      Q, L);
    else if (DIM(c, 4) == K_LISTNET)
        be->op.listnet_backward(be, GRAD(c, SIM), DOUT(c, LOSS), DEV(c, SIMX), DEV(c, FBX), Q, L,
                                (float)FPARAM(c, 0));
    else
        be->op.listmle_backward(be, GRAD(c, SIM), DOUT(c, LOSS), DEV(c, SIMX), DEV(c, FBX), Q, L);
}

typedef struct {
    double key;
    int i;
} keyed;

/* descending key, ties by the lower index */
static int cmp_desc(const void *pa, const void *pb) {
    const keyed *a = pa, *b = pb;
    if (a->key != b->key) return a->key > b->key ? -1 : 1;
    return a->i - b->i;
}

/* The present candidates of a row sorted by `key` descending (ties by index); returns how
 * many. */
static int sorted_present(keyed *out, const double *key, const double *f, int L) {
    int n = 0;
    for (int i = 0; i < L; i++)
        if (f[i] != -INFINITY) out[n++] = (keyed){key[i], i};
    qsort(out, (size_t)n, sizeof *out, cmp_desc);
    return n;
}

static double ref_rank(const double *s, const double *f, int L, keyed *tmp, double *pos) {
    int n = sorted_present(tmp, s, f, L);
    for (int r = 0; r < n; r++) pos[tmp[r].i] = r + 1;
    double acc = 0;
    long pairs = 0;
    for (int a = 0; a < n; a++)
        for (int b = 0; b < n; b++) {
            int i = tmp[a].i, j = tmp[b].i;
            if (!(f[i] > f[j])) continue;
            double x = -(s[i] - s[j]);
            acc += fabs(1 / pos[i] - 1 / pos[j]) * (x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)));
            pairs++;
        }
    return pairs ? acc / pairs : 0;
}

static double ref_listnet(const double *s, const double *f, int L, double tau) {
    double mf = -INFINITY, ms = -INFINITY, zf = 0, zs = 0, kl = 0;
    for (int i = 0; i < L; i++)
        if (f[i] != -INFINITY) {
            mf = fmax(mf, f[i] / tau);
            ms = fmax(ms, s[i]);
        }
    if (mf == -INFINITY) return 0;
    for (int i = 0; i < L; i++)
        if (f[i] != -INFINITY) {
            zf += exp(f[i] / tau - mf);
            zs += exp(s[i] - ms);
        }
    for (int i = 0; i < L; i++)
        if (f[i] != -INFINITY) {
            double lp = f[i] / tau - mf - log(zf), lq = s[i] - ms - log(zs);
            kl += exp(lp) * (lp - lq);
        }
    return kl;
}

/* -log Plackett-Luce: walk the fb order from the end, carrying log sum exp of the suffix. */
static double ref_listmle(const double *s, const double *f, int L, keyed *tmp) {
    int n = sorted_present(tmp, f, f, L);
    double lse = -INFINITY, acc = 0;
    for (int r = n - 1; r >= 0; r--) {
        double x = s[tmp[r].i], m = fmax(lse, x);
        lse = m + log(exp(lse - m) + exp(x - m));
        acc += lse - x;
    }
    return acc;
}

static void reference(opc *c) {
    int Q = DIM(c, 0), L = DIM(c, 1);
    size_t n = (size_t)Q * L;
    double *sim = malloc((2 * n + L + 1) * sizeof(double));
    keyed *tmp = malloc(((size_t)L + 1) * sizeof(keyed));
    if (!sim || !tmp) abort();
    double *fb = sim + n, *pos = fb + n;
    build_inputs(c, REF(c, SIM), REF(c, FB), sim, fb);
    for (int q = 0; q < Q; q++) {
        const double *s = sim + (size_t)q * L, *f = fb + (size_t)q * L;
        double v;
        if (DIM(c, 4) == K_RANK)
            v = ref_rank(s, f, L, tmp, pos);
        else if (DIM(c, 4) == K_LISTNET)
            v = ref_listnet(s, f, L, FPARAM(c, 0));
        else
            v = ref_listmle(s, f, L, tmp);
        REF(c, LOSS)[q] = v;
    }
    free(sim);
    free(tmp);
}

#define ROW(name, kind, Q, L, pad, flags, tau, samples)                                      \
    {name, {Q, L, pad, flags, kind}, {tau}, setup, forward, (flags) & F_TIES ? NULL : backward, \
     reference, 1e-5, 1e-5, 0, samples}
OP_CASES(listwise,
         ROW("listwise_rank/odd", K_RANK, 5, 7, 25, F_SPECIAL | F_BADARGS, 0, 0),
         ROW("listwise_rank/sim-ties", K_RANK, 6, 9, 20, F_TIES, 0, 0),
         ROW("listwise_rank/realistic", K_RANK, 512, 50, 10, 0, 0, 8),
         ROW("listnet/odd", K_LISTNET, 5, 7, 25, F_SPECIAL | F_BADARGS, 0.5, 0),
         ROW("listnet/realistic", K_LISTNET, 512, 50, 10, 0, 0.1, 8),
         ROW("listmle/odd", K_LISTMLE, 5, 7, 25, F_SPECIAL | F_BADARGS, 0, 0),
         ROW("listmle/sim-ties", K_LISTMLE, 6, 9, 20, F_TIES, 0, 0),
         ROW("listmle/realistic", K_LISTMLE, 512, 50, 10, 0, 0, 8),
         /* L past the rank term's 46340: ListNet and ListMLE take any L. 95% padding and
          * ListNet's tau_t 10 (a target spread over the present candidates) keep the sampled
          * gradients (~1/present) well above the central differences' noise over a row whose
          * loss sums thousands of terms (at 10% padding and tau_t 0.1 the noise was 5e-3) */
         ROW("listnet/long", K_LISTNET, 2, 46341, 95, 0, 10, 64),
         ROW("listmle/long", K_LISTMLE, 2, 46341, 95, 0, 0, 64));
