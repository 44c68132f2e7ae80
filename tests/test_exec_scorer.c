/* test_exec_scorer — the `exec` scorer against tests/fixtures/exec_lvlm.py (a stand-in
 * that speaks the protocol with fixed rules): hello sets the id, scores and answers come back
 * in order and match the rules recomputed here, generate never shows the query's gold
 * response, and every way the subprocess can fail (exits, dies after hello, replies with an
 * error, too few items, a line that is not JSON, no such program) is an error that names the
 * command and what happened; SIGINT, SIGTERM and SIGUSR1 do not end the LVLM, drum's SIGKILL
 * does.
 * Skipped (counted) where python3 is missing. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "common/check.h"
#include "drum/exec_scorer.h"
#include "drum/score_cache.h"

/* "python3 '<root>/tests/fixtures/exec_lvlm.py'", root found from this binary's path
 * (<root>/<build>/tests/test_exec_scorer), so any working directory will do */
static char LVLM[PATH_MAX + 64];
/* the repository root */
static char ROOT[PATH_MAX];

static drum_example ex(const char *id, const char *prompt, const char *response, const char *task) {
    drum_example e = {0};
    e.id = (char *)id;
    e.image = (char *)"/data/images/x.png";
    e.prompt = (char *)prompt;
    e.response = (char *)response;
    e.task = (char *)task;
    return e;
}

/* characters of UTF-8 text (Python's len): bytes that do not continue a sequence */
static size_t utf8_len(const char *s) {
    size_t n = 0;
    for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* the stand-in's rule (tests/fixtures/exec_lvlm.py) */
static double rule(const drum_example *q, const drum_example *d) {
    return -1.0 + 0.5 * (strcmp(d->task, q->task) == 0) + 1.0 * (strcmp(d->response, q->response) == 0) -
           0.01 * (double)(utf8_len(d->prompt) % 7);
}

static void test_protocol(void) {
    char err[512] = "";
    drum_scorer *s = NULL;
    char cmd[sizeof LVLM + 32];
    snprintf(cmd, sizeof cmd, "%s --id 'tiny model, t=0'", LVLM);
    CHECK(drum_exec_open(&s, cmd, 0, err, sizeof err) == 0, "open: %s", err);
    if (!s) return;
    CHECK(strcmp(s->id, "exec:tiny model, t=0") == 0, "id '%s'", s->id);
    CHECK(strcmp(s->template_name, "plain") == 0, "template '%s'", s->template_name);
    drum_example q1 = ex("q1", "What color is the circle?", "red", "vqa");
    drum_example q2 = ex("q2", "Describe the image.", "a red \"circle\".\nnext line", "caption");
    drum_example d1 = ex("d1", "What color is the square?", "red", "vqa");
    drum_example d2 = ex("d2", "Is there a star?", "no", "vqa");
    drum_example d3 = ex("d3", "Describe the image, ünïcode.", "a red \"circle\".\nnext line", "caption");
    drum_score_pair pairs[] = {{&q1, &d1}, {&q1, &d2}, {&q2, &d3}, {&q2, &d1}};
    double sc[4] = {0};
    CHECK(s->score(s, pairs, 4, sc, err, sizeof err) == 0, "score: %s", err);
    for (int i = 0; i < 4; i++)
        CHECK(fabs(sc[i] - rule(pairs[i].query, pairs[i].demo)) < 1e-12, "score %d: %g, rule %g", i,
              sc[i], rule(pairs[i].query, pairs[i].demo));
    CHECK(s->score(s, pairs, 0, sc, err, sizeof err) == 0, "an empty score call");

    const drum_example *ds[] = {&d2, &d3};
    drum_icl_prompt prompts[] = {{&q1, ds, 2}, {&q2, NULL, 0}, {&q2, ds, 1}};
    char *ans[3] = {0};
    CHECK(s->generate(s, prompts, 3, ans, err, sizeof err) == 0, "generate: %s", err);
    CHECK(ans[0] && strcmp(ans[0], d3.response) == 0, "answer 0 '%s' (the last demo's response, "
          "quotes and newline intact)", ans[0] ? ans[0] : "");
    CHECK(ans[1] && strcmp(ans[1], "unknown") == 0, "zero-shot answer '%s'", ans[1] ? ans[1] : "");
    CHECK(ans[2] && strcmp(ans[2], "no") == 0, "answer 2 '%s'", ans[2] ? ans[2] : "");
    for (int i = 0; i < 3; i++) free(ans[i]);

    /* rank: one row a prompt, one number a choice, in order */
    const char *choices[] = {"no", "a red \"circle\".\nnext line", "yes", "maybe"};
    double ll[3 * 4];
    for (int i = 0; i < 12; i++) ll[i] = NAN;
    CHECK(s->rank != NULL && s->rank(s, prompts, 3, choices, 4, ll, err, sizeof err) == 0,
          "rank: %s", err);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++) {
            const drum_icl_prompt *p = &prompts[i];
            int last = p->k > 0 && strcmp(p->demos[p->k - 1]->response, choices[j]) == 0;
            double want = last ? 0.0 : -1.0 - 0.1 * (double)(utf8_len(choices[j]) % 5) - 0.01 * p->k;
            CHECK(fabs(ll[i * 4 + j] - want) < 1e-12, "rank (%d, %d): %g, rule %g", i, j,
                  ll[i * 4 + j], want);
        }
    CHECK(s->rank(s, prompts, 0, choices, 4, ll, err, sizeof err) == 0, "an empty rank call");
    drum_scorer_destroy(s);
}

