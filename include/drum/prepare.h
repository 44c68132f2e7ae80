/* prepare.h — a dataset made ready for the CLIP towers: every image decoded and
 * preprocessed once, every text rendered from its template and tokenized once.
 *
 * Text templates name fields in braces: {P} prompt, {R} response, {D} draft (the LVLM's
 * zero-shot answer to the example, passed in `drafts`). A demonstration's text is the
 * demo template over {P},{R}; a query's the query template over {P},{D} (docs/METHOD.md:
 * the gold response is unknown at test time). Unknown fields are an error.
 */
#ifndef DRUM_PREPARE_H
#define DRUM_PREPARE_H

#include <stddef.h>
#include <stdint.h>

#include "drum/backend.h"
#include "drum/clip.h"
#include "drum/comm.h"
#include "drum/data.h"
#include "drum/progress.h"
#include "drum/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int n;          /* examples */
    int S;          /* image side after preprocessing */
    int T;          /* tokens per text: the model's context */
    int longest;    /* encode each batch at its longest text's width (drum_cut_texts) */
    int n_images;          /* distinct image files: examples that name the same file (VQAv2's
                            * ~5 questions an image) share its decode and its levels */
    int *image_of;         /* (n): example -> its image's row of levels; NULL: row i */
    uint8_t *levels;       /* (n_images, 3, S, S): the resized, cropped images' uint8 levels, a
                            * quarter of their floats' memory, expanded per batch
                            * (levels_forward); an example's: drum_prepared_image */
    size_t levels_mapped;  /* > 0: levels is a mapping of that many bytes that the ranks of
                            * this node share (comm->share); 0: this rank's own */
    int levels_shared_by;  /* ranks of this node holding these levels: 1, or the node's ranks */
    char levels_note[192]; /* why several ranks keep their own copies, when share said why */
    float lut[3][256];     /* level -> normalised pixel, per channel (levels_forward) */
    uint64_t *image_digest; /* (n): each image file's digest, read with its pixels
                             * (drum_image_load_digest): for drum_dataset_set_image_digests */
    int *demo_ids, *demo_mask, *demo_eos;    /* (n, T), (n, T), (n): the demo template */
    int *query_ids, *query_mask, *query_eos; /* the query template; NULL when not prepared */
} drum_prepared;

typedef struct {
    int image_size;            /* S */
    float mean[3], std[3];     /* CLIPImageProcessor's image_mean / image_std */
    int context;               /* T */
    int eos_token_id;          /* the text config's, for the pooling position */
    const char *demo_template; /* e.g. "{P} {R}" */
    const char *query_template;/* e.g. "{P} {D}"; NULL: no query texts */
    int longest;               /* 1: batches of these texts are cut to their longest text */
    const drum_progress *progress; /* "prepare images", every DRUM_PREPARE_CHUNK; NULL: none */
    drum_comm *comm;               /* the ranks that share the decoding (every rank calls
                                    * drum_prepare with the same data); NULL: this process */
} drum_prepare_opts;

/* Images are decoded and preprocessed this many at a time (in parallel within a chunk),
 * reporting progress between chunks. */
#define DRUM_PREPARE_CHUNK 256

/* Example i's levels, (3, S, S). */
static inline const uint8_t *drum_prepared_image(const drum_prepared *p, int i) {
    return p->levels + (size_t)(p->image_of ? p->image_of[i] : i) * 3 * p->S * p->S;
}

/* Options for a CLIP config: its image size, context and eos id, CLIPImageProcessor's
 * default mean and std, and the two templates (query_template may be NULL). */
drum_prepare_opts drum_prepare_opts_for(const drum_clip_config *cfg, const char *demo_template,
                                        const char *query_template);

/* Renders `tmpl` for example ex (draft may be NULL when the template has no {D}) into a
 * malloc'd string. Returns NULL with a message on an unknown field or missing draft. */
char *drum_render_template(const char *tmpl, const drum_example *ex, const char *draft,
                           char *err, size_t errlen);

