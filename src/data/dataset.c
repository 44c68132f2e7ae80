/* dataset.c — strict JSONL datasets (see data.h): load, find by id, save. */
#include "drum/data.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <utf8proc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drum/fileio.h"
#include "drum/rng.h"
#include "jsonl.h"

/* Open addressing over example indices; capacity is a power of two at least twice n. */
struct drum_dataset_index {
    int *slot; /* example index, or -1 for an empty slot */
    size_t cap;
};

static void example_free(drum_example *e) {
    free(e->id);
    free(e->image);
    free(e->prompt);
    free(e->response);
    for (int i = 0; i < e->n_answers; i++) free(e->answers[i]);
    free(e->answers);
    free(e->task);
    free(e->split);
    free(e->content_id);
}

/* s and its NUL into the digest, so that ("ab", "c") and ("a", "bc") differ; NULL as "". */
static uint64_t fnv_str(uint64_t h, const char *s) {
    if (!s) s = "";
    return drum_fnv1a(s, strlen(s) + 1, h);
}

/* The directory part of path including its final '/', or "" (a malloc'd string). */
static char *dir_prefix(const char *path) {
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) + 1 : 0;
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, path, n);
    d[n] = '\0';
    return d;
}

/* drum_example_digest with the directory given as dir's first d bytes */
static uint64_t example_digest(const drum_example *e, const char *dir, size_t d) {
    while (d > 1 && dir[d - 1] == '/') d--;
    const char *img = e->image ? e->image : "";
    if (d && strncmp(img, dir, d) == 0 && img[d] == '/') img += d + 1;
    uint64_t h = fnv_str(fnv_str(fnv_str(fnv_str(DRUM_FNV1A_INIT, e->id), img), e->prompt),
                         e->response);
    uint32_t n = (uint32_t)e->n_answers;
    h = drum_fnv1a(&n, sizeof n, h);
    for (int k = 0; k < e->n_answers; k++) h = fnv_str(h, e->answers[k]);
    return fnv_str(h, e->task);
}

uint64_t drum_example_digest(const drum_example *e, const char *dir) {
    return example_digest(e, dir, dir ? strlen(dir) : 0);
}

/* e->content_id from its digests (dir: the JSONL file's directory); replaces an earlier one. */
static int set_content_id(drum_example *e, const char *dir) {
    uint64_t h = drum_example_digest(e, dir);
    if (e->image_digest) h = drum_hash64(h, e->image_digest);
    size_t n = strlen(e->id) + 18;
    char *id = malloc(n);
    if (!id) return -1;
    snprintf(id, n, "%s#%016llx", e->id, (unsigned long long)h);
    free(e->content_id);
    e->content_id = id;
    return 0;
}

/* Every example's content id; -1 with "file:line: out of memory". */
static int set_content_ids(drum_dataset *ds, char *err, size_t errlen) {
    char *dir = dir_prefix(ds->path);
    int rc = dir ? 0 : -1;
    for (int i = 0; rc == 0 && i < ds->n; i++)
        if (set_content_id(&ds->ex[i], dir)) {
            snprintf(err, errlen, "%s:%d: out of memory", ds->path, ds->ex[i].line);
            rc = -1;
        }
    if (!dir) snprintf(err, errlen, "%s: out of memory", ds->path);
    free(dir);
    return rc;
}

uint64_t drum_dataset_fingerprint(const drum_dataset *ds) {
    /* the file's directory read in place: a copy that could not be allocated hashed the
     * absolute image paths into a checkpoint, which every resume then refused */
    const char *slash = ds->path ? strrchr(ds->path, '/') : NULL;
    size_t d = slash ? (size_t)(slash - ds->path) + 1 : 0;
    uint64_t h = DRUM_FNV1A_INIT;
    for (int i = 0; i < ds->n; i++) {
        uint64_t e = example_digest(&ds->ex[i], ds->path, d);
        h = drum_fnv1a(&e, sizeof e, h);
    }
    return h;
}

void drum_dataset_free(drum_dataset *ds) {
    if (!ds) return;
    for (int i = 0; i < ds->n; i++) example_free(&ds->ex[i]);
    free(ds->ex);
    free(ds->path);
    if (ds->index) free(ds->index->slot);
    free(ds->index);
    memset(ds, 0, sizeof *ds);
}