/* opens `command` and runs op (0 open only, 1 score, 2 generate, 3 rank of two prompts);
 * the message must hold want */
static void expect_failure(const char *command, int op, const char *want) {
    char err[512] = "";
    drum_scorer *s = NULL;
    int rc = drum_exec_open(&s, command, 0, err, sizeof err);
    if (op > 0 && rc == 0) {
        drum_example q = ex("q", "p", "r", "vqa"), d = ex("d", "p", "r", "vqa");
        drum_score_pair pair = {&q, &d};
        const drum_example *ds[] = {&d};
        drum_icl_prompt prompt = {&q, ds, 1};
        double v = 0;
        char *a = NULL;
        drum_icl_prompt two[2] = {prompt, prompt};
        const char *choices[2] = {"r", "x"};
        double ll[4];
        rc = op == 1   ? s->score(s, &pair, 1, &v, err, sizeof err)
             : op == 2 ? s->generate(s, &prompt, 1, &a, err, sizeof err)
                       : s->rank(s, two, 2, choices, 2, ll, err, sizeof err);
        CHECK(op == 1 || a == NULL, "a failed generate left an answer");
        free(a);
    }
    CHECK(rc == -1, "'%s' (op %d) did not fail", command, op);
    CHECK(strstr(err, want) != NULL, "'%s' (op %d): message \"%s\" lacks \"%s\"", command, op, err, want);
    CHECK(strstr(err, command) != NULL || strstr(err, "no command") != NULL,
          "message \"%s\" does not name the command", err);
    drum_scorer_destroy(s);
}

static void with_lvlm(const char *options, int op, const char *want) {
    char cmd[sizeof LVLM + 64];
    snprintf(cmd, sizeof cmd, "%s %s", LVLM, options);
    expect_failure(cmd, op, want);
}

