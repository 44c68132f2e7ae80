/* trainer.c — DRUM's mining rounds and list-wise training steps (trainer.h). */
#include "drum/trainer.h"

#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drum/rng.h"
#include "drum/trace.h"

/* Backend buffers of one training step, sized once for batch_queries*(1+list_size) rows. */
struct drum_train_buffers {
    int rows;          /* B*(1+L) at most */
    int Bmax, Lmax;
    /* host staging */
    int *row_example;  /* (rows) pool index of each image/text row */
    uint8_t *h_levels; /* (rows, 3, S, S) */
    int *h_ids, *h_mask, *h_eos;
    float *h_fb;       /* (B, B*L) */
    int *h_target;     /* (B) */
    float *h_loss;     /* (2B): list and contrastive losses, then their upstream gradients */
    /* device */
    drum_device_levels levels; /* a batch's images as levels, and the table */
    float *pixels;
    int *ids, *mask, *eos;
    float *img_n, *img_norm, *txt_n, *txt_norm; /* (rows, D), (rows) */
    float *feat;       /* (rows, 2D) [w_i v ; w_t t] */
    float *sim, *fb, *probs, *dsim;   /* (B, B*L) */
    int *target;
    float *loss_list, *loss_ctr, *dloss_list, *dloss_ctr; /* (B) */
    float *dfeat;      /* (rows, 2D) */
    float *d_img_n, *d_txt_n, *d_img_f, *d_txt_f; /* (rows, D) */
    float *img_f, *txt_f; /* (rows, D): the towers' features, gathered over micro-batches */
    float *log_scale;  /* 1 */
    /* data parallel (comm size > 1) only: this rank's rows' features and their gradients,
     * the host staging of the all-gather, and the host copy of the gradients */
    float *feat_local, *dfeat_local;  /* device (rows, 2D) */
    float *h_feat_local, *h_feat;     /* (rows, 2D) */
    float *h_grads;                   /* (total parameters) */
    size_t *gather_sizes;             /* (4, ranks): bytes and offsets of the two all-gathers */
};

float drum_lr_at(float lr, long step, int warmup, long total) {
    if (warmup > 0 && step < warmup) return lr * (float)(step + 1) / (float)warmup;
    long span = total - warmup;
    if (span <= 0) return lr;
    double t = (double)(step - warmup) / (double)span;
    if (t > 1) t = 1;
    return (float)(lr * 0.5 * (1.0 + cos(M_PI * t)));
}

static int cand_has(const drum_candidate_list *l, int demo) {
    for (int i = 0; i < l->n; i++)
        if (l->c[i].demo == demo) return 1;
    return 0;
}

static int cand_push(drum_candidate_list *l, int demo, float fb) {
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 16;
        drum_candidate *c = realloc(l->c, (size_t)cap * sizeof *c);
        if (!c) return -1;
        l->c = c;
        l->cap = cap;
    }
    l->c[l->n].demo = demo;
    l->c[l->n].fb = fb;
    l->n++;
    return 0;
}

static void buffers_free(drum_backend *be, drum_train_buffers *b) {
    if (!b) return;
    free(b->row_example);
    free(b->h_levels);
    drum_device_levels_free(be, &b->levels);
    free(b->h_ids);
    free(b->h_mask);
    free(b->h_eos);
    free(b->h_fb);
    free(b->h_target);
    free(b->h_loss);
    free(b->h_feat_local);
    free(b->h_feat);
    free(b->h_grads);
    free(b->gather_sizes);
    void *dev[] = {b->pixels, b->ids, b->mask, b->eos, b->img_n, b->img_norm, b->txt_n,
                   b->txt_norm, b->feat, b->sim, b->fb, b->probs, b->dsim, b->target,
                   b->loss_list, b->loss_ctr, b->dloss_list, b->dloss_ctr, b->dfeat,
                   b->d_img_n, b->d_txt_n, b->d_img_f, b->d_txt_f, b->img_f, b->txt_f,
                   b->log_scale, b->feat_local, b->dfeat_local};
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++) be->free(be, dev[i]);
    free(b);
}

static drum_train_buffers *buffers_create(drum_trainer *t, char *err, size_t errlen) {
    drum_backend *be = t->be;
    drum_train_buffers *b = calloc(1, sizeof *b);
    if (!b) {
        snprintf(err, errlen, "out of memory for training buffers");
        return NULL;
    }
    int B = t->o.batch_queries, L = t->o.list_size, D = t->m->cfg.projection_dim;
    int S = t->prep->S, T = t->prep->T;
    size_t rows = (size_t)B * (1 + L), BL = (size_t)B * B * L;
    b->rows = (int)rows;
    b->Bmax = B;
    b->Lmax = L;
    b->row_example = malloc(rows * sizeof(int));
    b->h_levels = malloc(rows * 3 * S * S);
    b->h_ids = malloc(rows * T * sizeof(int));
    b->h_mask = malloc(rows * T * sizeof(int));
    b->h_eos = malloc(rows * sizeof(int));
    b->h_fb = malloc(BL * sizeof(float));
    b->h_target = malloc((size_t)B * sizeof(int));
    b->h_loss = malloc((size_t)B * 2 * sizeof(float));
    b->pixels = be->alloc(be, rows * 3 * S * S * sizeof(float));
    b->ids = be->alloc(be, rows * T * sizeof(int));
    b->mask = be->alloc(be, rows * T * sizeof(int));
    b->eos = be->alloc(be, rows * sizeof(int));
    b->img_n = be->alloc(be, rows * D * sizeof(float));
    b->img_norm = be->alloc(be, rows * sizeof(float));
    b->txt_n = be->alloc(be, rows * D * sizeof(float));
    b->txt_norm = be->alloc(be, rows * sizeof(float));
    b->feat = be->alloc(be, rows * 2 * D * sizeof(float));
    b->sim = be->alloc(be, BL * sizeof(float));
    b->fb = be->alloc(be, BL * sizeof(float));
    b->probs = be->alloc(be, BL * sizeof(float));
    b->dsim = be->alloc(be, BL * sizeof(float));
    b->target = be->alloc(be, (size_t)B * sizeof(int));
    b->loss_list = be->alloc(be, (size_t)B * sizeof(float));
    b->loss_ctr = be->alloc(be, (size_t)B * sizeof(float));
    b->dloss_list = be->alloc(be, (size_t)B * sizeof(float));
    b->dloss_ctr = be->alloc(be, (size_t)B * sizeof(float));
    b->dfeat = be->alloc(be, rows * 2 * D * sizeof(float));
    b->d_img_n = be->alloc(be, rows * D * sizeof(float));
    b->d_txt_n = be->alloc(be, rows * D * sizeof(float));
    b->d_img_f = be->alloc(be, rows * D * sizeof(float));
    b->d_txt_f = be->alloc(be, rows * D * sizeof(float));
    b->img_f = be->alloc(be, rows * D * sizeof(float));
    b->txt_f = be->alloc(be, rows * D * sizeof(float));
    b->log_scale = be->alloc(be, sizeof(float));
    int parallel = t->comm && t->comm->size > 1;
    if (parallel) {
        b->feat_local = be->alloc(be, rows * 2 * D * sizeof(float));
        b->dfeat_local = be->alloc(be, rows * 2 * D * sizeof(float));
        b->h_feat_local = malloc(rows * 2 * D * sizeof(float));
        b->h_feat = malloc(rows * 2 * D * sizeof(float));
        b->h_grads = malloc(t->p->total * sizeof(float));
        b->gather_sizes = malloc(4 * (size_t)t->comm->size * sizeof(size_t));
    }
    if (drum_device_levels_alloc(be, t->prep, (int)rows, &b->levels, err, errlen)) {
        buffers_free(be, b);
        return NULL;
    }
    if (!b->row_example || !b->h_levels || !b->h_ids || !b->h_mask || !b->h_eos || !b->h_fb ||
        !b->h_target || !b->h_loss || !drum_backend_ok(be) ||
        (parallel && (!b->h_feat_local || !b->h_feat || !b->h_grads || !b->gather_sizes))) {
        snprintf(err, errlen, "out of memory for training buffers (%zu rows): %s", rows,
                 be->err[0] ? be->err : "host allocation failed");
        buffers_free(be, b);
        return NULL;
    }
    float log_scale = logf(1.0f / t->o.tau);
    be->to_device(be, b->log_scale, &log_scale, sizeof log_scale);
    return b;
}

