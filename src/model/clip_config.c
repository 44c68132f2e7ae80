/* clip_config.c — CLIPConfig config.json: loading with transformers' defaults, validation,
 * saving in the form CLIPModel.from_pretrained reads, and the OpenAI configurations.
 *
 * Defaults are those of transformers' CLIPTextConfig / CLIPVisionConfig / CLIPConfig for a
 * key that is absent. Token ids: bos 49406, eos 49407, pad 1 — the ids of <|startoftext|>
 * and <|endoftext|> in CLIP's vocabulary and transformers' current defaults. Older
 * transformers defaulted to bos 0 / eos 2 and OpenAI's hub configs still say so; a value
 * present in the file is kept as written (with eos 2, transformers pools text features at
 * the position of the largest token id, and drum's model must do the same). A null token
 * id is stored as -1. Unknown keys are ignored: hub configs carry many that do not change
 * the architecture (dropout, initializer ranges, id2label, ...).
 */
#include "drum/error.h"
#include "drum/fileio.h"
#include "drum/clip.h"
#include "drum/clip_io.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* config.json files are a few kilobytes; anything this large is not one. */
#define MAX_CONFIG_BYTES (16u << 20)

const char *drum_clip_act_name(drum_act act) {
    switch (act) {
    case DRUM_ACT_QUICK_GELU: return "quick_gelu";
    case DRUM_ACT_GELU: return "gelu";
    case DRUM_ACT_GELU_TANH: return "gelu_new";
    }
    return NULL;
}

/* gelu_new and gelu_pytorch_tanh are the same tanh approximation. */
static int act_from_name(const char *s, drum_act *act) {
    if (strcmp(s, "quick_gelu") == 0) *act = DRUM_ACT_QUICK_GELU;
    else if (strcmp(s, "gelu") == 0) *act = DRUM_ACT_GELU;
    else if (strcmp(s, "gelu_new") == 0 || strcmp(s, "gelu_pytorch_tanh") == 0)
        *act = DRUM_ACT_GELU_TANH;
    else return -1;
    return 0;
}

static void default_text(drum_clip_tower_config *t) {
    memset(t, 0, sizeof *t);
    t->hidden = 512;
    t->layers = 12;
    t->heads = 8;
    t->intermediate = 2048;
    t->act = DRUM_ACT_QUICK_GELU;
    t->ln_eps = 1e-5f;
    t->vocab = 49408;
    t->max_pos = 77;
    t->bos_id = 49406;
    t->eos_id = 49407;
    t->pad_id = 1;
}

static void default_vision(drum_clip_tower_config *v) {
    memset(v, 0, sizeof *v);
    v->hidden = 768;
    v->layers = 12;
    v->heads = 12;
    v->intermediate = 3072;
    v->act = DRUM_ACT_QUICK_GELU;
    v->ln_eps = 1e-5f;
    v->bos_id = v->eos_id = v->pad_id = -1;
    v->image_size = 224;
    v->patch = 32;
    v->channels = 3;
}

static void default_config(drum_clip_config *cfg) {
    default_text(&cfg->text);
    default_vision(&cfg->vision);
    cfg->projection_dim = 512;
    cfg->logit_scale_init = 2.6592f;
}

