/* exec_scorer.c — the `exec` scorer (exec_scorer.h): JSON lines to and from a subprocess. */
#include "drum/exec_scorer.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "data/jsonl.h"
#include "drum/rng.h"

typedef struct {
    char *command;
    pid_t pid;
    int to;       /* the process's standard input (non-blocking on drum's side) */
    int from;     /* its standard output, read into buf */
    double timeout; /* seconds a request may take, written and answered; 0: no limit */
    int timed_out;  /* a request ran past it: the process was ended, the scorer is spent */
    unsigned long seq; /* the next request's "seq" */
    char *buf;    /* bytes read and not yet taken as a line: buf[0..len) */
    size_t len, cap;
    char *line;   /* the last reply line, without its newline */
    size_t line_cap;
} exec_impl;

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static double monotonic_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Waits until fd is ready for events (or has hung up, or failed: the read or write that
 * follows says so) or the request's deadline passes (never, without a time limit). Returns 1
 * ready, 0 past the deadline. */
static int wait_fd(const exec_impl *im, int fd, short events, double deadline) {
    for (;;) {
        int ms = -1;
        if (im->timeout > 0) {
            double left = deadline - monotonic_s();
            if (left <= 0) return 0;
            ms = left * 1000 >= INT_MAX ? INT_MAX : (int)ceil(left * 1000);
        }
        struct pollfd p = {fd, events, 0};
        int r = poll(&p, 1, ms);
        if (r > 0 || (r < 0 && errno != EINTR)) return 1;
        /* r == 0 (the deadline, or INT_MAX ms of a longer limit) or a signal: the loop
         * measures what is left */
    }
}

/* The running LVLM processes, each the leader of its own process group (the shell and what it
 * starts), for drum_exec_signal_children (a signal handler's reach). */
enum { MAX_CHILDREN = 64 };
static volatile sig_atomic_t children[MAX_CHILDREN];

static void child_track(pid_t pid, pid_t gone) {
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (children[i] == gone) {
            children[i] = pid;
            return;
        }
}

void drum_exec_signal_children(int sig) {
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (children[i] > 0) kill(-(pid_t)children[i], sig);
}

/* Waits up to ms for the process to end; returns 1 and fills *status when it did. */
static int reap(exec_impl *im, long ms, int *status) {
    for (long t = 0; im->pid > 0; t += 10) {
        pid_t r = waitpid(im->pid, status, WNOHANG);
        if (r == im->pid || (r < 0 && errno != EINTR)) {
            child_track(0, im->pid);
            im->pid = -1;
            return r > 0;
        }
        if (t >= ms) return 0;
        sleep_ms(10);
    }
    return 0;
}

/* " (exit status N)" / " (killed by signal N)" once the process has ended (waiting up to 5 s:
 * its output or input just closed, so it is on its way out), else "". */
