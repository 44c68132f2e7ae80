/* convert.c — VQA and Karpathy annotation files, class folders, Hateful Memes JSONL -> drum
 * examples (convert.h). */
#include "drum/convert.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "drum/fileio.h"
#include "jsonl.h"

#define FAIL(...)                                                                          \
    do {                                                                                   \
        snprintf(err, errlen, __VA_ARGS__);                                                \
        goto fail;                                                                         \
    } while (0)

/* An id field: a string as is (shorter than n bytes), or an integer written in decimal.
 * *is_int tells which. Returns 0, or -1 for anything else. */
static int id_text(const cJSON *v, char *buf, size_t n, long long *as_int, int *is_int) {
    *is_int = 0;
    if (cJSON_IsString(v) && v->valuestring[0]) {
        if (strlen(v->valuestring) >= n) return -1; /* cut short, it could equal another */
        snprintf(buf, n, "%s", v->valuestring);
        return 0;
    }
    if (cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) &&
        fabs(v->valuedouble) < 9e15) {
        *as_int = (long long)v->valuedouble;
        *is_int = 1;
        snprintf(buf, n, "%lld", *as_int);
        return 0;
    }
    return -1;
}

/* Finds the placeholder: its start, its length, and the zero-padding width (0: "{id}"). */
static const char *find_placeholder(const char *pattern, size_t *len, int *width) {
    const char *p = strstr(pattern, "{id");
    if (!p) return NULL;
    if (strncmp(p, "{id}", 4) == 0) {
        *len = 4;
        *width = 0;
        return p;
    }
    int w = 0, used = 0;
    if (sscanf(p, "{id:0%dd}%n", &w, &used) == 1 && used > 0 && w >= 1 && w <= 32) {
        *len = (size_t)used;
        *width = w;
        return p;
    }
    return NULL;
}

int drum_image_pattern_check(const char *pattern, char *err, size_t errlen) {
    size_t len;
    int width;
    const char *p = pattern ? find_placeholder(pattern, &len, &width) : NULL;
    if (!p || strstr(p + len, "{id")) {
        snprintf(err, errlen, "image pattern '%s': expected exactly one {id} or {id:0Nd} "
                 "(N in 1..32), e.g. COCO_val2014_{id:012d}.jpg", pattern ? pattern : "");
        return -1;
    }
    return 0;
}

/* Whether the pattern zero-pads the id ({id:0Nd}), which must then be an integer. */
static int pads_id(const char *pattern) {
    size_t len;
    int width;
    find_placeholder(pattern, &len, &width);
    return width > 0;
}

/* images_dir/pattern with the id in place (padded when the pattern pads it and is_int),
 * malloc'd; NULL when out of memory. */
static char *image_path(const char *dir, const char *pattern, const char *id, long long id_int,
                        int is_int) {
    size_t len;
    int width;
    const char *p = find_placeholder(pattern, &len, &width);
    char idbuf[600], name[4096];
    if (width && is_int)
        snprintf(idbuf, sizeof idbuf, "%0*lld", width, id_int);
    else
        snprintf(idbuf, sizeof idbuf, "%s", id);
    snprintf(name, sizeof name, "%.*s%s%s", (int)(p - pattern), pattern, idbuf, p + len);
    return drum_path_join(dir, name);
}

static char *dup_or_null(const char *s) {
    return s ? strdup(s) : NULL;
}

/* Appends an example; every string is copied. answers: n strings (0: none, as for
 * classification). Returns 0 or -1 (OOM). */
static int push(drum_dataset *ds, int *cap, const char *id, char *image, const char *prompt,
                const char *response, const char *const *answers, int n, const char *task,
                const char *split) {
    if (ds->n == *cap) {
        *cap = *cap ? *cap * 2 : 1024;
        drum_example *nx = realloc(ds->ex, (size_t)*cap * sizeof *nx);
        if (!nx) {
            free(image);
            return -1;
        }
        ds->ex = nx;
    }
    drum_example *e = &ds->ex[ds->n++];
    memset(e, 0, sizeof *e);
    e->id = strdup(id);
    e->image = image;
    e->prompt = strdup(prompt);
    e->response = strdup(response);
    e->task = strdup(task);
    e->split = dup_or_null(split);
    e->line = ds->n;
    e->answers = n ? calloc((size_t)n, sizeof(char *)) : NULL;
    e->n_answers = e->answers ? n : 0; /* what drum_dataset_free may free */
    int bad = !e->id || !e->image || !e->prompt || !e->response || !e->task ||
              (n && !e->answers) || (split && !e->split);
    for (int i = 0; i < n && e->answers; i++) bad |= !(e->answers[i] = strdup(answers[i]));
    return bad ? -1 : 0;
}