int drum_dataset_find(const drum_dataset *ds, const char *id) {
    if (!ds->index) {
        for (int i = 0; i < ds->n; i++)
            if (strcmp(ds->ex[i].id, id) == 0) return i;
        return -1;
    }
    size_t mask = ds->index->cap - 1;
    for (size_t h = drum_str_hash(id) & mask;; h = (h + 1) & mask) {
        int i = ds->index->slot[h];
        if (i < 0) return -1;
        if (strcmp(ds->ex[i].id, id) == 0) return i;
    }
}

/* Inserts example i; returns the index of an earlier example with the same id, else -1. */
static int index_insert(drum_dataset_index *ix, const drum_example *ex, int i) {
    size_t mask = ix->cap - 1;
    for (size_t h = drum_str_hash(ex[i].id) & mask;; h = (h + 1) & mask) {
        int j = ix->slot[h];
        if (j < 0) {
            ix->slot[h] = i;
            return -1;
        }
        if (strcmp(ex[j].id, ex[i].id) == 0) return j;
    }
}

static drum_dataset_index *index_new(int n) {
    drum_dataset_index *ix = malloc(sizeof *ix);
    if (!ix) return NULL;
    ix->cap = 16;
    while (ix->cap < (size_t)n * 2) ix->cap *= 2;
    ix->slot = malloc(ix->cap * sizeof(int));
    if (!ix->slot) {
        free(ix);
        return NULL;
    }
    for (size_t i = 0; i < ix->cap; i++) ix->slot[i] = -1;
    return ix;
}

int drum_dataset_index_ids(drum_dataset *ds, const char *path, char *err, size_t errlen) {
    if (!(ds->index = index_new(ds->n))) {
        snprintf(err, errlen, "%s: out of memory for the id index", path);
        return -1;
    }
    for (int i = 0; i < ds->n; i++) {
        int j = index_insert(ds->index, ds->ex, i);
        if (j >= 0) {
            snprintf(err, errlen, "%s:%d: duplicate id \"%s\" (first on line %d)", path,
                     ds->ex[i].line, ds->ex[i].id, ds->ex[j].line);
            return -1;
        }
    }
    return 0;
}

enum { K_ID, K_IMAGE, K_PROMPT, K_RESPONSE, K_ANSWERS, K_TASK, K_SPLIT, N_KEYS };
static const char *const known_keys[N_KEYS] = {"id",      "image", "prompt", "response",
                                         "answers", "task",  "split"};

static char *str_cat(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    char *s = malloc(na + nb + 1);
    if (!s) return NULL;
    memcpy(s, a, na);
    memcpy(s + na, b, nb + 1);
    return s;
}

#define FAIL(...)                                                                          \
    do {                                                                                   \
        snprintf(err, errlen, __VA_ARGS__);                                                \
        goto fail;                                                                         \
    } while (0)

int drum_json_strict(const char *text, size_t len, const char *path, int line, char *err,
                     size_t errlen) {
    const unsigned char *u = (const unsigned char *)text;
    static const char bom[3] = {'\xEF', '\xBB', '\xBF'};
    int has_bom = len >= 3 && memcmp(text, bom, 3) == 0;
    if (line > 1 && has_bom) {
        snprintf(err, errlen, "%s:%d: a byte-order mark (EF BB BF) starts the line; only the "
                 "file's first line may have one", path, line);
        return -1;
    }
    int in_string = 0;
    size_t col0 = 0; /* the offset the current line starts at */
    for (size_t i = line == 1 && has_bom ? 3 : 0; i < len;) {
        const char *why = NULL;
        size_t step = 1;
        if (u[i] >= 0x80) {
            utf8proc_int32_t cp;
            utf8proc_ssize_t n = utf8proc_iterate(u + i, (utf8proc_ssize_t)(len - i), &cp);
            if (n < 0) why = "a byte sequence that is not UTF-8";
            else step = (size_t)n;
        } else if (in_string && u[i] < 0x20) {
            why = "a raw control character inside a string (JSON has it escaped, as \\t, "
                  "\\n or \\u00XX)";
        } else if (in_string && u[i] == '\\') {
            if (i + 5 < len && memcmp(text + i + 1, "u0000", 5) == 0)
                why = "\\u0000 inside a string (drum's strings end at a NUL)";
            step = 2; /* the escaped character */
        } else if (u[i] == '"') {
            in_string = !in_string;
        } else if (u[i] == '\n') {
            line++;
            col0 = i + 1;
        }
        if (why) {
            snprintf(err, errlen, "%s:%d: %s at column %zu", path, line, why, i - col0 + 1);
            return -1;
        }
        i += step;
    }
    return 0;
}

