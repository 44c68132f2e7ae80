/* synth_world.c — names, answer canonicalisation, annotator noise and captions of the demo
 * benchmark's world (see synth_world.h). */
#include "data/synth_world.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

const char *const sw_task_names[SW_TASKS] = {"vqa", "cls", "caption"};
const char *const sw_qtype_names[SW_QTYPES] = {"color", "shape", "count", "position", "exists"};
const char *const sw_shape_names[SW_SHAPES] = {"circle", "square", "triangle", "cross",
                                               "star",   "diamond", "ring"};
const char *const sw_color_names[SW_COLORS] = {"red",    "green",  "blue",  "yellow",
                                               "purple", "orange", "white", "black"};
const char *const sw_position_names[SW_POSITIONS] = {"left", "right", "top", "bottom",
                                                     "center"};
const char *const sw_size_names[SW_SIZES] = {"small", "large"};
const char *const sw_background_names[SW_BACKGROUNDS] = {"grey", "beige", "teal",
                                                         "navy", "olive", "pink"};
const char *const sw_gradient_names[SW_GRADIENTS] = {"horizontal", "vertical", "diagonal",
                                                     "radial"};
const unsigned char sw_color_rgb[SW_COLORS][3] = {
    {215, 35, 35}, {35, 165, 60}, {35, 75, 215}, {240, 215, 40},
    {135, 45, 180}, {245, 135, 25}, {245, 245, 240}, {20, 20, 25}};
/* Mid-range, low-saturation tones, so every object colour stays visible on them. */
const unsigned char sw_background_rgb[SW_BACKGROUNDS][3] = {
    {128, 128, 128}, {190, 175, 140}, {60, 125, 120}, {55, 65, 110}, {120, 120, 65},
    {205, 150, 160}};

int sw_find(const char *const *names, int n, const char *s) {
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0) return i;
    return -1;
}

/* Synonym -> canonical answer (after lowercasing and trimming). */
static const char *const synonyms[][2] = {
    {"violet", "purple"},      {"middle", "center"},      {"centre", "center"},
    {"in the middle", "center"}, {"in the center", "center"}, {"left side", "left"},
    {"on the left", "left"},   {"right side", "right"},   {"on the right", "right"},
    {"box", "square"},         {"round", "circle"},       {"donut", "ring"},
    {"plus", "cross"},         {"rhombus", "diamond"},    {"zero", "0"},
    {"one", "1"},              {"two", "2"},              {"three", "3"},
    {"four", "4"},             {"five", "5"},
};

static int is_trim(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '.' || c == ',' ||
           c == '!' || c == '?' || c == ';' || c == ':' || c == '"' || c == '\'';
}

void sw_canon(const char *text, char *out, size_t n) {
    if (n == 0) return;
    char buf[SW_TEXT];
    size_t len = 0;
    int space = 0;
    while (*text && is_trim(*text)) text++;
    for (; *text && len + 1 < sizeof buf; text++) {
        char c = (char)tolower((unsigned char)*text);
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            space = 1;
            continue;
        }
        if (space && len) buf[len++] = ' ';
        space = 0;
        if (len + 1 < sizeof buf) buf[len++] = c;
    }
    while (len && is_trim(buf[len - 1])) len--;
    buf[len] = '\0';
    const char *s = buf;
    if (strncmp(s, "the ", 4) == 0) s += 4;
    else if (strncmp(s, "a ", 2) == 0) s += 2;
    else if (strncmp(s, "an ", 3) == 0) s += 3;
    for (size_t i = 0; i < sizeof synonyms / sizeof synonyms[0]; i++)
        if (strcmp(s, synonyms[i][0]) == 0) {
            s = synonyms[i][1];
            break;
        }
    snprintf(out, n, "%s", s);
}

/* canonical -> (variant, probability that an annotator writes the variant) */
static const struct {
    const char *canonical, *variant;
    float p;
} variants[] = {
    {"purple", "violet", 0.25f}, {"center", "middle", 0.35f}, {"left", "left side", 0.15f},
    {"right", "right side", 0.15f}, {"square", "box", 0.10f},  {"circle", "round", 0.10f},
    {"ring", "donut", 0.25f},     {"cross", "plus", 0.25f},    {"diamond", "rhombus", 0.15f},
    {"1", "one", 0.30f},          {"2", "two", 0.30f},         {"3", "three", 0.30f},
    {"4", "four", 0.30f},         {"5", "five", 0.30f},
};

const char *sw_answer_variant(sw_qtype q, const char *canonical, drum_rng *r, char *buf,
                              size_t n) {
    (void)q;
    float u = drum_rng_uniform(r);
    const char *s = canonical;
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++)
        if (strcmp(canonical, variants[i].canonical) == 0 && u < variants[i].p)
            s = variants[i].variant;
    snprintf(buf, n, "%s", s);
    return buf;
}

