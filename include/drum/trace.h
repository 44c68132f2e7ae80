/* trace.h — named ranges around drum's phases for profilers.
 *
 * With DRUM_PROFILE set in the environment (to anything but "" or "0"), every build also
 * times the ranges on the host's wall clock, and drum_trace_report writes one line per
 * range name: calls, total seconds (each range including the ranges inside it), mean, and
 * share of the time since the first range. The drum CLI prints it to stderr when a command
 * ends. With the cuda backend most ops only launch work, so host times of inner ranges say
 * little; `train step` ends with a synchronize, so its time is whole.
 *
 * In builds with CUDA, a range is an NVTX range (NVTX 3, header-only): Nsight Systems shows
 * it on the host thread's timeline above the kernels it launched, and `nsys stats
 * --report nvtx_sum` totals time by range name. Without a tool attached NVTX costs a
 * function call per push; CPU-only builds have no NVTX. Repeated ranges
 * have constant names ("train step", "encode images") so that summaries group them;
 * once-per-round ones carry the round. The ranges drum opens are listed in
 * docs/PERF.md ("Profiling with Nsight Systems").
 *
 * Ranges nest per thread; every push is matched by a pop on every path (tests/test_trace.c
 * records them through an NVTX injection library and checks it).
 */
#ifndef DRUM_TRACE_H
#define DRUM_TRACE_H

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Opens a range named by the printf-style format (at most 127 bytes are kept). */
void drum_trace_push(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Closes the innermost open range of the calling thread. */
void drum_trace_pop(void);
/* Whether DRUM_PROFILE asks for the timing table (read once). */
int drum_trace_profiling(void);
/* Writes the timing table (ranges closed so far, longest total first) to f. */
void drum_trace_report(FILE *f);

/* Evaluates the int expression `call` inside a range and returns its value from the
 * enclosing function. */
#define DRUM_TRACE_RETURN(name, call)                                                      \
    do {                                                                                   \
        drum_trace_push("%s", name);                                                       \
        int drum_trace_rc_ = (call);                                                       \
        drum_trace_pop();                                                                  \
        return drum_trace_rc_;                                                             \
    } while (0)

#ifdef __cplusplus
}
#endif
#endif