cJSON *drum_jsonl_object(const char *text, size_t len, const char *path, int line,
                         const char *what, char *err, size_t errlen) {
    const char *end = NULL;
    int oom;
    if (drum_json_strict(text, len, path, line, err, errlen)) return NULL;
    cJSON *root = drum_json_parse(text, len, &end, &oom);
    if (!root && oom) {
        snprintf(err, errlen, "%s:%d: out of memory parsing the line", path, line);
        return NULL;
    }
    if (!root) {
        long col = end && end >= text ? (long)(end - text) + 1 : 1;
        snprintf(err, errlen, "%s:%d: invalid JSON at column %ld: expected one JSON object%s",
                 path, line, col, what);
        return NULL;
    }
    while (end && (size_t)(end - text) < len && (*end == ' ' || *end == '\t')) end++;
    if (end && (size_t)(end - text) < len)
        snprintf(err, errlen, "%s:%d: unexpected text after the JSON object at column %ld", path,
                 line, (long)(end - text) + 1);
    else if (!cJSON_IsObject(root))
        snprintf(err, errlen, "%s:%d: expected a JSON object%s", path, line, what);
    else
        return root;
    cJSON_Delete(root);
    return NULL;
}

/* Parses one line into *e (zeroed by the caller). Returns 0, or -1 with a message. */
static int parse_line(drum_example *e, const char *text, size_t len, const char *path,
                      const char *dir, int line, char *err, size_t errlen) {
    cJSON *root = drum_jsonl_object(text, len, path, line, "", err, errlen);
    const cJSON *field[N_KEYS] = {0};
    if (!root) return -1;
    for (const cJSON *it = root->child; it; it = it->next) {
        int k = 0;
        while (k < N_KEYS && strcmp(it->string, known_keys[k]) != 0) k++;
        if (k == N_KEYS)
            FAIL("%s:%d: unknown key \"%s\" (expected id, image, prompt, response, answers, "
                 "task, split)",
                 path, line, it->string);
        if (field[k]) FAIL("%s:%d: duplicate key \"%s\"", path, line, it->string);
        field[k] = it;
        if (k == K_ANSWERS) {
            if (!cJSON_IsArray(it))
                FAIL("%s:%d: \"answers\" must be an array of strings", path, line);
            int i = 0;
            for (const cJSON *a = it->child; a; a = a->next, i++)
                if (!cJSON_IsString(a))
                    FAIL("%s:%d: \"answers\" element %d must be a string", path, line, i);
            if (i == 0) FAIL("%s:%d: \"answers\" must not be empty", path, line);
        } else if (!cJSON_IsString(it)) {
            FAIL("%s:%d: \"%s\" must be a string", path, line, it->string);
        }
    }
    for (int k = 0; k < N_KEYS; k++) {
        int required = k != K_ANSWERS && k != K_SPLIT;
        if (required && !field[k])
            FAIL("%s:%d: missing required key \"%s\"", path, line, known_keys[k]);
    }
    static const int nonempty[] = {K_ID, K_IMAGE, K_TASK};
    for (int j = 0; j < 3; j++) {
        int k = nonempty[j];
        if (field[k]->valuestring[0] == '\0')
            FAIL("%s:%d: \"%s\" must not be empty", path, line, known_keys[k]);
    }
    const char *img = field[K_IMAGE]->valuestring;
    e->line = line;
    e->id = strdup(field[K_ID]->valuestring);
    e->image = img[0] == '/' ? strdup(img) : str_cat(dir, img);
    e->prompt = strdup(field[K_PROMPT]->valuestring);
    e->response = strdup(field[K_RESPONSE]->valuestring);
    e->task = strdup(field[K_TASK]->valuestring);
    e->split = field[K_SPLIT] ? strdup(field[K_SPLIT]->valuestring) : NULL;
    if (!e->id || !e->image || !e->prompt || !e->response || !e->task ||
        (field[K_SPLIT] && !e->split))
        FAIL("%s:%d: out of memory", path, line);
    if (field[K_ANSWERS]) {
        int n = cJSON_GetArraySize(field[K_ANSWERS]);
        e->answers = calloc((size_t)n, sizeof(char *));
        if (!e->answers) FAIL("%s:%d: out of memory", path, line);
        for (const cJSON *a = field[K_ANSWERS]->child; a; a = a->next) {
            e->answers[e->n_answers] = strdup(a->valuestring);
            if (!e->answers[e->n_answers]) FAIL("%s:%d: out of memory", path, line);
            e->n_answers++;
        }
    }
    cJSON_Delete(root);
    return 0;
fail:
    cJSON_Delete(root);
    return -1;
}