static int check_tower(const drum_clip_tower_config *t, const char *sec, int is_text, char *err,
                       size_t errlen) {
    const struct { const char *key; int v; } pos[] = {
        {"hidden_size", t->hidden},
        {"num_hidden_layers", t->layers},
        {"num_attention_heads", t->heads},
        {"intermediate_size", t->intermediate},
        {is_text ? "vocab_size" : "image_size", is_text ? t->vocab : t->image_size},
        {is_text ? "max_position_embeddings" : "patch_size", is_text ? t->max_pos : t->patch},
        {is_text ? NULL : "num_channels", t->channels},
    };
    for (size_t i = 0; i < sizeof pos / sizeof pos[0]; i++)
        if (pos[i].key && pos[i].v <= 0)
            return drum_errorf(err, errlen, "%s.%s must be a positive integer, got %d", sec, pos[i].key,
                        pos[i].v);
    if (t->layers > DRUM_CLIP_MAX_LAYERS)
        return drum_errorf(err, errlen, "%s.num_hidden_layers is %d; drum supports at most %d", sec,
                    t->layers, DRUM_CLIP_MAX_LAYERS);
    if (t->hidden % t->heads != 0)
        return drum_errorf(err, errlen,
                    "%s.hidden_size (%d) must be divisible by %s.num_attention_heads (%d)", sec,
                    t->hidden, sec, t->heads);
    if (!drum_clip_act_name(t->act))
        return drum_errorf(err, errlen, "%s.hidden_act: unknown activation %d", sec, (int)t->act);
    if (!(t->ln_eps > 0.0f) || !isfinite(t->ln_eps))
        return drum_errorf(err, errlen, "%s.layer_norm_eps must be positive and finite, got %g", sec,
                    (double)t->ln_eps);
    if (is_text) {
        const struct { const char *key; int v; } ids[] = {
            {"bos_token_id", t->bos_id}, {"eos_token_id", t->eos_id}, {"pad_token_id", t->pad_id}};
        for (int i = 0; i < 3; i++)
            if (ids[i].v < -1)
                return drum_errorf(err, errlen, "%s.%s must be a token id or null, got %d", sec,
                            ids[i].key, ids[i].v);
    } else if (t->channels != 3) {
        /* the image pipeline (drum_image_preprocess, the prepared pools, the training and
         * embedding buffers) makes 3 x S x S RGB images: other counts read the wrong pixels */
        return drum_errorf(err, errlen,
                           "%s.num_channels is %d; drum's image preprocessing gives RGB images, "
                           "so it must be 3", sec, t->channels);
    } else if (t->image_size % t->patch != 0) {
        return drum_errorf(err, errlen, "%s.image_size (%d) must be divisible by %s.patch_size (%d)",
                    sec, t->image_size, sec, t->patch);
    }
    return 0;
}

int drum_clip_config_validate(const drum_clip_config *cfg, char *err, size_t errlen) {
    if (check_tower(&cfg->text, "text_config", 1, err, errlen)) return -1;
    if (check_tower(&cfg->vision, "vision_config", 0, err, errlen)) return -1;
    if (cfg->projection_dim <= 0)
        return drum_errorf(err, errlen, "projection_dim must be a positive integer, got %d",
                    cfg->projection_dim);
    if (!isfinite(cfg->logit_scale_init))
        return drum_errorf(err, errlen, "logit_scale_init_value must be finite, got %g",
                    (double)cfg->logit_scale_init);
    return 0;
}

/* ---- loading ------------------------------------------------------------------------- */

typedef struct {
    const char *path;
    char *err;
    size_t errlen;
} load_ctx;

/* "a string", "null", ... for messages about a value of the wrong type. */
static const char *json_kind(const cJSON *v) {
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsNumber(v)) return "a non-integer number";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsNull(v)) return "null";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    return "an invalid value";
}

static int is_int(const cJSON *v) {
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    return d == floor(d) && d >= (double)INT_MIN && d <= (double)INT_MAX;
}

static int wrong_type(load_ctx *c, const char *sec, const char *key, const char *expected,
                      const cJSON *v) {
    return drum_errorf(c->err, c->errlen, "%s: %s%s%s: expected %s, got %s", c->path, sec ? sec : "",
                sec ? "." : "", key, expected, json_kind(v));
}

/* obj's member `key`, the last when the file repeats it, as Python's json (and so
 * transformers) reads it. */
static const cJSON *last_item(const cJSON *obj, const char *key) {
    const cJSON *found = NULL;
    for (const cJSON *it = cJSON_IsObject(obj) ? obj->child : NULL; it; it = it->next)
        if (it->string && strcmp(it->string, key) == 0) found = it;
    return found;
}

/* Absent keys leave *out as it is. */
static int get_int(load_ctx *c, const cJSON *obj, const char *sec, const char *key, int *out) {
    const cJSON *v = last_item(obj, key);
    if (!v) return 0;
    if (!is_int(v)) return wrong_type(c, sec, key, "an integer", v);
    *out = (int)v->valuedouble;
    return 0;
}

static int get_token_id(load_ctx *c, const cJSON *obj, const char *sec, const char *key,
                        int *out) {
    const cJSON *v = last_item(obj, key);
    if (!v) return 0;
    if (cJSON_IsNull(v)) {
        *out = -1;
        return 0;
    }
    if (!is_int(v)) return wrong_type(c, sec, key, "an integer token id or null", v);
    *out = (int)v->valuedouble;
    return 0;
}

static int get_float(load_ctx *c, const cJSON *obj, const char *sec, const char *key,
                     float *out) {
    const cJSON *v = last_item(obj, key);
    if (!v) return 0;
    if (!cJSON_IsNumber(v)) return wrong_type(c, sec, key, "a number", v);
    *out = (float)v->valuedouble;
    return 0;
}

