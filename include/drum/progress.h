/* progress.h — how long-running library work reports progress without printing.
 * The library calls the callback; the CLI draws a rate/ETA line on a terminal and writes
 * plain lines to logs (src/cli/progress.c). */
#ifndef DRUM_PROGRESS_H
#define DRUM_PROGRESS_H

typedef struct {
    /* stage: "embed pool", "score", "train r1 e1"...; done of total units; note: a short
     * extra such as "loss 0.4213" (may be NULL). */
    void (*update)(void *user, const char *stage, long done, long total, const char *note);
    void *user;
} drum_progress;

static inline void drum_progress_report(const drum_progress *p, const char *stage, long done,
                                        long total, const char *note) {
    if (p && p->update) p->update(p->user, stage, done, total, note);
}

#endif
