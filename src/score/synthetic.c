/* synthetic.c — the simulated LVLM of the demo benchmark (see synthetic_lvlm.h and
 * docs/SIMULATOR.md, which lists the rules below with their constants). */
#include "drum/synthetic_lvlm.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/synth_world.h"
#include "drum/fileio.h"
#include "drum/rng.h"

/* ---- the rules' constants ---------------------------------------------------------- */

/* Zero-shot logits a_q: VQA question types in sw_qtype order, then cls (the shape), then
 * caption; a colour claim's is claim_logit (chance: 0.92 sigmoid(0.2) = 0.506). */
static const double zero_shot_logit[SW_QTYPES + 2] = {-0.4, -0.4, -0.8, -0.6, 0.0, -0.3, -0.3};
static const double claim_logit = 0.2;
static const double p_max = 0.92;       /* the best demonstrations leave 8% errors */
static const double cross_task = -0.6;  /* a demonstration of another task family */
static const double same_qtype = 0.5;   /* VQA: the same question type */
static const double same_answer = 1.0;  /* ... whose response is x's gold answer */
static const double conflict = -0.6;    /* ... whose response is another answer */
static const double same_subject = 0.2; /* ... asked about the same object */
static const double scene_full = 0.6;   /* c's image has the object x asks about */
static const double scene_key = 0.15;   /* c's image has an object sharing its name */
static const double scene_pos = 0.1;    /* position questions: and at the same place */
static const double count_equal = 0.3;  /* count questions: same number of objects */
static const double count_near = 0.1;   /* ... one more or one less */
static const double cls_same = 1.2;     /* classification: c shows x's label */
static const double cls_other = -0.1;   /* ... another label */
static const double cls_present = 0.15; /* c's image contains x's label shape */
static const double cls_count = 0.1;    /* same number of objects */
static const double claim_same = 1.2;   /* colour claim: c shows x's label (true / false) */
static const double claim_other = -0.6; /* ... the other one, the answer x must not give */
static const double cap_style[SW_STYLES] = {0.4, 0.1, -0.3}; /* c's caption style */
static const double cap_objects = 0.6;  /* x's objects that c's image shares (fraction) */
static const double cap_count = 0.2;    /* same number of objects */
static const double copy_rate = 1.0;    /* P(copy | wrong) per unit weight of conflicts */
static const double format_rate = 0.5;  /* P(format error | wrong) per unit weight */
static const double scene_distractor = 0.7; /* wrong: take an attribute of the scene */
static const int zero_shot_style = 0;   /* caption style with no captioning demonstration */
static const double rank_floor = 1e-9;  /* rank: the probability of an answer never given */
/* Rules 2: resemblance, what a demonstration's image has in common with the query's. */
static const double look_colors = 1.0;  /* Jaccard of the two scenes' sets of object colours */
static const double look_count = 0.3;   /* the same number of objects */

/* ---- meta.jsonl ---------------------------------------------------------------------- */

typedef struct {
    char *id;
    sw_task task;
    int qtype;    /* VQA question type, else -1 */
    char gold[SW_TEXT]; /* canonical answer (VQA, cls); unused for captions */
    int focus;    /* the object asked about, or -1 */
    sw_object ask;/* exists: the colour and shape asked about */
    int style;    /* caption: the style of the response */
    int claim;    /* cls: the colour a claim names (gold true or false), -1 for a shape label */
    sw_scene scene;
} meta;

typedef struct {
    meta *m;
    int n;
    int *slot; /* open addressing over m by id; -1 = empty */
    size_t cap;
    drum_synthetic_config cfg;
    char *path; /* the meta.jsonl read, for messages */
} simulator;

static int meta_find(const simulator *sim, const char *id) {
    size_t mask = sim->cap - 1;
    for (size_t h = drum_str_hash(id) & mask;; h = (h + 1) & mask) {
        int i = sim->slot[h];
        if (i < 0) return -1;
        if (strcmp(sim->m[i].id, id) == 0) return i;
    }
}

static const char *get_str(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int get_int(const cJSON *o, const char *key, int lo, int hi, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || v->valuedouble < lo || v->valuedouble > hi ||
        v->valuedouble != (double)(int)v->valuedouble)
        return -1;
    *out = (int)v->valuedouble;
    return 0;
}

