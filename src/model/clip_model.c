/* clip_model.c — CLIPModel forward and backward written as op-table calls (clip_model.h).
 *
 * Read top to bottom: the arena layout, one transformer block forward and backward, the
 * vision tower, the text tower, the contrastive loss, the optimizer, the initialisation.
 * Shapes at each call use N = B*T rows, C = hidden, I = intermediate, D = projection.
 */
#include "drum/clip_model.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drum/rng.h"
#include "drum/trace.h"

/* What one block keeps for its backward. The activation output act(fc1) is not kept: the
 * backward recomputes it (one elementwise op) and saves N*I floats per layer. */
typedef struct {
    float *ln1, *ln1_mean, *ln1_rstd; /* (N, C), (N), (N) */
    float *qkv;                       /* (N, 3C): [q | k | v] per row */
    float *att;                       /* (B, NH, T, T) attention probabilities */
    float *atty;                      /* (N, C) attention output, before out_proj */
    float *res1;                      /* (N, C) block input + attention branch */
    float *ln2, *ln2_mean, *ln2_rstd; /* (N, C), (N), (N) */
    float *fc1;                       /* (N, I) before the activation */
    float *res2;                      /* (N, C) block output */
} block_acts;

typedef struct {
    int vision;
    int maxB, maxT;                   /* batch and tokens the arena holds */
    int C, I, NH, L, D;
    drum_act act;
    float eps;
    const drum_clip_block_offsets *off;
    size_t ln_w, ln_b, proj;          /* post_layernorm / final_layer_norm, projection */
    int patch_dim;                    /* vision: channels * patch^2 */
    float *patches;                   /* vision: (B, T, patch_dim), row 0 of each image zero */
    float *pos_cls;                   /* vision: (T, C) positions with the class embedding in row 0 */
    float *x0;                        /* (N, C) embeddings + positions */
    float *pre_mean, *pre_rstd;       /* vision: pre_layrnorm statistics (N) */
    float *h0;                        /* (N, C) block 0 input: pre_layrnorm(x0), or x0 for text */
    block_acts blk[DRUM_CLIP_MAX_LAYERS];
    float *pooled, *pooled_ln;        /* (B, C) the pooled row, after the final LayerNorm */
    float *pool_mean, *pool_rstd;     /* (B) */
    int *ids, *mask, *pool_idx;       /* text: (B, T), (B, T), (B) eos; vision: (B) zeros */
    int B, T, masked;                 /* the last batch */
} tower;

struct drum_clip_state {
    tower vis, txt;
    /* Scratch shared by both towers (sized for the larger), reused op after op. */
    float *tmp_c;                     /* (N, C) embedding / branch output; backward: d of (N, C) */
    float *ff_a;                      /* (N, I) act(fc1); backward: recomputed act, then d fc1 */
    float *ff_b;                      /* (N, I) backward: d act(fc1) */
    float *d_qkv;                     /* (N, 3C) */
    float *d_att;                     /* (B, NH, T, T) attention backward workspace */
    float *d_resid;                   /* (N, C) gradient of the residual stream */
    float *d_pooled, *d_pooled_ln;    /* (B, C) */
    float *d_pos_cls;                 /* vision (T, C) */
    /* contrastive loss, B <= min(max_images, max_texts) */
    float *img_norm, *txt_norm;       /* (B) */
    float *logits_per_text;           /* (B, B) */
    float *probs_i, *probs_t;         /* (B, B) */
    float *loss_i, *loss_t;           /* (B) */
    float *ones;                      /* (B) upstream gradient of every per-row loss */
    float *dlogits_i, *dlogits_t;     /* (B, B) */
    float *d_img_embeds, *d_txt_embeds; /* (B, D) */
    int *targets;                     /* (B) 0..B-1 */
    float *scalar;                    /* (1) sum_squares output */
    float *host_loss;                 /* host, 2 * B */
    void *arena;
};

/* ---- arena ------------------------------------------------------------------------
 * The layout runs twice: with base NULL to measure, then on the allocation. Every block
 * starts on a 256-byte boundary (coalesced loads, vector widths). */
typedef struct {
    char *base;
    size_t off;
} carver;

static void *carve(carver *c, size_t n4) {
    void *p = c->base ? c->base + c->off : NULL;
    c->off += (n4 * 4 + 255) & ~(size_t)255;
    return p;
}

static void tower_setup(tower *t, const drum_clip_config *cfg, const drum_clip_params *p,
                        int vision, int maxB) {
    const drum_clip_tower_config *tc = vision ? &cfg->vision : &cfg->text;
    memset(t, 0, sizeof *t);
    t->vision = vision;
    t->maxB = maxB;
    t->C = tc->hidden;
    t->I = tc->intermediate;
    t->NH = tc->heads;
    t->L = tc->layers;
    t->D = cfg->projection_dim;
    t->act = tc->act;
    t->eps = tc->ln_eps;
    if (vision) {
        int np = tc->image_size / tc->patch;
        t->maxT = 1 + np * np;
        t->patch_dim = tc->channels * tc->patch * tc->patch;
        t->off = p->v_blocks;
        t->ln_w = p->v_post_ln_w;
        t->ln_b = p->v_post_ln_b;
        t->proj = p->v_proj;
    } else {
        t->maxT = tc->max_pos;
        t->off = p->t_blocks;
        t->ln_w = p->t_final_ln_w;
        t->ln_b = p->t_final_ln_b;
        t->proj = p->t_proj;
    }
}