/* transformers also accepts a square size as [n, n]. */
static int get_size2(load_ctx *c, const cJSON *obj, const char *sec, const char *key, int *out) {
    const cJSON *v = last_item(obj, key);
    if (!v) return 0;
    if (is_int(v)) {
        *out = (int)v->valuedouble;
        return 0;
    }
    if (cJSON_IsArray(v) && cJSON_GetArraySize(v) == 2) {
        const cJSON *a = cJSON_GetArrayItem(v, 0), *b = cJSON_GetArrayItem(v, 1);
        if (is_int(a) && is_int(b) && a->valuedouble == b->valuedouble) {
            *out = (int)a->valuedouble;
            return 0;
        }
    }
    return wrong_type(c, sec, key, "an integer or a square [n, n]", v);
}

static int get_act(load_ctx *c, const cJSON *obj, const char *sec, drum_act *out,
                   int *torch_tanh) {
    const cJSON *v = last_item(obj, "hidden_act");
    if (!v) return 0;
    if (!cJSON_IsString(v)) return wrong_type(c, sec, "hidden_act", "a string", v);
    if (act_from_name(v->valuestring, out))
        return drum_errorf(c->err, c->errlen,
                    "%s: %s.hidden_act: unknown activation \"%s\" (expected quick_gelu, gelu, "
                    "gelu_new or gelu_pytorch_tanh)",
                    c->path, sec, v->valuestring);
    *torch_tanh = strcmp(v->valuestring, "gelu_pytorch_tanh") == 0;
    return 0;
}

static int load_tower(load_ctx *c, const cJSON *root, const char *sec, int is_text,
                      drum_clip_tower_config *t) {
    const cJSON *obj = last_item(root, sec);
    if (!obj || cJSON_IsNull(obj)) return 0;
    if (!cJSON_IsObject(obj)) return wrong_type(c, NULL, sec, "an object", obj);
    if (get_int(c, obj, sec, "hidden_size", &t->hidden) ||
        get_int(c, obj, sec, "num_hidden_layers", &t->layers) ||
        get_int(c, obj, sec, "num_attention_heads", &t->heads) ||
        get_int(c, obj, sec, "intermediate_size", &t->intermediate) ||
        get_act(c, obj, sec, &t->act, &t->act_torch_tanh) ||
        get_float(c, obj, sec, "layer_norm_eps", &t->ln_eps))
        return -1;
    if (is_text)
        return get_int(c, obj, sec, "vocab_size", &t->vocab) ||
                       get_int(c, obj, sec, "max_position_embeddings", &t->max_pos) ||
                       get_token_id(c, obj, sec, "bos_token_id", &t->bos_id) ||
                       get_token_id(c, obj, sec, "eos_token_id", &t->eos_id) ||
                       get_token_id(c, obj, sec, "pad_token_id", &t->pad_id)
                   ? -1
                   : 0;
    return get_size2(c, obj, sec, "image_size", &t->image_size) ||
                   get_size2(c, obj, sec, "patch_size", &t->patch) ||
                   get_int(c, obj, sec, "num_channels", &t->channels)
               ? -1
               : 0;
}

/* The whole file, NUL-terminated; a file too large to be a config.json is refused before
 * it is read (someone passing model.safetensors by mistake). */
static char *read_text_file(const char *path, size_t *len, char *err, size_t errlen) {
    struct stat st;
    if (stat(path, &st) == 0 && st.st_size > (off_t)MAX_CONFIG_BYTES) {
        drum_errorf(err, errlen, "%s: larger than %u bytes, not a config.json", path,
                    MAX_CONFIG_BYTES);
        return NULL;
    }
    return drum_read_file(path, len, err, errlen);
}

