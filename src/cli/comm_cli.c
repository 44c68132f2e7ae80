/* comm_cli.c — how a CLI command finds the ranks it runs among (commands.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

int cli_open_comm(drum_comm **comm, char *err, size_t errlen) {
    *comm = drum_comm_single();
    const char *want = getenv("DRUM_COMM");
    int launched = drum_comm_launcher_size();
    if (want && strcmp(want, "mpi") != 0 && strcmp(want, "single") != 0) {
        snprintf(err, errlen, "DRUM_COMM=%s: expected mpi or single", want);
        return -1;
    }
    if (want ? strcmp(want, "mpi") != 0 : launched <= 1) return 0;
    if (!drum_comm_mpi_compiled() && !want) {
        snprintf(err, errlen, "started as one of %d processes, but drum was built without MPI: "
                 "each would run the whole job and write the same files (install "
                 "libopenmpi-dev and rebuild, or set DRUM_COMM=single to mean it)", launched);
        return -1;
    }
    return drum_comm_mpi_open(comm, NULL, NULL, err, errlen);
}

void cli_fail_ranks(drum_comm *comm, const char *cmd, const char *err) {
    if (!comm || comm->size == 1) return;
    fprintf(stderr, "%s: rank %d of %d: %s\n", cmd, comm->rank, comm->size, err);
    fflush(stderr);
    comm->abort(comm, 1);
}
