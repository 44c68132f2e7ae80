/* test_score_cache.c — the persistent score cache: hits skip the inner scorer, records
 * survive a reopen, a torn or junk tail is cut off, damage in the middle is an error naming
 * the byte offset, keys of different scorers and templates stay apart, and a writer killed
 * with SIGKILL at a random moment leaves only intact records (every acknowledged batch
 * among them); a read-only mirror beside the writer sees its records and never writes. */
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/check.h"
#include "drum/score_cache.h"

/* ---- a fake inner scorer that counts its calls ---------------------------------------------- */

typedef struct {
    int calls;      /* score() calls */
    int pairs;      /* pairs scored */
    int fail_call;  /* fail on this call number (1-based), 0 = never */
    int nan_call;   /* return a NaN on this call, 0 = never */
    int gen_calls;
} fake_state;

static double fake_value(const char *sid, const char *tmpl, const char *q, const char *d) {
    uint64_t h = 1469598103934665603ULL;
    const char *parts[4] = {sid, tmpl, q, d};
    for (int k = 0; k < 4; k++) {
        for (const char *p = parts[k]; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ULL;
        h = (h ^ 0xFF) * 1099511628211ULL;
    }
    return -(double)(h % 1000003) / 1000.0 - 0.001;
}

static int fake_score(drum_scorer *s, const drum_score_pair *pairs, int n, double *out,
                      char *err, size_t errlen) {
    fake_state *st = s->impl;
    st->calls++;
    if (st->fail_call == st->calls) {
        snprintf(err, errlen, "fake scorer: planned failure");
        return -1;
    }
    for (int i = 0; i < n; i++)
        out[i] = fake_value(s->id, s->template_name, pairs[i].query->id, pairs[i].demo->id);
    if (st->nan_call == st->calls && n > 0) out[n - 1] = NAN;
    st->pairs += n;
    return 0;
}

static int fake_generate(drum_scorer *s, const drum_icl_prompt *prompts, int n, char **out,
                         char *err, size_t errlen) {
    fake_state *st = s->impl;
    st->gen_calls++;
    for (int i = 0; i < n; i++) out[i] = strdup(prompts[i].query->id);
    return 0;
}

static void fake_destroy(drum_scorer *s) { free(s); }

/* A fake scorer; the state stays with the caller so it can be read after the wrapper took
 * ownership of the scorer. */
static drum_scorer *fake_new(const char *id, const char *tmpl, fake_state *st) {
    drum_scorer *s = calloc(1, sizeof *s);
    snprintf(s->id, sizeof s->id, "%s", id);
    snprintf(s->template_name, sizeof s->template_name, "%s", tmpl);
    s->score = fake_score;
    s->generate = fake_generate;
    s->destroy = fake_destroy;
    s->impl = st;
    memset(st, 0, sizeof *st);
    return s;
}

/* ---- examples and files --------------------------------------------------------------------- */

#define NEX 64
static drum_example queries[NEX], demos[NEX];
static char qid[NEX][512], did[NEX][512];
static char dir[64];

static void make_examples(void) {
    for (int i = 0; i < NEX; i++) {
        /* Long ids (~400 bytes) make a batch span several stdio buffers, hence several
         * write() calls, so a kill can land inside a record. */
        int len = snprintf(qid[i], sizeof qid[i], "query-%03d-", i);
        memset(qid[i] + len, 'q', 400);
        qid[i][len + 400] = '\0';
        len = snprintf(did[i], sizeof did[i], "demo-%03d-", i);
        memset(did[i] + len, 'd', 400);
        did[i][len + 400] = '\0';
        queries[i].id = qid[i];
        demos[i].id = did[i];
    }
}

static void path_of(char *buf, size_t len, const char *name) { snprintf(buf, len, "%s/%s", dir, name); }

static long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static void copy_file(const char *from, const char *to, long limit) {
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    char buf[4096];
    long left = limit < 0 ? 1L << 40 : limit;
    size_t k;
    while (left > 0 && (k = fread(buf, 1, sizeof buf < (size_t)left ? sizeof buf : (size_t)left, a)) > 0) {
        fwrite(buf, 1, k, b);
        left -= (long)k;
    }
    fclose(a);
    fclose(b);
}

static void append_bytes(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "ab");
    fwrite(p, 1, n, f);
    fclose(f);
}

