/* trainer.h — DRUM's iterative mining and list-wise training (docs/METHOD.md).
 *
 * Each round: embed the pool with the current retriever -> retrieve the top K for every
 * training query (itself excluded) with SIT -> score the first `scored_per_round` pairs
 * not scored before with the LVLM (through the score cache) -> merge them into the query's
 * candidate list -> train `epochs` epochs with L = L_rank + lambda * L_ctr (or ListNet /
 * ListMLE in place of L_rank) -> the caller's round-end hook (evaluation).
 *
 * Everything random is a hash of (seed, round, epoch, batch, ...), never a running
 * generator, so a run resumed from a checkpoint takes the same batches as an uninterrupted
 * one: on `cpu` the final weights are byte-identical.
 */
#ifndef DRUM_TRAINER_H
#define DRUM_TRAINER_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "drum/clip_model.h"
#include "drum/comm.h"
#include "drum/config.h"
#include "drum/data.h"
#include "drum/prepare.h"
#include "drum/progress.h"
#include "drum/retrieval.h"
#include "drum/rng.h"
#include "drum/score.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int rounds;             /* R */
    int candidates_k;       /* K retrieved per query when mining */
    int scored_per_round;   /* l new pairs scored per query per round */
    int epochs;             /* E per round */
    int batch_queries;      /* queries per step, all of one task family when groups are set */
    int list_size;          /* candidate slots per query per step (padding: random negatives) */
    float lr;
    int warmup_steps;       /* linear warm-up, then cosine decay to 0 over the run */
    float weight_decay, grad_clip; /* clip <= 0: off */
    float tau;              /* similarity temperature */
    float lambda;           /* weight of the contrastive term */
    drum_loss_kind loss;
    float listnet_tau;      /* ListNet's target temperature */
    float w_img, w_txt;     /* SIT weights */
    char **freeze;          /* fnmatch patterns over HF parameter names; frozen = not updated */
    int n_freeze;
    int checkpoint_every;   /* steps; 0: only at round boundaries */
    uint64_t seed;
    int queries;            /* training queries: drum_sample_queries of this many pool examples
                             * (the others only demonstrations); 0 or >= the pool: all */
    int exclude_same_image; /* mining passes over candidates whose image file has the query's
                             * bytes (image_digest): still K others, the pool permitting */
    int micro_rows;         /* image-text rows per tower pass in a step (gradient caching: all
                             * rows' features first, the loss, then each micro-batch encoded
                             * again and back-propagated); 0 or >= a rank's rows: one pass */
    const uint64_t *fingerprints; /* {data, image, text} the checkpoints carry, when the caller
                                   * has them (a job's, which go on over its queries); NULL:
                                   * drum_trainer_init takes the pool's (drum_pool_fingerprints) */
} drum_train_opts;

typedef struct {
    int demo;               /* index in the pool */
    float fb;               /* LVLM feedback s(x, c) */
} drum_candidate;

typedef struct {
    drum_candidate *c;
    int n, cap;
} drum_candidate_list;

typedef struct drum_train_buffers drum_train_buffers;

/* One optimizer step, as train.out/steps.jsonl records it (docs/FORMATS.md). */
typedef struct {
    long step;                /* 1-based: the steps taken, this one included */
    int round, epoch, batch;  /* 1-based; batch: within the epoch */
    int queries;              /* the batch's queries */
    double loss;              /* the step's loss: list + lambda * contrastive */
    double list, contrastive; /* the two terms, each the mean over the batch's queries */
    float lr;                 /* the learning rate the step applied */
    float grad_norm;          /* the trainable parameters' gradient norm, before clipping */
} drum_step_stats;

/* An open steps.jsonl (steps_log.c). */
typedef struct drum_steps_log drum_steps_log;

typedef enum { DRUM_PHASE_MINE = 0, DRUM_PHASE_TRAIN, DRUM_PHASE_ROUND_END, DRUM_PHASE_DONE } drum_phase;