int drum_clip_config_load(drum_clip_config *cfg, const char *path, char *err, size_t errlen) {
    size_t len = 0;
    char *text = read_text_file(path, &len, err, errlen);
    if (!text) return -1;
    const char *end = NULL;
    int oom;
    cJSON *root = drum_json_parse(text, len, &end, &oom);
    if (!root) {
        size_t at = end && end >= text ? (size_t)(end - text) : 0;
        if (oom)
            drum_errorf(err, errlen, "%s: out of memory parsing it", path);
        else
            drum_errorf(err, errlen, "%s: invalid JSON near byte %zu", path, at);
        free(text);
        return -1;
    }
    for (const char *s = end; s && s < text + len; s++)
        if (*s == '\0' || !strchr(" \t\r\n", *s)) {
            drum_errorf(err, errlen, "%s: unexpected text after the JSON object at byte %zu", path,
                 (size_t)(s - text));
            cJSON_Delete(root);
            free(text);
            return -1;
        }
    free(text);

    load_ctx c = {path, err, errlen};
    drum_clip_config tmp;
    default_config(&tmp);
    int rc = -1;
    if (!cJSON_IsObject(root)) {
        drum_errorf(err, errlen, "%s: expected a JSON object at the top level, got %s", path,
             json_kind(root));
        goto done;
    }
    const cJSON *mt = last_item(root, "model_type");
    if (mt && !(cJSON_IsString(mt) && strcmp(mt->valuestring, "clip") == 0)) {
        if (cJSON_IsString(mt))
            drum_errorf(err, errlen, "%s: model_type is \"%s\", expected \"clip\"", path,
                 mt->valuestring);
        else
            wrong_type(&c, NULL, "model_type", "the string \"clip\"", mt);
        goto done;
    }
    /* Legacy *_config_dict keys replace *_config, as transformers applies them: it builds
     * CLIPTextConfig(**text_config_dict), complete with its defaults, and updates text_config
     * with all of it, so a key the _dict leaves out takes the default, not text_config's
     * value (openai/clip-vit-large-patch14's text_config says eos 2; it reads as 49407). */
    drum_clip_config defaults;
    default_config(&defaults);
    int text_dict = cJSON_IsObject(last_item(root, "text_config_dict"));
    int vision_dict = cJSON_IsObject(last_item(root, "vision_config_dict"));
    if (load_tower(&c, root, "text_config", 1, &tmp.text) ||
        load_tower(&c, root, "vision_config", 0, &tmp.vision))
        goto done;
    if (text_dict) tmp.text = defaults.text;
    if (vision_dict) tmp.vision = defaults.vision;
    if (load_tower(&c, root, "text_config_dict", 1, &tmp.text) ||
        load_tower(&c, root, "vision_config_dict", 0, &tmp.vision) ||
        get_int(&c, root, NULL, "projection_dim", &tmp.projection_dim) ||
        get_float(&c, root, NULL, "logit_scale_init_value", &tmp.logit_scale_init))
        goto done;
    char verr[384];
    if (drum_clip_config_validate(&tmp, verr, sizeof verr)) {
        drum_errorf(err, errlen, "%s: %s", path, verr);
        goto done;
    }
    *cfg = tmp;
    rc = 0;
done:
    cJSON_Delete(root);
    return rc;
}

/* ---- saving -------------------------------------------------------------------------- */

/* Writes f as the shortest decimal that reads back as f, so 1e-5f is "1e-05" and not its
 * float64 widening 9.99999974737875e-06, and always with a '.' or an exponent: transformers'
 * strict config classes reject 1 where a float field is declared. NULL when out of memory. */
static cJSON *add_float(cJSON *obj, const char *key, float f) {
    char buf[48];
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)f);
        if (strtof(buf, NULL) == f) break;
    }
    if (!strpbrk(buf, ".e")) strcat(buf, ".0");
    return cJSON_AddRawToObject(obj, key, buf);
}

/* cJSON's adders return NULL (or false) when out of memory: a key left out would load as
 * its default, in drum and in transformers, so one missing fails the save */
static void need(int *ok, const void *added) {
    if (!added) *ok = 0;
}

