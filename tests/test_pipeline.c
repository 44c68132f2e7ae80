/* test_pipeline — the DRUM loop end to end through the drum binary, on a miniature demo:
 * an interrupted run (SIGKILL at a random step, and Ctrl-C) resumed with --resume ends
 * with the same final weights, byte for byte, as an uninterrupted run; the same seed gives
 * the same results; bad configs and data give clear errors; drum embed / retrieve / export
 * work on the run's retriever. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "common/check.h"
#include "drum/data.h"
#include "drum/prepare.h"
#include "drum/drum.h"
#include "drum/fileio.h"
#include "drum/job.h"
#include "drum/retrieval.h"
#include "drum/safetensors.h"
#include "drum/score_cache.h"
#include "drum/synth.h"
#include "drum/synthetic_lvlm.h"
#include "drum/trainer.h"

static char drum_bin[PATH_MAX + 16], tmp[64] = "/tmp/drum_pipeline_XXXXXX";

static void write_text_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static void write_config(const char *path, const char *out) {
    test_write_mini_config(path, tmp, out, "");
}

static long now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Runs drum with args (NULL-terminated), stdout+stderr to log; returns the exit status, or
 * 128+signal. With wait_for, the child gets `sig` delay_ms after the file wait_for appears
 * (the run's first checkpoint), so the signal lands at a random step; it goes to the child's
 * process group, as a terminal's Ctrl-C does (an exec LVLM in drum's group would get it
 * too). *after_ms (when not NULL) receives the time from that file's appearance to the
 * child's exit. */
/* Every drum the tests start runs on this many threads, whatever the machine has. */
#define CHILD_THREADS "2"

/* When above 0, the drum run_drum starts may write no file past this many bytes
 * (RLIMIT_FSIZE): a write there fails, as on a full disk. */
static long child_file_limit;

/* When set, run_drum's wait_for waits for this text in that file, not for the file. */
static const char *wait_for_text;

static int file_has(const char *path, const char *text) {
    char *s = test_slurp(path);
    int has = s && strstr(s, text);
    free(s);
    return has;
}

static int run_drum_timed(const char *log, const char *const *args, int sig,
                          const char *wait_for, int delay_ms, long *after_ms) {
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        if (child_file_limit > 0) {
            struct rlimit lim = {(rlim_t)child_file_limit, (rlim_t)child_file_limit};
            setrlimit(RLIMIT_FSIZE, &lim);
        }
        setenv("OMP_NUM_THREADS", CHILD_THREADS, 1);
        execv(drum_bin, (char *const *)args);
        _exit(127);
    }
    int status = 0;
    long seen = now_ms();
    if (wait_for) {
        struct stat st;
        int exited = 0;
        for (int tries = 0; tries < 30000 && !exited; tries++) {
            if (wait_for_text ? file_has(wait_for, wait_for_text) : stat(wait_for, &st) == 0)
                break;
            exited = waitpid(pid, &status, WNOHANG) == pid;
            usleep(10000);
        }
        if (exited) return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
        seen = now_ms();
        usleep((useconds_t)delay_ms * 1000);
        if (sig) kill(-pid, sig);
    }
    waitpid(pid, &status, 0);
    if (after_ms) *after_ms = now_ms() - seen;
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

static int run_drum(const char *log, const char *const *args, int sig, const char *wait_for,
                    int delay_ms) {
    return run_drum_timed(log, args, sig, wait_for, delay_ms, NULL);
}

/* The files of one run: its config, its run directory and the log of its first launch. */
typedef struct {
    char cfg[256], out[256], log[256];
} run_paths;

/* Names run NAME's files in tmp (NAME.yaml, run_NAME/, NAME.log) and writes its mini config. */
static void new_run(run_paths *r, const char *name) {
    snprintf(r->out, sizeof r->out, "%s/run_%s", tmp, name);
    snprintf(r->cfg, sizeof r->cfg, "%s/%s.yaml", tmp, name);
    snprintf(r->log, sizeof r->log, "%s/%s.log", tmp, name);
    write_config(r->cfg, r->out);
}

/* The checkout's revision as the Makefile names it, or "unknown" where this directory is not
 * the top of a git checkout. Binaries packed by tools/gpu_pack.sh and run on a GPU machine
 * were built from another checkout: there build/PREBUILT's "revision" line names it. */
static void checkout_revision(char *rev, size_t len) {
    snprintf(rev, len, "unknown");
    FILE *pre = fopen("build/PREBUILT", "r");
    if (pre) {
        char line[160];
        while (fgets(line, sizeof line, pre))
            if (sscanf(line, "revision %127s", rev) == 1) break;
        fclose(pre);
        return;
    }
    FILE *p = popen("[ \"$(git rev-parse --show-toplevel 2>/dev/null)\" = \"$(pwd -P)\" ] && "
                    "git describe --always --dirty --abbrev=12 2>/dev/null",
                    "r");
    if (!p) return;
    char line[128] = "";
    if (fgets(line, sizeof line, p)) line[strcspn(line, "\n")] = '\0';
    if (pclose(p) == 0 && line[0]) snprintf(rev, len, "%s", line);
}

/* Run directory out's config.yaml: the resolved configuration, headed by what else decides the
 * bits (and the source revision, which `drum --version` also names); `drum train` on that file
 * into another directory repeats the run byte for byte, with a score cache of its own (the
 * derived path is written as derived). */
static void test_recorded_config(const char *out) {
    char rec[300], again[300], set[320], log[300], rev[128], source[200], version[200];
    snprintf(rec, sizeof rec, "%s/config.yaml", out);
    snprintf(again, sizeof again, "%s/run_recorded", tmp);
    snprintf(set, sizeof set, "train.out=%s", again);
    snprintf(log, sizeof log, "%s/recorded.log", tmp);
    checkout_revision(rev, sizeof rev);
    snprintf(source, sizeof source, "(drum " DRUM_VERSION ", source %s) started it", rev);
    snprintf(version, sizeof version, "drum " DRUM_VERSION " (source %s; backends: cpu", rev);
    const char *ver[] = {drum_bin, "--version", NULL};
    int vrc = run_drum(log, ver, 0, NULL, 0);
    char *vtext = test_slurp(log);
    CHECK(vrc == 0 && vtext && strncmp(vtext, version, strlen(version)) == 0,
          "drum --version names the source revision %s: %s", rev, vtext ? vtext : "");
    free(vtext);
    char *text = test_slurp(rec);
    CHECK(text && strstr(text, "# The configuration of the run in this directory") &&
              strstr(text, source) &&
              strstr(text, "\nthreads: " CHILD_THREADS "\n") &&
              strstr(text, "`drum train THIS_FILE") && strstr(text, "\n#   backend cpu, ") &&
              strstr(text, "OpenBLAS's ") && strstr(text, " kernels, 1 rank\n") &&
              strstr(text, "\n  cache: \"\"\n"),
          "%s: %s", rec, text ? text : "(none)");
    free(text);
    const char *a[] = {drum_bin, "train", rec, "--set", set, NULL};
    int rc = run_drum(log, a, 0, NULL, 0);
    const char *files[] = {"round2/model.safetensors", "results.jsonl", "score_cache.bin"};
    for (int i = 0; i < 3; i++) {
        char x[400], y[400];
        snprintf(x, sizeof x, "%s/%s", out, files[i]);
        snprintf(y, sizeof y, "%s/%s", again, files[i]);
        CHECK(rc == 0 && test_same_file(x, y), "drum train %s: exit %d, %s differs from the run's",
              rec, rc, files[i]);
    }
}

/* drum_job_record_config over a run directory with a checkpoint (an empty file stands for one:
 * only its presence counts): without --resume it rewrites config.yaml; with it, the same
 * settings pass silently, another thread count passes with a note, another seed fails naming
 * it, and nothing is rewritten. */
static void test_record_config(void) {
    char dir[300], path[320], note[1024], err[2048];
    snprintf(dir, sizeof dir, "%s/run_record", tmp);
    drum_job_config cfg;
    drum_job_config_init(&cfg, err, sizeof err);
    drum_cfg_set(drum_job_config_schema, &cfg, "threads=0", err, sizeof err);
    free(cfg.train.out);
    cfg.train.out = strdup(dir);
    drum_job_config_finish(&cfg, err, sizeof err);
    int rc = drum_job_record_config(&cfg, "train", 1, 1, note, sizeof note, err, sizeof err);
    snprintf(path, sizeof path, "%s/train.ckpt", dir);
    FILE *f = fopen(path, "w");
    if (f) fclose(f);
    snprintf(path, sizeof path, "%s/config.yaml", dir);
    char *first = test_slurp(path);
    CHECK(rc == 0 && first && note[0] == '\0', "--resume without a checkpoint writes %s: %s", path,
          err);
    rc = drum_job_record_config(&cfg, "train", 1, 1, note, sizeof note, err, sizeof err);
    CHECK(rc == 0 && note[0] == '\0', "the same settings resume silently: rc %d, note '%s'", rc,
          note);
    cfg.threads = omp_get_max_threads() + 1;
    rc = drum_job_record_config(&cfg, "train", 1, 1, note, sizeof note, err, sizeof err);
    char want[160];
    snprintf(want, sizeof want, "(threads: %d there, %d here)", omp_get_max_threads(),
             cfg.threads);
    CHECK(rc == 0 && strstr(note, want) && strstr(note, "last bits"),
          "another thread count resumes with a note: rc %d, '%s'", rc, note);
    /* a run another build started: the header's source revision differs from this one's */
    char *other = first ? strdup(first) : NULL, *at = other ? strstr(other, ", source ") : NULL;
    char *end = at ? strstr(at, ") started it") : NULL;
    if (end) {
        FILE *w = fopen(path, "w");
        if (w) {
            fprintf(w, "%.*s, source 0123456789ab-dirty%s", (int)(at - other), other, end);
            fclose(w);
        }
    }
    rc = drum_job_record_config(&cfg, "train", 1, 1, note, sizeof note, err, sizeof err);
    snprintf(want, sizeof want, "resuming a run that drum source 0123456789ab-dirty started, "
             "with drum source %s: ", drum_source_revision());
    CHECK(end && rc == 0 && strstr(note, want) && strstr(note, "last bits"),
          "a run another build started resumes with both notes: rc %d, '%s'", rc, note);
    FILE *back = first ? fopen(path, "w") : NULL;
    if (back) {
        fputs(first, back);
        fclose(back);
    }
    free(other);
    cfg.seed++;
    rc = drum_job_record_config(&cfg, "train", 1, 1, note, sizeof note, err, sizeof err);
    CHECK(rc == -1 && strstr(err, "1 setting differs") &&
              strstr(err, "seed: 1234 there, 1235 here"),
          "another seed is refused: rc %d, '%s'", rc, err);
    char *after = test_slurp(path);
    CHECK(first && after && strcmp(first, after) == 0, "--resume never rewrites config.yaml");
    rc = drum_job_record_config(&cfg, "train", 0, 1, note, sizeof note, err, sizeof err);
    free(after);
    after = test_slurp(path);
    CHECK(rc == 0 && after && strstr(after, "\nseed: 1235\n"), "a fresh run rewrites it: %s",
          after ? after : err);
    /* a resume over a checkpoint whose config.yaml is gone writes this one, and says that it
     * could compare nothing */
    remove(path);
    rc = drum_job_record_config(&cfg, "train", 1, 1, note, sizeof note, err, sizeof err);
    CHECK(rc == 0 && strstr(note, "config.yaml was missing: --resume could not compare") &&
              drum_file_exists(path),
          "a resume without config.yaml: rc %d, note '%s'", rc, note);
    free(first);
    free(after);
    drum_job_config_free(&cfg);
}

/* Copies the bytes of src to dst. Returns 0 or -1. */
static int copy_file(const char *src, const char *dst) {
    FILE *in = fopen(src, "rb"), *out = in ? fopen(dst, "wb") : NULL;
    char buf[65536];
    size_t n;
    int rc = in && out ? 0 : -1;
    while (rc == 0 && (n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n) rc = -1;
    if (in && ferror(in)) rc = -1;
    if (in) fclose(in);
    if (out && fclose(out) != 0) rc = -1;
    return rc;
}

/* Rewrites the text file path with `mark` inserted after the first `key` in it, and returns
 * its text before (to restore with write_text_file); NULL when the file or the key is
 * missing, the file untouched. */
static char *edit_after(const char *path, const char *key, const char *mark) {
    char *orig = test_slurp(path), *at = orig ? strstr(orig, key) : NULL;
    if (!at) {
        free(orig);
        return NULL;
    }
    at += strlen(key);
    size_t n = strlen(orig) + strlen(mark) + 1;
    char *edited = malloc(n);
    if (edited) {
        snprintf(edited, n, "%.*s%s%s", (int)(at - orig), orig, mark, at);
        write_text_file(path, edited);
    }
    free(edited);
    return orig;
}

/* The path under tmp/data of the image of `file`'s line `line` (from 1), in out. Returns 0,
 * or -1 when the file has no such line. */
static int image_of_line(const char *file, int line, char *out, size_t outlen) {
    char path[300];
    snprintf(path, sizeof path, "%s/data/%s", tmp, file);
    char *text = test_slurp(path), *at = text;
    for (int l = 1; at && l < line; l++)
        if ((at = strchr(at, '\n'))) at++;
    const char *key = "\"image\":\"";
    char *img = at ? strstr(at, key) : NULL, *end = img ? strchr(img + strlen(key), '"') : NULL;
    if (end) {
        img += strlen(key);
        snprintf(out, outlen, "%s/data/%.*s", tmp, (int)(end - img), img);
    }
    free(text);
    return end ? 0 : -1;
}

/* --resume over run r's checkpoint, with its data changed: refused with a message holding
 * `want` and "resume with", the checkpoint and results.jsonl left as they were; and
 * `--resume --check` refuses it the same way beforehand. */
static void check_refused_resume(const run_paths *r, const char *what, const char *want) {
    char ckpt[300], saved[320], log[300], res[300];
    snprintf(ckpt, sizeof ckpt, "%s/train.ckpt", r->out);
    snprintf(saved, sizeof saved, "%s.before", ckpt);
    snprintf(log, sizeof log, "%s/other_data.log", tmp);
    snprintf(res, sizeof res, "%s/results.jsonl", r->out);
    char *res_before = test_slurp(res);
    for (int check = 1; check >= 0; check--) {
        const char *a[] = {drum_bin, "train", r->cfg, "--resume", check ? "--check" : NULL, NULL};
        int rc = run_drum(log, a, 0, NULL, 0);
        char *text = test_slurp(log);
        CHECK(rc == 1 && text && strstr(text, want) && strstr(text, "resume with"),
              "a resume%s over %s: exit %d, %s", check ? " --check" : "", what, rc,
              text ? text : "");
        CHECK(test_same_file(ckpt, saved), "the refused resume changed %s", ckpt);
        char *res_now = test_slurp(res);
        CHECK(res_before && res_now && strcmp(res_before, res_now) == 0,
              "the refused resume changed %s", res);
        free(res_now);
        free(text);
    }
    free(res_before);
}

/* A checkpoint belongs to its data: with one prompt changed in place in the training file,
 * then in the evaluation file (the same ids and count, so the suite check and the pool size
 * pass), --resume over run r's checkpoint is refused, naming the data, and leaves the
 * checkpoint as it was. So it is with an image file of each replaced by another's (the same
 * JSONL, other pixels), named as other images, with another tokenizer, and with other
 * starting weights in clip0/. */
static void test_resume_other_data(const run_paths *r) {
    char ckpt[300], saved[320], log[300];
    snprintf(ckpt, sizeof ckpt, "%s/train.ckpt", r->out);
    snprintf(saved, sizeof saved, "%s.before", ckpt);
    snprintf(log, sizeof log, "%s/other_data.log", tmp);
    CHECK(copy_file(ckpt, saved) == 0, "copying %s", ckpt);
    const char *files[] = {"train.jsonl", "eval.jsonl"};
    for (int i = 0; i < 2; i++) {
        char path[300];
        snprintf(path, sizeof path, "%s/data/%s", tmp, files[i]);
        char *orig = edit_after(path, "\"prompt\":\"", "Changed: ");
        CHECK(orig != NULL, "rewriting %s", path);
        if (!orig) continue;
        check_refused_resume(r, files[i], "made on other data");
        write_text_file(path, orig);
        free(orig);
    }
    for (int i = 0; i < 2; i++) {
        char img[400], other[400], kept[420];
        /* line 1's image and the first line's after the examples of that image */
        int line = 2;
        int ok = image_of_line(files[i], 1, img, sizeof img) == 0;
        while (ok && image_of_line(files[i], line, other, sizeof other) == 0 &&
               strcmp(img, other) == 0)
            line++;
        ok = ok && strcmp(img, other) != 0 && !test_same_file(img, other);
        snprintf(kept, sizeof kept, "%s.kept", img);
        CHECK(ok && rename(img, kept) == 0 && copy_file(other, img) == 0,
              "replacing %s's first image %s by %s", files[i], img, other);
        if (!ok) continue;
        char what[64];
        snprintf(what, sizeof what, "another image in %s", files[i]);
        check_refused_resume(r, what, "made on other images");
        CHECK(rename(kept, img) == 0, "restoring %s", img);
    }
    /* another tokenizer (the suite's, without its first merge: "an" is no longer one token),
     * which config.yaml names only by its directory */
    char merges[300];
    snprintf(merges, sizeof merges, "%s/data/merges.txt", tmp);
    char *orig = test_slurp(merges), *cut = orig ? strchr(orig, '\n') : NULL;
    cut = cut ? strchr(cut + 1, '\n') : NULL;
    CHECK(cut != NULL, "reading %s", merges);
    if (cut) {
        char *edited = malloc(strlen(orig) + 1);
        size_t head = (size_t)(strchr(orig, '\n') + 1 - orig);
        memcpy(edited, orig, head);
        strcpy(edited + head, cut + 1);
        write_text_file(merges, edited);
        free(edited);
        check_refused_resume(r, "another tokenizer", "made on other texts");
        write_text_file(merges, orig);
    }
    free(orig);
    /* other starting weights: clip0/'s replaced in place by round 1's (the same shapes), which
     * a resume would read again where the run started from them */
    char w0[300], w1[300], w0kept[320];
    snprintf(w0, sizeof w0, "%s/clip0/model.safetensors", r->out);
    snprintf(w1, sizeof w1, "%s/round1/model.safetensors", r->out);
    snprintf(w0kept, sizeof w0kept, "%s.kept", w0);
    CHECK(rename(w0, w0kept) == 0 && copy_file(w1, w0) == 0, "replacing %s by %s", w0, w1);
    check_refused_resume(r, "other starting weights", "made from other starting weights");
    CHECK(rename(w0kept, w0) == 0, "restoring %s", w0);
    /* the data as it was resumes: the refusals above were the changes' doing */
    const char *c[] = {drum_bin, "train", r->cfg, "--resume", "--check", NULL};
    int rc = run_drum(log, c, 0, NULL, 0);
    char *text = test_slurp(log);
    CHECK(rc == 0 && text &&
              strstr(text, "is this run's, on these data, images and texts, from these starting "
                     "weights"),
          "--resume --check over the restored data: exit %d, %s", rc, text ? text : "");
    free(text);
    const char *a[] = {drum_bin, "train", r->cfg, "--resume", NULL};
    CHECK(run_drum(log, a, 0, NULL, 0) == 0, "a resume over the restored data failed (log %s)",
          log);
}

/* A run of config `name` interrupted with sig at a random moment after its first checkpoint,
 * within the first half of the time the uninterrupted run took from there (rest_ms). A run
 * that still finishes first (a loaded machine) is repeated in a fresh directory with the
 * signal right at the first checkpoint, so the resume path is always exercised. Fills *r
 * with the paths of the run it returns the status of. */
static int interrupted_run(const char *name, int sig, long rest_ms, run_paths *r) {
    int rc = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        int delay = attempt == 0 && rest_ms > 1 ? (int)(rand() % (rest_ms / 2)) : 0;
        char ckpt[300], run[64];
        snprintf(run, sizeof run, "%s%d", name, attempt);
        new_run(r, run);
        snprintf(ckpt, sizeof ckpt, "%s/train.ckpt", r->out);
        const char *args[] = {drum_bin, "train", r->cfg, NULL};
        rc = run_drum(r->log, args, sig, ckpt, delay);
        printf("%s: signal %d %d ms after the first checkpoint (uninterrupted: %ld ms more) -> "
               "status %d\n", name, sig, delay, rest_ms, rc);
        if (rc != 0) break;
    }
    return rc;
}


/* train.micro_batch: the towers run 10 rows at a time (of a step's 8 x (1 + 6) = 56), the
 * loss on the whole batch's features, then each micro-batch encoded again and back-propagated
 * with its rows' feature gradients. The gradients are the same sums in another order, so the
 * weights end within float rounding of run_a's (the whole batch at once), far closer than
 * training moved them. */
static void test_micro_batch(void) {
    char cfg[256], out[256], log[256], a[320], b[320], c0[320];
    snprintf(cfg, sizeof cfg, "%s/micro.yaml", tmp);
    snprintf(out, sizeof out, "%s/run_micro", tmp);
    snprintf(log, sizeof log, "%s/micro.log", tmp);
    write_config(cfg, out);
    const char *args[] = {drum_bin, "train", cfg, "--set", "train.micro_batch=10", NULL};
    int rc = run_drum(log, args, 0, NULL, 0);
    CHECK(rc == 0, "drum train with train.micro_batch 10: exit %d (see %s)", rc, log);
    snprintf(a, sizeof a, "%s/run_a/round2/model.safetensors", tmp);
    snprintf(b, sizeof b, "%s/round2/model.safetensors", out);
    snprintf(c0, sizeof c0, "%s/run_a/clip0/model.safetensors", tmp);
    double gap_max = 0, moved_max = 0;
    double gap = test_weight_gap(a, b, &gap_max), moved = test_weight_gap(c0, a, &moved_max);
    printf("micro-batches of 10 rows vs the whole batch: weights differ by %.3g on average (at "
           "most %.3g); training moved them by %.3g (at most %.3g)\n", gap, gap_max, moved,
           moved_max);
    /* Adam turns the last bits of a near-zero gradient into a step of its own, so single
     * weights stray further than the mean (measured: 1.7e-5 of the moves on average, 0.02 at
     * most); back-propagating a micro-batch with another's feature gradients moves them as
     * far as training did */
    CHECK(gap >= 0 && moved > 0 && gap < 1e-3 * moved && gap_max < 0.1 * moved_max,
          "micro-batched training's weights: %.3g (max %.3g) from the whole batch's, which "
          "moved %.3g (max %.3g)", gap, gap_max, moved, moved_max);
    /* a resume may change the micro-batch, as it may the threads: it says the bits will
     * differ; another learning rate it refuses */
    const char *res[] = {drum_bin, "train", cfg, "--resume", "--check", "--set",
                         "train.micro_batch=20", NULL};
    rc = run_drum(log, res, 0, NULL, 0);
    char *said = test_slurp(log);
    CHECK(rc == 0 && said &&
              strstr(said, "resuming where the run did not start (train.micro_batch: 10 there, "
                           "20 here)"),
          "--resume --check with another train.micro_batch: exit %d, %s", rc, said ? said : "");
    free(said);
    const char *lr[] = {drum_bin, "train", cfg, "--resume", "--check", "--set", "train.lr=0.01",
                        NULL};
    rc = run_drum(log, lr, 0, NULL, 0);
    said = test_slurp(log);
    CHECK(rc == 1 && said && strstr(said, "train.lr"), "--resume with another train.lr: exit %d, "
          "%s", rc, said ? said : "");
    free(said);
    /* the model --check describes: a pass of the micro-batch when a checkpoint is named (else
     * pre-training's 32 pairs); an evaluation or mining of a named retriever holds no training
     * state */
    char ckpt[340];
    snprintf(ckpt, sizeof ckpt, "model.checkpoint=%s", a);
    static const struct {
        const char *cmd, *set, *want;
    } checks[] = {
        {"train", "train.micro_batch=10", "for 32 image-text pairs a pass (train.micro_batch"},
        {"train", "train.micro_batch=10", "for 10 image-text pairs a pass (train.micro_batch"},
        {"eval", "train.micro_batch=0", "for 64 image-text pairs a pass and 0.00 GB of weights "
                                        "(nothing to train)"},
        {"mine", "train.micro_batch=0", "for 64 image-text pairs a pass and 0.00 GB of weights "
                                        "(nothing to train)"}};
    /* (drum eval keeps out of a training run's directory: drum_job_check_out) */
    char eval_out[300];
    snprintf(eval_out, sizeof eval_out, "train.out=%s/micro_eval", tmp);
    for (int i = 0; i < 4; i++) {
        int ev = strcmp(checks[i].cmd, "eval") == 0;
        const char *chk[] = {drum_bin, checks[i].cmd, cfg, "--set", checks[i].set, "--set",
                             i ? ckpt : "model.checkpoint=", "--check", ev ? "--set" : NULL,
                             eval_out, NULL};
        rc = run_drum(log, chk, 0, NULL, 0);
        char *text = test_slurp(log);
        CHECK(rc == 0 && text && strstr(text, checks[i].want), "drum %s --check, %s%s: %s",
              checks[i].cmd, checks[i].set, i ? ", a checkpoint" : "", text ? text : "");
        free(text);
    }
}