static void tower_layout(tower *t, carver *c, int train) {
    size_t N = (size_t)t->maxB * t->maxT, C = t->C, I = t->I;
    size_t att = (size_t)t->maxB * t->NH * t->maxT * t->maxT;
    if (t->maxB == 0) return;
    if (t->vision) {
        t->patches = carve(c, N * t->patch_dim);
        t->pos_cls = carve(c, (size_t)t->maxT * C);
        t->pre_mean = carve(c, N);
        t->pre_rstd = carve(c, N);
    } else {
        t->ids = carve(c, N);
        t->mask = carve(c, N);
    }
    t->pool_idx = carve(c, t->maxB);
    t->x0 = carve(c, N * C);
    t->h0 = t->vision ? carve(c, N * C) : t->x0;
    for (int l = 0; l < t->L; l++) {
        if (!train && l > 0) {
            /* Inference: every layer reuses layer 0's buffers. Safe because a block reads
             * its input (the previous res2) only before it writes its own res2. */
            t->blk[l] = t->blk[0];
            continue;
        }
        block_acts *a = &t->blk[l];
        a->ln1 = carve(c, N * C);
        a->ln1_mean = carve(c, N);
        a->ln1_rstd = carve(c, N);
        a->qkv = carve(c, 3 * N * C);
        a->att = carve(c, att);
        a->atty = carve(c, N * C);
        a->res1 = carve(c, N * C);
        a->ln2 = carve(c, N * C);
        a->ln2_mean = carve(c, N);
        a->ln2_rstd = carve(c, N);
        a->fc1 = carve(c, N * I);
        a->res2 = carve(c, N * C);
    }
    t->pooled = carve(c, (size_t)t->maxB * C);
    t->pooled_ln = carve(c, (size_t)t->maxB * C);
    t->pool_mean = carve(c, t->maxB);
    t->pool_rstd = carve(c, t->maxB);
}

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

static void model_layout(drum_clip_model *m, carver *c) {
    drum_clip_state *st = m->st;
    tower *v = &st->vis, *t = &st->txt;
    size_t Nv = (size_t)v->maxB * v->maxT, Nt = (size_t)t->maxB * t->maxT;
    size_t nc = max_sz(Nv * v->C, Nt * t->C), ni = max_sz(Nv * v->I, Nt * t->I);
    size_t natt = max_sz((size_t)v->maxB * v->NH * v->maxT * v->maxT,
                         (size_t)t->maxB * t->NH * t->maxT * t->maxT);
    size_t bc = max_sz((size_t)v->maxB * v->C, (size_t)t->maxB * t->C);
    size_t D = (size_t)m->cfg.projection_dim;
    size_t Bl = (size_t)(m->max_images < m->max_texts ? m->max_images : m->max_texts);

    tower_layout(v, c, m->train);
    tower_layout(t, c, m->train);
    st->tmp_c = carve(c, nc);
    st->ff_a = carve(c, ni);
    m->img_features = carve(c, (size_t)m->max_images * D);
    m->txt_features = carve(c, (size_t)m->max_texts * D);
    m->img_embeds = carve(c, Bl * D);
    m->txt_embeds = carve(c, Bl * D);
    m->logits_per_image = carve(c, Bl * Bl);
    st->logits_per_text = carve(c, Bl * Bl);
    st->img_norm = carve(c, Bl);
    st->txt_norm = carve(c, Bl);
    st->probs_i = carve(c, Bl * Bl);
    st->probs_t = carve(c, Bl * Bl);
    st->loss_i = carve(c, Bl);
    st->loss_t = carve(c, Bl);
    st->targets = carve(c, Bl);
    st->scalar = carve(c, 1);
    if (!m->train) return;
    st->ff_b = carve(c, ni);
    st->d_qkv = carve(c, 3 * nc);
    st->d_att = carve(c, natt);
    st->d_resid = carve(c, nc);
    st->d_pooled = carve(c, bc);
    st->d_pooled_ln = carve(c, bc);
    st->d_pos_cls = carve(c, (size_t)v->maxT * v->C);
    st->ones = carve(c, Bl);
    st->dlogits_i = carve(c, Bl * Bl);
    st->dlogits_t = carve(c, Bl * Bl);
    st->d_img_embeds = carve(c, Bl * D);
    st->d_txt_embeds = carve(c, Bl * D);
    m->d_img_features = carve(c, (size_t)m->max_images * D);
    m->d_txt_features = carve(c, (size_t)m->max_texts * D);
}

/* ---- lifecycle ------------------------------------------------------------------- */

drum_adamw_config drum_adamw_defaults(void) {
    drum_adamw_config h = {1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f};
    return h;
}

static int check_tower(const drum_clip_tower_config *tc, const char *name, int vision,
                       char *err, size_t errlen) {
    if (tc->hidden <= 0 || tc->heads <= 0 || tc->hidden % tc->heads != 0 ||
        tc->intermediate <= 0 || tc->layers <= 0 || tc->layers > DRUM_CLIP_MAX_LAYERS) {
        snprintf(err, errlen,
                 "clip_model: %s tower hidden %d, heads %d, intermediate %d, layers %d: expected "
                 "positive sizes, heads dividing hidden, at most %d layers",
                 name, tc->hidden, tc->heads, tc->intermediate, tc->layers,
                 DRUM_CLIP_MAX_LAYERS);
        return -1;
    }
    if (vision && (tc->patch <= 0 || tc->image_size <= 0 || tc->image_size % tc->patch != 0 ||
                   tc->channels <= 0)) {
        snprintf(err, errlen,
                 "clip_model: vision image_size %d, patch %d, channels %d: expected positive, "
                 "image_size a multiple of patch",
                 tc->image_size, tc->patch, tc->channels);
        return -1;
    }
    if (!vision && (tc->vocab <= 0 || tc->max_pos <= 0)) {
        snprintf(err, errlen, "clip_model: text vocab %d, max_pos %d: expected positive",
                 tc->vocab, tc->max_pos);
        return -1;
    }
    return 0;
}

