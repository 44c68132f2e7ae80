/* test_listwise_fixture — DRUM's rank term against PyTorch autograd.
 * tests/fixtures/listwise_rank.txt (written by tools/gen_listwise_fixture.py) holds inputs
 * with padding and ties, the float64 loss per row and d(sum dloss * loss)/dsim. The cpu
 * backend (and cuda when a GPU is present) must agree to 1e-5 relative; the backward must
 * add to what the gradient buffer held. A truncated or corrupt fixture must be refused. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "drum/backend.h"

#define FIXTURE "tests/fixtures/listwise_rank.txt"

typedef struct {
    int Q, L;
    float *sim, *fb, *dloss;
    double *loss, *dsim;
} fixture;

/* Reads n numbers ("-inf" allowed) as doubles; 0 on a missing or malformed token. */
static int read_numbers(FILE *f, double *out, size_t n) {
    char tok[64];
    for (size_t i = 0; i < n; i++) {
        if (fscanf(f, "%63s", tok) != 1) return 0;
        char *end;
        out[i] = strtod(tok, &end);
        if (*end != '\0' || end == tok) return 0;
    }
    return 1;
}

static void fixture_free(fixture *fx) {
    free(fx->sim);
    free(fx->fb);
    free(fx->dloss);
    free(fx->loss);
    free(fx->dsim);
    memset(fx, 0, sizeof *fx);
}

/* Parses a fixture; 0 (with a message in err) when the stream is not a complete one. */
static int fixture_read(FILE *f, fixture *fx, char *err, size_t errlen) {
    memset(fx, 0, sizeof *fx);
    int ch;
    while ((ch = fgetc(f)) == '#')
        while ((ch = fgetc(f)) != '\n' && ch != EOF) {
        }
    if (ch != EOF) ungetc(ch, f);
    if (fscanf(f, "%d %d", &fx->Q, &fx->L) != 2 || fx->Q <= 0 || fx->L <= 0 || fx->Q > 4096 ||
        fx->L > 4096) {
        snprintf(err, errlen, "bad or missing 'Q L' header");
        return 0;
    }
    size_t n = (size_t)fx->Q * fx->L, Q = (size_t)fx->Q;
    double *tmp = malloc((2 * n + Q) * sizeof(double));
    fx->sim = malloc(n * sizeof(float));
    fx->fb = malloc(n * sizeof(float));
    fx->dloss = malloc(Q * sizeof(float));
    fx->loss = malloc(Q * sizeof(double));
    fx->dsim = malloc(n * sizeof(double));
    int ok = tmp && fx->sim && fx->fb && fx->dloss && fx->loss && fx->dsim &&
             read_numbers(f, tmp, 2 * n + Q) && read_numbers(f, fx->loss, Q) &&
             read_numbers(f, fx->dsim, n);
    char extra[2];
    if (ok && fscanf(f, "%1s", extra) == 1) ok = 0;
    if (ok) {
        for (size_t i = 0; i < n; i++) {
            fx->sim[i] = (float)tmp[i];
            fx->fb[i] = (float)tmp[n + i];
        }
        for (size_t i = 0; i < Q; i++) fx->dloss[i] = (float)tmp[2 * n + i];
    } else {
        snprintf(err, errlen, "expected %zu numbers after the header, found fewer, more or a "
                 "malformed one", 4 * n + 2 * Q);
        fixture_free(fx);
    }
    free(tmp);
    return ok;
}

/* max |got - want| / max |want| (want all zero: max |got - want|) */
static double rel_err(const float *got, const double *want, size_t n, double offset) {
    double maxw = 0, maxd = 0;
    for (size_t i = 0; i < n; i++) {
        maxw = fmax(maxw, fabs(want[i]));
        double d = fabs(((double)got[i] - offset) - want[i]);
        maxd = (d == d) ? fmax(maxd, d) : INFINITY;
    }
    return maxw > 0 ? maxd / maxw : maxd;
}

