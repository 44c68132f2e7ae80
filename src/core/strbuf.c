/* strbuf.c — see strbuf.h. */
#include "drum/strbuf.h"

#include <stdlib.h>
#include <string.h>

int drum_sb_add(drum_strbuf *b, const void *s, size_t n) {
    if (b->oom) return -1;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (b->n + n + 1 > cap) cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->oom = 1;
            return -1;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
    return 0;
}

int drum_sb_str(drum_strbuf *b, const char *s) { return drum_sb_add(b, s, strlen(s)); }
