#include "args.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The options arg_value has read in this process (one command a process). */
static const char *seen[64];
static int n_seen;

int arg_value(int argc, char **argv, int *i, const char *name, const char **value) {
    if (strcmp(argv[*i], name) != 0) return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "drum: %s needs a value\n", name);
        return -1;
    }
    for (int k = 0; k < n_seen; k++)
        if (strcmp(seen[k], name) == 0) {
            fprintf(stderr, "drum: %s is given twice (the second time as '%s')\n", name,
                    argv[*i + 1]);
            return -1;
        }
    if (n_seen < (int)(sizeof seen / sizeof seen[0])) seen[n_seen++] = name;
    *value = argv[++*i];
    return 1;
}

int arg_positional(const char *what, const char *text, const char **slot) {
    if (*slot) {
        fprintf(stderr, "drum: one %s expected, got '%s' and '%s' (a value with spaces needs "
                "quotes)\n", what, *slot, text);
        return -1;
    }
    *slot = text;
    return 0;
}

int arg_is_help(const char *s) { return strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0; }

int arg_u64(const char *name, const char *text, unsigned long long *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || end == text || *end || text[0] < '0' || text[0] > '9') { /* " -1" would wrap */
        fprintf(stderr, "drum: %s: expected an integer in [0, 18446744073709551615], got '%s'\n",
                name, text);
        return -1;
    }
    *out = v;
    return 0;
}

int arg_int(const char *name, const char *text, long lo, long hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < lo || v > hi) {
        fprintf(stderr, "drum: %s: expected an integer in [%ld, %ld], got '%s'\n", name, lo, hi,
                text);
        return -1;
    }
    *out = (int)v;
    return 0;
}

int arg_float(const char *name, const char *text, double lo, double hi, float *out) {
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "drum: %s: expected a number in [%g, %g], got '%s'\n", name, lo, hi, text);
        return -1;
    }
    *out = (float)v;
    return 0;
}

int arg_either(const char *name, const char *text, const char *a, const char *b, int *out) {
    if (strcmp(text, a) != 0 && strcmp(text, b) != 0) {
        fprintf(stderr, "drum: %s: expected %s or %s, got '%s'\n", name, a, b, text);
        return -1;
    }
    *out = strcmp(text, b) == 0;
    return 0;
}
