/* commands.h — the CLI's subcommands (src/cli/cmd_*.c). Each takes argv starting at its
 * own name and returns the process exit status: 0 ok, 1 failure, 2 usage error,
 * 3 interrupted with a checkpoint (resume with --resume). */
#ifndef DRUM_CLI_COMMANDS_H
#define DRUM_CLI_COMMANDS_H

typedef enum { JOB_DEMO, JOB_TRAIN, JOB_EVAL, JOB_MINE } job_kind;

int cmd_job(int argc, char **argv, job_kind kind);
int cmd_synth(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_retrieve(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_convert(int argc, char **argv);

#endif