static void flip_byte(const char *path, long off) {
    FILE *f = fopen(path, "r+b");
    fseek(f, off, SEEK_SET);
    int c = fgetc(f);
    fseek(f, off, SEEK_SET);
    fputc(c ^ 0x5A, f);
    fclose(f);
}

/* The on-disk size of one record (docs/FORMATS.md): 24 bytes + the four key strings. */
static long record_size(const char *sid, const char *q, const char *d, const char *tmpl) {
    return 24 + (long)(strlen(sid) + strlen(q) + strlen(d) + strlen(tmpl));
}

/* Scores pairs (q[i], d[i]) for i in [lo, hi) through s; checks every value. */
static int score_range(drum_scorer *s, const char *sid, const char *tmpl, int lo, int hi, int shift) {
    int n = hi - lo;
    drum_score_pair pairs[NEX] = {{0}};
    double out[NEX];
    for (int i = 0; i < n; i++) {
        pairs[i].query = &queries[(lo + i) % NEX];
        pairs[i].demo = &demos[(lo + i + shift) % NEX];
    }
    char err[512] = "";
    int rc = s->score(s, pairs, n, out, err, sizeof err);
    CHECK(rc == 0, "score: %s", err);
    int bad = 0;
    for (int i = 0; i < n && rc == 0; i++)
        bad += out[i] != fake_value(sid, tmpl, pairs[i].query->id, pairs[i].demo->id);
    CHECK(bad == 0, "%d wrong values", bad);
    return rc;
}

/* ---- tests ------------------------------------------------------------------------------------- */

/* The fake "lvlm-a" / "icl-v1" behind a cache on a new file `name` (its path in path, 128
 * bytes); NULL, a failed check, when it does not open, or opens with something to drop. */
static drum_scorer *fresh_cached(const char *name, char *path, fake_state *st) {
    char warn[512], err[512];
    path_of(path, 128, name);
    drum_scorer *s = drum_cached_scorer_create(fake_new("lvlm-a", "icl-v1", st), path, 0, warn,
                                               sizeof warn, err, sizeof err);
    CHECK(s != NULL, "create %s: %s", name, err);
    CHECK(!s || warn[0] == '\0', "a new file has nothing to drop: %s", warn);
    return s;
}

