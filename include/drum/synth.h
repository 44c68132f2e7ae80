/* synth.h — the demo benchmark: a procedurally generated multimodal suite (docs/SIMULATOR.md).
 *
 * Images are rendered from hidden attributes (1-4 objects: shape, colour, size, position)
 * plus nuisance attributes no task asks about (background tones, gradient, stripes, pixel
 * noise). Three task families, as in the paper: VQA (colour, shape, count, position and
 * "is there a ...?" questions with 10 noisy human answers), classification (whether a
 * claim about the one large object's colour is true, which needs the image and the prompt
 * together; or that object's shape) and captioning (several reference captions in three
 * phrasing styles). docs/SIMULATOR.md describes the data and the simulated LVLM that scores it.
 *
 * drum_synth_generate writes into outdir:
 *   images/img-NNNNN.png   RGB PNGs, image_size x image_size
 *   train.jsonl, eval.jsonl  examples in the data.h format ("split" set); VQA "answers" are
 *                          the human answers, captioning "answers" the reference captions
 *   meta.jsonl             the hidden attributes of every example (for the simulator only)
 *   captions.jsonl         {"id", "image", "caption"} per train image and per extra
 *                          pre-training image (n_pretrain), for CLIP pre-training
 *   vocab.json, merges.txt a Hugging Face CLIP BPE tokenizer over the corpus' words
 *   synth.json             the configuration that produced the files, removed first and
 *                          written last: a suite without it is not whole (a generation
 *                          stopped part way), and a job generates it again
 * The same configuration gives byte-identical files.
 */
#ifndef DRUM_SYNTH_H
#define DRUM_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "drum/progress.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { DRUM_SYNTH_VQA, DRUM_SYNTH_CLS, DRUM_SYNTH_CAPTION, DRUM_SYNTH_TASKS };

/* What a classification example asks (drum_synth_config.classification). */
typedef enum {
    DRUM_SYNTH_SHAPE = 0, /* "What is the main shape in the image?": the shape, 7 classes */
    DRUM_SYNTH_CLAIM = 1  /* "Claim: the large shape is red. True or false?": true or false,
                           * half of each; the label needs both the image and the prompt
                           * (the default) */
} drum_synth_classification;

typedef struct {
    uint64_t seed;
    int image_size;                 /* pixels per side, 16..512 (default 64) */
    int n_train[DRUM_SYNTH_TASKS];  /* examples per task family (default 720, 240, 240) */
    int n_eval[DRUM_SYNTH_TASKS];   /* held-out queries (default 180, 60, 60) */
    int questions_per_image;        /* VQA questions sharing one image, 1..5 (default 2) */
    int n_answers;                  /* human answers per VQA question, 1..50 (default 10) */
    int n_refs;                     /* reference captions per image, 1..20 (default 5) */
    int n_pretrain;                 /* extra images with a caption only, for CLIP
                                     * pre-training: in no split (default 0) */
    int grid;                       /* 0: objects at 0.19/0.5/0.81 of the side, radius
                                     * 0.15/0.09 (large/small), jitter 3.5% (default);
                                     * 1: centred in the cells of a 5 x 5 grid (0.1/0.5/0.9),
                                     * radius 0.09/0.06, jitter 1%: a ViT with patch =
                                     * side/5 sees each object inside one patch */
    float shape_captions;           /* fraction of pre-training captions that name only
                                     * the shapes ("a circle and a star."), 0..1 (default 0) */
    int classification;             /* drum_synth_classification (default claim) */
} drum_synth_config;

/* Fills cfg with the defaults above (seed 1). */
void drum_synth_default_config(drum_synth_config *cfg);

/* Splits total train and eval counts over the task families as the defaults do: 20%
 * classification and 20% captioning (each rounded down), VQA the rest (about 60%). */
void drum_synth_set_totals(drum_synth_config *cfg, int n_train, int n_eval);

/* The one-line JSON that drum_synth_generate writes to synth.json for cfg (newline
 * included); returns what snprintf returns. */
int drum_synth_config_json(const drum_synth_config *cfg, char *out, size_t n);

/* Generates the benchmark into outdir (created if missing; existing files replaced, and the
 * images a larger suite there had beyond this one's removed). progress (may be NULL) hears
 * of the images made, every 256, and its stop is asked as often: a stop leaves the suite
 * without synth.json (not whole: a job generates it again) and fails with "stopped".
 * Returns 0, or -1 with a message naming the file or the bad setting. */
int drum_synth_generate(const drum_synth_config *cfg, const char *outdir,
                        const drum_progress *progress, char *err, size_t errlen);

/* Writes a Hugging Face CLIP tokenizer whose byte-level BPE turns every word of the given
 * texts into one token. Words are what CLIP's pre-tokenizer yields from the lowercased text
 * (letter runs, single digits, runs of other non-space characters). vocab.json: the 256
 * byte symbols of CLIP's bytes_to_unicode, the same with "</w>", the merge results, then
 * "<|startoftext|>" and "<|endoftext|>"; merges.txt: "#version: 0.2" then one merge a
 * line, built word by word (words sorted by length, then bytes) so the result is
 * deterministic. Returns 0, or -1 with a message. */
int drum_bpe_write_tokenizer(const char *const *texts, int n, const char *vocab_path,
                             const char *merges_path, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
