/* checkpoint.c — the trainer's checkpoint file (docs/FORMATS.md, "Training checkpoint").
 *
 * "DRUMCKP6", a fixed header of little-endian integers, the parameter, AdamW m and v
 * buffers (float32), the candidate lists, and a checksum (drum_hash_bytes) of everything
 * before it. Written to path.tmp, fsynced, renamed: a crash leaves the previous checkpoint. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drum/fileio.h"
#include "drum/rng.h"
#include "drum/trainer.h"

/* format 2 added the data's fingerprint to the header (format 1 was 8 bytes shorter), format
 * 3 the images' (format 2 was 8 bytes shorter), format 4 the texts' (format 3 was 8 bytes
 * shorter), format 5 the starting weights' (format 4 was 8 bytes shorter), format 6 the lane
 * hash for the checksum (format 5's was FNV-1a 64) */
static const char CKPT_MAGIC[8] = {'D', 'R', 'U', 'M', 'C', 'K', 'P', '6'};

typedef struct {
    uint64_t params;       /* floats per buffer */
    uint32_t pool;         /* pool examples */
    uint32_t round, epoch, batch, phase;
    int64_t step;
    int32_t adam_step;
    uint32_t batch_queries, list_size, rounds, epochs;
    uint64_t seed;
    double last_loss;
    uint64_t data_fingerprint;  /* the trainer's: the examples it was made on */
    uint64_t image_fingerprint; /* and their images, as the towers saw them */
    uint64_t text_fingerprint;  /* and their texts' token ids (the tokenizer's doing) */
    uint64_t model_fingerprint; /* the weights the run started from */
} ckpt_header;
_Static_assert(sizeof(ckpt_header) == 112, "docs/FORMATS.md gives the header as 112 bytes");

/* 0 when buf (len bytes) starts with this format's magic and holds at least need bytes;
 * else -1 with a message naming path (another format's version, when it is one). */
static int check_magic(const unsigned char *buf, size_t len, size_t need, const char *path,
                       char *err, size_t errlen) {
    if (len >= sizeof CKPT_MAGIC && memcmp(buf, CKPT_MAGIC, 7) == 0 && buf[7] != CKPT_MAGIC[7]) {
        snprintf(err, errlen,
                 "%s: a checkpoint of format %c; this drum reads format %c (docs/FORMATS.md): "
                 "start the run afresh, or resume it with the drum that wrote it",
                 path, buf[7], CKPT_MAGIC[7]);
        return -1;
    }
    if (len < need || memcmp(buf, CKPT_MAGIC, sizeof CKPT_MAGIC) != 0) {
        snprintf(err, errlen, "%s: not a drum training checkpoint (bad magic or too short)", path);
        return -1;
    }
    return 0;
}

/* The checksum: drum_hash_bytes of every byte before it (format 6; FNV-1a 64 until format 5,
 * a quarter of its speed: ~6 s a save for ViT-L/14's 5 GB of weights and AdamW moments). */
static uint64_t checksum(const void *p, size_t n) { return drum_hash_bytes(p, n, DRUM_FNV1A_INIT); }

typedef struct {
    FILE *f;
    drum_hash_state h; /* the checksum, fed as the file is written */
} hashed_writer;

static void hw_write(hashed_writer *w, const void *p, size_t n) {
    if (n == 0) return; /* an empty candidate list's NULL */
    drum_hash_update(&w->h, p, n);
    fwrite(p, 1, n, w->f);
}

