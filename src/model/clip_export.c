/* clip_export.c — a model directory transformers loads: config.json + model.safetensors. */
#include "drum/error.h"
#include "drum/clip_io.h"
#include "drum/fileio.h"
#include "drum/image.h"
#include "drum/safetensors.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* A table built for another config would write tensors transformers then rejects by
 * shape; compare it with the one cfg gives before writing anything. */
static int table_matches(const drum_clip_params *p, const drum_clip_config *cfg, char *err,
                         size_t errlen) {
    drum_clip_params q;
    if (drum_clip_params_build(&q, cfg, err, errlen)) return -1;
    int rc = 0;
    if (q.n != p->n || q.total != p->total) {
        rc = drum_errorf(err, errlen, "the parameter table (%d tensors, %zu floats) is not the config's "
                               "(%d tensors, %zu floats)",
                  p->n, p->total, q.n, q.total);
    } else {
        for (int i = 0; i < q.n && rc == 0; i++) {
            const drum_param_entry *a = &p->entries[i], *b = &q.entries[i];
            if (strcmp(a->name, b->name) != 0 || a->ndim != b->ndim || a->offset != b->offset ||
                memcmp(a->shape, b->shape, sizeof(int64_t) * (size_t)a->ndim) != 0)
                rc = drum_errorf(err, errlen, "parameter table entry %d ('%s') is not the config's ('%s')",
                          i, a->name, b->name);
        }
    }
    drum_clip_params_free(&q);
    return rc;
}

int drum_clip_export(const drum_clip_config *cfg, const drum_clip_params *p,
                     const float *params_host, const char *dir, char *err, size_t errlen) {
    char why[512];
    if (table_matches(p, cfg, why, sizeof why))
        return drum_errorf(err, errlen, "%s: not exported: %s", dir, why);
    if (mkdir(dir, 0755) != 0) {
        struct stat sb;
        if (errno != EEXIST || stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
            return drum_errorf(err, errlen, "%s: cannot create the directory: %s", dir,
                        strerror(errno == EEXIST ? ENOTDIR : errno));
    }
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/model.safetensors", dir) >= sizeof path)
        return drum_errorf(err, errlen, "%s: path too long", dir);
    if (drum_clip_save_safetensors(p, params_host, path, err, errlen)) return -1;
    /* the preprocessing drum applies (drum_image_config_default at the vision tower's size),
     * so that CLIPProcessor.from_pretrained(dir) works and does what drum did */
    drum_image_config ic;
    drum_image_config_default(&ic);
    int s = cfg->vision.image_size;
    char pre[1024];
    int n = snprintf(pre, sizeof pre,
                     "{\n  \"crop_size\": {\"height\": %d, \"width\": %d},\n"
                     "  \"do_center_crop\": true,\n  \"do_convert_rgb\": true,\n"
                     "  \"do_normalize\": true,\n  \"do_rescale\": true,\n  \"do_resize\": true,\n"
                     "  \"image_mean\": [%.9g, %.9g, %.9g],\n"
                     "  \"image_processor_type\": \"CLIPImageProcessor\",\n"
                     "  \"image_std\": [%.9g, %.9g, %.9g],\n  \"resample\": 3,\n"
                     "  \"rescale_factor\": %.17g,\n  \"size\": {\"shortest_edge\": %d}\n}\n",
                     s, s, ic.mean[0], ic.mean[1], ic.mean[2], ic.std[0], ic.std[1], ic.std[2],
                     ic.rescale, s);
    snprintf(path, sizeof path, "%s/preprocessor_config.json", dir);
    if (drum_write_file_atomic(path, pre, (size_t)n, err, errlen)) return -1;
    /* config.json last: an export interrupted in a fresh directory leaves none, and
     * transformers refuses the directory rather than loading a half-written model. */
    snprintf(path, sizeof path, "%s/config.json", dir);
    return drum_clip_config_save(cfg, path, err, errlen);
}
