/* test_op_errors — the failure paths of matmul, act, embedding and patchify, and of
 * backend creation: bad input records a sticky backend error naming the culprit, never a
 * crash or a silent wrong answer; the cpu backend's scratch; and the advice for OpenBLAS
 * kernels older than the CPU.
 * The embedding checks also run on cuda when a GPU is visible. */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "../kernels/cpu/common.h"
#include "common/check.h"
#include "drum/backend.h"

enum { V = 7, C = 5 };

static void *upload(drum_backend *be, const void *src, size_t bytes) {
    void *p = be->alloc(be, bytes);
    if (p) be->to_device(be, p, src, bytes);
    return p;
}

/* Runs embedding_forward on (ids, n) and copies the output rows to the host. Returns 1 when
 * the op recorded an error, with the message in msg and the error cleared (to_host is a
 * no-op while an error is recorded on cuda, and the rows of good ids are checked too). */
static int embed(drum_backend *be, const int *ids, int n, const float *table, float *out,
                 char *msg, size_t msglen) {
    int *d_ids = upload(be, ids, (size_t)n * sizeof(int));
    float *d_table = upload(be, table, sizeof(float) * V * C);
    float *d_out = be->alloc(be, (size_t)n * C * sizeof(float));
    msg[0] = '\0';
    if (!drum_backend_ok(be)) {
        snprintf(msg, msglen, "setup: %s", be->err);
        return 1;
    }
    be->op.embedding_forward(be, d_out, d_ids, d_table, n, V, C);
    int failed = !drum_backend_ok(be);
    if (failed) snprintf(msg, msglen, "%s", be->err);
    drum_backend_clear_error(be);
    be->to_host(be, out, d_out, (size_t)n * C * sizeof(float));
    be->free(be, d_ids);
    be->free(be, d_table);
    be->free(be, d_out);
    return failed;
}

static void check_embedding_forward(drum_backend *be) {
    float table[V * C], out[4 * C];
    char msg[600]; /* room for "setup: " + be->err */
    for (int k = 0; k < V * C; k++) table[k] = (float)(k + 1);

    const int good[2] = {6, 0};
    int failed = embed(be, good, 2, table, out, msg, sizeof msg);
    CHECK(!failed, "%s: valid ids failed: %s", be->name, msg);
    CHECK(out[0] == table[6 * C] && out[C] == table[0], "%s: valid ids gathered wrong rows",
          be->name);

    const int bad[4] = {3, 1, 1234, -5};
    failed = embed(be, bad, 4, table, out, msg, sizeof msg);
    CHECK(failed, "%s: id 1234 (V = %d) recorded no error", be->name, V);
    CHECK(strstr(msg, "1234") && strstr(msg, "position 2"),
          "%s: error should name the first bad id and its position: '%s'", be->name, msg);
    int zero = 1;
    for (int k = 2 * C; k < 4 * C; k++) zero &= out[k] == 0.0f;
    CHECK(zero, "%s: rows of bad ids are not written as zeros", be->name);
    CHECK(out[0] == table[3 * C] && out[C] == table[1 * C], "%s: rows of good ids lost",
          be->name);

    const int negative[2] = {2, -5};
    failed = embed(be, negative, 2, table, out, msg, sizeof msg);
    CHECK(failed && strstr(msg, "-5"), "%s: negative id should be an error naming it: '%s'",
          be->name, msg);
}

/* cpu only: the cuda backward relies on the forward's check (see kernels/cuda/embedding.cu). */
static void check_embedding_backward_cpu(drum_backend *cpu) {
    float dtable[V * C], dout[2 * C];
    for (int k = 0; k < V * C; k++) dtable[k] = 0.5f;
    for (int k = 0; k < 2 * C; k++) dout[k] = 1.0f;
    const int ids[2] = {1, V};
    cpu->op.embedding_backward(cpu, dtable, dout, ids, 2, V, C);
    CHECK(!drum_backend_ok(cpu) && strstr(cpu->err, "embedding_backward") &&
              strstr(cpu->err, "id 7"),
          "cpu: embedding_backward with id %d should fail naming it: '%s'", V, cpu->err);
    int untouched = 1;
    for (int k = 0; k < V * C; k++) untouched &= dtable[k] == 0.5f;
    CHECK(untouched, "cpu: a failed embedding_backward modified dtable");
    drum_backend_clear_error(cpu);
}

