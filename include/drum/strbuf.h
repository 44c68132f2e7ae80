/* strbuf.h — a growable, NUL-terminated byte string for building text in memory.
 *
 * A zeroed drum_strbuf is empty. When an append cannot grow the buffer, oom is set and every
 * later append does nothing, so a caller may append a run of pieces and check once. The
 * caller frees s. */
#ifndef DRUM_STRBUF_H
#define DRUM_STRBUF_H

#include <stddef.h>

typedef struct {
    char *s;    /* NULL until the first append */
    size_t n;   /* bytes, not counting the NUL */
    size_t cap; /* bytes allocated */
    int oom;    /* an append failed */
} drum_strbuf;

/* Appends n bytes of s. Returns 0, or -1 when out of memory now or before. */
int drum_sb_add(drum_strbuf *b, const void *s, size_t n);
/* Appends the string s. */
int drum_sb_str(drum_strbuf *b, const char *s);

#endif