/* Looks up o[key] in names; returns its index or -1. */
static int get_name(const cJSON *o, const char *key, const char *const *names, int n) {
    const char *s = get_str(o, key);
    return s ? sw_find(names, n, s) : -1;
}

static int parse_meta(meta *m, const char *text, size_t len, const char *path, int line,
                      char *err, size_t errlen) {
    int oom;
    cJSON *o = drum_json_parse(text, len, NULL, &oom);
    const char *what = NULL;
    memset(m, 0, sizeof *m);
    m->qtype = -1;
    m->focus = -1;
    m->style = -1;
    m->claim = -1;
    if (!cJSON_IsObject(o)) {
        what = oom ? "out of memory parsing the line" : "expected one JSON object";
        goto bad;
    }
    const char *id = get_str(o, "id");
    if (!id || !id[0]) {
        what = "expected a non-empty string \"id\"";
        goto bad;
    }
    int task = get_name(o, "task", sw_task_names, SW_TASKS);
    if (task < 0) {
        what = "expected \"task\" to be vqa, cls or caption";
        goto bad;
    }
    m->task = (sw_task)task;
    if (m->task == SW_VQA && (m->qtype = get_name(o, "qtype", sw_qtype_names, SW_QTYPES)) < 0) {
        what = "expected \"qtype\" to be color, shape, count, position or exists";
        goto bad;
    }
    const char *gold = get_str(o, "gold");
    if (!gold) {
        what = "expected a string \"gold\"";
        goto bad;
    }
    sw_canon(gold, m->gold, sizeof m->gold);
    const cJSON *scene = cJSON_GetObjectItemCaseSensitive(o, "scene");
    const cJSON *objs = cJSON_GetObjectItemCaseSensitive(scene, "objects");
    int n = cJSON_GetArraySize(objs);
    if (!cJSON_IsArray(objs) || n < 1 || n > SW_MAX_OBJECTS) {
        what = "expected \"scene\" with 1-4 \"objects\"";
        goto bad;
    }
    m->scene.n = n;
    int i = 0;
    for (const cJSON *ob = objs->child; ob; ob = ob->next, i++) {
        sw_object *t = &m->scene.obj[i];
        t->shape = get_name(ob, "shape", sw_shape_names, SW_SHAPES);
        t->color = get_name(ob, "color", sw_color_names, SW_COLORS);
        t->size = get_name(ob, "size", sw_size_names, SW_SIZES);
        t->pos = get_name(ob, "pos", sw_position_names, SW_POSITIONS);
        if (t->shape < 0 || t->color < 0 || t->size < 0 || t->pos < 0) {
            what = "expected objects with a known shape, color, size and pos";
            goto bad;
        }
    }
    if (get_int(o, "focus", -1, n - 1, &m->focus) != 0) {
        what = "expected \"focus\" to be -1 or an object index";
        goto bad;
    }
    int needs_focus = m->task == SW_CLS ||
                      (m->task == SW_VQA && (m->qtype == SW_Q_COLOR || m->qtype == SW_Q_SHAPE ||
                                             m->qtype == SW_Q_POSITION));
    if (needs_focus && m->focus < 0) {
        what = "expected \"focus\" to name the object asked about";
        goto bad;
    }
    if (m->task == SW_VQA && m->qtype == SW_Q_EXISTS) {
        const cJSON *ask = cJSON_GetObjectItemCaseSensitive(o, "ask");
        m->ask.color = get_name(ask, "color", sw_color_names, SW_COLORS);
        m->ask.shape = get_name(ask, "shape", sw_shape_names, SW_SHAPES);
        if (m->ask.color < 0 || m->ask.shape < 0) {
            what = "expected \"ask\" with a known color and shape";
            goto bad;
        }
    }
    if (m->task == SW_CLS && cJSON_GetObjectItemCaseSensitive(o, "claim") &&
        ((m->claim = get_name(o, "claim", sw_color_names, SW_COLORS)) < 0 ||
         sw_find(sw_claim_labels, 2, m->gold) < 0)) {
        what = "expected \"claim\" to be a known color, with \"gold\" true or false";
        goto bad;
    }
    if (m->task == SW_CAPTION && get_int(o, "style", 0, SW_STYLES - 1, &m->style) != 0) {
        what = "expected \"style\" 0, 1 or 2";
        goto bad;
    }
    m->id = strdup(id);
    cJSON_Delete(o);
    if (!m->id) {
        snprintf(err, errlen, "%s:%d: out of memory", path, line);
        return -1;
    }
    return 0;
bad:
    cJSON_Delete(o);
    snprintf(err, errlen, "%s:%d: %s", path, line, what);
    return -1;
}