int drum_freeze_match(const drum_clip_params *p, char *const *patterns, int n,
                      unsigned char *frozen, char *err, size_t errlen) {
    for (int f = 0; f < n; f++) {
        int hits = 0;
        for (int e = 0; e < p->n; e++)
            if (fnmatch(patterns[f], p->entries[e].name, 0) == 0) {
                if (frozen) frozen[e] = 1;
                hits++;
            }
        if (!hits) {
            snprintf(err, errlen, "freeze pattern '%s' matches no parameter (names look like "
                     "'vision_model.encoder.layers.0.mlp.fc1.weight')", patterns[f]);
            return -1;
        }
    }
    return 0;
}

static int match_freeze(drum_trainer *t, char *err, size_t errlen) {
    t->frozen = calloc((size_t)t->p->n + 1, 1);
    if (!t->frozen) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* DRUM's loss scores with the fixed temperature train.tau: logit_scale is not in its
     * graph, so torch would give it no gradient and AdamW would skip it (no weight decay).
     * Frozen here, it keeps its pre-trained value. */
    for (int e = 0; e < t->p->n; e++)
        if (strcmp(t->p->entries[e].name, "logit_scale") == 0) t->frozen[e] = 1;
    if (drum_freeze_match(t->p, t->o.freeze, t->o.n_freeze, t->frozen, err, errlen)) return -1;
    t->images_frozen = t->texts_frozen = 1;
    for (int e = 0; e < t->p->n; e++) {
        const char *name = t->p->entries[e].name;
        if (strncmp(name, "vision_model.", 13) == 0 || strncmp(name, "visual_projection", 17) == 0)
            t->images_frozen &= t->frozen[e];
        else if (strncmp(name, "text_model.", 11) == 0 || strncmp(name, "text_projection", 15) == 0)
            t->texts_frozen &= t->frozen[e];
    }
    return 0;
}

uint64_t drum_params_fingerprint(drum_backend *be, const float *params, size_t total) {
    enum { CHUNK = 1 << 20 }; /* floats read back at a time from a device */
    drum_hash_state st;
    drum_hash_begin(&st, drum_hash64(DRUM_FNV1A_INIT, total));
    if (be->kind == DRUM_BACKEND_CPU) { /* the parameters are in host memory */
        drum_hash_update(&st, params, total * sizeof(float));
    } else {
        float *host = malloc((total < CHUNK ? total : CHUNK) * sizeof(float) + 1); /* never 0 */
        if (!host) {
            DRUM_FAIL(be, "out of memory reading %zu parameters back", total);
            return 0;
        }
        for (size_t at = 0; at < total && drum_backend_ok(be); at += CHUNK) {
            size_t n = total - at < CHUNK ? total - at : CHUNK;
            be->to_host(be, host, params + at, n * sizeof(float));
            drum_hash_update(&st, host, n * sizeof(float));
        }
        free(host);
        if (!drum_backend_ok(be)) return 0;
    }
    uint64_t d = drum_hash_end(&st);
    return d ? d : 1;
}

void drum_pool_fingerprints(const drum_dataset *pool, const drum_prepared *prep, uint64_t *data,
                            uint64_t *image, uint64_t *text) {
    *data = drum_dataset_fingerprint(pool);
    *image = drum_prepared_image_fingerprint(prep, DRUM_FNV1A_INIT);
    *text = drum_prepared_text_fingerprint(prep, DRUM_FNV1A_INIT);
}

int drum_trainer_init(drum_trainer *t, const drum_train_opts *o, drum_backend *be,
                      drum_clip_model *m, const drum_clip_params *p, const drum_dataset *pool,
                      const drum_prepared *prep, drum_scorer *scorer, drum_comm *comm,
                      char *err, size_t errlen) {
    memset(t, 0, sizeof *t);
    t->o = *o;
    t->comm = comm ? comm : drum_comm_single();
    t->be = be;
    t->m = m;
    t->p = p;
    t->pool = pool;
    if (o->fingerprints) { /* the caller's: a large pool's images take seconds to hash */
        t->data_fingerprint = o->fingerprints[0];
        t->image_fingerprint = o->fingerprints[1];
        t->text_fingerprint = o->fingerprints[2];
    } else {
        drum_pool_fingerprints(pool, prep, &t->data_fingerprint, &t->image_fingerprint,
                               &t->text_fingerprint);
    }
    t->prep = prep;
    t->scorer = scorer;
    int rows = o->batch_queries * (1 + o->list_size);
    if (o->batch_queries < 1 || o->list_size < 1 || o->rounds < 1 || o->epochs < 1 ||
        o->scored_per_round < 1 || o->candidates_k < o->scored_per_round) {
        snprintf(err, errlen, "train: need batch_queries, list_size, rounds, epochs, "
                 "scored_per_round >= 1 and candidates_k >= scored_per_round");
        return -1;
    }
    int pass = o->micro_rows > 0 && o->micro_rows < rows ? o->micro_rows : rows;
    /* an inference model (no gradients) serves mining alone: drum_trainer_run refuses it */
    if (m->grads && (m->max_images < pass || m->max_texts < pass)) {
        snprintf(err, errlen, "train: the model must be a training model with room for %d rows "
                 "(batch_queries x (1 + list_size), or train.micro_batch)", pass);
        return -1;
    }
    if (!prep->query_ids) {
        snprintf(err, errlen, "train: the pool must be prepared with a query template");
        return -1;
    }
    if (!scorer->score) {
        snprintf(err, errlen, "train: scorer %s does not score pairs, which mining needs",
                 scorer->id);
        return -1;
    }
    if (pool->n < o->candidates_k + 1 || pool->n < o->list_size + 1) {
        int need = o->candidates_k > o->list_size ? o->candidates_k : o->list_size;
        snprintf(err, errlen, "train: the pool has %d examples, fewer than %s + 1 = %d",
                 pool->n, need == o->candidates_k ? "candidates_k" : "list_size", need + 1);
        return -1;
    }
    t->cand = calloc((size_t)pool->n, sizeof *t->cand);
    if (!t->cand) {
        snprintf(err, errlen, "out of memory for candidate lists");
        return -1;
    }
    t->most_per_image = o->exclude_same_image ? drum_prepared_most_per_image(prep) : 1;
    if (t->most_per_image < 0) {
        snprintf(err, errlen, "out of memory counting the pool's images");
        return -1;
    }
    if (drum_sample_queries(pool->n, o->queries, o->seed, &t->is_query, err, errlen) ||
        match_freeze(t, err, errlen)) return -1;
    if (!m->grads) return 0;
    t->model_fingerprint = drum_params_fingerprint(be, m->params, p->total);
    if (!t->model_fingerprint) {
        snprintf(err, errlen, "train: reading the starting weights back: %s", be->err);
        return -1;
    }
    t->buf = buffers_create(t, err, errlen);
    if (!t->buf) return -1;
    return 0;
}

