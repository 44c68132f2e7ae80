/* test_alloc_fail — drum under allocation failures: each of drum's own allocations in a
 * command fails in turn (tests/fixtures/alloc_fail.c, preloaded), and every run must end as
 * drum promises: exit 1 with a message, or exit 0 with the same output as a run with memory
 * to spare; never a signal (an audit found retrieval writing through a NULL buffer), never an
 * empty message, never exit 0 with other output. */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/check.h"
#include "drum/fileio.h"
#include "drum/retrieval.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

static char tmp[] = "/tmp/drum_alloc_fail_XXXXXX";
static char drum_bin[PATH_MAX + 32], shim[PATH_MAX + 32];

/* Runs drum with args, stdout and stderr to log, under the shim failing allocation n (0:
 * none; *count, when not NULL, gets how many it counted). Returns the exit status, or 128 +
 * the signal. */
static int run(const char *const *args, const char *log, long n, long *count) {
    char count_file[PATH_MAX + 16];
    snprintf(count_file, sizeof count_file, "%s/count", tmp);
    fflush(stdout); /* else the child's freopen writes the parent's pending lines again */
    pid_t pid = fork();
    if (pid == 0) {
        FILE *o = freopen(log, "w", stdout);
        if (!o || dup2(fileno(stdout), 2) < 0) _exit(126);
        char v[32];
        snprintf(v, sizeof v, "%ld", n);
        setenv("LD_PRELOAD", shim, 1);
        setenv("DRUM_ALLOC_FAIL", v, 1);
        if (count) setenv("DRUM_ALLOC_COUNT", count_file, 1);
        setenv("OMP_NUM_THREADS", "1", 1);
        execv(drum_bin, (char *const *)args);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (count) {
        char *s = test_slurp(count_file);
        *count = s ? strtol(s, NULL, 10) : -1;
        free(s);
    }
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

/* The last line of text (its message), or "". */
static const char *last_line(char *text) {
    size_t n = strlen(text);
    while (n && text[n - 1] == '\n') text[--n] = '\0';
    char *nl = strrchr(text, '\n');
    return nl ? nl + 1 : text;
}

/* Fails the command's counted allocations in turn: each, or with stride s the 1st, (1+s)-th,
 * ... and the last. `out` (may be NULL) is the file a successful run writes (without one, a
 * successful run's last line must be the same); `want_rc` the status of a run with memory to
 * spare; `prefix` how its error lines start ("drum retrieve: "). */
static void sweep(const char *what, const char *const *args, const char *out, int want_rc,
                  const char *prefix, long stride) {
    char log[PATH_MAX + 16], ref[PATH_MAX + 16];
    snprintf(log, sizeof log, "%s/run.log", tmp);
    snprintf(ref, sizeof ref, "%s/ref.out", tmp);
    long count = 0;
    int rc = run(args, log, 0, &count);
    CHECK(rc == want_rc && count > 0, "%s with memory to spare: exit %d (want %d), %ld "
          "allocations counted", what, rc, want_rc, count);
    if (rc != want_rc || count <= 0) return;
    char *want = test_slurp(out ? out : log);
    CHECK(want != NULL, "%s wrote no %s", what, out ? out : log);
    if (want && !out) memmove(want, last_line(want), strlen(last_line(want)) + 1);
    int signalled = 0, unnamed = 0, wrong = 0, failed = 0, fine = 0;
    char first[512] = "";
    long tried = 0;
    for (long n = 1; n <= count; n = n + stride <= count || n == count ? n + stride : count) {
        tried++;
        if (out) remove(out);
        rc = run(args, log, n, NULL);
        char *text = test_slurp(log);
        const char *msg = text ? last_line(text) : "";
        char what_went[512] = "";
        if (rc >= 128) {
            signalled++;
            snprintf(what_went, sizeof what_went, "signal %d", rc - 128);
        } else if (rc != 0) {
            size_t p = strlen(prefix);
            int said = strncmp(msg, prefix, p) == 0 && strlen(msg) > p + 3;
            unnamed += !said;
            failed++;
            if (!said) snprintf(what_went, sizeof what_went, "exit %d, '%s'", rc, msg);
        } else if (want_rc != 0) {
            wrong++;
            snprintf(what_went, sizeof what_went, "exit 0 (a run with memory exits %d)", want_rc);
        } else {
            char *got = out ? test_slurp(out) : NULL;
            int same = want && (out ? got && strcmp(got, want) == 0 : strcmp(msg, want) == 0);
            wrong += !same;
            fine += same;
            if (!same) snprintf(what_went, sizeof what_went, "exit 0 with other output");
            free(got);
        }
        if (what_went[0] && !first[0])
            snprintf(first, sizeof first, "allocation %ld of %ld: %s", n, count, what_went);
        free(text);
    }
    CHECK(signalled == 0 && unnamed == 0 && wrong == 0,
          "%s, %ld of its %ld allocations failing in turn: %d signals, %d failures without a "
          "message, %d wrong results (%d failed with one, %d finished whole); first: %s", what,
          tried, count, signalled, unnamed, wrong, failed, fine, first);
    printf("%s: %ld of %ld allocations failed in turn: %d runs failed with a message, %d finished "
           "whole\n", what, tried, count, failed, fine);
    free(want);
}

/* Embedding files for drum retrieve: a pool of 120 rows and 7 queries, 8 + 8 dims. */
static int write_embeddings(const char *path, int n, int seed) {
    drum_embeddings e;
    char err[256];
    if (drum_embeddings_alloc(&e, n, 8, 8, err, sizeof err)) return -1;
    for (int i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof id, "ex%d-%d", seed, i);
        e.ids[i] = strdup(id);
        for (int c = 0; c < 8; c++) {
            e.img[i * 8 + c] = (float)((i * 31 + c * 7 + seed) % 17) - 8.0f;
            e.txt[i * 8 + c] = (float)((i * 13 + c * 5 + seed) % 11) - 5.0f;
        }
    }
    drum_embeddings_normalize(&e);
    int rc = drum_embeddings_save(&e, path, err, sizeof err);
    drum_embeddings_free(&e);
    return rc;
}

int main(void) {
#ifdef UNDER_ASAN
    SKIP("allocation failures: ASan's allocator cannot be preloaded over");
    return check_summary();
#endif
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return 1;
    self[n] = '\0';
    *strrchr(self, '/') = '\0';
    snprintf(drum_bin, sizeof drum_bin, "%s/../drum", self);
    snprintf(shim, sizeof shim, "%s/liballoc_fail.so", self);
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    char pool[PATH_MAX], q[PATH_MAX], out[PATH_MAX], cfg[PATH_MAX];
    snprintf(pool, sizeof pool, "%s/pool.emb", tmp);
    snprintf(q, sizeof q, "%s/q.emb", tmp);
    snprintf(out, sizeof out, "%s/retrieved.jsonl", tmp);
    snprintf(cfg, sizeof cfg, "%s/bad.yaml", tmp);
    CHECK(write_embeddings(pool, 120, 1) == 0 && write_embeddings(q, 7, 2) == 0,
          "writing the embedding files");
    const char *ret[] = {drum_bin, "retrieve", "--queries", q, "--pool", pool, "--out", out,
                         "--k", "4", NULL};
    sweep("drum retrieve", ret, out, 0, "drum retrieve: ", 1);
    /* a config with an error in its last key: every key before it is read and checked */
    FILE *f = fopen(cfg, "w");
    if (f) {
        fprintf(f, "seed: 5\ndata: {dir: %s/data}\nretrieval: {demo_text: \"{P} {R}\"}\n"
                   "eval: {shots: [1, 2], strategies: [RS, SIT]}\ntrain: {rounds: three}\n",
                tmp);
        fclose(f);
    }
    const char *chk[] = {drum_bin, "train", cfg, "--check", NULL};
    sweep("drum train BAD --check", chk, NULL, 1, "drum: ", 1);
    /* a whole job's opening (a tiny suite, its images, the tokenizer, the model, the
     * simulator): --check reads everything a run reads first; ~20,000 allocations, every
     * 97th and the last */
    char good[PATH_MAX], log[PATH_MAX];
    snprintf(good, sizeof good, "%s/good.yaml", tmp);
    snprintf(log, sizeof log, "%s/suite.log", tmp);
    f = fopen(good, "w");
    if (f) {
        fprintf(f, "seed: 5\ndata: {dir: %s/data}\n"
                   "synth: {n_train: 100, n_eval: 45, image_size: 32, seed: 3}\n"
                   "train: {out: %s/run}\neval: {shots: [1, 2], strategies: [RS, SIT]}\n",
                tmp, tmp);
        fclose(f);
    }
    const char *open_job[] = {drum_bin, "eval", good, "--check", NULL};
    int rc = run(open_job, log, -1, NULL); /* generates the suite, with every allocation */
    CHECK(rc == 0, "generating the suite: exit %d (log %s)", rc, log);
    if (rc == 0) sweep("drum eval GOOD --check", open_job, NULL, 0, "drum: ", 97);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    return check_summary();
}
