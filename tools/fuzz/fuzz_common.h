/* fuzz_common.h — shared by the libFuzzer harnesses in tools/fuzz/ (`make fuzz`).
 * Each harness feeds one parser of a file a user hands drum. A parser must answer any
 * input with 0 or -1 and a message: a crash, a leak or undefined behaviour is the bug the
 * fuzzer reports (ASan + UBSan + LeakSanitizer). */
#ifndef DRUM_FUZZ_COMMON_H
#define DRUM_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* fuzz_file's path, removed when the fuzzer exits (each run left one behind) */
static char fuzz_path[128];
static inline void fuzz_remove_file(void) {
    if (fuzz_path[0]) remove(fuzz_path);
}

/* Writes the input to this process's scratch file (on /dev/shm when it exists) and returns
 * its path, for parsers that read files. */
static inline const char *fuzz_file(const uint8_t *data, size_t size, const char *suffix) {
    char *path = fuzz_path;
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    if (!path[0]) atexit(fuzz_remove_file);
    snprintf(path, sizeof fuzz_path, "%s/drum_fuzz_%d%s", dir, (int)getpid(), suffix);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    fclose(f);
    return path;
}

/* The input as a NUL-terminated string (malloc'd; the caller frees). */
static inline char *fuzz_text(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s) abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

#endif