void drum_trainer_free(drum_trainer *t) {
    if (t->cand)
        for (int i = 0; i < t->pool->n; i++) free(t->cand[i].c);
    free(t->cand);
    free(t->is_query);
    free(t->frozen);
    if (t->buf) buffers_free(t->be, t->buf);
    drum_embeddings_free(&t->pool_emb);
    memset(t, 0, sizeof *t);
}

void drum_trainer_offer_pool(drum_trainer *t, drum_embeddings *e) {
    drum_embeddings_free(&t->pool_emb);
    t->pool_emb = *e;
    t->pool_emb_step = t->step;
    memset(e, 0, sizeof *e);
}

/* ---------------------------------------------------------------- embedding ---- */

/* One pass of the towers over rows of a prepared set. */
typedef struct {
    const int *ids, *mask, *eos; /* token rows (prep->T wide): the text tower runs on them;
                                  * NULL: it does not */
    int images;                  /* the image tower runs, on prep's rows of levels in turn
                                  * (rows NULL): each example's own when the texts run too
                                  * (no image_of) */
    const int *rows;             /* out's row r is token row rows[r]; NULL: row r */
    int n;                       /* out's rows */
    const char *stage;           /* for progress and stop messages */
} embed_pass;

/* Fills out (n rows, allocated by the caller with image rows if images and text rows if ids),
 * this rank's slice embedded, then gathered; not normalised. 0, 1 when progress stopped it,
 * -1 on an error. */
static int embed_pass_run(drum_comm *comm, drum_clip_model *m, const drum_prepared *prep,
                          const embed_pass *p, int batch, const drum_progress *progress,
                          drum_embeddings *out, char *err, size_t errlen) {
    drum_backend *be = m->be;
    int D = m->cfg.projection_dim, S = prep->S, T = prep->T, n = p->n;
    long lo, hi; /* this rank's rows of out */
    drum_comm_slice(n, comm->rank, comm->size, &lo, &hi);
    size_t px = (size_t)3 * S * S;
    float *d_pix = p->images ? be->alloc(be, (size_t)batch * px * sizeof(float)) : NULL;
    drum_device_levels lv = {0};
    int lv_bad = p->images && drum_device_levels_alloc(be, prep, batch, &lv, err, errlen);
    int *d_ids = p->ids ? be->alloc(be, (size_t)batch * T * sizeof(int)) : NULL;
    int *d_mask = p->ids ? be->alloc(be, (size_t)batch * T * sizeof(int)) : NULL;
    int *d_eos = p->ids ? be->alloc(be, (size_t)batch * sizeof(int)) : NULL;
    /* host copies of a batch's token rows, to gather them (rows) or cut them to the batch's
     * longest text (prep->longest) */
    int *h_ids = NULL, *h_mask = NULL, *h_eos = NULL;
    if (lv_bad) DRUM_FAIL(be, "%s", err);
    if (p->ids && (prep->longest || p->rows)) {
        h_ids = malloc((size_t)batch * T * sizeof(int));
        h_mask = malloc((size_t)batch * T * sizeof(int));
        h_eos = malloc((size_t)batch * sizeof(int));
        if (!h_ids || !h_mask || !h_eos)
            DRUM_FAIL(be, "out of memory for %d token rows", batch);
    }
    /* progress.stop is asked before every batch, on every rank the same number of times: the
     * largest slice's batch count (the slices differ by at most one row) */
    long most = 0;
    for (int r = 0; r < comm->size; r++) {
        long a, z;
        drum_comm_slice(n, r, comm->size, &a, &z);
        if (z - a > most) most = z - a;
    }
    /* progress counts every rank's rows, the ranks going batch by batch in step (each asks
     * the stop before every batch), so rank 0's line reads n of n, not its slice */
    int stopped = 0;
    drum_progress_begin(progress, p->stage, 0, n);
    for (long t = 0; t * batch < most && drum_backend_ok(be); t++) {
        if (drum_progress_stopped(progress, p->stage, err, errlen)) {
            stopped = 1;
            break;
        }
        int i0 = (int)(lo + t * batch);
        int b = i0 >= hi ? 0 : hi - i0 < batch ? (int)hi - i0 : batch; /* 0: past the slice */
        if (b > 0 && p->images) {
            be->to_device(be, lv.levels, prep->levels + (size_t)i0 * px, (size_t)b * px);
            be->op.levels_forward(be, d_pix, lv.levels, lv.lut, b, (size_t)S * S);
            if (drum_clip_encode_images(m, d_pix, b)) break;
            be->to_host(be, out->img + (size_t)i0 * D, m->img_features,
                        (size_t)b * D * sizeof(float));
        }
        if (b > 0 && p->ids) {
            int W = T;
            const int *bi = p->ids + (size_t)i0 * T, *bm = p->mask + (size_t)i0 * T,
                      *bq = p->eos + i0;
            if (h_ids) {
                for (int k = 0; k < b; k++) {
                    size_t r = (size_t)(p->rows ? p->rows[i0 + k] : i0 + k);
                    memcpy(h_ids + (size_t)k * T, p->ids + r * T, (size_t)T * sizeof(int));
                    memcpy(h_mask + (size_t)k * T, p->mask + r * T, (size_t)T * sizeof(int));
                    h_eos[k] = p->eos[r];
                }
                if (prep->longest) W = drum_cut_texts(h_ids, h_mask, h_eos, b, T);
                bi = h_ids;
                bm = h_mask;
                bq = h_eos;
            }
            be->to_device(be, d_ids, bi, (size_t)b * W * sizeof(int));
            be->to_device(be, d_mask, bm, (size_t)b * W * sizeof(int));
            be->to_device(be, d_eos, bq, (size_t)b * sizeof(int));
            if (drum_clip_encode_texts(m, d_ids, d_mask, d_eos, b, W)) break;
            be->to_host(be, out->txt + (size_t)i0 * D, m->txt_features,
                        (size_t)b * D * sizeof(float));
        }
        long done = 0; /* every rank's rows after its first t + 1 batches */
        for (int r = 0; r < comm->size; r++) {
            long a, z;
            drum_comm_slice(n, r, comm->size, &a, &z);
            done += z - a < (t + 1) * batch ? z - a : (t + 1) * batch;
        }
        drum_progress_report(progress, p->stage, done, n, NULL);
    }
    be->free(be, d_pix);
    be->free(be, d_ids);
    be->free(be, d_mask);
    be->free(be, d_eos);
    drum_device_levels_free(be, &lv);
    free(h_ids);
    free(h_mask);
    free(h_eos);
    if (stopped) return 1;
    if (!drum_backend_ok(be)) {
        snprintf(err, errlen, "embed on %s: %s", be->name, be->err);
        return -1;
    }
    return drum_embeddings_gather(comm, out, err, errlen) ? -1 : 0;
}

/* The image rows of out (one per example of prep, whose examples share image files): each
 * of prep's distinct images goes through the image tower once, and every example copies its
 * image's row. Returns as embed_pass_run. */
static int embed_shared_images(drum_comm *comm, drum_clip_model *m, const drum_prepared *prep,
                               int batch, const drum_progress *progress, drum_embeddings *out,
                               char *err, size_t errlen) {
    int D = m->cfg.projection_dim;
    drum_embeddings ue; /* a row per image */
    if (drum_embeddings_alloc(&ue, prep->n_images, D, 0, err, errlen)) return -1;
    embed_pass pass = {.images = 1, .n = prep->n_images, .stage = "embed images"};
    int rc = embed_pass_run(comm, m, prep, &pass, batch, progress, &ue, err, errlen);
    for (int i = 0; rc == 0 && i < out->n; i++)
        memcpy(out->img + (size_t)i * D, ue.img + (size_t)prep->image_of[i] * D,
               (size_t)D * sizeof(float));
    drum_embeddings_free(&ue);
    return rc;
}