static void describe_end(exec_impl *im, char *buf, size_t n) {
    int st = 0;
    buf[0] = '\0';
    if (!reap(im, 5000, &st)) return;
    if (WIFEXITED(st) && WEXITSTATUS(st) > 128) /* a shell's report of its command's signal */
        snprintf(buf, n, " (exit status %d: killed by signal %d)", WEXITSTATUS(st),
                 WEXITSTATUS(st) - 128);
    else if (WIFEXITED(st))
        snprintf(buf, n, " (exit status %d)", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(buf, n, " (killed by signal %d)", WTERMSIG(st));
}

/* Room for at least `room` more bytes after buf[0..len): grows buf by doubling. Returns 0,
 * or -1 out of memory. */
static int reserve(exec_impl *im, size_t room) {
    if (im->cap - im->len >= room) return 0;
    size_t cap = im->cap ? im->cap * 2 : 65536;
    while (cap - im->len < room) cap *= 2;
    char *b = realloc(im->buf, cap);
    if (!b) return -1;
    im->buf = b;
    im->cap = cap;
    return 0;
}

/* The next line of the process's output into im->line (without its newline). Returns its
 * length; -1 at end of output with nothing read; -2 at end of output inside a line (the part
 * read in im->line: the process died mid-reply); -3 out of memory; -4 at the deadline with no
 * whole line. */
static ssize_t read_line(exec_impl *im, double deadline) {
    size_t scanned = 0;
    char *nl;
    while (!(nl = im->len > scanned ? memchr(im->buf + scanned, '\n', im->len - scanned) : NULL)) {
        scanned = im->len;
        if (reserve(im, 65536)) return -3;
        if (!wait_fd(im, im->from, POLLIN, deadline)) return -4;
        ssize_t r = read(im->from, im->buf + im->len, im->cap - im->len);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break; /* the end of its output (a read error ends it too) */
        im->len += (size_t)r;
    }
    if (!nl && im->len == 0) return -1;
    size_t n = nl ? (size_t)(nl - im->buf) : im->len;
    if (im->line_cap < n + 1) {
        char *l = realloc(im->line, n + 1);
        if (!l) return -3;
        im->line = l;
        im->line_cap = n + 1;
    }
    memcpy(im->line, im->buf, n);
    im->line[n] = '\0';
    size_t used = nl ? n + 1 : n;
    memmove(im->buf, im->buf + used, im->len - used);
    im->len -= used;
    return nl ? (ssize_t)n : -2;
}

/* What the process wrote beyond its last reply, before this request: a stray line would be
 * taken as this request's reply. Reads only what is there (a stray part of a line must not
 * block drum). Returns 1 with it quoted in err, else 0. */
static int stray_output(exec_impl *im, const char *op, char *err, size_t errlen) {
    struct pollfd p = {im->from, POLLIN, 0};
    if (im->len == 0 && poll(&p, 1, 0) == 1 && (p.revents & POLLIN) && reserve(im, 4096) == 0) {
        ssize_t r = read(im->from, im->buf, im->cap); /* poll said it will not block */
        if (r > 0) im->len = (size_t)r;
    }
    if (im->len == 0) return 0; /* nothing, or its output ended: the request says so */
    const char *nl = memchr(im->buf, '\n', im->len);
    size_t n = nl ? (size_t)(nl - im->buf) : im->len;
    snprintf(err, errlen, "scorer exec '%s': before the %s request, it had written more than "
             "its replies: '%.*s' (one reply line per request; logs go to standard error)",
             im->command, op, (int)(n < 120 ? n : 120), im->buf);
    return 1;
}

/* Writes text and a newline to the process's input. Returns 0; -1 with errno when a write
 * failed (the process closed its input or ended); -4 at the deadline, the process not
 * reading. */
static int write_line(exec_impl *im, const char *text, double deadline) {
    size_t n = strlen(text);
    for (size_t done = 0; done <= n;) {
        const char *from = done < n ? text + done : "\n";
        ssize_t w = write(im->to, from, done < n ? n - done : 1);
        if (w > 0) {
            done += (size_t)w;
        } else if (w < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
            return -1;
        } else if (w < 0 && errno != EINTR && !wait_fd(im, im->to, POLLOUT, deadline)) {
            return -4;
        }
    }
    return 0;
}

/* Ends the process's group at once: a request ran past scorer.timeout, and a reply coming
 * later would be taken as the next request's. The scorer is spent. */
static void end_process(exec_impl *im) {
    int st;
    if (im->pid > 0) {
        kill(-im->pid, SIGKILL);
        reap(im, 5000, &st);
    }
    if (im->to >= 0) close(im->to);
    im->to = -1;
    im->timed_out = 1;
}

/* Sends req (consumed), numbered with the next "seq", and parses one reply line into
 * *reply; a reply's "seq", when it has one, must be the request's. */
static int roundtrip(exec_impl *im, cJSON *req, const char *op, cJSON **reply, char *err,
                     size_t errlen) {
    double deadline = monotonic_s() + im->timeout;
    unsigned long seq = im->seq++;
    if (req && !cJSON_AddNumberToObject(req, "seq", (double)seq)) {
        cJSON_Delete(req);
        req = NULL;
    }
    char *text = req ? cJSON_PrintUnformatted(req) : NULL;
    cJSON_Delete(req);
    *reply = NULL;
    if (!text) {
        snprintf(err, errlen, "scorer exec: out of memory for a %s request", op);
        return -1;
    }
    if (im->timed_out) {
        free(text);
        snprintf(err, errlen, "scorer exec '%s': no %s request is sent: the process was ended "
                 "when an earlier request ran past scorer.timeout (%g s)", im->command, op,
                 im->timeout);
        return -1;
    }
    char end[64];
    /* before hello nothing was asked: what is there is read as its reply (a "Loading model"
     * print then gets the reply's message, whenever it arrived) */
    if (seq > 0 && stray_output(im, op, err, errlen)) {
        free(text);
        return -1;
    }
    int sent = write_line(im, text, deadline);
    int write_errno = errno;
    free(text);
    /* a process that stopped reading may still have written something: report that first */
    ssize_t n = sent == -4 ? -4 : read_line(im, deadline);
    if (n == -4) {
        end_process(im);
        snprintf(err, errlen, "scorer exec '%s': %s the %s request within %g s (scorer.timeout): "
                 "drum ended the process; what was answered before it is kept in the caches",
                 im->command, sent == -4 ? "it did not read" : "no reply to", op, im->timeout);
        return -1;
    }
    if (n == -3) {
        snprintf(err, errlen, "scorer exec '%s': out of memory reading the reply to %s",
                 im->command, op);
        return -1;
    }
    if (n == -2) {
        describe_end(im, end, sizeof end);
        snprintf(err, errlen, "scorer exec '%s': its output ended in the middle of the reply to "
                 "%s: '%.120s'%s", im->command, op, im->line, end);
        return -1;
    }
    if (n < 0 && sent) {
        describe_end(im, end, sizeof end);
        snprintf(err, errlen, "scorer exec '%s': writing the %s request failed: %s%s",
                 im->command, op, strerror(write_errno), end);
        return -1;
    }
    if (n < 0) {
        describe_end(im, end, sizeof end);
        snprintf(err, errlen, "scorer exec '%s': no reply to the %s request: its output ended%s",
                 im->command, op, end);
        return -1;
    }
    while (n > 0 && im->line[n - 1] == '\r') im->line[--n] = '\0';
    /* what cJSON would read as another text: \u0000 cutting an answer short, bytes that are
     * not UTF-8 (which the answer cache would keep) */
    char why[512];
    if (drum_json_strict(im->line, (size_t)n, "reply", 1, why, sizeof why)) {
        snprintf(err, errlen, "scorer exec '%s': the reply to %s: %s", im->command, op, why);
        return -1;
    }
    const char *after = NULL;
    cJSON *r = cJSON_ParseWithOpts(im->line, &after, 0);
    while (after && (*after == ' ' || *after == '\t')) after++;
    if (!cJSON_IsObject(r) || (after && *after)) {
        cJSON_Delete(r);
        const char *nan = strstr(im->line, "NaN") ? "NaN" : strstr(im->line, "Infinity") ? "Infinity" : NULL;
        if (nan)
            snprintf(err, errlen, "scorer exec '%s': the reply to %s holds %s, which JSON has "
                     "not: a value was not finite (a half-precision overflow?): '%.120s'",
                     im->command, op, nan, im->line);
        else
            snprintf(err, errlen, "scorer exec '%s': the reply to %s is not one JSON object: "
                     "'%.120s' (the protocol's replies own its standard output: a program's logs "
                     "and prints go to standard error)", im->command, op, im->line);
        return -1;
    }
    const cJSON *echo = cJSON_GetObjectItemCaseSensitive(r, "seq");
    if (echo && !(cJSON_IsNumber(echo) && echo->valuedouble == (double)seq)) {
        snprintf(err, errlen, "scorer exec '%s': the reply to %s (request seq %lu) carries "
                 "another \"seq\": it answers another request (a reply written twice, or late): "
                 "'%.120s'", im->command, op, seq, im->line);
        cJSON_Delete(r);
        return -1;
    }
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(r, "error");
    if (e) {
        snprintf(err, errlen, "scorer exec '%s': %s failed: %.400s", im->command, op,
                 cJSON_IsString(e) ? e->valuestring : "(a non-string \"error\")");
        cJSON_Delete(r);
        return -1;
    }
    *reply = r;
    return 0;
}

/* The reply's array under key with exactly n items, or NULL with a message. */
static const cJSON *reply_array(exec_impl *im, const cJSON *reply, const char *key, int n,
                                const char *what, char *err, size_t errlen) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(reply, key);
    if (!cJSON_IsArray(a)) {
        snprintf(err, errlen, "scorer exec '%s': the reply has no \"%s\" list: '%.120s'",
                 im->command, key, im->line);
        return NULL;
    }
    if (cJSON_GetArraySize(a) != n) {
        snprintf(err, errlen, "scorer exec '%s': %d %s for %d %s", im->command,
                 cJSON_GetArraySize(a), key, n, what);
        return NULL;
    }
    return a;
}

