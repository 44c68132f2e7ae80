/* comm_cli.c — how a CLI command finds the ranks it runs among (commands.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

/* DRUM_COMM: unset (follow the launcher), "single", "mpi", "nccl" (MPI for the host, NCCL
 * for the gradients), or anything else (an error). */
typedef enum { WANT_AUTO, WANT_SINGLE, WANT_MPI, WANT_NCCL, WANT_BAD } comm_wanted;

static comm_wanted wanted(void) {
    const char *w = getenv("DRUM_COMM");
    return !w                     ? WANT_AUTO
           : !strcmp(w, "single") ? WANT_SINGLE
           : !strcmp(w, "mpi")    ? WANT_MPI
           : !strcmp(w, "nccl")   ? WANT_NCCL
                                  : WANT_BAD;
}

int cli_check_comm_env(char *err, size_t errlen) {
    if (wanted() != WANT_BAD) return 0;
    snprintf(err, errlen, "DRUM_COMM=%s: expected mpi, nccl or single", getenv("DRUM_COMM"));
    return -1;
}

int cli_launched_ranks(void) {
    return wanted() == WANT_SINGLE ? 1 : drum_comm_launcher_size();
}

int cli_open_comm(drum_comm **comm, char *err, size_t errlen) {
    *comm = drum_comm_single();
    comm_wanted want = wanted();
    int launched = drum_comm_launcher_size();
    if (cli_check_comm_env(err, errlen)) return -1;
    if (want == WANT_NCCL) { /* MPI + NCCL, as DRUM_COMM=mpi opens MPI (a launcher that
                              * announces nothing, like srun with PMIx, needs it too) */
        drum_comm *host = drum_comm_single();
        if (!drum_comm_mpi_compiled() && launched > 1) {
            snprintf(err, errlen, "DRUM_COMM=nccl: drum was built without MPI, which bootstraps "
                     "NCCL across %d processes (install libopenmpi-dev and rebuild)", launched);
            return -1;
        }
        if (drum_comm_mpi_compiled() && drum_comm_mpi_open(&host, NULL, NULL, err, errlen) != 0)
            return -1;
        if (drum_comm_nccl_open(comm, host, -1, err, errlen) != 0) {
            *comm = drum_comm_single();
            return -1;
        }
        return 0;
    }
    if (want == WANT_SINGLE || (want == WANT_AUTO && launched <= 1)) return 0;
    if (!drum_comm_mpi_compiled() && want == WANT_AUTO) {
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
