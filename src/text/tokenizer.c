/* tokenizer.c — CLIP byte-level BPE, matching Hugging Face CLIPTokenizer (see tokenizer.h
 * for the pipeline). Ids are worked on directly: a word's bytes start as the ids of their
 * byte-unicode symbols, and merges map (left id, right id) -> (rank, merged id). */
#include "drum/error.h"
#include "drum/fileio.h"
#include "drum/rng.h"
#include "drum/tokenizer.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

typedef struct {
    char *text;     /* the token's content */
    char *match;    /* what is searched for: the content, normalised when `normalized` */
    int len;        /* strlen(match) */
    int id;
    int normalized; /* matched on normalised text (1) or on the raw input (0) */
} added_token;

struct drum_tokenizer {
    drum_tokenizer_info info;
    int byte_id[256];      /* id of the byte-unicode symbol of each byte */
    int byte_eow_id[256];  /* the same symbol + "</w>" */
    uint64_t *mkey;        /* merges: open addressing on (left << 32 | right) */
    int *mrank, *mnew;
    size_t mcap;           /* power of two */
    added_token *added;
    int n_added;
};

#define MKEY_EMPTY UINT64_MAX

/* ---- string -> id map, used while loading ------------------------------------------ */

typedef struct {
    const char **key;
    int *klen;
    int *id;
    size_t cap; /* power of two */
} str_map;

static int str_map_init(str_map *m, size_t n) {
    m->cap = 16;
    while (m->cap < 2 * n) m->cap <<= 1;
    m->key = calloc(m->cap, sizeof(*m->key));
    m->klen = calloc(m->cap, sizeof(*m->klen));
    m->id = calloc(m->cap, sizeof(*m->id));
    return (m->key && m->klen && m->id) ? 0 : -1;
}

static void str_map_free(str_map *m) {
    free(m->key);
    free(m->klen);
    free(m->id);
}

/* Later insertions of a key replace earlier ones (Python's dict, serde's map). */
static void str_map_put(str_map *m, const char *k, int n, int id) {
    size_t i = drum_str_hash_n(k, (size_t)n) & (m->cap - 1);
    while (m->key[i] && !(m->klen[i] == n && memcmp(m->key[i], k, n) == 0))
        i = (i + 1) & (m->cap - 1);
    m->key[i] = k;
    m->klen[i] = n;
    m->id[i] = id;
}

static int str_map_get(const str_map *m, const char *k, int n) {
    size_t i = drum_str_hash_n(k, (size_t)n) & (m->cap - 1);
    while (m->key[i]) {
        if (m->klen[i] == n && memcmp(m->key[i], k, n) == 0) return m->id[i];
        i = (i + 1) & (m->cap - 1);
    }
    return -1;
}

/* ---- merges -------------------------------------------------------------------------- */

static size_t merge_slot(const drum_tokenizer *t, uint64_t key) {
    return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 20) & (t->mcap - 1);
}

static void merge_put(drum_tokenizer *t, int a, int b, int rank, int id) {
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    size_t i = merge_slot(t, key);
    while (t->mkey[i] != MKEY_EMPTY && t->mkey[i] != key) i = (i + 1) & (t->mcap - 1);
    t->mkey[i] = key;
    t->mrank[i] = rank;
    t->mnew[i] = id;
}

/* Rank of merging (a, b), or -1; *id gets the merged token. */
static int merge_get(const drum_tokenizer *t, int a, int b, int *id) {
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    size_t i = merge_slot(t, key);
    while (t->mkey[i] != MKEY_EMPTY) {
        if (t->mkey[i] == key) {
            *id = t->mnew[i];
            return t->mrank[i];
        }
        i = (i + 1) & (t->mcap - 1);
    }
    return -1;
}

/* GPT-2 / CLIP bytes_to_unicode: printable Latin-1 bytes map to themselves, the other 68
 * bytes to U+0100.. in byte order. */
static int byte_to_unicode(int b) {
    if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) return b;
    int n = 0;
    for (int c = 0; c < b; c++)
        if (!((c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF)))
            n++;
    return 256 + n;
}

/* ---- loading ------------------------------------------------------------------------- */