int sw_confusable_color(int c, drum_rng *r) {
    static const int near[SW_COLORS][2] = {
        {5, 4}, /* red: orange, purple */
        {3, 2}, /* green: yellow, blue */
        {4, 1}, /* blue: purple, green */
        {5, 1}, /* yellow: orange, green */
        {2, 0}, /* purple: blue, red */
        {0, 3}, /* orange: red, yellow */
        {3, 3}, /* white: yellow */
        {2, 4}, /* black: blue, purple */
    };
    return near[c][drum_rng_below(r, 2)];
}

static const int shape_near[SW_SHAPES][2] = {
    {6, 6}, /* circle: ring */
    {5, 5}, /* square: diamond */
    {5, 4}, /* triangle: diamond, star */
    {4, 4}, /* cross: star */
    {3, 2}, /* star: cross, triangle */
    {1, 2}, /* diamond: square, triangle */
    {0, 0}, /* ring: circle */
};

int sw_confusable_shape(int s, drum_rng *r) {
    return shape_near[s][drum_rng_below(r, 2)];
}

void sw_shape_confusions(int s, int out[2]) {
    out[0] = shape_near[s][0];
    out[1] = shape_near[s][1];
}

const char *sw_answer_confusion(sw_qtype q, const char *canonical, drum_rng *r, char *buf,
                                size_t n) {
    int i;
    switch (q) {
    case SW_Q_COLOR:
        i = sw_find(sw_color_names, SW_COLORS, canonical);
        i = i < 0 ? (int)drum_rng_below(r, SW_COLORS) : sw_confusable_color(i, r);
        snprintf(buf, n, "%s", sw_color_names[i]);
        break;
    case SW_Q_SHAPE:
        i = sw_find(sw_shape_names, SW_SHAPES, canonical);
        i = i < 0 ? (int)drum_rng_below(r, SW_SHAPES) : sw_confusable_shape(i, r);
        snprintf(buf, n, "%s", sw_shape_names[i]);
        break;
    case SW_Q_COUNT:
        i = canonical[0] - '0';
        i = (i <= 1 || drum_rng_below(r, 2)) ? i + 1 : i - 1;
        snprintf(buf, n, "%d", i);
        break;
    case SW_Q_POSITION: {
        i = sw_find(sw_position_names, SW_POSITIONS, canonical);
        int center = SW_POSITIONS - 1;
        int j = (i != center && drum_rng_uniform(r) < 0.6f) ? center
                                                             : (int)drum_rng_below(r, 4);
        if (j == i) j = center;
        snprintf(buf, n, "%s", sw_position_names[j]);
        break;
    }
    default:
        snprintf(buf, n, "%s", strcmp(canonical, "yes") == 0 ? "no" : "yes");
        break;
    }
    return buf;
}

void sw_object_phrase(const sw_object *o, int with_size, char *out, size_t n) {
    const char *first = with_size ? sw_size_names[o->size] : sw_color_names[o->color];
    const char *article = strchr("aeiou", first[0]) ? "an" : "a";
    if (with_size)
        snprintf(out, n, "%s %s %s %s", article, sw_size_names[o->size],
                 sw_color_names[o->color], sw_shape_names[o->shape]);
    else
        snprintf(out, n, "%s %s %s", article, sw_color_names[o->color],
                 sw_shape_names[o->shape]);
}

void sw_vqa_prompt(sw_qtype q, int t, const sw_object *o, char *out, size_t n) {
    const char *shape = sw_shape_names[o->shape], *color = sw_color_names[o->color];
    char phrase[64];
    sw_object_phrase(o, 0, phrase, sizeof phrase);
    switch (q) {
    case SW_Q_COLOR: {
        static const char *const f[SW_TEMPLATES] = {"What color is the %s?",
                                                    "What is the color of the %s?",
                                                    "Which color does the %s have?"};
        snprintf(out, n, f[t], shape);
        break;
    }
    case SW_Q_SHAPE: {
        static const char *const f[SW_TEMPLATES] = {"What shape is the %s object?",
                                                    "What is the shape of the %s object?",
                                                    "Which shape is %s?"};
        snprintf(out, n, f[t], color);
        break;
    }
    case SW_Q_COUNT: {
        static const char *const f[SW_TEMPLATES] = {"How many objects are there?",
                                                    "How many shapes are in the image?",
                                                    "How many things can you see?"};
        snprintf(out, n, "%s", f[t]);
        break;
    }
    case SW_Q_POSITION: {
        static const char *const f[SW_TEMPLATES] = {"Where is the %s %s?",
                                                    "In which part of the image is the %s %s?",
                                                    "Where is the %s %s located?"};
        snprintf(out, n, f[t], color, shape);
        break;
    }
    default: {
        static const char *const f[SW_TEMPLATES] = {"Is there %s?", "Is there %s in the image?",
                                                    "Can you see %s?"};
        snprintf(out, n, f[t], phrase);
        break;
    }
    }
}

