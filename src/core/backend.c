/* backend.c — choosing a backend by name and the sticky error shared by all of them. */
#include "drum/backend.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

drum_backend *drum_backend_create(const char *name, char *errbuf, size_t errlen) {
    if (strcmp(name, "cpu") == 0) return drum_cpu_backend_create(errbuf, errlen);
    if (strcmp(name, "cuda") == 0) {
        if (!drum_backend_cuda_compiled()) {
            snprintf(errbuf, errlen,
                     "backend 'cuda' requested but drum was built without CUDA "
                     "(rebuild with nvcc on PATH, or make CUDA=1)");
            return NULL;
        }
        return drum_cuda_backend_create(errbuf, errlen);
    }
    snprintf(errbuf, errlen, "unknown backend '%s' (expected 'cpu' or 'cuda')", name);
    return NULL;
}

void drum_backend_destroy(drum_backend *be) {
    if (be) be->destroy(be);
}

void drum_backend_fail(drum_backend *be, const char *file, int line, const char *fmt, ...) {
    if (be->status != 0) return;
    be->status = 1;
    const char *base = strrchr(file, '/');
    int off = snprintf(be->err, sizeof be->err, "%s:%d: ", base ? base + 1 : file, line);
    if (off < 0 || (size_t)off >= sizeof be->err) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(be->err + off, sizeof be->err - (size_t)off, fmt, ap);
    va_end(ap);
}

void drum_backend_clear_error(drum_backend *be) {
    be->status = 0;
    be->err[0] = '\0';
}