static void simulator_free(simulator *sim) {
    if (!sim) return;
    for (int i = 0; i < sim->n; i++) free(sim->m[i].id);
    free(sim->m);
    free(sim->slot);
    free(sim->path);
    free(sim);
}

static simulator *load_meta(const char *path, char *err, size_t errlen) {
    size_t len = 0;
    char *buf = drum_read_file(path, &len, err, errlen);
    if (!buf) return NULL;
    simulator *sim = calloc(1, sizeof *sim);
    int cap = 0, line = 0;
    if (!sim || !(sim->path = strdup(path))) goto oom;
    for (size_t pos = 0; pos < len;) {
        const char *s = buf + pos;
        const char *nl = memchr(s, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - s) : len - pos;
        pos += n + (nl ? 1 : 0);
        line++;
        if (n == 0) continue;
        if (sim->n == cap) {
            cap = cap ? cap * 2 : 1024;
            meta *nm = realloc(sim->m, (size_t)cap * sizeof *nm);
            if (!nm) goto oom;
            sim->m = nm;
        }
        if (parse_meta(&sim->m[sim->n], s, n, path, line, err, errlen) != 0) goto fail;
        sim->n++;
    }
    if (sim->n == 0) {
        snprintf(err, errlen, "%s: no examples", path);
        goto fail;
    }
    sim->cap = 16;
    while (sim->cap < (size_t)sim->n * 2) sim->cap *= 2;
    sim->slot = malloc(sim->cap * sizeof(int));
    if (!sim->slot) goto oom;
    for (size_t i = 0; i < sim->cap; i++) sim->slot[i] = -1;
    for (int i = 0; i < sim->n; i++) {
        size_t mask = sim->cap - 1, h = drum_str_hash(sim->m[i].id) & mask;
        for (; sim->slot[h] >= 0; h = (h + 1) & mask) {
            if (strcmp(sim->m[sim->slot[h]].id, sim->m[i].id) == 0) {
                snprintf(err, errlen, "%s: duplicate id \"%s\"", path, sim->m[i].id);
                goto fail;
            }
        }
        sim->slot[h] = i;
    }
    free(buf);
    return sim;
oom:
    snprintf(err, errlen, "%s: out of memory", path);
fail:
    free(buf);
    simulator_free(sim);
    return NULL;
}

/* ---- the rules ----------------------------------------------------------------------- */

/* The fixed idiosyncrasy of the pair: a sum of four uniforms from a hash, scaled to unit
 * variance (Irwin-Hall), times the configured standard deviation. */
static double idiosyncrasy(const simulator *sim, const char *qid, const char *did) {
    uint64_t h = drum_hash64(drum_hash64(sim->cfg.seed, drum_str_hash(qid)), drum_str_hash(did));
    double sum = 0;
    for (int i = 0; i < 4; i++) sum += (double)((h >> (16 * i)) & 0xffff) / 65536.0;
    return sim->cfg.noise * (sum - 2.0) * 1.7320508075688772;
}

static int has_object(const sw_scene *s, int shape, int color) {
    for (int i = 0; i < s->n; i++)
        if ((shape < 0 || s->obj[i].shape == shape) && (color < 0 || s->obj[i].color == color))
            return 1;
    return 0;
}

/* The object x asks about, as (shape, colour); the attribute its prompt names is the key:
 * the shape for colour questions, the colour for shape questions, both otherwise. */
static int subject(const meta *x, sw_object *o) {
    if (x->qtype == SW_Q_EXISTS) {
        *o = x->ask;
        return 1;
    }
    if (x->focus < 0) return 0;
    *o = x->scene.obj[x->focus];
    return 1;
}

