/* steps_log.c — train.out/steps.jsonl: one JSON line per optimizer step (drum_step_stats),
 * flushed as it is written and fsynced before every checkpoint, so that after a kill the file
 * holds at least the steps the checkpoint holds; a resume drops the lines past the checkpoint
 * (the steps it takes again) and goes on, leaving the same file as an uninterrupted run. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drum/fileio.h"
#include "drum/trainer.h"

struct drum_steps_log {
    FILE *f;
    char *path;
};

/* The length of text's leading complete lines whose steps rise and stay <= step (a line of
 * a step past the checkpoint, a torn line or one not of this file ends it); *lines, *last:
 * how many lines and the last one's step. */
static size_t kept_prefix(const char *text, size_t len, long step, long *lines, long *last) {
    size_t keep = 0;
    *lines = *last = 0;
    while (keep < len) {
        const char *nl = memchr(text + keep, '\n', len - keep);
        long s;
        if (!nl || sscanf(text + keep, "{\"step\": %ld,", &s) != 1 || s <= *last || s > step)
            break;
        *last = s;
        ++*lines;
        keep = (size_t)(nl - text) + 1;
    }
    return keep;
}

drum_steps_log *drum_steps_log_open(const char *path, long step, char *note, size_t notelen,
                                    char *err, size_t errlen) {
    if (notelen) note[0] = '\0';
    size_t len = 0, keep = 0;
    long lines = 0, last = 0;
    if (step > 0 && drum_file_exists(path)) {
        char *text = drum_read_file(path, &len, err, errlen);
        if (!text) return NULL;
        keep = kept_prefix(text, len, step, &lines, &last);
        free(text);
    }
    if (step > lines)
        snprintf(note, notelen, "%s holds %ld of the %ld steps before the checkpoint (the file "
                 "was removed or edited); the steps from %ld on are added to it", path, lines,
                 step, step + 1);
    drum_steps_log *l = calloc(1, sizeof *l);
    if (!l || !(l->path = strdup(path))) {
        snprintf(err, errlen, "%s: out of memory", path);
        free(l);
        return NULL;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || ftruncate(fd, (off_t)keep) != 0 || lseek(fd, 0, SEEK_END) < 0 ||
        !(l->f = fdopen(fd, "a"))) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        free(l->path);
        free(l);
        return NULL;
    }
    return l;
}

int drum_steps_log_write(drum_steps_log *l, const drum_step_stats *s, char *err, size_t errlen) {
    fprintf(l->f,
            "{\"step\": %ld, \"round\": %d, \"epoch\": %d, \"batch\": %d, \"queries\": %d, "
            "\"loss\": %.9g, \"list\": %.9g, \"contrastive\": %.9g, \"lr\": %.9g, "
            "\"grad_norm\": %.9g}\n",
            s->step, s->round, s->epoch, s->batch, s->queries, s->loss, s->list, s->contrastive,
            (double)s->lr, (double)s->grad_norm);
    if (fflush(l->f) != 0 || ferror(l->f)) {
        snprintf(err, errlen, "%s: write failed: %s", l->path, strerror(errno));
        return -1;
    }
    return 0;
}

int drum_steps_log_sync(drum_steps_log *l, char *err, size_t errlen) {
    if (fflush(l->f) != 0 || fsync(fileno(l->f)) != 0) {
        snprintf(err, errlen, "%s: %s", l->path, strerror(errno));
        return -1;
    }
    return 0;
}

void drum_steps_log_close(drum_steps_log *l) {
    if (!l) return;
    fclose(l->f);
    free(l->path);
    free(l);
}
