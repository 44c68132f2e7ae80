/* revision.c — drum_source_revision (drum.h). The Makefile compiles this file alone with
 * -DDRUM_REVISION, and again whenever the checkout's revision changes. */
#include "drum/drum.h"

#ifndef DRUM_REVISION
#define DRUM_REVISION "unknown"
#endif

const char *drum_source_revision(void) { return DRUM_REVISION; }
