/* cmd_job.c — `drum demo`, `drum train`, `drum eval`: a job config, then the job calls. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "commands.h"
#include "drum/comm.h"
#include "drum/config.h"
#include "drum/drum.h"
#include "drum/exec_scorer.h"
#include "drum/fileio.h"
#include "drum/job.h"
#include "drum/retrieval.h"
#include "drum/rng.h"
#include "progress_line.h"

static volatile sig_atomic_t stop_flag;
static volatile sig_atomic_t speak; /* rank 0 says what a signal does */

/* The first SIGINT/SIGTERM/SIGUSR1 asks the job to stop at its next safe point; a second ends
 * the process and its LVLM processes at once (the caches have kept every answered batch
 * either way). */
static void on_signal(int sig) {
    if (stop_flag) {
        drum_exec_signal_children(SIGKILL); /* they ignore sig (exec_scorer.h) */
        signal(sig, SIG_DFL);
        raise(sig); /* pending until this handler returns, then fatal */
        return;
    }
    stop_flag = 1;
    static const char msg[] = "\ndrum: stopping at the next safe point (a training step's "
                              "checkpoint, a pre-training epoch, an embedding batch or the "
                              "LVLM's next batch); signal again to end now\n";
    if (speak) {
        ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1); /* async-signal-safe */
        (void)w;
    }
}

static void log_line(const char *line) {
    fprintf(stderr, "drum: %s\n", line);
    fflush(stderr);
}

static const char *job_name(job_kind kind) {
    return kind == JOB_DEMO    ? "demo"
           : kind == JOB_TRAIN ? "train"
           : kind == JOB_EVAL  ? "eval"
                               : "mine";
}

/* What a job of this kind does (job.h). */
static int job_parts(job_kind kind) {
    return kind == JOB_DEMO    ? DRUM_JOB_BASELINES | DRUM_JOB_ROUNDS
           : kind == JOB_TRAIN ? DRUM_JOB_ROUNDS
           : kind == JOB_EVAL  ? DRUM_JOB_BASELINES
                               : DRUM_JOB_MINE;
}

/* Whether a job of this kind runs DRUM's rounds (and writes train.ckpt). */
static int trains(job_kind kind) { return kind == JOB_DEMO || kind == JOB_TRAIN; }

/* What a job would overwrite in train.out (drum_job_check_out): a run that does not resume
 * is refused over an unfinished run's checkpoint unless fresh (its note logged), an
 * evaluation over a training run's results. Returns 0 or -1. */
static int not_overwriting(const drum_job_config *cfg, job_kind kind, int resume, int fresh,
                           char *err, size_t errlen) {
    if (kind == JOB_MINE || (trains(kind) && resume)) return 0;
    char note[1024];
    if (drum_job_check_out(cfg, trains(kind), fresh, note, sizeof note, err, errlen)) return -1;
    if (note[0]) log_line(note);
    return 0;
}

/* How a stopped job of this kind continues. */
static const char *stopped_hint(job_kind kind) {
    return trains(kind)
               ? "continue with --resume (the LVLM's answers and scores so far are cached)"
               : "run the same command again to continue (the LVLM's answers and scores so far "
                 "are cached)";
}

static void job_usage(FILE *f, job_kind kind) {
    const char *name = job_name(kind);
    fprintf(f,
            "usage: drum %s %s [--set key=value]... %s [--check]\n"
            "\n"
            "  CONFIG            a YAML job config (docs/CONFIG.md)%s\n"
            "  --set key=value   override one config key, e.g. --set backend=cuda\n"
            "%s"
            "  --check           read the config, the data (every image decoded), the model and\n"
            "                    the LVLM's hello, say how many prompts the job would ask the\n"
            "                    LVLM and the images' memory, and stop: nothing asked,\n"
            "                    nothing written to train.out (a synthetic suite that\n"
            "                    data.dir lacks is generated there first)\n"
            "%s"
            "\n"
            "Ctrl-C, SIGTERM or SIGUSR1 stops it at the next safe point (a training step, an\n"
            "embedding batch, the LVLM's next batch) with exit status 3; %s continues.\n"
            "Under mpirun send SIGUSR1 to mpirun, which kills the ranks a second after a Ctrl-C\n"
            "(or, where mpirun does not pass SIGUSR1 on, to any one rank's drum process).\n",
            name, kind == JOB_DEMO ? "[CONFIG]" : "CONFIG",
            kind == JOB_MINE ? "[--out FILE]" : kind == JOB_EVAL ? "" : "[--resume | --fresh]",
            kind == JOB_DEMO ? "; default experiments/demo.yaml" : "",
            kind == JOB_MINE   ? "  --out FILE        candidate lists (default train.out/candidates.jsonl)\n"
            : kind == JOB_EVAL ? ""
                               : "  --resume          continue from train.out/train.ckpt\n"
                                 "  --fresh           start afresh over an unfinished run's train.ckpt\n"
                                 "                    (without either, a run refuses to overwrite it)\n",
            kind == JOB_MINE || kind == JOB_EVAL
                ? ""
                : "                    (with --resume: train.ckpt verified against the settings,\n"
                  "                    the data and the images, as the resume would)\n",
            kind == JOB_MINE || kind == JOB_EVAL ? "the same command" : "--resume");
}