static double vqa_benefit(const meta *x, const meta *c, const char *c_answer) {
    double b = 0;
    sw_object sx, sc;
    int hx = subject(x, &sx);
    if (c->qtype == x->qtype) {
        b += same_qtype + (strcmp(c_answer, x->gold) == 0 ? same_answer : conflict);
        if (hx && subject(c, &sc)) {
            int same = x->qtype == SW_Q_COLOR   ? sc.shape == sx.shape
                       : x->qtype == SW_Q_SHAPE ? sc.color == sx.color
                                                : sc.shape == sx.shape && sc.color == sx.color;
            if (same) b += same_subject;
        }
    }
    if (x->qtype == SW_Q_COUNT) {
        int d = abs(c->scene.n - x->scene.n);
        b += d == 0 ? count_equal : d == 1 ? count_near : 0.0;
    } else if (hx) {
        if (has_object(&c->scene, sx.shape, sx.color)) {
            b += scene_full;
            if (x->qtype == SW_Q_POSITION)
                for (int i = 0; i < c->scene.n; i++)
                    if (c->scene.obj[i].shape == sx.shape && c->scene.obj[i].color == sx.color &&
                        c->scene.obj[i].pos == sx.pos)
                        b += scene_pos;
        } else {
            int key = x->qtype == SW_Q_SHAPE ? has_object(&c->scene, -1, sx.color)
                      : x->qtype == SW_Q_COLOR ? has_object(&c->scene, sx.shape, -1)
                                               : has_object(&c->scene, sx.shape, -1) ||
                                                     has_object(&c->scene, -1, sx.color);
            if (key) b += scene_key;
        }
    }
    return b;
}

/* The style the LVLM sees in a captioning demonstration's response. */
static int demo_style(const meta *c, const drum_example *ce) {
    int s = sw_caption_style(ce->response);
    return s >= 0 ? s : c->style;
}

static unsigned color_set(const sw_scene *s) {
    unsigned m = 0;
    for (int i = 0; i < s->n; i++) m |= 1u << s->obj[i].color;
    return m;
}

/* Rules 2: how much c's image looks like x's, in what a small CLIP sees of a scene (its
 * colours and the number of objects; docs/SIMULATOR.md). */
static double resemblance(const meta *x, const meta *c) {
    unsigned a = color_set(&x->scene), b = color_set(&c->scene);
    double j = (double)__builtin_popcount(a & b) / __builtin_popcount(a | b);
    return look_colors * j + (x->scene.n == c->scene.n ? look_count : 0.0);
}

/* b(x, c): the deterministic rules plus the pair's idiosyncrasy. */
static double benefit(const simulator *sim, const meta *x, const meta *c,
                      const drum_example *xe, const drum_example *ce) {
    double b = idiosyncrasy(sim, xe->id, ce->id);
    if (x->task != c->task) return b + cross_task;
    if (sim->cfg.rules >= 2) b += resemblance(x, c);
    char answer[SW_TEXT];
    if (x->task == SW_VQA) {
        sw_canon(ce->response, answer, sizeof answer);
        return b + vqa_benefit(x, c, answer);
    }
    if (x->task == SW_CLS) {
        sw_canon(ce->response, answer, sizeof answer);
        if (x->claim >= 0) return b + (strcmp(answer, x->gold) == 0 ? claim_same : claim_other);
        int label = x->scene.obj[x->focus].shape;
        b += strcmp(answer, x->gold) == 0 ? cls_same : cls_other;
        if (has_object(&c->scene, label, -1)) b += cls_present;
        if (c->scene.n == x->scene.n) b += cls_count;
        return b;
    }
    b += cap_style[demo_style(c, ce)];
    int shared = 0;
    for (int i = 0; i < x->scene.n; i++)
        shared += has_object(&c->scene, x->scene.obj[i].shape, x->scene.obj[i].color);
    b += cap_objects * shared / x->scene.n;
    if (c->scene.n == x->scene.n) b += cap_count;
    return b;
}

static double zero_logit(const meta *x) {
    if (x->claim >= 0) return claim_logit;
    return x->task == SW_VQA ? zero_shot_logit[x->qtype]
                             : zero_shot_logit[SW_QTYPES + (x->task == SW_CLS ? 0 : 1)];
}

static double sigmoid(double z) {
    return 1.0 / (1.0 + exp(-z));
}