static void test_hits_skip_inner(void) {
    char path[128], warn[512], err[512];
    fake_state st;
    drum_scorer *s = fresh_cached("hits.cache", path, &st);
    if (!s) return;
    CHECK(strcmp(s->id, "lvlm-a") == 0 && strcmp(s->template_name, "icl-v1") == 0,
          "the wrapper keeps the inner id and template");
    score_range(s, "lvlm-a", "icl-v1", 0, 10, 0);
    CHECK(st.calls == 1 && st.pairs == 10, "first call: %d calls, %d pairs", st.calls, st.pairs);
    score_range(s, "lvlm-a", "icl-v1", 0, 10, 0);
    CHECK(st.calls == 1 && st.pairs == 10, "all hits: inner called (%d calls)", st.calls);
    score_range(s, "lvlm-a", "icl-v1", 5, 15, 0);
    CHECK(st.calls == 2 && st.pairs == 15, "5 misses: %d calls, %d pairs", st.calls, st.pairs);

    /* Duplicates inside one call are scored once. */
    drum_score_pair dup[6];
    double out[6];
    for (int i = 0; i < 6; i++) {
        dup[i].query = &queries[40 + i % 2];
        dup[i].demo = &demos[41];
    }
    CHECK(s->score(s, dup, 6, out, err, sizeof err) == 0, "dup: %s", err);
    CHECK(st.pairs == 17, "two distinct misses among six pairs: %d pairs", st.pairs);
    CHECK(out[0] == out[2] && out[1] == out[5] && out[0] != out[1], "duplicates get one value");

    drum_score_cache_stats cs;
    CHECK(drum_cached_scorer_stats(s, &cs) == 0 && cs.hits == 10 + 5 && cs.misses == 17 &&
              cs.inner_calls == 3,
          "stats: %ld hits, %ld misses, %ld calls", cs.hits, cs.misses, cs.inner_calls);
    CHECK(drum_score_cache_count(drum_cached_scorer_cache(s)) == 17, "17 records");

    /* generate() passes through and is not cached. */
    const drum_example *shots[1] = {&demos[0]};
    drum_icl_prompt pr = {&queries[3], shots, 1};
    char *ans[1];
    for (int r = 0; r < 2; r++) {
        CHECK(s->generate(s, &pr, 1, ans, err, sizeof err) == 0 && strcmp(ans[0], qid[3]) == 0,
              "generate");
        free(ans[0]);
    }
    CHECK(st.gen_calls == 2, "generate is not cached: %d calls", st.gen_calls);
    drum_scorer_destroy(s);

    /* Batching: 10 misses in batches of 4 -> 3 inner calls. */
    fake_state st2;
    path_of(path, sizeof path, "batch.cache");
    s = drum_cached_scorer_create(fake_new("lvlm-a", "icl-v1", &st2), path, 4, warn, sizeof warn,
                                  err, sizeof err);
    score_range(s, "lvlm-a", "icl-v1", 0, 10, 3);
    CHECK(st2.calls == 3 && st2.pairs == 10, "batches of 4: %d calls", st2.calls);
    drum_scorer_destroy(s);
    CHECK(file_size(path) == 16 + 10 * record_size("lvlm-a", qid[0], did[0], "icl-v1"),
          "file holds the header and 10 records: %ld bytes", file_size(path));
}

/* Examples loaded from a file carry a content id ("id#digest", data.h): the cache files a
 * pair under it, so an example edited under the same id is asked again, and its first
 * version is still a hit. Examples without one are filed under their id (above). */
static void test_content_ids(void) {
    char path[128], err[512];
    fake_state st;
    drum_scorer *s = fresh_cached("content.cache", path, &st);
    if (!s) return;
    drum_example q = {.id = "q", .content_id = "q#0000000000000001"};
    drum_example d = {.id = "d", .content_id = "d#0000000000000001"};
    drum_score_pair pair = {&q, &d};
    double v;
    const char *versions[][2] = {{"q#0000000000000001", "d#0000000000000001"},
                                 {"q#0000000000000001", "d#0000000000000001"},
                                 {"q#0000000000000002", "d#0000000000000001"},
                                 {"q#0000000000000002", "d#0000000000000002"},
                                 {"q#0000000000000001", "d#0000000000000001"},
                                 {NULL, NULL}};
    const int want_pairs[] = {1, 1, 2, 3, 3, 4};
    for (int i = 0; i < 6; i++) {
        q.content_id = (char *)versions[i][0];
        d.content_id = (char *)versions[i][1];
        CHECK(s->score(s, &pair, 1, &v, err, sizeof err) == 0, "score: %s", err);
        CHECK(st.pairs == want_pairs[i], "version %d (%s, %s): the LVLM saw %d pairs, want %d", i,
              versions[i][0] ? versions[i][0] : "id", versions[i][1] ? versions[i][1] : "id",
              st.pairs, want_pairs[i]);
    }
    drum_scorer_destroy(s);
    CHECK(file_size(path) == 16 + 3 * record_size("lvlm-a", "q#0000000000000001",
                                                  "d#0000000000000001", "icl-v1") +
                                 record_size("lvlm-a", "q", "d", "icl-v1"),
          "three records under content ids and one under the ids: %ld bytes", file_size(path));
}