/* Runs drum with args under a file-size limit of limit bytes (a full disk's failing write;
 * 0: none), stdout+stderr to log; returns the exit status and *text the log (the caller
 * frees). */
static int run_drum_limited(const char *log, const char *const *args, long limit, char **text) {
    child_file_limit = limit;
    int rc = run_drum(log, args, 0, NULL, 0);
    child_file_limit = 0;
    *text = test_slurp(log);
    return rc;
}

/* Nothing of a stopped run is lost to a later command:
 * - a run without --resume over its unfinished checkpoint is refused (so is its --check),
 *   naming where the checkpoint stands and the ways on; --fresh --check passes;
 * - a resume whose checkpoint cannot be written (the file-size limit below its size stands
 *   for a full disk) fails naming the file, which keeps the checkpoint it resumed from.
 * Run c's resume proper follows, and must still end equal to the uninterrupted run. */
static void test_keep_checkpoint(const run_paths *c) {
    char ckpt[300], saved[320], log[300], tmpfile[320];
    snprintf(ckpt, sizeof ckpt, "%s/train.ckpt", c->out);
    snprintf(saved, sizeof saved, "%s.kept", ckpt);
    snprintf(tmpfile, sizeof tmpfile, "%s.tmp", ckpt);
    snprintf(log, sizeof log, "%s/c_keep.log", tmp);
    CHECK(copy_file(ckpt, saved) == 0, "copying %s", ckpt);
    char *text;
    for (int check = 0; check < 2; check++) {
        const char *a[] = {drum_bin, "train", c->cfg, check ? "--check" : NULL, NULL};
        int rc = run_drum_limited(log, a, 0, &text);
        CHECK(rc == 1 && text && strstr(text, "holds the checkpoint of an unfinished run, at round ") &&
                  strstr(text, "continue it with --resume, start afresh over it with --fresh"),
              "a run%s without --resume over a stopped run: exit %d, %s", check ? " --check" : "",
              rc, text ? text : "");
        CHECK(test_same_file(ckpt, saved), "the refused run changed %s", ckpt);
        free(text);
    }
    const char *fresh[] = {drum_bin, "train", c->cfg, "--fresh", "--check", NULL};
    int rc = run_drum_limited(log, fresh, 0, &text);
    CHECK(rc == 0 && text && strstr(text, "--fresh: this run starts afresh and overwrites"),
          "--fresh --check over a stopped run: exit %d, %s", rc, text ? text : "");
    free(text);
    const char *both[] = {drum_bin, "train", c->cfg, "--fresh", "--resume", NULL};
    rc = run_drum_limited(log, both, 0, &text);
    CHECK(rc == 2 && text && strstr(text, "exclude each other"), "--fresh --resume: exit %d, %s",
          rc, text ? text : "");
    free(text);

    /* a job while another holds the directory (as this process does now) is refused before
     * it writes anything, naming the holder */
    char lock[300], rec[300];
    snprintf(lock, sizeof lock, "%s/drum.lock", c->out);
    snprintf(rec, sizeof rec, "%s/config.yaml", c->out);
    char *rec_before = test_slurp(rec);
    int held = open(lock, O_RDWR | O_CREAT, 0644);
    CHECK(held >= 0 && flock(held, LOCK_EX | LOCK_NB) == 0 && ftruncate(held, 0) == 0 &&
              write(held, "pid 1, drum test\n", 17) == 17,
          "holding %s", lock);
    const char *kinds[] = {"train", "eval", "mine"};
    for (int k = 0; k < 3; k++) {
        const char *busy[] = {drum_bin, kinds[k], c->cfg, "--set", "train.lr=0.5",
                              k == 0 ? "--resume" : NULL, NULL};
        rc = run_drum_limited(log, busy, 0, &text);
        char *rec_after = test_slurp(rec);
        CHECK(rc == 1 && text && strstr(text, "is in use by another drum (pid 1, drum test): wait "
                                              "for it to end, or set another train.out") &&
                  rec_before && rec_after && strcmp(rec_before, rec_after) == 0 &&
                  test_same_file(ckpt, saved),
              "drum %s in a directory another holds: exit %d, %s", kinds[k], rc, text ? text : "");
        free(text);
        free(rec_after);
    }
    free(rec_before);
    if (held >= 0) close(held);

    struct stat st;
    long size = stat(ckpt, &st) == 0 ? (long)st.st_size : 0;
    const char *res[] = {drum_bin, "train", c->cfg, "--resume", NULL};
    rc = run_drum_limited(log, res, size - 1, &text);
    /* the position the resume names is the one the failed write's message says is kept */
    const char *from = text ? strstr(text, "resuming from ") : NULL;
    from = from ? strstr(from, ".ckpt: ") : NULL;
    char kept[200] = "";
    if (from) snprintf(kept, sizeof kept, "still holds the checkpoint at %.*s, which --resume",
                       (int)strcspn(from + 7, "\n"), from + 7);
    CHECK(rc == 1 && from && strstr(text, "train.ckpt: write failed: File too large") &&
              strstr(text, kept),
          "a resume that cannot write its checkpoint: exit %d, want '%s' in %s", rc, kept,
          text ? text : "");
    CHECK(test_same_file(ckpt, saved) && stat(tmpfile, &st) != 0,
          "the failed write changed %s or left %s", ckpt, tmpfile);
    free(text);
    remove(saved);
}

/* A run whose first checkpoint cannot be written: it says the file holds none of this run,
 * writes none (nor a .tmp), and --resume then runs it whole, to run_a's results. */
static void test_unwritable_checkpoint(const char *out_a) {
    run_paths d;
    new_run(&d, "d");
    const char *cfg = d.cfg, *out = d.out, *log = d.log;
    char ckpt[300], model_a[300], path[320];
    snprintf(ckpt, sizeof ckpt, "%s/train.ckpt", out);
    snprintf(model_a, sizeof model_a, "%s/clip0/model.safetensors", out_a);
    /* twice the weights: clip0/ fits, a checkpoint (weights and two AdamW moments) does not */
    struct stat st;
    long size = stat(model_a, &st) == 0 ? (long)st.st_size : 0;
    const char *a[] = {drum_bin, "train", cfg, NULL};
    char *text;
    int rc = run_drum_limited(log, a, 2 * size, &text);
    snprintf(path, sizeof path, "%s.tmp", ckpt);
    CHECK(rc == 1 && text && strstr(text, "train.ckpt: write failed: File too large; it holds no "
                                          "checkpoint of this run yet: --resume starts"),
          "a run that cannot write its first checkpoint: exit %d, %s", rc, text ? text : "");
    CHECK(stat(ckpt, &st) != 0 && stat(path, &st) != 0, "a failed first checkpoint left a file");
    free(text);
    const char *r[] = {drum_bin, "train", cfg, "--resume", NULL};
    rc = run_drum_limited(log, r, 0, &text);
    free(text);
    char ra[300], rd[300];
    snprintf(ra, sizeof ra, "%s/results.jsonl", out_a);
    snprintf(rd, sizeof rd, "%s/results.jsonl", out);
    CHECK(rc == 0 && test_same_file(ra, rd),
          "after a failed first checkpoint, --resume: exit %d, results.jsonl equal to run_a's: %d",
          rc, test_same_file(ra, rd));
}

/* A run that cannot write the pool's drafts (after the evaluation queries' went in): the error
 * names drafts.jsonl (it once crashed freeing a trainer never set up), and --resume completes
 * the file and the run, to run_a's drafts and results (its retriever is run_a's clip0). */
static void test_unwritable_drafts(const char *out_a) {
    run_paths e;
    new_run(&e, "e");
    const char *cfg = e.cfg, *out = e.out, *log = e.log;
    char model[300], set[340], da[300], de[300], ra[300], re[300];
    snprintf(model, sizeof model, "%s/clip0/model.safetensors", out_a);
    snprintf(set, sizeof set, "model.checkpoint=%s", model);
    snprintf(da, sizeof da, "%s/drafts.jsonl", out_a);
    snprintf(de, sizeof de, "%s/drafts.jsonl", out);
    snprintf(ra, sizeof ra, "%s/results.jsonl", out_a);
    snprintf(re, sizeof re, "%s/results.jsonl", out);
    struct stat st;
    long size = stat(da, &st) == 0 ? (long)st.st_size : 0; /* 45 eval drafts, then 100 */
    const char *a[] = {drum_bin, "train", cfg, "--set", set, NULL};
    char *text;
    int rc = run_drum_limited(log, a, size / 2, &text);
    CHECK(rc == 1 && text && strstr(text, "drafts.jsonl: write failed: File too large"),
          "a run that cannot write its drafts: exit %d, %s", rc, text ? text : "");
    free(text);
    const char *r[] = {drum_bin, "train", cfg, "--set", set, "--resume", NULL};
    rc = run_drum_limited(log, r, 0, &text);
    free(text);
    CHECK(rc == 0 && test_same_file(da, de) && test_same_file(ra, re),
          "after failed drafts, --resume: exit %d, drafts equal %d, results equal %d", rc,
          test_same_file(da, de), test_same_file(ra, re));
}

/* Line `step` (1-based) of a run's steps.jsonl in *st; 0 when the file lacks it or it does
 * not read as drum_steps_log_write writes it. */
static int step_line(const char *out, long step, drum_step_stats *st) {
    char path[300];
    snprintf(path, sizeof path, "%s/steps.jsonl", out);
    char *text = test_slurp(path);
    const char *l = text;
    for (long i = 1; l && i < step; i++) l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL;
    double lr = 0, gn = 0;
    int ok = l && sscanf(l, "{\"step\": %ld, \"round\": %d, \"epoch\": %d, \"batch\": %d, "
                         "\"queries\": %d, \"loss\": %lf, \"list\": %lf, \"contrastive\": "
                         "%lf, \"lr\": %lf, \"grad_norm\": %lf}\n", &st->step, &st->round,
                         &st->epoch, &st->batch, &st->queries, &st->loss, &st->list,
                         &st->contrastive, &lr, &gn) == 10;
    st->lr = (float)lr;
    st->grad_norm = (float)gn;
    free(text);
    return ok;
}

/* steps.jsonl of a finished run (the mini config: train.lambda 1, lr 1e-3, warm-up 2): a
 * line per step of results.jsonl's last round, in order, each loss the sum of its terms
 * and its rate the schedule's (drum_lr_at), the last loss the one results.jsonl reports. */
static void check_steps_log(const char *out) {
    char path[300];
    snprintf(path, sizeof path, "%s/results.jsonl", out);
    char *res = test_slurp(path);
    const char *last = NULL;
    for (const char *p = res; p && (p = strstr(p, "{\"ndcg_round\": ")); p++) last = p;
    int round = 0;
    double want_loss = 0;
    long steps = 0;
    CHECK(last && sscanf(last, "{\"ndcg_round\": %d, \"ndcg@10\": %*f, \"loss\": %lf, "
                         "\"steps\": %ld}", &round, &want_loss, &steps) == 3,
          "%s: no last round's row", path);
    free(res);
    int bad = 0, prev_round = 1;
    drum_step_stats st = {0};
    for (long s = 1; s <= steps; s++) {
        if (!step_line(out, s, &st)) {
            CHECK(0, "%s/steps.jsonl: line %ld is missing or malformed", out, s);
            return;
        }
        /* linear warm-up over steps 1 and 2, then cosine decay towards 0 at the last */
        double lr = s <= 2 ? 1.0e-3 * s / 2 : 0.5e-3 * (1 + cos(M_PI * (s - 3) / (steps - 2)));
        bad += st.step != s || st.round < prev_round || st.round > round || st.queries < 1 ||
               fabs(st.loss - (st.list + st.contrastive)) > 1e-6 * fabs(st.loss) ||
               fabs(st.lr - lr) > 1e-6 * lr || !(st.grad_norm > 0) || !isfinite(st.grad_norm);
        prev_round = st.round;
    }
    CHECK(bad == 0 && st.round == round && fabs(st.loss - want_loss) <= 5e-7,
          "%s/steps.jsonl: %d bad lines of %ld; the last (round %d, loss %.9g) against "
          "results.jsonl's round %d, loss %.6f", out, bad, steps, st.round, st.loss, round,
          want_loss);
    CHECK(!step_line(out, steps + 1, &st), "%s/steps.jsonl has lines past step %ld", out, steps);
}

static void test_resume(void) {
    char cfg_a[256], out_a[256], log[256];
    run_paths b, c;
    snprintf(out_a, sizeof out_a, "%s/run_a", tmp);
    snprintf(cfg_a, sizeof cfg_a, "%s/a.yaml", tmp);
    write_config(cfg_a, out_a);

    /* A: uninterrupted; also measures how long a run goes on after its first checkpoint */
    char ckpt_a[300];
    snprintf(ckpt_a, sizeof ckpt_a, "%s/train.ckpt", out_a);
    snprintf(log, sizeof log, "%s/a.log", tmp);
    const char *a[] = {drum_bin, "train", cfg_a, NULL};
    long rest_ms = 0;
    int rc = run_drum_timed(log, a, 0, ckpt_a, 0, &rest_ms);
    CHECK(rc == 0, "uninterrupted drum train exit %d (log %s)", rc, log);
    CHECK(rest_ms > 0, "the uninterrupted run wrote no checkpoint before it ended");
    test_recorded_config(out_a);
    /* drum eval over the training run's directory would replace its results: refused, the
     * files untouched */
    char res_a[300], rec_a[300], ev_log[300];
    snprintf(res_a, sizeof res_a, "%s/results.jsonl", out_a);
    snprintf(rec_a, sizeof rec_a, "%s/config.yaml", out_a);
    snprintf(ev_log, sizeof ev_log, "%s/a_eval.log", tmp);
    char *res_before = test_slurp(res_a), *rec_before = test_slurp(rec_a);
    const char *ev[] = {drum_bin, "eval", cfg_a, NULL};
    rc = run_drum(ev_log, ev, 0, NULL, 0);
    char *ev_text = test_slurp(ev_log), *res_after = test_slurp(res_a), *rec_after = test_slurp(rec_a);
    CHECK(rc == 1 && ev_text &&
              strstr(ev_text, "holds a training run (train.ckpt: every round done, step ") &&
              strstr(ev_text, "/round<r>/model.safetensors") && res_before && res_after &&
              strcmp(res_before, res_after) == 0 && rec_before && rec_after &&
              strcmp(rec_before, rec_after) == 0,
          "drum eval over a training run: exit %d, %s", rc, ev_text ? ev_text : "");
    free(ev_text);
    free(res_before);
    free(res_after);
    free(rec_before);
    free(rec_after);

    /* B: killed hard at a random moment after its first checkpoint, then resumed */
    srand((unsigned)time(NULL));
    rc = interrupted_run("b", SIGKILL, rest_ms, &b);
    CHECK(rc == 128 + SIGKILL, "killed run ended with %d", rc);
    snprintf(log, sizeof log, "%s/b_resume.log", tmp);
    const char *b2[] = {drum_bin, "train", b.cfg, "--resume", NULL};
    rc = run_drum(log, b2, 0, NULL, 0);
    CHECK(rc == 0, "resumed drum train exit %d (log %s)", rc, log);
    char *blog = test_slurp(log);
    CHECK(blog && strstr(blog, "resuming from"), "resume did not say where it resumed");
    free(blog);
    test_resume_other_data(&b);

    /* C: Ctrl-C (SIGINT) during the run: exit 3 with a checkpoint, then resume */
    rc = interrupted_run("c", SIGINT, rest_ms, &c);
    CHECK(rc == 3, "Ctrl-C should stop with exit status 3 and a checkpoint, got %d", rc);
    char *clog = test_slurp(c.log);
    CHECK(clog && strstr(clog, "--resume"), "Ctrl-C message does not say how to continue");
    free(clog);
    /* a resume with another setting is refused, naming it, and leaves the run as it was */
    snprintf(log, sizeof log, "%s/c_refused.log", tmp);
    const char *c_lr[] = {drum_bin, "train", c.cfg, "--resume", "--set", "train.lr=0.5", NULL};
    rc = run_drum(log, c_lr, 0, NULL, 0);
    clog = test_slurp(log);
    CHECK(rc == 1 && clog && strstr(clog, "1 setting differs") && strstr(clog, "train.lr: ") &&
              strstr(clog, " there, 0.5 here") && strstr(clog, "without --resume"),
          "a resume with another train.lr: exit %d, %s", rc, clog ? clog : "");
    free(clog);
    test_keep_checkpoint(&c);
    /* the resume proper, with the thread count spelled out that config.yaml resolved threads
     * 0 to: the same settings, so no note, and the same bits (checked below) */
    snprintf(log, sizeof log, "%s/c_resume.log", tmp);
    const char *c2[] = {drum_bin, "train", c.cfg, "--resume", "--set", "threads=" CHILD_THREADS,
                        NULL};
    rc = run_drum(log, c2, 0, NULL, 0);
    CHECK(rc == 0, "resume after Ctrl-C exit %d (log %s)", rc, log);
    clog = test_slurp(log);
    CHECK(clog && strstr(clog, "resuming from") && !strstr(clog, "resuming where"),
          "a resume with the run's own settings: %s", clog ? clog : "");
    free(clog);

    char wa[300], wb[300], wc[300];
    snprintf(wa, sizeof wa, "%s/round2/model.safetensors", out_a);
    snprintf(wb, sizeof wb, "%s/round2/model.safetensors", b.out);
    snprintf(wc, sizeof wc, "%s/round2/model.safetensors", c.out);
    CHECK(test_same_file(wa, wb), "killed-and-resumed run's final weights differ from the uninterrupted run's");
    CHECK(test_same_file(wa, wc), "interrupted (Ctrl-C) and resumed run's final weights differ");
    char ra[300], rb[300], rc_[300];
    snprintf(ra, sizeof ra, "%s/results.jsonl", out_a);
    snprintf(rb, sizeof rb, "%s/results.jsonl", b.out);
    snprintf(rc_, sizeof rc_, "%s/results.jsonl", c.out);
    char *x = test_slurp(ra);
    CHECK(x && strstr(x, "\"strategy\": \"DRUM\", \"round\": 1") &&
              strstr(x, "\"strategy\": \"DRUM\", \"round\": 2") && strstr(x, "\"ndcg_round\": 2"),
          "results.jsonl lacks a round: %s", x ? x : "(none)");
    /* every row of the simulator's run carries its P(correct) per task (restored on resume:
     * the equality below covers it) */
    int rows = 0, with_p = 0;
    for (const char *l = x; l && (l = strstr(l, "\"strategy\"")); l++, rows++)
        with_p += strstr(l, "\"p_correct\": {\"") != NULL && strstr(l, "\"p_correct\"") < strchr(l, '\n');
    CHECK(rows > 0 && with_p == rows, "%d of %d result rows carry p_correct", with_p, rows);
    free(x);
    /* the evaluations of the rounds before the interruption are kept, and equal */
    CHECK(test_same_file(ra, rb), "killed-and-resumed run's results.jsonl differs from the uninterrupted run's");
    CHECK(test_same_file(ra, rc_), "interrupted-and-resumed run's results.jsonl differs");
    /* the steps log: the resumed runs drop the lines of the steps they took again */
    check_steps_log(out_a);
    snprintf(ra, sizeof ra, "%s/steps.jsonl", out_a);
    snprintf(rb, sizeof rb, "%s/steps.jsonl", b.out);
    snprintf(rc_, sizeof rc_, "%s/steps.jsonl", c.out);
    CHECK(test_same_file(ra, rb), "killed-and-resumed run's steps.jsonl differs from the uninterrupted run's");
    CHECK(test_same_file(ra, rc_), "interrupted-and-resumed run's steps.jsonl differs");
    test_unwritable_checkpoint(out_a);
    test_unwritable_drafts(out_a);
}

/* The path of tests/fixtures/<name>: drum_bin is <root>/<build>/tests/../drum. */
static void fixture(char *out, size_t n, const char *name) {
    snprintf(out, n, "%.*s/../tests/fixtures/%s", (int)(strlen(drum_bin) - strlen("/drum")),
             drum_bin, name);
}

/* The path of tests/fixtures/exec_lvlm.py, the stand-in LVLM. */
static void stand_in(char *out, size_t n) { fixture(out, n, "exec_lvlm.py"); }

/* Writes a job config over dataset files train and eval (the suite under tmp/data gives the
 * tokenizer) with run directory out. */
static void write_data_config(const char *path, const char *train, const char *eval,
                              const char *out) {
    FILE *f = fopen(path, "w");
    if (!f) return;
    fprintf(f, "data: {dir: %s/data, train: %s, eval: %s}\ntrain: {out: %s}\n", tmp, train, eval,
            out);
    fclose(f);
}

/* drum with args fails (exit 1) with a message holding want1 and want2 (NULL: none) and not
 * `unsaid` (NULL: no such check), before the LVLM is asked anything: no drafts file written. */
static void fails_before_lvlm(const char *what, const char *const *args, const char *want1,
                              const char *want2, const char *unsaid, const char *drafts) {
    char log[300];
    snprintf(log, sizeof log, "%s/early.log", tmp);
    int rc = run_drum(log, args, 0, NULL, 0);
    char *text = test_slurp(log);
    CHECK(rc == 1 && text && strstr(text, want1) && (!want2 || strstr(text, want2)) &&
              (!unsaid || !strstr(text, unsaid)) && !drum_file_exists(drafts),
          "%s: exit %d, drafts.jsonl %s, %s", what, rc,
          drum_file_exists(drafts) ? "written" : "absent", text ? text : "");
    free(text);
}