/* Position weights: w_j proportional to j + 1 (the last demonstration weighs most). */
static double position_weight(int j, int k) {
    return 2.0 * (j + 1) / ((double)k * (k + 1));
}

enum { MAX_SHOTS = 64 };

typedef struct {
    const meta *x;
    const meta *c[MAX_SHOTS];
    double b[MAX_SHOTS], w[MAX_SHOTS];
    int k;
    double p;
} icl_state;

static int resolve(const simulator *sim, const drum_example *e, const meta **out, char *err,
                   size_t errlen) {
    int i = meta_find(sim, e->id);
    if (i < 0) {
        snprintf(err, errlen, "synthetic: no hidden attributes for id \"%s\" in meta.jsonl",
                 e->id);
        return -1;
    }
    *out = &sim->m[i];
    return 0;
}

static int icl_prepare(const simulator *sim, const drum_icl_prompt *p, icl_state *st,
                       char *err, size_t errlen) {
    if (p->k < 0 || p->k > MAX_SHOTS) {
        snprintf(err, errlen, "synthetic: k = %d is outside 0..%d", p->k, MAX_SHOTS);
        return -1;
    }
    if (resolve(sim, p->query, &st->x, err, errlen) != 0) return -1;
    st->k = p->k;
    double z = zero_logit(st->x), sum = 0;
    for (int j = 0; j < p->k; j++) {
        if (resolve(sim, p->demos[j], &st->c[j], err, errlen) != 0) return -1;
        st->b[j] = benefit(sim, st->x, st->c[j], p->query, p->demos[j]);
        st->w[j] = position_weight(j, p->k);
        sum += st->w[j] * st->b[j];
    }
    if (p->k > 0) z += (1.0 + 0.5 * log2((double)p->k)) * sum;
    st->p = p_max * sigmoid(z);
    return 0;
}

/* ---- answers ------------------------------------------------------------------------- */

/* A colour claim's one wrong answer: the label that is not its gold (true <-> false). */
static const char *other_label(const meta *x) {
    return sw_claim_labels[strcmp(x->gold, sw_claim_labels[0]) == 0];
}

/* A plausible wrong answer for x: an attribute of another object in its scene, or the
 * answer annotators confuse the gold one with; for a colour claim, the other label. */
static void distractor(const meta *x, drum_rng *r, char *out, size_t n) {
    if (x->claim >= 0) {
        snprintf(out, n, "%s", other_label(x));
        return;
    }
    sw_qtype q = x->task == SW_CLS ? SW_Q_SHAPE : (sw_qtype)x->qtype;
    const sw_scene *s = &x->scene;
    if (x->focus >= 0 && s->n > 1 && drum_rng_uniform(r) < scene_distractor) {
        int i = (x->focus + 1 + (int)drum_rng_below(r, (uint32_t)s->n - 1)) % s->n;
        const char *v = q == SW_Q_COLOR   ? sw_color_names[s->obj[i].color]
                        : q == SW_Q_SHAPE ? sw_shape_names[s->obj[i].shape]
                                          : sw_position_names[s->obj[i].pos];
        if (strcmp(v, x->gold) != 0) {
            snprintf(out, n, "%s", v);
            return;
        }
    }
    sw_answer_confusion(q, x->gold, r, out, n);
}

/* Picks j among the demonstrations with mask[j] set, with probability proportional to
 * w_j; -1 if none. */
static int pick_demo(const icl_state *st, const int *mask, drum_rng *r) {
    double total = 0;
    for (int j = 0; j < st->k; j++)
        if (mask[j]) total += st->w[j];
    if (total <= 0) return -1;
    double u = drum_rng_uniform(r) * total;
    int last = -1;
    for (int j = 0; j < st->k; j++) {
        if (!mask[j]) continue;
        last = j;
        if (u < st->w[j]) return j;
        u -= st->w[j];
    }
    return last;
}

/* The uniform draw that decides whether part i of x's answer (0: a short answer; 1 + the
 * object's index: a caption's object) is right: right when it is below P(correct). Rules 2
 * fix it per query, number of shots and part (common random numbers): k-shot prompts of x
 * that differ only in their demonstrations share it, so the strategies' accuracies differ
 * by their P(correct), not by independent luck, and better demonstrations can only turn a
 * wrong answer right. The zero-shot draft (k = 0) has its own draw, so a k-shot answer's
 * expectation stays P(correct). Rules 1 draw it from the prompt's stream. */