int drum_dataset_set_image_digests(drum_dataset *ds, const uint64_t *digests, char *err,
                                   size_t errlen) {
    for (int i = 0; i < ds->n; i++) ds->ex[i].image_digest = digests[i];
    return set_content_ids(ds, err, errlen);
}

int drum_dataset_load(drum_dataset *ds, const char *path, char *err, size_t errlen) {
    memset(ds, 0, sizeof *ds);
    size_t len = 0;
    char *buf = drum_read_file(path, &len, err, errlen);
    if (!buf) return -1;
    char *dir = dir_prefix(path);
    ds->path = strdup(path);
    int cap = 0;
    if (!dir || !ds->path) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto fail;
    }
    int line = 0, more;
    size_t pos = 0, n;
    const char *s;
    while ((more = drum_next_line(buf, len, &pos, path, &line, &s, &n, err, errlen)) > 0) {
        if (ds->n == cap) {
            cap = cap ? cap * 2 : 256;
            drum_example *nx = realloc(ds->ex, (size_t)cap * sizeof *nx);
            if (!nx) {
                snprintf(err, errlen, "%s:%d: out of memory", path, line);
                goto fail;
            }
            ds->ex = nx;
        }
        drum_example *e = &ds->ex[ds->n];
        memset(e, 0, sizeof *e);
        if (parse_line(e, s, n, path, dir, line, err, errlen) != 0) {
            example_free(e);
            goto fail;
        }
        ds->n++;
    }
    if (more < 0 || set_content_ids(ds, err, errlen) ||
        drum_dataset_index_ids(ds, path, err, errlen))
        goto fail;
    free(dir);
    free(buf);
    return 0;
fail:
    free(dir);
    free(buf);
    drum_dataset_free(ds);
    return -1;
}

/* Lexical absolute path split into components ("." dropped, ".." applied); returns the
 * count, or -1 when out of memory. parts point into *store (caller frees). */
static int split_abs(const char *path, char **store, char ***parts) {
    char *cwd = NULL;
    if (path[0] != '/') {
        cwd = getcwd(NULL, 0);
        if (!cwd) return -1;
    }
    size_t n = (cwd ? strlen(cwd) + 1 : 0) + strlen(path) + 1;
    char *s = malloc(n);
    char **p = malloc((n / 2 + 2) * sizeof(char *));
    if (!s || !p) {
        free(cwd);
        free(s);
        free(p);
        return -1;
    }
    snprintf(s, n, "%s%s%s", cwd ? cwd : "", cwd ? "/" : "", path);
    free(cwd);
    int k = 0;
    for (char *tok = strtok(s, "/"); tok; tok = strtok(NULL, "/")) {
        if (strcmp(tok, ".") == 0) continue;
        if (strcmp(tok, "..") == 0) {
            if (k) k--;
            continue;
        }
        p[k++] = tok;
    }
    *store = s;
    *parts = p;
    return k;
}

/* target relative to the directory dir, lexically (malloc'd), or NULL when out of memory. */
static char *relative_to(const char *target, const char *dir) {
    char *ts = NULL, *ds = NULL, **tp = NULL, **dp = NULL, *out = NULL;
    int nt = split_abs(target, &ts, &tp);
    int nd = nt < 0 ? -1 : split_abs(dir[0] ? dir : ".", &ds, &dp);
    if (nt >= 0 && nd >= 0) {
        int m = 0;
        while (m < nt - 1 && m < nd && strcmp(tp[m], dp[m]) == 0) m++;
        size_t n = 1;
        for (int i = m; i < nd; i++) n += 3;
        for (int i = m; i < nt; i++) n += strlen(tp[i]) + 1;
        out = malloc(n);
        if (out) {
            size_t o = 0;
            for (int i = m; i < nd; i++) o += (size_t)snprintf(out + o, n - o, "../");
            for (int i = m; i < nt; i++)
                o += (size_t)snprintf(out + o, n - o, "%s%s", tp[i], i + 1 < nt ? "/" : "");
        }
    }
    free(ts);
    free(tp);
    free(ds);
    free(dp);
    return out;
}

