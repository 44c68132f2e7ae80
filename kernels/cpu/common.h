/* common.h (cpu) — shared by the CPU op files. */
#ifndef DRUM_CPU_COMMON_H
#define DRUM_CPU_COMMON_H

#include "cpu_ops.h"

/* Rows per chunk for reductions over rows (dw, db, dpos): each chunk is summed by one
 * thread, then chunks are added in order, so the result does not depend on the number
 * of threads. */
#define CPU_ROW_CHUNK 64

#endif