static void test_failures(void) {
    expect_failure("exit 3", 0, "exit status 3");
    expect_failure("/nonexistent/lvlm --serve", 0, "exit status 127");
    expect_failure("echo '{\"id\": 5}'", 0, "needs a non-empty \"id\"");
    expect_failure("echo nonsense", 0, "is not one JSON object: 'nonsense' (the protocol's replies own its standard output");
    expect_failure("", 0, "no command");
    with_lvlm("--exit-after-hello", 1, "exit status 0");
    with_lvlm("--fail score", 1, "the stand-in was told to fail score");
    with_lvlm("--short score", 1, "0 scores for 1 pairs");
    with_lvlm("--garble generate", 2, "is not one JSON object: 'this is not json'");
    with_lvlm("--short generate", 2, "0 answers for 1 prompts");
    with_lvlm("--fail generate", 2, "told to fail generate");
    with_lvlm("--fail rank", 3, "told to fail rank");
    with_lvlm("--short rank", 3, "1 scores for 2 prompts");
    with_lvlm("--ragged", 3, "scores 0, for q, is not a list of 2 numbers");
    with_lvlm("--non-number", 3, "score 1 of prompt 1, for (q, \"x\"), is not a finite number");
    with_lvlm("--garble rank", 3, "is not one JSON object: 'this is not json'");
    /* written in one printf, so drum reads the stray line with the reply: it would have been
     * taken as the next request's reply */
    expect_failure("read l; printf '{\"id\": \"x\"}\\n{\"scores\": [9]}\\n'; read l", 1,
                   "before the score request, it had written more than its replies: "
                   "'{\"scores\": [9]}'");
    /* a stray part of a line, no newline after it: named, without waiting for the rest */
    expect_failure("read l; printf '{\"id\": \"x\"}\\npartial'; read l", 1,
                   "before the score request, it had written more than its replies: 'partial'");
    expect_failure("read l; printf '%s\\n' '{\"id\": \"x\"} {\"junk\": 1}'", 0,
                   "the reply to hello is not one JSON object: '{\"id\": \"x\"} {\"junk\": 1}'");
    expect_failure("read l; printf '%s\\n' '{\"id\": \"x\"}'; read l; printf '%s\\n' "
                   "'{\"scores\": [NaN]}'", 1,
                   "the reply to score holds NaN, which JSON has not: a value was not finite");
    expect_failure("read l; printf '%s\\n' '{\"id\": \"x\"}'; read l; printf '%s\\n' "
                   "'{\"answers\": [\"a\\u0000b\"]}'", 2,
                   "the reply to generate: reply:1: \\u0000 inside a string (drum's strings end "
                   "at a NUL) at column 16");
    expect_failure("read l; printf '%s\\n' '{\"id\": \"x\"}'; read l; printf '{\"scores\": [0.1, ';"
                   " exit 4", 1,
                   "its output ended in the middle of the reply to score: '{\"scores\": [0.1, ' "
                   "(exit status 4)");
}

/* A plain program runs in the shell's place ("exec"), so the shell holds no copy of its
 * output: a process that closes its output but runs on ends the replies (it used to hang
 * drum), and one killed by a signal is named so. */
static void test_shell_replaced(void) {
    time_t t0 = time(NULL);
    with_lvlm("--close-after-hello", 1, "no reply to the score request: its output ended");
    CHECK(time(NULL) - t0 < 30, "a process that closed its output took %ld s to report",
          (long)(time(NULL) - t0));
    /* the request may meet a closed pipe or no reply, as the kill lands: either names it */
    with_lvlm("--killed-after-hello", 1, "(killed by signal 9)");
}

/* A hello id longer than the key field keeps its head and a digest of the whole: two ids that
 * differ only at their end stay two keys. */
static void test_long_id(void) {
    char cmd[2][400], err[512] = "";
    drum_scorer *s[2] = {NULL, NULL};
    for (int k = 0; k < 2; k++) {
        snprintf(cmd[k], sizeof cmd[k], "read l; printf '%%s\\n' '{\"id\": \"hf:/models/%0150d%s\"}'; "
                 "cat >/dev/null", 0, k ? ":postprocess=openflamingo" : "");
        CHECK(drum_exec_open(&s[k], cmd[k], 0, err, sizeof err) == 0, "open: %s", err);
    }
    if (s[0] && s[1])
        CHECK(strlen(s[0]->id) < sizeof s[0]->id && strncmp(s[0]->id, "exec:hf:/models/000", 19) == 0 &&
                  strcmp(s[0]->id, s[1]->id) != 0,
              "long ids: '%s' and '%s'", s[0]->id, s[1]->id);
    drum_scorer_destroy(s[0]);
    drum_scorer_destroy(s[1]);
}

