/* commands.h — the CLI's subcommands (src/cli/cmd_*.c). Each takes argv starting at its
 * own name and returns the process exit status: 0 ok, 1 failure, 2 usage error,
 * 3 interrupted with a checkpoint (resume with --resume). */
#ifndef DRUM_CLI_COMMANDS_H
#define DRUM_CLI_COMMANDS_H

#include <stddef.h>

#include "drum/comm.h"

typedef enum { JOB_DEMO, JOB_TRAIN, JOB_EVAL, JOB_MINE } job_kind;

int cmd_job(int argc, char **argv, job_kind kind);
int cmd_synth(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_retrieve(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_convert(int argc, char **argv);

/* The ranks this process runs among (src/cli/comm_cli.c): MPI when a launcher (mpirun,
 * mpiexec) started more than one process or DRUM_COMM=mpi asks for it, else one process
 * (DRUM_COMM=single forces that). Returns 0, or -1 with a message. */
int cli_open_comm(drum_comm **comm, char *err, size_t errlen);

/* How many processes the launcher started this one among (0 or 1: none), unless
 * DRUM_COMM=single says to run alone regardless. */
int cli_launched_ranks(void);
/* 0 when DRUM_COMM is unset or names a way (mpi, nccl, single); else -1 with the error that
 * cli_open_comm would give, for --check to give it first. */
int cli_check_comm_env(char *err, size_t errlen);

/* With several ranks: prints err as "CMD: rank R of N: err" and ends every rank (the others
 * may wait in a collective for this one). With one, returns and the caller reports err. */
void cli_fail_ranks(drum_comm *comm, const char *cmd, const char *err);

#endif
