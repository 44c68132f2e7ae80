/* listwise.c (cpu) — DRUM's rank term and the ListNet / ListMLE ablation losses (ops.h).
 * Each query row is computed by one thread, in float64, in a fixed order: rows never
 * share a sum, so the bytes do not depend on the number of threads. Absent candidates
 * (fb = -INFINITY) take no part in positions, pairs, softmaxes or orders, and get no
 * gradient. The O(L^2) loops are deliberate: L is a candidate list (tens), and counting
 * "how many come before me" needs no sort and no per-row allocation. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "common.h"

static int present(float f) { return f != -INFINITY; }

/* log(1 + exp(x)) without overflow. */
static double softplus(double x) { return fmax(x, 0.0) + log1p(exp(-fabs(x))); }

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

/* ip[i] = 1 / pi(i), pi the 1-based position of present candidate i in the sim-descending
 * order of the present candidates, ties by the lower index; 0 for absent ones. */
static void inverse_positions(double *ip, const float *s, const float *f, int L) {
    for (int i = 0; i < L; i++) {
        ip[i] = 0;
        if (!present(f[i])) continue;
        int before = 0;
        for (int j = 0; j < L; j++)
            if (present(f[j]) && (s[j] > s[i] || (s[j] == s[i] && j < i))) before++;
        ip[i] = 1.0 / (before + 1);
    }
}

static int check_sizes(drum_backend *be, const char *op, int Q, int L) {
    if (!drum_backend_ok(be)) return 0;
    if (Q < 0 || L < 0) {
        DRUM_FAIL(be, "%s: sizes must be >= 0 (got Q=%d, L=%d)", op, Q, L);
        return 0;
    }
    if ((size_t)Q * L >= SIZE_MAX / sizeof(double)) { /* row_scratch's bytes would wrap */
        DRUM_FAIL(be, "%s: Q=%d x L=%d candidates is more than memory can hold", op, Q, L);
        return 0;
    }
    return 1;
}

/* Q*L doubles of per-candidate scratch (the backend's), or NULL with the error recorded. */
static double *row_scratch(drum_backend *be, const char *op, int Q, int L) {
    return cpu_scratch(be, ((size_t)Q * L + 1) * sizeof(double), op);
}

void cpu_listwise_rank_forward(drum_backend *be, float *loss, const float *sim, const float *fb,
                               int Q, int L) {
    if (!check_sizes(be, "listwise_rank_forward", Q, L)) return;
    double *ipall = row_scratch(be, "listwise_rank_forward", Q, L);
    if (!ipall) return;
#pragma omp parallel for schedule(static)
    for (int q = 0; q < Q; q++) {
        const float *s = sim + (size_t)q * L, *f = fb + (size_t)q * L;
        double *ip = ipall + (size_t)q * L;
        inverse_positions(ip, s, f, L);
        double acc = 0;
        long npairs = 0;
        for (int i = 0; i < L; i++)
            for (int j = 0; j < L; j++) {
                if (!(present(f[j]) && f[i] > f[j])) continue;
                acc += fabs(ip[i] - ip[j]) * softplus((double)s[j] - s[i]);
                npairs++;
            }
        loss[q] = npairs ? (float)(acc / npairs) : 0.0f;
    }
}

void cpu_listwise_rank_backward(drum_backend *be, float *dsim, const float *dloss,
                                const float *sim, const float *fb, int Q, int L) {
    if (!dsim || !check_sizes(be, "listwise_rank_backward", Q, L)) return;
    double *ipall = row_scratch(be, "listwise_rank_backward", Q, L);
    if (!ipall) return;
#pragma omp parallel for schedule(static)
    for (int q = 0; q < Q; q++) {
        const float *s = sim + (size_t)q * L, *f = fb + (size_t)q * L;
        double *ip = ipall + (size_t)q * L;
        inverse_positions(ip, s, f, L);
        long npairs = 0;
        for (int i = 0; i < L; i++)
            for (int j = 0; j < L; j++) npairs += present(f[j]) && f[i] > f[j];
        if (npairs == 0) continue;
        double scale = (double)dloss[q] / npairs;
        /* pair (a, b), fb_a > fb_b: w * softplus(s_b - s_a); d/ds_a = -w sigmoid(s_b - s_a),
         * d/ds_b = +w sigmoid(s_b - s_a) */
        for (int i = 0; i < L; i++) {
            if (!present(f[i])) continue;
            double g = 0;
            for (int j = 0; j < L; j++) {
                if (present(f[j]) && f[i] > f[j])
                    g -= fabs(ip[i] - ip[j]) * sigmoid((double)s[j] - s[i]);
                else if (f[j] > f[i])
                    g += fabs(ip[j] - ip[i]) * sigmoid((double)s[i] - s[j]);
            }
            dsim[(size_t)q * L + i] += (float)(scale * g);
        }
    }
}

/* Log-softmax pieces of one row over its present candidates: the maxima and the
 * normalisers of fb/tau_t (target) and of sim (model). Returns the number present. */
