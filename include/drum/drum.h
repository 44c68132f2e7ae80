/* drum.h — the library's version and the umbrella include. */
#ifndef DRUM_DRUM_H
#define DRUM_DRUM_H

#define DRUM_VERSION "0.1.0"

/* The source revision this build was compiled from: `git describe --always --dirty` of the
 * checkout at build time ("-dirty": with uncommitted changes to tracked files), "unknown"
 * when built outside a git checkout. Runs record it (config.yaml) beside DRUM_VERSION. */
const char *drum_source_revision(void);

#include "drum/backend.h"
#include "drum/ops.h"

#endif
