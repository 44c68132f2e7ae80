/* expf.h — e^x over arrays of floats for the cpu backend's kernels, vectorized, with the bits
 * of glibc's expf.
 *
 * quick_gelu (every CLIP MLP) and the attention softmax call expf once per element; glibc's
 * expf is a scalar call, which kept those loops from vectorizing (~20% of the demo's time).
 * drum_expf_array computes what glibc's expf computes (since glibc 2.28, the algorithm of
 * Arm's optimized-routines: a 32-entry table of 2^(i/32) and a cubic in double precision) in
 * a loop the compiler vectorizes. glibc picks one of two builds of it at load time: with fused
 * multiply-adds where the CPU has AVX2 and FMA (unless GLIBC_TUNABLES turns them off), without
 * elsewhere; they differ on 2 of the 2^32 floats. drum computes with the build glibc chose
 * (on a CPU with AVX2 and FMA, one expf call on such an input tells), so its results are
 * bitwise those of the libm calls it replaces: checked on all 2^32 inputs against glibc
 * 2.36's two builds (tools/bench/expf_exhaustive.c, docs/PERF.md), and pinned by a digest of
 * a million outputs (tests/test_expf.c). With another libm (a glibc before 2.28, whose expf
 * rounds differently in rare cases; one with a correctly rounded expf) the kernels that use
 * this keep glibc 2.28's bits rather than that libm's; a correctly rounded expf agrees with
 * the unfused build on the probe, so there drum computes with that one. On another
 * architecture it calls libm's expf. */
#ifndef DRUM_EXPF_H
#define DRUM_EXPF_H

#include <stddef.h>

/* dst[i] = e^src[i] for i < n; dst may be src. */
void drum_expf_array(float *dst, const float *src, size_t n);

/* 1 when drum_expf_array computes with fused multiply-adds (glibc's FMA build). */
int drum_expf_fused(void);

#endif