drum_clip_model *drum_clip_model_create(drum_backend *be, const drum_clip_config *cfg,
                                        const drum_clip_params *p, int max_images,
                                        int max_texts, int train, char *err, size_t errlen) {
    if (check_tower(&cfg->vision, "vision", 1, err, errlen) ||
        check_tower(&cfg->text, "text", 0, err, errlen))
        return NULL;
    if (cfg->projection_dim <= 0 || p->total == 0) {
        snprintf(err, errlen, "clip_model: projection_dim %d, %zu parameters: expected positive",
                 cfg->projection_dim, p->total);
        return NULL;
    }
    int np = cfg->vision.image_size / cfg->vision.patch;
    if (max_images < 0 || max_texts < 0 || max_images + max_texts == 0 ||
        (long long)max_images * (1 + (long long)np * np) > INT_MAX / 4 ||
        (long long)max_texts * cfg->text.max_pos > INT_MAX / 4) {
        snprintf(err, errlen,
                 "clip_model: max_images %d, max_texts %d: expected non-negative, not both 0, "
                 "and rows (batch x tokens) below %d",
                 max_images, max_texts, INT_MAX / 4);
        return NULL;
    }
    if (!drum_backend_ok(be)) {
        snprintf(err, errlen, "clip_model: backend already failed: %s", be->err);
        return NULL;
    }
    drum_clip_model *m = calloc(1, sizeof *m);
    drum_clip_state *st = calloc(1, sizeof *st);
    float *host_loss = malloc(2 * sizeof(float) * (size_t)(max_images + max_texts + 1));
    if (!m || !st || !host_loss) {
        free(m);
        free(st);
        free(host_loss);
        snprintf(err, errlen, "clip_model: out of host memory");
        return NULL;
    }
    m->be = be;
    m->cfg = *cfg;
    m->p = p;
    m->train = train ? 1 : 0;
    m->max_images = max_images;
    m->max_texts = max_texts;
    m->st = st;
    st->host_loss = host_loss;
    tower_setup(&st->vis, cfg, p, 1, max_images);
    tower_setup(&st->txt, cfg, p, 0, max_texts);

    carver c = {NULL, 0};
    model_layout(m, &c);
    m->arena_bytes = c.off;
    size_t pbytes = p->total * sizeof(float);
    m->params = be->alloc(be, pbytes);
    if (m->train) {
        m->grads = be->alloc(be, pbytes);
        m->adam_m = be->alloc(be, pbytes);
        m->adam_v = be->alloc(be, pbytes);
    }
    st->arena = be->alloc(be, m->arena_bytes);
    if (!drum_backend_ok(be)) {
        snprintf(err, errlen, "clip_model: allocating %zu parameter floats (x%d) and a %zu-byte "
                 "activation arena: %s", p->total, m->train ? 4 : 1, m->arena_bytes, be->err);
        drum_backend_clear_error(be);
        drum_clip_model_free(m);
        return NULL;
    }
    c.base = st->arena;
    c.off = 0;
    model_layout(m, &c);

    /* Constants: the class-token pool index (0) of every image, the targets 0..B-1 and
     * the unit upstream gradient of each per-row loss. */
    size_t Bl = (size_t)(max_images < max_texts ? max_images : max_texts);
    if (st->vis.pool_idx) be->memset0(be, st->vis.pool_idx, (size_t)max_images * sizeof(int));
    int *tg = malloc((Bl + 1) * sizeof(int));
    float *ones = malloc((Bl + 1) * sizeof(float));
    if (!tg || !ones) {
        free(tg);
        free(ones);
        snprintf(err, errlen, "clip_model: out of host memory");
        drum_clip_model_free(m);
        return NULL;
    }
    for (size_t i = 0; i < Bl; i++) {
        tg[i] = (int)i;
        ones[i] = 1.0f;
    }
    if (Bl) {
        be->to_device(be, st->targets, tg, Bl * sizeof(int));
        if (st->ones) be->to_device(be, st->ones, ones, Bl * sizeof(float));
    }
    free(tg);
    free(ones);
    if (m->train) {
        be->memset0(be, m->grads, pbytes);
        be->memset0(be, m->adam_m, pbytes);
        be->memset0(be, m->adam_v, pbytes);
    }
    if (!drum_backend_ok(be)) {
        snprintf(err, errlen, "clip_model: initialising buffers: %s", be->err);
        drum_backend_clear_error(be);
        drum_clip_model_free(m);
        return NULL;
    }
    return m;
}

void drum_clip_model_free(drum_clip_model *m) {
    if (!m) return;
    drum_backend *be = m->be;
    if (m->st) {
        if (m->st->arena) be->free(be, m->st->arena);
        free(m->st->host_loss);
        free(m->st);
    }
    if (m->params) be->free(be, m->params);
    if (m->grads) be->free(be, m->grads);
    if (m->adam_m) be->free(be, m->adam_m);
    if (m->adam_v) be->free(be, m->adam_v);
    free(m);
}

static int need_train(drum_clip_model *m, const char *what) {
    if (m->train) return 0;
    DRUM_FAIL(m->be, "clip_model: %s needs a model created with train = 1", what);
    return -1;
}

int drum_clip_model_upload(drum_clip_model *m, const float *params_host) {
    m->be->to_device(m->be, m->params, params_host, m->p->total * sizeof(float));
    return drum_backend_ok(m->be) ? 0 : -1;
}

int drum_clip_model_download(drum_clip_model *m, float *params_host) {
    m->be->to_host(m->be, params_host, m->params, m->p->total * sizeof(float));
    return drum_backend_ok(m->be) ? 0 : -1;
}

