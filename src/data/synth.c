/* synth.c — the demo benchmark generator (see synth.h and docs/SIMULATOR.md).
 *
 * Every image draws from its own random stream, seeded by (seed, image number). Images are
 * numbered in one sequence over split then task, so changing one task's count renumbers,
 * and so redraws, every image after it; the pre-training images come last (adding them
 * changes nothing else). Examples are built in memory and written through
 * drum_dataset_save, so the files are exactly the loader's format.
 */
#include "drum/synth.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/synth_world.h"
#include "drum/data.h"
#include "drum/fileio.h"
#include "drum/rng.h"

#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop

void drum_synth_default_config(drum_synth_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->seed = 1;
    cfg->image_size = 64;
    cfg->n_train[DRUM_SYNTH_VQA] = 720;
    cfg->n_train[DRUM_SYNTH_CLS] = 240;
    cfg->n_train[DRUM_SYNTH_CAPTION] = 240;
    cfg->n_eval[DRUM_SYNTH_VQA] = 180;
    cfg->n_eval[DRUM_SYNTH_CLS] = 60;
    cfg->n_eval[DRUM_SYNTH_CAPTION] = 60;
    cfg->questions_per_image = 2;
    cfg->n_answers = 10;
    cfg->n_refs = 5;
    cfg->classification = DRUM_SYNTH_CLAIM;
}

static void split_total(int total, int *out) {
    out[DRUM_SYNTH_CLS] = total / 5;
    out[DRUM_SYNTH_CAPTION] = total / 5;
    out[DRUM_SYNTH_VQA] = total - 2 * (total / 5);
}

void drum_synth_set_totals(drum_synth_config *cfg, int n_train, int n_eval) {
    split_total(n_train, cfg->n_train);
    split_total(n_eval, cfg->n_eval);
}

/* Question-type and caption-style frequencies. */
static const float qtype_weight[SW_QTYPES] = {0.25f, 0.20f, 0.15f, 0.20f, 0.20f};
static const float style_weight[SW_STYLES] = {0.5f, 0.3f, 0.2f};

static int pick_weighted(drum_rng *r, const float *w, int n) {
    float total = 0, u;
    for (int i = 0; i < n; i++) total += w[i];
    u = drum_rng_uniform(r) * total;
    for (int i = 0; i < n; i++) {
        if (u < w[i]) return i;
        u -= w[i];
    }
    return n - 1;
}

