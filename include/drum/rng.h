/* rng.h — the library's random numbers: PCG32 (O'Neill), small state that checkpoints
 * save and restore, so a resumed run draws the same numbers as an uninterrupted one. */
#ifndef DRUM_RNG_H
#define DRUM_RNG_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    uint64_t state, inc;
} drum_rng;

static inline uint32_t drum_rng_u32(drum_rng *r) {
    uint64_t old = r->state;
    r->state = old * 6364136223846793005ULL + r->inc;
    uint32_t x = (uint32_t)(((old >> 18u) ^ old) >> 27u);
    uint32_t rot = (uint32_t)(old >> 59u);
    return (x >> rot) | (x << ((-rot) & 31));
}

/* Seeds from (seed, stream): different streams of one seed are independent. */
static inline void drum_rng_seed(drum_rng *r, uint64_t seed, uint64_t stream) {
    r->state = 0;
    r->inc = (stream << 1u) | 1u;
    drum_rng_u32(r);
    r->state += seed;
    drum_rng_u32(r);
}

/* Uniform in [0, n) without modulo bias. */
static inline uint32_t drum_rng_below(drum_rng *r, uint32_t n) {
    uint32_t threshold = (uint32_t)(-n) % n;
    for (;;) {
        uint32_t x = drum_rng_u32(r);
        if (x >= threshold) return x % n;
    }
}

/* Uniform in [0, 1) with 24 random bits. */
static inline float drum_rng_uniform(drum_rng *r) {
    return (float)(drum_rng_u32(r) >> 8) * (1.0f / 16777216.0f);
}

/* Standard normal (Box-Muller, one value per call). */
static inline float drum_rng_normal(drum_rng *r) {
    float u1 = ((float)(drum_rng_u32(r) >> 8) + 1.0f) * (1.0f / 16777217.0f);
    float u2 = drum_rng_uniform(r);
    return sqrtf(-2.0f * logf(u1)) * cosf(6.28318530717958647692f * u2);
}

/* A 64-bit mix of two values (SplitMix64 finaliser), for per-item seeds. */
static inline uint64_t drum_hash64(uint64_t a, uint64_t b) {
    uint64_t z = a * 0x9E3779B97F4A7C15ULL + b + 0x632BE59BD9B4E019ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* FNV-1a (64-bit) of n bytes, continued from h: DRUM_FNV1A_INIT starts a digest. Ids into
 * hashes, checkpoint and weight digests, cache keys. */
#define DRUM_FNV1A_INIT 0xcbf29ce484222325ULL
/* The start the string hashes of ids, words and n-grams have always used: the FNV offset
 * basis with its last decimal digit lost. Kept, because the simulator's per-pair draws
 * (synth_world.h) and every hash-table layout depend on it. */
#define DRUM_STR_HASH_INIT 1469598103934665603ULL
static inline uint64_t drum_fnv1a(const void *p, size_t n, uint64_t h) {
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 0x100000001b3ULL;
    return h;
}

/* A 64-bit digest of bytes, continued from h, for bulk data (image levels): four
 * independent lanes of drum_hash64 over little-endian 8-byte words, several times
 * FNV-1a's byte-at-a-time speed. Every step is a bijection of its lane, so any change
 * confined to one word always changes the digest; the length is part of it. Fed in pieces
 * (drum_hash_begin, _update, _end) it is the digest of their concatenation. */
typedef struct {
    uint64_t lane[4];
    unsigned char tail[32]; /* bytes short of a whole 32-byte block */
    size_t fill;
    uint64_t n;             /* bytes so far */
} drum_hash_state;

static inline void drum_hash_begin(drum_hash_state *st, uint64_t h) {
    st->lane[0] = h;
    st->lane[1] = h ^ 0x9E3779B97F4A7C15ULL;
    st->lane[2] = h ^ 0xBF58476D1CE4E5B9ULL;
    st->lane[3] = h ^ 0x94D049BB133111EBULL;
    st->fill = 0;
    st->n = 0;
}

static inline void drum_hash_block(drum_hash_state *st, const unsigned char *b) {
    for (int k = 0; k < 4; k++) {
        uint64_t w;
        memcpy(&w, b + 8 * k, sizeof w);
        st->lane[k] = drum_hash64(st->lane[k], w);
    }
}

static inline void drum_hash_update(drum_hash_state *st, const void *p, size_t n) {
    if (n == 0) return; /* p may be NULL then (an empty candidate list) */
    const unsigned char *s = p;
    st->n += n;
    if (st->fill) {
        size_t take = n < 32 - st->fill ? n : 32 - st->fill;
        memcpy(st->tail + st->fill, s, take);
        st->fill += take;
        s += take;
        n -= take;
        if (st->fill < 32) return;
        drum_hash_block(st, st->tail);
        st->fill = 0;
    }
    for (; n >= 32; s += 32, n -= 32) drum_hash_block(st, s);
    memcpy(st->tail, s, n);
    st->fill = n;
}

static inline uint64_t drum_hash_end(const drum_hash_state *st) {
    uint64_t d = drum_fnv1a(st->tail, st->fill, drum_hash64(st->lane[0], st->n));
    for (int k = 1; k < 4; k++) d = drum_hash64(d, st->lane[k]);
    return d;
}

/* The digest of n bytes at once. */
static inline uint64_t drum_hash_bytes(const void *p, size_t n, uint64_t h) {
    drum_hash_state st;
    drum_hash_begin(&st, h);
    drum_hash_update(&st, p, n);
    return drum_hash_end(&st);
}

/* A key kept as two 64-bit digests of its n bytes: FNV-1a (a hash table's slot) and the lane
 * hash (the check), both from DRUM_FNV1A_INIT. The caches' indexes keep these, not the key,
 * and take two keys as one only when both agree (odds ~2^-80 over 13 million keys). */
static inline void drum_key_digests(const void *p, size_t n, uint64_t *hash, uint64_t *check) {
    *hash = drum_fnv1a(p, n, DRUM_FNV1A_INIT);
    *check = drum_hash_bytes(p, n, DRUM_FNV1A_INIT);
}

/* The string hash: FNV-1a from DRUM_STR_HASH_INIT, of n bytes or of a C string. */
static inline uint64_t drum_str_hash_n(const char *s, size_t n) {
    return drum_fnv1a(s, n, DRUM_STR_HASH_INIT);
}
static inline uint64_t drum_str_hash(const char *s) { return drum_str_hash_n(s, strlen(s)); }

#endif
