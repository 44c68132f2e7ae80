/* trace.c — trace.h over NVTX 3 when the CUDA toolkit is there, nothing otherwise. */
#include "drum/trace.h"

#include <stdarg.h>
#include <stdio.h>

#ifdef DRUM_HAVE_CUDA
#include <nvtx3/nvToolsExt.h>

void drum_trace_push(const char *fmt, ...) {
    char name[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    nvtxRangePushA(name);
}

void drum_trace_pop(void) {
    nvtxRangePop();
}
#else
void drum_trace_push(const char *fmt, ...) {
    (void)fmt;
}

void drum_trace_pop(void) {}
#endif
