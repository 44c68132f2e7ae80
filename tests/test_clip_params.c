/* test_clip_params — CLIP's parameter table: counts equal transformers' for the OpenAI
 * configurations, the layout is contiguous, q/k/v sit together, every offset field points
 * at the entry of its HF name, and invalid configurations are refused with the key named. */
#include <stdio.h>
#include <string.h>

#include "common/check.h"
#include "drum/clip.h"
#include "drum/clip_io.h"

/* sum(p.numel() for p in CLIPModel(config).parameters()) in transformers. */
static const struct {
    const char *name;
    size_t count;
} standard[] = {
    {"ViT-B/32", 151277313},
    {"ViT-B/16", 149620737},
    {"ViT-L/14", 427616513},
    {"ViT-L/14-336", 427944193},
};

static size_t offset_of(const drum_clip_params *p, const char *fmt, const char *tower, int l,
                        const char *leaf) {
    char name[128];
    snprintf(name, sizeof name, fmt, tower, l, leaf);
    const drum_param_entry *e = drum_clip_params_find(p, name);
    return e ? e->offset : (size_t)-1;
}

static void check_block(const drum_clip_params *p, const drum_clip_block_offsets *o,
                        const char *tower, int l, size_t C, size_t I) {
    const char *f = "%s.encoder.layers.%d.%s";
    const struct { size_t have; const char *leaf; } fields[] = {
        {o->ln1_w, "layer_norm1.weight"},     {o->ln1_b, "layer_norm1.bias"},
        {o->qkv_w, "self_attn.q_proj.weight"}, {o->qkv_b, "self_attn.q_proj.bias"},
        {o->out_w, "self_attn.out_proj.weight"}, {o->out_b, "self_attn.out_proj.bias"},
        {o->ln2_w, "layer_norm2.weight"},     {o->ln2_b, "layer_norm2.bias"},
        {o->fc1_w, "mlp.fc1.weight"},         {o->fc1_b, "mlp.fc1.bias"},
        {o->fc2_w, "mlp.fc2.weight"},         {o->fc2_b, "mlp.fc2.bias"},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        CHECK(fields[i].have == offset_of(p, f, tower, l, fields[i].leaf), "%s layer %d %s", tower,
              l, fields[i].leaf);
    /* One (3C, C) matrix and one (3C) vector. */
    CHECK(offset_of(p, f, tower, l, "self_attn.k_proj.weight") == o->qkv_w + C * C, "%s %d k_w",
          tower, l);
    CHECK(offset_of(p, f, tower, l, "self_attn.v_proj.weight") == o->qkv_w + 2 * C * C,
          "%s %d v_w", tower, l);
    CHECK(o->qkv_b == o->qkv_w + 3 * C * C, "%s %d: biases follow the weights", tower, l);
    CHECK(offset_of(p, f, tower, l, "self_attn.k_proj.bias") == o->qkv_b + C, "%s %d k_b", tower,
          l);
    CHECK(offset_of(p, f, tower, l, "self_attn.v_proj.bias") == o->qkv_b + 2 * C, "%s %d v_b",
          tower, l);
    const drum_param_entry *fc1 = &p->entries[0], *fc2 = &p->entries[0];
    for (int i = 0; i < p->n; i++) {
        if (p->entries[i].offset == o->fc1_w) fc1 = &p->entries[i];
        if (p->entries[i].offset == o->fc2_w) fc2 = &p->entries[i];
    }
    CHECK(fc1->ndim == 2 && (size_t)fc1->shape[0] == I && (size_t)fc1->shape[1] == C,
          "%s %d: fc1 is (I, C)", tower, l);
    CHECK(fc2->ndim == 2 && (size_t)fc2->shape[0] == C && (size_t)fc2->shape[1] == I,
          "%s %d: fc2 is (C, I)", tower, l);
}

static void check_layout(const drum_clip_params *p, const char *name) {
    size_t end = 0;
    int contiguous = 1, numel_ok = 1, unique = 1;
    for (int i = 0; i < p->n; i++) {
        const drum_param_entry *e = &p->entries[i];
        size_t numel = 1;
        for (int d = 0; d < e->ndim; d++) numel *= (size_t)e->shape[d];
        if (numel != e->numel) numel_ok = 0;
        if (e->offset != end) contiguous = 0;
        end = e->offset + e->numel;
        if (drum_clip_params_find(p, e->name) != e) unique = 0;
    }
    CHECK(contiguous, "%s: offsets are not contiguous", name);
    CHECK(numel_ok, "%s: numel differs from the shape's product", name);
    CHECK(unique, "%s: a name is not unique (find returns another entry)", name);
    CHECK(end == p->total, "%s: entries end at %zu, total %zu", name, end, p->total);
}

static void test_standard(void) {
    for (size_t s = 0; s < sizeof standard / sizeof standard[0]; s++) {
        drum_clip_config cfg;
        drum_clip_params p;
        char err[512];
        const char *name = standard[s].name;
        CHECK(drum_clip_config_standard(&cfg, name) == 0, "standard %s", name);
        if (drum_clip_params_build(&p, &cfg, err, sizeof err)) {
            CHECK(0, "%s: %s", name, err);
            continue;
        }
        CHECK(p.total == standard[s].count, "%s: %zu parameters, transformers has %zu", name,
              p.total, standard[s].count);
        int expect_n = 4 + 16 * cfg.text.layers + 7 + 16 * cfg.vision.layers + 3;
        CHECK(p.n == expect_n, "%s: %d entries, expected %d", name, p.n, expect_n);
        check_layout(&p, name);

        const drum_clip_tower_config *t = &cfg.text, *v = &cfg.vision;
        for (int l = 0; l < t->layers; l++)
            check_block(&p, &p.t_blocks[l], "text_model", l, (size_t)t->hidden,
                        (size_t)t->intermediate);
        for (int l = 0; l < v->layers; l++)
            check_block(&p, &p.v_blocks[l], "vision_model", l, (size_t)v->hidden,
                        (size_t)v->intermediate);

        const struct { size_t have; const char *hf; } tops[] = {
            {p.t_tok_emb, "text_model.embeddings.token_embedding.weight"},
            {p.t_pos_emb, "text_model.embeddings.position_embedding.weight"},
            {p.t_final_ln_w, "text_model.final_layer_norm.weight"},
            {p.t_final_ln_b, "text_model.final_layer_norm.bias"},
            {p.v_class_emb, "vision_model.embeddings.class_embedding"},
            {p.v_patch_w, "vision_model.embeddings.patch_embedding.weight"},
            {p.v_pos_emb, "vision_model.embeddings.position_embedding.weight"},
            {p.v_pre_ln_w, "vision_model.pre_layrnorm.weight"},
            {p.v_pre_ln_b, "vision_model.pre_layrnorm.bias"},
            {p.v_post_ln_w, "vision_model.post_layernorm.weight"},
            {p.v_post_ln_b, "vision_model.post_layernorm.bias"},
            {p.v_proj, "visual_projection.weight"},
            {p.t_proj, "text_projection.weight"},
            {p.logit_scale, "logit_scale"},
        };
        for (size_t i = 0; i < sizeof tops / sizeof tops[0]; i++) {
            const drum_param_entry *e = drum_clip_params_find(&p, tops[i].hf);
            CHECK(e && e->offset == tops[i].have, "%s: %s", name, tops[i].hf);
        }
        const drum_param_entry *e = drum_clip_params_find(&p, "logit_scale");
        CHECK(e && e->ndim == 0 && e->numel == 1, "%s: logit_scale is a scalar", name);
        e = drum_clip_params_find(&p, "vision_model.embeddings.patch_embedding.weight");
        CHECK(e && e->ndim == 4 && e->shape[0] == v->hidden && e->shape[1] == 3 &&
                  e->shape[2] == v->patch && e->shape[3] == v->patch,
              "%s: patch_embedding shape", name);
        int grid = v->image_size / v->patch;
        e = drum_clip_params_find(&p, "vision_model.embeddings.position_embedding.weight");
        CHECK(e && e->shape[0] == grid * grid + 1 && e->shape[1] == v->hidden,
              "%s: vision positions (%d x %d grid + class)", name, grid, grid);
        e = drum_clip_params_find(&p, "text_projection.weight");
        CHECK(e && e->shape[0] == cfg.projection_dim && e->shape[1] == t->hidden,
              "%s: text_projection (D, C)", name);
        CHECK(drum_clip_params_find(&p, "text_model.embeddings.position_ids") == NULL,
              "%s: buffers are not parameters", name);
        CHECK(drum_clip_params_find(&p, "logit_scal") == NULL, "%s: prefix is not a match", name);
        drum_clip_params_free(&p);
        CHECK(p.entries == NULL && p.n == 0, "free clears the table");
    }
    drum_clip_config cfg;
    CHECK(drum_clip_config_standard(&cfg, "ViT-H/14") == -1, "unknown standard name");
    CHECK(drum_clip_config_standard(&cfg, "ViT-L/14") == 0 && cfg.text.hidden == 768 &&
              cfg.text.heads == 12 && cfg.vision.layers == 24 && cfg.vision.heads == 16 &&
              cfg.projection_dim == 768 && cfg.vision.image_size == 224,
          "ViT-L/14 sizes");
    CHECK(drum_clip_config_standard(&cfg, "ViT-L/14-336") == 0 && cfg.vision.image_size == 336,
          "ViT-L/14-336 image size");
}

static void expect_invalid(const drum_clip_config *cfg, const char *what, const char *key) {
    drum_clip_params p;
    char err[512] = "";
    int rc = drum_clip_params_build(&p, cfg, err, sizeof err);
    CHECK(rc == -1 && strstr(err, key), "%s: rc %d, message \"%s\" should name %s", what, rc, err,
          key);
    CHECK(p.entries == NULL, "%s: no table left behind", what);
    if (rc == 0) drum_clip_params_free(&p);
}

static void test_invalid(void) {
    drum_clip_config base, c;
    drum_clip_config_standard(&base, "ViT-B/32");
    char err[256];
    CHECK(drum_clip_config_validate(&base, err, sizeof err) == 0, "ViT-B/32 valid: %s", err);

    c = base; c.text.heads = 7;
    expect_invalid(&c, "heads do not divide", "text_config.num_attention_heads");
    c = base; c.vision.patch = 30;
    expect_invalid(&c, "patch does not divide", "vision_config.patch_size");
    c = base; c.vision.layers = DRUM_CLIP_MAX_LAYERS + 1;
    expect_invalid(&c, "too many layers", "vision_config.num_hidden_layers");
    c = base; c.text.vocab = 0;
    expect_invalid(&c, "empty vocabulary", "text_config.vocab_size");
    c = base; c.vision.channels = -3;
    expect_invalid(&c, "negative channels", "vision_config.num_channels");
    /* a grey or RGBA model: the pipeline's images are RGB (an audit found 1 channel read
     * across images, so that embeddings depended on the batch, and 4 read past the buffer) */
    c = base; c.vision.channels = 1;
    expect_invalid(&c, "one channel", "vision_config.num_channels is 1; drum's image "
                   "preprocessing gives RGB images, so it must be 3");
    c = base; c.vision.channels = 4;
    expect_invalid(&c, "four channels", "vision_config.num_channels is 4");
    c = base; c.projection_dim = 0;
    expect_invalid(&c, "zero projection", "projection_dim");
    c = base; c.text.ln_eps = 0.0f;
    expect_invalid(&c, "zero epsilon", "text_config.layer_norm_eps");
    c = base; c.vision.act = (drum_act)7;
    expect_invalid(&c, "unknown activation", "vision_config.hidden_act");
    c = base; c.text.eos_id = -5;
    expect_invalid(&c, "negative token id", "text_config.eos_token_id");
    /* Sizes whose product does not fit in size_t must not wrap into a small table. */
    c = base; c.text.vocab = 2000000000; c.text.hidden = 2000000000; c.text.heads = 1;
    c.text.max_pos = 2000000000; c.text.intermediate = 2000000000;
    expect_invalid(&c, "overflowing sizes", "overflow");

    c = base; c.text.layers = 1; c.vision.layers = DRUM_CLIP_MAX_LAYERS;
    drum_clip_params p;
    CHECK(drum_clip_params_build(&p, &c, err, sizeof err) == 0 &&
              p.n == 4 + 16 + 7 + 16 * DRUM_CLIP_MAX_LAYERS + 3,
          "1 text layer and the maximum of vision layers: %s", err);
    drum_clip_params_free(&p);
}

int main(void) {
    test_standard();
    test_invalid();
    return check_summary();
}
