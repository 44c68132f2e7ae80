/* drum.h — the library's version and the umbrella include. */
#ifndef DRUM_DRUM_H
#define DRUM_DRUM_H

#define DRUM_VERSION "0.1.0"

#include "drum/backend.h"
#include "drum/ops.h"

#endif