/* By id, then by line (so that equal ids sit in file order whatever qsort does). */
static int by_id(const void *a, const void *b) {
    const drum_example *x = *(drum_example *const *)a, *y = *(drum_example *const *)b;
    int c = strcmp(x->id, y->id);
    return c ? c : (x->line > y->line) - (x->line < y->line);
}

/* A duplicate id is an error naming both entries (their 1-based positions): of the earliest
 * repeat, the id's first entry and that repeat. */
static int check_unique(const drum_dataset *ds, const char *path, const char *what, char *err,
                        size_t errlen) {
    drum_example **v = malloc((size_t)(ds->n ? ds->n : 1) * sizeof *v);
    if (!v) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    for (int i = 0; i < ds->n; i++) v[i] = &ds->ex[i];
    qsort(v, (size_t)ds->n, sizeof *v, by_id);
    const drum_example *first = NULL, *dup = NULL;
    for (int i = 1; i < ds->n; i++)
        if (strcmp(v[i - 1]->id, v[i]->id) == 0 && (!dup || v[i]->line < dup->line)) {
            first = v[i - 1]; /* the id's first: only the first pair of a run gets here */
            dup = v[i];
        }
    if (dup)
        snprintf(err, errlen, "%s: %s[%d] and %s[%d] have the same id \"%s\"", path, what,
                 first->line - 1, what, dup->line - 1, dup->id);
    free(v);
    return dup ? -1 : 0;
}

/* The string field `key` of every object in the array `arr` (found under `list` in entry
 * `entry` of file `path`), into *buf (grown as needed; the strings stay in the JSON tree).
 * Returns their count, or -1 with a message: an empty or missing array, a non-string. */
static int strings_of(const cJSON *arr, const char *key, const char ***buf, const char *path,
                      const char *entry, const char *list, char *err, size_t errlen) {
    int n = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : 0;
    if (n == 0) {
        snprintf(err, errlen, "%s: %s: expected a non-empty array \"%s\"", path, entry, list);
        return -1;
    }
    const char **grown = realloc(*buf, (size_t)n * sizeof **buf);
    if (!grown) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    *buf = grown;
    int k = 0;
    for (const cJSON *x = arr->child; x; x = x->next, k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(x, key);
        if (!cJSON_IsString(v)) {
            snprintf(err, errlen, "%s: %s: %s[%d]: expected a string \"%s\"", path, entry,
                     list, k, key);
            return -1;
        }
        grown[k] = v->valuestring;
    }
    return n;
}

/* template with each {question} replaced by q, malloc'd; NULL when out of memory. */
static char *vqa_prompt(const char *template, const char *q) {
    static const char key[] = "{question}";
    size_t k = sizeof key - 1, n = 0, ql = strlen(q);
    for (const char *p = strstr(template, key); p; p = strstr(p + k, key)) n++;
    char *out = malloc(strlen(template) + n * ql + 1 - n * k), *o = out;
    for (const char *p = template, *at; out && *p; p = at + k) {
        at = strstr(p, key);
        size_t lit = at ? (size_t)(at - p) : strlen(p);
        memcpy(o, p, lit);
        o += lit;
        if (!at) break;
        memcpy(o, q, ql);
        o += ql;
    }
    if (out) *o = '\0';
    return out;
}

/* How many elements s has after the one it last handed out; -1 with the message in err. */
static int count_rest(drum_json_stream *s, char *err, size_t errlen) {
    int n = 0, rc;
    cJSON *e;
    while ((rc = drum_json_stream_next(s, &e, err, errlen)) == 1) {
        cJSON_Delete(e);
        n++;
    }
    return rc < 0 ? -1 : n;
}

