/* harness.c — runs op cases: float64 reference, finite differences, determinism, and
 * cuda-against-cpu. See harness.h for the procedure. */
#include "harness.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "../common/check.h"

static int declare(opc *c, const char *name, tkind kind, size_t n, float lo, float hi, int ilo,
                   int ihi) {
    if (c->nt >= HARNESS_MAX_TENSORS) {
        fprintf(stderr, "harness: case %s declares too many tensors\n", c->oc->name);
        abort();
    }
    ttensor *t = &c->t[c->nt];
    memset(t, 0, sizeof *t);
    t->name = name;
    t->kind = kind;
    t->n = n;
    t->lo = lo;
    t->hi = hi;
    t->ilo = ilo;
    t->ihi = ihi;
    return c->nt++;
}

int t_in(opc *c, const char *name, size_t n, float lo, float hi) {
    return declare(c, name, T_IN, n, lo, hi, 0, 0);
}
int t_in_const(opc *c, const char *name, size_t n, float lo, float hi) {
    return declare(c, name, T_IN_CONST, n, lo, hi, 0, 0);
}
int t_in_int(opc *c, const char *name, size_t n, int lo, int hi) {
    return declare(c, name, T_IN_INT, n, 0, 0, lo, hi);
}
int t_inout(opc *c, const char *name, size_t n, float lo, float hi) {
    return declare(c, name, T_INOUT, n, lo, hi, 0, 0);
}
int t_out(opc *c, const char *name, size_t n) { return declare(c, name, T_OUT, n, 0, 0, 0, 0); }
int t_out_aux(opc *c, const char *name, size_t n) {
    return declare(c, name, T_OUT_AUX, n, 0, 0, 0, 0);
}
int t_out_int(opc *c, const char *name, size_t n) {
    return declare(c, name, T_OUT_INT, n, 0, 0, 0, 0);
}
int t_scratch(opc *c, const char *name, size_t n) {
    return declare(c, name, T_SCRATCH, n, 0, 0, 0, 0);
}

static int is_int(const ttensor *t) { return t->kind == T_IN_INT || t->kind == T_OUT_INT; }
static int is_input(const ttensor *t) {
    return t->kind == T_IN || t->kind == T_IN_CONST || t->kind == T_IN_INT || t->kind == T_INOUT;
}
static int is_compared(const ttensor *t) {
    return t->kind == T_OUT || t->kind == T_OUT_AUX || t->kind == T_OUT_INT || t->kind == T_INOUT;
}

static void *xcalloc(size_t n, size_t sz) {
    void *p = calloc(n ? n : 1, sz);
    if (!p) {
        fprintf(stderr, "harness: out of memory\n");
        abort();
    }
    return p;
}

/* Host arrays and fresh random data: inputs, upstream gradients, initial gradients. */
static void host_init(opc *c, test_rng *rng) {
    for (int i = 0; i < c->nt; i++) {
        ttensor *t = &c->t[i];
        if (is_int(t)) {
            t->ih = xcalloc(t->n, sizeof(int));
            t->iref = xcalloc(t->n, sizeof(int));
            if (t->kind == T_IN_INT)
                for (size_t k = 0; k < t->n; k++) t->ih[k] = test_rng_int(rng, t->ilo, t->ihi);
        } else {
            t->h = xcalloc(t->n, sizeof(float));
            if (is_input(t))
                for (size_t k = 0; k < t->n; k++) t->h[k] = test_rng_uniform(rng, t->lo, t->hi);
        }
        t->d = xcalloc(t->n, sizeof(double));
        if (t->kind == T_IN) {
            t->g0 = xcalloc(t->n, sizeof(float));
            t->g = xcalloc(t->n, sizeof(float));
            for (size_t k = 0; k < t->n; k++) t->g0[k] = test_rng_uniform(rng, -0.5f, 0.5f);
        }
        if (t->kind == T_OUT) {
            t->dout = xcalloc(t->n, sizeof(float));
            for (size_t k = 0; k < t->n; k++) t->dout[k] = test_rng_uniform(rng, -1.0f, 1.0f);
        }
    }
}

static void host_free(opc *c) {
    for (int i = 0; i < c->nt; i++) {
        ttensor *t = &c->t[i];
        free(t->h);
        free(t->ih);
        free(t->d);
        free(t->iref);
        free(t->dout);
        free(t->g0);
        free(t->g);
    }
}

/* Results of one run on one backend: every compared tensor and every gradient. */
typedef struct {
    float *val[HARNESS_MAX_TENSORS];
    int *ival[HARNESS_MAX_TENSORS];
    float *grad[HARNESS_MAX_TENSORS];
} run_result;

