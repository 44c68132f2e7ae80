/* test_trace — drum's profiler ranges (trace.h). With CUDA they are NVTX ranges: this test
 * loads tests/fixtures/nvtx_record.c as the NVTX tool (NVTX_INJECTION64_PATH, as Nsight
 * Systems does), records every push and pop, and checks the names, the truncation, that
 * ranges balance per thread and that they nest as documented — in this process through
 * the API, and in a whole `drum demo` run of a tiny config. Without CUDA the ranges
 * compile to nothing and the recording checks are skipped. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/check.h"
#include "drum/trace.h"

static char dir[PATH_MAX];

#ifdef DRUM_HAVE_CUDA
static char tmp[64] = "/tmp/drum_trace_XXXXXX";

enum { MAX_EVENTS = 20000, NAME = 160 };

typedef struct {
    long tid;
    int push;           /* 1 push, 0 pop */
    char name[NAME];    /* pushes: the range; pops: the range closed (filled by balance) */
    int parent;         /* index of the enclosing push, -1 at the top */
} event;

static event ev[MAX_EVENTS];

/* Reads the recorder's log; returns the number of events, -1 if unreadable. */
static int read_log(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[512];
    int n = 0;
    while (n < MAX_EVENTS && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *sp = strchr(line, ' ');
        if (!sp) continue;
        ev[n].tid = strtol(line, NULL, 10);
        ev[n].push = strncmp(sp + 1, "push ", 5) == 0;
        snprintf(ev[n].name, NAME, "%s", ev[n].push ? sp + 6 : "");
        ev[n].parent = -1;
        n++;
    }
    fclose(f);
    return n;
}

/* Matches pops to pushes per thread and sets every push's parent. Returns the number of
 * problems: a pop with nothing open, ranges left open at the end. */
static int balance(int n) {
    int problems = 0;
    for (int i = 0; i < n; i++) {
        if (ev[i].tid < 0) continue;
        int stack[256], depth = 0;
        long tid = ev[i].tid;
        for (int k = i; k < n; k++) {
            if (ev[k].tid != tid) continue;
            if (ev[k].push) {
                ev[k].parent = depth ? stack[depth - 1] : -1;
                if (depth < 256) stack[depth++] = k;
            } else if (depth == 0) {
                problems++;
            } else {
                snprintf(ev[k].name, NAME, "%s", ev[stack[--depth]].name);
            }
            ev[k].tid = -1 - ev[k].tid; /* visited */
        }
        problems += depth;
    }
    for (int i = 0; i < n; i++) ev[i].tid = -1 - ev[i].tid;
    return problems;
}

static int count(int n, const char *name) {
    int c = 0;
    for (int i = 0; i < n; i++) c += ev[i].push && strcmp(ev[i].name, name) == 0;
    return c;
}

/* Pushes of `name` whose enclosing range starts with `parent` (prefix match). */
static int count_inside(int n, const char *name, const char *parent) {
    int c = 0;
    for (int i = 0; i < n; i++)
        if (ev[i].push && strcmp(ev[i].name, name) == 0 && ev[i].parent >= 0 &&
            strncmp(ev[ev[i].parent].name, parent, strlen(parent)) == 0)
            c++;
    return c;
}

/* The API in this process: formatting, nesting, truncation to 127 bytes. */
static void test_api(const char *log) {
    drum_trace_push("outer %d", 7);
    drum_trace_push("%s", "inner");
    drum_trace_pop();
    drum_trace_pop();
    char longname[300];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    drum_trace_push("%s", longname);
    drum_trace_pop();
    int n = read_log(log);
    CHECK(n == 6, "%d events recorded in this process, want 6", n);
    if (n != 6) return;
    CHECK(balance(n) == 0, "unbalanced ranges");
    CHECK(strcmp(ev[0].name, "outer 7") == 0 && strcmp(ev[1].name, "inner") == 0 &&
              ev[1].parent == 0 && !ev[2].push && !ev[3].push,
          "nesting: '%s' '%s'", ev[0].name, ev[1].name);
    CHECK(strlen(ev[4].name) == 127 && ev[4].name[0] == 'x', "long name kept %zu bytes",
          strlen(ev[4].name));
}

