/* answer_cache.h — evaluation answers kept across runs, so an interrupted `drum eval` (or any
 * job's evaluation) never asks an LVLM the same k-shot prompt twice.
 *
 * The score cache (score_cache.h) keeps mining's feedback scores. This one keeps what
 * evaluation asks for: generate()'s answers and rank()'s log-likelihoods, keyed by the whole
 * prompt — (operation, scorer id, template, query id, the demonstration ids in prompt order,
 * and for rank the list of choices) — in a JSON-lines file (docs/FORMATS.md, "Answer
 * cache"). Each batch of new answers is written and fsynced before it is handed back, so a
 * killed run loses at most the call in flight. A torn last line (what a killed writer
 * leaves) is cut off on open and reported in `warn`; a bad line followed by good ones is
 * damage: the open fails naming the file and the line.
 *
 * drum_answer_cached_scorer_create wraps any scorer: score() passes through; generate() and
 * rank() answer hits from the file and send only the misses to the inner scorer, in one
 * call. One process writes a file at a time (an exclusive flock); the other ranks of a
 * data-parallel run open a read-only mirror (as with the score cache) whose new answers stay
 * in memory, so every rank agrees on the hits. Not thread-safe.
 *
 * rank() calls with more than DRUM_ANSWER_CACHE_MAX_CHOICES choices pass through uncached:
 * ImageNet's 1000 class names would make a ~20 KB line a prompt (gigabytes for an evaluation).
 */
#ifndef DRUM_ANSWER_CACHE_H
#define DRUM_ANSWER_CACHE_H

#include <stddef.h>

#include "drum/score.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DRUM_ANSWER_CACHE_MAX_CHOICES 64

/* Opens (creating) path and wraps inner. mirror: read-only, no lock, a torn tail skipped,
 * new answers in memory only. Returns the wrapper (which owns inner from then on), or NULL
 * with a message (inner is then still the caller's). warn may be NULL. */
drum_scorer *drum_answer_cached_scorer_create(drum_scorer *inner, const char *path, int mirror,
                                              char *warn, size_t warnlen, char *err,
                                              size_t errlen);

typedef struct {
    long hits;        /* prompts answered from the cache */
    long misses;      /* prompts sent to the inner scorer */
    long inner_calls; /* calls of the inner generate() or rank() */
    long records;     /* answers held (loaded and added) */
} drum_answer_cache_stats;

/* The counters of an answer-cached scorer; -1 for another scorer. */
int drum_answer_cached_scorer_stats(const drum_scorer *s, drum_answer_cache_stats *stats);

#ifdef __cplusplus
}
#endif
#endif
