/* pretrain.c — contrastive CLIP pre-training (pretrain.h). */
#include "drum/pretrain.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drum/fileio.h"
#include "drum/rng.h"
#include "drum/trace.h"
#include "drum/trainer.h"

static int pretrain(drum_clip_model *m, const drum_prepared *prep, const drum_pretrain_opts *o,
                    const drum_progress *progress, double *final_loss, char *err,
                    size_t errlen) {
    drum_backend *be = m->be;
    int n = prep->n, B = o->batch, S = prep->S, T = prep->T;
    if (B < 2 || B > n || B > m->max_images || B > m->max_texts || !m->grads) {
        snprintf(err, errlen, "pretrain: batch %d must be >= 2, <= the %d pairs and fit the "
                 "training model (%d images)", B, n, m->max_images);
        return -1;
    }
    int nb = n / B;
    long total = (long)nb * o->epochs, step = 0;
    size_t px = (size_t)3 * S * S;
    int *order = malloc((size_t)n * sizeof(int));
    uint8_t *h_lv = malloc((size_t)B * px);
    int *h_ids = malloc((size_t)B * T * sizeof(int)), *h_mask = malloc((size_t)B * T * sizeof(int));
    int *h_eos = malloc((size_t)B * sizeof(int));
    float *d_pix = be->alloc(be, (size_t)B * px * sizeof(float));
    int *d_ids = be->alloc(be, (size_t)B * T * sizeof(int));
    int *d_mask = be->alloc(be, (size_t)B * T * sizeof(int));
    int *d_eos = be->alloc(be, (size_t)B * sizeof(int));
    int rc = -1;
    drum_device_levels lv = {0};
    if (drum_device_levels_alloc(be, prep, B, &lv, err, errlen)) goto out;
    if (!order || !h_lv || !h_ids || !h_mask || !h_eos || !drum_backend_ok(be)) {
        snprintf(err, errlen, "pretrain: out of memory for a batch of %d captions%s%s", B,
                 be->err[0] ? ": " : "", be->err);
        goto out;
    }
    drum_adamw_config h = drum_adamw_defaults();
    h.weight_decay = o->weight_decay;
    double epoch_loss = 0;
    for (int e = 0; e < o->epochs; e++) {
        for (int i = 0; i < n; i++) order[i] = i;
        drum_rng r;
        drum_rng_seed(&r, drum_hash64(o->seed, (uint64_t)e), 0x9E7);
        for (int i = n - 1; i > 0; i--) {
            int j = (int)drum_rng_below(&r, (uint32_t)(i + 1)), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        epoch_loss = 0;
        char stage[48];
        snprintf(stage, sizeof stage, "pretrain epoch %d/%d", e + 1, o->epochs);
        if (drum_progress_stopped(progress, stage, err, errlen)) goto out;
        drum_progress_begin(progress, stage, 0, nb);
        for (int b = 0; b < nb; b++, step++) {
            for (int k = 0; k < B; k++) {
                int ex = order[b * B + k];
                memcpy(h_lv + (size_t)k * px, drum_prepared_image(prep, ex), px);
                memcpy(h_ids + (size_t)k * T, prep->demo_ids + (size_t)ex * T, (size_t)T * sizeof(int));
                memcpy(h_mask + (size_t)k * T, prep->demo_mask + (size_t)ex * T, (size_t)T * sizeof(int));
                h_eos[k] = prep->demo_eos[ex];
            }
            int W = prep->longest ? drum_cut_texts(h_ids, h_mask, h_eos, B, T) : T;
            be->to_device(be, lv.levels, h_lv, (size_t)B * px);
            be->op.levels_forward(be, d_pix, lv.levels, lv.lut, B, (size_t)S * S);
            be->to_device(be, d_ids, h_ids, (size_t)B * W * sizeof(int));
            be->to_device(be, d_mask, h_mask, (size_t)B * W * sizeof(int));
            be->to_device(be, d_eos, h_eos, (size_t)B * sizeof(int));
            float loss = 0;
            h.lr = drum_lr_at(o->lr, step, o->warmup_steps, total);
            drum_trace_push("pretrain step");
            if (drum_clip_zero_grad(m) || drum_clip_encode_images(m, d_pix, B) ||
                drum_clip_encode_texts(m, d_ids, d_mask, d_eos, B, W) ||
                drum_clip_contrastive_forward(m, &loss) || drum_clip_contrastive_backward(m) ||
                drum_clip_backward_images(m, m->d_img_features) ||
                drum_clip_backward_texts(m, m->d_txt_features) ||
                (o->grad_clip > 0 && drum_clip_clip_grad_norm(m, NULL, o->grad_clip, NULL)) ||
                drum_clip_adamw_step(m, &h)) {
                drum_trace_pop();
                snprintf(err, errlen, "pretrain step %ld on %s: %s", step, be->name, be->err);
                goto out;
            }
            drum_trace_pop();
            epoch_loss += loss / nb;
            char note[32];
            snprintf(note, sizeof note, "loss %.4f", loss);
            drum_progress_report(progress, stage, b + 1, nb, note);
        }
    }
    if (final_loss) *final_loss = epoch_loss;
    rc = 0;
out:
    free(order);
    free(h_lv);
    drum_device_levels_free(be, &lv);
    free(h_ids);
    free(h_mask);
    free(h_eos);
    be->free(be, d_pix);
    be->free(be, d_ids);
    be->free(be, d_mask);
    be->free(be, d_eos);
    return rc;
}

int drum_pretrain_clip(drum_clip_model *m, const drum_prepared *prep,
                       const drum_pretrain_opts *o, const drum_progress *progress,
                       double *final_loss, char *err, size_t errlen) {
    DRUM_TRACE_RETURN("pretrain", pretrain(m, prep, o, progress, final_loss, err, errlen));
}

static const char *string_field(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int drum_captions_load(drum_dataset *ds, const char *path, char *err, size_t errlen) {
    memset(ds, 0, sizeof *ds);
    size_t len;
    char *text = drum_read_file(path, &len, err, errlen);
    if (!text) return -1;
    char *dir = strdup(path), *slash = dir ? strrchr(dir, '/') : NULL;
    if (slash) *slash = '\0';
    int cap = 0, line = 0, rc = -1;
    ds->path = strdup(path);
    if (!dir || !ds->path) { /* without dir the images' relative paths would not be joined */
        snprintf(err, errlen, "%s: out of memory", path);
        goto out;
    }
    for (char *s = text, *nl; s && *s; s = nl ? nl + 1 : NULL) {
        nl = strchr(s, '\n');
        if (nl) *nl = '\0';
        line++;
        if (!*s) continue;
        int oom, nkeys = 0;
        cJSON *o = drum_json_parse(s, strlen(s), NULL, &oom);
        for (const cJSON *c = cJSON_IsObject(o) ? o->child : NULL; c; c = c->next) nkeys++;
        const char *fid = string_field(o, "id"), *fimg = string_field(o, "image");
        const char *fcap = string_field(o, "caption");
        int shaped = fid && fimg && fcap && nkeys == 3;
        char *id = shaped ? strdup(fid) : NULL, *img = shaped ? strdup(fimg) : NULL;
        char *cap_s = shaped ? strdup(fcap) : NULL;
        cJSON_Delete(o);
        if (!id || !img || !cap_s) {
            if (oom || shaped)
                snprintf(err, errlen, "%s:%d: out of memory", path, line);
            else
                snprintf(err, errlen, "%s:%d: expected a JSON object with exactly the string "
                         "keys \"id\", \"image\", \"caption\"", path, line);
            free(id);
            free(img);
            free(cap_s);
            goto out;
        }
        if (ds->n == cap) {
            cap = cap ? cap * 2 : 256;
            drum_example *ex = realloc(ds->ex, (size_t)cap * sizeof *ex);
            if (!ex) {
                snprintf(err, errlen, "%s: out of memory", path);
                free(id);
                free(img);
                free(cap_s);
                goto out;
            }
            ds->ex = ex;
        }
        drum_example *e = &ds->ex[ds->n++];
        memset(e, 0, sizeof *e);
        e->id = id;
        e->image = slash ? drum_path_join(dir, img) : strdup(img);
        free(img);
        e->prompt = strdup("");
        e->response = cap_s;
        e->task = strdup("caption");
        e->line = line;
        if (!e->image || !e->prompt || !e->task) {
            snprintf(err, errlen, "%s: out of memory", path);
            goto out;
        }
    }
    if (ds->n == 0) {
        snprintf(err, errlen, "%s: no captions", path);
        goto out;
    }
    rc = 0;
out:
    free(text);
    free(dir);
    if (rc) drum_dataset_free(ds);
    return rc;
}
