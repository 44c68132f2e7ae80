/* common.h (cpu) — shared by the CPU op files. */
#ifndef DRUM_CPU_COMMON_H
#define DRUM_CPU_COMMON_H

#include "cpu_ops.h"

/* Rows per chunk for reductions over rows (dw, db, dpos): each chunk is summed by one
 * thread, then chunks are added in order, so the result does not depend on the number
 * of threads. */
#define CPU_ROW_CHUNK 64

/* At least `bytes` of 64-byte-aligned scratch owned by the backend, for the op that asks
 * (its name goes into the error): one buffer, grown when an op needs more and kept until the
 * backend is destroyed, so ops allocate nothing once a training step has run. Valid until
 * the next call; its contents are undefined. NULL with the error recorded when out of memory. */
void *cpu_scratch(drum_backend *be, size_t bytes, const char *op);

#endif
