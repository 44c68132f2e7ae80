/* embfile.c — the embedding file (retrieval.h, docs/FORMATS.md). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drum/fileio.h"
#include "drum/retrieval.h"

static const char EMB_MAGIC[8] = {'D', 'R', 'U', 'M', 'E', 'M', 'B', '1'};
#define EMB_VERSION 1u
#define EMB_MAX_ID 4096u

int drum_embeddings_save(const drum_embeddings *e, const char *path, char *err, size_t errlen) {
    char *tmp = NULL;
    FILE *f = drum_atomic_open(path, &tmp, err, errlen);
    if (!f) return -1;
    uint32_t hdr[4] = {EMB_VERSION, (uint32_t)e->n, (uint32_t)e->dim_img, (uint32_t)e->dim_txt};
    fwrite(EMB_MAGIC, 1, sizeof EMB_MAGIC, f);
    fwrite(hdr, sizeof hdr[0], 4, f);
    for (int i = 0; i < e->n; i++) {
        const char *id = e->ids[i] ? e->ids[i] : "";
        uint32_t len = (uint32_t)strlen(id);
        fwrite(&len, sizeof len, 1, f);
        fwrite(id, 1, len, f);
    }
    if (e->dim_img) fwrite(e->img, sizeof(float), (size_t)e->n * e->dim_img, f);
    if (e->dim_txt) fwrite(e->txt, sizeof(float), (size_t)e->n * e->dim_txt, f);
    return drum_atomic_commit(f, tmp, path, err, errlen);
}

static int read_exact(FILE *f, void *dst, size_t bytes, const char *path, const char *what,
                      char *err, size_t errlen) {
    errno = 0;
    if (fread(dst, 1, bytes, f) == bytes) return 0;
    if (ferror(f)) /* a read that failed, not a file that ended */
        snprintf(err, errlen, "%s: cannot read %s at byte %ld: %s", path, what, ftell(f),
                 errno ? strerror(errno) : "I/O error");
    else
        snprintf(err, errlen, "%s: truncated embedding file (while reading %s at byte %ld)",
                 path, what, ftell(f));
    return -1;
}

int drum_embeddings_load(drum_embeddings *e, const char *path, char *err, size_t errlen) {
    memset(e, 0, sizeof *e);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    char magic[8];
    uint32_t hdr[4];
    if (read_exact(f, magic, sizeof magic, path, "the magic", err, errlen)) goto fail;
    if (memcmp(magic, EMB_MAGIC, sizeof magic) != 0) {
        snprintf(err, errlen, "%s: not a drum embedding file (bad magic)", path);
        goto fail;
    }
    if (read_exact(f, hdr, sizeof hdr, path, "the header", err, errlen)) goto fail;
    if (hdr[0] != EMB_VERSION) {
        snprintf(err, errlen, "%s: embedding file version %u, expected %u", path, hdr[0],
                 EMB_VERSION);
        goto fail;
    }
    if (hdr[1] > (1u << 28) || hdr[2] > 65536 || hdr[3] > 65536) {
        snprintf(err, errlen, "%s: implausible header (n=%u, dims %u/%u)", path, hdr[1], hdr[2],
                 hdr[3]);
        goto fail;
    }
    if (drum_embeddings_alloc(e, (int)hdr[1], (int)hdr[2], (int)hdr[3], err, errlen)) goto fail;
    for (int i = 0; i < e->n; i++) {
        uint32_t len;
        if (read_exact(f, &len, sizeof len, path, "an id length", err, errlen)) goto fail;
        if (len > EMB_MAX_ID) {
            snprintf(err, errlen, "%s: id %d is %u bytes long (limit %u)", path, i, len,
                     EMB_MAX_ID);
            goto fail;
        }
        e->ids[i] = malloc(len + 1);
        if (!e->ids[i]) {
            snprintf(err, errlen, "%s: out of memory", path);
            goto fail;
        }
        if (read_exact(f, e->ids[i], len, path, "an id", err, errlen)) goto fail;
        e->ids[i][len] = '\0';
    }
    if (e->dim_img &&
        read_exact(f, e->img, (size_t)e->n * e->dim_img * sizeof(float), path, "image rows", err,
                   errlen))
        goto fail;
    if (e->dim_txt &&
        read_exact(f, e->txt, (size_t)e->n * e->dim_txt * sizeof(float), path, "text rows", err,
                   errlen))
        goto fail;
    if (fgetc(f) != EOF) {
        snprintf(err, errlen, "%s: trailing bytes after the last row", path);
        goto fail;
    }
    fclose(f);
    return 0;
fail:
    fclose(f);
    drum_embeddings_free(e);
    return -1;
}