static cJSON *example_json(const drum_example *x, int with_response) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    int ok = cJSON_AddStringToObject(o, "id", x->id) && cJSON_AddStringToObject(o, "image", x->image) &&
             cJSON_AddStringToObject(o, "prompt", x->prompt) &&
             (!with_response || cJSON_AddStringToObject(o, "response", x->response)) &&
             cJSON_AddStringToObject(o, "task", x->task);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* {"query": q, "demo": d}, or NULL when out of memory */
static cJSON *pair_json(const drum_score_pair *pair) {
    cJSON *p = cJSON_CreateObject(), *q = example_json(pair->query, 1), *d = example_json(pair->demo, 1);
    if (!p || !q || !d) {
        cJSON_Delete(p);
        cJSON_Delete(q);
        cJSON_Delete(d);
        return NULL;
    }
    cJSON_AddItemToObject(p, "query", q);
    cJSON_AddItemToObject(p, "demo", d);
    return p;
}

/* {"query": q without its response, "demos": [...]}, or NULL when out of memory */
static cJSON *prompt_json(const drum_icl_prompt *prompt) {
    cJSON *p = cJSON_CreateObject(), *q = example_json(prompt->query, 0);
    cJSON *demos = p ? cJSON_AddArrayToObject(p, "demos") : NULL;
    int ok = p && q && demos;
    for (int j = 0; ok && j < prompt->k; j++) {
        cJSON *d = example_json(prompt->demos[j], 1);
        ok = d != NULL;
        if (d) cJSON_AddItemToArray(demos, d);
    }
    if (!ok) {
        cJSON_Delete(p);
        cJSON_Delete(q);
        return NULL;
    }
    cJSON_AddItemToObject(p, "query", q);
    return p;
}

