/* clip_model.h — CLIP forward and backward (Hugging Face `CLIPModel`) as calls to a
 * backend's op table.
 *
 * A model is bound to one backend and one parameter table (clip.h). It owns four
 * contiguous backend buffers of p->total floats — parameters, gradients and the two AdamW
 * moments, in table order — and one activation arena sized at creation for at most
 * max_images images and max_texts texts of up to max_pos tokens. Nothing is allocated
 * after creation: every call below only launches ops on memory it already has.
 *
 * One training step of contrastive pre-training:
 *     drum_clip_zero_grad(m);
 *     drum_clip_encode_images(m, pixels, B);          m->img_features (B, D)
 *     drum_clip_encode_texts(m, ids, mask, eos, B, T); m->txt_features (B, D)
 *     drum_clip_contrastive_forward(m, &loss);
 *     drum_clip_contrastive_backward(m);              m->d_img_features, m->d_txt_features
 *     drum_clip_backward_images(m, m->d_img_features);
 *     drum_clip_backward_texts(m, m->d_txt_features);
 *     drum_clip_clip_grad_norm(m, NULL, 1.0f, &norm); optional
 *     drum_clip_adamw_step(m, &adamw);
 * Another loss (DRUM's list-wise one) computes its own d_features from m->img_features /
 * m->txt_features and calls the two backward functions the same way.
 *
 * The model keeps the activations of the last image batch and the last text batch; a
 * backward call differentiates that batch. Every function returns 0, or -1 with the
 * backend's sticky error (be->err) set; drum_clip_model_create writes its own err.
 */
#ifndef DRUM_CLIP_MODEL_H
#define DRUM_CLIP_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "drum/backend.h"
#include "drum/clip.h"