static void test_persistence(void) {
    char path[128], warn[512], err[512];
    path_of(path, sizeof path, "persist.cache");
    fake_state st;
    drum_scorer *s = drum_cached_scorer_create(fake_new("lvlm-b", "t", &st), path, 7, warn,
                                               sizeof warn, err, sizeof err);
    score_range(s, "lvlm-b", "t", 0, NEX, 1);
    drum_scorer_destroy(s);
    s = drum_cached_scorer_create(fake_new("lvlm-b", "t", &st), path, 7, warn, sizeof warn, err,
                                  sizeof err);
    CHECK(s != NULL && warn[0] == '\0', "reopen: %s %s", err, warn);
    if (!s) return;
    CHECK(drum_score_cache_count(drum_cached_scorer_cache(s)) == NEX, "%d records after reopen",
          (int)drum_score_cache_count(drum_cached_scorer_cache(s)));
    score_range(s, "lvlm-b", "t", 0, NEX, 1);
    CHECK(st.calls == 0, "everything was a hit after reopen (%d inner calls)", st.calls);

    /* The low-level API sees the same records; -inf and exact bits survive. */
    drum_score_cache *c = drum_cached_scorer_cache(s);
    drum_score_key k = {"lvlm-b", qid[2], did[3], "t"};
    double v = 0;
    CHECK(drum_score_cache_get(c, &k, &v) == 1 && v == fake_value("lvlm-b", "t", qid[2], did[3]),
          "get");
    drum_score_key k2 = {"other", "q", "d", "t"};
    double vals[2] = {-INFINITY, 0x1.23456789abcdep-7};
    drum_score_key ks[2] = {k2, {"other", "q2", "d", "t"}};
    CHECK(drum_score_cache_put(c, ks, vals, 2, err, sizeof err) == 0, "put: %s", err);
    drum_score_key bad = {"x", NULL, "d", "t"};
    CHECK(drum_score_cache_put(c, &bad, vals, 1, err, sizeof err) == -1 && strstr(err, "query id"),
          "a missing key part is rejected: %s", err);
    drum_scorer_destroy(s);

    drum_score_cache *c2;
    CHECK(drum_score_cache_open(&c2, path, warn, sizeof warn, err, sizeof err) == 0, "open: %s", err);
    CHECK(drum_score_cache_get(c2, &k2, &v) == 1 && isinf(v) && v < 0, "-inf persisted");
    CHECK(drum_score_cache_get(c2, &ks[1], &v) == 1 && v == vals[1], "exact bits persisted");
    CHECK(drum_score_cache_get(c2, &(drum_score_key){"other", "q3", "d", "t"}, &v) == 0,
          "absent key");

    /* A second writer is refused while the first holds the file. */
    drum_score_cache *c3 = NULL;
    CHECK(drum_score_cache_open(&c3, path, warn, sizeof warn, err, sizeof err) == -1 &&
              strstr(err, "in use") != NULL,
          "second open must fail: %s", err);
    drum_score_cache_close(c3);
    drum_score_cache_close(c2);
}

/* Writes a cache of n records (scorer "w", template "t") and returns the file size. */
static long write_cache(const char *path, int n) {
    unlink(path);
    char warn[256], err[256];
    fake_state st;
    drum_scorer *s = drum_cached_scorer_create(fake_new("w", "t", &st), path, 0, warn, sizeof warn,
                                               err, sizeof err);
    score_range(s, "w", "t", 0, n, 0);
    drum_scorer_destroy(s);
    return file_size(path);
}

/* Opens path expecting success with `want` records and a warning iff warn_expected. */
static void expect_open(const char *path, size_t want, int warn_expected, const char *what) {
    drum_score_cache *c;
    char warn[512], err[512] = "";
    int rc = drum_score_cache_open(&c, path, warn, sizeof warn, err, sizeof err);
    CHECK(rc == 0, "%s: open failed: %s", what, err);
    if (rc != 0) return;
    CHECK(drum_score_cache_count(c) == want, "%s: %zu records, want %zu", what,
          drum_score_cache_count(c), want);
    CHECK(warn_expected ? warn[0] != '\0' : warn[0] == '\0', "%s: warning \"%s\"", what, warn);
    size_t bad = 0;
    for (int i = 0; i < (int)want; i++) {
        double v;
        drum_score_key k = {"w", qid[i], did[i], "t"};
        bad += !drum_score_cache_get(c, &k, &v) || v != fake_value("w", "t", qid[i], did[i]);
    }
    CHECK(bad == 0, "%s: %zu records missing or wrong", what, bad);
    drum_score_cache_close(c);
}

