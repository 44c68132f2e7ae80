/* nocuda.c — linked instead of kernels/cuda/ when drum is built without CUDA. */
#include <stdio.h>

#include "drum/backend.h"

int drum_backend_cuda_compiled(void) { return 0; }

drum_backend *drum_cuda_backend_create(char *errbuf, size_t errlen) {
    snprintf(errbuf, errlen, "drum was built without CUDA");
    return NULL;
}