static int load_vocab(drum_tokenizer *t, const char *path, cJSON **json, str_map *map,
                      char *err, size_t errlen) {
    size_t len;
    char *buf = drum_read_file(path, &len, err, errlen);
    if (!buf) return -1;
    int oom;
    cJSON *root = drum_json_parse(buf, len, NULL, &oom);
    free(buf);
    if (!root && oom) return drum_errorf(err, errlen, "%s: out of memory parsing it", path);
    if (!root || !cJSON_IsObject(root)) {
        drum_errorf(err, errlen, "%s: not a JSON object (expected HF vocab.json: token -> id)", path);
        cJSON_Delete(root);
        return -1;
    }
    *json = root;
    int n = cJSON_GetArraySize(root);
    if (n == 0 || str_map_init(map, (size_t)n) != 0) {
        drum_errorf(err, errlen, "%s: %s", path, n == 0 ? "empty vocabulary" : "out of memory");
        return -1;
    }
    int max_id = -1;
    for (cJSON *e = root->child; e; e = e->next) {
        double v = e->valuedouble;
        if (!cJSON_IsNumber(e) || v < 0 || v > 2147483646.0 || v != (double)(int)v) {
            drum_errorf(err, errlen, "%s: token \"%.40s\" has no valid id (expected an integer >= 0)",
                    path, e->string);
            return -1;
        }
        str_map_put(map, e->string, (int)strlen(e->string), (int)v);
        if ((int)v > max_id) max_id = (int)v;
    }
    t->info.vocab_size = max_id + 1;
    for (int b = 0; b < 256; b++) {
        char sym[16];
        int n1 = (int)utf8proc_encode_char(byte_to_unicode(b), (utf8proc_uint8_t *)sym);
        memcpy(sym + n1, "</w>", 5);
        t->byte_id[b] = str_map_get(map, sym, n1);
        t->byte_eow_id[b] = str_map_get(map, sym, n1 + 4);
        if (t->byte_id[b] < 0 || t->byte_eow_id[b] < 0) {
            drum_errorf(err, errlen,
                    "%s: byte 0x%02x's symbol U+%04X%s is missing (not a CLIP byte-level vocabulary)",
                    path, b, byte_to_unicode(b), t->byte_id[b] < 0 ? "" : "</w>");
            return -1;
        }
    }
    return 0;
}

static int load_merges(drum_tokenizer *t, const char *path, const str_map *map, char *err,
                       size_t errlen) {
    size_t len;
    char *buf = drum_read_file(path, &len, err, errlen);
    if (!buf) return -1;
    size_t nlines = 1;
    for (size_t i = 0; i < len; i++) nlines += buf[i] == '\n';
    t->mcap = 16;
    while (t->mcap < 2 * nlines) t->mcap <<= 1;
    t->mkey = malloc(t->mcap * sizeof(*t->mkey));
    t->mrank = malloc(t->mcap * sizeof(*t->mrank));
    t->mnew = malloc(t->mcap * sizeof(*t->mnew));
    char *joined = malloc(len + 1);
    if (!t->mkey || !t->mrank || !t->mnew || !joined) {
        free(buf);
        free(joined);
        drum_errorf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    memset(t->mkey, 0xff, t->mcap * sizeof(*t->mkey));
    int rank = 0, lineno = 0, rc = 0;
    char *p = buf, *end = buf + len;
    while (p < end && rc == 0) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *le = nl ? nl : end;
        lineno++;
        char *line = p;
        p = nl ? nl + 1 : end;
        if (le > line && le[-1] == '\r') le--;
        if (le == line || (le - line >= 8 && memcmp(line, "#version", 8) == 0)) continue;
        char *sp = memchr(line, ' ', (size_t)(le - line));
        if (!sp || sp == line || sp + 1 == le || memchr(sp + 1, ' ', (size_t)(le - sp - 1))) {
            drum_errorf(err, errlen, "%s:%d: expected \"left right\" (two tokens, one space)", path,
                    lineno);
            rc = -1;
            break;
        }
        int la = (int)(sp - line), lb = (int)(le - sp - 1);
        int a = str_map_get(map, line, la), b = str_map_get(map, sp + 1, lb);
        memcpy(joined, line, (size_t)la);
        memcpy(joined + la, sp + 1, (size_t)lb);
        int m = str_map_get(map, joined, la + lb);
        if (a < 0 || b < 0 || m < 0) {
            drum_errorf(err, errlen, "%s:%d: token \"%.*s\" is not in the vocabulary", path, lineno,
                    a < 0 ? la : b < 0 ? lb : la + lb, a < 0 ? line : b < 0 ? sp + 1 : joined);
            rc = -1;
            break;
        }
        merge_put(t, a, b, rank++, m);
    }
    free(joined);
    free(buf);
    return rc;
}