/* {"op": op, key: []}; *list receives the empty array. */
static cJSON *request(const char *op, const char *key, cJSON **list) {
    cJSON *req = cJSON_CreateObject();
    *list = req ? cJSON_AddArrayToObject(req, key) : NULL;
    if (!req || !cJSON_AddStringToObject(req, "op", op) || !*list) {
        cJSON_Delete(req);
        return NULL;
    }
    return req;
}

/* Appends item to the request's list; a NULL item (out of memory) drops the whole request. */
static void append_item(cJSON **req, cJSON *list, cJSON *item) {
    if (item) {
        cJSON_AddItemToArray(list, item);
    } else {
        cJSON_Delete(*req);
        *req = NULL;
    }
}

static int exec_score(drum_scorer *s, const drum_score_pair *pairs, int n, double *out,
                      char *err, size_t errlen) {
    exec_impl *im = s->impl;
    if (n == 0) return 0;
    cJSON *list, *req = request("score", "pairs", &list);
    for (int i = 0; req && i < n; i++) append_item(&req, list, pair_json(&pairs[i]));
    cJSON *reply;
    if (roundtrip(im, req, "score", &reply, err, errlen)) return -1;
    const cJSON *a = reply_array(im, reply, "scores", n, "pairs", err, errlen);
    int i = 0;
    for (const cJSON *v = a ? a->child : NULL; v; v = v->next, i++) {
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
            snprintf(err, errlen, "scorer exec '%s': score %d, for (%s, %s), is not a finite number",
                     im->command, i, pairs[i].query->id, pairs[i].demo->id);
            a = NULL;
            break;
        }
        out[i] = v->valuedouble;
    }
    cJSON_Delete(reply);
    return a ? 0 : -1;
}

