/* json_stream.c — the array under one key of a file's top-level JSON object, one element at a
 * time (jsonl.h). VQAv2's annotations are 350 MB of JSON whose cJSON tree takes ~2.8 GB;
 * parsed an element at a time, only the file's bytes and one element's tree are held. The
 * whole file is still checked: every value is parsed by cJSON, and the structure between them
 * (the object's keys, colons and commas, the array's commas, nothing after the object) here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drum/fileio.h"
#include "jsonl.h"

static const char *spaces(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

static int at(const drum_json_stream *s, char c) {
    return s->p < s->buf + s->len && *s->p == c;
}

/* "path:line: invalid JSON at column N" for the position `where`. */
static int invalid(const drum_json_stream *s, const char *where, char *err, size_t errlen) {
    long line = 1, col = 1;
    for (const char *p = s->buf; p < where; p++, col++)
        if (*p == '\n') line++, col = 0;
    snprintf(err, errlen, "%s:%ld: invalid JSON at column %ld", s->path, line, col);
    return -1;
}

static int not_an_array(const drum_json_stream *s, char *err, size_t errlen) {
    snprintf(err, errlen, "%s: expected a JSON object with an array \"%s\"", s->path, s->key);
    return -1;
}

/* Parses the value at s->p and moves past it. `element`: the array's index it has, or -1. */
static cJSON *value(drum_json_stream *s, int element, char *err, size_t errlen) {
    const char *stop = NULL;
    int oom;
    cJSON *v = drum_json_parse(s->p, (size_t)(s->buf + s->len - s->p), &stop, &oom);
    if (v) {
        s->p = stop;
    } else if (oom && element >= 0) {
        snprintf(err, errlen, "%s: out of memory parsing %s[%d]", s->path, s->key, element);
    } else if (oom) {
        snprintf(err, errlen, "%s: out of memory parsing its JSON", s->path);
    } else {
        invalid(s, stop ? stop : s->p, err, errlen);
    }
    return v;
}

/* Reads the top-level object's members from s->p (after its "{" when `first`, else after a
 * member's value). With `want`, stops just inside the array of the first member named so
 * (1), and says that member is not an array if it is not. Returns 1, 0 at the object's end
 * with nothing but spaces after it, or -1 with the message in err. */
static int members(drum_json_stream *s, int first, const char *want, char *err, size_t errlen) {
    const char *end = s->buf + s->len;
    for (;; first = 0) {
        s->p = spaces(s->p, end);
        if (at(s, '}')) { /* the comma before a member is read with it: ", }" fails below */
            s->p = spaces(s->p + 1, end);
            if (s->p != end) return invalid(s, s->p, err, errlen);
            return want ? not_an_array(s, err, errlen) : 0;
        }
        if (!first) {
            if (!at(s, ',')) return invalid(s, s->p, err, errlen);
            s->p = spaces(s->p + 1, end);
        }
        if (!at(s, '"')) return invalid(s, s->p, err, errlen);
        cJSON *key = value(s, -1, err, errlen);
        if (!key) return -1;
        int match = want && strcmp(key->valuestring, want) == 0;
        cJSON_Delete(key);
        s->p = spaces(s->p, end);
        if (!at(s, ':')) return invalid(s, s->p, err, errlen);
        s->p = spaces(s->p + 1, end);
        if (match && at(s, '[')) {
            s->p++;
            return 1;
        }
        cJSON *v = value(s, -1, err, errlen);
        if (!v) return -1;
        cJSON_Delete(v);
        if (match) return not_an_array(s, err, errlen);
    }
}

int drum_json_stream_open(drum_json_stream *s, const char *path, const char *key, char *err,
                          size_t errlen) {
    memset(s, 0, sizeof *s);
    s->path = path;
    s->key = key;
    s->buf = drum_read_file(path, &s->len, err, errlen);
    if (!s->buf) return -1;
    if (drum_json_strict(s->buf, s->len, path, 1, err, errlen)) {
        drum_json_stream_close(s);
        return -1;
    }
    s->p = s->buf;
    if (s->len >= 3 && memcmp(s->p, "\xEF\xBB\xBF", 3) == 0) s->p += 3; /* as cJSON does */
    s->p = spaces(s->p, s->buf + s->len);
    int rc;
    if (at(s, '{')) {
        s->p++;
        rc = members(s, 1, key, err, errlen);
    } else { /* invalid JSON, or JSON that is not an object */
        cJSON *v = value(s, -1, err, errlen);
        cJSON_Delete(v);
        rc = v ? not_an_array(s, err, errlen) : -1;
    }
    if (rc == 1) return 0;
    drum_json_stream_close(s);
    return -1;
}

int drum_json_stream_next(drum_json_stream *s, cJSON **element, char *err, size_t errlen) {
    *element = NULL;
    if (s->done) return 0;
    const char *end = s->buf + s->len;
    s->p = spaces(s->p, end);
    if (!at(s, ']')) {
        if (s->n > 0) {
            if (!at(s, ',')) return invalid(s, s->p, err, errlen);
            s->p = spaces(s->p + 1, end);
        }
        *element = value(s, s->n, err, errlen);
        if (!*element) return -1;
        s->n++;
        return 1;
    }
    s->p++;
    s->done = 1;
    return members(s, 0, NULL, err, errlen);
}

void drum_json_stream_close(drum_json_stream *s) {
    free(s->buf);
    memset(s, 0, sizeof *s);
}