static void check_other_ops_cpu(drum_backend *cpu) {
    float A[6] = {1, 2, 3, 4, 5, 6}, B[6] = {1, 0, 0, 1, 1, 1}, Cm[4] = {0};
    cpu->op.matmul_forward(cpu, Cm, A, B, NULL, 2, 2, 3, 0, 0, 1.0f, 0.5f);
    CHECK(!drum_backend_ok(cpu) && strstr(cpu->err, "beta"),
          "cpu: matmul with beta 0.5 should fail naming beta: '%s'", cpu->err);
    /* sticky: a second failure keeps the first message */
    float x[3] = {1, 2, 3}, y[3];
    cpu->op.act_forward(cpu, y, x, 3, (drum_act)9);
    CHECK(strstr(cpu->err, "beta") != NULL, "cpu: the first error was overwritten: '%s'",
          cpu->err);
    drum_backend_clear_error(cpu);

    cpu->op.act_forward(cpu, y, x, 3, (drum_act)9);
    CHECK(!drum_backend_ok(cpu) && strstr(cpu->err, "activation 9"),
          "cpu: unknown activation should be an error naming it: '%s'", cpu->err);
    drum_backend_clear_error(cpu);

    float img[2 * 5 * 4], out[64];
    memset(img, 0, sizeof img);
    cpu->op.patchify_forward(cpu, out, img, 1, 2, 5, 4, 2);
    CHECK(!drum_backend_ok(cpu) && strstr(cpu->err, "5x4"),
          "cpu: 5x4 image with 2-pixel patches should fail: '%s'", cpu->err);
    drum_backend_clear_error(cpu);

    /* K = 0: C is bias (+ C when beta = 1), every element written */
    float bias[2] = {0.25f, -1.0f}, Ck[4] = {NAN, NAN, NAN, NAN};
    cpu->op.matmul_forward(cpu, Ck, A, B, bias, 2, 2, 0, 0, 0, 1.0f, 0.0f);
    CHECK(drum_backend_ok(cpu) && Ck[0] == 0.25f && Ck[3] == -1.0f,
          "cpu: matmul with K = 0 should give the bias rows, got %g %g", (double)Ck[0],
          (double)Ck[3]);
}

/* A bad pool position and a bad cross-entropy target are errors naming the op, the index
 * and the row, on every backend (cuda reports them at the next synchronize). */
static void check_bad_indices(drum_backend *be) {
    enum { PB = 3, PT = 4, PC = 5, XN = 2, XV = 6 };
    float inp[PB * PT * PC] = {0}, logits[XN * XV] = {0};
    int idx[PB] = {0, 4, 1}, targets[XN] = {5, -1};
    float *d_inp = upload(be, inp, sizeof inp), *d_out = be->alloc(be, sizeof(float) * PB * PC);
    int *d_idx = upload(be, idx, sizeof idx);
    be->op.pool_forward(be, d_out, d_inp, d_idx, PB, PT, PC);
    be->synchronize(be);
    CHECK(!drum_backend_ok(be) && strstr(be->err, "pool_forward: idx[1] = 4 is outside [0, 4)"),
          "%s: bad pool position not reported: '%s'", be->name, be->err);
    drum_backend_clear_error(be);
    float *d_logits = upload(be, logits, sizeof logits), *d_loss = be->alloc(be, sizeof(float) * XN);
    float *d_probs = be->alloc(be, sizeof logits);
    int *d_t = upload(be, targets, sizeof targets);
    be->op.softmax_xent_forward(be, d_loss, d_probs, d_logits, d_t, XN, XV);
    be->synchronize(be);
    CHECK(!drum_backend_ok(be) && strstr(be->err, "softmax_xent") && strstr(be->err, "= -1 is outside [0, 6)"),
          "%s: bad target not reported: '%s'", be->name, be->err);
    drum_backend_clear_error(be);
    void *bufs[] = {d_inp, d_out, d_idx, d_logits, d_loss, d_probs, d_t};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) be->free(be, bufs[i]);
}

/* The advice for OpenBLAS kernels older than the CPU: given for a pre-AVX2 core on an AVX2
 * CPU, naming the core and the OPENBLAS_CORETYPE to set; not when the core is current, the
 * CPU lacks AVX2, or the user already chose a core. */