int drum_trainer_save_checkpoint(drum_trainer *t, const char *path, char *err, size_t errlen) {
    drum_backend *be = t->be;
    size_t total = t->p->total;
    float *host = malloc(total * sizeof(float));
    if (!host) {
        snprintf(err, errlen, "checkpoint: out of memory for %zu parameters", total);
        return -1;
    }
    char *tmp = NULL;
    FILE *f = drum_atomic_open(path, &tmp, err, errlen);
    if (!f) {
        free(host);
        return -1;
    }
    hashed_writer w = {.f = f};
    drum_hash_begin(&w.h, DRUM_FNV1A_INIT);
    ckpt_header h;
    memset(&h, 0, sizeof h); /* padding bytes too: the same run writes the same bytes */
    h.params = total;
    h.pool = (uint32_t)t->pool->n;
    h.round = (uint32_t)t->round;
    h.epoch = (uint32_t)t->epoch;
    h.batch = (uint32_t)t->batch;
    h.phase = (uint32_t)t->phase;
    h.step = t->step;
    h.adam_step = t->m->step;
    h.batch_queries = (uint32_t)t->o.batch_queries;
    h.list_size = (uint32_t)t->o.list_size;
    h.rounds = (uint32_t)t->o.rounds;
    h.epochs = (uint32_t)t->o.epochs;
    h.seed = t->o.seed;
    h.last_loss = t->last_loss;
    h.data_fingerprint = t->data_fingerprint;
    h.image_fingerprint = t->image_fingerprint;
    h.text_fingerprint = t->text_fingerprint;
    h.model_fingerprint = t->model_fingerprint;
    hw_write(&w, CKPT_MAGIC, sizeof CKPT_MAGIC);
    hw_write(&w, &h, sizeof h);
    float *bufs[3] = {t->m->params, t->m->adam_m, t->m->adam_v};
    for (int k = 0; k < 3; k++) {
        be->to_host(be, host, bufs[k], total * sizeof(float));
        hw_write(&w, host, total * sizeof(float));
    }
    free(host);
    for (int i = 0; i < t->pool->n; i++) {
        uint32_t n = (uint32_t)t->cand[i].n;
        hw_write(&w, &n, sizeof n);
        hw_write(&w, t->cand[i].c, n * sizeof(drum_candidate));
    }
    if (!drum_backend_ok(be)) {
        snprintf(err, errlen, "checkpoint: reading the model back from %s: %s", be->name, be->err);
        drum_atomic_abort(f, tmp);
        return -1;
    }
    uint64_t sum = drum_hash_end(&w.h);
    fwrite(&sum, sizeof sum, 1, f);
    return drum_atomic_commit(f, tmp, path, err, errlen);
}

/* 0 when a checkpoint's fingerprint of `what` equals the data's now; else -1 with a message
 * naming whose fingerprint differs and what to resume with. */
static int other_data(const char *path, const char *what, const char *whose, const char *with,
                      uint64_t had, uint64_t now, char *err, size_t errlen) {
    if (had == now) return 0;
    snprintf(err, errlen,
             "%s: made on other %s: the training pool's or the evaluation queries' %s are not "
             "the ones it was made with (fingerprint %016llx, now %016llx): resume with %s, or "
             "start afresh",
             path, what, whose, (unsigned long long)had, (unsigned long long)now, with);
    return -1;
}

/* 0 when header h (of the checkpoint at path) is the run `want` describes; else -1 with a
 * message naming what differs. */
static int header_matches(const char *path, const ckpt_header *h, const drum_checkpoint_run *want,
                          char *err, size_t errlen) {
    const drum_train_opts *o = &want->opts;
    if (h->params != want->params || h->pool != (uint32_t)want->pool ||
        h->batch_queries != (uint32_t)o->batch_queries ||
        h->list_size != (uint32_t)o->list_size || h->rounds != (uint32_t)o->rounds ||
        h->epochs != (uint32_t)o->epochs || h->seed != o->seed) {
        snprintf(err, errlen,
                 "%s: made for another run (params %llu vs %zu, pool %u vs %d, batch %u/%d, "
                 "list %u/%d, rounds %u/%d, epochs %u/%d, seed %llu/%llu): resume with the "
                 "configuration that wrote it",
                 path, (unsigned long long)h->params, want->params, h->pool, want->pool,
                 h->batch_queries, o->batch_queries, h->list_size, o->list_size, h->rounds,
                 o->rounds, h->epochs, o->epochs, (unsigned long long)h->seed,
                 (unsigned long long)o->seed);
        return -1;
    }
    if (other_data(path, "data",
                   "examples (ids, image paths, prompts, responses, answers, tasks)", "that data",
                   h->data_fingerprint, want->data_fingerprint, err, errlen) ||
        other_data(path, "images", "images, as decoded, resized and cropped,",
                   "those image files", h->image_fingerprint, want->image_fingerprint, err,
                   errlen) ||
        other_data(path, "texts", "texts, as tokenized (the tokenizer's vocabulary, merges and "
                   "special tokens, and retrieval.demo_text),", "that tokenizer",
                   h->text_fingerprint, want->text_fingerprint, err, errlen))
        return -1;
    if (want->model_fingerprint && h->model_fingerprint != want->model_fingerprint) {
        snprintf(err, errlen,
                 "%s: made from other starting weights: the retriever the run started from "
                 "(model.checkpoint, or train.out/clip0/ when it names none) is not the one it "
                 "was made with (fingerprint %016llx, now %016llx): resume with those weights, "
                 "or start afresh",
                 path, (unsigned long long)h->model_fingerprint,
                 (unsigned long long)want->model_fingerprint);
        return -1;
    }
    if (h->phase > DRUM_PHASE_DONE) {
        snprintf(err, errlen, "%s: not a drum training checkpoint (phase %u)", path, h->phase);
        return -1;
    }
    return 0;
}

