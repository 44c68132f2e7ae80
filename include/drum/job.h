/* job.h — a whole DRUM run from a job config (config.h): data (the synthetic suite when no
 * dataset is given), the LVLM scorer behind the score cache, the tokenizer, the CLIP
 * retriever (model.checkpoint loaded before the LVLM is asked anything, so a wrong path
 * fails at once), zero-shot drafts, the un-tuned retriever otherwise (clip0/ found, or
 * initialised and pre-trained), the baselines, DRUM's rounds and the results table.
 * `drum demo`, `drum train` and `drum eval` are thin layers over these calls.
 *
 * Files under train.out (docs/FORMATS.md): config.yaml (the resolved configuration),
 * drafts.jsonl (the zero-shot drafts), score_cache.bin and, with a real LVLM, answers.jsonl
 * (the LVLM's scores and answers), clip0/ (the un-tuned retriever), train.ckpt (the trainer's
 * checkpoint), round<r>/ (the retriever after round r), results.jsonl (a line per strategy x
 * shots evaluation and per round's NDCG@10 and loss) and results.md (the tables).
 */
#ifndef DRUM_JOB_H
#define DRUM_JOB_H

#include <signal.h>
#include <stddef.h>

#include "drum/comm.h"
#include "drum/config.h"
#include "drum/progress.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct drum_job drum_job;

/* Prepares everything a run needs (see above). Long steps report through progress; *stop
 * (set by a signal handler) interrupts training with a checkpoint, and stops the LVLM's work
 * (zero-shot drafts, k-shot answers, mining's scores) before its next chunk of calls: the
 * call then fails and drum_job_stopped says why; so do embedding, before a batch, and
 * pre-training, before an epoch (with several ranks rank 0 pre-trains alone and tells the
 * others afterwards). *log receives notes for the user (what was generated, loaded or
 * reused), one per line, and may be NULL.
 * parts: what the job will do, DRUM_JOB_* bits below (`drum demo` BASELINES | ROUNDS):
 * the open checks what those parts need (the pool examples mining retrieves from, and calls
 * the LVLM serves), and drum_job_baselines, drum_job_train and drum_job_mine refuse a job not
 * opened for them.
 * comm: the ranks of a data-parallel run (comm.h), or NULL for one process. Every rank calls
 * every job function in the same order; rank 0 alone writes files. */
int drum_job_open(drum_job **out, const drum_job_config *cfg, int parts, drum_comm *comm,
                  const drum_progress *progress, volatile sig_atomic_t *stop,
                  void (*log)(const char *line), char *err, size_t errlen);
void drum_job_close(drum_job *j);

/* The parts of a job (drum_job_open, and the LVLM calls drum_job_check counts): `drum demo`
 * is BASELINES | ROUNDS, `drum train` ROUNDS, `drum eval` BASELINES, `drum mine` MINE. */
enum { DRUM_JOB_BASELINES = 1, DRUM_JOB_ROUNDS = 2, DRUM_JOB_MINE = 4 };
/* With the parts: the job resumes. drum_job_check then verifies train.out/train.ckpt (when
 * there is one) against these data, images and settings; drum_job_open keeps the earlier
 * run's DRUM and NDCG rows in results.jsonl until drum_job_train restores them. */
enum { DRUM_JOB_RESUME = 8 };

/* `--check`: reads everything drum_job_open reads before the LVLM is asked anything (the
 * data with every image decoded, the LVLM's hello, the tokenizer, the model config and a
 * named checkpoint, or an earlier run's clip0/; the synthetic suite is generated when
 * missing) in one process, checks each task has pool examples enough (mining's too, for
 * parts that mine), then logs the model's size and how many prompts the job's parts would ask
 * the LVLM at most (drafts, k-shot prompts, pair scores; those the caches hold are not asked
 * again). Asks nothing, writes nothing to train.out, pre-trains nothing. Returns 0, or -1
 * with the first problem in err. */
int drum_job_check(const drum_job_config *cfg, int parts, const drum_progress *progress,
                   void (*log)(const char *line), char *err, size_t errlen);