int drum_convert_vqa(const drum_vqa_source *src, drum_dataset *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    drum_json_stream qs = {0}, as = {0};
    cJSON *q = NULL, *a = NULL;
    const char **answers = NULL;
    int cap = 0;
    if (drum_image_pattern_check(src->image_pattern, err, errlen)) return -1;
    if (src->prompt && !strstr(src->prompt, "{question}")) {
        snprintf(err, errlen, "prompt template '%s': expected {question} where each question "
                 "goes (every prompt would be the same)", src->prompt);
        return -1;
    }
    if (drum_json_stream_open(&qs, src->questions, "questions", err, errlen) ||
        drum_json_stream_open(&as, src->annotations, "annotations", err, errlen))
        goto fail;
    for (int i = 0;; i++) {
        int hq = drum_json_stream_next(&qs, &q, err, errlen);
        int ha = hq < 0 ? -1 : drum_json_stream_next(&as, &a, err, errlen);
        if (hq < 0 || ha < 0) goto fail;
        if (hq != ha) { /* they pair by position: count both to say so */
            int nq = i + hq, na = i + ha;
            int rest = count_rest(hq ? &qs : &as, err, errlen);
            if (rest < 0) goto fail;
            FAIL("%s has %d questions but %s has %d annotations; they pair by position",
                 src->questions, nq + (hq ? rest : 0), src->annotations, na + (ha ? rest : 0));
        }
        if (!hq) break;
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(q, "question");
        const cJSON *qid = cJSON_GetObjectItemCaseSensitive(q, "question_id");
        const cJSON *img = cJSON_GetObjectItemCaseSensitive(q, "image_id");
        const cJSON *aqid = cJSON_GetObjectItemCaseSensitive(a, "question_id");
        const cJSON *ans = cJSON_GetObjectItemCaseSensitive(a, "answers");
        char id[128], aid[128] = "(none or not an id)", image_id[512];
        long long qi, ii;
        int qint, iint;
        if (!cJSON_IsString(text))
            FAIL("%s: questions[%d]: expected a string \"question\"", src->questions, i);
        if (!qid || id_text(qid, id, sizeof id, &qi, &qint))
            FAIL("%s: questions[%d]: \"question_id\" must be an integer or a non-empty string "
                 "(under %zu bytes)", src->questions, i, sizeof id);
        if (!img || id_text(img, image_id, sizeof image_id, &ii, &iint))
            FAIL("%s: questions[%d]: \"image_id\" must be an integer or a non-empty string "
                 "(under %zu bytes)", src->questions, i, sizeof image_id);
        if (!aqid || id_text(aqid, aid, sizeof aid, &qi, &qint) || strcmp(id, aid) != 0)
            FAIL("%s: annotations[%d] is for question %s, but questions[%d] of %s is %s",
                 src->annotations, i, aid, i, src->questions, id);
        char entry[48];
        snprintf(entry, sizeof entry, "annotations[%d]", i);
        int n = strings_of(ans, "answer", &answers, src->annotations, entry, "answers", err,
                           errlen);
        if (n < 0) goto fail;
        if (!iint && pads_id(src->image_pattern))
            FAIL("%s: questions[%d]: image_id \"%s\" is not an integer; the pattern '%s' pads "
                 "one (use {id})", src->questions, i, image_id, src->image_pattern);
        char *path = image_path(src->images_dir, src->image_pattern, image_id, ii, iint);
        char *prompt = src->prompt ? vqa_prompt(src->prompt, text->valuestring) : NULL;
        int bad = !path || (src->prompt && !prompt) ||
                  push(out, &cap, id, path, prompt ? prompt : text->valuestring, answers[0],
                       answers, n, "vqa", src->split);
        free(prompt);
        if (bad) FAIL("%s: out of memory", src->questions);
        cJSON_Delete(q);
        cJSON_Delete(a);
        q = a = NULL;
    }
    if (check_unique(out, src->questions, "questions", err, errlen)) goto fail;
    free(answers);
    drum_json_stream_close(&qs);
    drum_json_stream_close(&as);
    return 0;
fail:
    free(answers);
    cJSON_Delete(q);
    cJSON_Delete(a);
    drum_json_stream_close(&qs);
    drum_json_stream_close(&as);
    drum_dataset_free(out);
    return -1;
}

/* Whether `s` is one of the comma-separated names of `list`. */
static int in_list(const char *s, const char *list) {
    size_t n = strlen(s);
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && strncmp(p, s, n) == 0) return 1;
        p += len + (p[len] == ',');
    }
    return 0;
}

