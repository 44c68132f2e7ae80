/* trace.c — trace.h: NVTX 3 ranges when the CUDA toolkit is there, and with DRUM_PROFILE a
 * host wall-clock total per range name in every build. */
#include "drum/trace.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef DRUM_HAVE_CUDA
#include <nvtx3/nvToolsExt.h>
#endif

enum { NAME_MAX_LEN = 128, MAX_DEPTH = 64, MAX_NAMES = 128 };

typedef struct {
    char name[NAME_MAX_LEN];
    long calls;
    double total; /* seconds */
} range_total;

static int profile_state = -1; /* -1: DRUM_PROFILE not read yet */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static range_total totals[MAX_NAMES + 1]; /* the last row collects names beyond MAX_NAMES */
static int n_totals;
static double first_push = -1;

static __thread struct {
    char name[NAME_MAX_LEN];
    double t0;
} open_ranges[MAX_DEPTH];
static __thread int depth;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int drum_trace_profiling(void) {
    if (profile_state < 0) {
        const char *e = getenv("DRUM_PROFILE");
        profile_state = e && *e && strcmp(e, "0") != 0;
    }
    return profile_state;
}

void drum_trace_push(const char *fmt, ...) {
#ifndef DRUM_HAVE_CUDA
    if (!drum_trace_profiling()) return; /* nobody reads the name */
#endif
    char name[NAME_MAX_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
#ifdef DRUM_HAVE_CUDA
    nvtxRangePushA(name);
#endif
    if (!drum_trace_profiling()) return;
    double t = now();
    if (depth < MAX_DEPTH) {
        memcpy(open_ranges[depth].name, name, sizeof name);
        open_ranges[depth].t0 = t;
    }
    depth++;
    pthread_mutex_lock(&lock);
    if (first_push < 0) first_push = t;
    pthread_mutex_unlock(&lock);
}

void drum_trace_pop(void) {
#ifdef DRUM_HAVE_CUDA
    nvtxRangePop();
#endif
    if (!drum_trace_profiling() || depth == 0) return;
    if (--depth >= MAX_DEPTH) return;
    double dt = now() - open_ranges[depth].t0;
    pthread_mutex_lock(&lock);
    int i = 0;
    while (i < n_totals && strcmp(totals[i].name, open_ranges[depth].name) != 0) i++;
    if (i == n_totals) {
        if (n_totals < MAX_NAMES) {
            memcpy(totals[n_totals++].name, open_ranges[depth].name, NAME_MAX_LEN);
        } else {
            i = MAX_NAMES;
            snprintf(totals[i].name, NAME_MAX_LEN, "(other ranges)");
        }
    }
    totals[i].calls++;
    totals[i].total += dt;
    pthread_mutex_unlock(&lock);
}

static int by_total(const void *a, const void *b) {
    const range_total *x = a, *y = b;
    return (x->total < y->total) - (x->total > y->total);
}

void drum_trace_report(FILE *f) {
    pthread_mutex_lock(&lock);
    int n = n_totals + (totals[MAX_NAMES].calls > 0);
    range_total *rows = malloc((size_t)(n ? n : 1) * sizeof *rows);
    if (rows) {
        memcpy(rows, totals, (size_t)n_totals * sizeof *rows);
        if (n > n_totals) rows[n_totals] = totals[MAX_NAMES];
    }
    double wall = first_push < 0 ? 0 : now() - first_push;
    pthread_mutex_unlock(&lock);
    if (!rows) return;
    qsort(rows, (size_t)n, sizeof *rows, by_total);
    fprintf(f, "profile (DRUM_PROFILE): host wall time per range, each including the ranges "
               "inside it; %.3f s since the first\n", wall);
    fprintf(f, "%-32s %8s %11s %11s %7s\n", "range", "calls", "total s", "mean ms", "share");
    for (int i = 0; i < n; i++)
        fprintf(f, "%-32s %8ld %11.3f %11.3f %6.1f%%\n", rows[i].name, rows[i].calls,
                rows[i].total, 1e3 * rows[i].total / (double)rows[i].calls,
                wall > 0 ? 100.0 * rows[i].total / wall : 0.0);
    free(rows);
}