/* drum_embed_prepared; with images 0 the text tower alone runs, and out has no image rows
 * (img NULL, dim_img 0). With rows (images 0 only), out's row r is example rows[r], for
 * r < nrows; without, every example in turn. Where examples share image files, each file's
 * image goes through the image tower once (a pass of its own, before the texts'). */
static int embed_prepared(drum_comm *comm, drum_clip_model *m, const drum_prepared *prep,
                          const drum_dataset *ds, int use_query_text, int images,
                          const int *rows, int nrows, int batch, const drum_progress *progress,
                          drum_embeddings *out, char *err, size_t errlen) {
    int D = m->cfg.projection_dim, n = rows ? nrows : prep->n;
    if (batch > m->max_images) batch = m->max_images;
    if (batch > m->max_texts) batch = m->max_texts;
    embed_pass pass = {.ids = use_query_text ? prep->query_ids : prep->demo_ids,
                       .mask = use_query_text ? prep->query_mask : prep->demo_mask,
                       .eos = use_query_text ? prep->query_eos : prep->demo_eos,
                       .images = images && !prep->image_of,
                       .rows = rows,
                       .n = n,
                       .stage = use_query_text ? "embed queries" : "embed pool"};
    if (!pass.ids || (rows && images)) {
        snprintf(err, errlen, "embed: %s", pass.ids ? "a row list is for the text tower alone"
                                                     : "query texts were not prepared");
        return -1;
    }
    if (drum_embeddings_alloc(out, n, images ? D : 0, D, err, errlen)) return -1;
    for (int i = 0; i < n; i++) {
        out->ids[i] = strdup(ds->ex[rows ? rows[i] : i].id);
        if (!out->ids[i]) {
            snprintf(err, errlen, "out of memory");
            drum_embeddings_free(out);
            return -1;
        }
    }
    int rc = images && prep->image_of
                 ? embed_shared_images(comm, m, prep, batch, progress, out, err, errlen)
                 : 0;
    if (rc == 0) rc = embed_pass_run(comm, m, prep, &pass, batch, progress, out, err, errlen);
    if (rc) {
        drum_embeddings_free(out);
        return rc;
    }
    drum_embeddings_normalize(out);
    return 0;
}

/* ------------------------------------------------------------------- mining ---- */

int drum_embed_prepared(drum_comm *comm, drum_clip_model *m, const drum_prepared *prep,
                        const drum_dataset *ds, int use_query_text, int batch,
                        const drum_progress *progress, drum_embeddings *out, char *err,
                        size_t errlen) {
    DRUM_TRACE_RETURN(use_query_text ? "embed queries" : "embed demonstrations",
                      embed_prepared(comm ? comm : drum_comm_single(), m, prep, ds,
                                     use_query_text, 1, NULL, 0, batch, progress, out, err,
                                     errlen));
}

int drum_sample_queries(int n, int count, uint64_t seed, unsigned char **mask, char *err,
                        size_t errlen) {
    *mask = NULL;
    if (count <= 0 || count >= n) return 0; /* every example is a training query */
    drum_rng r;
    drum_rng_seed(&r, seed, 0x9E71); /* a partial Fisher-Yates over the indices, in the mask */
    int *idx = malloc((size_t)n * sizeof *idx);
    *mask = calloc((size_t)n, 1);
    if (!idx || !*mask) {
        free(idx);
        free(*mask);
        *mask = NULL;
        snprintf(err, errlen, "out of memory sampling %d training queries", count);
        return -1;
    }
    for (int i = 0; i < n; i++) idx[i] = i;
    for (int i = 0; i < count; i++) {
        int j = i + (int)drum_rng_below(&r, (uint32_t)(n - i));
        int tmp = idx[i];
        idx[i] = idx[j];
        idx[j] = tmp;
        (*mask)[idx[i]] = 1;
    }
    free(idx);
    return 0;
}

static int is_query(const drum_trainer *t, int i) { return !t->is_query || t->is_query[i]; }

static int same_image(const drum_trainer *t, int a, int b) {
    return t->prep->image_digest[a] == t->prep->image_digest[b];
}

static int mine(drum_trainer *t, char *err, size_t errlen) {
    int n = t->pool->n, K = t->o.candidates_k, l = t->o.scored_per_round;
    /* with exclude_same_image, the top K + (most_per_image - 1) hold K of other images */
    int Kr = K + t->most_per_image - 1;
    if (Kr > n - 1) Kr = n - 1;
    drum_embeddings demo, query;
    int batch = t->m->max_images;
    /* the training queries, in pool order: all n, or train.queries' sample */
    int nq = 0, *qrow = malloc((size_t)n * sizeof(int));
    if (!qrow) {
        snprintf(err, errlen, "out of memory mining %d queries", n);
        return -1;
    }
    for (int i = 0; i < n; i++)
        if (is_query(t, i)) qrow[nq++] = i;
    /* the pool's embeddings, as offered when no step came since (a round's evaluation took
     * them with these weights), else embedded; a stop here (1) is one before the round's
     * scores, like a stop between them */
    int e = 0;
    if (t->pool_emb.img && t->pool_emb_step == t->step && t->pool_emb.n == n) {
        demo = t->pool_emb;
        memset(&t->pool_emb, 0, sizeof t->pool_emb);
    } else {
        drum_embeddings_free(&t->pool_emb);
        e = drum_embed_prepared(t->comm, t->m, t->prep, t->pool, 0, batch, &t->progress, &demo,
                                err, errlen);
    }
    if (e) {
        free(qrow);
        return e;
    }
    /* the queries are pool examples: their image features are demo's rows, copied; the text
     * tower alone runs, on the query texts of the training queries only */
    drum_trace_push("embed queries");
    e = embed_prepared(t->comm, t->m, t->prep, t->pool, 1, 0, nq < n ? qrow : NULL, nq, batch,
                       &t->progress, &query, err, errlen);
    drum_trace_pop();
    size_t row_bytes = (size_t)demo.dim_img * sizeof(float);
    if (e == 0 && !(query.img = malloc((size_t)nq * row_bytes + 1))) {
        drum_embeddings_free(&query);
        snprintf(err, errlen, "out of memory for %d image embeddings", nq);
        e = -1;
    }
    if (e) { /* embed_prepared freed query on its failures */
        drum_embeddings_free(&demo);
        free(qrow);
        return e;
    }
    query.dim_img = demo.dim_img;
    for (int q = 0; q < nq; q++)
        memcpy(query.img + (size_t)q * demo.dim_img, demo.img + (size_t)qrow[q] * demo.dim_img,
               row_bytes);
    int *idx = malloc((size_t)nq * Kr * sizeof(int));
    int *qgroup = t->groups ? malloc((size_t)nq * sizeof(int)) : NULL;
    float *sim = malloc((size_t)nq * Kr * sizeof(float));
    drum_score_pair *pairs = malloc((size_t)nq * l * sizeof *pairs);
    int *pair_q = malloc((size_t)nq * l * sizeof(int));
    int *pair_d = malloc((size_t)nq * l * sizeof(int));
    double *scores = malloc((size_t)nq * l * sizeof(double));
    int rc = -1;
    if (!idx || (t->groups && !qgroup) || !sim || !pairs || !pair_q || !pair_d || !scores) {
        snprintf(err, errlen, "out of memory mining %d queries", nq);
        goto out;
    }
    for (int q = 0; q < nq && qgroup; q++) qgroup[q] = t->groups[qrow[q]];
    drum_retrieval_opts ro = {DRUM_STRATEGY_SIT, t->o.w_img, t->o.w_txt, t->o.seed, 0};
    drum_trace_push("retrieve");
    /* qrow also names the pool row each query excludes: itself */
    int bad = t->groups ? drum_retrieve_grouped(t->be, &query, &demo, qgroup, t->groups,
                                                t->n_groups, &ro, qrow, Kr, idx, sim, err, errlen)
                        : drum_retrieve(t->be, &query, &demo, &ro, qrow, Kr, idx, sim, err, errlen);
    drum_trace_pop();
    if (bad) goto out;
    int np = 0;
    for (int q = 0; q < nq; q++) {
        int i = qrow[q], got = 0, seen = 0;
        for (int j = 0; j < Kr && seen < K && got < l; j++) {
            int d = idx[(size_t)q * Kr + j];
            if (t->o.exclude_same_image && same_image(t, i, d)) continue;
            seen++;
            if (cand_has(&t->cand[i], d)) continue;
            pairs[np].query = &t->pool->ex[i];
            pairs[np].demo = &t->pool->ex[d];
            pair_q[np] = i;
            pair_d[np] = d;
            np++;
            got++;
        }
    }
    const int chunk = 2048;
    drum_trace_push("score pairs");
    drum_progress_begin(&t->progress, "score pairs", 0, np);
    for (int p0 = 0; p0 < np && !bad; p0 += chunk) {
        int m = np - p0 < chunk ? np - p0 : chunk;
        if (drum_progress_stopped(&t->progress, "scoring mined pairs", err, errlen)) {
            rc = 1; /* nothing is kept: the candidate lists change only after every score */
            break;
        }
        bad = t->scorer->score(t->scorer, pairs + p0, m, scores + p0, err, errlen);
        drum_progress_report(&t->progress, "score pairs", p0 + m, np, NULL);
    }
    drum_trace_pop();
    if (bad || rc == 1) goto out;
    for (int p = 0; p < np; p++) {
        if (!isfinite((float)scores[p])) { /* lists keep float32: -inf means absent */
            snprintf(err, errlen, "scorer %s returned a score that is not a finite float32 "
                     "(%g) for (%s, %s)", t->scorer->id, scores[p], pairs[p].query->id,
                     pairs[p].demo->id);
            goto out;
        }
        if (cand_push(&t->cand[pair_q[p]], pair_d[p], (float)scores[p])) {
            snprintf(err, errlen, "out of memory for candidate lists");
            goto out;
        }
    }
    rc = 0;
out:
    drum_embeddings_free(&demo);
    drum_embeddings_free(&query);
    free(qrow);
    free(idx);
    free(qgroup);
    free(sim);
    free(pairs);
    free(pair_q);
    free(pair_d);
    free(scores);
    return rc;
}