static int add_string(cJSON *o, const char *key, const char *value) {
    return cJSON_AddItemToObject(o, key, cJSON_CreateString(value)) ? 0 : -1;
}

int drum_dataset_save(const drum_dataset *ds, const char *path, const char *split, char *err,
                      size_t errlen) {
    char *tmp = NULL;
    char *dir = dir_prefix(path);
    if (!dir) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    FILE *f = drum_atomic_open(path, &tmp, err, errlen);
    if (!f) {
        free(dir);
        return -1;
    }
    for (int i = 0; i < ds->n; i++) {
        const drum_example *e = &ds->ex[i];
        if (split && (!e->split || strcmp(e->split, split) != 0)) continue;
        char *rel = relative_to(e->image, dir);
        cJSON *o = cJSON_CreateObject();
        int bad = !rel || !o;
        if (!bad)
            bad = add_string(o, "id", e->id) || add_string(o, "image", rel) ||
                  add_string(o, "prompt", e->prompt) || add_string(o, "response", e->response);
        if (!bad && e->answers) {
            cJSON *a = cJSON_CreateArray();
            bad = !a || !cJSON_AddItemToObject(o, "answers", a);
            for (int j = 0; !bad && j < e->n_answers; j++)
                bad = !cJSON_AddItemToArray(a, cJSON_CreateString(e->answers[j]));
        }
        if (!bad) bad = add_string(o, "task", e->task);
        if (!bad && e->split) bad = add_string(o, "split", e->split);
        char *text = bad ? NULL : cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        free(rel);
        if (!text) {
            snprintf(err, errlen, "%s: out of memory writing example \"%s\"", path, e->id);
            drum_atomic_abort(f, tmp);
            free(dir);
            return -1;
        }
        fputs(text, f);
        fputc('\n', f);
        free(text);
    }
    free(dir);
    return drum_atomic_commit(f, tmp, path, err, errlen);
}

int drum_drafts_load(const drum_dataset *ds, const char *path, char ***drafts, char *err,
                     size_t errlen) {
    size_t len = 0, pos = 0, n;
    char *buf = drum_read_file(path, &len, err, errlen);
    char **d = calloc((size_t)(ds->n ? ds->n : 1), sizeof *d);
    int *at = calloc((size_t)(ds->n ? ds->n : 1), sizeof *at);
    cJSON *root = NULL;
    const char *s;
    int line = 0, more;
    *drafts = NULL;
    if (!buf) goto out;
    if (!d || !at) FAIL("%s: out of memory", path);
    while ((more = drum_next_line(buf, len, &pos, path, &line, &s, &n, err, errlen)) > 0) {
        int oom;
        root = drum_json_parse(s, n, NULL, &oom);
        if (oom) FAIL("%s:%d: out of memory parsing the line", path, line);
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "id");
        const cJSON *draft = cJSON_GetObjectItemCaseSensitive(root, "draft");
        if (!cJSON_IsObject(root) || !cJSON_IsString(id) || !cJSON_IsString(draft))
            FAIL("%s:%d: expected a JSON object with string keys \"id\" and \"draft\"", path,
                 line);
        int i = drum_dataset_find(ds, id->valuestring);
        if (i >= 0) {
            if (d[i])
                FAIL("%s:%d: a second draft for \"%s\" (first on line %d)", path, line,
                     id->valuestring, at[i]);
            d[i] = strdup(draft->valuestring);
            at[i] = line;
            if (!d[i]) FAIL("%s:%d: out of memory", path, line);
        }
        cJSON_Delete(root);
        root = NULL;
    }
    if (more < 0) goto fail;
    for (int i = 0; i < ds->n; i++)
        if (!d[i]) FAIL("%s: no draft for \"%s\" (%s:%d)", path, ds->ex[i].id, ds->path,
                        ds->ex[i].line);
    *drafts = d;
    d = NULL;
    goto out;
fail:
    for (int i = 0; d && i < ds->n; i++) free(d[i]);
out:
    cJSON_Delete(root);
    free(d);
    free(at);
    free(buf);
    return *drafts ? 0 : -1;
}