/* Reads path whole into *buf and its header into *h: this format's magic, room for the header
 * and the checksum, and the checksum right. Returns 0, or -1 (*buf freed). */
static int read_checked(const char *path, unsigned char **buf, size_t *len, ckpt_header *h,
                        char *err, size_t errlen) {
    *buf = (unsigned char *)drum_read_file(path, len, err, errlen);
    if (!*buf) return -1;
    uint64_t sum;
    if (check_magic(*buf, *len, sizeof CKPT_MAGIC + sizeof *h + sizeof sum, path, err, errlen))
        goto fail;
    memcpy(&sum, *buf + *len - sizeof sum, sizeof sum);
    memcpy(h, *buf + sizeof CKPT_MAGIC, sizeof *h);
    if (checksum(*buf, *len - sizeof sum) != sum) {
        /* the weights, both AdamW moments and a count per pool example at the least */
        double least = (double)(sizeof CKPT_MAGIC + sizeof *h + sizeof sum) +
                       3.0 * (double)h->params * sizeof(float) + 4.0 * h->pool;
        char cut[96] = "";
        if ((double)*len < least)
            snprintf(cut, sizeof cut, " (cut short? %zu bytes, where its header asks %.0f or "
                     "more)", *len, least);
        snprintf(err, errlen, "%s: checksum mismatch: the checkpoint is corrupt%s. drum wrote it "
                 "whole (it renames a synced file), so it was changed or copied in part since; "
                 "a resume cannot continue from it: start over with --fresh (the LVLM's cached "
                 "answers and scores beside it are kept)", path, cut);
        goto fail;
    }
    return 0;
fail:
    free(*buf);
    *buf = NULL;
    return -1;
}

/* Reads path whole into *buf and its header into *h, and checks that it is the checkpoint of
 * the run `want` describes (drum_checkpoint_verify). Returns 0, or -1 (*buf freed). */
static int read_matching(const char *path, const drum_checkpoint_run *want, unsigned char **buf,
                         size_t *len, ckpt_header *h, char *err, size_t errlen) {
    if (read_checked(path, buf, len, h, err, errlen)) return -1;
    if (header_matches(path, h, want, err, errlen)) goto fail;
    size_t off = sizeof CKPT_MAGIC + sizeof *h;
    if (*len - sizeof(uint64_t) < off + 3 * want->params * sizeof(float)) {
        snprintf(err, errlen, "%s: truncated checkpoint", path);
        goto fail;
    }
    return 0;
fail:
    free(*buf);
    *buf = NULL;
    return -1;
}

/* The magic and header of the checkpoint at path into *h. Returns 0, or -1 with a message. */
static int read_header(const char *path, ckpt_header *h, char *err, size_t errlen) {
    unsigned char buf[sizeof CKPT_MAGIC + sizeof(ckpt_header)];
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    if (check_magic(buf, len, sizeof buf, path, err, errlen)) return -1;
    memcpy(h, buf + sizeof CKPT_MAGIC, sizeof *h);
    return 0;
}

int drum_checkpoint_verify(const char *path, const drum_checkpoint_run *want, int whole,
                           int *round, int *phase, char *err, size_t errlen) {
    unsigned char *buf = NULL;
    size_t len;
    ckpt_header h;
    if (whole ? read_matching(path, want, &buf, &len, &h, err, errlen)
              : read_header(path, &h, err, errlen) || header_matches(path, &h, want, err, errlen))
        return -1;
    free(buf);
    *round = (int)h.round;
    *phase = (int)h.phase;
    return 0;
}