static void result_free(opc *c, run_result *r) {
    for (int i = 0; i < c->nt; i++) {
        free(r->val[i]);
        free(r->ival[i]);
        free(r->grad[i]);
    }
    memset(r, 0, sizeof *r);
}

static void *upload(drum_backend *be, const void *src, size_t bytes) {
    void *p = be->alloc(be, bytes);
    if (p && src) be->to_device(be, p, src, bytes);
    return p;
}

/* Forward (and backward when present) on `be`; outputs start as NaN so unwritten
 * elements fail. Returns 0 when the backend recorded an error. */
static int run_on(opc *c, drum_backend *be, run_result *r) {
    memset(r, 0, sizeof *r);
    size_t maxn = 1;
    for (int i = 0; i < c->nt; i++)
        if (c->t[i].n > maxn) maxn = c->t[i].n;
    float *nan = xcalloc(maxn, sizeof(float));
    for (size_t k = 0; k < maxn; k++) nan[k] = NAN;

    for (int i = 0; i < c->nt; i++) {
        ttensor *t = &c->t[i];
        size_t bytes = t->n * (is_int(t) ? sizeof(int) : sizeof(float));
        if (t->kind == T_OUT_INT) {
            int *neg = xcalloc(t->n, sizeof(int));
            for (size_t k = 0; k < t->n; k++) neg[k] = -7;
            t->dev = upload(be, neg, bytes);
            free(neg);
        } else if (is_input(t)) {
            t->dev = upload(be, is_int(t) ? (void *)t->ih : (void *)t->h, bytes);
        } else {
            t->dev = upload(be, nan, bytes);
        }
        t->dev_grad = t->kind == T_IN ? upload(be, t->g0, bytes) : NULL;
        t->dev_dout = t->kind == T_OUT ? upload(be, t->dout, bytes) : NULL;
    }
    free(nan);
    if (drum_backend_ok(be)) c->oc->forward(c, be);
    for (int i = 0; i < c->nt; i++) {
        ttensor *t = &c->t[i];
        if (!is_compared(t)) continue;
        if (is_int(t)) {
            r->ival[i] = xcalloc(t->n, sizeof(int));
            be->to_host(be, r->ival[i], t->dev, t->n * sizeof(int));
        } else {
            r->val[i] = xcalloc(t->n, sizeof(float));
            be->to_host(be, r->val[i], t->dev, t->n * sizeof(float));
        }
    }
    if (c->oc->backward && drum_backend_ok(be)) {
        c->oc->backward(c, be);
        for (int i = 0; i < c->nt; i++) {
            ttensor *t = &c->t[i];
            if (t->kind != T_IN) continue;
            r->grad[i] = xcalloc(t->n, sizeof(float));
            be->to_host(be, r->grad[i], t->dev_grad, t->n * sizeof(float));
        }
    }
    be->synchronize(be);
    for (int i = 0; i < c->nt; i++) {
        ttensor *t = &c->t[i];
        be->free(be, t->dev);
        be->free(be, t->dev_grad);
        be->free(be, t->dev_dout);
        t->dev = t->dev_grad = t->dev_dout = NULL;
    }
    return drum_backend_ok(be);
}

/* max over k of |got - ref| / (atol * max|ref| + rtol * |ref|): <= 1 passes. NaN -> inf. */
static double err_ratio(const float *got, const double *ref, size_t n, double rtol, double atol,
                        double *rel_out) {
    double maxref = 0;
    for (size_t k = 0; k < n; k++) maxref = fmax(maxref, fabs(ref[k]));
    double worst = 0, absmax = 0;
    for (size_t k = 0; k < n; k++) {
        double diff = fabs((double)got[k] - ref[k]);
        if (!(diff == diff) || isinf(got[k])) {
            worst = INFINITY;
            absmax = INFINITY;
            break;
        }
        double allow = atol * maxref + rtol * fabs(ref[k]);
        if (allow == 0) allow = 1e-30;
        worst = fmax(worst, diff / allow);
        absmax = fmax(absmax, diff);
    }
    if (rel_out) *rel_out = maxref > 0 ? absmax / maxref : absmax;
    return worst;
}

static void reference_inputs(opc *c) {
    for (int i = 0; i < c->nt; i++) {
        ttensor *t = &c->t[i];
        if (!is_input(t) || is_int(t)) continue;
        for (size_t k = 0; k < t->n; k++) t->d[k] = t->h[k];
    }
}

