/* nompi.c — linked instead of comm_mpi.c when drum is built without MPI. */
#include <stdio.h>

#include "drum/comm.h"

int drum_comm_mpi_compiled(void) { return 0; }

int drum_comm_mpi_open(drum_comm **out, int *argc, char ***argv, char *err, size_t errlen) {
    *out = NULL;
    snprintf(err, errlen, "drum was built without MPI (install libopenmpi-dev and rebuild)");
    return -1;
}