static void test_errors(void) {
    char cfg[256], log[256], out[256];
    snprintf(out, sizeof out, "%s/run_err", tmp);
    snprintf(cfg, sizeof cfg, "%s/bad.yaml", tmp);
    snprintf(log, sizeof log, "%s/err.log", tmp);
    FILE *f = fopen(cfg, "w");
    fprintf(f, "seed: 5\ntrain:\n  rounds: 2\n  learning_rate: 0.1\n");
    fclose(f);
    const char *a[] = {drum_bin, "train", cfg, NULL};
    int rc = run_drum(log, a, 0, NULL, 0);
    char *text = test_slurp(log);
    CHECK(rc == 1, "unknown key: exit %d", rc);
    CHECK(text && strstr(text, "bad.yaml:4") && strstr(text, "learning_rate"),
          "unknown key error should name file:line and the key: %s", text ? text : "");
    free(text);

    /* a dataset line with a wrong type: file and line in the message */
    char data[256], cfg2[256];
    snprintf(data, sizeof data, "%s/bad.jsonl", tmp);
    f = fopen(data, "w");
    fprintf(f, "{\"id\": \"a\", \"image\": \"a.png\", \"prompt\": \"p\", \"response\": \"r\", \"task\": \"vqa\"}\n"
               "{\"id\": \"b\", \"image\": 7, \"prompt\": \"p\", \"response\": \"r\", \"task\": \"vqa\"}\n");
    fclose(f);
    snprintf(cfg2, sizeof cfg2, "%s/bad2.yaml", tmp);
    write_data_config(cfg2, data, data, out);
    const char *b[] = {drum_bin, "eval", cfg2, NULL};
    rc = run_drum(log, b, 0, NULL, 0);
    text = test_slurp(log);
    CHECK(rc == 1, "bad dataset: exit %d", rc);
    CHECK(text && strstr(text, "bad.jsonl:2"), "bad dataset error should name file:line: %s",
          text ? text : "");
    free(text);
    const char *c[] = {drum_bin, "train", "/nonexistent/x.yaml", NULL};
    rc = run_drum(log, c, 0, NULL, 0);
    text = test_slurp(log);
    CHECK(rc == 1 && text && strstr(text, "/nonexistent/x.yaml"), "missing config: %d %s", rc,
          text ? text : "");
    free(text);
    /* the grid layout needs a side the demo CLIP's 5 x 5 patches divide; nothing is written */
    char grid_dir[300];
    snprintf(grid_dir, sizeof grid_dir, "%s/grid_data", tmp);
    f = fopen(cfg2, "w");
    fprintf(f, "data: {dir: %s}\nsynth: {layout: grid, image_size: 32}\ntrain: {out: %s}\n",
            grid_dir, out);
    fclose(f);
    const char *d[] = {drum_bin, "train", cfg2, NULL};
    rc = run_drum(log, d, 0, NULL, 0);
    text = test_slurp(log);
    CHECK(rc == 1 && text && strstr(text, "synth.image_size 32 must be a multiple of 5"),
          "grid layout with image_size 32: exit %d, %s", rc, text ? text : "");
    CHECK(access(grid_dir, F_OK) != 0, "the grid-layout error still wrote %s", grid_dir);
    free(text);
    /* a suite already on disk from other synth settings is refused, not silently reused; with
     * the settings it was made with, the check passes (and the empty split fails later) */
    char stale[300], stale_file[340], json[1024];
    snprintf(stale, sizeof stale, "%s/stale_data", tmp);
    mkdir(stale, 0777);
    snprintf(stale_file, sizeof stale_file, "%s/train.jsonl", stale);
    write_text_file(stale_file, "");
    drum_synth_config sc;
    drum_synth_default_config(&sc);
    sc.image_size = 32;
    sc.classification = DRUM_SYNTH_SHAPE;
    drum_synth_set_totals(&sc, 2000, 500); /* the config defaults but for the classification */
    drum_synth_config_json(&sc, json, sizeof json);
    snprintf(stale_file, sizeof stale_file, "%s/synth.json", stale);
    write_text_file(stale_file, json);
    static const char *const synth_line[2] = {"", "synth: {classification: shape}\n"};
    for (int i = 0; i < 2; i++) {
        f = fopen(cfg2, "w");
        fprintf(f, "data: {dir: %s}\n%strain: {out: %s}\n", stale, synth_line[i], out);
        fclose(f);
        rc = run_drum(log, d, 0, NULL, 0);
        text = test_slurp(log);
        int refused = text && strstr(text, "stale_data/synth.json: the suite") &&
                      strstr(text, "(classification: \"shape\" here, \"claim\" wanted)") &&
                      !strstr(text, "using the synthetic suite already");
        CHECK(rc == 1 && text && refused == (i == 0), "%s: exit %d, %s",
              i ? "the suite's own settings" : "a suite from other synth settings", rc,
              text ? text : "");
        free(text);
    }
    /* a suite whose generation stopped part way (no synth.json; here eval.jsonl cut short)
     * is generated again, to the same bytes, and then used as it is */
    char part[300], set_part[340], part_eval[340], part_json[340];
    snprintf(part, sizeof part, "%s/part_data", tmp);
    snprintf(set_part, sizeof set_part, "data.dir=%s", part);
    snprintf(part_eval, sizeof part_eval, "%s/eval.jsonl", part);
    snprintf(part_json, sizeof part_json, "%s/synth.json", part);
    test_write_mini_config(cfg2, tmp, out, "");
    const char *pc[] = {drum_bin, "eval", cfg2, "--set", set_part, "--check", NULL};
    static const char *const part_says[3] = {
        "generating the synthetic suite in",
        ("again: it has no synth.json, which generation writes last"),
        "using the synthetic suite already in"};
    char *whole = NULL;
    for (int i = 0; i < 3; i++) {
        rc = run_drum(log, pc, 0, NULL, 0);
        text = test_slurp(log);
        char *now = test_slurp(part_eval);
        CHECK(rc == 0 && text && strstr(text, part_says[i]) && now &&
                  (i == 0 || (whole && strcmp(now, whole) == 0)) &&
                  drum_file_exists(part_json),
              "suite run %d: exit %d, eval.jsonl %s, synth.json %s: %s", i, rc,
              now ? (whole && strcmp(now, whole) == 0 ? "as generated" : "other") : "none",
              drum_file_exists(part_json) ? "there" : "missing", text ? text : "");
        if (i == 0) {
            whole = now;
            now = NULL;
            f = fopen(part_eval, "w");
            if (f) fprintf(f, "%.*s", (int)(whole ? strlen(whole) / 2 : 0), whole ? whole : "");
            if (f) fclose(f);
            unlink(part_json);
        }
        free(now);
        free(text);
    }
    free(whole);
    /* a score cache set in a directory that does not exist yet: created, as train.out is */
    char set_cache[360], cache_file[340];
    snprintf(cache_file, sizeof cache_file, "%s/caches/a/b/scores.bin", tmp);
    snprintf(set_cache, sizeof set_cache, "scorer.cache=%s", cache_file);
    const char *cc[] = {drum_bin, "eval",    cfg2, "--set", set_part, "--set", set_cache,
                        "--set",  "eval.shots=[1]", "--set", "eval.strategies=[RS]", NULL};
    rc = run_drum(log, cc, 0, NULL, 0);
    text = test_slurp(log);
    CHECK(rc == 0 && drum_file_exists(cache_file), "scorer.cache in a new directory: exit %d, "
          "%s %s: %s", rc, cache_file, drum_file_exists(cache_file) ? "there" : "missing",
          text ? text : "");
    free(text);
    /* drum train with no rounds has nothing to do: said before any data is read */
    char no_ckpt[300], drafts[340];
    snprintf(no_ckpt, sizeof no_ckpt, "%s/run_no_ckpt", tmp);
    snprintf(drafts, sizeof drafts, "%s/drafts.jsonl", no_ckpt);
    test_write_mini_config(cfg2, tmp, no_ckpt, "");
    const char *no_rounds[] = {drum_bin, "train", cfg2, "--set", "train.rounds=0", NULL};
    fails_before_lvlm("drum train with 0 rounds", no_rounds,
                      "train.rounds is 0: drum train would have nothing", NULL, "pool ", drafts);
    /* a checkpoint the config names is read before the LVLM is asked anything: a wrong path
     * fails at once, no zero-shot drafts asked (with a real LVLM, minutes to hours) */
    const char *e[] = {drum_bin, "eval", cfg2, "--set",
                       "model.checkpoint=/nonexistent/model.safetensors", NULL};
    fails_before_lvlm("a missing model.checkpoint", e,
                      "/nonexistent/model.safetensors: cannot open", NULL, NULL, drafts);
    /* so are the images: a file that is not an image fails with its line, no drafts asked
     * (12 examples: NDCG@10 retrieves 10 of a query's task; the suite's ids, beside its
     * meta.jsonl, so that the synthetic LVLM knows them) */
    char not_png[300], lines[4096], not_images[300];
    snprintf(not_png, sizeof not_png, "%s/not_an_image.png", tmp);
    snprintf(not_images, sizeof not_images, "%s/data/not_images.jsonl", tmp);
    write_text_file(not_png, "not a PNG\n");
    size_t at = 0;
    for (int i = 0; i < 12; i++)
        at += (size_t)snprintf(lines + at, sizeof lines - at,
                               "{\"id\": \"train-vqa-%05d\", \"image\": \"%s\", \"prompt\": "
                               "\"p\", \"response\": \"r\", \"task\": \"vqa\"}\n",
                               i, i == 1 ? "../not_an_image.png" : "images/img-00000.png");
    write_text_file(not_images, lines);
    write_data_config(cfg2, not_images, not_images, no_ckpt);
    fails_before_lvlm("an image that does not decode", b, "not_images.jsonl:2: ",
                      "not_an_image.png", "model: demo-tiny", drafts); /* data beside data.dir */
    /* a task of the queries with too few examples of its own in the pool: named at once */
    char pool_path[300], nocap[300];
    snprintf(pool_path, sizeof pool_path, "%s/data/train.jsonl", tmp);
    snprintf(nocap, sizeof nocap, "%s/data/no_captions.jsonl", tmp);
    char *all = test_slurp(pool_path);
    FILE *nc = fopen(nocap, "w");
    for (char *l = all, *nl; nc && l && *l; l = nl ? nl + 1 : NULL) {
        nl = strchr(l, '\n');
        int len = nl ? (int)(nl - l) : (int)strlen(l);
        static const char caption[] = "\"task\":\"caption\"";
        if (!memmem(l, (size_t)len, caption, strlen(caption))) fprintf(nc, "%.*s\n", len, l);
    }
    if (nc) fclose(nc);
    free(all);
    char eval_path[300];
    snprintf(eval_path, sizeof eval_path, "%s/data/eval.jsonl", tmp);
    write_data_config(cfg2, nocap, eval_path, no_ckpt);
    fails_before_lvlm("queries of a task the pool lacks", b, "task 'caption': ",
                      "but 0 examples of that task in the pool", NULL, drafts);
    test_write_mini_config(cfg2, tmp, no_ckpt, "");
    const char *many[] = {drum_bin, "train", cfg2, "--set", "train.candidates_k=60", "--check",
                          NULL};
    /* and mining's candidates: checked by --check, and by a job before the eval's drafts (a
     * demo once found them short after its baselines) */
    fails_before_lvlm("candidates_k above a task's pool", many,
                      "mining's train.candidates_k = 60", NULL, "check passed", drafts);
    const char *many_demo[] = {drum_bin, "demo", cfg2, "--set", "train.candidates_k=60", NULL};
    fails_before_lvlm("candidates_k above a task's pool, drum demo", many_demo,
                      "mining's train.candidates_k = 60", NULL, NULL, drafts);
    /* the mini pool's 20 cls examples hold 19 candidates and the query; excluding a query's
     * image, mining needs room for the most examples one image shows (2: its VQA pictures) */
    const char *same[] = {drum_bin,   "train", cfg2, "--set", "train.candidates_k=19", "--set",
                          "train.exclude_same_image=true", "--check", NULL};
    fails_before_lvlm("candidates_k and a query's image above a task's pool", same,
                      "task 'cls': ", "needs 21 (mining's train.candidates_k = 19, the query "
                      "itself and up to 1 more showing its image (train.exclude_same_image))",
                      "check passed", drafts);
    const char *room[] = {drum_bin, "train", cfg2, "--set", "train.candidates_k=19", "--check",
                          NULL};
    CHECK(run_drum(log, room, 0, NULL, 0) == 0, "candidates_k 19 fits the mini pool's tasks");
    /* evaluated on the pool's own file, each query leaves itself out: 20 shots need 21 of
     * the 20 cls examples (found once the images are read); on held-out queries they fit */
    char pool_train[340], pool_eval[340];
    snprintf(pool_train, sizeof pool_train, "data.train=%s/data/train.jsonl", tmp);
    snprintf(pool_eval, sizeof pool_eval, "data.eval=%s/data/train.jsonl", tmp);
    const char *self_room[] = {drum_bin,  "eval",    cfg2,  "--set",           pool_train,
                               "--set",   pool_eval, "--set", "eval.shots=[20]", "--check",
                               NULL};
    fails_before_lvlm("shots above a task's pool less the query itself", self_room,
                      "task 'cls': ",
                      "needs 21 (eval.shots up to 20, and NDCG@10's top 10, and the query itself, "
                      "a pool example)",
                      "check passed", drafts);
    /* and with eval.exclude_same_image, up to 2 more showing the query's image: 18 shots
     * need 21 (the check asked 20, and retrieval then failed after the drafts, or under drum
     * train after a whole round; found by an audit); 17 fit, and a real eval runs */
    const char *self_same[] = {drum_bin,          "eval",    cfg2,  "--set", pool_train,
                               "--set",           pool_eval, "--set", "eval.shots=[18]",
                               "--set",           "eval.exclude_same_image=true", "--check",
                               NULL};
    fails_before_lvlm("shots above a task's pool less the query and its image's examples",
                      self_same, "task 'cls': ",
                      "needs 21 (eval.shots up to 18, and NDCG@10's top 10, and up to 2 examples "
                      "showing the query's image (eval.exclude_same_image), and the query itself, "
                      "a pool example)",
                      "check passed", drafts);
    char self_out[340];
    snprintf(self_out, sizeof self_out, "train.out=%s/run_self_same", tmp);
    const char *self_fits[] = {drum_bin, "eval", cfg2, "--set", pool_train, "--set", pool_eval,
                               "--set", "eval.shots=[17]", "--set",
                               "eval.exclude_same_image=true", "--set", "eval.strategies=[SIT]",
                               "--set", self_out, NULL};
    int self_rc = run_drum(log, self_fits, 0, NULL, 0);
    char *self_text = test_slurp(log);
    CHECK(self_rc == 0, "17 shots with eval.exclude_same_image over the pool's own file: exit %d, "
          "%s", self_rc, self_text ? self_text : "");
    free(self_text);
    const char *held_out[] = {drum_bin, "eval", cfg2, "--set", "eval.shots=[20]", "--check",
                              NULL};
    CHECK(run_drum(log, held_out, 0, NULL, 0) == 0, "20 shots fit the mini pool's tasks");
    write_data_config(cfg2, not_images, not_images, no_ckpt); /* the next check's data again */
    const char *chk[] = {drum_bin, "eval", cfg2, "--check", NULL};
    fails_before_lvlm("--check over an image that does not decode", chk, "not_images.jsonl:2: ",
                      NULL, "check passed", drafts);
}

/* drum_job_open checks what the job's parts need, so the parts it was not opened for are
 * refused: a job opened for the baselines (a named retriever, no pre-training) cannot train
 * or mine, and says so; it can evaluate. */
static void test_job_parts(void) {
    char path[300], out[300], set[400], err[2048] = "";
    snprintf(path, sizeof path, "%s/parts.yaml", tmp);
    snprintf(out, sizeof out, "%s/run_parts", tmp);
    snprintf(set, sizeof set, "model.checkpoint=%s/run_a/round2/model.safetensors", tmp);
    test_write_mini_config(path, tmp, out, "");
    drum_job_config cfg;
    drum_job *j = NULL;
    int rc = drum_job_config_init(&cfg, err, sizeof err) ||
             drum_cfg_load_file(drum_job_config_schema, &cfg, path, err, sizeof err) ||
             drum_cfg_set(drum_job_config_schema, &cfg, set, err, sizeof err) ||
             drum_job_config_finish(&cfg, err, sizeof err) ||
             drum_job_open(&j, &cfg, DRUM_JOB_BASELINES, NULL, NULL, NULL, NULL, err, sizeof err);
    CHECK(rc == 0, "a job opened for its baselines: %s", err);
    if (rc == 0) {
        char cands[340];
        snprintf(cands, sizeof cands, "%s/candidates.jsonl", out);
        CHECK(drum_job_train(j, 0, err, sizeof err) == -1 &&
                  strstr(err, "drum_job_train: the job was not opened for it"),
              "training a job opened for its baselines: %s", err);
        CHECK(drum_job_mine(j, cands, err, sizeof err) == -1 &&
                  strstr(err, "drum_job_mine: the job was not opened for it") &&
                  !drum_file_exists(cands),
              "mining a job opened for its baselines: %s", err);
        CHECK(drum_job_baselines(j, err, sizeof err) == 0, "its baselines: %s", err);
    }
    drum_job_close(j);
    drum_job_config_free(&cfg);
}

/* `drum synth` with the opt-in pre-training options: they reach synth.json; bad values are
 * usage errors (exit 2) naming the option. */
static void test_synth_cli(void) {
    char dir[300], log[300], json[320];
    snprintf(dir, sizeof dir, "%s/synth_cli", tmp);
    snprintf(log, sizeof log, "%s/synth_cli.log", tmp);
    snprintf(json, sizeof json, "%s/synth.json", dir);
    const char *a[] = {drum_bin, "synth", dir, "--image-size", "40", "--layout", "grid",
                       "--n-pretrain", "7", "--shape-captions", "0.25", "--classification",
                       "claim", NULL};
    int rc = run_drum(log, a, 0, NULL, 0);
    char *text = test_slurp(json);
    CHECK(rc == 0 && text && strstr(text, "\"image_size\":40") && strstr(text, "\"n_pretrain\":7") &&
              strstr(text, "\"layout\":\"grid\"") && strstr(text, "\"shape_captions\":0.25") &&
              strstr(text, "\"classification\":\"claim\""),
          "drum synth options: exit %d, synth.json %s", rc, text ? text : "(none)");
    free(text);
    const char *bad[][3] = {{"--layout", "hex", "expected free or grid"},
                            {"--shape-captions", "1.5", "--shape-captions"},
                            {"--n-pretrain", "-1", "--n-pretrain"},
                            {"--classification", "colour", "expected claim or shape"}};
    for (int i = 0; i < 4; i++) {
        const char *b[] = {drum_bin, "synth", dir, bad[i][0], bad[i][1], NULL};
        rc = run_drum(log, b, 0, NULL, 0);
        text = test_slurp(log);
        CHECK(rc == 2 && text && strstr(text, bad[i][2]), "drum synth %s %s: exit %d, %s",
              bad[i][0], bad[i][1], rc, text ? text : "");
        free(text);
    }
}

/* Each job command's --help offers only options the command takes: every "--name" in it,
 * given to the command (with a value after it, for those that take one), is not an
 * "unknown option" (eval and mine once offered --resume in --check's text). */
/* Command lines that are wrong in ways an option parser can let through: each exits 2 (1 for
 * a config error), never crashes, and says what is wrong. */
static void test_cli_arguments(void) {
    char log[300], cfg[256], q[300];
    snprintf(log, sizeof log, "%s/cli.log", tmp);
    snprintf(cfg, sizeof cfg, "%s/a.yaml", tmp);
    snprintf(q, sizeof q, "%s/none.emb", tmp);
    static const char *const empty_out = "train.out=";
    struct {
        const char *args[12];
        int rc;
        const char *says;
    } cases[] = {
        /* a value option last: it used to parse an uninitialised pointer (SIGSEGV) */
        {{"retrieve", "--queries", q, "--pool", q, "--out", q, "--w-image"}, 2,
         "--w-image needs a value"},
        {{"retrieve", "--queries", q, "--pool", q, "--out", q, "--w-text", "nan"}, 2,
         "--w-text: expected a number in [0, 1000], got 'nan'"},
        {{"retrieve", "--queries", q, "--pool", q, "--out", q, "--w-image", "1e50"}, 2,
         "expected a number in [0, 1000]"},
        {{"retrieve", "--queries", q, "--pool", q, "--out", q, "--w-image", "0", "--w-text", "0"},
         2, "may not both be 0"},
        {{"retrieve", "--queries", q, "--queries", q}, 2, "--queries is given twice"},
        {{"train", cfg, "tools/x.py", "--check"}, 2, "one CONFIG expected, got"},
        {{"mine", cfg, "--out"}, 2, "--out needs a value"},
        {{"mine", cfg, "--out", "a", "--out", "b"}, 2, "--out is given twice"},
        {{"synth", "d1", "d2"}, 2, "one DIR expected, got 'd1' and 'd2'"},
        {{"synth", "d1", "--seed", "18446744073709551616"}, 2,
         "--seed: expected an integer in [0, 18446744073709551615]"},
        {{"synth", "d1", "--seed", " -1"}, 2, /* strtoull would wrap it past the sign check */
         "--seed: expected an integer in [0, 18446744073709551615], got ' -1'"},
        {{"convert", "hateful-memes", "--jsonl", q, "--images", q, "--out", q, "--prompt", "A"}, 2,
         "--prompt is not an option of this format"},
        {{"convert", "karpathy", "--karpathy", q, "--images", q, "--split", "test", "--out", q,
          "--image-pattern", "{id}"}, 2, "--image-pattern is not an option of this format"},
        {{"embed", "--data", q, "--model", q, "--out", q, "--text", "nothing"}, 2,
         "--text 'nothing': no placeholder; expected a template using {P}, {R} or {D}"},
        {{"train", cfg, "--set", empty_out, "--check"}, 1, "expected a directory (it is empty)"},
        {{"train", cfg, "--set", "seed=1\n---\nother: 2", "--check"}, 1,
         "a second YAML document; expected one value"},
        {{"backends", "--bogus"}, 2, "unexpected argument '--bogus'"},
        /* a config that cannot be read says why (it said "read error") */
        {{"train", tmp, "--check"}, 1, ": cannot read: Is a directory"},
        {{"retrieve", "--queries", tmp, "--pool", tmp, "--out", q, "--k", "2"}, 1,
         ": cannot read the magic at byte 0: Is a directory"}, /* not "truncated" */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *argv[14] = {drum_bin};
        for (int a = 0; a < 12 && cases[i].args[a]; a++) argv[a + 1] = cases[i].args[a];
        int rc = run_drum(log, argv, 0, NULL, 0);
        char *text = test_slurp(log);
        CHECK(rc == cases[i].rc && text && strstr(text, cases[i].says),
              "drum %s ... (case %zu): exit %d (want %d), '%s' wanted in: %s", cases[i].args[0],
              i, rc, cases[i].rc, cases[i].says, text ? text : "(no log)");
        free(text);
    }
    /* --check fails where the run would: DRUM_COMM is read only when the ranks open */
    setenv("DRUM_COMM", "mpl", 1);
    const char *c[] = {drum_bin, "train", cfg, "--check", NULL};
    int rc = run_drum(log, c, 0, NULL, 0);
    unsetenv("DRUM_COMM");
    char *text = test_slurp(log);
    CHECK(rc == 1 && text && strstr(text, "DRUM_COMM=mpl: expected mpi, nccl or single"),
          "--check under DRUM_COMM=mpl: exit %d, %s", rc, text ? text : "");
    free(text);
    /* what drum prints must reach its reader: standard output on a full disk is an error */
    static const char *const to_full[] = {"--version", "train -h"};
    for (size_t k = 0; k < sizeof to_full / sizeof to_full[0]; k++) {
        char cmd[2 * PATH_MAX];
        snprintf(cmd, sizeof cmd, "'%s' %s >/dev/full 2>'%s'", drum_bin, to_full[k], log);
        int st = system(cmd);
        text = test_slurp(log);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1 && text &&
                  strstr(text, "drum: writing standard output: No space left on device"),
              "drum %s > /dev/full: exit %d, %s", to_full[k], WIFEXITED(st) ? WEXITSTATUS(st) : -1,
              text ? text : "");
        free(text);
    }
    /* -h is --help for every command */
    static const char *const cmds[] = {"synth", "embed", "retrieve", "export", "convert",
                                       "backends", "train"};
    for (size_t k = 0; k < sizeof cmds / sizeof cmds[0]; k++) {
        const char *h[] = {drum_bin, cmds[k], "-h", NULL};
        rc = run_drum(log, h, 0, NULL, 0);
        text = test_slurp(log);
        CHECK(rc == 0 && text && strstr(text, "usage: drum"), "drum %s -h: exit %d, %s", cmds[k],
              rc, text ? text : "");
        free(text);
    }
}