int drum_convert_karpathy(const drum_karpathy_source *src, drum_dataset *out, char *err,
                          size_t errlen) {
    memset(out, 0, sizeof *out);
    const char **refs = NULL;
    int cap = 0, rc;
    drum_json_stream images;
    cJSON *im = NULL;
    if (drum_json_stream_open(&images, src->path, "images", err, errlen)) return -1;
    for (int i = 0; (rc = drum_json_stream_next(&images, &im, err, errlen)) == 1; i++) {
        const cJSON *split = cJSON_GetObjectItemCaseSensitive(im, "split");
        const cJSON *file = cJSON_GetObjectItemCaseSensitive(im, "filename");
        const cJSON *fpath = cJSON_GetObjectItemCaseSensitive(im, "filepath");
        const cJSON *cocoid = cJSON_GetObjectItemCaseSensitive(im, "cocoid");
        const cJSON *sents = cJSON_GetObjectItemCaseSensitive(im, "sentences");
        if (!cJSON_IsString(split) || !cJSON_IsString(file) || !file->valuestring[0])
            FAIL("%s: images[%d]: expected strings \"split\" and \"filename\"", src->path, i);
        if (!in_list(split->valuestring, src->split)) {
            cJSON_Delete(im);
            continue;
        }
        if (fpath && !cJSON_IsString(fpath))
            FAIL("%s: images[%d]: \"filepath\" must be a string", src->path, i);
        char id[512];
        long long as_int;
        int is_int;
        if (cocoid) {
            if (id_text(cocoid, id, sizeof id, &as_int, &is_int))
                FAIL("%s: images[%d]: \"cocoid\" must be an integer or a non-empty string "
                     "(under %zu bytes)", src->path, i, sizeof id);
        } else {
            const char *dot = strrchr(file->valuestring, '.');
            size_t stem = dot && dot != file->valuestring ? (size_t)(dot - file->valuestring)
                                                          : strlen(file->valuestring);
            snprintf(id, sizeof id, "%.*s", (int)stem, file->valuestring);
        }
        char entry[600];
        snprintf(entry, sizeof entry, "images[%d] (%s)", i, file->valuestring);
        int n = strings_of(sents, "raw", &refs, src->path, entry, "sentences", err, errlen);
        if (n < 0) goto fail;
        char *dir = fpath && fpath->valuestring[0]
                        ? drum_path_join(src->images_dir, fpath->valuestring)
                        : strdup(src->images_dir);
        char *path = dir ? drum_path_join(dir, file->valuestring) : NULL;
        free(dir);
        if (!path ||
            push(out, &cap, id, path, src->prompt ? src->prompt : "", refs[0], refs, n,
                 "caption", split->valuestring))
            FAIL("%s: out of memory", src->path);
        out->ex[out->n - 1].line = i + 1;
        cJSON_Delete(im);
    }
    if (rc < 0) goto fail;
    if (out->n == 0)
        FAIL("%s: no image has split \"%s\" (Karpathy splits: train, restval, val, test)",
             src->path, src->split);
    if (check_unique(out, src->path, "images", err, errlen)) goto fail;
    free(refs);
    drum_json_stream_close(&images);
    return 0;
fail:
    free(refs);
    cJSON_Delete(im);
    drum_json_stream_close(&images);
    drum_dataset_free(out);
    return -1;
}

/* ---- class folders ----------------------------------------------------------------- */

typedef struct {
    char **v;
    int n, cap;
} names;

static void names_free(names *l) {
    for (int i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The visible entries of dir that are directories (want_dirs) or regular files, sorted.
 * Returns 0, or -1 with a message. */
static int list_dir(const char *dir, int want_dirs, names *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "%s: cannot open the folder: %s", dir, strerror(errno));
        return -1;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char *path = drum_path_join(dir, e->d_name);
        struct stat st;
        int keep = path && stat(path, &st) == 0 &&
                   (want_dirs ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode));
        free(path);
        if (!keep) continue;
        if (out->n == out->cap) {
            out->cap = out->cap ? out->cap * 2 : 64;
            char **nv = realloc(out->v, (size_t)out->cap * sizeof *nv);
            if (!nv) break;
            out->v = nv;
        }
        if (!(out->v[out->n] = strdup(e->d_name))) break;
        out->n++;
    }
    int oom = e != NULL;
    closedir(d);
    if (oom) {
        snprintf(err, errlen, "%s: out of memory", dir);
        names_free(out);
        return -1;
    }
    if (out->n > 1) qsort(out->v, (size_t)out->n, sizeof *out->v, by_name);
    return 0;
}

