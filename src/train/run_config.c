/* run_config.c — train.out/config.yaml: the resolved configuration a run directory was made
 * with (the YAML of drum_cfg_write, which `drum train` and `drum demo` read back), and the
 * check that `--resume` continues the run that file describes. */
#include <errno.h>
#include <fcntl.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drum/backend.h"
#include "drum/drum.h"
#include "drum/fileio.h"
#include "drum/job.h"
#include "drum/trainer.h"

/* Settings a resumed run may change: where it runs (and the micro-batches its memory allows),
 * the run directory's own spelling, and how long an LVLM request may take. The first three
 * change the bits of what follows (docs/ARCHITECTURE.md), so the job says so; check_resume
 * relies on their order. */
static const char *const RESUME_MAY_CHANGE[] = {"threads",   "backend",      "train.micro_batch",
                                                "train.out", "scorer.cache", "scorer.answers",
                                                "scorer.timeout", NULL};

/* What config.yaml's header holds between `open` and `close` on one line, into out: the
 * source revision (", source R) started it") or the command ("as `drum eval` (drum"); ""
 * when the file has none (written before drum recorded it) or cannot be read. */
static void header_field(const char *path, const char *open, const char *close, char *out,
                         size_t len) {
    char msg[256];
    size_t n = 0, skip = strlen(open);
    char *text = drum_read_file(path, &n, msg, sizeof msg);
    const char *at = text ? strstr(text, open) : NULL;
    const char *end = at ? strstr(at + skip, close) : NULL;
    if (end && end - at < 200 && !memchr(at, '\n', (size_t)(end - at)))
        snprintf(out, len, "%.*s", (int)(end - at - skip), at + skip);
    else
        snprintf(out, len, "%s", "");
    free(text);
}

/* Without train.ckpt, a results.jsonl in train.out is an evaluation's (or a training run's
 * stopped before its first checkpoint): note that this job replaces it. */
static void note_results(const drum_job_config *cfg, char *note, size_t notelen) {
    char *results = drum_path_join(cfg->train.out, "results.jsonl");
    char *config = drum_path_join(cfg->train.out, "config.yaml");
    if (results && config && drum_file_exists(results)) {
        char cmd[64];
        header_field(config, "as `", "`", cmd, sizeof cmd);
        snprintf(note, notelen, "%s holds the results of an earlier %s%s%s, which this job "
                 "replaces (results.md and config.yaml too)", results, cmd[0] ? "`" : "job",
                 cmd, cmd[0] ? "`" : "");
    }
    free(results);
    free(config);
}

/* --resume over a checkpoint: the settings that wrote `path` must be cfg's; on `ranks` ranks
 * (0: not known), noted when the run started on another count. */
static int check_resume(const drum_job_config *cfg, const char *path, int ranks, char *note,
                        size_t notelen, char *err, size_t errlen) {
    drum_job_config was;
    char msg[1024];
    if (drum_job_config_load(&was, path, msg, sizeof msg) != 0) {
        snprintf(err, errlen, "--resume: reading the run's configuration: %s", msg);
        drum_job_config_free(&was);
        return -1;
    }
    char diff[1536];
    int n = drum_cfg_diff(drum_job_config_schema, &was, cfg, RESUME_MAY_CHANGE, diff,
                          sizeof diff);
    if (n > 0)
        snprintf(err, errlen,
                 "--resume: %s holds the configuration this run started with, and %d setting%s "
                 "differ%s from it: %s. Resume with that configuration (pass that file), or "
                 "start afresh without --resume",
                 path, n, n == 1 ? "" : "s", n == 1 ? "s" : "", diff);
    /* where it runs: threads, backend, train.micro_batch, and the ranks, which sum features
     * and gradients in another order (an audit found a 2-rank run resumed in one process
     * without a word); the count is config.yaml's "#   backend cpu, ..., 2 ranks" */
    int moved = n == 0 && drum_cfg_diff(drum_job_config_schema, &was, cfg, RESUME_MAY_CHANGE + 3,
                                        diff, sizeof diff) > 0;
    char where[200];
    header_field(path, "#   ", " rank", where, sizeof where);
    const char *count = strrchr(where, ' ');
    int began = count ? atoi(count + 1) : 0;
    if (n == 0 && ranks > 0 && began > 0 && began != ranks) {
        size_t used = moved ? strlen(diff) : 0;
        snprintf(diff + used, sizeof diff - used, "%sranks: %d there, %d here", used ? ", " : "",
                 began, ranks);
        moved = 1;
    }
    if (moved)
        snprintf(note, notelen,
                 "resuming where the run did not start (%s): the weights will differ in their "
                 "last bits from an uninterrupted run's",
                 diff);
    char rev[200];
    header_field(path, ", source ", ") started it", rev, sizeof rev);
    if (n == 0 && rev[0] && strcmp(rev, drum_source_revision()) != 0) {
        size_t used = strlen(note);
        snprintf(note + used, notelen - used,
                 "%sresuming a run that drum source %s started, with drum source %s: what "
                 "follows is the newer build's, and may differ from what the first would give",
                 used ? "; " : "", rev, drum_source_revision());
    }
    drum_job_config_free(&was);
    return n > 0 ? -1 : 0;
}

