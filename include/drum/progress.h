/* progress.h — how long-running library work reports progress without printing, and
 * learns that it should stop. The library calls the callbacks; the CLI draws a rate/ETA line
 * on a terminal and writes plain lines to logs (src/cli/progress.c), and a job answers
 * `stop` from its Ctrl-C / SIGTERM flag (job.h). */
#ifndef DRUM_PROGRESS_H
#define DRUM_PROGRESS_H

#include <stdio.h>

typedef struct {
    /* stage: "embed pool", "score", "train r1 e1"...; done of total units; note: a short
     * extra such as "loss 0.4213" (may be NULL). A stage's first report is its start
     * (drum_progress_begin) or its first chunk's end. */
    void (*update)(void *user, const char *stage, long done, long total, const char *note);
    void *user;
    /* Asked before each chunk of LVLM calls (zero-shot drafts, k-shot answers, mining's
     * scores): nonzero stops the work there, having lost nothing the caches keep. Every rank
     * of a data-parallel job asks at the same points, so the answer may be collective. NULL:
     * never stops. */
    int (*stop)(void *stop_user);
    void *stop_user;
} drum_progress;

static inline void drum_progress_report(const drum_progress *p, const char *stage, long done,
                                        long total, const char *note) {
    if (p && p->update) p->update(p->user, stage, done, total, note);
}

/* The stage starts now, at done of total (0, or where a resumed run picks up): the display's
 * clock and rate count from here, so the first chunk's time (on a GPU, its first launches'
 * set-up too) is in them. Reports nothing when there is nothing left to do. */
static inline void drum_progress_begin(const drum_progress *p, const char *stage, long done,
                                       long total) {
    if (done < total) drum_progress_report(p, stage, done, total, NULL);
}

/* 1, with "stopped" and stage in err, when p's stop callback says to stop; else 0. */
static inline int drum_progress_stopped(const drum_progress *p, const char *stage, char *err,
                                        size_t errlen) {
    if (!p || !p->stop || !p->stop(p->stop_user)) return 0;
    snprintf(err, errlen, "stopped (a signal) before %s", stage);
    return 1;
}

#endif
