/* answer_cache.c — generate()'s answers and rank()'s log-likelihoods kept in a JSON-lines
 * file, and the scorer wrapper that answers from it (answer_cache.h). */
#include "drum/answer_cache.h"

#include <cjson/cJSON.h>
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
#include "drum/strbuf.h"

/* ---- the index: key -> an answer or a row of log-likelihoods -------------------------- */

/* A key (a prompt's ids, ~1.4 KB at 32 shots) is kept as its two digests (drum_key_digests),
 * not as its text: the index held the file over again. */
typedef struct {
    uint64_t hash, check;
    int used;     /* 0: an empty slot */
    char *answer; /* generate */
    double *ll;   /* rank: n_ll numbers */
    int n_ll;
} ac_entry;

typedef struct {
    ac_entry *slot;
    size_t cap, count;
} ac_index;

/* The entry whose key has digests h and c (drum_key_digests), or NULL. */
static ac_entry *find_digests(const ac_index *x, uint64_t h, uint64_t c) {
    if (!x->cap) return NULL;
    for (size_t i = h & (x->cap - 1);; i = (i + 1) & (x->cap - 1)) {
        ac_entry *e = &x->slot[i];
        if (!e->used) return NULL;
        if (e->hash == h && e->check == c) return e;
    }
}

static ac_entry *index_find(const ac_index *x, const char *key) {
    uint64_t h, c;
    drum_key_digests(key, strlen(key), &h, &c);
    return find_digests(x, h, c);
}

static void entry_clear(ac_entry *e) {
    free(e->answer);
    free(e->ll);
    memset(e, 0, sizeof *e);
}

static int index_grow(ac_index *x) {
    size_t cap = x->cap ? 2 * x->cap : 1024;
    ac_entry *slot = calloc(cap, sizeof *slot);
    if (!slot) return -1;
    for (size_t i = 0; i < x->cap; i++) {
        ac_entry *e = &x->slot[i];
        if (!e->used) continue;
        size_t j = e->hash & (cap - 1);
        while (slot[j].used) j = (j + 1) & (cap - 1);
        slot[j] = *e;
    }
    free(x->slot);
    x->slot = slot;
    x->cap = cap;
    return 0;
}

/* Takes ownership of key (kept as its digests), answer and ll (also on failure); a key
 * present is replaced. */
static int index_put(ac_index *x, char *key, char *answer, double *ll, int n_ll) {
    uint64_t h, c;
    drum_key_digests(key, strlen(key), &h, &c); /* once, for the lookup and the slot */
    ac_entry *e = find_digests(x, h, c);
    free(key);
    if (e) {
        free(e->answer);
        free(e->ll);
    } else {
        if ((x->count + 1) * 2 > x->cap && index_grow(x) != 0) {
            free(answer);
            free(ll);
            return -1;
        }
        size_t i = h & (x->cap - 1);
        while (x->slot[i].used) i = (i + 1) & (x->cap - 1);
        e = &x->slot[i];
        e->used = 1;
        e->hash = h;
        e->check = c;
        x->count++;
    }
    e->answer = answer;
    e->ll = ll;
    e->n_ll = n_ll;
    return 0;
}

static void index_free(ac_index *x) {
    for (size_t i = 0; i < x->cap; i++) entry_clear(&x->slot[i]);
    free(x->slot);
    memset(x, 0, sizeof *x);
}

/* ---- the file ------------------------------------------------------------------------- */

#ifndef DRUM_AC_WINDOW
#define DRUM_AC_WINDOW ((size_t)64 << 20)
#endif
#define AC_WINDOW ((size_t)DRUM_AC_WINDOW > 16 ? (size_t)DRUM_AC_WINDOW : 16)

typedef struct {
    drum_scorer *inner;
    char *path;
    int fd, mirror, broken; /* broken: a write failed; no more appends */
    ac_index idx;
    drum_answer_cache_stats stats;
} ac_impl;

/* Whether a record's value fits its key (prompt_key): a generate key holds an answer; a rank
 * key, ending in its choices' "N:<hex>" (choices_digest), holds N log-likelihoods. */
