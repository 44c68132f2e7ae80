/* trace.h — named ranges around drum's phases for profilers.
 *
 * In builds with CUDA, a range is an NVTX range (NVTX 3, header-only): Nsight Systems shows
 * it on the host thread's timeline above the kernels it launched, and `nsys stats
 * --report nvtx_sum` totals time by range name. Without a tool attached NVTX costs a
 * function call per push; CPU-only builds compile the calls to nothing. Repeated ranges
 * have constant names ("train step", "encode images") so that summaries group them;
 * once-per-round ones carry the round. The ranges drum opens are listed in
 * docs/PERF.md ("Profiling with Nsight Systems").
 *
 * Ranges nest per thread; every push is matched by a pop on every path (tests/test_trace.c
 * records them through an NVTX injection library and checks it).
 */
#ifndef DRUM_TRACE_H
#define DRUM_TRACE_H

#ifdef __cplusplus
extern "C" {
#endif

/* Opens a range named by the printf-style format (at most 127 bytes are kept). */
void drum_trace_push(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Closes the innermost open range of the calling thread. */
void drum_trace_pop(void);

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