int drum_trainer_mine(drum_trainer *t, char *err, size_t errlen) {
    drum_trace_push("mine round %d", t->round + 1);
    int rc = mine(t, err, errlen);
    drum_trace_pop();
    return rc;
}

/* ------------------------------------------------------------------ training ---- */

/* The epoch's batches, seeded by (seed, round, epoch): the queries of each task family
 * shuffled and cut into batches of at most B (so in-batch negatives come from the pool the
 * query retrieves from), then the batches shuffled. order gets the queries batch after
 * batch; bstart/blen (at least count_batches entries) the batches. Returns their count. */
static int epoch_batches(const drum_trainer *t, int *order, int *bstart, int *blen) {
    int n = t->pool->n, B = t->o.batch_queries, ng = t->groups ? t->n_groups : 1, nb = 0, at = 0;
    drum_rng r;
    drum_rng_seed(&r, drum_hash64(t->o.seed, ((uint64_t)t->round << 20) | (uint64_t)t->epoch), 0xE90C);
    for (int g = 0; g < ng; g++) {
        int first = at;
        for (int i = 0; i < n; i++)
            if ((!t->groups || t->groups[i] == g) && is_query(t, i)) order[at++] = i;
        for (int i = at - 1; i > first; i--) {
            int j = first + (int)drum_rng_below(&r, (uint32_t)(i - first + 1));
            int tmp = order[i];
            order[i] = order[j];
            order[j] = tmp;
        }
        for (int b0 = first; b0 < at; b0 += B) {
            bstart[nb] = b0;
            blen[nb++] = at - b0 < B ? at - b0 : B;
        }
    }
    for (int i = nb - 1; i > 0; i--) {
        int j = (int)drum_rng_below(&r, (uint32_t)(i + 1));
        int ts = bstart[i], tl = blen[i];
        bstart[i] = bstart[j];
        blen[i] = blen[j];
        bstart[j] = ts;
        blen[j] = tl;
    }
    return nb;
}

/* Batches per epoch: per task family, ceil(family size / B). */
static int count_batches(const drum_trainer *t) {
    int B = t->o.batch_queries, ng = t->groups ? t->n_groups : 1, nb = 0;
    for (int g = 0; g < ng; g++) {
        int m = 0;
        for (int i = 0; i < t->pool->n; i++)
            m += (!t->groups || t->groups[i] == g) && is_query(t, i);
        nb += (m + B - 1) / B;
    }
    return nb;
}

/* Whether pool example d may pad query qi's list (drum_pad_example). */
static int pads(int d, int qi, const int *groups, const uint64_t *digests) {
    return d != qi && (!groups || groups[d] == groups[qi]) &&
           !(digests && digests[d] == digests[qi]);
}

int drum_pad_example(int n, const int *groups, const uint64_t *digests, int qi, drum_rng *r) {
    int count = 0;
    for (int tries = 0; tries < 1000; tries++) {
        int d = (int)drum_rng_below(r, (uint32_t)n);
        if (pads(d, qi, groups, digests)) return d;
    }
    for (int d = 0; d < n; d++) count += pads(d, qi, groups, digests);
    int k = count ? (int)drum_rng_below(r, (uint32_t)count) : 0;
    for (int d = 0; d < n && count; d++)
        if (pads(d, qi, groups, digests) && k-- == 0) return d;
    return -1;
}

/* Fills the host staging of one batch: rows 0..B-1 are the queries (query text), then
 * B*L candidate rows (demo text), query q's in rows B + q*L ... B + q*L + L-1. A list longer
 * than L keeps its best candidate and a seeded sample of the rest; a shorter one is padded
 * with random pool examples that are absent from the rank term (feedback -inf) and serve
 * as extra negatives of the contrastive term. Returns 0, or -1 with the message in err (a
 * query without candidates, out of memory). */