static void test_torn_tail(void) {
    char full[128], cut[128];
    path_of(full, sizeof full, "full.cache");
    path_of(cut, sizeof cut, "cut.cache");
    const int n = 12;
    long size = write_cache(full, n);
    long rec = record_size("w", qid[0], did[0], "t");
    long last = size - rec;
    CHECK(last == 16 + (n - 1) * rec, "layout: last record at %ld", last);
    /* Cuts inside the length field, the key lengths, the keys, the value and the CRC. */
    long offs[] = {1, 2, 3, 4, 6, 11, 12, 20, rec - 13, rec - 8, rec - 5, rec - 4, rec - 1};
    for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
        copy_file(full, cut, last + offs[i]);
        char what[64];
        snprintf(what, sizeof what, "cut %ld bytes into the last record", offs[i]);
        expect_open(cut, n - 1, 1, what);
        CHECK(file_size(cut) == last, "%s: file cut back to %ld (is %ld)", what, last, file_size(cut));
        expect_open(cut, n - 1, 0, "reopen after the cut");
    }
    /* A complete last record with a bad checksum is a torn write too. */
    copy_file(full, cut, -1);
    flip_byte(cut, size - 10);
    expect_open(cut, n - 1, 1, "corrupt last record");
    /* A header cut short while the file was created: rewritten, no records. */
    copy_file(full, cut, 9);
    expect_open(cut, 0, 1, "torn header");
    CHECK(file_size(cut) == 16, "header rewritten: %ld bytes", file_size(cut));
}

static void test_garbage_tail(void) {
    char full[128], g[128];
    path_of(full, sizeof full, "full.cache");
    path_of(g, sizeof g, "garbage.cache");
    const int n = 9;
    long size = write_cache(full, n);
    test_rng r;
    test_rng_seed(&r, 77);
    size_t lens[] = {1, 3, 4, 7, 24, 100, 5000};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        unsigned char junk[5000];
        for (size_t k = 0; k < lens[i]; k++) junk[k] = (unsigned char)test_rng_u32(&r);
        copy_file(full, g, -1);
        append_bytes(g, junk, lens[i]);
        char what[64];
        snprintf(what, sizeof what, "%zu junk bytes appended", lens[i]);
        expect_open(g, n, 1, what);
        CHECK(file_size(g) == size, "%s: cut back to %ld", what, size);
    }
    /* Zeros, as a crash can leave in a file's last block. */
    unsigned char zeros[300] = {0};
    copy_file(full, g, -1);
    append_bytes(g, zeros, sizeof zeros);
    expect_open(g, n, 1, "zeros appended");
}

