/* score_cache.c — the append-only, fsynced score cache and the caching scorer wrapper.
 *
 * File layout (docs/FORMATS.md, "Score cache"): a 16-byte header, then records
 *     u32 body_len | u16 len[4] | the four key strings | f64 value | u32 crc32
 * all little-endian, the CRC covering body_len and the body. A crash can only leave a
 * partial record (or junk) at the end, so open() cuts a bad tail off; a bad record with
 * valid ones after it cannot come from a crash and is reported instead of repaired.
 */
#include "drum/score_cache.h"
#include "drum/error.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drum/fileio.h"
#include "drum/rng.h"

#define SC_HEADER 16
#define SC_VERSION 1u
#define SC_MAX_KEY 65535u
/* body_len + 4 lengths + value + crc */
#define SC_OVERHEAD (4 + 8 + 8 + 4)
#define SC_MIN_BODY 16u
#define SC_MAX_BODY (SC_MIN_BODY + 4u * SC_MAX_KEY)

static const unsigned char SC_MAGIC[8] = {'D', 'R', 'U', 'M', 'S', 'C', 'O', 'R'};

/* ---- little-endian fields and CRC-32 (IEEE 802.3, as zlib's crc32) ------------------------ */

static void put_u16(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}
static void put_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void put_u64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get_u16(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t get_u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get_u64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static void crc_init(uint32_t table[256]) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
}