/* value, or "" when it is {out}/{name}: the path drum_job_config_finish derives from
 * train.out when the setting is left empty. */
static const char *underived(const char *value, const char *out, const char *name) {
    size_t n = strlen(out);
    return strncmp(value, out, n) == 0 && value[n] == '/' && strcmp(value + n + 1, name) == 0
               ? ""
               : value;
}

/* Writes cfg to path, headed by what else decides its bits. */
static int write_config(const drum_job_config *cfg, const char *path, const char *command,
                        int ranks, char *err, size_t errlen) {
    char *tmp = NULL;
    FILE *f = drum_atomic_open(path, &tmp, err, errlen);
    if (!f) return -1;
    /* a cache path the job derives from train.out is written as derived, so that the file
     * run with another train.out does not append to this run's caches */
    drum_job_config out = *cfg;
    out.scorer.cache = (char *)underived(cfg->scorer.cache, cfg->train.out, DRUM_SCORE_CACHE_NAME);
    out.scorer.answers = (char *)underived(cfg->scorer.answers, cfg->train.out, DRUM_ANSWERS_NAME);
    char where[256];
    if (cfg->backend == 1)
        snprintf(where, sizeof where, "backend cuda");
    else
        snprintf(where, sizeof where, "backend cpu, OpenBLAS's %s kernels", drum_blas_core());
    fprintf(f,
            "# The configuration of the run in this directory, resolved (defaults and --set\n"
            "# overrides applied), as `drum %s` (drum %s, source %s) started it.\n"
            "# `drum %s THIS_FILE --set train.out=DIR` repeats the run; --resume requires\n"
            "# these settings. Its bits depend also on where it ran (docs/ARCHITECTURE.md):\n"
            "#   %s, %d rank%s\n",
            command, DRUM_VERSION, drum_source_revision(), command, where, ranks,
            ranks == 1 ? "" : "s");
    if (drum_cfg_write(drum_job_config_schema, &out, f) != 0) {
        snprintf(err, errlen, "%s: write failed: %s", path, strerror(errno));
        drum_atomic_abort(f, tmp);
        return -1;
    }
    return drum_atomic_commit(f, tmp, path, err, errlen);
}