static void test_job_help(void) {
    static const char *const cmds[] = {"demo", "train", "eval", "mine"};
    char log[300], opt[64];
    snprintf(log, sizeof log, "%s/help.log", tmp);
    for (int c = 0; c < 4; c++) {
        const char *h[] = {drum_bin, cmds[c], "--help", NULL};
        int rc = run_drum(log, h, 0, NULL, 0), named = 0;
        char *help = test_slurp(log);
        CHECK(rc == 0 && help, "drum %s --help: exit %d", cmds[c], rc);
        for (const char *p = help ? strstr(help, " --") : NULL; p; p = strstr(p + 1, " --")) {
            size_t n = strspn(p + 1, "-abcdefghijklmnopqrstuvwxyz");
            snprintf(opt, sizeof opt, "%.*s", (int)n, p + 1);
            if (strcmp(opt, "--help") == 0) continue;
            const char *a[] = {drum_bin, cmds[c], "/nonexistent.yaml", opt, "x=y", NULL};
            run_drum(log, a, 0, NULL, 0);
            char *text = test_slurp(log), want[96];
            snprintf(want, sizeof want, "unknown option '%s'", opt);
            CHECK(text && !strstr(text, want), "drum %s --help offers %s, which it refuses: %s",
                  cmds[c], opt, text ? text : "");
            free(text);
            named++;
        }
        CHECK(named >= 3, "drum %s --help names %d options", cmds[c], named);
        free(help);
    }
}

/* An exec job's config: the stand-in LVLM lvlm run with `options`, eval.classify `classify`,
 * over a suite of n_train examples in tmp/<data> (another count needs another directory),
 * mining `candidates` and scoring `scored` of them. */
static void write_exec_config_sized(const char *path, const char *out, const char *lvlm,
                                    const char *options, const char *classify, const char *data,
                                    int n_train, int candidates, int scored) {
    FILE *f = fopen(path, "w");
    if (!f) return;
    fprintf(f,
            "seed: 5\n"
            "data: {dir: %s/%s}\n"
            "synth: {n_train: %d, n_eval: 45, image_size: 32, seed: 3}\n"
            "model:\n  pretrain: {epochs: 1, batch: 32}\n"
            "train: {rounds: 1, candidates_k: %d, scored_per_round: %d, epochs: 1,\n"
            "        batch_queries: 8, list_size: 6, out: %s}\n"
            "scorer: {backend: exec, command: \"python3 '%s' --id stand-in %s\"}\n"
            "eval: {shots: [1], strategies: [RS, SIT, DRUM], classify: %s}\n",
            tmp, data, n_train, candidates, scored, out, lvlm, options, classify);
    fclose(f);
}

/* The exec job's usual config: tmp/data's 100 examples, 8 candidates, 4 scored. */
static void write_exec_config(const char *path, const char *out, const char *lvlm,
                              const char *options, const char *classify) {
    write_exec_config_sized(path, out, lvlm, options, classify, "data", 100, 8, 4);
}

/* A whole `drum train` (drafts, baselines, one mining round, evaluation) with the `exec`
 * scorer and tests/fixtures/exec_lvlm.py as the LVLM; NDCG@10 is not computed for it. */
static void test_exec_scorer_job(void) {
    if (system("command -v python3 >/dev/null 2>&1") != 0) {
        SKIP("exec scorer job: python3 is not on PATH");
        return;
    }
    char cfg[300], out[300], log[300], results[320], lvlm[PATH_MAX + 64];
    snprintf(cfg, sizeof cfg, "%s/exec.yaml", tmp);
    snprintf(out, sizeof out, "%s/run_exec", tmp);
    snprintf(log, sizeof log, "%s/exec.log", tmp);
    snprintf(results, sizeof results, "%s/results.jsonl", out);
    stand_in(lvlm, sizeof lvlm);
    write_exec_config(cfg, out, lvlm, "", "generate");
    /* --check first: the LVLM's hello alone, nothing written; it counts 145 drafts (45 queries
     * and the 100 pool examples), 45 k-shot prompts (1 round x 1 shot) and 400 scores (100 x
     * 4), and the run then asks exactly the drafts and prompts (answers.jsonl's lines) */
    const char *chk[] = {drum_bin, "train", cfg, "--check", NULL};
    int rc = run_drum(log, chk, 0, NULL, 0);
    char *text = test_slurp(log);
    CHECK(rc == 0 && text && strstr(text, "asked at most 590 prompts") &&
              strstr(text, "zero-shot drafts  145 ") && strstr(text, "k-shot prompts    45 ") &&
              strstr(text, "pair scores       400 ") && strstr(text, "check passed") &&
              strstr(text, "images: pool 100 examples over ") &&
              strstr(text, " files, queries 45 over ") &&
              strstr(text, "at most 2 pool examples show one image") &&
              strstr(text, "the job pre-trains one (1 epoch on ") && !drum_file_exists(out),
          "drum train --check: exit %d, %s written, %s", rc, drum_file_exists(out) ? out : "nothing",
          text ? text : "");
    free(text);
    const char *a[] = {drum_bin, "train", cfg, NULL};
    rc = run_drum(log, a, 0, NULL, 0);
    char answers[340];
    snprintf(answers, sizeof answers, "%s/answers.jsonl", out);
    CHECK(test_count_lines(answers) == 145 + 45, "the run asked %ld drafts and prompts, the "
          "check counted 190", test_count_lines(answers));
    /* after the run, --check reads the clip0/ it pre-trained, and asks nothing */
    char check_log[320];
    snprintf(check_log, sizeof check_log, "%s/exec_check.log", tmp);
    int rc2 = run_drum(check_log, chk, 0, NULL, 0);
    char *again = test_slurp(check_log);
    CHECK(rc2 == 0 && again && strstr(again, "clip0/model.safetensors (pre-trained by an earlier") &&
              strstr(again, "check passed") && test_count_lines(answers) == 190,
          "--check after the run: exit %d, %ld answers, %s", rc2, test_count_lines(answers),
          again ? again : "");
    free(again);
    /* --resume --check compares the settings with the checkpoint's run, as the resume would */
    const char *same[] = {drum_bin, "train", cfg, "--resume", "--check", NULL};
    const char *other[] = {drum_bin, "train",        cfg,       "--resume",
                           "--check", "--set", "train.lr=0.002", NULL};
    int rc_same = run_drum(check_log, same, 0, NULL, 0);
    again = test_slurp(check_log);
    CHECK(rc_same == 0 && again && strstr(again, "--resume: the settings match"),
          "--resume --check with the run's settings: exit %d, %s", rc_same, again ? again : "");
    free(again);
    int rc_other = run_drum(check_log, other, 0, NULL, 0);
    again = test_slurp(check_log);
    CHECK(rc_other == 1 && again && strstr(again, "train.lr: ") && strstr(again, "differs") &&
              !strstr(again, "check passed"),
          "--resume --check with another lr: exit %d, %s", rc_other, again ? again : "");
    free(again);
    text = test_slurp(log);
    char *res = test_slurp(results);
    CHECK(rc == 0, "drum train with the exec scorer: exit %d: %s", rc, text ? text : "");
    CHECK(text && strstr(text, "scorer: exec:stand-in"), "the log does not name the scorer");
    CHECK(res && strstr(res, "\"strategy\": \"DRUM\"") && strstr(res, "\"ndcg@10\": null") &&
              !strstr(res, "p_correct"),
          "results.jsonl: a DRUM row, a null NDCG and no p_correct expected: %s", res ? res : "(none)");
    free(text);
    free(res);
    /* drum eval keeps out of the run's directory; in another, reading the run's answer
     * cache (scorer.answers, what the refusal suggests), its SIT over round 1's retriever
     * asks the LVLM nothing: the drafts and the prompts are those DRUM r1's evaluation asked;
     * and so with a copy of the run's answers.jsonl in its own directory */
    char ev_out[320], ev_answers[340], set_out[340], set_model[360], ev_log[320];
    char set_answers[360], want[480];
    snprintf(ev_out, sizeof ev_out, "%s/run_exec_eval", tmp);
    snprintf(ev_answers, sizeof ev_answers, "%s/answers.jsonl", ev_out);
    snprintf(set_out, sizeof set_out, "train.out=%s", ev_out);
    snprintf(set_model, sizeof set_model, "model.checkpoint=%s/round1/model.safetensors", out);
    snprintf(set_answers, sizeof set_answers, "scorer.answers=%s", answers);
    snprintf(ev_log, sizeof ev_log, "%s/exec_eval.log", tmp);
    const char *ev[] = {drum_bin, "eval", cfg, "--set", set_model, "--set",
                        "eval.strategies=[SIT]", NULL, NULL, NULL, NULL, NULL};
    rc = run_drum(ev_log, ev, 0, NULL, 0);
    text = test_slurp(ev_log);
    snprintf(want, sizeof want, "scorer.answers: %s/answers.jsonl reuses the LVLM's answers",
             out);
    CHECK(rc == 1 && text && strstr(text, want),
          "drum eval in the training run's directory: exit %d, %s", rc, text ? text : "");
    free(text);
    ev[7] = "--set";
    ev[8] = set_out;
    ev[9] = "--set";
    ev[10] = set_answers;
    rc = run_drum(ev_log, ev, 0, NULL, 0);
    text = test_slurp(ev_log);
    snprintf(want, sizeof want, "answers: 45 prompts from %s, 0 asked", answers); /* 1-shot */
    CHECK(rc == 0 && text && strstr(text, want) && test_count_lines(answers) == 190 &&
              !drum_file_exists(ev_answers),
          "drum eval with scorer.answers the run's: exit %d, %ld answers there (the run's 190; "
          "more means the LVLM was asked again), %s: %s", rc, test_count_lines(answers),
          drum_file_exists(ev_answers) ? "a file of its own" : "none of its own",
          text ? text : "");
    free(text);
    char ev_config[340];
    snprintf(ev_config, sizeof ev_config, "%s/config.yaml", ev_out);
    text = test_slurp(ev_config);
    snprintf(want, sizeof want, "answers: \"%s\"", answers);
    CHECK(text && strstr(text, want), "%s does not record scorer.answers %s", ev_config, answers);
    free(text);
    ev[9] = NULL;
    CHECK(copy_file(answers, ev_answers) == 0, "copying %s", answers);
    rc = run_drum(ev_log, ev, 0, NULL, 0);
    CHECK(rc == 0 && test_count_lines(ev_answers) == 190,
          "drum eval with the run's answers copied: exit %d, %ld answers (the run's 190; more "
          "means the LVLM was asked again)", rc, test_count_lines(ev_answers));
    /* that evaluation replaced the first one's results, and said so; so would drum train */
    text = test_slurp(ev_log);
    snprintf(want, sizeof want, "%s/results.jsonl holds the results of an earlier `drum eval`, "
             "which this job replaces", ev_out);
    CHECK(text && strstr(text, want), "drum eval over an evaluation: no note: %s",
          text ? text : "");
    free(text);
    const char *tr[] = {drum_bin, "train", cfg, "--set", set_out, "--check", NULL};
    rc = run_drum(ev_log, tr, 0, NULL, 0);
    text = test_slurp(ev_log);
    CHECK(rc == 0 && text && strstr(text, want), "drum train --check over an evaluation: exit "
          "%d, %s", rc, text ? text : "");
    free(text);
    /* an LVLM whose hello lists only generate: drum train, which mines, is refused before a
     * draft is asked; drum eval --check, which needs no scores, passes; and an evaluation
     * that ranks classification's class names is refused for want of rank */
    char fresh[320], drafts[340];
    snprintf(fresh, sizeof fresh, "%s/run_exec_ops", tmp);
    snprintf(drafts, sizeof drafts, "%s/drafts.jsonl", fresh);
    write_exec_config(cfg, fresh, lvlm, "--ops generate", "generate");
    fails_before_lvlm("an LVLM that does not score, for drum train", a,
                      "scorer exec:stand-in serves only [generate] (the ops of its hello), but "
                      "this job asks it to score: mining's pair scores", NULL, NULL, drafts);
    const char *eval_chk[] = {drum_bin, "eval", cfg, "--check", NULL};
    rc = run_drum(log, eval_chk, 0, NULL, 0);
    text = test_slurp(log);
    CHECK(rc == 0 && text && strstr(text, "check passed") &&
              strstr(text, "scorer: exec:stand-in, serving only [generate] (no NDCG@10"),
          "drum eval --check with a generate-only LVLM: exit %d, %s", rc, text ? text : "");
    free(text);
    write_exec_config(cfg, fresh, lvlm, "--ops score,generate", "rank");
    const char *eval_run[] = {drum_bin, "eval", cfg, NULL};
    fails_before_lvlm("an LVLM that does not rank, for classify: rank", eval_run,
                      "serves only [score, generate] (the ops of its hello), but this job asks "
                      "it to rank: ranked answers", NULL, NULL, drafts);
    /* backend exec without a command */
    FILE *f = fopen(cfg, "w");
    fprintf(f,
            "data: {dir: %s/data}\nsynth: {n_train: 100, n_eval: 45, image_size: 32, seed: 3}\n"
            "scorer: {backend: exec}\ntrain: {out: %s}\n",
            tmp, out);
    fclose(f);
    rc = run_drum(log, a, 0, NULL, 0);
    text = test_slurp(log);
    CHECK(rc == 1 && text && strstr(text, "scorer.command"), "exec without a command: exit %d, %s",
          rc, text ? text : "");
    free(text);
}

/* The ids in a JSONL file's lines that hold `where` (NULL: every line), each line's first
 * "<key>": "<id>", joined by spaces in file order; malloc'd, or NULL. */
static char *ids_of(const char *path, const char *key, const char *where) {
    char *text = test_slurp(path), *out = text ? calloc(strlen(text) + 1, 1) : NULL, pat[64];
    snprintf(pat, sizeof pat, "\"%s\": \"", key);
    for (char *line = text; out && line && *line;) {
        char *end = strchr(line, '\n');
        if (end) *end = '\0';
        char *at = strstr(line, pat);
        if (at && (!where || strstr(line, where))) {
            at += strlen(pat);
            strncat(out, at, strcspn(at, "\""));
            strcat(out, " ");
        }
        line = end ? end + 1 : NULL;
    }
    free(text);
    return out;
}

/* The pool example of id `id` (length len), or NULL. */
static const drum_example *pool_example(const drum_dataset *pool, const char *id, size_t len) {
    for (int i = 0; i < pool->n; i++)
        if (strlen(pool->ex[i].id) == len && strncmp(pool->ex[i].id, id, len) == 0)
            return &pool->ex[i];
    return NULL;
}

/* Counts answers.jsonl's k-shot prompts (those with demonstrations) in *prompts, those whose
 * query is one of its own demonstrations (the same id) in *self, and the demonstrations whose
 * image file holds the same bytes as their query's (a query of the pool's) in *same_image.
 * -1 when a file is unreadable. */
static int own_demonstrations(const char *answers, const drum_dataset *pool, int *prompts,
                              int *self, int *same_image) {
    char *text = test_slurp(answers);
    if (!text) return -1;
    const char *sep = "\\u001f", *dsep = "\\u001e";
    *prompts = *self = *same_image = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char *f = strstr(line, "\"k\":\"generate");
        for (int field = 0; f && field < 3; field++) { /* past op, scorer and template */
            f = strstr(f, sep);
            if (f) f += strlen(sep);
        }
        char *demos = f ? strstr(f, sep) : NULL;
        char *end = demos ? strchr(demos, '"') : NULL;
        if (!end || end == demos + strlen(sep)) continue; /* none: a zero-shot draft */
        size_t qlen = strcspn(f, "#");
        const drum_example *qe = pool_example(pool, f, qlen);
        (*prompts)++;
        for (char *d = demos + strlen(sep); d && d < end;) {
            size_t dlen = strcspn(d, "#");
            const drum_example *de = pool_example(pool, d, dlen);
            *self += dlen == qlen && strncmp(d, f, qlen) == 0;
            *same_image += qe && de && test_same_file(qe->image, de->image);
            d = strstr(d, dsep);
            if (d) d += strlen(dsep);
        }
    }
    free(text);
    return 0;
}

/* data.eval naming the pool's own file: every query is a pool example, left out of its own
 * retrieval (without that, SIT's first demonstration would be the query, answer and all), and
 * the log says so, and that the 60 VQA queries also share their pictures with other pool
 * examples, which their demonstrations then show; with eval.exclude_same_image none does. An
 * eval file of the same examples under other ids is not the pool's: the log notes that all 100
 * show an image of the pool, and have a pool example's prompt and image under another id. A copy of the pool's file in a subdirectory, naming the same
 * images as "../images/...", holds the pool's examples all the same (matched by the images'
 * bytes, not their paths). */
static void test_eval_on_pool(void) {
    if (system("command -v python3 >/dev/null 2>&1") != 0) {
        SKIP("evaluation on the pool: python3 is not on PATH");
        return;
    }
    char cfg[300], out[300], log[300], lvlm[PATH_MAX + 64], pool[300], renamed[300], moved[300];
    char set_train[340], set_eval[340], set_ckpt[340], answers[340], err[256];
    snprintf(cfg, sizeof cfg, "%s/on_pool.yaml", tmp);
    snprintf(pool, sizeof pool, "%s/data/train.jsonl", tmp);
    snprintf(renamed, sizeof renamed, "%s/data/renamed.jsonl", tmp);
    snprintf(moved, sizeof moved, "%s/data/moved/train.jsonl", tmp);
    snprintf(set_train, sizeof set_train, "data.train=%s", pool);
    snprintf(set_ckpt, sizeof set_ckpt, "model.checkpoint=%s/run_exec/clip0/model.safetensors",
             tmp);
    stand_in(lvlm, sizeof lvlm);
    drum_dataset pool_ds;
    if (drum_dataset_load(&pool_ds, pool, err, sizeof err)) {
        CHECK(0, "evaluation on the pool: %s", err);
        return;
    }
    /* the pool; renamed; the pool with eval.exclude_same_image; moved */
    for (int c = 0; c < 4; c++) {
        snprintf(out, sizeof out, "%s/run_on_pool%d", tmp, c);
        snprintf(log, sizeof log, "%s/on_pool%d.log", tmp, c);
        snprintf(answers, sizeof answers, "%s/answers.jsonl", out);
        snprintf(set_eval, sizeof set_eval, "data.eval=%s",
                 c == 1 ? renamed : c == 3 ? moved : pool);
        if (c == 1 || c == 3) { /* the pool's lines, ids prefixed with "x" or images with "../" */
            const char *key = c == 1 ? "\"id\":\"" : "\"image\":\"";
            char *text = test_slurp(pool), dir[300];
            snprintf(dir, sizeof dir, "%s/data/moved", tmp);
            FILE *f = c == 1 || mkdir(dir, 0700) == 0 ? fopen(c == 1 ? renamed : moved, "w")
                                                      : NULL;
            const char *at = text;
            for (const char *hit; f && at && (hit = strstr(at, key)); at = hit + strlen(key))
                fprintf(f, "%.*s%s%s", (int)(hit - at), at, key, c == 1 ? "x" : "../");
            if (f && at) fputs(at, f);
            if (f) fclose(f);
            free(text);
        }
        write_exec_config(cfg, out, lvlm, "", "generate");
        const char *a[] = {drum_bin, "eval", cfg, "--set", set_train, "--set", set_eval, "--set",
                           set_ckpt, "--set", "eval.strategies=[SIT]", "--set",
                           "eval.shots=[2]", "--set",
                           c == 2 ? "eval.exclude_same_image=true" : "seed=5", NULL};
        int rc = run_drum(log, a, 0, NULL, 0);
        char *text = test_slurp(log);
        int prompts = 0, self = -1, same = -1;
        own_demonstrations(answers, &pool_ds, &prompts, &self, &same);
        CHECK(rc == 0 && text && prompts == 100 && self == 0 &&
                  (c == 0 || c == 3 ? same > 0 : same == 0) &&
                  (c == 1 ? !strstr(text, "are examples of the pool") &&
                                strstr(text, "have the prompt and image bytes of an example "
                                             "of the pool ") &&
                                strstr(text, "under another id (the first at line 1, id "
                                             "xtrain-")
                          : strstr(text, "data: 100 of the 100 queries in ") &&
                                strstr(text, "are examples of the pool ") &&
                                !strstr(text, "under another id")) &&
                  strstr(text, c == 1 ? "data: 100 of the 100 queries in "
                                      : "data: 60 of the 100 queries in ") &&
                  strstr(text, "show an image that another example of the pool") &&
                  strstr(text, c == 2 ? "eval.exclude_same_image leaves those out"
                                      : "can show their own picture"),
              "drum eval on %s: exit %d, %d k-shot prompts, %d with the query among its "
              "demonstrations, %d demonstrations showing its image; %s",
              c == 1   ? "the pool's examples under other ids"
              : c == 2 ? "the pool, eval.exclude_same_image"
              : c == 3 ? "a copy of the pool's file naming its images by other paths"
                       : "the pool itself",
              rc, prompts, self, same, text ? text : "");
        free(text);
    }
    drum_dataset_free(&pool_ds);
}

/* Of candidates.jsonl's entries (*all), those whose demonstration's image file holds the
 * same bytes as its query's (the pool: the exec job's data/train.jsonl); -1 on a bad file. */
static long same_image_candidates(const char *cands, long *all) {
    char pool_path[300];
    snprintf(pool_path, sizeof pool_path, "%s/data/train.jsonl", tmp);
    drum_dataset pool;
    char err[256], *text = test_slurp(cands);
    if (!text || drum_dataset_load(&pool, pool_path, err, sizeof err)) {
        free(text);
        return -1;
    }
    long same = 0;
    *all = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *o = cJSON_Parse(line);
        const cJSON *q = cJSON_GetObjectItemCaseSensitive(o, "query"), *c;
        const drum_example *qe =
            cJSON_IsString(q) ? pool_example(&pool, q->valuestring, strlen(q->valuestring)) : NULL;
        cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(o, "candidates")) {
            const cJSON *d = cJSON_GetObjectItemCaseSensitive(c, "demo");
            const drum_example *de =
                cJSON_IsString(d) ? pool_example(&pool, d->valuestring, strlen(d->valuestring))
                                  : NULL;
            same += qe && de && test_same_file(qe->image, de->image);
            (*all)++;
        }
        cJSON_Delete(o);
    }
    free(text);
    drum_dataset_free(&pool);
    return same;
}