static void check_blas_advice(void) {
    char msg[400] = "";
    CHECK(drum_blas_advice("Prescott", 1, 0, NULL, msg, sizeof msg) == 1 &&
              strstr(msg, "its Prescott kernels") && strstr(msg, "OPENBLAS_CORETYPE=Haswell"),
          "Prescott on an AVX2 CPU: '%s'", msg);
    CHECK(drum_blas_advice("core2", 1, 1, "", msg, sizeof msg) == 1 &&
              strstr(msg, "OPENBLAS_CORETYPE=SkylakeX"),
          "Core2 (any case) on an AVX-512 CPU, empty OPENBLAS_CORETYPE: '%s'", msg);
    const char *quiet[][2] = {{"Haswell", NULL}, {"Cooperlake", NULL}, {"Zen", NULL},
                              {"Prescott", "Prescott"}, {NULL, NULL}};
    for (int i = 0; i < 5; i++)
        CHECK(drum_blas_advice(quiet[i][0], 1, 1, quiet[i][1], msg, sizeof msg) == 0,
              "no advice for core %s with OPENBLAS_CORETYPE %s", quiet[i][0] ? quiet[i][0] : "?",
              quiet[i][1] ? quiet[i][1] : "unset");
    CHECK(drum_blas_advice("Nehalem", 0, 0, NULL, msg, sizeof msg) == 0,
          "no advice for an old core on a CPU without AVX2");
}

/* The cpu backend's scratch (kernels/cpu/common.h): kept and reused up to its size, grown
 * beyond it, 64-byte aligned; a request that cannot be met fails naming the op, and an op
 * whose scratch cannot be had returns with that error, touching nothing. */
static void check_cpu_scratch(drum_backend *cpu) {
    char *a = cpu_scratch(cpu, 100, "t1"), *b = cpu_scratch(cpu, 64, "t2");
    CHECK(a && a == b && ((uintptr_t)a & 63) == 0, "scratch reused: %p then %p", (void *)a,
          (void *)b);
    char *c = cpu_scratch(cpu, (size_t)1 << 20, "t3");
    CHECK(c && ((uintptr_t)c & 63) == 0 && cpu_scratch(cpu, 1000, "t4") == c,
          "scratch grown to 1 MiB and kept: %p", (void *)c);
    if (c) memset(c, 1, (size_t)1 << 20); /* all of it is ours */
    CHECK(cpu_scratch(cpu, SIZE_MAX - 8, "huge_op") == NULL &&
              strstr(cpu->err, "huge_op: out of host memory for"),
          "an impossible scratch: '%s'", cpu->err);
    drum_backend_clear_error(cpu);
    CHECK(cpu_scratch(cpu, 256, "t5") != NULL && drum_backend_ok(cpu),
          "scratch after a failed request: %s", cpu->err);
    /* Q x L whose bytes of doubles wrap size_t (to ~25 GB): refused by size, nothing read */
    float loss = -1, sim = 0, fb = 0;
    cpu->op.listmle_forward(cpu, &loss, &sim, &fb, INT_MAX, (1 << 30) + 2);
    CHECK(!drum_backend_ok(cpu) && strstr(cpu->err, "listmle_forward: Q=2147483647 x "
                                                     "L=1073741826 candidates is more than") &&
              loss == -1,
          "listmle_forward over a wrapping size: '%s', loss %g", cpu->err, loss);
    drum_backend_clear_error(cpu);
    /* Q x L doubles that no machine has: the op fails before reading its inputs */
#ifdef __SANITIZE_ADDRESS__
    SKIP("an op without its scratch: AddressSanitizer stops at a request of 2^63 bytes");
    return;
#endif
    cpu->op.listwise_rank_forward(cpu, &loss, &sim, &fb, 1 << 30, 1 << 30);
    CHECK(!drum_backend_ok(cpu) && strstr(cpu->err, "listwise_rank_forward: out of host "
                                                     "memory") && loss == -1,
          "listwise_rank_forward without its scratch: '%s', loss %g", cpu->err, loss);
    drum_backend_clear_error(cpu);
}

int main(void) {
    check_blas_advice();
    char err[512];
    err[0] = '\0';
    drum_backend *none = drum_backend_create("tpu9", err, sizeof err);
    CHECK(none == NULL && strstr(err, "tpu9"), "unknown backend should fail naming it: '%s'",
          err);

    drum_backend *cpu = drum_backend_create("cpu", err, sizeof err);
    CHECK(cpu != NULL, "cpu backend: %s", err);
    if (!cpu) return check_summary();
    check_embedding_forward(cpu);
    check_embedding_backward_cpu(cpu);
    check_other_ops_cpu(cpu);
    check_bad_indices(cpu);
    check_cpu_scratch(cpu);
    drum_backend_destroy(cpu);

    err[0] = '\0';
    drum_backend *cuda = drum_backend_create("cuda", err, sizeof err);
    if (cuda) {
        check_embedding_forward(cuda);
        check_bad_indices(cuda);
        drum_backend_destroy(cuda);
    } else {
        CHECK(strstr(err, "cuda") != NULL && (strstr(err, "without CUDA") || strstr(err, "GPU")),
              "a failed cuda backend should say why: '%s'", err);
        SKIP("cuda embedding errors: %s", err);
    }
    return check_summary();
}
