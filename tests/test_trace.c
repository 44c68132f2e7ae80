/* test_trace — drum's profiler ranges (trace.h). With CUDA they are NVTX ranges: this test
 * loads tests/fixtures/nvtx_record.c as the NVTX tool (NVTX_INJECTION64_PATH, as Nsight
 * Systems does), records every push and pop, and checks the names, the truncation, that
 * ranges balance per thread and that they nest as documented — in this process through
 * the API, and in a whole `drum demo` run of a tiny config. In every build the same demo
 * runs with DRUM_PROFILE=1 and its timing table is checked: the documented rows, calls
 * that agree with the NVTX record (CUDA builds), inner ranges within their outer ones. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/check.h"
#include "drum/trace.h"

static char dir[PATH_MAX], tmp[64] = "/tmp/drum_trace_XXXXXX";

/* One row of the DRUM_PROFILE table. */
typedef struct {
    char name[64];
    long calls;
    double total, share;
} prof_row;

/* Parses the table out of a run's output; returns the rows (-1: no table). */
static int read_profile(const char *path, prof_row *rows, int max) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[512];
    int n = -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "profile (DRUM_PROFILE)", 22) == 0) {
            n = 0;
            continue;
        }
        if (n < 0 || n >= max || strncmp(line, "range ", 6) == 0) continue;
        /* the name is padded to 32 columns and may contain spaces */
        if (strlen(line) < 33) continue;
        prof_row *r = &rows[n];
        snprintf(r->name, sizeof r->name, "%.32s", line);
        for (int k = (int)strlen(r->name) - 1; k >= 0 && r->name[k] == ' '; k--) r->name[k] = 0;
        double mean;
        if (sscanf(line + 32, "%ld %lf %lf %lf%%", &r->calls, &r->total, &mean, &r->share) == 4)
            n++;
    }
    fclose(f);
    return n;
}

static const prof_row *prof_find(const prof_row *rows, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (strcmp(rows[i].name, name) == 0) return &rows[i];
    return NULL;
}

/* The demo's ranges, every one of which a tiny run opens. */
static const char *names[] = {"zero-shot drafts", "pretrain", "pretrain step", "encode images",
                              "encode texts", "backward images", "backward texts", "adamw",
                              "evaluate RS", "evaluate SIT", "retrieve", "embed demonstrations",
                              "embed queries", "k-shot answers", "NDCG@10", "mine round 1",
                              "mine round 2", "score pairs", "train step", "list-wise loss",
                              "evaluate DRUM round 1", "evaluate DRUM round 2"};
enum { N_NAMES = sizeof names / sizeof names[0] };

/* Runs `drum demo` of a tiny config with DRUM_PROFILE=1 (and the NVTX recorder when lib is
 * given); output to out. Returns the exit status. */