static unsigned char *normalize(const char *s, int n, int *outlen);

static int add_token(drum_tokenizer *t, const char *text, int id, int normalized) {
    for (int i = 0; i < t->n_added; i++)
        if (strcmp(t->added[i].text, text) == 0) return 0;
    added_token *na = realloc(t->added, (size_t)(t->n_added + 1) * sizeof(*na));
    if (!na) return -1;
    t->added = na;
    added_token *a = &t->added[t->n_added];
    int n = (int)strlen(text), m = n;
    a->text = strdup(text);
    /* tokenizers matches a normalized token by its normalised content ("<PAD>" -> "<pad>") */
    a->match = normalized ? (char *)normalize(text, n, &m) : strdup(text);
    if (!a->text || !a->match) {
        free(a->text);
        free(a->match);
        return -1;
    }
    a->match[m] = 0;
    a->len = m;
    a->id = id;
    a->normalized = normalized;
    t->n_added++;
    if (id >= t->info.vocab_size) t->info.vocab_size = id + 1;
    return 0;
}

static int added_id(const drum_tokenizer *t, const char *text) {
    for (int i = 0; i < t->n_added; i++)
        if (strcmp(t->added[i].text, text) == 0) return t->added[i].id;
    return -1;
}

/* The added token `text` registered again as a special token by a config without
 * added_tokens_decoder: as in transformers, the last registration's `normalized` holds
 * (openai/clip-vit-*'s configs give eos {"normalized": true}, then pad "<|endoftext|>", a
 * plain string: not normalized; "<|ENDOFTEXT|>" is then text). With added_tokens_decoder its
 * flags hold, as there. Returns 0, or -1 out of memory. */
static int renormalize(drum_tokenizer *t, const char *text, int normalized) {
    for (int i = 0; i < t->n_added; i++) {
        added_token *a = &t->added[i];
        if (strcmp(a->text, text) != 0 || a->normalized == normalized) continue;
        int n = (int)strlen(text), m = n;
        char *match = normalized ? (char *)normalize(text, n, &m) : strdup(text);
        if (!match) return -1;
        match[m] = 0;
        free(a->match);
        a->match = match;
        a->len = m;
        a->normalized = normalized;
    }
    return 0;
}

/* Resolves one of bos/eos/unk/pad: a string, {"content": ..., "normalized": ...} or null. */
static int special_token(drum_tokenizer *t, const cJSON *cfg, const char *key, const char *dflt,
                         const str_map *vocab, const char *path, int *id, char *err,
                         size_t errlen) {
    int decoder = cJSON_IsObject(cfg ? cJSON_GetObjectItemCaseSensitive(cfg, "added_tokens_decoder")
                                     : NULL);
    const char *text = dflt;
    int normalized = 0;
    const cJSON *v = cfg ? cJSON_GetObjectItemCaseSensitive(cfg, key) : NULL;
    if (v && cJSON_IsNull(v)) {
        drum_errorf(err, errlen, "%s: %s is null (drum needs a %s token)", path, key, key);
        return -1;
    }
    if (v && cJSON_IsString(v)) {
        text = v->valuestring;
    } else if (v && cJSON_IsObject(v)) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(v, "content");
        if (!cJSON_IsString(c)) {
            drum_errorf(err, errlen, "%s: %s has no string \"content\"", path, key);
            return -1;
        }
        text = c->valuestring;
        normalized = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "normalized"));
    } else if (v) {
        drum_errorf(err, errlen, "%s: %s must be a string or an object", path, key);
        return -1;
    }
    *id = added_id(t, text);
    if (*id >= 0) {
        if (decoder || renormalize(t, text, normalized) == 0) return 0;
        drum_errorf(err, errlen, "%s: %s \"%.40s\": out of memory", path ? path : "defaults",
                    key, text);
        return -1;
    }
    *id = str_map_get(vocab, text, (int)strlen(text));
    if (*id < 0) {
        drum_errorf(err, errlen, "%s: %s \"%.60s\" is not in the vocabulary",
                path ? path : "defaults", key, text);
        return -1;
    }
    if (add_token(t, text, *id, normalized) != 0) {
        drum_errorf(err, errlen, "%s: %s \"%.40s\": invalid UTF-8 or out of memory",
                path ? path : "defaults", key, text);
        return -1;
    }
    return 0;
}