/* Padding slots come from the query's own family, never the query, and with digests never
 * its image, however small a share of the pool the family is: 3,000 draws for a query of a
 * family of 50 in a pool of 100,000 (the rejection draws miss and the fallback picks), and
 * of a family of half the pool (the rejection draws hit); each eligible member is drawn. */
static void test_pad_example(void) {
    const int n = 100000;
    int *groups = malloc(n * sizeof(int)), *hits = calloc(n, sizeof(int));
    uint64_t *digests = malloc(n * sizeof(uint64_t));
    for (int i = 0; groups && digests && i < n; i++) {
        groups[i] = i % 2000 == 7 ? 1 : i < n / 2 ? 0 : 2; /* 1: 50 members, 7 + 2000 j */
        digests[i] = (uint64_t)i;
    }
    if (!groups || !hits || !digests) return;
    digests[2007] = digests[7]; /* two questions of one image */
    const int tests[][2] = {{7, 1}, {10, 0}}; /* query, family */
    for (int t = 0; t < 2; t++) {
        int qi = tests[t][0], fam = tests[t][1], bad = 0, eligible = 0, seen = 0;
        drum_rng r;
        drum_rng_seed(&r, 99, (uint64_t)qi);
        memset(hits, 0, n * sizeof(int));
        for (int k = 0; k < 3000; k++) {
            int d = drum_pad_example(n, groups, digests, qi, &r);
            if (d < 0 || d >= n || d == qi || groups[d] != fam || digests[d] == digests[qi]) bad++;
            else hits[d]++;
        }
        for (int d = 0; d < n; d++)
            if (groups[d] == fam && d != qi && digests[d] != digests[qi]) {
                eligible++;
                seen += hits[d] > 0;
            }
        CHECK(bad == 0 && (fam != 1 || (eligible == 48 && seen == 48)) &&
                  (fam != 0 || seen > 2800),
              "padding for query %d (family of %d eligible): %d bad draws, %d members drawn", qi,
              eligible, bad, seen);
    }
    /* no eligible example: -1 */
    drum_rng r;
    drum_rng_seed(&r, 1, 1);
    int lone[3] = {0, 1, 1};
    CHECK(drum_pad_example(3, lone, NULL, 0, &r) == -1, "a family of one pads with nothing");
    free(groups);
    free(hits);
    free(digests);
}

/* A run of more evaluations than the 256 rows results.jsonl once held: 21 shot counts of 5
 * baselines and 8 DRUM rounds, 273 rows (the old table refused the 257th after round 7's
 * training, "more than 256 evaluations in one run"); every row and round reaches
 * results.jsonl and results.md. */
static void test_many_evaluations(void) {
    run_paths r;
    char results[300], md[300];
    new_run(&r, "many");
    snprintf(results, sizeof results, "%s/results.jsonl", r.out);
    snprintf(md, sizeof md, "%s/results.md", r.out);
    const char *a[] = {drum_bin, "demo", r.cfg, "--set", "train.rounds=8", "--set",
                       "train.queries=8", "--set", "train.checkpoint_every=0", "--set",
                       "eval.shots=[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20]",
                       "--set", "eval.strategies=[RS,FIXED,SI,ST,SIT,DRUM]", NULL};
    int rc = run_drum(r.log, a, 0, NULL, 0);
    char *text = test_slurp(results), *table = test_slurp(md);
    int rows = 0, rounds = 0;
    for (const char *p = text; p && (p = strstr(p, "\"shots\": ")); p++) rows++;
    for (const char *p = text; p && (p = strstr(p, "\"ndcg_round\": ")); p++) rounds++;
    CHECK(rc == 0 && rows == 273 && rounds == 9, "273 evaluations, 9 NDCG rounds: exit %d, %d "
          "rows, %d rounds (%s)", rc, rows, rounds, r.log);
    CHECK(table && strstr(table, "| DRUM r8 | ") && strstr(table, "| 8 | "),
          "results.md has round 8's row and NDCG line");
    free(text);
    free(table);
}

/* train.queries: drum_sample_queries marks exactly that many examples, the same ones for a
 * seed (others for another), and every example (no mask) for 0 or the whole pool;
 * `drum mine --set train.queries=30` over the exec job's 100 pool examples drafts those 30
 * alone and writes their 30 candidate lists, of the same ids, as its --check counted. */
static void test_sampled_queries(void) {
    unsigned char *a = NULL, *b = NULL, *c = NULL;
    char err[512] = "";
    int na = 0, same = 1, differ = 0;
    int sa = drum_sample_queries(100, 30, 5, &a, err, sizeof err);
    int sb = drum_sample_queries(100, 30, 5, &b, err, sizeof err);
    int sc = drum_sample_queries(100, 30, 6, &c, err, sizeof err);
    for (int i = 0; a && b && c && i < 100; i++) {
        na += a[i];
        same &= a[i] == b[i];
        differ |= a[i] != c[i];
    }
    CHECK(sa == 0 && sb == 0 && sc == 0 && na == 30 && same && differ,
          "drum_sample_queries: %d marked, same seed %s, another seed %s (%s)", na,
          same ? "same" : "differs", differ ? "differs" : "same", err);
    free(a);
    free(b);
    free(c);
    /* every example a query: no mask (a stale pointer is overwritten) */
    unsigned char stale, *none = &stale, *whole = &stale;
    int s0 = drum_sample_queries(100, 0, 5, &none, err, sizeof err);
    int s100 = drum_sample_queries(100, 100, 5, &whole, err, sizeof err);
    CHECK(s0 == 0 && !none && s100 == 0 && !whole, "0 or the whole pool: every example a query");
    if (system("command -v python3 >/dev/null 2>&1") != 0) {
        SKIP("sampled training queries: python3 is not on PATH");
        return;
    }
    char cfg[300], out[300], log[300], lvlm[PATH_MAX + 64], cands[340], drafts[340];
    snprintf(cfg, sizeof cfg, "%s/sampled.yaml", tmp);
    snprintf(out, sizeof out, "%s/run_sampled", tmp);
    snprintf(log, sizeof log, "%s/sampled.log", tmp);
    snprintf(cands, sizeof cands, "%s/candidates.jsonl", out);
    snprintf(drafts, sizeof drafts, "%s/drafts.jsonl", out);
    stand_in(lvlm, sizeof lvlm);
    write_exec_config(cfg, out, lvlm, "", "generate");
    const char *chk[] = {drum_bin, "mine", cfg, "--set", "train.queries=30", "--check", NULL};
    int rc = run_drum(log, chk, 0, NULL, 0);
    char *text = test_slurp(log);
    CHECK(rc == 0 && text && strstr(text, "zero-shot drafts  75 ") &&
              strstr(text, "pair scores       120 (1 mining round x 30 pool queries"),
          "drum mine --check with 30 training queries: exit %d, %s", rc, text ? text : "");
    free(text);
    const char *mine[] = {drum_bin, "mine", cfg, "--set", "train.queries=30", NULL};
    rc = run_drum(log, mine, 0, NULL, 0);
    char *asked = ids_of(drafts, "id", "\"split\": \"train\""), *mined = ids_of(cands, "query", NULL);
    int n_asked = 0;
    for (const char *p = asked; p && *p; p++) n_asked += *p == ' ';
    CHECK(rc == 0 && asked && mined && n_asked == 30 && strcmp(asked, mined) == 0 &&
              test_count_lines(cands) == 30,
          "drum mine with 30 training queries: exit %d, %d drafted, %ld lists; drafted '%s', "
          "mined '%s'", rc, n_asked, test_count_lines(cands), asked ? asked : "",
          mined ? mined : "");
    free(asked);
    free(mined);
    /* best score first; the stand-in's scores tie often, and equal ones follow the pool's order
     * (its ids ascend in it), not qsort's */
    text = test_slurp(cands);
    int ties = 0, misordered = 0;
    char prev_demo[64] = "", demo[64];
    double prev_score = 0, score;
    for (const char *p = text; p && (p = strstr(p, "{\"demo\": \"")); p++) {
        if (sscanf(p, "{\"demo\": \"%63[^\"]\", \"score\": %lf}", demo, &score) != 2) break;
        int first = p[-1] == '[';
        if (!first && score == prev_score) {
            ties++;
            misordered += strcmp(prev_demo, demo) >= 0;
        }
        misordered += !first && score > prev_score;
        snprintf(prev_demo, sizeof prev_demo, "%s", demo);
        prev_score = score;
    }
    CHECK(ties > 0 && misordered == 0, "candidates.jsonl: %d ties, %d out of order", ties,
          misordered);
    free(text);
    /* the log counts the candidates that show their query's image, as the files say */
    long all = 0, own = same_image_candidates(cands, &all);
    char want[160];
    snprintf(want, sizeof want, "candidates: %ld of %ld (", own, all);
    text = test_slurp(log);
    CHECK(own > 0 && all == 120 && text && strstr(text, want) &&
              strstr(text, "train.exclude_same_image passes over them"),
          "drum mine's log: '%s' expected, %s", want, text ? text : "");
    free(text);
    /* and the trainer scored those queries' pairs alone: 30 x 4 in the score cache */
    char cache_path[340], warn[256] = "";
    snprintf(cache_path, sizeof cache_path, "%s/score_cache.bin", out);
    drum_score_cache *cache = NULL;
    rc = drum_score_cache_open(&cache, cache_path, warn, sizeof warn, err, sizeof err);
    CHECK(rc == 0 && drum_score_cache_count(cache) == 30 * 4,
          "the score cache of 30 sampled queries: %zu pairs (want 120) %s",
          cache ? drum_score_cache_count(cache) : 0, err);
    drum_score_cache_close(cache);
}

/* An evaluation asks the LVLM for the queries' drafts, not the pool's (only training uses the
 * pool as queries). A Ctrl-C during `drum eval` with a slow LVLM (the stand-in, 0.25 s a call)
 * stops it before the LVLM's next batch: exit 3, a message saying how to go on; the LVLM, out
 * of the signalled process group, answers its request in flight. Running the same command
 * again finishes it, asking only what the first run had not asked: its answers.jsonl ends
 * with as many lines as an uninterrupted run's, and its results.jsonl is the same. */
static void test_eval_stop(void) {
    if (system("command -v python3 >/dev/null 2>&1") != 0) {
        SKIP("stopped evaluation: python3 is not on PATH");
        return;
    }
    char lvlm[PATH_MAX + 64];
    stand_in(lvlm, sizeof lvlm);
    const char *names[2] = {"stop_ref", "stop"};
    char cfg[2][300], out[2][300], log[2][300], answers[2][320], results[2][320];
    for (int r = 0; r < 2; r++) {
        snprintf(cfg[r], sizeof cfg[r], "%s/%s.yaml", tmp, names[r]);
        snprintf(out[r], sizeof out[r], "%s/run_%s", tmp, names[r]);
        snprintf(log[r], sizeof log[r], "%s/%s.log", tmp, names[r]);
        snprintf(answers[r], sizeof answers[r], "%s/answers.jsonl", out[r]);
        snprintf(results[r], sizeof results[r], "%s/results.jsonl", out[r]);
        FILE *f = fopen(cfg[r], "w");
        if (!f) continue;
        fprintf(f,
                "seed: 5\n"
                "data: {dir: %s/data}\n"
                "synth: {n_train: 100, n_eval: 45, image_size: 32, seed: 3}\n"
                "model:\n  pretrain: {epochs: 1, batch: 32}\n"
                "train: {out: %s}\n"
                "scorer: {backend: exec, command: \"python3 '%s' --id stand-in --sleep 0.25\"}\n"
                "eval: {shots: [1, 2], strategies: [RS, FIXED, SI, SIT]}\n",
                tmp, out[r], lvlm);
        fclose(f);
    }
    const char *ref[] = {drum_bin, "eval", cfg[0], NULL}, *run[] = {drum_bin, "eval", cfg[1], NULL};
    int rc = run_drum(log[0], ref, 0, NULL, 0);
    CHECK(rc == 0, "the uninterrupted evaluation: exit %d (log %s)", rc, log[0]);
    /* SIGINT 100 ms after the first answers reach answers.jsonl */
    rc = run_drum(log[1], run, SIGINT, answers[1], 100);
    char *text = test_slurp(log[1]);
    CHECK(rc == 3 && text && strstr(text, "stopped") && strstr(text, "run the same command again"),
          "a Ctrl-C during the evaluation: exit %d, %s", rc, text ? text : "");
    free(text);
    char *part = test_slurp(answers[1]), *full = test_slurp(answers[0]);
    /* an evaluation asks for the queries' drafts, never the pool's (train-*) */
    CHECK(full && strstr(full, "plain\\u001feval-") && !strstr(full, "plain\\u001ftrain-"),
          "the evaluation's prompts: queries' drafts %s, the pool's %s",
          full && strstr(full, "plain\\u001feval-") ? "asked" : "missing",
          full && strstr(full, "plain\\u001ftrain-") ? "asked too" : "not asked");
    int lines[3] = {0, 0, 0};
    for (const char *p = part; p && (p = strchr(p, '\n')); p++) lines[0]++;
    for (const char *p = full; p && (p = strchr(p, '\n')); p++) lines[1]++;
    free(part);
    free(full);
    CHECK(lines[0] > 0 && lines[0] < lines[1], "the stopped run kept %d answers of %d", lines[0],
          lines[1]);
    rc = run_drum(log[1], run, 0, NULL, 0);
    CHECK(rc == 0, "the same command again: exit %d (log %s)", rc, log[1]);
    part = test_slurp(answers[1]);
    for (const char *p = part; p && (p = strchr(p, '\n')); p++) lines[2]++;
    free(part);
    CHECK(lines[2] == lines[1] && test_same_file(results[0], results[1]),
          "continued: %d answers (uninterrupted: %d), results.jsonl %s", lines[2], lines[1],
          test_same_file(results[0], results[1]) ? "the same" : "differ");
    /* query texts without {D}: no draft is asked (a draft's key ends with no demonstration) */
    char set_out[340], drafts[360], nd_answers[360];
    snprintf(set_out, sizeof set_out, "train.out=%s_nodraft", out[0]);
    snprintf(nd_answers, sizeof nd_answers, "%s_nodraft/answers.jsonl", out[0]);
    snprintf(drafts, sizeof drafts, "%s_nodraft/drafts.jsonl", out[0]);
    char *ref_log = test_slurp(log[0]);
    const char *nd[] = {drum_bin, "eval", cfg[0], "--set", set_out, "--set",
                        "retrieval.query_text={P}", "--set", "eval.strategies=[SIT, DRUM]", NULL};
    rc = run_drum(log[0], nd, 0, NULL, 0);
    full = test_slurp(nd_answers);
    /* and DRUM among eval's strategies is named as left to training, not dropped silently */
    char *nd_log = test_slurp(log[0]);
    const char *note = "DRUM is evaluated after each round";
    CHECK(nd_log && strstr(nd_log, note) && ref_log && !strstr(ref_log, note),
          "drum eval with DRUM listed: the note %s; without DRUM: %s",
          nd_log && strstr(nd_log, note) ? "given" : "missing",
          ref_log && strstr(ref_log, note) ? "given too" : "none");
    free(nd_log);
    free(ref_log);
    char *dr = test_slurp(drafts);
    CHECK(rc == 0 && full && strstr(full, "\"a\":") && !strstr(full, "\\u001f\",\"a\"") && dr &&
              !dr[0],
          "query_text {P}: exit %d, a zero-shot prompt %s, drafts.jsonl %s", rc,
          full && strstr(full, "\\u001f\",\"a\"") ? "asked" : "not asked",
          dr ? (dr[0] ? "not empty" : "empty") : "missing");
    free(full);
    free(dr);
}

/* clip0/ is trusted only when whole: weights left without config.json (an export cut short)
 * are not loaded, and the job says it pre-trains again; run_a's whole clip0/ is loaded. */
static void test_partial_clip0(void) {
    char cfg[256], dir[300], src[320], dst[320], log[300], set[340];
    snprintf(cfg, sizeof cfg, "%s/a.yaml", tmp);
    snprintf(dir, sizeof dir, "%s/run_partial/clip0", tmp);
    snprintf(src, sizeof src, "%s/run_a/clip0/model.safetensors", tmp);
    snprintf(dst, sizeof dst, "%s/model.safetensors", dir);
    snprintf(log, sizeof log, "%s/partial_clip0.log", tmp);
    snprintf(set, sizeof set, "train.out=%s/run_partial", tmp);
    char err[256];
    CHECK(drum_mkdirs(dir, err, sizeof err) == 0 && copy_file(src, dst) == 0,
          "copying %s: %s", src, err);
    const char *a[] = {drum_bin, "train", cfg, "--set", set, "--check", NULL};
    int rc = run_drum(log, a, 0, NULL, 0);
    char *text = test_slurp(log);
    CHECK(rc == 0 && text && strstr(text, "has no config.json beside it") &&
              strstr(text, "the job pre-trains one") && !strstr(text, "by an earlier run"),
          "a clip0/ without config.json: exit %d, %s", rc, text ? text : "(no log)");
    free(text);
    const char *b[] = {drum_bin, "train", cfg, "--check", NULL};
    rc = run_drum(log, b, 0, NULL, 0);
    text = test_slurp(log);
    CHECK(rc == 0 && text && strstr(text, "clip0/model.safetensors (pre-trained by an earlier run)"),
          "run_a's whole clip0/: exit %d, %s", rc, text ? text : "(no log)");
    free(text);
}

/* A resumed demo evaluates its baselines again before it trains, and before training restores
 * the finished rounds' rows: a kill there must keep them in results.jsonl, and the next resume
 * end with the uninterrupted run's file. The resumed runs ask the slow stand-in LVLM afresh
 * (another scorer.answers, which a resume may change), so the kill lands in the baselines. */
static void test_demo_resume_in_baselines(void) {
    if (system("command -v python3 >/dev/null 2>&1") != 0) {
        SKIP("a resumed demo's baselines: python3 is not on PATH");
        return;
    }
    char lvlm[PATH_MAX + 64], cfg[300], out[300], log[300], res[320], set[3][340];
    stand_in(lvlm, sizeof lvlm);
    snprintf(cfg, sizeof cfg, "%s/demo_resume.yaml", tmp);
    snprintf(out, sizeof out, "%s/run_demo_resume", tmp);
    snprintf(log, sizeof log, "%s/demo_resume.log", tmp);
    snprintf(res, sizeof res, "%s/results.jsonl", out);
    for (int i = 0; i < 3; i++)
        snprintf(set[i], sizeof set[i], "scorer.answers=%s/demo_resume_answers%d.jsonl", tmp, i);
    write_exec_config(cfg, out, lvlm, "--sleep 0.25", "generate");
    const char *a[] = {drum_bin, "demo", cfg, NULL};
    int rc = run_drum(log, a, 0, NULL, 0);
    char *full = test_slurp(res);
    CHECK(rc == 0 && full && strstr(full, "{\"strategy\": \"DRUM\", \"round\": 1,") &&
              strstr(full, "{\"ndcg_round\": 1,"),
          "the uninterrupted demo: exit %d (log %s), results %s", rc, log, full ? full : "(none)");
    /* killed 100 ms into SIT's answers, after RS's row was written (its own log: the first
     * run's has the line waited for) */
    char klog[320];
    snprintf(klog, sizeof klog, "%s/demo_resume_killed.log", tmp);
    const char *b[] = {drum_bin, "demo", cfg, "--resume", "--set", set[1], NULL};
    wait_for_text = "RS        1-shot: mean";
    rc = run_drum(klog, b, SIGKILL, klog, 100);
    wait_for_text = NULL;
    char *part = test_slurp(res);
    CHECK(rc == 128 + SIGKILL && part && strstr(part, "{\"strategy\": \"RS\"") &&
              !strstr(part, "{\"strategy\": \"SIT\"") &&
              strstr(part, "{\"strategy\": \"DRUM\", \"round\": 1,") &&
              strstr(part, "{\"ndcg_round\": 1,"),
          "a resumed demo killed in its baselines (exit %d) keeps round 1's rows: %s", rc,
          part ? part : "(none)");
    const char *c[] = {drum_bin, "demo", cfg, "--resume", "--set", set[2], NULL};
    rc = run_drum(log, c, 0, NULL, 0);
    free(part);
    part = test_slurp(res);
    CHECK(rc == 0 && part && full && strcmp(part, full) == 0,
          "resumed again: exit %d, results.jsonl %s", rc, part ? part : "(none)");
    free(part);
    free(full);
}

/* A Ctrl-C during mining whose checkpoint cannot be written (a directory where train.ckpt.tmp
 * goes): exit 1 naming the file, not 3, which says that the stop kept everything and that a
 * resume continues (an audit found it exit 3). */
static void test_stop_unwritable_checkpoint(void) {
    if (system("command -v python3 >/dev/null 2>&1") != 0) {
        SKIP("a stop whose checkpoint cannot be written: python3 is not on PATH");
        return;
    }
    char lvlm[PATH_MAX + 64], cfg[300], out[300], log[300], in_way[320];
    stand_in(lvlm, sizeof lvlm);
    snprintf(cfg, sizeof cfg, "%s/stop_unwritable.yaml", tmp);
    snprintf(out, sizeof out, "%s/run_stop_unwritable", tmp);
    snprintf(log, sizeof log, "%s/stop_unwritable.log", tmp);
    snprintf(in_way, sizeof in_way, "%s/train.ckpt.tmp", out);
    /* mining's 200 x 24 pairs go to the LVLM in 3 requests of up to 2048, a second each: the
     * stop is agreed between two of them */
    write_exec_config_sized(cfg, out, lvlm, "--sleep 1", "generate", "data_stop", 200, 24, 24);
    CHECK(drum_mkdirs(in_way, NULL, 0) == 0, "making %s a directory", in_way);
    const char *a[] = {drum_bin, "train", cfg, NULL};
    wait_for_text = "score pairs";
    int rc = run_drum(log, a, SIGINT, log, 100);
    wait_for_text = NULL;
    char *text = test_slurp(log);
    CHECK(rc == 1 && text && strstr(text, "score pairs                  2048/4800") &&
              !strstr(text, "4800/4800") && /* the stop came inside mining */
              strstr(text, "train.ckpt.tmp: cannot create: Is a directory") &&
              strstr(text, "it holds no checkpoint of this run yet") &&
              !strstr(text, "continue with --resume"),
          "a Ctrl-C in mining whose checkpoint cannot be written: exit %d, %s", rc,
          text ? text : "");
    free(text);
}

/* A demo stopped in round 2's mining and resumed ends as the uninterrupted run does. Mining
 * takes the pool's embeddings an evaluation made with the same weights (the baselines' for
 * round 1, round r's evaluation for round r + 1); the resumed process makes the baselines'
 * again, which its checkpoint, at round 1's weights, must not take. */