static int exec_generate(drum_scorer *s, const drum_icl_prompt *prompts, int n, char **out,
                         char *err, size_t errlen) {
    exec_impl *im = s->impl;
    for (int i = 0; i < n; i++) out[i] = NULL;
    if (n == 0) return 0;
    cJSON *list, *req = request("generate", "prompts", &list);
    for (int i = 0; req && i < n; i++) append_item(&req, list, prompt_json(&prompts[i]));
    cJSON *reply;
    if (roundtrip(im, req, "generate", &reply, err, errlen)) return -1;
    const cJSON *a = reply_array(im, reply, "answers", n, "prompts", err, errlen);
    int i = 0, rc = a ? 0 : -1;
    for (const cJSON *v = a ? a->child : NULL; v && rc == 0; v = v->next, i++) {
        if (!cJSON_IsString(v)) {
            snprintf(err, errlen, "scorer exec '%s': answer %d, for %s, is not a string",
                     im->command, i, prompts[i].query->id);
            rc = -1;
        } else if (!(out[i] = strdup(v->valuestring))) {
            snprintf(err, errlen, "scorer exec: out of memory for an answer");
            rc = -1;
        }
    }
    cJSON_Delete(reply);
    if (rc)
        for (int k = 0; k < n; k++) {
            free(out[k]);
            out[k] = NULL;
        }
    return rc;
}

static int exec_rank(drum_scorer *s, const drum_icl_prompt *prompts, int n,
                     const char *const *choices, int n_choices, double *out, char *err,
                     size_t errlen) {
    exec_impl *im = s->impl;
    if (n == 0) return 0;
    cJSON *list, *req = request("rank", "prompts", &list);
    for (int i = 0; req && i < n; i++) append_item(&req, list, prompt_json(&prompts[i]));
    cJSON *names = req ? cJSON_AddArrayToObject(req, "choices") : NULL;
    for (int j = 0; names && j < n_choices; j++)
        append_item(&req, names, cJSON_CreateString(choices[j]));
    if (req && !names) {
        cJSON_Delete(req);
        req = NULL;
    }
    cJSON *reply;
    if (roundtrip(im, req, "rank", &reply, err, errlen)) return -1;
    const cJSON *a = reply_array(im, reply, "scores", n, "prompts", err, errlen);
    int i = 0;
    for (const cJSON *row = a ? a->child : NULL; row && a; row = row->next, i++) {
        if (!cJSON_IsArray(row) || cJSON_GetArraySize(row) != n_choices) {
            snprintf(err, errlen,
                     "scorer exec '%s': scores %d, for %s, is not a list of %d numbers",
                     im->command, i, prompts[i].query->id, n_choices);
            a = NULL;
            break;
        }
        int j = 0;
        for (const cJSON *v = row->child; v; v = v->next, j++) {
            if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
                snprintf(err, errlen,
                         "scorer exec '%s': score %d of prompt %d, for (%s, \"%s\"), is not a "
                         "finite number",
                         im->command, j, i, prompts[i].query->id, choices[j]);
                a = NULL;
                break;
            }
            out[(size_t)i * n_choices + j] = v->valuedouble;
        }
    }
    cJSON_Delete(reply);
    return a ? 0 : -1;
}

static void exec_destroy(drum_scorer *s) {
    if (!s) return;
    exec_impl *im = s->impl;
    if (im) {
        if (im->to >= 0) close(im->to); /* end of input: the process should exit */
        int st;
        if (im->pid > 0 && !reap(im, 5000, &st)) {
            kill(-im->pid, SIGKILL); /* its group: it ignores SIGTERM (drum_exec_open) */
            waitpid(im->pid, &st, 0);
            child_track(0, im->pid);
        }
        if (im->from >= 0) close(im->from);
        free(im->buf);
        free(im->line);
        free(im->command);
        free(im);
    }
    free(s);
}