/* Hello's "ops": the calls listed are served, the others NULL (not asked, so the stand-in's
 * error for them is never seen), and so through the score cache; without "ops" all three;
 * names drum does not know are passed over; anything but a list of strings fails the open. */
static void test_ops(void) {
    static const struct {
        const char *options;
        int ops;
    } cases[] = {
        {"", DRUM_LVLM_SCORE | DRUM_LVLM_GENERATE | DRUM_LVLM_RANK},
        {"--ops generate", DRUM_LVLM_GENERATE},
        {"--ops score,rank,embed", DRUM_LVLM_SCORE | DRUM_LVLM_RANK},
        {"--ops ''", 0},
    };
    char err[512] = "", cmd[sizeof LVLM + 64], cache[] = "/tmp/drum_ops_XXXXXX";
    int fd = mkstemp(cache);
    if (fd >= 0) close(fd);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        drum_scorer *s = NULL;
        snprintf(cmd, sizeof cmd, "%s %s", LVLM, cases[i].options);
        CHECK(drum_exec_open(&s, cmd, 0, err, sizeof err) == 0, "open '%s': %s", cmd, err);
        if (!s) continue;
        CHECK(drum_scorer_ops(s) == cases[i].ops, "'%s': ops %d, expected %d", cases[i].options,
              drum_scorer_ops(s), cases[i].ops);
        if (s->generate) {
            drum_example q = ex("q", "p", "r", "vqa"), d = ex("d", "p", "gold", "vqa");
            const drum_example *ds[] = {&d};
            drum_icl_prompt prompt = {&q, ds, 1};
            char *a = NULL;
            CHECK(s->generate(s, &prompt, 1, &a, err, sizeof err) == 0 && a &&
                      strcmp(a, "gold") == 0,
                  "'%s': generate serves: %s", cases[i].options, a ? a : err);
            free(a);
        }
        unlink(cache);
        char warn[256] = "";
        drum_scorer *cached = drum_cached_scorer_create(s, cache, 16, warn, sizeof warn, err,
                                                        sizeof err);
        CHECK(cached && drum_scorer_ops(cached) == cases[i].ops,
              "'%s': the score cache serves ops %d, expected %d (%s)", cases[i].options,
              cached ? drum_scorer_ops(cached) : -1, cases[i].ops, err);
        drum_scorer_destroy(cached ? cached : s);
    }
    unlink(cache);
    with_lvlm("--ops-json 7", 0, "\"ops\" that is not a list of strings: '{");
    with_lvlm("--ops-json '[\"score\", 3]'", 0, "\"ops\" that is not a list of strings");
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* 1 when process pid has ended (gone, or a zombie its parent has not reaped yet), waiting up
 * to 5 s for it */
static int ended(long pid) {
    for (int t = 0; t < 500; t++) {
        char path[64], stat[256] = "";
        snprintf(path, sizeof path, "/proc/%ld/stat", pid);
        FILE *f = fopen(path, "r");
        if (!f) return 1;
        size_t n = fread(stat, 1, sizeof stat - 1, f);
        fclose(f);
        stat[n] = '\0';
        const char *paren = strrchr(stat, ')');
        if (paren && paren[1] == ' ' && paren[2] == 'Z') return 1;
        usleep(10000);
    }
    return 0;
}

/* scorer.timeout: a request the process does not answer in time, or does not even read (a
 * request past the pipe's 64 KiB), or a hello that does not come, is an error within about
 * the limit, naming it; drum ends the process's group (a sleep the shell started is gone),
 * and the spent scorer refuses the next call at once. A reply within the limit is taken. */
