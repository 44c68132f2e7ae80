/* harness.h — the op test table (after ggml's test-backend-ops and llm.c's checks).
 *
 * An op case declares its tensors from its sizes (setup), runs the op on a backend
 * (forward, backward) and computes the same forward in float64 (reference). The harness
 * then, for every case:
 *   1. fills inputs with fresh random data, poisons outputs with NaN, runs forward and
 *      compares every output with the float64 reference;
 *   2. draws a random upstream gradient for each differentiable output and random initial
 *      values for every gradient buffer, runs backward and compares the accumulated part
 *      (grad - initial) with central finite differences of the float64 forward of
 *      L = sum(dout * out), on all or on a sample of coordinates;
 *   3. runs forward and backward again on the same inputs and requires identical bytes; on
 *      `cpu` that rerun uses another OpenMP thread count (1, or 3 when the default is 1),
 *      except for the ops a BLAS GEMM computes (harness_run's blas), so drum's own
 *      reductions are proven independent of the thread count;
 *   4. on `cuda` (when a GPU is present) runs the case on `cuda` and on `cpu` with the same
 *      data and compares outputs and gradients; without a GPU it counts a skip.
 * Adding an op = adding one op_case row in tests/ops/NAME.c and listing it in test_ops.c.
 */
#ifndef DRUM_TEST_HARNESS_H
#define DRUM_TEST_HARNESS_H

#include <stddef.h>

#include "drum/backend.h"

typedef enum {
    T_IN,       /* float input, differentiable: gets a gradient buffer */
    T_IN_CONST, /* float input, not differentiated */
    T_IN_INT,   /* int32 input in [ilo, ihi) */
    T_INOUT,    /* float, updated in place (optimizer state); compared after forward */
    T_OUT,      /* float output, differentiable: gets an upstream gradient */
    T_OUT_AUX,  /* float output saved for backward (mean, rstd, probs); compared only */
    T_OUT_INT,  /* int32 output, compared exactly */
    T_SCRATCH   /* float workspace the op may overwrite; never compared */
} tkind;

typedef struct {
    const char *name;
    tkind kind;
    size_t n;
    float lo, hi;    /* uniform init range for float inputs */
    int ilo, ihi;    /* init range for int inputs */
    /* host side */
    float *h;        /* float data: inputs as drawn, outputs as computed by the backend */
    int *ih;         /* int data, likewise */
    double *d;       /* float64 copy of inputs / reference outputs */
    int *iref;       /* reference int outputs */
    float *dout;     /* T_OUT: upstream gradient */
    float *g0;       /* T_IN: initial gradient values */
    float *g;        /* T_IN: gradient after backward */
    /* backend side */
    void *dev, *dev_grad, *dev_dout;
} ttensor;

#define HARNESS_MAX_TENSORS 16

typedef struct op_case op_case;
typedef struct opc {
    const op_case *oc;
    int nt;
    ttensor t[HARNESS_MAX_TENSORS];
} opc;

struct op_case {
    const char *name;    /* "layernorm/odd" */
    int dim[8];          /* sizes and integer parameters, meaning set by the case */
    double fp[4];        /* float parameters (eps, scales, lr, ...) */
    void (*setup)(opc *c);
    void (*forward)(opc *c, drum_backend *be);
    void (*backward)(opc *c, drum_backend *be); /* NULL: the op has no backward */
    void (*reference)(opc *c);                  /* float64 forward: inputs' d -> outputs' d/iref */
    double rtol;         /* forward: |got - ref| <= atol * max|ref| + rtol * |ref|; 0 = 1e-5 */
    double atol;         /* 0 = 1e-5 */
    double gtol;         /* backward: max|delta - fd| <= gtol * max|fd| (a floor for sums that
                          * cancel: check_gradients); 0 = 2e-3 */
    int fd_samples;      /* coordinates per input for finite differences; 0 = all up to 96 */
};

/* setup helpers: declare a tensor, return its index */
int t_in(opc *c, const char *name, size_t n, float lo, float hi);
int t_in_const(opc *c, const char *name, size_t n, float lo, float hi);
int t_in_int(opc *c, const char *name, size_t n, int lo, int hi);
int t_inout(opc *c, const char *name, size_t n, float lo, float hi);
int t_out(opc *c, const char *name, size_t n);
int t_out_aux(opc *c, const char *name, size_t n);
int t_out_int(opc *c, const char *name, size_t n);
int t_scratch(opc *c, const char *name, size_t n);

/* accessors for forward/backward (backend pointers) and reference (host arrays) */
#define DEV(c, i) ((float *)(c)->t[i].dev)
#define DEVI(c, i) ((int *)(c)->t[i].dev)
#define GRAD(c, i) ((float *)(c)->t[i].dev_grad)
#define DOUT(c, i) ((const float *)(c)->t[i].dev_dout)
#define REF(c, i) ((c)->t[i].d)
#define REFI(c, i) ((const int *)(c)->t[i].ih)
#define REFO(c, i) ((c)->t[i].iref)
#define DIM(c, k) ((c)->oc->dim[k])
#define FPARAM(c, k) ((c)->oc->fp[k])

/* A list of cases, one per op file: `const op_case_list cases_layernorm = {...}`. */
typedef struct {
    const op_case *cases;
    int n;
} op_case_list;
#define OP_CASES(name, ...)                                                  \
    static const op_case name##_rows[] = {__VA_ARGS__};                      \
    const op_case_list cases_##name = {name##_rows, (int)(sizeof name##_rows / sizeof name##_rows[0])}

/* Runs one case on `be` (and compares with `cpu` when be is cuda); counts checks. blas: 1 when
 * a BLAS GEMM computes the op. OpenBLAS splits a narrow product's sums over its threads, so
 * such a case's rerun on cpu keeps the thread count. */
void harness_run(const op_case *oc, drum_backend *be, drum_backend *cpu, int blas,
                 unsigned long long seed);

#endif