static int run_demo(const char *lib, const char *nvtx_log, const char *out) {
    char cfg[PATH_MAX + 64], drum[PATH_MAX + 16];
    snprintf(cfg, sizeof cfg, "%s/a.yaml", tmp);
    snprintf(drum, sizeof drum, "%s/../drum", dir);
    FILE *f = fopen(cfg, "w");
    if (!f) return -1;
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
        if (lib) {
            setenv("NVTX_INJECTION64_PATH", lib, 1);
            setenv("DRUM_NVTX_LOG", nvtx_log, 1);
        }
        setenv("DRUM_PROFILE", "1", 1);
        setenv("OMP_NUM_THREADS", "2", 1);
        execl(drum, drum, "demo", cfg, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The DRUM_PROFILE table of the demo run; nvtx_calls (may be NULL) gives, per name, the
 * pushes the NVTX recorder saw. */
static void check_profile(const char *out, const int *nvtx_calls) {
    prof_row rows[64];
    int n = read_profile(out, rows, 64);
    CHECK(n >= (int)N_NAMES, "%d rows in the DRUM_PROFILE table of %s", n, out);
    if (n < 0) return;
    for (int i = 0; i < N_NAMES; i++) {
        const prof_row *r = prof_find(rows, n, names[i]);
        CHECK(r && r->calls > 0 && r->total >= 0 && r->share <= 100.05,
              "row \"%s\": %s", names[i], r ? "bad numbers" : "missing");
        if (r && nvtx_calls)
            CHECK(r->calls == nvtx_calls[i], "\"%s\": %ld calls timed, %d NVTX ranges",
                  names[i], r->calls, nvtx_calls[i]);
    }
    const prof_row *step = prof_find(rows, n, "train step");
    const prof_row *loss = prof_find(rows, n, "list-wise loss");
    const prof_row *enc = prof_find(rows, n, "encode images");
    const prof_row *pre = prof_find(rows, n, "pretrain");
    const prof_row *pstep = prof_find(rows, n, "pretrain step");
    const prof_row *m1 = prof_find(rows, n, "mine round 1");
    const prof_row *m2 = prof_find(rows, n, "mine round 2");
    const prof_row *score = prof_find(rows, n, "score pairs");
    /* the pool is embedded once per weights: for the baselines (which round 1's mining
     * takes) and for each round's evaluation (which the next round's mining takes) */
    const prof_row *demos = prof_find(rows, n, "embed demonstrations");
    CHECK(demos && demos->calls == 3, "the pool embedded %ld times, want 3 (baselines, rounds "
          "1 and 2)", demos ? demos->calls : -1L);
    if (step && loss && enc && pre && pstep && m1 && m2 && score) {
        CHECK(loss->calls == step->calls && loss->total <= step->total + 1e-3 &&
                  pstep->total <= pre->total + 1e-3 &&
                  score->total <= m1->total + m2->total + 1e-3,
              "inner ranges within outer ones: loss %.3f of step %.3f, pretrain step %.3f of "
              "%.3f, score %.3f of mining %.3f",
              loss->total, step->total, pstep->total, pre->total, score->total,
              m1->total + m2->total);
        for (int i = 1; i < n; i++)
            CHECK(rows[i].total <= rows[i - 1].total, "table not sorted by total at %s",
                  rows[i].name);
    }
}

#ifdef DRUM_HAVE_CUDA

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

/* A whole demo of a tiny config: every documented range appears, balanced, nested, and
 * the DRUM_PROFILE table counts the same ranges. */
static void test_job(const char *lib) {
    char log[PATH_MAX + 64], out[PATH_MAX + 64];
    snprintf(log, sizeof log, "%s/job.nvtx", tmp);
    snprintf(out, sizeof out, "%s/job.out", tmp);
    int rc = run_demo(lib, log, out);
    CHECK(rc == 0, "drum demo exit %d (log %s)", rc, out);
    int n = read_log(log);
    CHECK(n > 100, "%d events recorded from drum demo", n);
    if (n <= 0) return;
    CHECK(balance(n) == 0, "drum demo left unbalanced ranges");
    int calls[N_NAMES];
    for (int i = 0; i < N_NAMES; i++) {
        calls[i] = count(n, names[i]);
        CHECK(calls[i] > 0, "no \"%s\" range", names[i]);
    }
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
              count_inside(n, "embed demonstrations", "mine round") == 0 &&
              count_inside(n, "k-shot answers", "evaluate") == count(n, "k-shot answers"),
          "mining and evaluation ranges nest; mining takes the evaluations' pool rows");
    check_profile(out, calls);
}
#endif

/* DRUM_PROFILE=0 or unset: no table; set: a table, even with no ranges. */
static void test_profile_switch(void) {
    const char *vals[] = {"1", "0", NULL};
    for (int i = 0; i < 3; i++) {
        char cmd[PATH_MAX + 256];
        snprintf(cmd, sizeof cmd, "%s%s '%s/../drum' --version > '%s/v.out' 2>&1",
                 vals[i] ? "DRUM_PROFILE=" : "env -u DRUM_PROFILE", vals[i] ? vals[i] : "", dir,
                 tmp);
        int st = system(cmd);
        char path[PATH_MAX + 64];
        snprintf(path, sizeof path, "%s/v.out", tmp);
        prof_row rows[4];
        int n = read_profile(path, rows, 4);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0 && (i == 0 ? n == 0 : n == -1),
              "DRUM_PROFILE=%s: table rows %d", vals[i] ? vals[i] : "(unset)", n);
    }
}

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
    if (!mkdtemp(tmp)) {
        CHECK(0, "mkdtemp");
        return check_summary();
    }
#ifdef DRUM_HAVE_CUDA
    char lib[PATH_MAX + 32], log[PATH_MAX + 64];
    snprintf(lib, sizeof lib, "%s/libnvtx_record.so", dir);
    snprintf(log, sizeof log, "%s/api.nvtx", tmp);
    CHECK(access(lib, R_OK) == 0, "%s is missing (make builds it with CUDA)", lib);
    /* NVTX reads these at the first range of the process */
    setenv("NVTX_INJECTION64_PATH", lib, 1);
    setenv("DRUM_NVTX_LOG", log, 1);
    test_api(log);
    test_job(lib);
#else
    char out[PATH_MAX + 64];
    snprintf(out, sizeof out, "%s/job.out", tmp);
    int rc = run_demo(NULL, NULL, out);
    CHECK(rc == 0, "drum demo exit %d (log %s)", rc, out);
    check_profile(out, NULL);
    SKIP("NVTX ranges: a build without CUDA has no NVTX");
#endif
    test_profile_switch();
    CHECK(test_remove_tree(tmp) == 0, "cleanup of %s", tmp);
    return check_summary();
}