int drum_clip_model_download_grads(drum_clip_model *m, float *grads_host) {
    if (need_train(m, "download_grads")) return -1;
    m->be->to_host(m->be, grads_host, m->grads, m->p->total * sizeof(float));
    return drum_backend_ok(m->be) ? 0 : -1;
}

int drum_clip_model_reset_optimizer(drum_clip_model *m) {
    if (!m->adam_m) return 0;
    size_t bytes = m->p->total * sizeof(float);
    m->be->memset0(m->be, m->adam_m, bytes);
    m->be->memset0(m->be, m->adam_v, bytes);
    m->step = 0;
    return drum_backend_ok(m->be) ? 0 : -1;
}

int drum_clip_zero_grad(drum_clip_model *m) {
    if (need_train(m, "zero_grad")) return -1;
    m->be->memset0(m->be, m->grads, m->p->total * sizeof(float));
    return drum_backend_ok(m->be) ? 0 : -1;
}

/* ---- one transformer block ---------------------------------------------------------
 * Pre-norm, as CLIPEncoderLayer: x + attn(ln1(x)), then + fc2(act(fc1(ln2(.)))). */

static void block_forward(drum_clip_model *m, tower *t, int l, const float *x) {
    drum_backend *be = m->be;
    drum_clip_state *st = m->st;
    const float *P = m->params;
    const drum_clip_block_offsets *o = &t->off[l];
    block_acts *a = &t->blk[l];
    int B = t->B, T = t->T, N = B * T, C = t->C, I = t->I;
    const int *mask = t->masked ? t->mask : NULL;
    int causal = !t->vision;

    be->op.layernorm_forward(be, a->ln1, a->ln1_mean, a->ln1_rstd, x, P + o->ln1_w,
                             P + o->ln1_b, N, C, t->eps);            // (N, C) -> (N, C)
    be->op.matmul_forward(be, a->qkv, a->ln1, P + o->qkv_w, P + o->qkv_b, N, 3 * C, C, 0, 1,
                          1.0f, 0.0f);                               // (N, C) -> (N, 3C)
    be->op.attention_forward(be, a->atty, a->att, a->qkv, mask, B, T, C, t->NH,
                             causal);                                // (B, T, 3C) -> (B, T, C)
    be->op.matmul_forward(be, st->tmp_c, a->atty, P + o->out_w, P + o->out_b, N, C, C, 0, 1,
                          1.0f, 0.0f);                               // (N, C) -> (N, C)
    be->op.residual_forward(be, a->res1, x, st->tmp_c, (size_t)N * C); // (N, C) + (N, C)
    be->op.layernorm_forward(be, a->ln2, a->ln2_mean, a->ln2_rstd, a->res1, P + o->ln2_w,
                             P + o->ln2_b, N, C, t->eps);            // (N, C) -> (N, C)
    be->op.matmul_forward(be, a->fc1, a->ln2, P + o->fc1_w, P + o->fc1_b, N, I, C, 0, 1, 1.0f,
                          0.0f);                                     // (N, C) -> (N, I)
    be->op.act_forward(be, st->ff_a, a->fc1, (size_t)N * I, t->act); // (N, I) -> (N, I)
    be->op.matmul_forward(be, st->tmp_c, st->ff_a, P + o->fc2_w, P + o->fc2_b, N, C, I, 0, 1,
                          1.0f, 0.0f);                               // (N, I) -> (N, C)
    be->op.residual_forward(be, a->res2, a->res1, st->tmp_c, (size_t)N * C); // (N, C) + (N, C)
}

/* On entry st->d_resid holds d(block output); on return d(block input) = x. */
static void block_backward(drum_clip_model *m, tower *t, int l, const float *x) {
    drum_backend *be = m->be;
    drum_clip_state *st = m->st;
    const float *P = m->params;
    float *G = m->grads;
    const drum_clip_block_offsets *o = &t->off[l];
    block_acts *a = &t->blk[l];
    int B = t->B, T = t->T, N = B * T, C = t->C, I = t->I;
    size_t nc = (size_t)N * C, ni = (size_t)N * I;
    const int *mask = t->masked ? t->mask : NULL;
    int causal = !t->vision;

    /* MLP branch: res2 = res1 + fc2(act(fc1(ln2(res1)))); d fc2 output = d_resid. */
    be->op.act_forward(be, st->ff_a, a->fc1, ni, t->act);           // recompute (N, I)
    be->memset0(be, st->ff_b, ni * sizeof(float));
    be->op.matmul_backward(be, st->ff_b, G + o->fc2_w, G + o->fc2_b, st->d_resid, st->ff_a,
                           P + o->fc2_w, N, C, I, 0, 1, 1.0f);      // (N, C) -> (N, I)
    be->memset0(be, st->ff_a, ni * sizeof(float));
    be->op.act_backward(be, st->ff_a, st->ff_b, a->fc1, ni, t->act); // (N, I) -> (N, I)
    be->memset0(be, st->tmp_c, nc * sizeof(float));
    be->op.matmul_backward(be, st->tmp_c, G + o->fc1_w, G + o->fc1_b, st->ff_a, a->ln2,
                           P + o->fc1_w, N, I, C, 0, 1, 1.0f);      // (N, I) -> (N, C)
    be->op.layernorm_backward(be, st->d_resid, G + o->ln2_w, G + o->ln2_b, st->tmp_c, a->res1,
                              P + o->ln2_w, a->ln2_mean, a->ln2_rstd, N, C); // += d res1

    /* Attention branch: res1 = x + out_proj(attention(qkv(ln1(x)))). */
    be->memset0(be, st->tmp_c, nc * sizeof(float));
    be->op.matmul_backward(be, st->tmp_c, G + o->out_w, G + o->out_b, st->d_resid, a->atty,
                           P + o->out_w, N, C, C, 0, 1, 1.0f);      // (N, C) -> (N, C)
    be->memset0(be, st->d_qkv, 3 * nc * sizeof(float));
    be->op.attention_backward(be, st->d_qkv, st->d_att, st->tmp_c, a->qkv, a->att, mask, B, T,
                              C, t->NH, causal);                     // (B, T, C) -> (B, T, 3C)
    be->memset0(be, st->tmp_c, nc * sizeof(float));
    be->op.matmul_backward(be, st->tmp_c, G + o->qkv_w, G + o->qkv_b, st->d_qkv, a->ln1,
                           P + o->qkv_w, N, 3 * C, C, 0, 1, 1.0f);  // (N, 3C) -> (N, C)
    be->op.layernorm_backward(be, st->d_resid, G + o->ln1_w, G + o->ln1_b, st->tmp_c, x,
                              P + o->ln1_w, a->ln1_mean, a->ln1_rstd, N, C); // += d x
}

