/* bpe_build.c — a CLIP byte-level BPE vocabulary in which every corpus word is one token.
 *
 * Words are processed in a fixed order. For each, the merges so far are replayed exactly
 * as CLIP's tokenizer applies them (repeatedly merge every occurrence of the lowest-ranked
 * adjacent pair); if more than one symbol remains, merges joining them left to right are
 * appended. Appended merges rank after every earlier one, so they never change how an
 * earlier word tokenizes: at each of its steps an older, lower-ranked merge applied.
 */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drum/fileio.h"
#include "drum/rng.h"
#include "drum/synth.h"

/* String -> int, open addressing; keys are owned copies. */
typedef struct {
    char **key;
    int *val;
    size_t cap, n;
} strmap;

static int map_get(const strmap *m, const char *k) {
    if (!m->cap) return -1;
    for (size_t i = drum_str_hash(k) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->key[i]) return -1;
        if (strcmp(m->key[i], k) == 0) return m->val[i];
    }
}

static int map_put(strmap *m, const char *k, int v);

static int map_grow(strmap *m) {
    strmap bigger = {0};
    bigger.cap = m->cap ? m->cap * 2 : 1024;
    bigger.key = calloc(bigger.cap, sizeof(char *));
    bigger.val = calloc(bigger.cap, sizeof(int));
    if (!bigger.key || !bigger.val) {
        free(bigger.key);
        free(bigger.val);
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->key[i]) continue;
        size_t j = drum_str_hash(m->key[i]) & (bigger.cap - 1);
        while (bigger.key[j]) j = (j + 1) & (bigger.cap - 1);
        bigger.key[j] = m->key[i];
        bigger.val[j] = m->val[i];
        bigger.n++;
    }
    free(m->key);
    free(m->val);
    *m = bigger;
    return 0;
}

/* Inserts k (copied) unless present; returns 0, or -1 when out of memory. */
static int map_put(strmap *m, const char *k, int v) {
    if ((m->n + 1) * 2 > m->cap && map_grow(m) != 0) return -1;
    size_t i = drum_str_hash(k) & (m->cap - 1);
    for (; m->key[i]; i = (i + 1) & (m->cap - 1))
        if (strcmp(m->key[i], k) == 0) return 0;
    m->key[i] = strdup(k);
    if (!m->key[i]) return -1;
    m->val[i] = v;
    m->n++;
    return 0;
}

static void map_free(strmap *m) {
    for (size_t i = 0; i < m->cap; i++) free(m->key[i]);
    free(m->key);
    free(m->val);
    memset(m, 0, sizeof *m);
}

/* A growable list of owned strings. */
typedef struct {
    char **s;
    int n, cap;
} strvec;

static int vec_push(strvec *v, const char *s, size_t len) {
    if (v->n == v->cap) {
        int cap = v->cap ? v->cap * 2 : 64;
        char **ns = realloc(v->s, (size_t)cap * sizeof(char *));
        if (!ns) return -1;
        v->s = ns;
        v->cap = cap;
    }
    char *c = malloc(len + 1);
    if (!c) return -1;
    memcpy(c, s, len);
    c[len] = '\0';
    v->s[v->n++] = c;
    return 0;
}

static void vec_clear(strvec *v) {
    for (int i = 0; i < v->n; i++) free(v->s[i]);
    v->n = 0;
}

static void vec_free(strvec *v) {
    vec_clear(v);
    free(v->s);
    memset(v, 0, sizeof *v);
}

/* CLIP's bytes_to_unicode: printable Latin-1 bytes map to themselves, the other 68 to
 * U+0100 onwards in byte order. order[] lists bytes in the order of the vocabulary. */
static void byte_symbols(char sym[256][3], int order[256]) {
    int cp[256], n = 0, k = 0;
    for (int b = 0; b < 256; b++) cp[b] = -1;
    for (int b = 33; b <= 126; b++) cp[b] = b, order[k++] = b;
    for (int b = 161; b <= 172; b++) cp[b] = b, order[k++] = b;
    for (int b = 174; b <= 255; b++) cp[b] = b, order[k++] = b;
    for (int b = 0; b < 256; b++)
        if (cp[b] < 0) cp[b] = 256 + n++, order[k++] = b;
    for (int b = 0; b < 256; b++) {
        int c = cp[b];
        if (c < 0x80) {
            sym[b][0] = (char)c;
            sym[b][1] = '\0';
        } else {
            sym[b][0] = (char)(0xC0 | (c >> 6));
            sym[b][1] = (char)(0x80 | (c & 0x3F));
            sym[b][2] = '\0';
        }
    }
}