/* The class mapping file, one "<folder> <class name>" per non-blank line; folder[i] and
 * name[i] point into buf (its lines cut in place). */
typedef struct {
    char *buf;
    const char **folder, **name;
    int n;
} class_map;

static void class_map_free(class_map *m) {
    free(m->buf);
    free(m->folder);
    free(m->name);
    memset(m, 0, sizeof *m);
}

static int read_classes(const char *path, class_map *m, char *err, size_t errlen) {
    memset(m, 0, sizeof *m);
    size_t len = 0, pos = 0, n, lines = 1;
    m->buf = drum_read_file(path, &len, err, errlen);
    if (!m->buf) return -1;
    for (size_t i = 0; i < len; i++) lines += m->buf[i] == '\n';
    m->folder = malloc(lines * sizeof *m->folder);
    m->name = malloc(lines * sizeof *m->name);
    if (!m->folder || !m->name) FAIL("%s: out of memory", path);
    const char *s;
    int line = 0, more;
    while ((more = drum_next_line(m->buf, len, &pos, path, &line, &s, &n, err, errlen)) > 0) {
        char *k = (char *)s + strspn(s, " \t");
        k[n - (size_t)(k - s)] = '\0'; /* the line's end: its newline, CR or the buffer's NUL */
        char *sp = k + strcspn(k, " \t");
        char *v = sp + strspn(sp, " \t");
        if (!*sp || !*v) FAIL("%s:%d: expected \"<folder> <class name>\"", path, line);
        *sp = '\0';
        for (int i = 0; i < m->n; i++)
            if (strcmp(m->folder[i], k) == 0)
                FAIL("%s:%d: folder \"%s\" is named twice", path, line, k);
        m->folder[m->n] = k;
        m->name[m->n++] = v;
    }
    if (more < 0) goto fail;
    return 0;
fail:
    class_map_free(m);
    return -1;
}

int drum_convert_folders(const drum_folders_source *src, drum_dataset *out, char *err,
                         size_t errlen) {
    memset(out, 0, sizeof *out);
    names classes = {0}, files = {0};
    class_map map = {0};
    int cap = 0;
    if (src->classes && read_classes(src->classes, &map, err, errlen)) return -1;
    if (list_dir(src->images_dir, 1, &classes, err, errlen)) goto fail;
    if (classes.n == 0)
        FAIL("%s: no class folders (expected one sub-folder of images per class)",
             src->images_dir);
    for (int c = 0; c < classes.n; c++) {
        const char *label = classes.v[c];
        if (src->classes) {
            int k = 0;
            while (k < map.n && strcmp(map.folder[k], classes.v[c]) != 0) k++;
            if (k == map.n)
                FAIL("%s: folder \"%s\" has no line in %s", src->images_dir, classes.v[c],
                     src->classes);
            label = map.name[k];
        }
        char *dir = drum_path_join(src->images_dir, classes.v[c]);
        int rc = dir ? list_dir(dir, 0, &files, err, errlen) : -1;
        for (int i = 0; rc == 0 && i < files.n; i++) {
            const char *dot = strrchr(files.v[i], '.');
            char id[8192];
            snprintf(id, sizeof id, "%s/%.*s", classes.v[c],
                     (int)(dot ? (size_t)(dot - files.v[i]) : strlen(files.v[i])), files.v[i]);
            char *path = drum_path_join(dir, files.v[i]);
            if (!path || push(out, &cap, id, path, src->prompt ? src->prompt : "", label, NULL, 0,
                              "cls", src->split)) {
                snprintf(err, errlen, "%s: out of memory", src->images_dir);
                rc = -1;
            }
        }
        free(dir);
        names_free(&files);
        if (rc) goto fail;
    }
    if (out->n == 0) FAIL("%s: the class folders hold no files", src->images_dir);
    if (check_unique(out, src->images_dir, "files", err, errlen)) goto fail;
    names_free(&classes);
    class_map_free(&map);
    return 0;
fail:
    names_free(&classes);
    names_free(&files);
    class_map_free(&map);
    drum_dataset_free(out);
    return -1;
}

/* ---- Hateful Memes ----------------------------------------------------------------- */

/* OpenFlamingo's Hateful Memes prompt around the OCR text, without its leading <image>
 * token and its trailing "Answer:". */
