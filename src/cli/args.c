#include "args.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int arg_value(int argc, char **argv, int *i, const char *name, const char **value) {
    if (strcmp(argv[*i], name) != 0) return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "drum: %s needs a value\n", name);
        return -1;
    }
    *value = argv[++*i];
    return 1;
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
