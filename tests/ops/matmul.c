/* matmul cases: dim = {M, N, K, transA, transB, bias, beta}, fp = {alpha}.
 * beta = 1 rows update C in place (T_INOUT) and run forward only. */
#include "harness.h"

enum { C_, A_, B_, BIAS_ };

static void setup(opc *c) {
    size_t M = (size_t)DIM(c, 0), N = (size_t)DIM(c, 1), K = (size_t)DIM(c, 2);
    if (DIM(c, 6))
        t_inout(c, "C", M * N, -1.0f, 1.0f);
    else
        t_out(c, "C", M * N);
    t_in(c, "A", M * K, -1.0f, 1.0f);
    t_in(c, "B", K * N, -1.0f, 1.0f);
    if (DIM(c, 5)) t_in(c, "bias", N, -1.0f, 1.0f);
}

static void forward(opc *c, drum_backend *be) {
    be->op.matmul_forward(be, DEV(c, C_), DEV(c, A_), DEV(c, B_), DIM(c, 5) ? DEV(c, BIAS_) : NULL,
                          DIM(c, 0), DIM(c, 1), DIM(c, 2), DIM(c, 3), DIM(c, 4),
                          (float)FPARAM(c, 0), (float)DIM(c, 6));
}

static void backward(opc *c, drum_backend *be) {
    be->op.matmul_backward(be, GRAD(c, A_), GRAD(c, B_), DIM(c, 5) ? GRAD(c, BIAS_) : NULL,
                           DOUT(c, C_), DEV(c, A_), DEV(c, B_), DIM(c, 0), DIM(c, 1), DIM(c, 2),
                           DIM(c, 3), DIM(c, 4), (float)FPARAM(c, 0));
}

/* Loop order keeps the inner loop contiguous: a dot over k when B is stored (N,K),
 * an axpy over j when B is stored (K,N). */
static void reference(opc *c) {
    int M = DIM(c, 0), N = DIM(c, 1), K = DIM(c, 2), tA = DIM(c, 3), tB = DIM(c, 4);
    double alpha = FPARAM(c, 0);
    const double *A = REF(c, A_), *B = REF(c, B_), *bias = DIM(c, 5) ? REF(c, BIAS_) : NULL;
    double *out = REF(c, C_);
    /* the in-place C starts from the values drawn for it (h), never from d, which holds
     * the previous reference result */
    const float *C0 = DIM(c, 6) ? c->t[C_].h : NULL;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < M; i++) {
        double *o = out + (size_t)i * N;
        for (int j = 0; j < N; j++) o[j] = 0;
        if (tB) {
            for (int j = 0; j < N; j++) {
                const double *b = B + (size_t)j * K;
                double s = 0;
                if (tA)
                    for (int k = 0; k < K; k++) s += A[(size_t)k * M + i] * b[k];
                else
                    for (int k = 0; k < K; k++) s += A[(size_t)i * K + k] * b[k];
                o[j] = s;
            }
        } else {
            for (int k = 0; k < K; k++) {
                double a = tA ? A[(size_t)k * M + i] : A[(size_t)i * K + k];
                const double *b = B + (size_t)k * N;
                for (int j = 0; j < N; j++) o[j] += a * b[j];
            }
        }
        for (int j = 0; j < N; j++) {
            o[j] *= alpha;
            if (bias) o[j] += bias[j];
            if (C0) o[j] += C0[(size_t)i * N + j];
        }
    }
}

#define ROW(name, M, N, K, tA, tB, bias, alpha, samples)                                 \
    {name, {M, N, K, tA, tB, bias, 0}, {alpha}, setup, forward, backward, reference, 1e-4, \
     1e-5, 0, samples}
#define ACC(name, M, N, K, tA, tB, bias) \
    {name, {M, N, K, tA, tB, bias, 1}, {1.0}, setup, forward, NULL, reference, 1e-4, 1e-5, 0, 0}
OP_CASES(matmul,
         ROW("matmul/odd-nn", 37, 29, 19, 0, 0, 0, 1.0, 0),
         ROW("matmul/odd-nt", 37, 29, 19, 0, 1, 0, 1.0, 0),
         ROW("matmul/odd-tn", 37, 29, 19, 1, 0, 0, 0.75, 0),
         ROW("matmul/odd-tt", 37, 29, 19, 1, 1, 0, 1.0, 0),
         ROW("matmul/odd-nn-bias", 23, 41, 13, 0, 0, 1, 1.0, 0),
         ROW("matmul/odd-nt-bias", 23, 41, 13, 0, 1, 1, 0.75, 0),
         ROW("matmul/odd-tn-bias", 23, 41, 13, 1, 0, 1, 1.0, 0),
         ROW("matmul/odd-tt-bias", 23, 41, 13, 1, 1, 1, 1.0, 0),
         ROW("matmul/bias-chunks", 203, 7, 5, 0, 1, 1, 1.0, 0), /* 4 CPU row chunks */
         ACC("matmul/acc-nt-bias", 31, 17, 11, 0, 1, 1),
         ACC("matmul/acc-tn", 31, 17, 11, 1, 0, 0),
         ROW("matmul/realistic", 2053, 515, 67, 0, 1, 1, 1.0, 8)); /* 1.06M outputs */
