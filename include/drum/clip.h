/* clip.h — CLIP as Hugging Face `transformers` defines CLIPModel: the configuration, the
 * parameter table (HF names, shapes, offsets into one contiguous buffer) and the model.
 *
 * Parameter layout: one float32 buffer holds every parameter, in the order of the table.
 * Within an attention block q, k and v are adjacent — q_proj.weight, k_proj.weight,
 * v_proj.weight form one (3C, C) matrix and the three biases one (3C) vector — so the
 * model computes qkv with a single GEMM. The table is the one place that knows names:
 * checkpoint I/O, freezing by pattern and the optimizer all read it.
 */
#ifndef DRUM_CLIP_H
#define DRUM_CLIP_H

#include <stddef.h>
#include <stdint.h>

#include "drum/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DRUM_CLIP_MAX_LAYERS 64

typedef struct {
    int hidden;         /* hidden_size */
    int layers;         /* num_hidden_layers */
    int heads;          /* num_attention_heads */
    int intermediate;   /* intermediate_size */
    drum_act act;       /* hidden_act: quick_gelu | gelu | gelu_new */
    int act_torch_tanh; /* hidden_act was spelled gelu_pytorch_tanh: gelu_new's function,
                         * which transformers computes with another kernel; the export keeps
                         * the spelling */
    float ln_eps;       /* layer_norm_eps */
    /* text tower */
    int vocab;          /* vocab_size */
    int max_pos;        /* max_position_embeddings (context length) */
    int bos_id, eos_id, pad_id;
    /* vision tower */
    int image_size, patch, channels;
} drum_clip_tower_config;

typedef struct {
    drum_clip_tower_config text, vision;
    int projection_dim;
    float logit_scale_init; /* logit_scale_init_value (ln(1/0.07) = 2.6592) */
} drum_clip_config;

/* Offsets (in floats) of one transformer block's parameters. */
typedef struct {
    size_t ln1_w, ln1_b;
    size_t qkv_w, qkv_b;     /* (3C, C) and (3C): q, k, v adjacent */
    size_t out_w, out_b;     /* (C, C), (C) */
    size_t ln2_w, ln2_b;
    size_t fc1_w, fc1_b;     /* (I, C), (I) */
    size_t fc2_w, fc2_b;     /* (C, I), (C) */
} drum_clip_block_offsets;

typedef struct {
    char name[96];           /* HF tensor name, e.g. "vision_model.pre_layrnorm.weight" */
    int ndim;
    int64_t shape[4];
    size_t offset;           /* in floats, into the parameter buffer */
    size_t numel;
} drum_param_entry;

typedef struct {
    drum_param_entry *entries;
    int n;
    size_t total;            /* floats in the buffer */
    /* vision tower */
    size_t v_patch_w;        /* (C, 3, P, P) */
    size_t v_class_emb;      /* (C) */
    size_t v_pos_emb;        /* (NP + 1, C) */
    size_t v_pre_ln_w, v_pre_ln_b;
    drum_clip_block_offsets v_blocks[DRUM_CLIP_MAX_LAYERS];
    size_t v_post_ln_w, v_post_ln_b;
    size_t v_proj;           /* visual_projection.weight (D, C) */
    /* text tower */
    size_t t_tok_emb;        /* (V, C) */
    size_t t_pos_emb;        /* (max_pos, C) */
    drum_clip_block_offsets t_blocks[DRUM_CLIP_MAX_LAYERS];
    size_t t_final_ln_w, t_final_ln_b;
    size_t t_proj;           /* text_projection.weight (D, C) */
    size_t logit_scale;      /* () */
} drum_clip_params;

/* Reads a Hugging Face CLIPConfig `config.json`. Returns 0, or -1 with a message naming
 * the file and the problem in err. */
int drum_clip_config_load(drum_clip_config *cfg, const char *path, char *err, size_t errlen);
/* Writes cfg as a config.json that `CLIPModel.from_pretrained` accepts. */
int drum_clip_config_save(const drum_clip_config *cfg, const char *path, char *err, size_t errlen);
/* Standard configurations: "ViT-B/32", "ViT-B/16", "ViT-L/14", "ViT-L/14-336". */
int drum_clip_config_standard(drum_clip_config *cfg, const char *name);

/* Builds the parameter table for cfg. Returns 0, or -1 on invalid configuration. */
int drum_clip_params_build(drum_clip_params *p, const drum_clip_config *cfg, char *err,
                           size_t errlen);
void drum_clip_params_free(drum_clip_params *p);
/* The entry with HF name `name`, or NULL. */
const drum_param_entry *drum_clip_params_find(const drum_clip_params *p, const char *name);

#ifdef __cplusplus
}
#endif
#endif