static void test_timeout(void) {
    char err[512] = "", cmd[sizeof LVLM + PATH_MAX + 128], pidfile[] = "/tmp/drum_pid_XXXXXX";
    int fd = mkstemp(pidfile);
    if (fd >= 0) close(fd);
    drum_example q = ex("q", "p", "r", "vqa"), d = ex("d", "p", "r", "vqa");
    drum_score_pair pair = {&q, &d};
    double v = 0;
    drum_scorer *s = NULL;
    snprintf(cmd, sizeof cmd, "%s --sleep 0.2", LVLM);
    CHECK(drum_exec_open(&s, cmd, 5, err, sizeof err) == 0 && s &&
              s->score(s, &pair, 1, &v, err, sizeof err) == 0 && v == rule(&q, &d),
          "a reply 0.2 s after its request, within a 5 s limit: %s", err);
    drum_scorer_destroy(s);
    s = NULL;

    snprintf(cmd, sizeof cmd, "read l; printf '{\"id\": \"x\"}\\n'; read l; sleep 30 & echo $! >'%s'; wait",
             pidfile);
    CHECK(drum_exec_open(&s, cmd, 0.5, err, sizeof err) == 0, "open: %s", err);
    if (s) {
        double t0 = now_s();
        int rc = s->score(s, &pair, 1, &v, err, sizeof err);
        double took = now_s() - t0;
        CHECK(rc == -1 && strstr(err, "no reply to the score request within 0.5 s (scorer.timeout)"),
              "an unanswered request: rc %d, '%s'", rc, err);
        CHECK(took > 0.45 && took < 5, "the time limit of 0.5 s took %.2f s", took);
        char text[32] = "";
        FILE *f = fopen(pidfile, "r");
        long pid = f && fgets(text, sizeof text, f) ? atol(text) : 0;
        if (f) fclose(f);
        CHECK(pid > 0 && ended(pid), "the process's child (pid %ld) still runs", pid);
        t0 = now_s();
        rc = s->score(s, &pair, 1, &v, err, sizeof err);
        CHECK(rc == -1 && strstr(err, "no score request is sent: the process was ended when an "
                                      "earlier request ran past scorer.timeout (0.5 s)") &&
                  now_s() - t0 < 0.1,
              "the spent scorer: rc %d, '%s'", rc, err);
        drum_scorer_destroy(s);
        s = NULL;
    }
    unlink(pidfile);

    /* 300 KB of prompt: the write blocks on a process that does not read */
    char *big = malloc(300001);
    if (big) {
        memset(big, 'w', 300000);
        big[300000] = '\0';
        drum_example bq = ex("bq", big, "r", "vqa");
        drum_score_pair bp = {&bq, &d};
        CHECK(drum_exec_open(&s, "read l; printf '{\"id\": \"x\"}\\n'; sleep 30", 0.5, err,
                             sizeof err) == 0,
              "open: %s", err);
        double t0 = now_s();
        int rc = s ? s->score(s, &bp, 1, &v, err, sizeof err) : 0;
        CHECK(rc == -1 && strstr(err, "it did not read the score request within 0.5 s"),
              "a request not read: rc %d, '%s'", rc, err);
        CHECK(now_s() - t0 < 5, "a request not read took %.2f s to fail", now_s() - t0);
        drum_scorer_destroy(s);
        s = NULL;
        free(big);
    }

    double t0 = now_s();
    CHECK(drum_exec_open(&s, "sleep 30", 0.3, err, sizeof err) == -1 &&
              strstr(err, "no reply to the hello request within 0.3 s (scorer.timeout)") &&
              now_s() - t0 < 5,
          "a hello that does not come: '%s' after %.2f s", err, now_s() - t0);
}

/* Every request carries "seq"; a reply echoing another number answers another request and is
 * an error; a reply without it is taken as before (programs that do not echo). */
static void test_seq(void) {
    with_lvlm("--wrong-seq score", 1, "the reply to score (request seq 1) carries another \"seq\"");
    with_lvlm("--wrong-seq generate", 2, "the reply to generate (request seq 1) carries another");
    with_lvlm("--wrong-seq hello", 0, "the reply to hello (request seq 0) carries another");
    char err[512] = "", cmd[sizeof LVLM + 64];
    drum_scorer *s = NULL;
    snprintf(cmd, sizeof cmd, "%s --no-seq", LVLM);
    drum_example q = ex("q", "p", "r", "vqa"), d = ex("d", "p", "r", "vqa");
    drum_score_pair pair = {&q, &d};
    double v = 0;
    CHECK(drum_exec_open(&s, cmd, 0, err, sizeof err) == 0 && s &&
              s->score(s, &pair, 1, &v, err, sizeof err) == 0 &&
              s->score(s, &pair, 1, &v, err, sizeof err) == 0 && v == rule(&q, &d),
          "replies without \"seq\": %s", err);
    drum_scorer_destroy(s);
}