static void check_backend(drum_backend *be, const fixture *fx) {
    size_t n = (size_t)fx->Q * fx->L, Q = (size_t)fx->Q;
    float *sim = be->alloc(be, n * sizeof(float)), *fb = be->alloc(be, n * sizeof(float));
    float *dloss = be->alloc(be, Q * sizeof(float)), *loss = be->alloc(be, Q * sizeof(float));
    float *dsim = be->alloc(be, n * sizeof(float));
    float *h_loss = malloc(Q * sizeof(float)), *h_dsim = malloc(n * sizeof(float));
    if (!drum_backend_ok(be) || !h_loss || !h_dsim) {
        CHECK(0, "%s: allocation failed: %s", be->name, be->err);
        goto done;
    }
    be->to_device(be, sim, fx->sim, n * sizeof(float));
    be->to_device(be, fb, fx->fb, n * sizeof(float));
    be->to_device(be, dloss, fx->dloss, Q * sizeof(float));
    for (size_t i = 0; i < n; i++) h_dsim[i] = 0.5f;
    be->to_device(be, dsim, h_dsim, n * sizeof(float));
    be->op.listwise_rank_forward(be, loss, sim, fb, fx->Q, fx->L);
    be->op.listwise_rank_backward(be, dsim, dloss, sim, fb, fx->Q, fx->L);
    be->to_host(be, h_loss, loss, Q * sizeof(float));
    be->to_host(be, h_dsim, dsim, n * sizeof(float));
    CHECK(drum_backend_ok(be), "%s: backend error: %s", be->name, be->err);

    double worst = 0;
    for (size_t q = 0; q < Q; q++) {
        double d = fabs(h_loss[q] - fx->loss[q]), allow = 1e-5 * fabs(fx->loss[q]) + 1e-12;
        worst = (d == d) ? fmax(worst, d / allow) : INFINITY;
    }
    CHECK(worst <= 1.0, "%s: loss off PyTorch by %.3g x the 1e-5 relative tolerance", be->name,
          worst);
    double ge = rel_err(h_dsim, fx->dsim, n, 0.5);
    CHECK(ge <= 1e-5, "%s: dsim (accumulated onto 0.5) off PyTorch: max rel err %.3g", be->name,
          ge);
    printf("%-4s loss worst/tol %.2g, dsim max rel err %.2g\n", be->name, worst, ge);
done:
    be->free(be, sim);
    be->free(be, fb);
    be->free(be, dloss);
    be->free(be, loss);
    be->free(be, dsim);
    free(h_loss);
    free(h_dsim);
}

/* The parser must refuse a fixture cut short, one with a stray token, and garbage. */
static void check_corrupt_fixtures(void) {
    static const char *bad[] = {
        "# header only\n",
        "2 2\n1 2 3 4\n1 1 -inf 0\n0.5 0.5\n0.1 0.2\n0.1 0.2 0.3\n",
        "2 2\n1 2 3 4\n1 1 -inf 0\n0.5 0.5\n0.1 0.2\n0.1 0.2 0.3 0.4 0.5\n",
        "2 2\n1 2 3 4\n1 1 -inf zero\n0.5 0.5\n0.1 0.2\n0.1 0.2 0.3 0.4\n",
        "-1 2\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        FILE *f = fmemopen((void *)bad[i], strlen(bad[i]), "r");
        fixture fx;
        char err[256];
        int ok = f && fixture_read(f, &fx, err, sizeof err);
        CHECK(!ok, "corrupt fixture %zu was accepted", i);
        if (ok) fixture_free(&fx);
        if (f) fclose(f);
    }
    const char *good = "2 2\n1 2 3 4\n1 1 -inf 0\n0.5 0.5\n0.1 0.2\n0.1 0.2 0.3 0.4\n";
    FILE *f = fmemopen((void *)good, strlen(good), "r");
    fixture fx;
    char err[256];
    int ok = f && fixture_read(f, &fx, err, sizeof err);
    CHECK(ok && isinf(fx.fb[2]) && fx.fb[2] < 0 && fx.dsim[3] == 0.4,
          "a well-formed fixture was not read back");
    if (ok) fixture_free(&fx);
    if (f) fclose(f);
}

int main(void) {
    check_corrupt_fixtures();
    FILE *f = fopen(FIXTURE, "r");
    if (!f) {
        CHECK(0, "cannot open %s (run from the repository root)", FIXTURE);
        return check_summary();
    }
    fixture fx;
    char err[256];
    int ok = fixture_read(f, &fx, err, sizeof err);
    fclose(f);
    CHECK(ok, "%s: %s", FIXTURE, err);
    if (!ok) return check_summary();

    const char *names[] = {"cpu", "cuda"};
    for (int b = 0; b < 2; b++) {
        drum_backend *be = drum_backend_create(names[b], err, sizeof err);
        if (!be) {
            if (b == 0) CHECK(0, "cpu backend: %s", err);
            else SKIP("cuda: %s", err);
            continue;
        }
        check_backend(be, &fx);
        drum_backend_destroy(be);
    }
    fixture_free(&fx);
    return check_summary();
}