#ifdef __cplusplus
extern "C" {
#endif

/* torch.optim.AdamW's hyper-parameters. One weight decay for every parameter, biases,
 * LayerNorm weights, embeddings and logit_scale included: what AdamW(model.parameters())
 * does, and what transformers' Trainer does not (it exempts biases and LayerNorm). */
typedef struct {
    float lr, beta1, beta2, eps, weight_decay;
} drum_adamw_config;

/* torch's defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 0.01. */
drum_adamw_config drum_adamw_defaults(void);

typedef struct drum_clip_state drum_clip_state; /* activations and scratch (clip_model.c) */

typedef struct {
    drum_backend *be;
    drum_clip_config cfg;
    const drum_clip_params *p;   /* borrowed; outlives the model */
    int train;                   /* 0: inference only (no gradients, moments, saved acts) */
    int max_images, max_texts;
    /* p->total floats each, in table order; grads, adam_m, adam_v are NULL when !train */
    float *params, *grads, *adam_m, *adam_v;
    int step;                    /* AdamW steps taken (bias correction counts from 1) */
    /* The last batches, backend memory. */
    int n_images, n_texts, text_len;
    float *img_features;         /* (n_images, D) visual_projection output, unnormalised */
    float *txt_features;         /* (n_texts, D) text_projection output, unnormalised */
    float *img_embeds, *txt_embeds; /* (B, D) L2-normalised, set by contrastive_forward */
    float *logits_per_image;     /* (B, B) exp(logit_scale) img_embeds txt_embeds^T */
    float *d_img_features, *d_txt_features; /* (B, D) set by contrastive_backward */
    size_t arena_bytes;          /* activation arena, for reports */
    drum_clip_state *st;
} drum_clip_model;

/* Creates a model for cfg and its table p on be, with room for max_images images and
 * max_texts texts per batch (either may be 0 for a one-tower use). train = 0 allocates
 * the parameters and one layer's activations only (embedding a pool); train = 1 also the
 * gradients, the AdamW moments and every layer's saved activations. Parameters are left
 * uninitialised: call drum_clip_model_init or drum_clip_model_upload. Returns NULL with a
 * message in err on an invalid size or when the backend runs out of memory. */
drum_clip_model *drum_clip_model_create(drum_backend *be, const drum_clip_config *cfg,
                                        const drum_clip_params *p, int max_images,
                                        int max_texts, int train, char *err, size_t errlen);
void drum_clip_model_free(drum_clip_model *m);

/* Copies p->total floats of host parameters to the model / the model's parameters,
 * gradients to the host. */
int drum_clip_model_upload(drum_clip_model *m, const float *params_host);
int drum_clip_model_download(drum_clip_model *m, float *params_host);
int drum_clip_model_download_grads(drum_clip_model *m, float *grads_host);

/* CLIPPreTrainedModel._init_weights on the host (initializer_factor 1, initializer_range
 * 0.02, transformers' defaults): token and position embeddings N(0, 0.02); class embedding
 * N(0, C^-0.5); patch and vision position embeddings N(0, 0.02); q, k, v weights
 * N(0, C^-0.5 (2L)^-0.5), out_proj N(0, C^-0.5); fc1 N(0, (2C)^-0.5), fc2 N(0, C^-0.5
 * (2L)^-0.5); projections N(0, C^-0.5) of their tower; biases 0; LayerNorm 1 and 0;
 * logit_scale = cfg->logit_scale_init. The same (cfg, seed) gives the same bytes; the
 * draws are drum's PCG32 stream, not torch's. host holds p->total floats. */
void drum_clip_init_params_host(const drum_clip_config *cfg, const drum_clip_params *p,
                                float *host, uint64_t seed);
/* The same, uploaded into the model; resets the step count and the moments. */
int drum_clip_model_init(drum_clip_model *m, uint64_t seed);

/* Where transformers' CLIPTextTransformer pools, per row of host ids (B, T): with the
 * legacy eos_token_id == 2, the first position of the largest id; otherwise the first
 * position of eos_token_id, or 0 when the row has none (argmax of an all-zero row). */
void drum_clip_eos_positions(const drum_clip_tower_config *text, const int *ids, int B, int T,
                             int *eos_pos);

/* Vision tower on pixels (B, channels, S, S), backend memory, already normalised:
 * writes m->img_features (B, D). B <= max_images. */
int drum_clip_encode_images(drum_clip_model *m, const float *pixels, int B);
/* Text tower on ids (B, T) int32, key_mask (B, T) int32 (1 = token, 0 = padding; NULL = no
 * padding) and eos_pos (B) int32 (drum_clip_eos_positions), all backend memory, copied into
 * the model. Writes m->txt_features (B, D). B <= max_texts, T <= max_pos. */
int drum_clip_encode_texts(drum_clip_model *m, const int *ids, const int *key_mask,
                           const int *eos_pos, int B, int T);

/* Backward of the last encode_images / encode_texts from d_features (n, D), backend memory:
 * accumulates (+=) into m->grads. Training models only. */
int drum_clip_backward_images(drum_clip_model *m, const float *d_features);
int drum_clip_backward_texts(drum_clip_model *m, const float *d_features);

/* Zeroes the AdamW moments and the step count: a fresh optimizer over the current
 * parameters (fine-tuning after pre-training, or after loading a checkpoint). */
int drum_clip_model_reset_optimizer(drum_clip_model *m);

/* Sets every gradient to zero. */
int drum_clip_zero_grad(drum_clip_model *m);

/* transformers' clip_loss on the last batches (n_images == n_texts = B): L2-normalise,
 * logits = exp(logit_scale) img txt^T, the mean of the cross-entropies of the rows and of
 * the columns with targets 0..B-1. Writes *loss (host) and m->img_embeds, m->txt_embeds,
 * m->logits_per_image. */
int drum_clip_contrastive_forward(drum_clip_model *m, float *loss);
/* Its gradient: overwrites m->d_img_features, m->d_txt_features and accumulates
 * d(logit_scale) into m->grads. Follows drum_clip_contrastive_forward. */
int drum_clip_contrastive_backward(drum_clip_model *m);

/* torch.nn.utils.clip_grad_norm_ over the trainable parameters (with its
 * error_if_nonfinite): *norm = their global L2 norm before clipping; a norm that is not
 * finite is an error, the gradients left as they are; when max_norm > 0 and
 * max_norm / (norm + 1e-6) < 1 every gradient is scaled by that factor. frozen (NULL: none) holds one flag per parameter-table entry:
 * a frozen parameter has no gradient, as one with requires_grad False in torch, so its
 * gradients are zeroed first and take no part in the norm. norm may be NULL. */
int drum_clip_clip_grad_norm(drum_clip_model *m, const unsigned char *frozen, float max_norm,
                             float *norm);

/* One torch.optim.AdamW step over the whole parameter buffer; increments m->step first. */
int drum_clip_adamw_step(drum_clip_model *m, const drum_adamw_config *h);

#ifdef __cplusplus
}
#endif
#endif