/* prefix + text into a key field of n bytes (the scorer's id, its template's name: parts of
 * every cache key); text that does not fit keeps its head and a digest of the whole, so two
 * ids that differ only past the cut (a long model path, then ":postprocess=...") stay two. */
static void key_field(char *dst, size_t n, const char *prefix, const char *text) {
    size_t p = strlen(prefix), t = strlen(text);
    if (p + t < n) {
        memcpy(dst, prefix, p);
        memcpy(dst + p, text, t + 1);
        return;
    }
    unsigned long long h = (unsigned long long)drum_fnv1a(text, t, DRUM_FNV1A_INIT);
    int keep = (int)(n - 1 - p - 18); /* "~" + 16 hex + NUL */
    snprintf(dst, n, "%s%.*s~%016llx", prefix, keep > 0 ? keep : 0, text, h);
}

/* Hello's optional "ops": the calls the process serves; the others become NULL (score.h).
 * Names drum does not know are passed over, for later versions of the protocol. Returns 0, or
 * -1 when ops is there but not a list of strings. */
static int served_ops(drum_scorer *s, const cJSON *ops) {
    if (!ops) return 0; /* not listed: all three */
    if (!cJSON_IsArray(ops)) return -1;
    int served = 0;
    const cJSON *op;
    cJSON_ArrayForEach(op, ops) {
        if (!cJSON_IsString(op)) return -1;
        served |= strcmp(op->valuestring, "score") == 0      ? DRUM_LVLM_SCORE
                  : strcmp(op->valuestring, "generate") == 0 ? DRUM_LVLM_GENERATE
                  : strcmp(op->valuestring, "rank") == 0     ? DRUM_LVLM_RANK
                                                             : 0;
    }
    if (!(served & DRUM_LVLM_SCORE)) s->score = NULL;
    if (!(served & DRUM_LVLM_GENERATE)) s->generate = NULL;
    if (!(served & DRUM_LVLM_RANK)) s->rank = NULL;
    return 0;
}

/* A command the shell may replace itself with ("exec " before it): one simple command whose
 * first word is a plain program, an executable file named by a path or found on PATH (not a
 * builtin such as exit or cd, an assignment, a quote or an expansion). The shell then holds
 * no copy of the pipe: a process that closes its output ends the replies at once, and its
 * signal is its own, not the shell's 128 + N. */
static int simple_command(const char *c) {
    if (strpbrk(c, ";&|\n()`<>")) return 0;
    size_t first = strcspn(c, " \t");
    char word[512];
    if (first == 0 || first >= sizeof word) return 0;
    memcpy(word, c, first);
    word[first] = '\0';
    if (strpbrk(word, "'\"$~\\*?[=")) return 0;
    if (strchr(word, '/')) return access(word, X_OK) == 0;
    const char *path = getenv("PATH");
    for (const char *d = path; d && *d;) {
        size_t n = strcspn(d, ":");
        char full[1024];
        if (n > 0 && n + first + 2 <= sizeof full) {
            snprintf(full, sizeof full, "%.*s/%s", (int)n, d, word);
            if (access(full, X_OK) == 0) return 1;
        }
        d += n + (d[n] == ':');
    }
    return 0;
}

