/* clip_params.c — CLIP's parameter table: every tensor of transformers' CLIPModel
 * state_dict (less the position_ids buffers), its shape and its offset in one buffer.
 *
 * Order: text tower, vision tower, visual_projection, text_projection, logit_scale — the
 * order of CLIPModel's state_dict — except inside a block, which follows the computation:
 * layer_norm1, q/k/v weights, q/k/v biases, out_proj, layer_norm2, fc1, fc2. Offsets are
 * contiguous with no padding, so a float32 checkpoint's data section is the buffer itself.
 */
#include "drum/clip.h"
#include "drum/clip_io.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    drum_clip_params *p;
    int cap;
    int overflow; /* a size did not fit in size_t */
    int full;     /* more entries than cap: the count below and add_block disagree */
} builder;

/* Appends an entry of shape (d[0], ..., d[ndim-1]) and returns its offset. Sizes are
 * checked for overflow so that a hostile config.json cannot wrap the total. */
static size_t add(builder *b, int ndim, const int64_t *d, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static size_t add(builder *b, int ndim, const int64_t *d, const char *fmt, ...) {
    drum_clip_params *p = b->p;
    if (p->n == b->cap) {
        b->full = 1;
        return 0;
    }
    drum_param_entry *e = &p->entries[p->n++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->name, sizeof e->name, fmt, ap);
    va_end(ap);
    e->ndim = ndim;
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        e->shape[i] = d[i];
        if (__builtin_mul_overflow(numel, (size_t)d[i], &numel)) b->overflow = 1;
    }
    e->numel = numel;
    e->offset = p->total;
    if (__builtin_add_overflow(p->total, numel, &p->total)) b->overflow = 1;
    return e->offset;
}

#define SHAPE(...) ((const int64_t[]){__VA_ARGS__})

static void add_block(builder *b, drum_clip_block_offsets *o, const char *tower, int layer,
                      int64_t C, int64_t I) {
    const char *pre = "encoder.layers";
    o->ln1_w = add(b, 1, SHAPE(C), "%s.%s.%d.layer_norm1.weight", tower, pre, layer);
    o->ln1_b = add(b, 1, SHAPE(C), "%s.%s.%d.layer_norm1.bias", tower, pre, layer);
    o->qkv_w = add(b, 2, SHAPE(C, C), "%s.%s.%d.self_attn.q_proj.weight", tower, pre, layer);
    add(b, 2, SHAPE(C, C), "%s.%s.%d.self_attn.k_proj.weight", tower, pre, layer);
    add(b, 2, SHAPE(C, C), "%s.%s.%d.self_attn.v_proj.weight", tower, pre, layer);
    o->qkv_b = add(b, 1, SHAPE(C), "%s.%s.%d.self_attn.q_proj.bias", tower, pre, layer);
    add(b, 1, SHAPE(C), "%s.%s.%d.self_attn.k_proj.bias", tower, pre, layer);
    add(b, 1, SHAPE(C), "%s.%s.%d.self_attn.v_proj.bias", tower, pre, layer);
    o->out_w = add(b, 2, SHAPE(C, C), "%s.%s.%d.self_attn.out_proj.weight", tower, pre, layer);
    o->out_b = add(b, 1, SHAPE(C), "%s.%s.%d.self_attn.out_proj.bias", tower, pre, layer);
    o->ln2_w = add(b, 1, SHAPE(C), "%s.%s.%d.layer_norm2.weight", tower, pre, layer);
    o->ln2_b = add(b, 1, SHAPE(C), "%s.%s.%d.layer_norm2.bias", tower, pre, layer);
    o->fc1_w = add(b, 2, SHAPE(I, C), "%s.%s.%d.mlp.fc1.weight", tower, pre, layer);
    o->fc1_b = add(b, 1, SHAPE(I), "%s.%s.%d.mlp.fc1.bias", tower, pre, layer);
    o->fc2_w = add(b, 2, SHAPE(C, I), "%s.%s.%d.mlp.fc2.weight", tower, pre, layer);
    o->fc2_b = add(b, 1, SHAPE(C), "%s.%s.%d.mlp.fc2.bias", tower, pre, layer);
}