static int build_batch(drum_trainer *t, const int *queries, int B, char *err, size_t errlen) {
    drum_train_buffers *b = t->buf;
    int L = t->o.list_size, T = t->prep->T, n = t->pool->n;
    size_t px = (size_t)3 * t->prep->S * t->prep->S;
    for (size_t k = 0; k < (size_t)B * B * L; k++) b->h_fb[k] = -INFINITY;
    for (int q = 0; q < B; q++) {
        int qi = queries[q];
        const drum_candidate_list *cl = &t->cand[qi];
        b->row_example[q] = qi;
        drum_rng r;
        drum_rng_seed(&r, drum_hash64(t->o.seed, (uint64_t)t->step), (uint64_t)qi);
        /* pick: best first, then a partial shuffle of the others */
        int best = 0;
        for (int i = 1; i < cl->n; i++)
            if (cl->c[i].fb > cl->c[best].fb) best = i;
        if (cl->n == 0) { /* without a candidate, padding in slot 0 would be the positive */
            snprintf(err, errlen, "training query %s has no scored candidate",
                     t->pool->ex[qi].id);
            return -1;
        }
        int *pick = malloc((size_t)cl->n * sizeof(int));
        if (!pick) {
            snprintf(err, errlen, "out of memory building a training batch");
            return -1;
        }
        int np = 0;
        pick[np++] = best;
        for (int i = 0; i < cl->n; i++)
            if (i != best) pick[np++] = i;
        for (int i = 1; i < np && i < L; i++) {
            int j = i + (int)drum_rng_below(&r, (uint32_t)(np - i));
            int tmp = pick[i];
            pick[i] = pick[j];
            pick[j] = tmp;
        }
        for (int j = 0; j < L; j++) {
            int row = B + q * L + j;
            if (j < np) {
                const drum_candidate *c = &cl->c[pick[j]];
                b->row_example[row] = c->demo;
                b->h_fb[(size_t)q * B * L + (size_t)q * L + j] = c->fb;
            } else {
                /* check_families leaves every family examples that may pad; without any,
                 * the next example */
                int d = drum_pad_example(n, t->groups, t->o.exclude_same_image
                                                           ? t->prep->image_digest : NULL, qi, &r);
                b->row_example[row] = d >= 0 ? d : (qi + 1) % n;
            }
        }
        free(pick);
        b->h_target[q] = q * L; /* the best candidate sits in slot 0 */
    }
    int rows = B * (1 + L);
    for (int row = 0; row < rows; row++) {
        int e = b->row_example[row];
        const drum_prepared *p = t->prep;
        const int *ids = row < B ? p->query_ids : p->demo_ids;
        const int *mask = row < B ? p->query_mask : p->demo_mask;
        const int *eos = row < B ? p->query_eos : p->demo_eos;
        memcpy(b->h_levels + (size_t)row * px, drum_prepared_image(p, e), px);
        memcpy(b->h_ids + (size_t)row * T, ids + (size_t)e * T, (size_t)T * sizeof(int));
        memcpy(b->h_mask + (size_t)row * T, mask + (size_t)e * T, (size_t)T * sizeof(int));
        b->h_eos[row] = eos[e];
    }
    return 0;
}

/* AdamW over the parameters that are not frozen, in maximal contiguous ranges. */
static void adamw_unfrozen(drum_trainer *t, float lr) {
    drum_backend *be = t->be;
    drum_clip_model *m = t->m;
    m->step++;
    int e = 0;
    drum_trace_push("adamw");
    while (e < t->p->n) {
        if (t->frozen[e]) {
            e++;
            continue;
        }
        size_t off = t->p->entries[e].offset, end = off + t->p->entries[e].numel;
        while (++e < t->p->n && !t->frozen[e]) end = t->p->entries[e].offset + t->p->entries[e].numel;
        be->op.adamw_update(be, m->params + off, m->grads + off, m->adam_m + off, m->adam_v + off,
                            end - off, lr, 0.9f, 0.999f, 1e-8f, t->o.weight_decay, m->step);
    }
    drum_trace_pop();
}

/* This rank's queries [*q0, *q1) of a batch of B. */
static void my_queries(const drum_trainer *t, int B, int *q0, int *q1) {
    long lo, hi;
    drum_comm_slice(B, t->comm->rank, t->comm->size, &lo, &hi);
    *q0 = (int)lo;
    *q1 = (int)hi;
}

/* Uploads this rank's rows of the host staging: its queries, then their candidates (both
 * contiguous in the batch layout; with one rank, the whole batch). */
static void upload_rows(drum_backend *be, void *dst, const void *src, size_t row, int B, int L,
                        int q0, int q1) {
    size_t nq = (size_t)(q1 - q0);
    const char *s = src;
    be->to_device(be, dst, s + (size_t)q0 * row, nq * row);
    be->to_device(be, (char *)dst + nq * row, s + ((size_t)B + (size_t)q0 * L) * row,
                  nq * L * row);
}

/* Data parallel: every rank's feature rows (local: its queries, then their candidates) into
 * the whole batch's (rows, 2D) layout on every rank. */
static int gather_features(drum_trainer *t, const float *local, float *all, int B, int L, int D2,
                           char *err, size_t errlen) {
    drum_comm *c = t->comm;
    drum_train_buffers *b = t->buf;
    int P = c->size, q0, q1;
    my_queries(t, B, &q0, &q1);
    size_t row = (size_t)D2 * sizeof(float), nq = (size_t)(q1 - q0);
    size_t *bytes = b->gather_sizes, *displ = bytes + P, *cbytes = bytes + 2 * P, *cdispl = bytes + 3 * P;
    for (int r = 0; r < P; r++) {
        long lo, hi;
        drum_comm_slice(B, r, P, &lo, &hi);
        bytes[r] = (size_t)(hi - lo) * row;
        displ[r] = (size_t)lo * row;
        cbytes[r] = (size_t)(hi - lo) * L * row;
        cdispl[r] = ((size_t)B + (size_t)lo * L) * row;
    }
    drum_trace_push("all-gather features");
    t->be->to_host(t->be, b->h_feat_local, local, nq * (1 + L) * row);
    int rc = c->allgatherv(c, b->h_feat_local, b->h_feat, bytes, displ, err, errlen);
    if (rc == 0)
        rc = c->allgatherv(c, (char *)b->h_feat_local + nq * row, b->h_feat, cbytes, cdispl, err,
                           errlen);
    if (rc == 0) t->be->to_device(t->be, all, b->h_feat, (size_t)B * (1 + L) * row);
    drum_trace_pop();
    return rc;
}

/* Data parallel: the sum of every rank's gradients, in rank order (comm.h); with nccl and the
 * cuda backend, on the GPUs in NCCL's order. */
static int sum_gradients(drum_trainer *t, char *err, size_t errlen) {
    drum_clip_model *m = t->m;
    size_t n = t->p->total;
    drum_trace_push("all-reduce gradients");
    if (t->comm->allreduce_sum_device && strcmp(t->be->name, "cuda") == 0) {
        t->be->synchronize(t->be);
        int rc = drum_backend_ok(t->be)
                     ? t->comm->allreduce_sum_device(t->comm, m->grads, n, err, errlen)
                     : -1;
        if (rc && !drum_backend_ok(t->be)) snprintf(err, errlen, "%s", t->be->err);
        drum_trace_pop();
        return rc;
    }
    t->be->to_host(t->be, t->buf->h_grads, m->grads, n * sizeof(float));
    int rc = t->comm->allreduce_sum(t->comm, t->buf->h_grads, n, err, errlen);
    if (rc == 0) t->be->to_device(t->be, m->grads, t->buf->h_grads, n * sizeof(float));
    drum_trace_pop();
    return rc;
}

/* The towers on rows [r0, r0 + n) of this rank's step: m->img_features, m->txt_features
 * (n, D), and the activations a backward pass needs. */
static int encode_rows(drum_trainer *t, int r0, int n, int T) {
    drum_train_buffers *b = t->buf;
    size_t px = (size_t)3 * t->prep->S * t->prep->S;
    return drum_clip_encode_images(t->m, b->pixels + (size_t)r0 * px, n) ||
           drum_clip_encode_texts(t->m, b->ids + (size_t)r0 * T, b->mask + (size_t)r0 * T,
                                  b->eos + r0, n, T);
}

/* One optimizer step on a batch of B queries. Returns the loss, or NAN on error with the
 * message in err (or the backend's). With several ranks, this rank encodes and
 * back-propagates only its queries' rows (my_queries); the loss, which couples the whole
 * batch, is computed on every rank from the all-gathered features. */