static int load_config(drum_tokenizer *t, const char *path, const str_map *vocab, char *err,
                       size_t errlen) {
    cJSON *cfg = NULL;
    if (path) {
        size_t len;
        char *buf = drum_read_file(path, &len, err, errlen);
        if (!buf) return -1;
        int oom;
        cfg = drum_json_parse(buf, len, NULL, &oom);
        free(buf);
        if (!cfg && oom) return drum_errorf(err, errlen, "%s: out of memory parsing it", path);
        if (!cfg || !cJSON_IsObject(cfg)) {
            cJSON_Delete(cfg);
            drum_errorf(err, errlen, "%s: not a JSON object (expected HF tokenizer_config.json)",
                    path);
            return -1;
        }
    }
    int rc = 0;
    t->info.context = DRUM_TOKENIZER_DEFAULT_CONTEXT;
    const cJSON *mml = cfg ? cJSON_GetObjectItemCaseSensitive(cfg, "model_max_length") : NULL;
    if (cJSON_IsNumber(mml) && mml->valuedouble >= 2 && mml->valuedouble <= 65536)
        t->info.context = (int)mml->valuedouble;
    const cJSON *dec = cfg ? cJSON_GetObjectItemCaseSensitive(cfg, "added_tokens_decoder") : NULL;
    if (cJSON_IsObject(dec)) {
        for (const cJSON *e = dec->child; e && rc == 0; e = e->next) {
            char *endp;
            long id = strtol(e->string, &endp, 10);
            const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "content");
            if (*endp || id < 0 || id > 2147483646L || !cJSON_IsString(c)) {
                drum_errorf(err, errlen, "%s: added_tokens_decoder entry \"%.20s\": expected an "
                        "integer key and a string \"content\"", path, e->string);
                rc = -1;
                break;
            }
            /* tokenizers' AddedToken default: normalized = !special */
            const cJSON *norm = cJSON_GetObjectItemCaseSensitive(e, "normalized");
            const cJSON *spec = cJSON_GetObjectItemCaseSensitive(e, "special");
            int normalized = norm ? cJSON_IsTrue(norm) : !cJSON_IsTrue(spec);
            if (add_token(t, c->valuestring, (int)id, normalized) != 0) {
                drum_errorf(err, errlen, "%s: added token \"%.40s\": invalid UTF-8 or out of memory",
                        path, c->valuestring);
                rc = -1;
            }
        }
    }
    int unk;
    if (rc == 0)
        rc = special_token(t, cfg, "bos_token", "<|startoftext|>", vocab, path, &t->info.bos_id,
                           err, errlen);
    if (rc == 0)
        rc = special_token(t, cfg, "eos_token", "<|endoftext|>", vocab, path, &t->info.eos_id,
                           err, errlen);
    if (rc == 0)
        rc = special_token(t, cfg, "unk_token", "<|endoftext|>", vocab, path, &unk, err, errlen);
    if (rc == 0)
        rc = special_token(t, cfg, "pad_token", "<|endoftext|>", vocab, path, &t->info.pad_id,
                           err, errlen);
    cJSON_Delete(cfg);
    return rc;
}