static void test_demo_stop_in_mining(void) {
    if (system("command -v python3 >/dev/null 2>&1") != 0) {
        SKIP("a demo stopped in mining: python3 is not on PATH");
        return;
    }
    char lvlm[PATH_MAX + 64], cfg[2][300], out[2][300], log[2][300], res[2][320], w[2][320];
    stand_in(lvlm, sizeof lvlm);
    for (int r = 0; r < 2; r++) {
        snprintf(cfg[r], sizeof cfg[r], "%s/mining_stop%d.yaml", tmp, r);
        snprintf(out[r], sizeof out[r], "%s/run_mining_stop%d", tmp, r);
        snprintf(log[r], sizeof log[r], "%s/mining_stop%d.log", tmp, r);
        snprintf(res[r], sizeof res[r], "%s/results.jsonl", out[r]);
        snprintf(w[r], sizeof w[r], "%s/round2/model.safetensors", out[r]);
        /* each mining round scores 18 new pairs of the top 36 for 200 queries: 2 requests of
         * up to 2048, 0.5 s each, so a stop soon after round 1 lands before round 2's second */
        write_exec_config_sized(cfg[r], out[r], lvlm, "--sleep 0.5", "generate", "data_stop",
                                200, 36, 18);
    }
    const char *a[] = {drum_bin, "demo", cfg[0], "--set", "train.rounds=2", NULL};
    const char *b[] = {drum_bin, "demo", cfg[1], "--set", "train.rounds=2", NULL};
    const char *b2[] = {drum_bin, "demo", cfg[1], "--set", "train.rounds=2", "--resume", NULL};
    int rc = run_drum(log[0], a, 0, NULL, 0);
    CHECK(rc == 0, "the uninterrupted demo: exit %d (log %s)", rc, log[0]);
    wait_for_text = "round 1: NDCG@10";
    rc = run_drum(log[1], b, SIGINT, log[1], 100);
    wait_for_text = NULL;
    CHECK(rc == 3, "a Ctrl-C after round 1: exit %d (log %s)", rc, log[1]);
    /* round 1's rows are read back, not made again: a results.jsonl without them (removed,
     * or its NDCG row cut off) is refused, naming the round, and the run is left as it was */
    char moved[340], *kept = test_slurp(res[1]);
    snprintf(moved, sizeof moved, "%s.moved", res[1]);
    CHECK(kept && rename(res[1], moved) == 0, "moving %s away", res[1]);
    for (int cut = 0; cut < 2; cut++) {
        if (cut && kept) { /* the file back, less the line of round 1's NDCG@10 */
            char *line = strstr(kept, "{\"ndcg_round\": 1,");
            char *end = line ? strchr(line, '\n') : NULL;
            FILE *f = fopen(res[1], "w");
            if (f && line && end) fprintf(f, "%.*s%s", (int)(line - kept), kept, end + 1);
            if (f) fclose(f);
        }
        const char *b3[] = {drum_bin, "demo", cfg[1], "--set", "train.rounds=2", "--resume",
                            "--check", NULL}; /* --check first, then the run */
        rc = run_drum(log[1], cut ? b2 : b3, 0, NULL, 0);
        char *text = test_slurp(log[1]);
        CHECK(rc == 1 && text &&
                  strstr(text, cut ? "results.jsonl lacks the rows of round 1, which train.ckpt "
                                   : "results.jsonl: cannot open: No such file or directory; "
                                     "that file holds the rows of round 1, which") &&
                  strstr(text, "start over with --fresh") && !strstr(text, "zero-shot drafts"),
              "a resume%s with %s: exit %d, %s", cut ? "" : " --check",
              cut ? "round 1's NDCG row cut" : "no results.jsonl",
              rc, text ? text : "");
        free(text);
    }
    CHECK(rename(moved, res[1]) == 0, "putting %s back", res[1]);
    free(kept);
    rc = run_drum(log[1], b2, 0, NULL, 0);
    char *text = test_slurp(log[1]);
    CHECK(rc == 0 && text && strstr(text, "resuming from") && strstr(text, "round 2, mining"),
          "resumed in round 2's mining: exit %d, %s", rc, text ? text : "");
    free(text);
    CHECK(test_same_file(res[0], res[1]) && test_same_file(w[0], w[1]),
          "resumed in mining: results.jsonl %s, round 2's weights %s",
          test_same_file(res[0], res[1]) ? "the same" : "differ",
          test_same_file(w[0], w[1]) ? "the same" : "differ");
}

/* A Ctrl-C during pre-training (one process: it checks before each epoch) stops the run there:
 * exit 3, the epoch named, no clip0/ written (a rerun pre-trains afresh). */
static void test_pretrain_stop(void) {
    char cfg[300], out[300], log[300], drafts[320], clip0[320];
    snprintf(cfg, sizeof cfg, "%s/pretrain_stop.yaml", tmp);
    snprintf(out, sizeof out, "%s/run_pretrain_stop", tmp);
    snprintf(log, sizeof log, "%s/pretrain_stop.log", tmp);
    snprintf(drafts, sizeof drafts, "%s/drafts.jsonl", out);
    snprintf(clip0, sizeof clip0, "%s/clip0", out);
    test_write_mini_config(cfg, tmp, out, "");
    /* long pre-training: drafts.jsonl appears just before it starts */
    const char *a[] = {drum_bin, "train", cfg, "--set", "model.pretrain.epochs=600", NULL};
    int rc = run_drum(log, a, SIGINT, drafts, 500);
    char *text = test_slurp(log);
    CHECK(rc == 3 && text && strstr(text, "stopped (a signal) before pretrain epoch") &&
              !drum_file_exists(clip0),
          "a Ctrl-C in pre-training: exit %d, clip0/ %s, %s", rc,
          drum_file_exists(clip0) ? "written" : "absent", text ? text : "");
    free(text);
}

/* --resume over a finished demo (what a kill after the last round's checkpoint leaves):
 * the last round is evaluated again, so results.md keeps its paired tables and both result
 * files stay byte for byte (the rows read back from results.jsonl have no per-query scores,
 * and the tables lost their DRUM rows; a chaos test of kills and resumes). */
static void test_resume_finished(void) {
    run_paths r;
    char md[300], jsonl[300], *cfg = r.cfg, *log = r.log;
    new_run(&r, "finished");
    snprintf(md, sizeof md, "%s/results.md", r.out);
    snprintf(jsonl, sizeof jsonl, "%s/results.jsonl", r.out);
    const char *a[] = {drum_bin, "demo", cfg, NULL};
    int rc = run_drum(log, a, 0, NULL, 0);
    char *md0 = test_slurp(md), *jsonl0 = test_slurp(jsonl);
    CHECK(rc == 0 && md0 && strstr(md0, "| DRUM r2 − RS |"), "the finished demo: exit %d, %s",
          rc, md0 ? "no paired row of DRUM r2" : "no results.md");
    const char *b[] = {drum_bin, "demo", cfg, "--resume", NULL};
    rc = run_drum(log, b, 0, NULL, 0);
    char *md1 = test_slurp(md), *jsonl1 = test_slurp(jsonl), *text = test_slurp(log);
    CHECK(rc == 0 && md0 && md1 && jsonl0 && jsonl1 && strcmp(md0, md1) == 0 &&
              strcmp(jsonl0, jsonl1) == 0 && text && strstr(text, "evaluated again"),
          "--resume over the finished demo: exit %d, results.md %s, results.jsonl %s", rc,
          md0 && md1 && !strcmp(md0, md1) ? "the same" : "changed",
          jsonl0 && jsonl1 && !strcmp(jsonl0, jsonl1) ? "the same" : "changed");
    free(md1);
    free(jsonl1);
    free(text);
    /* a Ctrl-C as the last round's last answers are logged lands before the final stop check
     * (the round's export and checkpoint are in between): the run ends with exit 0 and the
     * same results.md (it exited 3 without one, for --resume to write a short one) */
    const char *c[] = {drum_bin, "demo", cfg, "--fresh", NULL};
    char log2[320]; /* a new file: the last run's log holds the text waited for */
    snprintf(log2, sizeof log2, "%s/finished_stop.log", tmp);
    wait_for_text = "DRUM r2   2-shot";
    rc = run_drum(log2, c, SIGINT, log2, 0);
    wait_for_text = NULL;
    md1 = test_slurp(md);
    CHECK(rc == 0 && md0 && md1 && strcmp(md0, md1) == 0,
          "a Ctrl-C after the last round's answers: exit %d, results.md %s", rc,
          md1 ? (md0 && !strcmp(md0, md1) ? "the same" : "changed") : "not written");
    free(md0);
    free(md1);
    free(jsonl0);
}

/* A Ctrl-C while the job generates its suite (40,000 examples: seconds) stops it between
 * images: exit 3, no synth.json (the next run generates it again), and a plain line of
 * progress in the log. */
static void test_synth_stop(void) {
    run_paths r;
    char data[300], first[340], whole[340], set[340];
    new_run(&r, "synth_stop");
    snprintf(data, sizeof data, "%s/data_synth_stop", tmp);
    snprintf(first, sizeof first, "%s/images/img-00000.png", data);
    snprintf(whole, sizeof whole, "%s/synth.json", data);
    snprintf(set, sizeof set, "data.dir=%s", data);
    const char *a[] = {drum_bin, "demo", r.cfg, "--set", set, "--set", "synth.n_train=40000",
                       NULL};
    int rc = run_drum(r.log, a, SIGINT, first, 300);
    char *text = test_slurp(r.log);
    CHECK(rc == 3 && text &&
              strstr(text, "stopped (a signal) before the rest of the synthetic suite") &&
              strstr(text, "synthetic suite images") && !drum_file_exists(whole),
          "a Ctrl-C in the suite's generation: exit %d, synth.json %s, %s", rc,
          drum_file_exists(whole) ? "written" : "absent", text ? text : "");
    free(text);
}

/* drum_cut_texts: rows compacted to the longest text's pooling position + 1, in order. */
static void test_cut_texts(void) {
    int ids[3 * 6] = {1, 2, 3, 9, 0, 0, 1, 9, 0, 0, 0, 0, 1, 2, 9, 0, 0, 0};
    int mask[3 * 6] = {1, 1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0};
    int eos[3] = {3, 1, 2};
    int W = drum_cut_texts(ids, mask, eos, 3, 6);
    const int want_ids[12] = {1, 2, 3, 9, 1, 9, 0, 0, 1, 2, 9, 0};
    const int want_mask[12] = {1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0};
    CHECK(W == 4 && memcmp(ids, want_ids, sizeof want_ids) == 0 &&
              memcmp(mask, want_mask, sizeof want_mask) == 0,
          "cut to width %d", W);
    int full[2] = {5, 5}, one[2 * 6] = {0};
    CHECK(drum_cut_texts(one, one, full, 2, 6) == 6, "a text at the last position keeps T");
}

/* A benchmark in its native format, through `drum convert vqa` and `drum eval` with the exec
 * stand-in LVLM: the pool's answers are all "red", so the stand-in (which answers with the
 * last demonstration's response) says "red" to every query, and VQA accuracy with the
 * 10-answer rule is 1 (ten "red"), 0.6 (two of ten: 8 leave-one-out subsets give 2/3, 2
 * give 1/3) and 0 (none): mean 0.5333. The pool of 6 is below NDCG@10's top 10, which the
 * exec scorer does not compute, so it must not be retrieved. */
static void test_converted_eval(void) {
    if (system("command -v python3 >/dev/null 2>&1") != 0) {
        SKIP("converted benchmark: python3 is not on PATH");
        return;
    }
    char path[24][PATH_MAX];
    const char *names[] = {"conv/q_train.json", "conv/a_train.json", "conv/q_eval.json",
                           "conv/a_eval.json", "conv/train.jsonl", "conv/eval.jsonl",
                           "conv/eval.yaml", "conv/log", "conv/run/results.jsonl", "conv"};
    for (int i = 0; i < 10; i++) snprintf(path[i], sizeof path[i], "%s/%s", tmp, names[i]);
    mkdir(path[9], 0777);
    char q[2048] = "{\"questions\": [", a[4096] = "{\"annotations\": [";
    for (int i = 0; i < 6; i++) { /* a pool smaller than NDCG's 10: fine without NDCG */
        char item[256];
        snprintf(item, sizeof item,
                 "%s{\"image_id\": %d, \"question\": \"What color is shape %d?\", "
                 "\"question_id\": %d}",
                 i ? ", " : "", i + 10, i, 100 + i);
        strcat(q, item);
        snprintf(item, sizeof item, "%s{\"question_id\": %d, \"answers\": [{\"answer\": \"red\"}, "
                 "{\"answer\": \"red\"}]}", i ? ", " : "", 100 + i);
        strcat(a, item);
    }
    strcat(q, "]}");
    strcat(a, "]}");
    write_text_file(path[0], q);
    write_text_file(path[1], a);
    write_text_file(path[2],
                    "{\"questions\": [{\"image_id\": 6, \"question\": \"What color?\", "
                    "\"question_id\": 1},"
                    " {\"image_id\": 7, \"question\": \"Which color?\", \"question_id\": 2},"
                    " {\"image_id\": 8, \"question\": \"Color?\", \"question_id\": 3}]}");
    char ea[2048] = "{\"annotations\": [";
    const char *sets[3] = {"rrrrrrrrrr", "rrbbbbbbbb", "bbbbbbbbbb"};
    for (int i = 0; i < 3; i++) {
        char item[512];
        snprintf(item, sizeof item, "%s{\"question_id\": %d, \"answers\": [", i ? ", " : "", i + 1);
        strcat(ea, item);
        for (int k = 0; k < 10; k++) {
            snprintf(item, sizeof item, "%s{\"answer\": \"%s\"}", k ? ", " : "",
                     sets[i][k] == 'r' ? "Red" : "blue");
            strcat(ea, item);
        }
        strcat(ea, "]}");
    }
    strcat(ea, "]}");
    write_text_file(path[3], ea);
    char images[PATH_MAX + 16];
    snprintf(images, sizeof images, "%s/data/images", tmp);
    for (int s = 0; s < 2; s++) {
        const char *c[] = {drum_bin, "convert", "vqa", "--questions", path[2 * s],
                           "--annotations", path[2 * s + 1], "--images", images,
                           "--image-pattern", "img-{id:05d}.png", "--out", path[4 + s], NULL};
        int rc = run_drum(path[7], c, 0, NULL, 0);
        CHECK(rc == 0, "drum convert vqa (%s): exit %d", names[4 + s], rc);
    }
    char lvlm[PATH_MAX + 64];
    stand_in(lvlm, sizeof lvlm);
    FILE *f = fopen(path[6], "w");
    if (!f) return;
    fprintf(f,
            "data: {dir: %s/data, train: %s, eval: %s}\n"
            "synth: {image_size: 32}\n"
            "model: {checkpoint: %s/run_a/round2/model.safetensors}\n"
            "train: {out: %s/conv/run}\n"
            "scorer: {backend: exec, command: \"python3 '%s'\"}\n"
            "eval: {shots: [1], strategies: [ST]}\n",
            tmp, path[4], path[5], tmp, tmp, lvlm);
    fclose(f);
    const char *e[] = {drum_bin, "eval", path[6], NULL};
    int rc = run_drum(path[7], e, 0, NULL, 0);
    char *log = test_slurp(path[7]), *res = test_slurp(path[8]);
    CHECK(rc == 0, "drum eval on converted data: exit %d: %s", rc, log ? log : "");
    const char *v = res ? strstr(res, "\"vqa\": ") : NULL;
    double acc = v ? strtod(v + 7, NULL) : -1;
    CHECK(fabs(acc - 1.6 / 3.0) < 1e-4,
          "VQA accuracy %.5f on the converted queries, want 0.53333 (%s)", acc,
          res ? res : "no results");
    free(log);
    free(res);
    /* again with an LVLM that cannot generate: drafts and answers come from answers.jsonl */
    char set[PATH_MAX + 128];
    snprintf(set, sizeof set, "scorer.command=python3 '%s' --fail generate", lvlm);
    const char *e2[] = {drum_bin, "eval", path[6], "--set", set, NULL};
    rc = run_drum(path[7], e2, 0, NULL, 0);
    log = test_slurp(path[7]);
    res = test_slurp(path[8]);
    v = res ? strstr(res, "\"vqa\": ") : NULL;
    CHECK(rc == 0 && v && fabs(strtod(v + 7, NULL) - 1.6 / 3.0) < 1e-4,
          "re-run from the answer cache with a failing generate: exit %d: %s", rc, log ? log : "");
    free(log);
    free(res);
    /* scorer.timeout reaches the LVLM: one slower than it ends the job at its first request
     * (the drafts, a new answer cache), naming the limit */
    char answers[PATH_MAX + 64];
    snprintf(set, sizeof set, "scorer.command=python3 '%s' --sleep 20", lvlm);
    snprintf(answers, sizeof answers, "scorer.answers=%s/conv/slow_answers.jsonl", tmp);
    const char *e3[] = {drum_bin, "eval", path[6], "--set", set, "--set", answers,
                        "--set", "scorer.timeout=0.5", NULL};
    time_t t0 = time(NULL);
    rc = run_drum(path[7], e3, 0, NULL, 0);
    log = test_slurp(path[7]);
    CHECK(rc == 1 && log && strstr(log, "no reply to the generate request within 0.5 s "
                                        "(scorer.timeout)") && time(NULL) - t0 < 15,
          "an LVLM slower than scorer.timeout: exit %d after %ld s: %s", rc,
          (long)(time(NULL) - t0), log ? log : "");
    free(log);
}

/* Hateful Memes in its native format, through `drum convert hateful-memes` and `drum eval`
 * with the exec stand-in, whose rank() favours the last demonstration's response: with
 * texts alone retrieved (demo and query text "{P}") each query's one demonstration is the
 * pool meme with its text, so P(yes) is 1/(1+e^-1.21) = .770 after a "yes" meme and
 * 1/(1+e^1.31) = .212 after a "no" one. Queries (gold, P(yes)): yes .212, yes .770,
 * no .770, no .212, yes .770: ROC-AUC 3.5 / 6. */
static void test_hateful_memes_eval(void) {
    if (system("command -v python3 >/dev/null 2>&1") != 0) {
        SKIP("hateful memes: python3 is not on PATH");
        return;
    }
    char dir[PATH_MAX], pool_hm[PATH_MAX + 32], eval_hm[PATH_MAX + 32], pool[PATH_MAX + 32],
        queries[PATH_MAX + 32], cfg[PATH_MAX + 32], log[PATH_MAX + 32], results[PATH_MAX + 32],
        images[PATH_MAX + 32], lvlm[PATH_MAX + 64];
    snprintf(dir, sizeof dir, "%s/hm", tmp);
    mkdir(dir, 0777);
    snprintf(pool_hm, sizeof pool_hm, "%s/train.jsonl", dir);
    snprintf(eval_hm, sizeof eval_hm, "%s/dev_seen.jsonl", dir);
    snprintf(pool, sizeof pool, "%s/pool.jsonl", dir);
    snprintf(queries, sizeof queries, "%s/queries.jsonl", dir);
    snprintf(cfg, sizeof cfg, "%s/eval.yaml", dir);
    snprintf(log, sizeof log, "%s/log", dir);
    snprintf(results, sizeof results, "%s/run/results.jsonl", dir);
    snprintf(images, sizeof images, "%s/data/images", tmp);
    write_text_file(pool_hm,
                    "{\"id\": 1, \"img\": \"img-00001.png\", \"label\": 0, \"text\": \"cats are soft\"}\n"
                    "{\"id\": 2, \"img\": \"img-00002.png\", \"label\": 1, \"text\": \"dogs bark loud\"}\n"
                    "{\"id\": 3, \"img\": \"img-00003.png\", \"label\": 1, \"text\": \"birds sing\"}\n"
                    "{\"id\": 4, \"img\": \"img-00004.png\", \"label\": 0, \"text\": \"fish swim\"}\n");
    write_text_file(eval_hm,
                    "{\"id\": 11, \"img\": \"img-00005.png\", \"label\": 1, \"text\": \"cats are soft\"}\n"
                    "{\"id\": 12, \"img\": \"img-00006.png\", \"label\": 1, \"text\": \"dogs bark loud\"}\n"
                    "{\"id\": 13, \"img\": \"img-00007.png\", \"label\": 0, \"text\": \"birds sing\"}\n"
                    "{\"id\": 14, \"img\": \"img-00008.png\", \"label\": 0, \"text\": \"fish swim\"}\n"
                    "{\"id\": 15, \"img\": \"img-00009.png\", \"label\": 1, \"text\": \"dogs bark loud\"}\n");
    for (int s = 0; s < 2; s++) {
        const char *c[] = {drum_bin, "convert", "hateful-memes", "--jsonl", s ? eval_hm : pool_hm,
                           "--images", images, "--out", s ? queries : pool, NULL};
        int rc = run_drum(log, c, 0, NULL, 0);
        CHECK(rc == 0, "drum convert hateful-memes (%s): exit %d", s ? "eval" : "pool", rc);
    }
    stand_in(lvlm, sizeof lvlm);
    FILE *f = fopen(cfg, "w");
    if (!f) return;
    fprintf(f,
            "data: {dir: %s/data, train: %s, eval: %s}\n"
            "synth: {image_size: 32}\n"
            "model: {checkpoint: %s/run_a/round2/model.safetensors}\n"
            "retrieval: {demo_text: \"{P}\", query_text: \"{P}\"}\n"
            "train: {out: %s/run}\n"
            "scorer: {backend: exec, command: \"python3 '%s'\"}\n"
            "eval: {shots: [1], strategies: [ST]}\n",
            tmp, pool, queries, tmp, dir, lvlm);
    fclose(f);
    const char *e[] = {drum_bin, "eval", cfg, NULL};
    int rc = run_drum(log, e, 0, NULL, 0);
    char *text = test_slurp(log), *res = test_slurp(results);
    CHECK(rc == 0, "drum eval on Hateful Memes: exit %d: %s", rc, text ? text : "");
    const char *v = res ? strstr(res, "\"binary\": ") : NULL;
    double auc = v ? strtod(v + 10, NULL) : -1;
    CHECK(fabs(auc - 3.5 / 6) < 1e-6, "ROC-AUC %.6f, want 0.583333 (%s)", auc,
          res ? res : "no results");
    free(text);
    free(res);
    /* the same evaluation again with an LVLM whose rank fails: every answer comes from the
     * run's answers.jsonl (answer_cache.h), so it is never asked and the result is the same */
    char set[PATH_MAX + 128], fresh[PATH_MAX + 64];
    snprintf(set, sizeof set, "scorer.command=python3 '%s' --fail rank", lvlm);
    const char *e2[] = {drum_bin, "eval", cfg, "--set", set, NULL};
    rc = run_drum(log, e2, 0, NULL, 0);
    text = test_slurp(log);
    res = test_slurp(results);
    v = res ? strstr(res, "\"binary\": ") : NULL;
    CHECK(rc == 0 && v && fabs(strtod(v + 10, NULL) - 3.5 / 6) < 1e-6 && text &&
              strstr(text, "answers: 5 prompts from ") && strstr(text, "/answers.jsonl, 0 asked"),
          "re-run from the answer cache with a failing rank: exit %d, %s", rc, text ? text : "");
    free(text);
    free(res);
    /* in a fresh run directory the failing rank is asked, and the job fails with its message */
    snprintf(fresh, sizeof fresh, "train.out=%s/run_fresh", dir);
    const char *e3[] = {drum_bin, "eval", cfg, "--set", set, "--set", fresh, NULL};
    rc = run_drum(log, e3, 0, NULL, 0);
    text = test_slurp(log);
    CHECK(rc == 1 && text && strstr(text, "told to fail rank"),
          "a failing rank: exit %d, %s", rc, text ? text : "");
    free(text);
}