/* The LVLM process is drum's to end: it ignores SIGINT, SIGTERM and SIGUSR1 (drum's stop
 * requests) and leads its own process group (a terminal's Ctrl-C does not reach it), so
 * after those it still answers; drum_exec_signal_children(SIGKILL) then ends the whole group
 * (the shell and the program it started), and the next request fails naming the signal. */
static void test_signals(void) {
    char err[512] = "", cmd[sizeof LVLM + 64];
    drum_scorer *s = NULL;
    /* "; true": the shell stays, the stand-in its child, so the group matters */
    snprintf(cmd, sizeof cmd, "%s --id signals; true", LVLM);
    CHECK(drum_exec_open(&s, cmd, 0, err, sizeof err) == 0, "open: %s", err);
    if (!s) return;
    drum_example q = ex("q", "p", "r", "vqa"), d = ex("d", "p", "r", "vqa");
    drum_score_pair pair = {&q, &d};
    double v = 0;
    drum_exec_signal_children(SIGINT);
    drum_exec_signal_children(SIGTERM);
    drum_exec_signal_children(SIGUSR1);
    usleep(200000);
    int rc = s->score(s, &pair, 1, &v, err, sizeof err);
    CHECK(rc == 0 && v == rule(&q, &d),
          "after SIGINT, SIGTERM and SIGUSR1 the LVLM still answers: %s", err);
    drum_exec_signal_children(SIGKILL);
    usleep(200000);
    rc = s->score(s, &pair, 1, &v, err, sizeof err);
    CHECK(rc == -1 && strstr(err, "killed by signal 9"), "after SIGKILL: rc %d, '%s'", rc, err);
    drum_scorer_destroy(s);
}

/* tools/lvlm_openai.py against tests/fixtures/openai_server.py: a character is a token
 * whose log-probability is -0.1 (1 + code mod 5), so a score is that mean over the answer's
 * characters; the completion is the last demonstration's response and a second line. */
static double openai_rule(const char *answer) {
    double sum = 0;
    size_t n = strlen(answer);
    for (size_t i = 0; i < n; i++) sum += -0.1 * (1 + (unsigned char)answer[i] % 5);
    return n ? sum / (double)n : 0;
}

static void openai_command(char *cmd, size_t n, const char *server_opts,
                           const char *adapter_opts) {
    snprintf(cmd, n,
             "python3 '%s/tests/fixtures/openai_server.py' %s -- python3 '%s/tools/lvlm_openai.py' "
             "--url 'http://127.0.0.1:{port}/v1' --parallel 3 %s",
             ROOT, server_opts, ROOT, adapter_opts);
}