static double train_step(drum_trainer *t, const int *queries, int B, drum_step_stats *st,
                         char *err, size_t errlen) {
    drum_backend *be = t->be;
    drum_train_buffers *b = t->buf;
    drum_clip_model *m = t->m;
    int L = t->o.list_size, T = t->prep->T, D = m->cfg.projection_dim, S = t->prep->S;
    int rows = B * (1 + L), BL = B * L, parallel = t->comm->size > 1, q0, q1;
    my_queries(t, B, &q0, &q1);
    int mine = (q1 - q0) * (1 + L); /* this rank's rows: all of them with one rank */
    if (build_batch(t, queries, B, err, errlen)) return NAN;
    if (t->prep->longest) T = drum_cut_texts(b->h_ids, b->h_mask, b->h_eos, rows, T);
    upload_rows(be, b->levels.levels, b->h_levels, (size_t)3 * S * S, B, L, q0, q1);
    if (mine > 0)
        be->op.levels_forward(be, b->pixels, b->levels.levels, b->levels.lut, mine,
                              (size_t)S * S);
    upload_rows(be, b->ids, b->h_ids, (size_t)T * sizeof(int), B, L, q0, q1);
    upload_rows(be, b->mask, b->h_mask, (size_t)T * sizeof(int), B, L, q0, q1);
    upload_rows(be, b->eos, b->h_eos, sizeof(int), B, L, q0, q1);
    be->to_device(be, b->fb, b->h_fb, (size_t)B * BL * sizeof(float));
    be->to_device(be, b->target, b->h_target, (size_t)B * sizeof(int));
    if (drum_clip_zero_grad(m)) return NAN;
    // towers: (mine, 3, S, S) -> (mine, D); (mine, T) -> (mine, D), in micro-batches of mb
    // rows when the model holds fewer than mine (their features gathered in img_f, txt_f)
    int mb = t->o.micro_rows > 0 && t->o.micro_rows < mine ? t->o.micro_rows : mine;
    const float *img_f = m->img_features, *txt_f = m->txt_features;
    if (mb < mine) {
        img_f = b->img_f;
        txt_f = b->txt_f;
    }
    for (int r0 = 0; r0 < mine; r0 += mb) {
        int n = mine - r0 < mb ? mine - r0 : mb;
        if (encode_rows(t, r0, n, T)) return NAN;
        if (mb < mine) {
            size_t bytes = (size_t)n * D * sizeof(float);
            be->copy(be, b->img_f + (size_t)r0 * D, m->img_features, bytes);
            be->copy(be, b->txt_f + (size_t)r0 * D, m->txt_features, bytes);
        }
    }
    drum_trace_push("list-wise loss");
    // (mine, D) -> (mine, D) unit rows (a rank may get no query of a family's last batch)
    float *featL = parallel ? b->feat_local : b->feat;
    if (mine > 0) {
        be->op.l2norm_forward(be, b->img_n, b->img_norm, img_f, mine, D);
        be->op.l2norm_forward(be, b->txt_n, b->txt_norm, txt_f, mine, D);
        // SIT features: (mine, D) + (mine, D) -> (mine, 2D), then every rank's into (rows, 2D)
        be->op.concat_forward(be, featL, b->img_n, b->txt_n, mine, D, D, t->o.w_img, t->o.w_txt);
    }
    if (parallel && gather_features(t, featL, b->feat, B, L, 2 * D, err, errlen)) {
        drum_trace_pop();
        return NAN;
    }
    // queries (B, 2D) x candidates (B*L, 2D)^T / tau -> (B, B*L)
    float *fq = b->feat, *fc = b->feat + (size_t)B * 2 * D;
    be->op.similarity_forward(be, b->sim, fq, fc, b->log_scale, B, BL, 2 * D);
    // list term over each query's own slots (others have feedback -inf): (B, B*L) -> (B)
    if (t->o.loss == DRUM_LOSS_RANK)
        be->op.listwise_rank_forward(be, b->loss_list, b->sim, b->fb, B, BL);
    else if (t->o.loss == DRUM_LOSS_LISTNET)
        be->op.listnet_forward(be, b->loss_list, b->sim, b->fb, B, BL, t->o.listnet_tau);
    else
        be->op.listmle_forward(be, b->loss_list, b->sim, b->fb, B, BL);
    // contrastive term: the best candidate against every candidate in the batch: (B, B*L) -> (B)
    be->op.softmax_xent_forward(be, b->loss_ctr, b->probs, b->sim, b->target, B, BL);

    float *h = b->h_loss;
    be->to_host(be, h, b->loss_list, (size_t)B * sizeof(float));
    be->to_host(be, h + B, b->loss_ctr, (size_t)B * sizeof(float));
    double loss = 0;
    st->list = st->contrastive = 0;
    for (int q = 0; q < B; q++) {
        loss += (h[q] + t->o.lambda * h[B + q]) / B;
        st->list += (double)h[q] / B;
        st->contrastive += (double)h[B + q] / B;
    }
    for (int q = 0; q < B; q++) {
        h[q] = 1.0f / B;
        h[B + q] = t->o.lambda / B;
    }
    be->to_device(be, b->dloss_list, h, (size_t)B * sizeof(float));
    be->to_device(be, b->dloss_ctr, h + B, (size_t)B * sizeof(float));

    be->memset0(be, b->dsim, (size_t)B * BL * sizeof(float));
    if (t->o.loss == DRUM_LOSS_RANK)
        be->op.listwise_rank_backward(be, b->dsim, b->dloss_list, b->sim, b->fb, B, BL);
    else if (t->o.loss == DRUM_LOSS_LISTNET)
        be->op.listnet_backward(be, b->dsim, b->dloss_list, b->sim, b->fb, B, BL, t->o.listnet_tau);
    else
        be->op.listmle_backward(be, b->dsim, b->dloss_list, b->sim, b->fb, B, BL);
    be->op.softmax_xent_backward(be, b->dsim, b->dloss_ctr, b->probs, b->target, B, BL);
    be->memset0(be, b->dfeat, (size_t)rows * 2 * D * sizeof(float));
    float *dfq = b->dfeat, *dfc = b->dfeat + (size_t)B * 2 * D;
    be->op.similarity_backward(be, dfq, dfc, NULL, b->dsim, b->sim, fq, fc, b->log_scale, B, BL, 2 * D);
    // this rank's rows of d(features): its queries, then their candidates
    float *dfeatL = b->dfeat;
    if (parallel) {
        size_t row = (size_t)2 * D, nq = (size_t)(q1 - q0);
        dfeatL = b->dfeat_local;
        be->copy(be, dfeatL, dfq + (size_t)q0 * row, nq * row * sizeof(float));
        be->copy(be, dfeatL + nq * row, dfc + (size_t)q0 * L * row, nq * L * row * sizeof(float));
    }
    if (mine > 0) {
        be->memset0(be, b->d_img_n, (size_t)mine * D * sizeof(float));
        be->memset0(be, b->d_txt_n, (size_t)mine * D * sizeof(float));
        be->op.concat_backward(be, b->d_img_n, b->d_txt_n, dfeatL, mine, D, D, t->o.w_img,
                               t->o.w_txt);
        be->memset0(be, b->d_img_f, (size_t)mine * D * sizeof(float));
        be->memset0(be, b->d_txt_f, (size_t)mine * D * sizeof(float));
        be->op.l2norm_backward(be, b->d_img_f, b->d_img_n, b->img_n, b->img_norm, mine, D);
        be->op.l2norm_backward(be, b->d_txt_f, b->d_txt_n, b->txt_n, b->txt_norm, mine, D);
    }
    drum_trace_pop();
    // back through the towers, micro-batch by micro-batch: the last one's activations are
    // still in the arena; each earlier one is encoded again (the same features, bit for bit)
    for (int r0 = mine > 0 ? (mine - 1) / mb * mb : -1; r0 >= 0; r0 -= mb) {
        int n = mine - r0 < mb ? mine - r0 : mb;
        if ((r0 + n < mine && encode_rows(t, r0, n, T)) ||
            (!t->images_frozen && drum_clip_backward_images(m, b->d_img_f + (size_t)r0 * D)) ||
            (!t->texts_frozen && drum_clip_backward_texts(m, b->d_txt_f + (size_t)r0 * D)))
            return NAN;
    }
    if (parallel && sum_gradients(t, err, errlen)) return NAN;
    /* the norm is taken (and must be finite) whether or not it clips: the steps log has it */
    if (drum_clip_clip_grad_norm(m, t->frozen, t->o.grad_clip, &st->grad_norm)) return NAN;
    st->lr = drum_lr_at(t->o.lr, t->step, t->o.warmup_steps, t->total_steps);
    adamw_unfrozen(t, st->lr);
    be->synchronize(be);
    return drum_backend_ok(be) ? loss : NAN;
}

