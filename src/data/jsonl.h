/* jsonl.h — what the readers of JSON data files (dataset.c, convert.c) share. */
#ifndef DRUM_DATA_JSONL_H
#define DRUM_DATA_JSONL_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "drum/data.h"

/* Parses text[0..len) (line `line` of path) as exactly one JSON object, spaces and tabs
 * allowed after it. Returns the object (free with cJSON_Delete), or NULL with
 * "path:line: invalid JSON at column N: expected one JSON object<what>", "... unexpected
 * text after the JSON object at column N" or "... expected a JSON object<what>" in err;
 * `what` ("" or e.g. " {\"id\", \"img\"}") says which object. Stricter than cJSON: bytes
 * that are not UTF-8, a raw control character or \u0000 inside a string, and a byte-order
 * mark after line 1 are errors too ("path:line: ... at column N"). */
cJSON *drum_jsonl_object(const char *text, size_t len, const char *path, int line,
                         const char *what, char *err, size_t errlen);

/* What a JSON parser (cJSON) lets through but a strict reader must not, since drum would
 * read another text than the file's: bytes that are not UTF-8, a control character left raw
 * inside a string, \u0000 inside a string (cJSON's strings end at a NUL, so "a\u0000b" reads
 * as "a"), and a byte-order mark starting any line but the file's first. text[0..len) starts
 * at line `line` of path. Returns 0, or -1 with "path:line: ... at column N". */
int drum_json_strict(const char *text, size_t len, const char *path, int line, char *err,
                     size_t errlen);

/* Builds ds's id index (drum_dataset_find), its examples in file order with their `line`s
 * set. Returns 0, or -1 with "path:line: duplicate id \"x\" (first on line n)" for the
 * first repeated id, or out of memory. */
int drum_dataset_index_ids(drum_dataset *ds, const char *path, char *err, size_t errlen);

/* The array under `key` of a file's top-level JSON object, read an element at a time: a
 * file of VQAv2's size (350 MB) would take ~2.8 GB as one cJSON tree; this holds its bytes
 * and one element's tree. The whole file is checked, as a parse of it would check it:
 * open, then next until it returns 0, finds any invalid JSON in it. The first member of
 * that name is the array read, as cJSON_GetObjectItem finds it. */
typedef struct {
    char *buf; /* the file */
    size_t len;
    const char *p; /* what is read next */
    const char *path, *key;
    int n;    /* elements handed out */
    int done; /* the array has ended */
} drum_json_stream;

/* Reads path and finds the array. Returns 0, or -1 with "path: cannot open ...",
 * "path:line: invalid JSON at column N", "path: expected a JSON object with an array
 * \"key\"" or an out-of-memory message in err (s then holds nothing). */
int drum_json_stream_open(drum_json_stream *s, const char *path, const char *key, char *err,
                          size_t errlen);

/* The next element, in *element (free it with cJSON_Delete): returns 1; 0 after the last,
 * once the rest of the file is checked too; -1 with "path:line: invalid JSON at column N"
 * or "path: out of memory parsing key[i]" in err. */
int drum_json_stream_next(drum_json_stream *s, cJSON **element, char *err, size_t errlen);

void drum_json_stream_close(drum_json_stream *s);

#endif