int drum_checkpoint_where(const char *path, char *where, size_t n, int *done, char *err,
                          size_t errlen) {
    ckpt_header h;
    if (read_header(path, &h, err, errlen)) return -1;
    if (h.phase > DRUM_PHASE_DONE) {
        snprintf(err, errlen, "%s: not a drum training checkpoint (phase %u)", path, h.phase);
        return -1;
    }
    drum_train_position((int)h.round, (int)h.epoch, (int)h.batch, (int)h.phase, (long)h.step,
                        where, n);
    *done = h.phase == DRUM_PHASE_DONE;
    return 0;
}

int drum_trainer_load_checkpoint(drum_trainer *t, const char *path, char *err, size_t errlen) {
    size_t len = 0;
    unsigned char *buf;
    ckpt_header h;
    size_t total = t->p->total, off = sizeof CKPT_MAGIC + sizeof h;
    drum_checkpoint_run want = {t->o, total, t->pool->n, t->data_fingerprint,
                                t->image_fingerprint, t->text_fingerprint, t->model_fingerprint};
    if (read_matching(path, &want, &buf, &len, &h, err, errlen)) return -1;
    drum_embeddings_free(&t->pool_emb); /* made with the weights the checkpoint replaces */
    int rc = -1;
    drum_backend *be = t->be;
    float *bufs[3] = {t->m->params, t->m->adam_m, t->m->adam_v};
    for (int k = 0; k < 3; k++) {
        be->to_device(be, bufs[k], buf + off, total * sizeof(float));
        off += total * sizeof(float);
    }
    for (int i = 0; i < t->pool->n; i++) {
        uint32_t n;
        if (off + sizeof n > len - sizeof(uint64_t)) goto truncated;
        memcpy(&n, buf + off, sizeof n);
        off += sizeof n;
        if (n > (len - sizeof(uint64_t) - off) / sizeof(drum_candidate)) goto truncated;
        drum_candidate_list *l = &t->cand[i];
        free(l->c);
        l->c = malloc((n ? n : 1) * sizeof(drum_candidate));
        if (!l->c) {
            snprintf(err, errlen, "%s: out of memory", path);
            goto out;
        }
        memcpy(l->c, buf + off, n * sizeof(drum_candidate));
        l->n = l->cap = (int)n;
        off += n * sizeof(drum_candidate);
        for (uint32_t k = 0; k < n; k++)
            if (l->c[k].demo < 0 || l->c[k].demo >= t->pool->n) {
                snprintf(err, errlen, "%s: candidate index out of range", path);
                goto out;
            }
    }
    if (off != len - sizeof(uint64_t)) goto truncated;
    if (!drum_backend_ok(be)) {
        snprintf(err, errlen, "%s: uploading to %s: %s", path, be->name, be->err);
        goto out;
    }
    t->round = (int)h.round;
    t->epoch = (int)h.epoch;
    t->batch = (int)h.batch;
    t->phase = (drum_phase)h.phase;
    t->step = h.step;
    t->m->step = h.adam_step;
    t->last_loss = h.last_loss;
    drum_train_position(t->round, t->epoch, t->batch, t->phase, t->step, t->saved_at,
                        sizeof t->saved_at);
    rc = 0;
    goto out;
truncated:
    snprintf(err, errlen, "%s: truncated or inconsistent candidate lists", path);
out:
    free(buf);
    return rc;
}

int drum_checkpoint_read_params(const char *path, size_t total, float *host, char *err,
                                size_t errlen) {
    size_t len = 0;
    unsigned char *buf;
    ckpt_header h;
    if (read_checked(path, &buf, &len, &h, err, errlen)) return -1;
    size_t off = sizeof CKPT_MAGIC + sizeof h;
    int rc = -1;
    if (h.params != total || len - sizeof(uint64_t) < off + total * sizeof(float)) {
        snprintf(err, errlen, "%s: holds %llu parameters, the model config has %zu", path,
                 (unsigned long long)h.params, total);
    } else {
        memcpy(host, buf + off, total * sizeof(float));
        rc = 0;
    }
    free(buf);
    return rc;
}