const char *sw_cls_prompt(int t) {
    static const char *const f[SW_TEMPLATES] = {"What is the main shape in the image?",
                                                "Classify the main object by its shape.",
                                                "Which shape is the largest object?"};
    return f[t];
}

const char *const sw_claim_labels[2] = {"false", "true"};

void sw_claim_prompt(int t, const char *color, char *out, size_t n) {
    static const char *const f[SW_TEMPLATES] = {"Claim: the large shape is %s. True or false?",
                                                "Is it true that the largest object is %s?",
                                                "True or false: the main object is %s."};
    snprintf(out, n, f[t], color);
}

const char *sw_caption_prompt(int t) {
    static const char *const f[SW_TEMPLATES] = {
        "Describe the image.", "Write a short caption for this image.",
        "What does this image show?"};
    return f[t];
}

static const char *const count_words[] = {"zero", "one", "two", "three", "four", "five"};

static void append(char *out, size_t len, size_t *o, const char *s) {
    int w = snprintf(out + *o, len - *o, "%s", s);
    if (w > 0) *o += (size_t)w < len - *o ? (size_t)w : len - *o - 1;
}

void sw_caption(const sw_object *obj, int n, int style, int bg, drum_rng *r, char *out,
                size_t len) {
    int order[SW_MAX_OBJECTS];
    for (int i = 0; i < n; i++) order[i] = i;
    int sizes = 1, middle = 0;
    if (r) {
        sizes = drum_rng_uniform(r) >= 0.3f;
        middle = drum_rng_uniform(r) < 0.3f;
        if (drum_rng_uniform(r) < 0.5f)
            for (int i = n - 1; i > 0; i--) {
                int j = (int)drum_rng_below(r, (uint32_t)i + 1);
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
    }
    size_t o = 0;
    out[0] = '\0';
    if (style == 2) {
        append(out, len, &o, count_words[n]);
        append(out, len, &o, n == 1 ? " shape:" : " shapes:");
    } else if (style == 1) {
        append(out, len, &o, "there is");
    }
    for (int k = 0; k < n; k++) {
        const sw_object *ob = &obj[order[k]];
        char phrase[64];
        if (k > 0) append(out, len, &o, k == n - 1 && style != 2 ? " and" : ",");
        append(out, len, &o, " ");
        if (style == SW_STYLE_SHAPES) {
            snprintf(phrase, sizeof phrase, "a %s", sw_shape_names[ob->shape]);
        } else if (style == 2) {
            snprintf(phrase, sizeof phrase, "%s%s%s %s", sizes ? sw_size_names[ob->size] : "",
                     sizes ? " " : "", sw_color_names[ob->color], sw_shape_names[ob->shape]);
        } else {
            sw_object_phrase(ob, sizes, phrase, sizeof phrase);
        }
        append(out, len, &o, phrase);
        if (style == 1) {
            static const char *const where[SW_POSITIONS] = {
                " on the left", " on the right", " at the top", " at the bottom",
                " in the center"};
            append(out, len, &o,
                   ob->pos == SW_POSITIONS - 1 && middle ? " in the middle" : where[ob->pos]);
        }
    }
    if (bg >= 0) {
        append(out, len, &o, " on a ");
        append(out, len, &o, sw_background_names[bg]);
        append(out, len, &o, " background");
    }
    append(out, len, &o, ".");
    if (out[0] == ' ') memmove(out, out + 1, strlen(out));
}

int sw_caption_style(const char *caption) {
    if (strncmp(caption, "there is", 8) == 0) return 1;
    if (strchr(caption, ':')) return 2;
    if (strncmp(caption, "a ", 2) == 0 || strncmp(caption, "an ", 3) == 0) return 0;
    return -1;
}

const char *const sw_lexicon[] = {
    /* answers, names and synonyms */
    "circle square triangle cross star diamond ring",
    "red green blue yellow purple orange white black",
    "left right top bottom center small large yes no",
    "grey beige teal navy olive pink horizontal vertical diagonal radial",
    "violet middle centre side box round donut plus rhombus",
    "zero one two three four five 0 1 2 3 4 5 6 7 8 9",
    /* prompts */
    "What color is the? What is the color of the? Which color does the have?",
    "What shape is the object? What is the shape of the object? Which shape is?",
    ("How many objects are there? How many shapes are in the image? How many things can you "
     "see?"),
    "Where is the? In which part of the image is the? Where is the located?",
    "Is there a an? Is there a in the image? Can you see a?",
    "What is the main shape in the image? Classify the main object by its shape.",
    "Which shape is the largest object?",
    "Describe the image. Write a short caption for this image. What does this image show?",
    /* captions */
    "a an there is and, on the left right at the top bottom in the center middle.",
    "shape: shapes: on a background.",
};
const int sw_lexicon_n = (int)(sizeof sw_lexicon / sizeof sw_lexicon[0]);