static void shuffle(int *a, int n, drum_rng *r) {
    for (int i = n - 1; i > 0; i--) {
        int j = (int)drum_rng_below(r, (uint32_t)i + 1), t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

/* Objects with distinct shapes, colours and positions; classification scenes have one
 * large object (obj[0], the label) and small others. */
static void random_scene(sw_task task, drum_rng *r, sw_scene *s) {
    static const float n_vqa[SW_MAX_OBJECTS] = {0.20f, 0.35f, 0.30f, 0.15f};
    static const float n_cls[SW_MAX_OBJECTS] = {0.35f, 0.40f, 0.25f, 0.0f};
    int shapes[SW_SHAPES], colors[SW_COLORS], pos[SW_POSITIONS];
    for (int i = 0; i < SW_SHAPES; i++) shapes[i] = i;
    for (int i = 0; i < SW_COLORS; i++) colors[i] = i;
    for (int i = 0; i < SW_POSITIONS; i++) pos[i] = i;
    shuffle(shapes, SW_SHAPES, r);
    shuffle(colors, SW_COLORS, r);
    shuffle(pos, SW_POSITIONS, r);
    memset(s, 0, sizeof *s);
    s->n = 1 + pick_weighted(r, task == SW_CLS ? n_cls : n_vqa, SW_MAX_OBJECTS);
    for (int i = 0; i < s->n; i++) {
        s->obj[i].shape = shapes[i];
        s->obj[i].color = colors[i];
        s->obj[i].pos = pos[i];
        if (task == SW_CLS) s->obj[i].size = i == 0 ? SW_LARGE : SW_SMALL;
        else s->obj[i].size = (int)drum_rng_below(r, SW_SIZES);
    }
    s->bg[0] = (int)drum_rng_below(r, SW_BACKGROUNDS);
    s->bg[1] = (int)drum_rng_below(r, SW_BACKGROUNDS);
    s->gradient = (int)drum_rng_below(r, SW_GRADIENTS);
    s->stripes = drum_rng_uniform(r) < 0.3f ? 3 + (int)drum_rng_below(r, 6) : 0;
    s->noise = (int)drum_rng_below(r, 25);
}

/* One example under construction, with its hidden attributes. */
typedef struct {
    drum_example ex;
    int image_no;
    sw_task task;
    sw_qtype qtype;
    int focus;     /* object asked about (colour/shape/position, cls label), else -1 */
    sw_object ask; /* exists: the colour and shape asked about */
    int style;     /* caption: the style of the response */
    int claim;     /* cls claim: the colour claimed, else -1 */
    char gold[SW_TEXT];
} record;

typedef struct {
    const drum_synth_config *cfg;
    const char *outdir;
    record *rec;
    int n_rec, cap_rec;
    sw_scene *scenes; /* by image number */
    int *scene_split; /* 0 train, 1 eval, 2 pre-training only */
    int n_img, cap_img;
    const drum_progress *progress; /* may be NULL */
    long total_img;                /* images the suite will have (image_total) */
    char *err;
    size_t errlen;
} generator;

static char *dup_or_null(const char *s) {
    return s ? strdup(s) : NULL;
}

static record *new_record(generator *g) {
    if (g->n_rec == g->cap_rec) {
        int cap = g->cap_rec ? g->cap_rec * 2 : 1024;
        record *nr = realloc(g->rec, (size_t)cap * sizeof *nr);
        if (!nr) return NULL;
        g->rec = nr;
        g->cap_rec = cap;
    }
    record *r = &g->rec[g->n_rec++];
    memset(r, 0, sizeof *r);
    r->focus = -1;
    r->style = -1;
    r->claim = -1;
    return r;
}

typedef struct {
    unsigned char *p;
    size_t n, cap;
    int oom;
} membuf;

static void membuf_write(void *ctx, void *data, int size) {
    membuf *b = ctx;
    if (b->oom || size <= 0) return;
    if (b->n + (size_t)size > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16384;
        while (cap < b->n + (size_t)size) cap *= 2;
        unsigned char *np = realloc(b->p, cap);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, (size_t)size);
    b->n += (size_t)size;
}

static char *image_path(generator *g, int image_no) {
    char name[64];
    snprintf(name, sizeof name, "images/img-%05d.png", image_no);
    return drum_path_join(g->outdir, name);
}

#define SYNTH_STAGE "synthetic suite images"

/* The images cfg's suite has: one per VQA question group, classification or caption example,
 * and pre-training caption. */
static long image_total(const drum_synth_config *cfg) {
    long n = cfg->n_pretrain;
    for (int t = 0; t < DRUM_SYNTH_TASKS; t++) {
        int per = t == SW_VQA ? cfg->questions_per_image : 1;
        n += (cfg->n_train[t] + per - 1) / per + (cfg->n_eval[t] + per - 1) / per;
    }
    return n;
}

/* Draws a new scene, renders it and writes its PNG; returns the image number or -1. */
static int new_image(generator *g, sw_task task, int split, unsigned char *rgb, membuf *png) {
    if (g->n_img % 256 == 0) { /* progress, and a stop between images (the suite stays not whole) */
        drum_progress_report(g->progress, SYNTH_STAGE, g->n_img, g->total_img, NULL);
        if (drum_progress_stopped(g->progress, "the rest of the synthetic suite", g->err,
                                  g->errlen))
            return -1;
    }
    if (g->n_img == g->cap_img) {
        int cap = g->cap_img ? g->cap_img * 2 : 1024;
        sw_scene *ns = realloc(g->scenes, (size_t)cap * sizeof *ns);
        if (ns) g->scenes = ns;
        int *nsp = realloc(g->scene_split, (size_t)cap * sizeof *nsp);
        if (nsp) g->scene_split = nsp;
        if (!ns || !nsp) {
            snprintf(g->err, g->errlen, "%s: out of memory", g->outdir);
            return -1;
        }
        g->cap_img = cap;
    }
    int no = g->n_img++;
    drum_rng r;
    drum_rng_seed(&r, drum_hash64(g->cfg->seed, (uint64_t)no), 0x7363656e65ULL);
    random_scene(task, &r, &g->scenes[no]);
    g->scene_split[no] = split;
    int size = g->cfg->image_size;
    sw_render(&g->scenes[no], drum_hash64(g->cfg->seed ^ 0x5eedULL, (uint64_t)no), size,
              g->cfg->grid, rgb);
    png->n = 0;
    png->oom = 0;
    char *path = image_path(g, no);
    int ok = path && stbi_write_png_to_func(membuf_write, png, size, size, 3, rgb, size * 3) &&
             !png->oom;
    errno = 0;
    FILE *f = ok ? fopen(path, "wb") : NULL;
    if (!f) {
        snprintf(g->err, g->errlen, "%s: cannot write the image%s%s",
                 path ? path : g->outdir, errno ? ": " : "", errno ? strerror(errno) : "");
        free(path);
        return -1;
    }
    ok = fwrite(png->p, 1, png->n, f) == png->n;
    if (fclose(f) != 0) ok = 0;
    if (!ok) {
        snprintf(g->err, g->errlen, "%s: write failed: %s", path, strerror(errno));
        free(path);
        return -1;
    }
    free(path);
    return no;
}

static int set_example(generator *g, record *rec, const char *task, const char *split,
                       int image_no, const char *prompt, const char *response,
                       char answers[][SW_TEXT], int n_answers) {
    char id[64];
    snprintf(id, sizeof id, "%s-%s-%05d", split, task, g->n_rec - 1);
    drum_example *e = &rec->ex;
    e->id = strdup(id);
    e->image = image_path(g, image_no);
    e->prompt = strdup(prompt);
    e->response = strdup(response);
    e->task = strdup(task);
    e->split = strdup(split);
    rec->image_no = image_no;
    int bad = !e->id || !e->image || !e->prompt || !e->response || !e->task || !e->split;
    if (!bad && n_answers > 0) {
        e->answers = calloc((size_t)n_answers, sizeof(char *));
        bad = !e->answers;
        for (int i = 0; !bad && i < n_answers; i++) {
            e->answers[i] = dup_or_null(answers[i]);
            bad = !e->answers[i];
            if (!bad) e->n_answers++;
        }
    }
    if (bad) snprintf(g->err, g->errlen, "%s: out of memory", g->outdir);
    return bad ? -1 : 0;
}

/* The VQA questions of one image: distinct question types, 10 noisy human answers. */
static int vqa_questions(generator *g, int image_no, int count, const char *split,
                         drum_rng *r) {
    const sw_scene *s = &g->scenes[image_no];
    float w[SW_QTYPES];
    memcpy(w, qtype_weight, sizeof w);
    char(*answers)[SW_TEXT] = malloc((size_t)g->cfg->n_answers * SW_TEXT);
    if (!answers) {
        snprintf(g->err, g->errlen, "%s: out of memory", g->outdir);
        return -1;
    }
    for (int qi = 0; qi < count; qi++) {
        sw_qtype q = (sw_qtype)pick_weighted(r, w, SW_QTYPES);
        w[q] = 0.0f;
        record *rec = new_record(g);
        if (!rec) {
            free(answers);
            snprintf(g->err, g->errlen, "%s: out of memory", g->outdir);
            return -1;
        }
        rec->task = SW_VQA;
        rec->qtype = q;
        int t = (int)drum_rng_below(r, SW_TEMPLATES);
        sw_object about = s->obj[drum_rng_below(r, (uint32_t)s->n)];
        char prompt[SW_TEXT];
        switch (q) {
        case SW_Q_COLOR:
        case SW_Q_SHAPE:
        case SW_Q_POSITION:
            for (int i = 0; i < s->n; i++)
                if (s->obj[i].shape == about.shape) rec->focus = i;
            snprintf(rec->gold, sizeof rec->gold, "%s",
                     q == SW_Q_COLOR   ? sw_color_names[about.color]
                     : q == SW_Q_SHAPE ? sw_shape_names[about.shape]
                                       : sw_position_names[about.pos]);
            break;
        case SW_Q_COUNT:
            snprintf(rec->gold, sizeof rec->gold, "%d", s->n);
            break;
        default:
            if (drum_rng_below(r, 2)) {
                snprintf(rec->gold, sizeof rec->gold, "yes");
            } else {
                /* Shapes are distinct, so another colour for this shape, or a shape the
                 * scene lacks, is absent. */
                if (drum_rng_below(r, 2)) {
                    about.color = (about.color + 1 + (int)drum_rng_below(r, SW_COLORS - 1)) %
                                  SW_COLORS;
                } else {
                    int absent[SW_SHAPES], na = 0;
                    for (int sh = 0; sh < SW_SHAPES; sh++) {
                        int present = 0;
                        for (int i = 0; i < s->n; i++) present |= s->obj[i].shape == sh;
                        if (!present) absent[na++] = sh;
                    }
                    about.shape = absent[drum_rng_below(r, (uint32_t)na)];
                }
                snprintf(rec->gold, sizeof rec->gold, "no");
            }
            rec->ask = about;
            break;
        }
        sw_vqa_prompt(q, t, &about, prompt, sizeof prompt);
        /* Annotators agree most on yes/no and counts, least on colours and places. */
        static const float agree_lo[SW_QTYPES] = {0.70f, 0.72f, 0.80f, 0.70f, 0.88f};
        float agree = agree_lo[q] + (0.99f - agree_lo[q]) * drum_rng_uniform(r);
        for (int a = 0; a < g->cfg->n_answers; a++) {
            if (drum_rng_uniform(r) < agree)
                sw_answer_variant(q, rec->gold, r, answers[a], SW_TEXT);
            else
                sw_answer_confusion(q, rec->gold, r, answers[a], SW_TEXT);
        }
        if (set_example(g, rec, "vqa", split, image_no, prompt, answers[0], answers,
                        g->cfg->n_answers) != 0) {
            free(answers);
            return -1;
        }
    }
    free(answers);
    return 0;
}

static int cls_example(generator *g, int image_no, const char *split, drum_rng *r) {
    record *rec = new_record(g);
    if (!rec) {
        snprintf(g->err, g->errlen, "%s: out of memory", g->outdir);
        return -1;
    }
    const sw_scene *s = &g->scenes[image_no];
    rec->task = SW_CLS;
    rec->focus = 0;
    int t = (int)drum_rng_below(r, SW_TEMPLATES);
    if (g->cfg->classification == DRUM_SYNTH_SHAPE) {
        snprintf(rec->gold, sizeof rec->gold, "%s", sw_shape_names[s->obj[0].shape]);
        return set_example(g, rec, "cls", split, image_no, sw_cls_prompt(t), rec->gold, NULL,
                           0);
    }
    /* A claim about the large object's colour, true half the time; a false one names any
     * other colour, a small object's too. Neither the image nor the prompt alone says which. */
    int truth = (int)drum_rng_below(r, 2), color = s->obj[0].color;
    if (!truth) color = (color + 1 + (int)drum_rng_below(r, SW_COLORS - 1)) % SW_COLORS;
    rec->claim = color;
    snprintf(rec->gold, sizeof rec->gold, "%s", sw_claim_labels[truth]);
    char prompt[SW_TEXT];
    sw_claim_prompt(t, sw_color_names[color], prompt, sizeof prompt);
    return set_example(g, rec, "cls", split, image_no, prompt, rec->gold, NULL, 0);
}

static int caption_example(generator *g, int image_no, const char *split, drum_rng *r) {
    record *rec = new_record(g);
    int n = g->cfg->n_refs;
    char(*refs)[SW_TEXT] = malloc((size_t)n * SW_TEXT);
    if (!rec || !refs) {
        free(refs);
        snprintf(g->err, g->errlen, "%s: out of memory", g->outdir);
        return -1;
    }
    const sw_scene *s = &g->scenes[image_no];
    rec->task = SW_CAPTION;
    const char *prompt = sw_caption_prompt((int)drum_rng_below(r, SW_TEMPLATES));
    for (int i = 0; i < n; i++) {
        int style = pick_weighted(r, style_weight, SW_STYLES);
        if (i == 0) rec->style = style;
        sw_caption(s->obj, s->n, style, -1, r, refs[i], SW_TEXT);
    }
    snprintf(rec->gold, sizeof rec->gold, "%s", refs[0]);
    int rc = set_example(g, rec, "caption", split, image_no, prompt, refs[0], refs, n);
    free(refs);
    return rc;
}

/* cJSON builders that record a failed allocation in *bad instead of dropping a field. */
static void put_str(cJSON *o, const char *k, const char *v, int *bad) {
    if (!cJSON_AddStringToObject(o, k, v)) *bad = 1;
}

static void put_num(cJSON *o, const char *k, double v, int *bad) {
    if (!cJSON_AddNumberToObject(o, k, v)) *bad = 1;
}

static cJSON *put_obj(cJSON *parent, const char *k, cJSON *child, int *bad) {
    int ok = child && (cJSON_IsArray(parent) ? cJSON_AddItemToArray(parent, child)
                                             : cJSON_AddItemToObject(parent, k, child));
    if (!ok) {
        cJSON_Delete(child);
        *bad = 1;
        return NULL;
    }
    return child;
}

static void put_scene(cJSON *o, const sw_scene *s, int *bad) {
    cJSON *scene = put_obj(o, "scene", cJSON_CreateObject(), bad);
    if (!scene) return;
    cJSON *objs = put_obj(scene, "objects", cJSON_CreateArray(), bad);
    for (int i = 0; objs && i < s->n; i++) {
        cJSON *ob = put_obj(objs, NULL, cJSON_CreateObject(), bad);
        if (!ob) return;
        put_str(ob, "shape", sw_shape_names[s->obj[i].shape], bad);
        put_str(ob, "color", sw_color_names[s->obj[i].color], bad);
        put_str(ob, "size", sw_size_names[s->obj[i].size], bad);
        put_str(ob, "pos", sw_position_names[s->obj[i].pos], bad);
    }
    cJSON *bg = put_obj(scene, "background", cJSON_CreateArray(), bad);
    for (int i = 0; bg && i < 2; i++)
        put_obj(bg, NULL, cJSON_CreateString(sw_background_names[s->bg[i]]), bad);
    put_str(scene, "gradient", sw_gradient_names[s->gradient], bad);
    put_num(scene, "stripes", s->stripes, bad);
    put_num(scene, "noise", s->noise, bad);
}

static int meta_line(generator *g, int i, void *ctx, cJSON **out) {
    (void)ctx;
    const record *r = &g->rec[i];
    char image[32];
    snprintf(image, sizeof image, "img-%05d", r->image_no);
    int bad = 0;
    cJSON *o = *out = cJSON_CreateObject();
    if (!o) return -1;
    put_str(o, "id", r->ex.id, &bad);
    put_str(o, "task", sw_task_names[r->task], &bad);
    put_str(o, "image", image, &bad);
    if (r->task == SW_VQA) put_str(o, "qtype", sw_qtype_names[r->qtype], &bad);
    put_str(o, "gold", r->gold, &bad);
    put_num(o, "focus", r->focus, &bad);
    if (r->task == SW_VQA && r->qtype == SW_Q_EXISTS) {
        cJSON *ask = put_obj(o, "ask", cJSON_CreateObject(), &bad);
        if (ask) {
            put_str(ask, "color", sw_color_names[r->ask.color], &bad);
            put_str(ask, "shape", sw_shape_names[r->ask.shape], &bad);
        }
    }
    if (r->task == SW_CAPTION) put_num(o, "style", r->style, &bad);
    if (r->claim >= 0) put_str(o, "claim", sw_color_names[r->claim], &bad);
    put_scene(o, &g->scenes[r->image_no], &bad);
    return bad ? -1 : 0;
}

/* Pre-training captions: train and pre-training images (never eval ones). */
static int caption_line(generator *g, int i, void *ctx, cJSON **out) {
    char **captions = ctx;
    if (g->scene_split[i] == 1) return 0;
    char id[32], image[48];
    snprintf(id, sizeof id, "img-%05d", i);
    snprintf(image, sizeof image, "images/img-%05d.png", i);
    int bad = 0;
    cJSON *o = *out = cJSON_CreateObject();
    if (!o) return -1;
    put_str(o, "id", id, &bad);
    put_str(o, "image", image, &bad);
    put_str(o, "caption", captions[i], &bad);
    return bad ? -1 : 0;
}

/* Writes one JSON object a line, atomically. line(g, i, ctx, &o) sets o to the i-th
 * object (NULL: no line) and returns 0, or -1 when out of memory. */
static int write_jsonl(generator *g, const char *name, int n,
                       int (*line)(generator *, int, void *, cJSON **), void *ctx) {
    char *path = drum_path_join(g->outdir, name), *tmp = NULL;
    if (!path) {
        snprintf(g->err, g->errlen, "%s: out of memory", g->outdir);
        return -1;
    }
    FILE *f = drum_atomic_open(path, &tmp, g->err, g->errlen);
    if (!f) {
        free(path);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        cJSON *o = NULL;
        int bad = line(g, i, ctx, &o) != 0;
        char *text = !bad && o ? cJSON_PrintUnformatted(o) : NULL;
        cJSON_Delete(o);
        if (bad || (o && !text)) {
            drum_atomic_abort(f, tmp);
            snprintf(g->err, g->errlen, "%s: out of memory", path);
            free(path);
            return -1;
        }
        if (text) {
            fputs(text, f);
            fputc('\n', f);
        }
        free(text);
    }
    int rc = drum_atomic_commit(f, tmp, path, g->err, g->errlen);
    free(path);
    return rc;
}

static int check_config(const drum_synth_config *c, char *err, size_t errlen) {
    if (c->image_size < 16 || c->image_size > 512) {
        snprintf(err, errlen, "synth: image_size %d is outside 16..512", c->image_size);
        return -1;
    }
    for (int t = 0; t < DRUM_SYNTH_TASKS; t++)
        if (c->n_train[t] < 0 || c->n_eval[t] < 0 || c->n_train[t] > 1000000 ||
            c->n_eval[t] > 1000000) {
            snprintf(err, errlen, "synth: example counts must be within 0..1000000");
            return -1;
        }
    if (c->questions_per_image < 1 || c->questions_per_image > SW_QTYPES) {
        snprintf(err, errlen, "synth: questions_per_image %d is outside 1..%d",
                 c->questions_per_image, SW_QTYPES);
        return -1;
    }
    if (c->n_answers < 1 || c->n_answers > 50) {
        snprintf(err, errlen, "synth: n_answers %d is outside 1..50", c->n_answers);
        return -1;
    }
    if (c->n_refs < 1 || c->n_refs > 20) {
        snprintf(err, errlen, "synth: n_refs %d is outside 1..20", c->n_refs);
        return -1;
    }
    if (c->n_pretrain < 0 || c->n_pretrain > 1000000) {
        snprintf(err, errlen, "synth: n_pretrain %d is outside 0..1000000", c->n_pretrain);
        return -1;
    }
    if (!(c->shape_captions >= 0 && c->shape_captions <= 1)) {
        snprintf(err, errlen, "synth: shape_captions %g is outside 0..1", c->shape_captions);
        return -1;
    }
    if (c->classification != DRUM_SYNTH_SHAPE && c->classification != DRUM_SYNTH_CLAIM) {
        snprintf(err, errlen, "synth: classification %d is not %d (shape) or %d (claim)",
                 c->classification, DRUM_SYNTH_SHAPE, DRUM_SYNTH_CLAIM);
        return -1;
    }
    return 0;
}

int drum_synth_config_json(const drum_synth_config *c, char *out, size_t n) {
    return snprintf(out, n,
                    "{\"generator\":\"drum-synth\",\"version\":1,\"seed\":%llu,\"image_size\":%d,"
                    "\"n_train\":{\"vqa\":%d,\"cls\":%d,\"caption\":%d},"
                    "\"n_eval\":{\"vqa\":%d,\"cls\":%d,\"caption\":%d},"
                    "\"questions_per_image\":%d,\"n_answers\":%d,\"n_refs\":%d,\"n_pretrain\":%d,"
                    "\"layout\":\"%s\",\"shape_captions\":%g,\"classification\":\"%s\"}\n",
                    (unsigned long long)c->seed, c->image_size, c->n_train[0], c->n_train[1],
                    c->n_train[2], c->n_eval[0], c->n_eval[1], c->n_eval[2],
                    c->questions_per_image, c->n_answers, c->n_refs, c->n_pretrain,
                    c->grid ? "grid" : "free", (double)c->shape_captions,
                    c->classification == DRUM_SYNTH_CLAIM ? "claim" : "shape");
}

static int write_config(generator *g) {
    /* the images were written without a sync each: one syncfs makes them durable before
     * synth.json says the suite is whole (a crash could leave empty images behind it) */
    int dir = open(g->outdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0 || syncfs(dir) != 0) {
        snprintf(g->err, g->errlen, "%s: cannot sync the suite's files: %s", g->outdir,
                 strerror(errno));
        if (dir >= 0) close(dir);
        return -1;
    }
    close(dir);
    char *path = drum_path_join(g->outdir, "synth.json"), *tmp = NULL;
    FILE *f = path ? drum_atomic_open(path, &tmp, g->err, g->errlen) : NULL;
    if (!f) {
        if (!path) snprintf(g->err, g->errlen, "%s: out of memory", g->outdir);
        free(path);
        return -1;
    }
    char json[1024];
    drum_synth_config_json(g->cfg, json, sizeof json);
    fputs(json, f);
    int rc = drum_atomic_commit(f, tmp, path, g->err, g->errlen);
    free(path);
    return rc;
}

int drum_synth_generate(const drum_synth_config *cfg, const char *outdir,
                        const drum_progress *progress, char *err, size_t errlen) {
    if (check_config(cfg, err, errlen) != 0) return -1;
    generator g = {.cfg = cfg, .outdir = outdir, .progress = progress,
                   .total_img = image_total(cfg), .err = err, .errlen = errlen};
    int size = cfg->image_size, rc = -1;
    unsigned char *rgb = malloc((size_t)size * size * 3);
    membuf png = {0};
    char **captions = NULL;
    const char **texts = NULL;
    drum_dataset ds = {0};
    char *images = drum_path_join(outdir, "images");
    if (!rgb || !images) {
        snprintf(err, errlen, "%s: out of memory", outdir);
        goto done;
    }
    if (drum_mkdirs(images, err, errlen) != 0) goto done;
    /* synth.json says the suite is whole: gone until the last file is written */
    char *config = drum_path_join(outdir, "synth.json");
    int gone = config && (unlink(config) == 0 || errno == ENOENT);
    if (!gone) snprintf(err, errlen, "%s: %s", config ? config : outdir,
                        config ? strerror(errno) : "out of memory");
    free(config);
    if (!gone) goto done;

    static const char *const split_names[2] = {"train", "eval"};
    for (int split = 0; split < 2; split++) {
        const int *counts = split == 0 ? cfg->n_train : cfg->n_eval;
        for (int t = 0; t < DRUM_SYNTH_TASKS; t++) {
            for (int made_so_far = 0; made_so_far < counts[t];) {
                int no = new_image(&g, (sw_task)t, split, rgb, &png);
                if (no < 0) goto done;
                drum_rng r;
                drum_rng_seed(&r, drum_hash64(cfg->seed, (uint64_t)no), 0x74657874ULL);
                int made = 1, bad;
                if (t == SW_VQA) {
                    made = counts[t] - made_so_far < cfg->questions_per_image
                               ? counts[t] - made_so_far
                               : cfg->questions_per_image;
                    bad = vqa_questions(&g, no, made, split_names[split], &r);
                } else if (t == SW_CLS) {
                    bad = cls_example(&g, no, split_names[split], &r);
                } else {
                    bad = caption_example(&g, no, split_names[split], &r);
                }
                if (bad) goto done;
                made_so_far += made;
            }
        }
    }

    /* Pre-training images come last, so train and eval stay the same for any n_pretrain:
     * VQA-like scenes, every fifth a classification-like one. */
    for (int i = 0; i < cfg->n_pretrain; i++)
        if (new_image(&g, i % 5 == 4 ? SW_CLS : SW_VQA, 2, rgb, &png) < 0) goto done;
    drum_progress_report(progress, SYNTH_STAGE, g.n_img, g.n_img, NULL);
    /* the images a larger suite in outdir had beyond this one's are not this suite's */
    for (int no = g.n_img;; no++) {
        char *path = image_path(&g, no);
        int removed = path && unlink(path) == 0;
        free(path);
        if (!removed) break;
    }

    ds.ex = malloc((size_t)(g.n_rec ? g.n_rec : 1) * sizeof *ds.ex);
    captions = calloc((size_t)(g.n_img ? g.n_img : 1), sizeof(char *));
    texts = malloc(((size_t)g.n_rec * (2 + cfg->n_answers + cfg->n_refs) + (size_t)g.n_img +
                    (size_t)sw_lexicon_n + 1) * sizeof(char *));
    if (!ds.ex || !captions || !texts) {
        snprintf(err, errlen, "%s: out of memory", outdir);
        goto done;
    }
    for (int i = 0; i < g.n_rec; i++) ds.ex[i] = g.rec[i].ex;
    ds.n = g.n_rec;
    for (int i = 0; i < g.n_img; i++) {
        drum_rng r;
        drum_rng_seed(&r, drum_hash64(cfg->seed, (uint64_t)i), 0x636170ULL);
        const sw_scene *s = &g.scenes[i];
        int style = pick_weighted(&r, style_weight, SW_STYLES);
        int bg = drum_rng_below(&r, 2) ? s->bg[0] : -1;
        /* drawn only when asked for, so the default suite keeps its bytes */
        if (cfg->shape_captions > 0 && drum_rng_uniform(&r) < cfg->shape_captions) {
            style = SW_STYLE_SHAPES;
            bg = -1;
        }
        captions[i] = malloc(SW_TEXT);
        if (!captions[i]) {
            snprintf(err, errlen, "%s: out of memory", outdir);
            goto done;
        }
        sw_caption(s->obj, s->n, style, bg, &r, captions[i], SW_TEXT);
    }

    char *train = drum_path_join(outdir, "train.jsonl");
    char *eval = drum_path_join(outdir, "eval.jsonl");
    int bad = !train || !eval;
    if (bad) snprintf(err, errlen, "%s: out of memory", outdir);
    if (!bad) bad = drum_dataset_save(&ds, train, "train", err, errlen) != 0;
    if (!bad) bad = drum_dataset_save(&ds, eval, "eval", err, errlen) != 0;
    free(train);
    free(eval);
    if (bad) goto done;
    if (write_jsonl(&g, "meta.jsonl", g.n_rec, meta_line, NULL) != 0) goto done;
    if (write_jsonl(&g, "captions.jsonl", g.n_img, caption_line, captions) != 0) goto done;

    int nt = 0;
    for (int i = 0; i < g.n_rec; i++) {
        const drum_example *e = &g.rec[i].ex;
        texts[nt++] = e->prompt;
        texts[nt++] = e->response;
        for (int a = 0; a < e->n_answers; a++) texts[nt++] = e->answers[a];
    }
    for (int i = 0; i < g.n_img; i++)
        if (g.scene_split[i] != 1) texts[nt++] = captions[i];
    for (int i = 0; i < sw_lexicon_n; i++) texts[nt++] = sw_lexicon[i];
    char *vocab = drum_path_join(outdir, "vocab.json");
    char *merges = drum_path_join(outdir, "merges.txt");
    bad = !vocab || !merges;
    if (bad) snprintf(err, errlen, "%s: out of memory", outdir);
    if (!bad) bad = drum_bpe_write_tokenizer(texts, nt, vocab, merges, err, errlen) != 0;
    free(vocab);
    free(merges);
    if (bad) goto done;
    rc = write_config(&g);
done:
    for (int i = 0; i < g.n_rec; i++) {
        drum_example *e = &g.rec[i].ex;
        free(e->id);
        free(e->image);
        free(e->prompt);
        free(e->response);
        for (int a = 0; a < e->n_answers; a++) free(e->answers[a]);
        free(e->answers);
        free(e->task);
        free(e->split);
    }
    for (int i = 0; captions && i < g.n_img; i++) free(captions[i]);
    free(captions);
    free(texts);
    free(ds.ex);
    free(g.rec);
    free(g.scenes);
    free(g.scene_split);
    free(png.p);
    free(rgb);
    free(images);
    return rc;
}
