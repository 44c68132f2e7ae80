/* jsonl.h — what the two readers of JSON-lines files (dataset.c, convert.c) share. */
#ifndef DRUM_DATA_JSONL_H
#define DRUM_DATA_JSONL_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "drum/data.h"

/* Parses text[0..len) (line `line` of path) as exactly one JSON object, spaces and tabs
 * allowed after it. Returns the object (free with cJSON_Delete), or NULL with
 * "path:line: invalid JSON at column N: expected one JSON object<what>", "... unexpected
 * text after the JSON object at column N" or "... expected a JSON object<what>" in err;
 * `what` ("" or e.g. " {\"id\", \"img\"}") says which object. */
cJSON *drum_jsonl_object(const char *text, size_t len, const char *path, int line,
                         const char *what, char *err, size_t errlen);

/* Builds ds's id index (drum_dataset_find), its examples in file order with their `line`s
 * set. Returns 0, or -1 with "path:line: duplicate id \"x\" (first on line n)" for the
 * first repeated id, or out of memory. */
int drum_dataset_index_ids(drum_dataset *ds, const char *path, char *err, size_t errlen);

#endif
