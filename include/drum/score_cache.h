/* score_cache.h — the persistent score cache: an interrupted run never pays twice for a
 * score.
 *
 * LVLM feedback scores are the expensive part of DRUM's mining loop. The cache keeps every
 * score ever computed in an append-only file keyed by (scorer id, query id, demo id,
 * template name); each batch of new records is flushed and fsynced before the scores are
 * handed back, so a killed run loses at most the batch in flight. The file format is in
 * docs/FORMATS.md ("Score cache").
 *
 * Two layers:
 *   drum_score_cache     the file and its in-memory hash index (open, get, put, close);
 *   drum_cached_scorer   a drum_scorer wrapping any other scorer: score() answers hits from
 *                        the cache and sends only the misses to the inner scorer, in batches.
 *
 * One process writes a cache file at a time (an exclusive flock; a second open fails with a
 * message). Not thread-safe: one thread uses a cache at a time.
 */
#ifndef DRUM_SCORE_CACHE_H
#define DRUM_SCORE_CACHE_H

#include <stddef.h>

#include "drum/score.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct drum_score_cache drum_score_cache;

/* The four strings that name a score. Each is at most 65535 bytes and holds no NUL. */
typedef struct {
    const char *scorer_id;
    const char *query_id;
    const char *demo_id;
    const char *template_name;
} drum_score_key;

/* Opens the cache file at path, creating it when absent, and reads every record into the
 * index. A torn or corrupt tail (what a killed writer or a crash leaves: a partial last
 * record, or bytes after the last record that hold no valid record) is cut off and
 * described in `warn` (warn[0] == '\0' when nothing was dropped). A corrupt record followed
 * by valid ones is damage, not a torn write: the open fails with the file and the byte
 * offset in err, and the file is left untouched. Returns 0 and *out, or -1 with a message
 * (I/O error, not a score cache, unsupported version, locked by another process). */
int drum_score_cache_open(drum_score_cache **out, const char *path, char *warn, size_t warnlen,
                          char *err, size_t errlen);

/* Opens a cache file that another process (rank 0 of a data-parallel run) has open for
 * writing: read-only, without the lock, a torn tail skipped rather than cut (the writer cut
 * it when it opened the file). Puts then update only the in-memory index, so a rank that
 * receives the same scores as the writer answers the same lookups. */
int drum_score_cache_open_mirror(drum_score_cache **out, const char *path, char *err,
                                 size_t errlen);

/* 1 and *value when key is cached, else 0. */
int drum_score_cache_get(const drum_score_cache *c, const drum_score_key *key, double *value);

/* Appends n records, then fflush + fsync: when this returns 0 the records survive a crash.
 * A key already present is appended again and the new value wins (in memory and on
 * reopen). Returns 0, or -1 with a message (invalid key, I/O error, out of memory); after
 * a failed write the cache refuses further puts, since the file may end in a partial
 * record that only a reopen can cut off. */
int drum_score_cache_put(drum_score_cache *c, const drum_score_key *keys, const double *values,
                         int n, char *err, size_t errlen);

/* The number of distinct keys cached. */
size_t drum_score_cache_count(const drum_score_cache *c);

/* The file's path, as given to open. */
const char *drum_score_cache_path(const drum_score_cache *c);

/* Closes the file (releasing the lock) and frees the index. NULL is a no-op. */
void drum_score_cache_close(drum_score_cache *c);

/* Counters of a cached scorer since it was created. */
typedef struct {
    long hits;        /* pairs answered from the cache */
    long misses;      /* distinct pairs sent to the inner scorer */
    long inner_calls; /* calls of the inner scorer's score() */
} drum_score_cache_stats;

/* Wraps `inner` in a scorer with the same id, template name and interface whose score()
 * looks every pair up by (inner->id, query id, demo id, inner->template_name) and calls
 * inner->score() only for the distinct misses, at most `batch` pairs per call (batch <= 0:
 * all misses in one call), persisting each batch before the next. A NaN from the inner
 * scorer is an error and is not cached. generate() passes through uncached. On success the
 * wrapper owns inner (its destroy() destroys inner and closes the cache); on failure inner
 * is left to the caller. Returns the scorer, or NULL with a message in err; warn as in
 * drum_score_cache_open. */
drum_scorer *drum_cached_scorer_create(drum_scorer *inner, const char *path, int batch,
                                       char *warn, size_t warnlen, char *err, size_t errlen);

/* The same over drum_score_cache_open_mirror: for the ranks other than the writer's. */
drum_scorer *drum_cached_scorer_create_mirror(drum_scorer *inner, const char *path, int batch,
                                              char *err, size_t errlen);

/* The counters of a scorer made by drum_cached_scorer_create. Returns 0, or -1 when s is
 * not such a scorer. */
int drum_cached_scorer_stats(const drum_scorer *s, drum_score_cache_stats *stats);

/* The cache inside a cached scorer (for lookups without scoring), or NULL when s is not
 * one. The scorer keeps ownership. */
drum_score_cache *drum_cached_scorer_cache(drum_scorer *s);

#ifdef __cplusplus
}
#endif
#endif