static int is_letter(unsigned char c) {
    return isalpha(c) || c >= 0x80;
}

/* Splits lowercased text into CLIP pre-tokens (letter runs, single digits, other runs). */
static int pretokenize(const char *text, strvec *out) {
    size_t len = strlen(text);
    char *low = malloc(len + 1);
    if (!low) return -1;
    for (size_t i = 0; i <= len; i++) low[i] = (char)tolower((unsigned char)text[i]);
    int rc = 0;
    for (size_t i = 0; i < len && rc == 0;) {
        unsigned char c = (unsigned char)low[i];
        size_t j = i + 1;
        if (isspace(c)) {
            i++;
            continue;
        }
        if (is_letter(c)) {
            while (j < len && is_letter((unsigned char)low[j])) j++;
        } else if (!isdigit(c)) {
            while (j < len && !isspace((unsigned char)low[j]) &&
                   !is_letter((unsigned char)low[j]) && !isdigit((unsigned char)low[j]))
                j++;
        }
        rc = vec_push(out, low + i, j - i);
        i = j;
    }
    free(low);
    return rc;
}

static int cmp_words(const void *a, const void *b) {
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    size_t nx = strlen(x), ny = strlen(y);
    if (nx != ny) return nx < ny ? -1 : 1;
    return strcmp(x, y);
}

static char *concat2(const char *a, const char *sep, const char *b) {
    size_t na = strlen(a), ns = strlen(sep), nb = strlen(b);
    char *s = malloc(na + ns + nb + 1);
    if (!s) return NULL;
    memcpy(s, a, na);
    memcpy(s + na, sep, ns);
    memcpy(s + na + ns, b, nb + 1);
    return s;
}

/* Tokenizes word (bytes) into syms with the merges ranked in `ranks`, as CLIP does. */
static int bpe_word(const char *word, char sym[256][3], const strmap *ranks, strvec *syms) {
    vec_clear(syms);
    size_t n = strlen(word);
    for (size_t i = 0; i < n; i++) {
        char buf[8];
        snprintf(buf, sizeof buf, "%s%s", sym[(unsigned char)word[i]], i + 1 == n ? "</w>" : "");
        if (vec_push(syms, buf, strlen(buf)) != 0) return -1;
    }
    while (syms->n > 1) {
        int best = -1, at = -1;
        for (int i = 0; i + 1 < syms->n; i++) {
            char *key = concat2(syms->s[i], " ", syms->s[i + 1]);
            if (!key) return -1;
            int r = map_get(ranks, key);
            free(key);
            if (r >= 0 && (best < 0 || r < best)) best = r, at = i;
        }
        if (best < 0) break;
        char *first = strdup(syms->s[at]), *second = strdup(syms->s[at + 1]);
        if (!first || !second) {
            free(first);
            free(second);
            return -1;
        }
        int w = 0;
        for (int i = 0; i < syms->n;) {
            if (i + 1 < syms->n && strcmp(syms->s[i], first) == 0 &&
                strcmp(syms->s[i + 1], second) == 0) {
                char *m = concat2(first, "", second);
                if (!m) {
                    free(first);
                    free(second);
                    return -1;
                }
                free(syms->s[i]);
                free(syms->s[i + 1]);
                syms->s[w++] = m;
                i += 2;
            } else {
                syms->s[w++] = syms->s[i++];
            }
        }
        syms->n = w;
        free(first);
        free(second);
    }
    return 0;
}

