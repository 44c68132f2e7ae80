/* bench_common.h — what the benchmark programs share: a monotonic clock and the comparison
 * qsort takes medians with. */
#ifndef DRUM_BENCH_COMMON_H
#define DRUM_BENCH_COMMON_H

#include <time.h>

static inline double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* qsort's comparison of doubles, ascending */
static inline int cmp_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

#endif