/* Prepares every example of ds. drafts (ds->n) may be NULL when the query template is
 * NULL or has no {D}. Each distinct image path is decoded and preprocessed once, in parallel,
 * DRUM_PREPARE_CHUNK at a time, o->progress asked to stop before each chunk and told the
 * images done; an image that cannot be read or decoded is an error naming the file and the
 * first dataset line that names it, and how many others failed among those read. With
 * o->comm of several ranks, each round of chunks gives each rank its own to decode (fewer
 * images a chunk where a round's levels would pass 1 GB) and all-gathers them: every rank
 * ends with every image, bit for bit those one process decodes, and every rank fails alike
 * with the message of the first image that failed. Returns 0 or -1. */
int drum_prepare(drum_prepared *out, const drum_dataset *ds, char *const *drafts,
                 const drum_tokenizer *tok, const drum_prepare_opts *o, char *err,
                 size_t errlen);
void drum_prepared_free(drum_prepared *p);

/* Adds the query texts (o->query_template over ds and drafts) to p, prepared from ds without
 * them: a pool that becomes a set of training queries only when training starts, so that an
 * evaluation never asks the LVLM for the pool's drafts. Returns 0 or -1. */
int drum_prepare_query_texts(drum_prepared *p, const drum_dataset *ds, char *const *drafts,
                             const drum_tokenizer *tok, const drum_prepare_opts *o, char *err,
                             size_t errlen);

/* A digest of p's images as the towers see them (count, side and every example's levels in
 * turn, whether or not examples share files), continued
 * from h: what a checkpoint's image fingerprint is built from. It follows the pixels, not the
 * files: a PNG re-encoded with the same pixels keeps it; a changed pixel, or a change to the
 * decode, resize or crop, changes it. */
uint64_t drum_prepared_image_fingerprint(const drum_prepared *p, uint64_t h);

/* A digest of p's demo-template texts as the text tower sees them (count, context, and every
 * example's token ids, mask and eos position), continued from h: a checkpoint's text
 * fingerprint. Another tokenizer (its vocabulary, merges or special tokens) changes it. */
uint64_t drum_prepared_text_fingerprint(const drum_prepared *p, uint64_t h);

/* The most examples of p whose image files have the same bytes (equal image_digest: one file,
 * or copies of it): 1 when every example shows an image of its own, 0 for an empty set, -1
 * when out of memory. */
int drum_prepared_most_per_image(const drum_prepared *p);

/* How many examples i of a show an image with the bytes of one of b's (equal image_digest),
 * other than b's example skip[i] when skip (may be NULL) names one (>= 0: a's example i is
 * that example of b); *first (may be NULL) gets the first such i, or -1. -1 when out of
 * memory. */
int drum_prepared_count_images_in(const drum_prepared *a, const drum_prepared *b,
                                  const int *skip, int *first);

/* On a backend, images travel as levels and are expanded there (op levels_forward): a
 * device buffer for the levels of max_images images and the device copy of p's table. */
typedef struct {
    uint8_t *levels; /* (max_images, 3, S, S) */
    float *lut;      /* (3, 256) */
} drum_device_levels;

/* Allocates *d on be and uploads the table. Returns 0, or -1 with the backend's message. */
int drum_device_levels_alloc(drum_backend *be, const drum_prepared *p, int max_images,
                             drum_device_levels *d, char *err, size_t errlen);
void drum_device_levels_free(drum_backend *be, drum_device_levels *d);

/* Cuts n token rows of width T (ids and mask, compacted in place) to the batch's longest
 * text: its pooling position (eos) + 1. Returns the new width (T when none is shorter).
 * The tokens cut are padding after each text's pooling position, which the causal,
 * key-masked text tower never lets reach the pooled feature: the features are those of the
 * full width up to the GEMMs' summation order, which a BLAS may change with the row count
 * (bitwise equal with the CI VM's OpenBLAS, within 1.1e-7 on an H100 host's: test_pipeline). */
int drum_cut_texts(int *ids, int *mask, const int *eos, int n, int T);

#ifdef __cplusplus
}
#endif
#endif