static const float *block_input(const tower *t, int l) {
    return l == 0 ? t->h0 : t->blk[l - 1].res2;
}

/* Blocks, then pool one row per item, the final LayerNorm on it and the projection.
 * LayerNorm is per row, so norming the pooled row equals norming the sequence first. */
static int tower_forward_rest(drum_clip_model *m, tower *t, float *features) {
    drum_backend *be = m->be;
    const float *P = m->params;
    int B = t->B, T = t->T, C = t->C;
    for (int l = 0; l < t->L; l++) {
        block_forward(m, t, l, block_input(t, l));
        if (!drum_backend_ok(be)) return -1;
    }
    be->op.pool_forward(be, t->pooled, t->blk[t->L - 1].res2, t->pool_idx, B, T,
                        C);                                          // (B, T, C) -> (B, C)
    be->op.layernorm_forward(be, t->pooled_ln, t->pool_mean, t->pool_rstd, t->pooled,
                             P + t->ln_w, P + t->ln_b, B, C, t->eps); // (B, C) -> (B, C)
    be->op.matmul_forward(be, features, t->pooled_ln, P + t->proj, NULL, B, t->D, C, 0, 1, 1.0f,
                          0.0f);                                     // (B, C) -> (B, D)
    return drum_backend_ok(be) ? 0 : -1;
}

/* Backward of tower_forward_rest: leaves d(block 0 input) in st->d_resid. */
static int tower_backward_rest(drum_clip_model *m, tower *t, const float *d_features) {
    drum_backend *be = m->be;
    drum_clip_state *st = m->st;
    const float *P = m->params;
    float *G = m->grads;
    int B = t->B, T = t->T, C = t->C;
    size_t bc = (size_t)B * C;

    be->memset0(be, st->d_pooled_ln, bc * sizeof(float));
    be->op.matmul_backward(be, st->d_pooled_ln, G + t->proj, NULL, d_features, t->pooled_ln,
                           P + t->proj, B, t->D, C, 0, 1, 1.0f);    // (B, D) -> (B, C)
    be->memset0(be, st->d_pooled, bc * sizeof(float));
    be->op.layernorm_backward(be, st->d_pooled, G + t->ln_w, G + t->ln_b, st->d_pooled_ln,
                              t->pooled, P + t->ln_w, t->pool_mean, t->pool_rstd, B, C);
    be->memset0(be, st->d_resid, (size_t)B * T * C * sizeof(float));
    be->op.pool_backward(be, st->d_resid, st->d_pooled, t->pool_idx, B, T,
                         C);                                         // (B, C) -> (B, T, C)
    if (!drum_backend_ok(be)) return -1;
    for (int l = t->L - 1; l >= 0; l--) {
        block_backward(m, t, l, block_input(t, l));
        if (!drum_backend_ok(be)) return -1;
    }
    return 0;
}

/* ---- vision tower ------------------------------------------------------------------ */

static int encode_images(drum_clip_model *m, const float *pixels, int B) {
    drum_backend *be = m->be;
    drum_clip_state *st = m->st;
    tower *t = &st->vis;
    const drum_clip_tower_config *vc = &m->cfg.vision;
    const drum_clip_params *p = m->p;
    const float *P = m->params;
    if (!drum_backend_ok(be)) return -1;
    if (B < 1 || B > m->max_images) {
        DRUM_FAIL(be, "clip_model: encode_images with %d images, expected 1..%d", B,
                  m->max_images);
        return -1;
    }
    m->n_images = 0;
    t->B = B;
    t->T = t->maxT;
    int T = t->T, C = t->C, N = B * T;

    be->op.patchify_forward(be, t->patches, pixels, B, vc->channels, vc->image_size,
                            vc->image_size, vc->patch);  // (B, 3, S, S) -> (B, T, 3 P P)
    be->op.matmul_forward(be, st->tmp_c, t->patches, P + p->v_patch_w, NULL, N, C, t->patch_dim,
                          0, 1, 1.0f, 0.0f);             // (N, 3 P P) -> (N, C), row 0 stays 0
    be->copy(be, t->pos_cls, P + p->v_pos_emb, (size_t)T * C * sizeof(float));
    be->op.residual_forward(be, t->pos_cls, P + p->v_pos_emb, P + p->v_class_emb,
                            C);                          // row 0: position 0 + class embedding
    be->op.add_positions_forward(be, t->x0, st->tmp_c, t->pos_cls, B, T,
                                 C);                     // (B, T, C) + (T, C)
    be->op.layernorm_forward(be, t->h0, t->pre_mean, t->pre_rstd, t->x0, P + p->v_pre_ln_w,
                             P + p->v_pre_ln_b, N, C, t->eps); // pre_layrnorm (N, C)
    if (!drum_backend_ok(be)) return -1;
    if (tower_forward_rest(m, t, m->img_features)) return -1;
    m->n_images = B;
    return 0;
}