static double reference_loss(opc *c) {
    c->oc->reference(c);
    double L = 0;
    for (int i = 0; i < c->nt; i++) {
        ttensor *t = &c->t[i];
        if (t->kind != T_OUT) continue;
        for (size_t k = 0; k < t->n; k++) L += (double)t->dout[k] * t->d[k];
    }
    return L;
}

/* The outputs' float64 values, all T_OUT tensors one after another, into buf (NULL: their
 * count); returns the count. */
static size_t save_outputs(const opc *c, double *buf) {
    size_t at = 0;
    for (int i = 0; i < c->nt; i++)
        if (c->t[i].kind == T_OUT) {
            if (buf) memcpy(buf + at, c->t[i].d, c->t[i].n * sizeof(double));
            at += c->t[i].n;
        }
    return at;
}

/* sum_k |dout_k (before_k - out_k)|: the loss's change as a sum of unsigned terms */
static double unsigned_change(const opc *c, const double *before) {
    double sum = 0;
    size_t at = 0;
    for (int i = 0; i < c->nt; i++)
        if (c->t[i].kind == T_OUT)
            for (size_t k = 0; k < c->t[i].n; k++, at++)
                sum += fabs((double)c->t[i].dout[k] * (before[at] - c->t[i].d[k]));
    return sum;
}

/* Compares backward's accumulated gradient with central differences of the float64
 * forward; returns the worst max|delta - fd| / max(max|fd|, 1e-3 max mag) over inputs (inf on
 * NaN), where mag is the central difference's unsigned counterpart, sum_k |dout_k d out_k|:
 * a gradient that is a long signed sum (log_scale's, over every logit) can cancel to far
 * below its terms, and float32 rounding is relative to the terms. The floor only acts there:
 * a random signed sum of N terms keeps |fd| near mag / sqrt(N), above 1e-3 mag for N up to a
 * million. */
static double check_gradients(opc *c, run_result *r, test_rng *rng) {
    const op_case *oc = c->oc;
    double worst = 0;
    double *plus = xcalloc(save_outputs(c, NULL) + 1, sizeof(double));
    for (int i = 0; i < c->nt; i++) {
        ttensor *t = &c->t[i];
        if (t->kind != T_IN) continue;
        for (size_t k = 0; k < t->n; k++) {
            float delta = r->grad[i][k] - t->g0[k];
            if (!isfinite(delta)) {
                free(plus);
                return INFINITY;
            }
        }
        size_t ns = oc->fd_samples ? (size_t)oc->fd_samples : (t->n <= 96 ? t->n : 96);
        int all = ns >= t->n;
        if (all) ns = t->n;
        double maxfd = 0, maxdiff = 0, maxmag = 0;
        for (size_t s = 0; s < ns; s++) {
            size_t k = all ? s : (size_t)(test_rng_u32(rng) % t->n);
            double x = t->d[k], h = 1e-4 * fmax(1.0, fabs(x));
            t->d[k] = x + h;
            double Lp = reference_loss(c);
            save_outputs(c, plus);
            t->d[k] = x - h;
            double Lm = reference_loss(c);
            t->d[k] = x;
            double fd = (Lp - Lm) / (2 * h);
            double got = (double)r->grad[i][k] - (double)t->g0[k];
            maxfd = fmax(maxfd, fabs(fd));
            maxmag = fmax(maxmag, unsigned_change(c, plus) / (2 * h));
            maxdiff = fmax(maxdiff, fabs(got - fd));
        }
        double e = maxdiff / fmax(fmax(maxfd, 1e-3 * maxmag), 1e-6);
        if (e > worst) worst = e;
    }
    free(plus);
    c->oc->reference(c);
    return worst;
}

static int results_identical(opc *c, const run_result *a, const run_result *b) {
    for (int i = 0; i < c->nt; i++) {
        size_t n = c->t[i].n;
        if (a->val[i] && memcmp(a->val[i], b->val[i], n * sizeof(float))) return 0;
        if (a->ival[i] && memcmp(a->ival[i], b->ival[i], n * sizeof(int))) return 0;
        if (a->grad[i] && memcmp(a->grad[i], b->grad[i], n * sizeof(float))) return 0;
    }
    return 1;
}