static double correct_draw(const simulator *sim, const icl_state *st, int i, drum_rng *r) {
    if (sim->cfg.rules < 2) return drum_rng_uniform(r);
    uint64_t h = drum_hash64(sim->cfg.seed ^ 0x646966666963756cULL, drum_str_hash(st->x->id));
    h = drum_hash64(drum_hash64(h, (uint64_t)st->k), (uint64_t)i);
    return (double)(h >> 11) * 0x1.0p-53;
}

static char *short_answer(const simulator *sim, const icl_state *st, const drum_icl_prompt *p,
                          drum_rng *r) {
    char buf[SW_TEXT];
    if (correct_draw(sim, st, 0, r) < st->p) return strdup(st->x->gold);
    int conflicts[MAX_SHOTS] = {0}, others[MAX_SHOTS] = {0};
    double w_conflict = 0, w_other = 0;
    for (int j = 0; j < st->k; j++) {
        const meta *c = st->c[j];
        int same = c->task == st->x->task && c->qtype == st->x->qtype;
        if (same) {
            sw_canon(p->demos[j]->response, buf, sizeof buf);
            conflicts[j] = strcmp(buf, st->x->gold) != 0;
            if (conflicts[j]) w_conflict += st->w[j];
        } else {
            others[j] = 1;
            w_other += st->w[j];
        }
    }
    double u = drum_rng_uniform(r);
    if (u < copy_rate * w_conflict) return strdup(p->demos[pick_demo(st, conflicts, r)]->response);
    if (u < copy_rate * w_conflict + format_rate * w_other)
        return strdup(p->demos[pick_demo(st, others, r)]->response);
    distractor(st->x, r, buf, sizeof buf);
    return strdup(buf);
}

static char *caption_answer(const simulator *sim, const icl_state *st,
                            const drum_icl_prompt *p, drum_rng *r) {
    int style = zero_shot_style, source = -1, others[MAX_SHOTS] = {0};
    double w_other = 0;
    for (int j = 0; j < st->k; j++) {
        if (st->c[j]->task == SW_CAPTION) {
            style = demo_style(st->c[j], p->demos[j]);
            source = j;
        } else {
            others[j] = 1;
            w_other += st->w[j];
        }
    }
    if (drum_rng_uniform(r) < (1.0 - st->p) * format_rate * w_other)
        return strdup(p->demos[pick_demo(st, others, r)]->response);
    const sw_scene *s = &st->x->scene;
    sw_object said[SW_MAX_OBJECTS];
    int n = 0;
    for (int i = 0; i < s->n; i++) {
        sw_object o = s->obj[i];
        if (correct_draw(sim, st, 1 + i, r) >= st->p) {
            if (drum_rng_below(r, 2)) continue;
            /* A wrong colour: the influential demonstration's, else a confusable one. */
            const sw_scene *cs = source >= 0 ? &st->c[source]->scene : NULL;
            o.color = cs ? cs->obj[drum_rng_below(r, (uint32_t)cs->n)].color
                         : sw_confusable_color(o.color, r);
            if (o.color == s->obj[i].color) o.color = sw_confusable_color(o.color, r);
        }
        said[n++] = o;
    }
    if (n == 0) said[n++] = s->obj[0];
    char buf[SW_TEXT];
    sw_caption(said, n, style, -1, NULL, buf, sizeof buf);
    return strdup(buf);
}

/* ---- ranked answers (classification) ------------------------------------------------- */

/* The probability that distractor() says `a` (canonical) for a classification query: another
 * object's shape (scene_distractor, when the scene has others; one that is the label falls
 * through), else one of the label's two confusable shapes; for a colour claim, the other
 * label. */