static int backward_images(drum_clip_model *m, const float *d_features) {
    drum_backend *be = m->be;
    drum_clip_state *st = m->st;
    tower *t = &st->vis;
    const drum_clip_params *p = m->p;
    const float *P = m->params;
    float *G = m->grads;
    if (!drum_backend_ok(be) || need_train(m, "backward_images")) return -1;
    if (m->n_images < 1) {
        DRUM_FAIL(be, "clip_model: backward_images without a preceding encode_images");
        return -1;
    }
    int B = t->B, T = t->T, C = t->C, N = B * T;
    if (tower_backward_rest(m, t, d_features)) return -1;

    be->memset0(be, st->tmp_c, (size_t)N * C * sizeof(float));
    be->op.layernorm_backward(be, st->tmp_c, G + p->v_pre_ln_w, G + p->v_pre_ln_b, st->d_resid,
                              t->x0, P + p->v_pre_ln_w, t->pre_mean, t->pre_rstd, N,
                              C);                        // d x0 (N, C)
    /* x0 = patch GEMM + pos_cls: d(patch GEMM output) is d x0 itself, so only the
     * positions need the op; the class embedding gets row 0 of d pos_cls. */
    be->memset0(be, st->d_pos_cls, (size_t)T * C * sizeof(float));
    be->op.add_positions_backward(be, NULL, st->d_pos_cls, st->tmp_c, B, T,
                                  C);                    // (B, T, C) -> (T, C)
    be->op.residual_backward(be, G + p->v_pos_emb, NULL, st->d_pos_cls,
                             (size_t)T * C);        // (T, C) -> (T, C)
    be->op.residual_backward(be, G + p->v_class_emb, NULL, st->d_pos_cls,
                             C);                    // row 0 of (T, C) -> (C)
    be->op.matmul_backward(be, NULL, G + p->v_patch_w, NULL, st->tmp_c, t->patches,
                           P + p->v_patch_w, N, C, t->patch_dim, 0, 1,
                           1.0f);                        // (N, C) -> (C, 3 P P)
    return drum_backend_ok(be) ? 0 : -1;
}

/* ---- text tower -------------------------------------------------------------------- */

void drum_clip_eos_positions(const drum_clip_tower_config *text, const int *ids, int B, int T,
                             int *eos_pos) {
    for (int b = 0; b < B; b++) {
        const int *row = ids + (size_t)b * T;
        int best = 0;
        for (int t = 1; t < T; t++) {
            if (text->eos_id == 2) {
                if (row[t] > row[best]) best = t;
            } else if (row[t] == text->eos_id && row[best] != text->eos_id) {
                best = t;
            }
        }
        eos_pos[b] = best;
    }
}

static int encode_texts(drum_clip_model *m, const int *ids, const int *key_mask,
                        const int *eos_pos, int B, int T) {
    drum_backend *be = m->be;
    drum_clip_state *st = m->st;
    tower *t = &st->txt;
    const drum_clip_params *p = m->p;
    const float *P = m->params;
    if (!drum_backend_ok(be)) return -1;
    if (B < 1 || B > m->max_texts || T < 1 || T > m->cfg.text.max_pos) {
        DRUM_FAIL(be, "clip_model: encode_texts with %d texts of %d tokens, expected 1..%d "
                  "texts of 1..%d tokens", B, T, m->max_texts, m->cfg.text.max_pos);
        return -1;
    }
    m->n_texts = 0;
    t->B = B;
    t->T = T;
    t->masked = key_mask != NULL;
    int C = t->C, N = B * T;

    be->copy(be, t->ids, ids, (size_t)N * sizeof(int));
    if (key_mask) be->copy(be, t->mask, key_mask, (size_t)N * sizeof(int));
    be->copy(be, t->pool_idx, eos_pos, (size_t)B * sizeof(int));
    be->op.embedding_forward(be, st->tmp_c, t->ids, P + p->t_tok_emb, N, m->cfg.text.vocab,
                             C);                         // (N) ids -> (N, C)
    be->op.add_positions_forward(be, t->x0, st->tmp_c, P + p->t_pos_emb, B, T,
                                 C);                     // (B, T, C) + (T, C) of (max_pos, C)
    if (!drum_backend_ok(be)) return -1;
    if (tower_forward_rest(m, t, m->txt_features)) return -1;
    m->n_texts = B;
    m->text_len = T;
    return 0;
}

static int backward_texts(drum_clip_model *m, const float *d_features) {
    drum_backend *be = m->be;
    drum_clip_state *st = m->st;
    tower *t = &st->txt;
    const drum_clip_params *p = m->p;
    float *G = m->grads;
    if (!drum_backend_ok(be) || need_train(m, "backward_texts")) return -1;
    if (m->n_texts < 1) {
        DRUM_FAIL(be, "clip_model: backward_texts without a preceding encode_texts");
        return -1;
    }
    int B = t->B, T = t->T, C = t->C, N = B * T;
    if (tower_backward_rest(m, t, d_features)) return -1;
    be->op.add_positions_backward(be, NULL, G + p->t_pos_emb, st->d_resid, B, T,
                                  C);                    // (B, T, C) -> rows 0..T-1 of (max_pos, C)
    be->op.embedding_backward(be, G + p->t_tok_emb, st->d_resid, t->ids, N, m->cfg.text.vocab,
                              C);                        // (N, C) -> (V, C)
    return drum_backend_ok(be) ? 0 : -1;
}

/* ---- contrastive loss -------------------------------------------------------------- */