static cJSON *tower_json(const drum_clip_tower_config *t, int is_text, int projection_dim) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    int ok = 1;
    need(&ok, cJSON_AddStringToObject(o, "model_type",
                                      is_text ? "clip_text_model" : "clip_vision_model"));
    need(&ok, cJSON_AddNumberToObject(o, "hidden_size", t->hidden));
    need(&ok, cJSON_AddNumberToObject(o, "intermediate_size", t->intermediate));
    need(&ok, cJSON_AddNumberToObject(o, "num_hidden_layers", t->layers));
    need(&ok, cJSON_AddNumberToObject(o, "num_attention_heads", t->heads));
    need(&ok, cJSON_AddStringToObject(o, "hidden_act",
                                      t->act == DRUM_ACT_GELU_TANH && t->act_torch_tanh
                                          ? "gelu_pytorch_tanh"
                                          : drum_clip_act_name(t->act)));
    need(&ok, add_float(o, "layer_norm_eps", t->ln_eps));
    need(&ok, cJSON_AddNumberToObject(o, "projection_dim", projection_dim));
    if (is_text) {
        need(&ok, cJSON_AddNumberToObject(o, "vocab_size", t->vocab));
        need(&ok, cJSON_AddNumberToObject(o, "max_position_embeddings", t->max_pos));
        const struct { const char *k; int v; } ids[] = {
            {"bos_token_id", t->bos_id}, {"eos_token_id", t->eos_id}, {"pad_token_id", t->pad_id}};
        for (int i = 0; i < 3; i++)
            need(&ok, ids[i].v < 0 ? cJSON_AddNullToObject(o, ids[i].k)
                                   : cJSON_AddNumberToObject(o, ids[i].k, ids[i].v));
    } else {
        need(&ok, cJSON_AddNumberToObject(o, "image_size", t->image_size));
        need(&ok, cJSON_AddNumberToObject(o, "patch_size", t->patch));
        need(&ok, cJSON_AddNumberToObject(o, "num_channels", t->channels));
    }
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* Adds item to root under key (to arr when key is NULL); an item not added is deleted. */
static void attach(int *ok, cJSON *root, const char *key, cJSON *item) {
    int added = item && (key ? cJSON_AddItemToObject(root, key, item)
                             : cJSON_AddItemToArray(root, item));
    if (!added) {
        cJSON_Delete(item);
        *ok = 0;
    }
}

int drum_clip_config_save(const drum_clip_config *cfg, const char *path, char *err,
                          size_t errlen) {
    char verr[384];
    if (drum_clip_config_validate(cfg, verr, sizeof verr))
        return drum_errorf(err, errlen, "%s: not saved: %s", path, verr);
    cJSON *root = cJSON_CreateObject();
    char *out = NULL;
    int rc = -1, ok = root != NULL;
    if (ok) {
        cJSON *arch = cJSON_CreateArray();
        attach(&ok, arch, NULL, cJSON_CreateString("CLIPModel"));
        attach(&ok, root, "architectures", arch);
        need(&ok, cJSON_AddStringToObject(root, "model_type", "clip"));
        need(&ok, cJSON_AddNumberToObject(root, "projection_dim", cfg->projection_dim));
        need(&ok, add_float(root, "logit_scale_init_value", cfg->logit_scale_init));
        need(&ok, cJSON_AddStringToObject(root, "torch_dtype", "float32"));
        attach(&ok, root, "text_config", tower_json(&cfg->text, 1, cfg->projection_dim));
        attach(&ok, root, "vision_config", tower_json(&cfg->vision, 0, cfg->projection_dim));
    }
    if (!ok) {
        drum_errorf(err, errlen, "%s: out of memory building the JSON", path);
        goto done;
    }
    out = cJSON_Print(root);
    if (!out) {
        drum_errorf(err, errlen, "%s: out of memory printing the JSON", path);
        goto done;
    }
    size_t n = strlen(out);
    char *withnl = realloc(out, n + 2);
    if (!withnl) {
        drum_errorf(err, errlen, "%s: out of memory printing the JSON", path);
        goto done;
    }
    out = withnl;
    out[n] = '\n';
    out[n + 1] = '\0';
    rc = drum_write_file_atomic(path, out, n + 1, err, errlen);
done:
    free(out);
    cJSON_Delete(root);
    return rc;
}

/* ---- the OpenAI configurations --------------------------------------------------------- */

int drum_clip_config_standard(drum_clip_config *cfg, const char *name) {
    drum_clip_config c;
    default_config(&c);
    if (strcmp(name, "ViT-B/32") == 0) {
        /* the defaults */
    } else if (strcmp(name, "ViT-B/16") == 0) {
        c.vision.patch = 16;
    } else if (strcmp(name, "ViT-L/14") == 0 || strcmp(name, "ViT-L/14-336") == 0) {
        c.text.hidden = 768;
        c.text.heads = 12;
        c.text.intermediate = 3072;
        c.vision.hidden = 1024;
        c.vision.layers = 24;
        c.vision.heads = 16;
        c.vision.intermediate = 4096;
        c.vision.patch = 14;
        c.vision.image_size = strcmp(name, "ViT-L/14") == 0 ? 224 : 336;
        c.projection_dim = 768;
    } else {
        return -1;
    }
    *cfg = c;
    return 0;
}