/* Every rank must run the same command on the same resolved configuration with the same
 * drum: each reads its own file and --set values, and a rank with another setting would
 * finish with other results and exit 0, or fail in a collective saying nothing of why
 * (found by an audit). 0, or -1 on every rank naming the first that differs. */
static int same_on_every_rank(drum_comm *comm, const drum_job_config *cfg, job_kind kind,
                              int resume, char *err, size_t errlen) {
    if (comm->size == 1) return 0;
    char *text = drum_cfg_write_string(drum_job_config_schema, cfg), how[256];
    snprintf(how, sizeof how, "%s %s resume=%d", drum_source_revision(), job_name(kind), resume);
    uint64_t digest = text ? drum_fnv1a(how, strlen(how), drum_comm_digest(text, strlen(text)))
                           : 0; /* 0: this rank could not say */
    free(text);
    return drum_comm_check_same(comm, digest, "settings (the command, its resolved "
                                "configuration and drum's revision)",
                                "every rank must run the same command and configuration with "
                                "the same drum (mpirun -n N drum ... gives each the same)",
                                err, errlen);
}

int cmd_job(int argc, char **argv, job_kind kind) {
    const char *path = NULL;
    int resume = 0, fresh = 0, check = 0, out_lock = -1;
    const char *mine_out = NULL;
    char err[2048];
    drum_job_config cfg;
    if (drum_job_config_init(&cfg, err, sizeof err)) {
        fprintf(stderr, "drum: %s\n", err);
        return 1;
    }
    /* the config file first, then the overrides in order */
    for (int i = 1; i < argc; i++) {
        int r = 0;
        if (arg_is_help(argv[i])) {
            job_usage(stdout, kind);
            drum_job_config_free(&cfg);
            return 0;
        } else if (strcmp(argv[i], "--set") == 0) {
            i++;
        } else if (strcmp(argv[i], "--resume") == 0 && trains(kind)) {
            resume = 1;
        } else if (strcmp(argv[i], "--fresh") == 0 && trains(kind)) {
            fresh = 1;
        } else if (strcmp(argv[i], "--check") == 0) {
            check = 1;
        } else if (kind == JOB_MINE && (r = arg_value(argc, argv, &i, "--out", &mine_out))) {
            if (r < 0) {
                drum_job_config_free(&cfg);
                return 2;
            }
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "drum: unknown option '%s'\n", argv[i]);
            job_usage(stderr, kind);
            drum_job_config_free(&cfg);
            return 2;
        } else if (arg_positional("CONFIG", argv[i], &path)) {
            drum_job_config_free(&cfg);
            return 2;
        }
    }
    if (!path && kind == JOB_DEMO) path = "experiments/demo.yaml";
    if (resume && fresh) {
        fprintf(stderr, "drum: --resume and --fresh exclude each other\n");
        drum_job_config_free(&cfg);
        return 2;
    }
    if (!path) {
        job_usage(stderr, kind);
        drum_job_config_free(&cfg);
        return 2;
    }
    int rc = 1;
    drum_job *job = NULL;
    drum_comm *comm = NULL;
    if (drum_cfg_load_file(drum_job_config_schema, &cfg, path, err, sizeof err)) goto fail;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--set") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "drum: --set needs key=value\n");
                rc = 2;
                goto out;
            }
            if (drum_cfg_set(drum_job_config_schema, &cfg, argv[++i], err, sizeof err)) goto fail;
        }
    if (drum_job_config_finish(&cfg, err, sizeof err)) goto fail;
    if (kind == JOB_TRAIN && cfg.train.rounds == 0) { /* before any data is read */
        snprintf(err, sizeof err, "train.rounds is 0: drum train would have nothing to do (drum "
                 "eval evaluates the baselines alone; drum demo with 0 rounds runs them too)");
        goto fail;
    }
    if (check && cli_check_comm_env(err, sizeof err)) goto fail;
    if (check && cli_launched_ranks() > 1) { /* each would check alone, and all print */
        fprintf(stderr, "drum: --check runs in one process (it reads what every rank would "
                "read): start it without mpirun\n");
        rc = 2;
        goto out;
    }
    if (check) {
        /* with --resume over a checkpoint, the settings are compared as the run would (the
         * comparison reads config.yaml and writes nothing) */
        char *ckpt = drum_path_join(cfg.train.out, "train.ckpt");
        char *rec = drum_path_join(cfg.train.out, "config.yaml");
        int resumes = resume && ckpt && rec && drum_file_exists(ckpt) && drum_file_exists(rec);
        free(ckpt);
        free(rec);
        char note[1024] = "";
        if (resumes && drum_job_record_config(&cfg, job_name(kind), 1, 0, note, sizeof note, err,
                                              sizeof err))
            goto fail;
        if (note[0]) log_line(note);
        if (not_overwriting(&cfg, kind, resume, fresh, err, sizeof err)) goto fail;
        if (resume)
            log_line(resumes ? "--resume: the settings match the checkpoint's run"
                             : "--resume: no checkpoint there yet; the job would start afresh");
        cli_progress pl;
        drum_progress progress;
        cli_progress_init(&pl, &progress);
        int parts = job_parts(kind) | (resumes ? DRUM_JOB_RESUME : 0);
        if (drum_job_check(&cfg, parts, &progress, log_line, err, sizeof err)) goto fail;
        rc = 0;
        goto out;
    }

    if (cli_open_comm(&comm, err, sizeof err) ||
        same_on_every_rank(comm, &cfg, kind, resume, err, sizeof err))
        goto fail;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGUSR1, on_signal); /* mpirun passes it on to every rank as it is */
    cli_progress pl;
    drum_progress progress;
    cli_progress_init(&pl, &progress);
    /* the other ranks of a data-parallel run work silently: rank 0 speaks for all */
    int lead = comm->rank == 0;
    speak = lead;
    if (lead && comm->size > 1)
        fprintf(stderr, "drum: data parallel over %d %s ranks\n", comm->size, comm->name);
    /* one job a run directory: rank 0 holds its lock until the job ends */
    if (lead && (out_lock = drum_job_lock_out(&cfg, job_name(kind), err, sizeof err)) < 0)
        goto fail;
    char note[1024] = "";
    if (lead && not_overwriting(&cfg, kind, resume, fresh, err, sizeof err)) goto fail;
    /* the jobs that write results record the configuration beside them (`mine` writes only
     * its candidate lists, and leaves a run directory's record alone) */
    if (lead && kind != JOB_MINE &&
        drum_job_record_config(&cfg, job_name(kind), resume, comm->size, note, sizeof note, err,
                               sizeof err))
        goto fail;
    if (note[0]) log_line(note);
    int parts = job_parts(kind) | (resume && trains(kind) ? DRUM_JOB_RESUME : 0);
    if (drum_job_open(&job, &cfg, parts, comm, lead ? &progress : NULL, &stop_flag,
                      lead ? log_line : NULL, err, sizeof err))
        goto fail;
    /* DRUM's rows come from training: say so rather than leave them out silently */
    for (int i = 0; lead && kind == JOB_EVAL && i < cfg.eval.strategies.n; i++) {
        drum_strategy s;
        if (drum_strategy_parse(cfg.eval.strategies.v[i], &s) == 0 && s == DRUM_STRATEGY_DRUM)
            log_line("eval.strategies: DRUM is evaluated after each round of drum train and drum "
                     "demo, not by drum eval; to evaluate a tuned retriever, list SIT and set "
                     "model.checkpoint: RUN/roundN/model.safetensors");
    }
    if (kind == JOB_MINE) {
        char cands[4096];
        snprintf(cands, sizeof cands, "%s/candidates.jsonl", cfg.train.out);
        if (drum_job_mine(job, mine_out ? mine_out : cands, err, sizeof err)) goto fail;
        rc = 0;
        goto out;
    }
    if (kind != JOB_TRAIN && drum_job_baselines(job, err, sizeof err)) goto fail;
    if (kind != JOB_EVAL) {
        int t = drum_job_train(job, resume, err, sizeof err);
        if (t < 0) goto fail;
        if (t == 1) {
            rc = 3;
            goto out;
        }
    }
    const char *report = drum_job_report(job, err, sizeof err);
    if (!report) goto fail;
    if (lead) {
        printf("%s", report);
        fprintf(stderr, "drum: results in %s/results.md and results.jsonl\n", cfg.train.out);
    }
    rc = 0;
    goto out;
fail:
    if (drum_job_stopped(job)) { /* every rank agreed: no rank failed */
        if (comm->rank == 0) fprintf(stderr, "drum: %s: %s\n", err, stopped_hint(kind));
        rc = 3;
        goto out;
    }
    cli_fail_ranks(comm, "drum", err);
    fprintf(stderr, "drum: %s\n", err);
out:
    drum_job_close(job);
    drum_job_config_free(&cfg);
    if (comm) comm->destroy(comm);
    if (out_lock >= 0) close(out_lock);
    return rc;
}