/* Cutting a batch's rows to its longest text leaves every pooled feature computed from the
 * same tokens, but the GEMMs see fewer rows, and a BLAS kernel may sum a row's products in
 * another order when the row count changes: the CI VM's OpenBLAS (Cooperlake kernels) gives
 * equal bits, an H100 host's (a masked CPU model, so OpenBLAS's Prescott kernels) differed
 * by 1.1e-7 at 1, 2 and 16 threads. So the cut features must agree to rounding; on these
 * unit rows a mask out of step with the ids (a mutation) moves them by 0.44. */
#define CUT_TOLERANCE 1e-5

/* Largest |a - b| over two embedding files' text rows; -1 when either cannot be read or
 * their shapes differ. */
static double max_text_feature_diff(const char *pa, const char *pb) {
    drum_embeddings a, b;
    char err[512];
    if (drum_embeddings_load(&a, pa, err, sizeof err) != 0) return -1;
    if (drum_embeddings_load(&b, pb, err, sizeof err) != 0) {
        drum_embeddings_free(&a);
        return -1;
    }
    double worst = a.n == b.n && a.dim_txt == b.dim_txt && a.dim_txt > 0 ? 0 : -1;
    for (size_t i = 0; worst >= 0 && i < (size_t)a.n * a.dim_txt; i++)
        worst = fmax(worst, fabs((double)a.txt[i] - b.txt[i]));
    drum_embeddings_free(&a);
    drum_embeddings_free(&b);
    return worst;
}

/* The job's drafts.jsonl renders {D} in `drum embed`: an example's "{P} {D}" text embedding
 * equals its "{P} {R}" one exactly when its draft is its response. emb holds the latter. */
static void test_embed_drafts(const char *model, const char *data, const char *tokdir,
                              const char *emb, const char *log) {
    char drafts[300], emb_d[300], err[512];
    snprintf(drafts, sizeof drafts, "%s/run_a/drafts.jsonl", tmp);
    snprintf(emb_d, sizeof emb_d, "%s/eval_d.emb", tmp);
    drum_dataset ds;
    char **d = NULL;
    int rc = drum_dataset_load(&ds, data, err, sizeof err);
    CHECK(rc == 0, "%s", err);
    if (rc != 0) return;
    rc = drum_drafts_load(&ds, drafts, &d, err, sizeof err);
    CHECK(rc == 0, "the job's drafts file: %s", err);
    char *all = test_slurp(drafts);
    int lines = 0;
    for (char *c = all; c && *c; c++) lines += *c == '\n';
    CHECK(lines == 100 + 45, "drafts.jsonl has %d lines, want one per train and eval example",
          lines);
    free(all);
    const char *a[] = {drum_bin, "embed", "--data", data, "--model", model, "--tokenizer", tokdir,
                       "--text", "{P} {D}", "--drafts", drafts, "--no-image", "--out", emb_d, NULL};
    int erc = run_drum(log, a, 0, NULL, 0);
    CHECK(erc == 0, "drum embed --drafts exit %d (log %s)", erc, log);
    /* the same texts cut to each batch's longest: bitwise the same features */
    char emb_l[PATH_MAX];
    snprintf(emb_l, sizeof emb_l, "%s/eval_l.emb", tmp);
    const char *l[] = {drum_bin, "embed", "--data", data, "--model", model, "--tokenizer", tokdir,
                       "--text", "{P} {D}", "--drafts", drafts, "--no-image",
                       "--text-length", "longest", "--out", emb_l, NULL};
    int lrc = run_drum(log, l, 0, NULL, 0);
    double cut_diff = lrc == 0 ? max_text_feature_diff(emb_d, emb_l) : -1;
    CHECK(lrc == 0 && cut_diff >= 0 && cut_diff <= CUT_TOLERANCE,
          "--text-length longest: exit %d, features differ from the full context's by %g",
          lrc, cut_diff);
    printf("--text-length longest: text features %s the full context's (max |diff| %g)\n",
           test_same_file(emb_d, emb_l) ? "bitwise equal to" : "within rounding of", cut_diff);
    const char *bad_l[] = {drum_bin, "embed", "--data", data, "--model", model,
                           "--text-length", "short", "--out", emb_l, NULL};
    lrc = run_drum(log, bad_l, 0, NULL, 0);
    char *msg = test_slurp(log);
    CHECK(lrc == 2 && msg && strstr(msg, "expected context or longest"),
          "--text-length short: exit %d: %s", lrc, msg ? msg : "");
    free(msg);
    drum_embeddings r, q;
    if (rc == 0 && erc == 0 && drum_embeddings_load(&r, emb, err, sizeof err) == 0) {
        if (drum_embeddings_load(&q, emb_d, err, sizeof err) == 0) {
            int same = 0, differ = 0;
            for (int i = 0; i < ds.n && q.n == ds.n && q.dim_txt == r.dim_txt; i++) {
                int eq = memcmp(q.txt + (size_t)i * q.dim_txt, r.txt + (size_t)i * r.dim_txt,
                                (size_t)q.dim_txt * sizeof(float)) == 0;
                int want = strcmp(d[i], ds.ex[i].response) == 0;
                CHECK(eq == want, "example %s: draft '%s', response '%s', embeddings %s",
                      ds.ex[i].id, d[i], ds.ex[i].response, eq ? "equal" : "differ");
                same += want;
                differ += !want;
            }
            CHECK(q.n == ds.n && q.dim_img == 0 && same > 0 && differ > 0,
                  "%d examples, %d drafts equal to the response, %d not", q.n, same, differ);
            drum_embeddings_free(&q);
        } else {
            CHECK(0, "%s", err);
        }
        drum_embeddings_free(&r);
    }
    for (int i = 0; d && i < ds.n; i++) free(d[i]);
    free(d);
    /* {D} without drafts is a usage error; a drafts file without this data's ids names one */
    const char *b[] = {drum_bin, "embed", "--data", data, "--model", model, "--tokenizer", tokdir,
                       "--text", "{P} {D}", "--out", emb_d, NULL};
    rc = run_drum(log, b, 0, NULL, 0);
    char *text = test_slurp(log);
    CHECK(rc == 2 && text && strstr(text, "--drafts"), "{D} without drafts: exit %d: %s", rc,
          text ? text : "");
    free(text);
    char other[300];
    snprintf(other, sizeof other, "%s/other_drafts.jsonl", tmp);
    FILE *f = fopen(other, "w");
    if (f) {
        fprintf(f, "{\"id\": \"%s\", \"draft\": \"x\"}\n", ds.ex[0].id);
        fclose(f);
    }
    const char *c[] = {drum_bin, "embed", "--data", data, "--model", model, "--tokenizer", tokdir,
                       "--text", "{P} {D}", "--drafts", other, "--out", emb_d, NULL};
    rc = run_drum(log, c, 0, NULL, 0);
    text = test_slurp(log);
    char want[300];
    snprintf(want, sizeof want, "no draft for \"%s\"", ds.ex[1].id);
    CHECK(rc == 1 && text && strstr(text, want), "incomplete drafts: exit %d: %s", rc,
          text ? text : "");
    free(text);
    drum_dataset_free(&ds);
}

static void test_embed_retrieve_export(void) {
    char model[300], data[300], emb[300], log[300], out[300], exp_dir[300], ckpt[300], cfgj[300];
    snprintf(model, sizeof model, "%s/run_a/round2", tmp);
    snprintf(data, sizeof data, "%s/data/eval.jsonl", tmp);
    snprintf(emb, sizeof emb, "%s/eval.emb", tmp);
    snprintf(log, sizeof log, "%s/embed.log", tmp);
    char tokdir[300];
    snprintf(tokdir, sizeof tokdir, "%s/data", tmp);
    const char *a[] = {drum_bin, "embed", "--data", data, "--model", model, "--tokenizer", tokdir,
                       "--out", emb, NULL};
    int rc = run_drum(log, a, 0, NULL, 0);
    CHECK(rc == 0, "drum embed exit %d (log %s)", rc, log);
    drum_embeddings e;
    char err[512];
    if (drum_embeddings_load(&e, emb, err, sizeof err) == 0) {
        CHECK(e.n == 45 && e.dim_img == 64 && e.dim_txt == 64, "embedding file %d x %d/%d", e.n,
              e.dim_img, e.dim_txt);
        double norm = 0;
        for (int c = 0; c < e.dim_img; c++) norm += (double)e.img[c] * e.img[c];
        CHECK(norm > 0.999 && norm < 1.001, "image embeddings are not unit length: %g", norm);
        drum_embeddings_free(&e);
    } else {
        CHECK(0, "%s", err);
    }
    test_embed_drafts(model, data, tokdir, emb, log);
    snprintf(out, sizeof out, "%s/retrieved.jsonl", tmp);
    const char *r[] = {drum_bin, "retrieve", "--queries", emb, "--pool", emb, "--k", "3",
                       "--exclude-self", "--out", out, NULL};
    rc = run_drum(log, r, 0, NULL, 0);
    char *text = test_slurp(out);
    CHECK(rc == 0 && text && strstr(text, "\"demos\": ["), "drum retrieve: %d", rc);
    /* every query is in the pool: none retrieves itself, which SIT would rank first */
    int lines = 0, selves = 0;
    for (char *line = text, *nl; line && *line; line = nl ? nl + 1 : NULL, lines++) {
        nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        char id[128] = "";
        const char *demos = strstr(line, "\"demos\": ");
        if (sscanf(line, "{\"id\": %127[^,]", id) == 1 && demos) selves += strstr(demos, id) != NULL;
    }
    CHECK(lines == 45 && selves == 0, "drum retrieve --exclude-self: %d of %d queries retrieved "
          "themselves", selves, lines);
    free(text);

    /* a dataset whose image is missing: the error names the image and the dataset line */
    char bad[300];
    snprintf(bad, sizeof bad, "%s/data/missing.jsonl", tmp);
    FILE *f = fopen(bad, "w");
    fprintf(f, "{\"id\": \"x\", \"image\": \"images/none.png\", \"prompt\": \"p\", \"response\": \"r\", \"task\": \"vqa\"}\n");
    fclose(f);
    const char *m[] = {drum_bin, "embed", "--data", bad, "--model", model, "--tokenizer", tokdir,
                       "--out", emb, NULL};
    rc = run_drum(log, m, 0, NULL, 0);
    text = test_slurp(log);
    CHECK(rc == 1 && text && strstr(text, "missing.jsonl:1") && strstr(text, "none.png"),
          "missing image error: %s", text ? text : "");
    free(text);

    snprintf(ckpt, sizeof ckpt, "%s/run_a/train.ckpt", tmp);
    snprintf(cfgj, sizeof cfgj, "%s/run_a/clip0/config.json", tmp);
    snprintf(exp_dir, sizeof exp_dir, "%s/exported", tmp);
    const char *x[] = {drum_bin, "export", "--checkpoint", ckpt, "--config", cfgj, "--out", exp_dir, NULL};
    rc = run_drum(log, x, 0, NULL, 0);
    CHECK(rc == 0, "drum export exit %d", rc);
    char w1[400], w2[400];
    snprintf(w1, sizeof w1, "%s/model.safetensors", exp_dir);
    snprintf(w2, sizeof w2, "%s/run_a/round2/model.safetensors", tmp);
    CHECK(test_same_file(w1, w2), "exported checkpoint weights differ from the round's export");
    /* the tokenizer is copied before config.json, which says an export is whole: a copy that
     * fails (a directory where merges.txt goes) leaves no config.json */
    char cut_dir[320], in_way[360], cut_cfg[360];
    snprintf(cut_dir, sizeof cut_dir, "%s/exported_cut", tmp);
    snprintf(in_way, sizeof in_way, "%s/merges.txt", cut_dir);
    snprintf(cut_cfg, sizeof cut_cfg, "%s/config.json", cut_dir);
    const char *xc[] = {drum_bin, "export", "--checkpoint", ckpt, "--config", cfgj, "--out",
                        cut_dir, NULL};
    rc = drum_mkdirs(in_way, NULL, 0) ? -1 : run_drum(log, xc, 0, NULL, 0);
    text = test_slurp(log);
    CHECK(rc == 1 && text && strstr(text, "merges.txt") && !drum_file_exists(cut_cfg),
          "an export whose tokenizer cannot be copied: exit %d, config.json %s, %s", rc,
          drum_file_exists(cut_cfg) ? "written" : "absent", text ? text : "");
    free(text);
    /* the tokenizer beside the config travels with the weights: the exported directory embeds
     * on its own as with --tokenizer */
    char vocab_a[400], vocab_b[400], emb_own[320], emb_tok[320];
    snprintf(vocab_a, sizeof vocab_a, "%s/vocab.json", exp_dir);
    snprintf(vocab_b, sizeof vocab_b, "%s/data/vocab.json", tmp);
    snprintf(emb_own, sizeof emb_own, "%s/own_tokenizer.emb", tmp);
    snprintf(emb_tok, sizeof emb_tok, "%s/named_tokenizer.emb", tmp);
    CHECK(test_same_file(vocab_a, vocab_b), "drum export left out the tokenizer's vocab.json");
    const char *own[] = {drum_bin, "embed", "--data", data, "--model", exp_dir, "--out", emb_own,
                         NULL};
    const char *named[] = {drum_bin, "embed", "--data", data, "--model", exp_dir, "--tokenizer",
                           tokdir, "--out", emb_tok, NULL};
    rc = run_drum(log, own, 0, NULL, 0) || run_drum(log, named, 0, NULL, 0);
    CHECK(rc == 0 && test_same_file(emb_own, emb_tok),
          "the exported directory's own tokenizer embeds otherwise than --tokenizer (exit %d)", rc);
    /* a checkpoint of another format version is named as one, not as garbage */
    char old[320];
    snprintf(old, sizeof old, "%s/format1.ckpt", tmp);
    f = copy_file(ckpt, old) == 0 ? fopen(old, "r+b") : NULL;
    if (f) {
        fseek(f, 7, SEEK_SET);
        fputc('1', f);
        fclose(f);
    }
    const char *xo[] = {drum_bin, "export", "--checkpoint", old, "--config", cfgj, "--out", exp_dir,
                        NULL};
    rc = run_drum(log, xo, 0, NULL, 0);
    text = test_slurp(log);
    CHECK(rc != 0 && text && strstr(text, "a checkpoint of format 1; this drum reads format 6"),
          "exporting a format-1 checkpoint: exit %d, %s", rc, text ? text : "");
    free(text);
    /* one bit flipped among the AdamW moments: the checksum (the lane hash since format 6)
     * refuses it */
    snprintf(old, sizeof old, "%s/flipped.ckpt", tmp);
    f = copy_file(ckpt, old) == 0 ? fopen(old, "r+b") : NULL;
    if (f) {
        fseek(f, 0, SEEK_END);
        long mid = ftell(f) / 2;
        fseek(f, mid, SEEK_SET);
        int byte = fgetc(f);
        fseek(f, mid, SEEK_SET);
        fputc(byte ^ 0x10, f);
        fclose(f);
    }
    rc = run_drum(log, xo, 0, NULL, 0);
    text = test_slurp(log);
    CHECK(f && rc != 0 && text && strstr(text, "checksum mismatch: the checkpoint is corrupt") &&
              !strstr(text, "cut short"),
          "exporting a checkpoint with a flipped bit: exit %d, %s", rc, text ? text : "");
    free(text);
    /* a copy cut short is named as one, with the way out */
    snprintf(old, sizeof old, "%s/cut.ckpt", tmp);
    rc = copy_file(ckpt, old) == 0 && truncate(old, 4096) == 0 ? run_drum(log, xo, 0, NULL, 0) : -1;
    text = test_slurp(log);
    CHECK(rc == 1 && text &&
              strstr(text, "checksum mismatch: the checkpoint is corrupt (cut short? 4096 bytes, "
                           "where its header asks ") &&
              strstr(text, "start over with --fresh"),
          "exporting a checkpoint cut short: exit %d, %s", rc, text ? text : "");
    free(text);
}

/* 1 when tensor `name` has the same bytes in two safetensors files. */
static int same_tensor(const char *a, const char *b, const char *name) {
    char err[512];
    drum_safetensors *x = drum_safetensors_open(a, err, sizeof err);
    drum_safetensors *y = x ? drum_safetensors_open(b, err, sizeof err) : NULL;
    const drum_st_tensor *tx = x ? drum_safetensors_find(x, name) : NULL;
    const drum_st_tensor *ty = y ? drum_safetensors_find(y, name) : NULL;
    int same = tx && ty && tx->nbytes == ty->nbytes && memcmp(tx->data, ty->data, tx->nbytes) == 0;
    if (!tx || !ty) fprintf(stderr, "same_tensor %s: %s\n", name, err);
    drum_safetensors_close(x);
    drum_safetensors_close(y);
    return same;
}

static long size_of(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* The score cache files scores under the examples' content ids. Two edits that leave the
 * retriever's inputs as they were, so that mining picks the same pairs: the first training
 * example's first answer changed in train.jsonl (the answers are not in the retriever's
 * texts), then one byte appended to its PNG file (after the image's end: the same pixels, other
 * bytes). After each, `drum mine` asks the scorer again and the cache grows; with the file
 * restored, everything is a hit again and nothing is added. */
static void test_cache_follows_edits(void) {
    char cfg[256], log[256], cands[300], cache[300], data[300], img[400], kept[420];
    snprintf(cfg, sizeof cfg, "%s/a.yaml", tmp);
    snprintf(log, sizeof log, "%s/mine_edit.log", tmp);
    snprintf(cands, sizeof cands, "%s/cands_edit.jsonl", tmp);
    snprintf(cache, sizeof cache, "%s/run_a/score_cache.bin", tmp);
    snprintf(data, sizeof data, "%s/data/train.jsonl", tmp);
    const char *a[] = {drum_bin, "mine", cfg, "--out", cands, NULL};
    CHECK(image_of_line("train.jsonl", 1, img, sizeof img) == 0, "reading %s", data);
    snprintf(kept, sizeof kept, "%s.kept", img);
    const char *what[2] = {"an answer", "the image file's bytes"};
    for (int edit = 0; edit < 2; edit++) {
        long sizes[3];
        char *orig = NULL;
        for (int step = 0; step < 3; step++) {
            int bad = 0;
            if (step == 1 && edit == 0) {
                bad = !(orig = edit_after(data, "\"answers\":[\"", "Edited: "));
            } else if (step == 1) { /* the image kept aside, a copy with one more byte in place */
                FILE *f = rename(img, kept) == 0 && copy_file(kept, img) == 0
                              ? fopen(img, "ab")
                              : NULL;
                bad = !f || fputc(0, f) != 0;
                if (f) bad |= fclose(f) != 0;
            } else if (step == 2) {
                if (orig) write_text_file(data, orig);
                bad = edit == 1 && rename(kept, img) != 0;
            }
            int rc = bad ? -1 : run_drum(log, a, 0, NULL, 0);
            CHECK(rc == 0, "drum mine (%s, step %d) exit %d (log %s)", what[edit], step, rc, log);
            sizes[step] = size_of(cache);
        }
        free(orig);
        CHECK(sizes[0] > 0 && sizes[1] > sizes[0] && sizes[2] == sizes[1],
              "%s edited: score cache %ld bytes, after the edit %ld (must grow), restored %ld "
              "(must not)",
              what[edit], sizes[0], sizes[1], sizes[2]);
    }
}

/* drum mine writes every training query's scored candidates, best first, never itself, and
 * leaves the run directory's config.yaml alone (it writes no results); train.freeze keeps
 * matching parameters exactly as they were, and logit_scale, outside DRUM's loss, stays too;
 * with the whole image tower frozen its backward pass is skipped. */