int drum_bpe_write_tokenizer(const char *const *texts, int n, const char *vocab_path,
                             const char *merges_path, char *err, size_t errlen) {
    char sym[256][3];
    int order[256];
    byte_symbols(sym, order);
    strvec words = {0}, syms = {0}, merges = {0}, tokens = {0};
    strmap ranks = {0}, vocab = {0};
    cJSON *json = NULL;
    char *text = NULL, *tmp = NULL;
    FILE *f = NULL;
    int rc = -1;
#define OOM(...)                                                                           \
    do {                                                                                   \
        snprintf(err, errlen, __VA_ARGS__);                                                \
        goto done;                                                                         \
    } while (0)
    for (int i = 0; i < n; i++)
        if (pretokenize(texts[i], &words) != 0) OOM("%s: out of memory", vocab_path);
    qsort(words.s, (size_t)words.n, sizeof(char *), cmp_words);
    for (int b = 0; b < 256; b++) {
        if (vec_push(&tokens, sym[order[b]], strlen(sym[order[b]])) != 0)
            OOM("%s: out of memory", vocab_path);
    }
    for (int b = 0; b < 256; b++) {
        char buf[8];
        snprintf(buf, sizeof buf, "%s</w>", sym[order[b]]);
        if (vec_push(&tokens, buf, strlen(buf)) != 0) OOM("%s: out of memory", vocab_path);
    }
    for (int i = 0; i < tokens.n; i++)
        if (map_put(&vocab, tokens.s[i], i) != 0) OOM("%s: out of memory", vocab_path);
    for (int w = 0; w < words.n; w++) {
        if (w > 0 && strcmp(words.s[w], words.s[w - 1]) == 0) continue;
        for (int attempt = 0;; attempt++) {
            if (bpe_word(words.s[w], sym, &ranks, &syms) != 0)
                OOM("%s: out of memory", vocab_path);
            if (syms.n <= 1) break;
            if (attempt == 8)
                OOM("%s: cannot make \"%s\" a single token", vocab_path, words.s[w]);
            char *prefix = strdup(syms.s[0]);
            for (int i = 1; prefix && i < syms.n; i++) {
                char *key = concat2(prefix, " ", syms.s[i]);
                char *merged = concat2(prefix, "", syms.s[i]);
                int bad = !key || !merged;
                if (!bad && map_get(&ranks, key) < 0) {
                    bad = map_put(&ranks, key, merges.n) != 0 ||
                          vec_push(&merges, key, strlen(key)) != 0;
                    if (!bad && map_get(&vocab, merged) < 0)
                        bad = map_put(&vocab, merged, tokens.n) != 0 ||
                              vec_push(&tokens, merged, strlen(merged)) != 0;
                }
                free(key);
                free(prefix);
                prefix = bad ? NULL : merged;
                if (bad) free(merged);
            }
            if (!prefix) OOM("%s: out of memory", vocab_path);
            free(prefix);
        }
    }
    static const char *const special[2] = {"<|startoftext|>", "<|endoftext|>"};
    for (int i = 0; i < 2; i++)
        if (vec_push(&tokens, special[i], strlen(special[i])) != 0)
            OOM("%s: out of memory", vocab_path);

    json = cJSON_CreateObject();
    for (int i = 0; json && i < tokens.n; i++)
        if (!cJSON_AddNumberToObject(json, tokens.s[i], i)) OOM("%s: out of memory", vocab_path);
    text = json ? cJSON_PrintUnformatted(json) : NULL;
    if (!text) OOM("%s: out of memory", vocab_path);
    if (!(f = drum_atomic_open(vocab_path, &tmp, err, errlen))) goto done;
    fputs(text, f);
    fputc('\n', f);
    if (drum_atomic_commit(f, tmp, vocab_path, err, errlen) != 0) {
        f = NULL;
        goto done;
    }
    if (!(f = drum_atomic_open(merges_path, &tmp, err, errlen))) goto done;
    fputs("#version: 0.2\n", f);
    for (int i = 0; i < merges.n; i++) fprintf(f, "%s\n", merges.s[i]);
    rc = drum_atomic_commit(f, tmp, merges_path, err, errlen);
    f = NULL;
#undef OOM
done:
    if (f) drum_atomic_abort(f, tmp);
    free(text);
    cJSON_Delete(json);
    vec_free(&words);
    vec_free(&syms);
    vec_free(&merges);
    vec_free(&tokens);
    map_free(&ranks);
    map_free(&vocab);
    return rc;
}
