/* clip_io.h — CLIP checkpoints as transformers reads and writes them: the configuration
 * checks shared by config.json loading and the parameter table, and the export of a
 * model directory that `CLIPModel.from_pretrained(dir)` loads. Tensor-level I/O is in
 * safetensors.h.
 */
#ifndef DRUM_CLIP_IO_H
#define DRUM_CLIP_IO_H

#include <stddef.h>

#include "drum/clip.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Checks that cfg describes a model drum can build: positive sizes, hidden divisible by
 * heads, image_size divisible by patch_size, at most DRUM_CLIP_MAX_LAYERS layers, a known
 * activation, a positive layer-norm epsilon. Returns 0, or -1 with a message naming the
 * config.json key (e.g. "text_config.num_attention_heads") and the expected value. */
int drum_clip_config_validate(const drum_clip_config *cfg, char *err, size_t errlen);

/* The config.json spelling of an activation ("quick_gelu", "gelu", "gelu_new"). */
const char *drum_clip_act_name(drum_act act);

/* Writes dir/model.safetensors (float32), dir/preprocessor_config.json (the preprocessing
 * drum applies at the vision tower's size, for CLIPProcessor.from_pretrained) and, last,
 * dir/config.json, creating dir (not its parents: the CLI makes those) when it does not
 * exist. p must be the table of cfg. Returns 0, or -1 with a message naming the file. */
int drum_clip_export(const drum_clip_config *cfg, const drum_clip_params *p,
                     const float *params_host, const char *dir, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