int drum_job_record_config(const drum_job_config *cfg, const char *command, int resume,
                           int ranks, char *note, size_t notelen, char *err, size_t errlen) {
    if (notelen) note[0] = '\0';
    /* threads resolved like the rest: the count the job will run on (threads 0: OpenMP's
     * default), so that the file repeats the run on a machine of more cores, and a resume on
     * another count is seen */
    drum_job_config run = *cfg;
    if (run.threads <= 0) run.threads = omp_get_max_threads();
    char *path = drum_path_join(run.train.out, "config.yaml");
    char *ckpt = drum_path_join(run.train.out, "train.ckpt");
    int rc = -1;
    if (!path || !ckpt) {
        snprintf(err, errlen, "out of memory");
    } else if (resume && drum_file_exists(ckpt) && drum_file_exists(path)) {
        rc = check_resume(&run, path, ranks, note, notelen, err, errlen);
    } else if (drum_mkdirs(run.train.out, err, errlen) == 0) {
        rc = write_config(&run, path, command, ranks, err, errlen);
        if (rc == 0 && resume && drum_file_exists(ckpt))
            snprintf(note, notelen, "%s was missing: --resume could not compare these settings "
                     "with the run's (the checkpoint checks only the model's size, the pool, "
                     "batch, list, rounds, epochs and seed); it records these", path);
    }
    free(path);
    free(ckpt);
    return rc;
}

int drum_job_check_out(const drum_job_config *cfg, int trains, int fresh, char *note,
                       size_t notelen, char *err, size_t errlen) {
    if (notelen) note[0] = '\0';
    char *ckpt = drum_path_join(cfg->train.out, "train.ckpt");
    if (!ckpt) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (!drum_file_exists(ckpt)) {
        free(ckpt);
        note_results(cfg, note, notelen);
        return 0;
    }
    char where[128], why[640] = "";
    int done = 0;
    int readable = drum_checkpoint_where(ckpt, where, sizeof where, &done, why, sizeof why) == 0;
    if (!trains)
        snprintf(err, errlen, "%s holds a training run (train.ckpt: %s), whose results.jsonl, "
                 "results.md and config.yaml drum eval would replace: set another train.out "
                 "(to evaluate one of its retrievers, model.checkpoint: "
                 "%s/round<r>/model.safetensors; scorer.answers: %s/answers.jsonl reuses the "
                 "LVLM's answers it holds)", cfg->train.out,
                 readable ? where : "a checkpoint drum cannot read", cfg->train.out,
                 cfg->train.out);
    else if (done)
        snprintf(note, notelen, "%s holds a finished run's checkpoint (%s): this run starts "
                 "afresh and overwrites it", ckpt, where);
    else if (fresh)
        snprintf(note, notelen, "--fresh: this run starts afresh and overwrites %s (%s)", ckpt,
                 readable ? where : why);
    else if (readable)
        snprintf(err, errlen, "%s holds the checkpoint of an unfinished run, at %s, which this "
                 "run would overwrite: continue it with --resume, start afresh over it with "
                 "--fresh, or set another train.out", ckpt, where);
    else
        snprintf(err, errlen, "%s; this run would overwrite it: start afresh over it with "
                 "--fresh, or set another train.out", why);
    free(ckpt);
    return trains && (done || fresh) ? 0 : -1;
}

int drum_job_lock_out(const drum_job_config *cfg, const char *command, char *err,
                      size_t errlen) {
    char *path = drum_path_join(cfg->train.out, "drum.lock");
    if (!path) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int fd = -1;
    if (drum_mkdirs(cfg->train.out, err, errlen) == 0) {
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
            snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    }
    int locked = fd >= 0 ? drum_lock_file(fd, path, err, errlen) : -1;
    if (locked == 1) {
        char who[128] = "";
        ssize_t n = pread(fd, who, sizeof who - 1, 0);
        who[n > 0 ? n : 0] = '\0';
        who[strcspn(who, "\n")] = '\0';
        snprintf(err, errlen, "%s is in use by another drum (%s): wait for it to end, or set "
                 "another train.out", cfg->train.out, who[0] ? who : "holding drum.lock");
    }
    if (fd >= 0 && locked != 0) {
        close(fd);
        fd = -1;
    }
    if (fd >= 0) {
        char who[128];
        int len = snprintf(who, sizeof who, "pid %ld, drum %s\n", (long)getpid(), command);
        if (ftruncate(fd, 0) != 0 || pwrite(fd, who, (size_t)len, 0) != len) {
            snprintf(err, errlen, "%s: write failed: %s", path, strerror(errno));
            close(fd);
            fd = -1;
        }
    }
    free(path);
    return fd;
}
