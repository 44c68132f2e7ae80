/* jsonl.h — one line of a JSON-lines file as one JSON object (dataset.c, convert.c). */
#ifndef DRUM_DATA_JSONL_H
#define DRUM_DATA_JSONL_H

#include <cjson/cJSON.h>
#include <stddef.h>

/* Parses text[0..len) (line `line` of path) as exactly one JSON object, spaces and tabs
 * allowed after it. Returns the object (free with cJSON_Delete), or NULL with
 * "path:line: invalid JSON at column N: expected one JSON object<what>", "... unexpected
 * text after the JSON object at column N" or "... expected a JSON object<what>" in err;
 * `what` ("" or e.g. " {\"id\", \"img\"}") says which object. */
cJSON *drum_jsonl_object(const char *text, size_t len, const char *path, int line,
                         const char *what, char *err, size_t errlen);

#endif
