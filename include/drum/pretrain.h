/* pretrain.h — CLIP's contrastive pre-training on image–caption pairs: how the demo
 * makes its un-tuned retriever (the SI/ST/SIT baselines and DRUM's round 0). */
#ifndef DRUM_PRETRAIN_H
#define DRUM_PRETRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "drum/clip_model.h"
#include "drum/data.h"
#include "drum/prepare.h"
#include "drum/progress.h"

typedef struct {
    int epochs, batch;
    float lr, weight_decay, grad_clip;
    int warmup_steps;
    uint64_t seed;
} drum_pretrain_opts;

/* Trains m (a training model with max_images, max_texts >= batch) on the pairs (image i,
 * demo text i) of prep with transformers' clip_loss, AdamW, warm-up + cosine decay.
 * Batches are seeded permutations per epoch; the last partial batch is dropped (the
 * contrastive loss wants full batches). *final_loss gets the mean loss of the last epoch.
 * Asks progress's stop before each epoch. Returns 0, or -1 (an error, or stopped: m is then
 * part-trained). */
int drum_pretrain_clip(drum_clip_model *m, const drum_prepared *prep,
                       const drum_pretrain_opts *o, const drum_progress *progress,
                       double *final_loss, char *err, size_t errlen);

/* Loads captions.jsonl lines {"id", "image", "caption"} (strict) as a dataset whose
 * examples carry the caption as their response (task "caption", empty prompt). */
int drum_captions_load(drum_dataset *ds, const char *path, char *err, size_t errlen);

#endif