static int fits_key(const char *key, int answer, int n_ll) {
    if (strncmp(key, "generate\x1f", 9) == 0) return answer;
    const char *last = strrchr(key, '\x1f');
    if (answer || strncmp(key, "rank\x1f", 5) != 0 || !last) return 0;
    char *end;
    long n = strtol(last + 1, &end, 10);
    return end != last + 1 && *end == ':' && n == n_ll;
}

/* One record line (without its newline) into the index. Returns 0, -1 when the line is not a
 * record, or -2 when memory ran out (the line may be good: it must not be cut). */
static int parse_record(ac_impl *im, const char *text, size_t len) {
    int oom;
    cJSON *o = drum_json_parse(text, len, NULL, &oom);
    if (oom) {
        cJSON_Delete(o);
        return -2;
    }
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(o, "k");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "a");
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, "r");
    int rc = -1;
    if (!cJSON_IsObject(o) || !cJSON_IsString(k) || (a != NULL) == (r != NULL)) goto out;
    char *key = strdup(k->valuestring), *answer = NULL;
    double *ll = NULL;
    int n = 0;
    if (!key) goto oom;
    if (a) {
        if (!cJSON_IsString(a)) goto bad;
        if (!(answer = strdup(a->valuestring))) goto oom;
    } else {
        if (!cJSON_IsArray(r)) goto bad;
        n = cJSON_GetArraySize(r);
        ll = malloc((size_t)(n > 0 ? n : 1) * sizeof *ll);
        if (!ll) goto oom;
        int i = 0;
        for (const cJSON *v = r->child; v; v = v->next, i++) {
            if (!cJSON_IsNumber(v)) goto bad;
            ll[i] = v->valuedouble;
        }
    }
    if (!fits_key(key, answer != NULL, n)) goto bad;
    rc = index_put(&im->idx, key, answer, ll, n) ? -2 : 0; /* it fails only for memory */
    goto out;
oom:
    rc = -2;
bad:
    free(key);
    free(answer);
    free(ll);
out:
    cJSON_Delete(o);
    return rc;
}

/* Reads every record. The writer cuts a torn last line (no newline, or not a record) off
 * the file; the mirror skips it. A bad line before good ones is an error. */
static int load(ac_impl *im, char *warn, size_t warnlen, char *err, size_t errlen) {
    struct stat st;
    if (fstat(im->fd, &st) != 0) {
        snprintf(err, errlen, "%s: %s", im->path, strerror(errno));
        return -1;
    }
    /* read in windows of 64 MiB, not whole (a million 32-shot prompts: ~1.4 GB); a window
     * grows only for a line longer than itself */
    size_t size = (size_t)st.st_size, cap = size < AC_WINDOW ? size + 1 : AC_WINDOW;
    size_t base = 0, have = 0; /* buf holds the file's bytes [base, base + have) */
    char *buf = malloc(cap);
    if (!buf) {
        snprintf(err, errlen, "%s: out of memory for %zu bytes", im->path, cap);
        return -1;
    }
    size_t pos = 0, cut = size;
    int line = 0;
    while (pos < size) {
        char *nl;
        while (!(nl = memchr(buf + (pos - base), '\n', have - (pos - base))) &&
               base + have < size) {
            memmove(buf, buf + (pos - base), have - (pos - base)); /* the line's start first */
            have -= pos - base;
            base = pos;
            if (have == cap) {
                char *nb = realloc(buf, cap * 2);
                if (!nb) {
                    snprintf(err, errlen, "%s:%d: out of memory reading the answers", im->path,
                             line + 1);
                    free(buf);
                    return -1;
                }
                buf = nb;
                cap *= 2;
            }
            size_t want = cap - have < size - (base + have) ? cap - have : size - (base + have);
            if (drum_read_at(im->fd, buf + have, want, base + have) != 0) {
                snprintf(err, errlen, "%s: read: %s", im->path, strerror(errno));
                free(buf);
                return -1;
            }
            have += want;
        }
        line++;
        size_t end = nl ? base + (size_t)(nl - buf) : size; /* file offsets */
        int parsed = nl ? parse_record(im, buf + (pos - base), end - pos) : -1;
        if (parsed == -2) {
            snprintf(err, errlen, "%s:%d: out of memory reading the answers", im->path, line);
            free(buf);
            return -1;
        }
        if (parsed != 0) {
            if (nl && end + 1 < size) {
                snprintf(err, errlen, "%s:%d: not an answer record (a damaged file: records "
                         "follow it)", im->path, line);
                free(buf);
                return -1;
            }
            cut = pos;
            break;
        }
        pos = end + 1;
    }
    free(buf);
    if (cut < size) {
        if (!im->mirror && (ftruncate(im->fd, (off_t)cut) != 0 || fsync(im->fd) != 0)) {
            snprintf(err, errlen, "%s: cutting a torn last line: %s", im->path, strerror(errno));
            return -1;
        }
        if (warn && warnlen)
            snprintf(warn, warnlen, "%s: %s a torn last line (line %d, %zu bytes)", im->path,
                     im->mirror ? "skipped" : "cut off", line, size - cut);
    }
    im->stats.records = (long)im->idx.count;
    return 0;
}

