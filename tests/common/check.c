#include "check.h"

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "drum/fileio.h"
#include "drum/safetensors.h"

int check_passed, check_failed, check_skipped;

int check_summary(void) {
    printf("%d passed, %d failed, %d skipped\n", check_passed, check_failed, check_skipped);
    return check_failed ? 1 : 0;
}

void test_rng_seed(test_rng *r, uint64_t seed) {
    r->state = 0;
    r->inc = (seed << 1u) | 1u;
    test_rng_u32(r);
    r->state += 0x853c49e6748fea9bULL ^ seed;
    test_rng_u32(r);
}

uint32_t test_rng_u32(test_rng *r) {
    uint64_t old = r->state;
    r->state = old * 6364136223846793005ULL + r->inc;
    uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
    uint32_t rot = (uint32_t)(old >> 59u);
    return (xorshifted >> rot) | (xorshifted << ((-rot) & 31));
}

float test_rng_uniform(test_rng *r, float lo, float hi) {
    return lo + (hi - lo) * (float)(test_rng_u32(r) >> 8) * (1.0f / 16777216.0f);
}

int test_rng_int(test_rng *r, int lo, int hi) {
    return lo + (int)(test_rng_u32(r) % (uint32_t)(hi - lo));
}

uint64_t test_seed(void) {
    const char *s = getenv("DRUM_TEST_SEED");
    uint64_t seed = s ? strtoull(s, NULL, 10) : (uint64_t)time(NULL);
    printf("seed %llu (replay with DRUM_TEST_SEED=%llu)\n", (unsigned long long)seed,
           (unsigned long long)seed);
    return seed;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int test_remove_tree(const char *dir) {
    return nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

void test_write_mini_config(const char *path, const char *root, const char *out,
                            const char *extra) {
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "cannot write %s\n", path);
        check_failed++;
        return;
    }
    fprintf(f,
            "seed: 5\n"
            "data: {dir: %s/data}\n"
            "synth: {n_train: 100, n_eval: 45, image_size: 32, seed: 3}\n"
            "model:\n  pretrain: {epochs: 1, batch: 32, lr: 1.0e-3, weight_decay: 0.1}\n"
            "train: {rounds: 2, candidates_k: 8, scored_per_round: 4, epochs: 1,\n"
            "        batch_queries: 8, list_size: 6, lr: 1.0e-3, warmup_steps: 2,\n"
            "        checkpoint_every: 1, out: %s}\n"
            "eval: {shots: [1, 2], strategies: [RS, SIT, DRUM]}\n%s",
            root, out, extra);
    fclose(f);
}

char *test_slurp(const char *path) {
    char err[256];
    size_t len;
    return drum_read_file(path, &len, err, sizeof err);
}

long test_count_lines(const char *path) {
    char *s = test_slurp(path);
    if (!s) return -1;
    long lines = 0;
    for (const char *c = s; *c; c++) lines += *c == '\n';
    free(s);
    return lines;
}

int test_same_file(const char *a, const char *b) {
    char err[256];
    size_t la, lb;
    char *x = drum_read_file(a, &la, err, sizeof err), *y = drum_read_file(b, &lb, err, sizeof err);
    int same = x && y && la == lb && memcmp(x, y, la) == 0;
    free(x);
    free(y);
    return same;
}

double test_weight_gap(const char *a, const char *b, double *largest) {
    char err[256];
    drum_safetensors *x = drum_safetensors_open(a, err, sizeof err);
    drum_safetensors *y = x ? drum_safetensors_open(b, err, sizeof err) : NULL;
    double gap = -1, diff = 0, sum = 0;
    size_t count = 0;
    if (x && y && drum_safetensors_count(x) == drum_safetensors_count(y)) {
        gap = 0;
        for (int i = 0; i < drum_safetensors_count(x) && gap == 0; i++) {
            const drum_st_tensor *tx = drum_safetensors_at(x, i);
            const drum_st_tensor *ty = drum_safetensors_find(y, tx->name);
            float *fx = malloc(tx->numel * sizeof(float) + 1);
            float *fy = malloc(tx->numel * sizeof(float) + 1);
            if (!fx || !fy || !ty || ty->numel != tx->numel ||
                drum_st_tensor_to_f32(tx, fx, err, sizeof err) ||
                drum_st_tensor_to_f32(ty, fy, err, sizeof err)) {
                gap = -1;
            } else {
                for (size_t k = 0; k < tx->numel; k++) {
                    double d = fabs((double)fx[k] - fy[k]);
                    diff = fmax(diff, d);
                    sum += d;
                }
                count += tx->numel;
            }
            free(fx);
            free(fy);
        }
    }
    drum_safetensors_close(x);
    drum_safetensors_close(y);
    *largest = diff;
    return gap < 0 || !count ? -1 : sum / (double)count;
}

void test_in_little_memory(int (*fn)(const char *, char *, size_t), const char *path,
                           long room, char *err, size_t errlen) {
    int fd[2];
    err[0] = '\0';
    if (pipe(fd) != 0) return;
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        long pages = 0;
        FILE *f = fopen("/proc/self/statm", "r");
        if (!f || fscanf(f, "%ld", &pages) != 1) _exit(2);
        fclose(f);
        struct rlimit lim;
        lim.rlim_cur = lim.rlim_max = (rlim_t)(pages * sysconf(_SC_PAGESIZE) + room);
        char e[1024] = "";
        if (setrlimit(RLIMIT_AS, &lim) != 0) _exit(2);
        if (fn(path, e, sizeof e) == 0) e[0] = '\0';
        _exit(write(fd[1], e, strlen(e)) < 0 ? 3 : 0);
    }
    close(fd[1]);
    ssize_t n = read(fd[0], err, errlen - 1);
    err[n > 0 ? n : 0] = '\0';
    close(fd[0]);
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        snprintf(err, errlen, "could not run the child");
    else if (WIFSIGNALED(status))
        snprintf(err, errlen, "the child died of signal %d", WTERMSIG(status));
    else if (WEXITSTATUS(status) != 0)
        snprintf(err, errlen, "the child exited with status %d", WEXITSTATUS(status));
}
