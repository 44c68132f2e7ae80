/* nonccl.c — linked instead of comm_nccl.c when drum is built without CUDA or nccl.h. */
#include <stdio.h>

#include "drum/comm.h"

int drum_comm_nccl_compiled(void) { return 0; }

int drum_comm_nccl_open(drum_comm **out, drum_comm *host, int device, char *err,
                        size_t errlen) {
    *out = NULL;
    if (host) host->destroy(host);
    snprintf(err, errlen, "drum was built without NCCL (it needs the CUDA toolkit and "
             "nccl.h; rebuild with CUDA=1 where they are installed)");
    return -1;
}
