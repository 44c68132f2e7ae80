/* progress_line.h — the CLI's implementation of drum_progress (progress.c). */
#ifndef DRUM_CLI_PROGRESS_LINE_H
#define DRUM_CLI_PROGRESS_LINE_H

#include "drum/progress.h"

typedef struct {
    int tty;
    char stage[64];
    double start, last_print; /* the stage's first report; the last line printed */
    long start_done, last_done; /* done at the stage's first report, at the last one */
} cli_progress;

/* Fills out so that library progress goes to stderr through p. */
void cli_progress_init(cli_progress *p, drum_progress *out);

#endif