#define HM_PROMPT_HEAD "is an image with: '"
#define HM_PROMPT_TAIL "' written on it. Is it hateful?"

enum { HM_ID, HM_IMG, HM_LABEL, HM_TEXT, HM_KEYS };
static const char *const hm_keys[HM_KEYS] = {"id", "img", "label", "text"};
#define HM_OBJECT " {\"id\", \"img\", \"label\", \"text\"}"

/* One line (text[0..len), line number `line`) into an example appended to *out. Returns 0,
 * or -1 with "path:line: problem". */
static int hateful_line(const drum_hateful_memes_source *src, const char *text, size_t len,
                        int line, drum_dataset *out, int *cap, char *err, size_t errlen) {
    const char *path = src->path;
    const cJSON *field[HM_KEYS] = {0};
    char *prompt = NULL, *image = NULL;
    cJSON *root = drum_jsonl_object(text, len, path, line, HM_OBJECT, err, errlen);
    if (!root) return -1;
    for (const cJSON *it = root->child; it; it = it->next)
        for (int k = 0; k < HM_KEYS; k++)
            if (strcmp(it->string, hm_keys[k]) == 0) {
                if (field[k]) FAIL("%s:%d: duplicate key \"%s\"", path, line, it->string);
                field[k] = it;
            }
    for (int k = 0; k < HM_KEYS; k++)
        if (!field[k])
            FAIL("%s:%d: missing key \"%s\"%s", path, line, hm_keys[k],
                 k == HM_LABEL ? " (0 or 1; an unlabelled file such as test.jsonl gives no "
                                 "gold responses)"
                               : "");
    char id[1024];
    long long as_int;
    int is_int;
    if (id_text(field[HM_ID], id, sizeof id, &as_int, &is_int))
        FAIL("%s:%d: \"id\" must be an integer or a non-empty string (under %zu bytes)", path,
             line, sizeof id);
    if (!cJSON_IsString(field[HM_IMG]) || !field[HM_IMG]->valuestring[0])
        FAIL("%s:%d: \"img\" must be a non-empty string (the image's path under the dataset's "
             "folder)",
             path, line);
    const cJSON *label = field[HM_LABEL];
    if (!cJSON_IsNumber(label) || (label->valuedouble != 0 && label->valuedouble != 1))
        FAIL("%s:%d: \"label\" must be 0 or 1", path, line);
    if (!cJSON_IsString(field[HM_TEXT])) FAIL("%s:%d: \"text\" must be a string", path, line);
    const char *ocr = field[HM_TEXT]->valuestring;
    size_t n = sizeof HM_PROMPT_HEAD + strlen(ocr) + sizeof HM_PROMPT_TAIL;
    prompt = malloc(n);
    image = drum_path_join(src->images_dir, field[HM_IMG]->valuestring);
    if (!prompt || !image) FAIL("%s:%d: out of memory", path, line);
    snprintf(prompt, n, "%s%s%s", HM_PROMPT_HEAD, ocr, HM_PROMPT_TAIL);
    char *img = image;
    image = NULL; /* push owns it from here, freed with the example or by push */
    if (push(out, cap, id, img, prompt, label->valuedouble == 1 ? "yes" : "no", NULL, 0,
             "binary", src->split))
        FAIL("%s:%d: out of memory", path, line);
    out->ex[out->n - 1].line = line;
    free(prompt);
    cJSON_Delete(root);
    return 0;
fail:
    free(prompt);
    free(image);
    cJSON_Delete(root);
    return -1;
}

int drum_convert_hateful_memes(const drum_hateful_memes_source *src, drum_dataset *out,
                               char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    size_t len = 0, pos = 0, n;
    int cap = 0, line = 0, more;
    const char *s;
    char *buf = drum_read_file(src->path, &len, err, errlen);
    if (!buf) return -1;
    while ((more = drum_next_line(buf, len, &pos, src->path, &line, &s, &n, err, errlen)) > 0)
        if (hateful_line(src, s, n, line, out, &cap, err, errlen)) goto fail;
    if (more < 0) goto fail;
    if (out->n == 0)
        FAIL("%s: no examples (expected one JSON object" HM_OBJECT " per line)", src->path);
    if (drum_dataset_index_ids(out, src->path, err, errlen)) goto fail;
    free(buf);
    return 0;
fail:
    free(buf);
    drum_dataset_free(out);
    return -1;
}