static double distractor_probability(const meta *x, const char *a) {
    if (x->claim >= 0) return strcmp(a, other_label(x)) == 0 ? 1.0 : 0.0;
    const sw_scene *s = &x->scene;
    double confusion = 1, prob = 0;
    if (x->focus >= 0 && s->n > 1) {
        double each = scene_distractor / (s->n - 1);
        confusion -= scene_distractor;
        for (int i = 0; i < s->n; i++) {
            if (i == x->focus) continue;
            const char *v = sw_shape_names[s->obj[i].shape];
            if (strcmp(v, x->gold) == 0)
                confusion += each;
            else if (strcmp(v, a) == 0)
                prob += each;
        }
    }
    int g = sw_find(sw_shape_names, SW_SHAPES, x->gold);
    if (g < 0) /* sw_answer_confusion draws any shape */
        return prob + (sw_find(sw_shape_names, SW_SHAPES, a) >= 0 ? confusion / SW_SHAPES : 0);
    int near[2];
    sw_shape_confusions(g, near);
    for (int t = 0; t < 2; t++)
        if (strcmp(sw_shape_names[near[t]], a) == 0) prob += confusion / 2;
    return prob;
}

/* The probability that short_answer() says `a` (canonical) for a classification prompt:
 * the label with P(correct); the wrong mass goes to a copy of a conflicting demonstration
 * (copy_rate w_j each), another family's response (format_rate w_j each) and the rest to
 * distractors. What generate samples from, summed over the texts that canonicalise to a.
 * shown[j] is demonstration j's response, canonicalised. */
static double answer_probability(const icl_state *st, const char (*shown)[SW_TEXT],
                                 const char *a) {
    const meta *x = st->x;
    double wrong = 0, rest = 1;
    for (int j = 0; j < st->k; j++) {
        const meta *c = st->c[j];
        int same = c->task == x->task && c->qtype == x->qtype;
        if (same && strcmp(shown[j], x->gold) == 0) continue;
        double mass = (same ? copy_rate : format_rate) * st->w[j];
        rest -= mass;
        if (strcmp(shown[j], a) == 0) wrong += mass;
    }
    wrong += rest * distractor_probability(x, a);
    return (strcmp(a, x->gold) == 0 ? st->p : 0) + (1 - st->p) * wrong;
}

static int sim_rank(drum_scorer *s, const drum_icl_prompt *prompts, int n,
                    const char *const *choices, int n_choices, double *out, char *err,
                    size_t errlen) {
    const simulator *sim = s->impl;
    char(*canon)[SW_TEXT] = malloc((size_t)(n_choices > 0 ? n_choices : 1) * sizeof *canon);
    if (!canon) {
        snprintf(err, errlen, "synthetic: out of memory");
        return -1;
    }
    for (int j = 0; j < n_choices; j++) sw_canon(choices[j], canon[j], sizeof canon[j]);
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        icl_state st;
        if ((rc = icl_prepare(sim, &prompts[i], &st, err, errlen)) != 0) break;
        if (st.x->task != SW_CLS) {
            snprintf(err, errlen,
                     "synthetic: ranked answers are simulated for classification queries only "
                     "(\"%s\" is a %s query)",
                     prompts[i].query->id, prompts[i].query->task);
            rc = -1;
            break;
        }
        char shown[MAX_SHOTS][SW_TEXT]; /* each demonstration's response, once */
        for (int j = 0; j < st.k; j++)
            sw_canon(prompts[i].demos[j]->response, shown[j], sizeof shown[j]);
        for (int j = 0; j < n_choices; j++) {
            double q = answer_probability(&st, (const char(*)[SW_TEXT])shown, canon[j]);
            out[(size_t)i * n_choices + j] = log(q > rank_floor ? q : rank_floor);
        }
    }
    free(canon);
    return rc;
}

/* ---- the scorer interface ------------------------------------------------------------ */

static int sim_score(drum_scorer *s, const drum_score_pair *pairs, int n, double *out,
                     char *err, size_t errlen) {
    const simulator *sim = s->impl;
    for (int i = 0; i < n; i++) {
        const meta *x, *c;
        if (resolve(sim, pairs[i].query, &x, err, errlen) != 0 ||
            resolve(sim, pairs[i].demo, &c, err, errlen) != 0)
            return -1;
        double b = benefit(sim, x, c, pairs[i].query, pairs[i].demo);
        out[i] = log(p_max * sigmoid(zero_logit(x) + b));
    }
    return 0;
}

