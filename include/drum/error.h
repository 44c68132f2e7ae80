/* error.h — how library code reports a failure: a message into the caller's buffer. */
#ifndef DRUM_ERROR_H
#define DRUM_ERROR_H

#include <stddef.h>

/* Formats the message into err (when err and errlen are set) and returns -1, so a
 * failing path reads `return drum_errorf(err, errlen, "%s: ...", path);`. */
int drum_errorf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
