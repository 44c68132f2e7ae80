/* demo_model.c — the demo's tiny CLIP configuration (demo.h). */
#include <string.h>

#include "drum/demo.h"

/* The demo's tiny CLIP: small enough to pre-train and fine-tune on two CPU cores in
 * minutes, shaped like the real thing (pre-LN ViT with a class token, causal text tower). */
void drum_demo_tiny_config(drum_clip_config *c, int vocab, int image_size, int grid,
                           int context, int bos, int eos, int pad) {
    memset(c, 0, sizeof *c);
    drum_clip_tower_config *t = &c->text, *v = &c->vision;
    t->hidden = 64;
    t->layers = 2;
    t->heads = 4;
    t->intermediate = 256;
    t->act = DRUM_ACT_QUICK_GELU;
    t->ln_eps = 1e-5f;
    t->vocab = vocab;
    t->max_pos = context;
    t->bos_id = bos;
    t->eos_id = eos;
    t->pad_id = pad;
    *v = *t;
    v->vocab = v->max_pos = 0;
    v->bos_id = v->eos_id = v->pad_id = -1;
    v->image_size = image_size;
    v->patch = image_size / grid;
    v->channels = 3;
    c->projection_dim = 64;
    c->logit_scale_init = 2.6592f;
}