int drum_tokenizer_load_files(const char *vocab_path, const char *merges_path,
                              const char *config_path, drum_tokenizer **out, char *err,
                              size_t errlen) {
    *out = NULL;
    drum_tokenizer *t = calloc(1, sizeof(*t));
    if (!t) {
        drum_errorf(err, errlen, "out of memory");
        return -1;
    }
    cJSON *vjson = NULL;
    str_map vmap = {0};
    int rc = load_vocab(t, vocab_path, &vjson, &vmap, err, errlen);
    if (rc == 0) rc = load_merges(t, merges_path, &vmap, err, errlen);
    if (rc == 0) rc = load_config(t, config_path, &vmap, err, errlen);
    str_map_free(&vmap);
    cJSON_Delete(vjson);
    if (rc != 0) {
        drum_tokenizer_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

int drum_tokenizer_load(const char *dir, drum_tokenizer **out, char *err, size_t errlen) {
    size_t n = strlen(dir) + 32;
    char *v = malloc(n), *m = malloc(n), *c = malloc(n);
    int rc = -1;
    if (v && m && c) {
        snprintf(v, n, "%s/vocab.json", dir);
        snprintf(m, n, "%s/merges.txt", dir);
        snprintf(c, n, "%s/tokenizer_config.json", dir);
        FILE *f = fopen(c, "rb");
        if (f) fclose(f);
        rc = drum_tokenizer_load_files(v, m, f ? c : NULL, out, err, errlen);
    } else {
        *out = NULL;
        drum_errorf(err, errlen, "out of memory");
    }
    free(v);
    free(m);
    free(c);
    return rc;
}

void drum_tokenizer_free(drum_tokenizer *tok) {
    if (!tok) return;
    for (int i = 0; i < tok->n_added; i++) {
        free(tok->added[i].text);
        free(tok->added[i].match);
    }
    free(tok->added);
    free(tok->mkey);
    free(tok->mrank);
    free(tok->mnew);
    free(tok);
}

int drum_tokenizer_copy_files(const char *dir, const char *out, char *err, size_t errlen) {
    static const char *const names[] = {"vocab.json", "merges.txt", "tokenizer_config.json"};
    int rc = 0;
    for (int i = 0; i < 3 && rc == 0; i++) {
        char *src = drum_path_join(dir, names[i]), *dst = drum_path_join(out, names[i]);
        if (!src || !dst) {
            snprintf(err, errlen, "%s: out of memory", out);
            rc = -1;
        } else if (i < 2 || drum_file_exists(src)) {
            size_t n = 0;
            char *buf = drum_read_file(src, &n, err, errlen);
            rc = buf ? drum_write_file_atomic(dst, buf, n, err, errlen) : -1;
            free(buf);
        }
        free(src);
        free(dst);
    }
    return rc;
}

drum_tokenizer_info drum_tokenizer_get_info(const drum_tokenizer *tok) { return tok->info; }

/* ---- encoding ------------------------------------------------------------------------ */

typedef struct {
    int rank, pos, id;
} merge_cand;

/* Per-call scratch, grown on demand. */
typedef struct {
    int *out;
    int n, limit;
    int *sym, *prev, *next;
    merge_cand *heap;
    int nheap;
    size_t cap;     /* capacity of sym/prev/next (and 3x of heap) */
    int oom;
} encoder;

static void emit(encoder *e, int id) {
    if (e->n < e->limit) e->out[e->n++] = id;
}

static int cand_less(const merge_cand *a, const merge_cand *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void heap_push(encoder *e, merge_cand c) {
    int i = e->nheap++;
    e->heap[i] = c;
    while (i > 0 && cand_less(&e->heap[i], &e->heap[(i - 1) / 2])) {
        merge_cand tmp = e->heap[i];
        e->heap[i] = e->heap[(i - 1) / 2];
        e->heap[(i - 1) / 2] = tmp;
        i = (i - 1) / 2;
    }
}

static merge_cand heap_pop(encoder *e) {
    merge_cand top = e->heap[0];
    e->heap[0] = e->heap[--e->nheap];
    int i = 0;
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < e->nheap && cand_less(&e->heap[l], &e->heap[m])) m = l;
        if (r < e->nheap && cand_less(&e->heap[r], &e->heap[m])) m = r;
        if (m == i) break;
        merge_cand tmp = e->heap[i];
        e->heap[i] = e->heap[m];
        e->heap[m] = tmp;
        i = m;
    }
    return top;
}

static void push_pair(const drum_tokenizer *t, encoder *e, int pos) {
    int j = e->next[pos], id;
    if (j < 0) return;
    int rank = merge_get(t, e->sym[pos], e->sym[j], &id);
    if (rank >= 0) heap_push(e, (merge_cand){rank, pos, id});
}

/* BPE of one word, as tokenizers' Word::merge_all: repeatedly the lowest-ranked adjacent
 * pair (leftmost on ties), one occurrence at a time. Every merge removes a symbol and
 * pushes at most two candidates, so the heap never exceeds 3n. */
static void bpe_word(const drum_tokenizer *t, encoder *e, const unsigned char *w, int n) {
    if (e->n >= e->limit || e->oom) return;
    if ((size_t)n > e->cap) {
        size_t cap = (size_t)n * 2;
        int *s = realloc(e->sym, cap * sizeof(int));
        if (s) e->sym = s;
        int *p = realloc(e->prev, cap * sizeof(int));
        if (p) e->prev = p;
        int *x = realloc(e->next, cap * sizeof(int));
        if (x) e->next = x;
        merge_cand *h = realloc(e->heap, 3 * cap * sizeof(merge_cand));
        if (h) e->heap = h;
        if (!s || !p || !x || !h) {
            e->oom = 1;
            return;
        }
        e->cap = cap;
    }
    for (int i = 0; i < n; i++) {
        e->sym[i] = i + 1 < n ? t->byte_id[w[i]] : t->byte_eow_id[w[i]];
        e->prev[i] = i - 1;
        e->next[i] = i + 1 < n ? i + 1 : -1;
    }
    e->nheap = 0;
    for (int i = 0; i + 1 < n; i++) push_pair(t, e, i);
    while (e->nheap > 0) {
        merge_cand c = heap_pop(e);
        if (e->sym[c.pos] < 0) continue;
        int j = e->next[c.pos], id;
        if (j < 0) continue;
        /* a stale candidate: the pair at pos changed since it was pushed */
        if (merge_get(t, e->sym[c.pos], e->sym[j], &id) < 0 || id != c.id) continue;
        e->sym[c.pos] = c.id;
        e->sym[j] = -1;
        e->next[c.pos] = e->next[j];
        if (e->next[j] >= 0) e->prev[e->next[j]] = c.pos;
        if (e->prev[c.pos] >= 0) push_pair(t, e, e->prev[c.pos]);
        push_pair(t, e, c.pos);
    }
    for (int i = 0; i >= 0; i = e->next[i]) emit(e, e->sym[i]);
}

/* Oniguruma's \s for Unicode text: U+0009..U+000D, U+0085 and categories Zs, Zl, Zp. */
static int is_space(int32_t c) {
    if ((c >= 9 && c <= 13) || c == 0x85) return 1;
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_ZS || k == UTF8PROC_CATEGORY_ZL || k == UTF8PROC_CATEGORY_ZP;
}

static int is_letter(int32_t c) {
    utf8proc_category_t k = utf8proc_category(c);
    return k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO;
}

static int is_number(int32_t c) {
    utf8proc_category_t k = utf8proc_category(c);
    return k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO;
}

/* Decodes one code point of valid UTF-8 at s (n bytes left); returns its length. */
static int next_cp(const unsigned char *s, int n, int32_t *cp) {
    utf8proc_ssize_t k = utf8proc_iterate(s, n, cp);
    if (k <= 0) { /* unreachable on sanitised text; keeps the scan moving regardless */
        *cp = s[0];
        return 1;
    }
    return (int)k;
}

static const char *const SPECIAL_LITERALS[2] = {"<|startoftext|>", "<|endoftext|>"};
static const char *const CONTRACTIONS[7] = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};