typedef struct {
    drum_train_opts o;
    drum_backend *be;
    drum_clip_model *m;          /* a training model with room for batch*(1+list) rows */
    const drum_clip_params *p;
    const drum_dataset *pool;    /* the support pool; also the training queries */
    unsigned char *is_query;     /* per pool example: a training query (opts.queries samples
                                  * them); NULL: all. The others are demonstrations only */
    int most_per_image;          /* with opts.exclude_same_image: the most pool examples
                                  * showing one image (drum_prepared_most_per_image); else 1 */
    /* what the checkpoints were made on, kept in them: drum_dataset_fingerprint(pool),
     * drum_prepared_image_fingerprint(prep) and drum_prepared_text_fingerprint(prep), which a
     * job continues with its evaluation queries' (a resume restores their earlier rows) */
    uint64_t data_fingerprint, image_fingerprint, text_fingerprint;
    /* drum_params_fingerprint of the weights the run started from (a training model's; 0
     * for mining alone): a resume reads them again, for the baselines beside the restored
     * rounds, so a checkpoint refuses other ones */
    uint64_t model_fingerprint;
    const drum_prepared *prep;   /* pool prepared with demo AND query templates */
    drum_scorer *scorer;         /* usually the score cache around the LVLM */
    drum_candidate_list *cand;   /* per pool example */
    /* pool example -> task family; queries mine only their own family's pool (NULL: one) */
    const int *groups;
    int n_groups;
    /* position, saved in checkpoints */
    int round, epoch, batch;
    drum_phase phase;
    long step;                   /* optimizer steps so far */
    long total_steps;
    double last_loss;
    /* the checkpoint file, or NULL for none; saved_at: where the file's checkpoint stands
     * (drum_train_position), "" while it holds none of this run. A failed write names it. */
    const char *checkpoint_path;
    char saved_at[128];
    int checkpoint_failed; /* a write failed: an error, even in a stop (drum_job_stopped) */
    /* the steps log, or NULL for none: a line per step, fsynced before each checkpoint */
    drum_steps_log *steps_log;
    volatile sig_atomic_t *stop; /* set by a signal handler: checkpoint and return 1 */
    drum_progress progress;
    /* called after each round's training, with the retriever as trained so far; may
     * evaluate; returns 0 or -1 (error in err) */
    int (*round_end)(void *user, int round, char *err, size_t errlen);
    void *round_end_user;
    unsigned char *frozen;       /* per parameter-table entry */
    /* every parameter of that tower (and its projection) frozen: its backward pass, whose
     * gradients would all be zeroed, is skipped */
    int images_frozen, texts_frozen;
    drum_train_buffers *buf;
    /* the pool's embeddings under the weights as they stood at step pool_emb_step, offered by
     * the caller (drum_trainer_offer_pool); owned. Mining at that step takes them instead of
     * embedding the pool again */
    drum_embeddings pool_emb;
    long pool_emb_step;
    /* the ranks of a data-parallel run (NULL: one process). Each rank encodes its share of
     * every batch's queries (with their candidates); the features are all-gathered, every
     * rank computes the whole batch's loss and its rows' gradients, and the gradients are
     * summed before the optimizer step, so all ranks keep the same weights (checked at
     * every round's end). Only a rank with a checkpoint_path writes one. */
    drum_comm *comm;
} drum_trainer;

/* Hands the trainer e: drum_embed_prepared(comm, m, prep, pool, 0, ...) of its pool under
 * the weights as they stand now (a round's evaluation has them; so do the baselines, before
 * the first round). The next mining takes them when no step and no checkpoint load came
 * between; else they are freed unused. *e is emptied (the trainer owns the rows). */
void drum_trainer_offer_pool(drum_trainer *t, drum_embeddings *e);

/* Marks in frozen (p->n entries, or NULL to check only) the parameters some fnmatch pattern
 * of patterns[0..n) names. Returns 0, or -1 naming a pattern that matches none (a typo): a
 * job checks this when it opens, before the LVLM is asked anything. */
int drum_freeze_match(const drum_clip_params *p, char *const *patterns, int n,
                      unsigned char *frozen, char *err, size_t errlen);

/* drum_hash_bytes (rng.h) of total float32 parameters on be, never 0: what a checkpoint keeps
 * of the weights its run started from. 0 when they could not be read back (be's error). */
uint64_t drum_params_fingerprint(drum_backend *be, const float *params, size_t total);

/* The pool's part of a trainer's fingerprints: drum_dataset_fingerprint(pool),
 * drum_prepared_image_fingerprint(prep) and drum_prepared_text_fingerprint(prep), which
 * drum_trainer_init sets and a job continues with its evaluation queries'. */
void drum_pool_fingerprints(const drum_dataset *pool, const drum_prepared *prep, uint64_t *data,
                            uint64_t *image, uint64_t *text);

/* The training queries of a pool of n examples when a run samples `count` of them
 * (train.queries): *mask a malloc'd n bytes, 1 for the first `count` of a permutation seeded
 * by seed, else 0; NULL when every example is a query (count <= 0 or >= n). Returns 0, or -1
 * out of memory (with a message). A job asks the sampled queries' drafts with it; the trainer
 * mines and trains them alone. */
int drum_sample_queries(int n, int count, uint64_t seed, unsigned char **mask, char *err,
                        size_t errlen);

/* Sets up a trainer (candidate lists empty, position at round 0, mining). To train, the
 * model must be a training model whose max_images and max_texts hold a pass: the step's
 * batch_queries*(1+list_size) rows, or micro_rows; an inference model serves mining alone
 * (drum_trainer_mine; drum_trainer_run refuses it).
 * comm: the ranks of a data-parallel run, or NULL for one process.
 * Returns 0 or -1 (a freeze pattern matching nothing is an error, so typos show). */
int drum_trainer_init(drum_trainer *t, const drum_train_opts *o, drum_backend *be,
                      drum_clip_model *m, const drum_clip_params *p, const drum_dataset *pool,
                      const drum_prepared *prep, drum_scorer *scorer, drum_comm *comm,
                      char *err, size_t errlen);
void drum_trainer_free(drum_trainer *t);

/* Runs (or continues) the rounds. Returns 0 when done, 1 when stopped by *stop or
 * progress.stop (a checkpoint was written), -1 on error. */