/* cuda against cpu: every compared tensor and gradient, tolerance 10x the case's. */
static double compare_backends(opc *c, const run_result *got, const run_result *want) {
    const op_case *oc = c->oc;
    double rtol = 10 * (oc->rtol ? oc->rtol : 1e-5), atol = 10 * (oc->atol ? oc->atol : 1e-5);
    double worst = 0;
    for (int i = 0; i < c->nt; i++) {
        size_t n = c->t[i].n;
        if (want->ival[i]) {
            for (size_t k = 0; k < n; k++)
                if (want->ival[i][k] != got->ival[i][k]) return INFINITY;
        }
        const float *pairs[2][2] = {{got->val[i], want->val[i]}, {got->grad[i], want->grad[i]}};
        for (int p = 0; p < 2; p++) {
            if (!pairs[p][1]) continue;
            double *ref = xcalloc(n, sizeof(double));
            for (size_t k = 0; k < n; k++) ref[k] = pairs[p][1][k];
            double e = err_ratio(pairs[p][0], ref, n, rtol, atol, NULL);
            free(ref);
            if (e > worst) worst = e;
        }
    }
    return worst;
}

void harness_run(const op_case *oc, drum_backend *be, drum_backend *cpu, int blas,
                 unsigned long long seed) {
    opc c;
    memset(&c, 0, sizeof c);
    c.oc = oc;
    oc->setup(&c);
    test_rng rng;
    test_rng_seed(&rng, seed);
    host_init(&c, &rng);
    const char *bn = be->name;

    run_result r1, r2;
    if (!run_on(&c, be, &r1)) {
        CHECK(0, "%s on %s: backend error: %s", oc->name, bn, be->err);
        drum_backend_clear_error(be);
        result_free(&c, &r1);
        host_free(&c);
        return;
    }
    char line[512];
    int off = snprintf(line, sizeof line, "%-28s %-4s", oc->name, bn);
    if (be == cpu) {
        double rtol = oc->rtol ? oc->rtol : 1e-5, atol = oc->atol ? oc->atol : 1e-5;
        reference_inputs(&c);
        oc->reference(&c);
        double worst = 0, rel = 0, worst_rel = 0;
        int int_ok = 1;
        for (int i = 0; i < c.nt; i++) {
            ttensor *t = &c.t[i];
            if (!is_compared(t)) continue;
            if (is_int(t)) {
                for (size_t k = 0; k < t->n; k++)
                    if (r1.ival[i][k] != t->iref[k]) int_ok = 0;
                continue;
            }
            double e = err_ratio(r1.val[i], t->d, t->n, rtol, atol, &rel);
            CHECK(e <= 1.0, "%s: forward output '%s' off the float64 reference: max rel err %.3g "
                  "(tolerance ratio %.3g)", oc->name, t->name, rel, e);
            worst = fmax(worst, e);
            worst_rel = fmax(worst_rel, rel);
        }
        CHECK(int_ok, "%s: integer output differs from the reference", oc->name);
        off += snprintf(line + off, sizeof line - (size_t)off, "  fwd %.1e", worst_rel);
        if (oc->backward) {
            double gtol = oc->gtol ? oc->gtol : 2e-3;
            double ge = check_gradients(&c, &r1, &rng);
            CHECK(ge <= gtol, "%s: backward off finite differences: max err %.3g (tol %.1g)",
                  oc->name, ge, gtol);
            off += snprintf(line + off, sizeof line - (size_t)off, "  bwd %.1e", ge);
        }
    } else {
        run_result rc;
        if (!run_on(&c, cpu, &rc)) {
            CHECK(0, "%s on cpu: backend error: %s", oc->name, cpu->err);
            drum_backend_clear_error(cpu);
        } else {
            double e = compare_backends(&c, &r1, &rc);
            CHECK(e <= 1.0, "%s: %s differs from cpu (tolerance ratio %.3g)", oc->name, bn, e);
            off += snprintf(line + off, sizeof line - (size_t)off, "  vs cpu %.2g", e);
        }
        result_free(&c, &rc);
    }
    /* the rerun: on cpu with another thread count unless a BLAS GEMM computes the op */
    int threads = omp_get_max_threads();
    int other = be == cpu && !blas ? (threads == 1 ? 3 : 1) : 0;
    if (other) omp_set_num_threads(other);
    int rerun = run_on(&c, be, &r2);
    if (other) omp_set_num_threads(threads);
    if (rerun) {
        int same = results_identical(&c, &r1, &r2);
        CHECK(same, "%s on %s: two runs gave different bytes%s", oc->name, bn,
              other ? " (the second on another thread count)" : "");
        snprintf(line + off, sizeof line - (size_t)off, "  det%s %s", other ? "+threads" : "",
                 same ? "ok" : "DIFF");
    }
    printf("%s\n", line);
    result_free(&c, &r1);
    result_free(&c, &r2);
    host_free(&c);
}