/* Data parallel: every rank must hold the same weights after a round (a rank that took
 * another path, or a non-deterministic op, would otherwise go unnoticed). */
static int same_weights(drum_trainer *t, char *err, size_t errlen) {
    if (t->comm->size == 1) return 0;
    float *h = t->buf->h_grads; /* free between steps */
    if (drum_clip_model_download(t->m, h)) {
        snprintf(err, errlen, "%s", t->be->err);
        return -1;
    }
    char what[64];
    snprintf(what, sizeof what, "weights after round %d", t->round + 1);
    return drum_comm_check_same(t->comm, drum_comm_digest(h, t->p->total * sizeof(float)), what,
                                "the ranks diverged", err, errlen);
}

const char *drum_train_position(int round, int epoch, int batch, int phase, long step, char *buf,
                                size_t n) {
    if (phase == DRUM_PHASE_MINE)
        snprintf(buf, n, "round %d, mining, step %ld", round + 1, step);
    else if (phase == DRUM_PHASE_TRAIN)
        snprintf(buf, n, "round %d, epoch %d, batch %d, step %ld", round + 1, epoch + 1, batch,
                 step);
    else if (phase == DRUM_PHASE_ROUND_END)
        snprintf(buf, n, "round %d trained, its evaluation, step %ld", round + 1, step);
    else
        snprintf(buf, n, "every round done, step %ld", step);
    return buf;
}

/* Writes the checkpoint. When that fails (a full disk), the file keeps the last one written:
 * the error says where that stands, so the user knows what --resume continues from. */
static int checkpoint(drum_trainer *t, char *err, size_t errlen) {
    if (!t->checkpoint_path) return 0;
    if (t->steps_log && drum_steps_log_sync(t->steps_log, err, errlen)) return -1;
    if (drum_trainer_save_checkpoint(t, t->checkpoint_path, err, errlen) == 0) {
        drum_train_position(t->round, t->epoch, t->batch, t->phase, t->step, t->saved_at,
                            sizeof t->saved_at);
        return 0;
    }
    t->checkpoint_failed = 1;
    size_t len = strlen(err);
    if (t->saved_at[0])
        snprintf(err + len, errlen - len, "; the file still holds the checkpoint at %s, which "
                 "--resume continues from", t->saved_at);
    else
        snprintf(err + len, errlen - len, "; it holds no checkpoint of this run yet: --resume "
                 "starts the rounds again (the LVLM's answers and scores so far are cached "
                 "beside it)");
    return -1;
}

int drum_trainer_run(drum_trainer *t, char *err, size_t errlen) {
    if (!t->buf) {
        snprintf(err, errlen, "train: the model is an inference model (no gradients): it serves "
                 "mining alone");
        return -1;
    }
    int n = t->pool->n;
    int nbatches = count_batches(t);
    t->total_steps = (long)nbatches * t->o.epochs * t->o.rounds;
    int *order = malloc((size_t)n * sizeof(int));
    int *bstart = malloc((size_t)(nbatches + 1) * sizeof(int));
    int *blen = malloc((size_t)(nbatches + 1) * sizeof(int));
    if (!order || !bstart || !blen) {
        free(order);
        free(bstart);
        free(blen);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = -1;
    while (t->phase != DRUM_PHASE_DONE) {
        if (t->phase == DRUM_PHASE_MINE) {
            int mined = drum_trainer_mine(t, err, errlen);
            if (mined == 1 && checkpoint(t, err, errlen) == 0) rc = 1; /* stopped: phase MINE */
            if (mined) goto out;
            t->phase = DRUM_PHASE_TRAIN;
            t->epoch = t->batch = 0;
            if (checkpoint(t, err, errlen)) goto out;
        } else if (t->phase == DRUM_PHASE_TRAIN) {
            char stage[64];
            snprintf(stage, sizeof stage, "train round %d epoch %d", t->round + 1, t->epoch + 1);
            epoch_batches(t, order, bstart, blen);
            drum_progress_begin(&t->progress, stage, t->batch, nbatches);
            while (t->batch < nbatches) {
                drum_trace_push("train step");
                char serr[512] = "";
                drum_step_stats st = {0};
                double loss = train_step(t, order + bstart[t->batch], blen[t->batch], &st, serr,
                                         sizeof serr);
                drum_trace_pop();
                if (isnan(loss)) {
                    snprintf(err, errlen, "training step %ld on %s: %s", t->step, t->be->name,
                             serr[0] ? serr : t->be->err[0] ? t->be->err : "loss is NaN");
                    goto out;
                }
                t->last_loss = loss;
                t->step++;
                t->batch++;
                st.step = t->step;
                st.round = t->round + 1;
                st.epoch = t->epoch + 1;
                st.batch = t->batch;
                st.queries = blen[t->batch - 1];
                st.loss = loss;
                if (t->steps_log && drum_steps_log_write(t->steps_log, &st, err, errlen)) goto out;
                char note[48];
                snprintf(note, sizeof note, "loss %.4f", loss);
                drum_progress_report(&t->progress, stage, t->batch, nbatches, note);
                /* every rank stops at the same step (a signal may reach them apart) */
                int stop = t->comm->any(t->comm, t->stop && *t->stop, err, errlen);
                if (stop < 0) goto out;
                if ((t->o.checkpoint_every > 0 && t->step % t->o.checkpoint_every == 0) || stop)
                    if (checkpoint(t, err, errlen)) goto out;
                if (stop) {
                    rc = 1;
                    goto out;
                }
            }
            t->batch = 0;
            if (++t->epoch == t->o.epochs) t->phase = DRUM_PHASE_ROUND_END;
            if (checkpoint(t, err, errlen)) goto out;
        } else {
            if (same_weights(t, err, errlen)) goto out;
            if (t->round_end && t->round_end(t->round_end_user, t->round, err, errlen)) goto out;
            t->round++;
            t->phase = t->round == t->o.rounds ? DRUM_PHASE_DONE : DRUM_PHASE_MINE;
            if (checkpoint(t, err, errlen)) goto out;
        }
        int stop = t->comm->any(t->comm, t->stop && *t->stop, err, errlen);
        if (stop < 0) goto out;
        if (stop && t->phase != DRUM_PHASE_DONE) { /* done: the job writes its report and ends */
            rc = 1;
            goto out;
        }
    }
    rc = 0;
out:
    free(order);
    free(bstart);
    free(blen);
    return rc;
}