/* A whole demo of a tiny config: every documented range appears, balanced, nested. */
static void test_job(const char *lib) {
    char cfg[PATH_MAX + 64], log[PATH_MAX + 64], out[PATH_MAX + 64], drum[PATH_MAX + 16];
    snprintf(cfg, sizeof cfg, "%s/a.yaml", tmp);
    snprintf(log, sizeof log, "%s/job.nvtx", tmp);
    snprintf(out, sizeof out, "%s/job.out", tmp);
    snprintf(drum, sizeof drum, "%s/../drum", dir);
    FILE *f = fopen(cfg, "w");
    if (!f) {
        CHECK(0, "cannot write %s", cfg);
        return;
    }
    fprintf(f,
            "seed: 5\n"
            "data: {dir: %s/data}\n"
            "synth: {n_train: 100, n_eval: 45, image_size: 32, seed: 3}\n"
            "model:\n  pretrain: {epochs: 1, batch: 32}\n"
            "train: {rounds: 2, candidates_k: 8, scored_per_round: 4, epochs: 1,\n"
            "        batch_queries: 8, list_size: 6, out: %s/run}\n"
            "eval: {shots: [1, 2], strategies: [RS, SIT, DRUM]}\n",
            tmp, tmp);
    fclose(f);
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen(out, "w", stdout) || !freopen(out, "a", stderr)) _exit(126);
        setenv("NVTX_INJECTION64_PATH", lib, 1);
        setenv("DRUM_NVTX_LOG", log, 1);
        setenv("OMP_NUM_THREADS", "2", 1);
        execl(drum, drum, "demo", cfg, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "drum demo exit %d (log %s)",
          WIFEXITED(status) ? WEXITSTATUS(status) : -1, out);
    int n = read_log(log);
    CHECK(n > 100, "%d events recorded from drum demo", n);
    if (n <= 0) return;
    CHECK(balance(n) == 0, "drum demo left unbalanced ranges");
    const char *names[] = {"zero-shot drafts", "pretrain", "pretrain step", "encode images",
                           "encode texts", "backward images", "backward texts", "adamw",
                           "evaluate RS", "evaluate SIT", "retrieve", "embed demonstrations",
                           "embed queries", "k-shot answers", "NDCG@10", "mine round 1",
                           "mine round 2", "score pairs", "train step", "list-wise loss",
                           "evaluate DRUM round 1", "evaluate DRUM round 2"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        CHECK(count(n, names[i]) > 0, "no \"%s\" range", names[i]);
    int steps = count(n, "train step");
    CHECK(steps > 0 && count_inside(n, "list-wise loss", "train step") == steps &&
              count_inside(n, "encode images", "train step") == steps &&
              count_inside(n, "backward texts", "train step") == steps &&
              count_inside(n, "adamw", "train step") == steps,
          "every train step holds one encode images, list-wise loss, backward texts, adamw");
    int psteps = count(n, "pretrain step");
    CHECK(psteps == count_inside(n, "pretrain step", "pretrain") &&
              count_inside(n, "encode texts", "pretrain step") == psteps,
          "pretrain steps inside \"pretrain\", each encoding texts");
    CHECK(count_inside(n, "score pairs", "mine round") == 2 &&
              count_inside(n, "embed queries", "mine round") == 2 &&
              count_inside(n, "k-shot answers", "evaluate") == count(n, "k-shot answers"),
          "mining and evaluation ranges nest");
}

#endif

int main(int argc, char **argv) {
    (void)argc;
    (void)argv;
    ssize_t len = readlink("/proc/self/exe", dir, sizeof dir - 1);
    if (len <= 0) {
        CHECK(0, "readlink /proc/self/exe");
        return check_summary();
    }
    dir[len] = '\0';
    *strrchr(dir, '/') = '\0';
#ifdef DRUM_HAVE_CUDA
    if (!mkdtemp(tmp)) {
        CHECK(0, "mkdtemp");
        return check_summary();
    }
    char lib[PATH_MAX + 32], log[PATH_MAX + 64];
    snprintf(lib, sizeof lib, "%s/libnvtx_record.so", dir);
    snprintf(log, sizeof log, "%s/api.nvtx", tmp);
    CHECK(access(lib, R_OK) == 0, "%s is missing (make builds it with CUDA)", lib);
    /* NVTX reads these at the first range of the process */
    setenv("NVTX_INJECTION64_PATH", lib, 1);
    setenv("DRUM_NVTX_LOG", log, 1);
    test_api(log);
    test_job(lib);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    CHECK(system(cmd) == 0, "cleanup");
#else
    drum_trace_push("no-op %d", 1);
    drum_trace_pop();
    SKIP("trace ranges: a build without CUDA has no NVTX");
#endif
    return check_summary();
}