/* CLIP's pre-tokenisation regex over normalised text, then BPE of each word. */
static void pretokenize(const drum_tokenizer *t, encoder *e, const unsigned char *s, int n) {
    int i = 0;
    while (i < n && e->n < e->limit && !e->oom) {
        int matched = 0;
        for (int k = 0; k < 2 && !matched; k++) {
            int L = (int)strlen(SPECIAL_LITERALS[k]);
            if (n - i >= L && memcmp(s + i, SPECIAL_LITERALS[k], (size_t)L) == 0) {
                /* GPT-2's byte-level regex splits the literal into "<|", name, "|>" */
                bpe_word(t, e, s + i, 2);
                bpe_word(t, e, s + i + 2, L - 4);
                bpe_word(t, e, s + i + L - 2, 2);
                i += L;
                matched = 1;
            }
        }
        if (matched) continue;
        if (s[i] == '\'') {
            for (int k = 0; k < 7 && !matched; k++) {
                int L = (int)strlen(CONTRACTIONS[k]);
                if (n - i >= L && memcmp(s + i, CONTRACTIONS[k], (size_t)L) == 0) {
                    bpe_word(t, e, s + i, L);
                    i += L;
                    matched = 1;
                }
            }
            if (matched) continue;
        }
        int32_t cp;
        int len = next_cp(s + i, n - i, &cp);
        if (is_letter(cp)) {
            int j = i + len;
            while (j < n) {
                int l2 = next_cp(s + j, n - j, &cp);
                if (!is_letter(cp)) break;
                j += l2;
            }
            bpe_word(t, e, s + i, j - i);
            i = j;
        } else if (is_number(cp)) {
            bpe_word(t, e, s + i, len);
            i += len;
        } else if (is_space(cp)) {
            i += len;
        } else {
            int j = i + len;
            while (j < n) {
                int l2 = next_cp(s + j, n - j, &cp);
                if (is_space(cp) || is_letter(cp) || is_number(cp)) break;
                j += l2;
            }
            bpe_word(t, e, s + i, j - i);
            i = j;
        }
    }
}