/* 1 when the job's last failure was a stop (*stop set, agreed by every rank) rather than an
 * error: nothing was lost that the caches and checkpoint keep; the same command continues
 * (`--resume` for train and demo). A checkpoint that could not be written is an error, not
 * a stop, though a stop asked for it. */
int drum_job_stopped(const drum_job *j);

/* train.out/config.yaml (src/train/run_config.c), called by rank 0 before drum_job_open.
 * A run that does not resume writes cfg there, resolved (threads 0 as the count OpenMP will
 * use), in the YAML `drum <command>` reads, headed by what else decides its bits (backend,
 * OpenBLAS's kernels, ranks).
 * With resume set and train.ckpt present, the file must hold cfg instead: any difference but
 * threads, backend, train.out and scorer.cache is an error naming each key ("train.lr:
 * 1e-05 there, 2e-05 here"); a change of threads or backend is allowed and described in
 * note ("" when none), and so is one of ranks (the count the job runs on; 0: not known,
 * as under --check). With resume, train.ckpt present and the file missing, cfg is written
 * and note says that nothing could be compared. Returns 0 or -1. */
int drum_job_record_config(const drum_job_config *cfg, const char *command, int resume,
                           int ranks, char *note, size_t notelen, char *err, size_t errlen);

/* Takes train.out for this process (rank 0, before drum_job_record_config): an exclusive
 * flock on train.out/drum.lock (created with the directory), which names the holder (pid and
 * command) for the next comer. Returns the lock's descriptor, held until the process closes
 * it or exits; or -1 when another process holds it (naming it, and the way on) or it cannot be
 * taken. Two jobs in one directory would overwrite each other's config.yaml, checkpoint and
 * results. */
int drum_job_lock_out(const drum_job_config *cfg, const char *command, char *err,
                      size_t errlen);

/* What a job that writes train.out would overwrite there (rank 0, with
 * drum_job_record_config), by train.out/train.ckpt:
 * - a run of DRUM's rounds (trains set) that does not resume: its first checkpoint replaces
 *   the file. Over an unfinished run's (or one this drum cannot read) this is an error naming
 *   where it stands and the ways on (--resume, --fresh, another train.out), unless fresh is
 *   set; over a finished run's, or with fresh, note says what will be overwritten;
 * - `drum eval` (trains 0): its results.jsonl, results.md and config.yaml replace those of the
 *   training run the file belongs to, whose per-round rows and settings they keep: an error
 *   naming the run and the ways on (another train.out; a round's retriever as
 *   model.checkpoint; its answers.jsonl as scorer.answers);
 * - without train.ckpt, a results.jsonl there (an evaluation's, or a run's stopped before its
 *   first checkpoint): note names the command config.yaml's header says wrote it, and that
 *   this job replaces it.
 * note is "" when nothing is said. Returns 0 or -1. */
int drum_job_check_out(const drum_job_config *cfg, int trains, int fresh, char *note,
                       size_t notelen, char *err, size_t errlen);

/* Evaluates the strategies named in eval.strategies that need no training (RS, FIXED, SI,
 * ST, SIT) with the current retriever, at every eval.shots. */
int drum_job_baselines(drum_job *j, char *err, size_t errlen);

/* Runs DRUM's rounds (evaluating DRUM after each); continues from train.out/train.ckpt when
 * resume is set and it exists. Returns 0 when done, 1 when stopped by *stop with a
 * checkpoint written, -1 on error (drum_job_stopped: a stop during a round's evaluation,
 * after the checkpoint of its training). */
int drum_job_train(drum_job *j, int resume, char *err, size_t errlen);

/* Round 0's mining alone (`drum mine`): retrieves train.candidates_k for every training
 * query with the current retriever, scores train.scored_per_round new pairs each, and writes
 * path as JSONL {"query": id, "candidates": [{"demo": id, "score": s}, ...]} (best first). */
int drum_job_mine(drum_job *j, const char *path, char *err, size_t errlen);

/* Writes results.md (strategies x shots, the per-round table) under train.out and returns
 * its text (owned by the job). */
const char *drum_job_report(drum_job *j, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
