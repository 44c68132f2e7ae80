/* check.h — the tiny assertion kit shared by drum's C tests.
 * Each test binary counts its checks and ends with "N passed, N failed, N skipped";
 * tests/run.sh sums those lines over all binaries. */
#ifndef DRUM_TEST_CHECK_H
#define DRUM_TEST_CHECK_H

#include <stdint.h>
#include <stdio.h>

extern int check_passed, check_failed, check_skipped;

/* Counts one assertion; prints a line naming file:line when it fails. */
#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (cond) {                                                            \
            check_passed++;                                                    \
        } else {                                                               \
            check_failed++;                                                    \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);    \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
        }                                                                      \
    } while (0)

#define SKIP(...)                                                              \
    do {                                                                       \
        check_skipped++;                                                       \
        printf("skip ");                                                       \
        printf(__VA_ARGS__);                                                   \
        putchar('\n');                                                         \
    } while (0)

/* Prints the summary line and returns the process exit status. */
int check_summary(void);

/* Deterministic generator for test data (PCG32). */
typedef struct { uint64_t state, inc; } test_rng;
void test_rng_seed(test_rng *r, uint64_t seed);
uint32_t test_rng_u32(test_rng *r);
float test_rng_uniform(test_rng *r, float lo, float hi); /* [lo, hi) */
int test_rng_int(test_rng *r, int lo, int hi);           /* [lo, hi) */

/* Removes dir and everything below it (no shell, links not followed). Returns 0, or -1
 * with errno set by the first failure. */
int test_remove_tree(const char *dir);

/* A whole file as a NUL-terminated string (malloc'd), or NULL when it cannot be read. */
char *test_slurp(const char *path);

/* The number of newlines in a file, or -1 when it cannot be read. */
long test_count_lines(const char *path);

/* 1 when both files can be read and hold the same bytes. */
int test_same_file(const char *a, const char *b);

/* The mean absolute difference of two safetensors checkpoints' parameters (every tensor of
 * a, by name in b), and the largest in *largest; -1 when either cannot be read or they do
 * not hold the same tensors. */
double test_weight_gap(const char *a, const char *b, double *largest);

/* Writes the miniature demo config the job tests run (100 train and 45 eval examples of
 * 32-pixel images under root/data, 2 rounds of 14 steps, a checkpoint every step, run
 * directory out) to path; extra: more YAML lines ("" for none). */
void test_write_mini_config(const char *path, const char *root, const char *out,
                            const char *extra);

/* Runs fn(path, err, errlen) in a child whose address space may grow by only `room` bytes
 * beyond what it has (RLIMIT_AS, as `ulimit -v` or a scheduler's h_vmem sets: malloc then
 * fails), and returns the message it failed with ("" when it passed) in err, or what
 * went wrong with the child ("the child died of signal 11", ...). */
void test_in_little_memory(int (*fn)(const char *, char *, size_t), const char *path,
                           long room, char *err, size_t errlen);

/* A seed for this run: $DRUM_TEST_SEED when set, else from the clock (printed, so a
 * failing run can be replayed). */
uint64_t test_seed(void);

#endif