static void test_mine_and_freeze(void) {
    char cfg[256], log[256], cands[300], rec[300];
    snprintf(cfg, sizeof cfg, "%s/a.yaml", tmp);
    snprintf(log, sizeof log, "%s/mine.log", tmp);
    snprintf(cands, sizeof cands, "%s/cands.jsonl", tmp);
    snprintf(rec, sizeof rec, "%s/run_a/config.yaml", tmp);
    char *before = test_slurp(rec);
    const char *a[] = {drum_bin, "mine", cfg, "--out", cands, "--set", "train.lr=0.25", NULL};
    int rc = run_drum(log, a, 0, NULL, 0);
    CHECK(rc == 0, "drum mine exit %d (log %s)", rc, log);
    char *after = test_slurp(rec);
    CHECK(before && after && strcmp(before, after) == 0, "drum mine rewrote %s", rec);
    free(before);
    free(after);
    char *text = test_slurp(cands);
    int lines = 0, bad = 0;
    for (char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        lines++;
        char qid[64] = "";
        if (sscanf(l, "{\"query\": \"%63[^\"]\"", qid) != 1) {
            bad++;
            continue;
        }
        char self[80];
        snprintf(self, sizeof self, "\"demo\": \"%s\"", qid);
        char *end = strchr(l, '\n');
        if (end) *end = '\0';
        if (strstr(l, self)) bad++;
        double prev = 1e300, v;
        int n = 0;
        for (char *p = strstr(l, "\"score\": "); p; p = strstr(p + 1, "\"score\": ")) {
            v = strtod(p + 9, NULL);
            if (v > prev) bad++;
            prev = v;
            n++;
        }
        if (n != 4) bad++;
        if (end) *end = '\n';
    }
    CHECK(lines == 100 && bad == 0, "candidates.jsonl: %d lines (want 100), %d bad", lines, bad);
    free(text);

    /* ranked classification through the CLI with the simulator: results.md says so */
    char rdir[300], rmd[320];
    snprintf(rdir, sizeof rdir, "train.out=%s/run_ranked", tmp);
    snprintf(rmd, sizeof rmd, "%s/run_ranked/results.md", tmp);
    const char *r[] = {drum_bin, "eval", cfg, "--set", rdir, "--set", "eval.classify=rank",
                       "--set", "eval.strategies=[RS]", NULL};
    rc = run_drum(log, r, 0, NULL, 0);
    text = test_slurp(rmd);
    CHECK(rc == 0 && text && strstr(text, "Classification was ranked") && strstr(text, "| cls |"),
          "drum eval with eval.classify=rank: exit %d, results.md %s", rc, text ? "lacks the note" : "missing");
    free(text);

    /* results.md's paired table: SIT - SI is, per task, the difference of the two rows of the
     * P(correct) table (each rounded to 4 decimals), with a positive bracket under rules 2 */
    snprintf(rdir, sizeof rdir, "train.out=%s/run_paired", tmp);
    snprintf(rmd, sizeof rmd, "%s/run_paired/results.md", tmp);
    const char *pr[] = {drum_bin, "eval", cfg, "--set", rdir, "--set", "eval.strategies=[SI, SIT]",
                        NULL};
    rc = run_drum(log, pr, 0, NULL, 0);
    text = test_slurp(rmd);
    const char *ptab = text ? strstr(text, "mean P(correct) per task family") : NULL;
    const char *pair = ptab ? strstr(ptab, "Paired, query by query") : NULL;
    const char *irow = ptab ? strstr(ptab, "\n| SI |") : NULL, *srow = ptab ? strstr(ptab, "\n| SIT |") : NULL;
    const char *prow = pair ? strstr(pair, "\n| SIT − SI |") : NULL;
    double pi[3] = {0}, ps[3] = {0}, dp[3] = {0}, sd[2] = {0};
    int agree = rc == 0 && irow && srow && prow && strstr(pair, "rules 2") &&
                sscanf(irow, "\n| SI | %lf | %lf | %lf |", &pi[0], &pi[1], &pi[2]) == 3 &&
                sscanf(srow, "\n| SIT | %lf | %lf | %lf |", &ps[0], &ps[1], &ps[2]) == 3 &&
                sscanf(prow, "\n| SIT − SI | %lf (%lf) | %lf (%lf) | %lf |", &dp[0], &sd[0], &dp[1],
                       &sd[1], &dp[2]) == 5;
    for (int t = 0; t < 3; t++) agree = agree && fabs(dp[t] - (ps[t] - pi[t])) < 1.5e-4;
    CHECK(agree && sd[0] > 0 && sd[1] > 0 && !strstr(pair, "| SIT − ST |"),
          "results.md's paired SIT - SI (%+.4f %+.4f %+.4f, sd %.4f %.4f) against the P(correct) "
          "rows (exit %d): %s", dp[0], dp[1], dp[2], sd[0], sd[1], rc, text ? text : "(none)");
    /* and the paired task metrics: SIT - SI per task is the difference of results.jsonl's
     * 2-shot scores (captions: per-query CIDEr-D averages to the corpus score) */
    char rjl[320];
    snprintf(rjl, sizeof rjl, "%s/run_paired/results.jsonl", tmp);
    char *jl = test_slurp(rjl);
    const char *mtab = text ? strstr(text, "Paired task metrics at 2-shot") : NULL;
    const char *mrow = mtab ? strstr(mtab, "\n| SIT − SI |") : NULL;
    const char *jsi = jl ? strstr(jl, "{\"strategy\": \"SI\", \"round\": 0, \"shots\": 2,") : NULL;
    const char *jsit = jl ? strstr(jl, "{\"strategy\": \"SIT\", \"round\": 0, \"shots\": 2,") : NULL;
    double mi[4] = {0}, ms[4] = {0}, md[3] = {0}, se[3] = {0};
    int magree = mrow && jsi && jsit &&
                 sscanf(jsi, "{\"strategy\": \"SI\", \"round\": 0, \"shots\": 2, \"mean\": %lf, "
                        "\"vqa\": %lf, \"cls\": %lf, \"caption\": %lf", &mi[3], &mi[0], &mi[1],
                        &mi[2]) == 4 &&
                 sscanf(jsit, "{\"strategy\": \"SIT\", \"round\": 0, \"shots\": 2, \"mean\": %lf, "
                        "\"vqa\": %lf, \"cls\": %lf, \"caption\": %lf", &ms[3], &ms[0], &ms[1],
                        &ms[2]) == 4 &&
                 sscanf(mrow, "\n| SIT − SI | %lf (%lf) | %lf (%lf) | %lf (%lf) |", &md[0], &se[0],
                        &md[1], &se[1], &md[2], &se[2]) == 6;
    for (int t = 0; t < 3; t++) magree = magree && fabs(md[t] - (ms[t] - mi[t])) < 1e-4 && se[t] >= 0;
    CHECK(magree, "results.md's paired task metrics SIT - SI (%+.4f %+.4f %+.4f) against "
          "results.jsonl (%+.4f %+.4f %+.4f)", md[0], md[1], md[2], ms[0] - mi[0], ms[1] - mi[1],
          ms[2] - mi[2]);
    free(jl);
    free(text);

    char out[256], fcfg[256];
    snprintf(out, sizeof out, "%s/run_freeze", tmp);
    snprintf(fcfg, sizeof fcfg, "%s/freeze.yaml", tmp);
    write_config(fcfg, out);
    const char *f[] = {drum_bin, "train", fcfg, "--set", "train.rounds=1", "--set",
                       "train.freeze=[vision_model.*, visual_projection.*]", NULL};
    setenv("DRUM_PROFILE", "1", 1); /* its table names the backward passes that ran */
    rc = run_drum(log, f, 0, NULL, 0);
    unsetenv("DRUM_PROFILE");
    CHECK(rc == 0, "training with train.freeze: exit %d (log %s)", rc, log);
    /* pre-training back-propagates both towers alike; training then only the text tower */
    char *prof = test_slurp(log);
    const char *bi = prof ? strstr(prof, "\nbackward images ") : NULL;
    const char *bt = prof ? strstr(prof, "\nbackward texts ") : NULL;
    long ni = bi ? strtol(bi + 17, NULL, 10) : 0, nt = bt ? strtol(bt + 16, NULL, 10) : 0;
    CHECK(bt && nt > ni, "a wholly frozen image tower's backward pass is skipped: %ld image and "
          "%ld text backward calls (log %s)", ni, nt, log);
    free(prof);
    char w0[300], w1[300];
    snprintf(w0, sizeof w0, "%s/clip0/model.safetensors", out);
    snprintf(w1, sizeof w1, "%s/round1/model.safetensors", out);
    CHECK(same_tensor(w0, w1, "vision_model.encoder.layers.0.mlp.fc1.weight"),
          "a frozen vision weight changed");
    CHECK(same_tensor(w0, w1, "vision_model.embeddings.class_embedding"),
          "the frozen class embedding changed");
    CHECK(!same_tensor(w0, w1, "text_model.encoder.layers.0.mlp.fc1.weight"),
          "a trainable text weight did not change");
    /* not in DRUM's loss (a fixed temperature): no gradient, so no weight decay either */
    CHECK(same_tensor(w0, w1, "logit_scale"), "logit_scale changed in DRUM training");
    /* the clipping norm covers the trainable parameters alone: at step 1 (the same weights
     * and batch as run_a's) freezing the vision encoder but not its projection lowers the
     * norm, and freezing the projection too lowers it further; the loss stays */
    char vm[300];
    snprintf(vm, sizeof vm, "%s/run_freeze_encoder", tmp);
    write_config(fcfg, vm);
    const char *fv[] = {drum_bin, "train", fcfg, "--set", "train.rounds=1", "--set",
                        "train.freeze=[vision_model.*]", NULL};
    rc = run_drum(log, fv, 0, NULL, 0);
    CHECK(rc == 0, "training with the vision encoder frozen: exit %d (log %s)", rc, log);
    char all[300];
    snprintf(all, sizeof all, "%s/run_a", tmp);
    drum_step_stats sa, sv, sw;
    CHECK(step_line(all, 1, &sa) && step_line(vm, 1, &sv) && step_line(out, 1, &sw) &&
              sa.loss == sv.loss && sa.loss == sw.loss && sa.grad_norm > sv.grad_norm &&
              sv.grad_norm > sw.grad_norm,
          "step 1: loss %.9g, %.9g, %.9g; gradient norm %.9g (nothing frozen) > %.9g (the "
          "vision encoder) > %.9g (and its projection)", sa.loss, sv.loss, sw.loss,
          (double)sa.grad_norm, (double)sv.grad_norm, (double)sw.grad_norm);
    /* a pattern matching nothing (a typo) is an error when the job opens, in a fresh run
     * directory before any draft */
    char typo_out[300], typo_set[340], typo_drafts[340];
    snprintf(typo_out, sizeof typo_out, "%s/run_freeze_typo", tmp);
    snprintf(typo_set, sizeof typo_set, "train.out=%s", typo_out);
    snprintf(typo_drafts, sizeof typo_drafts, "%s/drafts.jsonl", typo_out);
    const char *g[] = {drum_bin, "train", fcfg, "--set", "train.freeze=[no_such_param*]",
                       "--set", typo_set, NULL};
    fails_before_lvlm("a freeze pattern matching nothing", g,
                      "freeze pattern 'no_such_param*' matches no parameter", NULL, NULL,
                      typo_drafts);
}

/* text with the first `from` replaced by `to` (malloc'd); NULL when text lacks it. */
static char *replaced(const char *text, const char *from, const char *to) {
    const char *at = text ? strstr(text, from) : NULL;
    if (!at) return NULL;
    size_t a = (size_t)(at - text), b = strlen(from), c = strlen(to), n = strlen(text);
    char *out = malloc(n - b + c + 1);
    if (!out) return NULL;
    memcpy(out, text, a);
    memcpy(out + a, to, c);
    memcpy(out + a + c, at + b, n - a - b + 1);
    return out;
}

/* The number after "<row>...<shots>-shot: mean " in a job's log, as printed (into out). */
static int mean_in_log(const char *log, const char *row, const char *shots, char *out, size_t n) {
    char key[64];
    snprintf(key, sizeof key, "%s-shot: mean ", shots);
    for (const char *at = log ? strstr(log, row) : NULL; at; at = strstr(at + 1, row)) {
        const char *eol = strchr(at, '\n'), *m = strstr(at, key);
        if (m && (!eol || m < eol)) {
            m += strlen(key);
            size_t len = strcspn(m, "\n");
            snprintf(out, n, "%.*s", (int)len, m);
            return 0;
        }
    }
    return -1;
}

/* A job whose retriever is a Hugging Face CLIP directory (config.json with vocab.json and
 * merges.txt beside it), as the real-data configs in experiments/ name one: pre-trained by
 * the job, trained a round, and the round's directory then read back by `drum eval` as its
 * model (it holds the tokenizer files too): SIT with it gives DRUM r1's numbers. A tokenizer
 * that does not fit the config fails at open. */
static void test_hf_config_job(void) {
    char hf[300], src[300], dst[400], cfg[300], out[300], evo[300], log[300], path[340];
    snprintf(hf, sizeof hf, "%s/hf_clip", tmp);
    snprintf(cfg, sizeof cfg, "%s/hf.yaml", tmp);
    snprintf(out, sizeof out, "%s/run_hf", tmp);
    snprintf(evo, sizeof evo, "%s/run_hf_eval", tmp);
    snprintf(log, sizeof log, "%s/hf.log", tmp);
    mkdir(hf, 0777);
    static const char *const tok_files[] = {"vocab.json", "merges.txt"};
    for (int i = 0; i < 2; i++) {
        char name[64];
        snprintf(name, sizeof name, "tokenizer/%s", tok_files[i]);
        fixture(src, sizeof src, name);
        snprintf(dst, sizeof dst, "%s/%s", hf, tok_files[i]);
        CHECK(copy_file(src, dst) == 0, "copying %s", src);
    }
    /* the tiny parity model's shapes, with the fixture tokenizer's 3514 ids and 16 positions */
    fixture(src, sizeof src, "clip/tiny_quickgelu/config.json");
    char *base = test_slurp(src), *v = replaced(base, "\"vocab_size\": 97", "\"vocab_size\": 3514");
    char *good = replaced(v, "\"max_position_embeddings\": 11", "\"max_position_embeddings\": 16");
    char *eos5 = replaced(good, "\"eos_token_id\": 2", "\"eos_token_id\": 5");
    CHECK(good && eos5, "editing %s", src);
    if (!good || !eos5) goto done;
    snprintf(path, sizeof path, "%s/config.json", hf);
    write_text_file(path, good);
    test_write_mini_config(cfg, tmp, out, "");
    char model[400], drafts[420];
    snprintf(model, sizeof model, "model.config=%s", path);
    snprintf(drafts, sizeof drafts, "%s/drafts.jsonl", out);
    const char *t[] = {drum_bin, "train", cfg, "--set", model, "--set", "train.rounds=1", NULL};
    int rc = run_drum(log, t, 0, NULL, 0);
    char *text = test_slurp(log), m_train[32] = "", m_eval[32] = "";
    CHECK(rc == 0 && mean_in_log(text, "DRUM r1", "2", m_train, sizeof m_train) == 0,
          "drum train with a Hugging Face config.json: exit %d, %s", rc, text ? text : "");
    free(text);
    for (int i = 0; i < 2; i++) {
        char tokf[340];
        snprintf(tokf, sizeof tokf, "%s/%s", hf, tok_files[i]);
        snprintf(dst, sizeof dst, "%s/round1/%s", out, tok_files[i]);
        CHECK(test_same_file(tokf, dst), "round1/ lacks the tokenizer's %s", tok_files[i]);
    }
    char round_cfg[400], round_w[400];
    snprintf(round_cfg, sizeof round_cfg, "model.config=%s/round1/config.json", out);
    snprintf(round_w, sizeof round_w, "model.checkpoint=%s/round1/model.safetensors", out);
    char eval_out[400];
    snprintf(eval_out, sizeof eval_out, "train.out=%s", evo);
    const char *e[] = {drum_bin, "eval", cfg, "--set", round_cfg, "--set", round_w,
                       "--set", eval_out, "--set", "eval.strategies=[SIT]", NULL};
    rc = run_drum(log, e, 0, NULL, 0);
    text = test_slurp(log);
    CHECK(rc == 0 && mean_in_log(text, "SIT ", "2", m_eval, sizeof m_eval) == 0 &&
              strcmp(m_eval, m_train) == 0,
          "drum eval with round1/ as the model: exit %d, SIT 2-shot %s against DRUM r1's %s: %s",
          rc, m_eval, m_train, text ? text : "");
    free(text);
    /* tokenizers that do not fit: ids past the embedding table, another end-of-text id */
    char bad_out[400];
    snprintf(bad_out, sizeof bad_out, "train.out=%s_bad", out);
    snprintf(drafts, sizeof drafts, "%s_bad/drafts.jsonl", out);
    const char *tb[] = {drum_bin, "train", cfg, "--set", model, "--set", bad_out, NULL};
    write_text_file(path, base);
    fails_before_lvlm("a config.json whose vocab_size is smaller than its tokenizer's", tb,
                      "text_config.vocab_size is 97, but the tokenizer in", "has ids up to 3513",
                      NULL, drafts);
    write_text_file(path, eos5);
    fails_before_lvlm("a config.json with another eos_token_id than its tokenizer's", tb,
                      "text_config.eos_token_id is 5, but the tokenizer in",
                      "ends texts with id 3513", NULL, drafts);
done:
    free(base);
    free(v);
    free(good);
    free(eos5);
}

/* Generates zero-shot drafts for ds's first n examples with the synthetic LVLM over meta
 * (scorer.seed 7, the default), into out (n malloc'd strings). */
static int simulated_drafts(const char *meta, const drum_dataset *ds, int n, char **out) {
    char err[512];
    drum_synthetic_config sc;
    drum_synthetic_default_config(&sc);
    sc.seed = 7;
    drum_scorer *s = NULL;
    drum_icl_prompt *p = calloc((size_t)n, sizeof *p);
    int rc = p ? drum_synthetic_open(&s, meta, &sc, err, sizeof err) : -1;
    for (int i = 0; rc == 0 && i < n; i++) p[i].query = &ds->ex[i];
    if (rc == 0) rc = s->generate(s, p, n, out, err, sizeof err);
    if (rc) fprintf(stderr, "simulated_drafts: %s\n", err);
    drum_scorer_destroy(s);
    free(p);
    return rc;
}

/* The synthetic LVLM reads the hidden attributes beside the pool's file, not data.dir's:
 * data.dir's suite gives the demo model's tokenizer, and the data may be another suite's,
 * whose ids data.dir's meta.jsonl holds for other examples. Two suites' files together, and
 * examples the meta.jsonl lacks, fail at open. */
static void test_suite_meta(void) {
    char suite[300], log[300], cfg[300], out[300], drafts[340], train[340], evalf[340];
    snprintf(suite, sizeof suite, "%s/suite_b", tmp);
    snprintf(log, sizeof log, "%s/suite_b.log", tmp);
    snprintf(cfg, sizeof cfg, "%s/suite_b.yaml", tmp);
    snprintf(out, sizeof out, "%s/run_suite_b", tmp);
    snprintf(drafts, sizeof drafts, "%s/drafts.jsonl", out);
    snprintf(train, sizeof train, "%s/train.jsonl", suite);
    snprintf(evalf, sizeof evalf, "%s/eval.jsonl", suite);
    const char *g[] = {drum_bin, "synth", suite, "--seed", "4", "--image-size", "32", NULL};
    int rc = run_drum(log, g, 0, NULL, 0);
    CHECK(rc == 0, "drum synth %s: exit %d", suite, rc);
    /* data.dir stays the mini suite: its tokenizer is run_a's retriever's; the scorer's seed
     * is simulated_drafts' */
    test_write_mini_config(cfg, tmp, out, "scorer: {seed: 7}\n");
    char set_train[400], set_eval[400], set_ckpt[400];
    snprintf(set_train, sizeof set_train, "data.train=%s", train);
    snprintf(set_eval, sizeof set_eval, "data.eval=%s", evalf);
    snprintf(set_ckpt, sizeof set_ckpt, "model.checkpoint=%s/run_a/round2/model.safetensors", tmp);
    const char *e[] = {drum_bin, "eval", cfg, "--set", set_train, "--set", set_eval,
                       "--set", set_ckpt, "--set", "eval.strategies=[RS]",
                       "--set", "eval.shots=[1]", NULL};
    rc = run_drum(log, e, 0, NULL, 0);
    char *text = test_slurp(log);
    CHECK(rc == 0 && text &&
              strstr(text, "model: demo-tiny, the demo's tiny CLIP, reads texts with the "
                           "tokenizer of the synthetic suite in"),
          "eval on another suite's files: exit %d, %s", rc, text ? text : "");
    free(text);
    /* its drafts are what the simulator answers with that suite's meta.jsonl */
    drum_dataset ds;
    char err[512], meta[340], *want[20] = {0};
    snprintf(meta, sizeof meta, "%s/meta.jsonl", suite);
    if (drum_dataset_load(&ds, evalf, err, sizeof err) == 0) {
        int same = 0, n = ds.n < 20 ? ds.n : 20;
        char *got = test_slurp(drafts);
        if (got && simulated_drafts(meta, &ds, n, want) == 0) {
            for (int i = 0; i < n; i++) {
                char line[512];
                cJSON *d = cJSON_CreateString(want[i]);
                char *q = d ? cJSON_PrintUnformatted(d) : NULL;
                snprintf(line, sizeof line,
                         "{\"id\": \"%s\", \"split\": \"eval\", \"draft\": %s}\n",
                         ds.ex[i].id, q ? q : "");
                same += strstr(got, line) != NULL;
                free(q);
                cJSON_Delete(d);
            }
        }
        CHECK(n == 20 && same == n, "%d of %d eval drafts are the simulator's over %s", same, n,
              meta);
        for (int i = 0; i < n; i++) free(want[i]);
        free(got);
        drum_dataset_free(&ds);
    } else {
        CHECK(0, "%s", err);
    }
    /* a pool from this suite and queries from the mini suite */
    char mini_eval[400];
    snprintf(mini_eval, sizeof mini_eval, "data.eval=%s/data/eval.jsonl", tmp);
    const char *two[] = {drum_bin, "eval", cfg, "--set", set_train, "--set", mini_eval,
                         "--set", set_ckpt, NULL};
    remove(drafts);
    fails_before_lvlm("two suites' files", two, "are two suites' (their meta.jsonl differ)", NULL,
                      NULL, drafts);
    /* the pool's file alone elsewhere: no meta.jsonl beside it */
    char alone[300], moved[340], set_moved[400];
    snprintf(alone, sizeof alone, "%s/alone", tmp);
    snprintf(moved, sizeof moved, "%s/train.jsonl", alone);
    mkdir(alone, 0777);
    CHECK(copy_file(train, moved) == 0, "copying %s", train);
    snprintf(set_moved, sizeof set_moved, "data.train=%s", moved);
    const char *lone[] = {drum_bin, "eval", cfg, "--set", set_moved, "--set", set_eval,
                          "--set", set_ckpt, NULL};
    fails_before_lvlm("a pool file without its meta.jsonl", lone, "no meta.jsonl beside", moved,
                      NULL, drafts);
    /* queries beside no meta.jsonl are looked up in the pool's: an id it lacks is named */
    char *ev = test_slurp(evalf), *renamed = replaced(ev, "\"id\":\"eval-", "\"id\":\"other-");
    char sub[340], set_sub[400];
    snprintf(sub, sizeof sub, "%s/eval.jsonl", alone);
    if (renamed) write_text_file(sub, renamed);
    snprintf(set_sub, sizeof set_sub, "data.eval=%s", sub);
    const char *unknown[] = {drum_bin, "eval", cfg, "--set", set_train, "--set", set_sub,
                             "--set", set_ckpt, NULL};
    CHECK(renamed != NULL, "renaming an id of %s", evalf);
    fails_before_lvlm("a query id the pool's meta.jsonl lacks", unknown,
                      "eval.jsonl:1: id \"other-", "has no hidden attributes in", NULL, drafts);
    free(ev);
    free(renamed);
}

/* drum_steps_log_open keeps the lines up to the resumed step and cuts the rest: later
 * steps, a torn last line; it says when the file holds fewer; a fresh run (step 0) empties it. */
static void test_steps_log_open(void) {
    char path[300], err[256], note[512];
    snprintf(path, sizeof path, "%s/steps_open.jsonl", tmp);
    const char *lines = "{\"step\": 1, \"a\": 1}\n{\"step\": 2, \"a\": 2}\n"
                        "{\"step\": 3, \"a\": 3}\n{\"step\": 4, \"a\": 4}\n{\"step\": 5, \"a";
    struct {
        long step;
        size_t keep; /* bytes of `lines` left */
        const char *note;
    } cases[] = {{2, 40, ""}, {4, 80, ""}, {5, 80, "holds 4 of the 5 steps"}, {0, 0, ""}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_text_file(path, lines);
        drum_steps_log *l = drum_steps_log_open(path, cases[i].step, note, sizeof note, err,
                                                sizeof err);
        drum_step_stats st = {cases[i].step + 1, 1, 1, 1, 8, 2.5, 1.5, 1.0, 1e-3f, 0.5f};
        int wrote = l && drum_steps_log_write(l, &st, err, sizeof err) == 0;
        drum_steps_log_close(l);
        char *text = test_slurp(path), want[64];
        snprintf(want, sizeof want, "{\"step\": %ld, \"round\": 1,", cases[i].step + 1);
        CHECK(wrote && text && strlen(text) > cases[i].keep &&
                  strncmp(text, lines, cases[i].keep) == 0 &&
                  strncmp(text + cases[i].keep, want, strlen(want)) == 0 &&
                  (cases[i].note[0] ? strstr(note, cases[i].note) != NULL : note[0] == '\0'),
              "steps log opened at step %ld: %s (note '%s', %s)", cases[i].step,
              text ? text : "(none)", note, wrote ? "written" : err);
        free(text);
    }
    snprintf(path, sizeof path, "%s/no_such_dir/steps.jsonl", tmp);
    CHECK(!drum_steps_log_open(path, 0, note, sizeof note, err, sizeof err) &&
              strstr(err, "no_such_dir/steps.jsonl: No such file"),
          "steps log in a missing directory: %s", err);
}

int main(int argc, char **argv) {
    (void)argc;
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return 1;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    *slash = '\0';
    snprintf(drum_bin, sizeof drum_bin, "%s/../drum", self);
    (void)argv;
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    printf("working in %s\n", tmp);
    test_cut_texts();
    test_steps_log_open();
    test_record_config();
    test_resume();
    test_partial_clip0();
    test_micro_batch();
    test_errors();
    test_synth_cli();
    test_job_help();
    test_cli_arguments();
    test_job_parts();
    test_exec_scorer_job();
    test_eval_on_pool();
    test_pad_example();
    test_sampled_queries();
    test_many_evaluations();
    test_eval_stop();
    test_demo_resume_in_baselines();
    test_stop_unwritable_checkpoint();
    test_demo_stop_in_mining();
    test_pretrain_stop();
    test_synth_stop();
    test_resume_finished();
    test_embed_retrieve_export();
    test_converted_eval();
    test_hateful_memes_eval();
    test_mine_and_freeze();
    test_cache_follows_edits();
    test_hf_config_job();
    test_suite_meta();
    int rc = check_summary();
    if (rc == 0 && test_remove_tree(tmp) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    return rc;
}