static int sim_generate(drum_scorer *s, const drum_icl_prompt *prompts, int n, char **out,
                        char *err, size_t errlen) {
    const simulator *sim = s->impl;
    for (int i = 0; i < n; i++) out[i] = NULL;
    for (int i = 0; i < n; i++) {
        const drum_icl_prompt *p = &prompts[i];
        icl_state st;
        if (icl_prepare(sim, p, &st, err, errlen) != 0) goto fail;
        uint64_t h = drum_hash64(sim->cfg.seed ^ 0x67656e6572617465ULL, drum_str_hash(p->query->id));
        for (int j = 0; j < p->k; j++) h = drum_hash64(h, drum_str_hash(p->demos[j]->id));
        drum_rng r;
        drum_rng_seed(&r, h, (uint64_t)p->k);
        out[i] = st.x->task == SW_CAPTION ? caption_answer(sim, &st, p, &r)
                                               : short_answer(sim, &st, p, &r);
        if (!out[i]) {
            snprintf(err, errlen, "synthetic: out of memory");
            goto fail;
        }
    }
    return 0;
fail:
    for (int i = 0; i < n; i++) {
        free(out[i]);
        out[i] = NULL;
    }
    return -1;
}

static void sim_destroy(drum_scorer *s) {
    simulator_free(s->impl);
    free(s);
}

void drum_synthetic_default_config(drum_synthetic_config *cfg) {
    cfg->seed = 1;
    cfg->noise = 0.35;
    cfg->rules = 2;
}

int drum_synthetic_open(drum_scorer **out, const char *meta_path,
                        const drum_synthetic_config *cfg, char *err, size_t errlen) {
    *out = NULL;
    if (!(cfg->noise >= 0 && cfg->noise <= 10)) {
        snprintf(err, errlen, "synthetic: noise %g is outside 0..10", cfg->noise);
        return -1;
    }
    if (cfg->rules != 1 && cfg->rules != 2) {
        snprintf(err, errlen, "synthetic: rules %d is not 1 or 2", cfg->rules);
        return -1;
    }
    simulator *sim = load_meta(meta_path, err, errlen);
    if (!sim) return -1;
    sim->cfg = *cfg;
    drum_scorer *s = calloc(1, sizeof *s);
    if (!s) {
        simulator_free(sim);
        snprintf(err, errlen, "synthetic: out of memory");
        return -1;
    }
    snprintf(s->id, sizeof s->id, "synthetic-v%d:seed=%llu:noise=%g", cfg->rules,
             (unsigned long long)cfg->seed, cfg->noise);
    snprintf(s->template_name, sizeof s->template_name, "synthetic");
    s->score = sim_score;
    s->generate = sim_generate;
    s->rank = sim_rank;
    s->destroy = sim_destroy;
    s->impl = sim;
    *out = s;
    return 0;
}

int drum_synthetic_check_examples(drum_scorer *s, const drum_dataset *ds, char *err,
                                  size_t errlen) {
    if (!s || s->destroy != sim_destroy) {
        snprintf(err, errlen, "synthetic: not a synthetic scorer");
        return -1;
    }
    const simulator *sim = s->impl;
    for (int i = 0; i < ds->n; i++) {
        const drum_example *e = &ds->ex[i];
        int k = meta_find(sim, e->id);
        if (k < 0) {
            snprintf(err, errlen,
                     "%s:%d: id \"%s\" has no hidden attributes in %s: the synthetic scorer "
                     "simulates only the examples of the suite drum synth wrote there",
                     ds->path, e->line, e->id, sim->path);
            return -1;
        }
        const char *task = sw_task_names[sim->m[k].task];
        if (strcmp(e->task, task) != 0) {
            snprintf(err, errlen,
                     "%s:%d: id \"%s\" is a %s example, but %s describes a %s example under "
                     "that id: the data come from another suite",
                     ds->path, e->line, e->id, e->task, sim->path, task);
            return -1;
        }
    }
    return 0;
}

int drum_synthetic_p_correct(drum_scorer *s, const drum_icl_prompt *prompt, double *p,
                             char *err, size_t errlen) {
    if (!s || s->destroy != sim_destroy) {
        snprintf(err, errlen, "synthetic: not a synthetic scorer");
        return -1;
    }
    icl_state st;
    if (icl_prepare(s->impl, prompt, &st, err, errlen) != 0) return -1;
    *p = st.p;
    return 0;
}

void drum_synthetic_canon(const char *answer, char *out, size_t n) {
    sw_canon(answer, out, n);
}