static void test_openai_adapter(void) {
    char err[512] = "", png[] = "/tmp/drum_openai_XXXXXX.png", cmd[3 * PATH_MAX];
    int fd = mkstemps(png, 4);
    CHECK(fd >= 0 && write(fd, "\x89PNG\r\n\x1a\n0000", 12) == 12, "a PNG file for the images");
    if (fd >= 0) close(fd);
    openai_command(cmd, sizeof cmd, "", "");
    drum_scorer *s = NULL;
    CHECK(drum_exec_open(&s, cmd, 0, err, sizeof err) == 0, "open: %s", err);
    if (!s) {
        unlink(png);
        return;
    }
    CHECK(strncmp(s->id, "exec:openai:stand-in-vlm@http://127.0.0.1:", 42) == 0 &&
              strstr(s->id, "/v1:max_tokens=20") && strcmp(s->template_name, "server-chat") == 0,
          "id '%s', template '%s'", s->id, s->template_name);
    CHECK(drum_scorer_ops(s) == (DRUM_LVLM_SCORE | DRUM_LVLM_GENERATE | DRUM_LVLM_RANK),
          "tools/exec_protocol.py lists the adapter's three ops: %d", drum_scorer_ops(s));
    drum_example q1 = ex("q1", "What color is the circle?", "red", "vqa");
    drum_example q2 = ex("q2", "Describe the image.", "a red \"circle\".\nnext line", "caption");
    drum_example d1 = ex("d1", "What color is the square?", "blue", "vqa");
    drum_example d2 = ex("d2", "Is there a star?", "no", "vqa");
    drum_example *all[] = {&q1, &q2, &d1, &d2};
    for (int i = 0; i < 4; i++) all[i]->image = png;
    drum_score_pair pairs[] = {{&q1, &d1}, {&q2, &d2}, {&q1, &d2}};
    double sc[3] = {0};
    CHECK(s->score(s, pairs, 3, sc, err, sizeof err) == 0, "score: %s", err);
    for (int i = 0; i < 3; i++)
        CHECK(fabs(sc[i] - openai_rule(pairs[i].query->response)) < 1e-12, "score %d: %.17g, rule %.17g",
              i, sc[i], openai_rule(pairs[i].query->response));
    const drum_example *ds[] = {&d1, &q2};
    drum_icl_prompt prompts[] = {{&q1, ds, 2}, {&q2, NULL, 0}, {&q1, ds, 1}};
    char *ans[3] = {0};
    CHECK(s->generate(s, prompts, 3, ans, err, sizeof err) == 0, "generate: %s", err);
    const char *want[3] = {"a red \"circle\".", "unknown", "blue"};
    for (int i = 0; i < 3; i++) {
        CHECK(ans[i] && strcmp(ans[i], want[i]) == 0, "answer %d '%s', want '%s' (the first line)",
              i, ans[i] ? ans[i] : "", want[i]);
        free(ans[i]);
    }
    const char *choices[] = {"yes", "no", "a cat on a mat"};
    double ll[9];
    CHECK(s->rank(s, prompts, 3, choices, 3, ll, err, sizeof err) == 0, "rank: %s", err);
    for (int i = 0; i < 9; i++)
        CHECK(fabs(ll[i] - openai_rule(choices[i % 3])) < 1e-12, "rank %d: %.17g, rule %.17g", i,
              ll[i], openai_rule(choices[i % 3]));
    drum_example gone = q1;
    gone.image = (char *)"/nonexistent/img.png";
    drum_score_pair bad = {&gone, &d1};
    CHECK(s->score(s, &bad, 1, sc, err, sizeof err) == -1 && strstr(err, "/nonexistent/img.png"),
          "a missing image: %s", err);
    CHECK(s->score(s, pairs, 1, sc, err, sizeof err) == 0, "it keeps serving after an error: %s",
          err);
    /* an empty gold response or choice has no tokens of its own: an error, not the score of
     * the template's end-of-turn tokens */
    drum_example blank = q1;
    blank.response = (char *)" ";
    drum_score_pair empty = {&blank, &d1};
    CHECK(s->score(s, &empty, 1, sc, err, sizeof err) == -1 &&
              strstr(err, "(q1; answer ' '): an empty answer has no tokens to score"),
          "an empty gold response: %s", err);
    const char *with_empty[] = {"yes", ""};
    CHECK(s->rank(s, prompts, 1, with_empty, 2, ll, err, sizeof err) == -1 &&
              strstr(err, "an empty answer has no tokens to score"),
          "an empty choice: %s", err);
    drum_scorer_destroy(s);

    /* a reply holding NaN (a half-precision overflow) is an error naming the item, not a bare
     * NaN that JSON lacks (tools/exec_protocol.py) */
    snprintf(cmd, sizeof cmd,
             "python3 -c \"import sys; sys.path.insert(0, '%s/tools'); import exec_protocol as e\n"
             "class B:\n id = 'nan'; template = 't'\n def score_pairs(self, p): return [1.0, "
             "float('nan')][:len(p)] + [float('inf')] * (len(p) - 2)\n"
             "e.serve(B)\"", ROOT);
    s = NULL;
    CHECK(drum_exec_open(&s, cmd, 0, err, sizeof err) == 0, "open (NaN backend): %s", err);
    if (s) {
        CHECK(s->score(s, pairs, 3, sc, err, sizeof err) == -1 &&
                  strstr(err, "score failed: score: reply.scores[1] is not a finite number"),
              "a NaN score: %s", err);
        drum_scorer_destroy(s);
    }

    /* the server's failures come back as the call's error */
    const char *opts[] = {"--fail-status 503", "--no-prompt-logprobs", "--skewed-template"};
    const char *says[] = {"HTTP 503: {\"error\": {\"message\": \"the stand-in was told to fail\"}}",
                          "no prompt_logprobs", "not render the generation prompt as a token prefix"};
    for (int k = 0; k < 3; k++) {
        openai_command(cmd, sizeof cmd, opts[k], "");
        s = NULL;
        int rc = drum_exec_open(&s, cmd, 0, err, sizeof err);
        CHECK(rc == 0, "open (%s): %s", opts[k], err);
        if (rc) continue;
        rc = s->score(s, pairs, 1, sc, err, sizeof err);
        CHECK(rc == -1 && strstr(err, says[k]), "%s: rc %d, '%s'", opts[k], rc, err);
        drum_scorer_destroy(s);
    }

    /* --postprocess openflamingo: the stand-in says the last demonstration's response and
     * "\nmore"; a vqa answer is cut at "Question"/"Answer"/"Short" and then at ", ", a caption
     * at "Output" with its double quotes dropped, and the id says so (the answer cache keys
     * on it) */
    openai_command(cmd, sizeof cmd, "", "--postprocess openflamingo");
    s = NULL;
    CHECK(drum_exec_open(&s, cmd, 0, err, sizeof err) == 0, "open (openflamingo): %s", err);
    if (s) {
        drum_example dv = ex("dv", "Is it red?", "Yes, it is red. Question: what", "vqa");
        drum_example dc = ex("dc", "Describe.", "A \"red\" circle. Output: more", "caption");
        drum_example qc = ex("qc", "Describe the image.", "x", "caption");
        drum_example qk = ex("qk", "Claim: it is red.", "yes", "cls");
        dv.image = dc.image = qc.image = qk.image = png;
        const drum_example *dsv[] = {&dv}, *dsc[] = {&dc};
        drum_icl_prompt pp[] = {{&q1, dsv, 1}, {&qc, dsc, 1}, {&qk, dsv, 1}};
        char *got[3] = {0}; /* other tasks keep the whole text */
        const char *want_pp[3] = {"Yes", "A red circle. ", "Yes, it is red. Question: what\nmore"};
        CHECK(strstr(s->id, ":postprocess=openflamingo") != NULL, "id '%s'", s->id);
        CHECK(s->generate(s, pp, 3, got, err, sizeof err) == 0, "generate: %s", err);
        for (int i = 0; i < 3; i++) {
            CHECK(got[i] && strcmp(got[i], want_pp[i]) == 0,
                  "openflamingo answer %d '%s', want '%s'", i, got[i] ? got[i] : "", want_pp[i]);
            free(got[i]);
        }
        drum_scorer_destroy(s);
    }
    unlink(png);
}

int main(void) {
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return 1;
    self[n] = '\0';
    for (int up = 0; up < 3; up++) {
        char *slash = strrchr(self, '/');
        if (!slash) return 1;
        *slash = '\0';
    }
    snprintf(LVLM, sizeof LVLM, "python3 '%s/tests/fixtures/exec_lvlm.py'", self);
    snprintf(ROOT, sizeof ROOT, "%s", self);
    if (system("command -v python3 >/dev/null 2>&1") != 0) {
        SKIP("exec scorer cases: python3 is not on PATH");
        return check_summary();
    }
    test_protocol();
    test_failures();
    test_long_id();
    test_shell_replaced();
    test_ops();
    test_signals();
    test_timeout();
    test_seq();
    test_openai_adapter();
    return check_summary();
}
