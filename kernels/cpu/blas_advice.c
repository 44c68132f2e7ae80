/* blas_advice.c — whether OpenBLAS runs kernels older than the CPU it runs on.
 * OpenBLAS picks its kernels from the CPU's model. A VM that hides the model (an H100 host
 * lent here reports "Intel(R) Xeon(R) Processor") makes it fall back to Prescott's SSE3
 * kernels with no word said: 4-5x slower there (docs/PERF.md), 2.5x on the dev VM;
 * OPENBLAS_CORETYPE, read when the library loads, overrides the choice. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "drum/backend.h"

/* OpenBLAS's x86 cores that predate AVX2 (driver/others/dynamic.c's names) */
static const char *const PRE_AVX2[] = {
    "Katmai",   "Coppermine", "Northwood", "Prescott",  "Banias",     "Atom",
    "Core2",    "Penryn",     "Dunnington", "Nehalem",  "Opteron",    "Opteron_SSE3",
    "Barcelona", "Nano",      "Sandybridge", "Bobcat",  "Bulldozer",  "Piledriver",
    "Steamroller", NULL};

int drum_blas_advice(const char *core, int has_avx2, int has_avx512, const char *coretype,
                     char *buf, size_t n) {
    if (!core || !has_avx2 || (coretype && *coretype)) return 0;
    int old = 0;
    for (int i = 0; PRE_AVX2[i] && !old; i++) old = strcasecmp(core, PRE_AVX2[i]) == 0;
    if (!old) return 0;
    snprintf(buf, n,
             "OpenBLAS chose its %s kernels on a CPU with AVX2 (the CPU hides its model, as "
             "some VMs do), so the cpu backend's matrix products run several times slower than "
             "they could (docs/PERF.md). Set OPENBLAS_CORETYPE=%s before starting drum.",
             core, has_avx512 ? "SkylakeX" : "Haswell");
    return 1;
}

const char *drum_blas_core(void) { return openblas_get_corename(); }

void drum_blas_advise_once(void) {
    static int done;
    if (done) return;
    done = 1;
#if defined(__x86_64__) || defined(__i386__)
    char msg[400];
    __builtin_cpu_init();
    if (drum_blas_advice(openblas_get_corename(), __builtin_cpu_supports("avx2"),
                         __builtin_cpu_supports("avx512f"), getenv("OPENBLAS_CORETYPE"), msg,
                         sizeof msg))
        fprintf(stderr, "drum: warning: %s\n", msg);
#endif
}