/* Leftmost-longest added token with the given normalized flag starting at s[i]; returns
 * its index or -1. */
static int match_added(const drum_tokenizer *t, const char *s, int n, int i, int normalized) {
    int best = -1;
    for (int k = 0; k < t->n_added; k++) {
        const added_token *a = &t->added[k];
        if (a->normalized != normalized || a->len == 0 || a->len > n - i) continue;
        if (memcmp(s + i, a->match, (size_t)a->len) == 0 && (best < 0 || a->len > t->added[best].len))
            best = k;
    }
    return best;
}

/* NFC, whitespace runs -> " ", per-character lowercase. Returns a malloc'd string. */
static unsigned char *normalize(const char *s, int n, int *outlen) {
    utf8proc_uint8_t *nfc = NULL;
    utf8proc_ssize_t m = utf8proc_map((const utf8proc_uint8_t *)s, n, &nfc,
                                      UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    if (m < 0) return NULL;
    /* lowercasing grows a code point by at most one byte per input byte (U+0130) */
    unsigned char *out = malloc((size_t)m * 2 + 8);
    if (!out) {
        free(nfc);
        return NULL;
    }
    int o = 0;
    for (utf8proc_ssize_t i = 0; i < m;) {
        int32_t cp;
        i += next_cp(nfc + i, (int)(m - i), &cp);
        if (is_space(cp)) {
            out[o++] = ' ';
            while (i < m) {
                int32_t c2;
                int l2 = next_cp(nfc + i, (int)(m - i), &c2);
                if (!is_space(c2)) break;
                i += l2;
            }
            continue;
        }
        if (cp == 0x130) {
            out[o++] = 'i';
            o += (int)utf8proc_encode_char(0x307, out + o);
            continue;
        }
        o += (int)utf8proc_encode_char(utf8proc_tolower(cp), out + o);
    }
    free(nfc);
    *outlen = o;
    return out;
}

/* One segment of raw text between non-normalized added tokens. */
static void encode_segment(const drum_tokenizer *t, encoder *e, const char *s, int n) {
    if (n == 0) return;
    int m;
    unsigned char *norm = normalize(s, n, &m);
    if (!norm) {
        e->oom = 1;
        return;
    }
    int start = 0;
    for (int i = 0; i < m && e->n < e->limit;) {
        int k = match_added(t, (const char *)norm, m, i, 1);
        if (k < 0) {
            i++;
            continue;
        }
        pretokenize(t, e, norm + start, i - start);
        emit(e, t->added[k].id);
        i += t->added[k].len;
        start = i;
    }
    pretokenize(t, e, norm + start, m - start);
    free(norm);
}

/* Length of the valid UTF-8 sequence at s, or 0 when invalid; *bad gets the length of the
 * maximal subpart to replace with one U+FFFD (Unicode's "maximal subpart" practice, which
 * Python's "replace" error handler follows). */
static int utf8_valid_len(const unsigned char *s, size_t n, int *bad) {
    unsigned char c = s[0];
    int need;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) need = 1;
    else if (c == 0xE0) need = 2, lo = 0xA0;
    else if (c == 0xED) need = 2, hi = 0x9F;
    else if (c >= 0xE1 && c <= 0xEF) need = 2;
    else if (c == 0xF0) need = 3, lo = 0x90;
    else if (c == 0xF4) need = 3, hi = 0x8F;
    else if (c >= 0xF1 && c <= 0xF3) need = 3;
    else {
        *bad = 1;
        return 0;
    }
    for (int k = 1; k <= need; k++) {
        if ((size_t)k >= n || s[k] < lo || s[k] > hi) {
            *bad = k;
            return 0;
        }
        lo = 0x80;
        hi = 0xBF;
    }
    return need + 1;
}