/* The towers' public entry points, each inside a trace range (trace.h). */
int drum_clip_encode_images(drum_clip_model *m, const float *pixels, int B) {
    DRUM_TRACE_RETURN("encode images", encode_images(m, pixels, B));
}

int drum_clip_backward_images(drum_clip_model *m, const float *d_features) {
    DRUM_TRACE_RETURN("backward images", backward_images(m, d_features));
}

int drum_clip_encode_texts(drum_clip_model *m, const int *ids, const int *key_mask,
                           const int *eos_pos, int B, int T) {
    DRUM_TRACE_RETURN("encode texts", encode_texts(m, ids, key_mask, eos_pos, B, T));
}

int drum_clip_backward_texts(drum_clip_model *m, const float *d_features) {
    DRUM_TRACE_RETURN("backward texts", backward_texts(m, d_features));
}

int drum_clip_contrastive_forward(drum_clip_model *m, float *loss) {
    drum_backend *be = m->be;
    drum_clip_state *st = m->st;
    const float *scale = m->params + m->p->logit_scale;
    int B = m->n_images, D = m->cfg.projection_dim;
    if (!drum_backend_ok(be)) return -1;
    if (B < 1 || m->n_texts != B) {
        DRUM_FAIL(be, "clip_model: contrastive loss of %d images and %d texts, expected the "
                  "same positive count", m->n_images, m->n_texts);
        return -1;
    }
    be->op.l2norm_forward(be, m->img_embeds, st->img_norm, m->img_features, B, D); // (B, D)
    be->op.l2norm_forward(be, m->txt_embeds, st->txt_norm, m->txt_features, B, D); // (B, D)
    be->op.similarity_forward(be, m->logits_per_image, m->img_embeds, m->txt_embeds, scale, B,
                              B, D);                     // (B, D) x (B, D)^T -> (B, B)
    be->op.similarity_forward(be, st->logits_per_text, m->txt_embeds, m->img_embeds, scale, B,
                              B, D);                     // its transpose, rows = texts
    be->op.softmax_xent_forward(be, st->loss_i, st->probs_i, m->logits_per_image, st->targets,
                                B, B);                   // (B, B) -> (B)
    be->op.softmax_xent_forward(be, st->loss_t, st->probs_t, st->logits_per_text, st->targets,
                                B, B);                   // (B, B) -> (B)
    be->to_host(be, st->host_loss, st->loss_i, (size_t)B * sizeof(float));
    be->to_host(be, st->host_loss + B, st->loss_t, (size_t)B * sizeof(float));
    if (!drum_backend_ok(be)) return -1;
    double si = 0, stx = 0;
    for (int i = 0; i < B; i++) {
        si += st->host_loss[i];
        stx += st->host_loss[B + i];
    }
    *loss = (float)(0.5 * (si / B + stx / B));
    return 0;
}

int drum_clip_contrastive_backward(drum_clip_model *m) {
    drum_backend *be = m->be;
    drum_clip_state *st = m->st;
    const float *scale = m->params + m->p->logit_scale;
    float *dscale = NULL;
    int B = m->n_images, D = m->cfg.projection_dim;
    if (!drum_backend_ok(be) || need_train(m, "contrastive_backward")) return -1;
    if (B < 1 || m->n_texts != B) {
        DRUM_FAIL(be, "clip_model: contrastive backward of %d images and %d texts, expected "
                  "the same positive count", m->n_images, m->n_texts);
        return -1;
    }
    dscale = m->grads + m->p->logit_scale;
    size_t bb = (size_t)B * B, bd = (size_t)B * D;
    be->memset0(be, st->dlogits_i, bb * sizeof(float));
    be->memset0(be, st->dlogits_t, bb * sizeof(float));
    be->op.softmax_xent_backward(be, st->dlogits_i, st->ones, st->probs_i, st->targets, B,
                                 B);                // (B) -> (B, B)
    be->op.softmax_xent_backward(be, st->dlogits_t, st->ones, st->probs_t, st->targets, B,
                                 B);                // (B) -> (B, B)
    /* loss = (mean_i + mean_t) / 2: every per-row loss has weight 1 / (2B). */
    be->op.scale(be, st->dlogits_i, bb, 0.5f / (float)B);
    be->op.scale(be, st->dlogits_t, bb, 0.5f / (float)B);
    be->memset0(be, st->d_img_embeds, bd * sizeof(float));
    be->memset0(be, st->d_txt_embeds, bd * sizeof(float));
    be->op.similarity_backward(be, st->d_img_embeds, st->d_txt_embeds, dscale, st->dlogits_i,
                               m->logits_per_image, m->img_embeds, m->txt_embeds, scale, B, B,
                               D);                       // (B, B) -> (B, D), (B, D), (1)
    be->op.similarity_backward(be, st->d_txt_embeds, st->d_img_embeds, dscale, st->dlogits_t,
                               st->logits_per_text, m->txt_embeds, m->img_embeds, scale, B, B,
                               D);
    be->memset0(be, m->d_img_features, bd * sizeof(float));
    be->memset0(be, m->d_txt_features, bd * sizeof(float));
    be->op.l2norm_backward(be, m->d_img_features, st->d_img_embeds, m->img_embeds, st->img_norm,
                           B, D);                        // (B, D) -> (B, D)
    be->op.l2norm_backward(be, m->d_txt_features, st->d_txt_embeds, m->txt_embeds, st->txt_norm,
                           B, D);
    return drum_backend_ok(be) ? 0 : -1;
}

/* ---- optimizer --------------------------------------------------------------------- */

