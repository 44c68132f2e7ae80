/* fuzz_score_cache — a score cache file: open (index rebuilt, a torn tail cut), a lookup,
 * an append, and a reopen of what that left; a read-only mirror of the same bytes. */
#include "drum/score_cache.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file(data, size, ".cache");
    char warn[512], err[1024];
    drum_score_cache *m = NULL;
    if (drum_score_cache_open_mirror(&m, path, err, sizeof err) == 0) drum_score_cache_close(m);
    drum_score_cache *c = NULL;
    if (drum_score_cache_open(&c, path, warn, sizeof warn, err, sizeof err) != 0) return 0;
    drum_score_key k = {"synthetic-v1", "q1", "d1", "plain"};
    double v = 0.5;
    drum_score_cache_get(c, &k, &v);
    drum_score_cache_put(c, &k, &v, 1, err, sizeof err);
    drum_score_cache_close(c);
    if (drum_score_cache_open(&c, path, warn, sizeof warn, err, sizeof err) != 0) abort();
    if (!drum_score_cache_get(c, &k, &v) || v != 0.5) abort(); /* the append must survive */
    drum_score_cache_close(c);
    return 0;
}