#define ENTRIES_PER_BLOCK 16

int drum_clip_params_build(drum_clip_params *p, const drum_clip_config *cfg, char *err,
                           size_t errlen) {
    memset(p, 0, sizeof *p);
    if (drum_clip_config_validate(cfg, err, errlen)) return -1;
    const drum_clip_tower_config *t = &cfg->text, *v = &cfg->vision;
    int cap = 2 + ENTRIES_PER_BLOCK * t->layers + 2      /* text */
              + 3 + 2 + ENTRIES_PER_BLOCK * v->layers + 2 /* vision */
              + 3;                                        /* projections, logit_scale */
    p->entries = calloc((size_t)cap, sizeof *p->entries);
    if (!p->entries) {
        snprintf(err, errlen, "out of memory for %d parameter table entries", cap);
        return -1;
    }
    builder b = {p, cap, 0, 0};

    const int64_t Ct = t->hidden, It = t->intermediate;
    const int64_t Cv = v->hidden, Iv = v->intermediate, P = v->patch;
    const int64_t grid = v->image_size / v->patch;
    const int64_t D = cfg->projection_dim;

    p->t_tok_emb = add(&b, 2, SHAPE(t->vocab, Ct), "text_model.embeddings.token_embedding.weight");
    p->t_pos_emb = add(&b, 2, SHAPE(t->max_pos, Ct),
                       "text_model.embeddings.position_embedding.weight");
    for (int l = 0; l < t->layers; l++) add_block(&b, &p->t_blocks[l], "text_model", l, Ct, It);
    p->t_final_ln_w = add(&b, 1, SHAPE(Ct), "text_model.final_layer_norm.weight");
    p->t_final_ln_b = add(&b, 1, SHAPE(Ct), "text_model.final_layer_norm.bias");

    p->v_class_emb = add(&b, 1, SHAPE(Cv), "vision_model.embeddings.class_embedding");
    p->v_patch_w = add(&b, 4, SHAPE(Cv, v->channels, P, P),
                       "vision_model.embeddings.patch_embedding.weight");
    p->v_pos_emb = add(&b, 2, SHAPE(grid * grid + 1, Cv),
                       "vision_model.embeddings.position_embedding.weight");
    p->v_pre_ln_w = add(&b, 1, SHAPE(Cv), "vision_model.pre_layrnorm.weight");
    p->v_pre_ln_b = add(&b, 1, SHAPE(Cv), "vision_model.pre_layrnorm.bias");
    for (int l = 0; l < v->layers; l++)
        add_block(&b, &p->v_blocks[l], "vision_model", l, Cv, Iv);
    p->v_post_ln_w = add(&b, 1, SHAPE(Cv), "vision_model.post_layernorm.weight");
    p->v_post_ln_b = add(&b, 1, SHAPE(Cv), "vision_model.post_layernorm.bias");

    p->v_proj = add(&b, 2, SHAPE(D, Cv), "visual_projection.weight");
    p->t_proj = add(&b, 2, SHAPE(D, Ct), "text_projection.weight");
    p->logit_scale = add(&b, 0, NULL, "logit_scale");

    if (b.overflow || b.full || p->n != cap) {
        if (b.overflow) snprintf(err, errlen, "the configuration's parameter count overflows");
        else snprintf(err, errlen, "parameter table: %d entries, expected %d", p->n, cap);
        drum_clip_params_free(p);
        return -1;
    }
    return 0;
}

void drum_clip_params_free(drum_clip_params *p) {
    if (!p) return;
    free(p->entries);
    memset(p, 0, sizeof *p);
}

const drum_param_entry *drum_clip_params_find(const drum_clip_params *p, const char *name) {
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->entries[i].name, name) == 0) return &p->entries[i];
    return NULL;
}