static int listnet_row(const float *s, const float *f, int L, double tau_t, double *mf,
                       double *lzf, double *ms, double *lzs) {
    int n = 0;
    *mf = -INFINITY;
    *ms = -INFINITY;
    for (int i = 0; i < L; i++) {
        if (!present(f[i])) continue;
        n++;
        *mf = fmax(*mf, f[i] / tau_t);
        *ms = fmax(*ms, (double)s[i]);
    }
    double zf = 0, zs = 0;
    for (int i = 0; i < L; i++) {
        if (!present(f[i])) continue;
        zf += exp(f[i] / tau_t - *mf);
        zs += exp(s[i] - *ms);
    }
    *lzf = log(zf);
    *lzs = log(zs);
    return n;
}

static int check_tau(drum_backend *be, const char *op, float tau_t) {
    if (tau_t > 0 && isfinite(tau_t)) return 1;
    DRUM_FAIL(be, "%s: tau_t must be a positive finite number (got %g)", op, (double)tau_t);
    return 0;
}

void cpu_listnet_forward(drum_backend *be, float *loss, const float *sim, const float *fb,
                         int Q, int L, float tau_t) {
    if (!check_sizes(be, "listnet_forward", Q, L) || !check_tau(be, "listnet_forward", tau_t))
        return;
#pragma omp parallel for schedule(static)
    for (int q = 0; q < Q; q++) {
        const float *s = sim + (size_t)q * L, *f = fb + (size_t)q * L;
        double mf, lzf, ms, lzs, kl = 0;
        if (listnet_row(s, f, L, tau_t, &mf, &lzf, &ms, &lzs)) {
            for (int i = 0; i < L; i++) {
                if (!present(f[i])) continue;
                double lp = f[i] / (double)tau_t - mf - lzf, lq = s[i] - ms - lzs;
                kl += exp(lp) * (lp - lq);
            }
        }
        loss[q] = (float)kl;
    }
}

void cpu_listnet_backward(drum_backend *be, float *dsim, const float *dloss, const float *sim,
                          const float *fb, int Q, int L, float tau_t) {
    if (!dsim || !check_sizes(be, "listnet_backward", Q, L) ||
        !check_tau(be, "listnet_backward", tau_t))
        return;
#pragma omp parallel for schedule(static)
    for (int q = 0; q < Q; q++) {
        const float *s = sim + (size_t)q * L, *f = fb + (size_t)q * L;
        double mf, lzf, ms, lzs;
        if (!listnet_row(s, f, L, tau_t, &mf, &lzf, &ms, &lzs)) continue;
        for (int i = 0; i < L; i++) {
            if (!present(f[i])) continue;
            double p = exp(f[i] / (double)tau_t - mf - lzf), qm = exp(s[i] - ms - lzs);
            dsim[(size_t)q * L + i] += (float)(dloss[q] * (qm - p));
        }
    }
}

/* 1 when present candidate j comes at or after candidate i in the fb-descending order
 * (ties by the lower index first): j belongs to the Plackett-Luce suffix that starts at i. */
static int in_suffix(const float *f, int i, int j) {
    return j == i || (present(f[j]) && (f[j] < f[i] || (f[j] == f[i] && j > i)));
}

/* lse[i] = log sum over the suffix starting at present candidate i of exp(sim). */
static void suffix_lse(double *lse, const float *s, const float *f, int L) {
    for (int i = 0; i < L; i++) {
        lse[i] = 0;
        if (!present(f[i])) continue;
        double m = -INFINITY, z = 0;
        for (int j = 0; j < L; j++)
            if (in_suffix(f, i, j)) m = fmax(m, (double)s[j]);
        for (int j = 0; j < L; j++)
            if (in_suffix(f, i, j)) z += exp(s[j] - m);
        lse[i] = m + log(z);
    }
}

void cpu_listmle_forward(drum_backend *be, float *loss, const float *sim, const float *fb,
                         int Q, int L) {
    if (!check_sizes(be, "listmle_forward", Q, L)) return;
    double *lseall = row_scratch(be, "listmle_forward", Q, L);
    if (!lseall) return;
#pragma omp parallel for schedule(static)
    for (int q = 0; q < Q; q++) {
        const float *s = sim + (size_t)q * L, *f = fb + (size_t)q * L;
        double *lse = lseall + (size_t)q * L, acc = 0;
        suffix_lse(lse, s, f, L);
        for (int i = 0; i < L; i++)
            if (present(f[i])) acc += lse[i] - s[i];
        loss[q] = (float)acc;
    }
}

void cpu_listmle_backward(drum_backend *be, float *dsim, const float *dloss, const float *sim,
                          const float *fb, int Q, int L) {
    if (!dsim || !check_sizes(be, "listmle_backward", Q, L)) return;
    double *lseall = row_scratch(be, "listmle_backward", Q, L);
    if (!lseall) return;
#pragma omp parallel for schedule(static)
    for (int q = 0; q < Q; q++) {
        const float *s = sim + (size_t)q * L, *f = fb + (size_t)q * L;
        double *lse = lseall + (size_t)q * L;
        suffix_lse(lse, s, f, L);
        /* d/ds_j = -1 + sum over the suffixes i that contain j of softmax_i(j) */
        for (int j = 0; j < L; j++) {
            if (!present(f[j])) continue;
            double g = -1;
            for (int i = 0; i < L; i++)
                if (present(f[i]) && in_suffix(f, i, j)) g += exp(s[j] - lse[i]);
            dsim[(size_t)q * L + j] += (float)(dloss[q] * g);
        }
    }
}