int drum_clip_clip_grad_norm(drum_clip_model *m, const unsigned char *frozen, float max_norm,
                             float *norm) {
    drum_backend *be = m->be;
    if (!drum_backend_ok(be) || need_train(m, "clip_grad_norm")) return -1;
    for (int e = 0; frozen && e < m->p->n; e++)
        if (frozen[e])
            be->memset0(be, m->grads + m->p->entries[e].offset,
                        m->p->entries[e].numel * sizeof(float));
    float ss = 0;
    be->op.sum_squares(be, m->st->scalar, m->grads, m->p->total);
    be->to_host(be, &ss, m->st->scalar, sizeof ss);
    if (!drum_backend_ok(be)) return -1;
    float n = sqrtf(ss);
    if (norm) *norm = n;
    if (!isfinite(n)) { /* clipping cannot mend it, and AdamW would spread it to every weight */
        DRUM_FAIL(be, "clip_grad_norm: the gradients' norm is %g (a gradient overflowed or is "
                  "NaN); the step is not applied", (double)n);
        return -1;
    }
    float coef = max_norm / (n + 1e-6f);
    if (max_norm > 0 && coef < 1.0f) be->op.scale(be, m->grads, m->p->total, coef);
    return drum_backend_ok(be) ? 0 : -1;
}

int drum_clip_adamw_step(drum_clip_model *m, const drum_adamw_config *h) {
    drum_backend *be = m->be;
    if (!drum_backend_ok(be) || need_train(m, "adamw_step")) return -1;
    m->step++;
    drum_trace_push("adamw");
    be->op.adamw_update(be, m->params, m->grads, m->adam_m, m->adam_v, m->p->total, h->lr,
                        h->beta1, h->beta2, h->eps, h->weight_decay, m->step);
    drum_trace_pop();
    return drum_backend_ok(be) ? 0 : -1;
}

/* ---- initialisation ---------------------------------------------------------------- */

/* Each tensor draws from its own PCG32 stream (keyed by its offset), so a tensor's values
 * do not depend on the order the tensors are filled in. */
static void fill_normal(float *host, size_t off, size_t n, double std, uint64_t seed) {
    drum_rng r;
    drum_rng_seed(&r, seed, (uint64_t)off);
    for (size_t i = 0; i < n; i++) host[off + i] = (float)(std * drum_rng_normal(&r));
}

static void fill_value(float *host, size_t off, size_t n, float v) {
    for (size_t i = 0; i < n; i++) host[off + i] = v;
}

static void init_blocks(const drum_clip_tower_config *tc, const drum_clip_block_offsets *blk,
                        float *host, uint64_t seed) {
    size_t C = (size_t)tc->hidden, I = (size_t)tc->intermediate;
    double in_std = pow((double)C, -0.5) * pow(2.0 * tc->layers, -0.5);
    for (int l = 0; l < tc->layers; l++) {
        const drum_clip_block_offsets *o = &blk[l];
        fill_value(host, o->ln1_w, C, 1.0f);
        fill_value(host, o->ln2_w, C, 1.0f);
        fill_normal(host, o->qkv_w, 3 * C * C, in_std, seed);
        fill_normal(host, o->out_w, C * C, pow((double)C, -0.5), seed);
        fill_normal(host, o->fc1_w, I * C, pow(2.0 * C, -0.5), seed);
        fill_normal(host, o->fc2_w, C * I, in_std, seed);
    }
}

void drum_clip_init_params_host(const drum_clip_config *cfg, const drum_clip_params *p,
                                float *host, uint64_t seed) {
    const drum_clip_tower_config *vc = &cfg->vision, *tc = &cfg->text;
    size_t Cv = (size_t)vc->hidden, Ct = (size_t)tc->hidden, D = (size_t)cfg->projection_dim;
    size_t np = (size_t)(vc->image_size / vc->patch);
    memset(host, 0, p->total * sizeof(float));

    fill_normal(host, p->v_class_emb, Cv, pow((double)Cv, -0.5), seed);
    fill_normal(host, p->v_patch_w, Cv * vc->channels * vc->patch * vc->patch, 0.02, seed);
    fill_normal(host, p->v_pos_emb, (np * np + 1) * Cv, 0.02, seed);
    fill_value(host, p->v_pre_ln_w, Cv, 1.0f);
    init_blocks(vc, p->v_blocks, host, seed);
    fill_value(host, p->v_post_ln_w, Cv, 1.0f);
    fill_normal(host, p->v_proj, D * Cv, pow((double)Cv, -0.5), seed);

    fill_normal(host, p->t_tok_emb, (size_t)tc->vocab * Ct, 0.02, seed);
    fill_normal(host, p->t_pos_emb, (size_t)tc->max_pos * Ct, 0.02, seed);
    init_blocks(tc, p->t_blocks, host, seed);
    fill_value(host, p->t_final_ln_w, Ct, 1.0f);
    fill_normal(host, p->t_proj, D * Ct, pow((double)Ct, -0.5), seed);

    host[p->logit_scale] = cfg->logit_scale_init;
}

int drum_clip_model_init(drum_clip_model *m, uint64_t seed) {
    drum_backend *be = m->be;
    float *host = malloc(m->p->total * sizeof(float));
    if (!host) {
        DRUM_FAIL(be, "clip_model: out of host memory for %zu parameters", m->p->total);
        return -1;
    }
    drum_clip_init_params_host(&m->cfg, m->p, host, seed);
    int rc = drum_clip_model_upload(m, host);
    free(host);
    if (rc) return -1;
    m->step = 0;
    if (m->train) {
        be->memset0(be, m->grads, m->p->total * sizeof(float));
        be->memset0(be, m->adam_m, m->p->total * sizeof(float));
        be->memset0(be, m->adam_v, m->p->total * sizeof(float));
    }
    return drum_backend_ok(be) ? 0 : -1;
}