static void test_mid_file_corruption(void) {
    char full[128], bad[128];
    path_of(full, sizeof full, "full.cache");
    path_of(bad, sizeof bad, "bad.cache");
    const int n = 10;
    long size = write_cache(full, n);
    long rec = record_size("w", qid[0], did[0], "t");
    struct {
        long rec_index, byte;
        const char *what;
    } cases[] = {{3, 30, "a key byte"}, {5, rec - 10, "the value"}, {0, 1, "the length field"},
                 {7, 5, "a key length"}, {8, rec - 2, "the checksum"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        copy_file(full, bad, -1);
        long off = 16 + cases[i].rec_index * rec;
        flip_byte(bad, off + cases[i].byte);
        drum_score_cache *c = NULL;
        char warn[512], err[512] = "", want[64];
        int rc = drum_score_cache_open(&c, bad, warn, sizeof warn, err, sizeof err);
        snprintf(want, sizeof want, "byte offset %ld ", off);
        CHECK(rc == -1 && strstr(err, bad) && strstr(err, want),
              "corrupt %s of record %ld: rc %d, err \"%s\" (want \"%s\")", cases[i].what,
              cases[i].rec_index, rc, err, want);
        drum_score_cache_close(c);
        CHECK(file_size(bad) == size, "a damaged file is left untouched");
    }
    /* Not a cache at all, and a future version. */
    FILE *f = fopen(bad, "wb");
    fputs("this is not a score cache, just text\n", f);
    fclose(f);
    drum_score_cache *c = NULL;
    char warn[256], err[256];
    CHECK(drum_score_cache_open(&c, bad, warn, sizeof warn, err, sizeof err) == -1 &&
              strstr(err, "not a drum score cache"), "bad magic: %s", err);
    copy_file(full, bad, -1);
    flip_byte(bad, 8);
    CHECK(drum_score_cache_open(&c, bad, warn, sizeof warn, err, sizeof err) == -1 &&
              strstr(err, "version"), "bad version: %s", err);
}

static void test_keys_do_not_collide(void) {
    char path[128], warn[256], err[256];
    path_of(path, sizeof path, "shared.cache");
    const char *ids[3][2] = {{"lvlm-a", "icl-v1"}, {"lvlm-b", "icl-v1"}, {"lvlm-a", "icl-v2"}};
    fake_state st[3];
    for (int k = 0; k < 3; k++) {
        drum_scorer *s = drum_cached_scorer_create(fake_new(ids[k][0], ids[k][1], &st[k]), path, 0,
                                                   warn, sizeof warn, err, sizeof err);
        score_range(s, ids[k][0], ids[k][1], 0, 8, 2);
        CHECK(st[k].pairs == 8, "scorer %s/%s scored its own 8 pairs (%d)", ids[k][0], ids[k][1],
              st[k].pairs);
        drum_scorer_destroy(s);
    }
    for (int k = 0; k < 3; k++) {
        drum_scorer *s = drum_cached_scorer_create(fake_new(ids[k][0], ids[k][1], &st[k]), path, 0,
                                                   warn, sizeof warn, err, sizeof err);
        score_range(s, ids[k][0], ids[k][1], 0, 8, 2);
        CHECK(st[k].calls == 0, "scorer %s/%s: all hits on reopen", ids[k][0], ids[k][1]);
        CHECK(drum_score_cache_count(drum_cached_scorer_cache(s)) == 24, "24 distinct keys");
        drum_scorer_destroy(s);
    }
    /* Concatenations that would collide without separators stay apart. */
    drum_score_cache *c;
    drum_score_cache_open(&c, path, warn, sizeof warn, err, sizeof err);
    drum_score_key a = {"ab", "c", "d", "t"}, b = {"a", "bc", "d", "t"};
    double va = 1.0, vb = 2.0, v;
    drum_score_cache_put(c, &a, &va, 1, err, sizeof err);
    drum_score_cache_put(c, &b, &vb, 1, err, sizeof err);
    CHECK(drum_score_cache_get(c, &a, &v) && v == 1.0 && drum_score_cache_get(c, &b, &v) && v == 2.0,
          "ab|c and a|bc are different keys");
    drum_score_cache_close(c);
}

static void test_inner_failures(void) {
    char path[128], warn[256], err[256];
    path_of(path, sizeof path, "fail.cache");
    fake_state st;
    drum_scorer *inner = fake_new("f", "t", &st);
    drum_scorer *s = drum_cached_scorer_create(inner, path, 5, warn, sizeof warn, err, sizeof err);
    st.fail_call = 2;
    drum_score_pair pairs[12];
    double out[12];
    for (int i = 0; i < 12; i++) {
        pairs[i].query = &queries[i];
        pairs[i].demo = &demos[i];
    }
    CHECK(s->score(s, pairs, 12, out, err, sizeof err) == -1 && strstr(err, "planned"),
          "the inner error comes back: %s", err);
    CHECK(drum_score_cache_count(drum_cached_scorer_cache(s)) == 5, "the batch before the failure is kept");
    st.fail_call = 0;
    st.nan_call = st.calls + 1;
    CHECK(s->score(s, pairs, 12, out, err, sizeof err) == -1 && strstr(err, "NaN"),
          "a NaN is an error: %s", err);
    CHECK(drum_score_cache_count(drum_cached_scorer_cache(s)) == 5, "the NaN batch is not cached");
    CHECK(s->score(s, pairs, 12, out, err, sizeof err) == 0, "recovers: %s", err);
    drum_scorer_destroy(s);
    drum_score_cache *c;
    CHECK(drum_score_cache_open(&c, path, warn, sizeof warn, err, sizeof err) == 0 &&
              drum_score_cache_count(c) == 12 && warn[0] == '\0',
          "fail.cache reopens with 12 records: %s", err);
    drum_score_cache_close(c);
    /* A cache path that cannot be created: the caller keeps inner. */
    fake_state st2;
    drum_scorer *in2 = fake_new("f", "t", &st2);
    CHECK(drum_cached_scorer_create(in2, "/nonexistent-dir/x.cache", 0, warn, sizeof warn, err,
                                    sizeof err) == NULL && strstr(err, "/nonexistent-dir/x.cache"),
          "bad path: %s", err);
    drum_score_cache_stats cs;
    CHECK(drum_cached_scorer_stats(in2, &cs) == -1 && drum_cached_scorer_cache(in2) == NULL,
          "a plain scorer is not a cached scorer");
    drum_scorer_destroy(in2);
}

/* The child appends batches forever, acknowledging each completed score() on a pipe; the
 * parent kills it at a random moment and checks what is left. */
static void test_kill_safety(void) {
    char path[128];
    path_of(path, sizeof path, "kill.cache");
    test_rng r;
    test_rng_seed(&r, test_seed());
    int torn_seen = 0;
    const int batch = 16, rounds = 20;
    for (int round = 0; round < rounds; round++) {
        unlink(path);
        int fds[2];
        if (pipe(fds) != 0) {
            CHECK(0, "pipe");
            return;
        }
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            close(fds[0]);
            char warn[256], err[256];
            fake_state st;
            drum_scorer *s = drum_cached_scorer_create(fake_new("k", "t", &st), path, batch, warn,
                                                       sizeof warn, err, sizeof err);
            if (!s) _exit(3);
            for (int b = 0;; b++) {
                drum_score_pair pairs[4 * 16];
                double out[4 * 16];
                for (int i = 0; i < 4 * batch; i++) {
                    pairs[i].query = &queries[i % NEX];
                    pairs[i].demo = &demos[(b * 4 * batch + i) / NEX % NEX];
                }
                if (s->score(s, pairs, 4 * batch, out, err, sizeof err) != 0) _exit(4);
                int acked = (b + 1) * 4 * batch;
                if (write(fds[1], &acked, sizeof acked) != sizeof acked) _exit(5);
            }
        }
        close(fds[1]);
        int acked = 0, want_acks = 1 + test_rng_int(&r, 0, 6), got = 0, v;
        while (got < want_acks && read(fds[0], &v, sizeof v) == sizeof v) {
            acked = v;
            got++;
        }
        usleep((useconds_t)test_rng_int(&r, 0, 3000));
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        close(fds[0]);
        CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child died by SIGKILL (%d)", status);

        drum_score_cache *c;
        char warn[512], err[512];
        CHECK(drum_score_cache_open(&c, path, warn, sizeof warn, err, sizeof err) == 0,
              "reopen after kill: %s", err);
        torn_seen += warn[0] != '\0';
        size_t n = drum_score_cache_count(c);
        CHECK(n >= (size_t)acked, "round %d: %zu records, %d acknowledged", round, n, acked);
        /* Every record present is intact: the value is the fake's value for its key. */
        size_t present = 0, wrong = 0;
        for (int q = 0; q < NEX; q++) {
            for (int d = 0; d < NEX; d++) {
                double val;
                drum_score_key k = {"k", qid[q], did[d], "t"};
                if (drum_score_cache_get(c, &k, &val)) {
                    present++;
                    wrong += val != fake_value("k", "t", qid[q], did[d]);
                }
            }
        }
        CHECK(present == n && wrong == 0, "round %d: %zu present, %zu wrong", round, present, wrong);
        drum_score_cache_close(c);
    }
    printf("kill: %d rounds, %d left a torn tail that was cut off\n", rounds, torn_seen);
}

