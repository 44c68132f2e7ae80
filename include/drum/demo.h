/* demo.h — the built-in demo's retriever: a tiny CLIP drum pre-trains itself. */
#ifndef DRUM_DEMO_H
#define DRUM_DEMO_H

#include "drum/clip.h"

/* The "demo-tiny" model config: shaped like CLIP (pre-LN ViT with a class token, causal
 * text tower, quick_gelu), small enough to pre-train and fine-tune on two CPU cores in
 * minutes. vocab and the special ids come from the suite's tokenizer files; the image is
 * cut into grid x grid patches (4 for the generator's free layout, 5 for its grid layout). */
void drum_demo_tiny_config(drum_clip_config *c, int vocab, int image_size, int grid, int context,
                           int bos, int eos, int pad);

#endif