/* Appends the records and fsyncs (the writer), or keeps them in memory only (a mirror). */
static int append(ac_impl *im, const char *text, size_t n, char *err, size_t errlen) {
    if (im->mirror || n == 0) return 0;
    int was_broken = im->broken;
    if (was_broken || drum_write_all(im->fd, text, n) != 0 || fsync(im->fd) != 0) {
        im->broken = 1;
        snprintf(err, errlen, "%s: cannot append answers: %s", im->path,
                 was_broken ? "an earlier write failed" : strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- keys ------------------------------------------------------------------------------ */

/* op \x1f scorer id \x1f template \x1f query id \x1f demo ids (\x1e between) [\x1f choices],
 * the examples named by content id (data.h): an edited example is asked again */
static char *prompt_key(const drum_scorer *inner, const char *op, const drum_icl_prompt *p,
                        const char *choices) {
    const char *head[] = {op, inner->id, inner->template_name, drum_example_cache_id(p->query)};
    drum_strbuf b = {0};
    for (size_t i = 0; i < sizeof head / sizeof head[0]; i++) {
        drum_sb_str(&b, head[i]);
        drum_sb_str(&b, "\x1f");
    }
    for (int j = 0; j < p->k; j++) {
        if (j) drum_sb_str(&b, "\x1e");
        drum_sb_str(&b, drum_example_cache_id(p->demos[j]));
    }
    if (choices) {
        drum_sb_str(&b, "\x1f");
        drum_sb_str(&b, choices);
    }
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

/* "N:<hex>": how many choices and a 64-bit digest of them in order. */
static void choices_digest(const char *const *choices, int n, char *out, size_t len) {
    uint64_t h = DRUM_FNV1A_INIT;
    for (int j = 0; j < n; j++) h = drum_fnv1a(choices[j], strlen(choices[j]) + 1, h);
    snprintf(out, len, "%d:%016llx", n, (unsigned long long)h);
}

/* Appends {"k": key, "a": answer} or {"k": key, "r": [...]} and a newline to b. */
static int record_line(drum_strbuf *b, const char *key, const char *answer, const double *ll,
                       int n) {
    cJSON *o = cJSON_CreateObject();
    int ok = o && cJSON_AddStringToObject(o, "k", key);
    if (ok && answer) ok = cJSON_AddStringToObject(o, "a", answer) != NULL;
    if (ok && !answer) { /* %.17g: cJSON prints 15 digits when they read back within an
                            * epsilon, which can lose the last bit */
        cJSON *r = cJSON_AddArrayToObject(o, "r");
        for (int j = 0; r && j < n && isfinite(ll[j]); j++) {
            char num[32];
            snprintf(num, sizeof num, "%.17g", ll[j]);
            cJSON_AddItemToArray(r, cJSON_CreateRaw(num));
        }
        ok = r && cJSON_GetArraySize(r) == n;
    }
    char *text = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    ok = text && drum_sb_str(b, text) == 0 && drum_sb_str(b, "\n") == 0;
    free(text);
    return ok ? 0 : -1;
}

/* ---- the wrapper ----------------------------------------------------------------------- */

static int ac_score(drum_scorer *s, const drum_score_pair *pairs, int n, double *out, char *err,
                    size_t errlen) {
    ac_impl *im = s->impl;
    return im->inner->score(im->inner, pairs, n, out, err, errlen);
}

static const ac_entry *entry_of(const ac_impl *im, const char *key) {
    return index_find(&im->idx, key);
}

/* One generate or rank call: every prompt's key, and the prompts not cached (miss, m of
 * them) gathered into sub for the inner scorer; lines collects their new records. */
typedef struct {
    int n, m;
    char **keys; /* a key is NULL once the index owns it (a miss answered) */
    int *miss;
    drum_icl_prompt *sub;
    drum_strbuf lines;
} ac_call;

static void call_end(ac_call *c) {
    if (c->keys)
        for (int i = 0; i < c->n; i++) free(c->keys[i]);
    free(c->keys);
    free(c->miss);
    free(c->sub);
    free(c->lines.s);
}

static int call_begin(ac_impl *im, const char *op, const drum_icl_prompt *prompts, int n,
                      const char *choices, ac_call *c, char *err, size_t errlen) {
    memset(c, 0, sizeof *c);
    c->n = n;
    c->keys = calloc((size_t)(n > 0 ? n : 1), sizeof *c->keys);
    c->miss = malloc((size_t)(n > 0 ? n : 1) * sizeof *c->miss);
    c->sub = malloc((size_t)(n > 0 ? n : 1) * sizeof *c->sub);
    for (int i = 0; c->keys && c->miss && c->sub && i < n; i++) {
        if (!(c->keys[i] = prompt_key(im->inner, op, &prompts[i], choices))) break;
        if (!entry_of(im, c->keys[i])) {
            c->sub[c->m] = prompts[i];
            c->miss[c->m++] = i;
        }
    }
    if (!c->keys || !c->miss || !c->sub || (n > 0 && !c->keys[n - 1])) {
        snprintf(err, errlen, "answer cache: out of memory");
        return -1;
    }
    im->stats.hits += n - c->m;
    im->stats.misses += c->m;
    if (c->m) im->stats.inner_calls++;
    return 0;
}

static int ac_generate(drum_scorer *s, const drum_icl_prompt *prompts, int n, char **out,
                       char *err, size_t errlen) {
    ac_impl *im = s->impl;
    for (int i = 0; i < n; i++) out[i] = NULL;
    ac_call c;
    char **got = NULL;
    int rc = -1;
    if (call_begin(im, "generate", prompts, n, NULL, &c, err, errlen)) goto out;
    if (c.m) {
        if (!(got = calloc((size_t)c.m, sizeof *got))) goto oom;
        if (im->inner->generate(im->inner, c.sub, c.m, got, err, errlen)) goto out;
        for (int j = 0; j < c.m; j++)
            if (record_line(&c.lines, c.keys[c.miss[j]], got[j], NULL, 0)) goto oom;
        if (append(im, c.lines.s, c.lines.n, err, errlen)) goto out;
        for (int j = 0; j < c.m; j++) {
            char *answer = strdup(got[j]), *key = c.keys[c.miss[j]];
            if (!answer) goto oom;
            c.keys[c.miss[j]] = NULL; /* the index owns it now, also when the put fails */
            if (index_put(&im->idx, key, answer, NULL, 0)) goto oom;
        }
        im->stats.records = (long)im->idx.count;
    }
    for (int i = 0; i < n; i++) {
        if (c.keys[i]) {
            const ac_entry *e = entry_of(im, c.keys[i]);
            if (!e || !e->answer) {
                snprintf(err, errlen, "%s: a generate key holds log-likelihoods", im->path);
                goto out;
            }
            if (!(out[i] = strdup(e->answer))) goto oom;
        }
    }
    for (int j = 0; j < c.m; j++) {
        out[c.miss[j]] = got[j];
        got[j] = NULL;
    }
    rc = 0;
    goto out;
oom:
    snprintf(err, errlen, "answer cache: out of memory");
out:
    if (rc)
        for (int i = 0; i < n; i++) {
            free(out[i]);
            out[i] = NULL;
        }
    if (got)
        for (int j = 0; j < c.m; j++) free(got[j]);
    free(got);
    call_end(&c);
    return rc;
}

static int ac_rank(drum_scorer *s, const drum_icl_prompt *prompts, int n,
                   const char *const *choices, int n_choices, double *out, char *err,
                   size_t errlen) {
    ac_impl *im = s->impl;
    if (n_choices > DRUM_ANSWER_CACHE_MAX_CHOICES) /* rows too long to keep: asked every time */
        return im->inner->rank(im->inner, prompts, n, choices, n_choices, out, err, errlen);
    char digest[48];
    choices_digest(choices, n_choices, digest, sizeof digest);
    ac_call c;
    double *got = NULL;
    size_t row = (size_t)n_choices;
    int rc = -1;
    if (call_begin(im, "rank", prompts, n, digest, &c, err, errlen)) goto out;
    if (c.m) {
        if (!(got = malloc((size_t)c.m * (row ? row : 1) * sizeof *got))) goto oom;
        if (im->inner->rank(im->inner, c.sub, c.m, choices, n_choices, got, err, errlen)) goto out;
        for (int j = 0; j < c.m; j++)
            if (record_line(&c.lines, c.keys[c.miss[j]], NULL, got + j * row, n_choices)) goto oom;
        if (append(im, c.lines.s, c.lines.n, err, errlen)) goto out;
        for (int j = 0; j < c.m; j++) {
            double *ll = malloc((row ? row : 1) * sizeof *ll);
            char *key = c.keys[c.miss[j]];
            if (!ll) goto oom;
            memcpy(ll, got + j * row, row * sizeof *ll);
            c.keys[c.miss[j]] = NULL; /* the index owns it now, also when the put fails */
            if (index_put(&im->idx, key, NULL, ll, n_choices)) goto oom;
        }
        im->stats.records = (long)im->idx.count;
        for (int j = 0; j < c.m; j++)
            memcpy(out + c.miss[j] * row, got + j * row, row * sizeof *out);
    }
    for (int i = 0; i < n; i++) {
        if (!c.keys[i]) continue;
        const ac_entry *e = entry_of(im, c.keys[i]);
        if (!e || !e->ll || e->n_ll != n_choices) {
            snprintf(err, errlen, "%s: the record for prompt %d (query %s) does not hold %d "
                     "log-likelihoods", im->path, i, prompts[i].query->id, n_choices);
            goto out;
        }
        memcpy(out + i * row, e->ll, row * sizeof *out);
    }
    rc = 0;
    goto out;
oom:
    snprintf(err, errlen, "answer cache: out of memory");
out:
    free(got);
    call_end(&c);
    return rc;
}

static void ac_destroy(drum_scorer *s) {
    ac_impl *im = s->impl;
    drum_scorer_destroy(im->inner);
    if (im->fd >= 0) close(im->fd);
    index_free(&im->idx);
    free(im->path);
    free(im);
    free(s);
}

drum_scorer *drum_answer_cached_scorer_create(drum_scorer *inner, const char *path, int mirror,
                                              char *warn, size_t warnlen, char *err,
                                              size_t errlen) {
    if (warn && warnlen) warn[0] = '\0';
    drum_scorer *s = calloc(1, sizeof *s);
    ac_impl *im = calloc(1, sizeof *im);
    if (!s || !im || !(im->path = strdup(path))) {
        free(s);
        free(im);
        snprintf(err, errlen, "answer cache: out of memory");
        return NULL;
    }
    im->inner = inner;
    im->mirror = mirror;
    im->fd = mirror ? open(path, O_RDONLY | O_CLOEXEC)
                    : open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (im->fd < 0)
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    else if (!mirror && drum_lock_file(im->fd, path, err, errlen) != 0)
        ;
    else if (load(im, warn, warnlen, err, errlen) == 0) {
        drum_scorer_wrap(s, inner, ac_score, ac_generate, ac_rank, ac_destroy, im);
        return s;
    }
    im->inner = NULL; /* still the caller's */
    if (im->fd >= 0) close(im->fd);
    index_free(&im->idx);
    free(im->path);
    free(im);
    free(s);
    return NULL;
}

int drum_answer_cached_scorer_stats(const drum_scorer *s, drum_answer_cache_stats *stats) {
    if (!s || s->destroy != ac_destroy) return -1;
    *stats = ((const ac_impl *)s->impl)->stats;
    return 0;
}
