/* backend.h — a compute backend: memory calls, a sticky error, and the op table.
 *
 * A backend owns one device (the host for `cpu`, one GPU for `cuda`). Model and
 * trainer code hold a `drum_backend *` and call ops through `be->op.NAME(be, ...)`;
 * they never know which backend runs. Pointers passed to ops are always pointers
 * returned by `be->alloc` (device memory on `cuda`, host memory on `cpu`).
 *
 * Errors are sticky, like CUDA's: an op or memory call that fails records the
 * first error (with file:line) in the backend and later calls become no-ops where
 * that is safe. Callers check `drum_backend_ok(be)` at natural boundaries (after a
 * layer, a step, a copy to the host) and carry `be->err` to the edge.
 */
#ifndef DRUM_BACKEND_H
#define DRUM_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "drum/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { DRUM_BACKEND_CPU = 0, DRUM_BACKEND_CUDA = 1 } drum_backend_kind;

struct drum_backend {
    drum_backend_kind kind;
    const char *name;            /* "cpu" or "cuda" */
    int allow_tf32;              /* GEMMs may use TF32 tensor cores (cuda only; off by default) */
    int status;                  /* 0 while no error has happened */
    char err[512];               /* the first error: "file:line: message" */

    /* Memory. alloc returns NULL (and records an error) on failure. */
    void *(*alloc)(drum_backend *be, size_t bytes);
    void (*free)(drum_backend *be, void *p);
    void (*to_device)(drum_backend *be, void *dst, const void *src_host, size_t bytes);
    void (*to_host)(drum_backend *be, void *dst_host, const void *src, size_t bytes);
    void (*copy)(drum_backend *be, void *dst, const void *src, size_t bytes);
    void (*memset0)(drum_backend *be, void *p, size_t bytes);
    void (*synchronize)(drum_backend *be);
    void (*destroy)(drum_backend *be);

    drum_ops op;                 /* the numerical ops, see ops.h */
    void *impl;                  /* backend-private state (cuBLASLt handle, workspace, ...) */
};

/* Creates the backend named `name` ("cpu" or "cuda"). Returns NULL and writes a
 * message into errbuf when the name is unknown, drum was built without CUDA, or
 * no GPU is visible. Never aborts. */
drum_backend *drum_backend_create(const char *name, char *errbuf, size_t errlen);
void drum_backend_destroy(drum_backend *be);

/* 1 while no error has been recorded. */
static inline int drum_backend_ok(const drum_backend *be) { return be->status == 0; }

/* Records an error (printf-style) unless one is already recorded; keeps the first. */
void drum_backend_fail(drum_backend *be, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define DRUM_FAIL(be, ...) drum_backend_fail((be), __FILE__, __LINE__, __VA_ARGS__)

/* Clears a recorded error (tests of failure paths use it). */
void drum_backend_clear_error(drum_backend *be);

/* 1 when drum was compiled with the CUDA backend. */
int drum_backend_cuda_compiled(void);

/* OpenBLAS running kernels older than its CPU (kernels/cpu/blas_advice.c): 1, with advice in
 * buf, when core (openblas_get_corename()) predates AVX2 while the CPU has it and coretype
 * ($OPENBLAS_CORETYPE) is unset or empty; else 0. drum_blas_advise_once prints that advice
 * for this process's CPU to stderr, the first time it is called (the cpu backend calls it). */
int drum_blas_advice(const char *core, int has_avx2, int has_avx512, const char *coretype,
                     char *buf, size_t n);
void drum_blas_advise_once(void);
/* The kernels OpenBLAS picked ("Haswell", "Cooperlake", ...), for logs. */
const char *drum_blas_core(void);

/* Backend constructors (kernels/cpu/backend.c, kernels/cuda/backend.cu). */
drum_backend *drum_cpu_backend_create(char *errbuf, size_t errlen);
drum_backend *drum_cuda_backend_create(char *errbuf, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