/* text with every invalid subpart replaced by U+FFFD (EF BF BD); malloc'd. */
static char *sanitize_utf8(const char *text, int *outlen) {
    const unsigned char *s = (const unsigned char *)text;
    size_t n = strlen(text);
    char *out = malloc(n * 3 + 1);
    if (!out) return NULL;
    size_t i = 0, o = 0;
    while (i < n) {
        int bad = 0, k = utf8_valid_len(s + i, n - i, &bad);
        if (k > 0) {
            memcpy(out + o, s + i, (size_t)k);
            o += (size_t)k;
            i += (size_t)k;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i += (size_t)bad;
        }
    }
    out[o] = 0;
    *outlen = (int)o;
    return out;
}

int drum_tokenize(const drum_tokenizer *tok, const char *text, int *ids, int cap) {
    if (cap <= 0) return 0;
    int n;
    char *s = sanitize_utf8(text, &n);
    if (!s) return -1;
    encoder e = {.out = ids, .limit = cap};
    int start = 0;
    for (int i = 0; i < n && e.n < e.limit && !e.oom;) {
        int k = match_added(tok, s, n, i, 0);
        if (k < 0) {
            i++;
            continue;
        }
        encode_segment(tok, &e, s + start, i - start);
        emit(&e, tok->added[k].id);
        i += tok->added[k].len;
        start = i;
    }
    if (e.n < e.limit && !e.oom) encode_segment(tok, &e, s + start, n - start);
    free(s);
    free(e.sym);
    free(e.prev);
    free(e.next);
    free(e.heap);
    return e.oom ? -1 : e.n;
}

int drum_tokenizer_pool_index(const int *ids, int T, int eos_token_id) {
    int best = 0;
    if (eos_token_id == 2) {
        for (int i = 1; i < T; i++)
            if (ids[i] > ids[best]) best = i;
        return best;
    }
    for (int i = 0; i < T; i++)
        if (ids[i] == eos_token_id) return i;
    return 0;
}

int drum_tokenize_batch(const drum_tokenizer *tok, const char *const *texts, int n, int ctx,
                        int *ids, int *mask, int *eos_pos, char *err, size_t errlen) {
    if (ctx <= 0) ctx = tok->info.context;
    if (ctx < 2) {
        drum_errorf(err, errlen, "context length %d: needs room for bos and eos (>= 2)", ctx);
        return -1;
    }
    int failed = -1;
#pragma omp parallel for schedule(dynamic, 8)
    for (int b = 0; b < n; b++) {
        int *row = ids + (size_t)b * ctx;
        int k = drum_tokenize(tok, texts[b], row + 1, ctx - 2);
        if (k < 0) {
#pragma omp critical(drum_tokenize_batch_fail)
            if (failed < 0 || b < failed) failed = b;
            k = 0;
        }
        row[0] = tok->info.bos_id;
        row[k + 1] = tok->info.eos_id;
        for (int i = k + 2; i < ctx; i++) row[i] = tok->info.pad_id;
        if (mask)
            for (int i = 0; i < ctx; i++) mask[(size_t)b * ctx + i] = i < k + 2;
        if (eos_pos) {
            int p = 0;
            while (row[p] != tok->info.eos_id) p++; /* row[k + 1] is eos: always found */
            eos_pos[b] = p;
        }
    }
    if (failed >= 0) {
        drum_errorf(err, errlen, "text %d: out of memory while tokenizing", failed);
        return -1;
    }
    return 0;
}
