/* progress.c — the CLI's progress display: a redrawn line with rate and ETA on a terminal,
 * plain lines (about every 5 s and at the end of a stage) when stderr is a log. */
#include "progress_line.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void fmt_time(char *buf, size_t n, double s) {
    if (s < 0 || s > 360000) {
        snprintf(buf, n, "--:--");
        return;
    }
    int t = (int)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, n, "%02d:%02d", t / 60, t % 60);
}

static void update(void *user, const char *stage, long done, long total, const char *note) {
    cli_progress *p = user;
    double t = now_s();
    if (strcmp(stage, p->stage) != 0 || done < p->last_done) {
        snprintf(p->stage, sizeof p->stage, "%s", stage);
        p->start = t;
        p->start_done = done;
        p->last_print = 0;
    }
    p->last_done = done;
    int finished = done >= total;
    double min_gap = p->tty ? 0.1 : 5.0;
    /* a stage's first report only starts its clock: the rate counts the units done since */
    if (!finished && (done == p->start_done || t - p->last_print < min_gap)) return;
    p->last_print = t;
    double el = t - p->start, rate = el > 0 ? (done - p->start_done) / el : 0;
    char eta[16], elapsed[16], speed[32];
    fmt_time(eta, sizeof eta, rate > 0 && el >= 0.05 ? (total - done) / rate : -1);
    fmt_time(elapsed, sizeof elapsed, el);
    /* a stage over in under 50 ms has no rate worth printing (a clock tick's noise); a slow
     * one (a ViT training step on a CPU: 0.04/s) keeps three significant digits */
    if (el < 0.05)
        snprintf(speed, sizeof speed, "%8s/s", "-");
    else if (rate < 100)
        snprintf(speed, sizeof speed, "%8.3g/s", rate);
    else
        snprintf(speed, sizeof speed, "%8.1f/s", rate);
    if (p->tty) {
        fprintf(stderr, "\r\033[K%-26s %6ld/%-6ld %s  %s %s  %s", stage, done, total, speed,
                finished ? "took" : "ETA", finished ? elapsed : eta, note ? note : "");
        if (finished) fputc('\n', stderr);
    } else {
        fprintf(stderr, "%-26s %6ld/%-6ld %s  %s %s  %s\n", stage, done, total, speed,
                finished ? "took" : "ETA", finished ? elapsed : eta, note ? note : "");
    }
    fflush(stderr);
}

void cli_progress_init(cli_progress *p, drum_progress *out) {
    memset(p, 0, sizeof *p);
    p->tty = isatty(fileno(stderr));
    out->update = update;
    out->user = p;
}