/* A mirror (the other ranks of a data-parallel run): opened beside the writer (which holds
 * the lock), it sees the writer's records, keeps its own puts in memory only, skips a torn
 * tail without cutting it, and refuses a file that is not a cache yet. */
static void test_mirror(void) {
    char path[128], torn[128], empty[128];
    path_of(path, sizeof path, "mirror.cache");
    path_of(torn, sizeof torn, "mirror_torn.cache");
    path_of(empty, sizeof empty, "mirror_empty.cache");
    const int n = 10;
    long size = write_cache(path, n);
    char warn[256] = "", err[256] = "";
    drum_score_cache *w = NULL, *m = NULL;
    CHECK(drum_score_cache_open(&w, path, warn, sizeof warn, err, sizeof err) == 0,
          "writer open: %s", err);
    int rc = drum_score_cache_open_mirror(&m, path, err, sizeof err);
    CHECK(rc == 0 && drum_score_cache_count(m) == (size_t)n,
          "a mirror beside the locked writer: rc %d, %zu records: %s", rc,
          m ? drum_score_cache_count(m) : 0, err);
    if (m) {
        double v = 0;
        drum_score_key k = {"w", qid[3], did[3], "t"};
        CHECK(drum_score_cache_get(m, &k, &v) && v == fake_value("w", "t", qid[3], did[3]),
              "the mirror's value of a written record");
        drum_score_key nk = {"w", qid[40], did[41], "t"};
        double nv = -2.5;
        CHECK(drum_score_cache_put(m, &nk, &nv, 1, err, sizeof err) == 0 &&
                  drum_score_cache_get(m, &nk, &v) && v == nv,
              "a mirror's put is answered from memory: %s", err);
        CHECK(file_size(path) == size, "a mirror's put wrote to the file (%ld bytes, was %ld)",
              file_size(path), size);
    }
    drum_score_cache_close(m);
    drum_score_cache_close(w);
    /* a torn tail: skipped by the mirror, left for the writer to cut */
    long rec = record_size("w", qid[0], did[0], "t");
    copy_file(path, torn, size - rec / 2);
    m = NULL;
    rc = drum_score_cache_open_mirror(&m, torn, err, sizeof err);
    CHECK(rc == 0 && drum_score_cache_count(m) == (size_t)n - 1 &&
              file_size(torn) == size - rec / 2,
          "a mirror of a torn file: rc %d, %zu records, %ld bytes", rc,
          m ? drum_score_cache_count(m) : 0, file_size(torn));
    drum_score_cache_close(m);
    /* no cache yet: an error naming the file, and nothing created */
    m = NULL;
    err[0] = '\0';
    rc = drum_score_cache_open_mirror(&m, empty, err, sizeof err);
    CHECK(rc == -1 && strstr(err, "mirror_empty.cache") && file_size(empty) == -1,
          "a mirror of a missing file: rc %d, '%s'", rc, err);
    fclose(fopen(empty, "w"));
    rc = drum_score_cache_open_mirror(&m, empty, err, sizeof err);
    CHECK(rc == -1 && strstr(err, "not a drum score cache yet") && file_size(empty) == 0,
          "a mirror of an empty file: rc %d, '%s'", rc, err);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/drum_test_score_cache_XXXXXX");
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp");
        return check_summary();
    }
    make_examples();
    test_hits_skip_inner();
    test_content_ids();
    test_persistence();
    test_torn_tail();
    test_garbage_tail();
    test_mid_file_corruption();
    test_keys_do_not_collide();
    test_inner_failures();
    test_kill_safety();
    test_mirror();
    CHECK(test_remove_tree(dir) == 0, "cleanup of %s", dir);
    return check_summary();
}