int drum_exec_open(drum_scorer **out, const char *command, double timeout, char *err,
                   size_t errlen) {
    *out = NULL;
    if (!command || !command[0]) {
        snprintf(err, errlen, "scorer exec: no command to run");
        return -1;
    }
    struct sigaction old;
    if (sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL) signal(SIGPIPE, SIG_IGN);
    drum_scorer *s = calloc(1, sizeof *s);
    exec_impl *im = calloc(1, sizeof *im);
    if (!s || !im || !(im->command = strdup(command))) {
        free(s);
        if (im) free(im->command);
        free(im);
        snprintf(err, errlen, "scorer exec: out of memory");
        return -1;
    }
    im->pid = -1;
    im->to = im->from = -1;
    im->timeout = timeout > 0 ? timeout : 0;
    s->impl = im;
    s->score = exec_score;
    s->generate = exec_generate;
    s->rank = exec_rank;
    s->destroy = exec_destroy;
    int in[2] = {-1, -1}, outp[2] = {-1, -1};
    if (pipe2(in, O_CLOEXEC) || pipe2(outp, O_CLOEXEC)) {
        snprintf(err, errlen, "scorer exec '%s': pipe: %s", command, strerror(errno));
        goto fail;
    }
    /* what /bin/sh runs, built before the fork (the child only calls what is safe there) */
    size_t len = strlen(command);
    char *line = malloc(len + 6);
    if (!line) {
        snprintf(err, errlen, "scorer exec: out of memory");
        goto fail;
    }
    snprintf(line, len + 6, "%s%s", simple_command(command) ? "exec " : "", command);
    fflush(NULL); /* nothing buffered is written twice by the child */
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "scorer exec '%s': fork: %s", command, strerror(errno));
        free(line);
        goto fail;
    }
    if (pid == 0) {
        /* the child: only async-signal-safe calls until exec; dup2 clears O_CLOEXEC */
        if (dup2(in[0], 0) < 0 || dup2(outp[1], 1) < 0) _exit(127);
        signal(SIGPIPE, SIG_DFL);
        /* a group of its own, out of reach of a Ctrl-C to the terminal's foreground group;
         * and a launcher's SIGTERM (or SIGUSR1: scancel --signal=USR1) sent to every process:
         * all are drum's to act on, which stops between requests and then ends the group
         * itself. SIGTTOU ignored: writing to the terminal from outside the foreground group
         * must not stop it (stty tostop). */
        setpgid(0, 0);
        signal(SIGINT, SIG_IGN);
        signal(SIGTERM, SIG_IGN);
        signal(SIGUSR1, SIG_IGN);
        signal(SIGTTOU, SIG_IGN);
        execl("/bin/sh", "sh", "-c", line, (char *)NULL);
        _exit(127);
    }
    free(line);
    setpgid(pid, pid); /* as the child does: whichever runs first */
    im->pid = pid;
    child_track(pid, 0);
    close(in[0]);
    close(outp[1]);
    in[0] = outp[1] = -1;
    /* drum's end alone: a request the process does not read runs into the time limit */
    int fl = fcntl(in[1], F_GETFL);
    if (fl < 0 || fcntl(in[1], F_SETFL, fl | O_NONBLOCK) < 0) {
        snprintf(err, errlen, "scorer exec '%s': fcntl: %s", command, strerror(errno));
        goto fail;
    }
    im->to = in[1];
    im->from = outp[0];
    in[1] = outp[0] = -1;
    cJSON *hello = cJSON_CreateObject(), *reply;
    if (hello && (!cJSON_AddStringToObject(hello, "op", "hello") ||
                  !cJSON_AddNumberToObject(hello, "protocol", 1))) {
        cJSON_Delete(hello);
        hello = NULL;
    }
    if (roundtrip(im, hello, "hello", &reply, err, errlen)) goto fail;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(reply, "id");
    const cJSON *tmpl = cJSON_GetObjectItemCaseSensitive(reply, "template");
    if (!cJSON_IsString(id) || !id->valuestring[0] || (tmpl && !cJSON_IsString(tmpl))) {
        snprintf(err, errlen, "scorer exec '%s': the reply to hello needs a non-empty \"id\" "
                 "string (and \"template\", when present, a string): '%.120s'", command, im->line);
        cJSON_Delete(reply);
        goto fail;
    }
    key_field(s->id, sizeof s->id, "exec:", id->valuestring);
    key_field(s->template_name, sizeof s->template_name, "", tmpl ? tmpl->valuestring : "default");
    int bad = served_ops(s, cJSON_GetObjectItemCaseSensitive(reply, "ops"));
    cJSON_Delete(reply);
    if (bad) {
        snprintf(err, errlen, "scorer exec '%s': the reply to hello has \"ops\" that is not a "
                 "list of strings: '%.120s'", command, im->line);
        goto fail;
    }
    *out = s;
    return 0;
fail:
    for (int k = 0; k < 2; k++) {
        if (in[k] >= 0) close(in[k]);
        if (outp[k] >= 0) close(outp[k]);
    }
    exec_destroy(s);
    return -1;
}
