/* synth_world.h — the world of the demo benchmark, shared by the generator (synth.c,
 * synth_render.c) and the simulated LVLM (score/synthetic.c); internal to libdrum.
 *
 * A scene is 1-4 objects, each a shape, a colour, a size and one of five positions, all
 * distinct within a scene (so "the circle" names one object), plus nuisance attributes
 * (background tones, gradient, stripes, pixel noise) that no task asks about. The names
 * below are the canonical answers; annotators and captions also use a few synonyms, which
 * sw_canon maps back.
 */
#ifndef DRUM_SYNTH_WORLD_H
#define DRUM_SYNTH_WORLD_H

#include <stddef.h>
#include <stdint.h>

#include "drum/rng.h"

enum {
    SW_SHAPES = 7,
    SW_COLORS = 8,
    SW_POSITIONS = 5,
    SW_SIZES = 2,
    SW_BACKGROUNDS = 6,
    SW_GRADIENTS = 4,
    SW_MAX_OBJECTS = 4,
    SW_STYLES = 3,    /* caption phrasing styles */
    SW_STYLE_SHAPES = 3, /* pre-training captions only: "a circle and a star." */
    SW_TEMPLATES = 3, /* prompt phrasings per question type */
    SW_TEXT = 256     /* buffer size for any prompt, answer or caption */
};

typedef enum { SW_VQA, SW_CLS, SW_CAPTION, SW_TASKS } sw_task;
typedef enum { SW_Q_COLOR, SW_Q_SHAPE, SW_Q_COUNT, SW_Q_POSITION, SW_Q_EXISTS, SW_QTYPES } sw_qtype;
typedef enum { SW_SMALL, SW_LARGE } sw_size;

extern const char *const sw_task_names[SW_TASKS];         /* vqa cls caption */
extern const char *const sw_qtype_names[SW_QTYPES];       /* color shape count position exists */
extern const char *const sw_shape_names[SW_SHAPES];
extern const char *const sw_color_names[SW_COLORS];
extern const char *const sw_position_names[SW_POSITIONS]; /* left right top bottom center */
extern const char *const sw_size_names[SW_SIZES];         /* small large */
extern const char *const sw_background_names[SW_BACKGROUNDS];
extern const char *const sw_gradient_names[SW_GRADIENTS];
extern const unsigned char sw_color_rgb[SW_COLORS][3];
extern const unsigned char sw_background_rgb[SW_BACKGROUNDS][3];

typedef struct {
    int shape, color, size, pos;
} sw_object;

typedef struct {
    int n;
    sw_object obj[SW_MAX_OBJECTS];
    int bg[2];    /* background tones: the gradient runs from bg[0] to bg[1] */
    int gradient; /* index into sw_gradient_names */
    int stripes;  /* stripe period in pixels; 0 = none */
    int noise;    /* per-pixel noise amplitude on a 0-255 scale */
} sw_scene;

/* The index of s in names[0..n), or -1. */
int sw_find(const char *const *names, int n, const char *s);

/* The canonical form of a free-text answer: lowercased, outer spaces and punctuation
 * stripped, synonyms mapped to the canonical name ("violet" -> "purple", "middle" ->
 * "center", "two" -> "2", ...). Writes at most n bytes (NUL-terminated) into out. */
void sw_canon(const char *text, char *out, size_t n);

/* A surface variant an annotator might write for a canonical answer (often the answer
 * itself), and an answer an annotator might confuse it with (never the answer itself). */
const char *sw_answer_variant(sw_qtype q, const char *canonical, drum_rng *r, char *buf,
                              size_t n);
const char *sw_answer_confusion(sw_qtype q, const char *canonical, drum_rng *r, char *buf,
                                size_t n);

/* The confusable neighbours of a colour or shape (the one annotators mix it up with). */
int sw_confusable_color(int c, drum_rng *r);
int sw_confusable_shape(int s, drum_rng *r);
/* The two equally likely draws of sw_confusable_shape(s, .) (they may be the same shape). */
void sw_shape_confusions(int s, int out[2]);

/* "a red circle", "an orange star", "a large red circle" (with_size). */
void sw_object_phrase(const sw_object *o, int with_size, char *out, size_t n);

/* A prompt of question type q (template t in [0, SW_TEMPLATES)) about object o (colour,
 * shape and position questions), or the object pair asked about (exists). */
void sw_vqa_prompt(sw_qtype q, int t, const sw_object *o, char *out, size_t n);
const char *sw_cls_prompt(int t);
/* A claim about the large object's colour, "Claim: the large shape is red. True or false?"
 * (template t); its labels are sw_claim_labels (false, true). */
void sw_claim_prompt(int t, const char *color, char *out, size_t n);
extern const char *const sw_claim_labels[2];
const char *sw_caption_prompt(int t);

/* A caption of the objects in one of the SW_STYLES phrasing styles: 0 "a large red circle
 * and a small blue square.", 1 "there is a large red circle on the left and ...", 2 "two
 * shapes: red circle, blue square." r (may be NULL) adds a reference's variations: sizes
 * left out, "middle" for center, object order shuffled. bg >= 0 appends "on a <bg>
 * background" (the pre-training captions). */
void sw_caption(const sw_object *obj, int n, int style, int bg, drum_rng *r, char *out,
                size_t len);
/* The style of a caption written by sw_caption (by its phrasing), or -1. */
int sw_caption_style(const char *caption);

/* Every word the generator or the simulator can emit, as text fragments (for the
 * tokenizer's vocabulary). */
extern const char *const sw_lexicon[];
extern const int sw_lexicon_n;

/* Renders the scene as size x size RGB (row-major, 3 bytes a pixel). Jitter of position,
 * size and colour and the pixel noise come from seed. */
void sw_render(const sw_scene *s, uint64_t seed, int size, int grid, unsigned char *rgb);

#endif
