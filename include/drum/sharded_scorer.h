/* sharded_scorer.h — one LVLM per rank, each call split over the ranks.
 *
 * Every rank calls score(), generate() or rank() with the same list (SPMD); rank r sends its
 * contiguous share (drum_comm_slice) to its own inner scorer, and the answers are
 * all-gathered so every rank returns the whole list. With an LVLM per GPU, a mining round's
 * scoring and an evaluation's k-shot generation take 1/size of the time. Put it inside the
 * score cache (score_cache.h), whose hits every rank then agrees on: rank 0 writes the cache
 * file, the others mirror it in memory (drum_cached_scorer_create_mirror).
 *
 * An inner scorer's error on one rank is reported on every rank (the others name the rank
 * that failed), so no rank waits in a collective for one that gave up.
 */
#ifndef DRUM_SHARDED_SCORER_H
#define DRUM_SHARDED_SCORER_H

#include "drum/comm.h"
#include "drum/score.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Wraps inner (owned on success: destroy() destroys it) with the same id and template
 * name. comm must outlive the scorer. Returns NULL with a message on failure. */
drum_scorer *drum_sharded_scorer_create(drum_scorer *inner, drum_comm *comm, char *err,
                                        size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