static uint32_t crc32_of(const uint32_t table[256], const unsigned char *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

/* ---- the in-memory index: key digests -> value ------------------------------------------- */

/* A key is the four strings, each followed by '\0' (no string holds a NUL, so the encoding
 * is unambiguous). The index keeps its two digests (drum_key_digests), not its bytes: 32
 * bytes an entry where the strings took ~250 (a VQAv2-sized run's 13 million records held
 * ~4 GB). */
typedef struct {
    uint64_t hash, check;
    double value;
    int aux;
} sc_entry;

typedef struct {
    sc_entry *e;
    size_t n, cap;
    size_t *slot; /* index into e, or SIZE_MAX when empty */
    size_t nslot; /* a power of two, at least twice n */
} sc_index;

static void index_free(sc_index *x) {
    free(x->e);
    free(x->slot);
    memset(x, 0, sizeof *x);
}

/* The entry whose key has digests h and c (drum_key_digests), or NULL. */
static sc_entry *find_digests(const sc_index *x, uint64_t h, uint64_t c) {
    if (!x->nslot) return NULL;
    size_t s = (size_t)h & (x->nslot - 1);
    while (x->slot[s] != SIZE_MAX) {
        sc_entry *e = &x->e[x->slot[s]];
        if (e->hash == h && e->check == c) return e;
        s = (s + 1) & (x->nslot - 1);
    }
    return NULL;
}

static sc_entry *index_find(const sc_index *x, const char *key, size_t len) {
    uint64_t h, c;
    drum_key_digests(key, len, &h, &c);
    return find_digests(x, h, c);
}

static int index_grow(sc_index *x) {
    size_t nslot = x->nslot ? 2 * x->nslot : 1024;
    size_t *slot = malloc(nslot * sizeof *slot);
    if (!slot) return -1;
    for (size_t i = 0; i < nslot; i++) slot[i] = SIZE_MAX;
    for (size_t i = 0; i < x->n; i++) {
        size_t s = (size_t)x->e[i].hash & (nslot - 1);
        while (slot[s] != SIZE_MAX) s = (s + 1) & (nslot - 1);
        slot[s] = i;
    }
    free(x->slot);
    x->slot = slot;
    x->nslot = nslot;
    return 0;
}

/* Sets key -> value (overwriting). Returns the entry, or NULL on OOM. */
static sc_entry *index_set(sc_index *x, const char *key, size_t len, double value) {
    uint64_t h, c; /* taken once, for the lookup and for a new slot */
    drum_key_digests(key, len, &h, &c);
    sc_entry *e = find_digests(x, h, c);
    if (e) {
        e->value = value;
        return e;
    }
    if (2 * (x->n + 1) > x->nslot && index_grow(x) != 0) return NULL;
    if (x->n == x->cap) {
        size_t cap = x->cap ? 2 * x->cap : 256;
        sc_entry *ne = realloc(x->e, cap * sizeof *ne);
        if (!ne) return NULL;
        x->e = ne;
        x->cap = cap;
    }
    size_t s = (size_t)h & (x->nslot - 1);
    while (x->slot[s] != SIZE_MAX) s = (s + 1) & (x->nslot - 1);
    x->slot[s] = x->n;
    e = &x->e[x->n++];
    e->hash = h;
    e->check = c;
    e->value = value;
    e->aux = 0;
    return e;
}

/* ---- keys -------------------------------------------------------------------------------- */

static const char *key_part(const drum_score_key *k, int i) {
    return i == 0 ? k->scorer_id : i == 1 ? k->query_id : i == 2 ? k->demo_id : k->template_name;
}

/* Encodes k into *buf (grown as needed) as the index key; writes the four lengths into
 * lens. Returns the key length, or 0 with a message when a part is missing or too long. */
static size_t key_encode(const drum_score_key *k, char **buf, size_t *cap, uint32_t lens[4],
                         char *err, size_t errlen) {
    static const char *const names[4] = {"scorer id", "query id", "demo id", "template name"};
    size_t total = 0;
    for (int i = 0; i < 4; i++) {
        const char *p = key_part(k, i);
        if (!p) {
            drum_errorf(err, errlen, "score cache: missing %s", names[i]);
            return 0;
        }
        size_t n = strlen(p);
        if (n > SC_MAX_KEY) {
            drum_errorf(err, errlen, "score cache: %s is %zu bytes (at most %u)", names[i], n,
                        SC_MAX_KEY);
            return 0;
        }
        lens[i] = (uint32_t)n;
        total += n + 1;
    }
    if (total > *cap) {
        char *nb = realloc(*buf, total);
        if (!nb) {
            drum_errorf(err, errlen, "score cache: out of memory");
            return 0;
        }
        *buf = nb;
        *cap = total;
    }
    size_t o = 0;
    for (int i = 0; i < 4; i++) {
        memcpy(*buf + o, key_part(k, i), lens[i]);
        o += lens[i];
        (*buf)[o++] = '\0';
    }
    return total;
}

/* ---- the cache file ------------------------------------------------------------------------ */

struct drum_score_cache {
    char *path;
    int fd;
    FILE *f;
    int broken; /* a write failed: the file may end in a partial record */
    int mirror; /* opened read-only beside the rank that writes it: puts stay in memory */
    uint32_t crc[256];
    sc_index idx;
    char *keybuf; /* scratch for put() */
    size_t keycap;
};

static void header_bytes(const uint32_t crc[256], unsigned char h[SC_HEADER]) {
    memcpy(h, SC_MAGIC, 8);
    put_u32(h + 8, SC_VERSION);
    put_u32(h + 12, crc32_of(crc, h, 12));
}

typedef enum { REC_OK, REC_TORN, REC_BAD } rec_status;

/* Checks the record at buf[off..size): REC_OK with its total size in *reclen, REC_TORN
 * when it runs past the end of the file, REC_BAD (with a reason) otherwise. */
static rec_status rec_check(const uint32_t crc[256], const unsigned char *buf, size_t size,
                            size_t off, size_t *reclen, const char **why) {
    if (size - off < 4) {
        *why = "a partial length field";
        return REC_TORN;
    }
    uint32_t body = get_u32(buf + off);
    if (body < SC_MIN_BODY || body > SC_MAX_BODY) {
        *why = "an impossible record length";
        return REC_BAD;
    }
    size_t total = 4 + (size_t)body + 4;
    if (size - off < total) {
        *why = "a record cut short by the end of the file";
        return REC_TORN;
    }
    const unsigned char *b = buf + off + 4;
    uint32_t sum = 0;
    for (int i = 0; i < 4; i++) sum += get_u16(b + 2 * i);
    if (sum + SC_MIN_BODY != body) {
        *why = "key lengths that disagree with the record length";
        return REC_BAD;
    }
    if (crc32_of(crc, buf + off, 4 + body) != get_u32(buf + off + 4 + body)) {
        *why = "a checksum mismatch";
        return REC_BAD;
    }
    if (memchr(b + 8, '\0', sum)) {
        *why = "a NUL byte inside a key";
        return REC_BAD;
    }
    *reclen = total;
    return REC_OK;
}

/* Adds the (valid) record at off to the index. */
static int rec_load(drum_score_cache *c, const unsigned char *buf, size_t off) {
    const unsigned char *b = buf + off + 4;
    uint32_t lens[4], sum = 0;
    for (int i = 0; i < 4; i++) {
        lens[i] = get_u16(b + 2 * i);
        sum += lens[i];
    }
    if (c->keycap < sum + 4) {
        char *k = realloc(c->keybuf, sum + 4);
        if (!k) return -1;
        c->keybuf = k;
        c->keycap = sum + 4;
    }
    char *key = c->keybuf;
    const unsigned char *s = b + 8;
    size_t o = 0;
    for (int i = 0; i < 4; i++) {
        memcpy(key + o, s, lens[i]);
        s += lens[i];
        o += lens[i];
        key[o++] = '\0';
    }
    uint64_t bits = get_u64(s);
    double v;
    memcpy(&v, &bits, sizeof v);
    return index_set(&c->idx, key, o, v) ? 0 : -1;
}

/* The file is read in windows of 64 MiB, not whole (a 13-million-record file is 1.7 GB);
 * a window always holds a whole record from where it starts, or the rest of the file, so it
 * is at least SC_MAX_RECORD. (A build may set a smaller one to test the windows.) */
#define SC_MAX_RECORD (4 + (size_t)SC_MAX_BODY + 4)
#ifndef DRUM_SC_WINDOW
#define DRUM_SC_WINDOW ((size_t)64 << 20)
#endif
#define SC_WINDOW (DRUM_SC_WINDOW > SC_MAX_RECORD ? (size_t)DRUM_SC_WINDOW : SC_MAX_RECORD)

/* After a bad record at off: the offset of a valid record further on (the file is damaged,
 * not torn), or 0. Reads the rest of the file: damage is rare, a torn tail short. */
static size_t valid_after(const drum_score_cache *c, size_t off, size_t size, int *failed) {
    unsigned char *rest = malloc(size - off);
    size_t found = 0;
    *failed = !rest || drum_read_at(c->fd, rest, size - off, off) != 0;
    for (size_t y = 1; !*failed && !found && y + SC_OVERHEAD <= size - off; y++) {
        size_t ylen;
        const char *ywhy;
        if (rec_check(c->crc, rest, size - off, y, &ylen, &ywhy) == REC_OK) found = off + y;
    }
    free(rest);
    return found;
}

/* Cuts the file to `size` bytes and makes that durable. */
static int cut_to(drum_score_cache *c, size_t size, char *err, size_t errlen) {
    if (ftruncate(c->fd, (off_t)size) != 0 || fsync(c->fd) != 0) {
        drum_errorf(err, errlen, "%s: cannot truncate to byte %zu: %s", c->path, size,
                    strerror(errno));
        return -1;
    }
    return 0;
}

/* Validates the header and loads every record; handles a torn or damaged tail. */
static int load(drum_score_cache *c, char *warn, size_t warnlen, char *err, size_t errlen) {
    struct stat st;
    if (fstat(c->fd, &st) != 0) {
        drum_errorf(err, errlen, "%s: cannot read: %s", c->path, strerror(errno));
        return -1;
    }
    size_t size = (size_t)st.st_size, wstart = 0, wlen = 0;
    size_t wcap = size < SC_WINDOW ? size : SC_WINDOW;
    unsigned char *buf = malloc(wcap > SC_HEADER ? wcap : SC_HEADER);
    if (!buf || drum_read_at(c->fd, buf, size < SC_HEADER ? size : SC_HEADER, 0) != 0) {
        drum_errorf(err, errlen, "%s: cannot read: %s", c->path,
                    buf ? strerror(errno) : "out of memory");
        free(buf);
        return -1;
    }
    unsigned char hdr[SC_HEADER];
    header_bytes(c->crc, hdr);
    int rc = -1;
    if (size < SC_HEADER && c->mirror) {
        drum_errorf(err, errlen,
                    "%s: not a drum score cache yet (%zu bytes): the writing rank opens it first",
                    c->path, size);
        goto done;
    }
    if (size < SC_HEADER) {
        /* Empty, or a header cut short while the file was being created. */
        if (memcmp(buf, hdr, size) != 0) {
            drum_errorf(err, errlen, "%s: not a drum score cache (bad magic, %zu bytes)", c->path,
                        size);
            goto done;
        }
        if (size > 0) {
            drum_errorf(warn, warnlen, "%s: rewrote a header cut short at %zu bytes", c->path,
                        size);
            if (cut_to(c, 0, err, errlen) != 0) goto done;
        }
        if (drum_write_all(c->fd, hdr, SC_HEADER) != 0 || fsync(c->fd) != 0) {
            drum_errorf(err, errlen, "%s: cannot write the header: %s", c->path, strerror(errno));
            goto done;
        }
        rc = drum_fsync_parent(c->path, err, errlen);
        goto done;
    }
    if (memcmp(buf, SC_MAGIC, 8) != 0) {
        drum_errorf(err, errlen, "%s: not a drum score cache (bad magic)", c->path);
        goto done;
    }
    if (get_u32(buf + 8) != SC_VERSION) {
        drum_errorf(err, errlen, "%s: score cache version %u, this build reads version %u", c->path,
                    get_u32(buf + 8), SC_VERSION);
        goto done;
    }
    if (memcmp(buf, hdr, SC_HEADER) != 0) {
        drum_errorf(err, errlen, "%s: corrupt header (checksum mismatch at byte offset 12)",
                    c->path);
        goto done;
    }
    size_t off = SC_HEADER;
    while (off < size) {
        /* a window from off when the one read holds neither a whole record nor the end */
        if (off + SC_MAX_RECORD > wstart + wlen && wstart + wlen < size) {
            wstart = off;
            wlen = size - off < wcap ? size - off : wcap;
            if (drum_read_at(c->fd, buf, wlen, off) != 0) {
                drum_errorf(err, errlen, "%s: cannot read: %s", c->path, strerror(errno));
                goto done;
            }
        }
        size_t len = 0;
        const char *why = "";
        rec_status rs = rec_check(c->crc, buf, wlen, off - wstart, &len, &why);
        if (rs == REC_OK) {
            if (rec_load(c, buf, off - wstart) != 0) {
                drum_errorf(err, errlen, "%s: out of memory loading the index", c->path);
                goto done;
            }
            off += len;
            continue;
        }
        /* A valid record further on means the damage is in the middle of the file. */
        int failed;
        size_t y = valid_after(c, off, size, &failed);
        if (failed) {
            drum_errorf(err, errlen, "%s: cannot read past byte offset %zu: %s", c->path, off,
                        strerror(errno ? errno : ENOMEM));
            goto done;
        }
        if (y) {
            drum_errorf(err, errlen,
                        "%s: corrupt record at byte offset %zu (%s) with a valid record "
                        "after it at byte offset %zu: the file is damaged, not torn; restore "
                        "it or move it aside",
                        c->path, off, why, y);
            goto done;
        }
        if (c->mirror) break; /* the writer cut it when it opened the file */
        drum_errorf(warn, warnlen,
                    "%s: dropped %zu bytes at the end (from byte offset %zu: %s); %zu records kept",
                    c->path, size - off, off, why, c->idx.n);
        if (cut_to(c, off, err, errlen) != 0) goto done;
        break;
    }
    rc = 0;
done:
    free(buf);
    return rc;
}

static int cache_open(drum_score_cache **out, const char *path, int mirror, char *warn,
                      size_t warnlen, char *err, size_t errlen) {
    *out = NULL;
    if (warn && warnlen) warn[0] = '\0';
    drum_score_cache *c = calloc(1, sizeof *c);
    if (c) c->fd = -1;
    if (!c || !(c->path = strdup(path))) {
        free(c);
        drum_errorf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    crc_init(c->crc);
    c->f = NULL;
    c->mirror = mirror;
    c->fd = mirror ? open(path, O_RDONLY | O_CLOEXEC)
                   : open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (c->fd < 0) {
        drum_errorf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        drum_score_cache_close(c);
        return -1;
    }
    if (!mirror && drum_lock_file(c->fd, path, err, errlen) != 0) {
        drum_score_cache_close(c);
        return -1;
    }
    if (load(c, warn, warnlen, err, errlen) != 0) {
        drum_score_cache_close(c);
        return -1;
    }
    c->f = mirror ? NULL : fdopen(c->fd, "a");
    if (!mirror && !c->f) {
        drum_errorf(err, errlen, "%s: fdopen: %s", path, strerror(errno));
        drum_score_cache_close(c);
        return -1;
    }
    *out = c;
    return 0;
}

int drum_score_cache_open(drum_score_cache **out, const char *path, char *warn, size_t warnlen,
                          char *err, size_t errlen) {
    return cache_open(out, path, 0, warn, warnlen, err, errlen);
}

int drum_score_cache_open_mirror(drum_score_cache **out, const char *path, char *err,
                                 size_t errlen) {
    return cache_open(out, path, 1, NULL, 0, err, errlen);
}

int drum_score_cache_get(const drum_score_cache *c, const drum_score_key *key, double *value) {
    /* A stack buffer for the usual short keys; key_encode may only realloc a heap one. */
    char stack[512], *buf = stack;
    size_t cap = sizeof stack, need = 0;
    for (int i = 0; i < 4; i++) need += key_part(key, i) ? strlen(key_part(key, i)) + 1 : 0;
    if (need > cap) {
        buf = NULL;
        cap = 0;
    }
    uint32_t lens[4];
    size_t len = key_encode(key, &buf, &cap, lens, NULL, 0);
    int found = 0;
    if (len) {
        sc_entry *e = index_find(&c->idx, buf, len);
        if (e) {
            *value = e->value;
            found = 1;
        }
    }
    if (buf != stack) free(buf);
    return found;
}

/* Appends the records of n valid keys, then fflush + fsync. */
static int write_records(drum_score_cache *c, const drum_score_key *keys, const double *values,
                         int n, char *err, size_t errlen) {
    uint32_t lens[4];
    unsigned char *rec = NULL;
    size_t reccap = 0;
    for (int i = 0; i < n; i++) {
        size_t klen = key_encode(&keys[i], &c->keybuf, &c->keycap, lens, err, errlen);
        size_t sum = klen - 4, total = SC_OVERHEAD + sum;
        if (total > reccap) {
            unsigned char *nr = realloc(rec, total);
            if (!nr) {
                free(rec);
                drum_errorf(err, errlen, "%s: out of memory", c->path);
                return -1;
            }
            rec = nr;
            reccap = total;
        }
        put_u32(rec, (uint32_t)(SC_MIN_BODY + sum));
        unsigned char *p = rec + 4;
        for (int k = 0; k < 4; k++) put_u16(p + 2 * k, lens[k]);
        p += 8;
        for (int k = 0; k < 4; k++) {
            memcpy(p, key_part(&keys[i], k), lens[k]);
            p += lens[k];
        }
        uint64_t bits;
        memcpy(&bits, &values[i], sizeof bits);
        put_u64(p, bits);
        p += 8;
        put_u32(p, crc32_of(c->crc, rec, (size_t)(p - rec)));
        if (fwrite(rec, 1, total, c->f) != total) {
            free(rec);
            c->broken = 1;
            drum_errorf(err, errlen, "%s: write failed: %s", c->path, strerror(errno));
            return -1;
        }
    }
    free(rec);
    if (fflush(c->f) != 0 || fsync(c->fd) != 0) {
        c->broken = 1;
        drum_errorf(err, errlen, "%s: flush failed: %s", c->path, strerror(errno));
        return -1;
    }
    return 0;
}

int drum_score_cache_put(drum_score_cache *c, const drum_score_key *keys, const double *values,
                         int n, char *err, size_t errlen) {
    if (c->broken) {
        drum_errorf(err, errlen, "%s: an earlier write failed; reopen the cache", c->path);
        return -1;
    }
    uint32_t lens[4];
    for (int i = 0; i < n; i++)
        if (!key_encode(&keys[i], &c->keybuf, &c->keycap, lens, err, errlen)) return -1;
    if (!c->mirror && write_records(c, keys, values, n, err, errlen) != 0) return -1;
    /* Only durable records enter the index. */
    for (int i = 0; i < n; i++) {
        size_t klen = key_encode(&keys[i], &c->keybuf, &c->keycap, lens, err, errlen);
        if (!index_set(&c->idx, c->keybuf, klen, values[i])) {
            drum_errorf(err, errlen, "%s: out of memory", c->path);
            return -1;
        }
    }
    return 0;
}

size_t drum_score_cache_count(const drum_score_cache *c) { return c->idx.n; }

const char *drum_score_cache_path(const drum_score_cache *c) { return c->path; }

void drum_score_cache_close(drum_score_cache *c) {
    if (!c) return;
    if (c->f) {
        fclose(c->f); /* also closes fd and so drops the lock */
    } else if (c->fd >= 0) {
        close(c->fd);
    }
    index_free(&c->idx);
    free(c->keybuf);
    free(c->path);
    free(c);
}

/* ---- the caching scorer ----------------------------------------------------------------------- */

typedef struct {
    drum_scorer *inner;
    drum_score_cache *cache;
    int batch;
    drum_score_cache_stats stats;
} cached_impl;

/* A pair's key names its examples by content id (data.h), so an edited example is asked
 * again rather than answered with its old text's score. */
static drum_score_key pair_key(const drum_scorer *inner, const drum_score_pair *p) {
    drum_score_key k = {inner->id, p->query ? drum_example_cache_id(p->query) : NULL,
                        p->demo ? drum_example_cache_id(p->demo) : NULL, inner->template_name};
    return k;
}

static int cached_score(drum_scorer *s, const drum_score_pair *pairs, int n, double *out,
                        char *err, size_t errlen) {
    cached_impl *im = s->impl;
    int rc = -1;
    int *src = malloc((size_t)(n > 0 ? n : 1) * sizeof *src);  /* miss slot, or -1 for a hit */
    int *uniq = malloc((size_t)(n > 0 ? n : 1) * sizeof *uniq); /* first pair of each miss */
    double *uval = malloc((size_t)(n > 0 ? n : 1) * sizeof *uval);
    drum_score_pair *bp = NULL;
    drum_score_key *bk = NULL;
    sc_index pending = {0};
    char *kb = NULL;
    size_t kcap = 0;
    int nu = 0;
    if (!src || !uniq || !uval) {
        drum_errorf(err, errlen, "cached scorer: out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        drum_score_key k = pair_key(im->inner, &pairs[i]);
        uint32_t lens[4];
        size_t klen = key_encode(&k, &kb, &kcap, lens, err, errlen);
        if (!klen) goto done;
        if (drum_score_cache_get(im->cache, &k, &out[i])) {
            src[i] = -1;
            im->stats.hits++;
            continue;
        }
        sc_entry *e = index_find(&pending, kb, klen);
        if (!e) {
            e = index_set(&pending, kb, klen, 0.0);
            if (!e) {
                drum_errorf(err, errlen, "cached scorer: out of memory");
                goto done;
            }
            e->aux = nu;
            uniq[nu++] = i;
        }
        src[i] = e->aux;
    }
    int bs = im->batch > 0 ? im->batch : (nu > 0 ? nu : 1);
    bp = malloc((size_t)bs * sizeof *bp);
    bk = malloc((size_t)bs * sizeof *bk);
    if (!bp || !bk) {
        drum_errorf(err, errlen, "cached scorer: out of memory");
        goto done;
    }
    for (int b = 0; b < nu; b += bs) {
        int m = nu - b < bs ? nu - b : bs;
        for (int k = 0; k < m; k++) {
            bp[k] = pairs[uniq[b + k]];
            bk[k] = pair_key(im->inner, &bp[k]);
        }
        im->stats.inner_calls++;
        if (im->inner->score(im->inner, bp, m, uval + b, err, errlen) != 0) goto done;
        for (int k = 0; k < m; k++) {
            if (isnan(uval[b + k])) {
                drum_errorf(err, errlen, "scorer %s returned NaN for query %s, demo %s",
                            im->inner->id, bk[k].query_id, bk[k].demo_id);
                goto done;
            }
        }
        if (drum_score_cache_put(im->cache, bk, uval + b, m, err, errlen) != 0) goto done;
        im->stats.misses += m;
    }
    for (int i = 0; i < n; i++)
        if (src[i] >= 0) out[i] = uval[src[i]];
    rc = 0;
done:
    free(src);
    free(uniq);
    free(uval);
    free(bp);
    free(bk);
    free(kb);
    index_free(&pending);
    return rc;
}

static int cached_generate(drum_scorer *s, const drum_icl_prompt *prompts, int n, char **out,
                           char *err, size_t errlen) {
    cached_impl *im = s->impl;
    return im->inner->generate(im->inner, prompts, n, out, err, errlen);
}

/* Ranked answers are evaluation, like generate: not cached. */
static int cached_rank(drum_scorer *s, const drum_icl_prompt *prompts, int n,
                       const char *const *choices, int n_choices, double *out, char *err,
                       size_t errlen) {
    cached_impl *im = s->impl;
    return im->inner->rank(im->inner, prompts, n, choices, n_choices, out, err, errlen);
}

static void cached_destroy(drum_scorer *s) {
    cached_impl *im = s->impl;
    drum_score_cache_close(im->cache);
    drum_scorer_destroy(im->inner);
    free(im);
    free(s);
}

static drum_scorer *cached_create(drum_scorer *inner, const char *path, int batch, int mirror,
                                  char *warn, size_t warnlen, char *err, size_t errlen) {
    if (warn && warnlen) warn[0] = '\0';
    drum_scorer *s = calloc(1, sizeof *s);
    cached_impl *im = calloc(1, sizeof *im);
    if (!s || !im) {
        free(s);
        free(im);
        drum_errorf(err, errlen, "cached scorer: out of memory");
        return NULL;
    }
    if (cache_open(&im->cache, path, mirror, warn, warnlen, err, errlen) != 0) {
        free(s);
        free(im);
        return NULL;
    }
    im->inner = inner;
    im->batch = batch;
    drum_scorer_wrap(s, inner, cached_score, cached_generate, cached_rank, cached_destroy, im);
    return s;
}

drum_scorer *drum_cached_scorer_create(drum_scorer *inner, const char *path, int batch,
                                       char *warn, size_t warnlen, char *err, size_t errlen) {
    return cached_create(inner, path, batch, 0, warn, warnlen, err, errlen);
}

drum_scorer *drum_cached_scorer_create_mirror(drum_scorer *inner, const char *path, int batch,
                                              char *err, size_t errlen) {
    return cached_create(inner, path, batch, 1, NULL, 0, err, errlen);
}

int drum_cached_scorer_stats(const drum_scorer *s, drum_score_cache_stats *stats) {
    if (!s || s->score != cached_score) return -1;
    *stats = ((const cached_impl *)s->impl)->stats;
    return 0;
}

drum_score_cache *drum_cached_scorer_cache(drum_scorer *s) {
    if (!s || s->score != cached_score) return NULL;
    return ((cached_impl *)s->impl)->cache;
}