int drum_trainer_run(drum_trainer *t, char *err, size_t errlen);

/* One mining step with the current retriever: retrieve the top K for every training query
 * (its own task family's pool when groups are set; itself excluded), score the first
 * scored_per_round pairs not scored before, and append them to the candidate lists.
 * Returns 0, 1 when progress.stop stopped it in the embedding or before a chunk of scores
 * (the candidate lists unchanged), or -1 on error. */
int drum_trainer_mine(drum_trainer *t, char *err, size_t errlen);

/* Where a run stands, for a log: "round 2, epoch 1, batch 7, step 21", "round 1, mining,
 * step 0", ... (phase: a drum_phase). Returns buf. */
const char *drum_train_position(int round, int epoch, int batch, int phase, long step, char *buf,
                                size_t n);

/* Checkpoint: parameters, AdamW moments and step, position, candidate lists; written
 * atomically (tmp + fsync + rename) with a checksum. load refuses a file made for another
 * model size or pool. */
int drum_trainer_save_checkpoint(drum_trainer *t, const char *path, char *err, size_t errlen);
int drum_trainer_load_checkpoint(drum_trainer *t, const char *path, char *err, size_t errlen);

/* What a checkpoint must have been made for to be resumed: the trainer's options (batch,
 * list size, rounds, epochs and seed are compared), the model's parameter count, the pool's
 * size, the fingerprints of the data, the images and the texts, and of the weights the run
 * started from (drum_trainer's; model_fingerprint 0: not known yet, not compared). */
typedef struct {
    drum_train_opts opts;
    size_t params;
    int pool;
    uint64_t data_fingerprint, image_fingerprint, text_fingerprint, model_fingerprint;
} drum_checkpoint_run;

/* Checks, without a trainer, that path is a checkpoint of the run `want` describes, as
 * drum_trainer_load_checkpoint would: whole, the file's checksum and size too (`--resume
 * --check`); else its header alone (a job's early check, before the load reads it whole).
 * *round and *phase get where it stands. Returns 0, or -1 with load's message. */
int drum_checkpoint_verify(const char *path, const drum_checkpoint_run *want, int whole,
                           int *round, int *phase, char *err, size_t errlen);

/* Where the checkpoint at path stands (drum_train_position; from its header alone, which a
 * resume checks with the rest), and *done: whether its run had finished. Returns 0, or -1
 * when path is not a checkpoint this drum reads. */
int drum_checkpoint_where(const char *path, char *where, size_t n, int *done, char *err,
                          size_t errlen);

/* Reads only the parameters (total floats) of a checkpoint into host, verifying its
 * magic, size and checksum: for `drum export`. Returns 0 or -1. */
int drum_checkpoint_read_params(const char *path, size_t total, float *host, char *err,
                                size_t errlen);

/* Embeds prepared examples with model m (batch rows at a time): L2-normalised image
 * features and the demo (use_query_text = 0) or query text features, ids from ds. With a
 * comm of several ranks (NULL: one), each rank embeds its slice and every rank gets all.
 * progress.stop (when set) is asked before every batch, the same number of times on every
 * rank. Returns 0, 1 when it stopped the embedding (*out empty, "stopped" in err), or -1. */
int drum_embed_prepared(drum_comm *comm, drum_clip_model *m, const drum_prepared *prep,
                        const drum_dataset *ds, int use_query_text, int batch,
                        const drum_progress *progress, drum_embeddings *out, char *err,
                        size_t errlen);

/* A pool example for a padding slot of query qi's list in a training step (n pool
 * examples): a uniform draw among those of qi's family (groups NULL: the whole pool) other
 * than qi and, with digests (exclude_same_image), other than those showing qi's image (an
 * equal digest). It draws from the whole pool until one qualifies, which is cheap while the
 * family is a fair share of the pool; after 1000 misses (a family under ~0.5% of the pool)
 * it takes the k-th qualifying example, k drawn. Returns -1 when none qualifies. */
int drum_pad_example(int n, const int *groups, const uint64_t *digests, int qi, drum_rng *r);

/* Opens the steps log at path for a run that has taken `step` steps (0: a fresh run, which
 * empties it): the lines of steps up to `step` are kept, later ones (taken after the
 * checkpoint a resume continues from) and a torn last line are cut. When the file holds fewer
 * than `step` lines (removed or edited), note says so and the run appends to what is there.
 * Returns the log, or NULL with err. */
drum_steps_log *drum_steps_log_open(const char *path, long step, char *note, size_t notelen,
                                    char *err, size_t errlen);
/* Appends s's line and flushes it. Returns 0, or -1 with the path and error (a full disk). */
int drum_steps_log_write(drum_steps_log *l, const drum_step_stats *s, char *err, size_t errlen);
/* fsyncs the log: what a checkpoint written next holds is then in the file. */
int drum_steps_log_sync(drum_steps_log *l, char *err, size_t errlen);
void drum_steps_log_close(drum_steps_log *l);

/* The learning rate at a step: linear warm-up to lr, then cosine decay to 0 at total. */
float drum_lr_at(float lr, long step, int warmup, long total);

#ifdef __cplusplus
}
#endif
#endif
